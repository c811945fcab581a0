//! The shell around Application Auto Scaling: one method per call, each retried while the error is
//! transient and time remains. Decisions about *which* calls to make live in the resource modules.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_applicationautoscaling::types::{ScalableDimension as SdkDimension, ServiceNamespace, SuspendedState};
use tokio::time::Instant;

use crate::model::TargetId;
use crate::target::{Registration, Suspended};
use crate::{Error, Result, error::Retry};

/// The first backoff step; doubled per attempt up to [`MAX_BACKOFF`], then fully jittered.
const BASE_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(4);
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

/// A scalable target as DescribeScalableTargets shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub arn: String,
    pub min: i32,
    pub max: i32,
    pub suspended: Suspended,
}

/// Application Auto Scaling calls for one event: retried until `until`, reporting progress.
#[derive(Debug, Clone)]
pub struct Session {
    client: Client,
    until: Instant,
    progress: Progress,
}

impl Session {
    /// A session whose retries stop before `until`.
    pub fn new(client: Client, until: Instant, progress: Progress) -> Self {
        Self { client, until, progress }
    }

    /// DescribeScalableTargets for one target; `None` when it is not registered.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn describe_target(&self, id: &TargetId) -> Result<Option<Described>> {
        let out = self
            .call("DescribeScalableTargets", || {
                self.client
                    .describe_scalable_targets()
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_ids(id.resource.to_string())
                    .scalable_dimension(SdkDimension::from(id.dimension.as_str()))
                    .send()
            })
            .await?;
        let resource = id.resource.to_string();
        Ok(out
            .scalable_targets()
            .iter()
            .find(|t| t.resource_id() == resource && t.scalable_dimension().as_str() == id.dimension.as_str())
            .map(|t| Described {
                arn: t.scalable_target_arn().unwrap_or_default().to_owned(),
                min: t.min_capacity(),
                max: t.max_capacity(),
                suspended: t.suspended_state().map(Suspended::from).unwrap_or_default(),
            }))
    }

    /// ListTagsForResource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>> {
        let out = self.call("ListTagsForResource", || self.client.list_tags_for_resource().resource_arn(arn).send()).await?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    /// RegisterScalableTarget; returns the target's ARN when the service gives it.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn register(&self, reg: &Registration) -> Result<Option<String>> {
        let out = self
            .call("RegisterScalableTarget", || {
                self.client
                    .register_scalable_target()
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(reg.id.resource.to_string())
                    .scalable_dimension(SdkDimension::from(reg.id.dimension.as_str()))
                    .min_capacity(reg.min)
                    .max_capacity(reg.max)
                    .set_role_arn(reg.role_arn.clone())
                    .suspended_state(
                        SuspendedState::builder()
                            .dynamic_scaling_in_suspended(reg.suspended.dynamic_in)
                            .dynamic_scaling_out_suspended(reg.suspended.dynamic_out)
                            .scheduled_scaling_suspended(reg.suspended.scheduled)
                            .build(),
                    )
                    .set_tags(reg.tags.as_ref().map(to_hash_map))
                    .send()
            })
            .await?;
        Ok(out.scalable_target_arn().map(str::to_owned))
    }

    /// DeregisterScalableTarget. A target already gone is not an error: returns `false`.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn deregister(&self, id: &TargetId) -> Result<bool> {
        let result = self
            .call("DeregisterScalableTarget", || {
                self.client
                    .deregister_scalable_target()
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(id.resource.to_string())
                    .scalable_dimension(SdkDimension::from(id.dimension.as_str()))
                    .send()
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) if err.is_not_found() => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// TagResource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn tag(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        self.call("TagResource", || self.client.tag_resource().resource_arn(arn).set_tags(Some(to_hash_map(tags))).send()).await.map(drop)
    }

    /// UntagResource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.call("UntagResource", || self.client.untag_resource().resource_arn(arn).set_tag_keys(Some(keys.to_vec())).send())
            .await
            .map(drop)
    }

    /// Runs one operation, retrying transient errors with jittered exponential backoff while a retry can
    /// still finish before `until`.
    async fn call<T, E, R, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        self.progress.set(Some(operation));
        let mut tries = 0;
        let result = loop {
            let err = match attempt().await {
                Ok(out) => break Ok(out),
                Err(err) => classify(operation, &err),
            };
            tries += 1;
            let Error::Aws { retry: Retry::Transient, .. } = &err else { break Err(err) };
            let delay = backoff(tries, jitter());
            if tries >= MAX_ATTEMPTS || Instant::now() + delay >= self.until {
                break Err(err);
            }
            tracing::warn!(operation, attempt = tries, delay_ms = delay.as_millis() as u64, error = %err, "transient error, retrying");
            tokio::time::sleep(delay).await;
        };
        self.progress.set(None);
        result
    }
}

