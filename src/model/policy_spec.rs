//! `Custom::SageMakerScalingPolicy` as the template describes it: target-tracking and step scaling
//! configurations validated before any call (metric against dimension, target value, step intervals), the
//! identity that decides in place versus replacement, and what a policy ARN says.

use serde_json::Value;

pub use crate::model::metric_math::{MetricQuery, MetricStat, Query, SINGLE_METRIC};
use crate::model::metric_math::{dimensions, metric_math};
use crate::model::{NAMESPACE, ScalableDimension, TargetId, named_target};
use crate::props::Props;
use crate::{Error, Result};

/// The properties a policy accepts besides the target reference ([`crate::model::TARGET_REFERENCE`]).
pub const PROPERTIES: [&str; 5] =
    ["PolicyName", "PolicyType", "TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration", "RepairDrift"];
/// The members of `TargetTrackingScalingPolicyConfiguration`.
pub const TARGET_TRACKING: [&str; 6] = [
    "TargetValue",
    "PredefinedMetricSpecification",
    "CustomizedMetricSpecification",
    "ScaleInCooldown",
    "ScaleOutCooldown",
    "DisableScaleIn",
];
/// The members of `StepScalingPolicyConfiguration`.
pub const STEP_SCALING: [&str; 5] = ["AdjustmentType", "Cooldown", "MetricAggregationType", "MinAdjustmentMagnitude", "StepAdjustments"];

/// The SageMaker predefined metrics, each for the dimension it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PredefinedMetric {
    VariantInvocationsPerInstance,
    VariantConcurrentRequestsPerModelHighResolution,
    VariantProvisionedConcurrencyUtilization,
    InferenceComponentInvocationsPerCopy,
    InferenceComponentConcurrentRequestsPerCopyHighResolution,
}

impl PredefinedMetric {
    const ALL: [Self; 5] = [
        Self::VariantInvocationsPerInstance,
        Self::VariantConcurrentRequestsPerModelHighResolution,
        Self::VariantProvisionedConcurrencyUtilization,
        Self::InferenceComponentInvocationsPerCopy,
        Self::InferenceComponentConcurrentRequestsPerCopyHighResolution,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VariantInvocationsPerInstance => "SageMakerVariantInvocationsPerInstance",
            Self::VariantConcurrentRequestsPerModelHighResolution => "SageMakerVariantConcurrentRequestsPerModelHighResolution",
            Self::VariantProvisionedConcurrencyUtilization => "SageMakerVariantProvisionedConcurrencyUtilization",
            Self::InferenceComponentInvocationsPerCopy => "SageMakerInferenceComponentInvocationsPerCopy",
            Self::InferenceComponentConcurrentRequestsPerCopyHighResolution => {
                "SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution"
            }
        }
    }

    /// The dimension this metric can drive.
    pub fn dimension(self) -> ScalableDimension {
        match self {
            Self::VariantInvocationsPerInstance | Self::VariantConcurrentRequestsPerModelHighResolution => {
                ScalableDimension::VariantInstanceCount
            }
            Self::VariantProvisionedConcurrencyUtilization => ScalableDimension::VariantProvisionedConcurrency,
            Self::InferenceComponentInvocationsPerCopy | Self::InferenceComponentConcurrentRequestsPerCopyHighResolution => {
                ScalableDimension::InferenceComponentCopyCount
            }
        }
    }

    fn parse(text: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|m| m.as_str()).collect();
            Error::invalid(format!(
                "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType {text:?} is not a SageMaker metric; expected one of: {}",
                names.join(", ")
            ))
        })
    }
}

/// A CloudWatch metric of the user's choosing (the classic form: name, namespace, dimensions, statistic).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetric {
    pub metric_name: String,
    pub namespace: String,
    pub dimensions: Vec<(String, String)>,
    pub statistic: String,
    pub unit: Option<String>,
}

/// What a target-tracking policy tracks.
#[derive(Debug, Clone, PartialEq)]
pub enum Metric {
    Predefined {
        metric: PredefinedMetric,
        resource_label: Option<String>,
    },
    Customized(CustomMetric),
    /// Metric math: the one query that returns data is the metric tracked.
    Math(Vec<MetricQuery>),
}

/// `TargetTrackingScalingPolicyConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetTracking {
    pub target_value: f64,
    pub metric: Metric,
    pub scale_in_cooldown: Option<i32>,
    pub scale_out_cooldown: Option<i32>,
    pub disable_scale_in: Option<bool>,
}

/// One `StepAdjustments` entry; a missing bound is infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step {
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub adjustment: i32,
}

/// `StepScalingPolicyConfiguration`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepScaling {
    pub adjustment_type: String,
    pub cooldown: Option<i32>,
    pub metric_aggregation_type: Option<String>,
    pub min_adjustment_magnitude: Option<i32>,
    pub steps: Vec<Step>,
}

/// The policy's configuration, by `PolicyType`.
#[derive(Debug, Clone, PartialEq)]
pub enum PolicyConfig {
    TargetTracking(TargetTracking),
    Step(StepScaling),
}

fn predictive() -> Error {
    Error::invalid(
        "PolicyType PredictiveScaling is not supported for SageMaker: Application Auto Scaling offers predictive scaling for Amazon ECS services only; use TargetTrackingScaling or StepScaling",
    )
}

/// A scaling policy as the template describes it, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySpec {
    pub name: String,
    pub target: TargetId,
    pub config: PolicyConfig,
}

impl PolicySpec {
    /// Validates `ResourceProperties`.
    ///
    /// # Errors
    /// `Invalid`, naming the first property that is wrong.
    pub fn from_properties(value: &Value) -> Result<Self> {
        // Checked before the property list: a native template's predictive policy also carries
        // PredictiveScalingPolicyConfiguration, and the reason to give is why, not that the property is unknown.
        if value.get("PolicyType").and_then(Value::as_str) == Some("PredictiveScaling") {
            return Err(predictive());
        }
        let (props, name, target) = named_target(value, &PROPERTIES, "PolicyName")?;
        props.boolean("RepairDrift")?;
        let policy_type = props.string("PolicyType")?.unwrap_or_else(|| "TargetTrackingScaling".to_owned());
        let tracking = props.nested("TargetTrackingScalingPolicyConfiguration", "TargetTrackingScalingPolicyConfiguration.")?;
        let step = props.nested("StepScalingPolicyConfiguration", "StepScalingPolicyConfiguration.")?;
        let config = match (policy_type.as_str(), tracking, step) {
            ("TargetTrackingScaling", Some(config), None) => PolicyConfig::TargetTracking(target_tracking(&config, target.dimension)?),
            ("StepScaling", None, Some(config)) => PolicyConfig::Step(step_scaling(&config)?),
            ("TargetTrackingScaling", _, Some(_)) => {
                return Err(Error::invalid("StepScalingPolicyConfiguration cannot be used with PolicyType TargetTrackingScaling"));
            }
            ("StepScaling", Some(_), _) => {
                return Err(Error::invalid("TargetTrackingScalingPolicyConfiguration cannot be used with PolicyType StepScaling"));
            }
            ("TargetTrackingScaling", None, None) => {
                return Err(Error::invalid("TargetTrackingScalingPolicyConfiguration is required for PolicyType TargetTrackingScaling"));
            }
            ("StepScaling", None, None) => {
                return Err(Error::invalid("StepScalingPolicyConfiguration is required for PolicyType StepScaling"));
            }
            (other, _, _) => {
                return Err(Error::invalid(format!("PolicyType {other:?} is not supported; use TargetTrackingScaling or StepScaling")));
            }
        };
        Ok(Self { name, target, config })
    }

    /// `TargetTrackingScaling` or `StepScaling`.
    pub fn policy_type(&self) -> &'static str {
        match self.config {
            PolicyConfig::TargetTracking(_) => "TargetTrackingScaling",
            PolicyConfig::Step(_) => "StepScaling",
        }
    }
}

fn cooldown(props: &Props<'_>, key: &str) -> Result<Option<i32>> {
    match props.integer(key)? {
        None => Ok(None),
        Some(v) if (0..=86_400).contains(&v) => Ok(Some(v as i32)),
        Some(v) => Err(Error::invalid(format!("{} must be between 0 and 86400 seconds, got {v}", props.name(key)))),
    }
}

