//! Where the JSON services (SageMaker, CloudWatch) are reached: as the AWS SDKs resolve it, for every
//! partition. The partition facts (DNS suffix, dual-stack suffix, FIPS support) come from the SDK that is
//! already linked: Application Auto Scaling's own endpoint resolver, which carries the SDK's partition data.
//! What differs per service (the host label and its FIPS form) is [`Service`]'s, copied from botocore's
//! `endpoint-rule-set-1.json` files and checked against botocore by `tests/endpoints.rs`.

use aws_config::SdkConfig;
use aws_sdk_applicationautoscaling::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
use aws_types::service_config::ServiceConfigKey;

/// The host forms of one JSON service, as its endpoint rule set has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `api.sagemaker`; FIPS `api.sagemaker-fips`, but `api-fips.sagemaker` on `amazonaws.com`.
    SageMaker,
    /// `monitoring`; FIPS `monitoring-fips`, but the plain host in GovCloud (FIPS there already).
    CloudWatch,
    /// `application-autoscaling`; FIPS `application-autoscaling-fips`, but the plain host in GovCloud.
    ApplicationAutoScaling,
    /// `lambda`; FIPS `lambda-fips`.
    Lambda,
    /// `dynamodb`; FIPS `dynamodb-fips`, GovCloud included (its rule set, as botocore's resolves it).
    DynamoDb,
}

impl Service {
    /// The SDK service id: `AWS_ENDPOINT_URL_<ID>` and a profile's `services` section are read with it.
    pub fn service_id(self) -> &'static str {
        match self {
            Self::SageMaker => "SageMaker",
            Self::CloudWatch => "CloudWatch",
            Self::ApplicationAutoScaling => "Application Auto Scaling",
            Self::Lambda => "Lambda",
            Self::DynamoDb => "DynamoDB",
        }
    }
}

/// What the SDK's partition data says about a region's partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    pub dns_suffix: String,
    /// `None` when the partition has no dual-stack endpoints.
    pub dual_stack_suffix: Option<String>,
    pub supports_fips: bool,
}

/// The endpoint URL of `service` in `region`, given its partition (pure: the rule set's host forms).
///
/// # Errors
/// When FIPS or dual-stack is asked for in a partition that has none, in the SDK's words.
pub fn url(service: Service, region: &str, partition: &Partition, fips: bool, dual_stack: bool) -> Result<String, String> {
    if fips && !partition.supports_fips {
        return Err(format!("AWS_USE_FIPS_ENDPOINT is set, but the partition of region {region} does not support FIPS"));
    }
    let suffix = if dual_stack {
        partition
            .dual_stack_suffix
            .as_deref()
            .ok_or_else(|| format!("AWS_USE_DUALSTACK_ENDPOINT is set, but the partition of region {region} does not support dual-stack"))?
    } else {
        partition.dns_suffix.as_str()
    };
    // GovCloud: the regions under amazonaws.com that are named us-gov-*.
    let gov_cloud = partition.dns_suffix == "amazonaws.com" && region.starts_with("us-gov-");
    let host = match (service, fips, dual_stack) {
        (Service::SageMaker, false, _) => "api.sagemaker",
        (Service::SageMaker, true, false) if partition.dns_suffix == "amazonaws.com" => "api-fips.sagemaker",
        (Service::SageMaker, true, _) => "api.sagemaker-fips",
        (Service::CloudWatch, true, false) if gov_cloud => "monitoring",
        (Service::CloudWatch, true, _) => "monitoring-fips",
        (Service::CloudWatch, false, _) => "monitoring",
        (Service::ApplicationAutoScaling, true, false) if gov_cloud => "application-autoscaling",
        (Service::ApplicationAutoScaling, true, _) => "application-autoscaling-fips",
        (Service::ApplicationAutoScaling, false, _) => "application-autoscaling",
        (Service::Lambda, true, _) => "lambda-fips",
        (Service::Lambda, false, _) => "lambda",
        (Service::DynamoDb, true, _) => "dynamodb-fips",
        (Service::DynamoDb, false, _) => "dynamodb",
    };
    Ok(format!("https://{host}.{region}.{suffix}"))
}

/// The partition of `region`, read from Application Auto Scaling's resolver: its plain host is
/// `application-autoscaling.<region>.<dnsSuffix>`, its dual-stack host ends in the dual-stack suffix, and it
/// refuses FIPS where the partition has none.
pub async fn partition(region: &str) -> Result<Partition, String> {
    let resolver = DefaultResolver::new();
    let dns_suffix = suffix(&resolver, region, false).await.map_err(|why| format!("no endpoint for region {region}: {why}"))?;
    let dual_stack_suffix = suffix(&resolver, region, true).await.ok();
    let fips = Params::builder().region(region).use_fips(true).use_dual_stack(false).build().map_err(|e| e.to_string())?;
    let supports_fips = resolver.resolve_endpoint(&fips).await.is_ok();
    Ok(Partition { dns_suffix, dual_stack_suffix, supports_fips })
}

