//! The model: what the template asks for, validated once ([`target_spec`], [`policy_spec`], [`action_spec`]),
//! and the identities they share (resource ids, scalable dimensions, the target's physical id).
//!
//! Each type can only hold a value Application Auto Scaling accepts for SageMaker, so code past the
//! boundary never re-checks them. Nothing here calls AWS: the shell (the `shell` module) takes these types in
//! and gives observed state back in them.

use std::fmt;

use serde_json::Value;

use crate::props::Props;
use crate::{Error, Result};

pub mod action_spec;
pub mod endpoint_spec;
pub mod metric_math;
pub mod policy_spec;
pub mod target_spec;

/// The only service namespace this function manages.
pub const NAMESPACE: &str = "sagemaker";

/// What a SageMaker resource id names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceId {
    /// `endpoint/<endpoint>/variant/<variant>`
    Variant { endpoint: String, variant: String },
    /// `inference-component/<name>`
    InferenceComponent { name: String },
}

impl ResourceId {
    /// Parses `endpoint/<e>/variant/<v>` or `inference-component/<n>`; `property` names the source in errors.
    ///
    /// # Errors
    /// `Invalid` when the id has another shape or a name SageMaker would not accept.
    pub fn parse(text: &str, property: &str) -> Result<Self> {
        let parts: Vec<&str> = text.split('/').collect();
        let parsed = match parts.as_slice() {
            ["endpoint", endpoint, "variant", variant] => Self::variant(endpoint, variant, property),
            ["inference-component", name] => Self::inference_component(name, property),
            _ => Err(Error::invalid("")),
        };
        parsed.map_err(|err| match err {
            Error::Invalid(detail) if detail.is_empty() => Error::invalid(format!(
                "{property} {text:?} is not a SageMaker resource id; expected endpoint/<endpoint>/variant/<variant> or inference-component/<name>"
            )),
            other => other,
        })
    }

    /// A variant id from its endpoint and variant names.
    ///
    /// # Errors
    /// `Invalid` when a name is not a valid SageMaker name.
    pub fn variant(endpoint: &str, variant: &str, property: &str) -> Result<Self> {
        check_name(endpoint, property, "endpoint name")?;
        check_name(variant, property, "variant name")?;
        Ok(Self::Variant { endpoint: endpoint.to_owned(), variant: variant.to_owned() })
    }

    /// An inference component id from its name.
    ///
    /// # Errors
    /// `Invalid` when the name is not a valid SageMaker name.
    pub fn inference_component(name: &str, property: &str) -> Result<Self> {
        check_name(name, property, "inference component name")?;
        Ok(Self::InferenceComponent { name: name.to_owned() })
    }

    /// The dimension used when the template names none.
    pub fn default_dimension(&self) -> ScalableDimension {
        match self {
            Self::Variant { .. } => ScalableDimension::VariantInstanceCount,
            Self::InferenceComponent { .. } => ScalableDimension::InferenceComponentCopyCount,
        }
    }
}

impl fmt::Display for ResourceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Variant { endpoint, variant } => write!(f, "endpoint/{endpoint}/variant/{variant}"),
            Self::InferenceComponent { name } => write!(f, "inference-component/{name}"),
        }
    }
}

/// SageMaker names: 1 to 63 letters, digits and hyphens, starting and ending with a letter or digit.
/// This also keeps `/` and `|` out of ids, so physical ids split unambiguously.
fn check_name(name: &str, property: &str, what: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{property} has an invalid {what} {name:?}: use 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen"
        )))
    }
}

/// The SageMaker scalable dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScalableDimension {
    /// `sagemaker:variant:DesiredInstanceCount`
    VariantInstanceCount,
    /// `sagemaker:variant:DesiredProvisionedConcurrency` (serverless endpoints)
    VariantProvisionedConcurrency,
    /// `sagemaker:inference-component:DesiredCopyCount`
    InferenceComponentCopyCount,
}

