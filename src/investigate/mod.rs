//! The `Evidence` value: everything the investigation learned about one alert's addresses.
//! The prompt, the fallback report and `enrich --json` all read this one value.
//!
//! [`investigate`] builds it for an alert (the pipeline) and [`investigate_ip`] for a bare address
//! (`ai-analyzer enrich`); [`Evidence::local`] is the part that needs no outside source.

pub mod cache;
pub mod cluster;
pub mod dnsbl;
pub mod history;
mod intel;
pub mod outcome;
pub mod risk;
#[cfg(test)]
pub(crate) mod samples;
pub mod scope;
pub mod sources;

pub use intel::{dnsbl_line, investigate_ip as investigate_intel, Intel, IntelStatus};

use std::net::IpAddr;

use serde::Serialize;

use std::time::Duration;

use crate::intake::alert::Alert;
use crate::util::state::StateDir;
use history::{History, HistoryConfig};
use scope::{Scope, Zone};
use sources::Providers;

/// What the investigation needs from the settings, taken once (the settings' `investigation()`).
#[derive(Debug, Clone)]
pub struct Setup {
    pub providers: Providers,
    pub dnsbl: dnsbl::Dnsbl,
    pub history: HistoryConfig,
    /// How long a threat-intel answer is reused (`cache.ttl_hours`; zero keeps none).
    pub cache_ttl: Duration,
    pub zones: Vec<Zone>,
    pub state: StateDir,
    /// `general.deadline_secs`: the investigation never runs longer.
    pub deadline_secs: u64,
    /// Characters the history summary may fill in the prompt.
    pub history_budget_chars: usize,
    /// Every configured secret, masked in whatever an outside answer or error brings back.
    pub secrets: Vec<String>,
    /// `limits.lookups_per_minute`: threat-intel requests on the host in any minute (0: any).
    pub lookups_per_minute: u32,
    /// The indexer, when several manager nodes share their state (budgets and answers here).
    pub shared: Option<cluster::Shared>,
}

/// An address seen in the alert, with what we know of it locally.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    /// The alert field it came from (`data.srcip`, ...), or `agent.ip`.
    pub field: String,
    pub scope: Scope,
    /// The configured `[[network.zones]]` name, if any.
    pub zone: Option<String>,
}

impl Endpoint {
    pub fn new(ip: IpAddr, field: &str, setup: &Setup) -> Self {
        Endpoint {
            ip,
            field: field.to_string(),
            scope: scope::scope(ip),
            zone: scope::zone_of(ip, &setup.zones).map(str::to_string),
        }
    }

    /// `203.0.113.9 (public, zone DMZ)`.
    pub fn describe(&self) -> String {
        match &self.zone {
            Some(z) => format!("{} ({}, zone {z})", self.ip, self.scope.describe()),
            None => format!("{} ({})", self.ip, self.scope.describe()),
        }
    }
}

/// The agent that reported the alert: the target, most of the time.
#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub id: Option<String>,
    pub name: String,
    pub address: Option<Endpoint>,
}

/// Why a view built without lookups carries no history.
const HISTORY_NOT_LOOKED_UP: &str = "no lookups were made for this view";

/// Which way the traffic of an alert went, as far as its addresses tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the source address towards us: the source is the suspect.
    Inbound,
    /// From our own host (the agent's address, a configured zone, a non-global address) out to
    /// a public peer: the peer is the suspect, and our host is not.
    Outbound,
    /// The alert names no address.
    None,
}

#[derive(Debug, Clone, Serialize)]
pub struct Evidence {
    /// The address investigated: the alert's source, or for an outbound alert its public peer.
    pub source: Option<Endpoint>,
    /// The other end: the alert's destination, or for an outbound alert our own host.
    pub destination: Option<Endpoint>,
    pub direction: Direction,
    /// Did it work? For a failed login: whether one from the address succeeded after it.
    pub outcome: Option<outcome::Outcome>,
    pub agent: Agent,
    /// Threat intelligence on the source address: every source's finding, the DNS blocklists
    /// and the risk score.
    pub intel: Intel,
    /// Earlier alerts for the source address on this manager.
    pub history: History,
}