/// The DNS suffix of Application Auto Scaling's plain (or dual-stack) host in `region`.
async fn suffix(resolver: &DefaultResolver, region: &str, dual_stack: bool) -> Result<String, String> {
    let params = Params::builder().region(region).use_fips(false).use_dual_stack(dual_stack).build().map_err(|e| e.to_string())?;
    let endpoint = resolver.resolve_endpoint(&params).await.map_err(|e| e.to_string())?;
    let host = endpoint.url().trim_start_matches("https://").trim_end_matches('/');
    host.strip_prefix("application-autoscaling.")
        .and_then(|rest| rest.strip_prefix(region))
        .and_then(|rest| rest.strip_prefix('.'))
        .map(str::to_owned)
        .ok_or_else(|| format!("unexpected endpoint {host} for region {region}"))
}

/// The endpoint of `service` as an SDK client built from `config` would use it: `AWS_ENDPOINT_URL_<ID>` (or
/// the profile's `services` section), then `AWS_ENDPOINT_URL`, both ignored under
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` (aws-config applies that); else the region's endpoint, with
/// `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT`.
///
/// # Errors
/// No region (naming `AWS_REGION`), or a FIPS or dual-stack request the partition cannot serve.
pub async fn resolve(service: Service, config: &SdkConfig) -> Result<String, String> {
    let key = ServiceConfigKey::builder().service_id(service.service_id()).env("AWS_ENDPOINT_URL").profile("endpoint_url").build();
    // All three fields are set just above, so the builder cannot refuse.
    let configured = key
        .ok()
        .and_then(|key| config.service_config().and_then(|c| c.load_config(key)))
        .or_else(|| config.endpoint_url().map(str::to_owned))
        .filter(|url| !url.is_empty());
    if let Some(url) = configured {
        return Ok(url.trim_end_matches('/').to_owned());
    }
    let region = config.region().ok_or_else(no_region)?.to_string();
    // Every client of the process is in the same region: its partition is read once.
    static PARTITION: tokio::sync::OnceCell<(String, Partition)> = tokio::sync::OnceCell::const_new();
    let (read_for, partition) =
        PARTITION.get_or_try_init(|| async { Ok::<_, String>((region.clone(), partition(&region).await?)) }).await?;
    let partition = if *read_for == region { partition.clone() } else { self::partition(&region).await? };
    url(service, &region, &partition, config.use_fips().unwrap_or(false), config.use_dual_stack().unwrap_or(false))
}

/// The start-up error when no region is configured anywhere.
pub fn no_region() -> String {
    "no AWS region is configured: set AWS_REGION (Lambda sets it for every function)".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn partitions_come_from_the_sdk() {
        let aws = partition("eu-west-1").await.unwrap();
        assert_eq!(aws, Partition { dns_suffix: "amazonaws.com".into(), dual_stack_suffix: Some("api.aws".into()), supports_fips: true });
        assert_eq!(partition("cn-north-1").await.unwrap().dns_suffix, "amazonaws.com.cn");
        assert_eq!(partition("eusc-de-east-1").await.unwrap().dns_suffix, "amazonaws.eu");
        assert_eq!(partition("us-isof-south-1").await.unwrap().dns_suffix, "csp.hci.ic.gov");
    }

    #[tokio::test]
    async fn hosts_follow_the_rule_sets() {
        let gov = partition("us-gov-west-1").await.unwrap();
        assert_eq!(url(Service::CloudWatch, "us-gov-west-1", &gov, true, false).unwrap(), "https://monitoring.us-gov-west-1.amazonaws.com");
        assert_eq!(
            url(Service::SageMaker, "us-gov-west-1", &gov, true, false).unwrap(),
            "https://api-fips.sagemaker.us-gov-west-1.amazonaws.com"
        );
        let cn = partition("cn-north-1").await.unwrap();
        assert_eq!(
            url(Service::SageMaker, "cn-north-1", &cn, true, false).unwrap(),
            "https://api.sagemaker-fips.cn-north-1.amazonaws.com.cn"
        );
        let no_fips = Partition { dns_suffix: "example".into(), dual_stack_suffix: None, supports_fips: false };
        assert!(url(Service::SageMaker, "xx-east-1", &no_fips, true, false).unwrap_err().contains("AWS_USE_FIPS_ENDPOINT"));
        assert!(url(Service::SageMaker, "xx-east-1", &no_fips, false, true).unwrap_err().contains("AWS_USE_DUALSTACK_ENDPOINT"));
    }
}
