//! One invocation: read the envelope, dispatch on `ResourceType` under the guard, deliver the response.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use aws_lambda_events::event::cloudformation::provider;

use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use reqwest::Url;

use crate::delivery::Responder;
use crate::guard::{self, Interrupted};
use crate::model::action_spec::ActionSpec;
use crate::model::endpoint_spec::{EndpointSpec, default_name};
use crate::model::policy_spec::PolicySpec;
use crate::model::target_spec::TargetSpec;
use crate::request::{self, Envelope, Request, RequestType, ResourceType};
use crate::response::{Response, Status};
use crate::response_url::{self, redact};
use crate::settings::{Mode, Settings};
use crate::shell::{Clients, Progress, Session};
use crate::{Error, journal, policy, schedule, target};

mod drift;
mod operations;

/// One Lambda invocation: its deadline, its request id, and the function's own ARN.
#[derive(Debug, Clone, Copy)]
pub struct Invocation<'a> {
    /// Milliseconds since the epoch.
    pub deadline_ms: u64,
    /// The function's own ARN (`invoked_function_arn`), for handing a long operation over.
    pub function: Option<&'a str>,
    /// Lambda's request id of this invocation (a retry of an asynchronous event keeps it).
    pub request_id: &'a str,
}

/// The function's state across invocations: clients built once per process, and the settings.
#[derive(Debug, Clone)]
pub struct Handler {
    clients: Clients,
    responder: Responder,
    settings: Settings,
}

impl Handler {
    /// A handler over clients built by the caller (see `main.rs`).
    pub fn new(clients: Clients, responder: Responder, settings: Settings) -> Self {
        Self { clients, responder, settings }
    }

    /// Handles one Lambda invocation whose payload is the raw JSON `event` and whose deadline is
    /// `deadline_ms` (milliseconds since the epoch).
    ///
    /// In direct mode the ResponseURL is checked first: a refused one means nothing else happens for that
    /// request (no property is read, no AWS call is made, nothing is sent) and the invocation fails.
    ///
    /// # Errors
    /// In direct mode, when an event could not be read at all (it has no ResponseURL to answer) or its
    /// ResponseURL is refused: every other outcome, FAILED included, has been PUT and the invocation
    /// succeeds. In cdk-provider mode, a FAILED is returned as the error the Provider framework reports.
    pub async fn invoke(&self, event: &str, deadline_ms: u64) -> Result<Value, String> {
        let id = format!("local-{:016x}", fastrand::u64(..));
        self.invoke_as(event, &Invocation { deadline_ms, function: None, request_id: &id }).await
    }

    /// [`Handler::invoke`], knowing the invocation: its request id (the holder of the journal leases it takes)
    /// and the function's own ARN, which a long operation hands itself over to before the deadline. A
    /// hand-over event carries only an operation's journal key; EventBridge's scheduled event resumes every
    /// operation whose lease ran out. Both are checked as every event is (the ResponseURL first).
    ///
    /// # Errors
    /// As [`Handler::invoke`].
    pub async fn invoke_as(&self, event: &str, invocation: &Invocation<'_>) -> Result<Value, String> {
        let deadline = guard::deadline_instant(invocation.deadline_ms, SystemTime::now(), Instant::now());
        tracing::debug!(remaining_ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64, "invocation");
        if journal::is_scheduled(event) {
            return self.reconcile(deadline, invocation).await;
        }
        if let Some(key) = journal::handed_over_key(event) {
            return self.take_up(&key, deadline, invocation).await;
        }
        if self.settings.mode == Mode::CdkProvider && journal::is_complete_without_operation(event) {
            // The framework's isComplete for a resource that answered at once (no operation to poll).
            return Ok(serde_json::json!({"IsComplete": true}));
        }
        let mut unanswered = Vec::new();
        let mut result = Value::Null;
        for envelope in request::requests(event, self.settings.mode) {
            // A broken envelope's answer is known at once; a complete one's comes from processing it.
            let (span, response_url, pending) = match envelope {
                Envelope::Unreadable(why) => {
                    tracing::error!(reason = %why, "event cannot be answered: no readable ResponseURL");
                    unanswered.push(format!("unreadable event: {why}"));
                    continue;
                }
                Envelope::Broken { response_url, request_type, resource_type, echo, reason } => {
                    let span =
                        request_span(&echo.request_id, &echo.logical_id, request_type.map_or("?", RequestType::as_str), &resource_type);
                    (span, response_url, Err(Response::failed(&echo, request_type, reason)))
                }
                Envelope::Request(req) => {
                    let span =
                        request_span(&req.echo.request_id, &req.echo.logical_id, req.request_type.as_str(), req.resource_type.as_str());
                    (span, req.response_url.clone(), Ok(req))
                }
            };
            let url = match self.destination(&response_url) {
                Ok(url) => url,
                Err(refused) => {
                    span.in_scope(|| tracing::error!(reason = %refused, "ResponseURL refused: the request is ignored and nothing is sent"));
                    unanswered.push(refused);
                    continue;
                }
            };
            result = async {
                let (response, req) = match pending {
                    Ok(req) if req.resource_type == ResourceType::Endpoint => {
                        return self.endpoint_event(req, url, deadline, invocation).await;
                    }
                    Ok(req) => (self.process(&req, deadline).await, Some(req)),
                    Err(failed) => (Some(failed), None),
                };
                let Some(response) = response else { return Ok(Value::Null) };
                let delivered = self.deliver(url, response.clone(), deadline).await;
                // The applied state (drift's) is kept once CloudFormation has its answer.
                if let Some(req) = req {
                    let session = self.session(guard::work_limit(deadline, self.settings.margin, Instant::now()), Progress::default());
                    drift::after(&req, &response, &session).await;
                }
                delivered
            }
            .instrument(span)
            .await?;
        }
        if unanswered.is_empty() { Ok(result) } else { Err(unanswered.join("; ")) }
    }

