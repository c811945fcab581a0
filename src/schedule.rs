//! `Custom::SageMakerScheduledAction`: the calls each event needs. The spec and its validation live in
//! [`crate::model::action_spec`].

use std::collections::BTreeMap;

use crate::model::NAMESPACE;
use crate::model::action_spec::{ActionSpec, parse_physical_id, same_action};
use crate::request::{Request, RequestType};
use crate::response::Response;
use crate::shell::Session;
use crate::{Error, Result};

/// Create or Update, with the properties already validated (by the handler's `validate`).
///
/// # Errors
/// Why the resource could not be put; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, spec: ActionSpec, aas: &Session) -> Result<Response> {
    if req.request_type == RequestType::Update && !same_action(&spec, req.echo.physical_id.as_deref()) {
        tracing::info!(action = %spec.name, "new name or target: replacing the scheduled action");
    }
    aas.require_target(&spec.target).await?;
    aas.put_action(&spec).await?;
    aas.wrote(spec.physical_id());
    let arn = aas.put_action_arn(&spec.name, &spec.target).await?.ok_or_else(|| {
        Error::Conflict(format!("PutScheduledAction succeeded but DescribeScheduledActions did not show {} within the wait", spec.name))
    })?;
    tracing::info!(action = %spec.name, arn = %arn, "scheduled action put");
    Ok(Response::success(&req.echo, spec.physical_id(), BTreeMap::from([("ScheduledActionARN".to_owned(), arn)])))
}

/// Delete. Never validates properties; something already gone is done.
///
/// # Errors
/// An AWS error that leaves the resource in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session) -> Result<()> {
    let Some((name, target)) = req.echo.physical_id.as_deref().and_then(parse_physical_id) else {
        tracing::info!("physical id names no scheduled action (a failed create); nothing to delete");
        return Ok(());
    };
    let existed = aas.delete_action(&name, &target).await?;
    tracing::info!(action = %name, namespace = NAMESPACE, existed, "scheduled action deleted");
    Ok(())
}
