//! The verdict goes back into Wazuh: a real Unix datagram socket receives the event, and the
//! shipped decoder and rules match what the tool writes.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

fn bind(dir: &Path) -> (UnixDatagram, std::path::PathBuf) {
    let path = dir.join("queue");
    let sock = UnixDatagram::bind(&path).expect("bind datagram socket");
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (sock, path)
}

fn receive(sock: &UnixDatagram) -> String {
    let mut buf = vec![0u8; 65536];
    let n = sock.recv(&mut buf).expect("a datagram");
    String::from_utf8(buf[..n].to_vec()).expect("UTF-8")
}

/// Splits `1:<location>:<json>` at the JSON.
fn split(datagram: &str) -> (&str, Value) {
    let at = datagram.find(":{").expect("header then JSON");
    let json = serde_json::from_str(&datagram[at + 1..]).expect("JSON body");
    (&datagram[..=at], json)
}

async fn fakes() -> (MockServer, MockServer) {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer(
            "# Brute force on web-01\n## Overview\nMany failures.",
        )))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    (llm, ntfy)
}

#[tokio::test]
async fn agent_alert_verdict_reaches_analysisd_socket() {
    let (llm, ntfy) = fakes().await;
    let scratch = tempfile::tempdir().unwrap();
    let (sock, path) = bind(scratch.path());
    let env = Env::new(
        &llm.uri(),
        &ntfy.uri(),
        &format!(
            "[wazuh]\nqueue_socket = \"{}\"\n[[network.zones]]\nname = \"DMZ\"\ncidr = \"172.18.1.0/24\"",
            path.display()
        ),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5763.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let datagram = receive(&sock);
    let (header, event) = split(&datagram);
    assert_eq!(header, "1:[003] (web-01) 172.18.1.10->ai-analyzer:");
    assert_eq!(event["integration"], "ai-analyzer");
    let v = &event["ai_analyzer"];
    assert_eq!(
        v["verdict"], "unknown",
        "a private source is never looked up"
    );
    assert!(v["risk_score"].is_u64());
    assert!(v["reasons"].is_array());
    assert_eq!(v["source"]["ip"], "172.18.1.100");
    assert_eq!(v["source"]["scope"], "private");
    assert_eq!(v["source"]["zone"], "DMZ");
    assert_eq!(v["alert"]["rule_id"], "5763");
    assert_eq!(v["alert"]["level"], 10);
    assert_eq!(v["alert"]["agent_id"], "003");
    assert_eq!(v["alert"]["agent_name"], "web-01");
    assert_eq!(v["alert"]["timestamp"], "2020-03-24T15:38:42.512+0000");
    assert_eq!(v["title"], "Brute force on web-01");
    assert_eq!(v["summary"], "## Overview Many failures.");
    assert_eq!(v["ai"], true);
    let saved = v["report"].as_str().expect("report path");
    assert!(Path::new(saved).exists(), "{saved}");
    assert!(saved.starts_with(&env.state().display().to_string()));
}

#[tokio::test]
async fn manager_alert_uses_the_short_header_and_the_fallback_is_flagged() {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let scratch = tempfile::tempdir().unwrap();
    let (sock, path) = bind(scratch.path());
    let env = Env::new(
        &dead_url(),
        &ntfy.uri(),
        &format!("[wazuh]\nqueue_socket = \"{}\"", path.display()),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    let datagram = receive(&sock);
    assert!(
        datagram.starts_with("1:ai-analyzer:{\"integration\":\"ai-analyzer\","),
        "{datagram}"
    );
    let (_, event) = split(&datagram);
    assert_eq!(event["ai_analyzer"]["ai"], false);
    assert_eq!(event["ai_analyzer"]["alert"]["agent_id"], "000");
}

#[tokio::test]
async fn feedback_off_or_no_socket_changes_nothing_else() {
    let (llm, ntfy) = fakes().await;
    let scratch = tempfile::tempdir().unwrap();
    let (sock, path) = bind(scratch.path());
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let env = Env::new(
        &llm.uri(),
        &ntfy.uri(),
        &format!(
            "[wazuh]\nfeedback = false\nqueue_socket = \"{}\"",
            path.display()
        ),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    let mut buf = [0u8; 16];
    assert!(
        sock.recv(&mut buf).is_err(),
        "nothing sent with feedback = false"
    );

    // A missing socket (outside a manager) is a debug note, not a warning or an error.
    let env = Env::new(
        &llm.uri(),
        &ntfy.uri(),
        &format!(
            "[wazuh]\nqueue_socket = \"{}\"",
            scratch.path().join("absent").display()
        ),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(!env.log().contains("fed back"), "{}", env.log());
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 2);
}

/// The alert Wazuh raises from our event carries `data.integration = "ai-analyzer"` and the
/// group `ai_analyzer`: analysing it again would loop.
#[tokio::test]
async fn our_own_verdict_alert_is_never_analysed() {
    let (llm, ntfy) = fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let alert = serde_json::json!({
        "timestamp": "2026-01-01T00:00:00.000+0000",
        "rule": {"level": 12, "description": "ai-analyzer: malicious source 203.0.113.5: x",
                 "id": "100902", "groups": ["ai_analyzer"]},
        "agent": {"id": "000", "name": "wazuh-manager"},
        "decoder": {"parent": "json", "name": "ai-analyzer"},
        "data": {"integration": "ai-analyzer",
                 "ai_analyzer": {"verdict": "malicious", "source": {"ip": "203.0.113.5"}}},
        "location": "ai-analyzer"
    });
    for groups in [
        serde_json::json!(["ai_analyzer"]),
        serde_json::json!(["other"]),
    ] {
        let mut a = alert.clone();
        a["rule"]["groups"] = groups;
        let (out, _) = run_with_input(env.cmd(), a.to_string().as_bytes(), Duration::from_secs(10));
        assert_eq!(out.status.code(), Some(0));
    }
    assert!(llm.received_requests().await.unwrap().is_empty());
    assert!(ntfy.received_requests().await.unwrap().is_empty());
    assert_eq!(env.log().matches("skipped:").count(), 2, "{}", env.log());
}

/// Attacker-written text that names this tool (a URL, a user name) never skips an alert: a
/// level-15 shellshock and an sshd failure carrying `active-response/bin/ai-analyzer` are
/// analysed and pushed like any other.
#[tokio::test]
async fn our_name_in_attacker_text_never_skips_an_alert() {
    let (llm, ntfy) = fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut shellshock: serde_json::Value =
        serde_json::from_str(&read_fixture("alerts/web_shellshock_31168.json")).unwrap();
    shellshock["full_log"] = serde_json::json!(
        "203.0.113.7 - - [01/Feb/2021:20:58:43 +0000] \"GET /active-response/bin/ai-analyzer HTTP/1.1\" 200 612 \"-\" \"() { :; }; /bin/cat /etc/passwd\""
    );
    let sshd = serde_json::json!({
        "timestamp": "2026-01-01T00:00:00.000+0000",
        "rule": {"level": 5, "id": "5710", "groups": ["syslog", "sshd", "authentication_failed"],
                 "description": "sshd: Attempt to login using a non-existent user"},
        "agent": {"id": "001", "name": "web-01", "ip": "10.0.0.5"},
        "decoder": {"parent": "sshd", "name": "sshd"},
        "location": "/var/log/auth.log",
        "data": {"srcip": "203.0.113.7", "srcuser": "active-response/bin/ai-analyzer"},
        "full_log": "Jan  1 00:00:00 web-01 sshd[1]: Invalid user active-response/bin/ai-analyzer from 203.0.113.7 port 4242 ssh2"
    });
    for alert in [shellshock, sshd] {
        let (out, _) = run_with_input(
            env.cmd(),
            alert.to_string().as_bytes(),
            Duration::from_secs(20),
        );
        assert_eq!(out.status.code(), Some(0), "{}", env.log());
    }
    assert_eq!(env.log().matches("skipped:").count(), 0, "{}", env.log());
    assert_eq!(llm.received_requests().await.unwrap().len(), 2);
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 2);
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("examples/wazuh")
            .join(name),
    )
    .expect("shipped file")
}

/// A value at a dotted path of the decoded event, as Wazuh's JSON_Decoder names fields.
fn field<'a>(event: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(event, |v, k| &v[k])
}