    /// Where the response goes: a checked URL in direct mode, nowhere in cdk-provider mode.
    fn destination(&self, response_url: &str) -> Result<Option<Url>, String> {
        match self.settings.mode {
            Mode::CdkProvider => Ok(None),
            Mode::Direct => response_url::check(response_url, &self.settings.allowed_hosts).map(Some).map_err(|r| r.to_string()),
        }
    }

    /// A session over the process's clients whose retries end at `limit`.
    fn session(&self, limit: Instant, progress: Progress) -> Session {
        Session::new(self.clients.clone(), limit, progress, self.settings.consistency_window)
    }

    /// The moment clean-up work after a failure must end: part of the margin kept for the answer stays for it.
    fn in_margin(&self, deadline: Instant) -> Instant {
        deadline.checked_sub(self.settings.margin * 2 / 3).unwrap_or(deadline)
    }

    /// Handles a request under the guard: the answer, or a FAILED saying why there is none; `None` when a
    /// long operation was handed to the next invocation, which will answer.
    pub async fn process(&self, req: &Request, deadline: Instant) -> Option<Response> {
        let limit = guard::work_limit(deadline, self.settings.margin, Instant::now());
        let progress = Progress::default();
        let session = self.session(limit, progress.clone());
        let work = {
            let req = req.clone();
            async move { dispatch(&req, &session).await }.in_current_span()
        };
        let outcome = guard::run(work, limit).await;
        let response = match outcome {
            Ok(None) => return None,
            Ok(Some(response)) => response,
            Err(interrupted) => self.interrupted(req, &progress, interrupted),
        };
        if response.status == Status::Failed
            && req.request_type == RequestType::Update
            && let Some(new_id) = progress.written().filter(|id| Some(id) != req.echo.physical_id.as_ref())
        {
            self.discard(req, new_id, deadline).await;
        }
        Some(names_what_was_written(response, req.request_type, progress.written()))
    }

    /// The FAILED of a request whose work panicked or ran into the deadline.
    fn interrupted(&self, req: &Request, progress: &Progress, interrupted: Interrupted) -> Response {
        match interrupted {
            Interrupted::Panicked(message) => {
                tracing::error!(panic = %message, "handler panicked");
                Response::failed(
                    &req.echo,
                    Some(req.request_type),
                    "internal error: the function failed unexpectedly; see its log for the details",
                )
            }
            Interrupted::TimedOut => {
                let waiting = progress.current().map(|op| format!(" waiting for {op}")).unwrap_or_default();
                tracing::error!(waiting = %waiting, "deadline reached");
                Response::failed(
                    &req.echo,
                    Some(req.request_type),
                    format!(
                        "timed out{waiting}: no result before the function's deadline (minus a {}s margin); Application Auto Scaling may be slow or unreachable",
                        self.settings.margin.as_secs_f32()
                    ),
                )
            }
        }
    }

    /// A replacing Update that registered its new target and then failed answers with the old physical id (the
    /// contract), so CloudFormation would never delete the new one: it is removed here, as its rollback Delete
    /// would (only if this resource owns it), within part of the margin kept for the answer.
    async fn discard(&self, req: &Request, new_id: String, deadline: Instant) {
        tracing::info!(physical_id = %new_id, "the failed update registered a new target: removing it, as no Delete will come for it");
        let mut delete = req.clone();
        delete.request_type = RequestType::Delete;
        delete.echo.physical_id = Some(new_id);
        let limit = self.in_margin(deadline);
        let session = self.session(limit, Progress::default());
        let work = async move { dispatch(&delete, &session).await }.in_current_span();
        match guard::run(work, limit).await {
            Ok(Some(response)) if response.status == Status::Success => {}
            other => tracing::error!(outcome = ?other.map(|r| r.and_then(|r| r.reason)), "the new target could not be removed"),
        }
    }

