//! SageMaker: DescribeEndpoint and DescribeInferenceComponent, read into the observed state of
//! [`crate::sagemaker`], and the waiting loop that asks again until the resource is `InService` or the
//! deadline margin comes.

use serde_json::{Value, json};
use tokio::time::Instant;

use super::{NotFound, Session};
use crate::model::{ResourceId, TargetId};
use crate::sagemaker::{self, ComponentState, EndpointState, Observed, Readiness, VariantKind, VariantState};
use crate::{Error, Result};

/// A look at SageMaker needs this much time before the work limit, or the wait ends with the contract's Reason.
const LOOK_RESERVE: std::time::Duration = std::time::Duration::from_millis(1500);

impl Session {
    /// Waits until the SageMaker resource `id` names is `InService` and fits the target; its current
    /// capacity as SageMaker reports it.
    ///
    /// # Errors
    /// `Conflict` with SageMaker's own reason (missing, failed, a variant or dimension that does not fit,
    /// still in transition at the deadline margin); the final AWS error otherwise.
    pub async fn await_ready(&self, id: &TargetId) -> Result<(Option<i64>, bool)> {
        let started = Instant::now();
        let mut looks = 0;
        loop {
            looks += 1;
            let observed = self.describe_sagemaker(id).await?;
            let status = match sagemaker::readiness(id, &observed) {
                Readiness::Ready { current_capacity, asynchronous } => return Ok((current_capacity, asynchronous)),
                Readiness::Fail(reason) => return Err(Error::Conflict(reason)),
                Readiness::Wait { status } => status,
            };
            let delay = sagemaker::poll_delay(looks, fastrand::f64());
            if Instant::now() + delay + LOOK_RESERVE >= self.until {
                return Err(Error::Conflict(sagemaker::still_waiting(id, &status, started.elapsed())));
            }
            tracing::info!(subject = %sagemaker::subject(id), %status, delay_ms = delay.as_millis() as u64, "waiting for InService");
            tokio::time::sleep(delay).await;
        }
    }

    /// What SageMaker says about the resource a target names.
    ///
    /// # Errors
    /// The final AWS error; AccessDenied names the permission the function's role lacks.
    pub async fn describe_sagemaker(&self, id: &TargetId) -> Result<Observed> {
        let (operation, body) = match &id.resource {
            ResourceId::Variant { endpoint, .. } => ("DescribeEndpoint", json!({"EndpointName": endpoint})),
            ResourceId::InferenceComponent { name } => ("DescribeInferenceComponent", json!({"InferenceComponentName": name})),
        };
        let answer = self.retrying(operation, NotFound::Final, || self.clients.sagemaker.call(operation, &body)).await;
        match answer {
            Ok(value) if operation == "DescribeEndpoint" => Ok(Observed::Endpoint(endpoint_state(&value))),
            Ok(value) => Ok(Observed::InferenceComponent(component_state(&value))),
            Err(err) if is_missing(&err) => Ok(Observed::Missing),
            Err(err) => Err(err),
        }
    }
}

/// SageMaker answers a describe of something unknown with a ValidationException "Could not find ...".
pub(super) fn is_missing(err: &Error) -> bool {
    match err {
        Error::Aws { code, message, .. } => {
            code == "ResourceNotFound" || (code == "ValidationException" && message.to_ascii_lowercase().contains("could not find"))
        }
        _ => false,
    }
}

fn text(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// DescribeEndpoint's answer, as much as the decision needs.
pub fn endpoint_state(value: &Value) -> EndpointState {
    // Shadow variants are registered, scaled and refused by SageMaker like production ones.
    let lists = ["ProductionVariants", "ShadowProductionVariants"].map(|key| value.get(key).and_then(Value::as_array));
    let variants = {
        lists
            .into_iter()
            .flatten()
            .flatten()
            .map(|v| {
                let serverless = v.get("CurrentServerlessConfig").or_else(|| v.get("DesiredServerlessConfig"));
                let provisioned = serverless.and_then(|s| s.get("ProvisionedConcurrency")).and_then(Value::as_i64);
                let (kind, current_capacity) = match serverless {
                    Some(_) => (VariantKind::Serverless { provisioned_concurrency: provisioned.is_some() }, provisioned),
                    None => (VariantKind::Instances, v.get("CurrentInstanceCount").and_then(Value::as_i64)),
                };
                VariantState { name: text(v, "VariantName").unwrap_or_default(), kind, current_capacity }
            })
            .collect()
    };
    EndpointState {
        status: text(value, "EndpointStatus").unwrap_or_default(),
        failure_reason: text(value, "FailureReason"),
        variants,
        asynchronous: value.get("AsyncInferenceConfig").is_some_and(|c| !c.is_null()),
    }
}

/// DescribeInferenceComponent's answer, as much as the decision needs.
pub fn component_state(value: &Value) -> ComponentState {
    ComponentState {
        status: text(value, "InferenceComponentStatus").unwrap_or_default(),
        failure_reason: text(value, "FailureReason"),
        current_copies: value.pointer("/RuntimeConfig/CurrentCopyCount").and_then(Value::as_i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Retry;

    #[test]
    fn endpoints_are_read_with_each_kind_of_variant() {
        let state = endpoint_state(&json!({
            "EndpointStatus": "Failed", "FailureReason": "boom",
            "ProductionVariants": [
                {"VariantName": "a", "CurrentInstanceCount": 2},
                {"VariantName": "b", "CurrentServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 3}},
                {"VariantName": "c", "CurrentServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}
            ]
        }));
        assert_eq!(state.status, "Failed");
        assert_eq!(state.failure_reason.as_deref(), Some("boom"));
        assert_eq!(state.variants[0], VariantState { name: "a".into(), kind: VariantKind::Instances, current_capacity: Some(2) });
        assert_eq!(state.variants[1].kind, VariantKind::Serverless { provisioned_concurrency: true });
        assert_eq!(state.variants[1].current_capacity, Some(3));
        assert_eq!(state.variants[2].kind, VariantKind::Serverless { provisioned_concurrency: false });
        assert!(endpoint_state(&json!({"EndpointStatus": "Creating"})).variants.is_empty());
    }

    #[test]
    fn inference_components_are_read() {
        let state = component_state(
            &json!({"InferenceComponentStatus": "InService", "RuntimeConfig": {"DesiredCopyCount": 2, "CurrentCopyCount": 1}}),
        );
        assert_eq!(state, ComponentState { status: "InService".into(), failure_reason: None, current_copies: Some(1) });
    }

    #[test]
    fn not_found_is_read_from_sagemakers_validation_message() {
        let missing = Error::Aws {
            operation: "DescribeEndpoint",
            code: "ValidationException".into(),
            message: r#"Could not find endpoint "arn:aws:sagemaker:us-east-1:1:endpoint/e"."#.into(),
            retry: Retry::Final,
        };
        assert!(is_missing(&missing));
        let other = Error::Aws {
            operation: "DescribeEndpoint",
            code: "ValidationException".into(),
            message: "bad name".into(),
            retry: Retry::Final,
        };
        assert!(!is_missing(&other));
    }
}
