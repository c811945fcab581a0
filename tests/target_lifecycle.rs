//! End-to-end: the compiled bootstrap, driven through a loopback Runtime API, against the emulator.
//! Every lifecycle of `Custom::SageMakerScalableTarget` in the contract.

use cfn_sma_testkit as support;

use serde_json::{Value, json};
use support::{Function, SIGNATURE, Stack, TARGET, VARIANT_DIM, target_id, variant};

const OWNER_STACK: &str = "cfn-sagemaker-autoscaling:stack-id";
const OWNER_LOGICAL: &str = "cfn-sagemaker-autoscaling:logical-id";

fn props(endpoint: &str, min: Value, max: Value) -> Value {
    json!({"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f", "ResourceId": variant(endpoint), "MinCapacity": min, "MaxCapacity": max})
}

#[tokio::test]
async fn create_registers_tags_and_answers_with_the_contract_response() {
    let f = Function::start().await;
    let stack = Stack::new("create");
    let event = stack.create(
        "Target",
        json!({
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:f",
            "ServiceTimeout": "300",
            "EndpointName": "e2e-create", "VariantName": "AllTraffic",
            "MinCapacity": "1", "MaxCapacity": "4",
            "Tags": [{"Key": "team", "Value": "ml"}]
        }),
    );
    let body = f.send(&event).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], target_id("e2e-create"));
    assert_eq!(body["StackId"], stack.id.as_str());
    assert_eq!(body["LogicalResourceId"], "Target");
    assert_eq!(body["RequestId"], event.body["RequestId"]);
    assert_eq!(body["NoEcho"], false);
    let data = &body["Data"];
    assert_eq!(data["ResourceId"], variant("e2e-create"));
    assert_eq!(data["ScalableDimension"], VARIANT_DIM);
    assert_eq!(data["ServiceNamespace"], "sagemaker");
    assert_eq!((data["MinCapacity"].as_str(), data["MaxCapacity"].as_str()), (Some("1"), Some("4")));
    assert!(data["ScalableTargetARN"].as_str().unwrap().starts_with("arn:aws:application-autoscaling:us-east-1:"));

    let put = &f.receiver.seen(&event.name)[0];
    assert_eq!(put.method, "PUT");
    assert!(put.headers.get("content-type").is_none_or(|v| v.is_empty()), "{:?}", put.headers);
    assert_eq!(put.headers["content-length"], put.body.len().to_string());
    assert!(put.query.contains(SIGNATURE));

    let target = f.emulator.target(&variant("e2e-create")).await.expect("registered");
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(1), Some(4)));
    assert_eq!(target["Tags"]["team"], "ml");
    assert_eq!(target["Tags"][OWNER_STACK], stack.id.as_str());
    assert_eq!(target["Tags"][OWNER_LOGICAL], "Target");
    assert_eq!(
        f.emulator.calls(&variant("e2e-create")).await.last().map(String::as_str),
        Some("DescribeScalableTargets"),
        "confirmed by a Describe"
    );
    assert!(!f.logs().contains("SECRETSIGNATURE"), "the presigned signature leaked into the logs");
}

#[tokio::test]
async fn a_duplicate_create_succeeds_again_with_the_same_outcome() {
    let f = Function::start().await;
    let stack = Stack::new("dup");
    // Min 1: the endpoint's one instance is in range, so registering does not update it (AWS would, for Min 2).
    let first = stack.create("Target", props("e2e-dup", json!(1), json!(3)));
    let mut again = first.clone();
    again.name = format!("{}-again", first.name);
    let a = f.send(&first).await;
    let b = f.send(&again).await;
    assert_eq!(a["Status"], "SUCCESS");
    assert_eq!(b["Status"], "SUCCESS", "{b}");
    assert_eq!(a["PhysicalResourceId"], b["PhysicalResourceId"]);
    assert_eq!(a["Data"], b["Data"]);
}

