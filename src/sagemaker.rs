//! SageMaker awareness: what the endpoint or inference component a target names looks like, and the pure
//! decision of what that means for registering it (go ahead, wait, or fail with SageMaker's own reason).
//! The shell describes the resource and runs the waiting loop; the schedule of that loop is here too, so it
//! is tested without sleeping.

use std::time::Duration;

use crate::model::{ResourceId, ScalableDimension, TargetId};

/// What DescribeEndpoint or DescribeInferenceComponent said about the resource a target names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// SageMaker does not know it.
    Missing,
    Endpoint(EndpointState),
    InferenceComponent(ComponentState),
}

/// An endpoint as DescribeEndpoint shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointState {
    pub status: String,
    pub failure_reason: Option<String>,
    pub variants: Vec<VariantState>,
    /// Its configuration has an `AsyncInferenceConfig` (DescribeEndpoint shows it).
    pub asynchronous: bool,
}

/// One production variant of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantState {
    pub name: String,
    pub kind: VariantKind,
    /// `CurrentInstanceCount`, or the serverless variant's current provisioned concurrency.
    pub current_capacity: Option<i64>,
}

/// How a variant is served, which decides the dimension that can scale it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// On instances: `sagemaker:variant:DesiredInstanceCount`.
    Instances,
    /// Serverless; with provisioned concurrency it scales on `sagemaker:variant:DesiredProvisionedConcurrency`.
    Serverless { provisioned_concurrency: bool },
}

/// An inference component as DescribeInferenceComponent shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentState {
    pub status: String,
    pub failure_reason: Option<String>,
    pub current_copies: Option<i64>,
}

/// What to do about a target, given what SageMaker said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// `InService` and the target fits it: register. The capacity SageMaker reports, for `Data.CurrentCapacity`,
    /// and whether the endpoint is asynchronous (its variants may scale to zero instances).
    Ready { current_capacity: Option<i64>, asynchronous: bool },
    /// In a transition that ends by itself: ask again later.
    Wait { status: String },
    /// Nothing will come of waiting: FAILED with this Reason.
    Fail(String),
}

/// The endpoint statuses that end by themselves (waited for, never failed on).
pub const ENDPOINT_TRANSITIONS: [&str; 4] = ["Creating", "Updating", "SystemUpdating", "RollingBack"];
const ENDPOINT_FAILED: [&str; 4] = ["Failed", "OutOfService", "Deleting", "UpdateRollbackFailed"];
const COMPONENT_TRANSITIONS: [&str; 2] = ["Creating", "Updating"];
const COMPONENT_FAILED: [&str; 2] = ["Failed", "Deleting"];

/// How the SageMaker resource a target names is spoken of in a Reason: `endpoint e` or `inference component c`.
pub fn subject(id: &TargetId) -> String {
    match &id.resource {
        ResourceId::Variant { endpoint, .. } => format!("endpoint {endpoint}"),
        ResourceId::InferenceComponent { name } => format!("inference component {name}"),
    }
}

/// The decision for `id` given `observed`. The variant and dimension checks are made on the `InService`
/// answer only: a Creating endpoint may list no variants yet.
pub fn readiness(id: &TargetId, observed: &Observed) -> Readiness {
    let subject = subject(id);
    let (status, failure, transitions, failed): (&str, &Option<String>, &[&str], &[&str]) = match observed {
        Observed::Missing => return Readiness::Fail(format!("{subject} does not exist")),
        Observed::Endpoint(e) => (&e.status, &e.failure_reason, &ENDPOINT_TRANSITIONS, &ENDPOINT_FAILED),
        Observed::InferenceComponent(c) => (&c.status, &c.failure_reason, &COMPONENT_TRANSITIONS, &COMPONENT_FAILED),
    };
    if transitions.contains(&status) {
        return Readiness::Wait { status: status.to_owned() };
    }
    if failed.contains(&status) {
        let reason = failure.as_deref().filter(|r| !r.is_empty()).unwrap_or("SageMaker gives no FailureReason");
        return Readiness::Fail(format!("{subject} is {status}: {reason}"));
    }
    if status != "InService" {
        return Readiness::Fail(format!("{subject} has status {status:?}, which is not InService"));
    }
    match (observed, &id.resource) {
        (Observed::Endpoint(endpoint), ResourceId::Variant { variant, .. }) => variant_fits(id, endpoint, variant, &subject),
        (Observed::InferenceComponent(c), ResourceId::InferenceComponent { .. }) => {
            Readiness::Ready { current_capacity: c.current_copies, asynchronous: false }
        }
        _ => Readiness::Fail(format!("SageMaker described {subject} as another kind of resource")),
    }
}

