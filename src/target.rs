//! `Custom::SageMakerScalableTarget`: properties, ownership, and the calls each event needs.
//!
//! [`TargetSpec::from_properties`] validates once; `plan_*` decide the calls from the spec and the state
//! found in Application Auto Scaling (pure, unit-tested); [`put`] and [`delete`] run lookup → plan → calls → confirm.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::aas::{Described, Session};
use crate::model::{NAMESPACE, ResourceId, TargetId};
use crate::props::Props;
use crate::request::{Echo, Request, RequestType};
use crate::response::Response;
use crate::{Error, Result};

/// The tag naming the stack that owns a target.
pub const OWNER_STACK_TAG: &str = "cfn-sagemaker-autoscaling:stack-id";
/// The tag naming the logical id that owns a target.
pub const OWNER_LOGICAL_TAG: &str = "cfn-sagemaker-autoscaling:logical-id";
/// Application Auto Scaling allows 50 tags per target; two are ours.
const MAX_USER_TAGS: usize = 48;

const PROPERTIES: [&str; 12] = [
    "ResourceId",
    "EndpointName",
    "VariantName",
    "InferenceComponentName",
    "ScalableDimension",
    "ServiceNamespace",
    "MinCapacity",
    "MaxCapacity",
    "RoleARN",
    "SuspendedState",
    "Tags",
    "AdoptExisting",
];
const SUSPENDED_FIELDS: [&str; 3] = ["DynamicScalingInSuspended", "DynamicScalingOutSuspended", "ScheduledScalingSuspended"];

/// Tags as a sorted map.
pub type Tags = BTreeMap<String, String>;

/// `SuspendedState`: a missing field is `false`, so removing it from the template resumes scaling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Suspended {
    pub dynamic_in: bool,
    pub dynamic_out: bool,
    pub scheduled: bool,
}

/// A scalable target as the template describes it, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    pub id: TargetId,
    pub min: i32,
    pub max: i32,
    pub role_arn: Option<String>,
    pub suspended: Suspended,
    pub tags: Tags,
    pub adopt: bool,
}

impl TargetSpec {
    /// Validates `ResourceProperties`.
    ///
    /// # Errors
    /// `Invalid`, naming the first property that is wrong.
    pub fn from_properties(value: &Value) -> Result<Self> {
        let props = Props::object(value, "ResourceProperties")?;
        props.only(&PROPERTIES)?;
        let id = TargetId::from_parts(&props, resource_id(&props)?)?;
        let min = capacity(&props, "MinCapacity")?;
        let max = capacity(&props, "MaxCapacity")?;
        if min > max {
            return Err(Error::invalid(format!("MinCapacity {min} is greater than MaxCapacity {max}")));
        }
        let role_arn = props.string("RoleARN")?;
        if let Some(arn) = &role_arn
            && !(arn.starts_with("arn:") && arn.contains(":iam::") && arn.len() <= 1600)
        {
            return Err(Error::invalid(format!("RoleARN {arn:?} is not an IAM role ARN")));
        }
        Ok(Self {
            id,
            min,
            max,
            role_arn,
            suspended: suspended(&props)?,
            tags: tags(&props)?,
            adopt: props.boolean("AdoptExisting")?.unwrap_or(false),
        })
    }

    /// The template's tags plus the ownership tags naming `owner`.
    pub fn tags_owned_by(&self, owner: &Owner) -> Tags {
        let mut tags = self.tags.clone();
        tags.extend(owner.tags());
        tags
    }

    /// The RegisterScalableTarget request for this spec, with or without tags.
    pub fn registration(&self, tags: Option<Tags>) -> Registration {
        Registration { id: self.id.clone(), min: self.min, max: self.max, role_arn: self.role_arn.clone(), suspended: self.suspended, tags }
    }
}