#[tokio::test]
async fn update_in_place_keeps_the_id_and_applies_values_and_tags() {
    let f = Function::start().await;
    let stack = Stack::new("update");
    let mut old = props("e2e-update", json!("1"), json!("2"));
    old["Tags"] = json!([{"Key": "keep", "Value": "1"}, {"Key": "change", "Value": "old"}, {"Key": "drop", "Value": "x"}]);
    assert_eq!(f.send(&stack.create("Target", old.clone())).await["Status"], "SUCCESS");
    let mut new = props("e2e-update", json!(3), json!(8));
    new["Tags"] = json!([{"Key": "keep", "Value": "1"}, {"Key": "change", "Value": "new"}, {"Key": "add", "Value": "y"}]);
    let body = f.send(&stack.update("Target", &target_id("e2e-update"), new, old)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], target_id("e2e-update"));
    assert_eq!(body["Data"]["MinCapacity"], "3");
    let target = f.emulator.target(&variant("e2e-update")).await.unwrap();
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(3), Some(8)));
    let tags = target["Tags"].as_object().unwrap();
    let mut keys: Vec<&str> = tags.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["add", "cfn-sagemaker-autoscaling:logical-id", "cfn-sagemaker-autoscaling:stack-id", "change", "keep"]);
    assert_eq!(tags["change"], "new");
    let ops = f.emulator.mutations(&variant("e2e-update")).await;
    assert_eq!(ops, ["RegisterScalableTarget", "RegisterScalableTarget", "TagResource", "UntagResource"]);
}

#[tokio::test]
async fn suspended_state_set_then_removed_resets_the_flags() {
    let f = Function::start().await;
    let stack = Stack::new("suspend");
    let plain = props("e2e-suspend", json!(1), json!(2));
    let mut suspended = plain.clone();
    suspended["SuspendedState"] = json!({"DynamicScalingInSuspended": "true", "ScheduledScalingSuspended": true});
    assert_eq!(f.send(&stack.create("Target", plain.clone())).await["Status"], "SUCCESS");
    assert_eq!(f.send(&stack.update("Target", &target_id("e2e-suspend"), suspended.clone(), plain.clone())).await["Status"], "SUCCESS");
    let state = f.emulator.target(&variant("e2e-suspend")).await.unwrap()["SuspendedState"].clone();
    assert_eq!(state, json!({"DynamicScalingInSuspended": true, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": true}));
    assert_eq!(f.send(&stack.update("Target", &target_id("e2e-suspend"), plain, suspended)).await["Status"], "SUCCESS");
    let state = f.emulator.target(&variant("e2e-suspend")).await.unwrap()["SuspendedState"].clone();
    assert_eq!(state, json!({"DynamicScalingInSuspended": false, "DynamicScalingOutSuspended": false, "ScheduledScalingSuspended": false}));
}

#[tokio::test]
async fn a_failed_update_then_its_rollback_restores_the_old_values() {
    let f = Function::start().await;
    let stack = Stack::new("rollback");
    let good = props("e2e-rollback", json!(2), json!(5));
    let bad = props("e2e-rollback", json!(6), json!(5));
    assert_eq!(f.send(&stack.create("Target", good.clone())).await["Status"], "SUCCESS");
    let failed = f.send(&stack.update("Target", &target_id("e2e-rollback"), bad.clone(), good.clone())).await;
    assert_eq!(failed["Status"], "FAILED");
    assert_eq!(failed["PhysicalResourceId"], target_id("e2e-rollback"), "a failed update echoes the request's id");
    assert!(failed["Reason"].as_str().unwrap().starts_with("MinCapacity 6 is greater than MaxCapacity 5"), "{failed}");
    // CloudFormation's rollback: the old properties come back as the new ones.
    let rollback = f.send(&stack.update("Target", &target_id("e2e-rollback"), good, bad)).await;
    assert_eq!(rollback["Status"], "SUCCESS", "{rollback}");
    let target = f.emulator.target(&variant("e2e-rollback")).await.unwrap();
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(2), Some(5)));
}

#[tokio::test]
async fn replacement_returns_a_new_id_and_the_cleanup_delete_removes_only_the_old_target() {
    let f = Function::start().await;
    let stack = Stack::new("replace");
    let old = props("e2e-replace-old", json!(1), json!(2));
    let new = props("e2e-replace-new", json!(1), json!(3));
    assert_eq!(f.send(&stack.create("Target", old.clone())).await["Status"], "SUCCESS");
    let body = f.send(&stack.update("Target", &target_id("e2e-replace-old"), new.clone(), old.clone())).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], target_id("e2e-replace-new"));
    assert!(f.emulator.target(&variant("e2e-replace-old")).await.is_some(), "the old target stays until the cleanup Delete");
    let cleanup = f.send(&stack.delete("Target", &target_id("e2e-replace-old"), old)).await;
    assert_eq!(cleanup["Status"], "SUCCESS");
    assert_eq!(cleanup["PhysicalResourceId"], target_id("e2e-replace-old"));
    assert!(f.emulator.target(&variant("e2e-replace-old")).await.is_none());
    assert!(f.emulator.target(&variant("e2e-replace-new")).await.is_some());
}

