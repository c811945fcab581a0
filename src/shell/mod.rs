//! The shell: the only code that talks to AWS. One method per call, each retried while the error is
//! transient and time remains; decisions about *which* calls to make live in the resource modules.
//!
//! - [`aas`]: Application Auto Scaling, through its SDK client ([`convert`] turns specs into SDK types);
//! - [`sagemaker`]: DescribeEndpoint and DescribeInferenceComponent, and the wait for `InService`;
//! - [`cloudwatch`]: the scale-out-from-zero alarm;
//! - [`json`]: the small signed client SageMaker and CloudWatch are reached with;
//! - [`errors`]: what an error answer means, and whether it is worth another attempt.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::config::http::HttpResponse;
use aws_sdk_applicationautoscaling::error::{ProvideErrorMetadata, SdkError};
use tokio::time::Instant;

use crate::backoff::{backoff, delay_before};
use crate::{Error, Result, error::Retry};

mod aas;
mod cloudwatch;
mod convert;
mod drift;
pub mod endpoint;
mod endpoint_ops;
mod errors;
pub mod http;
pub mod journal;
pub mod json;
mod sagemaker;

use json::JsonService;

use errors::classify;
pub use errors::retry_for;

/// A bound on attempts, in case the clock says there is always time left.
const MAX_ATTEMPTS: u32 = 40;

/// What a request has done so far, shared with the guard: the operation in flight (so a deadline can say what
/// it was waiting for) and the physical id of what it has written (so a Create that fails after writing
/// answers with that id, and CloudFormation's rollback Delete removes it).
#[derive(Debug, Clone, Default)]
pub struct Progress {
    operation: Arc<Mutex<Option<&'static str>>>,
    written: Arc<Mutex<Option<String>>>,
    /// The journal operation whose lease this invocation holds (its key and the holder), so that a panic or the
    /// deadline can still hand it over instead of leaving it until its lease runs out.
    lease: Arc<Mutex<Option<(String, String)>>>,
}

impl Progress {
    fn set(&self, operation: Option<&'static str>) {
        // A poisoned lock only means a panic elsewhere; the value is still a plain Option.
        *self.operation.lock().unwrap_or_else(|p| p.into_inner()) = operation;
    }

    /// The operation in flight, if any.
    pub fn current(&self) -> Option<&'static str> {
        *self.operation.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that something named by `physical_id` may now exist (a call took effect, or may have).
    pub fn wrote(&self, physical_id: impl Into<String>) {
        *self.written.lock().unwrap_or_else(|p| p.into_inner()) = Some(physical_id.into());
    }

    /// The journal operation this invocation holds, if any: (key, holder).
    pub fn lease(&self) -> Option<(String, String)> {
        self.lease.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_lease(&self, lease: Option<(String, String)>) {
        *self.lease.lock().unwrap_or_else(|p| p.into_inner()) = lease;
    }

    /// The physical id of what this request has written, if anything.
    pub fn written(&self) -> Option<String> {
        self.written.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// How a NotFound answer is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NotFound {
    /// The object is gone: final.
    Final,
    /// The object may be new and not visible yet (Application Auto Scaling is eventually consistent): retried
    /// for the session's consistency window.
    MaybeLag,
}

/// Application Auto Scaling calls for one event: retried until `until`, reporting progress.
#[derive(Debug, Clone)]
pub struct Session {
    clients: Clients,
    until: Instant,
    progress: Progress,
    /// How long a new target may stay invisible (see [`NotFound::MaybeLag`]).
    consistency_window: Duration,
}

/// The AWS clients of the process, built once at start-up (see `main.rs`) and shared by every event.
#[derive(Debug, Clone)]
pub struct Clients {
    pub autoscaling: Client,
    pub sagemaker: JsonService,
    pub cloudwatch: JsonService,
    /// Application Auto Scaling's JSON, for saving and restoring a target as the service shows it.
    pub autoscaling_json: JsonService,
    /// Lambda, for handing a long operation to the function's next invocation.
    pub lambda: JsonService,
    /// The operations journal (`OPERATIONS_TABLE`); `None` when the function has none.
    pub journal: Option<journal::JournalTable>,
}

impl Session {
    /// A session whose retries stop before `until`, and which waits up to `consistency_window` for what
    /// Application Auto Scaling has not shown yet.
    pub fn new(clients: Clients, until: Instant, progress: Progress, consistency_window: Duration) -> Self {
        Self { clients, until, progress, consistency_window }
    }

    /// When this session's retries and waits must end.
    pub fn until(&self) -> Instant {
        self.until
    }

    /// This invocation holds the lease of the journal operation `id` (see [`Progress::lease`]).
    pub fn hold(&self, id: &str, holder: &str) {
        self.progress.set_lease(Some((id.to_owned(), holder.to_owned())));
    }

    /// The lease is given up (handed over, or another invocation holds it).
    pub fn release_hold(&self) {
        self.progress.set_lease(None);
    }

    /// Records that what `physical_id` names may now exist (see [`Progress::wrote`]).
    pub fn wrote(&self, physical_id: impl Into<String>) {
        self.progress.wrote(physical_id);
    }

    /// Runs one SDK operation, retrying transient errors (see [`Session::retrying`]).
    async fn call<T, E, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.call_taking(operation, NotFound::Final, attempt).await
    }

    /// [`Session::call`], taking NotFound as `not_found` says: [`NotFound::MaybeLag`] for an operation on a
    /// target that may be too new to be seen (retried within the consistency window).
    async fn call_taking<T, E, F, Fut>(&self, operation: &'static str, not_found: NotFound, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.retrying(operation, not_found, || async { attempt().await.map_err(|err| classify(operation, &err)) }).await
    }

    /// Runs one operation whose errors are already classified, retrying transient ones (and NotFound, when
    /// `not_found` says it may be lag) with jittered exponential backoff while a retry can still finish
    /// before `until`. The decisions live in the non-generic [`Session::retry_delay`].
    async fn retrying<T, F, Fut>(&self, operation: &'static str, not_found: NotFound, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.progress.set(Some(operation));
        let started = Instant::now();
        let mut tries = 0;
        let result = loop {
            let err = match attempt().await {
                Ok(out) => break Ok(out),
                Err(err) => err,
            };
            tries += 1;
            match self.retry_delay(operation, tries, &err, not_found, started) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break Err(err),
            }
        };
        self.progress.set(None);
        result
    }