fn resource_id(props: &Props<'_>) -> Result<ResourceId> {
    let shorthand = ["EndpointName", "VariantName", "InferenceComponentName"].into_iter().find(|k| props.has(k));
    match (props.string("ResourceId")?, shorthand) {
        (Some(_), Some(other)) => {
            Err(Error::invalid(format!("ResourceId and {other} cannot both be set; use one way of naming the target")))
        }
        (Some(text), None) => ResourceId::parse(&text, "ResourceId"),
        (None, Some(_)) => {
            let endpoint = props.string("EndpointName")?;
            let variant = props.string("VariantName")?;
            match (endpoint, variant, props.string("InferenceComponentName")?) {
                (Some(e), Some(v), None) => ResourceId::variant(&e, &v, "EndpointName/VariantName"),
                (None, None, Some(ic)) => ResourceId::inference_component(&ic, "InferenceComponentName"),
                (Some(_), None, None) => Err(Error::invalid("VariantName is required with EndpointName")),
                (None, Some(_), None) => Err(Error::invalid("EndpointName is required with VariantName")),
                _ => Err(Error::invalid("InferenceComponentName cannot be combined with EndpointName or VariantName")),
            }
        }
        (None, None) => Err(Error::invalid("ResourceId is required (or EndpointName and VariantName, or InferenceComponentName)")),
    }
}

fn capacity(props: &Props<'_>, key: &str) -> Result<i32> {
    let value = props.integer(key)?.ok_or_else(|| Error::invalid(format!("{key} is required")))?;
    if value < 0 {
        return Err(Error::invalid(format!("{key} must be 0 or more, got {value}")));
    }
    i32::try_from(value).map_err(|_| Error::invalid(format!("{key} {value} is too large")))
}

fn suspended(props: &Props<'_>) -> Result<Suspended> {
    let Some(inner) = props.nested("SuspendedState", "SuspendedState.")? else { return Ok(Suspended::default()) };
    inner.only(&SUSPENDED_FIELDS)?;
    Ok(Suspended {
        dynamic_in: inner.boolean("DynamicScalingInSuspended")?.unwrap_or(false),
        dynamic_out: inner.boolean("DynamicScalingOutSuspended")?.unwrap_or(false),
        scheduled: inner.boolean("ScheduledScalingSuspended")?.unwrap_or(false),
    })
}

fn tags(props: &Props<'_>) -> Result<Tags> {
    let Some(items) = props.list("Tags")? else { return Ok(Tags::new()) };
    let mut tags = Tags::new();
    for (i, item) in items.iter().enumerate() {
        let name = format!("Tags[{i}]");
        let path = format!("{name}.");
        let tag = Props::object(item, &name)?.at(&path);
        tag.only(&["Key", "Value"])?;
        let key = tag.string("Key")?.filter(|k| !k.is_empty()).ok_or_else(|| Error::invalid(format!("{path}Key is required")))?;
        let value = tag.string("Value")?.unwrap_or_default();
        if key.chars().count() > 128 || value.chars().count() > 256 {
            return Err(Error::invalid(format!("{name} is too long: keys take up to 128 characters, values up to 256")));
        }
        if key.starts_with("aws:") || key.starts_with("cfn-sagemaker-autoscaling:") {
            return Err(Error::invalid(format!("{path}Key {key:?} uses a reserved prefix (aws: or cfn-sagemaker-autoscaling:)")));
        }
        if tags.insert(key.clone(), value).is_some() {
            return Err(Error::invalid(format!("Tags has the key {key:?} twice")));
        }
    }
    if tags.len() > MAX_USER_TAGS {
        return Err(Error::invalid(format!("Tags has {} entries; at most {MAX_USER_TAGS} are allowed", tags.len())));
    }
    Ok(tags)
}

/// The tags of a template's previous version, read leniently: they only decide what to untag, and an
/// unreadable old version must not block an update (or the rollback that follows a failed one).
pub fn old_tags(value: &Value) -> Tags {
    let Ok(props) = Props::object(value, "OldResourceProperties") else { return Tags::new() };
    tags(&props).unwrap_or_default()
}

/// The resource an event comes from: the owner it writes into the ownership tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub stack_id: String,
    pub logical_id: String,
}

impl Owner {
    /// The owner named by an event.
    pub fn of(echo: &Echo) -> Self {
        Self { stack_id: echo.stack_id.clone(), logical_id: echo.logical_id.clone() }
    }

    /// The owner named by a target's tags, if both ownership tags are there.
    pub fn from_tags(tags: &Tags) -> Option<Self> {
        Some(Self { stack_id: tags.get(OWNER_STACK_TAG)?.clone(), logical_id: tags.get(OWNER_LOGICAL_TAG)?.clone() })
    }

