//! `make bench`: the release bootstrap and a crhelper peer, side by side, through the same loopback Lambda
//! Runtime API, Application Auto Scaling emulator (behind a timing proxy) and https ResponseURL receiver.
//!
//! Reports medians over repeated runs and peer/project ratios, writes `bench/results/results.{md,json}`, and
//! copies the table into README.md between the `bench:begin`/`bench:end` markers.
//!
//! Environment: `CFN_SMA_BOOTSTRAP` (the release bootstrap), `BENCH_PEER_PYTHON` (a Python with crhelper,
//! boto3 and awslambdaric), `BENCH_RUNS` (cold starts per subject, default 15), `BENCH_WARM` (warm events,
//! default 1000), `BENCH_ZIP` (the arm64 zip), `BENCH_BUILD_SECONDS` (a measured clean release build, if any),
//! `BENCH_FLOOR` (bench/floor's release binary: init is measured against it, `BENCH_FLOOR_RUNS` alternating starts
//! each, default 101).

use cfn_sma_testkit as support;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Emulator, Event, Function, Program, Receiver, RuntimeApi, Stack};
use tokio::task::JoinSet;

const LOAD_PROCESSES: usize = 8;
const LOAD_THROTTLE: f64 = 0.2;

struct Subject {
    name: &'static str,
    program: Program,
    env: Vec<(String, String)>,
    /// The ResponseURL receiver speaks https with a throwaway CA (which the subject must be told about), or
    /// plain http on loopback (the Lambda-like environment: no CA file, nothing to trust but the built-in roots).
    https: bool,
}

#[derive(Default)]
struct Figures {
    init_ms: Vec<f64>,
    first_wall_ms: Vec<f64>,
    first_own_ms: Vec<f64>,
    first_rss_kib: Vec<f64>,
    first_cpu_ms: Vec<f64>,
    warm_cpu_ms: Option<f64>,
    warm_wall_ms: Vec<f64>,
    warm_own_ms: Vec<f64>,
    warm_rss_kib: Option<u64>,
    load_seconds: Option<f64>,
    load_success: usize,
    load_answers: usize,
}

