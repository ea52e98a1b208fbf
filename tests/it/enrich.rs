//! Through the built binary: `ai-analyzer enrich IP [--json]` against the local fakes,
//! and the report's attacker profile filled from the investigation.

use std::time::Duration;

use crate::common::intel::{IntelFakes, IP, KEYS};
use crate::common::*;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn enrich(env: &Env, args: &[&str]) -> (i32, String, String) {
    let mut cmd = env.cmd();
    cmd.arg("enrich").args(args);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn assert_no_keys(what: &str, text: &str) {
    for k in KEYS {
        assert!(!text.contains(k), "{what} holds a key: {text}");
    }
}

#[tokio::test]
async fn enrich_shows_every_source_in_one_screen() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, false));
    let (code, out, err) = enrich(&env, &[IP]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.len() <= 45,
        "more than a screen: {} lines\n{out}",
        lines.len()
    );
    assert!(
        lines[0].starts_with(&format!("address       {IP} (public")),
        "{out}"
    );
    assert!(out.contains("risk          100/100 (malicious)"), "{out}");
    assert!(out.contains("+50  AbuseIPDB 100% (3319 reports)"), "{out}");
    for (label, status, says) in [
        ("ipinfo", "ok", "AS64500 Example Hosting B.V."),
        ("RDAP", "ok", "abuse contact abuse@whalebone.io"),
        ("AbuseIPDB", "ok", "confidence 100%"),
        (
            "VirusTotal",
            "ok",
            "9 malicious, 2 suspicious of 20 engines",
        ),
        ("GreyNoise", "ok", "classification malicious"),
        ("Shodan", "not_configured", "no API key"),
        ("InternetDB", "ok", "vulns CVE-2021-41617"),
        ("Tor exit list", "ok", "a Tor exit node"),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{label:<14}")))
            .unwrap_or_else(|| panic!("no {label} line in\n{out}"));
        assert!(
            line.contains(&format!("{status:<16}")) && line.contains(says),
            "{line}"
        );
    }
    for (zone, status, answer) in [
        (
            "zen.spamhaus.org",
            "listed",
            "SBL, XBL [127.0.0.2, 127.0.0.4]",
        ),
        ("bl.spamcop.net", "listed", "127.0.0.2"),
        ("b.barracudacentral.org", "not_listed", "NXDOMAIN"),
        (
            "dnsbl.dronebl.org",
            "listed",
            "brute-force attacker [127.0.0.13]",
        ),
    ] {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{zone} ")))
            .unwrap_or_else(|| panic!("no {zone} line in\n{out}"));
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[1], status, "{line}");
        assert!(line.ends_with(answer), "{line}");
    }
    assert_no_keys("stdout", &out);
    assert_no_keys("the log", &env.log());

    // A second run within the TTL: zero outside requests, everything from the cache.
    let http = fakes.http_requests().await;
    let dns = fakes.dns.queries().len();
    let (code, again, _) = enrich(&env, &[IP]);
    assert_eq!(code, 0);
    assert_eq!(fakes.http_requests().await, http, "HTTP asked again");
    assert_eq!(fakes.dns.queries().len(), dns, "DNS asked again");
    assert!(again.contains("ok (cached)"), "{again}");
    assert_no_keys("the state dir", &env.state_files());
}

#[tokio::test]
async fn enrich_json_has_the_documented_field_names() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, true));
    let (code, out, err) = enrich(&env, &["--json", IP]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["source"]["ip"], IP);
    assert_eq!(v["source"]["scope"], "global");
    let intel = &v["intel"];
    assert_eq!(intel["status"], "investigated");
    assert!(intel["elapsed_ms"].is_u64());
    let providers: Vec<&str> = intel["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["provider"].as_str().unwrap())
        .collect();
    assert_eq!(
        providers,
        [
            "ipinfo",
            "rdap",
            "abuseipdb",
            "virustotal",
            "greynoise",
            "shodan",
            "internetdb",
            "tor"
        ]
    );
    let abuse = &intel["sources"][2];
    assert_eq!(abuse["status"], "ok");
    assert_eq!(abuse["cached"], false);
    assert!(abuse["elapsed_ms"].is_u64());
    assert_eq!(abuse["data"]["score"], 100);
    assert_eq!(abuse["data"]["total_reports"], 3319);
    assert_eq!(abuse["data"]["is_tor"], true);
    assert_eq!(intel["sources"][3]["data"]["malicious"], 9);
    assert_eq!(intel["sources"][4]["data"]["classification"], "malicious");
    assert_eq!(
        intel["sources"][5]["data"]["ports"],
        serde_json::json!([22, 80, 443, 3389])
    );
    assert_eq!(intel["sources"][6]["status"], "skipped");
    assert!(intel["sources"][6]["reason"].is_string());
    assert_eq!(intel["sources"][7]["data"]["exit"], true);
    assert_eq!(intel["dnsbl"][0]["zone"], "zen.spamhaus.org");
    assert_eq!(intel["dnsbl"][0]["status"], "listed");
    assert_eq!(
        intel["dnsbl"][0]["lists"],
        serde_json::json!(["SBL", "XBL"])
    );
    assert_eq!(
        intel["dnsbl"][0]["answers"],
        serde_json::json!(["127.0.0.2", "127.0.0.4"])
    );
    assert_eq!(intel["dnsbl"][2]["status"], "not_listed");
    assert_eq!(intel["risk"]["score"], 100);
    assert_eq!(intel["risk"]["verdict"], "malicious");
    assert_eq!(intel["risk"]["reasons"][0]["points"], 50);
    assert_eq!(
        intel["risk"]["reasons"][0]["text"],
        "AbuseIPDB 100% (3319 reports)"
    );
    assert_no_keys("JSON", &out);
}

