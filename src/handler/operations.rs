//! Endpoint operations in the handler: a CloudFormation event of `Custom::SageMakerEndpoint`, a hand-over (only
//! an operation's journal key), the Provider framework's `isComplete` (the request with that key merged in), and
//! the scheduled reconcile. Each runs under the guard; an operation's recorded answer is delivered, then the
//! operation is marked answered.

use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use reqwest::Url;

use super::{Handler, Invocation, Work, names_what_was_written, request_span, validate};
use crate::endpoint::{self, Answer, Context};
use crate::endpoint_plan::OPERATION_KEY;
use crate::guard::{self, Interrupted};
use crate::journal::{self, Claimant};
use crate::request::{Request, RequestType};
use crate::response::{Response, Status};
use crate::settings::Mode;
use crate::shell::{Progress, Session};
use crate::{Error, Result};

/// At most this many open operations are taken up by one scheduled reconcile.
const RECONCILE_LIMIT: usize = 50;

impl Handler {
    fn endpoint_context(&self, invocation: &Invocation<'_>, one_pass: bool) -> Context {
        Context {
            function: invocation.function.filter(|_| self.settings.mode == Mode::Direct).map(str::to_owned),
            provider: self.settings.mode == Mode::CdkProvider,
            invocation: invocation.request_id.to_owned(),
            deadline_ms: invocation.deadline_ms,
            one_pass,
            handover_grace: self.settings.handover_grace,
        }
    }

    /// A CloudFormation event of `Custom::SageMakerEndpoint` (onEvent, in `cdk-provider` mode).
    pub(super) async fn endpoint_event(
        &self,
        req: Request,
        url: Option<Url>,
        deadline: Instant,
        invocation: &Invocation<'_>,
    ) -> Result<Value, String> {
        let limit = guard::work_limit(deadline, self.settings.margin, Instant::now());
        let progress = Progress::default();
        let session = self.session(limit, progress.clone());
        let ctx = self.endpoint_context(invocation, false);
        let work = {
            let req = req.clone();
            async move {
                match validate(&req)? {
                    Work::PutEndpoint(spec) => endpoint::put(&req, spec, &session, &ctx).await,
                    _ if req.request_type == RequestType::Delete => endpoint::delete(&req, &session, &ctx).await,
                    _ => Err(Error::invalid("not an endpoint event")),
                }
            }
            .in_current_span()
        };
        let outcome = guard::run(work, limit).await;
        self.endpoint_outcome(&req, outcome, progress, url, deadline, invocation, false).await
    }

    /// A hand-over (direct mode), or the Provider framework's `isComplete` (cdk-provider mode): the operation of
    /// `key` is taken up from the journal, its ResponseURL checked as any event's.
    pub(super) async fn take_up(&self, key: &str, deadline: Instant, invocation: &Invocation<'_>) -> Result<Value, String> {
        let is_complete = self.settings.mode == Mode::CdkProvider;
        self.resume_operation(key, Claimant::HandOver(invocation.request_id), deadline, invocation, false, is_complete).await
    }

    /// EventBridge's scheduled event: every open operation whose lease ran out is taken up (one pass each:
    /// what must wait is handed over). Nothing else is answered.
    pub(super) async fn reconcile(&self, deadline: Instant, invocation: &Invocation<'_>) -> Result<Value, String> {
        let limit = guard::work_limit(deadline, self.settings.margin, Instant::now());
        let session = self.session(limit, Progress::default());
        if !session.has_journal() {
            tracing::info!("scheduled event: no OPERATIONS_TABLE, nothing to reconcile");
            return Ok(json!({"resumed": 0}));
        }
        let open = match session.journal_open(crate::journal::now_ms(), RECONCILE_LIMIT).await {
            Ok(open) => open,
            Err(err) => {
                tracing::error!(error = %err, "scheduled event: the operations journal cannot be read");
                return Err(err.to_string());
            }
        };
        tracing::info!(open = open.len(), "scheduled event: taking up the operations whose lease ran out");
        let mut resumed = 0;
        for key in &open {
            if limit.saturating_duration_since(Instant::now()) < self.settings.margin {
                tracing::warn!("scheduled event: out of time; the next one takes up the rest");
                break;
            }
            let claimant = Claimant::Reconcile(invocation.request_id);
            if let Err(why) = self.resume_operation(key, claimant, deadline, invocation, true, false).await {
                tracing::error!(operation = %key, reason = %why, "scheduled event: the operation could not be taken up");
            }
            resumed += 1;
        }
        let drifted = self.drift_pass(&session, limit).await;
        Ok(json!({"resumed": resumed, "drifted": drifted}))
    }

