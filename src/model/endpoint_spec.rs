//! `Custom::SageMakerEndpoint` as the template describes it: the native `AWS::SageMaker::Endpoint`'s
//! properties, read from CloudFormation's strings into the types SageMaker's `UpdateEndpoint` takes, and the
//! name CloudFormation would give an endpoint left unnamed.

use serde_json::{Map, Value, json};

use crate::model::target_spec::{Tags, tags};
use crate::props::Props;
use crate::{Error, Result};

/// The properties an endpoint accepts (besides `ServiceToken` and `ServiceTimeout`).
pub const PROPERTIES: [&str; 8] = [
    "EndpointName",
    "EndpointConfigName",
    "DeploymentConfig",
    "RetainAllVariantProperties",
    "ExcludeRetainedVariantProperties",
    "RetainDeploymentConfig",
    "Tags",
    "AdoptExisting",
];

/// An endpoint as the template describes it, validated; the JSON members are already in SageMaker's types.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSpec {
    pub name: String,
    pub config_name: String,
    /// `DeploymentConfig`, as UpdateEndpoint takes it.
    pub deployment_config: Option<Value>,
    pub retain_all_variant_properties: Option<bool>,
    /// `ExcludeRetainedVariantProperties`, as UpdateEndpoint takes it.
    pub exclude_retained: Option<Value>,
    pub retain_deployment_config: Option<bool>,
    pub tags: Tags,
    pub adopt: bool,
}

/// The shape of a JSON member: how CloudFormation's strings are read into SageMaker's types.
enum Shape {
    Text,
    Integer,
    Object(&'static [(&'static str, Shape)]),
    List(&'static Shape),
}

const CAPACITY_SIZE: Shape = Shape::Object(&[("Type", Shape::Text), ("Value", Shape::Integer)]);
const DEPLOYMENT_CONFIG: Shape = Shape::Object(&[
    (
        "BlueGreenUpdatePolicy",
        Shape::Object(&[
            (
                "TrafficRoutingConfiguration",
                Shape::Object(&[
                    ("Type", Shape::Text),
                    ("WaitIntervalInSeconds", Shape::Integer),
                    ("CanarySize", CAPACITY_SIZE),
                    ("LinearStepSize", CAPACITY_SIZE),
                ]),
            ),
            ("TerminationWaitInSeconds", Shape::Integer),
            ("MaximumExecutionTimeoutInSeconds", Shape::Integer),
        ]),
    ),
    (
        "RollingUpdatePolicy",
        Shape::Object(&[
            ("MaximumBatchSize", CAPACITY_SIZE),
            ("WaitIntervalInSeconds", Shape::Integer),
            ("MaximumExecutionTimeoutInSeconds", Shape::Integer),
            ("RollbackMaximumBatchSize", CAPACITY_SIZE),
        ]),
    ),
    ("AutoRollbackConfiguration", Shape::Object(&[("Alarms", Shape::List(&Shape::Object(&[("AlarmName", Shape::Text)])))])),
]);
const EXCLUDED: Shape = Shape::List(&Shape::Object(&[("VariantPropertyType", Shape::Text)]));

impl EndpointSpec {
    /// Validates `ResourceProperties`; `default_name` is the name CloudFormation would give (see [`default_name`]).
    ///
    /// # Errors
    /// `Invalid`, naming the first property that is wrong.
    pub fn from_properties(value: &Value, default_name: &str) -> Result<Self> {
        let props = Props::object(value, "ResourceProperties")?;
        props.only(&PROPERTIES)?;
        let name = props.string("EndpointName")?.unwrap_or_else(|| default_name.to_owned());
        check_name(&name, "EndpointName")?;
        let config_name = props.required_string("EndpointConfigName")?;
        check_name(&config_name, "EndpointConfigName")?;
        let read = |key: &str, shape: &Shape| value.get(key).filter(|v| !v.is_null()).map(|v| convert(v, shape, key)).transpose();
        Ok(Self {
            name,
            config_name,
            deployment_config: read("DeploymentConfig", &DEPLOYMENT_CONFIG)?,
            retain_all_variant_properties: props.boolean("RetainAllVariantProperties")?,
            exclude_retained: read("ExcludeRetainedVariantProperties", &EXCLUDED)?,
            retain_deployment_config: props.boolean("RetainDeploymentConfig")?,
            tags: tags(&props)?,
            adopt: props.boolean("AdoptExisting")?.unwrap_or(false),
        })
    }

