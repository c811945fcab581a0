//! Responses go only to CloudFormation's S3: redirects, look-alike hosts, refused URLs, deep events, hung
//! calls. Each "never contacted" is observed by a tripwire that records every connection made to it.

use std::time::{Duration, Instant};

use cfn_sma_testkit as support;
use serde_json::{Value, json};
use support::{Answer, Emulator, Function, Outcome, Program, Receiver, Stack, Tripwire, variant};

fn props(endpoint: &str) -> Value {
    json!({"ResourceId": variant(endpoint), "MinCapacity": "1", "MaxCapacity": "2"})
}

/// A function whose allow-list names the receiver's own port only, with `env` added.
async fn strict_function(env: &[(&str, &str)]) -> Function {
    let receiver = Receiver::start().await;
    let allowed = format!("127.0.0.1:{}", receiver.addr.port());
    let mut all = vec![("RESPONSE_URL_ALLOWED_HOSTS", allowed.as_str())];
    all.extend_from_slice(env);
    Function::start_program(&Program::binary(&support::function::bootstrap()), Emulator::shared(), receiver, &all).await
}

/// A function that sends every http and https request through `proxy`, except to loopback.
async fn proxied_function(proxy: &Tripwire) -> Function {
    let proxy_url = proxy.url("http", "");
    strict_function(&[("HTTPS_PROXY", &proxy_url), ("HTTP_PROXY", &proxy_url), ("NO_PROXY", "127.0.0.1")]).await
}

#[tokio::test]
async fn every_redirect_to_a_refused_host_is_final_and_the_host_never_contacted() {
    let elsewhere = Tripwire::start().await;
    let proxy = Tripwire::start().await;
    let f = proxied_function(&proxy).await;
    let stack = Stack::new("redirects");
    let locations = [
        elsewhere.url("http", "/stolen?X-Amz-Signature=x"),
        elsewhere.url("https", "/stolen"),
        "https://abc123.execute-api.us-east-1.amazonaws.com/prod/stolen".to_owned(),
    ];
    for status in [301, 302, 303, 307, 308] {
        for (i, location) in locations.iter().enumerate() {
            let event = stack.create("Target", props(&format!("redirect-{status}-{i}")));
            f.receiver.script(&event.name, &[Answer::Redirect(status, location.clone())]);
            let outcome = f.invoke(&event, Duration::from_secs(10)).await;
            assert!(matches!(outcome, Outcome::Response(_)), "{status} to {location}: the invocation still succeeds: {outcome:?}");
            assert_eq!(f.receiver.seen(&event.name).len(), 1, "{status} to {location}: a redirect is final, not retried");
        }
        assert!(f.logs().contains(&format!("HTTP {status} redirect not followed")), "{status}:\n{}", f.logs());
    }
    assert_eq!(elsewhere.hits(), Vec::<String>::new(), "a refused Location was contacted");
    assert_eq!(proxy.hits(), Vec::<String>::new(), "a refused Location was contacted through the proxy");
    assert!(!f.logs().contains("SECRETSIGNATURE"));
}

#[tokio::test]
async fn a_307_or_308_to_an_allowed_url_is_followed_with_the_same_put() {
    let f = strict_function(&[]).await;
    let stack = Stack::new("redirects");
    for status in [307, 308] {
        let event = stack.create("Target", props(&format!("redirect-ok-{status}")));
        let moved = format!("{}-moved", event.name);
        f.receiver.script(&event.name, &[Answer::Redirect(status, f.receiver.path_url(&moved))]);
        let outcome = f.invoke(&event, Duration::from_secs(20)).await;
        assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
        let first = f.receiver.seen(&event.name);
        let delivered = f.receiver.seen(&moved);
        assert_eq!((first.len(), delivered.len()), (1, 1), "{status}\n{}", f.logs());
        assert_eq!(delivered[0].method, "PUT");
        assert_eq!(delivered[0].body, first[0].body);
        assert_eq!(delivered[0].json()["Status"], "SUCCESS");
    }
}

