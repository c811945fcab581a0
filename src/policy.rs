//! `Custom::SageMakerScalingPolicy`: the calls each event needs. The spec, its validation and the ARN
//! reading live in [`crate::model::policy_spec`].

use std::collections::BTreeMap;

use crate::Result;
use crate::model::policy_spec::{PolicySpec, parse_arn, same_policy};
use crate::request::{Request, RequestType};
use crate::response::Response;
use crate::shell::Session;

/// Create or Update, with the properties already validated (by the handler's `validate`).
///
/// # Errors
/// Why the resource could not be put; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, spec: PolicySpec, aas: &Session) -> Result<Response> {
    if req.request_type == RequestType::Update && !same_policy(&spec, &req.old_properties) {
        tracing::info!(policy = %spec.name, target = %spec.target.physical_id(), "new name or target: replacing the policy");
    }
    aas.require_target(&spec.target).await?;
    let (arn, alarms) = aas.put_policy(&spec).await?;
    aas.wrote(arn.clone());
    tracing::info!(policy = %spec.name, arn = %arn, "scaling policy put");
    let data = BTreeMap::from([
        ("Arn".to_owned(), arn.clone()),
        ("PolicyName".to_owned(), spec.name.clone()),
        ("Alarms".to_owned(), alarms.join(",")),
    ]);
    Ok(Response::success(&req.echo, arn, data))
}

/// Delete. Never validates properties; something already gone is done.
///
/// # Errors
/// An AWS error that leaves the resource in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session) -> Result<()> {
    let arn = req.echo.physical_id.as_deref().unwrap_or_default();
    let Some((resource, name)) = parse_arn(arn) else {
        tracing::info!("physical id is not a policy ARN (a failed create); nothing to delete");
        return Ok(());
    };
    let mut found = aas.find_policy(&resource, &name, arn).await?;
    if found.is_none() {
        // An endpoint update put the policy back under a new ARN; the journal maps this resource's ARN to it.
        for successor in aas.journal_policy_successors(arn).await?.iter().rev() {
            if let Some(dimension) = aas.find_policy(&resource, &name, successor).await? {
                tracing::info!(policy = %name, arn = %successor, "the policy was put back by an endpoint update under this ARN");
                found = Some(dimension);
                break;
            }
        }
    }
    match found {
        None => tracing::info!(policy = %name, "scaling policy already gone"),
        Some(dimension) => {
            let existed = aas.delete_policy(&resource, dimension, &name).await?;
            tracing::info!(policy = %name, existed, "scaling policy deleted");
        }
    }
    Ok(())
}
