//! What every rendering of the full report shows, built once from a [`Delivery`]: the banner
//! (severity, level, who wrote it, title), the verdict lines, the facts table, the analysis and the
//! evidence appendix. The mail's HTML part ([`super::html`]) and the PDF ([`super::pdf`]) draw the
//! same view, so neither has content the other lacks.

use super::Delivery;
use crate::analyze::report::severity_word;
use crate::investigate::{Direction, IntelStatus};

/// The report laid out for reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// `Critical`, `High`, `Medium` or `Low`.
    pub severity: &'static str,
    pub level: u32,
    /// "Analysis by the local LLM" or "Written without AI".
    pub origin: &'static str,
    pub title: String,
    /// The verdict (and outcome) lines, Markdown; may be empty.
    pub lead: String,
    /// Label and value of each fact, in order.
    pub facts: Vec<(&'static str, String)>,
    /// The analysis in Markdown, without the title, origin and verdict lines the banner and the
    /// lead carry.
    pub analysis: String,
    /// The evidence appendix in Markdown, without its heading.
    pub appendix: Option<String>,
}

/// The banner's colour for a severity word: strong enough for white text on it, on paper and on
/// a light or dark screen.
pub fn banner_rgb(severity: &str) -> [u8; 3] {
    match severity {
        "Critical" => [0xb9, 0x1c, 0x1c],
        "High" => [0xc2, 0x41, 0x0c],
        "Medium" => [0xa1, 0x62, 0x07],
        _ => [0x1d, 0x4e, 0xd8],
    }
}

/// The heading that starts the evidence appendix in the full report.
const APPENDIX: &str = "\n## Evidence appendix";

impl View {
    pub fn of(d: &Delivery<'_>) -> View {
        let level = d.alert.rule_level();
        let (analysis, appendix) = match d.full.split_once(APPENDIX) {
            Some((head, tail)) => (head, Some(tail.trim_start_matches('\n').to_string())),
            None => (d.full, None),
        };
        // The title, the origin line and the verdict lines go (the banner and the lead carry
        // them), but only from the head above the first section: the same line inside the
        // analysis (a comment in a code block) stays.
        let lead: Vec<&str> = d.report.lead.lines().collect();
        let mut in_head = true;
        let analysis = analysis
            .lines()
            .filter(|l| {
                in_head &= !l.starts_with("## ");
                !(in_head
                    && (l.starts_with("# ") || l.starts_with("_Report of ") || lead.contains(l)))
            })
            .collect::<Vec<_>>()
            .join("\n");
        View {
            severity: severity_word(level),
            level,
            origin: if d.report.ai {
                "Analysis by the local LLM"
            } else {
                "Written without AI"
            },
            title: d.report.title.clone(),
            lead: d.report.lead.clone(),
            facts: facts(d),
            analysis: analysis.trim().to_string(),
            appendix,
        }
    }
}

/// The facts table: rule, level, agent, source and direction, risk score and its reasons,
/// outcome, campaign, time.
fn facts(d: &Delivery<'_>) -> Vec<(&'static str, String)> {
    let level = d.alert.rule_level();
    let ev = d.evidence;
    let mut rows = vec![
        (
            "Rule",
            format!("{}: {}", d.alert.rule_id(), d.alert.description()),
        ),
        ("Level", format!("{level} ({})", severity_word(level))),
        (
            "Agent",
            match &ev.agent.address {
                Some(a) => format!("{} ({})", ev.agent.name, a.ip),
                None => ev.agent.name.clone(),
            },
        ),
    ];
    if let Some(s) = &ev.source {
        let way = match (ev.direction, &ev.destination) {
            (Direction::Outbound, Some(ours)) => format!("outbound from {} to {}", ours.ip, s.ip),
            (Direction::Outbound, None) => format!("outbound to {}", s.ip),
            _ => format!("from {}", s.ip),
        };
        rows.push((
            "Source",
            format!("{way}, {} (field {})", s.scope.describe(), s.field),
        ));
    }
    if ev.intel.status == IntelStatus::Investigated {
        rows.push(("Risk score", ev.intel.risk.summary()));
        if !ev.intel.risk.reasons.is_empty() {
            rows.push(("Because", ev.intel.risk.reasons_line()));
        }
    }
    if let Some(outcome) = &ev.outcome {
        rows.push(("Outcome", outcome.to_string()));
    }
    if let Some(t) = d.alert.timestamp() {
        rows.push(("Time", t));
    }
    rows
}
