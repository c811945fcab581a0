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
pub use crate::shell::endpoint::no_region;
use crate::shell::endpoint::{self, Service};
use crate::shell::errors::{foreign_status, one_line, retry_for};
use crate::{Error, Result};

/// Where a body-less answer's `x-amzn-RequestId` is kept: Lambda's asynchronous Invoke answers 202 with the
/// request id the queued invocation will have.
const ASYNC_REQUEST_ID: &str = "x-amzn-RequestId";

/// At most this much of an error answer is read.
const MAX_ERROR_BYTES: usize = 8192;

/// One AWS service spoken to over a JSON protocol.
#[derive(Debug, Clone)]
pub struct JsonService {
    http: reqwest::Client,
    /// Resolved on the first call (see [`JsonService::new`]), then kept.
    endpoint: Arc<tokio::sync::OnceCell<String>>,
    service: Service,
    config: SdkConfig,
    region: String,
    /// The SigV4 service name (`sagemaker`, `monitoring`).
    signing_name: &'static str,
    /// `X-Amz-Target` is `<prefix>.<Operation>`.
    target_prefix: &'static str,
    /// The IAM service prefix an AccessDenied names (`sagemaker`, `cloudwatch`).
    iam_prefix: &'static str,
    content_type: &'static str,
    /// CloudWatch's JSON protocol is query-compatible: requests say so, and errors carry the query code.
    query_compatible: bool,
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
    /// Where it is reached (see [`endpoint`](super::endpoint)).
    pub service: Service,
    /// `awsQueryCompatible` in the service's model: requests carry `x-amzn-query-mode: true`, and an error's
    /// code is read from `x-amzn-query-error` when present.
    pub query_compatible: bool,
}

/// SageMaker's control plane: JSON 1.1.
pub const SAGEMAKER: Protocol = Protocol {
    signing_name: "sagemaker",
    target_prefix: "SageMaker",
    iam_prefix: "sagemaker",
    content_type: "application/x-amz-json-1.1",
    service: Service::SageMaker,
    query_compatible: false,
};

/// Application Auto Scaling spoken to directly: an endpoint update saves and restores targets, policies and
/// actions as the service's own JSON (the SDK's types cannot travel in the state handed to the next invocation).
pub const AUTOSCALING: Protocol = Protocol {
    signing_name: "application-autoscaling",
    target_prefix: "AnyScaleFrontendService",
    iam_prefix: "application-autoscaling",
    content_type: "application/x-amz-json-1.1",
    service: Service::ApplicationAutoScaling,
    query_compatible: false,
};

/// Lambda, for the function's asynchronous invocation of itself (REST: only [`JsonService::invoke_event`]).
pub const LAMBDA: Protocol = Protocol {
    signing_name: "lambda",
    target_prefix: "",
    iam_prefix: "lambda",
    content_type: "application/json",
    service: Service::Lambda,
    query_compatible: false,
};

/// DynamoDB (JSON 1.0), for the operations journal of endpoint operations.
pub const DYNAMODB: Protocol = Protocol {
    signing_name: "dynamodb",
    target_prefix: "DynamoDB_20120810",
    iam_prefix: "dynamodb",
    content_type: "application/x-amz-json-1.0",
    service: Service::DynamoDb,
    query_compatible: false,
};

/// CloudWatch: its JSON 1.0 protocol (the Rust SDK speaks CBOR to it by default; JSON is what every
/// emulator serves too).
pub const CLOUDWATCH: Protocol = Protocol {
    signing_name: "monitoring",
    target_prefix: "GraniteServiceVersion20100801",
    iam_prefix: "cloudwatch",
    content_type: "application/x-amz-json-1.0",
    service: Service::CloudWatch,
    query_compatible: true,
};

impl JsonService {
    /// A client for `protocol` with the SDK configuration's region and credentials, sending to the endpoint
    /// the SDK would use (see [`endpoint::resolve`]).
    ///
    /// # Errors
    /// No region: a start-up error. (FIPS or dual-stack where the partition has none is the first call's.)
    pub async fn new(protocol: Protocol, config: &SdkConfig, http: reqwest::Client) -> Result<Self, String> {
        let region = config.region().ok_or_else(endpoint::no_region)?.to_string();
        Ok(Self::with(protocol, config, http, region, Arc::default()))
    }

    #[cfg(test)]
    fn at(protocol: Protocol, config: &SdkConfig, http: reqwest::Client, region: String, endpoint: String) -> Self {
        Self::with(protocol, config, http, region, Arc::new(tokio::sync::OnceCell::new_with(Some(endpoint))))
    }

    fn with(
        protocol: Protocol,
        config: &SdkConfig,
        http: reqwest::Client,
        region: String,
        endpoint: Arc<tokio::sync::OnceCell<String>>,
    ) -> Self {
        Self {
            http,
            endpoint,
            service: protocol.service,
            config: config.clone(),
            region,
            signing_name: protocol.signing_name,
            target_prefix: protocol.target_prefix,
            iam_prefix: protocol.iam_prefix,
            content_type: protocol.content_type,
            query_compatible: protocol.query_compatible,
            credentials: config.credentials_provider(),
            cached: Arc::default(),
        }
    }

