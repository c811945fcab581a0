//! Drift in the handler: on an Update of a target, policy or scheduled action, what changed outside the template
//! since the function applied it is logged (WARN, one line per field) before the Update applies; after a Create
//! or Update, what Application Auto Scaling shows is kept as applied; a Delete forgets it. The scheduled event
//! compares every resource the function applied, counts the drifted ones in `DriftedResources` (embedded metric
//! format), and puts back the template's values for those with `RepairDrift: true`. A report never fails a
//! resource: its own errors are logged.

use serde_json::json;
use tokio::time::Instant;

use super::{Handler, Work, dispatch};
use crate::drift::{self, Applied, Lookup};
use crate::journal::now_ms;
use crate::props::Props;
use crate::request::{self, Envelope, Request, ResourceType};
use crate::response::{Response, Status};
use crate::settings::Mode;
use crate::shell::Session;

/// How many applied resources one scheduled event compares at most.
const DRIFT_LIMIT: usize = 2000;

/// How the resource of `work` is described, if drift applies to it.
fn lookup(work: &Work) -> Option<Lookup> {
    match work {
        Work::PutTarget(spec) => Some(Lookup::target(&spec.id)),
        Work::PutPolicy(spec) => Some(Lookup::policy(spec)),
        Work::PutAction(spec) => Some(Lookup::action(spec)),
        Work::PutEndpoint(_) | Work::Delete(_) => None,
    }
}

/// The time a report may take inside a resource's event: a little, and never the resource's own time (the guard
/// would answer FAILED for a resource that was applied).
fn budget(aas: &Session) -> std::time::Duration {
    (aas.until().saturating_duration_since(Instant::now()) / 4).min(std::time::Duration::from_secs(5))
}

fn warn_each(physical_id: &str, differences: &[drift::Difference]) {
    for d in differences {
        tracing::warn!(physical_id, field = %d.field, applied = %d.applied, found = %d.found, "drift: changed outside the template since it was applied");
    }
}

/// Before an Update applies: what drifted since the function applied the resource.
pub(super) async fn before_update(req: &Request, aas: &Session) {
    let Some(physical_id) = req.echo.physical_id.as_deref().filter(|_| aas.has_journal()) else { return };
    let checked = async {
        let Some(applied) = aas.drift_applied(physical_id).await? else { return Ok::<(), crate::Error>(()) };
        let found = aas.drift_found(&applied.lookup).await?;
        warn_each(physical_id, &drift::differences(&applied.state, found.as_ref()));
        Ok::<(), crate::Error>(())
    };
    match tokio::time::timeout(budget(aas), checked).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(physical_id, error = %err, "drift could not be checked"),
        Err(_) => tracing::warn!(physical_id, "drift could not be checked in time"),
    }
}

/// After a Create or Update succeeded (and CloudFormation has its answer): what Application Auto Scaling shows now
/// is what was applied. After a Delete: nothing is applied any more.
pub(super) async fn after(req: &Request, response: &Response, aas: &Session) {
    if response.status != Status::Success || !aas.has_journal() {
        return;
    }
    // Validated already (the response is a success): read again, as the pure first step is.
    let Ok(work) = super::validate(req) else { return };
    let work = &work;
    let kept = async {
        if let Work::Delete(_) = work {
            return match req.echo.physical_id.as_deref() {
                Some(id) => aas.drift_forget(id).await,
                None => Ok(()),
            };
        }
        let Some(lookup) = lookup(work) else { return Ok(()) };
        let Some(state) = aas.drift_found(&lookup).await? else { return Ok(()) };
        let repair = Props::object(&req.properties, "ResourceProperties").ok().and_then(|p| p.boolean("RepairDrift").ok().flatten());
        let applied = Applied {
            physical_id: response.physical_id.clone(),
            resource_type: req.resource_type.clone(),
            lookup,
            state,
            properties: req.properties.clone(),
            repair: repair.unwrap_or(false),
            stack_id: req.echo.stack_id.clone(),
            logical_id: req.echo.logical_id.clone(),
        };
        aas.drift_remember(&applied).await
    };
    let why = match tokio::time::timeout(budget(aas), kept).await {
        Ok(Ok(())) => return,
        Ok(Err(err)) => err.to_string(),
        Err(_) => "out of time".to_owned(),
    };
    tracing::warn!(physical_id = %response.physical_id, error = %why, "the applied state could not be kept; drift of this resource is not reported");
}

