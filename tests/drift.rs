//! Drift of the scaling configuration, through the real bootstrap: a console edit (Application Auto Scaling
//! changed outside the template) is logged at WARN, field by field, before the next Update applies; the scheduled
//! event counts every drifted resource in `DriftedResources` (embedded metric format) and puts back what the
//! template says only for a resource with `RepairDrift: true`.

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Function, Stack, target_id, variant};

const POLICY: &str = "Custom::SageMakerScalingPolicy";

fn target_props(endpoint: &str, max: u32) -> Value {
    json!({"EndpointName": endpoint, "VariantName": "AllTraffic", "MinCapacity": "1", "MaxCapacity": max.to_string()})
}

fn policy_props(endpoint: &str, repair: bool) -> Value {
    json!({"PolicyName": "invocations", "ScalingTargetId": target_id(endpoint), "RepairDrift": repair.to_string(),
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "70",
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}})
}

/// Someone edits the target and the policy in the console.
async fn console_edit(f: &Function, endpoint: &str, max: i64, target_value: f64) {
    console_edit_target(f, endpoint, max).await;
    let policy = json!({"ServiceNamespace": "sagemaker", "ResourceId": variant(endpoint), "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "PolicyName": "invocations", "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": target_value,
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}});
    assert_eq!(f.emulator.aws("AnyScaleFrontendService", "PutScalingPolicy", policy).await.0, 200);
}

/// Someone edits the target's MaxCapacity in the console.
async fn console_edit_target(f: &Function, endpoint: &str, max: i64) {
    let register = json!({"ServiceNamespace": "sagemaker", "ResourceId": variant(endpoint), "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MaxCapacity": max});
    assert_eq!(f.emulator.aws("AnyScaleFrontendService", "RegisterScalableTarget", register).await.0, 200);
}

async fn target_value(f: &Function, endpoint: &str) -> f64 {
    let state = f.emulator.state().await;
    let policy = state["policies"].as_array().unwrap().iter().find(|p| p["ResourceId"] == variant(endpoint).as_str()).cloned().unwrap();
    policy["TargetTrackingScalingPolicyConfiguration"]["TargetValue"].as_f64().unwrap()
}

/// The `DriftedResources` lines the function printed since `from` (the logs' line count), by resource type.
fn metric_lines(f: &Function, from: usize) -> Vec<Value> {
    f.logs().lines().skip(from).filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok()).filter(|v| v.get("_aws").is_some()).collect()
}

fn drifted(lines: &[Value], resource_type: &str) -> Option<i64> {
    lines.iter().find(|l| l["ResourceType"] == resource_type).and_then(|l| l["DriftedResources"].as_i64())
}

