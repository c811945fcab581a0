//! `Custom::SageMakerEndpoint`: an endpoint whose configuration updates keep its auto scaling.
//!
//! SageMaker refuses an UpdateEndpoint that changes the instance type of, or drops, a variant registered with
//! Application Auto Scaling. This resource runs AWS's documented way out itself: look, save what is
//! registered on the variants SageMaker would refuse, deregister those, update, wait, put back what was saved.
//! The decisions are pure ([`plan`]); this module runs them. An operation outlives one invocation: before the
//! invocation's deadline it is handed to the next one (an asynchronous Invoke of the function itself), carrying
//! only what AWS can no longer tell ([`plan::Operation`]); each invocation looks at the endpoint afresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::endpoint_plan::{self as plan, Kind, Operation, Outcome, SavedTarget, VERSION};
use crate::model::endpoint_spec::{EndpointSpec, default_name};
use crate::model::target_spec::{Owner, Tags};
use crate::request::{Request, RequestType};
use crate::response::Response;
use crate::sagemaker::{ENDPOINT_TRANSITIONS, poll_delay};
use crate::shell::Session;
use crate::{Error, Result};

/// The endpoint tag that names the hand-over in flight (see [`Operation::token`]).
const OPERATION_TAG: &str = "cfn-sagemaker-autoscaling:operation";
/// Time kept before the invocation's work limit for handing the operation over.
const HANDOVER_RESERVE: Duration = Duration::from_secs(2);
/// A look at the endpoint closer than this to the previous one is not worth an invocation's time.
const MIN_LOOK_GAP: Duration = Duration::from_millis(500);
/// Time kept before the operation's own deadline for restoring and answering.
const OPERATION_MARGIN_MS: u64 = 60_000;

/// What handling an endpoint event came to: an answer now, or the operation handed to the next invocation.
#[derive(Debug)]
pub enum Answer {
    Now(Response),
    HandedOver,
    /// `cdk-provider` mode: the operation is started; the Provider framework's `isComplete` polls it.
    Started(Box<Operation>),
    /// `isComplete`: not done yet.
    Pending,
}

/// What an endpoint event needs beyond the request: the state an earlier invocation handed over, and how to
/// hand over in turn.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The function's own ARN (the invocation's `invoked_function_arn`), for handing over; none in tests
    /// that never hand over, and in `cdk-provider` mode (the framework polls instead).
    pub function: Option<String>,
    pub operation: Option<Operation>,
    /// `cdk-provider` mode: an operation that must wait is answered [`Answer::Started`]; the framework's
    /// `isComplete` calls [`poll`].
    pub provider: bool,
}

