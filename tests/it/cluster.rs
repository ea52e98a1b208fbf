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
    env.share_state(indexer, "ai-analyzer-state");
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
    assert!(
        log.contains("falls back to its own budget counts and cooldowns"),
        "{log}"
    );
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

/// Wrong credentials (the security plugin's plain-text 401) and an indexer slower than 1 s: the
/// node falls back at once, the log names why, once, and `check` says what this node does.
#[tokio::test]
async fn a_refused_or_slow_indexer_falls_back_within_a_second() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let (denied, fake) = FakeIndexer::start().await;
    fake.deny();
    let (slow, fake) = FakeIndexer::start().await;
    fake.slow(Duration::from_secs(5));
    for (server, why) in [
        (&denied, "(HTTP 401: Unauthorized)"),
        (&slow, "(no answer within 1000 ms)"),
    ] {
        let env = node(&fakes, &server.uri(), 3);
        let mut cmd = env.cmd();
        cmd.args(["enrich", "185.220.101.45"]);
        let (out, took) = run_with_input(cmd, b"", Duration::from_secs(30));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        // Every source with a budget asks the indexer: after the first failure, none waits.
        assert!(took < Duration::from_secs(3), "{why}: {took:?}");
        let log = env.log();
        assert_eq!(
            log.matches("shared state: the indexer is unavailable")
                .count(),
            1,
            "{log}"
        );
        assert!(log.contains(why), "{why}: {log}");
        let mut cmd = env.cmd();
        cmd.arg("check");
        let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
        let said = text(&out.stdout);
        assert!(
            said.contains("FAIL  cluster") && said.contains("this node decides on its own state"),
            "{said}"
        );
    }
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
            .contains(
                "index ai-analyzer-state: cooldowns, campaigns, budgets and answers are shared by every node"
            ),
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

/// One storm's setup: its own model server, ntfy, threat-intel fakes, and `n` nodes (sharing
/// one fake indexer when there are several).
struct Storm {
    llm: SlowLlm,
    ntfy: wiremock::MockServer,
    fakes: IntelFakes,
    nodes: Vec<Env>,
    /// The fake indexer, kept running until the storm drops it.
    indexer: Option<(wiremock::MockServer, FakeIndexer)>,
}

/// The storms' addresses: global, so that every source is asked about them.
const STORM_IPS: [&str; 4] = [
    "185.220.101.81",
    "185.220.101.82",
    "185.220.101.83",
    "185.220.101.84",
];

impl Storm {
    async fn start(n: usize, cooldown_secs: u64) -> Storm {
        Storm::with(
            n,
            &format!("[dedup]\ncooldown_secs = {cooldown_secs}\n[campaign]\nenabled = false"),
        )
        .await
    }

    /// `n` nodes with `extra` TOML in each config.
    async fn with(n: usize, extra: &str) -> Storm {
        let llm = SlowLlm::start(vec![Duration::from_millis(1)], "# Storm report\nbody");
        let ntfy = ntfy_ok_server().await;
        let fakes = IntelFakes::start(Duration::ZERO, None).await;
        let indexer = if n > 1 {
            Some(FakeIndexer::start().await)
        } else {
            None
        };
        let nodes = (0..n)
            .map(|_| {
                let env = Env::new(&llm.url, &ntfy.uri(), extra);
                env.intel(&fakes.toml(5, false));
                if let Some((server, _)) = &indexer {
                    env.share_state(&server.uri(), "ai-analyzer-state");
                }
                env
            })
            .collect();
        Storm {
            llm,
            ntfy,
            fakes,
            nodes,
            indexer,
        }
    }

