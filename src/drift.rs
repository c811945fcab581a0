//! Drift of the scaling configuration, as pure decisions: what Application Auto Scaling showed right after the
//! function applied a target, policy or scheduled action (kept in the operations journal under the resource's
//! physical id), against what it shows now, field by field; and the embedded-metric-format line that counts the
//! drifted resources for CloudWatch. The shell reads and writes (see `shell::drift`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::model::TargetId;
use crate::model::action_spec::ActionSpec;
use crate::model::policy_spec::PolicySpec;
use crate::request::ResourceType;

/// The journal key of a resource's applied state.
pub fn applied_key(physical_id: &str) -> String {
    format!("applied|{physical_id}")
}

/// The namespace of the `DriftedResources` metric.
pub const METRIC_NAMESPACE: &str = "cfn-sagemaker-autoscaling";

/// How Application Auto Scaling is asked for one resource: the Describe operation and its request. The list in
/// its answer and the fields compared (the ones the template sets; ARNs, times of creation and alarms aside) follow
/// from the operation (see [`DESCRIBES`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Lookup {
    pub operation: &'static str,
    pub request: Value,
}

/// Each Describe: its operation, the list in its answer, and the fields compared.
const DESCRIBES: [(&str, &str, &[&str]); 3] = [
    ("DescribeScalableTargets", "ScalableTargets", &["MinCapacity", "MaxCapacity", "SuspendedState", "RoleARN"]),
    (
        "DescribeScalingPolicies",
        "ScalingPolicies",
        &["PolicyType", "TargetTrackingScalingPolicyConfiguration", "StepScalingPolicyConfiguration"],
    ),
    ("DescribeScheduledActions", "ScheduledActions", &["Schedule", "Timezone", "StartTime", "EndTime", "ScalableTargetAction"]),
];

fn key(target: &TargetId) -> Value {
    json!({"ServiceNamespace": "sagemaker", "ResourceId": target.resource.to_string(), "ScalableDimension": target.dimension.as_str()})
}

impl Lookup {
    pub fn target(id: &TargetId) -> Self {
        let request =
            json!({"ServiceNamespace": "sagemaker", "ResourceIds": [id.resource.to_string()], "ScalableDimension": id.dimension.as_str()});
        Self { operation: DESCRIBES[0].0, request }
    }

    pub fn policy(spec: &PolicySpec) -> Self {
        let mut request = key(&spec.target);
        request["PolicyNames"] = json!([spec.name]);
        Self { operation: DESCRIBES[1].0, request }
    }

    pub fn action(spec: &ActionSpec) -> Self {
        let mut request = key(&spec.target);
        request["ScheduledActionNames"] = json!([spec.name]);
        Self { operation: DESCRIBES[2].0, request }
    }

    /// The lookup of a Describe named `operation` (as the journal keeps it), if it is one of [`DESCRIBES`].
    fn of(operation: &str, request: Value) -> Option<Self> {
        DESCRIBES.iter().find(|(op, _, _)| *op == operation).map(|(op, _, _)| Self { operation: op, request })
    }

    /// The compared fields of the one item a Describe answered (`None`: the resource is gone).
    pub fn state(&self, answer: &Value) -> Option<Value> {
        let (_, list, fields) = DESCRIBES.iter().find(|(op, _, _)| *op == self.operation)?;
        let item = answer.get(*list)?.as_array()?.first()?;
        let kept: Map<String, Value> =
            fields.iter().filter_map(|f| item.get(*f).filter(|v| !v.is_null()).map(|v| ((*f).to_owned(), v.clone()))).collect();
        Some(Value::Object(kept))
    }
}

/// A resource's applied state, as the journal keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub physical_id: String,
    pub resource_type: ResourceType,
    pub lookup: Lookup,
    /// The compared fields, as Application Auto Scaling showed them right after the function applied them.
    pub state: Value,
    /// The template's properties, to put back with `RepairDrift`.
    pub properties: Value,
    pub repair: bool,
    pub stack_id: String,
    pub logical_id: String,
}

impl Applied {
    /// The DynamoDB item.
    pub fn to_item(&self, now_ms: u64) -> Value {
        json!({
            "Id": {"S": applied_key(&self.physical_id)},
            "PhysicalId": {"S": self.physical_id},
            "ResourceType": {"S": self.resource_type.as_str()},
            "Describe": {"S": self.lookup.operation},
            "Request": {"S": self.lookup.request.to_string()},
            "State": {"S": self.state.to_string()},
            "Properties": {"S": self.properties.to_string()},
            "RepairDrift": {"BOOL": self.repair},
            "StackId": {"S": self.stack_id},
            "LogicalResourceId": {"S": self.logical_id},
            "Applied": {"N": now_ms.to_string()},
        })
    }

    /// Reads an item written by [`Applied::to_item`].
    ///
    /// # Errors
    /// A missing or unreadable attribute, named.
    pub fn from_item(item: &Value) -> Result<Self, String> {
        let text = |name: &str| item.get(name).and_then(|v| v.get("S")).and_then(Value::as_str).ok_or_else(|| format!("no {name}"));
        let json = |name: &str| text(name).and_then(|t| serde_json::from_str::<Value>(t).map_err(|e| format!("{name}: {e}")));
        let describe = text("Describe")?;
        let lookup = Lookup::of(describe, json("Request")?).ok_or_else(|| format!("unknown Describe {describe}"))?;
        Ok(Self {
            physical_id: text("PhysicalId")?.to_owned(),
            resource_type: ResourceType::parse(text("ResourceType")?),
            lookup,
            state: json("State")?,
            properties: json("Properties")?,
            repair: item.get("RepairDrift").and_then(|v| v.get("BOOL")).and_then(Value::as_bool).unwrap_or(false),
            stack_id: text("StackId")?.to_owned(),
            logical_id: text("LogicalResourceId")?.to_owned(),
        })
    }
}

