//! Test fixture: the Application Auto Scaling emulator, a Lambda Runtime API and a ResponseURL receiver,
//! all on 127.0.0.1, and the real compiled bootstrap polling them exactly as it would in Lambda.
//!
//! Shared by the end-to-end tests, `examples/demo.rs` and the benchmark. Every wait here is bounded.
#![allow(dead_code)] // each test binary uses a different part of the fixture

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Notify, oneshot};

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
pub const SIGNATURE: &str = "X-Amz-Signature=SECRETSIGNATURE";

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Python that has moto: `$CFN_SMA_PYTHON`, else the venv `make` creates.
pub fn python() -> PathBuf {
    std::env::var_os("CFN_SMA_PYTHON").map(PathBuf::from).unwrap_or_else(|| root().join(".venv/bin/python"))
}

// ---------------------------------------------------------------------------------------------------
// A tiny HTTP/1.1 server over hyper, for the Runtime API and the ResponseURL receiver.

type Reply = (u16, Vec<(String, String)>, Vec<u8>);

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names lowercased.
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
    /// When the whole request had arrived.
    pub at: std::time::Instant,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

async fn serve<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    serve_with(handler, None).await
}

/// Serves `handler` on a loopback port, over TLS when an acceptor is given.
async fn serve_with<F, Fut>(handler: F, tls: Option<tokio_rustls::TlsAcceptor>) -> SocketAddr
where
    F: Fn(Seen) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("a bound listener has an address");
    let handler = Arc::new(handler);
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let handler = handler.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                let stream: Box<dyn Stream> = match tls {
                    None => Box::new(tcp),
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => Box::new(stream),
                        Err(_) => return,
                    },
                };
                let service = service_fn(move |req: hyper::Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default();
                        let headers = parts
                            .headers
                            .iter()
                            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        let seen = Seen {
                            method: parts.method.to_string(),
                            path: parts.uri.path().to_owned(),
                            query: parts.uri.query().unwrap_or_default().to_owned(),
                            headers,
                            body,
                            at: std::time::Instant::now(),
                        };
                        let (status, headers, body) = handler(seen).await;
                        let mut response = hyper::Response::builder().status(status);
                        for (k, v) in headers {
                            response = response.header(k, v);
                        }
                        Ok::<_, Infallible>(response.body(Full::new(Bytes::from(body))).expect("a valid response"))
                    }
                });
                let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    addr
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

/// A throwaway self-signed certificate for 127.0.0.1: (PEM certificate, TLS acceptor).
pub fn self_signed_tls() -> (String, tokio_rustls::TlsAcceptor) {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let _ = tokio_rustls::rustls::crypto::ring::default_provider().install_default();
    let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).expect("a certificate");
    let cert_der = CertificateDer::from(key.cert.der().to_vec());
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()));
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert_der], key_der)
        .expect("a TLS config");
    (key.cert.pem(), tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

// ---------------------------------------------------------------------------------------------------
// A timing proxy: forwards to an upstream and records how long each call took there.

pub struct Proxy {
    pub url: String,
    calls: Arc<Mutex<Vec<(std::time::Instant, std::time::Instant)>>>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Self {
        let http = cfn_sagemaker_autoscaling::respond::http_client().expect("an HTTP client");
        let calls: Arc<Mutex<Vec<(std::time::Instant, std::time::Instant)>>> = Arc::default();
        let recorded = calls.clone();
        let addr = serve(move |seen| {
            let (http, upstream, recorded) = (http.clone(), upstream.clone(), recorded.clone());
            async move {
                let mut request = http.request(seen.method.parse().expect("a method"), format!("{upstream}{}", seen.path));
                for (k, v) in &seen.headers {
                    if k != "host" && k != "content-length" {
                        request = request.header(k, v);
                    }
                }
                let answer = request.body(seen.body).send().await;
                let reply = match answer {
                    Ok(answer) => {
                        let status = answer.status().as_u16();
                        let headers = answer
                            .headers()
                            .iter()
                            .filter(|(k, _)| {
                                k.as_str() != "content-length" && k.as_str() != "transfer-encoding" && k.as_str() != "connection"
                            })
                            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
                            .collect();
                        (status, headers, answer.bytes().await.map(|b| b.to_vec()).unwrap_or_default())
                    }
                    Err(_) => (502, vec![], Vec::new()),
                };
                recorded.lock().unwrap().push((seen.at, std::time::Instant::now()));
                reply
            }
        })
        .await;
        Self { url: format!("http://{addr}"), calls }
    }

    /// Total time spent upstream by calls that started within `[from, to]`.
    pub fn time_within(&self, from: std::time::Instant, to: std::time::Instant) -> Duration {
        self.calls.lock().unwrap().iter().filter(|(start, end)| *start >= from && *end <= to).map(|(start, end)| *end - *start).sum()
    }
}

// ---------------------------------------------------------------------------------------------------
// The Lambda Runtime API (2018-06-01), served on loopback.

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Response(Value),
    Error(Value),
    /// No answer within the test's bound.
    Silent,
}

