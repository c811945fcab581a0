//! Endpoint scenarios shared by the endpoint tests: an endpoint made by the function, its auto scaling (a
//! target, a target-tracking and a step policy with its alarm, a scheduled action, a policy put by hand, 3
//! instances), and what Application Auto Scaling holds for it.

use std::time::Duration;

use serde_json::{Value, json};

use crate::{Event, Function, Stack};

pub const ENDPOINT: &str = "Custom::SageMakerEndpoint";
pub const POLICY: &str = "Custom::SageMakerScalingPolicy";
pub const ACTION: &str = "Custom::SageMakerScheduledAction";
pub const DIM: &str = "sagemaker:variant:DesiredInstanceCount";
pub const PER_INVOCATION: Duration = Duration::from_secs(8);

pub fn variant_id(endpoint: &str, variant: &str) -> String {
    format!("endpoint/{endpoint}/variant/{variant}")
}

pub fn target_id(endpoint: &str, variant: &str) -> String {
    format!("{}|{DIM}|sagemaker", variant_id(endpoint, variant))
}

pub fn endpoint_props(name: &str, config: &str) -> Value {
    json!({"EndpointName": name, "EndpointConfigName": config, "ServiceTimeout": "3600", "Tags": [{"Key": "team", "Value": "ml"}]})
}

pub async fn no_model_errors(f: &Function) {
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "requests that botocore's model refuses: {errors:#?}");
}

/// An endpoint made by this resource, two variants on `ml.m5.large`; returns its ARN.
pub async fn endpoint(f: &Function, stack: &Stack, name: &str) -> String {
    f.emulator
        .endpoint_config(
            &format!("{name}-c1"),
            json!([{"name": "a", "instance_type": "ml.m5.large", "instances": 1}, {"name": "b", "instance_type": "ml.m5.large", "instances": 1}]),
        )
        .await;
    let (body, _) = f
        .send_long(
            &stack.event("Create", "Endpoint", ENDPOINT, endpoint_props(name, &format!("{name}-c1")), None, None),
            PER_INVOCATION,
            10,
        )
        .await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    body["PhysicalResourceId"].as_str().unwrap().to_owned()
}

