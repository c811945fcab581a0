//! End-to-end: `Custom::SageMakerScalingPolicy` and `Custom::SageMakerScheduledAction` through the compiled
//! bootstrap against the emulator: every lifecycle, every validation.

use cfn_sma_testkit as support;

use serde_json::{Value, json};
use support::{Event, Function, Stack, VARIANT_DIM, target_id, variant};

const POLICY: &str = "Custom::SageMakerScalingPolicy";
const ACTION: &str = "Custom::SageMakerScheduledAction";

fn create(stack: &Stack, kind: &str, logical: &str, props: Value) -> Event {
    stack.event("Create", logical, kind, props, None, None)
}

fn update(stack: &Stack, kind: &str, logical: &str, physical: &str, props: Value, old: Value) -> Event {
    stack.event("Update", logical, kind, props, Some(physical), Some(old))
}

fn delete(stack: &Stack, kind: &str, logical: &str, physical: &str, props: Value) -> Event {
    stack.event("Delete", logical, kind, props, Some(physical), None)
}

async fn with_target(f: &Function, stack: &Stack, endpoint: &str) {
    let body = f.send(&stack.create("Target", json!({"ResourceId": variant(endpoint), "MinCapacity": "1", "MaxCapacity": "4"}))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
}

fn tracking(endpoint: &str, name: &str, value: &str) -> Value {
    json!({
        "PolicyName": name,
        "ScalingTargetId": target_id(endpoint),
        "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
            "ScaleInCooldown": "300", "ScaleOutCooldown": "60"
        }
    })
}

fn schedule(endpoint: &str, name: &str, cron: &str) -> Value {
    json!({
        "ScheduledActionName": name,
        "ResourceId": variant(endpoint), "ScalableDimension": VARIANT_DIM, "ServiceNamespace": "sagemaker",
        "Schedule": cron, "Timezone": "Europe/Berlin",
        "StartTime": "2026-12-01T00:00:00Z", "EndTime": "2027-12-01T00:00:00Z",
        "ScalableTargetAction": {"MinCapacity": "2", "MaxCapacity": "4"}
    })
}

async fn policies_of(f: &Function, endpoint: &str) -> Vec<Value> {
    let state = f.emulator.state().await;
    state["policies"].as_array().unwrap().iter().filter(|p| p["ResourceId"] == variant(endpoint)).cloned().collect()
}

async fn actions_of(f: &Function, endpoint: &str) -> Vec<Value> {
    let state = f.emulator.state().await;
    state["actions"].as_array().unwrap().iter().filter(|a| a["ResourceId"] == variant(endpoint)).cloned().collect()
}

#[tokio::test]
async fn a_target_tracking_policy_is_created_updated_in_place_replaced_and_deleted() {
    let f = Function::start().await;
    let stack = Stack::new("policy");
    with_target(&f, &stack, "pol-life").await;

    let created = f.send(&create(&stack, POLICY, "Policy", tracking("pol-life", "invocations", "70"))).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(
        arn.starts_with("arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:") && arn.ends_with(":policyName/invocations"),
        "{arn}"
    );
    assert_eq!(created["Data"]["Arn"], arn.as_str());
    assert_eq!(created["Data"]["PolicyName"], "invocations");
    assert!(created["Data"]["Alarms"].is_string());
    let stored = policies_of(&f, "pol-life").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 70.0);
    assert_eq!(stored[0]["TargetTrackingScalingPolicyConfiguration"]["ScaleInCooldown"], 300);

    // A config change is in place: same ARN.
    let updated = f
        .send(&update(
            &stack,
            POLICY,
            "Policy",
            &arn,
            tracking("pol-life", "invocations", "55.5"),
            tracking("pol-life", "invocations", "70"),
        ))
        .await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert_eq!(updated["PhysicalResourceId"], arn.as_str());
    assert_eq!(policies_of(&f, "pol-life").await[0]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"], 55.5);

    // A new name is a replacement: new ARN, then the cleanup Delete of the old one.
    let renamed = f
        .send(&update(
            &stack,
            POLICY,
            "Policy",
            &arn,
            tracking("pol-life", "invocations-v2", "55.5"),
            tracking("pol-life", "invocations", "55.5"),
        ))
        .await;
    assert_eq!(renamed["Status"], "SUCCESS");
    let new_arn = renamed["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_ne!(new_arn, arn);
    assert_eq!(policies_of(&f, "pol-life").await.len(), 2, "the old policy stays until the cleanup Delete");
    let cleanup = f.send(&delete(&stack, POLICY, "Policy", &arn, tracking("pol-life", "invocations", "55.5"))).await;
    assert_eq!(cleanup["Status"], "SUCCESS");
    let left = policies_of(&f, "pol-life").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["PolicyName"], "invocations-v2");

    let gone = f.send(&delete(&stack, POLICY, "Policy", &new_arn, json!({}))).await;
    assert_eq!(gone["Status"], "SUCCESS");
    assert!(policies_of(&f, "pol-life").await.is_empty());
    let again = f.send(&delete(&stack, POLICY, "Policy", &new_arn, json!({}))).await;
    assert_eq!(again["Status"], "SUCCESS", "a policy already gone is SUCCESS");
}

