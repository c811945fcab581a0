//! SageMaker awareness, end to end: the function looks at the endpoint or inference component before it
//! registers, waits while it is in transition, and fails with SageMaker's own reason otherwise. One test per
//! rule of the contract's section; each resource is seeded by the test itself (`send_unseeded`).

use std::time::{Duration, Instant};

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Emulator, Function, Stack, target_id, variant};

const PROVISIONED: &str = "sagemaker:variant:DesiredProvisionedConcurrency";

fn props(endpoint: &str) -> Value {
    json!({"ResourceId": variant(endpoint), "MinCapacity": "1", "MaxCapacity": "4"})
}

fn component_props(name: &str) -> Value {
    json!({"InferenceComponentName": name, "MinCapacity": "0", "MaxCapacity": "2"})
}

async fn registrations(f: &Function, resource: &str) -> usize {
    f.emulator.calls(resource).await.iter().filter(|op| *op == "RegisterScalableTarget").count()
}

async fn reason_of(f: &Function, props: Value) -> String {
    let body = f.send_unseeded(&Stack::new("sm").create("Target", props), Duration::from_secs(30)).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    body["Reason"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_missing_endpoint_or_inference_component_fails_and_nothing_is_registered() {
    let f = Function::start().await;
    assert_eq!(reason_of(&f, props("sm-missing")).await, "endpoint sm-missing does not exist");
    assert_eq!(registrations(&f, &variant("sm-missing")).await, 0);
    assert_eq!(reason_of(&f, component_props("sm-missing-ic")).await, "inference component sm-missing-ic does not exist");
    assert_eq!(registrations(&f, "inference-component/sm-missing-ic").await, 0);
}

#[tokio::test]
async fn a_missing_variant_is_named_with_the_variants_the_endpoint_has() {
    let f = Function::start().await;
    f.emulator
        .sagemaker(json!({"kind": "endpoint", "name": "sm-variants", "variants": [{"name": "blue", "instances": 1}, {"name": "green", "instances": 1}]}))
        .await;
    let reason = reason_of(&f, props("sm-variants")).await;
    assert_eq!(reason, "endpoint sm-variants has no variant AllTraffic; it has the variants blue, green");
    assert_eq!(registrations(&f, &variant("sm-variants")).await, 0);
}

#[tokio::test]
async fn the_dimension_must_fit_the_variant_both_ways() {
    let f = Function::start().await;
    let serverless =
        json!({"name": "AllTraffic", "serverless": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 3}});
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-serverless", "variants": [serverless]})).await;
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-instances", "variants": [{"name": "AllTraffic", "instances": 2}]})).await;
    let reason = reason_of(&f, props("sm-serverless")).await;
    assert_eq!(
        reason,
        format!("variant AllTraffic of endpoint sm-serverless is serverless; scale it with ScalableDimension {PROVISIONED}")
    );
    let mut concurrency = props("sm-instances");
    concurrency["ScalableDimension"] = json!(PROVISIONED);
    let reason = reason_of(&f, concurrency).await;
    assert_eq!(
        reason,
        "variant AllTraffic of endpoint sm-instances is instance-based; scale it with ScalableDimension sagemaker:variant:DesiredInstanceCount"
    );
}

#[tokio::test]
async fn a_creating_endpoint_is_waited_for_then_registered() {
    let f = Function::start().await;
    f.emulator
        .sagemaker(json!({"kind": "endpoint", "name": "sm-creating", "status": "Creating", "variants": [{"name": "AllTraffic", "instances": 2}], "then": [{"after": 3, "status": "InService"}]}))
        .await;
    let start = Instant::now();
    let body = f.send_unseeded(&Stack::new("sm").create("Target", props("sm-creating")), Duration::from_secs(30)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}\n{}", f.logs());
    assert!(start.elapsed() >= Duration::from_millis(2500), "did not wait: {:?}", start.elapsed());
    assert!(f.emulator.sagemaker_calls("sm-creating").await.len() >= 2, "asked only once");
    assert_eq!(body["Data"]["CurrentCapacity"], "2");
    assert!(f.logs().contains("waiting for InService"), "{}", f.logs());
    assert!(f.emulator.target(&variant("sm-creating")).await.is_some());
}

#[tokio::test]
async fn an_endpoint_still_updating_at_the_margin_fails_before_the_deadline() {
    let f = Function::start_with(Emulator::shared(), &[("DEADLINE_MARGIN_MS", "2000")]).await;
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-updating", "status": "Updating"})).await;
    let deadline = Duration::from_secs(8);
    let start = Instant::now();
    let body = f.send_unseeded(&Stack::new("sm").create("Target", props("sm-updating")), deadline).await;
    assert!(start.elapsed() < deadline, "answered after the deadline: {:?}", start.elapsed());
    let reason = body["Reason"].as_str().unwrap();
    assert_eq!(body["Status"], "FAILED");
    assert!(reason.starts_with("endpoint sm-updating is still Updating after "), "{reason}");
    assert!(reason.contains("ServiceTimeout"), "{reason}");
    assert_eq!(registrations(&f, &variant("sm-updating")).await, 0);
}

#[tokio::test]
async fn a_failed_endpoint_fails_at_once_with_sagemakers_reason() {
    let f = Function::start().await;
    let failure = "UnexpectedStatusException: the primary container did not pass the ping health check";
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-failed", "status": "Failed", "failure_reason": failure})).await;
    f.emulator
        .sagemaker(json!({"kind": "inference-component", "name": "sm-failed-ic", "status": "Failed", "failure_reason": "out of memory"}))
        .await;
    let start = Instant::now();
    assert_eq!(reason_of(&f, props("sm-failed")).await, format!("endpoint sm-failed is Failed: {failure}"));
    assert_eq!(reason_of(&f, component_props("sm-failed-ic")).await, "inference component sm-failed-ic is Failed: out of memory");
    assert!(start.elapsed() < Duration::from_secs(2), "waited on a failed resource: {:?}", start.elapsed());
    assert_eq!(f.emulator.sagemaker_calls("sm-failed").await, vec!["DescribeEndpoint"]);
}

#[tokio::test]
async fn throttling_is_retried_and_access_denied_is_final_naming_the_permission() {
    let f = Function::start().await;
    f.emulator.endpoint("sm-throttled", "AllTraffic").await;
    f.emulator.fail("DescribeEndpoint", "sm-throttled", "ThrottlingException", 2).await;
    let body = f.send_unseeded(&Stack::new("sm").create("Target", props("sm-throttled")), Duration::from_secs(30)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(f.emulator.sagemaker_calls("sm-throttled").await.len(), 3);

    f.emulator.endpoint("sm-denied", "AllTraffic").await;
    f.emulator.fail("DescribeEndpoint", "sm-denied", "AccessDeniedException", 5).await;
    let reason = reason_of(&f, props("sm-denied")).await;
    assert!(reason.starts_with("DescribeEndpoint failed: AccessDeniedException: "), "{reason}");
    assert!(reason.contains("sagemaker:DescribeEndpoint"), "{reason}");
    assert_eq!(f.emulator.sagemaker_calls("sm-denied").await.len(), 1, "AccessDenied is final");
}

#[tokio::test]
async fn current_capacity_is_reported_for_each_kind() {
    let f = Function::start().await;
    let stack = Stack::new("sm");
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-cap", "variants": [{"name": "AllTraffic", "instances": 3}]})).await;
    let serverless =
        json!({"name": "AllTraffic", "serverless": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 4}});
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-cap-sls", "variants": [serverless]})).await;
    f.emulator.sagemaker(json!({"kind": "inference-component", "name": "sm-cap-ic", "copies": 2})).await;
    let mut sls = props("sm-cap-sls");
    sls["ScalableDimension"] = json!(PROVISIONED);
    for (props, expected) in [(props("sm-cap"), "3"), (sls, "4"), (component_props("sm-cap-ic"), "2")] {
        let body = f.send_unseeded(&stack.create("Target", props.clone()), Duration::from_secs(30)).await;
        assert_eq!(body["Status"], "SUCCESS", "{body}");
        assert_eq!(body["Data"]["CurrentCapacity"], expected, "{props}");
    }
}

#[tokio::test]
async fn a_delete_makes_no_sagemaker_call_even_when_the_endpoint_is_gone() {
    let f = Function::start().await;
    let stack = Stack::new("sm");
    f.emulator.endpoint("sm-gone", "AllTraffic").await;
    assert_eq!(f.send(&stack.create("Target", props("sm-gone"))).await["Status"], "SUCCESS");
    let before = f.emulator.sagemaker_calls("sm-gone").await.len();
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "sm-gone", "status": "Deleting"})).await;
    let start = Instant::now();
    let body = f.send(&stack.delete("Target", &target_id("sm-gone"), props("sm-gone"))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(start.elapsed() < Duration::from_secs(2), "a Delete waited: {:?}", start.elapsed());
    assert_eq!(f.emulator.sagemaker_calls("sm-gone").await.len(), before, "a Delete called SageMaker");
    assert!(f.emulator.target(&variant("sm-gone")).await.is_none());
}
