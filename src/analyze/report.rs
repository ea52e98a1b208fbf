//! The report: the model's text when it answered, else a deterministic Markdown report built from
//! the `Evidence` alone, with the same sections; and the archive of every report under
//! `state_dir/reports/`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::advice;
use crate::config::NTFY_MAX_BYTES;
use crate::intake::alert::{fold_line as one_line, Alert};
use crate::intake::facts::{self, Facts};
use crate::investigate::{Direction, Evidence, Intel, IntelStatus};

const TRUNCATED: &str = "\n\n_(truncated)_";

/// A finished report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The report's `# ` line, without the `# `.
    pub title: String,
    /// The Markdown, at most `ntfy.max_chars` characters and 4,096 bytes.
    pub markdown: String,
    /// The verdict line a push starts with: severity, risk, the most urgent action.
    #[serde(default)]
    pub lead: String,
    /// True when the text came from the model.
    pub ai: bool,
    /// Why the model's text is not used, when it is not.
    pub ai_unavailable: Option<String>,
    /// Addresses, CVEs and rule ids the model named that the evidence does not contain.
    pub unverified: Vec<String>,
}

impl Report {
    pub fn from_markdown(markdown: String, ai: bool, ai_unavailable: Option<String>) -> Self {
        let title = title_of(&markdown);
        Report {
            title,
            markdown,
            lead: String::new(),
            ai,
            ai_unavailable,
            unverified: Vec::new(),
        }
    }
}

/// The report's title: its first `# ` line.
pub fn title_of(markdown: &str) -> String {
    markdown
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| "Wazuh alert".into())
}

/// The push's body: the report without its title (the push's Title header carries it), led by
/// the verdict line when the report does not start with it already; within `max_chars`.
pub fn push_body(report: &Report, max_chars: usize) -> String {
    let rest = without_title(&report.markdown);
    let body = if report.lead.is_empty() || rest.starts_with(&report.lead) {
        rest.to_string()
    } else {
        format!("{}\n\n{rest}", report.lead)
    };
    fit(&body, max_chars)
}

/// Markdown without its `# ` title line (a push's Title header carries it) and the blank lines
/// after it.
pub fn without_title(markdown: &str) -> &str {
    match markdown.split_once('\n') {
        Some((first, rest)) if first.starts_with("# ") => rest.trim_start_matches(['\n', '\r']),
        None if markdown.starts_with("# ") => "",
        _ => markdown,
    }
}

/// Cuts text to at most `max_chars` characters and 4,096 bytes: at the last line that fits, or at a
/// character boundary when a single line is too long, and marks the cut.
pub fn fit(text: &str, max_chars: usize) -> String {
    let fits = |s: &str| s.len() <= NTFY_MAX_BYTES && s.chars().count() <= max_chars;
    if fits(text) {
        return text.to_string();
    }
    let budget_chars = max_chars.saturating_sub(TRUNCATED.chars().count());
    let budget_bytes = NTFY_MAX_BYTES.saturating_sub(TRUNCATED.len());
    // Longest prefix within both budgets, on a char boundary.
    let mut end = 0;
    for (count, (i, c)) in text.char_indices().enumerate() {
        if count >= budget_chars || i + c.len_utf8() > budget_bytes {
            break;
        }
        end = i + c.len_utf8();
    }
    let head = &text[..end];
    let head = match head.rfind('\n') {
        Some(nl) if nl > 0 => &head[..nl],
        _ => head,
    };
    format!("{}{TRUNCATED}", head.trim_end())
}

/// Appends a section (e.g. "Since the last report") so that it always survives the length cap:
/// the report is cut to make room for it.
pub fn with_appendix(markdown: &str, appendix: &str, max_chars: usize) -> String {
    let appendix = fit(appendix, max_chars / 2);
    let room = max_chars.saturating_sub(appendix.chars().count() + 2);
    let head = fit(markdown, room);
    let joined = format!("{}\n\n{appendix}", head.trim_end());
    // The byte limit binds too: cut the head again if the join went over it.
    if joined.len() <= NTFY_MAX_BYTES {
        joined
    } else {
        let over = joined.len() - NTFY_MAX_BYTES;
        let head = fit(&head, head.chars().count().saturating_sub(over + 16));
        format!("{}\n\n{appendix}", head.trim_end())
    }
}

/// The title the tool writes itself: the rule's description, the source (once: not when the
/// description names it already), and the target. Used by the no-AI report, and for a model's
/// answer that has no title of its own.
pub fn fallback_title(alert: &Alert, evidence: &Evidence) -> String {
    let description = one_line(alert.description().trim_end_matches('.'), 200);
    let target = one_line(&target_name(alert, evidence), 80);
    match (&evidence.source, evidence.direction) {
        (Some(peer), Direction::Outbound) => {
            let ours = evidence
                .destination
                .as_ref()
                .map(|d| d.ip.to_string())
                .unwrap_or_else(|| target.clone());
            if description.to_ascii_lowercase().contains(" from ") {
                format!("{description}: {ours} to {}, outbound", peer.ip)
            } else {
                format!("{description}: outbound from {ours} to {}", peer.ip)
            }
        }
        (Some(s), _) if !description.contains(&s.ip.to_string()) => {
            let lower = description.to_ascii_lowercase();
            if lower.contains(" from ") || lower.starts_with("from ") {
                format!("{description} (source {}) on {target}", s.ip)
            } else {
                format!("{description} from {} on {target}", s.ip)
            }
        }
        _ => format!("{description} on {target}"),
    }
}

