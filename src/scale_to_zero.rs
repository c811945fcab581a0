//! Scale to zero: the step scaling policy and the CloudWatch alarm that bring an inference component back from
//! zero copies, or an asynchronous endpoint's variant back from zero instances (target tracking cannot), as pure
//! decisions. The resource module carries them out through the shell.

use crate::model::policy_spec::{PolicyConfig, PolicySpec, Step, StepScaling};
use crate::model::target_spec::{Owner, Tags};
use crate::model::{ResourceId, TargetId};
use crate::request::RequestType;

/// The step policy and the alarm are both named `<InferenceComponentName>-scale-out-from-zero`, or
/// `<EndpointName>-<VariantName>-scale-out-from-zero` for an asynchronous endpoint's variant.
pub const SUFFIX: &str = "-scale-out-from-zero";

/// The name of the policy and the alarm for a target.
pub fn name(id: &TargetId) -> String {
    match &id.resource {
        ResourceId::InferenceComponent { name } => format!("{name}{SUFFIX}"),
        ResourceId::Variant { endpoint, variant } => format!("{endpoint}-{variant}{SUFFIX}"),
    }
}

/// Why `ScaleToZero` cannot be had on `id`, known once SageMaker has described it: a variant scales to zero only
/// when its endpoint is asynchronous (SageMaker queues the requests that arrive at zero instances).
pub fn refusal(id: &TargetId, asked: bool, asynchronous: bool) -> Option<String> {
    match &id.resource {
        ResourceId::Variant { endpoint, variant } if asked && !asynchronous => Some(format!(
            "ScaleToZero on variant {variant} of endpoint {endpoint}: the endpoint is real-time (its configuration has no \
             AsyncInferenceConfig), and SageMaker scales a real-time endpoint to zero only as inference components; use \
             ScaleToZero on a target of an inference component, or an asynchronous endpoint"
        )),
        _ => None,
    }
}

/// The step scaling policy: one more copy, or instance, as soon as a request finds no capacity. A variant's
/// follows SageMaker's guide to autoscaling an asynchronous endpoint (Average, a 300 s cooldown).
pub fn step_policy(id: &TargetId, name: &str) -> PolicySpec {
    let (cooldown, aggregation) = match id.resource {
        ResourceId::InferenceComponent { .. } => (60, "Maximum"),
        ResourceId::Variant { .. } => (300, "Average"),
    };
    PolicySpec {
        name: name.to_owned(),
        target: id.clone(),
        config: PolicyConfig::Step(StepScaling {
            adjustment_type: "ChangeInCapacity".into(),
            cooldown: Some(cooldown),
            metric_aggregation_type: Some(aggregation.into()),
            min_adjustment_magnitude: None,
            steps: vec![Step { lower: Some(0.0), upper: None, adjustment: 1 }],
        }),
    }
}

/// What the alarm watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watched {
    /// `NoCapacityInvocationFailures` of an inference component.
    Component(String),
    /// `HasBacklogWithoutCapacity` of an asynchronous endpoint.
    AsyncEndpoint(String),
}

/// The CloudWatch alarm whose action is the step policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AlarmSpec {
    pub name: String,
    pub watched: Watched,
    pub policy_arn: String,
    pub tags: Tags,
}

impl AlarmSpec {
    /// The alarm for `id`, firing `policy_arn`, tagged with `owner`.
    pub fn new(id: &TargetId, name: &str, policy_arn: &str, owner: &Owner) -> Self {
        let watched = match &id.resource {
            ResourceId::InferenceComponent { name } => Watched::Component(name.clone()),
            ResourceId::Variant { endpoint, .. } => Watched::AsyncEndpoint(endpoint.clone()),
        };
        Self { name: name.to_owned(), watched, policy_arn: policy_arn.to_owned(), tags: owner.tags() }
    }
}

