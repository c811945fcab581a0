//! Never leave a stack waiting: faults injected on purpose in the emulator and the ResponseURL receiver,
//! hostile and malformed events, deadlines. Each case checks the final status, that the response arrived
//! before the deadline, and that the target's state is exactly what it should be.

use cfn_sma_testkit as support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Answer, Emulator, Event, Function, Outcome, Stack, target_id, variant};
use tokio::task::JoinSet;

fn props(endpoint: &str, min: i64, max: i64) -> Value {
    json!({"ResourceId": variant(endpoint), "MinCapacity": min.to_string(), "MaxCapacity": max.to_string()})
}

// ---------------------------------------------------------------------------------------------------
// The fault matrix: {Create, Update, Delete} x AWS faults.

#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    ThrottledTwice,
    ConcurrentUpdateOnce,
    InternalServiceOnce,
    LimitExceeded,
    Hangs,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Create,
    Update,
    Delete,
}

/// What the target must look like afterwards: `None` = not registered, `Some((min, max))`.
type State = Option<(i64, i64)>;

struct Row {
    kind: Kind,
    fault: Fault,
    status: &'static str,
    after: State,
    took: Duration,
    reason: String,
    /// How many times the faulty operation was called for this event.
    attempts: usize,
}

const DEADLINE: Duration = Duration::from_secs(6);

async fn run_row(kind: Kind, fault: Fault) -> Row {
    let endpoint = format!("fm-{kind:?}-{fault:?}").to_lowercase();
    // A one-second limit per attempt: the hung call is cut short and retried within the deadline.
    let f = Function::start_with(Emulator::shared(), &[("DEADLINE_MARGIN_MS", "2500"), ("AWS_ATTEMPT_TIMEOUT_MS", "1000")]).await;
    let stack = Stack::new("matrix");
    // Update and Delete start from a registered target (min 1, max 2).
    if kind != Kind::Create {
        assert_eq!(f.send(&stack.create("Target", props(&endpoint, 1, 2))).await["Status"], "SUCCESS");
    }
    let operation = if kind == Kind::Delete { "DeregisterScalableTarget" } else { "RegisterScalableTarget" };
    let resource = variant(&endpoint);
    match fault {
        Fault::ThrottledTwice => f.emulator.fail(operation, &resource, "ThrottlingException", 2).await,
        Fault::ConcurrentUpdateOnce => f.emulator.fail(operation, &resource, "ConcurrentUpdateException", 1).await,
        Fault::InternalServiceOnce => f.emulator.fail(operation, &resource, "InternalServiceException", 1).await,
        Fault::LimitExceeded => f.emulator.fail(operation, &resource, "LimitExceededException", 5).await,
        Fault::Hangs => f.emulator.hang(operation, &resource, 30, 1).await,
    }
    let event = match kind {
        Kind::Create => stack.create("Target", props(&endpoint, 3, 6)),
        Kind::Update => stack.update("Target", &target_id(&endpoint), props(&endpoint, 3, 6), props(&endpoint, 1, 2)),
        Kind::Delete => stack.delete("Target", &target_id(&endpoint), props(&endpoint, 1, 2)),
    };
    let count = |calls: Vec<String>| calls.iter().filter(|op| *op == operation).count();
    let before = count(f.emulator.calls(&resource).await);
    let start = Instant::now();
    let body = f.send_within(&event, DEADLINE).await;
    let took = start.elapsed();
    let attempts = count(f.emulator.calls(&resource).await) - before;
    let target = f.emulator.target(&resource).await;
    let after = target.map(|t| (t["MinCapacity"].as_i64().unwrap(), t["MaxCapacity"].as_i64().unwrap()));
    let status = if body["Status"] == "SUCCESS" { "SUCCESS" } else { "FAILED" };
    if status == "FAILED" {
        let expected_id = if kind == Kind::Create { None } else { Some(target_id(&endpoint)) };
        if let Some(id) = expected_id {
            assert_eq!(body["PhysicalResourceId"], id.as_str(), "{kind:?}/{fault:?}: a failed {kind:?} echoes its id");
        } else {
            assert!(!body["PhysicalResourceId"].as_str().unwrap().contains('|'));
        }
    }
    Row { kind, fault, status, after, took, reason: body["Reason"].as_str().unwrap_or_default().to_owned(), attempts }
}