/// Variants in the load run (each a target, a policy and a schedule); `BENCH_LOAD_VARIANTS`, default 200.
fn load_variants() -> usize {
    std::env::var("BENCH_LOAD_VARIANTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn median(values: &[f64]) -> f64 {
    percentile(values, 50.0)
}

fn env_pairs(subject: &Subject) -> Vec<(&str, &str)> {
    subject.env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn target_props(endpoint: &str) -> Value {
    json!({"ResourceId": format!("endpoint/{endpoint}/variant/AllTraffic"), "MinCapacity": "1", "MaxCapacity": "4"})
}

fn target_id(endpoint: &str) -> String {
    format!("endpoint/{endpoint}/variant/AllTraffic|sagemaker:variant:DesiredInstanceCount|sagemaker")
}

async fn wait_for_poll(f: &Function) -> Option<Duration> {
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        if let Some(first) = f.runtime.polls().first() {
            return Some(*first - f.started);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    None
}

/// Sends one event and returns (wall, own) where wall runs from the event being served to its PUT arriving,
/// and own is wall minus the time spent in the emulator (measured by the proxy).
async fn timed_event(f: &Function, proxy: &Proxy, event: &Event) -> Option<(Duration, Duration)> {
    let timed = f.runtime.invoke_timed(event.json(&f.receiver), Duration::from_secs(60)).await;
    let puts = f.receiver.wait(&event.name, 1, Duration::from_secs(5)).await;
    let put = puts.first()?;
    if put.json()["Status"] != "SUCCESS" {
        eprintln!("{}: {}\n{}", event.name, put.json(), f.logs());
        return None;
    }
    let served = timed.served?;
    let wall = put.at.saturating_duration_since(served);
    let aws = proxy.time_within(served, put.at);
    Some((wall, wall.saturating_sub(aws)))
}

async fn receiver(subject: &Subject, tls: &support::http::TlsAcceptor) -> Receiver {
    if subject.https { Receiver::start_tls(tls.clone()).await } else { Receiver::start().await }
}

/// Cold starts, then warm events on one process. `seed` is the emulator itself (the subjects reach it through
/// the proxy): the endpoints the events name are created there first, InService, as a real stack's would be.
async fn cold_and_warm(
    subject: &Subject,
    proxy: &Proxy,
    seed: &Emulator,
    tls: &support::http::TlsAcceptor,
    runs: usize,
    warm: usize,
) -> Figures {
    let mut figures = Figures::default();
    let env = env_pairs(subject);
    for run in 0..runs {
        let endpoint = format!("bench-cold-{}-{run}", subject.name);
        seed.endpoint(&endpoint, "AllTraffic").await;
        let f =
            Function::start_program(&subject.program, Emulator::pointing_at(proxy.url.clone()), receiver(subject, tls).await, &env).await;
        let Some(init) = wait_for_poll(&f).await else {
            eprintln!("{}: no poll within 60 s\n{}", subject.name, f.logs());
            continue;
        };
        figures.init_ms.push(ms(init));
        let event = Stack::new("bench").create("Target", target_props(&endpoint));
        let cpu_before = f.pid().and_then(cpu_ns);
        if let Some((wall, own)) = timed_event(&f, proxy, &event).await {
            figures.first_wall_ms.push(ms(wall));
            figures.first_own_ms.push(ms(own));
        }
        if let (Some(before), Some(after)) = (cpu_before, f.pid().and_then(cpu_ns)) {
            figures.first_cpu_ms.push((after - before) as f64 / 1e6);
        }
        if let Some(rss) = f.pid().and_then(support::function::peak_rss_kib) {
            figures.first_rss_kib.push(rss as f64);
        }
    }
    if warm == 0 {
        return figures;
    }
    let f = Function::start_program(&subject.program, Emulator::pointing_at(proxy.url.clone()), receiver(subject, tls).await, &env).await;
    wait_for_poll(&f).await;
    let stack = Stack::new("bench-warm");
    let endpoint = format!("bench-warm-{}", subject.name);
    seed.endpoint(&endpoint, "AllTraffic").await;
    let cpu_before = f.pid().and_then(cpu_ns);
    for i in 0..warm {
        let event = if i % 2 == 0 {
            stack.create("Target", target_props(&endpoint))
        } else {
            stack.delete("Target", &target_id(&endpoint), target_props(&endpoint))
        };
        if let Some((wall, own)) = timed_event(&f, proxy, &event).await {
            figures.warm_wall_ms.push(ms(wall));
            figures.warm_own_ms.push(ms(own));
        }
    }
    if let (Some(before), Some(after)) = (cpu_before, f.pid().and_then(cpu_ns)) {
        figures.warm_cpu_ms = Some((after - before) as f64 / 1e6 / warm.max(1) as f64);
    }
    figures.warm_rss_kib = f.pid().and_then(support::function::peak_rss_kib);
    figures
}

/// Init (start to the first `GET /next`) of `subject` and of the floor (the smallest lambda_runtime + tokio
/// function, bench/floor), started alternately `runs` times each in the same environment, so that both see the
/// same machine: the medians, and the ratio of the medians.
async fn init_against_floor(subject: &Subject, floor: &Program, proxy: &Proxy, runs: usize) -> (f64, f64) {
    let env = env_pairs(subject);
    let (mut ours, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (program, into) in [(&subject.program, &mut ours), (floor, &mut floors)] {
            let f = Function::start_program(program, Emulator::pointing_at(proxy.url.clone()), Receiver::start().await, &env).await;
            if let Some(init) = wait_for_poll(&f).await {
                into.push(ms(init));
            }
        }
    }
    (median(&ours), median(&floors))
}

/// 200 variants, each a target, then a policy and a schedule on it, sent to 8 function processes at once,
/// with a fifth of all Application Auto Scaling calls answered ThrottlingException.
async fn load(subject: &Subject, emulator: &Emulator, tls: &support::http::TlsAcceptor, figures: &mut Figures) {
    let tag = format!("bench-load-{}-", subject.name);
    emulator
        .control_fault(json!({"operation": "*", "match": tag, "error": "ThrottlingException", "message": "Rate exceeded", "probability": LOAD_THROTTLE, "times": 1_000_000}))
        .await;
    for v in 0..load_variants() {
        emulator.endpoint(&format!("{tag}{v}"), "AllTraffic").await;
    }
    let runtime = Arc::new(RuntimeApi::start().await);
    let receiver = Arc::new(receiver(subject, tls).await);
    let env = env_pairs(subject);
    let processes: Vec<_> =
        (0..LOAD_PROCESSES).map(|_| support::function::spawn(&subject.program, &runtime, &emulator.url, &env)).collect();
    let start = Instant::now();
    let mut variants = JoinSet::new();
    for v in 0..load_variants() {
        let (runtime, receiver, tag) = (runtime.clone(), receiver.clone(), tag.clone());
        variants.spawn(async move {
            let stack = Stack::new("load");
            let endpoint = format!("{tag}{v}");
            let target = stack.create("Target", target_props(&endpoint));
            let timeout = Duration::from_secs(600);
            runtime.invoke(target.json(&receiver), timeout).await;
            let policy = stack.event(
                "Create",
                "Policy",
                "Custom::SageMakerScalingPolicy",
                json!({"PolicyName": "invocations", "ScalingTargetId": target_id(&endpoint), "TargetTrackingScalingPolicyConfiguration": {
                    "TargetValue": "70", "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}}}),
                None,
                None,
            );
            let schedule = stack.event(
                "Create",
                "Schedule",
                "Custom::SageMakerScheduledAction",
                json!({"ScheduledActionName": "business-hours", "ScalingTargetId": target_id(&endpoint), "Schedule": "cron(0 8 ? * MON-FRI *)",
                    "ScalableTargetAction": {"MinCapacity": "2", "MaxCapacity": "4"}}),
                None,
                None,
            );
            tokio::join!(runtime.invoke(policy.json(&receiver), timeout), runtime.invoke(schedule.json(&receiver), timeout));
            [target.name, policy.name, schedule.name]
        });
    }
    let mut names = Vec::new();
    while let Some(done) = variants.join_next().await {
        names.extend(done.expect("a load task"));
    }
    figures.load_seconds = Some(start.elapsed().as_secs_f64());
    for name in &names {
        let puts = receiver.seen(name);
        figures.load_answers += puts.len();
        if puts.len() == 1 && puts[0].json()["Status"] == "SUCCESS" {
            figures.load_success += 1;
        } else {
            eprintln!("{}: {name}: {} answers: {:?}", subject.name, puts.len(), puts.iter().map(|p| p.json()).collect::<Vec<_>>());
        }
    }
    drop(processes);
}

fn file_size(path: &PathBuf) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

fn row(name: &str, ours: f64, peer: f64, unit: &str, digits: usize) -> String {
    let ratio = if ours > 0.0 && peer.is_finite() { format!("{:.1}x", peer / ours) } else { "-".to_owned() };
    format!("| {name} | {ours:.digits$} {unit} | {peer:.digits$} {unit} | {ratio} |\n")
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let warm: usize = std::env::var("BENCH_WARM").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    let bootstrap = support::function::bootstrap();
    let peer_python = PathBuf::from(std::env::var("BENCH_PEER_PYTHON").unwrap_or_else(|_| ".venv-bench/bin/python".into()));
    let work = support::root().join("bench/work");
    std::fs::create_dir_all(&work)?;
    let (cert_pem, tls) = support::http::self_signed_tls();
    let ca = work.join("receiver-ca.pem");
    std::fs::write(&ca, &cert_pem)?;
    let ca = ca.to_string_lossy().into_owned();

    let (port, _emulator_process) = support::emulator::start_emulator_process();
    let emulator = Emulator::at(port);
    let proxy = Proxy::start(emulator.url.clone()).await;

    let ours = Subject {
        name: "rust",
        program: Program::binary(&bootstrap),
        // Our https client reads the receiver's throwaway CA from SSL_CERT_FILE, as any rustls-native-certs user.
        env: vec![("SSL_CERT_FILE".into(), ca.clone()), ("RUST_LOG".into(), "warn".into())],
        https: true,
    };
    let peer = Subject {
        name: "peer",
        program: Program {
            program: peer_python.clone(),
            args: vec!["-m".into(), "awslambdaric".into(), "handler.handler".into()],
            dir: Some(support::root().join("bench/peer")),
        },
        env: vec![
            ("PEER_CA_BUNDLE".into(), ca.clone()),
            ("PYTHONPATH".into(), support::root().join("bench/peer").to_string_lossy().into_owned()),
        ],
        https: true,
    };
    // The Lambda-like environment: neither SSL_CERT_FILE nor SSL_CERT_DIR (the spawn clears the environment), the
    // ResponseURL on plain http loopback, so our function needs no throwaway CA. Cold starts only. crhelper PUTs over
    // https only, so the peer keeps its https receiver and its own PEER_CA_BUNDLE (which is not SSL_CERT_FILE): its
    // environment is Lambda-like already.
    let ours_plain = Subject {
        name: "rust-plain",
        program: ours.program.clone(),
        env: ours.env.iter().filter(|(k, _)| k != "SSL_CERT_FILE").cloned().collect(),
        https: false,
    };
    let peer_plain = Subject { name: "peer-plain", program: peer.program.clone(), env: peer.env.clone(), https: true };

    // BENCH_BASELINE: another build of the bootstrap, measured in the same invocation (cold and warm only), so a
    // change shows its figure before and after under the same machine noise.
    let baseline = std::env::var_os("BENCH_BASELINE").map(PathBuf::from);
    if let Some(path) = &baseline {
        let subject = Subject { name: "baseline", program: Program::binary(path), env: ours.env.clone(), https: true };
        let started = Instant::now();
        let b = cold_and_warm(&subject, &proxy, &emulator, &tls, runs, warm).await;
        let o = cold_and_warm(&ours, &proxy, &emulator, &tls, runs, warm).await;
        println!(
            "baseline {} ({} bytes) vs bootstrap ({:.0} s):",
            path.display(),
            file_size(path).unwrap_or(0),
            started.elapsed().as_secs_f64()
        );
        for (name, base, this) in [
            ("init ms", median(&b.init_ms), median(&o.init_ms)),
            ("first event own ms", median(&b.first_own_ms), median(&o.first_own_ms)),
            ("first event cpu ms", median(&b.first_cpu_ms), median(&o.first_cpu_ms)),
            ("warm own ms", median(&b.warm_own_ms), median(&o.warm_own_ms)),
            ("warm cpu ms", b.warm_cpu_ms.unwrap_or(f64::NAN), o.warm_cpu_ms.unwrap_or(f64::NAN)),
            ("first rss KiB", median(&b.first_rss_kib), median(&o.first_rss_kib)),
        ] {
            println!("  {name:<20} baseline {base:>9.3}  bootstrap {this:>9.3}  ratio {:.2}", this / base);
        }
        if std::env::var_os("BENCH_BASELINE_ONLY").is_some() {
            return Ok(());
        }
    }

    println!("bootstrap {} ({} bytes); peer {}", bootstrap.display(), file_size(&bootstrap).unwrap_or(0), peer_python.display());
    println!(
        "cold starts: {runs} per subject; warm events: {warm}; load: {} resources on {LOAD_PROCESSES} processes, {}% throttled",
        load_variants() * 3,
        LOAD_THROTTLE * 100.0
    );
    // The floor, started alternately with the bootstrap: `BENCH_FLOOR` (built by `make bench`), else none.
    let floor = std::env::var_os("BENCH_FLOOR").map(|path| Program::binary(&PathBuf::from(path)));
    let floor_runs: usize = std::env::var("BENCH_FLOOR_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(101);
    let against_floor = match &floor {
        Some(floor) => {
            let (ours, floor) = init_against_floor(&ours_plain, floor, &proxy, floor_runs).await;
            println!("init against the floor ({floor_runs} alternating starts each): {ours:.2} ms / {floor:.2} ms = {:.2}x", ours / floor);
            Some((ours, floor))
        }
        None => None,
    };
    let (rp, pp) = (
        cold_and_warm(&ours_plain, &proxy, &emulator, &tls, runs, 0).await,
        cold_and_warm(&peer_plain, &proxy, &emulator, &tls, runs, 0).await,
    );
    println!(
        "Lambda-like environment: init {:.2} / {:.2} ms, first event own {:.3} / {:.3} ms (rust / peer)",
        median(&rp.init_ms),
        median(&pp.init_ms),
        median(&rp.first_own_ms),
        median(&pp.first_own_ms)
    );
    let update = endpoint_update_cost(port).await;
    println!(
        "endpoint update of {} min at 1:{UPDATE_SCALE}: {} invocations, {:.1} s billed (x{UPDATE_SCALE}: {:.0} min), one invocation alive {:.1} s, \
         {} DynamoDB requests, {} DescribeEndpoint, {}",
        UPDATE_MINUTES,
        update.invocations,
        update.billed_s,
        update.billed_s * f64::from(UPDATE_SCALE) / 60.0,
        update.alive_s,
        update.dynamodb,
        update.describes,
        update.status
    );
    let mut results = Vec::new();
    for subject in [&ours, &peer] {
        let started = Instant::now();
        let mut figures = cold_and_warm(subject, &proxy, &emulator, &tls, runs, warm).await;
        load(subject, &emulator, &tls, &mut figures).await;
        println!(
            "{}: init {:.2} ms, first event {:.2} ms (own {:.3} ms, cpu {:.3} ms), warm {:.2} ms (own {:.3} ms, cpu {:.3} ms), load {:.1} s ({} / {} SUCCESS), in {:.0} s",
            subject.name,
            median(&figures.init_ms),
            median(&figures.first_wall_ms),
            median(&figures.first_own_ms),
            median(&figures.first_cpu_ms),
            median(&figures.warm_wall_ms),
            median(&figures.warm_own_ms),
            figures.warm_cpu_ms.unwrap_or(f64::NAN),
            figures.load_seconds.unwrap_or(f64::NAN),
            figures.load_success,
            load_variants() * 3,
            started.elapsed().as_secs_f64()
        );
        results.push(figures);
    }
    let (r, p) = (&results[0], &results[1]);
    let zip = std::env::var_os("BENCH_ZIP")
        .map(PathBuf::from)
        .unwrap_or_else(|| support::root().join("target/lambda/cfn-sagemaker-autoscaling/bootstrap.zip"));
    let mib = |b: Option<u64>| b.map_or(f64::NAN, |b| b as f64 / 1_048_576.0);

    let mut table = String::new();
    table.push_str(&format!(
        "| figure ({runs} cold starts, {warm} warm events; medians) | cfn-sagemaker-autoscaling | Python + crhelper + boto3 | peer / project |\n|---|---|---|---|\n"
    ));
    table.push_str(&row(
        "init, Lambda-like (no SSL_CERT_FILE/DIR): start to first `GET /next`",
        median(&rp.init_ms),
        median(&pp.init_ms),
        "ms",
        2,
    ));
    if let Some((ours, floor)) = against_floor {
        table.push_str(&format!(
            "| init against the floor (the smallest lambda_runtime + tokio function), {floor_runs} alternating starts each | {ours:.2} ms | floor {floor:.2} ms | {:.2}x the floor |\n",
            ours / floor
        ));
    }
    table.push_str(&row("first event, Lambda-like: the function's own time", median(&rp.first_own_ms), median(&pp.first_own_ms), "ms", 3));
    table.push_str(&row("first event, Lambda-like: the function's CPU time", median(&rp.first_cpu_ms), median(&pp.first_cpu_ms), "ms", 3));
    table.push_str(&row("init, with SSL_CERT_FILE: process start to first `GET /next`", median(&r.init_ms), median(&p.init_ms), "ms", 2));
    table.push_str(&row("first event: served to response PUT (wall)", median(&r.first_wall_ms), median(&p.first_wall_ms), "ms", 2));
    table.push_str(&row("first event: the function's own time", median(&r.first_own_ms), median(&p.first_own_ms), "ms", 3));
    table.push_str(&row("first event: the function's CPU time", median(&r.first_cpu_ms), median(&p.first_cpu_ms), "ms", 3));
    table.push_str(&row("warm event: wall, median", median(&r.warm_wall_ms), median(&p.warm_wall_ms), "ms", 2));
    table.push_str(&row("warm event: wall, p99", percentile(&r.warm_wall_ms, 99.0), percentile(&p.warm_wall_ms, 99.0), "ms", 2));
    table.push_str(&row("warm event: the function's own time, median", median(&r.warm_own_ms), median(&p.warm_own_ms), "ms", 3));
    table.push_str(&row(
        "warm event: the function's own time, p99",
        percentile(&r.warm_own_ms, 99.0),
        percentile(&p.warm_own_ms, 99.0),
        "ms",
        3,
    ));
    table.push_str(&row(
        "warm event: the function's CPU time, mean",
        r.warm_cpu_ms.unwrap_or(f64::NAN),
        p.warm_cpu_ms.unwrap_or(f64::NAN),
        "ms",
        3,
    ));
    table.push_str(&row(
        "peak memory (VmHWM) after the first event",
        median(&r.first_rss_kib) / 1024.0,
        median(&p.first_rss_kib) / 1024.0,
        "MiB",
        1,
    ));
    table.push_str(&row(
        &format!("peak memory (VmHWM) after {warm} warm events"),
        r.warm_rss_kib.unwrap_or(0) as f64 / 1024.0,
        p.warm_rss_kib.unwrap_or(0) as f64 / 1024.0,
        "MiB",
        1,
    ));
    table.push_str(&row(
        &format!("load: {} resources, {LOAD_PROCESSES} processes, {}% throttled", load_variants() * 3, LOAD_THROTTLE * 100.0),
        r.load_seconds.unwrap_or(f64::NAN),
        p.load_seconds.unwrap_or(f64::NAN),
        "s",
        1,
    ));
    table.push_str(&format!(
        "| load: SUCCESS / answers (of {}) | {} / {} | {} / {} | |\n",
        load_variants() * 3,
        r.load_success,
        r.load_answers,
        p.load_success,
        p.load_answers
    ));
    table.push_str(&format!("| bootstrap (x86_64, stripped) | {:.2} MiB | | |\n", mib(file_size(&bootstrap))));
    table.push_str(&format!("| deployable zip (arm64) | {:.2} MiB | | |\n", mib(file_size(&zip))));
    table.push_str(&format!(
        "| endpoint update of {UPDATE_MINUTES} min (at 1:{UPDATE_SCALE}, Lambda timeout scaled alike): invocations / billed / \
         DynamoDB requests | {} / {:.0} min / {} | one invocation alive: 1 / {:.0} min / 0 | {:.2} billed |\n",
        update.invocations,
        update.billed_s * f64::from(UPDATE_SCALE) / 60.0,
        update.dynamodb,
        update.alive_s * f64::from(UPDATE_SCALE) / 60.0,
        update.billed_s / update.alive_s
    ));
    if let Ok(seconds) = std::env::var("BENCH_BUILD_SECONDS") {
        table.push_str(&format!("| clean release build (2 cores) | {seconds} s | | |\n"));
    }
    // The prose under the table quotes this run's figures, so that it cannot disagree with the table.
    let verdict = |value: f64, target: f64| if value <= target { "met" } else { "missed" };
    let (init, first, warm_own) = (median(&rp.init_ms), median(&rp.first_own_ms), median(&r.warm_own_ms));
    let (rss, zip_mib) = (r.warm_rss_kib.unwrap_or(0) as f64 / 1024.0, mib(file_size(&zip)));
    table.push_str(&format!(
        "\nAgainst the performance targets (medians of this run): init {init:.2} ms Lambda-like (target 3 ms: {}); first \
         event's own time {first:.3} ms Lambda-like (target 2 ms: {}); warm event's own time {warm_own:.3} ms (target 1 ms: {}); \
         peak memory {rss:.1} MiB (target 8 MB: {}); arm64 zip {zip_mib:.2} MiB (target 2.5 MB: {}){}.\n",
        verdict(init, 3.0),
        verdict(first, 2.0),
        verdict(warm_own, 1.0),
        verdict(rss, 8.0 * 1e6 / 1_048_576.0),
        verdict(zip_mib, 2.5 * 1e6 / 1_048_576.0),
        against_floor.map_or_else(String::new, |(ours, floor)| format!(
            "; init {:.2}x the smallest lambda_runtime + tokio function's, started alternately (target 1.7x: {})",
            ours / floor,
            verdict(ours / floor, 1.7)
        )),
    ));

    let subjects: Vec<Value> = [
        ("cfn-sagemaker-autoscaling", r),
        ("crhelper peer", p),
        ("cfn-sagemaker-autoscaling, Lambda-like", &rp),
        ("crhelper peer, Lambda-like", &pp),
    ]
    .iter()
    .map(|(name, f)| {
        json!({
            "name": name,
            "init_ms": f.init_ms, "first_wall_ms": f.first_wall_ms, "first_own_ms": f.first_own_ms, "first_rss_kib": f.first_rss_kib,
            "warm_wall_median_ms": median(&f.warm_wall_ms), "warm_wall_p99_ms": percentile(&f.warm_wall_ms, 99.0),
            "warm_own_median_ms": median(&f.warm_own_ms), "warm_own_p99_ms": percentile(&f.warm_own_ms, 99.0),
            "first_cpu_ms": f.first_cpu_ms, "warm_cpu_ms": f.warm_cpu_ms,
            "warm_rss_kib": f.warm_rss_kib, "load_seconds": f.load_seconds, "load_success": f.load_success, "load_answers": f.load_answers,
        })
    })
    .collect();
    let json = json!({"runs": runs, "warm": warm, "subjects": subjects,
        "init_against_floor": against_floor.map(|(ours, floor)| json!({"runs": floor_runs, "ours_ms": ours, "floor_ms": floor, "ratio": ours / floor})), "bootstrap_bytes": file_size(&bootstrap), "zip_bytes": file_size(&zip),
        "endpoint_update": {"minutes": UPDATE_MINUTES, "scale": UPDATE_SCALE, "invocations": update.invocations, "billed_s": update.billed_s,
            "alive_s": update.alive_s, "dynamodb_requests": update.dynamodb, "describe_endpoint": update.describes}});
    let results_dir = support::root().join("bench/results");
    std::fs::create_dir_all(&results_dir)?;
    std::fs::write(results_dir.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    let command = "make bench";
    std::fs::write(results_dir.join("results.md"), format!("Reproduce with `{command}`.\n\n{table}"))?;
    println!("\n{table}");

    let readme_path = support::root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path)?;
    if let (Some(begin), Some(end)) = (readme.find("<!-- bench:begin -->"), readme.find("<!-- bench:end -->")) {
        let updated = format!("{}<!-- bench:begin -->\n{table}{}", &readme[..begin], &readme[end..]);
        std::fs::write(&readme_path, updated)?;
        println!("README.md updated between the bench markers");
    }
    Ok(())
}

/// An endpoint update of this many minutes, measured at 1:`UPDATE_SCALE` (Lambda's 15-minute timeout and
/// SageMaker's update shrunk alike, so the number of invocations is the real one).
const UPDATE_MINUTES: u32 = 30;
const UPDATE_SCALE: u32 = 60;

struct UpdateCost {
    invocations: usize,
    /// The invocations' own durations, summed (what Lambda bills), at scale.
    billed_s: f64,
    /// From the first invocation's start to the answer: one invocation kept alive throughout, at scale.
    alive_s: f64,
    dynamodb: usize,
    describes: usize,
    status: String,
}

/// One instance-type change of an auto-scaled endpoint whose UpdateEndpoint takes `UPDATE_MINUTES`, through the
/// release bootstrap, each hand-over delivered as Lambda would: the invocations it took, their billed time, and
/// the requests to the journal, against one invocation kept alive for the whole operation.
async fn endpoint_update_cost(port: u16) -> UpdateCost {
    use support::endpoints::{auto_scaled_with_a_new_instance_type, endpoint_props, endpoint_update};
    let f = Function::start_with(Emulator::at(port), &[]).await;
    let stack = Stack::new("bench-update");
    let name = "bench-update-ep";
    f.emulator.timing_of(name, 1.0, 1.0, 1.0).await;
    let (arn, _) = auto_scaled_with_a_new_instance_type(&f, &stack, name).await;
    f.emulator.timing_of(name, 1.0, f64::from(UPDATE_MINUTES * 60 / UPDATE_SCALE), 1.0).await;
    let per_invocation = Duration::from_secs(u64::from(15 * 60 / UPDATE_SCALE));
    let update = endpoint_update(&stack, name, &arn, &format!("{name}-c1"), endpoint_props(name, &format!("{name}-c2")));
    let journal_before = f.emulator.service_calls("dynamodb", "bench-update").await.len();
    let describes_before = f.emulator.calls_with_bodies("DescribeEndpoint", name).await.len();
    let first = f.runtime.invoke_timed(update.json(&f.receiver), per_invocation).await;
    let started = first.served.unwrap_or(first.done);
    let mut billed = first.done - started;
    let mut last_done = first.done;
    let mut invocations = 1;
    while f.receiver.seen(&update.name).is_empty() && invocations < 20 {
        for handed in f.emulator.invocations().await {
            let id = handed["request_id"].as_str().unwrap_or("handed-over").to_owned();
            let timed = f.runtime.invoke_with_id(handed["payload"].clone(), per_invocation, &id).await;
            billed += timed.done - timed.served.unwrap_or(timed.done);
            last_done = last_done.max(timed.done);
            invocations += 1;
        }
    }
    let answer = f.receiver.seen(&update.name).first().map(|put| put.json()).unwrap_or_default();
    UpdateCost {
        invocations,
        billed_s: billed.as_secs_f64(),
        alive_s: (last_done - started).as_secs_f64(),
        dynamodb: f.emulator.service_calls("dynamodb", "bench-update").await.len() - journal_before,
        describes: f.emulator.calls_with_bodies("DescribeEndpoint", name).await.len() - describes_before,
        status: answer["Status"].as_str().unwrap_or("no answer").to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------------
// Bench-only measuring tools: a timing proxy in front of the emulator, and /proc readings.

struct Proxy {
    pub url: String,
    calls: Arc<Mutex<Vec<(std::time::Instant, std::time::Instant)>>>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let http = support::http::client();
        let calls: Arc<Mutex<Vec<(std::time::Instant, std::time::Instant)>>> = Arc::default();
        let recorded = calls.clone();
        let addr = support::http::serve(move |seen| {
            let (http, upstream, recorded) = (http.clone(), upstream.clone(), recorded.clone());
            async move {
                let mut request = http.request(seen.method.parse().expect("a method"), format!("{upstream}{}", seen.path));
                for (k, v) in &seen.headers {
                    // Host is kept: the emulator checks SigV4 signatures, and Host is a signed header.
                    if k != "content-length" {
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
    fn time_within(&self, from: std::time::Instant, to: std::time::Instant) -> Duration {
        self.calls.lock().unwrap().iter().filter(|(start, end)| *start >= from && *end <= to).map(|(start, end)| *end - *start).sum()
    }
}

/// CPU time a process has used so far, all its threads, from /proc/<pid>/task/*/schedstat (nanoseconds).
fn cpu_ns(pid: u32) -> Option<u64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut total = 0;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total)
}
