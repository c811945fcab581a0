//! `Custom::SageMakerEndpoint`: an instance-type change of an auto-scaled endpoint, in place, keeping its auto
//! scaling and its scaled capacity. SageMaker's refusal, its timed transitions and its rollbacks are the
//! emulator's (tests/emulator/sagemaker_gaps.py); the operation outlives invocations of a few seconds each, handed
//! over through Lambda's asynchronous Invoke as in AWS.

use std::time::Duration;

use cfn_sma_testkit as support;
use serde_json::json;
use support::{Function, Stack};

use support::endpoints::*;

#[tokio::test]
async fn an_instance_type_change_keeps_auto_scaling_exactly_and_the_scaled_capacity() {
    let f = Function::start().await;
    let stack = Stack::new("itype");
    let name = "itype-ep";
    f.emulator.timing_of(name, 1.0, 2.0, 1.0).await;
    let arn = endpoint(&f, &stack, name).await;
    autoscale(&f, &stack, name).await;
    let before = scaling_of(&f, &variant_id(name, "a")).await;
    assert_eq!(before["policies"].as_array().unwrap().len(), 3, "{before}");
    f.emulator
        .endpoint_config(&format!("{name}-c2"), json!([{"name": "a", "instance_type": "ml.g4dn.xlarge", "instances": 1}, {"name": "b", "instance_type": "ml.m5.large", "instances": 1}]))
        .await;
    // What a user gets from SageMaker without this resource.
    let (status, refused) =
        f.emulator.aws("SageMaker", "UpdateEndpoint", json!({"EndpointName": name, "EndpointConfigName": format!("{name}-c2")})).await;
    assert_eq!(status, 400, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("registered with Application Auto Scaling"), "{refused}");

    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), endpoint_props(name, &format!("{name}-c2")));
    let (body, _) = f.send_long(&update, PER_INVOCATION, 10).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}\n{}", f.logs());
    assert_eq!(body["PhysicalResourceId"], arn.as_str());
    assert_eq!(body["Data"]["EndpointConfigName"], format!("{name}-c2"));
    assert_eq!(body["Data"]["RestoredTargets"], target_id(name, "a"));
    assert_eq!(body["Data"]["RemovedTargets"], "");
    assert_eq!(f.emulator.endpoint_state(name).await.unwrap()["EndpointConfigName"], format!("{name}-c2"));
    let after = scaling_of(&f, &variant_id(name, "a")).await;
    assert_eq!(after, before, "every field of the target, its policies and its action comes back");
    let target = f.emulator.target(&variant_id(name, "a")).await.unwrap();
    assert_eq!(target["Tags"]["cfn-sagemaker-autoscaling:logical-id"], "Target", "the owner stays the owner");
    assert_eq!(target["Tags"]["cost-center"], "42");
    assert_eq!(capacity(&f, name, "a").await, 3, "the scaled capacity is set back");
    let untouched = f.emulator.mutations(&variant_id(name, "b")).await;
    assert!(untouched.is_empty(), "variant b was let through by SageMaker: {untouched:?}");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_model_only_change_deregisters_nothing_and_a_dropped_variant_is_named() {
    let name = "model-ep";
    let (f, stack) = setup("model", name).await;
    let arn = endpoint(&f, &stack, name).await;
    autoscale(&f, &stack, name).await;
    f.emulator
        .endpoint_config(&format!("{name}-c2"), json!([{"name": "a", "instance_type": "ml.m5.large", "instances": 1, "model": "model-v2"}, {"name": "b", "instance_type": "ml.m5.large", "instances": 1}]))
        .await;
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["RestoredTargets"], "", "nothing was saved: {body}");
    let calls = f.emulator.mutations(&variant_id(name, "a")).await;
    assert!(!calls.contains(&"DeregisterScalableTarget".to_owned()), "a model-only change must not touch the target: {calls:?}");

    // Variant a dropped: its target stays deregistered and is named.
    f.emulator.endpoint_config(&format!("{name}-c3"), json!([{"name": "b", "instance_type": "ml.m5.large", "instances": 1}])).await;
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c2"), &format!("{name}-c3"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(body["Data"]["RemovedTargets"], target_id(name, "a"));
    assert_eq!(body["Data"]["RestoredTargets"], "");
    assert!(f.emulator.target(&variant_id(name, "a")).await.is_none());
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_failed_update_restores_everything_and_the_rollback_update_calls_nothing() {
    let name = "rollback-ep";
    let (f, stack) = setup("rollback", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    f.emulator.fail_next_update(name, "Insufficient capacity for ml.g4dn.xlarge").await;
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert_eq!(body["PhysicalResourceId"], arn.as_str(), "a failed update keeps its id");
    let reason = body["Reason"].as_str().unwrap();
    assert!(reason.contains("Insufficient capacity for ml.g4dn.xlarge"), "SageMaker's reason: {reason}");
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "restored onto the old configuration");
    assert_eq!(capacity(&f, name, "a").await, 3);

    // CloudFormation's rollback: an Update back to the old configuration, which the endpoint is on already.
    let updates_before = f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count();
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c2"), &format!("{name}-c1"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    let updates_after = f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count();
    assert_eq!(updates_after, updates_before, "the rollback Update needs no UpdateEndpoint");

    // SageMaker may keep the failed update's FailureReason on the endpoint (the emulator does, as AWS may): a later
    // update that succeeds is a success, not the old failure read again.
    let kept = f.emulator.endpoint_state(name).await.unwrap();
    assert!(kept["FailureReason"].as_str().is_some_and(|r| r.contains("Insufficient capacity")), "{kept}");
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(f.emulator.endpoint_state(name).await.unwrap()["EndpointConfigName"], format!("{name}-c2"));
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "restored onto the new configuration");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn an_update_that_finds_the_endpoint_updating_on_its_old_configuration_waits_then_updates() {
    let name = "busy-ep";
    let (f, stack) = setup("busy", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    // A capacity change (auto scaling's own, or an operator's) keeps the endpoint Updating on c1 for 4 s.
    f.emulator.sagemaker(json!({"kind": "timing", "name": name, "capacity": 4.0})).await;
    let counts = json!({"EndpointName": name, "DesiredWeightsAndCapacities": [{"VariantName": "b", "DesiredInstanceCount": 2}]});
    let (status, answer) = f.emulator.aws("SageMaker", "UpdateEndpointWeightsAndCapacities", counts).await;
    assert_eq!(status, 200, "{answer}");
    let busy = f.emulator.endpoint_state(name).await.unwrap();
    assert_eq!((busy["EndpointStatus"].as_str(), busy["EndpointConfigName"].as_str()), (Some("Updating"), Some("busy-ep-c1")), "{busy}");
    let (body, _) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(f.logs().contains("status=Updating"), "it waited for the transition:\n{}", f.logs());
    let after = f.emulator.endpoint_state(name).await.unwrap();
    assert_eq!(after["EndpointConfigName"], format!("{name}-c2"), "the update asked for was made: {after}");
    let updates = f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count();
    assert_eq!(updates, 1, "UpdateEndpoint once, after the endpoint was InService");
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "auto scaling kept");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn an_update_longer_than_three_invocations_ends_with_one_answer_and_a_duplicate_hand_over_creates_nothing_twice() {
    let name = "long-ep";
    let (f, stack) = setup("long", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    f.emulator.timing_of(name, 1.0, 9.0, 1.0).await;
    // 9 s of Updating; invocations of 7 s, of which about 2 s are spent waiting.
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), endpoint_props(name, &format!("{name}-c2")));
    let per_invocation = Duration::from_secs(7);
    f.runtime.invoke(update.json(&f.receiver), per_invocation).await;
    let mut invocations = 1;
    let mut duplicated = false;
    while f.receiver.seen(&update.name).is_empty() {
        let handed = f.emulator.invocations().await;
        assert_eq!(handed.len(), 1, "one hand-over at a time: {handed:?}\n{}", f.logs());
        f.deliver(&handed[0], per_invocation).await;
        invocations += 1;
        if !duplicated {
            // Lambda may deliver an asynchronous event twice: the duplicate must do nothing at all.
            duplicated = true;
            f.deliver(&handed[0], per_invocation).await;
        }
        assert!(invocations <= 10, "too many invocations:\n{}", f.logs());
    }
    assert!(invocations >= 4, "three hand-overs at least: {invocations}: {}\n{}", f.receiver.seen(&update.name)[0].json(), f.logs());
    let answers = f.receiver.seen(&update.name);
    assert_eq!(answers.len(), 1, "one answer");
    assert_eq!(answers[0].json()["Status"], "SUCCESS", "{}", answers[0].json());
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "restored once, exactly");
    let puts = f.emulator.mutations(&variant_id(name, "a")).await;
    assert_eq!(puts.iter().filter(|op| *op == "DeregisterScalableTarget").count(), 1, "{puts:?}");
    assert_eq!(f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count(), 1, "UpdateEndpoint once");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn the_service_timeout_restores_and_answers_failed() {
    let name = "deadline-ep";
    let (f, stack) = setup("deadline", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    f.emulator.timing_of(name, 1.0, 120.0, 1.0).await;
    let mut props = endpoint_props(name, &format!("{name}-c2"));
    props["ServiceTimeout"] = json!("16");
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), props);
    let (body, _) = f.send_long(&update, PER_INVOCATION, 8).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("still Updating after"), "{body}");
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "restored at the deadline");
}