/// One field that differs: its path, the value applied and the value found (`absent` when there is none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub field: String,
    pub applied: String,
    pub found: String,
}

fn leaves(value: &Value, path: String, out: &mut BTreeMap<String, Value>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                leaves(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                leaves(v, format!("{path}[{i}]"), out);
            }
        }
        other => {
            out.insert(path, other.clone());
        }
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => (x - y).abs() < 1e-9,
        _ => a == b,
    }
}

fn shown(value: Option<&Value>) -> String {
    match value {
        None => "absent".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Every field that differs between what was applied and what is found now (`None`: the resource is gone).
pub fn differences(applied: &Value, found: Option<&Value>) -> Vec<Difference> {
    let Some(found) = found else {
        return vec![Difference { field: "(resource)".into(), applied: "present".into(), found: "absent".into() }];
    };
    let (mut a, mut f) = (BTreeMap::new(), BTreeMap::new());
    leaves(applied, String::new(), &mut a);
    leaves(found, String::new(), &mut f);
    let mut paths: Vec<&String> = a.keys().chain(f.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|p| !matches!((a.get(*p), f.get(*p)), (Some(x), Some(y)) if same(x, y)))
        .map(|p| Difference { field: p.clone(), applied: shown(a.get(p)), found: shown(f.get(p)) })
        .collect()
}

/// The embedded-metric-format line that CloudWatch turns into `DriftedResources` (namespace
/// `cfn-sagemaker-autoscaling`, dimension `ResourceType`), one per resource type.
pub fn metric_line(resource_type: &str, drifted: usize, now_ms: u64) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRIC_NAMESPACE,
                "Dimensions": [["ResourceType"]],
                "Metrics": [{"Name": "DriftedResources", "Unit": "Count"}],
            }],
        },
        "ResourceType": resource_type,
        "DriftedResources": drifted,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ResourceId, ScalableDimension};

    fn target() -> TargetId {
        TargetId::new(ResourceId::parse("endpoint/e/variant/v", "ResourceId").unwrap(), ScalableDimension::VariantInstanceCount).unwrap()
    }

    #[test]
    fn a_console_edit_is_one_difference_per_field_with_both_values() {
        let applied = json!({"MinCapacity": 1, "MaxCapacity": 4, "SuspendedState": {"ScheduledScalingSuspended": false}});
        let found = json!({"MinCapacity": 1, "MaxCapacity": 9, "SuspendedState": {"ScheduledScalingSuspended": true}});
        assert_eq!(
            differences(&applied, Some(&found)),
            vec![
                Difference { field: "MaxCapacity".into(), applied: "4".into(), found: "9".into() },
                Difference { field: "SuspendedState.ScheduledScalingSuspended".into(), applied: "false".into(), found: "true".into() },
            ]
        );
        assert!(differences(&applied, Some(&applied)).is_empty(), "nothing changed, nothing reported");
        assert!(differences(&json!({"TargetValue": 70}), Some(&json!({"TargetValue": 70.0}))).is_empty(), "70 is 70.0");
        let added = differences(&json!({"A": 1}), Some(&json!({"A": 1, "B": 2})));
        assert_eq!(added, vec![Difference { field: "B".into(), applied: "absent".into(), found: "2".into() }]);
        assert_eq!(differences(&applied, None)[0].found, "absent", "a resource deleted outside");
    }

    #[test]
    fn the_state_keeps_only_what_the_template_sets() {
        let answer = json!({"ScalableTargets": [{"MinCapacity": 1, "MaxCapacity": 4, "ScalableTargetARN": "arn", "CreationTime": 1.0,
            "SuspendedState": {"DynamicScalingInSuspended": false}}]});
        let state = Lookup::target(&target()).state(&answer).unwrap();
        assert_eq!(state, json!({"MinCapacity": 1, "MaxCapacity": 4, "SuspendedState": {"DynamicScalingInSuspended": false}}));
        assert_eq!(Lookup::target(&target()).state(&json!({"ScalableTargets": []})), None);
    }

    #[test]
    fn an_applied_state_survives_the_journal() {
        let applied = Applied {
            physical_id: target().physical_id(),
            resource_type: ResourceType::ScalableTarget,
            lookup: Lookup::target(&target()),
            state: json!({"MinCapacity": 1}),
            properties: json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "1", "MaxCapacity": "4", "RepairDrift": "true"}),
            repair: true,
            stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(),
            logical_id: "Target".into(),
        };
        let item = applied.to_item(5);
        assert_eq!(item["Id"]["S"], format!("applied|{}", target().physical_id()));
        assert_eq!(Applied::from_item(&item).unwrap(), applied);
    }

    #[test]
    fn the_metric_line_is_embedded_metric_format() {
        let line: Value = serde_json::from_str(&metric_line("Custom::SageMakerScalingPolicy", 2, 1_700_000_000_000)).unwrap();
        assert_eq!(line["DriftedResources"], 2);
        assert_eq!(line["ResourceType"], "Custom::SageMakerScalingPolicy");
        let directive = &line["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRIC_NAMESPACE);
        assert_eq!(directive["Dimensions"], json!([["ResourceType"]]));
        assert_eq!(directive["Metrics"][0]["Name"], "DriftedResources");
        assert_eq!(line["_aws"]["Timestamp"], 1_700_000_000_000u64);
    }
}
