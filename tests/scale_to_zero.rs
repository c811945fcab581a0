//! Scale to zero for inference components, end to end: the step policy and the CloudWatch alarm appear with
//! the target, exactly as the contract lists their parameters, follow the template on Update, go on Delete,
//! and an alarm of that name that is not this resource's is never touched.

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Function, Stack};

const DIMENSION: &str = "sagemaker:inference-component:DesiredCopyCount";

fn props(component: &str, zero: bool) -> Value {
    json!({"InferenceComponentName": component, "MinCapacity": "0", "MaxCapacity": "4", "ScaleToZero": zero.to_string()})
}

fn target_id(component: &str) -> String {
    format!("inference-component/{component}|{DIMENSION}|sagemaker")
}

fn alarm_name(component: &str) -> String {
    format!("{component}-scale-out-from-zero")
}

async fn policies(f: &Function, component: &str) -> Vec<Value> {
    let state = f.emulator.state().await;
    let resource = format!("inference-component/{component}");
    state["policies"].as_array().unwrap().iter().filter(|p| p["ResourceId"] == resource.as_str()).cloned().collect()
}

#[tokio::test]
async fn create_puts_the_step_policy_and_the_alarm_exactly_and_a_duplicate_changes_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("zero");
    let event = stack.create("Llm", props("stz-create", true));
    let body = f.send(&event).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let stored = policies(&f, "stz-create").await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let policy = &stored[0];
    assert_eq!(policy["PolicyName"], alarm_name("stz-create"));
    assert_eq!(policy["PolicyType"], "StepScaling");
    let config = &policy["StepScalingPolicyConfiguration"];
    assert_eq!(config["AdjustmentType"], "ChangeInCapacity");
    assert_eq!(config["MetricAggregationType"], "Maximum");
    assert_eq!(config["Cooldown"], 60);
    assert_eq!(config["StepAdjustments"], json!([{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}]));
    assert_eq!(body["Data"]["ScaleOutFromZeroPolicyARN"], policy["PolicyARN"]);
    assert_eq!(body["Data"]["ScaleOutFromZeroAlarmName"], alarm_name("stz-create").as_str());

    let alarm = f.emulator.alarm_state(&alarm_name("stz-create")).await.expect("the alarm");
    assert_eq!(alarm["Namespace"], "AWS/SageMaker");
    assert_eq!(alarm["MetricName"], "NoCapacityInvocationFailures");
    assert_eq!(alarm["Dimensions"], json!([{"Name": "InferenceComponentName", "Value": "stz-create"}]));
    assert_eq!((&alarm["Statistic"], &alarm["Period"]), (&json!("Maximum"), &json!(30)));
    assert_eq!((&alarm["EvaluationPeriods"], &alarm["DatapointsToAlarm"]), (&json!(1), &json!(1)));
    assert_eq!((&alarm["Threshold"], &alarm["ComparisonOperator"]), (&json!(1.0), &json!("GreaterThanOrEqualToThreshold")));
    assert_eq!(alarm["TreatMissingData"], "missing");
    assert_eq!(alarm["AlarmActions"], json!([policy["PolicyARN"]]), "the alarm's action is the policy");
    assert_eq!(alarm["Tags"]["cfn-sagemaker-autoscaling:logical-id"], "Llm");
    assert_eq!(alarm["Tags"]["cfn-sagemaker-autoscaling:stack-id"], stack.id.as_str());

    let again = f.send(&stack.create("Llm", props("stz-create", true))).await;
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    assert_eq!(again["Data"]["ScaleOutFromZeroPolicyARN"], policy["PolicyARN"], "a duplicate keeps the policy");
    assert_eq!(policies(&f, "stz-create").await.len(), 1);
    assert_eq!(f.emulator.alarm_state(&alarm_name("stz-create")).await.unwrap()["AlarmActions"], json!([policy["PolicyARN"]]));
}