    fn tags(&self) -> Tags {
        Tags::from([(OWNER_STACK_TAG.to_owned(), self.stack_id.clone()), (OWNER_LOGICAL_TAG.to_owned(), self.logical_id.clone())])
    }
}

/// A registered target as this function sees it: what Describe shows and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    pub described: Described,
    pub tags: Tags,
}

/// One RegisterScalableTarget request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub id: TargetId,
    pub min: i32,
    pub max: i32,
    pub role_arn: Option<String>,
    pub suspended: Suspended,
    /// Only for a target that does not exist yet: the service refuses tags on an existing one.
    pub tags: Option<Tags>,
}

/// One Application Auto Scaling call a plan needs. Tag calls apply to the planned target's ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Register(Registration),
    Tag(Tags),
    Untag(Vec<String>),
}

/// Create, or the new target of an Update that replaces: the ownership rules of the contract.
///
/// # Errors
/// `Conflict` when the target is registered by anything but this resource and adoption was not asked for.
pub fn plan_create(spec: &TargetSpec, me: &Owner, current: Option<&Current>) -> Result<Vec<Call>> {
    let all_tags = spec.tags_owned_by(me);
    let Some(current) = current else { return Ok(vec![Call::Register(spec.registration(Some(all_tags)))]) };
    let owner = Owner::from_tags(&current.tags);
    if owner.as_ref() == Some(me) || spec.adopt {
        // A duplicate delivery, or an adoption: register the values, then (re)write the tags, ours included.
        return Ok(vec![Call::Register(spec.registration(None)), Call::Tag(all_tags)]);
    }
    let by = match owner {
        Some(owner) => format!("owned by {} in stack {}", owner.logical_id, owner.stack_id),
        None => "registered outside this function (it has no ownership tags)".to_owned(),
    };
    Err(Error::Conflict(format!(
        "scalable target {} is already registered, {by}; left untouched: set AdoptExisting to true to take it over",
        spec.id.physical_id()
    )))
}

/// An Update that keeps the target's identity: register the new values (again, with tags, if the target
/// vanished) and apply the difference between the old and new tags.
pub fn plan_update(spec: &TargetSpec, old_tags: &Tags, me: &Owner, current: Option<&Current>) -> Vec<Call> {
    if current.is_none() {
        return vec![Call::Register(spec.registration(Some(spec.tags_owned_by(me))))];
    }
    let mut calls = vec![Call::Register(spec.registration(None))];
    let changed: Tags = spec.tags.iter().filter(|(k, v)| old_tags.get(*k) != Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    if !changed.is_empty() {
        calls.push(Call::Tag(changed));
    }
    let removed: Vec<String> = old_tags.keys().filter(|k| !spec.tags.contains_key(*k)).cloned().collect();
    if !removed.is_empty() {
        calls.push(Call::Untag(removed));
    }
    calls
}

/// What a Delete does with the target its physical id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeletePlan {
    /// Not registered: nothing to do.
    Gone,
    /// Owned by this resource: deregister it.
    Deregister,
    /// Owned by someone else (adopted, or never ours): leave it, and say why in the log.
    Keep(String),
}

/// Delete deregisters only what this resource owns.
pub fn plan_delete(me: &Owner, current: Option<&Current>) -> DeletePlan {
    let Some(current) = current else { return DeletePlan::Gone };
    match Owner::from_tags(&current.tags) {
        Some(owner) if &owner == me => DeletePlan::Deregister,
        Some(owner) => DeletePlan::Keep(format!("owned by {} in stack {}", owner.logical_id, owner.stack_id)),
        None => DeletePlan::Keep("it has no ownership tags, so it was not registered by this function".into()),
    }
}

/// The attributes `Fn::GetAtt` reads.
pub fn data(id: &TargetId, described: &Described) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("ScalableTargetARN".to_owned(), described.arn.clone()),
        ("ResourceId".to_owned(), id.resource.to_string()),
        ("ScalableDimension".to_owned(), id.dimension.to_string()),
        ("ServiceNamespace".to_owned(), NAMESPACE.to_owned()),
        ("MinCapacity".to_owned(), described.min.to_string()),
        ("MaxCapacity".to_owned(), described.max.to_string()),
    ])
}

