//! The corpus of real alerts (`tests/fixtures/alerts/corpus/`, origins in its PROVENANCE.md),
//! with what a person reads in each by hand (`expect.json`): the address to investigate and
//! its field, the direction, the family and the facts. Every alert is checked against it, and
//! every failure is listed at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ai_analyzer::analyze::{prompt, report};
use ai_analyzer::config::Settings;
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::intake::facts::{self, Family};
use ai_analyzer::investigate::{Direction, Evidence};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/alerts/corpus")
}

/// Every alert of the corpus with its expectations, by file name.
fn corpus() -> Vec<(String, Alert, Value)> {
    let expect: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("expect.json")).expect("expect"))
            .expect("expect.json");
    let alerts: Vec<(String, Alert, Value)> = expect
        .into_iter()
        .map(|(name, want)| {
            let text = std::fs::read_to_string(dir().join(&name)).expect("alert file");
            let alert = Alert::new(serde_json::from_str(&text).expect("one JSON alert"));
            (name, alert, want)
        })
        .collect();
    assert!(alerts.len() >= 40, "a corpus of at least 40 alerts");
    alerts
}

fn evidence(alert: &Alert) -> Evidence {
    Evidence::local(alert, &Settings::default().investigation())
}

fn check(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_corpus_covers_fifteen_families_and_every_file_is_expected() {
    let families: std::collections::BTreeSet<String> = corpus()
        .iter()
        .map(|(_, a, _)| format!("{:?}", facts::family(a)))
        .collect();
    assert!(families.len() >= 15, "{families:?}");
    let on_disk = std::fs::read_dir(dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .count();
    assert_eq!(
        on_disk,
        corpus().len() + 1,
        "every alert file has its expectations"
    );
}

#[test]
fn every_alert_gives_the_right_address_field_and_direction() {
    let mut failures = Vec::new();
    for (name, alert, want) in corpus() {
        let ev = evidence(&alert);
        let got_ip = ev.source.as_ref().map(|s| s.ip.to_string());
        let got_field = ev.source.as_ref().map(|s| s.field.clone());
        let want_ip = want["address"].as_str().map(String::from);
        let want_field = want["field"].as_str().map(String::from);
        if got_ip != want_ip || (want_ip.is_some() && got_field != want_field) {
            failures.push(format!(
                "{name}: address {got_ip:?} from {got_field:?}, want {want_ip:?} from {want_field:?}"
            ));
        }
        let want_dir = want["direction"].as_str().unwrap_or("none");
        let got_dir = match ev.direction {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::None => "none",
        };
        // A loopback or local source with no peer is still an address, read as inbound.
        if got_dir != want_dir && !(want_dir == "none" && got_dir == "inbound") {
            failures.push(format!("{name}: direction {got_dir}, want {want_dir}"));
        }
    }
    check(failures);
}

/// The family names of `expect.json` and ours.
fn family_name(f: Family) -> &'static str {
    match f {
        Family::Authentication => "authentication",
        Family::Windows => "windows",
        Family::Sysmon => "sysmon",
        Family::Fim => "fim",
        Family::Malware => "malware",
        Family::Vulnerability => "vulnerability",
        Family::Sca => "sca",
        Family::Rootcheck => "rootcheck",
        Family::Web => "web",
        Family::Ids => "ids",
        Family::Firewall => "firewall",
        Family::Cloud => "cloud",
        Family::Osquery => "osquery",
        Family::Docker => "docker",
        Family::Package => "package",
        Family::Other => "other",
    }
}

#[test]
fn every_alert_is_of_its_family() {
    let mut failures = Vec::new();
    for (name, alert, want) in corpus() {
        let got = family_name(facts::family(&alert));
        // A mail server's failed SASL login is an authentication failure to us.
        let want = match want["family"].as_str().unwrap_or("other") {
            "mail" => "authentication",
            other => other,
        };
        if got != want {
            failures.push(format!("{name}: family {got}, want {want}"));
        }
    }
    check(failures);
}

/// Facts of `expect.json` (its keys) that the report must carry under one of our labels.
const KEY_FACTS: &[(&str, &[&str])] = &[
    ("path", &["Path"]),
    ("file", &["File", "Path"]),
    ("md5", &["MD5"]),
    ("sha1", &["SHA1"]),
    ("md5_after", &["MD5 after"]),
    ("sha256_after", &["SHA256 after"]),
    ("audit_user", &["Changed by"]),
    ("package", &["Package"]),
    ("version", &["Version"]),
    ("cve", &["CVE"]),
    ("severity", &["Severity"]),
    ("policy", &["Policy"]),
    ("check_title", &["Check"]),
    ("result", &["Result"]),
    ("remediation", &["Remediation"]),
    ("service_name", &["Service name"]),
    ("service_path", &["Service path"]),
    ("command_line", &["Command line"]),
    ("image", &["Process image", "Image"]),
    ("parent_image", &["Parent"]),
    ("event_id", &["Event id"]),
    ("logon_type", &["Logon type"]),
    ("account", &["Account"]),
    ("url", &["URL"]),
    ("method", &["Method"]),
    ("status", &["Status"]),
    ("user_agent", &["User agent"]),
    ("signature", &["Signature"]),
    ("category", &["Category"]),
    ("operation", &["API call"]),
    ("api", &["API call"]),
    ("finding_type", &["Finding"]),
    ("region", &["Region"]),
    ("query_name", &["Query"]),
    ("image_name", &["Image"]),
    ("container", &["Container"]),
    ("title", &["Finding", "Title"]),
    ("user", &["User", "Account", "Principal"]),
];

/// The expected value as text (numbers and lists too).
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(as_text)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

#[test]
fn the_facts_a_person_needs_are_extracted() {
    let mut failures = Vec::new();
    for (name, alert, want) in corpus() {
        let got = facts::extract(&alert);
        let Some(wanted) = want["facts"].as_object() else {
            continue;
        };
        // Only what the family has a place for: a mail log's "result" is in its log line.
        let places = facts::labels(got.family);
        for (key, labels) in KEY_FACTS {
            if !labels.iter().any(|l| places.contains(l)) {
                continue;
            }
            let Some(value) = wanted.get(*key).and_then(as_text) else {
                continue;
            };
            if value.trim().is_empty() {
                continue;
            }
            let found = labels
                .iter()
                .filter_map(|l| got.get(l))
                .any(|v| v.contains(value.trim()) || value.contains(v));
            if !found {
                failures.push(format!(
                    "{name}: {key} = {value:?} not among {:?}",
                    labels.iter().map(|l| (l, got.get(l))).collect::<Vec<_>>()
                ));
            }
        }
    }
    check(failures);
}

#[test]
fn every_extracted_fact_is_in_the_prompt_and_the_report_without_ai() {
    let settings = Settings::default();
    let mut failures = Vec::new();
    for (name, alert, _) in corpus() {
        let ev = evidence(&alert);
        let got = facts::extract(&alert);
        let p = prompt::build(&alert, &ev, &settings, "0123456789abcdef");
        let r = report::fallback(&alert, &ev, "test", settings.ntfy.max_chars);
        for fact in &got.items {
            // The prompt neutralises line breaks; the report folds whitespace.
            let value: String = fact.value.chars().take(60).collect();
            if !p.user.contains(&format!("{}: {value}", fact.label)) {
                failures.push(format!("{name}: {} missing from the prompt", fact.label));
            }
            if !r.markdown.contains(&format!("- {}: {value}", fact.label)) {
                failures.push(format!("{name}: {} missing from the report", fact.label));
            }
        }
        if let Some(count) = &got.count {
            if !p.user.contains(count.as_str()) || !r.markdown.contains(count.as_str()) {
                failures.push(format!("{name}: the count {count:?} is missing"));
            }
        }
        let one_times = |t: &str| {
            t.match_indices("1 times")
                .any(|(i, _)| i == 0 || !t.as_bytes()[i - 1].is_ascii_digit())
        };
        if one_times(&r.markdown) || one_times(&p.user) {
            failures.push(format!("{name}: says \"1 times\""));
        }
    }
    check(failures);
}

/// Words that belong to one family's advice only.
const ADVICE_OF: &[(&str, &[&str])] = &[
    ("PasswordAuthentication", &["authentication"]),
    ("web server", &["web"]),
    ("change record", &["fim"]),
    ("quarantine", &["malware"]),
    ("Update ", &["vulnerability"]),
    ("Apply the remediation", &["sca"]),
    ("Security log", &["windows"]),
    ("debsums", &["rootcheck"]),
    ("disable those credentials", &["cloud"]),
    ("container", &["docker"]),
];

#[test]
fn advice_fits_the_family_and_never_blames_our_own_host() {
    let mut failures = Vec::new();
    for (name, alert, _) in corpus() {
        let ev = evidence(&alert);
        let family = family_name(facts::family(&alert));
        let r = report::fallback(&alert, &ev, "test", 3500);
        let actions = r
            .markdown
            .split("## Recommended actions")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        if actions.trim().is_empty() {
            failures.push(format!("{name}: no actions"));
        }
        for (word, families) in ADVICE_OF {
            if actions.contains(word) && !families.contains(&family) {
                failures.push(format!(
                    "{name} ({family}): advice {word:?} of another family"
                ));
            }
        }
        if actions.contains("holds 127.") {
            failures.push(format!("{name}: looks for the machine that holds loopback"));
        }
        if ev.direction == Direction::Outbound {
            let ours = ev
                .destination
                .as_ref()
                .map(|d| d.ip.to_string())
                .unwrap_or_default();
            if actions.contains(&format!("Block {ours}")) {
                failures.push(format!("{name}: says to block our own host {ours}"));
            }
            if !r.title.contains("outbound") {
                failures.push(format!(
                    "{name}: the title does not say outbound: {}",
                    r.title
                ));
            }
            let peer = ev
                .source
                .as_ref()
                .map(|s| s.ip.to_string())
                .unwrap_or_default();
            if !r
                .markdown
                .contains(&format!("Outbound from {ours} to {peer}"))
                && !r.markdown.contains(&format!(" to {peer}"))
            {
                failures.push(format!(
                    "{name}: the report does not say outbound to {peer}"
                ));
            }
        }
        if r.title.contains("unknown source") || r.title.matches(" from ").count() > 1 {
            failures.push(format!("{name}: title {:?}", r.title));
        }
        let count = r.markdown.matches("Written without AI").count();
        if count != 1 {
            failures.push(format!("{name}: \"Written without AI\" {count} times"));
        }
        // The mail and the archive: the full report says it once too.
        let full = report::full(&alert, &ev, &r, "now").to_lowercase();
        let count = full.matches("written without ai").count();
        if count != 1 {
            failures.push(format!(
                "{name}: the full report says \"written without AI\" {count} times"
            ));
        }
    }
    check(failures);
}

/// The prompt is the largest cost of a report on a CPU-only host: median at most 3,000
/// characters (system and user message together), none over 8,000.
#[test]
fn prompts_stay_small() {
    let settings = Settings::default();
    let mut sizes: Vec<(usize, String)> = corpus()
        .iter()
        .map(|(name, alert, _)| {
            let p = prompt::build(alert, &evidence(alert), &settings, "0123456789abcdef");
            (
                p.system.chars().count() + p.user.chars().count(),
                name.clone(),
            )
        })
        .collect();
    sizes.sort();
    let median = sizes[sizes.len() / 2].0;
    let (max, largest) = sizes.last().cloned().unwrap_or_default();
    assert!(median <= 3000, "median prompt {median} characters");
    assert!(max <= 8000, "largest prompt {max} characters ({largest})");
}
