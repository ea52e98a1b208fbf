//! Through the built binary: the earlier alerts of an address, from a generated Wazuh
//! alert tree (alerts.json hard-linked to today's file, rotated days plain and `.gz`, a corrupt
//! `.gz`, a half-written last line, look-alike addresses, IPv6) and from a fake Wazuh indexer
//! speaking OpenSearch's `_search`. Every assertion names exactly which events come back.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const IP: &str = "198.51.100.7";
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn wazuh_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// One alerts.json line, `timestamp` first as analysisd writes it; `n` goes into the alert id.
fn line(t: DateTime<Utc>, srcip: &str, rule: &str, user: &str, n: u32) -> String {
    let rest = json!({
        "rule":{"level":5,"description":format!("sshd rule {rule}"),"id":rule,
                "groups":["syslog","sshd","authentication_failed"]},
        "agent":{"id":"003","name":"web-01","ip":"10.0.0.5"},
        "manager":{"name":"wazuh-manager"},
        "id":format!("1718000000.{n}"),
        "full_log":format!("sshd[{n}]: Failed password for {user} from {srcip} port 4242 ssh2"),
        "decoder":{"parent":"sshd","name":"sshd"},
        "data":{"srcip":srcip,"dstuser":user,"dstport":"22"},
        "location":"/var/log/auth.log"})
    .to_string();
    format!("{{\"timestamp\":\"{}\",{}", wazuh_time(t), &rest[1..])
}

fn gz(lines: &[String]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for l in lines {
        writeln!(e, "{l}").expect("gzip");
    }
    e.finish().expect("gzip")
}

