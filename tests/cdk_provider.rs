//! `CUSTOM_RESOURCE_MODE=cdk-provider`: the function is the `onEvent` handler of CDK's Provider framework.
//! It never PUTs; it returns `{"PhysicalResourceId", "Data"}` or fails the invocation with the Reason.
//! The same events/ files pass in both modes.

use cfn_sma_testkit as support;

use std::time::Duration;

use serde_json::{Value, json};
use support::endpoints::no_model_errors;
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

/// The Provider framework's loop for one resource: onEvent, then isComplete with onEvent's answer merged into the
/// request (as the framework's waiter state machine calls it), until complete; at most `polls`.
async fn provider_loop(f: &Function, event: Value, polls: usize) -> Result<Value, Value> {
    let mut request = event.clone();
    request.as_object_mut().unwrap().remove("ResponseURL");
    let started = match f.runtime.invoke(request.clone(), Duration::from_secs(30)).await {
        Outcome::Response(result) => result,
        Outcome::Error(error) => return Err(error),
        Outcome::Silent => panic!("onEvent was silent\n{}", f.logs()),
    };
    let mut is_complete = request;
    for (key, value) in started.as_object().unwrap() {
        is_complete[key] = value.clone();
    }
    for _ in 0..polls {
        match f.runtime.invoke(is_complete.clone(), Duration::from_secs(30)).await {
            Outcome::Response(answer) if answer["IsComplete"] == true => {
                let mut data = started["Data"].clone();
                for (key, value) in answer["Data"].as_object().cloned().unwrap_or_default() {
                    data[&key] = value;
                }
                return Ok(json!({"PhysicalResourceId": started["PhysicalResourceId"], "Data": data}));
            }
            Outcome::Response(answer) => assert_eq!(answer, json!({"IsComplete": false})),
            Outcome::Error(error) => return Err(error),
            Outcome::Silent => panic!("isComplete was silent\n{}", f.logs()),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("not complete after {polls} polls\n{}", f.logs())
}

#[tokio::test]
async fn an_endpoint_update_runs_under_the_provider_framework_with_is_complete() {
    let f = provider().await;
    let stack = Stack::new("cdk-endpoint");
    let name = "cdk-ep";
    f.emulator.timing_of(name, 1.0, 2.0, 1.0).await;
    let config = |instance: &str| json!([{"name": "a", "instance_type": instance, "instances": 1}]);
    f.emulator.endpoint_config("cdk-ep-c1", config("ml.m5.large")).await;
    f.emulator.endpoint_config("cdk-ep-c2", config("ml.g4dn.xlarge")).await;
    let props = |c: &str| json!({"EndpointName": name, "EndpointConfigName": c});
    let created =
        provider_loop(&f, stack.event("Create", "Endpoint", "Custom::SageMakerEndpoint", props("cdk-ep-c1"), None, None).body, 20)
            .await
            .unwrap();
    let arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(arn.ends_with(":endpoint/cdk-ep"), "{created}");
    assert!(created["Data"].get("cfnSageMakerOperation").is_none(), "Data holds only the resource's attributes: {created}");
    assert_eq!(created["Data"]["EndpointName"], name, "{created}");

    let target = stack.create("Target", json!({"EndpointName": name, "VariantName": "a", "MinCapacity": "1", "MaxCapacity": "3"}));
    assert!(provider_loop(&f, target.body, 2).await.is_ok(), "a target's isComplete is immediately complete");
    let update = stack.event("Update", "Endpoint", "Custom::SageMakerEndpoint", props("cdk-ep-c2"), Some(&arn), Some(props("cdk-ep-c1")));
    let updated = provider_loop(&f, update.body, 20).await.unwrap();
    assert_eq!(updated["Data"]["EndpointConfigName"], "cdk-ep-c2");
    assert_eq!(updated["Data"]["RestoredTargets"], "endpoint/cdk-ep/variant/a|sagemaker:variant:DesiredInstanceCount|sagemaker");
    let target = f.emulator.target("endpoint/cdk-ep/variant/a").await.expect("restored");
    assert_eq!((target["MinCapacity"].as_i64(), target["MaxCapacity"].as_i64()), (Some(1), Some(3)));

    f.emulator.fail_next_update(name, "capacity").await;
    let back = stack.event("Update", "Endpoint", "Custom::SageMakerEndpoint", props("cdk-ep-c1"), Some(&arn), Some(props("cdk-ep-c2")));
    let failed = provider_loop(&f, back.body, 20).await.unwrap_err();
    assert!(failed["errorMessage"].as_str().unwrap().contains("capacity"), "{failed}");
    assert!(f.emulator.target("endpoint/cdk-ep/variant/a").await.is_some(), "restored after the failed update");
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "{errors:#?}");
}

/// aws-cdk-lib's Provider framework runtime, as `make cdk-framework` installs it (examples/cdk's aws-cdk-lib).
fn framework_runtime() -> std::path::PathBuf {
    support::root().join("examples/cdk/node_modules/aws-cdk-lib/custom-resources/lib/provider-framework/runtime")
}

/// One CloudFormation event through aws-cdk-lib's own framework.js, driven by tests/cdk/provider_framework.js as
/// its waiter state machine would (isComplete every `interval_ms`, at most `max_attempts` retries, then its timeout
/// handler); each user-function invocation goes to the bootstrap through the Runtime API. Returns the driver's
/// `done` line (`polls`, `timedOut`) and how each invocation ended.
async fn through_framework(f: &Function, event: Value, interval_ms: u64, max_attempts: u32) -> (Value, Vec<&'static str>) {
    use std::process::Stdio;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let log = std::env::temp_dir().join(format!("provider-framework-{}.log", std::process::id()));
    let mut child = tokio::process::Command::new("node")
        .arg(support::root().join("tests/cdk/provider_framework.js"))
        .arg(framework_runtime())
        .arg(interval_ms.to_string())
        .arg(max_attempts.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut ended = Vec::new();
    stdin.write_all(format!("{}\n", json!({ "event": event })).as_bytes()).await.unwrap();
    for _ in 0..=max_attempts + 2 {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("the framework goes on");
        let Some(line) = line.unwrap() else { panic!("the framework stopped:\n{}", std::fs::read_to_string(&log).unwrap_or_default()) };
        let message: Value = serde_json::from_str(&line).unwrap();
        if let Some(done) = message.get("done") {
            return (done.clone(), ended);
        }
        let reply = match f.runtime.invoke(message["invoke"].clone(), Duration::from_secs(30)).await {
            Outcome::Response(result) => {
                ended.push(if result["IsComplete"] == false { "not complete" } else { "answered" });
                json!({"payload": result, "error": false})
            }
            Outcome::Error(error) => {
                ended.push("error");
                json!({"payload": error, "error": true})
            }
            Outcome::Silent => panic!("the function was silent\n{}", f.logs()),
        };
        stdin.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
    }
    panic!("the framework did not finish:\n{}", std::fs::read_to_string(&log).unwrap_or_default())
}

#[tokio::test]
#[ignore = "needs aws-cdk-lib from the npm registry: `make cdk-framework` installs it and runs this"]
async fn under_aws_cdk_libs_own_provider_framework_a_failed_update_reaches_cloudformation_with_sagemakers_reason_at_once() {
    assert!(framework_runtime().join("framework.js").is_file(), "aws-cdk-lib is installed in examples/cdk");
    let f = provider().await;
    let stack = Stack::new("cdk-framework");
    let name = "cdk-fw-ep";
    f.emulator.timing_of(name, 1.0, 2.0, 1.0).await;
    let config = |instance: &str| json!([{"name": "a", "instance_type": instance, "instances": 1}]);
    f.emulator.endpoint_config("cdk-fw-ep-c1", config("ml.m5.large")).await;
    f.emulator.endpoint_config("cdk-fw-ep-c2", config("ml.g4dn.xlarge")).await;
    let props = |c: &str| json!({"EndpointName": name, "EndpointConfigName": c});
    let (interval, attempts) = (500, 40);

    let create = stack.event("Create", "Endpoint", "Custom::SageMakerEndpoint", props("cdk-fw-ep-c1"), None, None);
    let (done, _) = through_framework(&f, create.json(&f.receiver), interval, attempts).await;
    let answers = f.receiver.seen(&create.name);
    assert_eq!(answers.len(), 1, "one answer, from the framework: {done}");
    let created = answers[0].json();
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    let arn = created["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(arn.ends_with(":endpoint/cdk-fw-ep"), "{created}");
    assert_eq!(created["Data"]["EndpointName"], name, "{created}");
    assert!(created["Data"].get("cfnSageMakerOperation").is_none(), "Data holds only attributes: {created}");

    let target = stack.create("Target", json!({"EndpointName": name, "VariantName": "a", "MinCapacity": "1", "MaxCapacity": "3"}));
    through_framework(&f, target.json(&f.receiver), interval, attempts).await;
    assert_eq!(f.receiver.seen(&target.name)[0].json()["Status"], "SUCCESS");

    f.emulator.fail_next_update(name, "Insufficient capacity for ml.m5.large").await;
    let back =
        stack.event("Update", "Endpoint", "Custom::SageMakerEndpoint", props("cdk-fw-ep-c2"), Some(&arn), Some(props("cdk-fw-ep-c1")));
    let (done, ended) = through_framework(&f, back.json(&f.receiver), interval, attempts).await;
    let answers = f.receiver.seen(&back.name);
    assert_eq!(answers.len(), 1, "one answer: {done} {ended:?}");
    let failed = answers[0].json();
    assert_eq!(failed["Status"], "FAILED", "{failed}");
    let reason = failed["Reason"].as_str().unwrap();
    assert!(reason.contains("Insufficient capacity for ml.m5.large"), "SageMaker's reason, not a timeout: {reason}");
    assert_eq!(done["timedOut"], false, "{done}");
    assert_eq!(ended.last(), Some(&"error"), "the poll that saw the failure answered it: {ended:?}");
    let polls = done["polls"].as_u64().unwrap();
    assert!(polls < u64::from(attempts) / 2, "failed within the update's own time, not the framework's: {polls} polls");
    assert_eq!(ended.iter().filter(|e| **e == "error").count(), 1, "no poll after the failure: {ended:?}");
    assert!(f.emulator.target("endpoint/cdk-fw-ep/variant/a").await.is_some(), "restored after the failed update");
    no_model_errors(&f).await;
}