/// Wazuh's OS_Regex for the subset the shipped rules use: `^` and `$` anchors around literals.
fn os_regex_matches(pattern: &str, value: &str) -> bool {
    // `|` separates alternatives (OS_Match); each is a literal, anchored or not.
    pattern.split('|').any(|alt| {
        let anchored_start = alt.starts_with('^');
        let anchored_end = alt.ends_with('$');
        let lit = alt.trim_start_matches('^').trim_end_matches('$');
        assert!(
            !lit.contains(['\\', '(', ')', '*', '+', '.']),
            "pattern {pattern} uses more than literals; extend this checker"
        );
        match (anchored_start, anchored_end) {
            (true, true) => value == lit,
            (true, false) => value.starts_with(lit),
            (false, true) => value.ends_with(lit),
            (false, false) => value.contains(lit),
        }
    })
}

#[test]
fn shipped_decoder_and_rules_parse_and_match_our_events() {
    let decoders = shipped("ai-analyzer_decoders.xml");
    let doc = roxmltree::Document::parse(&decoders).expect("decoders XML parses");
    let decoder = doc.root_element();
    assert_eq!(decoder.tag_name().name(), "decoder");
    assert_eq!(decoder.attribute("name"), Some("ai-analyzer"));
    let child = |n: roxmltree::Node, tag: &str| {
        n.children()
            .find(|c| c.has_tag_name(tag))
            .and_then(|c| c.text())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(child(decoder, "parent"), "json");
    assert_eq!(child(decoder, "plugin_decoder"), "JSON_Decoder");
    let prematch = child(decoder, "prematch");

    let rules = shipped("ai-analyzer_rules.xml");
    let doc = roxmltree::Document::parse(&rules).expect("rules XML parses");
    let group = doc.root_element();
    assert_eq!(group.attribute("name"), Some("ai_analyzer,"));
    let rules: Vec<_> = group
        .children()
        .filter(|c| c.has_tag_name("rule"))
        .collect();
    assert_eq!(rules.len(), 3);

    // The events the tool writes, one per verdict.
    let settings = ai_analyzer::config::Settings::default();
    let alert = ai_analyzer::intake::alert::Alert::new(
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5712.json")).unwrap(),
    );
    let evidence = ai_analyzer::investigate::Evidence::local(&alert, &settings.investigation());
    let report =
        ai_analyzer::analyze::report::Report::from_markdown("# Title\nx".into(), true, None);
    for (verdict, want_level) in [
        ("malicious", 12),
        ("suspicious", 8),
        ("unknown", 3),
        ("likely_benign", 3),
    ] {
        let mut event = ai_analyzer::deliver::feedback::event(&alert, &evidence, &report, None);
        event.ai_analyzer.verdict = verdict.to_string();
        let datagram =
            String::from_utf8(ai_analyzer::deliver::feedback::frame(&event, &alert)).unwrap();
        let (_, json) = split(&datagram);
        let log = &datagram[datagram.find(":{").unwrap() + 1..];
        assert!(
            os_regex_matches(&prematch, log),
            "prematch {prematch} on {log}"
        );

        // Walk the rules as analysisd would: the base rule, then the children by if_sid.
        let mut level = None;
        for rule in &rules {
            let id: u32 = rule.attribute("id").unwrap().parse().unwrap();
            assert!(id >= 100_000, "custom range");
            let fields_match = rule
                .children()
                .filter(|c| c.has_tag_name("field"))
                .all(|f| {
                    let name = f.attribute("name").unwrap();
                    let value = field(&json, name).as_str().unwrap_or_default();
                    os_regex_matches(f.text().unwrap_or_default(), value)
                });
            let decoded = child(*rule, "decoded_as");
            let parent = child(*rule, "if_sid");
            let applies = if parent.is_empty() {
                // The base rule takes only events at our location, never a log file that
                // imitates a verdict.
                let location = child(*rule, "location");
                let ours = datagram[2..datagram.find(":{").unwrap()].to_string();
                assert!(os_regex_matches(&location, &ours), "{location} on {ours}");
                assert!(!os_regex_matches(&location, "/var/log/app/events.json"));
                assert!(!os_regex_matches(&location, "/var/log/app/ai-analyzer"));
                decoded == "ai-analyzer"
            } else {
                level.is_some()
            };
            if applies && fields_match {
                level = Some(rule.attribute("level").unwrap().parse::<u32>().unwrap());
            }
            // Every field the description names exists in the event.
            let description = child(*rule, "description");
            for var in description.split("$(").skip(1) {
                let name = var.split(')').next().unwrap();
                assert!(
                    !field(&json, name).is_null(),
                    "{name} missing from the event"
                );
            }
        }
        assert_eq!(level, Some(want_level), "verdict {verdict}");
    }
}