#[tokio::test]
async fn a_stale_delete_leaves_a_policy_created_again_under_the_same_name() {
    let f = Function::start().await;
    let stack = Stack::new("policy");
    with_target(&f, &stack, "pol-stale").await;
    let props = tracking("pol-stale", "stale", "70");
    let first = f.send(&create(&stack, POLICY, "Policy", props.clone())).await;
    let first_arn = first["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(f.send(&delete(&stack, POLICY, "Policy", &first_arn, props.clone())).await["Status"], "SUCCESS");
    // Created again (by this stack's next Create, or another stack): AWS gives it a new ARN.
    let second = f.send(&create(&stack, POLICY, "Again", props.clone())).await;
    let second_arn = second["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_ne!(second_arn, first_arn, "a policy created again has a new ARN");
    // The first Delete, delivered again late, must not delete the policy that now holds the name.
    let stale = f.send(&delete(&stack, POLICY, "Policy", &first_arn, props)).await;
    assert_eq!(stale["Status"], "SUCCESS");
    let left = policies_of(&f, "pol-stale").await;
    assert_eq!(left.len(), 1, "the stale Delete removed the new policy");
    assert_eq!(left[0]["PolicyARN"], second_arn.as_str());
}

#[tokio::test]
async fn a_step_policy_on_an_inference_component_and_by_resource_id() {
    let f = Function::start().await;
    let stack = Stack::new("step");
    let target = f.send(&stack.create("Component", json!({"InferenceComponentName": "pol-ic", "MinCapacity": 1, "MaxCapacity": 4}))).await;
    assert_eq!(target["Status"], "SUCCESS");
    let props = json!({
        "PolicyName": "steps", "PolicyType": "StepScaling",
        "ResourceId": "inference-component/pol-ic", "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount", "ServiceNamespace": "sagemaker",
        "StepScalingPolicyConfiguration": {
            "AdjustmentType": "ChangeInCapacity", "Cooldown": "120", "MetricAggregationType": "Average",
            "StepAdjustments": [
                {"MetricIntervalUpperBound": "0", "ScalingAdjustment": "-1"},
                {"MetricIntervalLowerBound": "0", "MetricIntervalUpperBound": "20", "ScalingAdjustment": "1"},
                {"MetricIntervalLowerBound": "20", "ScalingAdjustment": "2"}
            ]
        }
    });
    let body = f.send(&create(&stack, POLICY, "Steps", props)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let state = f.emulator.state().await;
    let policy = state["policies"].as_array().unwrap().iter().find(|p| p["ResourceId"] == "inference-component/pol-ic").unwrap().clone();
    assert_eq!(policy["PolicyType"], "StepScaling");
    assert_eq!(policy["StepScalingPolicyConfiguration"]["StepAdjustments"].as_array().unwrap().len(), 3);

    let tracking_ic = json!({"PolicyName": "copies", "ScalingTargetId": target["PhysicalResourceId"],
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 4, "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerInferenceComponentInvocationsPerCopy"}}});
    assert_eq!(f.send(&create(&stack, POLICY, "Copies", tracking_ic)).await["Status"], "SUCCESS");
}

#[tokio::test]
async fn invalid_policies_fail_by_name_before_any_call_and_their_rollback_touches_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("badpolicy");
    with_target(&f, &stack, "pol-bad").await;
    let before = f.emulator.calls(&variant("pol-bad")).await.len();
    let mut wrong_metric = tracking("pol-bad", "p", "5");
    wrong_metric["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"] =
        json!("SageMakerInferenceComponentInvocationsPerCopy");
    let mut pc_metric = tracking("pol-bad", "p", "5");
    pc_metric["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]["PredefinedMetricType"] =
        json!("SageMakerVariantProvisionedConcurrencyUtilization");
    let steps = |list: Value| {
        json!({"PolicyName": "s", "PolicyType": "StepScaling", "ScalingTargetId": target_id("pol-bad"),
            "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "StepAdjustments": list}})
    };
    let cases = [
        (wrong_metric, "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType"),
        (pc_metric, "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType"),
        (tracking("pol-bad", "p", "0"), "TargetTrackingScalingPolicyConfiguration.TargetValue must be greater than 0"),
        (tracking("pol-bad", "p", "abc"), "TargetTrackingScalingPolicyConfiguration.TargetValue must be a number"),
        (
            steps(
                json!([{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 2}]),
            ),
            "StepScalingPolicyConfiguration.StepAdjustments overlap",
        ),
        (
            steps(
                json!([{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 15, "ScalingAdjustment": 2}]),
            ),
            "StepScalingPolicyConfiguration.StepAdjustments leave a gap",
        ),
        (json!({"ScalingTargetId": target_id("pol-bad"), "TargetTrackingScalingPolicyConfiguration": {}}), "PolicyName is required"),
        (json!({"PolicyName": "p", "ScalingTargetId": target_id("pol-bad"), "PolicyTyp": "StepScaling"}), "unknown property PolicyTyp"),
    ];
    for (props, reason) in cases {
        let body = f.send(&create(&stack, POLICY, "Bad", props.clone())).await;
        assert_eq!(body["Status"], "FAILED", "{props}");
        assert!(body["Reason"].as_str().unwrap().starts_with(reason), "want {reason}: {body}");
        let rollback = f.send(&delete(&stack, POLICY, "Bad", body["PhysicalResourceId"].as_str().unwrap(), props)).await;
        assert_eq!(rollback["Status"], "SUCCESS");
    }
    assert_eq!(f.emulator.calls(&variant("pol-bad")).await.len(), before, "an invalid policy or its rollback called AWS");
}

#[tokio::test]
async fn a_policy_or_action_on_an_unregistered_target_fails_naming_the_target() {
    let f = Function::start().await;
    let stack = Stack::new("unregistered");
    let body = f.send(&create(&stack, POLICY, "Policy", tracking("pol-none", "p", "5"))).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(
        body["Reason"].as_str().unwrap().starts_with(&format!("scalable target {} is not registered", target_id("pol-none"))),
        "{body}"
    );
    let body = f.send(&create(&stack, ACTION, "Action", schedule("pol-none", "nightly", "cron(0 22 * * ? *)"))).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().contains("is not registered"), "{body}");
    assert!(!f.emulator.mutations(&variant("pol-none")).await.iter().any(|op| op.starts_with("Put")));
}

#[tokio::test]
async fn a_scheduled_action_is_created_updated_replaced_and_deleted() {
    let f = Function::start().await;
    let stack = Stack::new("schedule");
    with_target(&f, &stack, "act-life").await;
    let id = format!("business-hours|{}", target_id("act-life"));

    let created = f.send(&create(&stack, ACTION, "Schedule", schedule("act-life", "business-hours", "cron(0 8 ? * MON-FRI *)"))).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(created["PhysicalResourceId"], id.as_str());
    assert!(created["Data"]["ScheduledActionARN"].as_str().unwrap().contains(":scheduledAction:"), "{created}");
    let stored = actions_of(&f, "act-life").await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["Schedule"], "cron(0 8 ? * MON-FRI *)");
    assert_eq!(stored[0]["ScalableTargetAction"], json!({"MinCapacity": 2, "MaxCapacity": 4}));
    assert_eq!(stored[0]["Timezone"], "Europe/Berlin");

    let updated = f
        .send(&update(
            &stack,
            ACTION,
            "Schedule",
            &id,
            schedule("act-life", "business-hours", "rate(1 day)"),
            schedule("act-life", "business-hours", "cron(0 8 ? * MON-FRI *)"),
        ))
        .await;
    assert_eq!(updated["Status"], "SUCCESS");
    assert_eq!(updated["PhysicalResourceId"], id.as_str());
    assert_eq!(actions_of(&f, "act-life").await[0]["Schedule"], "rate(1 day)");

    let renamed = f
        .send(&update(
            &stack,
            ACTION,
            "Schedule",
            &id,
            schedule("act-life", "office-hours", "rate(1 day)"),
            schedule("act-life", "business-hours", "rate(1 day)"),
        ))
        .await;
    assert_eq!(renamed["Status"], "SUCCESS");
    let new_id = renamed["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert_eq!(new_id, format!("office-hours|{}", target_id("act-life")));
    let cleanup = f.send(&delete(&stack, ACTION, "Schedule", &id, json!({}))).await;
    assert_eq!(cleanup["Status"], "SUCCESS");
    let left = actions_of(&f, "act-life").await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0]["ScheduledActionName"], "office-hours");

    assert_eq!(f.send(&delete(&stack, ACTION, "Schedule", &new_id, json!({}))).await["Status"], "SUCCESS");
    assert!(actions_of(&f, "act-life").await.is_empty());
    assert_eq!(f.send(&delete(&stack, ACTION, "Schedule", &new_id, json!({}))).await["Status"], "SUCCESS", "already gone is SUCCESS");
}

