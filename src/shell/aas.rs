//! Application Auto Scaling calls, through the SDK client.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::primitives::DateTime;
use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension as SdkDimension, ScalableTargetAction, ServiceNamespace, SuspendedState,
};

use super::Session;
use super::convert::{sdk_step_scaling, sdk_target_tracking, to_hash_map};
use crate::model::action_spec::ActionSpec;
use crate::model::policy_spec::{PolicyConfig, PolicySpec};
use crate::model::target_spec::{Described, Registration, Suspended};
use crate::model::{ScalableDimension, TargetId};
use crate::{Error, Result};

impl Session {
    /// DescribeScalableTargets for one target; `None` when it is not registered.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn describe_target(&self, id: &TargetId) -> Result<Option<Described>> {
        let out = self
            .call("DescribeScalableTargets", || {
                self.clients
                    .autoscaling
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
        let out = self.call("ListTagsForResource", || self.clients.autoscaling.list_tags_for_resource().resource_arn(arn).send()).await?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    /// RegisterScalableTarget; returns the target's ARN when the service gives it.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn register(&self, reg: &Registration) -> Result<Option<String>> {
        let out = self
            .call("RegisterScalableTarget", || {
                self.clients
                    .autoscaling
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
                self.clients
                    .autoscaling
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
        self.call("TagResource", || self.clients.autoscaling.tag_resource().resource_arn(arn).set_tags(Some(to_hash_map(tags))).send())
            .await
            .map(drop)
    }

    /// UntagResource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn untag(&self, arn: &str, keys: &[String]) -> Result<()> {
        self.call("UntagResource", || self.clients.autoscaling.untag_resource().resource_arn(arn).set_tag_keys(Some(keys.to_vec())).send())
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
            .clients
            .autoscaling
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
                self.clients
                    .autoscaling
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
                self.clients
                    .autoscaling
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
            .clients
            .autoscaling
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
                self.clients
                    .autoscaling
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
                self.clients
                    .autoscaling
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