fn to_hash_map(tags: &BTreeMap<String, String>) -> HashMap<String, String> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

impl From<&SuspendedState> for Suspended {
    fn from(s: &SuspendedState) -> Self {
        Self {
            dynamic_in: s.dynamic_scaling_in_suspended().unwrap_or(false),
            dynamic_out: s.dynamic_scaling_out_suspended().unwrap_or(false),
            scheduled: s.scheduled_scaling_suspended().unwrap_or(false),
        }
    }
}

/// Turns an SDK error into the crate's error, deciding whether it is worth retrying.
fn classify<E, R>(operation: &'static str, err: &SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let code = ctx.err().code().unwrap_or("UnknownError").to_owned();
            let message = ctx.err().message().unwrap_or_default().to_owned();
            let retry = retry_for(&code, &message);
            Error::Aws { operation, code, message, retry }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => {
            Error::Aws { operation, code: "NetworkError".into(), message: DisplayErrorContext(err).to_string(), retry: Retry::Transient }
        }
        _ => Error::Aws { operation, code: "SdkError".into(), message: DisplayErrorContext(err).to_string(), retry: Retry::Final },
    }
}

/// Which service errors are worth another attempt. LimitExceededException is a quota, not throttling:
/// retrying it only delays the same answer.
pub fn retry_for(code: &str, message: &str) -> Retry {
    match code {
        "ThrottlingException"
        | "Throttling"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "ConcurrentUpdateException"
        | "InternalServiceException"
        | "InternalFailure"
        | "ServiceUnavailable" => Retry::Transient,
        // IAM propagation: a role created in the same stack is not usable for a few seconds.
        "ValidationException" if message.contains("Unable to assume IAM role") => Retry::Transient,
        "ObjectNotFoundException" | "ResourceNotFoundException" => Retry::NotFound,
        _ => Retry::Final,
    }
}

/// The delay before retry number `attempt` (1-based): full jitter over an exponentially growing cap.
/// `jitter` is in `[0, 1)`.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let cap = BASE_BACKOFF.saturating_mul(1 << attempt.min(16)).min(MAX_BACKOFF);
    cap.mul_f64(jitter.clamp(0.0, 1.0)).max(Duration::from_millis(10))
}

/// A number in `[0, 1)`, different per call and per process; no need for a cryptographic source here.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(std::time::SystemTime::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_errors_are_retried_and_quotas_are_not() {
        for code in ["ThrottlingException", "ConcurrentUpdateException", "InternalServiceException"] {
            assert_eq!(retry_for(code, "x"), Retry::Transient, "{code}");
        }
        assert_eq!(retry_for("LimitExceededException", "Rate exceeded"), Retry::Final);
        assert_eq!(retry_for("ValidationException", "Unable to assume IAM role: arn:aws:iam::1:role/r"), Retry::Transient);
        assert_eq!(retry_for("ValidationException", "MinCapacity too large"), Retry::Final);
        assert_eq!(retry_for("ObjectNotFoundException", ""), Retry::NotFound);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        assert_eq!(backoff(1, 0.999), BASE_BACKOFF.saturating_mul(2).mul_f64(0.999));
        assert!(backoff(3, 0.999) > backoff(2, 0.999));
        assert_eq!(backoff(30, 0.5), MAX_BACKOFF / 2);
        assert_eq!(backoff(5, 0.0), Duration::from_millis(10));
        let a = jitter();
        assert!((0.0..1.0).contains(&a));
    }
}
