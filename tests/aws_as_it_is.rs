//! AWS as it is, not as the emulator is: a failed Create leaves nothing behind, a new target that is not
//! visible yet is waited for, a Register whose answer came late is not an orphan, 5xx and relayed throttling
//! are retried, and every request follows botocore's model. Each fault is one the emulator injects on purpose
//! (tests/emulator/aas_emulator.py names each patch after the AWS behaviour it plays).

use std::time::Duration;

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Function, Stack, target_id, variant};

const POLICY: &str = "Custom::SageMakerScalingPolicy";
const ACTION: &str = "Custom::SageMakerScheduledAction";
const IC_DIMENSION: &str = "sagemaker:inference-component:DesiredCopyCount";

fn props(endpoint: &str) -> Value {
    json!({"ResourceId": variant(endpoint), "MinCapacity": "1", "MaxCapacity": "3", "Tags": [{"Key": "team", "Value": "ml"}]})
}

fn zero_props(component: &str) -> Value {
    json!({"InferenceComponentName": component, "MinCapacity": "0", "MaxCapacity": "4", "ScaleToZero": "true"})
}

fn ic_id(component: &str) -> String {
    format!("inference-component/{component}|{IC_DIMENSION}|sagemaker")
}

async fn no_model_errors(f: &Function) {
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "requests that botocore's model refuses: {errors:#?}");
}

/// A failed Create that had registered answers with the target's id; the rollback Delete then removes it.
async fn failed_create_then_rollback(f: &Function, stack: &Stack, logical: &str, props: Value, id: &str, resource: &str) -> Value {
    let body = f.send(&stack.create(logical, props.clone())).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(body["PhysicalResourceId"], id, "the failed create names what it registered: {body}");
    assert!(f.emulator.target(resource).await.is_some(), "the target was registered before the failure");
    let deleted = f.send(&stack.delete(logical, id, props)).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert!(f.emulator.target(resource).await.is_none(), "the rollback delete left the target behind");
    body
}