async fn current(aas: &Session, id: &TargetId) -> Result<Option<Current>> {
    let Some(described) = aas.describe_target(id).await? else { return Ok(None) };
    let tags = aas.tags(&described.arn).await?;
    Ok(Some(Current { described, tags }))
}

/// Create or Update.
///
/// # Errors
/// Why the target could not be registered; the dispatcher turns it into a FAILED.
pub async fn put(req: &Request, aas: &Session) -> Result<Response> {
    let spec = TargetSpec::from_properties(&req.properties)?;
    let me = Owner::of(&req.echo);
    let found = current(aas, &spec.id).await?;
    let same_identity = req.request_type == RequestType::Update
        && req.echo.physical_id.as_deref().and_then(TargetId::from_physical_id).as_ref() == Some(&spec.id);
    let calls = if same_identity {
        plan_update(&spec, &old_tags(&req.old_properties), &me, found.as_ref())
    } else {
        plan_create(&spec, &me, found.as_ref())?
    };
    let mut arn = found.map(|c| c.described.arn);
    for call in &calls {
        match call {
            Call::Register(reg) => arn = aas.register(reg).await?.or(arn),
            Call::Tag(tags) => aas.tag(&target_arn(&arn, &spec.id, aas).await?, tags).await?,
            Call::Untag(keys) => aas.untag(&target_arn(&arn, &spec.id, aas).await?, keys).await?,
        }
    }
    let described = aas.describe_target(&spec.id).await?.ok_or_else(|| {
        Error::Conflict(format!("RegisterScalableTarget succeeded but DescribeScalableTargets does not show {}", spec.id.physical_id()))
    })?;
    tracing::info!(target = %spec.id.physical_id(), min = described.min, max = described.max, "scalable target registered");
    Ok(Response::success(&req.echo, spec.id.physical_id(), data(&spec.id, &described)))
}

/// The ARN tag calls need: from the lookup or the register answer, else from a fresh Describe.
async fn target_arn(known: &Option<String>, id: &TargetId, aas: &Session) -> Result<String> {
    if let Some(arn) = known.as_ref().filter(|a| !a.is_empty()) {
        return Ok(arn.clone());
    }
    match aas.describe_target(id).await? {
        Some(d) if !d.arn.is_empty() => Ok(d.arn),
        _ => Err(Error::Conflict(format!("cannot tag {}: DescribeScalableTargets gives no ScalableTargetARN", id.physical_id()))),
    }
}

