//! `make demo`: the compiled bootstrap, a loopback Lambda Runtime API, the Application Auto Scaling emulator
//! and a ResponseURL receiver, playing every file in events/ in order and printing what CloudFormation
//! would receive and what Application Auto Scaling then holds.
//!
//! `cargo run --example demo [-- events-dir]`; the bootstrap is `$CFN_SMA_BOOTSTRAP` or target/debug's.

use cfn_sma_testkit as support;

use std::time::Duration;

use serde_json::{Value, json};
use support::events::Replay;
use support::{Emulator, Event, Function, Outcome};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).map(std::path::PathBuf::from).unwrap_or_else(|| support::root().join("events"));
    let (port, _emulator_process) = support::emulator::start_emulator_process();
    let f = Function::start_with(Emulator::at(port), &[]).await;
    println!("emulator   http://127.0.0.1:{port} (moto + tests/emulator/aas_emulator.py)");
    println!("runtime    http://{} (Lambda Runtime API 2018-06-01)", f.runtime.addr);
    println!("responses  http://{}/responses/...", f.receiver.addr);
    println!("bootstrap  {}\n", support::function::bootstrap().display());

    // The demo's endpoint is still being created when the stack asks for its scaling: the function waits
    // for InService before it registers the target (as it would for a real endpoint created in the same stack).
    f.emulator
        .sagemaker(json!({"kind": "endpoint", "name": "demo-endpoint", "status": "Creating",
            "variants": [{"name": "AllTraffic", "instances": 1}], "then": [{"after": 2, "status": "InService"}]}))
        .await;
    // An asynchronous endpoint (AsyncInferenceConfig): its variant scales to zero with ScaleToZero.
    f.emulator
        .sagemaker(
            json!({"kind": "endpoint", "name": "demo-async-endpoint", "async": true, "variants": [{"name": "AllTraffic", "instances": 1}]}),
        )
        .await;
    println!("SageMaker: endpoint demo-endpoint is Creating; it turns InService in 2 s");
    println!("SageMaker: endpoint demo-async-endpoint is asynchronous (AsyncInferenceConfig) and InService\n");

    // Each Update and Delete carries the physical id its Create answered, as CloudFormation sends it.
    let mut replay = Replay::default();
    for (name, file) in Replay::files(&dir) {
        let mut body = replay.prepare(&file);
        body.as_object_mut().ok_or("an event must be a JSON object")?.remove("ResponseURL");
        let event = Event { name: name.clone(), body };
        let request_type = event.body["RequestType"].as_str().unwrap_or("?").to_owned();
        let resource_type = event.body["ResourceType"].as_str().unwrap_or("?").to_owned();
        println!("=== {name}: {request_type} {resource_type} ===");
        let logged = f.logs().lines().count();
        let started = std::time::Instant::now();
        // Seeds the SageMaker resource a target names, unless it exists (demo-endpoint does, still Creating).
        let outcome = f.invoke(&event, Duration::from_secs(60)).await;
        // What the function said about SageMaker while it handled this event.
        let said = ["waiting for InService", "registered", "scale-out-from-zero", "deregistered"];
        for line in f.logs().lines().skip(logged).filter(|l| said.iter().any(|s| l.contains(s)) && !l.contains(" response ")) {
            // The span prefix (request ids) is in every line; the message is what matters here.
            println!("function log: {}", line.rsplit_once("}: ").map_or(line, |(_, message)| message).trim());
        }
        println!("answered after {:.1} s", started.elapsed().as_secs_f64());
        if !matches!(outcome, Outcome::Response(_)) {
            println!("invocation did not succeed: {outcome:?}\n{}", f.logs());
            return Err("the function did not answer".into());
        }
        for put in f.receiver.seen(&name) {
            replay.answered(&event.body, put.json()["PhysicalResourceId"].as_str().unwrap_or_default());
            println!("CloudFormation received ({} {} bytes):", put.method, put.body.len());
            println!("{}", serde_json::to_string_pretty(&put.json())?);
        }
        let state = f.emulator.state().await;
        println!("Application Auto Scaling (targets, policies, actions) and CloudWatch (alarms) now hold:");
        println!("{}\n", serde_json::to_string_pretty(&summary(&state))?);
    }
    instance_type_change(&f).await?;
    if std::env::var_os("CFN_SMA_ECHO_LOGS").is_none() {
        println!("(set CFN_SMA_ECHO_LOGS=1 to see the function's own logs)");
    }
    Ok(())
}