fn day_dir(root: &Path, t: DateTime<Utc>) -> PathBuf {
    let dir = root
        .join(format!("{}", t.year()))
        .join(MONTHS[t.month0() as usize]);
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A Wazuh alert tree under `root`, in UTC days (the binary runs with TZ=UTC): events at the
/// given ages, today's in a plain file that alerts.json is a hard link to (with a half-written
/// line at its end), earlier days in `.json.gz`, plus a corrupt piece two days back.
/// Returns the path of alerts.json.
fn alert_tree(root: &Path, now: DateTime<Utc>, events: &[(i64, String)]) -> PathBuf {
    let today = now.date_naive();
    let mut days: std::collections::BTreeMap<chrono::NaiveDate, Vec<(i64, String)>> =
        Default::default();
    for (age_min, l) in events {
        let t = now - chrono::Duration::minutes(*age_min);
        days.entry(t.date_naive())
            .or_default()
            .push((*age_min, l.clone()));
    }
    days.entry(today).or_default();
    for (day, mut lines) in days {
        // Oldest first, as the log is written.
        lines.sort_by_key(|(age, _)| std::cmp::Reverse(*age));
        let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
        let t = day.and_hms_opt(12, 0, 0).expect("noon").and_utc();
        let dir = day_dir(root, t);
        let stem = format!("ossec-alerts-{:02}", day.day());
        if day == today {
            let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            // analysisd is writing the next alert for the address.
            let partial = line(now, IP, "5710", "half", 999);
            text.push_str(&partial[..partial.len() / 2]);
            let path = dir.join(format!("{stem}.json"));
            std::fs::write(&path, text).expect("today");
            std::fs::hard_link(&path, root.join("alerts.json")).expect("link");
        } else {
            std::fs::write(dir.join(format!("{stem}.json.gz")), gz(&lines)).expect("gz");
        }
    }
    let two_days = now - chrono::Duration::hours(48);
    let mut corrupt = gz(&[line(two_days, IP, "5710", "lost", 500)]);
    let mid = corrupt.len() / 2;
    corrupt[mid..].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(
        day_dir(root, two_days).join(format!("ossec-alerts-{:02}-001.json.gz", two_days.day())),
        corrupt,
    )
    .expect("corrupt");
    root.join("alerts.json")
}

fn history_toml(alerts: &Path, extra: &str) -> String {
    format!(
        "[history]\nalerts_file = \"{}\"\nmax_events = 30\nlookback_hours = 72\n{extra}\n",
        alerts.display()
    )
}

fn enrich_json(env: &Env, ip: &str) -> Value {
    let mut cmd = env.cmd();
    cmd.env("TZ", "UTC").args(["enrich", ip, "--json"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("enrich --json prints JSON")
}

/// The alert ids in the summary's log lines are not exposed; the users are unique per event in
/// these tests, so they name the events.
fn users(history: &Value) -> Vec<String> {
    history["users"]
        .as_array()
        .expect("users")
        .iter()
        .map(|u| u["value"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn enrich_reads_today_then_rotated_days_and_skips_what_is_broken() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let root = dir.path().join("alerts");
    std::fs::create_dir_all(&root).expect("mkdir");
    let v6 = "2001:db8::7";
    let mapped = format!("::ffff:{IP}");
    // (age in minutes, source address, rule, user: unique, so it names the event)
    let spec: Vec<(i64, &str, &str, &str)> = vec![
        (5, IP, "5710", "u-5min"),
        (6, "198.51.100.70", "5710", "lookalike-70"),
        (7, &mapped, "5712", "u-mapped"),
        (8, "198.51.100.77", "5710", "lookalike-77"),
        (9, "10.0.0.9", "5710", "mentions"),
        (30 * 60, IP, "5760", "u-30h"),
        (60 * 60, IP, "5710", "u-60h"),
        (100 * 60, IP, "5710", "u-100h-too-old"),
        (10, v6, "5710", "v6-short"),
        (
            11,
            "2001:0DB8:0000:0000:0000:0000:0000:0007",
            "5710",
            "v6-long",
        ),
        (12, "2001:db8::70", "5710", "v6-lookalike"),
    ];
    let events: Vec<(i64, String)> = spec
        .iter()
        .enumerate()
        .map(|(n, (age, ip, rule, user))| {
            let l = line(
                now - chrono::Duration::minutes(*age),
                ip,
                rule,
                user,
                n as u32,
            );
            // The address only in the log line, not in an address field: not history.
            let l = l.replace("from 10.0.0.9 port", &format!("from {IP} port"));
            (*age, l)
        })
        .collect();
    let alerts = alert_tree(&root, now, &events);
    let env = Env::new(&dead_url(), "", &history_toml(&alerts, ""));

    let out = enrich_json(&env, IP);
    let h = &out["history"];
    assert_eq!(h["status"], "collected", "{h}");
    assert_eq!(h["backend"], "file");
    assert_eq!(h["events"], 4, "{h:#}");
    let mut got = users(h);
    got.sort();
    assert_eq!(got, vec!["u-30h", "u-5min", "u-60h", "u-mapped"]);
    assert_eq!(h["as_source"], 4);
    assert_eq!(h["limit_reached"], false);
    let rules: Vec<(String, u64)> = h["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().to_string(),
                r["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        rules,
        vec![
            ("5710".to_string(), 2),
            ("5712".to_string(), 1),
            ("5760".to_string(), 1)
        ]
    );
    let notes = h["notes"].to_string();
    assert!(notes.contains("-001.json.gz"), "{notes}");
    assert!(
        env.log().contains("history: skipped") && env.log().contains("-001.json.gz"),
        "{}",
        env.log()
    );
    let last_seen = h["last_seen"].as_str().expect("last_seen");
    let first_seen = h["first_seen"].as_str().expect("first_seen");
    let age = |s: &str| {
        (now - DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc))
        .num_minutes()
    };
    assert_eq!(age(last_seen), 5);
    assert_eq!(age(first_seen), 60 * 60);

    // IPv6: the RFC 5952 and the expanded upper-case spelling, not the look-alike.
    let out = enrich_json(&env, v6);
    let mut got = users(&out["history"]);
    got.sort();
    assert_eq!(got, vec!["v6-long", "v6-short"], "{}", out["history"]);

    // The limit keeps the newest: today's two, no rotated file needed (so no note).
    let env = Env::new(
        &dead_url(),
        "",
        &history_toml(&alerts, "").replace("max_events = 30", "max_events = 2"),
    );
    let h = enrich_json(&env, IP)["history"].clone();
    let mut got = users(&h);
    got.sort();
    assert_eq!(got, vec!["u-5min", "u-mapped"]);
    assert_eq!(h["limit_reached"], true);
    assert_eq!(h["notes"], json!([]));

    // The table shows the history too.
    let mut cmd = env.cmd();
    cmd.env("TZ", "UTC").args(["enrich", IP]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    let table = text(&out.stdout);
    assert!(
        table.contains("history       at least 2 earlier alerts for 198.51.100.7"),
        "{table}"
    );
    assert!(table.contains("Users: "), "{table}");
}

#[test]
fn a_missing_alert_log_is_not_collected_with_the_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope").join("alerts.json");
    let env = Env::new(&dead_url(), "", &history_toml(&missing, ""));
    let h = enrich_json(&env, IP)["history"].clone();
    assert_eq!(h["status"], "not_collected");
    let reason = h["reason"].as_str().expect("reason");
    assert!(
        reason.contains("cannot open") && reason.contains("nope/alerts.json"),
        "{reason}"
    );
}

/// The alert under analysis is in alerts.json too (analysisd wrote it before execd ran us): it
/// is not history, and neither is what came after it. The history reaches the model's prompt
/// and the no-AI report.
#[tokio::test]
async fn the_current_alert_is_not_history_and_the_history_reaches_the_prompt() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let at = |min: i64| now - chrono::Duration::minutes(min);
    let mut alert: Value =
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5763.json")).expect("fixture");
    alert["data"]["srcip"] = json!(IP);
    alert["timestamp"] = json!(wazuh_time(at(10)));
    let current = alert.to_string();
    let log = [
        line(at(40), IP, "5710", "earlier-1", 1),
        line(at(20), IP, "5710", "earlier-2", 2),
        current.clone(),
        line(at(5), IP, "5710", "after-the-alert", 3),
    ]
    .map(|l| format!("{l}\n"))
    .concat();
    let alerts = dir.path().join("alerts.json");
    std::fs::write(&alerts, log).expect("alerts.json");
    let alert_file = dir.path().join("alert.json");
    std::fs::write(&alert_file, &current).expect("alert");

    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(ollama_answer("# Brute force\nreport")),
        )
        .mount(&llm)
        .await;
    let env = Env::new(&llm.uri(), "", &history_toml(&alerts, ""));
    let mut cmd = env.cmd();
    cmd.env("TZ", "UTC")
        .arg("--alert-file")
        .arg(&alert_file)
        .arg("--dry-run");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = llm.received_requests().await.unwrap_or_default();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).expect("chat json");
    let prompt = body["messages"].to_string();
    assert!(
        prompt.contains("2 earlier alerts for 198.51.100.7 in the 72 h before"),
        "{prompt}"
    );
    assert!(
        prompt.contains("earlier-1") && prompt.contains("earlier-2"),
        "{prompt}"
    );
    assert!(!prompt.contains("after-the-alert"), "{prompt}");

    // Without the model, the no-AI report carries it.
    let env = Env::new(&dead_url(), "", &history_toml(&alerts, ""));
    let mut cmd = env.cmd();
    cmd.env("TZ", "UTC")
        .arg("--alert-file")
        .arg(&alert_file)
        .arg("--dry-run");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(60));
    let report = text(&out.stdout);
    assert!(
        report.contains("- History: 2 earlier alerts for 198.51.100.7"),
        "{report}"
    );
}

const INDEXER_PASSWORD: &str = "idx-Pa55-word-never-shown";

/// An OpenSearch `_search` answer with these alerts as `_source`, newest first.
fn search_answer(sources: &[Value]) -> Value {
    let hits: Vec<Value> = sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            json!({"_index":"wazuh-alerts-4.x-2026.11.27","_id":format!("AZ{i:05}x"),
                   "_score":null,"_source":s,"sort":[1_764_000_000_000u64 - i as u64]})
        })
        .collect();
    json!({"took":7,"timed_out":false,
           "_shards":{"total":3,"successful":3,"skipped":0,"failed":0},
           "hits":{"total":{"value":hits.len(),"relation":"eq"},"max_score":null,"hits":hits}})
}