/// What was attacked or changed: the agent, unless the alert came through the manager (agent
/// 000) from another device or a cloud service; then that device, account or destination.
fn target_name(alert: &Alert, evidence: &Evidence) -> String {
    let forwarded = evidence.agent.id.as_deref() == Some("000");
    if forwarded {
        // The syslog host, unless it is the manager itself (`localhost` for
        // `localhost.localdomain`).
        let first_label = |name: &str| name.split('.').next().unwrap_or(name).to_ascii_lowercase();
        let syslog_host = alert
            .text("predecoder.hostname")
            .filter(|h| first_label(h) != first_label(&evidence.agent.name));
        let named = [
            "data.devname",
            "data.hostname",
            "data.aws.accountId",
            "data.aws.recipientAccountId",
            "data.office365.OrganizationId",
            "data.gcp.resource.labels.project_id",
            "data.ms-graph.tenantId",
        ]
        .iter()
        .find_map(|p| alert.text(p).filter(|v| !v.trim().is_empty() && v != "-"))
        .or(syslog_host);
        if let Some(name) = named {
            return name;
        }
        if let (Some(d), Direction::Inbound) = (&evidence.destination, evidence.direction) {
            return d.ip.to_string();
        }
    }
    evidence.agent.name.clone()
}

/// The verdict line under the title, what a lock screen shows: the severity, the source's risk
/// score, and the most urgent action.
pub fn lead(alert: &Alert, evidence: &Evidence, facts: &Facts) -> String {
    let level = alert.rule_level();
    let risk = if evidence.intel.status == IntelStatus::Investigated {
        format!(", source risk {}", evidence.intel.risk.summary())
    } else {
        String::new()
    };
    let verdict = format!(
        "**{}** (rule level {level}{risk}). {}",
        severity_word(level),
        advice::top_action(evidence, facts)
    );
    // "Did it work?" comes before everything else.
    match &evidence.outcome {
        Some(outcome) => format!("**{}**\n{verdict}", one_line(&outcome.to_string(), 300)),
        None => verdict,
    }
}

/// The deterministic report for when the model is unavailable. It has the same sections as the
/// model's and says plainly that it was written without AI, and why.
pub fn fallback(alert: &Alert, evidence: &Evidence, reason: &str, max_chars: usize) -> Report {
    let title = fallback_title(alert, evidence);
    let facts = facts::extract(alert);
    let lead = lead(alert, evidence, &facts);
    let mut md = String::new();
    let _ = writeln!(md, "# {title}");
    let _ = writeln!(md, "{lead}");
    let _ = writeln!(
        md,
        "_Written without AI: {}. Facts below come straight from the alert._\n",
        one_line(reason, 300)
    );
    write_overview(&mut md, alert, evidence, &facts);
    write_attacker(&mut md, evidence, &facts);
    write_target_and_iocs(&mut md, evidence, &facts);
    write_risk(&mut md, alert.rule_level(), &evidence.intel);
    let mut actions = String::from("## Recommended actions\n");
    for (i, step) in advice::actions(evidence, &facts).iter().enumerate() {
        let _ = writeln!(actions, "{}. {step}", i + 1);
    }
    // The actions survive the length cap whole; the sections above are cut for them.
    let markdown = with_appendix(md.trim_end(), actions.trim_end(), max_chars);
    Report {
        title: title_of(&markdown),
        markdown,
        lead,
        ai: false,
        ai_unavailable: Some(reason.to_string()),
        unverified: Vec::new(),
    }
}

/// Overview, the facts of the alert's family, and the components involved.
fn write_overview(md: &mut String, alert: &Alert, evidence: &Evidence, facts: &Facts) {
    let level = alert.rule_level();
    let _ = writeln!(md, "## Overview");
    let count = facts
        .count
        .as_ref()
        .map(|c| format!(" ({c})"))
        .unwrap_or_default();
    let family = facts.family.name();
    let article = if family.starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U']) {
        "An"
    } else {
        "A"
    };
    let _ = writeln!(
        md,
        "{article} {family} alert: Wazuh rule {} (level {}, {}) fired on {}{}{count}.",
        alert.rule_id(),
        level,
        severity_word(level),
        one_line(&evidence.agent.name, 60),
        alert
            .timestamp()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default()
    );
    if let (Direction::Outbound, Some(peer)) = (evidence.direction, &evidence.source) {
        let ours = evidence
            .destination
            .as_ref()
            .map(|d| d.ip.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "Outbound from {ours} (ours) to {}: the peer is what was investigated.",
            peer.ip
        );
    }
    let _ = writeln!(md, "\n## Incident details");
    let _ = writeln!(md, "- Rule: {}", one_line(&alert.description(), 300));
    for fact in &facts.items {
        let _ = writeln!(md, "- {}: {}", fact.label, fact.value);
    }
    if let Some(log) = alert.full_log() {
        let _ = writeln!(md, "- Log: `{}`", one_line(&log, 300).replace('`', "'"));
    }
    let _ = writeln!(md, "\n## Involved components");
    let _ = writeln!(md, "- Agent: {}", describe_agent(evidence));
    let groups = alert.groups();
    if !groups.is_empty() {
        let _ = writeln!(md, "- Rule groups: {}", one_line(&groups.join(", "), 200));
    }
    if let Some(loc) = alert.text("location") {
        let _ = writeln!(md, "- Log source: {}", one_line(&loc, 100));
    }
}

