//! `make test` (cdk-lib): every custom resource the CDK constructs synthesized (cdk/test/synthesized.json, written
//! by the construct library's tests) goes through the function's own validation, the dispatcher's first step:
//! the constructs cannot synthesize a property the function would refuse.
//!
//! `cargo run --example validate -- cdk/test/synthesized.json`

use cfn_sagemaker_autoscaling::handler::validate;
use cfn_sagemaker_autoscaling::request::{Envelope, requests};
use cfn_sagemaker_autoscaling::settings::Mode;
use std::collections::HashMap;

use serde_json::{Value, json};

/// CloudFormation resolves Ref and Fn::GetAtt before the function sees them: a Ref of a synthesized target is
/// that target's physical id (in `targets`), a Ref of a parameter its default (in `parameters`, as CloudFormation
/// sends it: a string), anything else a stand-in name.
fn resolve(value: &Value, targets: &HashMap<String, String>, parameters: &Value) -> Value {
    match value {
        Value::Object(map) if map.contains_key("Ref") => {
            let id = map["Ref"].as_str().unwrap_or_default();
            match (targets.get(id), parameters.get(id)) {
                (Some(target), _) => json!(target),
                (None, Some(default)) => json!(default.as_str().map_or_else(|| default.to_string(), str::to_owned)),
                (None, None) => json!("resolved"),
            }
        }
        Value::Object(map) if map.keys().any(|k| k.starts_with("Fn::")) => json!("resolved"),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), resolve(v, targets, parameters))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(|v| resolve(v, targets, parameters)).collect()),
        other => other.clone(),
    }
}

/// The physical id a synthesized target will have (its dimension as given, or the kind's own); a native target's
/// is its `Ref`, `<ResourceId>|<ScalableDimension>|<ServiceNamespace>`.
fn target_id(properties: &Value) -> String {
    if let (Some(resource), Some(dimension), Some(namespace)) =
        (properties["ResourceId"].as_str(), properties["ScalableDimension"].as_str(), properties["ServiceNamespace"].as_str())
    {
        return format!("{resource}|{dimension}|{namespace}");
    }
    let dimension = properties.get("ScalableDimension").and_then(Value::as_str);
    match properties.get("InferenceComponentName").and_then(Value::as_str) {
        Some(name) => {
            format!("inference-component/{name}|{}|sagemaker", dimension.unwrap_or("sagemaker:inference-component:DesiredCopyCount"))
        }
        None => format!("endpoint/resolved/variant/AllTraffic|{}|sagemaker", dimension.unwrap_or("sagemaker:variant:DesiredInstanceCount")),
    }
}

/// A native target the constructs' policies may name (recorded for its id, not validated: it is not this function's).
const NATIVE_TARGET: &str = "AWS::ApplicationAutoScaling::ScalableTarget";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: validate <synthesized.json>")?;
    let resources: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    if resources.is_empty() {
        return Err(format!("{path} lists no custom resources").into());
    }
    // Each synthesized stack's targets by logical id (two stacks may use the same one).
    let targets: HashMap<String, HashMap<String, String>> = resources
        .iter()
        .filter(|r| r["type"] == "Custom::SageMakerScalableTarget" || r["type"] == NATIVE_TARGET)
        .fold(HashMap::new(), |mut all, r| {
            all.entry(r["stack"].as_str().unwrap_or_default().to_owned())
                .or_default()
                .insert(r["id"].as_str().unwrap_or_default().to_owned(), target_id(&r["properties"]));
            all
        });
    let none = HashMap::new();
    let mut refused = 0;
    for resource in resources.iter().filter(|r| r["type"] != NATIVE_TARGET) {
        // CloudFormation sends every value as a string; the function reads both.
        let event = json!({"RequestType": "Create", "ResponseURL": "https://b.s3.amazonaws.com/x", "StackId": "arn:aws:cloudformation:us-east-1:1:stack/s/1",
            "RequestId": "r", "LogicalResourceId": resource["id"], "ResourceType": resource["type"], "ResourceProperties": resolve(&resource["properties"], targets.get(resource["stack"].as_str().unwrap_or_default()).unwrap_or(&none), &resource["parameters"])});
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
