//! The Lambda bootstrap: build the clients once, then serve invocations until the runtime stops us.
#![recursion_limit = "256"]

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use cfn_sagemaker_autoscaling::handler::Handler;
use cfn_sagemaker_autoscaling::respond::Responder;
use cfn_sagemaker_autoscaling::settings::Settings;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    cfn_sagemaker_autoscaling::logging::init();
    let settings = Settings::from_env()?;
    let https = aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    // Retries are ours (see aas.rs): they are bounded by the invocation deadline, which the SDK cannot see.
    let config = aws_config::defaults(BehaviorVersion::latest()).http_client(https).retry_config(RetryConfig::disabled()).load().await;
    let http = cfn_sagemaker_autoscaling::respond::http_client()?;
    let handler = Handler::new(aws_sdk_applicationautoscaling::Client::new(&config), Responder::new(http), settings);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let handler = &handler;
        async move { handler.invoke(event.payload, event.context.deadline).await }
    }))
    .await
}