/// Attacker profile: the address, what the sources and blocklists said (the ones that could not
/// answer on one line; the full report has their reasons), its history.
fn write_attacker(md: &mut String, evidence: &Evidence, facts: &Facts) {
    let _ = writeln!(md, "\n## Attacker profile");
    if evidence.source.is_none() && facts.family.is_host_event() {
        let _ = writeln!(
            md,
            "- None: a {} event on the host itself, with no address to look up.",
            facts.family
        );
        return;
    }
    match &evidence.source {
        Some(s) => {
            let _ = writeln!(md, "- Address: {} (field {})", s.describe(), s.field);
        }
        None => {
            let _ = writeln!(md, "- No source address in the alert.");
        }
    }
    let intel = &evidence.intel;
    if intel.status == IntelStatus::Investigated {
        let _ = writeln!(md, "- Risk score: **{}**", intel.risk.summary());
        if let Some(note) = &intel.note {
            let _ = writeln!(md, "- Note: {}", one_line(note, 200));
        }
        let mut unavailable = Vec::new();
        for s in &intel.sources {
            match s.finding.status() {
                "ok" | "not_found" => {
                    let _ = writeln!(md, "- {}", one_line(&s.line(), 240));
                }
                status => unavailable.push(format!(
                    "{} ({})",
                    s.provider.label(),
                    status.replace('_', " ")
                )),
            }
        }
        if !unavailable.is_empty() {
            let _ = writeln!(
                md,
                "- Not available: {} (details in the full report)",
                unavailable.join(", ")
            );
        }
        if !intel.dnsbl.is_empty() {
            let _ = writeln!(
                md,
                "- DNS blocklists: {}",
                one_line(&crate::investigate::dnsbl_line(&intel.dnsbl), 400)
            );
        }
    } else if let Some(note) = &intel.note {
        let _ = writeln!(md, "- Threat intelligence: {}.", one_line(note, 300));
    }
    let _ = writeln!(
        md,
        "- History: {}",
        one_line(&evidence.history.brief(), 500)
    );
}

/// The facts that are indicators of compromise: addresses, accounts, files, hashes, URLs.
const IOC_LABELS: &[&str] = &[
    "User",
    "Account",
    "Principal",
    "Changed by",
    "Path",
    "File",
    "Target file",
    "Process image",
    "Command line",
    "Service path",
    "MD5",
    "SHA1",
    "MD5 after",
    "SHA1 after",
    "SHA256 after",
    "Hashes",
    "URL",
    "CVE",
];

/// Target system and indicators of compromise.
fn write_target_and_iocs(md: &mut String, evidence: &Evidence, facts: &Facts) {
    let _ = writeln!(md, "\n## Target system");
    let _ = writeln!(md, "- {}", describe_agent(evidence));
    if let Some(d) = &evidence.destination {
        let role = if evidence.direction == Direction::Outbound {
            "Our host in the traffic"
        } else {
            "Destination"
        };
        let _ = writeln!(md, "- {role}: {}", d.describe());
    }
    let _ = writeln!(md, "\n## Indicators of compromise");
    let mut iocs = Vec::new();
    if let Some(s) = &evidence.source {
        iocs.push(format!("IP {}", s.ip));
    }
    for fact in facts.items.iter().filter(|f| IOC_LABELS.contains(&f.label)) {
        iocs.push(format!(
            "{} `{}`",
            fact.label,
            one_line(&fact.value, 160).replace('`', "'")
        ));
    }
    if iocs.is_empty() {
        let _ = writeln!(md, "- None in the alert.");
    }
    for ioc in iocs {
        let _ = writeln!(md, "- {ioc}");
    }
}

/// Risk assessment: the rule level's word, and the source address's score with its reasons.
fn write_risk(md: &mut String, level: u32, intel: &Intel) {
    let _ = writeln!(md, "\n## Risk assessment");
    let _ = writeln!(
        md,
        "**{}**, from the rule level ({level}); no analyst has weighed it.",
        severity_word(level)
    );
    let risk = &intel.risk;
    if intel.status == IntelStatus::Investigated {
        let _ = writeln!(
            md,
            "\nSource address risk score: **{}**{}",
            risk.summary(),
            if risk.reasons.is_empty() {
                ", no rule fired."
            } else {
                ", because:"
            }
        );
        for r in &risk.reasons {
            let _ = writeln!(md, "- {:+} {}", r.points, one_line(&r.text, 160));
        }
    }
}

/// Wazuh's level bands, in the words of the risk scale the analyst uses.
pub fn severity_word(level: u32) -> &'static str {
    match level {
        12.. => "Critical",
        10..=11 => "High",
        7..=9 => "Medium",
        _ => "Low",
    }
}

