//! Delivering a response: the PUT to the ResponseURL, with redirects checked hop by hop and retries bounded
//! by the deadline. Which URLs may be contacted is decided in [`crate::response_url`].

use std::time::Duration;

use reqwest::Url;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use tokio::time::Instant;

use crate::backoff::delay_before;
use crate::response_url::{self, AllowedHost, redact};

/// One attempt never waits longer than this, so a slow receiver still leaves time for a retry.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_ATTEMPTS: u32 = 20;
/// How much of a receiver's answer is read: enough for S3's `<Code>`, never an unbounded body.
pub const MAX_ANSWER_BYTES: usize = 4096;

/// What one PUT attempt's answer means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    Retry,
    Final,
}

/// 2xx is delivered; network errors (`None`), 5xx and 429 are retried; any other answer (4xx, a redirect
/// that was not followed) is final.
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

/// The HTTP client for ResponseURLs, over the process's one TLS configuration (`tls`). Redirects are
/// followed only as [`response_url::follow_redirect`] allows, so no refused host is ever connected to.
fn http_client(tls: rustls::ClientConfig, allowed: &[AllowedHost]) -> reqwest::Result<reqwest::Client> {
    let allowed = allowed.to_vec();
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        // `previous` starts with the first URL: the redirects already followed are the rest.
        let hops = attempt.previous().len().saturating_sub(1);
        match response_url::follow_redirect(attempt.status(), Some(attempt.url().as_str()), hops, &allowed) {
            Ok(()) => attempt.follow(),
            Err(_) => attempt.stop(),
        }
    });
    reqwest::Client::builder().use_preconfigured_tls(tls).connect_timeout(Duration::from_secs(5)).redirect(policy).build()
}

/// Sends responses over one reused HTTP client.
#[derive(Debug, Clone)]
pub struct Responder {
    http: reqwest::Client,
    allowed: Vec<AllowedHost>,
}

impl Responder {
    /// A responder whose client follows redirects only to URLs `allowed` admits, as its own log explains them.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(tls: rustls::ClientConfig, allowed: Vec<AllowedHost>) -> reqwest::Result<Self> {
        Ok(Self { http: http_client(tls, &allowed)?, allowed })
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
                Ok(answer) if answer.status().is_redirection() => {
                    let status = answer.status();
                    let location = answer.headers().get(LOCATION).and_then(|l| l.to_str().ok()).map(|l| answer.url().join(l));
                    let location = location.and_then(Result::ok).map(|l| l.to_string());
                    // The policy stopped here; the only reason that passes a first-hop check is the chain's length.
                    let why = response_url::follow_redirect(status, location.as_deref(), 0, &self.allowed).err().unwrap_or_else(|| {
                        format!("HTTP {} redirect not followed: more than {} redirects", status.as_u16(), response_url::MAX_REDIRECTS)
                    });
                    (Some(status.as_u16()), why)
                }
                Ok(answer) => {
                    let status = answer.status().as_u16();
                    let kind = answer.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none").to_owned();
                    let text = read_bounded(answer, MAX_ANSWER_BYTES).await;
                    let code = s3_error_code(&text).unwrap_or("-").to_owned();
                    (Some(status), format!("HTTP {status}, content type {kind} (S3 error code {code})"))
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
                    let Some(delay) = delay_before(attempt, MAX_ATTEMPTS, Instant::now(), until) else {
                        return Err(format!("PUT to {} failed after {attempt} attempts: {detail}", redact(url)));
                    };
                    tracing::warn!(url = %redact(url), attempt, %detail, "response PUT failed, retrying");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// Reads at most `limit` bytes of an answer's body, lossily as text; the rest is never read.
pub async fn read_bounded(mut answer: reqwest::Response, limit: usize) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < limit {
        match answer.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk[..chunk.len().min(limit - bytes.len())]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts() {
        assert_eq!(verdict(Some(200)), Verdict::Delivered);
        assert_eq!(verdict(None), Verdict::Retry);
        assert_eq!(verdict(Some(503)), Verdict::Retry);
        assert_eq!(verdict(Some(429)), Verdict::Retry);
        assert_eq!(verdict(Some(403)), Verdict::Final);
        assert_eq!(verdict(Some(404)), Verdict::Final);
        assert_eq!(verdict(Some(302)), Verdict::Final);
        assert_eq!(verdict(Some(307)), Verdict::Final, "a 307 that reaches here was not followed");
    }

    #[test]
    fn s3_error_codes_are_read() {
        assert_eq!(s3_error_code("<Error><Code>AccessDenied</Code><Message>x</Message></Error>"), Some("AccessDenied"));
        assert_eq!(s3_error_code("nope"), None);
    }
}
