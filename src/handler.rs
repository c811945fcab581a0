//! One invocation: read the envelope, dispatch on `ResourceType` under the guard, deliver the response.

use std::time::{Duration, SystemTime};

use aws_sdk_applicationautoscaling::Client;
use serde_json::{Value, json};
use tokio::time::Instant;
use tracing::Instrument;

use crate::aas::{Progress, Session};
use crate::guard::{self, Interrupted};
use crate::request::{self, Envelope, Request, RequestType};
use crate::respond::{Responder, check_url, redact};
use crate::response::{Response, Status};
use crate::settings::{Mode, Settings};
use crate::{Error, policy, schedule, target};

/// The resource type of scalable targets.
pub const TARGET_TYPE: &str = "Custom::SageMakerScalableTarget";
/// The resource type of scaling policies.
pub const POLICY_TYPE: &str = "Custom::SageMakerScalingPolicy";
/// The resource type of scheduled actions.
pub const SCHEDULE_TYPE: &str = "Custom::SageMakerScheduledAction";
/// Every resource type this function serves, for the Reason of an unsupported one.
pub const SUPPORTED_TYPES: [&str; 3] = [TARGET_TYPE, POLICY_TYPE, SCHEDULE_TYPE];

/// The function's state across invocations: clients built once per process, and the settings.
#[derive(Debug, Clone)]
pub struct Handler {
    client: Client,
    responder: Responder,
    settings: Settings,
}

impl Handler {
    /// A handler over clients built by the caller (see `main.rs`).
    pub fn new(client: Client, responder: Responder, settings: Settings) -> Self {
        Self { client, responder, settings }
    }

    /// Handles one Lambda invocation whose deadline is `deadline_ms` (milliseconds since the epoch).
    ///
    /// # Errors
    /// In direct mode, only when an event could not be read at all (it has no ResponseURL to answer):
    /// every other outcome, FAILED included, has been PUT and the invocation succeeds. In cdk-provider
    /// mode, a FAILED is returned as the error the Provider framework reports.
    pub async fn invoke(&self, event: Value, deadline_ms: u64) -> Result<Value, String> {
        let deadline = guard::deadline_instant(deadline_ms, SystemTime::now(), Instant::now());
        tracing::debug!(deadline_ms, remaining_ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64, "invocation");
        let mut unreadable = Vec::new();
        let mut result = Value::Null;
        for envelope in request::requests(event, self.settings.mode) {
            match envelope {
                Envelope::Unreadable(why) => {
                    tracing::error!(reason = %why, "event cannot be answered: no readable ResponseURL");
                    unreadable.push(why);
                }
                Envelope::Broken { response_url, request_type, resource_type, echo, reason } => {
                    let span =
                        request_span(&echo.request_id, &echo.logical_id, request_type.map_or("?", RequestType::as_str), &resource_type);
                    let response = Response::failed(&echo, request_type, reason);
                    result = self.deliver(&response_url, response, deadline).instrument(span).await?;
                }
                Envelope::Request(req) => {
                    let span = request_span(&req.echo.request_id, &req.echo.logical_id, req.request_type.as_str(), &req.resource_type);
                    let response_url = req.response_url.clone();
                    result = async {
                        let response = self.process(req, deadline).await;
                        self.deliver(&response_url, response, deadline).await
                    }
                    .instrument(span)
                    .await?;
                }
            }
        }
        if unreadable.is_empty() { Ok(result) } else { Err(format!("unreadable event: {}", unreadable.join("; "))) }
    }

    /// Handles a request under the guard: the answer, or a FAILED saying why there is none.
    pub async fn process(&self, req: Request, deadline: Instant) -> Response {
        let limit = guard::work_limit(deadline, self.settings.margin, Instant::now());
        let progress = Progress::default();
        let session = Session::new(self.client.clone(), limit, progress.clone());
        let work = {
            let req = req.clone();
            async move { dispatch(&req, &session).await }.in_current_span()
        };
        match guard::run(work, limit).await {
            Ok(response) => response,
            Err(Interrupted::Panicked(message)) => {
                tracing::error!(panic = %message, "handler panicked");
                Response::failed(
                    &req.echo,
                    Some(req.request_type),
                    "internal error: the function failed unexpectedly; see its log for the details",
                )
            }
            Err(Interrupted::TimedOut) => {
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

    /// Direct mode: PUTs the response and returns null. cdk-provider mode: returns the result object, or
    /// the Reason as the error.
    async fn deliver(&self, response_url: &str, response: Response, deadline: Instant) -> Result<Value, String> {
        let data = if response.no_echo { json!("(NoEcho)") } else { json!(response.data) };
        tracing::info!(
            status = response.status.as_str(),
            reason = response.reason.as_deref().unwrap_or(""),
            physical_id = %response.physical_id,
            data = %data,
            "response"
        );
        if self.settings.mode == Mode::CdkProvider {
            return match response.status {
                Status::Success => Ok(json!({"PhysicalResourceId": response.physical_id, "Data": response.data})),
                Status::Failed => Err(crate::response::clean_reason(response.reason.as_deref().unwrap_or("failed"))),
            };
        }
        let url = match check_url(response_url, &self.settings.allowed_hosts) {
            Ok(url) => url,
            Err(why) => {
                tracing::error!(reason = %why, "response not sent");
                return Ok(Value::Null);
            }
        };
        // Leave a moment after the PUT for the runtime to hear that the invocation is done.
        let until = deadline.checked_sub(Duration::from_millis(200)).unwrap_or(deadline);
        if let Err(why) = self.responder.put(&url, response.body(), until).await {
            tracing::error!(url = %redact(&url), reason = %why, "response not delivered");
        }
        Ok(Value::Null)
    }
}

/// Hands a request to the module of its resource type; every error becomes a FAILED with the contract's
/// physical id (see [`Response::failed`]).
async fn dispatch(req: &Request, aas: &Session) -> Response {
    let delete = req.request_type == RequestType::Delete;
    let outcome = match req.resource_type.as_str() {
        TARGET_TYPE if delete => target::delete(req, aas).await.map(|()| Response::done(&req.echo)),
        TARGET_TYPE => target::put(req, aas).await,
        POLICY_TYPE if delete => policy::delete(req, aas).await.map(|()| Response::done(&req.echo)),
        POLICY_TYPE => policy::put(req, aas).await,
        SCHEDULE_TYPE if delete => schedule::delete(req, aas).await.map(|()| Response::done(&req.echo)),
        SCHEDULE_TYPE => schedule::put(req, aas).await,
        // The rollback Delete of a Create that failed for this reason: nothing was made, so nothing to do.
        _ if delete => Ok(Response::done(&req.echo)),
        other => Err(Error::invalid(format!("unsupported ResourceType {other:?}; this function serves {}", SUPPORTED_TYPES.join(", ")))),
    };
    outcome.unwrap_or_else(|err| Response::failed(&req.echo, Some(req.request_type), err.to_string()))
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
