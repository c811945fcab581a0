//! The pure decisions of an endpoint operation (`Custom::SageMakerEndpoint`; the endpoint module runs them): which variants SageMaker would refuse to update while they are
//! registered, what the endpoint's answer means (wait, done, failed), where saved targets go back, and the
//! capacity to set back. Time is an argument; nothing here does I/O.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::sagemaker::ENDPOINT_TRANSITIONS;

/// How an endpoint configuration serves one variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serving {
    /// On instances of this type.
    Instances(String),
    Serverless,
}

/// One production variant of an endpoint configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigVariant {
    pub name: String,
    pub serving: Serving,
    /// `InitialInstanceCount`: what the fleet starts with after an update that does not retain properties.
    pub initial_instances: Option<i64>,
}

/// DescribeEndpointConfig's variants.
pub fn config_variants(config: &Value) -> Vec<ConfigVariant> {
    // Shadow variants are refused the same way (SageMaker checks every registered variant).
    let lists = ["ProductionVariants", "ShadowProductionVariants"].map(|key| config.get(key).and_then(Value::as_array));
    lists
        .into_iter()
        .flatten()
        .flatten()
        .map(|v| ConfigVariant {
            name: v.get("VariantName").and_then(Value::as_str).unwrap_or_default().to_owned(),
            serving: match v.get("InstanceType").and_then(Value::as_str) {
                Some(kind) if v.get("ServerlessConfig").is_none() => Serving::Instances(kind.to_owned()),
                _ => Serving::Serverless,
            },
            initial_instances: v.get("InitialInstanceCount").and_then(Value::as_i64),
        })
        .collect()
}

/// The variants SageMaker refuses to update while they are registered with Application Auto Scaling (SageMaker
/// developer guide, "Update or delete endpoints that use auto scaling"): an instance type that changes, a switch
/// between instances and serverless, or a variant the new configuration drops.
pub fn refused_variants(current: &[ConfigVariant], new: &[ConfigVariant]) -> Vec<String> {
    current
        .iter()
        .filter(|old| new.iter().find(|n| n.name == old.name).is_none_or(|n| n.serving != old.serving))
        .map(|old| old.name.clone())
        .collect()
}

/// DescribeEndpoint's answer, as an operation needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointView {
    pub status: String,
    pub config_name: String,
    pub failure_reason: Option<String>,
    pub arn: String,
    /// Each live variant.
    pub variants: Vec<LiveVariant>,
}

/// A variant of the live endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVariant {
    pub name: String,
    /// `CurrentInstanceCount` (or the current provisioned concurrency).
    pub capacity: Option<i64>,
    /// On instances (rather than serverless).
    pub on_instances: bool,
}

impl EndpointView {
    /// Each live variant's name and whether it is on instances (see [`restore_plan`]).
    pub fn kinds(&self) -> Vec<(String, bool)> {
        self.variants.iter().map(|v| (v.name.clone(), v.on_instances)).collect()
    }

    /// The capacity of the variant named `name`.
    pub fn capacity_of(&self, name: &str) -> Option<i64> {
        self.variants.iter().find(|v| v.name == name).and_then(|v| v.capacity)
    }
}

/// What the endpoint's state means for the operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Still in a transition that ends by itself.
    Waiting(String),
    Succeeded,
    /// The operation failed; SageMaker's reason.
    Failed(String),
}

/// An update: done when `InService` on the new configuration with no new `FailureReason`; failed when it rolled
/// back (`InService` on another configuration, or a `FailureReason` it did not have before) or ended `Failed`
/// / `UpdateRollbackFailed` (terraform-provider-aws #39099: a rolled-back update is not a success).
pub fn update_outcome(seen: Option<&EndpointView>, new_config: &str, reason_before: Option<&str>) -> Outcome {
    let Some(seen) = seen else { return Outcome::Failed("the endpoint no longer exists".into()) };
    if ENDPOINT_TRANSITIONS.contains(&seen.status.as_str()) || seen.status == "Deleting" {
        return Outcome::Waiting(seen.status.clone());
    }
    let new_reason = seen.failure_reason.as_deref().filter(|r| Some(*r) != reason_before);
    match (seen.status.as_str(), new_reason) {
        ("InService", None) if seen.config_name == new_config => Outcome::Succeeded,
        ("InService", Some(reason)) => Outcome::Failed(format!("the update rolled back: {reason}")),
        ("InService", None) => Outcome::Failed(format!("the update rolled back: the endpoint is on {} again", seen.config_name)),
        (status, reason) => Outcome::Failed(format!("the endpoint is {status}{}", reason.map(|r| format!(": {r}")).unwrap_or_default())),
    }
}

