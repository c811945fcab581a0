//! The emulator: one moto process per test binary, shared by its tests (each uses its own resource names).

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{python, root};

pub struct Emulator {
    pub url: String,
    http: reqwest::Client,
    /// False for an endpoint that only misbehaves (see [`Emulator::pointing_at`]): nothing is seeded there.
    controllable: bool,
}

struct EmulatorProcess {
    port: u16,
    // Held so the emulator exits when this test process does (it watches its stdin).
    _child: std::process::Child,
}

static EMULATOR: OnceLock<EmulatorProcess> = OnceLock::new();

/// Starts the emulator launcher and reads its port. The child follows us out when our stdin pipe closes.
pub fn start_emulator_process() -> (u16, std::process::Child) {
    use std::io::BufRead;
    let script = root().join("tests/emulator/aas_emulator.py");
    let mut child = std::process::Command::new(python())
        .arg(&script)
        .arg("--exit-with-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {} {}: {e} (run `make venv` first)", python().display(), script.display()));
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).expect("the emulator prints its port");
    let port = line.trim().strip_prefix("listening ").and_then(|p| p.parse().ok()).unwrap_or_else(|| panic!("emulator said {line:?}"));
    (port, child)
}

impl Emulator {
    /// The shared emulator of this test binary.
    pub fn shared() -> Self {
        let process = EMULATOR.get_or_init(|| {
            let (port, child) = start_emulator_process();
            EmulatorProcess { port, _child: child }
        });
        Self::at(process.port)
    }

    pub fn at(port: u16) -> Self {
        Self { url: format!("http://127.0.0.1:{port}"), http: crate::http::client(), controllable: true }
    }

    /// An "emulator" at any URL: for endpoints that misbehave on purpose (no control calls there).
    pub fn pointing_at(url: String) -> Self {
        Self { url, http: crate::http::client(), controllable: false }
    }

    async fn control(&self, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/_emulator/{path}", self.url);
        let request = match body {
            Some(body) => self.http.post(url).body(body.to_string()),
            None => self.http.get(url),
        };
        let answer = request.timeout(Duration::from_secs(10)).send().await.expect("emulator control call");
        let bytes = answer.bytes().await.expect("emulator control answer");
        serde_json::from_slice(&bytes).expect("emulator control answer is JSON")
    }

    /// Every target whose ResourceId is `resource_id` (with its tags).
    pub async fn target(&self, resource_id: &str) -> Option<Value> {
        let state = self.control("state", None).await;
        state["targets"].as_array().unwrap().iter().find(|t| t["ResourceId"] == resource_id).cloned()
    }

    pub async fn state(&self) -> Value {
        self.control("state", None).await
    }

    /// Registers a target directly, as someone other than the function would.
    pub async fn seed(&self, resource_id: &str, dimension: &str, min: i64, max: i64, tags: Value) -> String {
        let answer = self
            .control("seed", Some(json!({"ResourceId": resource_id, "ScalableDimension": dimension, "MinCapacity": min, "MaxCapacity": max, "Tags": tags})))
            .await;
        answer["ScalableTargetARN"].as_str().unwrap().to_owned()
    }

    /// Creates (or replaces) a SageMaker endpoint or inference component: see tests/emulator/sagemaker_gaps.py
    /// for the shape of `spec` (kind, name, status, failure_reason, variants, copies, then).
    pub async fn sagemaker(&self, spec: Value) {
        self.control("sagemaker", Some(spec)).await;
    }

    /// An InService endpoint with one instance-based variant, unless the endpoint exists already.
    pub async fn endpoint(&self, name: &str, variant: &str) {
        let spec = json!({"kind": "endpoint", "name": name, "variants": [{"name": variant, "instances": 1}], "if_absent": true});
        self.control("sagemaker", Some(spec)).await;
    }

