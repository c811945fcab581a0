//! An endpoint operation, step by step, as the journal has it: each step looks at the endpoint afresh, acts, and
//! records where it got to before the next one acts (see [`Step`]). Any invocation that holds the lease can
//! carry the operation on from the last recorded step, so a crash, a retry or a dropped hand-over repeats
//! nothing that was done and loses nothing that was saved.

use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;

use crate::endpoint_plan::{self as plan, EndpointView, Kind, Outcome, SavedTarget};
use crate::journal::{self, Claimant, Record, Step, now_ms, request_of};
use crate::response::Response;
use crate::sagemaker::{ENDPOINT_TRANSITIONS, poll_delay};
use crate::shell::Session;
use crate::{Error, Result};

/// Time kept before the invocation's work limit for handing the operation over.
const HANDOVER_RESERVE: Duration = Duration::from_secs(2);
/// A look at the endpoint closer than this to the previous one is not worth an invocation's time.
const MIN_LOOK_GAP: Duration = Duration::from_millis(500);

/// What handling an endpoint event came to.
#[derive(Debug)]
pub enum Answer {
    /// An answer that needed no operation: delivered as any other resource's.
    Now(Response),
    /// The operation's answer, recorded in the journal before it is delivered; once delivered, the operation is
    /// marked answered under the lease `holder` holds.
    Recorded { response: Response, id: String, holder: String },
    /// Nothing to answer here: handed to the next invocation, or held by another one.
    Nothing,
    /// `cdk-provider` mode: the operation goes on; the Provider framework's `isComplete` polls it.
    Pending { id: String, physical_id: String },
}

/// What an endpoint event needs beyond the request: who this invocation is and how it may go on.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The function's own ARN, for handing over (direct mode).
    pub function: Option<String>,
    /// `cdk-provider` mode: where an operation must wait, [`Answer::Pending`].
    pub provider: bool,
    /// The invocation's request id: the holder of the leases it takes.
    pub invocation: String,
    /// The invocation's deadline (milliseconds since the epoch): the end of its leases.
    pub deadline_ms: u64,
    /// No waiting inside this invocation (the scheduled reconcile): at the first wait, hand over.
    pub one_pass: bool,
    /// How long a queued hand-over holds the lease before the reconcile may take the operation.
    pub handover_grace: Duration,
}

/// Runs the operation from its recorded step until it is answered, handed over, or (cdk-provider) pending.
///
/// # Errors
/// Only when nothing could be recorded (the journal unreachable): the operation stays in the journal, and the
/// scheduled reconcile takes it up once the lease runs out.
pub async fn run(mut record: Record, aas: &Session, ctx: &Context) -> Result<Answer> {
    aas.hold(&record.id, &record.holder);
    if let Some(why) = record.interrupted.take().filter(|_| record.step <= Step::Restoring) {
        tracing::warn!(operation = %record.id, %why, "an earlier invocation was interrupted: restoring and answering");
        if record.step == Step::Restoring && record.op.interrupted.is_some() {
            // Interrupted while restoring, twice: answer rather than try for ever.
            let req = request_of(&record)?;
            let reason = format!(
                "endpoint {}: the operation was interrupted twice while restoring ({why}); the saved auto scaling is in the operations journal as {}",
                record.op.endpoint, record.id
            );
            let response = Response::failed(&req.echo, Some(req.request_type), reason);
            return answer(&mut record, response, aas).await.map(|a| a.unwrap_or(Answer::Nothing));
        }
        record.op.interrupted = Some(why.clone());
        record.op.decide(Err(format!("the operation was interrupted ({why})")));
        advance(&mut record, Step::Restoring, aas).await?;
    }
    let mut looks = 0;
    loop {
        match step(&mut record, aas, ctx, &mut looks).await {
            Ok(Some(answer)) => return Ok(answer),
            Ok(None) => {}
            Err(err @ Error::Superseded(_)) => {
                tracing::warn!(operation = %record.id, error = %err, "stopping: another invocation holds the operation");
                aas.release_hold();
                return Ok(Answer::Nothing);
            }
            Err(err) if record.step < Step::Restoring => {
                // SageMaker or Application Auto Scaling refused a step: put back what was saved, then answer.
                tracing::warn!(operation = %record.id, step = record.step.as_str(), error = %err, "the step failed: restoring");
                record.op.decide(Err(err.to_string()));
                advance(&mut record, Step::Restoring, aas).await?;
            }
            Err(err) if record.op.interrupted.is_none() && record.step == Step::Restoring => {
                // Restoring failed: once more, from a fresh invocation.
                tracing::error!(operation = %record.id, error = %err, "restoring failed: handing over to try once more");
                record.op.interrupted = Some(err.to_string());
                advance(&mut record, Step::Restoring, aas).await?;
                if let Some(answer) = hand_over(&mut record, aas, ctx).await? {
                    return Ok(answer);
                }
            }
            Err(err) => {
                tracing::error!(operation = %record.id, step = record.step.as_str(), error = %err,
                    "the operation cannot go on; what was saved stays in the journal under this id");
                let req = request_of(&record)?;
                let reason =
                    format!("endpoint {}: {err}; the saved auto scaling is in the operations journal as {}", record.op.endpoint, record.id);
                let response = Response::failed(&req.echo, Some(req.request_type), reason);
                return answer(&mut record, response, aas).await.map(|a| a.unwrap_or(Answer::Nothing));
            }
        }
    }
}