impl ScalableDimension {
    /// Every dimension, in the order used in messages.
    pub const ALL: [Self; 3] = [Self::VariantInstanceCount, Self::VariantProvisionedConcurrency, Self::InferenceComponentCopyCount];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VariantInstanceCount => "sagemaker:variant:DesiredInstanceCount",
            Self::VariantProvisionedConcurrency => "sagemaker:variant:DesiredProvisionedConcurrency",
            Self::InferenceComponentCopyCount => "sagemaker:inference-component:DesiredCopyCount",
        }
    }

    /// Parses a wire name; `property` names the source in errors.
    ///
    /// # Errors
    /// `Invalid` listing the accepted dimensions.
    pub fn parse(text: &str, property: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == text).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|d| d.as_str()).collect();
            Error::invalid(format!("{property} {text:?} is not a SageMaker dimension; expected one of: {}", names.join(", ")))
        })
    }

    /// True when this dimension can scale `resource`.
    pub fn fits(self, resource: &ResourceId) -> bool {
        matches!(
            (self, resource),
            (Self::VariantInstanceCount | Self::VariantProvisionedConcurrency, ResourceId::Variant { .. })
                | (Self::InferenceComponentCopyCount, ResourceId::InferenceComponent { .. })
        )
    }
}

impl fmt::Display for ScalableDimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A scalable target's identity, which is also its physical id: `<ResourceId>|<ScalableDimension>|sagemaker`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetId {
    pub resource: ResourceId,
    pub dimension: ScalableDimension,
}

impl TargetId {
    /// Joins a resource and a dimension, checking that they fit.
    ///
    /// # Errors
    /// `Invalid` naming `ScalableDimension` when the dimension cannot scale the resource.
    pub fn new(resource: ResourceId, dimension: ScalableDimension) -> Result<Self> {
        if dimension.fits(&resource) {
            Ok(Self { resource, dimension })
        } else {
            Err(Error::invalid(format!(
                "ScalableDimension {dimension} does not fit ResourceId {resource}; use {}",
                resource.default_dimension()
            )))
        }
    }

    /// Reads a physical id (the same format as the native `AWS::ApplicationAutoScaling::ScalableTarget`'s `Ref`).
    /// Returns `None` for anything else: such ids come from failed creates and name nothing to clean up.
    pub fn from_physical_id(text: &str) -> Option<Self> {
        let mut parts = text.split('|');
        let (resource, dimension, namespace) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || namespace != NAMESPACE {
            return None;
        }
        let resource = ResourceId::parse(resource, "PhysicalResourceId").ok()?;
        let dimension = ScalableDimension::parse(dimension, "PhysicalResourceId").ok()?;
        Self::new(resource, dimension).ok()
    }

    /// The physical id.
    pub fn physical_id(&self) -> String {
        format!("{}|{}|{NAMESPACE}", self.resource, self.dimension)
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.resource, self.dimension)
    }
}

/// The properties that name the target of a policy or scheduled action.
pub const TARGET_REFERENCE: [&str; 4] = ["ScalingTargetId", "ResourceId", "ScalableDimension", "ServiceNamespace"];

impl TargetId {
    /// Reads the target a policy or scheduled action applies to: `ScalingTargetId` (a target's physical id,
    /// from this function or from the native `AWS::ApplicationAutoScaling::ScalableTarget`), or `ResourceId`
    /// with an optional `ScalableDimension` (default from the id) and `ServiceNamespace` (`sagemaker`).
    ///
    /// # Errors
    /// `Invalid` naming the property that is missing, malformed, or given twice.
    pub fn from_reference(props: &Props<'_>) -> Result<Self> {
        let explicit = ["ResourceId", "ScalableDimension", "ServiceNamespace"].into_iter().find(|k| props.has(k));
        if let Some(text) = props.string("ScalingTargetId")? {
            if let Some(other) = explicit {
                return Err(Error::invalid(format!("ScalingTargetId and {other} cannot both be set; name the target one way")));
            }
            return Self::from_physical_id(&text).ok_or_else(|| {
                Error::invalid(format!(
                    "ScalingTargetId {text:?} is not a SageMaker scalable target id; expected <ResourceId>|<ScalableDimension>|sagemaker"
                ))
            });
        }
        let Some(resource) = props.string("ResourceId")? else {
            return Err(Error::invalid("ScalingTargetId is required (or ResourceId with ScalableDimension and ServiceNamespace)"));
        };
        Self::from_parts(props, ResourceId::parse(&resource, "ResourceId")?)
    }