#[tokio::test]
async fn invalid_scheduled_actions_fail_by_name() {
    let f = Function::start().await;
    let stack = Stack::new("badaction");
    with_target(&f, &stack, "act-bad").await;
    let before = f.emulator.calls(&variant("act-bad")).await.len();
    let with = |key: &str, value: Value| {
        let mut props = schedule("act-bad", "a", "cron(0 8 ? * MON-FRI *)");
        props[key] = value;
        props
    };
    let cases = [
        (with("Schedule", json!("at(2026-12-01 08:00)")), "Schedule \"at(2026-12-01 08:00)\" is not valid"),
        (with("Schedule", json!("cron(0 8 * * *)")), "Schedule \"cron(0 8 * * *)\" is not valid: cron(...) takes six fields"),
        (with("Schedule", json!("rate(5 fortnights)")), "Schedule \"rate(5 fortnights)\" is not valid"),
        (with("StartTime", json!("tomorrow")), "StartTime \"tomorrow\" is not an ISO 8601 time"),
        (with("EndTime", json!("2026-11-01T00:00:00Z")), "EndTime must be after StartTime"),
        (with("Timezone", json!("Berlin")), "Timezone \"Berlin\" is not a time zone name"),
        (with("ScalableTargetAction", json!({"MinCapacity": "x"})), "ScalableTargetAction.MinCapacity must be an integer"),
    ];
    for (props, reason) in cases {
        let body = f.send(&create(&stack, ACTION, "Bad", props)).await;
        assert_eq!(body["Status"], "FAILED");
        assert!(body["Reason"].as_str().unwrap().starts_with(reason), "want {reason}: {body}");
        assert!(!body["PhysicalResourceId"].as_str().unwrap().contains('|'));
    }
    assert_eq!(f.emulator.calls(&variant("act-bad")).await.len(), before);
}

