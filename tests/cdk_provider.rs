//! `CUSTOM_RESOURCE_MODE=cdk-provider`: the function is the `onEvent` handler of CDK's Provider framework.
//! It never PUTs; it returns `{"PhysicalResourceId", "Data"}` or fails the invocation with the Reason.
//! The same events/ files pass in both modes.

use cfn_sma_testkit as support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Emulator, Function, Outcome, Stack};

async fn provider() -> Function {
    Function::start_with(Emulator::shared(), &[("CUSTOM_RESOURCE_MODE", "cdk-provider")]).await
}

/// The Provider framework hands onEvent the request with the ResponseURL masked.
fn as_framework_sends(mut event: Value) -> Value {
    event["ResponseURL"] = json!("...");
    event
}

#[tokio::test]
async fn every_event_file_replays_in_cdk_provider_mode_without_any_put() {
    let f = provider().await;
    let mut files: Vec<_> = std::fs::read_dir(support::root().join("events")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    for file in files.iter().filter(|p| p.extension().is_some_and(|x| x == "json")) {
        let event: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        let outcome = f.runtime.invoke(as_framework_sends(event.clone()), Duration::from_secs(30)).await;
        let Outcome::Response(result) = outcome else { panic!("{}: {outcome:?}\n{}", file.display(), f.logs()) };
        assert!(result["PhysicalResourceId"].is_string(), "{}: {result}", file.display());
        assert!(result["Data"].is_object(), "{}: {result}", file.display());
        if let Some(physical) = event.get("PhysicalResourceId") {
            assert_eq!(&result["PhysicalResourceId"], physical, "{}", file.display());
        }
    }
    assert!(f.receiver.seen("01-target-create").is_empty());
}

#[tokio::test]
async fn a_failure_fails_the_invocation_with_the_reason_and_nothing_is_put() {
    let f = provider().await;
    let stack = Stack::new("cdk");
    let event = stack.create("Target", json!({"ResourceId": "endpoint/cdk-bad/variant/v", "MinCapacity": 3, "MaxCapacity": 1}));
    let outcome = f.runtime.invoke(as_framework_sends(event.json(&f.receiver)), Duration::from_secs(30)).await;
    let Outcome::Error(error) = outcome else { panic!("{outcome:?}") };
    assert_eq!(error["errorMessage"], "MinCapacity 3 is greater than MaxCapacity 1", "{error}");
    assert!(f.receiver.seen(&event.name).is_empty(), "cdk-provider mode must never PUT");
}

#[tokio::test]
async fn a_success_returns_the_physical_id_and_data() {
    let f = provider().await;
    let stack = Stack::new("cdk");
    let event = stack.create("Target", json!({"InferenceComponentName": "cdk-ic", "MinCapacity": "1", "MaxCapacity": "2"}));
    let mut body = event.json(&f.receiver);
    body.as_object_mut().unwrap().remove("ResponseURL");
    let outcome = f.runtime.invoke(body, Duration::from_secs(30)).await;
    let Outcome::Response(result) = outcome else { panic!("{outcome:?}") };
    assert_eq!(result["PhysicalResourceId"], "inference-component/cdk-ic|sagemaker:inference-component:DesiredCopyCount|sagemaker");
    assert_eq!(result["Data"]["MaxCapacity"], "2");
    assert!(f.emulator.target("inference-component/cdk-ic").await.is_some());
}