fn expected(kind: Kind, fault: Fault) -> (&'static str, State) {
    let recovered = fault != Fault::LimitExceeded;
    match (kind, recovered) {
        (Kind::Create, true) => ("SUCCESS", Some((3, 6))),
        (Kind::Create, false) => ("FAILED", None),
        (Kind::Update, true) => ("SUCCESS", Some((3, 6))),
        (Kind::Update, false) => ("FAILED", Some((1, 2))),
        (Kind::Delete, true) => ("SUCCESS", None),
        (Kind::Delete, false) => ("FAILED", Some((1, 2))),
    }
}

async fn matrix_for(kind: Kind) {
    let mut rows = JoinSet::new();
    for fault in [Fault::ThrottledTwice, Fault::ConcurrentUpdateOnce, Fault::InternalServiceOnce, Fault::LimitExceeded, Fault::Hangs] {
        rows.spawn(run_row(kind, fault));
    }
    let mut failures = Vec::new();
    while let Some(row) = rows.join_next().await {
        let row = row.expect("a matrix row panicked");
        let (status, after) = expected(row.kind, row.fault);
        println!(
            "| {:?} | {:?} | {} | {:?} | {} | {} ms | {} |",
            row.kind,
            row.fault,
            row.status,
            row.after,
            row.attempts,
            row.took.as_millis(),
            row.reason
        );
        if row.status != status || row.after != after || row.took >= DEADLINE {
            failures.push(format!(
                "{:?}/{:?}: got {} {:?} in {:?} ({}), want {status} {after:?}",
                row.kind, row.fault, row.status, row.after, row.took, row.reason
            ));
        }
        let want_attempts = match row.fault {
            Fault::ThrottledTwice => 3,
            Fault::ConcurrentUpdateOnce | Fault::InternalServiceOnce | Fault::Hangs => 2,
            Fault::LimitExceeded => 1,
        };
        assert_eq!(row.attempts, want_attempts, "{:?}/{:?}: attempts of the faulty call", row.kind, row.fault);
        if row.fault == Fault::LimitExceeded {
            assert!(row.reason.contains("LimitExceededException"), "{}", row.reason);
        }
        if row.fault == Fault::Hangs {
            assert!(row.took < Duration::from_millis(2500), "{:?}: the hung attempt was not cut at 1 s", row.took);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_create() {
    matrix_for(Kind::Create).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_update() {
    matrix_for(Kind::Update).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix_delete() {
    matrix_for(Kind::Delete).await;
}

// ---------------------------------------------------------------------------------------------------
// The ResponseURL misbehaving.

async fn create_with_receiver_script(endpoint: &str, answers: &[Answer]) -> (Function, Event, Vec<support::Seen>, Outcome, Duration) {
    let f = Function::start().await;
    let event = Stack::new("put").create("Target", props(endpoint, 1, 2));
    f.receiver.script(&event.name, answers);
    let start = Instant::now();
    let outcome = f.invoke(&event, Duration::from_secs(20)).await;
    let took = start.elapsed();
    let puts = f.receiver.seen(&event.name);
    (f, event, puts, outcome, took)
}

#[tokio::test]
async fn a_put_answered_500_twice_is_retried_until_delivered() {
    let (f, _, puts, outcome, _) = create_with_receiver_script("put-500", &[Answer::Status(500), Answer::Status(500)]).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    assert_eq!(puts.len(), 3, "{}", f.logs());
    assert!(puts.windows(2).all(|w| w[0].body == w[1].body), "every retry sends the same body");
    assert_eq!(puts[2].json()["Status"], "SUCCESS");
}

#[tokio::test]
async fn a_put_answered_503_once_is_retried() {
    let (_, _, puts, outcome, _) = create_with_receiver_script("put-503", &[Answer::Status(503)]).await;
    assert!(matches!(outcome, Outcome::Response(_)));
    assert_eq!(puts.len(), 2);
}

#[tokio::test]
async fn a_put_answered_403_is_final_and_logged_with_the_s3_code() {
    let (f, _, puts, outcome, _) = create_with_receiver_script("put-403", &[Answer::Status(403), Answer::Status(403)]).await;
    assert!(matches!(outcome, Outcome::Response(_)), "the invocation still succeeds: {outcome:?}");
    assert_eq!(puts.len(), 1, "a 4xx is not retried");
    assert!(f.logs().contains("Scripted403"), "the log names S3's error code: {}", f.logs());
}

#[tokio::test]
async fn a_slow_receiver_still_gets_one_response() {
    let (_, _, puts, outcome, took) = create_with_receiver_script("put-slow", &[Answer::Slow(Duration::from_secs(2))]).await;
    assert!(matches!(outcome, Outcome::Response(_)));
    assert_eq!(puts.len(), 1);
    assert!(took >= Duration::from_secs(2));
}

#[tokio::test]
async fn a_receiver_that_never_answers_in_time_does_not_outlive_the_deadline() {
    let f = Function::start().await;
    let event = Stack::new("put").create("Target", props("put-stuck", 1, 2));
    f.receiver.script(&event.name, &[Answer::Slow(Duration::from_secs(60))]);
    let start = Instant::now();
    let outcome = f.invoke(&event, Duration::from_secs(5)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(5), "the invocation ended after its deadline: {:?}", start.elapsed());
    assert!(f.logs().contains("response not delivered"), "{}", f.logs());
    assert!(!f.logs().contains("SECRETSIGNATURE"), "a network error leaked the presigned URL into the logs:\n{}", f.logs());
}

// ---------------------------------------------------------------------------------------------------
// Deadlines: an Application Auto Scaling endpoint that accepts connections and never answers.

async fn silent_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Accept and hold every connection without a byte in reply; bounded by the test's lifetime.
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    format!("http://{addr}")
}

async fn deadline_case(seconds: u64) {
    let endpoint = silent_endpoint().await;
    let f = Function::start_with(Emulator::pointing_at(endpoint), &[]).await;
    let event = Stack::new("deadline").create("Target", props(&format!("deadline-{seconds}"), 1, 2));
    let start = Instant::now();
    let deadline = Duration::from_secs(seconds);
    let outcome = f.invoke(&event, deadline).await;
    let puts = f.receiver.wait(&event.name, 1, Duration::ZERO).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    assert!(start.elapsed() < deadline, "answered after the deadline: {:?}", start.elapsed());
    assert_eq!(puts.len(), 1);
    let body = puts[0].json();
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().starts_with("timed out waiting for DescribeEndpoint"), "{body}");
}

#[tokio::test]
async fn a_hanging_endpoint_gets_a_failed_before_a_5_second_deadline() {
    deadline_case(5).await;
}

#[tokio::test]
async fn a_hanging_endpoint_gets_a_failed_before_a_10_second_deadline() {
    deadline_case(10).await;
}

// ---------------------------------------------------------------------------------------------------
// Malformed and hostile events.

#[tokio::test]
async fn malformed_events_get_a_failed_that_echoes_what_could_be_read() {
    let f = Function::start().await;
    let stack = Stack::new("malformed");
    let base = stack.create("Target", props("malformed", 1, 2));
    let cases: Vec<(Event, &str)> = vec![
        (
            stack.event("Upsert", "T", support::TARGET, props("malformed", 1, 2), Some("pid-1"), None),
            "RequestType \"Upsert\" is not Create, Update or Delete",
        ),
        (stack.create("Target", json!("a string")), "ResourceProperties must be an object"),
        (stack.create("Target", json!(["a", "list"])), "ResourceProperties must be an object"),
        (stack.create("Target", json!({"ResourceId": ["endpoint"], "MinCapacity": 1, "MaxCapacity": 2})), "ResourceId must be a string"),
        (
            stack.create("Target", json!({"ResourceId": variant("malformed"), "MinCapacity": true, "MaxCapacity": 2})),
            "MinCapacity must be an integer",
        ),
        (base.clone().with("StackId", Value::Null), "StackId is missing"),
        (base.clone().with("RequestId", json!(42)), "RequestId is missing"),
        (stack.event("Create", "T", "Custom::Nope", json!({}), None, None), "unsupported ResourceType \"Custom::Nope\""),
    ];
    for (event, reason) in cases {
        let mut event = event;
        event.name = format!("{}-{}", event.name, reason.len());
        let body = f.send(&event).await;
        assert_eq!(body["Status"], "FAILED", "{reason}: {body}");
        assert!(body["Reason"].as_str().unwrap().starts_with(reason), "want {reason:?}: {body}");
        for key in ["StackId", "RequestId", "LogicalResourceId"] {
            let sent = event.body.get(key).and_then(Value::as_str).unwrap_or_default();
            assert_eq!(body[key], sent, "{reason}: {key} must echo what was readable");
        }
        if reason.starts_with("RequestType") {
            assert_eq!(body["PhysicalResourceId"], "pid-1", "an unknown RequestType echoes the request's physical id");
        }
    }
}

#[tokio::test]
async fn an_event_without_a_response_url_is_an_invocation_error_and_the_next_event_is_served() {
    let f = Function::start().await;
    let outcome = f.runtime.invoke(json!({"RequestType": "Create", "StackId": "s"}), Duration::from_secs(10)).await;
    assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
    let outcome = f.runtime.invoke(json!("just a string"), Duration::from_secs(10)).await;
    assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
    let body = f.send(&Stack::new("after").create("Target", props("after-unreadable", 1, 2))).await;
    assert_eq!(body["Status"], "SUCCESS");
}

#[tokio::test]
async fn sns_records_are_unwrapped_and_each_answered() {
    let f = Function::start().await;
    let stack = Stack::new("sns");
    let a = stack.create("A", props("sns-a", 1, 2));
    let b = stack.create("B", props("sns-b", 0, 3));
    let records: Vec<Value> =
        [&a, &b].iter().map(|e| json!({"EventSource": "aws:sns", "Sns": {"Message": e.json(&f.receiver).to_string()}})).collect();
    for event in [&a, &b] {
        f.emulator.seed_for(&event.body).await;
    }
    let outcome = f.runtime.invoke(json!({"Records": records}), Duration::from_secs(30)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    for event in [&a, &b] {
        let puts = f.receiver.seen(&event.name);
        assert_eq!(puts.len(), 1, "{}", event.name);
        assert_eq!(puts[0].json()["Status"], "SUCCESS");
    }
    assert!(f.emulator.target(&variant("sns-b")).await.is_some());
}

#[tokio::test]
async fn a_huge_reason_is_cut_to_fit_4096_bytes() {
    let f = Function::start().await;
    let mut properties = props("huge", 1, 2);
    properties[format!("Typo{}", "é".repeat(3000))] = json!(1);
    let event = Stack::new("huge").create("Target", properties);
    let body = f.send(&event).await;
    let put = &f.receiver.seen(&event.name)[0];
    assert!(put.body.len() <= 4096, "{}", put.body.len());
    assert_eq!(put.headers["content-length"], put.body.len().to_string());
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().starts_with("unknown property Typo"));
}

#[tokio::test]
async fn json_logs_carry_the_request_fields_and_never_the_signature() {
    let f = Function::start_with(Emulator::shared(), &[("AWS_LAMBDA_LOG_FORMAT", "JSON")]).await;
    let event = Stack::new("logs").create("LoggedTarget", props("json-logs", 1, 2));
    assert_eq!(f.send(&event).await["Status"], "SUCCESS");
    let logs = f.logs();
    assert!(!logs.contains("SECRETSIGNATURE"));
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let response =
        lines.iter().find(|l| l["fields"]["message"] == "response").unwrap_or_else(|| panic!("no JSON response line in:\n{logs}"));
    let span = &response["span"];
    assert_eq!(span["RequestId"], event.body["RequestId"]);
    assert_eq!(span["LogicalResourceId"], "LoggedTarget");
    assert_eq!(span["RequestType"], "Create");
    assert_eq!(span["ResourceType"], support::TARGET);
}

#[tokio::test]
async fn iam_propagation_is_retried_and_a_plain_validation_error_is_not() {
    let f = Function::start().await;
    let stack = Stack::new("iam");
    let resource = variant("iam-propagation");
    f.emulator
        .control_fault(json!({"operation": "RegisterScalableTarget", "match": resource, "error": "ValidationException", "message": "Unable to assume IAM role: arn:aws:iam::123456789012:role/new-role", "times": 2}))
        .await;
    let body = f.send(&stack.create("Target", props("iam-propagation", 1, 2))).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}");
    assert_eq!(f.emulator.calls(&resource).await.iter().filter(|op| *op == "RegisterScalableTarget").count(), 3);

    let resource = variant("iam-invalid");
    f.emulator.fail("RegisterScalableTarget", &resource, "ValidationException", 1).await;
    let body = f.send(&stack.create("Other", props("iam-invalid", 1, 2))).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().starts_with("RegisterScalableTarget failed: ValidationException: injected"), "{body}");
    assert_eq!(f.emulator.calls(&resource).await.iter().filter(|op| *op == "RegisterScalableTarget").count(), 1);
}