#[tokio::test]
async fn create_fails_with_sagemakers_reason_and_the_rollback_delete_removes_only_its_own_endpoint() {
    let f = Function::start().await;
    let stack = Stack::new("create");
    f.emulator.timing_of("create-ep", 1.0, 1.0, 1.0).await;
    f.emulator.endpoint_config("create-ep-c1", json!([{"name": "a", "instance_type": "ml.m5.large", "instances": 1}])).await;
    f.emulator.fail_next_create("create-ep", "The image could not be pulled").await;
    let props = endpoint_props("create-ep", "create-ep-c1");
    let (body, _) = f.send_long(&stack.event("Create", "Endpoint", ENDPOINT, props.clone(), None, None), PER_INVOCATION, 6).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("The image could not be pulled"), "{body}");
    let arn = body["PhysicalResourceId"].as_str().unwrap().to_owned();
    assert!(arn.contains(":endpoint/create-ep"), "the failed create names the endpoint for the rollback: {arn}");
    let (deleted, _) = f.send_long(&stack.event("Delete", "Endpoint", ENDPOINT, props.clone(), Some(&arn), None), PER_INVOCATION, 6).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert!(f.emulator.endpoint_state("create-ep").await.is_none(), "the rollback delete removed it");

    // An endpoint of that name made by someone else: the Create fails naming it, a Delete leaves it.
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "create-ep", "config": "create-ep-c1", "tags": {"team": "other"}})).await;
    let (body, _) = f.send_long(&stack.event("Create", "Endpoint", ENDPOINT, props.clone(), None, None), PER_INVOCATION, 6).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("already exists"), "{body}");
    let foreign = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/create-ep";
    let (kept, _) = f.send_long(&stack.event("Delete", "Endpoint", ENDPOINT, props, Some(foreign), None), PER_INVOCATION, 6).await;
    assert_eq!(kept["Status"], "SUCCESS", "{kept}");
    assert!(f.emulator.endpoint_state("create-ep").await.is_some(), "never delete what this resource does not own");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_tags_only_update_calls_no_update_and_adopting_tags_the_endpoint_as_this_resources() {
    let name = "tags-ep";
    let (f, stack) = setup("tags", name).await;
    let arn = endpoint(&f, &stack, name).await;
    let mut new = endpoint_props(name, &format!("{name}-c1"));
    new["Tags"] = json!([{"Key": "owner", "Value": "search"}]);
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), new);
    let (body, invocations) = f.send_long(&update, PER_INVOCATION, 2).await;
    assert_eq!((body["Status"].as_str(), invocations), (Some("SUCCESS"), 1), "{body}");
    let tags = &f.emulator.endpoint_state(name).await.unwrap()["Tags"];
    assert_eq!(tags["owner"], "search");
    assert!(tags.get("team").is_none(), "a tag the template dropped is removed: {tags}");
    assert_eq!(tags["cfn-sagemaker-autoscaling:logical-id"], "Endpoint");
    assert!(!f.emulator.sagemaker_calls(name).await.contains(&"UpdateEndpoint".to_owned()));

    // An endpoint made outside the function, adopted: tagged as this resource's, then its own to delete.
    f.emulator.endpoint_config("adopt-ep-c1", json!([{"name": "a", "instance_type": "ml.m5.large", "instances": 1}])).await;
    f.emulator.sagemaker(json!({"kind": "endpoint", "name": "adopt-ep", "config": "adopt-ep-c1"})).await;
    let mut props = endpoint_props("adopt-ep", "adopt-ep-c1");
    props["AdoptExisting"] = json!("true");
    let (adopted, _) = f.send_long(&stack.event("Create", "Adopted", ENDPOINT, props.clone(), None, None), PER_INVOCATION, 2).await;
    assert_eq!(adopted["Status"], "SUCCESS", "{adopted}");
    assert_eq!(f.emulator.endpoint_state("adopt-ep").await.unwrap()["Tags"]["cfn-sagemaker-autoscaling:logical-id"], "Adopted");
    let adopted_arn = adopted["PhysicalResourceId"].as_str().unwrap().to_owned();
    let (deleted, _) = f.send_long(&stack.event("Delete", "Adopted", ENDPOINT, props, Some(&adopted_arn), None), PER_INVOCATION, 4).await;
    assert_eq!(deleted["Status"], "SUCCESS", "{deleted}");
    assert!(f.emulator.endpoint_state("adopt-ep").await.is_none(), "deleted once it was this resource's");
    no_model_errors(&f).await;
}

