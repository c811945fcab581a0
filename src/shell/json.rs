//! A small client for the AWS JSON protocols, for the few SageMaker (JSON 1.1) and CloudWatch (JSON 1.0)
//! operations the function calls. It is built on the SDK's own parts: credentials from aws-config's provider
//! chain, SigV4 from aws-sigv4, and the process's one TLS configuration. (aws-sdk-sagemaker alone takes
//! longer to build than the whole project's budget allows; see the README's design notes.)

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

use crate::error::Retry;
use crate::shell::errors::{foreign_status, one_line, retry_for};
use crate::{Error, Result};

/// At most this much of an error answer is read.
const MAX_ERROR_BYTES: usize = 8192;

/// One AWS service spoken to over a JSON protocol.
#[derive(Debug, Clone)]
pub struct JsonService {
    http: reqwest::Client,
    endpoint: String,
    region: String,
    /// The SigV4 service name (`sagemaker`, `monitoring`).
    signing_name: &'static str,
    /// `X-Amz-Target` is `<prefix>.<Operation>`.
    target_prefix: &'static str,
    /// The IAM service prefix an AccessDenied names (`sagemaker`, `cloudwatch`).
    iam_prefix: &'static str,
    content_type: &'static str,
    credentials: Option<SharedCredentialsProvider>,
    /// The last credentials, reused until five minutes before they expire (the SDK clients cache theirs too).
    cached: Arc<Mutex<Option<Credentials>>>,
}

/// Which service, and how it is addressed.
#[derive(Debug, Clone, Copy)]
pub struct Protocol {
    pub signing_name: &'static str,
    pub target_prefix: &'static str,
    pub iam_prefix: &'static str,
    pub content_type: &'static str,
    /// The host's first label (`api.sagemaker`, `monitoring`).
    pub host_prefix: &'static str,
    /// The SDK's service-specific endpoint variable (`AWS_ENDPOINT_URL_SAGEMAKER`).
    pub endpoint_variable: &'static str,
}

/// SageMaker's control plane: JSON 1.1.
pub const SAGEMAKER: Protocol = Protocol {
    signing_name: "sagemaker",
    target_prefix: "SageMaker",
    iam_prefix: "sagemaker",
    content_type: "application/x-amz-json-1.1",
    host_prefix: "api.sagemaker",
    endpoint_variable: "AWS_ENDPOINT_URL_SAGEMAKER",
};

/// CloudWatch: its JSON 1.0 protocol (the Rust SDK speaks CBOR to it by default; JSON is what every
/// emulator serves too).
pub const CLOUDWATCH: Protocol = Protocol {
    signing_name: "monitoring",
    target_prefix: "GraniteServiceVersion20100801",
    iam_prefix: "cloudwatch",
    content_type: "application/x-amz-json-1.0",
    host_prefix: "monitoring",
    endpoint_variable: "AWS_ENDPOINT_URL_CLOUDWATCH",
};

impl JsonService {
    /// A client for `protocol` with the SDK configuration's region, credentials and endpoint override
    /// (`var` reads the service-specific endpoint variable, which wins over `AWS_ENDPOINT_URL`).
    pub fn new(protocol: Protocol, config: &SdkConfig, http: reqwest::Client, var: impl Fn(&str) -> Option<String>) -> Self {
        let region = config.region().map_or_else(|| "us-east-1".to_owned(), |r| r.to_string());
        let endpoint = var(protocol.endpoint_variable)
            .filter(|v| !v.is_empty())
            .or_else(|| config.endpoint_url().map(str::to_owned))
            .unwrap_or_else(|| default_endpoint(protocol.host_prefix, &region));
        Self {
            http,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region,
            signing_name: protocol.signing_name,
            target_prefix: protocol.target_prefix,
            iam_prefix: protocol.iam_prefix,
            content_type: protocol.content_type,
            credentials: config.credentials_provider(),
            cached: Arc::default(),
        }
    }

    /// One attempt of `operation` with `body`: the answer's JSON, or the error classified for retrying.
    ///
    /// # Errors
    /// [`Error::Aws`] with the service's code (or the HTTP status of an answer that is not AWS's).
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value> {
        let payload = body.to_string().into_bytes();
        let target = format!("{}.{operation}", self.target_prefix);
        let url = format!("{}/", self.endpoint);
        let mut headers = vec![("content-type", self.content_type.to_owned()), ("x-amz-target", target)];
        headers.extend(self.signature(operation, &url, &headers, &payload).await?);
        let mut request = self.http.post(&url).body(payload);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request.send().await.map_err(|err| network_error(operation, err))?;
        let status = answer.status().as_u16();
        let kind = answer.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
        let error_type = answer.headers().get("x-amzn-errortype").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if (200..300).contains(&status) {
            let bytes = answer.bytes().await.map_err(|err| network_error(operation, err))?;
            return serde_json::from_slice(&bytes).or_else(|_| {
                if bytes.is_empty() { Ok(Value::Null) } else { Err(foreign_status(operation, status, &kind, "an answer that is not JSON")) }
            });
        }
        let text = crate::delivery::read_bounded(answer, MAX_ERROR_BYTES).await;
        Err(self.named_permission(service_error(operation, status, &kind, error_type.as_deref(), &text)))
    }

