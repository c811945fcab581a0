//! The calls of `Custom::SageMakerEndpoint`: SageMaker's endpoint operations, saving and restoring a
//! registered target through Application Auto Scaling's own JSON (so that what is saved can travel to the next
//! invocation as it is), and handing an operation over to that invocation through Lambda.

use serde_json::{Map, Value, json};

use super::sagemaker::{endpoint_state, is_missing};
use super::{NotFound, Session};
use crate::endpoint_plan::{ConfigVariant, EndpointView, LiveVariant, SavedTarget, alarm_put_back, config_variants};
use crate::model::target_spec::Tags;
use crate::sagemaker::VariantKind;
use crate::{Error, Result};

impl Session {
    /// One SageMaker operation, retried while transient.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn sagemaker(&self, operation: &'static str, body: &Value) -> Result<Value> {
        self.retrying(operation, NotFound::Final, || self.clients.sagemaker.call(operation, body)).await
    }

    async fn autoscaling(&self, operation: &'static str, body: &Value, not_found: NotFound) -> Result<Value> {
        self.retrying(operation, not_found, || self.clients.autoscaling_json.call(operation, body)).await
    }

    /// DescribeEndpoint; `None` when SageMaker does not know the endpoint.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn endpoint_view(&self, name: &str) -> Result<Option<EndpointView>> {
        match self.sagemaker("DescribeEndpoint", &json!({"EndpointName": name})).await {
            Ok(value) => Ok(Some(view(&value))),
            Err(err) if is_missing(&err) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// DescribeEndpointConfig's variants.
    ///
    /// # Errors
    /// The final AWS error (a configuration that does not exist included).
    pub async fn endpoint_config(&self, name: &str) -> Result<Vec<ConfigVariant>> {
        Ok(config_variants(&self.sagemaker("DescribeEndpointConfig", &json!({"EndpointConfigName": name})).await?))
    }

    /// ListTags of a SageMaker resource.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn sagemaker_tags(&self, arn: &str) -> Result<Tags> {
        let answer = self.sagemaker("ListTags", &json!({"ResourceArn": arn, "MaxResults": 100})).await?;
        Ok(answer
            .get("Tags")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| {
                        Some((t.get("Key")?.as_str()?.to_owned(), t.get("Value").and_then(Value::as_str).unwrap_or_default().to_owned()))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Every page of an Application Auto Scaling Describe (`NextToken`), the items of `list` in order. AWS
    /// answers at most 10 policies, 50 scheduled actions or 50 targets per page.
    async fn every_page(&self, operation: &'static str, body: &Value, list: &str) -> Result<Vec<Value>> {
        let mut items = Vec::new();
        let mut body = body.clone();
        // Bounded: 200 pages of 10 is far beyond the service's quotas per target.
        for _ in 0..200 {
            let page = self.autoscaling(operation, &body, NotFound::Final).await?;
            items.extend(page.get(list).and_then(Value::as_array).cloned().unwrap_or_default());
            match page.get("NextToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(token) => body["NextToken"] = json!(token),
                None => return Ok(items),
            }
        }
        Err(Error::Conflict(format!("{operation} returned more than 200 pages for {}", body["ResourceIds"])))
    }

    /// Everything registered for `resource_id` (any dimension): the target, every tag, each policy and
    /// scheduled action (every page), the alarms that fire its step policies; `capacity` is the variant's
    /// current capacity.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn save_targets(&self, variant: &str, resource_id: &str, capacity: Option<i64>) -> Result<Vec<SavedTarget>> {
        let found = self
            .every_page(
                "DescribeScalableTargets",
                &json!({"ServiceNamespace": "sagemaker", "ResourceIds": [resource_id]}),
                "ScalableTargets",
            )
            .await?;
        let mut saved = Vec::new();
        for target in found.into_iter().filter(|t| t.get("ResourceId").and_then(Value::as_str) == Some(resource_id)) {
            let dimension = target.get("ScalableDimension").and_then(Value::as_str).unwrap_or_default().to_owned();
            let key = json!({"ServiceNamespace": "sagemaker", "ResourceId": resource_id, "ScalableDimension": dimension});
            let tags = match target.get("ScalableTargetARN").and_then(Value::as_str) {
                Some(arn) => self
                    .autoscaling("ListTagsForResource", &json!({"ResourceARN": arn}), NotFound::MaybeLag)
                    .await?
                    .get("Tags")
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default(),
                None => Map::new(),
            };
            let policies = self.every_page("DescribeScalingPolicies", &key, "ScalingPolicies").await?;
            let actions = self.every_page("DescribeScheduledActions", &key, "ScheduledActions").await?;
            let mut alarms: Vec<Value> = Vec::new();
            for policy in policies.iter().filter(|p| p.get("PolicyType").and_then(Value::as_str) == Some("StepScaling")) {
                let Some(arn) = policy.get("PolicyARN").and_then(Value::as_str) else { continue };
                for alarm in self.alarms_acting_on(arn).await? {
                    if !alarms.iter().any(|a| a.get("AlarmName") == alarm.get("AlarmName")) {
                        alarms.push(alarm);
                    }
                }
            }
            saved.push(SavedTarget {
                variant: variant.to_owned(),
                resource_id: resource_id.to_owned(),
                dimension,
                min: target.get("MinCapacity").and_then(Value::as_i64).unwrap_or(0),
                max: target.get("MaxCapacity").and_then(Value::as_i64).unwrap_or(0),
                suspended: target.get("SuspendedState").cloned().unwrap_or(Value::Null),
                role_arn: target.get("RoleARN").and_then(Value::as_str).map(str::to_owned),
                tags,
                policies,
                actions,
                alarms,
                capacity,
            });
        }
        Ok(saved)
    }

    /// The metric alarms whose actions start with `policy_arn` (DescribeAlarms' `ActionPrefix`, every page).
    async fn alarms_acting_on(&self, policy_arn: &str) -> Result<Vec<Value>> {
        let mut alarms = Vec::new();
        let mut body = json!({"ActionPrefix": policy_arn, "AlarmTypes": ["MetricAlarm"]});
        for _ in 0..100 {
            let page = self.cloudwatch("DescribeAlarms", &body).await?;
            alarms.extend(page.get("MetricAlarms").and_then(Value::as_array).cloned().unwrap_or_default());
            match page.get("NextToken").and_then(Value::as_str).filter(|t| !t.is_empty()) {
                Some(token) => body["NextToken"] = json!(token),
                None => break,
            }
        }
        Ok(alarms)
    }

    /// DeregisterScalableTarget of a saved target (its policies and actions go with it); gone already is fine.
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn deregister_saved(&self, target: &SavedTarget) -> Result<()> {
        let key = json!({"ServiceNamespace": "sagemaker", "ResourceId": target.resource_id, "ScalableDimension": target.dimension});
        match self.autoscaling("DeregisterScalableTarget", &key, NotFound::Final).await {
            Err(err) if !err.is_not_found() => Err(err),
            _ => Ok(()),
        }
    }

    /// Puts a saved target back exactly as it was: registered with the same Min, Max, SuspendedState, RoleARN and
    /// tags (the owner stays the owner), each policy and scheduled action with its own name and configuration,
    /// and each alarm that fired a step policy, pointing at the policy's new ARN. Returns each policy's old ARN
    /// and new one. Repeated, it creates nothing twice (every call is an upsert).
    ///
    /// # Errors
    /// The final AWS error.
    pub async fn restore_target(&self, target: &SavedTarget) -> Result<Vec<(String, String)>> {
        let key = json!({"ServiceNamespace": "sagemaker", "ResourceId": target.resource_id, "ScalableDimension": target.dimension});
        let mut register = key.clone();
        register["MinCapacity"] = json!(target.min);
        register["MaxCapacity"] = json!(target.max);
        // A member with no value is left out, as the service's model has it (never sent as null).
        if target.suspended.as_object().is_some_and(|s| !s.is_empty()) {
            register["SuspendedState"] = target.suspended.clone();
        }
        if let Some(role) = &target.role_arn {
            register["RoleARN"] = json!(role);
        }
        let mut tagged = register.clone();
        if !target.tags.is_empty() {
            tagged["Tags"] = Value::Object(target.tags.clone());
        }
        let registered = self.autoscaling("RegisterScalableTarget", &tagged, NotFound::Final).await;
        match registered {
            Ok(_) => {}
            // Registered already (a repeated restore): register the values, then the tags.
            Err(Error::Aws { code, message, .. }) if code == "ValidationException" && message.contains("already exists") => {
                let answer = self.autoscaling("RegisterScalableTarget", &register, NotFound::Final).await?;
                if let Some(arn) = answer.get("ScalableTargetARN").and_then(Value::as_str) {
                    self.autoscaling("TagResource", &json!({"ResourceARN": arn, "Tags": target.tags}), NotFound::MaybeLag).await?;
                }
            }
            Err(err) => return Err(err),
        }
        let mut renamed = Vec::new();
        for policy in &target.policies {
            let mut put = key.clone();
            for member in ["PolicyName", "PolicyType", "StepScalingPolicyConfiguration", "TargetTrackingScalingPolicyConfiguration"] {
                if let Some(value) = policy.get(member).filter(|v| !v.is_null()) {
                    put[member] = value.clone();
                }
            }
            let answer = self.autoscaling("PutScalingPolicy", &put, NotFound::MaybeLag).await?;
            if let (Some(old), Some(new)) =
                (policy.get("PolicyARN").and_then(Value::as_str), answer.get("PolicyARN").and_then(Value::as_str))
            {
                renamed.push((old.to_owned(), new.to_owned()));
            }
        }
        for action in &target.actions {
            let mut put = key.clone();
            for member in ["ScheduledActionName", "Schedule", "Timezone", "StartTime", "EndTime", "ScalableTargetAction"] {
                if let Some(value) = action.get(member).filter(|v| !v.is_null()) {
                    put[member] = value.clone();
                }
            }
            self.autoscaling("PutScheduledAction", &put, NotFound::MaybeLag).await?;
        }
        let map: std::collections::BTreeMap<String, String> = renamed.iter().cloned().collect();
        for alarm in &target.alarms {
            self.cloudwatch("PutMetricAlarm", &alarm_put_back(alarm, &map)).await?;
        }
        Ok(renamed)
    }

    /// Hands an operation to the function's next invocation: an asynchronous Invoke of itself. Returns the
    /// request id that invocation will have, when Lambda says it.
    ///
    /// # Errors
    /// The final AWS error (`lambda:InvokeFunction` missing, named).
    pub async fn hand_over(&self, function: &str, payload: &Value) -> Result<Option<String>> {
        let bytes = payload.to_string().into_bytes();
        self.retrying("Invoke", NotFound::Final, || self.clients.lambda.invoke_event(function, &bytes)).await
    }
}

/// DescribeEndpoint's answer as an operation needs it: the state a target's check reads ([`endpoint_state`]), with
/// the configuration and the ARN.
pub fn view(value: &Value) -> EndpointView {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned).unwrap_or_default();
    let state = endpoint_state(value);
    EndpointView {
        status: state.status,
        config_name: text("EndpointConfigName"),
        failure_reason: state.failure_reason,
        arn: text("EndpointArn"),
        variants: state
            .variants
            .into_iter()
            .map(|v| LiveVariant { name: v.name, capacity: v.current_capacity, on_instances: v.kind == VariantKind::Instances })
            .collect(),
    }
}