fn describe_agent(evidence: &Evidence) -> String {
    let a = &evidence.agent;
    let mut s = one_line(&a.name, 60);
    if let Some(id) = &a.id {
        let _ = write!(s, " (agent {})", one_line(id, 20));
    }
    if let Some(addr) = &a.address {
        let _ = write!(s, ", {}", addr.describe());
    }
    s
}

/// What is kept of one analysis under `state_dir/reports/`.
#[derive(Serialize)]
pub struct Archived<'a> {
    pub report: &'a Report,
    pub alert: &'a serde_json::Value,
    pub evidence: &'a Evidence,
    pub created: String,
    /// The full report (the `.md` file); not repeated in the JSON.
    #[serde(skip)]
    pub full: &'a str,
}

/// The long-form report: the short report's sections in full, then an evidence appendix (every
/// source's finding, the DNSBL listings, the risk score, the history, the raw alert). For the
/// archive, the mail and the push's Click link; no length cap.
pub fn full(alert: &Alert, evidence: &Evidence, report: &Report, created: &str) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}", report.title);
    let origin = if report.ai {
        "analysis written by the local LLM".to_string()
    } else {
        format!(
            "written without AI ({})",
            report
                .ai_unavailable
                .as_deref()
                .unwrap_or("no reason given")
        )
    };
    let _ = writeln!(md, "_Report of {created}, {origin}._\n");
    // The verdict line (and the outcome) that the push led with, when the body lacks it.
    if !report.lead.is_empty() && !report.markdown.contains(&report.lead) {
        let _ = writeln!(md, "{}\n", report.lead);
    }
    if !report.unverified.is_empty() {
        let _ = writeln!(
            md,
            "{}\n",
            crate::analyze::guard::flag_line(&report.unverified)
        );
    }
    // The short report's body, without its title (and the flag line and the no-AI line, both
    // shown above).
    for line in report.markdown.lines().skip(1) {
        if !line.starts_with("_⚠ Unverified:") && !line.starts_with("_Written without AI:") {
            let _ = writeln!(md, "{line}");
        }
    }
    // Fenced blocks: a fence inside the data must not end them.
    let fence = |text: &str| text.replace("```", "` ` `");
    let _ = writeln!(md, "\n## Evidence appendix\n");
    let _ = writeln!(md, "### Investigation\n");
    let _ = writeln!(md, "```text\n{}\n```\n", fence(evidence.table().trim_end()));
    let _ = writeln!(md, "### Raw alert\n");
    let raw = serde_json::to_string_pretty(alert.json()).unwrap_or_default();
    let _ = writeln!(md, "```json\n{}\n```", fence(&raw));
    md
}