    /// Seeds the SageMaker resource a target event names, so that tests about registering keep proving
    /// what they prove: an InService endpoint whose variant fits the dimension, or an inference component.
    /// A resource that exists already (seeded by the test itself) is left as it is.
    pub async fn seed_for(&self, event: &Value) {
        if !self.controllable || event["ResourceType"] != crate::TARGET || event["RequestType"] == "Delete" {
            return;
        }
        let props = &event["ResourceProperties"];
        let text = |key: &str| props.get(key).and_then(Value::as_str).map(str::to_owned);
        let resource = text("ResourceId").or_else(|| match (text("EndpointName"), text("VariantName"), text("InferenceComponentName")) {
            (Some(e), Some(v), _) => Some(format!("endpoint/{e}/variant/{v}")),
            (_, _, Some(ic)) => Some(format!("inference-component/{ic}")),
            _ => None,
        });
        let Some(resource) = resource else { return };
        let parts: Vec<&str> = resource.split('/').collect();
        let spec = match parts.as_slice() {
            ["endpoint", endpoint, "variant", variant] => {
                let serverless = text("ScalableDimension").is_some_and(|d| d.ends_with("DesiredProvisionedConcurrency"));
                let variant = if serverless {
                    json!({"name": variant, "serverless": {"MemorySizeInMB": 2048, "MaxConcurrency": 5, "ProvisionedConcurrency": 1}})
                } else {
                    json!({"name": variant, "instances": 1})
                };
                // A variant asked to scale to zero is an asynchronous endpoint's (a real-time one is seeded by the test).
                let asynchronous = props.get("ScaleToZero").is_some_and(|z| z == "true" || z == true);
                json!({"kind": "endpoint", "name": endpoint, "variants": [variant], "if_absent": true, "async": asynchronous})
            }
            ["inference-component", name] => json!({"kind": "inference-component", "name": name, "copies": 1, "if_absent": true}),
            _ => return,
        };
        self.control("sagemaker", Some(spec)).await;
    }

    /// A CloudWatch alarm made by someone other than the function, with `tags`.
    pub async fn alarm(&self, name: &str, tags: Value) {
        self.control("alarm", Some(json!({"name": name, "tags": tags}))).await;
    }

    /// The alarm named `name` as CloudWatch holds it (with its tags), if any.
    pub async fn alarm_state(&self, name: &str) -> Option<Value> {
        let state = self.control("state", None).await;
        state["alarms"].as_array().unwrap().iter().find(|a| a["AlarmName"] == name).cloned()
    }

    /// The CloudWatch operations that change the alarm named `name` (PutMetricAlarm, DeleteAlarms), in order.
    pub async fn alarm_writes(&self, name: &str) -> Vec<String> {
        let all = self.operations("cloudwatch", name).await;
        all.into_iter().filter(|op| !op.starts_with("Describe") && !op.starts_with("List")).collect()
    }

    /// The SageMaker operations called for an endpoint or inference component `name`, in order.
    pub async fn sagemaker_calls(&self, name: &str) -> Vec<String> {
        self.operations("sagemaker", name).await
    }

    /// Makes the next `times` calls of `operation` whose body contains `matching` fail with `error`.
    pub async fn fail(&self, operation: &str, matching: &str, error: &str, times: u32) {
        self.control_fault(
            json!({"operation": operation, "match": matching, "error": error, "message": format!("injected {error}"), "times": times}),
        )
        .await;
    }

    /// Queues a fault as the emulator's control endpoint takes it (see aas_emulator.py).
    pub async fn control_fault(&self, fault: Value) {
        self.control("faults", Some(fault)).await;
    }

    /// Makes targets registered from now on whose ResourceId contains `matching` invisible for `seconds`
    /// (to Describe, tagging, policies and scheduled actions), as AWS's eventual consistency may.
    pub async fn lag(&self, matching: &str, seconds: f64) {
        self.control("consistency", Some(json!({"match": matching, "lag": seconds}))).await;
    }

    /// Makes the next call of `operation` whose body contains `matching` take effect and answer `seconds` late.
    pub async fn late(&self, operation: &str, matching: &str, seconds: f64) {
        self.control("faults", Some(json!({"operation": operation, "match": matching, "late": seconds, "times": 1}))).await;
    }

    /// An endpoint configuration: `variants` as `[{"name", "instance_type", "instances"} | {"name", "serverless": {...}}]`.
    pub async fn endpoint_config(&self, name: &str, variants: Value) {
        self.control("sagemaker", Some(json!({"kind": "endpoint-config", "name": name, "variants": variants}))).await;
    }

    /// How many seconds CreateEndpoint, UpdateEndpoint and DeleteEndpoint of `endpoint` take.
    pub async fn timing_of(&self, endpoint: &str, create: f64, update: f64, delete: f64) {
        let spec = json!({"kind": "timing", "name": endpoint, "create": create, "update": update, "delete": delete});
        self.control("sagemaker", Some(spec)).await;
    }

    /// The next UpdateEndpoint of `endpoint` rolls back: InService on the old configuration with `reason`.
    pub async fn fail_next_update(&self, endpoint: &str, reason: &str) {
        self.control("sagemaker", Some(json!({"kind": "fail-next-update", "name": endpoint, "reason": reason}))).await;
    }

