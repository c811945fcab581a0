//! `Custom::SageMakerEndpoint`: an endpoint whose configuration updates keep its auto scaling.
//!
//! SageMaker refuses an UpdateEndpoint that changes the instance type of, or drops, a variant registered with
//! Application Auto Scaling. This resource runs AWS's documented way out itself: look, save what is
//! registered on the variants SageMaker would refuse, deregister those, update, wait, put back what was saved.
//! This module answers what needs no operation (a tags-only update, a duplicate, a delete of what is not
//! ours) and starts the long ones in the operations journal ([`crate::journal`]); [`crate::endpoint_run`] runs
//! them step by step, across as many invocations as they need.

use serde_json::{Value, json};

use crate::endpoint_plan::{self as plan, Kind, Operation};
use crate::endpoint_run::{self as run};
pub use crate::endpoint_run::{Answer, Context};
use crate::journal::{self, Claimant, Record, Step};
use crate::model::endpoint_spec::{EndpointSpec, default_name};
use crate::model::target_spec::{Owner, Tags};
use crate::request::{Request, RequestType};
use crate::response::Response;
use crate::shell::Session;
use crate::{Error, Result};

/// Create or Update, the properties validated.
///
/// # Errors
/// Why the endpoint could not be created or updated; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, spec: EndpointSpec, aas: &Session, ctx: &Context) -> Result<Answer> {
    if let Some(answer) = known(req, aas, ctx).await? {
        return Ok(answer);
    }
    let me = Owner::of(&req.echo);
    let old = (req.request_type == RequestType::Update)
        .then(|| EndpointSpec::from_properties(&req.old_properties, &default_name(&req.echo.stack_id, &req.echo.logical_id)).ok())
        .flatten();
    let same_endpoint = old.as_ref().is_some_and(|o| o.name == spec.name);
    let seen = aas.endpoint_view(&spec.name).await?;
    let Some(seen) = seen else {
        return create(req, &spec, &me, aas, ctx).await;
    };
    let owner = Owner::from_tags(&aas.sagemaker_tags(&seen.arn).await?);
    if owner.as_ref() != Some(&me) {
        if !spec.adopt {
            let by = whose(owner.as_ref());
            return Err(Error::Conflict(format!(
                "endpoint {} already exists, {by}; left untouched: set AdoptExisting to true to take it over",
                spec.name
            )));
        }
        tracing::info!(endpoint = %spec.name, "adopting the endpoint: tagging it as this resource's");
    }
    retag(&seen.arn, &spec.tags, old.as_ref().filter(|_| same_endpoint).map(|o| &o.tags), &me, aas).await?;
    if seen.config_name == spec.config_name && seen.status != "InService" && req.request_type == RequestType::Create {
        // On the configuration asked for, but not ready (a duplicate delivery of a Create still Creating): wait.
        let op = new_operation(req, Kind::Create, &spec.name, &seen.arn, &spec.config_name);
        return begin(req, op, Step::Waiting, aas, ctx).await;
    }
    if seen.config_name == spec.config_name && seen.status == "InService" {
        // On the configuration asked for already: a tags-only update, a duplicate, an adoption as it is, or the
        // rollback Update after a failed update (the endpoint is back on the old configuration).
        let op = new_operation(req, Kind::Update, &spec.name, &seen.arn, &spec.config_name);
        return Ok(Answer::Now(Response::success(&req.echo, seen.arn.clone(), plan::finished(&seen, &op))));
    }
    // Deployment settings that cannot end before the operation's deadline are refused before any change.
    if let Some(why) = plan::deployment_outlasts(spec.longest_deployment(), plan::service_timeout(&req.properties)) {
        return Err(Error::invalid(why));
    }
    let mut op = new_operation(req, Kind::Update, &spec.name, &seen.arn, &spec.config_name);
    op.update_request = spec.update_request();
    // The endpoint is looked at again by the operation's first step (it may be in a transition: then it waits).
    begin(req, op, Step::Look, aas, ctx).await
}

/// Delete: only an endpoint this resource owns, waiting until it is gone.
///
/// # Errors
/// An AWS error that leaves the endpoint in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session, ctx: &Context) -> Result<Answer> {
    let Some(name) = req.echo.physical_id.as_deref().and_then(plan::name_from_arn) else {
        tracing::info!("physical id is not an endpoint ARN (a failed create); nothing to delete");
        return Ok(Answer::Now(Response::done(&req.echo)));
    };
    if let Some(answer) = known(req, aas, ctx).await? {
        return Ok(answer);
    }
    let Some(seen) = aas.endpoint_view(&name).await? else {
        tracing::info!(endpoint = %name, "endpoint already gone");
        return Ok(Answer::Now(Response::done(&req.echo)));
    };
    let me = Owner::of(&req.echo);
    match Owner::from_tags(&aas.sagemaker_tags(&seen.arn).await?) {
        Some(owner) if owner == me => {}
        other => {
            tracing::info!(endpoint = %name, "endpoint left in place: {}", whose(other.as_ref()));
            return Ok(Answer::Now(Response::done(&req.echo)));
        }
    }
    if !aas.has_journal() {
        return Err(aas.journal_missing());
    }
    if seen.status != "Deleting" {
        aas.sagemaker("DeleteEndpoint", &json!({"EndpointName": name})).await?;
    }
    tracing::info!(endpoint = %name, step = "delete", "DeleteEndpoint called; waiting until it is gone");
    let op = new_operation(req, Kind::Delete, &name, &seen.arn, "");
    begin(req, op, Step::Waiting, aas, ctx).await
}