/// A creation: done when `InService`, failed when `Failed` (with SageMaker's reason).
pub fn create_outcome(seen: Option<&EndpointView>) -> Outcome {
    match seen {
        None => Outcome::Failed("the endpoint no longer exists".into()),
        Some(seen) if seen.status == "InService" => Outcome::Succeeded,
        Some(seen) if seen.status == "Creating" || seen.status == "Updating" || seen.status == "SystemUpdating" => {
            Outcome::Waiting(seen.status.clone())
        }
        Some(seen) => Outcome::Failed(format!(
            "the endpoint is {}{}",
            seen.status,
            seen.failure_reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        )),
    }
}

/// A registered target as it was before the update: everything needed to put it back as it was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedTarget {
    pub variant: String,
    pub resource_id: String,
    pub dimension: String,
    pub min: i64,
    pub max: i64,
    /// `SuspendedState` as the service showed it (`null` when it showed none).
    pub suspended: Value,
    /// The target's own `RoleARN`, when it had one.
    #[serde(default)]
    pub role_arn: Option<String>,
    /// Every tag, the ownership tags included: the owner stays the owner.
    pub tags: Map<String, Value>,
    /// Each scaling policy, as DescribeScalingPolicies showed it.
    pub policies: Vec<Value>,
    /// Each scheduled action, as DescribeScheduledActions showed it.
    pub actions: Vec<Value>,
    /// The alarms whose actions name one of the step policies (DescribeAlarms' MetricAlarms): deleting the
    /// policy deletes that action, so the alarm is put back with the re-created policy's ARN.
    #[serde(default)]
    pub alarms: Vec<Value>,
    /// The variant's capacity before the update (instances, or provisioned concurrency).
    pub capacity: Option<i64>,
}

impl SavedTarget {
    /// The target's physical id, as `Custom::SageMakerScalableTarget` names it.
    pub fn physical_id(&self) -> String {
        format!("{}|{}|sagemaker", self.resource_id, self.dimension)
    }

    /// Whether the target scales a variant on instances (rather than a serverless one).
    pub fn on_instances(&self) -> bool {
        self.dimension == "sagemaker:variant:DesiredInstanceCount"
    }
}

/// Which saved targets go back (their variant is on the live endpoint, and of the same kind: instances or
/// serverless) and which stay removed (dropped, or now of the other kind). `live` is each live variant's name
/// and whether it is on instances.
pub fn restore_plan<'a>(saved: &'a [SavedTarget], live: &[(String, bool)]) -> (Vec<&'a SavedTarget>, Vec<&'a SavedTarget>) {
    saved.iter().partition(|t| live.iter().any(|(name, instances)| *name == t.variant && *instances == t.on_instances()))
}