#[tokio::test]
async fn delete_ignores_unreadable_properties_and_a_target_already_gone() {
    let f = Function::start().await;
    let stack = Stack::new("delete");
    assert_eq!(f.send(&stack.create("Target", props("e2e-delete", json!(1), json!(2)))).await["Status"], "SUCCESS");
    let body = f.send(&stack.delete("Target", &target_id("e2e-delete"), json!({"MinCapacity": "abc", "Bogus": [1]}))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["PhysicalResourceId"], target_id("e2e-delete"));
    assert!(f.emulator.target(&variant("e2e-delete")).await.is_none());
    let again = f.send(&stack.delete("Target", &target_id("e2e-delete"), json!("garbage"))).await;
    assert_eq!(again["Status"], "SUCCESS", "{again}");
    assert_eq!(f.emulator.mutations(&variant("e2e-delete")).await, ["RegisterScalableTarget", "DeregisterScalableTarget"]);
}

#[tokio::test]
async fn invalid_creates_fail_by_name_and_their_rollback_deletes_touch_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("invalid");
    let cases: [(&str, Value, &str); 7] = [
        ("e2e-inv-minmax", props("e2e-inv-minmax", json!(5), json!(2)), "MinCapacity 5 is greater than MaxCapacity 2"),
        ("e2e-inv-abc", props("e2e-inv-abc", json!("abc"), json!(2)), "MinCapacity must be an integer"),
        ("e2e-inv-neg", props("e2e-inv-neg", json!(1), json!("-3")), "MaxCapacity must be 0 or more"),
        ("e2e-inv-missing", json!({"MinCapacity": 1, "MaxCapacity": 2}), "ResourceId is required"),
        ("e2e-inv-typo", json!({"ResourceId": variant("e2e-inv-typo"), "MinCapacity": 1, "MaxCapacty": 2}), "unknown property MaxCapacty"),
        (
            "e2e-inv-dim",
            json!({"ResourceId": variant("e2e-inv-dim"), "ScalableDimension": "sagemaker:inference-component:DesiredCopyCount", "MinCapacity": 1, "MaxCapacity": 2}),
            "ScalableDimension sagemaker:inference-component:DesiredCopyCount does not fit",
        ),
        (
            "e2e-inv-type",
            json!({"ResourceId": variant("e2e-inv-type"), "MinCapacity": {"a": 1}, "MaxCapacity": 2}),
            "MinCapacity must be an integer",
        ),
    ];
    for (endpoint, properties, reason) in cases {
        let create = stack.create("Target", properties.clone());
        let body = f.send(&create).await;
        assert_eq!(body["Status"], "FAILED", "{endpoint}: {body}");
        assert!(body["Reason"].as_str().unwrap().starts_with(reason), "{endpoint}: {body}");
        let physical = body["PhysicalResourceId"].as_str().unwrap();
        assert!(!physical.contains('|'), "{endpoint}: a failed create must not return a target id: {physical}");
        let rollback = f.send(&stack.delete("Target", physical, properties)).await;
        assert_eq!(rollback["Status"], "SUCCESS", "{endpoint}: {rollback}");
        assert_eq!(rollback["PhysicalResourceId"], physical);
        assert!(f.emulator.calls(&variant(endpoint)).await.is_empty(), "{endpoint}: an invalid create or its rollback called AWS");
    }
}

#[tokio::test]
async fn create_over_a_foreign_target_fails_untouched_then_adopts_when_asked() {
    let f = Function::start().await;
    let stack = Stack::new("adopt");
    f.emulator.seed(&variant("e2e-foreign"), VARIANT_DIM, 3, 9, json!({"owner": "console"})).await;
    let body = f.send(&stack.create("Target", props("e2e-foreign", json!(1), json!(2)))).await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("already registered") && reason.contains("AdoptExisting"), "{reason}");
    assert!(!body["PhysicalResourceId"].as_str().unwrap().contains('|'));
    assert!(f.emulator.mutations(&variant("e2e-foreign")).await.is_empty(), "a foreign target was touched");
    let target = f.emulator.target(&variant("e2e-foreign")).await.unwrap();
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(3), Some(9)));

    let mut adopting = props("e2e-foreign", json!(1), json!(2));
    adopting["AdoptExisting"] = json!("true");
    let body = f.send(&stack.create("Target", adopting)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let target = f.emulator.target(&variant("e2e-foreign")).await.unwrap();
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(1), Some(2)));
    assert_eq!(target["Tags"][OWNER_LOGICAL], "Target");
    assert_eq!(target["Tags"][OWNER_STACK], stack.id.as_str());
    assert_eq!(target["Tags"]["owner"], "console", "adoption leaves other tags alone");
}

