//! The smallest Lambda function lambda_runtime and tokio make: it answers every event with null. `make bench`
//! starts it alternately with the bootstrap and reports the bootstrap's init against this floor.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async { Ok::<Value, Error>(Value::Null) })).await
}
