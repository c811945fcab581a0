//! The shell around Application Auto Scaling: one method per call, each retried while the error is
//! transient and time remains. Decisions about *which* calls to make live in the resource modules.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::config::http::HttpResponse;
use aws_sdk_applicationautoscaling::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_applicationautoscaling::primitives::DateTime;
use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension as SdkDimension, ScalableTargetAction, ServiceNamespace, SuspendedState,
};
use tokio::time::Instant;

use crate::backoff::delay_before;
use crate::model::action_spec::ActionSpec;
use crate::model::policy_spec::{PolicyConfig, PolicySpec};
use crate::model::target_spec::{Described, Registration, Suspended};
use crate::model::{ScalableDimension, TargetId};
use crate::{Error, Result, error::Retry};

mod convert;
mod errors;

use convert::{sdk_step_scaling, sdk_target_tracking, to_hash_map};
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
    async fn call<T, E, F, Fut>(&self, operation: &'static str, attempt: F) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
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
        let delay = delay_before(tries, MAX_ATTEMPTS, Instant::now(), self.until)?;
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
}