#[tokio::test]
async fn an_error_while_waiting_is_handed_over_and_the_next_invocation_restores_and_answers() {
    let name = "error-ep";
    let (f, stack) = setup("error", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    // The second DescribeEndpoint of the update (the first look while it waits) is refused for good.
    let fault = json!({"operation": "DescribeEndpoint", "match": name, "error": "AccessDeniedException", "message": "not now", "skip": 1, "times": 1});
    f.emulator.control_fault(fault).await;
    let (body, invocations) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("not now"), "{body}");
    assert!(invocations <= 2, "answered at once, or after one hand-over: {invocations}");
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "what was saved is restored, not lost");
}

#[tokio::test]
async fn an_operation_that_cannot_be_handed_over_restores_and_answers() {
    let name = "nohand-ep";
    let (f, stack) = setup("nohand", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    f.emulator.timing_of(name, 1.0, 30.0, 1.0).await;
    // No lambda:InvokeFunction on itself: the hand-over is refused for good.
    f.emulator
        .control_fault(
            json!({"operation": "Invoke", "match": "stack/nohand/", "error": "AccessDeniedException", "message": "no invoke", "times": 5}),
        )
        .await;
    let (body, invocations) = update_to(&f, &stack, name, &arn, &format!("{name}-c1"), &format!("{name}-c2"), PER_INVOCATION).await;
    assert_eq!((body["Status"].as_str(), invocations), (Some("FAILED"), 1), "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("could not be handed"), "{body}");
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "restored before answering");
}

#[tokio::test]
async fn a_duplicate_create_of_an_endpoint_still_creating_waits_for_it() {
    let name = "dup-ep";
    let (f, stack) = setup("dup", name).await;
    f.emulator.endpoint_config("dup-ep-c1", json!([{"name": "a", "instance_type": "ml.m5.large", "instances": 1}])).await;
    // This resource's own endpoint, from a first delivery, still Creating.
    let owner = json!({"cfn-sagemaker-autoscaling:stack-id": stack.id, "cfn-sagemaker-autoscaling:logical-id": "Endpoint"});
    let spec = json!({"kind": "endpoint", "name": name, "config": "dup-ep-c1", "status": "Creating", "tags": owner,
        "then": [{"after": 3, "status": "InService"}]});
    f.emulator.sagemaker(spec).await;
    let started = std::time::Instant::now();
    let (body, _) =
        f.send_long(&stack.event("Create", "Endpoint", ENDPOINT, endpoint_props(name, "dup-ep-c1"), None, None), PER_INVOCATION, 4).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert!(started.elapsed() >= Duration::from_millis(2500), "answered before the endpoint was InService");
    assert!(f.logs().contains("status=Creating"), "{}", f.logs());
}

#[tokio::test]
async fn a_refused_delete_tags_fails_the_update_before_any_change() {
    let name = "deltags-ep";
    let (f, stack) = setup("deltags", name).await;
    let (arn, before) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    // Tags are applied before the operation begins: a refusal there has changed nothing yet.
    f.emulator
        .control_fault(
            json!({"operation": "DeleteTags", "match": name, "error": "AccessDeniedException", "message": "no DeleteTags", "times": 1}),
        )
        .await;
    // The endpoint's tag `team` is dropped from the template: DeleteTags.
    let mut new = endpoint_props(name, &format!("{name}-c2"));
    new.as_object_mut().unwrap().remove("Tags");
    let update = stack.event("Update", "Endpoint", ENDPOINT, new, Some(&arn), Some(endpoint_props(name, &format!("{name}-c1"))));
    let (body, _) = f.send_long(&update, PER_INVOCATION, 4).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("no DeleteTags"), "{body}");
    assert_eq!(f.emulator.sagemaker_calls(name).await.iter().filter(|op| *op == "UpdateEndpoint").count(), 0, "no update made");
    assert_eq!(f.emulator.endpoint_state(name).await.unwrap()["EndpointConfigName"], format!("{name}-c1"));
    assert_eq!(scaling_of(&f, &variant_id(name, "a")).await, before, "auto scaling untouched");
    no_model_errors(&f).await;
}