/// Variant `a` auto-scaled: a target, a target-tracking and a step policy, a scheduled action, a policy put by
/// hand, and 3 instances.
pub async fn autoscale(f: &Function, stack: &Stack, name: &str) {
    let target = json!({"EndpointName": name, "VariantName": "a", "MinCapacity": "1", "MaxCapacity": "5",
        "SuspendedState": {"ScheduledScalingSuspended": "true"}, "Tags": [{"Key": "cost-center", "Value": "42"}]});
    assert_eq!(f.send(&stack.create("Target", target)).await["Status"], "SUCCESS");
    let tracking = json!({"PolicyName": "invocations", "ScalingTargetId": target_id(name, "a"), "TargetTrackingScalingPolicyConfiguration": {
        "TargetValue": "70", "ScaleInCooldown": "300", "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}});
    assert_eq!(f.send(&stack.event("Create", "Tracking", POLICY, tracking, None, None)).await["Status"], "SUCCESS");
    let step = json!({"PolicyName": "latency-steps", "PolicyType": "StepScaling", "ScalingTargetId": target_id(name, "a"), "StepScalingPolicyConfiguration": {
        "AdjustmentType": "ChangeInCapacity", "Cooldown": "120", "MetricAggregationType": "Average",
        "StepAdjustments": [{"MetricIntervalLowerBound": "0", "ScalingAdjustment": "1"}]}});
    assert_eq!(f.send(&stack.event("Create", "Step", POLICY, step, None, None)).await["Status"], "SUCCESS");
    let action = json!({"ScheduledActionName": "mornings", "ScalingTargetId": target_id(name, "a"), "Schedule": "cron(0 8 * * ? *)",
        "Timezone": "Europe/Berlin", "ScalableTargetAction": {"MinCapacity": "2"}});
    assert_eq!(f.send(&stack.event("Create", "Mornings", ACTION, action, None, None)).await["Status"], "SUCCESS");
    let by_hand = json!({"PolicyName": "by-hand", "ServiceNamespace": "sagemaker", "ResourceId": variant_id(name, "a"), "ScalableDimension": DIM,
        "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 5.0,
        "CustomizedMetricSpecification": {"MetricName": "ModelLatency", "Namespace": "AWS/SageMaker", "Statistic": "Average"}}});
    let (status, answer) = f.emulator.aws("AnyScaleFrontendService", "PutScalingPolicy", by_hand).await;
    assert_eq!(status, 200, "{answer}");
    let scaled = json!({"EndpointName": name, "DesiredWeightsAndCapacities": [{"VariantName": "a", "DesiredInstanceCount": 3}]});
    let (status, answer) = f.emulator.aws("SageMaker", "UpdateEndpointWeightsAndCapacities", scaled).await;
    assert_eq!(status, 200, "{answer}");
    in_service(f, name).await;
}

/// Waits (bounded) until the endpoint is InService again: a capacity change is an update, as in AWS.
pub async fn in_service(f: &Function, name: &str) {
    for _ in 0..100 {
        if f.emulator.endpoint_state(name).await.is_some_and(|e| e["EndpointStatus"] == "InService") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("endpoint {name} never came back InService");
}

/// What Application Auto Scaling holds for a resource id: the target, its policies and actions, without the
/// fields that are new on every put (ARNs, times).
pub async fn scaling_of(f: &Function, resource_id: &str) -> Value {
    let state = f.emulator.state().await;
    let pick = |list: &str| -> Vec<Value> {
        let mut items: Vec<Value> = state[list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["ResourceId"] == resource_id)
            .map(|x| {
                let mut x = x.clone();
                for volatile in ["PolicyARN", "ScheduledActionARN", "ScalableTargetARN", "CreationTime", "Alarms"] {
                    x.as_object_mut().unwrap().remove(volatile);
                }
                x
            })
            .collect();
        items.sort_by_key(|x| x.to_string());
        items
    };
    json!({"targets": pick("targets"), "policies": pick("policies"), "actions": pick("actions")})
}

pub async fn capacity(f: &Function, name: &str, variant: &str) -> Value {
    let endpoint = f.emulator.endpoint_state(name).await.expect("the endpoint");
    endpoint["ProductionVariants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["VariantName"] == variant)
        .map(|v| v["CurrentInstanceCount"].clone())
        .unwrap_or(Value::Null)
}

/// A function, a stack, and the emulator's SageMaker taking a second for each of `endpoint`'s transitions.
pub async fn setup(stack: &str, endpoint: &str) -> (Function, Stack) {
    let f = Function::start().await;
    f.emulator.timing_of(endpoint, 1.0, 1.0, 1.0).await;
    (f, Stack::new(stack))
}

/// An auto-scaled endpoint (see [`autoscale`]) and a configuration `<name>-c2` that moves variant a to another
/// instance type: its ARN and what Application Auto Scaling holds for variant a.
pub async fn auto_scaled_with_a_new_instance_type(f: &Function, stack: &Stack, name: &str) -> (String, Value) {
    let arn = endpoint(f, stack, name).await;
    autoscale(f, stack, name).await;
    let before = scaling_of(f, &variant_id(name, "a")).await;
    f.emulator
        .endpoint_config(
            &format!("{name}-c2"),
            json!([{"name": "a", "instance_type": "ml.g4dn.xlarge", "instances": 1}, {"name": "b", "instance_type": "ml.m5.large", "instances": 1}]),
        )
        .await;
    (arn, before)
}

pub async fn update_to(
    f: &Function,
    stack: &Stack,
    name: &str,
    arn: &str,
    from: &str,
    to: &str,
    per_invocation: Duration,
) -> (Value, usize) {
    f.send_long(&endpoint_update(stack, name, arn, from, endpoint_props(name, to)), per_invocation, 12).await
}

/// CloudFormation's Update of the endpoint `name` (physical id `arn`), from the properties naming configuration
/// `from` to `props`.
pub fn endpoint_update(stack: &Stack, name: &str, arn: &str, from: &str, props: Value) -> Event {
    stack.event("Update", "Endpoint", ENDPOINT, props, Some(arn), Some(endpoint_props(name, from)))
}
