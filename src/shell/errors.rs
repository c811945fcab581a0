//! What an SDK error means: the crate's error, and whether it is worth another attempt.

use aws_sdk_applicationautoscaling::config::http::HttpResponse;
use aws_sdk_applicationautoscaling::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::Error;
use crate::error::Retry;

/// Turns an SDK error into the crate's error, deciding whether it is worth retrying. An answer that is not
/// AWS's (an HTML page from a proxy, a body cut half-way) is described in one line: status and content type.
pub(super) fn classify<E>(operation: &'static str, err: &SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let aws = |code: &str, message: String, retry: Retry| Error::Aws { operation, code: code.to_owned(), message, retry };
    match err {
        SdkError::ServiceError(ctx) => match ctx.err().code() {
            Some(code) => {
                let message = ctx.err().message().unwrap_or_default();
                aws(code, message.to_owned(), retry_for(code, message, ctx.raw().status().as_u16()))
            }
            None => foreign_answer(operation, ctx.raw(), "an answer that is not an AWS error"),
        },
        SdkError::ResponseError(ctx) => foreign_answer(operation, ctx.raw(), "an answer that could not be read"),
        SdkError::TimeoutError(_) => aws("Timeout", "no answer within the attempt's time limit".into(), Retry::Transient),
        SdkError::DispatchFailure(_) => aws("NetworkError", one_line(&DisplayErrorContext(err).to_string()), Retry::Transient),
        _ => aws("SdkError", one_line(&DisplayErrorContext(err).to_string()), Retry::Final),
    }
}

/// An answer from something that is not the AWS service (or not all of it): 5xx and 429 are worth a retry.
fn foreign_answer(operation: &'static str, raw: &HttpResponse, what: &str) -> Error {
    foreign_status(operation, raw.status().as_u16(), raw.headers().get("content-type").unwrap_or("none"), what)
}

/// One line about an answer that is not AWS's: its status and content type.
pub fn foreign_status(operation: &'static str, status: u16, kind: &str, what: &str) -> Error {
    let retry = if status >= 500 || status == 429 { Retry::Transient } else { Retry::Final };
    Error::Aws { operation, code: format!("HTTP {status}"), message: one_line(&format!("{what} (content type {kind})")), retry }
}

/// Error chains can carry newlines; a Reason is one line and short.
pub fn one_line(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 300 { format!("{}...", line.chars().take(300).collect::<String>()) } else { line }
}

/// Which service errors are worth another attempt: every 5xx and 429 whatever its code (AWS's SDKs retry
/// those; a code never seen before must not make a passing fault final), the throttling codes of the three
/// services, throttling relayed by Application Auto Scaling, concurrent updates and IAM propagation.
/// LimitExceededException is a quota, not throttling: retrying it only delays the same answer.
pub fn retry_for(code: &str, message: &str, status: u16) -> Retry {
    let lower = message.to_ascii_lowercase();
    match code {
        "ThrottlingException"
        | "Throttling"
        | "ThrottledException"
        | "RequestThrottledException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "SlowDown"
        | "ConcurrentUpdateException"
        | "InternalServiceException"
        | "InternalFailure"
        | "ServiceUnavailable" => Retry::Transient,
        // Application Auto Scaling relaying CloudWatch's throttling while it manages a policy's alarms
        // (terraform-provider-aws #1428): "Rate exceeded".
        "FailedResourceAccessException" if lower.contains("rate exceeded") || lower.contains("throttl") => Retry::Transient,
        // IAM propagation: a role created in the same stack is not usable for a few seconds.
        "ValidationException" if message.contains("Unable to assume IAM role") => Retry::Transient,
        _ if status >= 500 || status == 429 => Retry::Transient,
        "ObjectNotFoundException" | "ResourceNotFoundException" | "ResourceNotFound" => Retry::NotFound,
        _ => Retry::Final,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_answer_is_one_line_with_status_and_content_type() {
        use aws_smithy_types::body::SdkBody;
        let mut raw = HttpResponse::new(502.try_into().unwrap(), SdkBody::from("<html>\n<body>Bad gateway</body></html>"));
        raw.headers_mut().insert("content-type", "text/html");
        let err = foreign_answer("RegisterScalableTarget", &raw, "an answer that is not an AWS error");
        assert_eq!(err.to_string(), "RegisterScalableTarget failed: HTTP 502: an answer that is not an AWS error (content type text/html)");
        assert!(matches!(err, Error::Aws { retry: Retry::Transient, .. }));
        let raw = HttpResponse::new(403.try_into().unwrap(), SdkBody::empty());
        assert!(matches!(foreign_answer("X", &raw, "y"), Error::Aws { retry: Retry::Final, .. }));
    }

    #[test]
    fn status_and_relayed_throttling_decide_as_well_as_the_code() {
        for (code, message, status) in [
            ("InternalServiceError", "", 500),
            ("SomethingNew", "", 503),
            ("Whatever", "", 429),
            ("SlowDown", "", 400),
            ("ThrottledException", "", 400),
            ("RequestThrottledException", "", 400),
            ("FailedResourceAccessException", "Rate exceeded (Service: AmazonCloudWatch; Status Code: 400)", 400),
            ("FailedResourceAccessException", "Request was throttled", 400),
        ] {
            assert_eq!(retry_for(code, message, status), Retry::Transient, "{code} {status}");
        }
        assert_eq!(
            retry_for("FailedResourceAccessException", "User is not authorized to perform cloudwatch:PutMetricAlarm", 400),
            Retry::Final
        );
        assert_eq!(retry_for("ValidationException", "bad", 400), Retry::Final);
    }

    #[test]
    fn error_chains_become_one_short_line() {
        assert_eq!(one_line("a\n  b\tc"), "a b c");
        assert_eq!(one_line(&"x ".repeat(400)).chars().count(), 303);
    }
}
