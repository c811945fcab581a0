//! `CUSTOM_RESOURCE_MODE=cdk-provider`: the function is the `onEvent` handler of CDK's Provider framework.
//! It never PUTs; it returns `{"PhysicalResourceId", "Data"}` or fails the invocation with the Reason.
//! The same events/ files pass in both modes.

use cfn_sma_testkit as support;

use std::time::Duration;

use serde_json::{Value, json};
use support::events::Replay;
use support::{Emulator, Function, Outcome, Stack};

async fn provider() -> Function {
    Function::start_with(Emulator::shared(), &[("CUSTOM_RESOURCE_MODE", "cdk-provider")]).await
}

/// The Provider framework hands onEvent the request with the ResponseURL masked; here it is a live URL on
/// the receiver instead, so that a PUT, if the function made one, would be seen.
fn with_live_url(mut event: Value, f: &Function, name: &str) -> Value {
    event["ResponseURL"] = json!(f.receiver.url(name));
    event
}

#[tokio::test]
async fn every_event_file_replays_in_cdk_provider_mode_without_any_put() {
    let f = provider().await;
    let mut replay = Replay::default();
    let files = Replay::files(&support::root().join("events"));
    for (name, file) in &files {
        let event = replay.prepare(file);
        f.emulator.seed_for(&event).await;
        let outcome = f.runtime.invoke(with_live_url(event.clone(), &f, name), Duration::from_secs(30)).await;
        let Outcome::Response(result) = outcome else { panic!("{name}: {outcome:?}\n{}", f.logs()) };
        assert!(result["PhysicalResourceId"].is_string(), "{name}: {result}");
        assert!(result["Data"].is_object(), "{name}: {result}");
        if let Some(physical) = event.get("PhysicalResourceId") {
            assert_eq!(&result["PhysicalResourceId"], physical, "{name}");
        }
        replay.answered(&event, result["PhysicalResourceId"].as_str().unwrap());
    }
    for (name, _) in &files {
        assert!(f.receiver.seen(name).is_empty(), "{name}: cdk-provider mode must never PUT");
    }
}

#[tokio::test]
async fn a_failure_fails_the_invocation_with_the_reason_and_nothing_is_put() {
    let f = provider().await;
    let stack = Stack::new("cdk");
    let event = stack.create("Target", json!({"ResourceId": "endpoint/cdk-bad/variant/v", "MinCapacity": 3, "MaxCapacity": 1}));
    let outcome = f.invoke(&event, Duration::from_secs(30)).await;
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
    f.emulator.seed_for(&body).await;
    let outcome = f.runtime.invoke(body, Duration::from_secs(30)).await;
    let Outcome::Response(result) = outcome else { panic!("{outcome:?}") };
    assert_eq!(result["PhysicalResourceId"], "inference-component/cdk-ic|sagemaker:inference-component:DesiredCopyCount|sagemaker");
    assert_eq!(result["Data"]["MaxCapacity"], "2");
    assert!(f.emulator.target("inference-component/cdk-ic").await.is_some());
}