fn scheduled() -> Value {
    json!({"version": "0", "id": "drift-check", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-12-03T09:00:00Z", "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"], "detail": {}})
}

#[tokio::test]
async fn a_console_edit_is_reported_on_update_and_on_the_scheduled_event_and_repaired_only_when_asked() {
    let f = Function::start().await;
    let stack = Stack::new("drift");
    let endpoint = "drift-ep";
    let id = target_id(endpoint);
    assert_eq!(f.send(&stack.create("Target", target_props(endpoint, 4))).await["Status"], "SUCCESS");
    let created = f.send(&stack.event("Create", "Policy", POLICY, policy_props(endpoint, false), None, None)).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let policy_arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();

    // Nothing changed outside: the scheduled event counts nothing.
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    let lines = metric_lines(&f, before);
    assert_eq!(drifted(&lines, "Custom::SageMakerScalableTarget"), Some(0), "{lines:?}\n{}", f.logs());
    assert_eq!(drifted(&lines, "Custom::SageMakerScalingPolicy"), Some(0), "{lines:?}");

    console_edit(&f, endpoint, 9, 40.0).await;

    // While an endpoint operation is under way (unanswered in the journal), its targets may be deregistered on
    // purpose: drift is neither compared nor repaired.
    let busy = json!({"TableName": support::OPERATIONS_TABLE, "Item": {"Id": {"S": "stack|Endpoint|busy"}, "Operation": {"S": "{}"}}});
    assert_eq!(f.emulator.aws("DynamoDB_20120810", "PutItem", busy).await.0, 200);
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    assert!(metric_lines(&f, before).is_empty(), "compared during an endpoint operation\n{}", f.logs());
    assert!(f.logs().lines().skip(before).any(|l| l.contains("endpoint operation is under way")), "{}", f.logs());
    let done = json!({"TableName": support::OPERATIONS_TABLE, "Key": {"Id": {"S": "stack|Endpoint|busy"}}});
    assert_eq!(f.emulator.aws("DynamoDB_20120810", "DeleteItem", done).await.0, 200);

    // The scheduled event reports both, one line per field, and changes nothing (no RepairDrift).
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    let lines = metric_lines(&f, before);
    assert_eq!(drifted(&lines, "Custom::SageMakerScalableTarget"), Some(1), "{lines:?}\n{}", f.logs());
    assert_eq!(drifted(&lines, "Custom::SageMakerScalingPolicy"), Some(1), "{lines:?}");
    assert_eq!(drifted(&lines, "Custom::SageMakerScheduledAction"), Some(0), "{lines:?}");
    let logs: Vec<String> = f.logs().lines().skip(before).map(str::to_owned).collect();
    let warned = |field: &str, applied: &str, found: &str| {
        logs.iter().any(|l| {
            l.contains("WARN")
                && l.contains("drift")
                && l.contains(&format!("field={field}"))
                && l.contains(&format!("applied={applied}"))
                && l.contains(&format!("found={found}"))
        })
    };
    assert!(warned("MaxCapacity", "4", "9"), "{}", logs.join("\n"));
    assert!(warned("TargetTrackingScalingPolicyConfiguration.TargetValue", "70.0", "40.0"), "{}", logs.join("\n"));
    assert_eq!(f.emulator.target(&variant(endpoint)).await.unwrap()["MaxCapacity"], 9, "a report changes nothing");
    assert_eq!(target_value(&f, endpoint).await, 40.0, "a report changes nothing");

    // An Update of the target reports what it finds before it applies (and then applies the template).
    let before = f.logs().lines().count();
    let updated = f.send(&stack.update("Target", &id, target_props(endpoint, 5), target_props(endpoint, 4))).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let all_logs = f.logs();
    let update_logs: Vec<&str> = all_logs.lines().skip(before).collect();
    assert!(
        update_logs
            .iter()
            .any(|l| l.contains("WARN") && l.contains("field=MaxCapacity") && l.contains("applied=4") && l.contains("found=9")),
        "{}",
        update_logs.join("\n")
    );
    assert_eq!(f.emulator.target(&variant(endpoint)).await.unwrap()["MaxCapacity"], 5);

    // RepairDrift on the policy: the scheduled event puts the template's TargetValue back.
    let repaired = f
        .send(&stack.event(
            "Update",
            "Policy",
            POLICY,
            policy_props(endpoint, true),
            Some(&policy_arn),
            Some(policy_props(endpoint, false)),
        ))
        .await;
    assert_eq!(repaired["Status"], "SUCCESS", "{repaired}");
    assert_eq!(target_value(&f, endpoint).await, 70.0, "the Update applied the template");
    console_edit(&f, endpoint, 5, 25.0).await;
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    assert_eq!(target_value(&f, endpoint).await, 70.0, "RepairDrift put the template's value back\n{}", f.logs());
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    assert_eq!(drifted(&metric_lines(&f, before), "Custom::SageMakerScalingPolicy"), Some(0), "repaired: no drift left");

    // A Delete forgets the applied state: the next scheduled event does not count the deleted policy.
    let deleted = f.send(&stack.event("Delete", "Policy", POLICY, policy_props(endpoint, true), Some(&policy_arn), None)).await;
    assert_eq!(deleted["Status"], "SUCCESS");
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    assert_eq!(drifted(&metric_lines(&f, before), "Custom::SageMakerScalingPolicy"), Some(0), "{}", f.logs());
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test]
async fn a_report_that_cannot_be_made_never_fails_the_resource() {
    let f = Function::start().await;
    let stack = Stack::new("drift-faults");
    let endpoint = "drift-faults-ep";
    // The applied state cannot be written: the Create still succeeds.
    f.emulator
        .control_fault(
            json!({"operation": "PutItem", "match": "applied|endpoint/drift-faults-ep", "error": "AccessDeniedException", "message": "no PutItem", "times": 1}),
        )
        .await;
    let created = f.send(&stack.create("Target", target_props(endpoint, 4))).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert!(f.logs().contains("the applied state could not be kept"), "{}", f.logs());
    // The applied state cannot be read before an Update (the journal hangs): the Update still applies, in time.
    assert_eq!(
        f.send(&stack.update("Target", &target_id(endpoint), target_props(endpoint, 5), target_props(endpoint, 4))).await["Status"],
        "SUCCESS"
    );
    f.emulator.hang("GetItem", "applied|endpoint/drift-faults-ep", 30, 20).await;
    let started = std::time::Instant::now();
    let updated = f.send(&stack.update("Target", &target_id(endpoint), target_props(endpoint, 6), target_props(endpoint, 5))).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15), "the report held the Update {:?}", started.elapsed());
    assert_eq!(f.emulator.target(&variant(endpoint)).await.unwrap()["MaxCapacity"], 6);
}

#[tokio::test]
async fn killed_after_the_answer_before_the_applied_state_was_kept_the_retry_keeps_it() {
    let mut f = Function::start().await;
    let stack = Stack::new("drift-crash");
    let endpoint = "drift-crash-ep";
    // The process answers, then hangs on keeping the applied state, and dies there.
    let matching = "applied|endpoint/drift-crash-ep";
    f.emulator.hang("PutItem", matching, 30, 1).await;
    let create = stack.create("Target", target_props(endpoint, 4));
    f.emulator.seed_for(&create.body).await;
    let first = create.json(&f.receiver);
    let reached = f.invoke_until_call(first.clone(), "attempt-1", std::time::Duration::from_secs(20), "PutItem", matching).await;
    assert!(reached, "the process never reached PutItem\n{}", f.logs());
    assert_eq!(f.receiver.seen(&create.name).len(), 1, "answered before the bookkeeping");
    f.crash_and_restart().await;
    // Lambda's retry of the crashed asynchronous event: the same event and request id, a new process.
    f.runtime.invoke_with_id(first, std::time::Duration::from_secs(20), "attempt-1").await;
    let answers = f.receiver.seen(&create.name);
    assert!(answers.iter().all(|a| a.json()["Status"] == "SUCCESS"), "{:?}", answers.iter().map(|a| a.json()).collect::<Vec<_>>());
    // The applied state is kept: a console edit is reported by the next scheduled event.
    console_edit_target(&f, endpoint, 9).await;
    let before = f.logs().lines().count();
    f.runtime.invoke(scheduled(), std::time::Duration::from_secs(20)).await;
    let all_logs = f.logs();
    let mine: Vec<&str> =
        all_logs.lines().skip(before).filter(|l| l.contains("drift-crash-ep") && l.contains("field=MaxCapacity")).collect();
    assert_eq!(mine.len(), 1, "{}", all_logs);
}