/// What a PutMetricAlarm request for `alarm` holds, as the contract lists it (CloudWatch's JSON field names). An
/// asynchronous endpoint's is SageMaker's guide's: `HasBacklogWithoutCapacity` by EndpointName, Average over 60 s,
/// two of two periods at 1 or more.
pub fn alarm_request(alarm: &AlarmSpec) -> serde_json::Value {
    let tags: Vec<serde_json::Value> = alarm.tags.iter().map(|(k, v)| serde_json::json!({"Key": k, "Value": v})).collect();
    let (description, metric, dimension, value, statistic, period, periods) = match &alarm.watched {
        Watched::Component(c) => (
            format!("Scales inference component {c} out from zero copies (cfn-sagemaker-autoscaling ScaleToZero)"),
            "NoCapacityInvocationFailures",
            "InferenceComponentName",
            c,
            "Maximum",
            30,
            1,
        ),
        Watched::AsyncEndpoint(e) => (
            format!("Scales asynchronous endpoint {e} out from zero instances (cfn-sagemaker-autoscaling ScaleToZero)"),
            "HasBacklogWithoutCapacity",
            "EndpointName",
            e,
            "Average",
            60,
            2,
        ),
    };
    serde_json::json!({
        "AlarmName": alarm.name,
        "AlarmDescription": description,
        "Namespace": "AWS/SageMaker",
        "MetricName": metric,
        "Dimensions": [{"Name": dimension, "Value": value}],
        "Statistic": statistic,
        "Period": period,
        "EvaluationPeriods": periods,
        "DatapointsToAlarm": periods,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "ActionsEnabled": true,
        "AlarmActions": [alarm.policy_arn],
        "Tags": tags,
    })
}

/// Whose the alarm of that name is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlarmOwner {
    /// There is none.
    Absent,
    /// This resource's: its ownership tags name it.
    Me,
    /// Another resource's, or made outside this function (no ownership tags): the text says which.
    Foreign(String),
}

/// Judges an alarm's tags (`None`: no alarm of that name).
pub fn owner_of(tags: Option<&Tags>, me: &Owner) -> AlarmOwner {
    let Some(tags) = tags else { return AlarmOwner::Absent };
    match Owner::from_tags(tags) {
        Some(owner) if &owner == me => AlarmOwner::Me,
        Some(owner) => AlarmOwner::Foreign(owner.to_string()),
        None => AlarmOwner::Foreign("made outside this function (it has no ownership tags)".into()),
    }
}

/// What a Create or Update does about the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroAction {
    /// Not asked for before or now: no call.
    Nothing,
    /// Put the policy and the alarm (again): asked for now.
    Ensure,
    /// Asked for before, not any more (same target): delete the alarm (if this resource's) and the policy.
    Remove,
}

