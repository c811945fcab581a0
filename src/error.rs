//! The crate's one error type. Its `Display` text goes straight into CloudFormation's `Reason`.

/// What went wrong while handling an event.
///
/// Callers branch on the variant (is it worth retrying, is the object already gone), never on the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A property (or the event itself) is not what the contract accepts; the text names the property.
    #[error("{0}")]
    Invalid(String),
    /// An AWS call (Application Auto Scaling, SageMaker, CloudWatch) failed with an answer from the service, or
    /// with no answer at all.
    #[error("{operation} failed: {code}: {message}")]
    Aws { operation: &'static str, code: String, message: String, retry: Retry },
    /// The state found in AWS forbids the requested change (ownership, a missing target, a SageMaker resource
    /// that is missing, failed or still in transition, a foreign alarm).
    #[error("{0}")]
    Conflict(String),
    /// Another invocation holds the endpoint operation now (this one's lease ran out, or a duplicate delivery
    /// took it): this invocation stops and answers nothing.
    #[error("{0}")]
    Superseded(String),
}

/// Whether an [`Error::Aws`] is worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Throttling, a concurrent update, a service fault, IAM propagation, a network error.
    Transient,
    /// The object named by the call does not exist (ObjectNotFoundException, ResourceNotFoundException).
    NotFound,
    /// Anything else, quotas (LimitExceededException) included.
    Final,
}

impl Error {
    /// Shorthand for an [`Error::Invalid`] built with `format!`.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// True for an AWS answer saying the object is already gone.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::Aws { retry: Retry::NotFound, .. })
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