/// An alarm as PutMetricAlarm takes it, from DescribeAlarms' description, with every action that named a
/// policy of `renamed` (old ARN → new ARN) pointing at its new ARN. Members with no value are left out.
pub fn alarm_put_back(alarm: &Value, renamed: &BTreeMap<String, String>) -> Value {
    const MEMBERS: [&str; 20] = [
        "AlarmName",
        "AlarmDescription",
        "ActionsEnabled",
        "OKActions",
        "AlarmActions",
        "InsufficientDataActions",
        "MetricName",
        "Namespace",
        "Statistic",
        "ExtendedStatistic",
        "Dimensions",
        "Period",
        "Unit",
        "EvaluationPeriods",
        "DatapointsToAlarm",
        "Threshold",
        "ComparisonOperator",
        "TreatMissingData",
        "EvaluateLowSampleCountPercentile",
        "Metrics",
    ];
    let mut put = Map::new();
    for member in MEMBERS.into_iter().chain(["ThresholdMetricId"]) {
        if let Some(value) = alarm.get(member).filter(|v| !v.is_null()) {
            put.insert(member.to_owned(), value.clone());
        }
    }
    for list in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        if let Some(Value::Array(actions)) = put.get_mut(list) {
            for action in actions.iter_mut() {
                if let Some(new) = action.as_str().and_then(|old| renamed.get(old)) {
                    *action = json!(new);
                }
            }
        }
    }
    Value::Object(put)
}

/// The capacity to set a restored variant back to: what it had scaled to, clamped to its Min..Max, when that
/// is above what the fleet has now; `None` when nothing needs setting.
pub fn capacity_to_set(saved: Option<i64>, min: i64, max: i64, now: Option<i64>) -> Option<i64> {
    let want = saved?.clamp(min, max);
    (want > now.unwrap_or(0)).then_some(want)
}

/// The kind of long operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Create,
    Update,
    Delete,
}

/// What the journal keeps of an operation beside its step: only what AWS can no longer tell (the saved
/// targets, the first start, SageMaker's outcome once seen), versioned so that an older copy can still be read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    pub version: u32,
    pub kind: Kind,
    /// When the operation first started (milliseconds since the epoch).
    pub started_ms: u64,
    /// The custom resource's `ServiceTimeout`, in seconds.
    pub service_timeout_s: u64,
    pub endpoint: String,
    pub arn: String,
    pub new_config: String,
    /// The UpdateEndpoint request (an update), so that any invocation can make the call.
    #[serde(default)]
    pub update_request: Value,
    /// The endpoint's `FailureReason` before UpdateEndpoint, so that an old one is not read as this update's.
    pub reason_before: Option<String>,
    pub saved: Vec<SavedTarget>,
    /// SageMaker's outcome, once known: `None` while waiting or when it succeeded (see [`Operation::decided`]).
    #[serde(default)]
    pub failure: Option<String>,
    /// Whether the outcome is known.
    #[serde(default)]
    pub decided: bool,
    /// What was saved is put back (targets, policies, actions, alarms).
    #[serde(default)]
    pub restored: bool,
    /// Each step policy's ARN before the update → after it.
    #[serde(default)]
    pub renamed_policies: BTreeMap<String, String>,
    /// Physical ids of the targets restored, and of those left removed.
    #[serde(default)]
    pub restored_targets: Vec<String>,
    #[serde(default)]
    pub removed_targets: Vec<String>,
    /// Variants whose scaled capacity could not be set back before the deadline.
    #[serde(default)]
    pub capacity_not_restored: Vec<String>,
    /// Set when an invocation ended without finishing (a panic, an error): the next one restores and answers FAILED.
    pub interrupted: Option<String>,
    /// No more waiting (the operation could not be handed over): what is left is done at once.
    #[serde(default)]
    pub stop_waiting: bool,
}

impl Operation {
    /// A new operation of `kind` on `endpoint`, started at `now_ms`; `service_timeout_s` from the properties.
    pub fn start(kind: Kind, endpoint: String, arn: String, new_config: String, service_timeout_s: u64, now_ms: u64) -> Self {
        Self {
            version: VERSION,
            kind,
            started_ms: now_ms,
            service_timeout_s,
            endpoint,
            arn,
            new_config,
            update_request: Value::Null,
            reason_before: None,
            saved: vec![],
            failure: None,
            decided: false,
            restored: false,
            renamed_policies: BTreeMap::new(),
            restored_targets: vec![],
            removed_targets: vec![],
            capacity_not_restored: vec![],
            interrupted: None,
            stop_waiting: false,
        }
    }

    /// The end of the resource's `ServiceTimeout` (milliseconds since the epoch).
    pub fn deadline_ms(&self) -> u64 {
        self.started_ms + self.service_timeout_s * 1000
    }