fn target_tracking(props: &Props<'_>, dimension: ScalableDimension) -> Result<TargetTracking> {
    props.only(&TARGET_TRACKING)?;
    let target_value = props.number("TargetValue")?.ok_or_else(|| Error::invalid(format!("{} is required", props.name("TargetValue"))))?;
    if target_value <= 0.0 {
        return Err(Error::invalid(format!("{} must be greater than 0, got {target_value}", props.name("TargetValue"))));
    }
    let predefined =
        props.nested("PredefinedMetricSpecification", "TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.")?;
    let customized =
        props.nested("CustomizedMetricSpecification", "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.")?;
    let metric = match (predefined, customized) {
        (Some(p), None) => {
            p.only(&["PredefinedMetricType", "ResourceLabel"])?;
            let metric = PredefinedMetric::parse(&p.required_string("PredefinedMetricType")?)?;
            if metric.dimension() != dimension {
                return Err(Error::invalid(format!(
                    "{} {} measures {} targets, but the target's dimension is {dimension}",
                    p.name("PredefinedMetricType"),
                    metric.as_str(),
                    metric.dimension()
                )));
            }
            Metric::Predefined { metric, resource_label: p.string("ResourceLabel")? }
        }
        (None, Some(c)) if c.list("Metrics")?.is_some() => Metric::Math(metric_math(&c)?),
        (None, Some(c)) => Metric::Customized(custom_metric(&c)?),
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "TargetTrackingScalingPolicyConfiguration takes PredefinedMetricSpecification or CustomizedMetricSpecification, not both",
            ));
        }
        (None, None) => {
            return Err(Error::invalid(
                "TargetTrackingScalingPolicyConfiguration needs PredefinedMetricSpecification or CustomizedMetricSpecification",
            ));
        }
    };
    Ok(TargetTracking {
        target_value,
        metric,
        scale_in_cooldown: cooldown(props, "ScaleInCooldown")?,
        scale_out_cooldown: cooldown(props, "ScaleOutCooldown")?,
        disable_scale_in: props.boolean("DisableScaleIn")?,
    })
}

fn custom_metric(props: &Props<'_>) -> Result<CustomMetric> {
    props.only(&SINGLE_METRIC)?;
    let statistic = props.required_string("Statistic")?;
    if !["Average", "Minimum", "Maximum", "SampleCount", "Sum"].contains(&statistic.as_str()) {
        return Err(Error::invalid(format!(
            "{} {statistic:?} is not one of Average, Minimum, Maximum, SampleCount, Sum",
            props.name("Statistic")
        )));
    }
    let dimensions = dimensions(props)?;
    Ok(CustomMetric {
        metric_name: props.required_string("MetricName")?,
        namespace: props.required_string("Namespace")?,
        dimensions,
        statistic,
        unit: props.string("Unit")?,
    })
}

fn step_scaling(props: &Props<'_>) -> Result<StepScaling> {
    props.only(&STEP_SCALING)?;
    let adjustment_type = props.required_string("AdjustmentType")?;
    if !["ChangeInCapacity", "PercentChangeInCapacity", "ExactCapacity"].contains(&adjustment_type.as_str()) {
        return Err(Error::invalid(format!(
            "{} {adjustment_type:?} is not one of ChangeInCapacity, PercentChangeInCapacity, ExactCapacity",
            props.name("AdjustmentType")
        )));
    }
    let metric_aggregation_type = props.string("MetricAggregationType")?;
    if let Some(kind) = &metric_aggregation_type
        && !["Average", "Minimum", "Maximum"].contains(&kind.as_str())
    {
        return Err(Error::invalid(format!("{} {kind:?} is not one of Average, Minimum, Maximum", props.name("MetricAggregationType"))));
    }
    let min_adjustment_magnitude = match props.integer("MinAdjustmentMagnitude")? {
        None => None,
        Some(_) if adjustment_type != "PercentChangeInCapacity" => {
            return Err(Error::invalid(format!(
                "{} applies only to AdjustmentType PercentChangeInCapacity",
                props.name("MinAdjustmentMagnitude")
            )));
        }
        Some(v) if v >= 1 && v <= i64::from(i32::MAX) => Some(v as i32),
        Some(v) => return Err(Error::invalid(format!("{} must be 1 or more, got {v}", props.name("MinAdjustmentMagnitude")))),
    };
    let items = props
        .list("StepAdjustments")?
        .filter(|l| !l.is_empty())
        .ok_or_else(|| Error::invalid(format!("{} needs at least one step adjustment", props.name("StepAdjustments"))))?;
    let mut steps = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = format!("{}[{i}]", props.name("StepAdjustments"));
        let path = format!("{name}.");
        let step = Props::object(item, &name)?.at(&path);
        step.only(&["MetricIntervalLowerBound", "MetricIntervalUpperBound", "ScalingAdjustment"])?;
        let adjustment =
            step.integer("ScalingAdjustment")?.ok_or_else(|| Error::invalid(format!("{path}ScalingAdjustment is required")))?;
        let adjustment =
            i32::try_from(adjustment).map_err(|_| Error::invalid(format!("{path}ScalingAdjustment {adjustment} is out of range")))?;
        steps.push(Step { lower: step.number("MetricIntervalLowerBound")?, upper: step.number("MetricIntervalUpperBound")?, adjustment });
    }
    check_steps(&steps)?;
    Ok(StepScaling { adjustment_type, cooldown: cooldown(props, "Cooldown")?, metric_aggregation_type, min_adjustment_magnitude, steps })
}