struct Invocation {
    id: String,
    event: Value,
    deadline_ms: u64,
}

#[derive(Default)]
struct RuntimeState {
    queue: Mutex<VecDeque<Invocation>>,
    queued: Notify,
    waiting: Mutex<HashMap<String, oneshot::Sender<Outcome>>>,
    polls: Mutex<Vec<std::time::Instant>>,
    served: Mutex<HashMap<String, std::time::Instant>>,
    init_errors: Mutex<Vec<Value>>,
}

/// An invocation's outcome with its timing.
#[derive(Debug, Clone)]
pub struct Timed {
    pub outcome: Outcome,
    /// When the function received the event (its GET /next was answered).
    pub served: Option<std::time::Instant>,
    /// When the function reported the invocation done.
    pub done: std::time::Instant,
}

/// The Runtime API a bootstrap polls.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    state: Arc<RuntimeState>,
    counter: Mutex<u64>,
}

impl RuntimeApi {
    pub async fn start() -> Self {
        let state = Arc::new(RuntimeState::default());
        let shared = state.clone();
        let addr = serve(move |seen| {
            let state = shared.clone();
            async move { runtime_route(&state, seen).await }
        })
        .await;
        Self { addr, state, counter: Mutex::new(0) }
    }

    /// Sends one event with `timeout` until its deadline, and waits (bounded) for the function's answer.
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Outcome {
        self.invoke_timed(event, timeout).await.outcome
    }

    /// As [`RuntimeApi::invoke`], with the times the event was served and answered.
    pub async fn invoke_timed(&self, event: Value, timeout: Duration) -> Timed {
        let id = {
            let mut n = self.counter.lock().unwrap();
            *n += 1;
            format!("invocation-{}", *n)
        };
        let (tx, rx) = oneshot::channel();
        self.state.waiting.lock().unwrap().insert(id.clone(), tx);
        let deadline_ms = now_ms() + timeout.as_millis() as u64;
        self.state.queue.lock().unwrap().push_back(Invocation { id: id.clone(), event, deadline_ms });
        self.state.queued.notify_one();
        let outcome = match tokio::time::timeout(timeout + Duration::from_secs(5), rx).await {
            Ok(Ok(outcome)) => outcome,
            _ => Outcome::Silent,
        };
        let served = self.state.served.lock().unwrap().remove(&id);
        Timed { outcome, served, done: std::time::Instant::now() }
    }

    /// When the function polled for its next event, in order.
    pub fn polls(&self) -> Vec<std::time::Instant> {
        self.state.polls.lock().unwrap().clone()
    }

    pub fn init_errors(&self) -> Vec<Value> {
        self.state.init_errors.lock().unwrap().clone()
    }

    pub fn env_value(&self) -> String {
        self.addr.to_string()
    }
}

async fn runtime_route(state: &RuntimeState, seen: Seen) -> Reply {
    let path = seen.path.trim_start_matches("/2018-06-01/runtime/");
    if seen.method == "GET" && path == "invocation/next" {
        state.polls.lock().unwrap().push(std::time::Instant::now());
        loop {
            let next = state.queue.lock().unwrap().pop_front();
            if let Some(inv) = next {
                state.served.lock().unwrap().insert(inv.id.clone(), std::time::Instant::now());
                let headers = vec![
                    ("Lambda-Runtime-Aws-Request-Id".to_owned(), inv.id),
                    ("Lambda-Runtime-Deadline-Ms".to_owned(), inv.deadline_ms.to_string()),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn".to_owned(),
                        "arn:aws:lambda:us-east-1:123456789012:function:cfn-sagemaker-autoscaling".to_owned(),
                    ),
                    (
                        "Lambda-Runtime-Trace-Id".to_owned(),
                        "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0".to_owned(),
                    ),
                    ("Content-Type".to_owned(), "application/json".to_owned()),
                ];
                return (200, headers, inv.event.to_string().into_bytes());
            }
            // Woken by a new event; the timeout only re-checks the queue, it is not a deadline.
            let _ = tokio::time::timeout(Duration::from_millis(500), state.queued.notified()).await;
        }
    }
    if seen.method == "POST" && path == "init/error" {
        state.init_errors.lock().unwrap().push(seen.json());
        return (202, vec![], b"{}".to_vec());
    }
    if seen.method == "POST"
        && let Some(rest) = path.strip_prefix("invocation/")
        && let Some((id, kind)) = rest.split_once('/')
    {
        let outcome = if kind == "response" { Outcome::Response(seen.json()) } else { Outcome::Error(seen.json()) };
        if let Some(tx) = state.waiting.lock().unwrap().remove(id) {
            let _ = tx.send(outcome);
        }
        return (202, vec![], b"{}".to_vec());
    }
    (404, vec![], b"{}".to_vec())
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

