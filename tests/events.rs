//! Every file in events/ is a real, replayable CloudFormation request: played in order against the compiled
//! bootstrap, each one succeeds and leaves the state it describes.

use cfn_sma_testkit as support;

use serde_json::Value;
use support::events::Replay;
use support::{Event, Function};

fn events() -> Vec<(String, Value)> {
    Replay::files(&support::root().join("events"))
}

#[tokio::test]
async fn every_event_file_replays_successfully_in_order() {
    let all = events();
    assert!(all.len() >= 3, "events/ should hold at least a Create, an Update and a Delete");
    let f = Function::start().await;
    let mut replay = Replay::default();
    for (name, file) in all {
        let mut body = replay.prepare(&file);
        for key in ["RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType", "ResourceProperties"] {
            assert!(body.get(key).is_some(), "{name}: missing {key}");
        }
        body.as_object_mut().unwrap().remove("ResponseURL");
        let answer = f.send(&Event { name: name.clone(), body: body.clone() }).await;
        assert_eq!(answer["Status"], "SUCCESS", "{name}: {answer}");
        replay.answered(&body, answer["PhysicalResourceId"].as_str().unwrap());
        if let Some(physical) = body.get("PhysicalResourceId") {
            assert_eq!(&answer["PhysicalResourceId"], physical, "{name}: an Update in place keeps its id, a Delete echoes it");
        }
        // Target and scheduled-action ids are names, so the files chain as written; a policy's ARN is new
        // on every Create (as in AWS), so only its shape can be written down.
        if let (Some(written), false) = (file.get("PhysicalResourceId"), body["ResourceType"] == "Custom::SageMakerScalingPolicy") {
            assert_eq!(&answer["PhysicalResourceId"], written, "{name}: the events must chain");
        }
        let state = f.emulator.state().await;
        let deleted = body["RequestType"] == "Delete";
        if body["ResourceType"] == "Custom::SageMakerScalingPolicy" {
            let arn = &answer["PhysicalResourceId"];
            let found = state["policies"].as_array().unwrap().iter().any(|p| &p["PolicyARN"] == arn);
            assert_eq!(found, !deleted, "{name}: policy {arn} present = {found}");
        }
        if body["ResourceType"] == "Custom::SageMakerScheduledAction" {
            let action = body["ResourceProperties"]["ScheduledActionName"].clone();
            let found = state["actions"].as_array().unwrap().iter().find(|a| a["ScheduledActionName"] == action);
            assert_eq!(found.is_some(), !deleted, "{name}: action {action} present");
            if let Some(found) = found {
                assert_eq!(found["Schedule"], body["ResourceProperties"]["Schedule"], "{name}");
            }
        }
        let resource = answer["Data"]["ResourceId"].as_str().map(str::to_owned);
        if body["ResourceType"] == support::TARGET {
            let id = body
                .get("PhysicalResourceId")
                .and_then(Value::as_str)
                .map(|p| p.split('|').next().unwrap().to_owned())
                .or(resource)
                .unwrap();
            let target = f.emulator.target(&id).await;
            match body["RequestType"].as_str().unwrap() {
                "Delete" => assert!(target.is_none(), "{name}: the target is still registered"),
                _ => {
                    let target = target.unwrap_or_else(|| panic!("{name}: no target"));
                    assert_eq!(target["MinCapacity"].to_string(), body["ResourceProperties"]["MinCapacity"].as_str().unwrap());
                }
            }
        }
    }
}

#[test]
fn every_event_file_reads_and_its_properties_validate_without_any_server() {
    use cfn_sagemaker_autoscaling::model::{action_spec::ActionSpec, policy_spec::PolicySpec, target_spec::TargetSpec};
    use cfn_sagemaker_autoscaling::request::{Envelope, ResourceType, requests};
    use cfn_sagemaker_autoscaling::settings::Mode;
    let all = events();
    assert!(all.len() >= 9, "events/ holds a Create, Update and Delete of each of the three types");
    for (name, body) in all {
        let mut envelopes = requests(&body.to_string(), Mode::Direct);
        assert_eq!(envelopes.len(), 1, "{name}");
        let Envelope::Request(req) = envelopes.remove(0) else { panic!("{name}: not a complete request") };
        assert_eq!(req.request_type.as_str(), body["RequestType"], "{name}");
        let valid = match req.resource_type {
            ResourceType::ScalableTarget => TargetSpec::from_properties(&req.properties).map(drop),
            ResourceType::ScalingPolicy => PolicySpec::from_properties(&req.properties).map(drop),
            ResourceType::ScheduledAction => ActionSpec::from_properties(&req.properties).map(drop),
            ResourceType::Endpoint => {
                cfn_sagemaker_autoscaling::model::endpoint_spec::EndpointSpec::from_properties(&req.properties, "unnamed").map(drop)
            }
            ResourceType::Other(other) => panic!("{name}: {other} is not served"),
        };
        assert_eq!(valid, Ok(()), "{name}");
        let allowed = cfn_sagemaker_autoscaling::response_url::AllowedHost::parse("127.0.0.1:9876").unwrap();
        assert!(cfn_sagemaker_autoscaling::response_url::check(&req.response_url, &[allowed]).is_ok(), "{name}");
    }
}