/// Step intervals must be non-empty, must not overlap and must leave no gap; only the lowest may be
/// open below and only the highest open above.
///
/// # Errors
/// `Invalid` naming `StepAdjustments` and the offending bounds.
pub fn check_steps(steps: &[Step]) -> Result<()> {
    let bound = |b: Option<f64>, infinite: &str| b.map_or_else(|| infinite.to_owned(), |v| v.to_string());
    for step in steps {
        if let (Some(lo), Some(hi)) = (step.lower, step.upper)
            && lo >= hi
        {
            return Err(Error::invalid(format!("StepScalingPolicyConfiguration.StepAdjustments has an empty interval [{lo}, {hi})")));
        }
    }
    let mut sorted: Vec<&Step> = steps.iter().collect();
    sorted.sort_by(|a, b| a.lower.unwrap_or(f64::NEG_INFINITY).total_cmp(&b.lower.unwrap_or(f64::NEG_INFINITY)));
    for pair in sorted.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        match (a.upper, b.lower) {
            (Some(hi), Some(lo)) if hi == lo => {}
            (Some(hi), Some(lo)) if hi > lo => {
                return Err(Error::invalid(format!(
                    "StepScalingPolicyConfiguration.StepAdjustments overlap: [{}, {hi}) and [{lo}, {})",
                    bound(a.lower, "-inf"),
                    bound(b.upper, "+inf")
                )));
            }
            (Some(hi), Some(lo)) => {
                return Err(Error::invalid(format!("StepScalingPolicyConfiguration.StepAdjustments leave a gap between {hi} and {lo}")));
            }
            _ => {
                return Err(Error::invalid(
                    "StepScalingPolicyConfiguration.StepAdjustments overlap: only the lowest step may omit MetricIntervalLowerBound and only the highest may omit MetricIntervalUpperBound",
                ));
            }
        }
    }
    Ok(())
}

/// The identity that decides replacement: a new name or a new target is a new policy.
pub fn identity(value: &Value) -> Option<(String, TargetId)> {
    let props = Props::object(value, "OldResourceProperties").ok()?;
    Some((props.string("PolicyName").ok()??, TargetId::from_reference(&props).ok()?))
}

/// True when an Update keeps the policy (same name, same target): PutScalingPolicy updates it in place.
pub fn same_policy(new: &PolicySpec, old_properties: &Value) -> bool {
    identity(old_properties) == Some((new.name.clone(), new.target.clone()))
}