    /// The endpoint, resolved on first use: resolving (the partition's data, the rule sets) is kept off the
    /// start-up path, which serves the first poll as soon as the clients exist.
    ///
    /// # Errors
    /// FIPS or dual-stack asked for where the partition has none, as a configuration error of the call.
    async fn endpoint(&self, operation: &'static str) -> Result<&str> {
        self.endpoint
            .get_or_try_init(|| endpoint::resolve(self.service, &self.config))
            .await
            .map(String::as_str)
            .map_err(|why| Error::Aws { operation, code: "EndpointResolution".into(), message: why, retry: Retry::Final })
    }

    /// One attempt of `operation` with `body`: the answer's JSON, or the error classified for retrying.
    ///
    /// # Errors
    /// [`Error::Aws`] with the service's code (or the HTTP status of an answer that is not AWS's).
    pub async fn call(&self, operation: &'static str, body: &Value) -> Result<Value> {
        let target = format!("{}.{operation}", self.target_prefix);
        let mut headers = vec![("content-type", self.content_type.to_owned()), ("x-amz-target", target)];
        if self.query_compatible {
            headers.push(("x-amzn-query-mode", "true".to_owned()));
        }
        self.send(operation, "/", headers, body.to_string().into_bytes()).await
    }

    /// Lambda's Invoke of `function` (a name or ARN) with `payload`, asynchronously (`X-Amz-Invocation-Type:
    /// Event`): Lambda queues it and answers 202, with the request id the queued invocation will have (when it
    /// says so).
    ///
    /// # Errors
    /// [`Error::Aws`] with Lambda's code.
    pub async fn invoke_event(&self, function: &str, payload: &[u8]) -> Result<Option<String>> {
        let name: String = url::form_urlencoded::byte_serialize(function.as_bytes()).collect();
        let path = format!("/2015-03-31/functions/{name}/invocations");
        let headers = vec![("content-type", self.content_type.to_owned()), ("x-amz-invocation-type", "Event".to_owned())];
        let answer = self.send("Invoke", &path, headers, payload.to_vec()).await?;
        Ok(answer.get(ASYNC_REQUEST_ID).and_then(Value::as_str).map(str::to_owned))
    }

    async fn send(&self, operation: &'static str, path: &str, mut headers: Vec<(&'static str, String)>, payload: Vec<u8>) -> Result<Value> {
        let url = format!("{}{path}", self.endpoint(operation).await?);
        headers.extend(self.signature(operation, &url, &headers, &payload).await?);
        let mut request = self.http.post(&url).body(payload);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let answer = request.send().await.map_err(|err| network_error(operation, err))?;
        let status = answer.status().as_u16();
        let kind = answer.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let error_type = header("x-amzn-errortype");
        // `x-amzn-query-error: <Code>;<Sender|Receiver>` names the code as the query protocol has it.
        let query_code = header("x-amzn-query-error").filter(|_| self.query_compatible).and_then(|v| {
            let code = v.split(';').next().unwrap_or_default().trim().to_owned();
            (!code.is_empty()).then_some(code)
        });
        if (200..300).contains(&status) {
            let request_id = header("x-amzn-requestid");
            let bytes = answer.bytes().await.map_err(|err| network_error(operation, err))?;
            return serde_json::from_slice(&bytes).or_else(|_| match (bytes.is_empty(), request_id) {
                // An answer with no body (Lambda's 202): only its request id says anything.
                (true, Some(id)) => Ok(serde_json::json!({ASYNC_REQUEST_ID: id})),
                (true, None) => Ok(Value::Null),
                (false, _) => Err(foreign_status(operation, status, &kind, "an answer that is not JSON")),
            });
        }
        let text = crate::delivery::read_bounded(answer, MAX_ERROR_BYTES).await;
        let err = service_error(operation, status, &kind, error_type.as_deref(), &text);
        Err(self.named_permission(with_query_code(err, query_code, status)))
    }

    /// SigV4 headers for one request.
    async fn signature(
        &self,
        operation: &'static str,
        url: &str,
        headers: &[(&'static str, String)],
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

/// A query-compatible service's error: the code from `x-amzn-query-error` wins over the JSON `__type`.
fn with_query_code(err: Error, query_code: Option<String>, status: u16) -> Error {
    match (err, query_code) {
        (Error::Aws { operation, message, .. }, Some(code)) => {
            let retry = retry_for(&code, &message, status);
            Error::Aws { operation, code, message, retry }
        }
        (err, _) => err,
    }
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
    let retry = retry_for(code, &message, status);
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
    fn query_compatible_errors_take_their_code_from_the_query_header() {
        let body = r#"{"__type":"com.amazonaws.cloudwatch#ResourceNotFoundException","message":"gone"}"#;
        let err = service_error("DeleteAlarms", 404, "application/x-amz-json-1.0", None, body);
        let err = with_query_code(err, Some("ResourceNotFound".into()), 404);
        assert!(matches!(&err, Error::Aws { code, retry: Retry::NotFound, .. } if code == "ResourceNotFound"), "{err:?}");
        // A code never seen before is still retried when the status is a 5xx.
        let err = service_error("PutMetricAlarm", 500, "application/x-amz-json-1.0", None, r#"{"__type":"InternalServiceError"}"#);
        let err = with_query_code(err, Some("InternalServiceFault".into()), 500);
        assert!(matches!(&err, Error::Aws { code, retry: Retry::Transient, .. } if code == "InternalServiceFault"), "{err:?}");
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
        let endpoint = "https://api.sagemaker.eu-west-1.amazonaws.com".to_owned();
        JsonService::at(SAGEMAKER, &config, http, "eu-west-1".into(), endpoint)
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
}