/// Records the step reached (from the step it was at), under the lease.
async fn advance(record: &mut Record, to: Step, aas: &Session) -> Result<()> {
    let from = record.step;
    record.step = to;
    aas.journal_step(record, from).await?;
    tracing::info!(operation = %record.id, step = to.as_str(), endpoint = %record.op.endpoint, "step recorded");
    Ok(())
}

/// One step: `Some` when the invocation is done with the operation.
async fn step(record: &mut Record, aas: &Session, ctx: &Context, looks: &mut u32) -> Result<Option<Answer>> {
    match record.step {
        Step::Look => {
            let seen = aas.endpoint_view(&record.op.endpoint).await?.ok_or_else(|| gone(&record.op.endpoint))?;
            if ENDPOINT_TRANSITIONS.contains(&seen.status.as_str()) {
                return wait(record, &seen.status, aas, ctx, looks).await;
            }
            save(record, &seen, aas).await?;
            advance(record, Step::Saved, aas).await?;
        }
        Step::Saved => {
            for target in &record.op.saved {
                aas.deregister_saved(target).await?;
                tracing::info!(target = %target.physical_id(), step = "deregister", "deregistered for the update");
            }
            // Written ahead: from here UpdateEndpoint may have taken effect.
            advance(record, Step::Updating, aas).await?;
            return update(record, None, aas, ctx, looks).await;
        }
        Step::Updating => {
            let seen = aas.endpoint_view(&record.op.endpoint).await?.ok_or_else(|| gone(&record.op.endpoint))?;
            return update(record, Some(seen), aas, ctx, looks).await;
        }
        Step::Waiting => {
            let seen = aas.endpoint_view(&record.op.endpoint).await?;
            match outcome(&record.op, seen.as_ref()) {
                Outcome::Waiting(status) => return wait(record, &status, aas, ctx, looks).await,
                Outcome::Succeeded => record.op.decide(Ok(())),
                Outcome::Failed(reason) => record.op.decide(Err(reason)),
            }
            tracing::info!(endpoint = %record.op.endpoint, failure = ?record.op.failure, "SageMaker's outcome");
            advance(record, Step::Restoring, aas).await?;
        }
        Step::Restoring => return restore(record, aas, ctx, looks).await,
        Step::Answering => {
            let body = record.answer.clone().unwrap_or_default();
            let response = Response::from_body(&body)
                .ok_or_else(|| Error::Conflict(format!("operation {}: its recorded answer cannot be read", record.id)))?;
            return Ok(Some(Answer::Recorded { response, id: record.id.clone(), holder: record.holder.clone() }));
        }
        Step::Answered => return Ok(Some(Answer::Nothing)),
    }
    Ok(None)
}