/// Writes `<stamp>-<slug>.md` and `.json` under `dir` (created 0750, files 0640, written atomically).
/// Returns the path of the Markdown file.
pub fn archive(dir: &Path, stem: &str, archived: &Archived<'_>) -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    crate::util::fsutil::create_private_dir(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let md_path = dir.join(format!("{stem}.md"));
    let json_path = dir.join(format!("{stem}.json"));
    let json = serde_json::to_vec_pretty(archived)?;
    crate::util::fsutil::write_atomic(&json_path, &json)
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    let mut md = if archived.full.is_empty() {
        archived.report.markdown.clone()
    } else {
        archived.full.to_string()
    };
    if !md.ends_with('\n') {
        md.push('\n');
    }
    crate::util::fsutil::write_atomic(&md_path, md.as_bytes())
        .with_context(|| format!("cannot write {}", md_path.display()))?;
    Ok(md_path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn sample(name: &str) -> Alert {
        let path = format!(
            "{}/tests/fixtures/alerts/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        Alert::new(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
    }

    #[test]
    fn fit_keeps_short_text() {
        assert_eq!(fit("# a\nb", 3500), "# a\nb");
    }

    #[test]
    fn fit_cuts_on_lines_and_bytes() {
        let text = format!("# T\n{}", "€€€€€€€€€€\n".repeat(500));
        let out = fit(&text, 3500);
        assert!(out.len() <= NTFY_MAX_BYTES, "{}", out.len());
        assert!(out.ends_with(TRUNCATED));
        let body = out.trim_end_matches(TRUNCATED);
        assert!(body.lines().all(|l| l == "# T" || l == "€€€€€€€€€€"));
        // One giant line is cut on a char boundary.
        let out = fit(&"ü".repeat(5000), 300);
        assert!(out.chars().count() <= 300);
    }

    #[test]
    fn fallback_has_every_section_and_says_why() {
        let settings = Settings::default();
        for name in [
            "sshd_bruteforce_5712.json",
            "sshd_bruteforce_5763.json",
            "web_shellshock_31168.json",
            "pfsense_filterlog_block_87701.json",
            "windows_logon_failure_4625_60122.json",
            "fim_file_added_554_no_ip.json",
        ] {
            let alert = sample(name);
            let ev = Evidence::local(&alert, &settings.investigation());
            let r = fallback(&alert, &ev, "Ollama is unreachable", 3500);
            assert!(r.markdown.starts_with("# "), "{name}");
            assert!(r
                .markdown
                .contains("Written without AI: Ollama is unreachable"));
            for section in [
                "## Overview",
                "## Involved components",
                "## Incident details",
                "## Attacker profile",
                "## Target system",
                "## Indicators of compromise",
                "## Risk assessment",
                "## Recommended actions",
            ] {
                assert!(r.markdown.contains(section), "{name} lacks {section}");
            }
            assert!(r.markdown.chars().count() <= 3500);
            assert!(!r.ai);
        }
    }

    #[test]
    fn fallback_snapshot() {
        let alert = sample("sshd_bruteforce_5712.json");
        let ev = Evidence::local(&alert, &Settings::default().investigation());
        insta::assert_snapshot!(
            fallback(
                &alert,
                &ev,
                "Ollama is unreachable at http://127.0.0.1:11434 (Connection refused)",
                3500
            )
            .markdown
        );
    }

    /// The fallback's attacker profile shows every finding and the blocklists, and its
    /// risk assessment the score with its reasons.
    #[test]
    fn fallback_carries_the_investigation() {
        let alert = sample("windows_logon_failure_4625_60122.json");
        let mut ev = Evidence::local(&alert, &Settings::default().investigation());
        ev.intel = crate::investigate::samples::sample_intel();
        let md = fallback(&alert, &ev, "Ollama is unreachable", 3500).markdown;
        let section = |name: &str| {
            md.split(&format!("## {name}\n"))
                .nth(1)
                .and_then(|rest| rest.split("\n## ").next())
                .unwrap_or_default()
                .to_string()
        };
        let profile = section("Attacker profile");
        for want in [
            "- Risk score: **100/100 (malicious)**",
            "- ipinfo: AS64500 Example Hosting B.V.",
            "- AbuseIPDB: confidence 100%, 3319 reports",
            "- VirusTotal (cached): 9 malicious, 2 suspicious of 20 engines",
            "- GreyNoise: classification malicious",
            "- Not available: RDAP (timed out), Shodan (not configured) (details in the full report)",
            "- InternetDB: open ports 22, 80, 443, 3389",
            "- Tor exit list: a Tor exit node",
            "- DNS blocklists: zen.spamhaus.org listed (SBL, XBL); bl.spamcop.net listed",
        ] {
            assert!(profile.contains(want), "{want} missing from:\n{profile}");
        }
        let risk = section("Risk assessment");
        for want in [
            "Source address risk score: **100/100 (malicious)**, because:",
            "- +50 AbuseIPDB 100% (3319 reports)",
            "- +25 listed in Spamhaus XBL (exploited or infected host)",
            "- +15 Tor exit (Tor exit list, AbuseIPDB, InternetDB, ipinfo)",
        ] {
            assert!(risk.contains(want), "{want} missing from:\n{risk}");
        }
        assert!(md.contains("Block 218.92.0.222 at the firewall now"));
        assert!(md.chars().count() <= 3500);
        insta::assert_snapshot!(md);
    }

    /// The fallback's attacker profile carries the history in brief.
    #[test]
    fn fallback_carries_the_history() {
        let settings = Settings::default();
        let alert = sample("sshd_bruteforce_5763.json");
        let mut ev = Evidence::local(&alert, &settings.investigation());
        ev.history = crate::investigate::samples::sample_history(&settings.investigation());
        let md = fallback(&alert, &ev, "Ollama is unreachable", 3500).markdown;
        let line = md
            .lines()
            .find(|l| l.starts_with("- History: "))
            .expect("history line");
        assert!(
            line.starts_with("- History: 9 earlier alerts for 172.18.1.100 in the 72 h before"),
            "{line}"
        );
        assert!(line.contains("Rules: 5503 ×3, 5710 ×3, 5760 ×3."), "{line}");
        assert!(line.contains("Users: admin, oracle, root."), "{line}");
        assert!(line.contains("Ports: 22."), "{line}");
        assert!(md.chars().count() <= 3500);
    }

    #[test]
    fn severity_bands() {
        assert_eq!(severity_word(15), "Critical");
        assert_eq!(severity_word(10), "High");
        assert_eq!(severity_word(7), "Medium");
        assert_eq!(severity_word(3), "Low");
    }

    #[test]
    fn title_is_the_first_h1_line_trimmed() {
        assert_eq!(title_of("# Brute force  \nbody"), "Brute force");
        assert_eq!(title_of("intro\n## Sub\n# Real one\n# Second"), "Real one");
        assert_eq!(title_of("#NoSpace\n## Sub"), "Wazuh alert");
        assert_eq!(title_of(""), "Wazuh alert");
        let r = Report::from_markdown("x\n# From the model\nbody".into(), true, None);
        assert_eq!(r.title, "From the model");
        assert_eq!(r.markdown, "x\n# From the model\nbody");
        assert!(r.ai);
        assert_eq!(r.ai_unavailable, None);
        assert!(r.unverified.is_empty());
        let r = Report::from_markdown("no title".into(), false, Some("down".into()));
        assert_eq!(r.title, "Wazuh alert");
        assert!(!r.ai);
        assert_eq!(r.ai_unavailable.as_deref(), Some("down"));
    }

    #[test]
    fn fit_character_limit_exactly_at_under_and_over() {
        assert_eq!(TRUNCATED.chars().count(), 15);
        assert_eq!(fit(&"a".repeat(299), 300), "a".repeat(299));
        assert_eq!(fit(&"a".repeat(300), 300), "a".repeat(300));
        // One over: cut so that text and mark together are exactly the limit.
        let out = fit(&"a".repeat(301), 300);
        assert_eq!(out, format!("{}{TRUNCATED}", "a".repeat(285)));
        assert_eq!(out.chars().count(), 300);
        // Multi-byte characters count as one each.
        assert_eq!(fit(&"€".repeat(300), 300), "€".repeat(300));
        assert_eq!(
            fit(&"ü".repeat(5000), 300),
            format!("{}{TRUNCATED}", "ü".repeat(285))
        );
    }

    #[test]
    fn fit_byte_limit_exactly_at_under_and_over() {
        assert_eq!(NTFY_MAX_BYTES, 4096);
        assert_eq!(fit(&"a".repeat(4095), 5000), "a".repeat(4095));
        assert_eq!(fit(&"a".repeat(4096), 5000), "a".repeat(4096));
        let out = fit(&"a".repeat(4097), 5000);
        assert_eq!(out, format!("{}{TRUNCATED}", "a".repeat(4081)));
        assert_eq!(out.len(), 4096);
        // 3-byte characters after one ASCII byte: the last '€' ends exactly at the byte budget
        // (1 + 3 x 1360 = 4081) and is kept; the next one would pass it.
        let out = fit(&format!("a{}", "€".repeat(2000)), 3500);
        assert_eq!(out, format!("a{}{TRUNCATED}", "€".repeat(1360)));
        assert_eq!(out.len(), 4096);
        // Under both limits in characters but over in bytes.
        let out = fit(&"€".repeat(1366), 3500);
        assert_eq!(out, format!("{}{TRUNCATED}", "€".repeat(1360)));
        assert_eq!(out.len(), 4095);
    }

    #[test]
    fn fit_cuts_at_the_last_whole_line_but_not_at_a_leading_newline() {
        let text = format!("# T\n{}", "line\n".repeat(100));
        // 285 characters fit: "# T\n", 56 lines and an "l"; the partial line goes.
        assert_eq!(
            fit(&text, 300),
            format!("# T\n{}line{TRUNCATED}", "line\n".repeat(55))
        );
        // The only newline is the first character: the text is cut mid-line instead.
        assert_eq!(
            fit(&format!("\n{}", "a".repeat(400)), 300),
            format!("\n{}{TRUNCATED}", "a".repeat(284))
        );
        // Trailing blanks before the mark are dropped.
        assert_eq!(
            fit(&format!("{}\n{}", "a  ".repeat(10), "b".repeat(400)), 300),
            format!("{}{TRUNCATED}", "a  ".repeat(10).trim_end())
        );
    }

    #[test]
    fn with_appendix_joins_short_texts_unchanged() {
        assert_eq!(
            with_appendix("# T\nbody\n\n", "## Since the last report\nx", 3500),
            "# T\nbody\n\n## Since the last report\nx"
        );
    }

    #[test]
    fn with_appendix_cuts_the_report_to_make_room() {
        // The appendix gets at most half; the report the rest, less the blank line between.
        let out = with_appendix(&"a".repeat(400), &"b".repeat(200), 300);
        assert_eq!(
            out,
            format!(
                "{}{TRUNCATED}\n\n{}{TRUNCATED}",
                "a".repeat(133),
                "b".repeat(135)
            )
        );
        assert_eq!(out.chars().count(), 300);
        // A short appendix is kept whole and the report fills the remaining room exactly.
        let appendix = "## Since the last report\nx";
        let out = with_appendix(&"a".repeat(400), appendix, 300);
        assert_eq!(out, format!("{}{TRUNCATED}\n\n{appendix}", "a".repeat(257)));
        assert_eq!(out.chars().count(), 300);
    }

    #[test]
    fn with_appendix_byte_limit_exactly_and_over() {
        // 4,084 + 2 + 10 bytes: exactly the limit, nothing is cut.
        let appendix = "## Since\nx";
        let out = with_appendix(&"a".repeat(4084), appendix, 4096);
        assert_eq!(out, format!("{}\n\n{appendix}", "a".repeat(4084)));
        assert_eq!(out.len(), 4096);
        // 3-byte characters fit the character room but not the bytes: 4,080 + 2 + 40 is 26
        // over, so the report is cut again to 1,360 - 26 - 16 characters including the mark.
        let appendix = format!("## Since the last report\n{}", "x".repeat(15));
        assert_eq!(appendix.len(), 40);
        let out = with_appendix(&"€".repeat(1360), &appendix, 3500);
        assert_eq!(
            out,
            format!("{}{TRUNCATED}\n\n{appendix}", "€".repeat(1303))
        );
        assert_eq!(out.len(), 3966);
    }

    fn evidence(alert: &Alert) -> Evidence {
        Evidence::local(alert, &Settings::default().investigation())
    }

    #[test]
    fn fallback_title_names_description_source_and_agent() {
        let alert = sample("sshd_bruteforce_5712.json");
        assert_eq!(
            fallback_title(&alert, &evidence(&alert)),
            "sshd: brute force trying to get access to the system. Non existent user from \
             172.17.1.1 on localhost.localdomain"
        );
        let alert = sample("fim_file_added_554_no_ip.json");
        assert_eq!(
            fallback_title(&alert, &evidence(&alert)),
            "File added to the system on Ubuntu"
        );
        let alert = Alert::new(serde_json::json!({"rule":{"description":"Many\n  words..."}}));
        assert_eq!(
            fallback_title(&alert, &evidence(&alert)),
            "Many words on unknown agent"
        );
        let r = fallback(&alert, &evidence(&alert), "off", 3500);
        assert_eq!(r.title, "Many words on unknown agent");
        // One "from": a description that names the source already, or says "from" itself.
        let named = Alert::new(serde_json::json!({"rule":{"description":
            "Traffic Denied: from 203.0.113.5 to 10.0.0.1"},"agent":{"name":"wazuh"},
            "data":{"srcip":"203.0.113.5","dstip":"10.0.0.1"}}));
        assert_eq!(
            fallback_title(&named, &evidence(&named)),
            "Traffic Denied: from 203.0.113.5 to 10.0.0.1 on wazuh"
        );
        let from = Alert::new(
            serde_json::json!({"rule":{"description":"Login from abroad"},
            "agent":{"name":"vpn"},"data":{"srcip":"203.0.113.5"}}),
        );
        assert_eq!(
            fallback_title(&from, &evidence(&from)),
            "Login from abroad (source 203.0.113.5) on vpn"
        );
        // Outbound: our host to the public peer, never "from our host".
        let out = Alert::new(
            serde_json::json!({"rule":{"description":"ET POLICY curl User-Agent Outbound"},
            "agent":{"name":"ids"},"data":{"src_ip":"10.0.2.15","dest_ip":"31.3.245.133"}}),
        );
        assert_eq!(
            fallback_title(&out, &evidence(&out)),
            "ET POLICY curl User-Agent Outbound: outbound from 10.0.2.15 to 31.3.245.133"
        );
        // Forwarded through the manager: the device is the target, not the manager.
        let fw = Alert::new(
            serde_json::json!({"rule":{"description":"Admin login failed"},
            "agent":{"id":"000","name":"wazuh-manager"},
            "data":{"devname":"FGT60E","ui":"ssh(222.186.130.227)"}}),
        );
        assert_eq!(
            fallback_title(&fw, &evidence(&fw)),
            "Admin login failed from 222.186.130.227 on FGT60E"
        );
        assert_eq!(r.ai_unavailable.as_deref(), Some("off"));
    }

    #[test]
    fn fallback_skips_dash_and_empty_fields() {
        let alert = Alert::new(serde_json::json!({"rule":{"id":"1","level":3,
            "description":"d","groups":[]},
            "data":{"srcuser":"-","dstuser":"","url":"/login","srcport":"-"}}));
        let md = fallback(&alert, &evidence(&alert), "off", 3500).markdown;
        assert!(md.contains("- URL: /login\n"), "{md}");
        assert!(md.contains("- URL `/login`\n"), "{md}");
        assert!(!md.contains("User"), "{md}");
        assert!(!md.contains("Source port"), "{md}");
        assert!(!md.contains("Rule groups"), "{md}");
        let bare = Alert::new(serde_json::json!({"rule":{"id":"1"}}));
        let md = fallback(&bare, &evidence(&bare), "off", 3500).markdown;
        assert!(
            md.contains("## Indicators of compromise\n- None in the alert.\n"),
            "{md}"
        );
        assert!(md.contains("- No source address in the alert."), "{md}");
    }

    #[test]
    fn fallback_actions_follow_the_groups_and_the_source() {
        let actions = |alert: &Alert, ev: &Evidence| {
            let md = fallback(alert, ev, "off", 3500).markdown;
            md.split("## Recommended actions\n")
                .nth(1)
                .unwrap()
                .to_string()
        };
        let web = sample("web_shellshock_31168.json");
        assert_eq!(
            actions(&web, &evidence(&web)),
            "1. Find which internal machine holds 192.168.0.223 (private (RFC 1918)) and check it \
             for compromise.\n\
             2. Check the web server on ubuntu-bionic for the answer to / (logged status 200): a \
             200 may mean the request worked.\n\
             3. Review related events in the Wazuh dashboard."
        );
        let fim = sample("fim_file_added_554_no_ip.json");
        assert_eq!(
            actions(&fim, &evidence(&fim)),
            "1. Compare the change to /media/user/software/suspicious-file.exe on Ubuntu with \
             your change record (new hash \
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855).\n\
             2. Turn on who-data for /media/user/software/suspicious-file.exe to see who changes \
             it (syscheck whodata=\"yes\").\n\
             3. Review related events in the Wazuh dashboard."
        );
        // A rule group alone picks no advice: "attack" without a web request is no web alert.
        let attack = Alert::new(serde_json::json!({"rule":{"groups":["attack"]},
            "agent":{"name":"h"},"data":{"srcip":"8.8.8.8"}}));
        assert_eq!(
            actions(&attack, &evidence(&attack)),
            "1. Block 8.8.8.8 at the firewall if it has no business reaching h.\n\
             2. Review related events in the Wazuh dashboard."
        );
    }

    #[test]
    fn fallback_names_the_rdap_abuse_contact() {
        let alert = sample("windows_logon_failure_4625_60122.json");
        let mut ev = evidence(&alert);
        ev.intel = crate::investigate::samples::sample_intel();
        let body = std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/rdap_ripe.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let network = crate::investigate::sources::rdap::parse(&body).unwrap();
        let rdap = ev
            .intel
            .sources
            .iter_mut()
            .find(|s| s.provider == crate::investigate::sources::Provider::Rdap)
            .unwrap();
        rdap.finding = crate::investigate::sources::Finding::Ok {
            data: crate::investigate::sources::Data::Rdap(network),
        };
        let md = fallback(&alert, &ev, "off", 3500).markdown;
        assert!(
            md.contains(
                "\n2. Report the abuse to the network's abuse contact, abuse@whalebone.io.\n"
            ),
            "{md}"
        );
    }

    #[test]
    fn one_line_folds_whitespace_and_marks_a_cut() {
        assert_eq!(one_line("a  b\n\tc ", 10), "a b c");
        assert_eq!(one_line("abc", 3), "abc");
        assert_eq!(one_line("abcd", 3), "abc…");
        assert_eq!(one_line("éé é", 3), "éé …");
        assert_eq!(one_line("", 3), "");
    }

    #[test]
    fn severity_band_edges() {
        for (level, want) in [
            (0, "Low"),
            (6, "Low"),
            (7, "Medium"),
            (9, "Medium"),
            (10, "High"),
            (11, "High"),
            (12, "Critical"),
            (u32::MAX, "Critical"),
        ] {
            assert_eq!(severity_word(level), want, "level {level}");
        }
    }

    #[test]
    fn full_report_has_origin_flag_body_and_appendix() {
        let alert = Alert::new(serde_json::json!({"rule":{"id":"1"},"full_log":"x ``` y"}));
        let ev = evidence(&alert);
        let mut report = Report::from_markdown(
            "# My title\n_⚠ Unverified: 9.9.9.9 not in the evidence; check before acting._\n\
             Body line\n## Part"
                .into(),
            true,
            None,
        );
        report.unverified = vec!["1.2.3.4".into()];
        let md = full(&alert, &ev, &report, "2026-01-01T00:00:00Z");
        assert!(
            md.starts_with(
                "# My title\n\
                 _Report of 2026-01-01T00:00:00Z, analysis written by the local LLM._\n\n\
                 _⚠ Unverified: 1.2.3.4 not in the evidence; check before acting._\n\n\
                 Body line\n## Part\n\n## Evidence appendix\n\n### Investigation\n\n```text\n"
            ),
            "{md}"
        );
        assert!(!md.contains("9.9.9.9"), "{md}");
        assert!(
            md.contains("\n```\n\n### Raw alert\n\n```json\n{\n"),
            "{md}"
        );
        assert!(md.contains("\"full_log\": \"x ` ` ` y\""), "{md}");
        assert!(md.ends_with("}\n```\n"), "{md}");

        let mut report = Report::from_markdown("# T\nBody".into(), false, Some("down".into()));
        let md = full(&alert, &ev, &report, "c");
        assert!(
            md.starts_with("# T\n_Report of c, written without AI (down)._\n\nBody\n\n## Evidence"),
            "{md}"
        );
        report.ai_unavailable = None;
        let md = full(&alert, &ev, &report, "c");
        assert!(
            md.starts_with("# T\n_Report of c, written without AI (no reason given)._\n\nBody\n"),
            "{md}"
        );
    }

    #[test]
    fn archive_writes_markdown_and_json_with_a_final_newline() {
        let dir = tempfile::tempdir().unwrap();
        let alert = sample("sshd_bruteforce_5712.json");
        let ev = evidence(&alert);
        let report = Report::from_markdown("# T\nshort".into(), false, Some("down".into()));
        let reports = dir.path().join("reports");
        let archived = |full| Archived {
            report: &report,
            alert: alert.json(),
            evidence: &ev,
            created: "2026-01-01T00:00:00Z".into(),
            full,
        };
        // Without a long form the short report is stored, with a newline added.
        let path = archive(&reports, "s1", &archived("")).unwrap();
        assert_eq!(path, reports.join("s1.md"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# T\nshort\n");
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(reports.join("s1.json")).unwrap()).unwrap();
        assert_eq!(json["report"]["title"], "T");
        assert_eq!(json["report"]["ai_unavailable"], "down");
        assert_eq!(json["created"], "2026-01-01T00:00:00Z");
        assert_eq!(json["alert"]["rule"]["id"], "5712");
        assert!(json.get("full").is_none());
        // The long form is stored as it is when it already ends with a newline.
        let path = archive(&reports, "s2", &archived("# T\nlong\n")).unwrap();
        assert_eq!(path, reports.join("s2.md"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "# T\nlong\n");
    }
}
