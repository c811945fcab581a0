//! The shell around Application Auto Scaling: one method per call, each retried while the error is
//! transient and time remains. Decisions about *which* calls to make live in the resource modules.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_applicationautoscaling::primitives::DateTime;
use aws_sdk_applicationautoscaling::types::{
    self as sdk, PolicyType, ScalableDimension as SdkDimension, ScalableTargetAction, ServiceNamespace, SuspendedState,
};
use tokio::time::Instant;

use crate::model::{ScalableDimension, TargetId};
use crate::policy::{Metric, PolicyConfig, PolicySpec, StepScaling, TargetTracking};
use crate::schedule::ActionSpec;
use crate::target::{Registration, Suspended};
use crate::{Error, Result, error::Retry};

/// The first backoff step; doubled per attempt up to [`MAX_BACKOFF`], then fully jittered.
const BASE_BACKOFF: Duration = Duration::from_millis(50);
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
        gone_is_fine(result)
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

    /// Fails, naming the target, unless it is registered: policies and scheduled actions need one.
    ///
    /// # Errors
    /// `Conflict` for a target that is not registered; the final AWS error otherwise.
    pub async fn require_target(&self, id: &TargetId) -> Result<()> {
        match self.describe_target(id).await? {
            Some(_) => Ok(()),
            None => Err(not_registered(id)),
        }
    }

    /// PutScalingPolicy; returns the policy ARN and its alarm names.
    ///
    /// # Errors
    /// The final AWS error; ObjectNotFoundException names the missing target.
    pub async fn put_policy(&self, spec: &PolicySpec) -> Result<(String, Vec<String>)> {
        let mut call = self
            .client
            .put_scaling_policy()
            .policy_name(&spec.name)
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(spec.target.resource.to_string())
            .scalable_dimension(SdkDimension::from(spec.target.dimension.as_str()))
            .policy_type(PolicyType::from(spec.policy_type()));
        call = match &spec.config {
            PolicyConfig::TargetTracking(t) => call.target_tracking_scaling_policy_configuration(sdk_target_tracking(t)?),
            PolicyConfig::Step(s) => call.step_scaling_policy_configuration(sdk_step_scaling(s)?),
        };
        let out = self.call("PutScalingPolicy", || call.clone().send()).await.map_err(|e| missing_target(e, &spec.target))?;
        let alarms = out.alarms().iter().map(|a| a.alarm_name().to_owned()).collect();
        Ok((out.policy_arn().to_owned(), alarms))
    }

    /// The dimension of the policy named `name` on `resource` whose ARN is `arn`; `None` when it is gone.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn find_policy(&self, resource: &str, name: &str, arn: &str) -> Result<Option<ScalableDimension>> {
        let out = self
            .call("DescribeScalingPolicies", || {
                self.client
                    .describe_scaling_policies()
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(resource)
                    .policy_names(name)
                    .send()
            })
            .await?;
        Ok(out
            .scaling_policies()
            .iter()
            .find(|p| p.policy_arn() == arn)
            .and_then(|p| ScalableDimension::parse(p.scalable_dimension().as_str(), "ScalableDimension").ok()))
    }

    /// DeleteScalingPolicy. A policy already gone is not an error: returns `false`.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn delete_policy(&self, resource: &str, dimension: ScalableDimension, name: &str) -> Result<bool> {
        let result = self
            .call("DeleteScalingPolicy", || {
                self.client
                    .delete_scaling_policy()
                    .policy_name(name)
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(resource)
                    .scalable_dimension(SdkDimension::from(dimension.as_str()))
                    .send()
            })
            .await;
        gone_is_fine(result)
    }

    /// PutScheduledAction.
    ///
    /// # Errors
    /// The final AWS error; ObjectNotFoundException names the missing target.
    pub async fn put_action(&self, spec: &ActionSpec) -> Result<()> {
        let call = self
            .client
            .put_scheduled_action()
            .scheduled_action_name(&spec.name)
            .service_namespace(ServiceNamespace::Sagemaker)
            .resource_id(spec.target.resource.to_string())
            .scalable_dimension(SdkDimension::from(spec.target.dimension.as_str()))
            .schedule(&spec.schedule)
            .set_timezone(spec.timezone.clone())
            .set_start_time(spec.start.map(DateTime::from_secs))
            .set_end_time(spec.end.map(DateTime::from_secs))
            .scalable_target_action(ScalableTargetAction::builder().set_min_capacity(spec.min).set_max_capacity(spec.max).build());
        self.call("PutScheduledAction", || call.clone().send()).await.map_err(|e| missing_target(e, &spec.target))?;
        Ok(())
    }

    /// The ARN of a scheduled action, if it exists.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn action_arn(&self, name: &str, target: &TargetId) -> Result<Option<String>> {
        let out = self
            .call("DescribeScheduledActions", || {
                self.client
                    .describe_scheduled_actions()
                    .scheduled_action_names(name)
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(target.resource.to_string())
                    .scalable_dimension(SdkDimension::from(target.dimension.as_str()))
                    .send()
            })
            .await?;
        Ok(out.scheduled_actions().iter().find(|a| a.scheduled_action_name() == name).map(|a| a.scheduled_action_arn().to_owned()))
    }

    /// DeleteScheduledAction. An action already gone is not an error: returns `false`.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn delete_action(&self, name: &str, target: &TargetId) -> Result<bool> {
        let result = self
            .call("DeleteScheduledAction", || {
                self.client
                    .delete_scheduled_action()
                    .scheduled_action_name(name)
                    .service_namespace(ServiceNamespace::Sagemaker)
                    .resource_id(target.resource.to_string())
                    .scalable_dimension(SdkDimension::from(target.dimension.as_str()))
                    .send()
            })
            .await;
        gone_is_fine(result)
    }

    /// Runs one operation, retrying transient errors with jittered exponential backoff while a retry can
    /// still finish before `until`. Kept small: it is instantiated once per operation, so the decisions
    /// live in the non-generic [`Session::retry_delay`].
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
        let delay = backoff(tries, jitter());
        if tries >= MAX_ATTEMPTS || Instant::now() + delay >= self.until {
            return None;
        }
        tracing::warn!(operation, attempt = tries, delay_ms = delay.as_millis() as u64, error = %err, "transient error, retrying");
        Some(delay)
    }
}