fn gone(endpoint: &str) -> Error {
    Error::Conflict(format!("endpoint {endpoint} no longer exists"))
}

/// Steps 1 and 2: the variants SageMaker would refuse, and what is registered on them.
async fn save(record: &mut Record, seen: &EndpointView, aas: &Session) -> Result<()> {
    let op = &mut record.op;
    let current = aas.endpoint_config(&seen.config_name).await?;
    let new = aas.endpoint_config(&op.new_config).await?;
    let refused = plan::refused_variants(&current, &new);
    let mut saved: Vec<SavedTarget> = Vec::new();
    for variant in &refused {
        saved.extend(aas.save_targets(variant, &format!("endpoint/{}/variant/{variant}", op.endpoint), seen.capacity_of(variant)).await?);
    }
    tracing::info!(endpoint = %op.endpoint, step = "save", refused = ?refused, targets = saved.len(), "saved what SageMaker would refuse");
    op.reason_before = seen.failure_reason.clone();
    op.saved = saved;
    Ok(())
}

/// Step 4: UpdateEndpoint, unless the endpoint shows it took effect already (`seen`: a resumed operation).
async fn update(record: &mut Record, seen: Option<EndpointView>, aas: &Session, ctx: &Context, looks: &mut u32) -> Result<Option<Answer>> {
    if let Some(seen) = &seen {
        let took_effect =
            seen.config_name == record.op.new_config || seen.failure_reason.is_some() && seen.failure_reason != record.op.reason_before;
        if took_effect {
            return advance(record, Step::Waiting, aas).await.map(|()| None);
        }
        if ENDPOINT_TRANSITIONS.contains(&seen.status.as_str()) {
            return wait(record, &seen.status, aas, ctx, looks).await;
        }
    }
    match aas.sagemaker("UpdateEndpoint", &record.op.update_request).await {
        Ok(_) => {
            tracing::info!(endpoint = %record.op.endpoint, step = "update", config = %record.op.new_config, "UpdateEndpoint called; waiting");
            advance(record, Step::Waiting, aas).await.map(|()| None)
        }
        Err(err) if in_progress(&err) => wait(record, "Updating", aas, ctx, looks).await,
        Err(err) => Err(err),
    }
}

/// SageMaker's refusal while the endpoint is in a transition ("Cannot update in-progress endpoint"): a wait.
fn in_progress(err: &Error) -> bool {
    matches!(err, Error::Aws { code, message, .. } if code == "ValidationException" && message.contains("in-progress"))
}

