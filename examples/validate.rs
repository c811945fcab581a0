//! `make test` (cdk-lib): every custom resource the CDK constructs synthesized (cdk/test/synthesized.json, written
//! by the construct library's tests) goes through the function's own validation, the dispatcher's first step:
//! the constructs cannot synthesize a property the function would refuse.
//!
//! `cargo run --example validate -- cdk/test/synthesized.json`

use cfn_sagemaker_autoscaling::handler::validate;
use cfn_sagemaker_autoscaling::request::{Envelope, requests};
use cfn_sagemaker_autoscaling::settings::Mode;
use serde_json::{Value, json};

/// CloudFormation resolves Ref and Fn::GetAtt before the function sees them: a Ref of a synthesized target is
/// that target's physical id (in `targets`), anything else a stand-in name.
fn resolve(value: &Value, targets: &std::collections::HashMap<String, String>) -> Value {
    match value {
        Value::Object(map) if map.contains_key("Ref") => {
            json!(map["Ref"].as_str().and_then(|id| targets.get(id)).cloned().unwrap_or_else(|| "resolved".to_owned()))
        }
        Value::Object(map) if map.keys().any(|k| k.starts_with("Fn::")) => json!("resolved"),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, targets))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, targets)).collect()),
        other => other.clone(),
    }
}

/// The physical id a synthesized target will have.
fn target_id(properties: &Value) -> String {
    match properties.get("InferenceComponentName").and_then(Value::as_str) {
        Some(name) => format!("inference-component/{name}|sagemaker:inference-component:DesiredCopyCount|sagemaker"),
        None => "endpoint/resolved/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker".to_owned(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: validate <synthesized.json>")?;
    let resources: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    if resources.is_empty() {
        return Err(format!("{path} lists no custom resources").into());
    }
    let targets = resources
        .iter()
        .filter(|r| r["type"] == "Custom::SageMakerScalableTarget")
        .map(|r| (r["id"].as_str().unwrap_or_default().to_owned(), target_id(&r["properties"])))
        .collect();
    let mut refused = 0;
    for resource in &resources {
        // CloudFormation sends every value as a string; the function reads both.
        let event = json!({"RequestType": "Create", "ResponseURL": "https://b.s3.amazonaws.com/x", "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
            "RequestId": "r", "LogicalResourceId": resource["id"], "ResourceType": resource["type"], "ResourceProperties": resolve(&resource["properties"], &targets)});
        let Some(Envelope::Request(req)) = requests(&event.to_string(), Mode::Direct).into_iter().next() else {
            return Err(format!("{}: not a complete request", resource["id"]).into());
        };
        match validate(&req) {
            Ok(_) => println!("valid    {} {}", resource["type"].as_str().unwrap_or_default(), resource["id"].as_str().unwrap_or_default()),
            Err(err) => {
                refused += 1;
                println!(
                    "REFUSED  {} {}: {err}",
                    resource["type"].as_str().unwrap_or_default(),
                    resource["id"].as_str().unwrap_or_default()
                );
            }
        }
    }
    if refused > 0 {
        Err(format!("{refused} of {} synthesized resources are refused by the function", resources.len()).into())
    } else {
        Ok(())
    }
}
