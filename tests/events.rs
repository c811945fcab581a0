//! Every file in events/ is a real, replayable CloudFormation request: played in order against the compiled
//! bootstrap, each one succeeds and leaves the state it describes.

use cfn_sma_testkit as support;

use serde_json::Value;
use support::{Event, Function};

fn events() -> Vec<(String, Value)> {
    let mut files: Vec<_> = std::fs::read_dir(support::root().join("events")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_stem().unwrap().to_string_lossy().into_owned(), json)
        })
        .collect()
}

#[tokio::test]
async fn every_event_file_replays_successfully_in_order() {
    let all = events();
    assert!(all.len() >= 3, "events/ should hold at least a Create, an Update and a Delete");
    let f = Function::start().await;
    for (name, mut body) in all {
        for key in ["RequestType", "ResponseURL", "StackId", "RequestId", "LogicalResourceId", "ResourceType", "ResourceProperties"] {
            assert!(body.get(key).is_some(), "{name}: missing {key}");
        }
        body.as_object_mut().unwrap().remove("ResponseURL");
        let answer = f.send(&Event { name: name.clone(), body: body.clone() }).await;
        assert_eq!(answer["Status"], "SUCCESS", "{name}: {answer}");
        if let Some(physical) = body.get("PhysicalResourceId") {
            assert_eq!(
                &answer["PhysicalResourceId"], physical,
                "{name}: the events must chain (Create's id is what Update and Delete carry)"
            );
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