    /// SigV4 headers for one request.
    async fn signature(
        &self,
        operation: &'static str,
        url: &str,
        headers: &[(&str, String)],
        payload: &[u8],
    ) -> Result<Vec<(&'static str, String)>> {
        let Some(provider) = &self.credentials else {
            return Err(Error::Aws {
                operation,
                code: "NoCredentials".into(),
                message: "no AWS credentials are configured".into(),
                retry: Retry::Final,
            });
        };
        let credentials = match self.cached_credentials() {
            Some(credentials) => credentials,
            None => {
                let fresh = provider.provide_credentials().await.map_err(|err| Error::Aws {
                    operation,
                    code: "CredentialsError".into(),
                    message: one_line(&aws_sdk_applicationautoscaling::error::DisplayErrorContext(&err).to_string()),
                    retry: Retry::Transient,
                })?;
                // A poisoned lock only means a panic elsewhere; the value is still a plain Option.
                *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(fresh.clone());
                fresh
            }
        };
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(self.signing_name)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|err| signing_error(operation, &err))?
            .into();
        let signable = SignableRequest::new("POST", url, headers.iter().map(|(k, v)| (*k, v.as_str())), SignableBody::Bytes(payload))
            .map_err(|err| signing_error(operation, &err))?;
        let (instructions, _) = sign(signable, &params).map_err(|err| signing_error(operation, &err))?.into_parts();
        let (signed, _) = instructions.into_parts();
        Ok(signed.into_iter().map(|header| (header.name(), header.value().to_owned())).collect())
    }
}

impl JsonService {
    /// An AccessDenied says which permission the function's role lacks (`sagemaker:DescribeEndpoint`).
    fn named_permission(&self, err: Error) -> Error {
        match err {
            Error::Aws { operation, code, message, retry } if code.starts_with("AccessDenied") => {
                let message = format!("{message} (the function's role needs {}:{operation})", self.iam_prefix);
                Error::Aws { operation, code, message, retry }
            }
            other => other,
        }
    }

    fn cached_credentials(&self) -> Option<Credentials> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
        let fresh_enough = cached.expiry().is_none_or(|at| at > SystemTime::now() + Duration::from_secs(300));
        fresh_enough.then_some(cached)
    }
}

fn default_endpoint(host_prefix: &str, region: &str) -> String {
    let domain = if region.starts_with("cn-") { "amazonaws.com.cn" } else { "amazonaws.com" };
    format!("https://{host_prefix}.{region}.{domain}")
}

fn signing_error(operation: &'static str, err: &dyn std::fmt::Display) -> Error {
    Error::Aws { operation, code: "SigningError".into(), message: one_line(&err.to_string()), retry: Retry::Final }
}

fn network_error(operation: &'static str, err: reqwest::Error) -> Error {
    let code = if err.is_timeout() { "Timeout" } else { "NetworkError" };
    // without_url: the URL is the service endpoint, but the habit keeps presigned URLs out of every log.
    let message =
        if err.is_timeout() { "no answer within the attempt's time limit".to_owned() } else { one_line(&err.without_url().to_string()) };
    Error::Aws { operation, code: code.into(), message, retry: Retry::Transient }
}

/// An error answer: AWS's JSON error (`__type`, `message`), or one line about whatever else came back.
pub fn service_error(operation: &'static str, status: u16, kind: &str, error_type: Option<&str>, body: &str) -> Error {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let from_body = parsed.as_ref().and_then(|v| v.get("__type")).and_then(Value::as_str);
    let Some(code) = from_body.or(error_type).map(short_code).filter(|c| !c.is_empty()) else {
        return foreign_status(operation, status, kind, "an answer that is not an AWS error");
    };
    let message = parsed
        .as_ref()
        .and_then(|v| v.get("message").or_else(|| v.get("Message")))
        .and_then(Value::as_str)
        .map(one_line)
        .unwrap_or_default();
    let retry = retry_for(code, &message);
    Error::Aws { operation, code: code.to_owned(), message, retry }
}

