//! The ResponseURL receiver: records every request; answers are scripted per path.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::SIGNATURE;
use crate::http::{Seen, serve_with};

/// How the receiver answers one request on a path.
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16),
    /// A redirect: the status and the `Location` header.
    Redirect(u16, String),
    /// An answer with a body larger than anyone should read (bytes), and a content type.
    Huge(u16, usize),
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
                        Some(Answer::Redirect(code, location)) => (code, vec![("Location".to_owned(), location)], Vec::new()),
                        Some(Answer::Huge(code, size)) => {
                            let mut body = b"<Error><Code>SlowDown</Code>".to_vec();
                            body.resize(size, b' ');
                            (code, vec![("Content-Type".to_owned(), "application/xml".to_owned())], body)
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
        self.state.script.lock().unwrap().insert(format!("/responses/{name}"), answers.iter().cloned().collect());
    }

    /// The URL of a path of this receiver (no signature: for redirect targets).
    pub fn path_url(&self, name: &str) -> String {
        format!("{}://{}/responses/{name}", self.scheme, self.addr)
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
