//! Every client reaches the host the AWS SDKs would, in every partition, with FIPS and dual-stack on and off.
//! No network: configured endpoint URLs are ignored (or unset) and `HTTPS_PROXY` points at a tripwire, which
//! records the `CONNECT host:443` line each client sends. The expected hosts come from botocore's own endpoint
//! rule sets, computed at test time from the venv's botocore.

use std::collections::BTreeMap;
use std::time::Duration;

use cfn_sma_testkit as support;
use serde_json::json;
use support::{Emulator, Function, Program, Receiver, Stack, Tripwire, variant};

const REGIONS: [&str; 8] =
    ["us-east-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1", "us-iso-east-1", "us-isob-east-1", "eu-isoe-west-1", "us-isof-south-1"];

/// botocore's endpoint for each (service, region, fips, dual-stack), or none where botocore refuses.
fn botocore_hosts() -> BTreeMap<String, String> {
    let script = r#"
import json, os, re, sys, boto3, botocore
from botocore.config import Config
s = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="y")
# botocore's resolver gives the ISO partitions' dual-stack hosts under "api.aws", while its own partitions.json
# (and the AWS SDK for Rust, whose Application Auto Scaling client is the reference here) says "api.aws.ic.gov",
# "api.aws.scloud": the partition data is taken as the truth.
partitions = json.load(open(os.path.join(os.path.dirname(botocore.__file__), "data", "partitions.json")))["partitions"]
def dual_suffix(region):
    for p in partitions:
        if region in p["regions"] or re.match(p["regionRegex"], region):
            return p["outputs"]["dualStackDnsSuffix"]
out = {}
for region in sys.argv[1:]:
    for fips in (False, True):
        for ds in (False, True):
            for ours, name in (("autoscaling", "application-autoscaling"), ("sagemaker", "sagemaker"), ("cloudwatch", "cloudwatch"),
                               ("dynamodb", "dynamodb"), ("lambda", "lambda")):
                try:
                    url = s.client(name, region_name=region, config=Config(use_fips_endpoint=fips, use_dualstack_endpoint=ds)).meta.endpoint_url
                except Exception:
                    continue
                host = url.split("://", 1)[1]
                if ds and host.endswith(".api.aws"):
                    host = host[: -len("api.aws")] + dual_suffix(region)
                out[f"{ours} {region} {fips} {ds}"] = host
print(json.dumps(out))
"#;
    let output = std::process::Command::new(support::python()).arg("-c").arg(script).args(REGIONS).output().expect("python runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("botocore's hosts as JSON")
}

/// The JSON clients `main.rs` builds besides the SDK's: CloudWatch, the journal's DynamoDB, and Lambda (hand-overs).
#[derive(Clone, Copy)]
enum JsonClient {
    CloudWatch,
    DynamoDb,
    Lambda,
}