// ---------------------------------------------------------------------------------------------------
// The ResponseURL receiver: records every request; answers are scripted per path.

/// How the receiver answers one request on a path.
#[derive(Debug, Clone, Copy)]
pub enum Answer {
    Status(u16),
    /// Wait, then answer 200.
    Slow(Duration),
}

#[derive(Default)]
struct ReceiverState {
    seen: Mutex<Vec<Seen>>,
    script: Mutex<HashMap<String, VecDeque<Answer>>>,
    arrived: Notify,
}

/// Stands in for the presigned S3 URL CloudFormation waits on.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<ReceiverState>,
    scheme: &'static str,
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A receiver over https with the given acceptor (see [`self_signed_tls`]).
    pub async fn start_tls(acceptor: tokio_rustls::TlsAcceptor) -> Self {
        Self::start_with(Some(acceptor)).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let scheme = if tls.is_some() { "https" } else { "http" };
        let state = Arc::new(ReceiverState::default());
        let shared = state.clone();
        let addr = serve_with(
            move |seen| {
                let state = shared.clone();
                async move {
                    let answer = state.script.lock().unwrap().get_mut(&seen.path).and_then(VecDeque::pop_front);
                    state.seen.lock().unwrap().push(seen);
                    state.arrived.notify_waiters();
                    match answer {
                        None => (200, vec![], Vec::new()),
                        Some(Answer::Slow(delay)) => {
                            tokio::time::sleep(delay).await;
                            (200, vec![], Vec::new())
                        }
                        Some(Answer::Status(code)) => {
                            let body = format!("<Error><Code>Scripted{code}</Code><Message>scripted by the test</Message></Error>");
                            (code, vec![], body.into_bytes())
                        }
                    }
                }
            },
            tls,
        )
        .await;
        Self { addr, state, scheme }
    }

    /// A presigned-looking URL for one request: its own path, and a signature that must never be logged.
    pub fn url(&self, name: &str) -> String {
        format!("{}://{}/responses/{name}?{SIGNATURE}&X-Amz-Expires=7200", self.scheme, self.addr)
    }

    /// The answers to give, in order, to requests on `name`'s path; then 200.
    pub fn script(&self, name: &str, answers: &[Answer]) {
        self.state.script.lock().unwrap().insert(format!("/responses/{name}"), answers.iter().copied().collect());
    }

    /// Every request that arrived for `name`.
    pub fn seen(&self, name: &str) -> Vec<Seen> {
        let path = format!("/responses/{name}");
        self.state.seen.lock().unwrap().iter().filter(|s| s.path == path).cloned().collect()
    }

    /// Waits (bounded) until at least `count` requests arrived for `name`.
    pub async fn wait(&self, name: &str, count: usize, bound: Duration) -> Vec<Seen> {
        let end = tokio::time::Instant::now() + bound;
        loop {
            let notified = self.state.arrived.notified();
            let seen = self.seen(name);
            if seen.len() >= count || tokio::time::Instant::now() >= end {
                return seen;
            }
            let _ = tokio::time::timeout_at(end, notified).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------------
// The emulator: one moto process per test binary, shared by its tests (each uses its own resource names).

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
        let http = cfn_sagemaker_autoscaling::respond::http_client().expect("an HTTP client");
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

// ---------------------------------------------------------------------------------------------------
// The function under test: the real bootstrap, polling our Runtime API.

/// A running bootstrap process and everything around it.
pub struct Function {
    pub runtime: RuntimeApi,
    pub receiver: Receiver,
    pub emulator: Emulator,
    child: tokio::process::Child,
    logs: Arc<Mutex<Vec<String>>>,
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

/// CPU time a process has used so far, all its threads, from /proc/<pid>/task/*/schedstat (nanoseconds).
pub fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// VmHWM of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The compiled bootstrap: the test's own build, or `$CFN_SMA_BOOTSTRAP`.
pub fn bootstrap() -> PathBuf {
    if let Some(path) = std::env::var_os("CFN_SMA_BOOTSTRAP") {
        return PathBuf::from(path);
    }
    match option_env!("CARGO_BIN_EXE_cfn-sagemaker-autoscaling") {
        Some(path) => PathBuf::from(path),
        None => root().join("target/debug/cfn-sagemaker-autoscaling"),
    }
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
        Self { runtime, receiver, emulator, child, logs, started }
    }

    /// The process id, for reading its memory.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// CPU time used so far, in nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        self.pid().and_then(cpu_ns)
    }

    /// Peak resident memory so far (VmHWM), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        self.pid().and_then(peak_rss_kib)
    }

    /// Everything the function logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Is the process still running?
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends an event built by `Event` with a 30 s deadline, and returns the one PUT it caused.
    pub async fn send(&self, event: &Event) -> Value {
        self.send_within(event, Duration::from_secs(30)).await
    }

    pub async fn send_within(&self, event: &Event, timeout: Duration) -> Value {
        let outcome = self.runtime.invoke(event.json(&self.receiver), timeout).await;
        assert!(matches!(outcome, Outcome::Response(_)), "invocation of {} ended with {outcome:?}\nlogs:\n{}", event.name, self.logs());
        let puts = self.receiver.seen(&event.name);
        assert_eq!(puts.len(), 1, "expected exactly one PUT for {}, got {}\nlogs:\n{}", event.name, puts.len(), self.logs());
        puts[0].json()
    }
}

