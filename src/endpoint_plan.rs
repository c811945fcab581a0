//! The pure decisions of an endpoint operation (`Custom::SageMakerEndpoint`; the endpoint module runs them): which variants SageMaker would refuse to update while they are
//! registered, what the endpoint's answer means (wait, done, failed), where saved targets go back, and the
//! capacity to set back. Time is an argument; nothing here does I/O.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::request::Request;
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
    let list = config.get("ProductionVariants").and_then(Value::as_array).cloned().unwrap_or_default();
    list.iter()
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
    /// Each variant's name and `CurrentInstanceCount` (or current provisioned concurrency).
    pub variants: Vec<(String, Option<i64>)>,
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
    /// `SuspendedState` as the service showed it.
    pub suspended: Value,
    /// Every tag, the ownership tags included: the owner stays the owner.
    pub tags: Map<String, Value>,
    /// Each scaling policy, as DescribeScalingPolicies showed it.
    pub policies: Vec<Value>,
    /// Each scheduled action, as DescribeScheduledActions showed it.
    pub actions: Vec<Value>,
    /// The variant's capacity before the update (instances, or provisioned concurrency).
    pub capacity: Option<i64>,
}

impl SavedTarget {
    /// The target's physical id, as `Custom::SageMakerScalableTarget` names it.
    pub fn physical_id(&self) -> String {
        format!("{}|{}|sagemaker", self.resource_id, self.dimension)
    }
}

/// Which saved targets go back (their variant is on the live endpoint) and which stay removed (dropped).
pub fn restore_plan<'a>(saved: &'a [SavedTarget], live_variants: &[String]) -> (Vec<&'a SavedTarget>, Vec<&'a SavedTarget>) {
    saved.iter().partition(|t| live_variants.contains(&t.variant))
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

/// What an operation carries from one invocation to the next: only what AWS can no longer tell (the saved
/// targets, the first start), versioned so that an older copy can still be read.
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
    /// The endpoint's `FailureReason` before UpdateEndpoint, so that an old one is not read as this update's.
    pub reason_before: Option<String>,
    /// Whether UpdateEndpoint (or CreateEndpoint, DeleteEndpoint) has been called.
    pub started_call: bool,
    pub saved: Vec<SavedTarget>,
    /// Set when an invocation ended without finishing (a panic): the next one restores and answers FAILED.
    pub interrupted: Option<String>,
    pub handovers: u32,
    /// The hand-over's token, also tagged on the endpoint: only the delivery that finds it there carries on.
    #[serde(default)]
    pub token: Option<String>,
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
            reason_before: None,
            started_call: kind != Kind::Update,
            saved: vec![],
            interrupted: None,
            handovers: 0,
            token: None,
        }
    }
}

/// The physical id of an endpoint: its ARN. `None` for anything else (a failed create's id).
pub fn name_from_arn(physical_id: &str) -> Option<String> {
    let (head, name) = physical_id.split_once(":endpoint/")?;
    (head.starts_with("arn:") && head.contains(":sagemaker:") && !name.is_empty() && !name.contains('/')).then(|| name.to_owned())
}

/// The member of a handed-over event that carries the [`Operation`].
pub const OPERATION_KEY: &str = "cfnSageMakerOperation";

/// The version of [`Operation`] this build writes.
pub const VERSION: u32 = 1;

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

/// The Provider framework's `isComplete` call: the request with onEvent's answer merged in (`Data` at the top
/// level, which onEvent's requests never have). `Some(None)` for an isComplete call with no operation to poll.
pub fn is_complete_call(event: &str) -> Option<Option<Operation>> {
    let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_str(event).ok()?;
    let data: std::collections::HashMap<String, Value> = serde_json::from_str(fields.get("Data")?.get()).ok()?;
    Some(data.get(OPERATION_KEY).and_then(Value::as_str).filter(|s| !s.is_empty()).and_then(|s| serde_json::from_str(s).ok()))
}

/// The operation a handed-over event carries: `None` for an ordinary event, an error Reason for a state that
/// cannot be read (a FAILED, never silence).
pub fn handed_over(event: &str) -> Option<Result<Operation, String>> {
    // Every invocation asks; only a hand-over's text holds the key, so the others are not parsed again.
    if !event.contains(OPERATION_KEY) {
        return None;
    }
    let fields: std::collections::HashMap<String, Box<serde_json::value::RawValue>> = serde_json::from_str(event).ok()?;
    let raw = fields.get(OPERATION_KEY)?;
    Some(serde_json::from_str::<Operation>(raw.get()).map_err(|err| format!("the handed-over operation cannot be read: {err}")))
}

/// The attributes `Fn::GetAtt` reads.
pub fn finished(seen: &EndpointView, restored: &[String], removed: &[String]) -> BTreeMap<String, String> {
    let name = seen.arn.rsplit('/').next().unwrap_or_default();
    let mut data = BTreeMap::from([
        ("EndpointArn".to_owned(), seen.arn.clone()),
        ("EndpointName".to_owned(), name.to_owned()),
        ("EndpointConfigName".to_owned(), seen.config_name.clone()),
    ]);
    // Always present (empty when nothing was saved): Fn::GetAtt of a missing attribute fails the stack.
    data.insert("RestoredTargets".to_owned(), restored.join(","));
    data.insert("RemovedTargets".to_owned(), removed.join(","));
    data
}

/// The event as it was sent, with the operation's state: what the next invocation receives.
pub fn handover_payload(req: &Request, op: &Operation) -> Value {
    let mut event = json!({
        "RequestType": req.request_type.as_str(),
        "ResponseURL": req.response_url,
        "StackId": req.echo.stack_id,
        "RequestId": req.echo.request_id,
        "LogicalResourceId": req.echo.logical_id,
        "ResourceType": req.resource_type.as_str(),
        "ResourceProperties": req.properties,
    });
    if let Some(id) = &req.echo.physical_id {
        event["PhysicalResourceId"] = json!(id);
    }
    if !req.old_properties.is_null() {
        event["OldResourceProperties"] = req.old_properties.clone();
    }
    event[OPERATION_KEY] = json!(op);
    event
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
            tags: Map::new(),
            policies: vec![],
            actions: vec![],
            capacity: Some(3),
        };
        let all = vec![saved("kept"), saved("dropped")];
        let (back, removed) = restore_plan(&all, &["kept".to_owned()]);
        assert_eq!(back.iter().map(|t| t.variant.as_str()).collect::<Vec<_>>(), ["kept"]);
        assert_eq!(removed[0].physical_id(), "endpoint/e/variant/dropped|sagemaker:variant:DesiredInstanceCount|sagemaker");
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
        assert!(!op.started_call, "an update starts before UpdateEndpoint is called");
        assert!(!past_deadline(&op, 5_000, 1_054_999));
        assert!(past_deadline(&op, 5_000, 1_055_000));
        let copy: Operation = serde_json::from_value(serde_json::to_value(&op).unwrap()).unwrap();
        assert_eq!(copy, op, "the state travels as JSON and comes back the same");
        assert_eq!(service_timeout(&json!({"ServiceTimeout": "900"})), 900);
        assert_eq!(service_timeout(&json!({})), 3600);
        assert_eq!(service_timeout(&json!({"ServiceTimeout": 99999})), 3600);
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