    /// The UpdateEndpoint request for this spec.
    pub fn update_request(&self) -> Value {
        let mut body = json!({"EndpointName": self.name, "EndpointConfigName": self.config_name});
        let extra = [
            ("DeploymentConfig", self.deployment_config.clone()),
            ("RetainAllVariantProperties", self.retain_all_variant_properties.map(Value::Bool)),
            ("ExcludeRetainedVariantProperties", self.exclude_retained.clone()),
            ("RetainDeploymentConfig", self.retain_deployment_config.map(Value::Bool)),
        ];
        for (key, value) in extra {
            if let Some(value) = value {
                body[key] = value;
            }
        }
        // The new fleet starts at the variant's scaled instance count, not at InitialInstanceCount, so the endpoint
        // is not under-provisioned while its auto scaling is off (weights and data capture come from the new
        // configuration, as without retention).
        if self.retain_all_variant_properties.is_none() && self.exclude_retained.is_none() {
            body["RetainAllVariantProperties"] = json!(true);
            body["ExcludeRetainedVariantProperties"] =
                json!([{"VariantPropertyType": "DesiredWeight"}, {"VariantPropertyType": "DataCaptureConfig"}]);
        }
        body
    }

    /// The longest a deployment may take by its documented bounds (seconds), naming the settings that make it:
    /// a blue/green update's `MaximumExecutionTimeoutInSeconds` plus `TerminationWaitInSeconds`, or a rolling
    /// update's `MaximumExecutionTimeoutInSeconds`. `None` when the configuration sets no such bound.
    pub fn longest_deployment(&self) -> Option<(u64, String)> {
        let config = self.deployment_config.as_ref()?;
        let seconds = |v: &Value, key: &str| v.get(key).and_then(Value::as_u64);
        if let Some(rolling) = config.get("RollingUpdatePolicy") {
            let max = seconds(rolling, "MaximumExecutionTimeoutInSeconds")?;
            return Some((max, format!("DeploymentConfig.RollingUpdatePolicy.MaximumExecutionTimeoutInSeconds ({max} s)")));
        }
        let blue_green = config.get("BlueGreenUpdatePolicy")?;
        let max = seconds(blue_green, "MaximumExecutionTimeoutInSeconds");
        let wait = seconds(blue_green, "TerminationWaitInSeconds");
        let named = |key: &str, v: u64| format!("DeploymentConfig.BlueGreenUpdatePolicy.{key} ({v} s)");
        match (max, wait) {
            (Some(max), Some(wait)) => Some((
                max + wait,
                format!("{} plus {}", named("MaximumExecutionTimeoutInSeconds", max), named("TerminationWaitInSeconds", wait)),
            )),
            (Some(max), None) => Some((max, named("MaximumExecutionTimeoutInSeconds", max))),
            (None, Some(wait)) => Some((wait, named("TerminationWaitInSeconds", wait))),
            (None, None) => None,
        }
    }

    /// Whether an Update from `old` needs UpdateEndpoint (anything but the tags and adoption changed).
    pub fn configuration_differs(&self, old: &Self) -> bool {
        let strip = |s: &Self| Self { tags: Tags::new(), adopt: false, ..s.clone() };
        strip(self) != strip(old)
    }
}