fn variant_fits(id: &TargetId, endpoint: &EndpointState, name: &str, subject: &str) -> Readiness {
    let Some(variant) = endpoint.variants.iter().find(|v| v.name == name) else {
        let names: Vec<&str> = endpoint.variants.iter().map(|v| v.name.as_str()).collect();
        let has = if names.is_empty() { "no variants".to_owned() } else { format!("the variants {}", names.join(", ")) };
        return Readiness::Fail(format!("{subject} has no variant {name}; it has {has}"));
    };
    let what = format!("variant {name} of {subject}");
    match (variant.kind, id.dimension) {
        (VariantKind::Instances, ScalableDimension::VariantInstanceCount)
        | (VariantKind::Serverless { provisioned_concurrency: true }, ScalableDimension::VariantProvisionedConcurrency) => {
            Readiness::Ready { current_capacity: variant.current_capacity, asynchronous: endpoint.asynchronous }
        }
        (VariantKind::Instances, _) => Readiness::Fail(format!(
            "{what} is instance-based; scale it with ScalableDimension {}",
            ScalableDimension::VariantInstanceCount
        )),
        (VariantKind::Serverless { provisioned_concurrency: true }, _) => Readiness::Fail(format!(
            "{what} is serverless; scale it with ScalableDimension {}",
            ScalableDimension::VariantProvisionedConcurrency
        )),
        (VariantKind::Serverless { provisioned_concurrency: false }, _) => Readiness::Fail(format!(
            "{what} is serverless without provisioned concurrency, so no dimension fits it; set ProvisionedConcurrency in its \
             ServerlessConfig and use ScalableDimension {}",
            ScalableDimension::VariantProvisionedConcurrency
        )),
    }
}

/// The Reason when the deadline margin comes before `InService`.
pub fn still_waiting(id: &TargetId, status: &str, waited: Duration) -> String {
    format!(
        "{} is still {status} after {}s; raise the function's timeout and the custom resource's ServiceTimeout to wait longer, or retry once it is InService",
        subject(id),
        waited.as_secs()
    )
}

/// The first delay of the waiting loop; it grows by half each time, up to [`MAX_POLL_DELAY`], then jittered.
pub const FIRST_POLL_DELAY: Duration = Duration::from_secs(1);
/// The longest wait between two looks at a resource in transition.
pub const MAX_POLL_DELAY: Duration = Duration::from_secs(10);

