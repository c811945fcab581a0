//! Scale to zero for an asynchronous endpoint's variant, end to end: `ScaleToZero: true` on a variant whose endpoint
//! has an `AsyncInferenceConfig` puts the step policy and the `HasBacklogWithoutCapacity` alarm of SageMaker's guide
//! to autoscaling an asynchronous endpoint, as for inference components; on a real-time variant it is FAILED before
//! anything is registered.

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Function, Stack, target_id, variant};

fn props(endpoint: &str, zero: bool, max: u32) -> Value {
    json!({"EndpointName": endpoint, "VariantName": "AllTraffic", "MinCapacity": "0", "MaxCapacity": max.to_string(), "ScaleToZero": zero.to_string()})
}

fn alarm_name(endpoint: &str) -> String {
    format!("{endpoint}-AllTraffic-scale-out-from-zero")
}

async fn policies(f: &Function, endpoint: &str) -> Vec<Value> {
    let state = f.emulator.state().await;
    state["policies"].as_array().unwrap().iter().filter(|p| p["ResourceId"] == variant(endpoint).as_str()).cloned().collect()
}

async fn asynchronous(f: &Function, endpoint: &str) {
    f.emulator
        .sagemaker(json!({"kind": "endpoint", "name": endpoint, "async": true, "variants": [{"name": "AllTraffic", "instances": 1}]}))
        .await;
}

#[tokio::test]
async fn an_asynchronous_variant_gets_the_backlog_alarm_and_policy_and_they_follow_the_template() {
    let f = Function::start().await;
    let stack = Stack::new("async-zero");
    let endpoint = "async-zero-ep";
    asynchronous(&f, endpoint).await;
    let body = f.send(&stack.create("Queue", props(endpoint, true, 4))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let target = f.emulator.target(&variant(endpoint)).await.expect("registered");
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(0), Some(4)));
    let stored = policies(&f, endpoint).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let policy = &stored[0];
    assert_eq!(policy["PolicyName"], alarm_name(endpoint));
    let config = &policy["StepScalingPolicyConfiguration"];
    assert_eq!(
        (&config["AdjustmentType"], &config["MetricAggregationType"], &config["Cooldown"]),
        (&json!("ChangeInCapacity"), &json!("Average"), &json!(300))
    );
    assert_eq!(config["StepAdjustments"], json!([{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]));
    let alarm = f.emulator.alarm_state(&alarm_name(endpoint)).await.expect("the alarm");
    assert_eq!((&alarm["Namespace"], &alarm["MetricName"]), (&json!("AWS/SageMaker"), &json!("HasBacklogWithoutCapacity")));
    assert_eq!(alarm["Dimensions"], json!([{"Name": "EndpointName", "Value": endpoint}]));
    assert_eq!((&alarm["Statistic"], &alarm["Period"]), (&json!("Average"), &json!(60)));
    assert_eq!((&alarm["EvaluationPeriods"], &alarm["DatapointsToAlarm"]), (&json!(2), &json!(2)));
    assert_eq!((&alarm["Threshold"], &alarm["ComparisonOperator"]), (&json!(1.0), &json!("GreaterThanOrEqualToThreshold")));
    assert_eq!(alarm["AlarmActions"], json!([policy["PolicyARN"]]), "the alarm's action is the policy");
    assert_eq!(alarm["Tags"]["cfn-sagemaker-autoscaling:logical-id"], "Queue");
    assert_eq!(body["Data"]["ScaleOutFromZeroAlarmName"], alarm_name(endpoint).as_str());

    // Update: a new MaxCapacity keeps the pair; ScaleToZero false removes it; true again puts it back.
    let id = target_id(endpoint);
    let wider = f.send(&stack.update("Queue", &id, props(endpoint, true, 8), props(endpoint, true, 4))).await;
    assert_eq!(wider["Status"], "SUCCESS", "{wider}");
    assert_eq!(policies(&f, endpoint).await.len(), 1);
    assert!(f.emulator.alarm_state(&alarm_name(endpoint)).await.is_some());
    let off = f.send(&stack.update("Queue", &id, props(endpoint, false, 8), props(endpoint, true, 8))).await;
    assert_eq!(off["Status"], "SUCCESS", "{off}");
    assert!(f.emulator.alarm_state(&alarm_name(endpoint)).await.is_none(), "the alarm is still there");
    assert!(policies(&f, endpoint).await.is_empty(), "the step policy is still there");
    let on = f.send(&stack.update("Queue", &id, props(endpoint, true, 8), props(endpoint, false, 8))).await;
    assert_eq!(on["Status"], "SUCCESS", "{on}");
    assert!(f.emulator.alarm_state(&alarm_name(endpoint)).await.is_some());

    // Delete: the target, its policy and the alarm go.
    let gone = f.send(&stack.delete("Queue", &id, props(endpoint, true, 8))).await;
    assert_eq!(gone["Status"], "SUCCESS", "{gone}");
    assert!(f.emulator.alarm_state(&alarm_name(endpoint)).await.is_none(), "the alarm outlived its target");
    assert!(f.emulator.target(&variant(endpoint)).await.is_none());
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "{errors:#?}");
}

#[tokio::test]
async fn a_real_time_variant_is_refused_before_anything_is_registered() {
    let f = Function::start().await;
    let stack = Stack::new("realtime-zero");
    let endpoint = "realtime-zero-ep";
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": endpoint, "variants": [{"name": "AllTraffic", "instances": 1}]})).await;
    let body = f.send(&stack.create("Queue", props(endpoint, true, 4))).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.starts_with("ScaleToZero on variant AllTraffic of endpoint realtime-zero-ep: the endpoint is real-time"), "{reason}");
    assert!(reason.contains("inference components"), "{reason}");
    assert!(f.emulator.calls(&variant(endpoint)).await.is_empty(), "no Application Auto Scaling call at all");
    assert!(f.emulator.alarm_state(&alarm_name(endpoint)).await.is_none());
}