/// The action for a Create or Update. `was` is the old template's `ScaleToZero`, judged only for an Update
/// that keeps the target (a replacement's old target is cleaned up by CloudFormation's Delete of its id).
pub fn action(request_type: RequestType, now: bool, was: bool, same_target: bool) -> ZeroAction {
    match (now, request_type == RequestType::Update && same_target && was) {
        (true, _) => ZeroAction::Ensure,
        (false, true) => ZeroAction::Remove,
        (false, false) => ZeroAction::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ScalableDimension;

    fn component() -> TargetId {
        TargetId::new(ResourceId::parse("inference-component/llm", "ResourceId").unwrap(), ScalableDimension::InferenceComponentCopyCount)
            .unwrap()
    }

    fn me() -> Owner {
        Owner { stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(), logical_id: "Target".into() }
    }

    fn variant() -> TargetId {
        TargetId::new(ResourceId::parse("endpoint/e/variant/v", "ResourceId").unwrap(), ScalableDimension::VariantInstanceCount).unwrap()
    }

    #[test]
    fn the_pair_is_named_after_the_component_or_the_endpoint_and_variant() {
        assert_eq!(name(&component()), "llm-scale-out-from-zero");
        assert_eq!(name(&variant()), "e-v-scale-out-from-zero");
    }

    #[test]
    fn a_variant_scales_to_zero_only_on_an_asynchronous_endpoint() {
        let why = refusal(&variant(), true, false).expect("a real-time variant is refused");
        assert!(why.contains("real-time") && why.contains("inference components") && why.contains("AsyncInferenceConfig"), "{why}");
        assert_eq!(refusal(&variant(), true, true), None);
        assert_eq!(refusal(&variant(), false, false), None, "not asked for");
        assert_eq!(refusal(&component(), true, false), None);
    }

    #[test]
    fn an_asynchronous_endpoints_pair_is_sagemakers_guides() {
        let policy = step_policy(&variant(), "e-v-scale-out-from-zero");
        let PolicyConfig::Step(step) = &policy.config else { panic!("not a step policy") };
        assert_eq!((step.cooldown, step.metric_aggregation_type.as_deref()), (Some(300), Some("Average")));
        assert_eq!(step.steps, vec![Step { lower: Some(0.0), upper: None, adjustment: 1 }]);
        let request = alarm_request(&AlarmSpec::new(&variant(), "e-v-scale-out-from-zero", "arn:policy", &me()));
        assert_eq!(request["MetricName"], "HasBacklogWithoutCapacity");
        assert_eq!(request["Dimensions"], serde_json::json!([{"Name": "EndpointName", "Value": "e"}]));
        assert_eq!((request["Statistic"].as_str(), request["Period"].as_i64()), (Some("Average"), Some(60)));
        assert_eq!((request["EvaluationPeriods"].as_i64(), request["DatapointsToAlarm"].as_i64()), (Some(2), Some(2)));
        assert_eq!(request["AlarmActions"], serde_json::json!(["arn:policy"]));
    }

    #[test]
    fn the_step_policy_is_the_contracts() {
        let policy = step_policy(&component(), "llm-scale-out-from-zero");
        let PolicyConfig::Step(step) = &policy.config else { panic!("not a step policy") };
        assert_eq!(policy.policy_type(), "StepScaling");
        assert_eq!(
            (step.adjustment_type.as_str(), step.cooldown, step.metric_aggregation_type.as_deref()),
            ("ChangeInCapacity", Some(60), Some("Maximum"))
        );
        assert_eq!(step.steps, vec![Step { lower: Some(0.0), upper: None, adjustment: 1 }]);
        crate::model::policy_spec::check_steps(&step.steps).unwrap();
    }

    #[test]
    fn the_alarm_is_the_contracts_and_fires_the_policy() {
        let alarm = AlarmSpec::new(&component(), "llm-scale-out-from-zero", "arn:policy", &me());
        let request = alarm_request(&alarm);
        assert_eq!(request["Namespace"], "AWS/SageMaker");
        assert_eq!(request["MetricName"], "NoCapacityInvocationFailures");
        assert_eq!(request["Dimensions"], serde_json::json!([{"Name": "InferenceComponentName", "Value": "llm"}]));
        assert_eq!((request["Statistic"].as_str(), request["Period"].as_i64()), (Some("Maximum"), Some(30)));
        assert_eq!((request["EvaluationPeriods"].as_i64(), request["DatapointsToAlarm"].as_i64()), (Some(1), Some(1)));
        assert_eq!(
            (request["Threshold"].as_f64(), request["ComparisonOperator"].as_str()),
            (Some(1.0), Some("GreaterThanOrEqualToThreshold"))
        );
        assert_eq!(request["TreatMissingData"], "missing");
        assert_eq!(request["AlarmActions"], serde_json::json!(["arn:policy"]));
        let tags: Tags = request["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["Key"].as_str().unwrap().into(), t["Value"].as_str().unwrap().into()))
            .collect();
        assert_eq!(Owner::from_tags(&tags), Some(me()));
    }

    #[test]
    fn only_this_resources_alarm_is_its_own() {
        assert_eq!(owner_of(None, &me()), AlarmOwner::Absent);
        assert_eq!(owner_of(Some(&me().tags()), &me()), AlarmOwner::Me);
        let other = Owner { logical_id: "Other".into(), ..me() };
        assert!(matches!(owner_of(Some(&other.tags()), &me()), AlarmOwner::Foreign(w) if w.contains("owned by Other")));
        assert!(matches!(owner_of(Some(&Tags::new()), &me()), AlarmOwner::Foreign(w) if w.contains("no ownership tags")));
    }

    #[test]
    fn create_and_update_actions_follow_the_template() {
        use RequestType::{Create, Update};
        assert_eq!(action(Create, true, false, false), ZeroAction::Ensure);
        assert_eq!(action(Create, false, true, false), ZeroAction::Nothing, "a Create has no old template");
        assert_eq!(action(Update, true, true, true), ZeroAction::Ensure, "unchanged: put again, idempotent");
        assert_eq!(action(Update, true, false, true), ZeroAction::Ensure);
        assert_eq!(action(Update, false, true, true), ZeroAction::Remove);
        assert_eq!(action(Update, false, false, true), ZeroAction::Nothing);
        assert_eq!(action(Update, false, true, false), ZeroAction::Nothing, "a replacement's old pair goes with the old id's Delete");
    }
}
