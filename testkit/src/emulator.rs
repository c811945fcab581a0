//! The emulator: one moto process per test binary, shared by its tests (each uses its own resource names).

use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{python, root};

pub struct Emulator {
    pub url: String,
    http: reqwest::Client,
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
        Self::pointing_at(format!("http://127.0.0.1:{port}"))
    }

    /// An "emulator" at any URL: for endpoints that misbehave on purpose (no control calls there).
    pub fn pointing_at(url: String) -> Self {
        let http = crate::http::client();
        Self { url, http }
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

    /// Makes the next `times` calls of `operation` whose body contains `matching` hang for `seconds`.
    pub async fn hang(&self, operation: &str, matching: &str, seconds: u64, times: u32) {
        self.control("faults", Some(json!({"operation": operation, "match": matching, "hang": seconds, "times": times}))).await;
    }

    /// The operations called for `resource_id`, in order.
    pub async fn calls(&self, resource_id: &str) -> Vec<String> {
        let calls = self.control("calls", None).await;
        calls
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["resource"] == resource_id)
            .map(|c| c["operation"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The calls that change something (everything but Describe and List).
    pub async fn mutations(&self, resource_id: &str) -> Vec<String> {
        self.calls(resource_id).await.into_iter().filter(|op| !op.starts_with("Describe") && !op.starts_with("List")).collect()
    }
}