    /// Records SageMaker's outcome (the first one seen stays).
    pub fn decide(&mut self, outcome: std::result::Result<(), String>) {
        if !self.decided {
            self.decided = true;
            self.failure = outcome.err();
        }
    }
}

/// The margin kept before an operation's deadline for restoring and answering: a minute, or a quarter of a short
/// `ServiceTimeout`.
pub fn operation_margin_ms(service_timeout_s: u64) -> u64 {
    60_000u64.min(service_timeout_s * 250)
}

/// A deployment whose documented bound cannot end before the operation's deadline: the Reason, before any change.
pub fn deployment_outlasts(longest: Option<(u64, String)>, service_timeout_s: u64) -> Option<String> {
    let (seconds, named) = longest?;
    let available = (service_timeout_s * 1000).saturating_sub(operation_margin_ms(service_timeout_s)) / 1000;
    (seconds > available).then(|| {
        format!(
            "{named} may take longer than the resource's ServiceTimeout allows ({service_timeout_s} s, of which {available} s for the update): shorten the deployment's bounds or raise ServiceTimeout (at most 3600)"
        )
    })
}

/// The physical id of an endpoint: its ARN. `None` for anything else (a failed create's id).
pub fn name_from_arn(physical_id: &str) -> Option<String> {
    let (head, name) = physical_id.split_once(":endpoint/")?;
    (head.starts_with("arn:") && head.contains(":sagemaker:") && !name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

/// The member of a handed-over event that carries the [`Operation`].
pub const OPERATION_KEY: &str = "cfnSageMakerOperation";

/// The version of [`Operation`] this build writes.
pub const VERSION: u32 = 2;

/// The operation's own deadline: its first start plus `ServiceTimeout`, less the margin for restoring and answering.
pub fn past_deadline(op: &Operation, margin_ms: u64, now_ms: u64) -> bool {
    now_ms + margin_ms >= op.started_ms + op.service_timeout_s * 1000
}

/// `ServiceTimeout` from the properties: CloudFormation's default and maximum is 3600 s.
pub fn service_timeout(properties: &Value) -> u64 {
    let value = properties.get("ServiceTimeout");
    let seconds = value.and_then(Value::as_u64).or_else(|| value.and_then(Value::as_str).and_then(|s| s.trim().parse().ok()));
    seconds.unwrap_or(3600).clamp(1, 3600)
}

/// The attributes `Fn::GetAtt` reads.
pub fn finished(seen: &EndpointView, op: &Operation) -> BTreeMap<String, String> {
    let name = seen.arn.rsplit('/').next().unwrap_or_default();
    let mut data = BTreeMap::from([
        ("EndpointArn".to_owned(), seen.arn.clone()),
        ("EndpointName".to_owned(), name.to_owned()),
        ("EndpointConfigName".to_owned(), seen.config_name.clone()),
    ]);
    // Always present (empty when nothing was saved): Fn::GetAtt of a missing attribute fails the stack.
    data.insert("RestoredTargets".to_owned(), op.restored_targets.join(","));
    data.insert("RemovedTargets".to_owned(), op.removed_targets.join(","));
    data.insert("CapacityNotRestored".to_owned(), op.capacity_not_restored.join(","));
    data
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn variant(name: &str, serving: Serving) -> ConfigVariant {
        ConfigVariant { name: name.into(), serving, initial_instances: Some(1) }
    }

    fn seen(status: &str, config: &str, reason: Option<&str>) -> EndpointView {
        EndpointView {
            status: status.into(),
            config_name: config.into(),
            failure_reason: reason.map(str::to_owned),
            arn: "arn".into(),
            variants: vec![],
        }
    }

    #[test]
    fn sagemaker_refuses_a_new_instance_type_a_new_kind_and_a_dropped_variant() {
        let current = vec![
            variant("same", Serving::Instances("ml.m5.large".into())),
            variant("bigger", Serving::Instances("ml.m5.large".into())),
            variant("to-serverless", Serving::Instances("ml.m5.large".into())),
            variant("dropped", Serving::Instances("ml.m5.large".into())),
        ];
        let new = vec![
            variant("same", Serving::Instances("ml.m5.large".into())),
            variant("bigger", Serving::Instances("ml.g4dn.xlarge".into())),
            variant("to-serverless", Serving::Serverless),
            variant("added", Serving::Instances("ml.m5.large".into())),
        ];
        assert_eq!(refused_variants(&current, &new), ["bigger", "to-serverless", "dropped"]);
        assert!(refused_variants(&current, &current).is_empty(), "a new model on the same instances is let through");
    }

    #[test]
    fn the_endpoints_answer_decides_every_update_outcome() {
        for status in ["Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"] {
            assert_eq!(update_outcome(Some(&seen(status, "c2", None)), "c2", None), Outcome::Waiting(status.into()));
        }
        assert_eq!(update_outcome(Some(&seen("InService", "c2", None)), "c2", None), Outcome::Succeeded);
        assert_eq!(
            update_outcome(Some(&seen("InService", "c2", Some("old"))), "c2", Some("old")),
            Outcome::Succeeded,
            "an old reason is not this update's"
        );
        assert_eq!(
            update_outcome(Some(&seen("InService", "c1", Some("capacity"))), "c2", None),
            Outcome::Failed("the update rolled back: capacity".into())
        );
        assert_eq!(
            update_outcome(Some(&seen("InService", "c1", None)), "c2", None),
            Outcome::Failed("the update rolled back: the endpoint is on c1 again".into())
        );
        assert_eq!(
            update_outcome(Some(&seen("InService", "c2", Some("new"))), "c2", None),
            Outcome::Failed("the update rolled back: new".into())
        );
        for status in ["Failed", "UpdateRollbackFailed", "OutOfService"] {
            assert!(
                matches!(update_outcome(Some(&seen(status, "c2", Some("x"))), "c2", None), Outcome::Failed(r) if r.contains(status) && r.ends_with(": x"))
            );
        }
        assert!(matches!(update_outcome(None, "c2", None), Outcome::Failed(_)));
    }

    #[test]
    fn a_creation_waits_succeeds_or_fails_with_sagemakers_reason() {
        assert_eq!(create_outcome(Some(&seen("Creating", "c", None))), Outcome::Waiting("Creating".into()));
        assert_eq!(create_outcome(Some(&seen("InService", "c", None))), Outcome::Succeeded);
        assert_eq!(
            create_outcome(Some(&seen("Failed", "c", Some("no capacity")))),
            Outcome::Failed("the endpoint is Failed: no capacity".into())
        );
    }

    #[test]
    fn saved_targets_go_back_where_their_variant_lives_and_capacity_is_clamped() {
        let saved = |v: &str| SavedTarget {
            variant: v.into(),
            resource_id: format!("endpoint/e/variant/{v}"),
            dimension: "sagemaker:variant:DesiredInstanceCount".into(),
            min: 1,
            max: 4,
            suspended: json!({}),
            role_arn: None,
            tags: Map::new(),
            policies: vec![],
            actions: vec![],
            alarms: vec![],
            capacity: Some(3),
        };
        let all = vec![saved("kept"), saved("dropped"), saved("now-serverless")];
        let live = [("kept".to_owned(), true), ("now-serverless".to_owned(), false)];
        let (back, removed) = restore_plan(&all, &live);
        assert_eq!(back.iter().map(|t| t.variant.as_str()).collect::<Vec<_>>(), ["kept"]);
        assert_eq!(removed[0].physical_id(), "endpoint/e/variant/dropped|sagemaker:variant:DesiredInstanceCount|sagemaker");
        assert_eq!(removed[1].variant, "now-serverless", "an instance-count target never goes onto a serverless variant");
        assert_eq!(capacity_to_set(Some(3), 1, 4, Some(1)), Some(3));
        assert_eq!(capacity_to_set(Some(9), 1, 4, Some(1)), Some(4), "clamped to Max");
        assert_eq!(capacity_to_set(Some(1), 2, 4, Some(0)), Some(2), "clamped to Min");
        assert_eq!(capacity_to_set(Some(2), 1, 4, Some(2)), None, "already there");
        assert_eq!(capacity_to_set(Some(1), 1, 4, Some(3)), None, "never scaled in by the restore");
        assert_eq!(capacity_to_set(None, 1, 4, Some(1)), None);
    }

    #[test]
    fn the_operations_deadline_is_its_first_start_plus_service_timeout_less_the_margin() {
        let op = Operation::start(Kind::Update, "e".into(), "arn".into(), "c2".into(), 60, 1_000_000);
        assert!(!op.decided, "an update starts undecided");
        assert!(!past_deadline(&op, 5_000, 1_054_999));
        assert!(past_deadline(&op, 5_000, 1_055_000));
        let copy: Operation = serde_json::from_value(serde_json::to_value(&op).unwrap()).unwrap();
        assert_eq!(copy, op, "the state travels as JSON and comes back the same");
        assert_eq!(service_timeout(&json!({"ServiceTimeout": "900"})), 900);
        assert_eq!(service_timeout(&json!({})), 3600);
        assert_eq!(service_timeout(&json!({"ServiceTimeout": 99999})), 3600);
    }

    #[test]
    fn step_policy_alarms_go_back_whole_pointing_at_the_new_policy() {
        let alarm = json!({"AlarmName": "latency", "AlarmArn": "arn:aws:cloudwatch:us-east-1:1:alarm:latency", "StateValue": "OK",
            "AlarmActions": ["arn:old-policy", "arn:aws:sns:us-east-1:1:ops"], "OKActions": [], "MetricName": "ModelLatency",
            "Namespace": "AWS/SageMaker", "Statistic": "Average", "Period": 60, "EvaluationPeriods": 1, "Threshold": 5.0,
            "ComparisonOperator": "GreaterThanThreshold", "Dimensions": [{"Name": "EndpointName", "Value": "e"}], "Unit": null});
        let renamed = BTreeMap::from([("arn:old-policy".to_owned(), "arn:new-policy".to_owned())]);
        let put = alarm_put_back(&alarm, &renamed);
        assert_eq!(put["AlarmActions"], json!(["arn:new-policy", "arn:aws:sns:us-east-1:1:ops"]));
        assert!(put.get("AlarmArn").is_none() && put.get("StateValue").is_none(), "only what PutMetricAlarm takes: {put}");
        assert!(put.get("Unit").is_none(), "a member with no value is left out");
        assert_eq!(put["Threshold"], 5.0);
    }

    #[test]
    fn a_deployment_that_cannot_end_before_the_deadline_is_refused_naming_both_durations() {
        let why = deployment_outlasts(Some((4200, "BlueGreen (4200 s)".into())), 3600).unwrap();
        assert!(why.contains("BlueGreen (4200 s)") && why.contains("3600 s") && why.contains("3540 s"), "{why}");
        assert_eq!(deployment_outlasts(Some((1800, "x".into())), 3600), None);
        assert_eq!(deployment_outlasts(None, 60), None);
        assert_eq!(operation_margin_ms(40), 10_000, "a short ServiceTimeout keeps a quarter");
        assert_eq!(operation_margin_ms(3600), 60_000);
    }

    #[test]
    fn only_endpoint_arns_name_an_endpoint() {
        assert_eq!(name_from_arn("arn:aws:sagemaker:us-east-1:1:endpoint/my-endpoint").as_deref(), Some("my-endpoint"));
        assert_eq!(name_from_arn("arn:aws-cn:sagemaker:cn-north-1:1:endpoint/e").as_deref(), Some("e"));
        for other in [
            "create-failed-abc",
            "arn:aws:sagemaker:us-east-1:1:endpoint-config/c",
            "endpoint/e/variant/v|x|sagemaker",
            "arn:aws:s3:::endpoint/x",
        ] {
            assert_eq!(name_from_arn(other), None, "{other}");
        }
    }
}