/// `com.amazonaws.sagemaker#ResourceNotFound` and `Throttling:http://...` are `ResourceNotFound`, `Throttling`.
fn short_code(raw: &str) -> &str {
    let code = raw.rsplit('#').next().unwrap_or(raw);
    code.split(':').next().unwrap_or(code).trim()
}

/// The HTTP client for every AWS call (the SDK's and the JSON services'): the process's TLS configuration, no
/// redirects (AWS APIs never redirect), and the per-attempt limits.
///
/// # Errors
/// When the client cannot be built.
pub fn http_client(tls: rustls::ClientConfig, attempt_timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(attempt_timeout.min(Duration::from_secs(2)))
        .timeout(attempt_timeout)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_json_errors_are_read_with_their_code_and_message() {
        let err = service_error(
            "DescribeEndpoint",
            400,
            "application/x-amz-json-1.1",
            None,
            r#"{"__type":"com.amazonaws.sagemaker#ValidationException","message":"Could not find endpoint \"arn\"."}"#,
        );
        assert_eq!(err.to_string(), r#"DescribeEndpoint failed: ValidationException: Could not find endpoint "arn"."#);
        let throttled = service_error("DescribeEndpoint", 400, "application/x-amz-json-1.1", Some("ThrottlingException:http://x"), "{}");
        assert!(matches!(throttled, Error::Aws { retry: Retry::Transient, ref code, .. } if code == "ThrottlingException"));
        let denied = service_error(
            "DescribeEndpoint",
            400,
            "application/x-amz-json-1.1",
            None,
            r#"{"__type":"AccessDeniedException","Message":"no"}"#,
        );
        assert!(matches!(denied, Error::Aws { retry: Retry::Final, ref message, .. } if message == "no"));
    }

    #[test]
    fn anything_else_is_one_line_with_status_and_content_type() {
        let err = service_error("PutMetricAlarm", 502, "text/html", None, "<html>\n</html>");
        assert_eq!(err.to_string(), "PutMetricAlarm failed: HTTP 502: an answer that is not an AWS error (content type text/html)");
        assert!(matches!(err, Error::Aws { retry: Retry::Transient, .. }));
    }

    /// A credentials provider that counts how often it is asked.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicUsize, Option<SystemTime>);

    impl ProvideCredentials for Counting {
        fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new("AKID", "secret", None, self.1, "test")))
        }
    }

    fn service(provider: Arc<Counting>) -> JsonService {
        let config = SdkConfig::builder()
            .credentials_provider(SharedCredentialsProvider::new(ArcProvider(provider)))
            .region(aws_config::Region::new("eu-west-1"))
            .build();
        let http = reqwest::Client::builder().use_preconfigured_tls(crate::tls::client_config(None).unwrap()).build().unwrap();
        JsonService::new(SAGEMAKER, &config, http, |_| None)
    }

    #[derive(Debug)]
    struct ArcProvider(Arc<Counting>);

    impl ProvideCredentials for ArcProvider {
        fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.0.provide_credentials()
        }
    }

    #[tokio::test]
    async fn requests_are_signed_and_credentials_are_asked_for_once_while_fresh() {
        let provider = Arc::new(Counting::default());
        let sagemaker = service(provider.clone());
        assert_eq!(sagemaker.endpoint, "https://api.sagemaker.eu-west-1.amazonaws.com");
        let headers = vec![("content-type", "application/x-amz-json-1.1".to_owned())];
        for _ in 0..3 {
            let signed =
                sagemaker.signature("DescribeEndpoint", "https://api.sagemaker.eu-west-1.amazonaws.com/", &headers, b"{}").await.unwrap();
            let authorization = signed.iter().find(|(k, _)| *k == "authorization").map(|(_, v)| v.as_str()).unwrap();
            assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKID/"), "{authorization}");
            assert!(authorization.contains("/eu-west-1/sagemaker/aws4_request"), "{authorization}");
        }
        assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn credentials_about_to_expire_are_asked_for_again() {
        let provider = Arc::new(Counting(Default::default(), Some(SystemTime::now() + Duration::from_secs(60))));
        let sagemaker = service(provider.clone());
        for _ in 0..2 {
            sagemaker.signature("DescribeEndpoint", "https://x/", &[], b"{}").await.unwrap();
        }
        assert_eq!(provider.0.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[test]
    fn endpoints_default_per_partition() {
        assert_eq!(default_endpoint("api.sagemaker", "eu-west-1"), "https://api.sagemaker.eu-west-1.amazonaws.com");
        assert_eq!(default_endpoint("monitoring", "cn-north-1"), "https://monitoring.cn-north-1.amazonaws.com.cn");
    }
}
