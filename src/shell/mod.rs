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

use crate::backoff::delay_before;
use crate::{Error, Result, error::Retry};

mod aas;
mod cloudwatch;
mod convert;
pub mod endpoint;
mod errors;
pub mod http;
pub mod json;
mod sagemaker;

use json::JsonService;

use errors::classify;
pub use errors::retry_for;

/// A bound on attempts, in case the clock says there is always time left.
const MAX_ATTEMPTS: u32 = 40;

/// The operation in flight, so a deadline can say what it was waiting for.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<Mutex<Option<&'static str>>>);

impl Progress {
    fn set(&self, operation: Option<&'static str>) {
        // A poisoned lock only means a panic elsewhere; the value is still a plain Option.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = operation;
    }

    /// The operation in flight, if any.
    pub fn current(&self) -> Option<&'static str> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Application Auto Scaling calls for one event: retried until `until`, reporting progress.
#[derive(Debug, Clone)]
pub struct Session {
    clients: Clients,
    until: Instant,
    progress: Progress,
}

/// The AWS clients of the process, built once at start-up (see `main.rs`) and shared by every event.
#[derive(Debug, Clone)]
pub struct Clients {
    pub autoscaling: Client,
    pub sagemaker: JsonService,
    pub cloudwatch: JsonService,
}

impl Session {
    /// A session whose retries stop before `until`.
    pub fn new(clients: Clients, until: Instant, progress: Progress) -> Self {
        Self { clients, until, progress }
    }

    /// Runs one SDK operation, retrying transient errors (see [`Session::retrying`]).
    async fn call<T, E, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.retrying(operation, || async { attempt().await.map_err(|err| classify(operation, &err)) }).await
    }

    /// Runs one operation whose errors are already classified, retrying transient ones with jittered
    /// exponential backoff while a retry can still finish before `until`. The decisions live in the
    /// non-generic [`Session::retry_delay`].
    async fn retrying<T, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.progress.set(Some(operation));
        let mut tries = 0;
        let result = loop {
            let err = match attempt().await {
                Ok(out) => break Ok(out),
                Err(err) => err,
            };
            tries += 1;
            match self.retry_delay(operation, tries, &err) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break Err(err),
            }
        };
        self.progress.set(None);
        result
    }

    /// How long to wait before retry number `tries`, or `None` when the error is final or no retry could
    /// finish before `until`.
    fn retry_delay(&self, operation: &'static str, tries: u32, err: &Error) -> Option<Duration> {
        let Error::Aws { retry: Retry::Transient, .. } = err else { return None };
        let delay = delay_before(tries, MAX_ATTEMPTS, Instant::now(), self.until)?;
        tracing::warn!(operation, attempt = tries, delay_ms = delay.as_millis() as u64, error = %err, "transient error, retrying");
        Some(delay)
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