/// Checks the request is the bool query the issue asks for: a timestamp range and a term on the
/// IP fields, at least one to match.
struct IsHistoryQuery;

impl wiremock::Match for IsHistoryQuery {
    fn matches(&self, request: &Request) -> bool {
        let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
            return false;
        };
        let b = &body["query"]["bool"];
        let range = &b["filter"][0]["range"]["timestamp"];
        let should = b["should"].as_array().cloned().unwrap_or_default();
        range["gte"].is_string()
            && range["lte"].is_string()
            && b["minimum_should_match"] == 1
            && should.contains(&json!({"term":{"data.srcip": IP}}))
            && should.contains(&json!({"term":{"data.dstip": IP}}))
            && should.contains(&json!({"term":{"agent.ip": IP}}))
            && body["size"] == 30
            && body["sort"][0]["timestamp"]["order"] == "desc"
    }
}

fn indexer_toml(url: &str, extra: &str) -> String {
    format!(
        "[history]\nbackend = \"indexer\"\n[history.indexer]\nurl = \"{url}\"\nusername = \"reader\"\n{extra}\n"
    )
}

#[tokio::test]
async fn indexer_backend_asks_opensearch_and_checks_every_hit() {
    use base64::Engine as _;
    let now = Utc::now();
    let src = |min: i64, ip: &str, user: &str, n: u32| -> Value {
        serde_json::from_str(&line(
            now - chrono::Duration::minutes(min),
            ip,
            "5710",
            user,
            n,
        ))
        .expect("alert")
    };
    let server = MockServer::start().await;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("reader:{INDEXER_PASSWORD}"))
    );
    Mock::given(method("POST"))
        .and(path("/wazuh-alerts-*/_search"))
        .and(header("authorization", auth.as_str()))
        .and(IsHistoryQuery)
        .respond_with(ResponseTemplate::new(200).set_body_json(search_answer(&[
            src(3, IP, "idx-1", 1),
            // A hit whose address field does not hold the address (an analyzer's doing): dropped.
            src(4, "198.51.100.70", "idx-lookalike", 2),
            src(90, &format!("::ffff:{IP}"), "idx-2", 3),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    let env = Env::new(&dead_url(), "", &indexer_toml(&server.uri(), ""));
    let mut cmd = env.cmd();
    cmd.env("AI_ANALYZER_INDEXER_PASSWORD", INDEXER_PASSWORD)
        .args(["enrich", IP, "--json"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let h = &v["history"];
    assert_eq!(h["status"], "collected", "{h}");
    assert_eq!(h["backend"], "indexer");
    assert_eq!(h["events"], 2);
    let mut got = users(h);
    got.sort();
    assert_eq!(got, vec!["idx-1", "idx-2"]);
    for what in [text(&out.stdout), text(&out.stderr), env.log()] {
        assert!(!what.contains(INDEXER_PASSWORD), "password leaked: {what}");
    }
}

#[tokio::test]
async fn indexer_refusal_is_not_collected_and_the_run_goes_on() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({
            "error":{"root_cause":[{"type":"security_exception","reason":"Authentication finally failed"}],
                     "type":"security_exception","reason":"Authentication finally failed"},
            "status":401})))
        .mount(&server)
        .await;
    let env = Env::new(
        &dead_url(),
        "",
        &indexer_toml(&server.uri(), &format!("password = \"{INDEXER_PASSWORD}\"")),
    );
    let mut cmd = env.cmd();
    cmd.args(["enrich", IP, "--json"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["history"]["status"], "not_collected");
    let reason = v["history"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("HTTP 401") && reason.contains("Authentication finally failed"),
        "{reason}"
    );
    for what in [text(&out.stdout), text(&out.stderr), env.log()] {
        assert!(!what.contains(INDEXER_PASSWORD), "password leaked: {what}");
    }

    // A CA file that holds no certificate: said, nothing sent.
    let before = server.received_requests().await.unwrap_or_default().len();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("root-ca.pem");
    std::fs::write(&ca, "not a certificate").expect("ca");
    let env = Env::new(
        &dead_url(),
        "",
        &indexer_toml(&server.uri(), &format!("ca_file = \"{}\"", ca.display())),
    );
    let mut cmd = env.cmd();
    cmd.args(["enrich", IP, "--json"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let reason = v["history"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("holds no PEM certificate"), "{reason}");
    assert_eq!(
        server.received_requests().await.unwrap_or_default().len(),
        before
    );
}

/// "Did they get in?": a failed-login alert whose address logged in afterwards (sshd
/// `Accepted`, rule group authentication_success) leads with `Outcome: login succeeded` and is
/// pushed at priority 5; without such a login it says how far it looked.
#[tokio::test]
async fn the_outcome_of_failed_logins_leads_the_report_and_the_push() {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Utc::now();
    let at = |min: i64| now - chrono::Duration::minutes(min);
    let mut alert: Value =
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5763.json")).expect("fixture");
    alert["data"]["srcip"] = json!(IP);
    alert["timestamp"] = json!(wazuh_time(at(10)));
    alert["rule"]["level"] = json!(6);
    let current = alert.to_string();
    let alert_file = dir.path().join("alert.json");
    std::fs::write(&alert_file, &current).expect("alert");
    let success = {
        let rest = json!({
            "rule":{"level":3,"description":"sshd: authentication success.","id":"5715",
                    "groups":["syslog","sshd","authentication_success"]},
            "agent":{"id":"003","name":"web-01","ip":"10.0.0.5"},
            "id":"1718000000.77",
            "predecoder":{"program_name":"sshd"},
            "full_log":format!("web-01 sshd[77]: Accepted password for root from {IP} port 4242 ssh2"),
            "decoder":{"parent":"sshd","name":"sshd"},
            "data":{"srcip":IP,"dstuser":"root"}})
        .to_string();
        format!("{{\"timestamp\":\"{}\",{}", wazuh_time(at(5)), &rest[1..])
    };
    let run = |log: String| {
        let alerts = dir.path().join("alerts.json");
        std::fs::write(&alerts, log).expect("alerts.json");
        let alerts = alerts.clone();
        let alert_file = alert_file.clone();
        async move {
            let ntfy = MockServer::start().await;
            Mock::given(method("POST"))
                .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
                .mount(&ntfy)
                .await;
            let env = Env::new(&dead_url(), &ntfy.uri(), &history_toml(&alerts, ""));
            let mut cmd = env.cmd();
            cmd.env("TZ", "UTC").arg("--alert-file").arg(&alert_file);
            let (out, _) = run_with_input(cmd, b"", Duration::from_secs(60));
            assert_eq!(out.status.code(), Some(0), "{}", env.log());
            let pushes = ntfy.received_requests().await.unwrap_or_default();
            assert_eq!(pushes.len(), 1, "{}", env.log());
            (
                text(&out.stdout),
                crate::common::header(&pushes[0], "priority"),
                text(&pushes[0].body),
            )
        }
    };
    let failure = line(at(40), IP, "5710", "admin", 1);
    let (report, priority, push) = run(format!("{failure}\n{current}\n{success}\n")).await;
    let want = format!(
        "**Outcome: login succeeded at {} as root (rule 5715 on web-01)**",
        wazuh_time(at(5))
    );
    assert_eq!(report.lines().nth(1), Some(want.as_str()), "{report}");
    assert!(push.starts_with(&want), "{push}");
    assert_eq!(
        priority, "5",
        "a login that worked is urgent whatever the level"
    );
    assert!(report.contains("treat web-01 as compromised"), "{report}");

    let (report, priority, push) = run(format!("{failure}\n{current}\n")).await;
    let want = "**Outcome: no successful login seen (72 h of the alert log searched)**";
    assert_eq!(report.lines().nth(1), Some(want), "{report}");
    assert!(push.starts_with(want), "{push}");
    assert_eq!(priority, "2", "level 6");
}

/// The outcome with the indexer backend: the same question, asked of the indexer's hits.
#[tokio::test]
async fn the_outcome_is_read_from_the_indexer_too() {
    let now = Utc::now();
    let at = |min: i64| now - chrono::Duration::minutes(min);
    let mut alert: Value =
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5763.json")).expect("fixture");
    alert["data"]["srcip"] = json!(IP);
    alert["timestamp"] = json!(wazuh_time(at(10)));
    let dir = tempfile::tempdir().expect("tempdir");
    let alert_file = dir.path().join("alert.json");
    std::fs::write(&alert_file, alert.to_string()).expect("alert");
    let success = json!({"timestamp": wazuh_time(at(5)),
        "rule":{"level":3,"description":"sshd: authentication success.","id":"5715",
                "groups":["syslog","sshd","authentication_success"]},
        "agent":{"id":"003","name":"web-01","ip":"10.0.0.5"},
        "predecoder":{"program_name":"sshd"},
        "full_log":format!("web-01 sshd[77]: Accepted password for deploy from {IP} port 4242 ssh2"),
        "decoder":{"parent":"sshd","name":"sshd"},
        "data":{"srcip":IP,"dstuser":"deploy"}});
    let failure: Value =
        serde_json::from_str(&line(at(40), IP, "5710", "admin", 1)).expect("alert");
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/wazuh-alerts-*/_search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(search_answer(&[success, failure])))
        .mount(&server)
        .await;
    let env = Env::new(&dead_url(), "", &indexer_toml(&server.uri(), ""));
    let mut cmd = env.cmd();
    cmd.env("AI_ANALYZER_INDEXER_PASSWORD", INDEXER_PASSWORD)
        .arg("--dry-run")
        .arg("--alert-file")
        .arg(&alert_file);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", env.log());
    let report = text(&out.stdout);
    let want = format!(
        "**Outcome: login succeeded at {} as deploy (rule 5715 on web-01)**",
        wazuh_time(at(5))
    );
    assert_eq!(report.lines().nth(1), Some(want.as_str()), "{report}");
}