// ---------------------------------------------------------------------------------------------------
// CloudFormation events.

static COUNTER: OnceLock<Mutex<u64>> = OnceLock::new();

fn next_number() -> u64 {
    let mut n = COUNTER.get_or_init(|| Mutex::new(0)).lock().unwrap();
    *n += 1;
    *n
}

/// A CloudFormation request under construction. `name` is unique: it names the ResponseURL path.
#[derive(Debug, Clone)]
pub struct Event {
    pub name: String,
    pub body: Value,
}

/// A stack: gives events their StackId.
#[derive(Debug, Clone)]
pub struct Stack {
    pub id: String,
}

impl Stack {
    pub fn new(name: &str) -> Self {
        Self { id: format!("arn:aws:cloudformation:us-east-1:123456789012:stack/{name}/{:08x}-test", next_number()) }
    }

    pub fn create(&self, logical_id: &str, props: Value) -> Event {
        self.event("Create", logical_id, TARGET, props, None, None)
    }

    pub fn update(&self, logical_id: &str, physical_id: &str, props: Value, old_props: Value) -> Event {
        self.event("Update", logical_id, TARGET, props, Some(physical_id), Some(old_props))
    }

    pub fn delete(&self, logical_id: &str, physical_id: &str, props: Value) -> Event {
        self.event("Delete", logical_id, TARGET, props, Some(physical_id), None)
    }

    pub fn event(
        &self,
        request_type: &str,
        logical_id: &str,
        resource_type: &str,
        props: Value,
        physical_id: Option<&str>,
        old: Option<Value>,
    ) -> Event {
        let n = next_number();
        let mut body = json!({
            "RequestType": request_type,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:cfn-sagemaker-autoscaling",
            "StackId": self.id,
            "RequestId": format!("{n:08x}-1111-2222-3333-444444444444"),
            "LogicalResourceId": logical_id,
            "ResourceType": resource_type,
            "ResourceProperties": props,
        });
        if let Some(id) = physical_id {
            body["PhysicalResourceId"] = json!(id);
        }
        if let Some(old) = old {
            body["OldResourceProperties"] = old;
        }
        Event { name: format!("{}-{logical_id}-{n}", request_type.to_lowercase()), body }
    }
}

impl Event {
    /// The event as sent, with a ResponseURL on `receiver`.
    pub fn json(&self, receiver: &Receiver) -> Value {
        let mut body = self.body.clone();
        if body.get("ResponseURL").is_none() && body.is_object() {
            body["ResponseURL"] = json!(receiver.url(&self.name));
        }
        body
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body[key] = value;
        self
    }
}

/// Waits, bounded, for a channel-like condition; used where the function acts asynchronously.
pub async fn eventually<F, Fut>(bound: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + bound;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