#[tokio::test]
async fn enrich_of_a_private_address_asks_nobody() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = Env::new(
        &dead_url(),
        "",
        "[[network.zones]]\nname = \"DMZ\"\ncidr = \"192.168.111.0/24\"\n",
    );
    env.intel(&fakes.toml(5, true));
    let (code, out, err) = enrich(&env, &["192.168.111.20"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("never sent to outside services; it is in the local zone DMZ"),
        "{out}"
    );
    let (code, out, _) = enrich(&env, &["--json", "::ffff:10.1.2.3"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["intel"]["status"], "not_sent");
    assert_eq!(v["intel"]["sources"], serde_json::json!([]));
    assert_eq!(fakes.http_requests().await, 0);
    assert!(fakes.dns.queries().is_empty());
    let (code, _, err) = enrich(&env, &["not-an-ip"]);
    assert_eq!(code, 2, "{err}");
}

/// The Windows logon-failure sample with its source address replaced by `ip`.
fn alert_from(env: &Env, ip: &str) -> std::path::PathBuf {
    let alert =
        read_fixture("alerts/windows_logon_failure_4625_60122.json").replace("218.92.0.222", ip);
    let file = env.dir.path().join("alert.json");
    std::fs::write(&file, alert).unwrap();
    file
}

/// The alert pipeline: the prompt's attacker profile and the fallback report carry the findings.
#[tokio::test]
async fn the_report_carries_the_investigation() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    // A model that answers: the prompt must carry every finding.
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(ollama_answer("# Report\n## Overview\nx")),
        )
        .mount(&llm)
        .await;
    let env = Env::new(&llm.uri(), "", "");
    env.intel(&fakes.toml(5, true));
    let mut cmd = env.cmd();
    cmd.args(["--dry-run", "--alert-file"])
        .arg(alert_from(&env, IP));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = llm.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(
        user.contains(
            "Risk score computed by ai-analyzer from the findings below: 100/100 (malicious)."
        ),
        "{user}"
    );
    for want in [
        "- AbuseIPDB: confidence 100%",
        "- VirusTotal: 9 malicious",
        "- Shodan: open ports 22, 80, 443, 3389",
        "- Not available: InternetDB (skipped)",
        "- DNS blocklists: zen.spamhaus.org listed (SBL, XBL)",
    ] {
        assert!(user.contains(want), "{want} not in the prompt");
    }
    assert_no_keys("the prompt", user);
    // The fakes heard the address and nothing else of the alert.
    let reqs = fakes.http.received_requests().await.unwrap();
    assert_eq!(reqs.len(), 7);
    for r in &reqs {
        assert!(r.body.is_empty());
        let seen = format!("{} {:?}", r.url, r.headers);
        for leak in ["WINSERVER2022", "administrator", "CONTOSO", "10.0.0.40"] {
            assert!(!seen.contains(leak), "{leak} sent to a source: {seen}");
        }
    }
}

#[tokio::test]
async fn the_fallback_report_carries_the_investigation() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, true));
    let mut cmd = env.cmd();
    cmd.args(["--dry-run", "--alert-file"])
        .arg(alert_from(&env, IP));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    for want in [
        "- Risk score: **100/100 (malicious)**",
        "- AbuseIPDB: confidence 100%, 3319 reports",
        "- RDAP: network CZ-WHALEBONEDNS-20050512",
        "- DNS blocklists: zen.spamhaus.org listed (SBL, XBL)",
        "Source address risk score: **100/100 (malicious)**, because:",
        "- +50 AbuseIPDB 100% (3319 reports)",
        "Block 185.220.101.33 at the firewall now",
        "Report the abuse to the network's abuse contact, abuse@whalebone.io.",
    ] {
        assert!(report.contains(want), "{want} not in\n{report}");
    }
    assert!(report.chars().count() <= 3500);
    assert_no_keys("the report", &report);
}

/// A private-address alert through the whole pipeline: not one request to any fake.
#[tokio::test]
async fn a_private_address_alert_asks_nobody() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, true));
    let mut cmd = env.cmd();
    cmd.args(["--dry-run", "--alert-file"])
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "172.17.1.1 is a private (RFC 1918) address: it is never sent to outside services"
        ),
        "{report}"
    );
    assert_eq!(fakes.http_requests().await, 0);
    assert!(fakes.dns.queries().is_empty());
}

/// A daily budget of 5 is never exceeded, also by 10 processes asking at the same moment: 5
/// requests reach AbuseIPDB, the other 5 runs say "budget spent", and `check` shows none left.
#[tokio::test]
async fn a_daily_budget_holds_across_ten_processes_at_once() {
    let fakes = IntelFakes::start(Duration::from_millis(50), None).await;
    let env = Env::new(&dead_url(), "", "");
    env.intel(&fakes.toml(5, false).replacen(
        "[providers.abuseipdb]\n",
        "[providers.abuseipdb]\ndaily_budget = 5\n",
        1,
    ));
    let children = enrich_all(&env, 1, 10);
    let outputs: Vec<String> = children
        .into_iter()
        .map(|c| text(&wait_with_deadline(c, Duration::from_secs(60)).stdout))
        .collect();
    let asked = fakes.abuseipdb_requests().await;
    assert_eq!(asked, 5, "AbuseIPDB asked {asked} times");
    let spent = outputs
        .iter()
        .filter(|o| o.contains("budget spent: 5 lookups today (providers.abuseipdb.daily_budget)"))
        .count();
    assert_eq!(spent, 5, "{outputs:#?}");
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert!(
        text(&out.stdout)
            .contains("budgets     left today (UTC): ipinfo 1590 of 1600, abuseipdb 0 of 5"),
        "{}",
        text(&out.stdout)
    );
}