    /// Alerts `from..to` of the storm, each through execd on node `k % n`, from the
    /// addresses in turn.
    fn send(&self, from: usize, to: usize) {
        let configs: Vec<_> = self.nodes.iter().map(|e| e.config.clone()).collect();
        let handles: Vec<_> = (0..configs.len())
            .map(|node| {
                let configs = configs.clone();
                std::thread::spawn(move || {
                    for k in (from..to).filter(|k| k % configs.len() == node) {
                        let (_, code) =
                            execd_run(&configs[node], &ar_message(STORM_IPS[k % 4], 10));
                        assert_eq!(code, Some(0));
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("node thread");
        }
    }

    /// Alerts from `ip`s, one after the other, each through execd on its node (`k % n` for the
    /// `k`-th, shifted by `shift`).
    fn send_each(&self, ips: &[String], shift: usize) {
        let n = self.nodes.len();
        for (k, ip) in ips.iter().enumerate() {
            let (_, code) = execd_run(&self.nodes[(k + shift) % n].config, &ar_message(ip, 10));
            assert_eq!(code, Some(0));
        }
    }

    /// Waits until every node's worker is done; then the pushes, as (title, body).
    async fn pushes(&self) -> Vec<(String, String)> {
        for env in &self.nodes {
            assert!(
                wait_workers_gone(&env.config, Duration::from_secs(90)),
                "{}",
                env.log()
            );
        }
        self.ntfy
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|p| (header(p, "title"), text(&p.body)))
            .collect()
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(Env::log)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// Requests to the per-address sources, and downloads of the Tor exit list.
async fn asked_per_address(fakes: &IntelFakes) -> (usize, usize) {
    let all = fakes.http.received_requests().await.unwrap_or_default();
    let lists = all.iter().filter(|r| r.url.path().contains("exit")).count();
    (all.len() - lists, lists)
}

/// What a storm's pushes came to: reports per address, digests per address, alerts counted in
/// digests.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    reports: Vec<usize>,
    digests: Vec<usize>,
    counted: u64,
}

fn outcome(pushes: &[(String, String)]) -> Outcome {
    let per_ip = |title_has: &str| {
        STORM_IPS
            .iter()
            .map(|ip| {
                pushes
                    .iter()
                    .filter(|(t, b)| t.contains(title_has) && (t.contains(ip) || b.contains(ip)))
                    .count()
            })
            .collect::<Vec<_>>()
    };
    let counted = pushes
        .iter()
        .filter(|(t, _)| t.contains("more alerts from"))
        .map(|(t, _)| {
            t.split(' ')
                .next()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        })
        .sum();
    Outcome {
        reports: per_ip("Storm report"),
        digests: per_ip("more alerts from"),
        counted,
    }
}

/// A storm of 60 alerts from 4 addresses split across three nodes (each alert to one node, in
/// turn) gives what the same storm gives one node: one report and one digest per address,
/// every alert reported or counted once, the same model calls and threat-intel requests.
#[tokio::test]
async fn three_nodes_in_a_storm_report_as_one() {
    let one = Storm::start(1, 12).await;
    let three = Storm::start(3, 12).await;
    // Both storms at once: the same timing for each.
    std::thread::scope(|s| {
        s.spawn(|| one.send(0, 60));
        s.spawn(|| three.send(0, 60));
    });
    let (alone, shared) = (one.pushes().await, three.pushes().await);
    let want = Outcome {
        reports: vec![1; 4],
        digests: vec![1; 4],
        counted: 56,
    };
    assert_eq!(
        outcome(&alone),
        want,
        "one node: {alone:#?}\n{}",
        one.logs()
    );
    assert_eq!(
        outcome(&shared),
        want,
        "three nodes: {shared:#?}\n{}",
        three.logs()
    );
    assert_eq!(one.llm.count(), 4);
    assert_eq!(three.llm.count(), 4);
    let asked = (
        one.fakes.abuseipdb_requests().await,
        three.fakes.abuseipdb_requests().await,
    );
    assert_eq!(asked, (4, 4), "AbuseIPDB requests, one node and three");
    let (alone, shared) = (
        asked_per_address(&one.fakes).await,
        asked_per_address(&three.fakes).await,
    );
    assert_eq!(
        alone.0, shared.0,
        "every per-address source asked as often by three nodes as by one"
    );
    assert!(alone.0 >= 4 * 3, "{alone:?}");
    // The Tor exit list is one download a day per node, under no budget.
    assert!(shared.1 <= 3, "{shared:?}");
    let logs = three.logs();
    assert!(
        logs.contains("another manager node reports 185.220.101.8"),
        "{logs}"
    );
    assert!(!logs.contains("falls back"), "{logs}");
}

/// The indexer stopped in the middle of a storm over three nodes: each node falls back to its
/// own windows and says so, and every alert is still reported or counted exactly once.
#[tokio::test]
async fn a_storm_goes_on_when_the_indexer_stops() {
    let mut three = Storm::start(3, 10).await;
    three.send(0, 30);
    // The reports of the first half are claimed before the indexer goes.
    let _ = wait_for_requests(&three.ntfy, 4, Duration::from_secs(30)).await;
    let (server, _fake) = three.indexer.take().expect("indexer");
    drop(server);
    three.send(30, 60);
    let pushes = three.pushes().await;
    let got = outcome(&pushes);
    let reports: usize = got.reports.iter().sum();
    assert_eq!(
        reports as u64 + got.counted,
        60,
        "every alert reported or counted once: {got:?} {pushes:#?}\n{}",
        three.logs()
    );
    assert!(got.reports.iter().all(|n| *n >= 1), "{got:?}");
    for env in &three.nodes {
        let log = env.log();
        assert!(
            log.matches("falls back to its own budget counts and cooldowns")
                .count()
                <= 1,
            "{log}"
        );
    }
    assert!(
        three
            .logs()
            .contains("falls back to its own budget counts and cooldowns"),
        "{}",
        three.logs()
    );
}

/// A distributed attack on one target, its alerts split across three nodes in turn: one
/// campaign, as on one node. Four addresses are analysed before it forms; the alert of the
/// fifth forms it on the node that has it (its worker adds its address to the nodes' campaign
/// before analysing it) and every later alert is counted into it, on whichever node. Both
/// give the same reports, the same campaign pushes and the same closing totals.
#[tokio::test]
async fn a_campaign_split_across_three_nodes_is_one_campaign() {
    let extra = "[dedup]\ncooldown_secs = 60\n\
                 [campaign]\nwindow_secs = 4\nmin_sources = 5\nupdate_secs = 3600";
    let one = Storm::with(1, extra).await;
    let three = Storm::with(3, extra).await;
    let ips: Vec<String> = (1..=12).map(|i| format!("185.220.102.{i}")).collect();
    std::thread::scope(|s| {
        for storm in [&one, &three] {
            let ips = &ips;
            s.spawn(move || {
                storm.send_each(&ips[..4], 0);
                // The reports of the first four are out before the rest comes.
                std::thread::sleep(Duration::from_millis(2500));
                storm.send_each(&ips[4..], 4);
                // Each address again, on another node than its first alert.
                storm.send_each(ips, 1);
            });
        }
    });
    let (alone, shared) = (one.pushes().await, three.pushes().await);
    let summary = |pushes: &[(String, String)]| {
        let titles: Vec<&str> = pushes.iter().map(|(t, _)| t.as_str()).collect();
        let reports = titles.iter().filter(|t| **t == "Storm report").count();
        // The formed push's totals are those when its worker sent it: its label is compared.
        let mut campaign: Vec<String> = titles
            .iter()
            .filter(|t| t.starts_with("Campaign"))
            .map(|t| match t.strip_prefix("Campaign: ") {
                Some(formed) => formed.split(',').next().unwrap_or_default().to_string(),
                None => t.to_string(),
            })
            .collect();
        campaign.sort();
        let digests = titles.iter().filter(|t| t.contains("more alerts")).count();
        (reports, campaign, digests)
    };
    let want = (
        4,
        vec![
            "Campaign over: web request (web-accesslog) against ubuntu-bionic, 12 addresses, \
             20 alerts"
                .to_string(),
            "web request (web-accesslog) against ubuntu-bionic".to_string(),
        ],
        0,
    );
    assert_eq!(summary(&alone), want, "one node: {alone:#?}");
    assert_eq!(
        summary(&shared),
        want,
        "three nodes: {shared:#?}\n{}",
        three.logs()
    );
    assert_eq!(one.llm.count(), 4);
    assert_eq!(three.llm.count(), 4);
    assert!(
        three.logs().contains("the manager nodes formed"),
        "{}",
        three.logs()
    );
}

/// Nodes that analyse in the foreground (`wazuh.detach = "never"`) ask the shared window too:
/// the second node counts what the first reports.
#[tokio::test]
async fn foreground_nodes_share_the_window_too() {
    let storm = Storm::with(
        2,
        "[wazuh]\ndetach = \"never\"\n[campaign]\nenabled = false",
    )
    .await;
    let ip = "185.220.101.91".to_string();
    storm.send_each(&[ip.clone(), ip.clone(), ip], 0);
    let pushes = storm.pushes().await;
    let titles: Vec<&str> = pushes.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(titles, vec!["Storm report"], "{}", storm.logs());
    assert_eq!(storm.llm.count(), 1);
    assert!(
        storm.nodes[1]
            .log()
            .contains("another manager node reports 185.220.101.91"),
        "{}",
        storm.logs()
    );
}