impl Handler {
    /// The scheduled event's drift pass: every applied resource compared, the drifted ones logged, counted by
    /// resource type (`DriftedResources`, printed as embedded metric format) and, with `RepairDrift`, put back.
    pub(super) async fn drift_pass(&self, session: &Session, limit: Instant) -> usize {
        // An endpoint update deregisters its variants' targets until it restores them: nothing to compare (or
        // repair) until it is answered.
        match session.drift_endpoint_busy().await {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!("scheduled event: an endpoint operation is under way; drift is compared on a later one");
                return 0;
            }
            Err(err) => {
                tracing::error!(error = %err, "scheduled event: the operations journal cannot be read; no drift report");
                return 0;
            }
        }
        let all = match session.drift_all(DRIFT_LIMIT).await {
            Ok(all) => all,
            Err(err) => {
                tracing::error!(error = %err, "scheduled event: the applied states cannot be read; no drift report");
                return 0;
            }
        };
        let mut drifted = [ResourceType::ScalableTarget, ResourceType::ScalingPolicy, ResourceType::ScheduledAction].map(|t| (t, 0usize));
        for applied in &all {
            if limit.saturating_duration_since(Instant::now()) < self.settings.margin {
                tracing::warn!("scheduled event: out of time; the next one compares the rest");
                break;
            }
            let differences = match session.drift_found(&applied.lookup).await {
                Ok(found) => drift::differences(&applied.state, found.as_ref()),
                Err(err) => {
                    tracing::warn!(physical_id = %applied.physical_id, error = %err, "drift could not be checked");
                    continue;
                }
            };
            if differences.is_empty() {
                continue;
            }
            warn_each(&applied.physical_id, &differences);
            if let Some((_, n)) = drifted.iter_mut().find(|(t, _)| *t == applied.resource_type) {
                *n += 1;
            }
            if applied.repair {
                self.repair(applied, session).await;
            }
        }
        for (resource_type, n) in &drifted {
            // Embedded metric format: one JSON line on stdout, which Lambda sends to CloudWatch Logs.
            println!("{}", drift::metric_line(resource_type.as_str(), *n, now_ms()));
        }
        drifted.iter().map(|(_, n)| n).sum()
    }

    /// Puts back what the template says: the resource's own Update, replayed from the properties kept.
    async fn repair(&self, applied: &Applied, session: &Session) {
        let event = json!({
            "RequestType": "Update",
            "ResponseURL": "https://drift-repair.invalid/",
            "StackId": applied.stack_id,
            "RequestId": format!("drift-repair-{}", now_ms()),
            "LogicalResourceId": applied.logical_id,
            "ResourceType": applied.resource_type.as_str(),
            "PhysicalResourceId": applied.physical_id,
            "ResourceProperties": applied.properties,
            "OldResourceProperties": applied.properties,
        });
        let Some(Envelope::Request(req)) = request::requests(&event.to_string(), Mode::Direct).into_iter().next() else {
            tracing::error!(physical_id = %applied.physical_id, "RepairDrift: the kept properties no longer make a request");
            return;
        };
        let outcome = dispatch(&req, session).await;
        if let Some(response) = &outcome {
            after(&req, response, session).await;
        }
        match outcome {
            Some(r) if r.status == Status::Success => {
                tracing::warn!(physical_id = %applied.physical_id, "RepairDrift: put back what the template says")
            }
            other => {
                tracing::error!(physical_id = %applied.physical_id, reason = ?other.and_then(|r| r.reason), "RepairDrift: could not put it back")
            }
        }
    }
}
