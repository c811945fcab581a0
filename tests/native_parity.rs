//! What the native `AWS::ApplicationAutoScaling::*` resources can say, said here: metric math, inline
//! scheduled actions, `Fn::GetAtt Id`, and PredictiveScaling refused at once. Every request is also held
//! against botocore's model by the emulator.

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Function, Stack, target_id, variant};

const POLICY: &str = "Custom::SageMakerScalingPolicy";
const ACTION: &str = "Custom::SageMakerScheduledAction";

async fn no_model_errors(f: &Function) {
    let errors = f.emulator.model_errors().await;
    assert!(errors.is_empty(), "requests that botocore's model refuses: {errors:#?}");
}

fn action(name: &str, cron: &str, min: &str) -> Value {
    json!({"ScheduledActionName": name, "Schedule": cron, "Timezone": "Europe/Berlin", "ScalableTargetAction": {"MinCapacity": min}})
}

async fn actions_on(f: &Function, resource: &str) -> Vec<Value> {
    let state = f.emulator.state().await;
    state["actions"].as_array().unwrap().iter().filter(|a| a["ResourceId"] == resource).cloned().collect()
}

fn names(actions: &[Value]) -> Vec<String> {
    let mut names: Vec<String> = actions.iter().map(|a| a["ScheduledActionName"].as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_metric_math_policy_is_sent_as_the_model_has_it() {
    let f = Function::start().await;
    let stack = Stack::new("math");
    let created = f.send(&stack.create("Target", json!({"ResourceId": variant("math-ep"), "MinCapacity": "1", "MaxCapacity": "4"}))).await;
    assert_eq!(created["Status"], "SUCCESS", "{created}");
    assert_eq!(created["Data"]["Id"], target_id("math-ep"), "GetAtt Id is the native resource's");
    let metrics = json!([
        {"Id": "backlog", "ReturnData": "false", "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "ApproximateBacklogSize", "Dimensions": [{"Name": "EndpointName", "Value": "math-ep"}]}}},
        {"Id": "instances", "ReturnData": "false", "MetricStat": {"Stat": "Average", "Unit": "Count", "Metric": {
            "Namespace": "AWS/SageMaker", "MetricName": "CPUUtilization", "Dimensions": [{"Name": "EndpointName", "Value": "math-ep"}]}}},
        {"Id": "per_instance", "Expression": "backlog / instances", "Label": "backlog per instance", "ReturnData": "true"}
    ]);
    let props = json!({"PolicyName": "backlog-per-instance", "ScalingTargetId": target_id("math-ep"),
        "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "5", "CustomizedMetricSpecification": {"Metrics": metrics}}});
    let put = f.send(&stack.event("Create", "Policy", POLICY, props, None, None)).await;
    assert_eq!(put["Status"], "SUCCESS", "{put}");
    no_model_errors(&f).await;
    let calls = f.emulator.calls_with_bodies("PutScalingPolicy", "backlog-per-instance").await;
    let sent = &calls[0]["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Metrics"];
    assert_eq!(sent[0]["ReturnData"], false);
    assert_eq!(sent[1]["MetricStat"]["Unit"], "Count");
    assert_eq!(
        sent[2],
        json!({"Id": "per_instance", "Expression": "backlog / instances", "Label": "backlog per instance", "ReturnData": true})
    );
    assert_eq!(sent[0]["MetricStat"]["Metric"]["Dimensions"], json!([{"Name": "EndpointName", "Value": "math-ep"}]));
}

#[tokio::test]
async fn predictive_scaling_fails_before_any_call() {
    let f = Function::start().await;
    let stack = Stack::new("predictive");
    // As a native template has it, PredictiveScalingPolicyConfiguration included.
    let props = json!({"PolicyName": "predict", "PolicyType": "PredictiveScaling", "ScalingTargetId": target_id("predictive-ep"),
        "PredictiveScalingPolicyConfiguration": {"Mode": "ForecastAndScale", "MetricSpecifications": [{"TargetValue": "40",
            "PredefinedMetricPairSpecification": {"PredefinedMetricType": "ECSServiceCPUUtilization"}}]}});
    let body = f.send(&stack.event("Create", "Policy", POLICY, props, None, None)).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().contains("ECS"), "{body}");
    assert!(f.emulator.calls(&variant("predictive-ep")).await.is_empty());
}

#[tokio::test]
async fn inline_actions_follow_the_template_and_leave_the_separate_resource_alone() {
    let f = Function::start().await;
    let stack = Stack::new("inline");
    let resource = variant("inline-ep");
    let v1 = json!({"ResourceId": resource, "MinCapacity": "1", "MaxCapacity": "4", "ScheduledActions": [
        action("morning", "cron(0 8 * * ? *)", "2"), action("evening", "cron(0 20 * * ? *)", "1")]});
    assert_eq!(f.send(&stack.create("Target", v1.clone())).await["Status"], "SUCCESS");
    assert_eq!(names(&actions_on(&f, &resource).await), ["evening", "morning"]);

    // The same target, scheduled by a separate resource too.
    let separate = json!({"ScheduledActionName": "weekend", "ScalingTargetId": target_id("inline-ep"), "Schedule": "cron(0 0 ? * SAT *)",
        "ScalableTargetAction": {"MaxCapacity": "2"}});
    assert_eq!(f.send(&stack.event("Create", "Weekend", ACTION, separate, None, None)).await["Status"], "SUCCESS");

    // morning changed, evening dropped, noon added: the separate action is not the inline list's to remove.
    let v2 = json!({"ResourceId": resource, "MinCapacity": "1", "MaxCapacity": "4", "ScheduledActions": [
        action("morning", "cron(30 7 * * ? *)", "3"), action("noon", "cron(0 12 * * ? *)", "2")]});
    let updated = f.send(&stack.update("Target", &target_id("inline-ep"), v2.clone(), v1)).await;
    assert_eq!(updated["Status"], "SUCCESS", "{updated}");
    let now = actions_on(&f, &resource).await;
    assert_eq!(names(&now), ["morning", "noon", "weekend"]);
    let morning = now.iter().find(|a| a["ScheduledActionName"] == "morning").unwrap();
    assert_eq!(morning["Schedule"], "cron(30 7 * * ? *)");
    assert_eq!(morning["ScalableTargetAction"]["MinCapacity"], 3);

    // Removing the property removes what it listed, and only that.
    let v3 = json!({"ResourceId": resource, "MinCapacity": "1", "MaxCapacity": "4"});
    assert_eq!(f.send(&stack.update("Target", &target_id("inline-ep"), v3.clone(), v2)).await["Status"], "SUCCESS");
    assert_eq!(names(&actions_on(&f, &resource).await), ["weekend"]);

    // Deregistering removes the target's actions (the service does).
    assert_eq!(f.send(&stack.delete("Target", &target_id("inline-ep"), v3)).await["Status"], "SUCCESS");
    assert!(actions_on(&f, &resource).await.is_empty());
    no_model_errors(&f).await;
}

#[tokio::test]
async fn a_bad_inline_action_fails_the_create_by_name_and_registers_nothing() {
    let f = Function::start().await;
    let stack = Stack::new("inline");
    let props = json!({"ResourceId": variant("inline-bad"), "MinCapacity": "1", "MaxCapacity": "4", "ScheduledActions": [
        action("a", "cron(0 8 * * ? *)", "2"), action("a", "cron(0 9 * * ? *)", "2")]});
    let body = f.send(&stack.create("Target", props)).await;
    assert_eq!(body["Status"], "FAILED", "{body}");
    assert!(body["Reason"].as_str().unwrap().starts_with("ScheduledActions names \"a\" twice"), "{body}");
    assert!(f.emulator.mutations(&variant("inline-bad")).await.is_empty());
}

/// A template's resources as JSON, with `!Sub`/`!Ref` of parameters resolved to `endpoint` and a `!Ref` of a
/// resource left as `{"Ref": name}` (read with cfn-lint's own decoder).
fn resources_of(path: &str, endpoint: &str) -> Value {
    let script = r#"
import json, sys
from cfnlint.decode import decode
template, problems = decode(sys.argv[1])
assert not problems, problems
def resolve(v):
    if isinstance(v, dict) and len(v) == 1:
        (k, a), = v.items()
        if k == "Fn::Sub": return a.replace("${EndpointName}", sys.argv[2])
        if k == "Ref" and a == "EndpointName": return sys.argv[2]
        if k == "Ref": return {"Ref": a}
        if k == "Fn::ImportValue": return a
    if isinstance(v, dict): return {k: resolve(x) for k, x in v.items()}
    if isinstance(v, list): return [resolve(x) for x in v]
    return v
print(json.dumps(resolve(template["Resources"])))
"#;
    let output = std::process::Command::new(support::python())
        .arg("-c")
        .arg(script)
        .arg(support::root().join(path))
        .arg(endpoint)
        .output()
        .expect("python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[tokio::test]
async fn the_native_template_deploys_here_with_only_types_and_service_token_changed() {
    let native = std::fs::read_to_string(support::root().join("examples/cloudformation/native-pair/native.yaml")).unwrap();
    let custom = std::fs::read_to_string(support::root().join("examples/cloudformation/native-pair/custom.yaml")).unwrap();
    let normalised: Vec<String> = custom
        .lines()
        .filter(|l| !l.trim_start().starts_with("ServiceToken:"))
        .map(|l| {
            l.replace("Custom::SageMakerScalableTarget", "AWS::ApplicationAutoScaling::ScalableTarget")
                .replace("Custom::SageMakerScalingPolicy", "AWS::ApplicationAutoScaling::ScalingPolicy")
        })
        .collect();
    let description = |lines: &[&str]| lines.iter().position(|l| l.starts_with("Parameters:")).unwrap();
    let native_lines: Vec<&str> = native.lines().collect();
    let custom_lines: Vec<&str> = normalised.iter().map(String::as_str).collect();
    assert_eq!(
        &custom_lines[description(&custom_lines)..],
        &native_lines[description(&native_lines)..],
        "custom.yaml must be native.yaml but for Type and ServiceToken"
    );

    // And it works: each resource's properties, as CloudFormation would send them, through the function.
    let f = Function::start().await;
    let stack = Stack::new("pair");
    let resources = resources_of("examples/cloudformation/native-pair/custom.yaml", "pair-ep");
    let target = f.send(&stack.create("Target", resources["Target"]["Properties"].clone())).await;
    assert_eq!(target["Status"], "SUCCESS", "{target}");
    assert_eq!(target["Data"]["Id"], target_id("pair-ep"));
    let mut policy = resources["Policy"]["Properties"].clone();
    policy["ScalingTargetId"] = target["PhysicalResourceId"].clone();
    let put = f.send(&stack.event("Create", "Policy", POLICY, policy, None, None)).await;
    assert_eq!(put["Status"], "SUCCESS", "{put}");
    assert_eq!(names(&actions_on(&f, &variant("pair-ep")).await), ["business-hours", "nights"]);
    no_model_errors(&f).await;
}

/// Moving a deployed stack from the native resources, as CloudFormation allows it (a resource's Type cannot change
/// in place): `DeletionPolicy: Retain` on the native target and policy, remove them (the target, its actions and its
/// policy stay registered), then add the custom resources with `AdoptExisting: true`.
#[tokio::test]
async fn a_stack_moves_from_the_native_resources_by_retain_remove_and_adopt() {
    let f = Function::start().await;
    let endpoint = "migrate-ep";
    f.emulator.endpoint(endpoint, "AllTraffic").await;
    let resources = resources_of("examples/cloudformation/native-pair/custom.yaml", endpoint);
    // What the native resources left registered (their calls, as CloudFormation's handlers make them; no tags).
    let props = &resources["Target"]["Properties"];
    let register = json!({"ServiceNamespace": "sagemaker", "ResourceId": variant(endpoint), "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
        "MinCapacity": 1, "MaxCapacity": 4});
    assert_eq!(f.emulator.aws("AnyScaleFrontendService", "RegisterScalableTarget", register).await.0, 200);
    for a in props["ScheduledActions"].as_array().unwrap() {
        let put = json!({"ServiceNamespace": "sagemaker", "ResourceId": variant(endpoint), "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
            "ScheduledActionName": a["ScheduledActionName"], "Schedule": a["Schedule"], "Timezone": a["Timezone"],
            "ScalableTargetAction": {"MinCapacity": a["ScalableTargetAction"]["MinCapacity"]}});
        assert_eq!(f.emulator.aws("AnyScaleFrontendService", "PutScheduledAction", put).await.0, 200);
    }
    let stack = Stack::new("migrate");

    // Without AdoptExisting the custom target refuses to take over what it did not make, naming the property.
    let refused = f.send(&stack.create("Target", props.clone())).await;
    assert_eq!(refused["Status"], "FAILED", "{refused}");
    assert!(refused["Reason"].as_str().unwrap().contains("AdoptExisting"), "{refused}");

    let mut adopting = props.clone();
    adopting["AdoptExisting"] = json!("true");
    let target = f.send(&stack.create("Target", adopting)).await;
    assert_eq!(target["Status"], "SUCCESS", "{target}");
    let mut policy = resources["Policy"]["Properties"].clone();
    policy["ScalingTargetId"] = target["PhysicalResourceId"].clone();
    let put = f.send(&stack.event("Create", "Policy", POLICY, policy, None, None)).await;
    assert_eq!(put["Status"], "SUCCESS", "{put}");
    assert_eq!(names(&actions_on(&f, &variant(endpoint)).await), ["business-hours", "nights"], "each action once");
    let registered = f.emulator.target(&variant(endpoint)).await.expect("still registered");
    assert_eq!((registered["MinCapacity"].as_i64(), registered["MaxCapacity"].as_i64()), (Some(1), Some(4)));
    no_model_errors(&f).await;
}

#[test]
fn the_readme_table_of_native_properties_is_the_schema_and_the_code() {
    use cfn_sagemaker_autoscaling::model::{TARGET_REFERENCE, action_spec, policy_spec, target_spec};
    let output =
        std::process::Command::new(support::python()).arg(support::root().join("tools/native_properties.py")).output().expect("python");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let schema: Vec<String> = String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect();
    let readme = std::fs::read_to_string(support::root().join("README.md")).unwrap();
    let table = readme
        .split("<!-- native-properties:begin")
        .nth(1)
        .and_then(|rest| rest.split("<!-- native-properties:end").next())
        .expect("the table");
    let rows: Vec<(String, bool)> = table
        .lines()
        .filter_map(|line| {
            let mut cells = line.split('|').map(str::trim).filter(|c| !c.is_empty());
            let path = cells.next()?.strip_prefix('`')?.strip_suffix('`')?.to_owned();
            Some((path, cells.next()? == "yes"))
        })
        .collect();
    let listed: Vec<&str> = rows.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(listed, schema.iter().map(String::as_str).collect::<Vec<_>>(), "the README's table must list the schema's properties");
    let policy: Vec<&str> = policy_spec::PROPERTIES.iter().chain(TARGET_REFERENCE.iter()).copied().collect();
    let metric: Vec<&str> = policy_spec::SINGLE_METRIC.iter().copied().chain(["Metrics"]).collect();
    for (path, supported) in rows {
        let (parent, name) = path.rsplit_once('.').unwrap();
        let accepted: &[&str] = match parent {
            "ScalableTarget" => &target_spec::PROPERTIES,
            "ScalableTarget.ScheduledActions" => &action_spec::PROPERTIES,
            "ScalingPolicy" => &policy,
            "ScalingPolicy.TargetTrackingScalingPolicyConfiguration" => &policy_spec::TARGET_TRACKING,
            "ScalingPolicy.TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification" => &metric,
            "ScalingPolicy.StepScalingPolicyConfiguration" => &policy_spec::STEP_SCALING,
            other => panic!("no code list for {other}"),
        };
        assert_eq!(accepted.contains(&name), supported, "{path}: the README says supported = {supported}, the code disagrees");
    }
}
