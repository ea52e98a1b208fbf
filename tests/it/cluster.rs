//! Several manager nodes sharing the daily threat-intel budgets through the Wazuh indexer
//! (`cluster.backend = "indexer"`), against a fake indexer that follows OpenSearch's
//! concurrency control.

use std::time::Duration;

use crate::common::intel::IntelFakes;
use crate::common::opensearch::FakeIndexer;
use crate::common::*;

/// A node: its own state dir and config, the shared fakes.
fn node(fakes: &IntelFakes, indexer: &str, budget: u32) -> Env {
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, false).replacen(
        "[providers.abuseipdb]\n",
        &format!("[providers.abuseipdb]\ndaily_budget = {budget}\n"),
        1,
    ));
    let config = std::fs::read_to_string(&env.config).unwrap();
    std::fs::write(
        &env.config,
        format!(
            "{config}\n[cluster]\nbackend = \"indexer\"\nindex = \"ai-analyzer-state\"\n\
             [history.indexer]\nurl = \"{indexer}\"\ntimeout_secs = 2\n"
        ),
    )
    .unwrap();
    env
}

/// Three nodes, four lookups each at the same moment, a daily budget of 5: AbuseIPDB is asked
/// 5 times in all (each node alone would have asked 4 times, 12 in all), with conflicts
/// resolved by the indexer's concurrency control.
#[tokio::test]
async fn three_nodes_share_one_daily_budget() {
    let fakes = IntelFakes::start(Duration::from_millis(20), None).await;
    let (indexer, fake) = FakeIndexer::start().await;
    let nodes: Vec<Env> = (0..3).map(|_| node(&fakes, &indexer.uri(), 5)).collect();
    let children: Vec<_> = nodes
        .iter()
        .enumerate()
        .flat_map(|(i, env)| enrich_all(env, 1 + 4 * i as u32, 4))
        .collect();
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| text(&wait_with_deadline(c, Duration::from_secs(60)).stdout))
        .collect();
    assert_eq!(fakes.abuseipdb_requests().await, 5, "{outputs:#?}");
    let spent = outputs
        .iter()
        .filter(|o| o.contains("budget spent: 5 lookups today (providers.abuseipdb.daily_budget)"))
        .count();
    assert_eq!(spent, 7, "{outputs:#?}");
    let counts = fake.counts();
    let abuse: Vec<_> = counts
        .iter()
        .filter(|(id, _)| id.starts_with("budget-abuseipdb-day-"))
        .collect();
    assert_eq!(abuse.len(), 1, "{counts:?}");
    assert_eq!(*abuse[0].1, 5);
}

/// The indexer gone: every node falls back to its own count within a second, says so once in
/// its log, and still answers.
#[tokio::test]
async fn a_node_without_the_indexer_counts_on_its_own() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = node(&fakes, &dead_url(), 2);
    let mut cmd = env.cmd();
    cmd.args(["enrich", "185.220.101.40"]);
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(fakes.abuseipdb_requests().await, 1);
    let log = env.log();
    assert_eq!(
        log.matches("shared state: the indexer is unavailable")
            .count(),
        1,
        "{log}"
    );
    assert!(log.contains("falls back to its own budget counts"), "{log}");
}

/// A full disk on the indexer (writes refused with `cluster_block_exception`, 429): the node
/// falls back to its own count, and the log names the block.
#[tokio::test]
async fn a_blocked_index_falls_back_and_says_why() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let (indexer, fake) = FakeIndexer::start().await;
    fake.block_writes();
    let env = node(&fakes, &indexer.uri(), 3);
    let mut cmd = env.cmd();
    cmd.args(["enrich", "185.220.101.50"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(fakes.abuseipdb_requests().await, 1);
    let log = env.log();
    assert!(
        log.contains("HTTP 429: cluster_block_exception: index [indexname] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark"),
        "{log}"
    );
}

/// `check` says which backend is in use; the worker removes the documents of past days.
#[tokio::test]
async fn check_names_the_backend_and_the_worker_removes_old_days() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let (indexer, fake) = FakeIndexer::start().await;
    let env = node(&fakes, &indexer.uri(), 3);
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "ok    cluster     indexer at {}/: index ai-analyzer-state is created on first use",
            indexer.uri()
        )),
        "{said}"
    );
    fake.insert(
        "ai-analyzer-state",
        "budget-abuseipdb-day-1",
        serde_json::json!({"kind": "budget", "count": 3, "day": 1, "expires_at": 3 * 86_400_000}),
    );
    let mut cmd = env.cmd();
    cmd.args(["enrich", "185.220.101.60"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    let before = fake.counts();
    assert!(before.contains_key("budget-abuseipdb-day-1"), "{before:?}");
    assert!(before.len() >= 2, "{before:?}");
    let mut cmd = env.cmd();
    cmd.arg("work");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let counts = fake.counts();
    assert_eq!(counts.len(), before.len() - 1, "{counts:?}");
    assert!(
        counts.keys().all(|id| !id.ends_with("-day-1")),
        "{counts:?}"
    );
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert!(
        text(&out.stdout)
            .contains("index ai-analyzer-state: the daily budgets are shared by every node"),
        "{}",
        text(&out.stdout)
    );
    // The local backend says so.
    let local = Env::new(&dead_url(), "", "");
    let mut cmd = local.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert!(
        text(&out.stdout).contains("ok    cluster     local: each node keeps its own state"),
        "{}",
        text(&out.stdout)
    );
}

/// A threat-intel answer one node fetched is reused by another until its TTL: the second node
/// asks no per-address source again.
#[tokio::test]
async fn an_answer_one_node_fetched_is_reused_by_another() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let (indexer, _fake) = FakeIndexer::start().await;
    let a = node(&fakes, &indexer.uri(), 50);
    let b = node(&fakes, &indexer.uri(), 50);
    let per_address = |requests: &[wiremock::Request]| {
        requests
            .iter()
            .filter(|r| !r.url.path().contains("exit"))
            .count()
    };
    let mut cmd = a.cmd();
    cmd.args(["enrich", "185.220.101.70"]);
    let (out_a, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out_a.status.code(), Some(0), "{}", text(&out_a.stderr));
    let after_a = per_address(&fakes.http.received_requests().await.unwrap());
    assert!(after_a >= 3, "{after_a}");
    let mut cmd = b.cmd();
    cmd.args(["enrich", "185.220.101.70"]);
    let (out_b, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out_b.status.code(), Some(0), "{}", text(&out_b.stderr));
    let after_b = per_address(&fakes.http.received_requests().await.unwrap());
    assert_eq!(after_b, after_a, "the second node asked again");
    let said = text(&out_b.stdout);
    assert!(
        said.contains("AbuseIPDB     ok (cached)     confidence 100%"),
        "{said}"
    );
}