impl Evidence {
    /// Evidence about one address alone (`ai-analyzer enrich IP`), without lookups.
    pub fn for_address(source: Endpoint) -> Self {
        let intel = local_intel(Some(&source));
        Evidence {
            source: Some(source),
            destination: None,
            direction: Direction::Inbound,
            outcome: None,
            agent: Agent {
                id: None,
                name: "unknown agent".into(),
                address: None,
            },
            intel,
            history: History::not_collected(HISTORY_NOT_LOOKED_UP),
        }
    }

    /// Everything that can be known without asking anyone: addresses, their scope and zone.
    pub fn local(alert: &Alert, setup: &Setup) -> Self {
        let source = alert
            .source_ip()
            .map(|(ip, field)| Endpoint::new(ip, &field, setup));
        let destination = alert
            .dest_ip()
            .map(|(ip, field)| Endpoint::new(ip, field, setup));
        let agent = Agent {
            id: alert.agent_id(),
            name: alert.agent_name(),
            address: alert
                .agent_ip()
                .map(|ip| Endpoint::new(ip, "agent.ip", setup)),
        };
        let declared = crate::intake::address::declared_outbound(alert);
        let (source, destination, direction) = orient(source, destination, &agent, declared);
        let intel = local_intel(source.as_ref());
        Evidence {
            source,
            destination,
            direction,
            outcome: None,
            agent,
            intel,
            history: History::not_collected(HISTORY_NOT_LOOKED_UP),
        }
    }
}

impl Evidence {
    /// The `enrich` table: the address, the score and its reasons, one line per source and per
    /// blocklist zone. Fits one screen.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let src = self
            .source
            .as_ref()
            .map(Endpoint::describe)
            .unwrap_or_else(|| "none".into());
        let _ = writeln!(out, "{:<14}{src}", "address");
        let intel = &self.intel;
        if let Some(note) = &intel.note {
            let _ = writeln!(out, "{:<14}{note}", "note");
        }
        let _ = writeln!(out, "{:<14}{}", "risk", intel.risk.summary());
        for r in &intel.risk.reasons {
            let _ = writeln!(out, "{:<14}{:+4}  {}", "", r.points, r.text);
        }
        if !intel.sources.is_empty() {
            let _ = writeln!(out, "\n{:<14}{:<16}finding", "source", "status");
        }
        for s in &intel.sources {
            let status = if s.cached {
                format!("{} (cached)", s.finding.status())
            } else {
                s.finding.status().to_string()
            };
            let _ = writeln!(
                out,
                // At least one space after a long status (`not_found (cached)`).
                "{:<14}{status:<15} {}",
                s.provider.label(),
                s.finding.detail()
            );
        }
        // Zones are longer than source names: their column is as wide as the longest.
        let w = intel
            .dnsbl
            .iter()
            .map(|l| l.zone.chars().count() + 2)
            .max()
            .unwrap_or(0)
            .max(14);
        if !intel.dnsbl.is_empty() {
            let _ = writeln!(out, "\n{:<w$}{:<16}answer", "dnsbl zone", "status");
        }
        for l in &intel.dnsbl {
            let status = if l.cached {
                format!("{} (cached)", l.status.as_str())
            } else {
                l.status.as_str().to_string()
            };
            let decoded = l.lists.iter().any(|x| !x.starts_with("code "));
            let answer = match (&l.detail, l.answers.is_empty()) {
                (Some(d), _) => d.clone(),
                (None, true) => "NXDOMAIN".into(),
                (None, false) if decoded => {
                    format!("{} [{}]", l.lists.join(", "), l.answers.join(", "))
                }
                (None, false) => l.answers.join(", "),
            };
            let _ = writeln!(out, "{:<w$}{status:<15} {answer}", l.zone);
        }
        let _ = writeln!(out, "\n{:<14}{}", "history", self.history.brief());
        if let Some(h) = self.history.summary() {
            for line in h.text().lines() {
                let _ = writeln!(out, "{:<14}{line}", "");
            }
        }
        if intel.status == IntelStatus::Investigated {
            let _ = writeln!(out, "{:<14}{} ms", "took", intel.elapsed_ms);
        }
        out.trim_end().to_string()
    }
}