/// A new operation of `kind`, started now, with the resource's `ServiceTimeout`.
fn start(req: &Request, kind: Kind, endpoint: String, arn: String, new_config: String) -> Operation {
    Operation::start(kind, endpoint, arn, new_config, plan::service_timeout(&req.properties), now_ms())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Create or Update, the properties validated.
///
/// # Errors
/// Why the endpoint could not be created or updated; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, spec: EndpointSpec, aas: &Session, ctx: &Context) -> Result<Answer> {
    if let Some(op) = &ctx.operation {
        return resume(req, op.clone(), aas, ctx).await;
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
    if seen.config_name == spec.config_name && seen.status != "InService" {
        // On the configuration asked for, but not ready (a duplicate delivery of a Create still Creating): wait.
        let op = start(req, Kind::Create, spec.name.clone(), seen.arn.clone(), spec.config_name.clone());
        return drive(req, op, aas, ctx).await;
    }
    if seen.config_name == spec.config_name {
        // On the configuration asked for already: a tags-only update, a duplicate, an adoption as it is, or the
        // rollback Update after a failed update (the endpoint is back on the old configuration).
        let done = plan::finished(&seen, &[], &[]);
        return Ok(Answer::Now(Response::success(&req.echo, seen.arn.clone(), done)));
    }
    start_update(req, &spec, seen, aas, ctx).await
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
    let tags = owned_tags(&spec.tags, me);
    let created =
        aas.sagemaker("CreateEndpoint", &json!({"EndpointName": spec.name, "EndpointConfigName": spec.config_name, "Tags": tags})).await?;
    let arn = created.get("EndpointArn").and_then(Value::as_str).unwrap_or_default().to_owned();
    // From here a failed Create names the endpoint, so the rollback Delete removes it.
    aas.wrote(arn.clone());
    tracing::info!(endpoint = %spec.name, step = "create", "CreateEndpoint called; waiting for InService");
    let op = start(req, Kind::Create, spec.name.clone(), arn, spec.config_name.clone());
    drive(req, op, aas, ctx).await
}

/// Steps 1 to 4: look, save, deregister what SageMaker would refuse, UpdateEndpoint.
async fn start_update(req: &Request, spec: &EndpointSpec, mut seen: plan::EndpointView, aas: &Session, ctx: &Context) -> Result<Answer> {
    let mut looks = 0;
    while ENDPOINT_TRANSITIONS.contains(&seen.status.as_str()) {
        looks += 1;
        tracing::info!(endpoint = %spec.name, step = "look", status = %seen.status, "waiting before the update");
        let delay = poll_delay(looks, fastrand::f64());
        if Instant::now() + delay + HANDOVER_RESERVE >= aas.until() {
            return Err(Error::Conflict(format!("endpoint {} is still {}; retry the update", spec.name, seen.status)));
        }
        tokio::time::sleep(delay).await;
        seen = aas.endpoint_view(&spec.name).await?.ok_or_else(|| Error::Conflict(format!("endpoint {} no longer exists", spec.name)))?;
    }
    let current = aas.endpoint_config(&seen.config_name).await?;
    let new = aas.endpoint_config(&spec.config_name).await?;
    let refused = plan::refused_variants(&current, &new);
    let mut saved: Vec<SavedTarget> = Vec::new();
    for variant in &refused {
        let capacity = seen.variants.iter().find(|(name, _)| name == variant).and_then(|(_, c)| *c);
        saved.extend(aas.save_targets(variant, &format!("endpoint/{}/variant/{variant}", spec.name), capacity).await?);
    }
    tracing::info!(endpoint = %spec.name, step = "save", refused = ?refused, targets = saved.len(), "saved what SageMaker would refuse");
    let mut op = start(req, Kind::Update, spec.name.clone(), seen.arn.clone(), spec.config_name.clone());
    op.reason_before = seen.failure_reason.clone();
    op.saved = saved;
    aas.keep(&op);
    for target in &op.saved {
        aas.deregister_saved(target).await?;
        tracing::info!(target = %target.physical_id(), step = "deregister", "deregistered for the update");
    }
    if let Err(err) = aas.sagemaker("UpdateEndpoint", &spec.update_request()).await {
        tracing::warn!(step = "update", error = %err, "UpdateEndpoint refused: restoring");
        return finish(req, &op, Err(format!("{err}")), aas).await.map(Answer::Now);
    }
    op.started_call = true;
    aas.keep(&op);
    tracing::info!(endpoint = %spec.name, step = "update", config = %spec.config_name, "UpdateEndpoint called; waiting");
    drive(req, op, aas, ctx).await
}

/// Tags the hand-over's token on the endpoint (a duplicate delivery finds another), then invokes the function.
async fn hand_over(req: &Request, op: &Operation, function: &str, aas: &Session) -> Result<()> {
    if op.kind != Kind::Delete {
        let tag = json!([{"Key": OPERATION_TAG, "Value": op.token}]);
        aas.sagemaker("AddTags", &json!({"ResourceArn": op.arn, "Tags": tag})).await?;
    }
    aas.hand_over(function, &plan::handover_payload(req, op)).await
}

/// A handed-over operation: carried on only by the delivery that holds the token the endpoint carries (Lambda
/// may deliver an asynchronous event twice; the duplicate finds the token claimed and does nothing).
async fn resume(req: &Request, op: Operation, aas: &Session, ctx: &Context) -> Result<Answer> {
    if let (Some(token), Kind::Create | Kind::Update) = (&op.token, op.kind) {
        let tags = match aas.endpoint_view(&op.endpoint).await? {
            Some(seen) => aas.sagemaker_tags(&seen.arn).await?,
            None => Tags::new(),
        };
        if tags.get(OPERATION_TAG) != Some(token) {
            tracing::warn!(endpoint = %op.endpoint, "a duplicate or stale hand-over: its token is not the endpoint's; nothing done");
            return Ok(Answer::HandedOver);
        }
        let claimed = json!([{"Key": OPERATION_TAG, "Value": format!("{token}-claimed")}]);
        aas.sagemaker("AddTags", &json!({"ResourceArn": op.arn, "Tags": claimed})).await?;
    }
    drive(req, op, aas, ctx).await
}

/// Step 5 on: wait for the endpoint, then restore and answer; hand over before the invocation's deadline.
async fn drive(req: &Request, mut op: Operation, aas: &Session, ctx: &Context) -> Result<Answer> {
    if op.version > VERSION {
        return Err(Error::invalid(format!("the handed-over operation is version {}, newer than this function's {VERSION}", op.version)));
    }
    if let Some(why) = op.interrupted.clone() {
        return finish(req, &op, Err(format!("the operation was interrupted ({why})")), aas).await.map(Answer::Now);
    }
    if ctx.provider {
        return Ok(Answer::Started(Box::new(op)));
    }
    aas.keep(&op);
    let mut looks = 0;
    loop {
        let outcome = look(&op, aas).await?;
        match outcome {
            Outcome::Succeeded => return finish(req, &op, Ok(()), aas).await.map(Answer::Now),
            Outcome::Failed(reason) => return finish(req, &op, Err(reason), aas).await.map(Answer::Now),
            Outcome::Waiting(status) => {
                looks += 1;
                // Each invocation uses its time: the next look comes after the backoff, or at the last moment
                // that still leaves room to hand over.
                let room = aas.until().saturating_duration_since(Instant::now()).saturating_sub(HANDOVER_RESERVE);
                if room >= MIN_LOOK_GAP {
                    tracing::info!(endpoint = %op.endpoint, step = "wait", %status, "waiting");
                    tokio::time::sleep(poll_delay(looks, fastrand::f64()).min(room)).await;
                    continue;
                }
                let Some(function) = &ctx.function else {
                    // No way to hand over (cdk-provider mode without isComplete): the operation ends here.
                    let why = format!(
                        "endpoint {} is still {status}: the invocation ended before it did, and this mode cannot hand the operation over",
                        op.endpoint
                    );
                    return finish(req, &op, Err(why), aas).await.map(Answer::Now);
                };
                op.handovers += 1;
                op.token = Some(format!("{:016x}", fastrand::u64(..)));
                if let Err(err) = hand_over(req, &op, function, aas).await {
                    // Nobody would carry it on: put back what was saved and answer now.
                    let why = format!(
                        "endpoint {} is still {status}, and the operation could not be handed to the next invocation: {err}",
                        op.endpoint
                    );
                    return finish(req, &op, Err(why), aas).await.map(Answer::Now);
                }
                tracing::info!(endpoint = %op.endpoint, step = "hand-over", %status, handovers = op.handovers, "handed the operation to the next invocation");
                aas.forget();
                return Ok(Answer::HandedOver);
            }
        }
    }
}

/// The Provider framework's `isComplete`: one look at the endpoint. Still in a transition: [`Answer::Pending`];
/// otherwise restore and answer, as an invocation of `direct` mode would.
///
/// # Errors
/// The operation failed (SageMaker's reason), or an AWS error.
pub async fn poll(req: &Request, op: Operation, aas: &Session) -> Result<Answer> {
    let outcome = look(&op, aas).await?;
    match outcome {
        Outcome::Waiting(status) => {
            tracing::info!(endpoint = %op.endpoint, step = "wait", %status, "not complete yet");
            Ok(Answer::Pending)
        }
        Outcome::Succeeded => finish(req, &op, Ok(()), aas).await.map(Answer::Now),
        Outcome::Failed(reason) => finish(req, &op, Err(reason), aas).await.map(Answer::Now),
    }
}

/// One look at the endpoint: what it means for the operation. Past the operation's own deadline (its first start
/// plus ServiceTimeout, less the margin) a status still in transition is a failure naming it and the minutes waited.
async fn look(op: &Operation, aas: &Session) -> Result<Outcome> {
    let seen = aas.endpoint_view(&op.endpoint).await?;
    if plan::past_deadline(op, OPERATION_MARGIN_MS.min(op.service_timeout_s * 250), now_ms()) {
        let status = seen.map_or_else(|| "gone".to_owned(), |s| s.status);
        let minutes = now_ms().saturating_sub(op.started_ms) / 60_000;
        let why =
            format!("endpoint {} is still {status} after {minutes} minutes, at the end of the resource's ServiceTimeout", op.endpoint);
        return Ok(Outcome::Failed(why));
    }
    Ok(outcome_of(op, seen.as_ref()))
}

fn outcome_of(op: &Operation, seen: Option<&plan::EndpointView>) -> Outcome {
    match op.kind {
        Kind::Create => plan::create_outcome(seen),
        Kind::Update => plan::update_outcome(seen, &op.new_config, op.reason_before.as_deref()),
        Kind::Delete => match seen {
            None => Outcome::Succeeded,
            Some(s) if s.status == "Deleting" => Outcome::Waiting(s.status.clone()),
            Some(s) => Outcome::Failed(format!("the endpoint is {} instead of being deleted", s.status)),
        },
    }
}

/// Steps 6 and 7: put back what was saved onto the variants the live endpoint has, set the scaled capacity
/// back, and answer with SageMaker's outcome.
async fn finish(req: &Request, op: &Operation, outcome: std::result::Result<(), String>, aas: &Session) -> Result<Response> {
    let seen = aas.endpoint_view(&op.endpoint).await?;
    let live: Vec<String> = seen.as_ref().map(|s| s.variants.iter().map(|(n, _)| n.clone()).collect()).unwrap_or_default();
    let (back, removed) = plan::restore_plan(&op.saved, &live);
    for target in &back {
        aas.restore_target(target).await?;
        tracing::info!(target = %target.physical_id(), step = "restore", "target, policies and actions put back");
        let now = seen.as_ref().and_then(|s| s.variants.iter().find(|(n, _)| *n == target.variant)).and_then(|(_, c)| *c);
        if target.dimension == "sagemaker:variant:DesiredInstanceCount"
            && let Some(count) = plan::capacity_to_set(target.capacity, target.min, target.max, now)
        {
            let body = json!({"EndpointName": op.endpoint, "DesiredWeightsAndCapacities": [{"VariantName": target.variant, "DesiredInstanceCount": count}]});
            aas.sagemaker("UpdateEndpointWeightsAndCapacities", &body).await?;
            tracing::info!(variant = %target.variant, count, step = "capacity", "scaled capacity set back");
        }
    }
    aas.forget();
    if seen.is_some() && op.token.is_some() {
        aas.sagemaker("DeleteTags", &json!({"ResourceArn": op.arn, "TagKeys": [OPERATION_TAG]})).await?;
    }
    let restored: Vec<String> = back.iter().map(|t| t.physical_id()).collect();
    let removed: Vec<String> = removed.iter().map(|t| t.physical_id()).collect();
    match outcome {
        Ok(()) if op.kind == Kind::Delete => Ok(Response::done(&req.echo)),
        Ok(()) => {
            let seen = seen.ok_or_else(|| Error::Conflict(format!("endpoint {} no longer exists", op.endpoint)))?;
            Ok(Response::success(&req.echo, op.arn.clone(), plan::finished(&seen, &restored, &removed)))
        }
        Err(reason) => {
            let kept = if restored.is_empty() { String::new() } else { format!("; auto scaling restored on {}", restored.join(", ")) };
            Err(Error::Conflict(format!("endpoint {}: {reason}{kept}", op.endpoint)))
        }
    }
}

/// Delete: only an endpoint this resource owns, waiting until it is gone.
///
/// # Errors
/// An AWS error that leaves the endpoint in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session, ctx: &Context) -> Result<Answer> {
    if let Some(op) = &ctx.operation {
        return resume(req, op.clone(), aas, ctx).await;
    }
    let Some(name) = req.echo.physical_id.as_deref().and_then(plan::name_from_arn) else {
        tracing::info!("physical id is not an endpoint ARN (a failed create); nothing to delete");
        return Ok(Answer::Now(Response::done(&req.echo)));
    };
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
    if seen.status != "Deleting" {
        aas.sagemaker("DeleteEndpoint", &json!({"EndpointName": name})).await?;
    }
    tracing::info!(endpoint = %name, step = "delete", "DeleteEndpoint called; waiting until it is gone");
    let op = start(req, Kind::Delete, name, seen.arn, String::new());
    drive(req, op, aas, ctx).await
}