/// The same CloudFormation event seen before: its operation in the journal is resumed (Lambda's retry of a
/// crashed invocation), or left to the invocation that holds it (a duplicate delivered at once).
async fn known(req: &Request, aas: &Session, ctx: &Context) -> Result<Option<Answer>> {
    if !aas.has_journal() {
        return Ok(None);
    }
    let id = journal::key(&req.echo);
    match aas.journal_get(&id).await? {
        None => Ok(None),
        Some((_, true)) => {
            tracing::info!(operation = %id, "this request's operation was answered already; nothing to do");
            Ok(Some(Answer::Nothing))
        }
        Some(_) => resume(&id, Claimant::Event(&ctx.invocation), aas, ctx).await.map(Some),
    }
}

/// Takes the lease of the operation `id` as `claimant` and runs it; nothing when the lease is someone else's.
///
/// # Errors
/// A journal that cannot be reached.
pub async fn resume(id: &str, claimant: Claimant<'_>, aas: &Session, ctx: &Context) -> Result<Answer> {
    match aas.journal_claim(id, claimant, journal::now_ms(), ctx.deadline_ms).await? {
        Some(record) => {
            tracing::info!(operation = %id, step = record.step.as_str(), "operation taken up");
            run::run(record, aas, ctx).await
        }
        None => {
            tracing::info!(operation = %id, "the operation is held by another invocation, answered, or unknown; nothing done");
            Ok(Answer::Nothing)
        }
    }
}

/// Writes a new operation (only if its key is absent), holding its lease, and runs it. When the key is there
/// already, the same event was delivered twice at once: the one that holds the lease goes on.
async fn begin(req: &Request, op: Operation, step: Step, aas: &Session, ctx: &Context) -> Result<Answer> {
    let event = journal::event_of(req);
    let record = Record {
        id: journal::key(&req.echo),
        event,
        step,
        op,
        holder: ctx.invocation.clone(),
        lease_until_ms: ctx.deadline_ms,
        answer: None,
        interrupted: None,
    };
    if !aas.journal_start(&record).await? {
        return resume(&record.id, Claimant::Event(&ctx.invocation), aas, ctx).await;
    }
    tracing::info!(operation = %record.id, step = step.as_str(), "operation written to the journal");
    run::run(record, aas, ctx).await
}

fn new_operation(req: &Request, kind: Kind, endpoint: &str, arn: &str, config: &str) -> Operation {
    Operation::start(
        kind,
        endpoint.to_owned(),
        arn.to_owned(),
        config.to_owned(),
        plan::service_timeout(&req.properties),
        journal::now_ms(),
    )
}

/// Who owns an endpoint, for a Reason or a log line.
fn whose(owner: Option<&Owner>) -> String {
    owner.map_or_else(|| "made outside this function (it has no ownership tags)".to_owned(), Owner::to_string)
}

/// The template's tags and the ownership tags naming `me`, as SageMaker takes them (`[{Key, Value}]`).
fn owned_tags(tags: &Tags, me: &Owner) -> Vec<Value> {
    tags.iter().chain(me.tags().iter()).map(|(k, v)| json!({"Key": k, "Value": v})).collect()
}

/// Puts the ownership tags and the template's tags on the endpoint, and removes the tags the template dropped.
async fn retag(arn: &str, tags: &Tags, old_tags: Option<&Tags>, me: &Owner, aas: &Session) -> Result<()> {
    aas.sagemaker("AddTags", &json!({"ResourceArn": arn, "Tags": owned_tags(tags, me)})).await?;
    let removed: Vec<&String> = old_tags.map(|old| old.keys().filter(|k| !tags.contains_key(*k)).collect()).unwrap_or_default();
    if !removed.is_empty() {
        aas.sagemaker("DeleteTags", &json!({"ResourceArn": arn, "TagKeys": removed})).await?;
    }
    Ok(())
}

async fn create(req: &Request, spec: &EndpointSpec, me: &Owner, aas: &Session, ctx: &Context) -> Result<Answer> {
    if !aas.has_journal() {
        // Checked before CreateEndpoint: without a journal the wait could not outlive this invocation.
        return Err(aas.journal_missing());
    }
    let tags = owned_tags(&spec.tags, me);
    let created =
        aas.sagemaker("CreateEndpoint", &json!({"EndpointName": spec.name, "EndpointConfigName": spec.config_name, "Tags": tags})).await?;
    let arn = created.get("EndpointArn").and_then(Value::as_str).unwrap_or_default().to_owned();
    // From here a failed Create names the endpoint, so the rollback Delete removes it.
    aas.wrote(arn.clone());
    tracing::info!(endpoint = %spec.name, step = "create", "CreateEndpoint called; waiting for InService");
    let op = new_operation(req, Kind::Create, &spec.name, &arn, &spec.config_name);
    begin(req, op, Step::Waiting, aas, ctx).await
}
