//! Delivering a response: the ResponseURL safety check, and the PUT with retries bounded by the deadline.

use std::time::Duration;

use reqwest::Url;
use tokio::time::Instant;

use crate::aas::{backoff, jitter};

/// S3 domains of the AWS partitions: CloudFormation's presigned ResponseURLs point under one of these.
const AWS_DOMAINS: [&str; 6] = ["amazonaws.com", "amazonaws.com.cn", "c2s.ic.gov", "sc2s.sgov.gov", "cloud.adc-e.uk", "csp.hci.ic.gov"];
/// One attempt never waits longer than this, so a slow receiver still leaves time for a retry.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 20;

/// Checks a ResponseURL: https to an AWS S3 domain or an allowed host; plain http only to an allowed
/// loopback host (for local testing).
///
/// # Errors
/// Why the URL is refused (without its query string).
pub fn check_url(text: &str, allowed_hosts: &[String]) -> Result<Url, String> {
    let url = Url::parse(text).map_err(|err| format!("ResponseURL is not a URL: {err}"))?;
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let allowed = allowed_hosts.contains(&host);
    let aws = AWS_DOMAINS.iter().any(|d| host.ends_with(&format!(".{d}")));
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    match url.scheme() {
        "https" if aws || allowed => Ok(url),
        "http" if allowed && loopback => Ok(url),
        scheme => Err(format!(
            "ResponseURL {} is refused: only https to AWS S3 hosts, or hosts listed in RESPONSE_URL_ALLOWED_HOSTS (http only for loopback) are contacted ({scheme})",
            redact(&url)
        )),
    }
}

/// A URL safe to log: scheme, host, port and path; never the query string, which holds the signature.
pub fn redact(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!("{}://{}{port}{}", url.scheme(), url.host_str().unwrap_or_default(), url.path())
}

/// What one PUT attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Final,
}

/// 2xx is delivered; network errors (`None`), 5xx and 429 are retried; any other 4xx is final.
pub fn verdict(status: Option<u16>) -> Verdict {
    match status {
        Some(200..=299) => Verdict::Delivered,
        None | Some(429) | Some(500..=599) => Verdict::Retry,
        Some(_) => Verdict::Final,
    }
}

/// S3's error code from an XML error body, for the log.
pub fn s3_error_code(body: &str) -> Option<&str> {
    let start = body.find("<Code>")? + "<Code>".len();
    let end = body[start..].find("</Code>")? + start;
    Some(&body[start..end])
}

/// The HTTP client for ResponseURLs: rustls with ring, installed as the process's default provider
/// (reqwest is built without one of its own, so one TLS stack serves both clients).
///
/// # Errors
/// When the client cannot be built (no usable TLS configuration).
pub fn http_client() -> reqwest::Result<reqwest::Client> {
    // Fails only when a provider is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()
}

/// Sends responses over one reused HTTP client.
#[derive(Debug, Clone)]
pub struct Responder {
    http: reqwest::Client,
}

impl Responder {
    /// Wraps an HTTP client built at start-up.
    pub fn new(http: reqwest::Client) -> Self {
        Self { http }
    }

    /// PUTs `body` with no Content-Type and an exact Content-Length, retrying with jittered backoff while
    /// the error is worth retrying and `until` is not reached.
    ///
    /// # Errors
    /// A message for the log when the response could not be delivered.
    pub async fn put(&self, url: &Url, body: Vec<u8>, until: Instant) -> Result<(), String> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let remaining = until.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(format!("no time left to PUT the response to {}", redact(url)));
            }
            let sent = self
                .http
                .put(url.clone())
                .header(reqwest::header::CONTENT_LENGTH, body.len())
                .body(body.clone())
                .timeout(remaining.min(ATTEMPT_TIMEOUT))
                .send()
                .await;
            let (status, detail) = match sent {
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let text = answer.text().await.unwrap_or_default();
                    let code = s3_error_code(&text).unwrap_or("-").to_owned();
                    (Some(status), format!("HTTP {status} (S3 error code {code})"))
                }
                // without_url: reqwest would print the whole URL, presigned signature included.
                Err(err) => (None, format!("network error: {}", err.without_url())),
            };
            match verdict(status) {
                Verdict::Delivered => {
                    tracing::info!(url = %redact(url), attempt, "response delivered");
                    return Ok(());
                }
                Verdict::Final => return Err(format!("PUT to {} refused: {detail}", redact(url))),
                Verdict::Retry => {
                    let delay = backoff(attempt, jitter());
                    if attempt >= MAX_ATTEMPTS || Instant::now() + delay >= until {
                        return Err(format!("PUT to {} failed after {attempt} attempts: {detail}", redact(url)));
                    }
                    tracing::warn!(url = %redact(url), attempt, %detail, "response PUT failed, retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_s3_hosts_over_https_are_accepted() {
        for url in [
            "https://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/arn%3Aaws/x?X-Amz-Signature=abc",
            "https://cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn/x?sig=1",
            "https://s3.us-gov-west-1.amazonaws.com/bucket/key",
        ] {
            assert!(check_url(url, &[]).is_ok(), "{url}");
        }
    }

    #[test]
    fn everything_else_is_refused_without_leaking_the_query() {
        for url in [
            "http://cloudformation-custom-resource-response-useast1.s3.amazonaws.com/x?X-Amz-Signature=secret",
            "https://evil.example.com/x?X-Amz-Signature=secret",
            "https://amazonaws.com.evil.net/x?X-Amz-Signature=secret",
            "https://s3.amazonaws.com@evil.net/x?X-Amz-Signature=secret",
            "http://127.0.0.1:9000/x?X-Amz-Signature=secret",
            "file:///etc/passwd?X-Amz-Signature=secret",
        ] {
            let err = check_url(url, &[]).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
        assert!(check_url("not a url", &[]).is_err());
    }

    #[test]
    fn allowed_hosts_add_https_and_loopback_http() {
        let allowed = vec!["127.0.0.1".to_owned(), "hooks.example.com".to_owned()];
        assert!(check_url("http://127.0.0.1:9000/x", &allowed).is_ok());
        assert!(check_url("https://hooks.example.com/x", &allowed).is_ok());
        assert!(check_url("http://hooks.example.com/x", &allowed).is_err(), "http only for loopback");
        assert!(check_url("http://127.0.0.2:9000/x", &allowed).is_err(), "only listed hosts");
        assert!(check_url("http://[::1]:9000/x", &["::1".to_owned()]).is_ok(), "IPv6 loopback");
    }

    #[test]
    fn redaction_keeps_the_path_and_drops_the_query() {
        let url = Url::parse("https://h.s3.amazonaws.com:8443/a/b?X-Amz-Signature=secret").unwrap();
        assert_eq!(redact(&url), "https://h.s3.amazonaws.com:8443/a/b");
    }

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(200)), Verdict::Delivered);
        assert_eq!(verdict(None), Verdict::Retry);
        assert_eq!(verdict(Some(503)), Verdict::Retry);
        assert_eq!(verdict(Some(429)), Verdict::Retry);
        assert_eq!(verdict(Some(403)), Verdict::Final);
        assert_eq!(verdict(Some(404)), Verdict::Final);
    }

    #[test]
    fn s3_error_codes_are_read() {
        assert_eq!(s3_error_code("<Error><Code>AccessDenied</Code><Message>x</Message></Error>"), Some("AccessDenied"));
        assert_eq!(s3_error_code("nope"), None);
    }
}