    /// Completes a resource id with `ScalableDimension` (default from the id) and checks `ServiceNamespace`.
    ///
    /// # Errors
    /// `Invalid` naming the dimension or namespace that is wrong or does not fit.
    pub fn from_parts(props: &Props<'_>, resource: ResourceId) -> Result<Self> {
        let dimension = match props.string("ScalableDimension")? {
            Some(text) => ScalableDimension::parse(&text, "ScalableDimension")?,
            None => resource.default_dimension(),
        };
        if let Some(namespace) = props.string("ServiceNamespace")?
            && namespace != NAMESPACE
        {
            return Err(Error::invalid(format!("ServiceNamespace {namespace:?} is not supported; use {NAMESPACE:?}")));
        }
        Self::new(resource, dimension)
    }
}

/// The start every policy and scheduled action shares: the properties object, checked against `own`
/// properties plus the target reference, the name under `name_key` (checked), and the target.
///
/// # Errors
/// `Invalid` naming the first property that is wrong.
pub fn named_target<'a>(value: &'a Value, own: &[&str], name_key: &str) -> Result<(Props<'a>, String, TargetId)> {
    let props = Props::object(value, "ResourceProperties")?;
    let known: Vec<&str> = own.iter().chain(TARGET_REFERENCE.iter()).copied().collect();
    props.only(&known)?;
    let name = props.required_string(name_key)?;
    if name_key == "PolicyName" {
        check_policy_name(&name, name_key)?
    } else {
        check_action_name(&name, name_key)?
    }
    let target = TargetId::from_reference(&props)?;
    Ok((props, name, target))
}

/// Checks a scheduled action name as Application Auto Scaling's model does (`ScheduledActionName`): 1 to 256
/// characters, no control characters, no `:`, `/` or `|`, no leading or trailing spaces.
///
/// # Errors
/// `Invalid` naming `property`.
pub fn check_action_name(name: &str, property: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 256
        && !name.chars().any(|c| c.is_control() || matches!(c, ':' | '/' | '|'))
        && !name.starts_with(' ')
        && !name.ends_with(' ');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "{property} {name:?} is not valid: use 1 to 256 characters without ':', '/', '|', control characters or surrounding spaces"
        )))
    }
}