fn gone_is_fine<T>(result: Result<T>) -> Result<bool> {
    match result {
        Ok(_) => Ok(true),
        Err(err) if err.is_not_found() => Ok(false),
        Err(err) => Err(err),
    }
}

fn not_registered(id: &TargetId) -> Error {
    Error::Conflict(format!(
        "scalable target {} is not registered; create it first (a Custom::SageMakerScalableTarget referenced with Ref or DependsOn)",
        id.physical_id()
    ))
}

/// A target deregistered between our check and the call still gets the clear message.
fn missing_target(err: Error, id: &TargetId) -> Error {
    if err.is_not_found() { not_registered(id) } else { err }
}

fn sdk_target_tracking(t: &TargetTracking) -> Result<sdk::TargetTrackingScalingPolicyConfiguration> {
    let mut config = sdk::TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(t.target_value)
        .set_scale_in_cooldown(t.scale_in_cooldown)
        .set_scale_out_cooldown(t.scale_out_cooldown)
        .set_disable_scale_in(t.disable_scale_in);
    config = match &t.metric {
        Metric::Predefined { metric, resource_label } => config.predefined_metric_specification(
            sdk::PredefinedMetricSpecification::builder()
                .predefined_metric_type(sdk::MetricType::from(metric.as_str()))
                .set_resource_label(resource_label.clone())
                .build()
                .map_err(build_error)?,
        ),
        Metric::Customized(m) => {
            let dimensions = m
                .dimensions
                .iter()
                .map(|(n, v)| sdk::MetricDimension::builder().name(n).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(build_error)?;
            config.customized_metric_specification(
                sdk::CustomizedMetricSpecification::builder()
                    .metric_name(&m.metric_name)
                    .namespace(&m.namespace)
                    .set_dimensions(Some(dimensions))
                    .statistic(sdk::MetricStatistic::from(m.statistic.as_str()))
                    .set_unit(m.unit.clone())
                    .build(),
            )
        }
    };
    config.build().map_err(build_error)
}

fn sdk_step_scaling(s: &StepScaling) -> Result<sdk::StepScalingPolicyConfiguration> {
    let steps = s
        .steps
        .iter()
        .map(|step| {
            sdk::StepAdjustment::builder()
                .set_metric_interval_lower_bound(step.lower)
                .set_metric_interval_upper_bound(step.upper)
                .scaling_adjustment(step.adjustment)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(build_error)?;
    Ok(sdk::StepScalingPolicyConfiguration::builder()
        .adjustment_type(sdk::AdjustmentType::from(s.adjustment_type.as_str()))
        .set_cooldown(s.cooldown)
        .set_metric_aggregation_type(s.metric_aggregation_type.as_deref().map(sdk::MetricAggregationType::from))
        .set_min_adjustment_magnitude(s.min_adjustment_magnitude)
        .set_step_adjustments(Some(steps))
        .build())
}

/// The SDK's builders check required fields that validation has already checked; should one still
/// complain, it becomes a FAILED rather than a panic.
fn build_error(err: aws_sdk_applicationautoscaling::error::BuildError) -> Error {
    Error::invalid(format!("cannot build the request: {err}"))
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
