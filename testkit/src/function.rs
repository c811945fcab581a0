//! The function under test: the real bootstrap, polling our Runtime API.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::emulator::Emulator;
use crate::events::Event;
use crate::receiver::Receiver;
use crate::root;
use crate::runtime::{Outcome, RuntimeApi};

/// A running bootstrap process and everything around it.
pub struct Function {
    pub runtime: RuntimeApi,
    pub receiver: Receiver,
    pub emulator: Emulator,
    child: tokio::process::Child,
    /// More processes polling the same Runtime API (Lambda's sandboxes running at once).
    others: Vec<tokio::process::Child>,
    logs: Arc<Mutex<Vec<String>>>,
    program: Program,
    env: Vec<(String, String)>,
    pub started: std::time::Instant,
}

/// What to run as the function: a program, its arguments and its working directory.
#[derive(Debug, Clone)]
pub struct Program {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub dir: Option<PathBuf>,
}

impl Program {
    pub fn binary(path: &Path) -> Self {
        Self { program: path.to_owned(), args: Vec::new(), dir: None }
    }
}

/// Starts `program` as a Lambda function polling `runtime`, with Lambda's environment and the emulator's
/// endpoint. Its stdout and stderr are collected (and echoed with `CFN_SMA_ECHO_LOGS`).
pub fn spawn(
    program: &Program,
    runtime: &RuntimeApi,
    endpoint: &str,
    env: &[(&str, &str)],
) -> (tokio::process::Child, Arc<Mutex<Vec<String>>>) {
    let mut command = tokio::process::Command::new(&program.program);
    command
        .args(&program.args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", runtime.env_value())
        .env("AWS_LAMBDA_FUNCTION_NAME", "cfn-sagemaker-autoscaling")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test-stream")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/cfn-sagemaker-autoscaling")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RESPONSE_URL_ALLOWED_HOSTS", "127.0.0.1")
        .env("RUST_LOG", "info")
        // A short consistency window by default: a missing target is reported in seconds, not a minute.
        .env("CONSISTENCY_WINDOW_MS", "3000")
        // The operations journal the emulator creates at start, as template.yaml does; a queued hand-over holds
        // an operation for 3 s before the scheduled reconcile may take it (two minutes in Lambda).
        .env("OPERATIONS_TABLE", crate::OPERATIONS_TABLE)
        .env("HANDOVER_GRACE_MS", "3000")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &program.dir {
        command.current_dir(dir);
    }
    let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {}: {e}", program.program.display()));
    let logs = Arc::new(Mutex::new(Vec::new()));
    for stream in [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let logs = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if std::env::var_os("CFN_SMA_ECHO_LOGS").is_some() {
                    eprintln!("[function] {line}");
                }
                logs.lock().unwrap().push(line);
            }
        });
    }
    (child, logs)
}