/// Delete. Never validates properties; something already gone is done.
///
/// # Errors
/// An AWS error that leaves the resource in place; the dispatcher turns it into a FAILED.
pub async fn delete(req: &Request, aas: &Session) -> Result<()> {
    let Some(id) = req.echo.physical_id.as_deref().and_then(TargetId::from_physical_id) else {
        tracing::info!("physical id names no scalable target (a failed create); nothing to delete");
        return Ok(());
    };
    let found = current(aas, &id).await?;
    match plan_delete(&Owner::of(&req.echo), found.as_ref()) {
        DeletePlan::Gone => tracing::info!(target = %id.physical_id(), "scalable target already gone"),
        DeletePlan::Keep(why) => tracing::info!(target = %id.physical_id(), "scalable target left in place: {why}"),
        DeletePlan::Deregister => {
            let existed = aas.deregister(&id).await?;
            tracing::info!(target = %id.physical_id(), existed, "scalable target deregistered");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(props: Value) -> Result<TargetSpec> {
        TargetSpec::from_properties(&props)
    }

    fn err(props: Value) -> String {
        spec(props).unwrap_err().to_string()
    }

    fn me() -> Owner {
        Owner { stack_id: "arn:aws:cloudformation:us-east-1:1:stack/s/1".into(), logical_id: "Target".into() }
    }

    fn current(tags: Tags) -> Current {
        Current { described: Described { arn: "arn:t".into(), min: 1, max: 2, suspended: Suspended::default() }, tags }
    }

    fn basic() -> TargetSpec {
        spec(
            json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "1", "MaxCapacity": "4", "Tags": [{"Key": "team", "Value": "ml"}]}),
        )
        .unwrap()
    }

    #[test]
    fn strings_and_numbers_give_the_same_spec() {
        let a =
            spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "1", "MaxCapacity": "4", "AdoptExisting": "true"})).unwrap();
        let b = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 4, "AdoptExisting": true})).unwrap();
        assert_eq!(a, b);
        assert_eq!((a.min, a.max, a.adopt), (1, 4, true));
        assert_eq!(a.id.physical_id(), "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
    }

    #[test]
    fn shorthands_build_the_resource_id_and_default_dimension() {
        let v = spec(json!({"EndpointName": "e", "VariantName": "v", "MinCapacity": 0, "MaxCapacity": 0})).unwrap();
        assert_eq!(v.id.physical_id(), "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker");
        let ic = spec(json!({"InferenceComponentName": "ic", "MinCapacity": 0, "MaxCapacity": 2})).unwrap();
        assert_eq!(ic.id.physical_id(), "inference-component/ic|sagemaker:inference-component:DesiredCopyCount|sagemaker");
        let pc = spec(json!({"EndpointName": "e", "VariantName": "v", "ScalableDimension": "sagemaker:variant:DesiredProvisionedConcurrency", "MinCapacity": 1, "MaxCapacity": 2})).unwrap();
        assert_eq!(pc.id.dimension, crate::model::ScalableDimension::VariantProvisionedConcurrency);
    }

    #[test]
    fn every_bad_property_is_named() {
        let cases = [
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 5, "MaxCapacity": 2}),
                "MinCapacity 5 is greater than MaxCapacity 2",
            ),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": "abc", "MaxCapacity": 2}), "MinCapacity must be an integer"),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": -1, "MaxCapacity": 2}), "MinCapacity must be 0 or more"),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1}), "MaxCapacity is required"),
            (json!({"MinCapacity": 1, "MaxCapacity": 2}), "ResourceId is required"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "MaxCapcity": 3}),
                "unknown property MaxCapcity",
            ),
            (
                json!({"ResourceId": "inference-component/c", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "MinCapacity": 1, "MaxCapacity": 2}),
                "ScalableDimension sagemaker:variant:DesiredInstanceCount does not fit",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 1, "MaxCapacity": 2}),
                "ScalableDimension \"ecs:service:DesiredCount\" is not a SageMaker dimension",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "ServiceNamespace": "ecs", "MinCapacity": 1, "MaxCapacity": 2}),
                "ServiceNamespace \"ecs\" is not supported",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "EndpointName": "e", "MinCapacity": 1, "MaxCapacity": 2}),
                "ResourceId and EndpointName cannot both be set",
            ),
            (json!({"EndpointName": "e", "MinCapacity": 1, "MaxCapacity": 2}), "VariantName is required with EndpointName"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "RoleARN": "role"}),
                "RoleARN \"role\" is not an IAM role ARN",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"DynamicScalingInSuspended": "maybe"}}),
                "SuspendedState.DynamicScalingInSuspended must be true or false",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"Paused": true}}),
                "unknown property SuspendedState.Paused",
            ),
            (json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": {"a": "b"}}), "Tags must be a list"),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Value": "b"}]}),
                "Tags[0].Key is required",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]}),
                "Tags has the key \"a\" twice",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "Tags": [{"Key": "cfn-sagemaker-autoscaling:logical-id", "Value": "x"}]}),
                "Tags[0].Key \"cfn-sagemaker-autoscaling:logical-id\" uses a reserved prefix",
            ),
            (
                json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "AdoptExisting": "yes"}),
                "AdoptExisting must be true or false",
            ),
            (json!("not an object"), "ResourceProperties must be an object"),
            (Value::Null, "ResourceProperties is missing"),
        ];
        for (props, expected) in cases {
            let text = err(props.clone());
            assert!(text.starts_with(expected), "{props}: {text}");
        }
    }

    #[test]
    fn create_registers_with_user_and_ownership_tags() {
        let calls = plan_create(&basic(), &me(), None).unwrap();
        let [Call::Register(reg)] = calls.as_slice() else { panic!("{calls:?}") };
        let tags = reg.tags.as_ref().unwrap();
        assert_eq!(tags.get("team").map(String::as_str), Some("ml"));
        assert_eq!(tags.get(OWNER_LOGICAL_TAG).map(String::as_str), Some("Target"));
        assert_eq!(tags.get(OWNER_STACK_TAG), Some(&me().stack_id));
    }

    #[test]
    fn a_duplicate_create_re_registers_without_tags_then_tags() {
        let calls = plan_create(&basic(), &me(), Some(&current(me().tags()))).unwrap();
        assert!(matches!(&calls[0], Call::Register(reg) if reg.tags.is_none()));
        assert!(matches!(&calls[1], Call::Tag(tags) if tags.contains_key("team") && tags.contains_key(OWNER_STACK_TAG)));
    }

    #[test]
    fn create_over_someone_elses_target_fails_naming_the_owner_unless_adopting() {
        let other = Owner { stack_id: "arn:other".into(), logical_id: "Theirs".into() };
        let text = plan_create(&basic(), &me(), Some(&current(other.tags()))).unwrap_err().to_string();
        assert!(text.contains("already registered, owned by Theirs in stack arn:other"), "{text}");
        let text = plan_create(&basic(), &me(), Some(&current(Tags::new()))).unwrap_err().to_string();
        assert!(text.contains("no ownership tags"), "{text}");
        let adopt = TargetSpec { adopt: true, ..basic() };
        let calls = plan_create(&adopt, &me(), Some(&current(other.tags()))).unwrap();
        assert!(matches!(&calls[1], Call::Tag(tags) if tags.get(OWNER_LOGICAL_TAG).map(String::as_str) == Some("Target")));
    }

    #[test]
    fn update_applies_the_tag_difference() {
        let old =
            Tags::from([("team".to_owned(), "old".to_owned()), ("gone".to_owned(), "x".to_owned()), ("same".to_owned(), "s".to_owned())]);
        let mut new = basic();
        new.tags.insert("same".into(), "s".into());
        let calls = plan_update(&new, &old, &me(), Some(&current(me().tags())));
        assert_eq!(calls.len(), 3);
        assert!(matches!(&calls[0], Call::Register(reg) if reg.tags.is_none()));
        assert_eq!(calls[1], Call::Tag(Tags::from([("team".to_owned(), "ml".to_owned())])));
        assert_eq!(calls[2], Call::Untag(vec!["gone".to_owned()]));
        assert_eq!(plan_update(&new, &new.tags, &me(), Some(&current(me().tags()))).len(), 1);
    }

    #[test]
    fn update_of_a_vanished_target_registers_it_again_with_tags() {
        let calls = plan_update(&basic(), &Tags::new(), &me(), None);
        assert!(matches!(&calls[..], [Call::Register(reg)] if reg.tags.as_ref().is_some_and(|t| t.contains_key(OWNER_STACK_TAG))));
    }

    #[test]
    fn delete_deregisters_only_what_it_owns() {
        assert_eq!(plan_delete(&me(), None), DeletePlan::Gone);
        assert_eq!(plan_delete(&me(), Some(&current(me().tags()))), DeletePlan::Deregister);
        let renamed = Owner { logical_id: "NewName".into(), ..me() };
        assert!(matches!(plan_delete(&me(), Some(&current(renamed.tags()))), DeletePlan::Keep(why) if why.contains("NewName")));
        assert!(matches!(plan_delete(&me(), Some(&current(Tags::new()))), DeletePlan::Keep(_)));
    }

    #[test]
    fn removing_suspended_state_resets_every_flag() {
        let with = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2, "SuspendedState": {"DynamicScalingInSuspended": "true"}})).unwrap();
        assert!(with.suspended.dynamic_in && !with.suspended.scheduled);
        let without = spec(json!({"ResourceId": "endpoint/e/variant/v", "MinCapacity": 1, "MaxCapacity": 2})).unwrap();
        assert_eq!(without.registration(None).suspended, Suspended::default());
    }

    #[test]
    fn old_tags_are_read_leniently() {
        assert_eq!(old_tags(&json!({"Tags": [{"Key": "a", "Value": "1"}], "MinCapacity": "abc"})).len(), 1);
        assert!(old_tags(&json!("garbage")).is_empty());
    }
}