/// The host one JSON client connects to, built as `main.rs` builds it, its request sent through a tripwire.
async fn json_client_host(client: JsonClient, region: &'static str, fips: bool, dual_stack: bool) -> Vec<String> {
    use cfn_sagemaker_autoscaling::shell::json::{CLOUDWATCH, DYNAMODB, JsonService, LAMBDA};
    let proxy = Tripwire::start().await;
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region))
        .use_fips(fips)
        .use_dual_stack(dual_stack)
        .credentials_provider(aws_credential_types::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = cfn_sagemaker_autoscaling::tls::client_config(None).expect("TLS");
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .proxy(reqwest::Proxy::all(proxy.url("http", "")).expect("a proxy"))
        .timeout(Duration::from_millis(1500))
        .build()
        .expect("a client");
    let protocol = match client {
        JsonClient::CloudWatch => CLOUDWATCH,
        JsonClient::DynamoDb => DYNAMODB,
        JsonClient::Lambda => LAMBDA,
    };
    // A client the partition cannot serve (FIPS or dual-stack it lacks) is an error here, and connects nowhere.
    if let Ok(service) = JsonService::new(protocol, &config, http).await {
        let _ = match client {
            JsonClient::CloudWatch => service.call("DescribeAlarms", &json!({})).await.map(|_| ()),
            JsonClient::DynamoDb => service.call("GetItem", &json!({"TableName": "t", "Key": {"Id": {"S": "x"}}})).await.map(|_| ()),
            JsonClient::Lambda => service.invoke_event("f", b"{}").await.map(|_| ()),
        };
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    proxy
        .hits()
        .iter()
        .filter_map(|hit| hit.strip_prefix("CONNECT ").and_then(|r| r.split_whitespace().next()))
        .map(|a| a.trim_end_matches(":443").to_owned())
        .collect()
}

/// The hosts one configuration connects to: a function whose AWS calls all go through the tripwire proxy.
async fn connected_hosts(region: &str, fips: bool, dual_stack: bool, env: &[(&str, &str)], events: Vec<support::Event>) -> Vec<String> {
    let proxy = Tripwire::start().await;
    let proxy_url = proxy.url("http", "");
    let mut all = vec![
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_USE_FIPS_ENDPOINT", if fips { "true" } else { "false" }),
        ("AWS_USE_DUALSTACK_ENDPOINT", if dual_stack { "true" } else { "false" }),
        ("HTTPS_PROXY", proxy_url.as_str()),
        ("NO_PROXY", "127.0.0.1"),
        ("AWS_ATTEMPT_TIMEOUT_MS", "500"),
        ("DEADLINE_MARGIN_MS", "500"),
    ];
    all.extend_from_slice(env);
    let f =
        Function::start_program(&Program::binary(&support::function::bootstrap()), Emulator::shared(), Receiver::start().await, &all).await;
    for event in events {
        f.invoke(&event, Duration::from_millis(2500)).await;
    }
    let mut hosts: Vec<String> = proxy
        .hits()
        .iter()
        .filter_map(|hit| hit.strip_prefix("CONNECT ").and_then(|rest| rest.split_whitespace().next()))
        .map(|authority| authority.trim_end_matches(":443").to_owned())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_client_connects_where_botocore_resolves() {
    let expected = botocore_hosts();
    let stack = Stack::new("endpoints");
    let mut runs = Vec::new();
    for region in REGIONS {
        for fips in [false, true] {
            for dual_stack in [false, true] {
                let key = |service: &str| {
                    format!("{service} {region} {} {}", if fips { "True" } else { "False" }, if dual_stack { "True" } else { "False" })
                };
                let (Some(aas), Some(sagemaker), Some(cloudwatch)) =
                    (expected.get(&key("autoscaling")), expected.get(&key("sagemaker")), expected.get(&key("cloudwatch")))
                else {
                    continue;
                };
                let target = json!({"ResourceId": variant("ep"), "MinCapacity": 1, "MaxCapacity": 2});
                let id = support::target_id("ep");
                // Configured endpoints ignored: Application Auto Scaling (a Delete looks the target up first)
                // and SageMaker (a Create looks the endpoint up first) resolve their own hosts.
                let native = connected_hosts(
                    region,
                    fips,
                    dual_stack,
                    &[("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")],
                    vec![stack.delete("T", &id, target.clone()), stack.create("T", target.clone())],
                );
                // CloudWatch, DynamoDB and Lambda are reached only after the other two succeed: each client is
                // built here as main.rs builds it, from an SDK configuration with the same settings, and sends
                // through the tripwire. Where botocore has no endpoint, none may be connected to.
                let json_clients = async move {
                    let mut hosts = Vec::new();
                    for client in [JsonClient::CloudWatch, JsonClient::DynamoDb, JsonClient::Lambda] {
                        hosts.extend(json_client_host(client, region, fips, dual_stack).await);
                    }
                    hosts
                };
                let expected_json: Vec<String> =
                    [Some(cloudwatch.clone()), expected.get(&key("dynamodb")).cloned(), expected.get(&key("lambda")).cloned()]
                        .into_iter()
                        .flatten()
                        .collect();
                let expected_native = {
                    let mut v = vec![aas.clone(), sagemaker.clone()];
                    v.sort();
                    v
                };
                let label = format!("{region} fips={fips} dualstack={dual_stack}");
                runs.push(async move {
                    let (native, json_hosts) = tokio::join!(native, json_clients);
                    (label, native, expected_native, json_hosts, expected_json)
                });
            }
        }
    }
    assert!(runs.len() >= 24, "botocore resolved too few configurations: {}", runs.len());
    let mut mismatches = Vec::new();
    let mut pending = runs.into_iter();
    loop {
        let batch: Vec<_> = pending.by_ref().take(6).collect();
        if batch.is_empty() {
            break;
        }
        for (label, native, expected_native, json_hosts, expected_json) in futures_join_all(batch).await {
            if native != expected_native || json_hosts != expected_json {
                mismatches.push(format!("{label}: {native:?} + {json_hosts:?}, botocore: {expected_native:?} + {expected_json:?}"));
            }
        }
    }
    assert!(mismatches.is_empty(), "hosts that differ from botocore's:\n{}", mismatches.join("\n"));
}

/// Runs futures concurrently and collects their outputs in order (tokio alone, no futures crate).
async fn futures_join_all<F: std::future::Future + Send + 'static>(futures: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.expect("a run"));
    }
    out
}

#[tokio::test]
async fn no_region_is_a_start_up_error_naming_aws_region() {
    let output = tokio::process::Command::new(support::function::bootstrap())
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_LAMBDA_FUNCTION_NAME", "f")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", "/nonexistent")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(20), output).await.expect("exits").expect("runs");
    assert!(!output.status.success());
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("AWS_REGION"), "{text}");
}