fn outcome(op: &plan::Operation, seen: Option<&EndpointView>) -> Outcome {
    if plan::past_deadline(op, plan::operation_margin_ms(op.service_timeout_s), now_ms()) {
        let status = seen.map_or("gone", |s| s.status.as_str());
        let minutes = now_ms().saturating_sub(op.started_ms) / 60_000;
        if !matches!(op.kind, Kind::Delete if seen.is_none()) {
            return Outcome::Failed(format!(
                "endpoint {} is still {status} after {minutes} minutes, at the end of the resource's ServiceTimeout",
                op.endpoint
            ));
        }
    }
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

/// Steps 6 and 7: put back what was saved onto the variants of the same kind the live endpoint has; set the
/// scaled capacity back once the endpoint is InService (a wait while it is not, until the deadline: then it is
/// named in `CapacityNotRestored`); record the answer.
async fn restore(record: &mut Record, aas: &Session, ctx: &Context, looks: &mut u32) -> Result<Option<Answer>> {
    let seen = aas.endpoint_view(&record.op.endpoint).await?;
    if !record.op.restored {
        let kinds = seen.as_ref().map(EndpointView::kinds).unwrap_or_default();
        let (back, removed) = plan::restore_plan(&record.op.saved, &kinds);
        let (back, removed): (Vec<SavedTarget>, Vec<SavedTarget>) =
            (back.into_iter().cloned().collect(), removed.into_iter().cloned().collect());
        for target in &back {
            for (old, new) in aas.restore_target(target).await? {
                if old != new {
                    aas.journal_map_policy(&old, &new).await?;
                    record.op.renamed_policies.insert(old, new);
                }
            }
            tracing::info!(target = %target.physical_id(), step = "restore", "target, policies, actions and alarms put back");
        }
        record.op.restored_targets = back.iter().map(SavedTarget::physical_id).collect();
        record.op.removed_targets = removed.iter().map(SavedTarget::physical_id).collect();
        record.op.restored = true;
        advance(record, Step::Restoring, aas).await?;
    }
    if let Some(waiting) = set_capacity(record, seen.as_ref(), aas).await? {
        return wait(record, &waiting, aas, ctx, looks).await;
    }
    let req = request_of(record)?;
    let op = &record.op;
    let response = match (&op.failure, op.kind) {
        (None, Kind::Delete) => Response::done(&req.echo),
        (None, _) => match &seen {
            Some(seen) => Response::success(&req.echo, op.arn.clone(), plan::finished(seen, op)),
            None => Response::failed(&req.echo, Some(req.request_type), format!("endpoint {} no longer exists", op.endpoint)),
        },
        (Some(reason), _) => {
            let kept = if op.restored_targets.is_empty() {
                String::new()
            } else {
                format!("; auto scaling restored on {}", op.restored_targets.join(", "))
            };
            let mut failed = Response::failed(&req.echo, Some(req.request_type), format!("endpoint {}: {reason}{kept}", op.endpoint));
            if op.kind == Kind::Create {
                // The rollback Delete removes the endpoint the failed create made.
                failed.physical_id = op.arn.clone();
            }
            failed
        }
    };
    answer(record, response, aas).await
}

/// Sets each restored variant's scaled capacity back; `Some(status)` while the endpoint is not InService and
/// the deadline is not near (a wait).
async fn set_capacity(record: &mut Record, seen: Option<&EndpointView>, aas: &Session) -> Result<Option<String>> {
    let op = &record.op;
    let mut wanted = Vec::new();
    for target in op.saved.iter().filter(|t| t.on_instances() && op.restored_targets.contains(&t.physical_id())) {
        let now = seen.and_then(|s| s.capacity_of(&target.variant));
        if let Some(count) = plan::capacity_to_set(target.capacity, target.min, target.max, now) {
            wanted.push((target.variant.clone(), count));
        }
    }
    if wanted.is_empty() || op.capacity_not_restored.iter().any(|v| wanted.iter().any(|(w, _)| w == v)) {
        return Ok(None);
    }
    let near_deadline = op.stop_waiting || plan::past_deadline(op, plan::operation_margin_ms(op.service_timeout_s) / 2, now_ms());
    let status = seen.map_or("gone", |s| s.status.as_str()).to_owned();
    if status == "InService" {
        let body = json!({"EndpointName": op.endpoint, "DesiredWeightsAndCapacities":
            wanted.iter().map(|(v, c)| json!({"VariantName": v, "DesiredInstanceCount": c})).collect::<Vec<_>>()});
        match aas.sagemaker("UpdateEndpointWeightsAndCapacities", &body).await {
            Ok(_) => {
                tracing::info!(variants = ?wanted, step = "capacity", "scaled capacity set back");
                return Ok(None);
            }
            Err(err) if in_progress(&err) && !near_deadline => return Ok(Some("Updating".into())),
            Err(err) if in_progress(&err) => {}
            Err(err) => tracing::warn!(error = %err, step = "capacity", "the scaled capacity could not be set back"),
        }
    } else if !near_deadline && status != "gone" {
        return Ok(Some(status));
    }
    tracing::warn!(variants = ?wanted, step = "capacity", "the update succeeded, but the scaled capacity is not set back: CapacityNotRestored");
    record.op.capacity_not_restored = wanted.into_iter().map(|(v, _)| v).collect();
    Ok(None)
}

/// Records the answer (once), then hands it to the handler to deliver.
async fn answer(record: &mut Record, response: Response, aas: &Session) -> Result<Option<Answer>> {
    let body = String::from_utf8_lossy(&response.body()).into_owned();
    aas.journal_answer(record, &body).await?;
    record.answer = Some(body);
    record.step = Step::Answering;
    tracing::info!(operation = %record.id, step = "answer", status = response.status.as_str(), "answer recorded");
    Ok(Some(Answer::Recorded { response, id: record.id.clone(), holder: record.holder.clone() }))
}

/// A wait: sleep while this invocation has time (direct mode), else hand over; in cdk-provider mode, give
/// the lease up and report pending (the framework polls again).
async fn wait(record: &mut Record, status: &str, aas: &Session, ctx: &Context, looks: &mut u32) -> Result<Option<Answer>> {
    *looks += 1;
    if ctx.provider {
        aas.journal_release(&record.id, &record.holder, false, 0).await?;
        aas.release_hold();
        tracing::info!(endpoint = %record.op.endpoint, step = "wait", %status, "not complete yet");
        return Ok(Some(Answer::Pending { id: record.id.clone(), physical_id: record.op.arn.clone() }));
    }
    let room = aas.until().saturating_duration_since(Instant::now()).saturating_sub(HANDOVER_RESERVE);
    if !ctx.one_pass && room >= MIN_LOOK_GAP {
        tracing::info!(endpoint = %record.op.endpoint, step = "wait", %status, "waiting");
        tokio::time::sleep(poll_delay(*looks, fastrand::f64()).min(room)).await;
        return Ok(None);
    }
    hand_over(record, aas, ctx).await
}

/// Gives the lease to a queued hand-over and invokes the function with the operation's key. When Lambda
/// refuses (no invoke permission), the operation takes its lease back and ends here: restored and answered.
async fn hand_over(record: &mut Record, aas: &Session, ctx: &Context) -> Result<Option<Answer>> {
    let Some(function) = &ctx.function else {
        return Err(Error::Conflict(format!(
            "endpoint {} is still in a transition, and this invocation cannot hand the operation over",
            record.op.endpoint
        )));
    };
    let grace = now_ms() + ctx.handover_grace.as_millis() as u64;
    aas.journal_release(&record.id, &record.holder, true, grace).await?;
    match aas.hand_over(function, &journal::handover_event(&record.id)).await {
        Ok(queued) => {
            aas.release_hold();
            if let Some(request_id) = &queued {
                aas.journal_lease_to(&record.id, request_id).await?;
            }
            tracing::info!(operation = %record.id, step = "hand-over", next = ?queued, "handed the operation to the next invocation");
            Ok(Some(Answer::Nothing))
        }
        Err(err) => {
            tracing::error!(operation = %record.id, error = %err, "the operation could not be handed over: restoring and answering now");
            let Some(taken) = aas.journal_claim(&record.id, Claimant::HandOver(&ctx.invocation), now_ms(), ctx.deadline_ms).await? else {
                return Ok(Some(Answer::Nothing));
            };
            *record = taken;
            let why = format!(
                "endpoint {} is still in a transition, and the operation could not be handed to the next invocation: {err}",
                record.op.endpoint
            );
            if record.step < Step::Restoring {
                record.op.decide(Err(why));
                advance(record, Step::Restoring, aas).await?;
            } else {
                // Restoring: no more waiting for the capacity; put back what is left and answer.
                record.op.stop_waiting = true;
                record.op.interrupted.get_or_insert(why);
            }
            Ok(None)
        }
    }
}
