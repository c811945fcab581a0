//! Endpoint operations that cannot lose a setting, against what Lambda does to invocations: the real bootstrap
//! killed (SIGKILL) at each step boundary of an instance-type change and the same event delivered again with the
//! same request id to a new process (Lambda's retry); each hand-over dropped once (the scheduled reconcile takes
//! the operation up) or delivered twice; the same CloudFormation event in two sandboxes at once. Every cell: one
//! answer, the auto scaling exactly as saved, the step alarm pointing at the current policy, the capacity back.
//! And what AWS does mid-update: every page of policies and actions, a MinCapacity above the new fleet.

use std::time::Duration;

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::Function;
use support::endpoints::*;

/// The scheduled reconcile's event, as EventBridge delivers it.
fn scheduled() -> Value {
    json!({"version": "0", "id": "53dc4d37", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2026-12-03T08:00:00Z", "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"], "detail": {}})
}

/// A step policy's alarm (as a user's template would make it) firing the `latency-steps` policy of variant a.
async fn step_alarm(f: &Function, name: &str) -> String {
    let policies = f.emulator.state().await["policies"].as_array().unwrap().clone();
    let step = policies.iter().find(|p| p["ResourceId"] == variant_id(name, "a") && p["PolicyName"] == "latency-steps").unwrap();
    let arn = step["PolicyARN"].as_str().unwrap().to_owned();
    let alarm = json!({"AlarmName": format!("{name}-latency"), "MetricName": "ModelLatency", "Namespace": "AWS/SageMaker",
        "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1, "Threshold": 500000.0, "ComparisonOperator": "GreaterThanThreshold",
        "Dimensions": [{"Name": "EndpointName", "Value": name}], "AlarmActions": [arn]});
    let (status, answer) = f.emulator.aws("GraniteServiceVersion20100801", "PutMetricAlarm", alarm).await;
    assert_eq!(status, 200, "{answer}");
    arn
}

/// The alarm's actions name the step policy as it is now (its ARN changes when it is put back).
async fn alarm_fires_current_policy(f: &Function, name: &str) {
    let state = f.emulator.state().await;
    let policy = state["policies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["ResourceId"] == variant_id(name, "a") && p["PolicyName"] == "latency-steps")
        .cloned();
    let policy = policy.expect("the step policy is back");
    let alarm =
        state["alarms"].as_array().unwrap().iter().find(|a| a["AlarmName"] == format!("{name}-latency")).cloned().expect("the alarm");
    assert_eq!(alarm["AlarmActions"], json!([policy["PolicyARN"]]), "the alarm fires the re-created policy");
}

/// Delivers every queued hand-over (each `copies` times, in order) until the event's answer arrives.
async fn until_answered(f: &Function, name: &str, copies: usize) -> Vec<Value> {
    for _ in 0..30 {
        let puts = f.receiver.seen(name);
        if !puts.is_empty() {
            return puts.iter().map(|p| p.json()).collect();
        }
        for handed in f.emulator.invocations().await {
            for _ in 0..copies {
                f.deliver(&handed, PER_INVOCATION).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{name}: no answer\n{}", f.logs());
}

/// What every cell must end with: one answer (a repeated send is the same body), SUCCESS, the auto scaling as
/// saved, the alarm on the current policy, the capacity set back, every request as botocore's models have it.
async fn everything_kept(f: &Function, name: &str, answers: &[Value], before: &Value) {
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "one answer, however often sent: {answers:#?}");
    assert_eq!(answers[0]["Status"], "SUCCESS", "{}\n{}", answers[0], f.logs());
    assert_eq!(&scaling_of(f, &variant_id(name, "a")).await, before, "{}", f.logs());
    alarm_fires_current_policy(f, name).await;
    assert_eq!(capacity(f, name, "a").await, 3, "the scaled capacity");
    no_model_errors(f).await;
}

/// The fault at a step boundary: the process hangs on the call that follows the step (matched in its body),
/// then it is killed.
struct Boundary {
    label: &'static str,
    operation: &'static str,
    matching: &'static str,
}

async fn crash_at(boundary: Boundary) {
    let name = format!("crash-{}", boundary.label);
    let (mut f, stack) = setup(&format!("crash{}", boundary.label), &name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, &name).await;
    step_alarm(&f, &name).await;
    // A journal write is told by what it sets and by this test's own key (the emulator is shared).
    let key = format!(r#"}},"Key":{{"Id":{{"S":"{}"#, stack.id);
    let matching = boundary.matching.replace("<key>", &key);
    let matching = matching.as_str();
    f.emulator.hang(boundary.operation, matching, 30, 1).await;
    let update = endpoint_update(&stack, &name, &arn, &format!("{name}-c1"), endpoint_props(&name, &format!("{name}-c2")));
    let first = update.json(&f.receiver);
    let invoked = f.invoke_until_call(first.clone(), "attempt-1", PER_INVOCATION * 2, boundary.operation, matching).await;
    assert!(invoked, "{}: the process never reached {}\n{}", boundary.label, boundary.operation, f.logs());
    f.crash_and_restart().await;
    // Lambda's retry of the crashed asynchronous event: the same event, the same request id, a new process.
    f.runtime.invoke_with_id(first, PER_INVOCATION, "attempt-1").await;
    let answers = until_answered(&f, &update.name, 1).await;
    everything_kept(&f, &name, &answers, &before).await;
    let updates = f.emulator.sagemaker_calls(&name).await.iter().filter(|op| *op == "UpdateEndpoint").count();
    // The call the process hung on never reached SageMaker (the emulator records it, then fails it).
    let hung = usize::from(boundary.operation == "UpdateEndpoint");
    assert_eq!(updates - hung, 1, "{}: one rollout of the new configuration", boundary.label);
}

#[tokio::test]
async fn killed_after_saving_the_retry_deregisters_and_goes_on() {
    crash_at(Boundary { label: "saved", operation: "DeregisterScalableTarget", matching: "crash-saved/variant/a" }).await;
}

#[tokio::test]
async fn killed_after_deregistering_the_retry_updates_and_restores() {
    crash_at(Boundary { label: "deregistered", operation: "UpdateEndpoint", matching: "crash-deregistered" }).await;
}

#[tokio::test]
async fn killed_after_update_endpoint_was_accepted_the_retry_waits_for_it() {
    crash_at(Boundary { label: "updated", operation: "UpdateItem", matching: r#"":step":{"S":"Waiting"}<key>"# }).await;
}

#[tokio::test]
async fn killed_while_restoring_the_retry_restores_once() {
    crash_at(Boundary { label: "restoring", operation: "PutScheduledAction", matching: "crash-restoring" }).await;
}

#[tokio::test]
async fn killed_after_restoring_the_retry_sets_the_capacity_and_answers() {
    crash_at(Boundary { label: "restored", operation: "UpdateItem", matching: r#"":step":{"S":"Answering"}<key>"# }).await;
}

#[tokio::test]
async fn killed_after_the_answer_was_recorded_the_retry_sends_the_same_answer() {
    crash_at(Boundary { label: "answered", operation: "UpdateItem", matching: r#"":zero":{"N":"0"}<key>"# }).await;
}

#[tokio::test]
async fn a_dropped_hand_over_is_taken_up_by_the_scheduled_reconcile_and_duplicates_do_nothing() {
    let name = "dropped-ep";
    let (f, stack) = setup("dropped", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    step_alarm(&f, name).await;
    f.emulator.timing_of(name, 1.0, 8.0, 1.0).await;
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), endpoint_props(name, &format!("{name}-c2")));
    f.runtime.invoke(update.json(&f.receiver), Duration::from_secs(5)).await;
    let dropped = f.emulator.invocations().await;
    assert_eq!(dropped.len(), 1, "one hand-over queued: {dropped:?}\n{}", f.logs());
    // Lambda drops it. Within the hand-over's grace the reconcile leaves the operation alone...
    f.runtime.invoke(scheduled(), Duration::from_secs(5)).await;
    assert!(f.emulator.invocations().await.is_empty() && f.receiver.seen(&update.name).is_empty(), "{}", f.logs());
    // ...after it, the reconcile takes it up.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    f.runtime.invoke(scheduled(), Duration::from_secs(5)).await;
    assert!(f.logs().contains("taking up the operations whose lease ran out open=1"), "{}", f.logs());
    // Every later hand-over is delivered twice; the stale first one arrives late as well.
    f.deliver(&dropped[0], PER_INVOCATION).await;
    let answers = until_answered(&f, &update.name, 2).await;
    everything_kept(&f, name, &answers, &before).await;
    let deregistered = f.emulator.mutations(&variant_id(name, "a")).await.iter().filter(|op| *op == "DeregisterScalableTarget").count();
    assert_eq!(deregistered, 1);
    // The reconcile of an answered operation does nothing.
    let calls = f.emulator.sagemaker_calls(name).await.len();
    f.runtime.invoke(scheduled(), Duration::from_secs(5)).await;
    assert_eq!(f.emulator.sagemaker_calls(name).await.len(), calls, "nothing open, nothing called");
    assert_eq!(f.receiver.seen(&update.name).len(), answers.len(), "no second answer");
}

#[tokio::test]
async fn the_same_event_in_two_sandboxes_at_once_gets_one_answer_and_one_update() {
    let name = "twice-ep";
    let (mut f, stack) = setup("twice", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    step_alarm(&f, name).await;
    f.add_process();
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), endpoint_props(name, &format!("{name}-c2")));
    let event = update.json(&f.receiver);
    let (one, two) = tokio::join!(f.runtime.invoke(event.clone(), PER_INVOCATION), f.runtime.invoke(event, PER_INVOCATION));
    assert!(matches!(one, support::Outcome::Response(_)) && matches!(two, support::Outcome::Response(_)), "{one:?} {two:?}");
    let answers = until_answered(&f, &update.name, 1).await;
    assert_eq!(answers.len(), 1, "{answers:#?}");
    everything_kept(&f, name, &answers, &before).await;
    assert_eq!(f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count(), 1);
}

#[tokio::test]
async fn every_page_of_policies_and_actions_comes_back_and_the_old_policy_arn_still_deletes_its_policy() {
    let name = "pages-ep";
    let (f, stack) = setup("pages", name).await;
    let (arn, _) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    for i in 0..12 {
        let policy = json!({"PolicyName": format!("p{i:02}"), "ServiceNamespace": "sagemaker", "ResourceId": variant_id(name, "a"), "ScalableDimension": DIM,
            "PolicyType": "TargetTrackingScaling", "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 10.0 + f64::from(i),
            "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}});
        assert_eq!(f.emulator.aws("AnyScaleFrontendService", "PutScalingPolicy", policy).await.0, 200);
    }
    for i in 0..60 {
        let action = json!({"ScheduledActionName": format!("a{i:02}"), "ServiceNamespace": "sagemaker", "ResourceId": variant_id(name, "a"),
            "ScalableDimension": DIM, "Schedule": format!("cron({i} 6 * * ? *)"), "ScalableTargetAction": {"MinCapacity": 1}});
        assert_eq!(f.emulator.aws("AnyScaleFrontendService", "PutScheduledAction", action).await.0, 200);
    }
    let step = step_alarm(&f, name).await;
    let before = scaling_of(&f, &variant_id(name, "a")).await;
    assert_eq!((before["policies"].as_array().unwrap().len(), before["actions"].as_array().unwrap().len()), (15, 61));
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}\n{}", f.logs());
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "every page is saved and restored");
    alarm_fires_current_policy(&f, name).await;

    // The step policy's resource still has the old ARN as its physical id: its Delete removes the re-created one.
    let delete = stack.event("Delete", "Step", POLICY, json!({}), Some(&step), None);
    assert_eq!(f.send(&delete).await["Status"], "SUCCESS");
    let policies = f.emulator.state().await["policies"].as_array().unwrap().clone();
    let left = policies.iter().filter(|p| p["PolicyName"] == "latency-steps" && p["ResourceId"] == variant_id(name, "a")).count();
    assert_eq!(left, 0, "the policy put back by the update is this resource's\n{}", f.logs());
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_min_capacity_above_the_new_fleet_is_a_wait_and_each_variant_gets_its_own_count_back() {
    let name = "capa-ep";
    let (f, stack) = setup("capa", name).await;
    let arn = endpoint(&f, &stack, name).await;
    for (variant, min, count) in [("a", 2, 4), ("b", 1, 3)] {
        let target = json!({"EndpointName": name, "VariantName": variant, "MinCapacity": min.to_string(), "MaxCapacity": "5"});
        assert_eq!(f.send(&stack.create(&format!("Target{variant}"), target)).await["Status"], "SUCCESS");
        in_service(&f, name).await;
        let scaled =
            json!({"EndpointName": name, "DesiredWeightsAndCapacities": [{"VariantName": variant, "DesiredInstanceCount": count}]});
        assert_eq!(f.emulator.aws("SageMaker", "UpdateEndpointWeightsAndCapacities", scaled).await.0, 200);
        in_service(&f, name).await;
    }
    f.emulator
        .endpoint_config(&format!("{name}-c2"), json!([{"name": "a", "instance_type": "ml.g4dn.xlarge", "instances": 1}, {"name": "b", "instance_type": "ml.g4dn.xlarge", "instances": 1}]))
        .await;
    // The template asks for the new configuration's own counts: the new fleet starts at 1 per variant.
    let mut props = endpoint_props(name, &format!("{name}-c2"));
    props["RetainAllVariantProperties"] = json!("false");
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), props);
    let (body, _) = f.send_long(&update, PER_INVOCATION, 10).await;
    assert_eq!(body["Status"], "SUCCESS", "a successful update is never FAILED for its capacity: {body}\n{}", f.logs());
    assert_eq!(body["Data"]["CapacityNotRestored"], "", "{body}");
    in_service(&f, name).await;
    assert_eq!((capacity(&f, name, "a").await, capacity(&f, name, "b").await), (json!(4), json!(3)), "each its own count\n{}", f.logs());
    assert!(
        f.logs().contains("Cannot update in-progress endpoint") || f.logs().contains("status=Updating"),
        "the capacity waited\n{}",
        f.logs()
    );
    no_model_errors(&f).await;
}