    /// How long to wait before retry number `tries`, or `None` when the error is final or no retry could
    /// finish before `until` (or, for NotFound, after the consistency window since `started`).
    fn retry_delay(&self, operation: &'static str, tries: u32, err: &Error, not_found: NotFound, started: Instant) -> Option<Duration> {
        let until = match err {
            Error::Aws { retry: Retry::Transient, .. } => self.until,
            Error::Aws { retry: Retry::NotFound, .. } if not_found == NotFound::MaybeLag => {
                self.until.min(started + self.consistency_window)
            }
            _ => return None,
        };
        let delay = delay_before(tries, MAX_ATTEMPTS, Instant::now(), until)?;
        tracing::warn!(operation, attempt = tries, delay_ms = delay.as_millis() as u64, error = %err, "retrying");
        Some(delay)
    }

    /// The wait before look number `tries + 1` for something not visible yet: the backoff, cut short so the
    /// last look falls at the end of the consistency window since `started`; `None` once the window is over or
    /// the look could not start before `until`.
    fn lag_delay(&self, tries: u32, started: Instant) -> Option<Duration> {
        let now = Instant::now();
        let window_left = (started + self.consistency_window).checked_duration_since(now).filter(|left| !left.is_zero())?;
        let delay = backoff(tries, fastrand::f64()).min(window_left);
        (tries < MAX_ATTEMPTS && now + delay < self.until).then_some(delay)
    }

    /// Polls `look` until it sees something, for the consistency window (within the deadline): a target just
    /// registered may not be listed at once. `None` when it never showed.
    ///
    /// # Errors
    /// The final AWS error of a look.
    async fn eventually<T, F, Fut>(&self, look: F) -> Result<Option<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Option<T>>>,
    {
        let started = Instant::now();
        for tries in 1.. {
            if let Some(found) = look().await? {
                return Ok(Some(found));
            }
            match self.lag_delay(tries, started) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retried_and_quotas_are_not() {
        for code in ["ThrottlingException", "ConcurrentUpdateException", "InternalServiceException"] {
            assert_eq!(retry_for(code, "x", 400), Retry::Transient, "{code}");
        }
        assert_eq!(retry_for("LimitExceededException", "Rate exceeded", 400), Retry::Final);
        assert_eq!(retry_for("ValidationException", "Unable to assume IAM role: arn:aws:iam::1:role/r", 400), Retry::Transient);
        assert_eq!(retry_for("ValidationException", "MinCapacity too large", 400), Retry::Final);
        assert_eq!(retry_for("ObjectNotFoundException", "", 400), Retry::NotFound);
    }
}