/// The evidence for an alert: the local part, then every outside source asked about the source
/// address (when it is globally routable) and, at the same time, the earlier alerts of the
/// source address on this manager. Never fails; a source that fails says so inside.
pub async fn investigate(alert: &Alert, setup: &Setup) -> Evidence {
    let mut evidence = Evidence::local(alert, setup);
    let source = evidence
        .source
        .as_ref()
        .map(|s| (s.ip, s.scope.is_global()));
    let intel = async {
        match source {
            Some((ip, true)) => Some(intel::investigate_ip(ip, setup).await),
            _ => None,
        }
    };
    let history = async {
        match source {
            Some((ip, _)) => history::lookup_with_outcome(ip, Some(alert), setup).await,
            None => (
                History::not_collected("the alert carries no source address"),
                None,
            ),
        }
    };
    let (intel, (history, outcome)) = tokio::join!(intel, history);
    if let Some(intel) = intel {
        evidence.intel = intel;
    }
    evidence.history = history;
    evidence.outcome = outcome;
    evidence
}

/// The evidence for one address alone (`ai-analyzer enrich IP`): threat intelligence when it is
/// globally routable, and its history on this manager either way.
pub async fn investigate_ip(ip: IpAddr, setup: &Setup) -> Evidence {
    let mut evidence = Evidence::for_address(Endpoint::new(ip, "command line", setup));
    let intel = async {
        if scope::scope(ip).is_global() {
            Some(intel::investigate_ip(ip, setup).await)
        } else {
            None
        }
    };
    let (intel, history) = tokio::join!(intel, history::lookup(ip, None, setup));
    if let Some(intel) = intel {
        evidence.intel = intel;
    }
    evidence.history = history;
    evidence
}

/// Which way the alert's traffic went, and so which address is the suspect: when the source is
/// our own (the agent's address, in a configured zone, or not global at all) and the destination
/// is public, the alert is outbound and the public peer is investigated, never our host.
fn orient(
    source: Option<Endpoint>,
    destination: Option<Endpoint>,
    agent: &Agent,
    declared_outbound: bool,
) -> (Option<Endpoint>, Option<Endpoint>, Direction) {
    match (source, destination) {
        // The alert says so itself (Sysmon's `initiated`, GuardDuty's connection direction):
        // the destination is the peer, whatever its scope; a lone remote address is the peer.
        (Some(ours), Some(peer)) if declared_outbound => {
            (Some(peer), Some(ours), Direction::Outbound)
        }
        (Some(peer), None) if declared_outbound => (Some(peer), None, Direction::Outbound),
        (Some(ours), Some(peer)) if is_ours(&ours, agent) && peer.scope.is_global() => {
            (Some(peer), Some(ours), Direction::Outbound)
        }
        (Some(source), destination) => (Some(source), destination, Direction::Inbound),
        (None, destination) => (None, destination, Direction::None),
    }
}

fn is_ours(endpoint: &Endpoint, agent: &Agent) -> bool {
    agent.address.as_ref().is_some_and(|a| a.ip == endpoint.ip)
        || endpoint.zone.is_some()
        || !endpoint.scope.is_global()
}

/// What the cache already knows of `ip`, without asking anyone: the risk score from the cached
/// answers, and the network and place ipinfo gave. `None` when nothing is cached.
pub fn known_so_far(ip: IpAddr, setup: &Setup) -> Option<String> {
    use sources::{Provider, SourceResult};
    let cache = cache::Cache::new(setup.state.cache(), setup.cache_ttl);
    let found: Vec<SourceResult> = Provider::ALL
        .iter()
        .filter_map(|p| {
            cache.load(*p, ip).map(|finding| SourceResult {
                provider: *p,
                finding,
                elapsed_ms: 0,
                cached: true,
            })
        })
        .collect();
    if found.is_empty() {
        return None;
    }
    let place = found
        .iter()
        .find(|r| r.provider == Provider::Ipinfo)
        .and_then(|r| r.finding.data())
        .map(|d| {
            d.summary()
                .split("; ")
                .take(2)
                .collect::<Vec<_>>()
                .join("; ")
        });
    let risk = Intel::from_findings(found, Vec::new()).risk.summary();
    Some(match place {
        Some(place) => format!("risk {risk}; {place}"),
        None => format!("risk {risk}"),
    })
}

