//! Application Auto Scaling calls, through the SDK client.

use std::collections::BTreeMap;

use aws_sdk_applicationautoscaling::primitives::DateTime;
use aws_sdk_applicationautoscaling::types::{
    PolicyType, ScalableDimension as SdkDimension, ScalableTargetAction, ServiceNamespace, SuspendedState,
};

use super::convert::{sdk_step_scaling, sdk_target_tracking, to_hash_map};
use super::{NotFound, Session, classify};
use crate::error::Retry;
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
        let out = self
            .call_taking("ListTagsForResource", NotFound::MaybeLag, || {
                self.clients.autoscaling.list_tags_for_resource().resource_arn(arn).send()
            })
            .await?;
        Ok(out.tags().map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default())
    }

    /// RegisterScalableTarget; returns the target's ARN when the service gives it.
    ///
    /// Records the target as written (see [`Session::wrote`]) once an attempt took effect or may have (no
    /// answer, a 5xx). A retry whose earlier attempt took effect with `Tags` is refused by AWS ("… already
    /// exists. To update tags on an existing scalable target, use the TagResource API"): then the target is
    /// ours, so it is registered without tags and tagged with TagResource.
    ///
    /// # Errors
    /// The final AWS error; `Conflict` when the tags are refused although no earlier attempt can have
    /// registered the target (someone else registered it since it was looked up).
    pub async fn register(&self, reg: &Registration) -> Result<Option<String>> {
        let ambiguous = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .retrying("RegisterScalableTarget", NotFound::Final, || async {
                let answer = self.register_once(reg, reg.tags.as_ref()).await;
                match &answer {
                    Ok(_) => self.wrote(reg.id.physical_id()),
                    Err(Error::Aws { retry: Retry::Transient, .. }) => {
                        ambiguous.store(true, std::sync::atomic::Ordering::SeqCst);
                        self.wrote(reg.id.physical_id());
                    }
                    Err(_) => {}
                }
                answer
            })
            .await;
        match (result, &reg.tags) {
            (Err(err), Some(tags)) if is_tags_on_existing(&err) => {
                if !ambiguous.load(std::sync::atomic::Ordering::SeqCst) {
                    return Err(Error::Conflict(format!(
                        "scalable target {} was registered by someone else after it was looked up; left untouched",
                        reg.id.physical_id()
                    )));
                }
                tracing::info!(target = %reg.id.physical_id(), "an earlier attempt registered the target: registering without tags, then TagResource");
                let arn = self.retrying("RegisterScalableTarget", NotFound::Final, || self.register_once(reg, None)).await?;
                let arn = match arn {
                    Some(arn) if !arn.is_empty() => arn,
                    _ => self.describe_registered(&reg.id).await?.arn,
                };
                self.tag(&arn, tags).await?;
                Ok(Some(arn))
            }
            (result, _) => result,
        }
    }

    async fn register_once(&self, reg: &Registration, tags: Option<&BTreeMap<String, String>>) -> Result<Option<String>> {
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
            .set_tags(tags.map(to_hash_map))
            .send()
            .await
            .map(|out| out.scalable_target_arn().map(str::to_owned))
            .map_err(|err| classify("RegisterScalableTarget", &err))
    }

    /// DescribeScalableTargets right after a register: polled for the consistency window, since a new
    /// target may not be listed at once (Application Auto Scaling API reference, RegisterScalableTarget).
    ///
    /// # Errors
    /// `Conflict` saying what was not seen, or the final AWS error.
    pub async fn describe_registered(&self, id: &TargetId) -> Result<Described> {
        let started = tokio::time::Instant::now();
        self.eventually(|| self.describe_target(id)).await?.ok_or_else(|| {
            Error::Conflict(format!(
                "RegisterScalableTarget succeeded but DescribeScalableTargets did not show {} within {}s",
                id.physical_id(),
                started.elapsed().as_secs()
            ))
        })
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
        self.call_taking("TagResource", NotFound::MaybeLag, || {
            self.clients.autoscaling.tag_resource().resource_arn(arn).set_tags(Some(to_hash_map(tags))).send()
        })
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
        // A target registered a moment ago (by another resource of the stack) may not be listed yet.
        match self.eventually(|| self.describe_target(id)).await? {
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
        let out = self
            .call_taking("PutScalingPolicy", NotFound::MaybeLag, || call.clone().send())
            .await
            .map_err(|e| missing_target(e, &spec.target))?;
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
        self.call_taking("PutScheduledAction", NotFound::MaybeLag, || call.clone().send())
            .await
            .map_err(|e| missing_target(e, &spec.target))?;
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

    /// The ARN of an action just put: polled for the consistency window, as a new target is.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn put_action_arn(&self, name: &str, target: &TargetId) -> Result<Option<String>> {
        self.eventually(|| self.action_arn(name, target)).await
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

/// AWS's refusal of `Tags` on RegisterScalableTarget for a target that exists.
fn is_tags_on_existing(err: &Error) -> bool {
    matches!(err, Error::Aws { code, message, .. } if code == "ValidationException" && message.contains("already exists") && message.contains("TagResource"))
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