    async fn resume_operation(
        &self,
        key: &str,
        claimant: Claimant<'_>,
        deadline: Instant,
        invocation: &Invocation<'_>,
        one_pass: bool,
        is_complete: bool,
    ) -> Result<Value, String> {
        let limit = guard::work_limit(deadline, self.settings.margin, Instant::now());
        let progress = Progress::default();
        let session = self.session(limit, progress.clone());
        let record = match session.journal_get(key).await {
            Ok(Some((record, false))) => record,
            Ok(Some((_, true))) => {
                tracing::info!(operation = %key, "the operation was answered already; nothing to do");
                return Ok(if is_complete { json!({"IsComplete": true}) } else { Value::Null });
            }
            Ok(None) => {
                tracing::warn!(operation = %key, "no such operation in the journal; nothing to do");
                return Ok(if is_complete { json!({"IsComplete": true}) } else { Value::Null });
            }
            // isComplete: a transient error is "not yet" (the framework polls again), never a thrown error.
            Err(err) if is_complete => {
                tracing::warn!(operation = %key, error = %err, "the journal cannot be read now; not complete yet");
                return Ok(json!({"IsComplete": false}));
            }
            Err(err) => return Err(err.to_string()),
        };
        let req = match crate::journal::request_of(&record) {
            Ok(req) => req,
            Err(err) => return Err(err.to_string()),
        };
        let span = request_span(&req.echo.request_id, &req.echo.logical_id, req.request_type.as_str(), req.resource_type.as_str());
        // The ResponseURL rule holds for every answer, whichever invocation sends it.
        let url = match self.destination(&req.response_url) {
            Ok(url) => url,
            Err(refused) => {
                span.in_scope(|| tracing::error!(reason = %refused, "ResponseURL refused: the operation is left alone"));
                return Err(refused);
            }
        };
        let ctx = self.endpoint_context(invocation, one_pass);
        let work = {
            let (key, holder, reconcile) = (key.to_owned(), claimant.holder(), matches!(claimant, Claimant::Reconcile(_)));
            async move {
                let claim = if reconcile { Claimant::Reconcile(&holder) } else { Claimant::HandOver(&holder) };
                endpoint::resume(&key, claim, &session, &ctx).await
            }
            .instrument(span.clone())
        };
        let outcome = guard::run(work, limit).await;
        self.endpoint_outcome(&req, outcome, progress, url, deadline, invocation, is_complete).instrument(span).await
    }

    /// What an endpoint operation's invocation came to, delivered: an answer (marked answered once delivered),
    /// nothing (handed over, or held elsewhere), or in `cdk-provider` mode the framework's result. A panic or the
    /// deadline while holding an operation hands it over (the next invocation restores and answers).
    #[allow(clippy::too_many_arguments)]
    async fn endpoint_outcome(
        &self,
        req: &Request,
        outcome: std::result::Result<Result<Answer>, Interrupted>,
        progress: Progress,
        url: Option<Url>,
        deadline: Instant,
        invocation: &Invocation<'_>,
        is_complete: bool,
    ) -> Result<Value, String> {
        let answer = match outcome {
            held if progress.lease().is_some() && !matches!(held, Ok(Ok(_))) => {
                let why = match held {
                    Ok(Err(err)) => err.to_string(),
                    Err(Interrupted::Panicked(_)) => "the function failed unexpectedly".to_owned(),
                    _ => "the invocation's deadline came first".to_owned(),
                };
                self.interrupt(&progress, &why, invocation, deadline).await;
                return Ok(if is_complete { json!({"IsComplete": false}) } else { Value::Null });
            }
            Ok(Ok(answer)) => answer,
            Ok(Err(err)) => Answer::Now(Response::failed(&req.echo, Some(req.request_type), err.to_string())),
            Err(interrupted) => Answer::Now(self.interrupted(req, &progress, interrupted)),
        };
        match answer {
            Answer::Now(response) => {
                let response = names_what_was_written(response, req.request_type, progress.written());
                self.deliver(url, response, deadline).await
            }
            Answer::Recorded { response, id, holder } => {
                let result = if is_complete { complete(&response) } else { self.deliver(url, response, deadline).await };
                let session = self.session(self.in_margin(deadline), Progress::default());
                if let Err(err) = session.journal_answered(&id, &holder).await {
                    // The next taker finds the recorded answer and sends the same body again.
                    tracing::warn!(operation = %id, error = %err, "the answer was delivered, but not marked so in the journal");
                }
                result
            }
            Answer::Nothing if is_complete => Ok(json!({"IsComplete": false})),
            Answer::Nothing => Ok(Value::Null),
            Answer::Pending { .. } if is_complete => Ok(json!({"IsComplete": false})),
            Answer::Pending { id, physical_id } => Ok(json!({"PhysicalResourceId": physical_id, OPERATION_KEY: {"id": id}})),
        }
    }

    /// Records why the invocation stops, gives the lease to a hand-over and invokes it; if Lambda cannot be
    /// reached, the scheduled reconcile takes the operation up once the hand-over's grace has run out.
    async fn interrupt(&self, progress: &Progress, why: &str, invocation: &Invocation<'_>, deadline: Instant) {
        let Some((id, holder)) = progress.lease() else { return };
        let session: Session = self.session(self.in_margin(deadline), Progress::default());
        tracing::error!(operation = %id, reason = %why, "the invocation ended before the operation did: handing it over");
        if let Err(err) = session.journal_interrupt(&id, &holder, why).await {
            tracing::error!(operation = %id, error = %err, "could not record the interruption; the lease runs out at the invocation's deadline");
            return;
        }
        let grace = crate::journal::now_ms() + self.settings.handover_grace.as_millis() as u64;
        if session.journal_release(&id, &holder, true, grace).await.is_err() {
            return;
        }
        let Some(function) = invocation.function.filter(|_| self.settings.mode == Mode::Direct) else { return };
        match session.hand_over(function, &journal::handover_event(&id)).await {
            Ok(Some(request_id)) => {
                let _ = session.journal_lease_to(&id, &request_id).await;
            }
            Ok(None) => {}
            Err(err) => {
                tracing::error!(operation = %id, error = %err, "the hand-over failed; the scheduled reconcile takes the operation up")
            }
        }
    }
}

/// The Provider framework's `isComplete` result for an answered operation: complete with the resource's
/// attributes, or a failure with its Reason (aws-cdk-lib's framework answers CloudFormation FAILED with it at once).
fn complete(response: &Response) -> Result<Value, String> {
    match response.status {
        Status::Success => Ok(json!({"IsComplete": true, "Data": response.data})),
        Status::Failed => Err(crate::response::clean_reason(response.reason.as_deref().unwrap_or("failed"))),
    }
}
