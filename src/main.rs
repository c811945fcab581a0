//! The Lambda bootstrap: build the clients once, then serve invocations until the runtime stops us.
#![recursion_limit = "256"]

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use cfn_sagemaker_autoscaling::delivery::Responder;
use cfn_sagemaker_autoscaling::handler::{Handler, Invocation};
use cfn_sagemaker_autoscaling::settings::Settings;
use cfn_sagemaker_autoscaling::shell::journal::JournalTable;
use cfn_sagemaker_autoscaling::shell::json::{self, AUTOSCALING, CLOUDWATCH, DYNAMODB, JsonService, LAMBDA, SAGEMAKER};
use cfn_sagemaker_autoscaling::shell::{Clients, http};
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    cfn_sagemaker_autoscaling::logging::init();
    let settings = Settings::from_env()?;
    // One TLS configuration (compiled-in roots, plus SSL_CERT_FILE's) for every client of the process.
    let tls = cfn_sagemaker_autoscaling::tls::from_env()?;
    // One HTTP client (one connection pool) for every AWS call: the SDK's and the JSON services'.
    let aws_http = json::http_client(tls.clone(), settings.attempt_timeout)?;
    let connect = settings.attempt_timeout.min(Duration::from_secs(2));
    // Retries are ours (see shell/mod.rs): they are bounded by the invocation deadline, which the SDK cannot
    // see. Each attempt has its own limit, so one hung connection is retried instead of using up the invocation.
    let timeouts = TimeoutConfig::builder().operation_attempt_timeout(settings.attempt_timeout).connect_timeout(connect).build();
    let config = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http::sdk_client(aws_http.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts)
        .load()
        .await;
    // No region is a start-up error, never a silent us-east-1: every client resolves its endpoint from it.
    if config.region().is_none() {
        return Err(json::no_region().into());
    }
    let clients = Clients {
        autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
        sagemaker: JsonService::new(SAGEMAKER, &config, aws_http.clone()).await?,
        cloudwatch: JsonService::new(CLOUDWATCH, &config, aws_http.clone()).await?,
        autoscaling_json: JsonService::new(AUTOSCALING, &config, aws_http.clone()).await?,
        lambda: JsonService::new(LAMBDA, &config, aws_http.clone()).await?,
        journal: match &settings.operations_table {
            Some(table) => Some(JournalTable { service: JsonService::new(DYNAMODB, &config, aws_http).await?, table: table.clone() }),
            None => None,
        },
    };
    let responder = Responder::new(tls, settings.allowed_hosts.clone())?;
    let handler = Handler::new(clients, responder, settings);
    // The payload stays raw: lambda_runtime would otherwise parse it into a Value, whose depth limit would
    // make a deeply nested event an invocation error that is never answered.
    lambda_runtime::run(service_fn(|event: LambdaEvent<Box<RawValue>>| {
        let handler = &handler;
        async move {
            let context = &event.context;
            let invocation = Invocation {
                deadline_ms: context.deadline,
                function: Some(&context.invoked_function_arn),
                request_id: &context.request_id,
            };
            handler.invoke_as(event.payload.get(), &invocation).await
        }
    }))
    .await
}
