//! `Custom::SageMakerScalableTarget` as the template describes it: properties validated once, the
//! ownership tags, and the RegisterScalableTarget request a spec becomes.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::action_spec::ActionSpec;
use crate::model::{ResourceId, ScalableDimension, TargetId};
use crate::props::Props;
use crate::request::Echo;
use crate::{Error, Result};

/// The tag naming the stack that owns a target.
pub const OWNER_STACK_TAG: &str = "cfn-sagemaker-autoscaling:stack-id";
/// The tag naming the logical id that owns a target.
pub const OWNER_LOGICAL_TAG: &str = "cfn-sagemaker-autoscaling:logical-id";
/// Application Auto Scaling allows 50 tags per target; two are ours.
const MAX_USER_TAGS: usize = 48;

/// The properties a scalable target accepts (besides `ServiceToken` and `ServiceTimeout`).
pub const PROPERTIES: [&str; 15] = [
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
    "RepairDrift",
    "ScaleToZero",
    "ScheduledActions",
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
    /// `ScaleToZero`: the function also manages the step policy and alarm that bring an inference component
    /// back from zero copies.
    pub scale_to_zero: bool,
    /// `ScheduledActions`, put after registering; `None` when the template has none (the target's other
    /// actions, from `Custom::SageMakerScheduledAction`, are never touched either way).
    pub scheduled_actions: Option<Vec<ActionSpec>>,
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
        props.boolean("RepairDrift")?;
        let scale_to_zero = props.boolean("ScaleToZero")?.unwrap_or(false);
        if scale_to_zero {
            // A variant scales to zero on instances of an asynchronous endpoint (checked once SageMaker has
            // described the endpoint); an inference component on its copies.
            if id.dimension == ScalableDimension::VariantProvisionedConcurrency {
                return Err(Error::invalid(format!(
                    "ScaleToZero applies to inference components and to instance-based variants of asynchronous endpoints; {} is \
                     scaled on {}",
                    id.resource, id.dimension
                )));
            }
            if min != 0 {
                return Err(Error::invalid(format!("ScaleToZero needs MinCapacity 0, got MinCapacity {min}")));
            }
        }
        Ok(Self {
            min,
            max,
            role_arn,
            suspended: suspended(&props)?,
            tags: tags(&props)?,
            adopt: props.boolean("AdoptExisting")?.unwrap_or(false),
            scale_to_zero,
            scheduled_actions: props.list("ScheduledActions")?.map(|list| ActionSpec::inline_list(list, &id)).transpose()?,
            id,
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

pub(crate) fn tags(props: &Props<'_>) -> Result<Tags> {
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

/// `ScaleToZero` of the event's properties, read leniently (a Delete's, which are never validated).
pub fn asked_scale_to_zero(value: &Value) -> bool {
    Props::object(value, "ResourceProperties").ok().and_then(|p| p.boolean("ScaleToZero").ok().flatten()).unwrap_or(false)
}

/// `ScaleToZero` of a template's previous version, read leniently (judged from `OldResourceProperties`).
pub fn old_scale_to_zero(value: &Value) -> bool {
    Props::object(value, "OldResourceProperties").ok().and_then(|p| p.boolean("ScaleToZero").ok().flatten()).unwrap_or(false)
}

/// The names of the inline scheduled actions of a template's previous version, read leniently (as tags are):
/// the only actions an Update may remove are the ones the template named before.
pub fn old_action_names(value: &Value) -> Vec<String> {
    let Ok(props) = Props::object(value, "OldResourceProperties") else { return Vec::new() };
    let Ok(Some(list)) = props.list("ScheduledActions") else { return Vec::new() };
    list.iter().filter_map(|item| item.get("ScheduledActionName")?.as_str().map(str::to_owned)).collect()
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

    /// The two ownership tags naming this owner.
    pub fn tags(&self) -> Tags {
        Tags::from([(OWNER_STACK_TAG.to_owned(), self.stack_id.clone()), (OWNER_LOGICAL_TAG.to_owned(), self.logical_id.clone())])
    }
}

/// `owned by <logical id> in stack <stack id>`, as every Reason and log line names an owner.
impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "owned by {} in stack {}", self.logical_id, self.stack_id)
    }
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

/// A scalable target as DescribeScalableTargets shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    pub arn: String,
    pub min: i32,
    pub max: i32,
    pub suspended: Suspended,
}