#[tokio::test]
async fn update_turns_the_pair_off_and_on_and_delete_removes_it() {
    let f = Function::start().await;
    let stack = Stack::new("zero");
    let name = alarm_name("stz-update");
    assert_eq!(f.send(&stack.create("Llm", props("stz-update", true))).await["Status"], "SUCCESS");
    let off = f.send(&stack.update("Llm", &target_id("stz-update"), props("stz-update", false), props("stz-update", true))).await;
    assert_eq!(off["Status"], "SUCCESS", "{off}");
    assert!(off["Data"].get("ScaleOutFromZeroAlarmName").is_none());
    assert!(f.emulator.alarm_state(&name).await.is_none(), "the alarm is still there");
    assert!(policies(&f, "stz-update").await.is_empty(), "the step policy is still there");
    assert!(f.emulator.target("inference-component/stz-update").await.is_some());

    let mut removed = props("stz-update", false);
    removed.as_object_mut().unwrap().remove("ScaleToZero");
    let on = f.send(&stack.update("Llm", &target_id("stz-update"), props("stz-update", true), removed)).await;
    assert_eq!(on["Status"], "SUCCESS", "{on}");
    assert!(f.emulator.alarm_state(&name).await.is_some());
    assert_eq!(policies(&f, "stz-update").await.len(), 1);

    // Delete removes the alarm whatever the properties say; the policy goes with the target.
    let gone = f.send(&stack.delete("Llm", &target_id("stz-update"), json!({}))).await;
    assert_eq!(gone["Status"], "SUCCESS", "{gone}");
    assert!(f.emulator.alarm_state(&name).await.is_none(), "the alarm outlived its target");
    assert!(policies(&f, "stz-update").await.is_empty());
    assert!(f.emulator.target("inference-component/stz-update").await.is_none());
}

#[tokio::test]
async fn an_alarm_that_is_not_this_resources_is_never_touched() {
    let f = Function::start().await;
    let stack = Stack::new("zero");
    let other = json!({"cfn-sagemaker-autoscaling:stack-id": "arn:aws:cloudformation:us-east-1:123456789012:stack/other/1", "cfn-sagemaker-autoscaling:logical-id": "Theirs"});
    for (component, tags, expected) in [
        ("stz-foreign", other, "owned by Theirs in stack arn:aws:cloudformation:us-east-1:123456789012:stack/other/1"),
        ("stz-untagged", json!({"team": "ml"}), "made outside this function"),
    ] {
        let name = alarm_name(component);
        f.emulator.alarm(&name, tags.clone()).await;
        let mut adopt = props(component, true);
        adopt["AdoptExisting"] = json!("true");
        for properties in [props(component, true), adopt] {
            let body = f.send(&stack.create("Llm", properties)).await;
            assert_eq!(body["Status"], "FAILED", "{body}");
            let reason = body["Reason"].as_str().unwrap();
            assert!(reason.starts_with(&format!("CloudWatch alarm {name} already exists, {expected}")), "{reason}");
        }
        assert!(f.emulator.target(&format!("inference-component/{component}")).await.is_none(), "registered anyway");
        assert_eq!(f.emulator.alarm_writes(&name).await, Vec::<String>::new(), "the alarm was written");
        assert_eq!(f.emulator.alarm_state(&name).await.unwrap()["Tags"], tags);
        // Nor does a Delete of a target of that name remove it.
        let delete = f.send(&stack.delete("Llm", &target_id(component), json!({}))).await;
        assert_eq!(delete["Status"], "SUCCESS");
        assert!(f.emulator.alarm_state(&name).await.is_some(), "a Delete removed a foreign alarm");
    }
}

#[tokio::test]
async fn scale_to_zero_needs_min_capacity_zero_and_an_inference_component() {
    let f = Function::start().await;
    let stack = Stack::new("zero");
    let mut one = props("stz-min", true);
    one["MinCapacity"] = json!("1");
    let body = f.send(&stack.create("Llm", one)).await;
    assert_eq!(body["Status"], "FAILED");
    assert_eq!(body["Reason"], "ScaleToZero needs MinCapacity 0, got MinCapacity 1");
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "stz-e", "variants": [{"name": "AllTraffic", "instances": 1}]})).await;
    let variant = json!({"ResourceId": "endpoint/stz-e/variant/AllTraffic", "MinCapacity": "0", "MaxCapacity": "2", "ScaleToZero": true});
    let body = f.send(&stack.create("Variant", variant)).await;
    assert_eq!(body["Status"], "FAILED");
    // A real-time endpoint's variant (the fixture's): SageMaker scales those to zero only as inference components.
    assert!(body["Reason"].as_str().unwrap().contains("the endpoint is real-time"), "{body}");
    assert!(f.emulator.target("endpoint/stz-e/variant/AllTraffic").await.is_none());
    assert!(f.emulator.target("inference-component/stz-min").await.is_none());
    assert!(f.emulator.alarm_state(&alarm_name("stz-min")).await.is_none());
}
