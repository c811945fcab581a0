//! The Lambda Runtime API (2018-06-01), served on loopback.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::sync::{Notify, oneshot};

use crate::http::{Reply, Seen, serve};

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
        self.invoke_with_id(event, timeout, &id).await
    }

    /// An invocation with Lambda's request id `id`: Lambda's retry of an asynchronous event keeps the id of the
    /// first attempt.
    pub async fn invoke_with_id(&self, event: Value, timeout: Duration, id: &str) -> Timed {
        let id = id.to_owned();
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
