//! CloudFormation custom resources for Amazon SageMaker auto scaling, as one AWS Lambda function.
//!
//! How an event flows through the modules:
//!
//! 1. [`request`] reads CloudFormation's envelope from the raw payload (unwrapping SNS records), keeping
//!    whatever could be read so that even a broken or deeply nested event gets an answer.
//! 2. [`handler`] dispatches on `ResourceType` to one module per resource type ([`target`], [`policy`], [`schedule`]), under the
//!    [`guard`]: a panic or the invocation deadline becomes a FAILED response instead of silence.
//! 3. A resource module validates its properties once ([`props`] reads CloudFormation's string values,
//!    [`model`] holds the validated identities), looks up the current state through [`shell`], decides the
//!    calls with pure `plan_*` functions, runs them, and builds a [`response::Response`].
//! 4. [`response_url`] decides, before anything else happens, whether the ResponseURL may be contacted at
//!    all; [`delivery`] PUTs the body there, following only redirects that pass the same check, retrying
//!    with [`backoff`] until the deadline.
//!
//! [`settings`] reads the environment once at start-up.

pub mod backoff;
pub mod delivery;
pub mod error;
pub mod guard;
pub mod handler;
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
