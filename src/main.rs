//! The Lambda bootstrap: build the clients once, then serve invocations until the runtime stops us.
#![recursion_limit = "256"]

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use cfn_sagemaker_autoscaling::delivery::{self, Responder};
use cfn_sagemaker_autoscaling::handler::Handler;
use cfn_sagemaker_autoscaling::settings::Settings;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    cfn_sagemaker_autoscaling::logging::init();
    let settings = Settings::from_env()?;
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    // Retries are ours (see aas.rs): they are bounded by the invocation deadline, which the SDK cannot see.
    // Each attempt has its own limit, so one hung connection is retried instead of using up the invocation.
    let timeouts = TimeoutConfig::builder()
        .operation_attempt_timeout(settings.attempt_timeout)
        .connect_timeout(settings.attempt_timeout.min(Duration::from_secs(2)))
        .build();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(https)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .load()
        .await;
    let http = delivery::http_client(&settings.allowed_hosts)?;
    let responder = Responder::new(http, settings.allowed_hosts.clone());
    let handler = Handler::new(aws_sdk_applicationautoscaling::Client::new(&config), responder, settings);
    // The payload stays raw: lambda_runtime would otherwise parse it into a Value, whose depth limit would
    // make a deeply nested event an invocation error that is never answered.
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let handler = &handler;
        async move { handler.invoke(event.payload.get(), event.context.deadline).await }
    }))
    .await
}