#[tokio::test]
async fn a_describe_that_never_shows_the_target_fails_with_its_id_and_the_rollback_removes_it() {
    let f = Function::start_with(support::Emulator::shared(), &[("CONSISTENCY_WINDOW_MS", "1000")]).await;
    let stack = Stack::new("orphans");
    // Invisible for longer than the function's window: the confirming Describe never shows it.
    f.emulator.lag("orphan-describe", 3.0).await;
    let body = f.send(&stack.create("Target", props("orphan-describe"))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(body["PhysicalResourceId"], target_id("orphan-describe"), "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("did not show"), "{body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let deleted = f.send(&stack.delete("Target", &target_id("orphan-describe"), props("orphan-describe"))).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert!(f.emulator.target(&variant("orphan-describe")).await.is_none(), "the rollback delete left the target behind");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_failed_step_policy_or_alarm_answers_the_target_id_and_the_rollback_leaves_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("orphans");
    f.emulator.fail("PutScalingPolicy", "orphan-policy", "ValidationException", 1).await;
    let resource = "inference-component/orphan-policy";
    failed_create_then_rollback(&f, &stack, "Policy", zero_props("orphan-policy"), &ic_id("orphan-policy"), resource).await;

    f.emulator.fail("PutMetricAlarm", "orphan-alarm", "LimitExceeded", 1).await;
    let resource = "inference-component/orphan-alarm";
    failed_create_then_rollback(&f, &stack, "Alarm", zero_props("orphan-alarm"), &ic_id("orphan-alarm"), resource).await;
    assert!(f.emulator.alarm_state("orphan-alarm-scale-out-from-zero").await.is_none());
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_deadline_after_the_register_answers_the_target_id() {
    let f = Function::start().await;
    let stack = Stack::new("orphans");
    f.emulator.hang("PutScalingPolicy", "orphan-deadline", 30, 50).await;
    let event = stack.create("Deadline", zero_props("orphan-deadline"));
    let body = f.send_within(&event, Duration::from_secs(8)).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("timed out"), "{body}");
    assert_eq!(body["PhysicalResourceId"], ic_id("orphan-deadline"), "{body}");
}

#[tokio::test]
async fn a_create_that_fails_before_registering_still_names_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("orphans");
    f.emulator.fail("RegisterScalableTarget", "orphan-before", "ValidationException", 1).await;
    let body = f.send(&stack.create("Target", props("orphan-before"))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    let id = body["PhysicalResourceId"].as_str().unwrap();
    assert!(!id.contains('|'), "a create that registered nothing must not name a target: {id}");
}

#[tokio::test]
async fn a_target_not_visible_yet_is_waited_for_by_the_target_and_its_policy() {
    let f = Function::start().await;
    let stack = Stack::new("lag");
    f.emulator.lag("lagging", 1.5).await;
    let body = f.send(&stack.create("Target", props("lagging"))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let policy = json!({
        "PolicyName": "lagging-invocations",
        "ScalingTargetId": target_id("lagging"),
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "70", "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
    });
    f.emulator.lag("lagging-2", 1.5).await;
    let second = f.send(&stack.create("Target2", props("lagging-2"))).await;
    assert_eq!(second["Status"], "SUCCESS", "{second}");
    let mut policy = policy;
    policy["ScalingTargetId"] = json!(target_id("lagging-2"));
    let put = f.send(&stack.event("Create", "Policy", POLICY, policy, None, None)).await;
    assert_eq!(put["Status"], "SUCCESS", "{put}");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_register_that_answered_late_is_tagged_instead_of_failing() {
    let f = Function::start_with(support::Emulator::shared(), &[("AWS_ATTEMPT_TIMEOUT_MS", "1000")]).await;
    let stack = Stack::new("late");
    f.emulator.late("RegisterScalableTarget", "late-register", 2.5).await;
    let body = f.send(&stack.create("Target", props("late-register"))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let target = f.emulator.target(&variant("late-register")).await.expect("registered");
    assert_eq!(target["Tags"]["team"], "ml");
    assert_eq!(target["Tags"]["cfn-sagemaker-autoscaling:logical-id"], "Target");
    let calls = f.emulator.mutations(&variant("late-register")).await;
    assert!(calls.contains(&"TagResource".to_owned()), "{calls:?}");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn tags_refused_on_a_first_attempt_mean_someone_else_registered_it() {
    let f = Function::start().await;
    let stack = Stack::new("late");
    // The refusal without any earlier attempt of ours: the target is not ours to tag.
    f.emulator
        .control_fault(json!({"operation": "RegisterScalableTarget", "match": "raced-register", "error": "ValidationException",
            "message": "The scalable target that you tried to tag already exists. To update tags on an existing scalable target, use the TagResource API.", "times": 1}))
        .await;
    let body = f.send(&stack.create("Target", props("raced-register"))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("someone else"), "{body}");
    assert!(!f.emulator.mutations(&variant("raced-register")).await.contains(&"TagResource".to_owned()));
}

#[tokio::test]
async fn every_5xx_and_relayed_throttling_is_retried() {
    let f = Function::start().await;
    let stack = Stack::new("retries");
    for (operation, error, status, message) in [
        ("RegisterScalableTarget", "SomethingNeverSeen", 503, "x"),
        ("DescribeScalableTargets", "InternalFailure", 500, "x"),
        ("PutScalingPolicy", "FailedResourceAccessException", 400, "Rate exceeded (Service: AmazonCloudWatch; Status Code: 400)"),
        ("PutMetricAlarm", "InternalServiceFault", 500, "x"),
        ("DescribeInferenceComponent", "ServiceFailure", 500, "x"),
    ] {
        f.emulator
            .control_fault(
                json!({"operation": operation, "match": "retry-all", "error": error, "status": status, "message": message, "times": 2}),
            )
            .await;
    }
    let body = f.send(&stack.create("Llm", zero_props("retry-all"))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let logs = f.logs();
    for code in ["SomethingNeverSeen", "InternalFailure", "FailedResourceAccessException", "InternalServiceError", "ServiceFailure"] {
        assert!(logs.contains(code), "{code} was not met and retried:\n{logs}");
    }
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_policy_delete_throttled_through_cloudwatch_is_retried() {
    let f = Function::start().await;
    let stack = Stack::new("retries");
    assert_eq!(f.send(&stack.create("Target", props("retry-delete"))).await["Status"], "SUCCESS");
    let policy = json!({
        "PolicyName": "a/b:c",
        "ScalingTargetId": target_id("retry-delete"),
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "70", "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}
    });
    let put = f.send(&stack.event("Create", "Policy", POLICY, policy.clone(), None, None)).await;
    assert_eq!(put["Status"], "SUCCESS", "a policy name with / and : is AWS's to allow: {put}");
    f.emulator
        .control_fault(json!({"operation": "DeleteScalingPolicy", "match": "retry-delete", "error": "FailedResourceAccessException", "message": "Rate exceeded", "times": 2}))
        .await;
    let arn = put["PhysicalResourceId"].as_str().unwrap();
    let deleted = f.send(&stack.event("Delete", "Policy", POLICY, policy, Some(arn), None)).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    let state = f.emulator.state().await;
    assert!(!state["policies"].as_array().unwrap().iter().any(|p| p["PolicyName"] == "a/b:c"), "{state}");
    no_model_errors(&f).await;
}

#[test]
fn the_time_zone_list_is_the_pinned_tzdata_package() {
    let script = "import importlib.resources as r; print(r.files('tzdata').joinpath('zones').read_text())";
    let output = std::process::Command::new(support::python()).arg("-c").arg(script).output().expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut zones: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
    zones.sort();
    let ours: Vec<&str> = cfn_sagemaker_autoscaling::model::action_spec::TIME_ZONES.lines().collect();
    assert_eq!(ours, zones, "src/model/timezones.txt differs from the tzdata package: regenerate it (sorted `zones`)");
}

#[tokio::test]
async fn a_misspelt_time_zone_is_refused_by_name_and_a_backward_link_accepted() {
    let f = Function::start().await;
    let stack = Stack::new("zones");
    assert_eq!(f.send(&stack.create("Target", props("zones"))).await["Status"], "SUCCESS");
    let action = |tz: &str, name: &str| {
        json!({"ScheduledActionName": name, "ScalingTargetId": target_id("zones"), "Schedule": "cron(0 8 * * ? *)",
               "Timezone": tz, "ScalableTargetAction": {"MinCapacity": "2"}})
    };
    let typo = f.send(&stack.event("Create", "Typo", ACTION, action("Europe/Berlln", "typo"), None, None)).await;
    assert_eq!(typo["Status"], "FAILED", "{typo}");
    assert!(typo["Reason"].as_str().unwrap().starts_with("Timezone \"Europe/Berlln\""), "{typo}");
    let eastern = f.send(&stack.event("Create", "Eastern", ACTION, action("US/Eastern", "eastern"), None, None)).await;
    assert_eq!(eastern["Status"], "SUCCESS", "{eastern}");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_replacing_update_that_fails_removes_the_new_target_and_keeps_the_old() {
    let f = Function::start().await;
    let stack = Stack::new("replace");
    let old = zero_props("replace-old");
    assert_eq!(f.send(&stack.create("Llm", old.clone())).await["Status"], "SUCCESS");
    f.emulator.fail("PutScalingPolicy", "replace-new", "ValidationException", 1).await;
    let body = f.send(&stack.update("Llm", &ic_id("replace-old"), zero_props("replace-new"), old)).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(body["PhysicalResourceId"], ic_id("replace-old"), "a failed update keeps its own id: {body}");
    assert!(f.emulator.target("inference-component/replace-new").await.is_none(), "the new target was left behind:\n{}", f.logs());
    assert!(f.emulator.target("inference-component/replace-old").await.is_some(), "the old target must stay");
}