/// The intel that needs no lookup: why none is done (no address, not global), or that this view
/// runs none.
fn local_intel(source: Option<&Endpoint>) -> Intel {
    match source {
        None => Intel::without_lookups(
            IntelStatus::NoAddress,
            "the alert carries no source address",
        ),
        Some(s) if !s.scope.is_global() => Intel::not_sent(s.ip, s.scope, s.zone.as_deref()),
        Some(_) => Intel::without_lookups(
            IntelStatus::NotRun,
            "threat-intelligence lookups were not run for this view",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use serde_json::json;

    #[test]
    fn outbound_alerts_investigate_the_public_peer() {
        let mut settings = Settings::default();
        settings.network.zones.push(crate::config::Zone {
            name: "DMZ".into(),
            cidr: "198.51.100.0/24".parse().unwrap(),
        });
        let setup = settings.investigation();
        let case = |v: serde_json::Value| {
            let ev = Evidence::local(&Alert::new(v), &setup);
            (
                ev.direction,
                ev.source.map(|s| (s.ip.to_string(), s.field)),
                ev.destination.map(|d| d.ip.to_string()),
            )
        };
        let pair = |ip: &str, f: &str| Some((ip.to_string(), f.to_string()));
        // A private host talking out (Suricata's ET POLICY ... Outbound).
        assert_eq!(
            case(json!({"data": {"src_ip": "10.0.2.15", "dest_ip": "185.220.101.33"}})),
            (
                Direction::Outbound,
                pair("185.220.101.33", "data.dest_ip"),
                Some("10.0.2.15".into())
            )
        );
        // Our agent's own public address, and an address in a configured zone.
        assert_eq!(
            case(json!({"agent": {"ip": "203.0.113.10"},
                "data": {"srcip": "203.0.113.10", "dstip": "8.8.8.8"}}))
            .0,
            Direction::Outbound
        );
        assert_eq!(
            case(json!({"data": {"srcip": "198.51.100.20", "dstip": "8.8.8.8"}})).0,
            Direction::Outbound
        );
        // A public source towards us, or towards another public address that is not ours.
        assert_eq!(
            case(json!({"data": {"srcip": "185.220.101.33", "dstip": "10.0.0.5"}})),
            (
                Direction::Inbound,
                pair("185.220.101.33", "data.srcip"),
                Some("10.0.0.5".into())
            )
        );
        assert_eq!(
            case(json!({"data": {"srcip": "185.220.101.33", "dstip": "8.8.8.8"}})).0,
            Direction::Inbound
        );
        // Both inside: inbound, the source stays the suspect.
        assert_eq!(
            case(json!({"data": {"srcip": "10.0.0.7", "dstip": "10.0.0.8"}})).0,
            Direction::Inbound
        );
        assert_eq!(
            case(json!({"data": {"dstip": "8.8.8.8"}})).0,
            Direction::None
        );
    }

    /// A campaign names what earlier analyses learned of its addresses, from the cache alone.
    #[test]
    fn what_is_known_so_far_comes_from_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.general.state_dir = dir.path().to_path_buf();
        let setup = settings.investigation();
        let ip: IpAddr = "203.0.113.45".parse().unwrap();
        assert_eq!(known_so_far(ip, &setup), None, "nothing cached");
        let cache = cache::Cache::new(setup.state.cache(), setup.cache_ttl);
        for s in samples::sample_intel().sources {
            cache.record(s.provider, true, ip, s.finding, None);
        }
        let known = known_so_far(ip, &setup).expect("cached answers");
        assert!(known.starts_with("risk "), "{known}");
        assert!(known.contains("(malicious)"), "{known}");
        assert!(
            known.ends_with("; AS64500 Example Hosting B.V.; Amsterdam, North Holland, NL"),
            "{known}"
        );
    }

    #[test]
    fn private_source_is_never_looked_up_and_zone_is_named() {
        let mut settings = Settings::default();
        settings.network.zones.push(crate::config::Zone {
            name: "LAN".into(),
            cidr: "172.16.0.0/12".parse().unwrap(),
        });
        let alert = Alert::new(json!({"agent":{"name":"web-01","ip":"172.18.1.10"},
            "data":{"srcip":"172.18.1.100"}}));
        let ev = Evidence::local(&alert, &settings.investigation());
        let src = ev.source.as_ref().expect("source");
        assert_eq!(src.scope, Scope::Private);
        assert_eq!(src.zone.as_deref(), Some("LAN"));
        assert_eq!(ev.intel.status, IntelStatus::NotSent);
        let note = ev.intel.note.as_deref().unwrap_or_default();
        assert!(note.contains("never sent"), "{note}");
        assert!(note.contains("local zone LAN"), "{note}");
        assert_eq!(
            ev.agent.address.as_ref().and_then(|a| a.zone.as_deref()),
            Some("LAN")
        );
    }
}