    /// Direct mode: PUTs the response to `url` and returns null. cdk-provider mode (`url` is `None`): returns
    /// the result object, or the Reason as the error.
    async fn deliver(&self, url: Option<Url>, response: Response, deadline: Instant) -> Result<Value, String> {
        let data = json!(response.data);
        tracing::info!(
            status = response.status.as_str(),
            reason = response.reason.as_deref().unwrap_or(""),
            physical_id = %response.physical_id,
            data = %data,
            "response"
        );
        let Some(url) = url else {
            return match response.status {
                Status::Success => {
                    // The Provider framework's own response type: PhysicalResourceId, Data and NoEcho.
                    let mut answer = provider::CloudFormationCustomResourceResponse::<BTreeMap<String, String>>::default();
                    answer.physical_resource_id = Some(response.physical_id);
                    answer.data = response.data;
                    serde_json::to_value(answer).map_err(|err| format!("cannot render the result: {err}"))
                }
                Status::Failed => Err(crate::response::clean_reason(response.reason.as_deref().unwrap_or("failed"))),
            };
        };
        // Leave a moment after the PUT for the runtime to hear that the invocation is done.
        let until = deadline.checked_sub(Duration::from_millis(200)).unwrap_or(deadline);
        if let Err(why) = self.responder.put(&url, response.body(), until).await {
            tracing::error!(url = %redact(&url), reason = %why, "response not delivered");
        }
        Ok(Value::Null)
    }
}

/// What a request asks for, its properties validated: the pure first step of every event.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    PutTarget(TargetSpec),
    PutPolicy(PolicySpec),
    PutAction(ActionSpec),
    PutEndpoint(EndpointSpec),
    /// A Delete: properties are never validated, the physical id says what to remove.
    Delete(ResourceType),
}

/// Validates a request once, before any call.
///
/// # Errors
/// `Invalid`, naming the property (or the resource type) that is wrong.
pub fn validate(req: &Request) -> crate::Result<Work> {
    if req.request_type == RequestType::Delete {
        return Ok(Work::Delete(req.resource_type.clone()));
    }
    match &req.resource_type {
        ResourceType::ScalableTarget => TargetSpec::from_properties(&req.properties).map(Work::PutTarget),
        ResourceType::ScalingPolicy => PolicySpec::from_properties(&req.properties).map(Work::PutPolicy),
        ResourceType::ScheduledAction => ActionSpec::from_properties(&req.properties).map(Work::PutAction),
        ResourceType::Endpoint => {
            let unnamed = default_name(&req.echo.stack_id, &req.echo.logical_id);
            EndpointSpec::from_properties(&req.properties, &unnamed).map(Work::PutEndpoint)
        }
        ResourceType::Other(other) => {
            Err(Error::invalid(format!("unsupported ResourceType {other:?}; this function serves {}", ResourceType::SUPPORTED.join(", "))))
        }
    }
}

/// Validates, then hands the request to the module of its resource type; every error becomes a FAILED with
/// the contract's physical id (see [`Response::failed`]). `None`: a long operation was handed over.
async fn dispatch(req: &Request, aas: &Session) -> Option<Response> {
    let work = match validate(req) {
        Ok(work) => work,
        Err(err) => return Some(Response::failed(&req.echo, Some(req.request_type), err.to_string())),
    };
    if matches!(work, Work::PutTarget(_) | Work::PutPolicy(_) | Work::PutAction(_)) && req.request_type == RequestType::Update {
        drift::before_update(req, aas).await;
    }
    let outcome = match work {
        Work::PutTarget(spec) => target::put(req, spec, aas).await,
        Work::PutPolicy(spec) => policy::put(req, spec, aas).await,
        Work::PutAction(spec) => schedule::put(req, spec, aas).await,
        // Endpoint events go through `operations` (the journal); never here.
        Work::PutEndpoint(_) => Err(Error::invalid("Custom::SageMakerEndpoint is handled as an operation")),
        Work::Delete(kind) => {
            let deleted = match kind {
                ResourceType::ScalableTarget => target::delete(req, aas).await,
                ResourceType::ScalingPolicy => policy::delete(req, aas).await,
                ResourceType::ScheduledAction => schedule::delete(req, aas).await,
                ResourceType::Endpoint => Err(Error::invalid("Custom::SageMakerEndpoint is handled as an operation")),
                // The rollback Delete of a Create that failed for this reason: nothing was made, so nothing to do.
                ResourceType::Other(_) => Ok(()),
            };
            deleted.map(|()| Response::done(&req.echo))
        }
    };
    Some(outcome.unwrap_or_else(|err| Response::failed(&req.echo, Some(req.request_type), err.to_string())))
}

/// A Create that failed after it wrote something (a target registered, a policy or action put) answers with
/// that thing's physical id, so CloudFormation's rollback Delete removes it (only if this resource owns it);
/// one that wrote nothing keeps the id that names nothing.
pub fn names_what_was_written(mut response: Response, request_type: RequestType, written: Option<String>) -> Response {
    if let (Status::Failed, RequestType::Create, Some(id)) = (response.status, request_type, written) {
        tracing::info!(physical_id = %id, "the failed create answers with what it wrote, for the rollback delete to remove");
        response.physical_id = id;
    }
    response
}

fn request_span(request_id: &str, logical_id: &str, request_type: &str, resource_type: &str) -> tracing::Span {
    tracing::info_span!(
        "request",
        RequestId = request_id,
        LogicalResourceId = logical_id,
        RequestType = request_type,
        ResourceType = resource_type
    )
}