/// The delay before look number `attempt + 1` (`attempt` starts at 1), for a `jitter` in `[0, 1]`: about
/// 1 s, 1.5 s, 2.25 s, ... capped at 10 s, each within ±20 % so concurrent stacks spread out.
pub fn poll_delay(attempt: u32, jitter: f64) -> Duration {
    let grown = FIRST_POLL_DELAY.mul_f64(1.5f64.powi(attempt.saturating_sub(1).min(16) as i32)).min(MAX_POLL_DELAY);
    grown.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0)).min(MAX_POLL_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variant_id(dimension: ScalableDimension) -> TargetId {
        TargetId::new(ResourceId::parse("endpoint/e/variant/v", "ResourceId").unwrap(), dimension).unwrap()
    }

    fn component_id() -> TargetId {
        let resource = ResourceId::parse("inference-component/ic", "ResourceId").unwrap();
        TargetId::new(resource, ScalableDimension::InferenceComponentCopyCount).unwrap()
    }

    fn endpoint(status: &str, variants: Vec<VariantState>) -> Observed {
        Observed::Endpoint(EndpointState { status: status.into(), failure_reason: None, variants, asynchronous: false })
    }

    fn variant(name: &str, kind: VariantKind, current: i64) -> VariantState {
        VariantState { name: name.into(), kind, current_capacity: Some(current) }
    }

    fn component(status: &str) -> Observed {
        Observed::InferenceComponent(ComponentState { status: status.into(), failure_reason: None, current_copies: Some(2) })
    }

    #[test]
    fn missing_resources_are_named() {
        let id = variant_id(ScalableDimension::VariantInstanceCount);
        assert_eq!(readiness(&id, &Observed::Missing), Readiness::Fail("endpoint e does not exist".into()));
        assert_eq!(readiness(&component_id(), &Observed::Missing), Readiness::Fail("inference component ic does not exist".into()));
    }

    #[test]
    fn every_endpoint_status_sagemaker_documents_has_its_answer() {
        let id = variant_id(ScalableDimension::VariantInstanceCount);
        for status in ["Creating", "Updating", "SystemUpdating", "RollingBack"] {
            assert_eq!(readiness(&id, &endpoint(status, vec![])), Readiness::Wait { status: status.into() }, "{status}");
        }
        for status in ["Failed", "OutOfService", "Deleting", "UpdateRollbackFailed"] {
            let failed = Observed::Endpoint(EndpointState {
                status: status.into(),
                failure_reason: Some("ModelError: the container did not start".into()),
                variants: vec![variant("v", VariantKind::Instances, 1)],
                asynchronous: false,
            });
            assert_eq!(
                readiness(&id, &failed),
                Readiness::Fail(format!("endpoint e is {status}: ModelError: the container did not start")),
                "{status}"
            );
        }
        let silent = endpoint("Failed", vec![]);
        assert_eq!(readiness(&id, &silent), Readiness::Fail("endpoint e is Failed: SageMaker gives no FailureReason".into()));
        let ok = endpoint("InService", vec![variant("v", VariantKind::Instances, 3)]);
        assert_eq!(readiness(&id, &ok), Readiness::Ready { current_capacity: Some(3), asynchronous: false });
        assert!(matches!(readiness(&id, &endpoint("Exploding", vec![])), Readiness::Fail(r) if r.contains("\"Exploding\"")));
    }

    #[test]
    fn every_inference_component_status_has_its_answer() {
        for status in ["Creating", "Updating"] {
            assert_eq!(readiness(&component_id(), &component(status)), Readiness::Wait { status: status.into() });
        }
        for status in ["Failed", "Deleting"] {
            assert!(
                matches!(readiness(&component_id(), &component(status)), Readiness::Fail(r) if r.starts_with(&format!("inference component ic is {status}: ")))
            );
        }
        assert_eq!(
            readiness(&component_id(), &component("InService")),
            Readiness::Ready { current_capacity: Some(2), asynchronous: false }
        );
    }

    #[test]
    fn a_missing_variant_names_the_ones_the_endpoint_has() {
        let id = variant_id(ScalableDimension::VariantInstanceCount);
        let two = endpoint("InService", vec![variant("blue", VariantKind::Instances, 1), variant("green", VariantKind::Instances, 1)]);
        assert_eq!(readiness(&id, &two), Readiness::Fail("endpoint e has no variant v; it has the variants blue, green".into()));
        assert_eq!(
            readiness(&id, &endpoint("InService", vec![])),
            Readiness::Fail("endpoint e has no variant v; it has no variants".into())
        );
    }

    #[test]
    fn the_dimension_must_fit_the_variant_both_ways() {
        let instances = endpoint("InService", vec![variant("v", VariantKind::Instances, 2)]);
        let serverless = endpoint("InService", vec![variant("v", VariantKind::Serverless { provisioned_concurrency: true }, 5)]);
        let bare = endpoint("InService", vec![variant("v", VariantKind::Serverless { provisioned_concurrency: false }, 0)]);
        let count = variant_id(ScalableDimension::VariantInstanceCount);
        let concurrency = variant_id(ScalableDimension::VariantProvisionedConcurrency);
        assert_eq!(readiness(&concurrency, &serverless), Readiness::Ready { current_capacity: Some(5), asynchronous: false });
        let Readiness::Fail(r) = readiness(&count, &serverless) else { panic!() };
        assert_eq!(
            r,
            "variant v of endpoint e is serverless; scale it with ScalableDimension sagemaker:variant:DesiredProvisionedConcurrency"
        );
        let Readiness::Fail(r) = readiness(&concurrency, &instances) else { panic!() };
        assert_eq!(r, "variant v of endpoint e is instance-based; scale it with ScalableDimension sagemaker:variant:DesiredInstanceCount");
        let Readiness::Fail(r) = readiness(&concurrency, &bare) else { panic!() };
        assert!(r.starts_with("variant v of endpoint e is serverless without provisioned concurrency"), "{r}");
    }

    #[test]
    fn the_reason_at_the_deadline_names_the_status_the_time_and_the_remedy() {
        let id = component_id();
        let reason = still_waiting(&id, "Updating", Duration::from_millis(12_400));
        assert!(reason.starts_with("inference component ic is still Updating after 12s; "), "{reason}");
        assert!(reason.contains("ServiceTimeout"));
    }

    #[test]
    fn polls_start_near_a_second_grow_and_stop_at_ten() {
        assert_eq!(poll_delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(poll_delay(2, 0.5), Duration::from_millis(1500));
        assert!(poll_delay(1, 0.0) >= Duration::from_millis(800) && poll_delay(1, 1.0) <= Duration::from_millis(1200));
        assert_eq!(poll_delay(20, 1.0), MAX_POLL_DELAY);
        assert_eq!(poll_delay(20, 0.5), MAX_POLL_DELAY);
        assert!(poll_delay(20, 0.0) >= Duration::from_secs(8));
    }
}
