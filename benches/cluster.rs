//! The shared state on the indexer, against the fake indexer of the tests (an in-process
//! OpenSearch fake over loopback HTTP, so these are the client's costs, not a real cluster's):
//! - claims per second on one document, one task and eight at once;
//! - the latency the shared state adds to a job: the release binary's worker drains the same
//!   spooled jobs (each from its own address, analysed without a model server) with
//!   `cluster.backend = "local"` and with `"indexer"`.
//!
//! `cargo bench --bench cluster` (figures in docs/benchmarks.md).

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use ai_analyzer::config::Indexer;
use ai_analyzer::investigate::cluster::Shared;
use common::opensearch::FakeIndexer;
use common::*;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (server, fake) = FakeIndexer::start().await;
        let shared = Shared::new(
            Indexer {
                url: server.uri(),
                ..Indexer::default()
            },
            "ai-analyzer-state".into(),
        );
        let now = 1_800_000_000_000_i64;
        // Warm up: the index is created.
        let _ = shared.take_daily("warm", now, 10).await;

        let n = 500;
        let mut latencies = Vec::with_capacity(n);
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let fits = shared.take_daily("one", now, u32::MAX).await.expect("claim");
            assert!(fits);
            latencies.push(t.elapsed());
        }
        let took = started.elapsed();
        latencies.sort();
        println!(
            "one task: {n} claims in {:.2} s = {:.0} claims/s; latency median {:.2} ms, p99 {:.2} ms",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64(),
            ms(latencies[n / 2]),
            ms(latencies[n * 99 / 100])
        );

        let tasks = 8;
        let per = 100;
        let started = Instant::now();
        let handles: Vec<_> = (0..tasks)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move {
                    for _ in 0..per {
                        shared.take_daily("many", now, u32::MAX).await.expect("claim");
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.expect("task");
        }
        let took = started.elapsed();
        let counts = fake.counts();
        let total = tasks * per;
        println!(
            "{tasks} tasks on one document: {total} claims in {:.2} s = {:.0} claims/s; {} conflicts retried; count {}",
            took.as_secs_f64(),
            total as f64 / took.as_secs_f64(),
            fake.conflicts(),
            counts.get("budget-many-20833").copied().unwrap_or_default()
        );

        let jobs = 100;
        let local = drain(jobs, None);
        let shared = drain(jobs, Some(&server.uri()));
        println!(
            "worker, {jobs} jobs: local state {:.1} ms a job, shared state {:.1} ms a job: \
             {:+.1} ms a job",
            ms(local) / jobs as f64,
            ms(shared) / jobs as f64,
            (ms(shared) - ms(local)) / jobs as f64
        );

        // The index's size: alerts (1,000, or SIZE_ALERTS) from one public address per 10
        // alerts, against 5 targets, each through execd (in the foreground, so every run has
        // ended when the next starts).
        let (size_server, size_fake) = FakeIndexer::start().await;
        let fakes = common::intel::IntelFakes::start(Duration::ZERO, None).await;
        let alerts = std::env::var("SIZE_ALERTS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(1000);
        let started = Instant::now();
        fill(&size_server.uri(), &fakes, alerts);
        println!(
            "{alerts} alerts through execd in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        for c in size_fake.docs("campaign") {
            let entry = &c["entry"];
            println!(
                "campaign {}: {} addresses named, {} alerts, closed {}",
                entry["label"],
                entry["sources"].as_object().map_or(0, |s| s.len()),
                entry["alerts"],
                c["closed"]
            );
        }
        for (kind, (n, bytes)) in size_fake.sizes() {
            println!(
                "index after {alerts} alerts: {n} {kind} document(s), {bytes} bytes of _source, \
                 {} bytes each",
                bytes / n.max(1)
            );
        }
    });
}

/// Spools `jobs` alerts (each from its own address) and times one `ai-analyzer work` that
/// drains them, the state shared on the indexer at `indexer` if given (a new index each time,
/// so no window of an earlier round is found). Best of three.
fn drain(jobs: usize, indexer: Option<&str>) -> Duration {
    use ai_analyzer::queue::spool::{self, Job, Origin};
    let mut best = Duration::MAX;
    for round in 0..3 {
        // No ceiling: every job is analysed, none held back for a digest.
        let env = Env::new(&dead_url(), "", "[limits]\nanalyses_per_minute = 0");
        if let Some(url) = indexer {
            env.share_state(url, &format!("bench-{round}"));
        }
        let alert: serde_json::Value =
            serde_json::from_str(&read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json"))
                .expect("sample");
        for i in 0..jobs {
            let mut alert = alert["parameters"]["alert"].clone();
            alert["data"]["srcip"] = format!("203.0.113.{}", i % 250).into();
            alert["agent"]["id"] = format!("{:03}", i).into();
            spool::put(&env.state().join("spool"), &Job::new(Origin::Execd, alert)).expect("spool");
        }
        let mut cmd = env.cmd();
        // Its warnings (no model server, no alert log) are read as they come: a pipe read only
        // at the end would fill up and stop it.
        cmd.arg("work").stdin(std::process::Stdio::null());
        let started = Instant::now();
        let out = cmd.output().expect("run the worker");
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains(&format!("{jobs} job(s) from the spool done")),
            "{}",
            text(&out.stdout)
        );
        best = best.min(took);
    }
    best
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Sends `alerts` alerts through execd to one node that shares its state on the indexer at
/// `indexer`: from `alerts / 10` public addresses in turn, against 5 targets, threat
/// intelligence from the fakes.
fn fill(indexer: &str, fakes: &common::intel::IntelFakes, alerts: usize) {
    let env = Env::new(
        &dead_url(),
        "",
        // Short windows, so that the campaigns close and their workers end within the bench.
        "[limits]\nanalyses_per_minute = 0\n[wazuh]\ndetach = \"never\"\n\
         [dedup]\ncooldown_secs = 20\n[campaign]\nwindow_secs = 20",
    );
    env.intel(&fakes.toml(5, false));
    env.share_state(indexer, "ai-analyzer-state");
    let sample: serde_json::Value =
        serde_json::from_str(&read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json"))
            .expect("sample");
    for i in 0..alerts {
        let mut message = sample.clone();
        let alert = &mut message["parameters"]["alert"];
        let address = i % (alerts / 10).max(1);
        alert["data"]["srcip"] =
            format!("185.220.{}.{}", 100 + address / 250, 1 + address % 250).into();
        alert["agent"]["id"] = format!("{:03}", i % 5).into();
        alert["agent"]["name"] = format!("web-{:02}", i % 5).into();
        let (_, code) = execd_run(&env.config, &message.to_string());
        assert_eq!(code, Some(0), "{}", env.log());
    }
    // The campaigns' workers add what they counted last.
    assert!(wait_workers_gone(&env.config, Duration::from_secs(120)));
}
