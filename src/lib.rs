//! CloudFormation custom resources for Amazon SageMaker auto scaling, as one AWS Lambda function.
//!
//! How an event flows through the modules:
//!
//! 1. [`request`] reads CloudFormation's envelope from the raw payload (as aws_lambda_events' types when it is
//!    well-formed, field by field otherwise; unwrapping SNS records), so that even a broken or deeply nested
//!    event gets an answer.
//! 2. [`handler`] checks the ResponseURL first ([`response_url`]: a refused one means nothing else happens),
//!    validates the properties once ([`props`] reads CloudFormation's string values into the validated specs of
//!    [`model`]), and dispatches on the resource type to one module each ([`target`], [`policy`], [`schedule`])
//!    under the [`guard`]: a panic or the invocation deadline becomes a FAILED response instead of silence.
//! 3. A resource module looks up the current state through the [`shell`] (the only code that talks to AWS),
//!    decides the calls with pure functions (`plan_*`, [`sagemaker::readiness`], [`scale_to_zero`]), runs them,
//!    and builds a [`response::Response`].
//! 4. [`delivery`] PUTs the body to the ResponseURL, following only redirects that pass the same check,
//!    retrying with [`backoff`] until the deadline.
//!
//! [`settings`] reads the environment once at start-up; [`tls`] builds the one TLS configuration every client
//! shares; [`logging`] sets up Lambda-style logs.

#![recursion_limit = "256"]

pub mod backoff;
pub mod delivery;
pub mod drift;
pub mod endpoint;
pub mod endpoint_plan;
pub mod endpoint_run;
pub mod error;
pub mod guard;
pub mod handler;
pub mod journal;
pub mod logging;
pub mod model;
pub mod policy;
pub mod props;
pub mod request;
pub mod response;
pub mod response_url;
pub mod sagemaker;
pub mod scale_to_zero;
pub mod schedule;
pub mod settings;
pub mod shell;
pub mod target;
pub mod tls;

pub use error::{Error, Result};