#[tokio::test]
async fn a_chain_of_more_than_three_redirects_stops_at_the_fourth() {
    let f = strict_function(&[]).await;
    let event = Stack::new("redirects").create("Target", props("redirect-chain"));
    let hops: Vec<String> = (1..=4).map(|n| format!("{}-hop{n}", event.name)).collect();
    f.receiver.script(&event.name, &[Answer::Redirect(307, f.receiver.path_url(&hops[0]))]);
    for n in 0..3 {
        f.receiver.script(&hops[n], &[Answer::Redirect(307, f.receiver.path_url(&hops[n + 1]))]);
    }
    let outcome = f.invoke(&event, Duration::from_secs(20)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    let seen: Vec<usize> = hops.iter().map(|h| f.receiver.seen(h).len()).collect();
    assert_eq!(f.receiver.seen(&event.name).len(), 1);
    assert_eq!(seen, vec![1, 1, 1, 0], "three redirects are followed, the fourth is not");
    assert!(f.logs().contains("more than 3 redirects"), "{}", f.logs());
}

#[tokio::test]
async fn non_s3_aws_hosts_are_refused_before_any_connection_and_any_aws_call() {
    let proxy = Tripwire::start().await;
    let f = proxied_function(&proxy).await;
    let stack = Stack::new("hosts");
    for (i, host) in [
        "abc123.execute-api.us-east-1.amazonaws.com",
        "my-alb-1234.us-east-1.elb.amazonaws.com",
        "ec2-203-0-113-5.compute-1.amazonaws.com",
        "bucket.s3-website-us-east-1.amazonaws.com",
        "ap-123456789012.s3-accesspoint.us-east-1.amazonaws.com",
        "s3.amazonaws.com.evil.example",
    ]
    .iter()
    .enumerate()
    {
        let endpoint = format!("refused-host-{i}");
        let url = format!("https://{host}/responses/x?{}", support::SIGNATURE);
        let event = stack.create("Target", props(&endpoint)).with("ResponseURL", json!(url));
        let outcome = f.invoke(&event, Duration::from_secs(10)).await;
        assert!(matches!(outcome, Outcome::Error(_)), "{host}: a refused URL fails the invocation: {outcome:?}");
        assert_eq!(f.emulator.calls(&variant(&endpoint)).await, Vec::<String>::new(), "{host}: an AWS call was made");
        assert_eq!(f.emulator.sagemaker_calls(&endpoint).await, Vec::<String>::new(), "{host}: a SageMaker call was made");
    }
    assert_eq!(proxy.hits(), Vec::<String>::new(), "a refused host was contacted through the proxy");
    // The same proxy does see an S3 host: the observation above could have failed.
    let s3 = "cloudformation-custom-resource-response-useast1.s3.amazonaws.com";
    let event = stack.create("Target", props("proxied-s3")).with("ResponseURL", json!(format!("https://{s3}/x?{}", support::SIGNATURE)));
    let outcome = f.invoke(&event, Duration::from_secs(5)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    let hits = proxy.hits();
    assert!(hits.iter().any(|h| h.starts_with(&format!("CONNECT {s3}:443"))), "{hits:?}\n{}", f.logs());
    assert!(!f.logs().contains("SECRETSIGNATURE"));
}

#[tokio::test]
async fn a_refused_url_does_nothing_else_and_fails_the_invocation() {
    let f = strict_function(&[]).await;
    let resource = variant("refused-url");
    // `localhost` is loopback, but the allow-list names 127.0.0.1 on the receiver's port only.
    let url = format!("http://localhost:{}/responses/refused?{}", f.receiver.addr.port(), support::SIGNATURE);
    let event = Stack::new("refused").create("Target", props("refused-url")).with("ResponseURL", json!(url));
    let outcome = f.invoke(&event, Duration::from_secs(10)).await;
    let Outcome::Error(error) = outcome else { panic!("a refused URL must fail the invocation: {outcome:?}") };
    assert!(error["errorMessage"].as_str().unwrap().contains("ResponseURL http://localhost"), "{error}");
    assert!(f.receiver.seen("refused").is_empty(), "a refused URL was contacted");
    assert_eq!(f.emulator.calls(&resource).await, Vec::<String>::new(), "no AWS call for a refused URL");
    assert_eq!(f.emulator.sagemaker_calls("refused-url").await, Vec::<String>::new(), "no SageMaker call for a refused URL");
    assert_eq!(f.emulator.target(&resource).await, None);
    let refusal: Vec<String> = f.logs().lines().filter(|l| l.contains("ResponseURL refused")).map(str::to_owned).collect();
    assert_eq!(refusal.len(), 1, "one log line says why:\n{}", f.logs());
    assert!(!f.logs().contains("SECRETSIGNATURE"));
    // The process keeps serving.
    let next = Stack::new("refused").create("Target", props("after-refused"));
    assert_eq!(f.send(&next).await["Status"], "SUCCESS");
}

#[tokio::test]
async fn an_allow_list_entry_with_a_port_allows_that_port_only() {
    let f = strict_function(&[]).await;
    let other = Receiver::start().await;
    let stack = Stack::new("ports");
    let listed = stack.create("Target", props("port-listed"));
    assert_eq!(f.send(&listed).await["Status"], "SUCCESS");
    let unlisted = stack.create("Target", props("port-unlisted"));
    let outcome = f.runtime.invoke(unlisted.json(&other), Duration::from_secs(10)).await;
    assert!(matches!(outcome, Outcome::Error(_)), "{outcome:?}");
    assert!(other.seen(&unlisted.name).is_empty(), "the receiver on an unlisted port was contacted");
    assert_eq!(f.emulator.target(&variant("port-unlisted")).await, None);
}

/// `depth` nested objects: valid JSON that serde_json's `Value` parser refuses past 128 levels.
fn nested(depth: usize) -> Value {
    (0..depth).fold(json!(1), |inner, _| json!({ "Deeper": inner }))
}

#[tokio::test]
async fn a_property_nested_200_levels_deep_gets_a_failed_naming_it() {
    let f = Function::start().await;
    let mut properties = props("deep-event");
    properties["Tags"] = nested(200);
    let event = Stack::new("deep").create("Target", properties);
    let body = f.send(&event).await;
    assert_eq!(body["Status"], "FAILED");
    assert!(body["Reason"].as_str().unwrap().starts_with("ResourceProperties.Tags is nested too deeply"), "{body}");
    assert_eq!(f.emulator.target(&variant("deep-event")).await, None);
    // A Delete never validates properties: it still succeeds.
    let delete = Stack::new("deep").delete("Target", "create-failed-x", json!({"Tags": nested(300)}));
    assert_eq!(f.send(&delete).await["Status"], "SUCCESS");
}

#[tokio::test]
async fn an_aws_call_that_hangs_once_is_retried_after_its_attempt_time_limit() {
    let f = Function::start_with(Emulator::shared(), &[("AWS_ATTEMPT_TIMEOUT_MS", "1000")]).await;
    let resource = variant("hung-once");
    f.emulator.hang("DescribeScalableTargets", &resource, 60, 1).await;
    let start = Instant::now();
    let body = f.send_within(&Stack::new("hung").create("Target", props("hung-once")), Duration::from_secs(30)).await;
    assert_eq!(body["Status"], "SUCCESS", "{body}\n{}", f.logs());
    assert!(start.elapsed() < Duration::from_secs(8), "took {:?}: the hung attempt was not cut short", start.elapsed());
    let describes = f.emulator.calls(&resource).await.iter().filter(|op| *op == "DescribeScalableTargets").count();
    assert!(describes >= 2, "the hung call was retried: {describes}");
}

#[tokio::test]
async fn a_huge_receiver_answer_is_read_only_in_part() {
    let f = Function::start().await;
    let event = Stack::new("huge").create("Target", props("huge-answer"));
    f.receiver.script(&event.name, &[Answer::Huge(403, 96 << 20)]);
    let outcome = f.invoke(&event, Duration::from_secs(20)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    assert!(f.logs().contains("content type application/xml (S3 error code SlowDown)"), "{}", f.logs());
    let rss = support::function::peak_rss_kib(f.pid().expect("running"));
    assert!(rss.is_some_and(|kib| kib < 48 << 10), "peak RSS {rss:?} KiB: the 96 MB answer was read whole");
}

/// An "AWS endpoint" that answers every request with `answer` (raw HTTP/1.1 bytes) and closes.
async fn endpoint_answering(answer: &'static [u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = vec![0; 64 << 10];
                let _ = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut request)).await;
                let _ = stream.write_all(answer).await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn answers_that_are_not_aws_become_one_line_reasons() {
    let cases: [(&[u8], &str); 2] = [
        (
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\nContent-Length: 26\r\nConnection: close\r\n\r\n<html>\n<b>Nope</b>\n</html>",
            "DescribeEndpoint failed: HTTP 400: an answer that is not an AWS error (content type text/html)",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 900\r\nConnection: close\r\n\r\n{\"ScalableTargets\": [",
            "DescribeEndpoint failed: ",
        ),
    ];
    for (answer, expected) in cases {
        let f = Function::start_with(Emulator::pointing_at(endpoint_answering(answer).await), &[("DEADLINE_MARGIN_MS", "1000")]).await;
        let body = f.send_within(&Stack::new("foreign").create("Target", props("foreign-answer")), Duration::from_secs(6)).await;
        let reason = body["Reason"].as_str().unwrap();
        assert_eq!(body["Status"], "FAILED");
        assert!(reason.starts_with(expected), "{reason}");
        assert!(reason.len() < 400 && !reason.contains("SdkBody") && !reason.contains("{ "), "a debug dump: {reason}");
    }
}

#[tokio::test]
async fn certificates_are_verified_and_ssl_cert_file_adds_a_trusted_root() {
    let (cert_pem, acceptor) = support::http::self_signed_tls();
    let bundle = std::env::temp_dir().join(format!("cfn-sma-test-ca-{}.pem", std::process::id()));
    std::fs::write(&bundle, &cert_pem).unwrap();
    let program = Program::binary(&support::function::bootstrap());
    let trusting = Function::start_program(
        &program,
        Emulator::shared(),
        Receiver::start_tls(acceptor.clone()).await,
        &[("SSL_CERT_FILE", bundle.to_str().unwrap())],
    )
    .await;
    let event = Stack::new("tls").create("Target", props("tls-trusted"));
    assert_eq!(trusting.send(&event).await["Status"], "SUCCESS", "{}", trusting.logs());

    let strict = Function::start_program(&program, Emulator::shared(), Receiver::start_tls(acceptor).await, &[]).await;
    let event = Stack::new("tls").create("Target", props("tls-untrusted"));
    let outcome = strict.invoke(&event, Duration::from_secs(5)).await;
    assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
    assert!(strict.receiver.seen(&event.name).is_empty(), "a certificate from an unknown authority was accepted");
    assert!(strict.logs().contains("response not delivered"), "{}", strict.logs());
    let _ = std::fs::remove_file(&bundle);
}