#[tokio::test]
async fn a_renamed_logical_id_adopts_and_the_old_delete_leaves_the_target() {
    let f = Function::start().await;
    let stack = Stack::new("rename");
    assert_eq!(f.send(&stack.create("OldName", props("e2e-rename", json!(1), json!(2)))).await["Status"], "SUCCESS");
    let mut adopting = props("e2e-rename", json!(1), json!(3));
    adopting["AdoptExisting"] = json!(true);
    assert_eq!(f.send(&stack.create("NewName", adopting)).await["Status"], "SUCCESS");
    let cleanup = f.send(&stack.delete("OldName", &target_id("e2e-rename"), props("e2e-rename", json!(1), json!(2)))).await;
    assert_eq!(cleanup["Status"], "SUCCESS");
    let target = f.emulator.target(&variant("e2e-rename")).await.expect("the adopted target stays");
    assert_eq!(target["Tags"][OWNER_LOGICAL], "NewName");
    assert!(!f.emulator.mutations(&variant("e2e-rename")).await.contains(&"DeregisterScalableTarget".to_owned()));
    assert!(f.logs().contains("left in place"), "{}", f.logs());
}

#[tokio::test]
async fn another_stacks_create_of_our_target_fails_naming_the_owner_and_touches_nothing() {
    let f = Function::start().await;
    let ours = Stack::new("ours");
    let theirs = Stack::new("theirs");
    assert_eq!(f.send(&ours.create("Target", props("e2e-other", json!(1), json!(2)))).await["Status"], "SUCCESS");
    let before = f.emulator.mutations(&variant("e2e-other")).await;
    let body = f.send(&theirs.create("Target", props("e2e-other", json!(4), json!(8)))).await;
    assert_eq!(body["Status"], "FAILED");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains(&format!("owned by Target in stack {}", ours.id)), "{reason}");
    let rollback =
        f.send(&theirs.delete("Target", body["PhysicalResourceId"].as_str().unwrap(), props("e2e-other", json!(4), json!(8)))).await;
    assert_eq!(rollback["Status"], "SUCCESS");
    assert_eq!(f.emulator.mutations(&variant("e2e-other")).await, before, "the other stack touched our target");
    let target = f.emulator.target(&variant("e2e-other")).await.unwrap();
    assert_eq!((target["MinCapacity"].as_i64(), target["Tags"][OWNER_STACK].as_str()), (Some(1), Some(ours.id.as_str())));
}

#[tokio::test]
async fn every_sagemaker_dimension_registers() {
    let f = Function::start().await;
    let stack = Stack::new("dims");
    let ic = f.send(&stack.create("Component", json!({"InferenceComponentName": "e2e-ic", "MinCapacity": 0, "MaxCapacity": 2}))).await;
    assert_eq!(ic["Status"], "SUCCESS", "{ic}");
    assert_eq!(ic["PhysicalResourceId"], "inference-component/e2e-ic|sagemaker:inference-component:DesiredCopyCount|sagemaker");
    let pc = f
        .send(&stack.create("Serverless", json!({"ResourceId": variant("e2e-pc"), "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency", "MinCapacity": 1, "MaxCapacity": 5})))
        .await;
    assert_eq!(pc["Status"], "SUCCESS", "{pc}");
    assert_eq!(pc["Data"]["ScalableDimension"], "sagemaker:variant:DesiredProvisionedConcurrency");
    let delete = f.send(&stack.delete("Component", ic["PhysicalResourceId"].as_str().unwrap(), json!({}))).await;
    assert_eq!(delete["Status"], "SUCCESS");
    assert!(f.emulator.target("inference-component/e2e-ic").await.is_none());
}

#[tokio::test]
async fn an_unknown_resource_type_fails_listing_the_supported_ones_and_its_delete_is_a_no_op() {
    let f = Function::start().await;
    let stack = Stack::new("unknown");
    let create = stack.event("Create", "Thing", "Custom::SageMakerScalingPolicyy", props("e2e-unknown", json!(1), json!(2)), None, None);
    let body = f.send(&create).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().contains(TARGET), "{body}");
    let delete = stack.event("Delete", "Thing", "Custom::SageMakerScalingPolicyy", json!({}), body["PhysicalResourceId"].as_str(), None);
    assert_eq!(f.send(&delete).await["Status"], "SUCCESS");
    assert!(f.emulator.calls(&variant("e2e-unknown")).await.is_empty());
}