    /// The next CreateEndpoint of `endpoint` ends Failed with `reason`.
    pub async fn fail_next_create(&self, endpoint: &str, reason: &str) {
        self.control("sagemaker", Some(json!({"kind": "fail-next-create", "name": endpoint, "reason": reason}))).await;
    }

    /// Takes the asynchronous self-invocations queued since the last call: `[{"function", "payload"}]`.
    pub async fn invocations(&self) -> Vec<Value> {
        self.control("invocations", None).await.as_array().cloned().unwrap_or_default()
    }

    /// DescribeEndpoint's view of `name`, through the emulator's SageMaker (None when it does not exist).
    pub async fn endpoint_state(&self, name: &str) -> Option<Value> {
        let state = self.control("state", None).await;
        state["endpoints"].as_array().and_then(|all| all.iter().find(|e| e["EndpointName"] == name).cloned())
    }

    /// One call to the emulator's AWS side as another client would make it (unsigned; held against the model):
    /// `service` is the X-Amz-Target prefix (`SageMaker`, `AnyScaleFrontendService`, `DynamoDB_20120810`). The
    /// answer's status and JSON.
    pub async fn aws(&self, target_prefix: &str, operation: &str, body: Value) -> (u16, Value) {
        let content_type = if ["GraniteServiceVersion20100801", "DynamoDB_20120810"].contains(&target_prefix) {
            "application/x-amz-json-1.0"
        } else {
            "application/x-amz-json-1.1"
        };
        let signing = match target_prefix {
            "SageMaker" => "sagemaker",
            "GraniteServiceVersion20100801" => "monitoring",
            "DynamoDB_20120810" => "dynamodb",
            _ => "application-autoscaling",
        };
        // moto routes by the credential scope; a key other than the fixtures' is not checked by the emulator.
        let authorization =
            format!("AWS4-HMAC-SHA256 Credential=other/20260101/us-east-1/{signing}/aws4_request, SignedHeaders=host, Signature=0");
        let answer = self
            .http
            .post(format!("{}/", self.url))
            .header("authorization", authorization)
            .header("x-amz-target", format!("{target_prefix}.{operation}"))
            .header("content-type", content_type)
            .header("x-amzn-query-mode", if signing == "monitoring" { "true" } else { "false" })
            .body(body.to_string())
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .expect("an AWS call to the emulator");
        let status = answer.status().as_u16();
        (status, serde_json::from_slice(&answer.bytes().await.expect("a body")).unwrap_or(Value::Null))
    }

    /// Every request so far that botocore's model refuses (see tests/emulator/model_check.py).
    pub async fn model_errors(&self) -> Vec<Value> {
        self.control("model_errors", None).await.as_array().cloned().unwrap_or_default()
    }

    /// Makes the next `times` calls of `operation` whose body contains `matching` hang for `seconds`.
    pub async fn hang(&self, operation: &str, matching: &str, seconds: u64, times: u32) {
        self.control("faults", Some(json!({"operation": operation, "match": matching, "hang": seconds, "times": times}))).await;
    }

    /// The Application Auto Scaling operations called for `resource_id`, in order.
    pub async fn calls(&self, resource_id: &str) -> Vec<String> {
        self.operations("autoscaling", resource_id).await
    }

    /// The operations of `service` (autoscaling, sagemaker, cloudwatch) called for `resource`, in order.
    async fn operations(&self, service: &str, resource: &str) -> Vec<String> {
        let calls = self.control("calls", None).await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["service"] == service && c["resource"] == resource)
            .map(|c| c["operation"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The bodies of every `operation` call whose body contains `matching`, in order: what was sent, exactly.
    pub async fn calls_with_bodies(&self, operation: &str, matching: &str) -> Vec<Value> {
        let calls = self.control("calls", None).await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["operation"] == operation && c["body"].to_string().contains(matching))
            .map(|c| c["body"].clone())
            .collect()
    }

    /// Every call to `service` (autoscaling, sagemaker, cloudwatch, dynamodb, lambda) whose body contains
    /// `matching`: its operation names, in order.
    pub async fn service_calls(&self, service: &str, matching: &str) -> Vec<String> {
        let calls = self.control("calls", None).await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["service"] == service && c["body"].to_string().contains(matching))
            .map(|c| c["operation"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The calls that change something (everything but Describe and List).
    pub async fn mutations(&self, resource_id: &str) -> Vec<String> {
        self.calls(resource_id).await.into_iter().filter(|op| !op.starts_with("Describe") && !op.starts_with("List")).collect()
    }
}