/// Custom::SageMakerEndpoint: an auto-scaled endpoint moves to another instance type in place. SageMaker alone
/// refuses that; the function runs the documented sequence and puts the auto scaling back.
async fn instance_type_change(f: &Function) -> Result<(), Box<dyn std::error::Error>> {
    println!("=== Custom::SageMakerEndpoint: an instance-type change that keeps auto scaling ===");
    let stack = support::Stack::new("demo-stack");
    let config = |name: &str, instance: &str| json!([{"name": "AllTraffic", "instance_type": instance, "instances": 1, "model": name}]);
    f.emulator.endpoint_config("demo-llm-c1", config("c1", "ml.m5.large")).await;
    f.emulator.endpoint_config("demo-llm-c2", config("c2", "ml.g4dn.xlarge")).await;
    f.emulator.timing_of("demo-llm", 2.0, 6.0, 1.0).await;
    let props = |c: &str| json!({"EndpointName": "demo-llm", "EndpointConfigName": c, "ServiceTimeout": "3600"});
    let per_invocation = Duration::from_secs(8);
    let create = stack.event("Create", "Endpoint", "Custom::SageMakerEndpoint", props("demo-llm-c1"), None, None);
    let (created, _) = f.send_long(&create, per_invocation, 10).await;
    let arn = created["PhysicalResourceId"].as_str().unwrap_or_default().to_owned();
    println!("created {arn} on demo-llm-c1 (ml.m5.large): {}", created["Status"]);
    let target = json!({"EndpointName": "demo-llm", "VariantName": "AllTraffic", "MinCapacity": "1", "MaxCapacity": "4"});
    f.send(&stack.create("Scaling", target)).await;
    let policy = json!({"PolicyName": "demo-llm-invocations", "ScalingTargetId": "endpoint/demo-llm/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker",
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "70", "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}});
    f.send(&stack.event("Create", "Policy", "Custom::SageMakerScalingPolicy", policy, None, None)).await;
    let scaled =
        json!({"EndpointName": "demo-llm", "DesiredWeightsAndCapacities": [{"VariantName": "AllTraffic", "DesiredInstanceCount": 3}]});
    f.emulator.aws("SageMaker", "UpdateEndpointWeightsAndCapacities", scaled).await;
    println!("auto scaling on AllTraffic (1..4, a target-tracking policy); scaled out to 3 instances");
    let direct = json!({"EndpointName": "demo-llm", "EndpointConfigName": "demo-llm-c2"});
    let (_, refused) = f.emulator.aws("SageMaker", "UpdateEndpoint", direct).await;
    println!("UpdateEndpoint to ml.g4dn.xlarge, without this resource: {}", refused["message"].as_str().unwrap_or_default());
    let logged = f.logs().lines().count();
    let update =
        stack.event("Update", "Endpoint", "Custom::SageMakerEndpoint", props("demo-llm-c2"), Some(&arn), Some(props("demo-llm-c1")));
    let (updated, invocations) = f.send_long(&update, per_invocation, 12).await;
    for line in f.logs().lines().skip(logged).filter(|l| l.contains(" step=")) {
        println!("function log: {}", line.rsplit_once("}: ").map_or(line, |(_, message)| message).trim());
    }
    println!("CloudFormation received, after {invocations} invocations of {} s each:", per_invocation.as_secs());
    println!("{}", serde_json::to_string_pretty(&updated)?);
    let endpoint = f.emulator.endpoint_state("demo-llm").await.unwrap_or_default();
    let target = f.emulator.target("endpoint/demo-llm/variant/AllTraffic").await.unwrap_or_default();
    println!(
        "the endpoint is on {} with {} instances; its target is back (Min {}, Max {}, owner {})\n",
        endpoint["EndpointConfigName"],
        endpoint["ProductionVariants"][0]["CurrentInstanceCount"],
        target["MinCapacity"],
        target["MaxCapacity"],
        target["Tags"]["cfn-sagemaker-autoscaling:logical-id"]
    );
    Ok(())
}

/// The state without the noise (creation times).
fn summary(state: &Value) -> Value {
    let mut state = state.clone();
    for list in ["targets", "policies", "actions", "alarms"] {
        if let Some(items) = state[list].as_array_mut() {
            for item in items {
                if let Some(map) = item.as_object_mut() {
                    map.remove("CreationTime");
                }
            }
        }
    }
    state
}