/// CloudFormation's name for an endpoint the template leaves unnamed: `<stack>-<logical id>-<suffix>`, at most
/// 63 characters, the suffix derived from the stack id and the logical id (the same on every delivery).
pub fn default_name(stack_id: &str, logical_id: &str) -> String {
    let stack = stack_id.split('/').nth(1).unwrap_or("stack");
    let clean = |text: &str| text.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect::<String>();
    // FNV-1a: a stable hash, so a repeated Create names the same endpoint.
    let hash = format!("{stack_id}/{logical_id}")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    let suffix: String = (0..12).map(|i| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[((hash >> (i * 5)) % 36) as usize] as char).collect();
    let (stack, logical) = (clean(stack), clean(logical_id));
    let room = 63 - suffix.len() - 2;
    let logical: String = logical.chars().take(room / 2).collect();
    let stack: String = stack.chars().take(room - logical.len()).collect();
    format!("{}-{logical}-{suffix}", stack.trim_end_matches('-'))
}

/// SageMaker's name rule for endpoints and endpoint configurations: `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`.
fn check_name(name: &str, property: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{property} {name:?} is not valid: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit"
        )))
    }
}

/// Reads `value` (CloudFormation's strings) as `shape`, naming the path of anything unknown or mistyped.
fn convert(value: &Value, shape: &Shape, path: &str) -> Result<Value> {
    match (shape, value) {
        (Shape::Text, Value::String(_)) => Ok(value.clone()),
        (Shape::Text, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (Shape::Integer, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (Shape::Integer, Value::String(s)) => {
            s.trim().parse::<i64>().map(Value::from).map_err(|_| Error::invalid(format!("{path} must be an integer, got {s:?}")))
        }
        (Shape::Object(members), Value::Object(map)) => {
            let mut out = Map::new();
            for (key, item) in map {
                let Some((_, member)) = members.iter().find(|(name, _)| name == key) else {
                    let known: Vec<&str> = members.iter().map(|(name, _)| *name).collect();
                    return Err(Error::invalid(format!("unknown property {path}.{key}; expected one of: {}", known.join(", "))));
                };
                if !item.is_null() {
                    out.insert(key.clone(), convert(item, member, &format!("{path}.{key}"))?);
                }
            }
            Ok(Value::Object(out))
        }
        (Shape::List(item), Value::Array(items)) => {
            items.iter().enumerate().map(|(i, v)| convert(v, item, &format!("{path}[{i}]"))).collect::<Result<Vec<_>>>().map(Value::Array)
        }
        (Shape::Text, _) => Err(Error::invalid(format!("{path} must be a string"))),
        (Shape::Integer, _) => Err(Error::invalid(format!("{path} must be an integer"))),
        (Shape::Object(_), _) => Err(Error::invalid(format!("{path} must be an object"))),
        (Shape::List(_), _) => Err(Error::invalid(format!("{path} must be a list"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deployment_settings_are_read_from_strings_into_sagemakers_types() {
        let spec = EndpointSpec::from_properties(
            &json!({
                "EndpointName": "e", "EndpointConfigName": "c2", "RetainAllVariantProperties": "true",
                "DeploymentConfig": {"RollingUpdatePolicy": {"MaximumBatchSize": {"Type": "CAPACITY_PERCENT", "Value": "50"}, "WaitIntervalInSeconds": "60"},
                    "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "latency"}]}},
                "ExcludeRetainedVariantProperties": [{"VariantPropertyType": "DesiredInstanceCount"}]
            }),
            "unused",
        )
        .unwrap();
        let body = spec.update_request();
        assert_eq!(body["DeploymentConfig"]["RollingUpdatePolicy"]["MaximumBatchSize"], json!({"Type": "CAPACITY_PERCENT", "Value": 50}));
        assert_eq!(body["DeploymentConfig"]["RollingUpdatePolicy"]["WaitIntervalInSeconds"], 60);
        assert_eq!(body["RetainAllVariantProperties"], true);
        assert_eq!(body["ExcludeRetainedVariantProperties"], json!([{"VariantPropertyType": "DesiredInstanceCount"}]));
        assert!(body.get("RetainDeploymentConfig").is_none());
    }

    #[test]
    fn the_new_fleet_keeps_its_scaled_count_unless_the_template_says_otherwise_and_deployments_have_bounds() {
        let spec = EndpointSpec::from_properties(&json!({"EndpointName": "e", "EndpointConfigName": "c2"}), "x").unwrap();
        let body = spec.update_request();
        assert_eq!(body["RetainAllVariantProperties"], true);
        assert_eq!(
            body["ExcludeRetainedVariantProperties"],
            json!([{"VariantPropertyType": "DesiredWeight"}, {"VariantPropertyType": "DataCaptureConfig"}])
        );
        assert_eq!(spec.longest_deployment(), None);
        let explicit =
            EndpointSpec::from_properties(&json!({"EndpointConfigName": "c2", "RetainAllVariantProperties": "false"}), "x").unwrap();
        assert_eq!(explicit.update_request()["RetainAllVariantProperties"], false);
        assert!(explicit.update_request().get("ExcludeRetainedVariantProperties").is_none());
        let blue_green = EndpointSpec::from_properties(
            &json!({"EndpointConfigName": "c2", "DeploymentConfig": {"BlueGreenUpdatePolicy": {"MaximumExecutionTimeoutInSeconds": "3600",
                "TerminationWaitInSeconds": "600", "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE"}}}}),
            "x",
        )
        .unwrap();
        let (seconds, named) = blue_green.longest_deployment().unwrap();
        assert_eq!(seconds, 4200);
        assert!(
            named.contains("MaximumExecutionTimeoutInSeconds (3600 s)") && named.contains("TerminationWaitInSeconds (600 s)"),
            "{named}"
        );
    }

    #[test]
    fn bad_properties_are_named() {
        for (props, expected) in [
            (json!({"EndpointName": "e"}), "EndpointConfigName is required"),
            (json!({"EndpointName": "e_1", "EndpointConfigName": "c"}), "EndpointName \"e_1\" is not valid"),
            (
                json!({"EndpointConfigName": "c", "DeploymentConfig": {"RollingUpdatePolicy": {"WaitIntervalInSeconds": "soon"}}}),
                "DeploymentConfig.RollingUpdatePolicy.WaitIntervalInSeconds must be an integer",
            ),
            (json!({"EndpointConfigName": "c", "DeploymentConfig": {"Blue": {}}}), "unknown property DeploymentConfig.Blue"),
            (json!({"EndpointConfigName": "c", "InstanceType": "ml.m5.large"}), "unknown property InstanceType"),
        ] {
            let err = EndpointSpec::from_properties(&props, "default-name").unwrap_err().to_string();
            assert!(err.starts_with(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn unnamed_endpoints_are_named_as_cloudformation_does_and_the_same_each_time() {
        let stack = "arn:aws:cloudformation:us-east-1:1:stack/My-Very-Long-Stack-Name-For-Testing-Purposes-Indeed/abc";
        let name = default_name(stack, "InferenceEndpointWithALongLogicalId");
        assert!(name.len() <= 63, "{name}");
        assert!(check_name(&name, "EndpointName").is_ok(), "{name}");
        assert!(name.starts_with("My-Very-Long"), "{name}");
        assert_eq!(name, default_name(stack, "InferenceEndpointWithALongLogicalId"));
        assert_ne!(name, default_name(stack, "Other"));
    }

    #[test]
    fn only_tags_and_adoption_leave_the_configuration_alone() {
        let a = EndpointSpec::from_properties(
            &json!({"EndpointName": "e", "EndpointConfigName": "c1", "Tags": [{"Key": "a", "Value": "1"}]}),
            "x",
        )
        .unwrap();
        let b =
            EndpointSpec::from_properties(&json!({"EndpointName": "e", "EndpointConfigName": "c1", "AdoptExisting": true}), "x").unwrap();
        let c = EndpointSpec::from_properties(&json!({"EndpointName": "e", "EndpointConfigName": "c2"}), "x").unwrap();
        assert!(!a.configuration_differs(&b));
        assert!(c.configuration_differs(&a));
    }
}