/// Checks a policy name as Application Auto Scaling's model does (`PolicyName`: `\p{Print}+`, 1 to 256): printable
/// ASCII, `:`, `/` and `|` included (the physical id is the policy ARN, which ends with the name).
///
/// # Errors
/// `Invalid` naming `property`.
pub fn check_policy_name(name: &str, property: &str) -> Result<()> {
    if !name.is_empty() && name.len() <= 256 && name.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
        Ok(())
    } else {
        Err(Error::invalid(format!("{property} {name:?} is not valid: use 1 to 256 printable ASCII characters")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_round_trip() {
        for text in ["endpoint/my-endpoint/variant/AllTraffic", "inference-component/ic-1"] {
            assert_eq!(ResourceId::parse(text, "ResourceId").unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_resource_ids_name_the_property() {
        for text in [
            "endpoint/x",
            "endpoint/a/variant/",
            "table/t",
            "inference-component/a/b",
            "endpoint/-a/variant/b",
            "endpoint/a|b/variant/c",
            "",
        ] {
            let err = ResourceId::parse(text, "ResourceId").unwrap_err().to_string();
            assert!(err.starts_with("ResourceId "), "{text}: {err}");
        }
        assert!(ResourceId::parse(&format!("inference-component/{}", "a".repeat(64)), "ResourceId").is_err());
    }

    #[test]
    fn default_dimensions_follow_the_resource() {
        let variant = ResourceId::parse("endpoint/e/variant/v", "ResourceId").unwrap();
        let component = ResourceId::parse("inference-component/c", "ResourceId").unwrap();
        assert_eq!(variant.default_dimension(), ScalableDimension::VariantInstanceCount);
        assert_eq!(component.default_dimension(), ScalableDimension::InferenceComponentCopyCount);
    }

    #[test]
    fn a_dimension_must_fit_the_resource() {
        let variant = ResourceId::parse("endpoint/e/variant/v", "ResourceId").unwrap();
        let component = ResourceId::parse("inference-component/c", "ResourceId").unwrap();
        assert!(TargetId::new(variant.clone(), ScalableDimension::VariantProvisionedConcurrency).is_ok());
        let err = TargetId::new(variant, ScalableDimension::InferenceComponentCopyCount).unwrap_err().to_string();
        assert!(err.starts_with("ScalableDimension sagemaker:inference-component:DesiredCopyCount does not fit"), "{err}");
        assert!(TargetId::new(component, ScalableDimension::VariantInstanceCount).is_err());
    }

    #[test]
    fn physical_ids_round_trip_and_reject_everything_else() {
        let text = "endpoint/my-endpoint/variant/my-variant|sagemaker:variant:DesiredInstanceCount|sagemaker";
        let id = TargetId::from_physical_id(text).unwrap();
        assert_eq!(id.physical_id(), text);
        for other in [
            "create-failed:abc",
            "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount",
            "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|ecs",
            "endpoint/e/variant/v|sagemaker:inference-component:DesiredCopyCount|sagemaker",
            "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker|x",
            "",
        ] {
            assert_eq!(TargetId::from_physical_id(other), None, "{other}");
        }
    }
}

#[cfg(test)]
mod reference_tests {
    use super::*;
    use serde_json::json;

    fn read(value: Value) -> Result<TargetId> {
        TargetId::from_reference(&Props::object(&value, "ResourceProperties").unwrap())
    }

    #[test]
    fn a_target_is_named_by_its_physical_id_or_its_parts() {
        let by_id = read(json!({"ScalingTargetId": "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker"})).unwrap();
        let by_parts = read(json!({"ResourceId": "endpoint/e/variant/v", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount", "ServiceNamespace": "sagemaker"})).unwrap();
        let by_default = read(json!({"ResourceId": "endpoint/e/variant/v"})).unwrap();
        assert_eq!(by_id, by_parts);
        assert_eq!(by_parts, by_default);
    }

    #[test]
    fn a_bad_reference_is_named() {
        let cases = [
            (json!({}), "ScalingTargetId is required"),
            (json!({"ScalingTargetId": "nope"}), "ScalingTargetId \"nope\" is not a SageMaker scalable target id"),
            (
                json!({"ScalingTargetId": "endpoint/e/variant/v|sagemaker:variant:DesiredInstanceCount|sagemaker", "ResourceId": "x"}),
                "ScalingTargetId and ResourceId cannot both be set",
            ),
            (
                json!({"ResourceId": "inference-component/c", "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}),
                "ScalableDimension sagemaker:variant:DesiredInstanceCount does not fit",
            ),
            (json!({"ResourceId": "endpoint/e/variant/v", "ServiceNamespace": "ecs"}), "ServiceNamespace \"ecs\" is not supported"),
        ];
        for (value, expected) in cases {
            let err = read(value.clone()).unwrap_err().to_string();
            assert!(err.starts_with(expected), "{value}: {err}");
        }
    }

    #[test]
    fn action_names_follow_the_service_rules() {
        assert!(check_action_name("business-hours scale", "ScheduledActionName").is_ok());
        for bad in ["", " lead", "trail ", "a|b", "a:b", "a/b", "tab\there", &"x".repeat(257)] {
            assert!(check_action_name(bad, "ScheduledActionName").unwrap_err().to_string().starts_with("ScheduledActionName "), "{bad:?}");
        }
    }

    #[test]
    fn policy_names_are_what_the_service_allows() {
        for ok in ["a/b:c", "x|y", " spaced ", "invocations-per-instance"] {
            assert!(check_policy_name(ok, "PolicyName").is_ok(), "{ok:?}");
        }
        for bad in ["", "tab\there", "caf\u{e9}", &"x".repeat(257)] {
            assert!(check_policy_name(bad, "PolicyName").unwrap_err().to_string().starts_with("PolicyName "), "{bad:?}");
        }
    }
}