/// What a policy ARN says: the resource id and the policy name, as
/// `arn:<partition>:autoscaling:<region>:<account>:scalingPolicy:<id>:resource/sagemaker/<resource id>:policyName/<name>`.
pub fn parse_arn(arn: &str) -> Option<(String, String)> {
    if !arn.starts_with("arn:") || !arn.contains(":scalingPolicy:") {
        return None;
    }
    let (_, rest) = arn.split_once(&format!(":resource/{NAMESPACE}/"))?;
    let (resource, name) = rest.rsplit_once(":policyName/")?;
    Some((resource.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tracking(metric: &str, resource: &str) -> Value {
        json!({
            "PolicyName": "invocations",
            "ResourceId": resource,
            "TargetTrackingScalingPolicyConfiguration": {
                "TargetValue": "70.5",
                "PredefinedMetricSpecification": {"PredefinedMetricType": metric},
                "ScaleInCooldown": "300", "ScaleOutCooldown": 60, "DisableScaleIn": "false"
            }
        })
    }

    fn step(steps: Value) -> Value {
        json!({
            "PolicyName": "steps", "PolicyType": "StepScaling",
            "ScalingTargetId": "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker",
            "StepScalingPolicyConfiguration": {"AdjustmentType": "ChangeInCapacity", "Cooldown": "120", "MetricAggregationType": "Average", "StepAdjustments": steps}
        })
    }

    fn math(metrics: Value) -> Value {
        json!({
            "PolicyName": "backlog", "ResourceId": "endpoint/e/variant/v",
            "TargetTrackingScalingPolicyConfiguration": {"TargetValue": "5", "CustomizedMetricSpecification": {"Metrics": metrics}}
        })
    }

    fn backlog_per_instance() -> Value {
        json!([
            {"Id": "backlog", "ReturnData": "false", "MetricStat": {"Stat": "Average", "Metric": {
                "Namespace": "AWS/SageMaker", "MetricName": "ApproximateBacklogSize", "Dimensions": [{"Name": "EndpointName", "Value": "e"}]}}},
            {"Id": "instances", "ReturnData": false, "MetricStat": {"Stat": "Average", "Metric": {
                "Namespace": "/aws/sagemaker/Endpoints", "MetricName": "CPUUtilization"}}},
            {"Id": "per_instance", "Expression": "backlog / instances", "Label": "backlog per instance"}
        ])
    }

    #[test]
    fn metric_math_is_read_from_strings() {
        let spec = PolicySpec::from_properties(&math(backlog_per_instance())).unwrap();
        let PolicyConfig::TargetTracking(TargetTracking { metric: Metric::Math(queries), .. }) = &spec.config else { panic!("{spec:?}") };
        assert_eq!(queries.len(), 3);
        assert_eq!(queries[0].return_data, Some(false));
        assert_eq!(queries[2].query, Query::Expression("backlog / instances".into()));
        let Query::Stat(stat) = &queries[0].query else { panic!() };
        assert_eq!((stat.metric_name.as_str(), stat.stat.as_str()), ("ApproximateBacklogSize", "Average"));
        assert_eq!(stat.dimensions, vec![("EndpointName".to_owned(), "e".to_owned())]);
    }

    #[test]
    fn metric_math_is_refused_as_the_service_would_naming_the_query() {
        let mut twice = backlog_per_instance();
        twice[1]["Id"] = json!("backlog");
        let mut upper = backlog_per_instance();
        upper[2]["Id"] = json!("PerInstance");
        let mut both = backlog_per_instance();
        both[2]["MetricStat"] = both[0]["MetricStat"].clone();
        let mut neither = backlog_per_instance();
        neither[2].as_object_mut().unwrap().remove("Expression");
        let mut two_return = backlog_per_instance();
        two_return[1].as_object_mut().unwrap().remove("ReturnData");
        let mut none_return = backlog_per_instance();
        none_return[2]["ReturnData"] = json!("false");
        let cases = [
            (twice, "has the Id \"backlog\" twice"),
            (upper, "Metrics[2].Id \"PerInstance\" must start with a lower-case letter"),
            (both, "query \"per_instance\" has both Expression and MetricStat"),
            (neither, "query \"per_instance\" needs an Expression or a MetricStat"),
            (two_return, "exactly one query that returns data (ReturnData left out counts as true), found 2: instances, per_instance"),
            (none_return, "found 0: none"),
            (json!([]), "needs at least one query"),
        ];
        for (metrics, expected) in cases {
            let err = PolicySpec::from_properties(&math(metrics)).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let mut mixed = math(backlog_per_instance());
        mixed["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["MetricName"] = json!("x");
        let err = PolicySpec::from_properties(&mixed).unwrap_err().to_string();
        assert!(err.contains("CustomizedMetricSpecification.MetricName cannot be used with"), "{err}");
    }

    #[test]
    fn predictive_scaling_is_refused_at_once_saying_why() {
        let mut props = tracking("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/v");
        props["PolicyType"] = json!("PredictiveScaling");
        let err = PolicySpec::from_properties(&props).unwrap_err().to_string();
        assert!(err.starts_with("PolicyType PredictiveScaling is not supported") && err.contains("ECS"), "{err}");
    }

    #[test]
    fn target_tracking_reads_strings_and_numbers() {
        let spec = PolicySpec::from_properties(&tracking("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/v")).unwrap();
        let PolicyConfig::TargetTracking(t) = &spec.config else { panic!("{spec:?}") };
        assert_eq!(t.target_value, 70.5);
        assert_eq!((t.scale_in_cooldown, t.scale_out_cooldown, t.disable_scale_in), (Some(300), Some(60), Some(false)));
        assert_eq!(spec.policy_type(), "TargetTrackingScaling");
    }

    #[test]
    fn every_sagemaker_metric_fits_only_its_dimension() {
        let ok = [
            ("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/v", None),
            ("SageMakerVariantConcurrentRequestsPerModelHighResolution", "endpoint/e/variant/v", None),
            (
                "SageMakerVariantProvisionedConcurrencyUtilization",
                "endpoint/e/variant/v",
                Some("sagemaker:variant:DesiredProvisionedConcurrency"),
            ),
            ("SageMakerInferenceComponentInvocationsPerCopy", "inference-component/c", None),
            ("SageMakerInferenceComponentConcurrentRequestsPerCopyHighResolution", "inference-component/c", None),
        ];
        for (metric, resource, dimension) in ok {
            let mut props = tracking(metric, resource);
            if let Some(d) = dimension {
                props["ScalableDimension"] = json!(d);
            }
            assert!(PolicySpec::from_properties(&props).is_ok(), "{metric}");
        }
        let bad = [
            ("SageMakerVariantInvocationsPerInstance", "inference-component/c"),
            ("SageMakerInferenceComponentInvocationsPerCopy", "endpoint/e/variant/v"),
            ("SageMakerVariantProvisionedConcurrencyUtilization", "endpoint/e/variant/v"),
        ];
        for (metric, resource) in bad {
            let err = PolicySpec::from_properties(&tracking(metric, resource)).unwrap_err().to_string();
            assert!(
                err.starts_with("TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.PredefinedMetricType"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_target_tracking_is_named() {
        let mut zero = tracking("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/v");
        zero["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] = json!("0");
        assert!(
            PolicySpec::from_properties(&zero)
                .unwrap_err()
                .to_string()
                .starts_with("TargetTrackingScalingPolicyConfiguration.TargetValue must be greater than 0")
        );
        let mut unknown = tracking("SageMakerVariantFoo", "endpoint/e/variant/v");
        assert!(PolicySpec::from_properties(&unknown).unwrap_err().to_string().contains("is not a SageMaker metric"));
        unknown["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] =
            json!({"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance", "Labell": "x"});
        assert!(
            PolicySpec::from_properties(&unknown)
                .unwrap_err()
                .to_string()
                .starts_with("unknown property TargetTrackingScalingPolicyConfiguration.PredefinedMetricSpecification.Labell")
        );
        let missing = json!({"PolicyName": "p", "ResourceId": "endpoint/e/variant/v"});
        assert!(
            PolicySpec::from_properties(&missing)
                .unwrap_err()
                .to_string()
                .starts_with("TargetTrackingScalingPolicyConfiguration is required")
        );
        let predictive = json!({"PolicyName": "p", "ResourceId": "endpoint/e/variant/v", "PolicyType": "PredictiveScaling"});
        assert!(
            PolicySpec::from_properties(&predictive).unwrap_err().to_string().starts_with("PolicyType PredictiveScaling is not supported")
        );
        // As a native template has it: the configuration beside the type, and the reason is still why.
        let native = json!({"PolicyName": "p", "ResourceId": "endpoint/e/variant/v", "PolicyType": "PredictiveScaling",
            "PredictiveScalingPolicyConfiguration": {"MetricSpecifications": [{"TargetValue": 40}]}});
        let err = PolicySpec::from_properties(&native).unwrap_err().to_string();
        assert!(err.starts_with("PolicyType PredictiveScaling is not supported") && err.contains("ECS"), "{err}");
    }

    #[test]
    fn customized_metrics_are_read() {
        let props = json!({"PolicyName": "p", "ResourceId": "endpoint/e/variant/v", "TargetTrackingScalingPolicyConfiguration": {
            "TargetValue": 5, "CustomizedMetricSpecification": {"MetricName": "Latency", "Namespace": "AWS/SageMaker", "Statistic": "Average",
            "Dimensions": [{"Name": "EndpointName", "Value": "e"}]}}});
        let spec = PolicySpec::from_properties(&props).unwrap();
        let PolicyConfig::TargetTracking(TargetTracking { metric: Metric::Customized(m), .. }) = spec.config else { panic!() };
        assert_eq!(m.dimensions, vec![("EndpointName".to_owned(), "e".to_owned())]);
        let mut bad = props.clone();
        bad["TargetTrackingScalingPolicyConfiguration"]["CustomizedMetricSpecification"]["Statistic"] = json!("p99");
        assert!(PolicySpec::from_properties(&bad).unwrap_err().to_string().contains("Statistic \"p99\""));
    }

    #[test]
    fn step_intervals_must_tile_the_line() {
        let good = step(json!([
            {"MetricIntervalUpperBound": "0", "ScalingAdjustment": "-1"},
            {"MetricIntervalLowerBound": "0", "MetricIntervalUpperBound": "10", "ScalingAdjustment": "1"},
            {"MetricIntervalLowerBound": 10, "ScalingAdjustment": 3}
        ]));
        let spec = PolicySpec::from_properties(&good).unwrap();
        assert_eq!(spec.policy_type(), "StepScaling");
        let cases = [
            (
                json!([{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 5, "ScalingAdjustment": 2}]),
                "overlap",
            ),
            (
                json!([{"MetricIntervalLowerBound": 0, "MetricIntervalUpperBound": 10, "ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 20, "ScalingAdjustment": 2}]),
                "leave a gap between 10 and 20",
            ),
            (json!([{"ScalingAdjustment": 1}, {"MetricIntervalLowerBound": 0, "ScalingAdjustment": 2}]), "overlap"),
            (json!([{"MetricIntervalLowerBound": 5, "MetricIntervalUpperBound": 5, "ScalingAdjustment": 1}]), "empty interval"),
            (json!([]), "needs at least one step"),
            (json!([{"MetricIntervalLowerBound": 0}]), "StepScalingPolicyConfiguration.StepAdjustments[0].ScalingAdjustment is required"),
        ];
        for (steps, expected) in cases {
            let err = PolicySpec::from_properties(&step(steps.clone())).unwrap_err().to_string();
            assert!(err.starts_with("StepScalingPolicyConfiguration.StepAdjustments"), "{steps}: {err}");
            assert!(err.contains(expected), "{steps}: {err}");
        }
    }

    #[test]
    fn a_new_name_or_target_is_a_replacement() {
        let old = tracking("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/v");
        let same = PolicySpec::from_properties(&old).unwrap();
        assert!(same_policy(&same, &old));
        let mut renamed = old.clone();
        renamed["PolicyName"] = json!("other");
        assert!(!same_policy(&PolicySpec::from_properties(&renamed).unwrap(), &old));
        let moved = tracking("SageMakerVariantInvocationsPerInstance", "endpoint/e/variant/w");
        assert!(!same_policy(&PolicySpec::from_properties(&moved).unwrap(), &old));
        let mut retuned = old.clone();
        retuned["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] = json!(10);
        assert!(same_policy(&PolicySpec::from_properties(&retuned).unwrap(), &old));
    }

    #[test]
    fn policy_arns_give_resource_and_name() {
        let arn = "arn:aws:autoscaling:us-east-1:123456789012:scalingPolicy:6d8972f3-1111-2222-3333-444444444444:resource/sagemaker/endpoint/e/variant/v:policyName/my policy";
        assert_eq!(parse_arn(arn), Some(("endpoint/e/variant/v".to_owned(), "my policy".to_owned())));
        assert_eq!(parse_arn("create-failed-abc"), None);
        assert_eq!(parse_arn("endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker"), None);
    }
}