#[tokio::test]
async fn deleting_the_target_first_cascades_and_the_later_deletes_succeed() {
    let f = Function::start().await;
    let stack = Stack::new("cascade");
    with_target(&f, &stack, "cascade").await;
    let policy = f.send(&create(&stack, POLICY, "Policy", tracking("cascade", "p", "10"))).await;
    let action = f.send(&create(&stack, ACTION, "Action", schedule("cascade", "nightly", "cron(0 22 * * ? *)"))).await;
    assert_eq!((policy["Status"].as_str(), action["Status"].as_str()), (Some("SUCCESS"), Some("SUCCESS")));
    let target = f.send(&stack.delete("Target", &target_id("cascade"), json!({}))).await;
    assert_eq!(target["Status"], "SUCCESS");
    assert!(policies_of(&f, "cascade").await.is_empty() && actions_of(&f, "cascade").await.is_empty(), "deregistering cascades");
    let p = f.send(&delete(&stack, POLICY, "Policy", policy["PhysicalResourceId"].as_str().unwrap(), json!({}))).await;
    let a = f.send(&delete(&stack, ACTION, "Action", action["PhysicalResourceId"].as_str().unwrap(), json!({}))).await;
    assert_eq!((p["Status"].as_str(), a["Status"].as_str()), (Some("SUCCESS"), Some("SUCCESS")));
}