/// VmHWM (peak resident memory) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The compiled bootstrap: the test's own build, or `$CFN_SMA_BOOTSTRAP`.
pub fn bootstrap() -> PathBuf {
    if let Some(path) = std::env::var_os("CFN_SMA_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    // cargo builds the package's binary before its integration tests run.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from);
    target.join("debug/cfn-sagemaker-autoscaling")
}

impl Function {
    /// Starts a bootstrap against the shared emulator with the default settings.
    pub async fn start() -> Self {
        Self::start_with(Emulator::shared(), &[]).await
    }

    /// Starts a bootstrap against `emulator`, with extra environment variables.
    pub async fn start_with(emulator: Emulator, env: &[(&str, &str)]) -> Self {
        Self::start_binary(&bootstrap(), emulator, env).await
    }

    pub async fn start_binary(binary: &Path, emulator: Emulator, env: &[(&str, &str)]) -> Self {
        Self::start_program(&Program::binary(binary), emulator, Receiver::start().await, env).await
    }

    /// Starts any Lambda runtime client (`program`) on a fresh Runtime API, answering to `receiver`.
    pub async fn start_program(program: &Program, emulator: Emulator, receiver: Receiver, env: &[(&str, &str)]) -> Self {
        let runtime = RuntimeApi::start().await;
        let started = std::time::Instant::now();
        let (child, logs) = spawn(program, &runtime, &emulator.url, env);
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Self { runtime, receiver, emulator, child, others: Vec::new(), logs, program: program.clone(), env, started }
    }

    fn env_pairs(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    /// Kills the process (SIGKILL: no clean-up of any kind) and starts a new one on the same Runtime API, as
    /// Lambda starts a new sandbox after a crash.
    pub async fn crash_and_restart(&mut self) {
        self.child.start_kill().expect("kill the bootstrap");
        let _ = self.child.wait().await;
        let (child, logs) = spawn(&self.program, &self.runtime, &self.emulator.url, &self.env_pairs());
        self.child = child;
        let earlier = std::mem::replace(&mut self.logs, logs);
        self.logs.lock().unwrap().splice(0..0, earlier.lock().unwrap().iter().cloned());
    }

    /// Starts one more process on the same Runtime API: two sandboxes serving at once.
    pub fn add_process(&mut self) {
        let (child, logs) = spawn(&self.program, &self.runtime, &self.emulator.url, &self.env_pairs());
        self.others.push(child);
        let theirs = logs;
        let mine = self.logs.clone();
        tokio::spawn(async move {
            // Merge the second process's lines into the first's log, bounded by the test's life.
            for _ in 0..600 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let lines: Vec<String> = theirs.lock().unwrap().drain(..).collect();
                mine.lock().unwrap().extend(lines.into_iter().map(|l| format!("[second] {l}")));
            }
        });
    }

    /// The process id, for reading its memory.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Everything the function logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Invokes with an event (its SageMaker resource seeded, see [`Emulator::seed_for`]) and returns the outcome,
    /// whatever it is and however many PUTs it caused.
    pub async fn invoke(&self, event: &Event, timeout: Duration) -> Outcome {
        self.emulator.seed_for(&event.body).await;
        self.runtime.invoke(event.json(&self.receiver), timeout).await
    }

    /// Sends an event built by `Event` with a 30 s deadline (its SageMaker resource seeded, see
    /// [`Emulator::seed_for`]), and returns the one PUT it caused.
    pub async fn send(&self, event: &Event) -> Value {
        self.send_within(event, Duration::from_secs(30)).await
    }

    pub async fn send_within(&self, event: &Event, timeout: Duration) -> Value {
        self.emulator.seed_for(&event.body).await;
        self.send_unseeded(event, timeout).await
    }

    /// Sends an event whose operation may outlive an invocation: each invocation gets `per_invocation` to live
    /// (a compressed Lambda timeout), and every asynchronous self-invocation the function queues at the emulator
    /// is delivered back to it through the Runtime API, as Lambda would, until CloudFormation's one answer
    /// arrives; at most `max_invocations`. Returns the answer and how many invocations it took.
    pub async fn send_long(&self, event: &Event, per_invocation: Duration, max_invocations: usize) -> (Value, usize) {
        let mut invocations = 1;
        let outcome = self.runtime.invoke(event.json(&self.receiver), per_invocation).await;
        assert!(matches!(outcome, Outcome::Response(_)), "invocation of {} ended with {outcome:?}\nlogs:\n{}", event.name, self.logs());
        loop {
            let puts = self.receiver.seen(&event.name);
            if !puts.is_empty() {
                assert_eq!(puts.len(), 1, "expected exactly one PUT for {}\nlogs:\n{}", event.name, self.logs());
                return (puts[0].json(), invocations);
            }
            let queued = self.emulator.invocations().await;
            assert!(!queued.is_empty(), "{}: no answer and nothing handed over\nlogs:\n{}", event.name, self.logs());
            for handed in queued {
                invocations += 1;
                assert!(invocations <= max_invocations, "{}: more than {max_invocations} invocations\nlogs:\n{}", event.name, self.logs());
                self.deliver(&handed, per_invocation).await;
            }
        }
    }

    /// Invokes `event` with Lambda's request id `id` and returns once the emulator has seen one more `operation`
    /// call whose body contains `matching` (true): the moment a test kills the process. False when the invocation
    /// ended first, or after 25 s.
    pub async fn invoke_until_call(&self, event: Value, id: &str, per_invocation: Duration, operation: &str, matching: &str) -> bool {
        let before = self.emulator.calls_with_bodies(operation, matching).await.len();
        let call = self.runtime.invoke_with_id(event, per_invocation, id);
        tokio::time::timeout(Duration::from_secs(25), async {
            tokio::select! {
                _ = call => false,
                _ = async {
                    for _ in 0..200 {
                        if self.emulator.calls_with_bodies(operation, matching).await.len() > before { return; }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                } => true,
            }
        })
        .await
        .unwrap_or(false)
    }

    /// Delivers one queued self-invocation (as [`Emulator::invocations`] lists it) with the request id Lambda
    /// gave it.
    pub async fn deliver(&self, handed: &Value, per_invocation: Duration) -> Outcome {
        let id = handed["request_id"].as_str().unwrap_or("handed-over");
        self.runtime.invoke_with_id(handed["payload"].clone(), per_invocation, id).await.outcome
    }

    /// Sends an event as it is, without seeding the SageMaker resource it names (the SageMaker tests).
    pub async fn send_unseeded(&self, event: &Event, timeout: Duration) -> Value {
        let outcome = self.runtime.invoke(event.json(&self.receiver), timeout).await;
        assert!(matches!(outcome, Outcome::Response(_)), "invocation of {} ended with {outcome:?}\nlogs:\n{}", event.name, self.logs());
        let puts = self.receiver.seen(&event.name);
        assert_eq!(puts.len(), 1, "expected exactly one PUT for {}, got {}\nlogs:\n{}", event.name, puts.len(), self.logs());
        puts[0].json()
    }
}
