//! Test fixture: the Application Auto Scaling emulator, a Lambda Runtime API and a ResponseURL receiver,
//! all on 127.0.0.1, and the real compiled bootstrap polling them exactly as it would in Lambda.
//!
//! A crate of its own (a dev-dependency) so that each test binary takes what it needs without dead code.
//! Shared by the end-to-end tests, `examples/demo.rs` and the benchmark. Every wait here is bounded.
//!
//! - [`http`]: a tiny HTTP/1.1 server (plain or TLS) and a tripwire that records every connection;
//! - [`runtime`]: the Lambda Runtime API (2018-06-01);
//! - [`receiver`]: the ResponseURL receiver, with scripted answers;
//! - [`emulator`]: the moto-based emulator process and its control calls;
//! - [`function`]: the compiled bootstrap, spawned against all of the above;
//! - [`events`]: CloudFormation events under construction.

use std::path::PathBuf;

pub mod emulator;
pub mod endpoints;
pub mod events;
pub mod function;
pub mod http;
pub mod receiver;
pub mod runtime;

pub use emulator::Emulator;
pub use events::{Event, Stack};
pub use function::{Function, Program};
pub use http::{Seen, Tripwire};
pub use receiver::{Answer, Receiver};
pub use runtime::{Outcome, RuntimeApi};

pub const TARGET: &str = "Custom::SageMakerScalableTarget";
/// The default dimension of a variant.
pub const VARIANT_DIM: &str = "sagemaker:variant:DesiredInstanceCount";

/// The resource id of an endpoint's `AllTraffic` variant: each test names its own endpoint.
pub fn variant(endpoint: &str) -> String {
    format!("endpoint/{endpoint}/variant/AllTraffic")
}

/// The physical id of that variant's target.
pub fn target_id(endpoint: &str) -> String {
    format!("{}|{VARIANT_DIM}|sagemaker", variant(endpoint))
}
/// The operations journal's table, created by the emulator at start.
pub const OPERATIONS_TABLE: &str = "cfn-sma-operations";
pub const SIGNATURE: &str = "X-Amz-Signature=SECRETSIGNATURE";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The Python that has moto: `$CFN_SMA_PYTHON`, else the venv `make` creates.
pub fn python() -> PathBuf {
    std::env::var_os("CFN_SMA_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"))
}
