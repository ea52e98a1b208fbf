//! The history in short: what the earlier alerts of an address add up to (rules, agents, peers,
//! ports, users, a few telling log lines), cut to fit the room the prompt has for it.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use super::{parse_timestamp, Event, Found, Role, SAMPLE_LINES};
use crate::intake::alert::truncate_chars;
use crate::investigate::scope::{self, Zone};
use crate::investigate::Setup;

/// A value seen so many times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Count {
    pub value: String,
    pub count: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleCount {
    pub id: String,
    pub description: String,
    pub level: u32,
    pub count: usize,
}

/// A host the address touched: an agent that reported it, or the other address of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostCount {
    pub name: String,
    pub ip: Option<IpAddr>,
    /// The configured `[[network.zones]]` name, if any.
    pub zone: Option<String>,
    pub count: usize,
}

/// A raw log line that tells what the address did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub timestamp: String,
    pub rule_id: String,
    pub agent: String,
    pub line: String,
}

/// The history of one address, as the prompt, the report and `enrich` show it.
#[derive(Debug, Clone, Serialize)]
pub struct HistorySummary {
    pub ip: IpAddr,
    /// Where the events came from: `file` (the alert log) or `indexer`.
    pub backend: String,
    pub lookback_hours: u64,
    /// The window searched, RFC 3339.
    pub since: String,
    pub until: String,
    /// How many earlier events were found (the current alert is not counted).
    pub events: usize,
    /// `history.max_events` was reached: there may be more in the window.
    pub limit_reached: bool,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// In how many events the address was the source, the destination, the agent.
    pub as_source: usize,
    pub as_destination: usize,
    pub as_agent: usize,
    pub rules: Vec<RuleCount>,
    pub agents: Vec<HostCount>,
    /// The other side of the events: what the address attacked, or what attacked it.
    pub peers: Vec<HostCount>,
    pub dest_ports: Vec<Count>,
    pub users: Vec<Count>,
    pub log_lines: Vec<LogLine>,
    /// How many entries of each list were left out to fit the budget (`rules`, `users`, ...).
    pub omitted: std::collections::BTreeMap<String, usize>,
    pub notes: Vec<String>,
}

/// How many entries of each list (and how long a log line) the summary keeps.
#[derive(Debug, Clone, Copy)]
struct Caps {
    rules: usize,
    agents: usize,
    peers: usize,
    ports: usize,
    users: usize,
    lines: usize,
    line_chars: usize,
}

impl Caps {
    const START: Caps = Caps {
        rules: 10,
        agents: 8,
        peers: 8,
        ports: 12,
        users: 12,
        lines: SAMPLE_LINES,
        line_chars: 300,
    };

    /// One step smaller, or `None` at the floor: log lines go first, then the long lists.
    fn shrink(self) -> Option<Caps> {
        let mut c = self;
        if c.line_chars > 160 {
            c.line_chars = 160;
        } else if c.lines > 2 {
            c.lines -= 1;
        } else if c.users > 3 || c.ports > 3 || c.peers > 3 || c.agents > 3 || c.rules > 3 {
            c.users = (c.users / 2).max(3);
            c.ports = (c.ports / 2).max(3);
            c.peers = (c.peers / 2).max(3);
            c.agents = (c.agents / 2).max(3);
            c.rules = (c.rules / 2).max(3);
        } else if c.lines > 0 {
            c.lines -= 1;
            c.line_chars = 120;
        } else if c.users > 1 || c.ports > 1 || c.peers > 1 || c.agents > 1 || c.rules > 1 {
            c.users = 1;
            c.ports = 1;
            c.peers = 1;
            c.agents = 1;
            c.rules = 1;
        } else {
            return None;
        }
        Some(c)
    }
}

/// The character budget for the history in the prompt: an eighth of `ollama.num_ctx` at about
/// four characters a token, between 600 and 6,000 characters.
pub fn budget_chars(num_ctx: u32) -> usize {
    (num_ctx as usize)
        .saturating_mul(4)
        .saturating_div(8)
        .clamp(600, 6000)
}

/// Summarises what a backend found so that [`HistorySummary::text`] fits in `budget_chars`:
/// lists and log lines are cut, the most frequent and most severe entries kept, and what was
/// left out is counted in `omitted`.
pub fn summarise(found: &Found, setup: &Setup, budget_chars: usize) -> HistorySummary {
    let mut caps = Caps::START;
    loop {
        let summary = summarise_with(found, setup, caps);
        if summary.text().chars().count() + summary.headline().chars().count() <= budget_chars {
            return summary;
        }
        match caps.shrink() {
            Some(c) => caps = c,
            None => return summary,
        }
    }
}

fn summarise_with(found: &Found, setup: &Setup, caps: Caps) -> HistorySummary {
    let events = &found.events;
    let zones = &setup.zones;
    let mut omitted = std::collections::BTreeMap::new();
    let mut cap = |name: &str, len: usize, max: usize| {
        if len > max {
            omitted.insert(name.to_string(), len - max);
        }
        max
    };

    let mut rules = count_rules(events);
    let n = cap("rules", rules.len(), caps.rules);
    rules.truncate(n);

    let hosts = |items: Vec<(String, Option<IpAddr>)>| count_hosts(items, zones);
    let mut agents = hosts(
        events
            .iter()
            .map(|e| {
                (
                    truncate_chars(&one_line(&e.agent_name), 60).to_string(),
                    e.agent_ip,
                )
            })
            .collect(),
    );
    let n = cap("agents", agents.len(), caps.agents);
    agents.truncate(n);
    let mut peers = hosts(
        events
            .iter()
            .filter_map(|e| e.peer.map(|p| (p.to_string(), Some(p))))
            .collect(),
    );
    let n = cap("peers", peers.len(), caps.peers);
    peers.truncate(n);

    let mut dest_ports = count_values(events.iter().flat_map(|e| e.dest_ports.iter()));
    let n = cap("dest_ports", dest_ports.len(), caps.ports);
    dest_ports.truncate(n);
    let mut users = count_values(events.iter().flat_map(|e| e.users.iter()));
    let n = cap("users", users.len(), caps.users);
    users.truncate(n);

    let log_lines = telling_lines(events, caps.lines, caps.line_chars);
    let with_log = events.iter().filter(|e| e.full_log.is_some()).count();
    if with_log > log_lines.len() {
        omitted.insert("log_lines".into(), with_log - log_lines.len());
    }

    let role_count = |r: Role| events.iter().filter(|e| e.role == r).count();
    let q = &found.query;
    HistorySummary {
        ip: q.ip,
        backend: match found.source {
            "indexer" => "indexer",
            _ => "file",
        }
        .to_string(),
        lookback_hours: setup.history.lookback_hours,
        since: rfc3339(&q.since),
        until: rfc3339(&q.until),
        events: events.len(),
        limit_reached: found.limit_reached,
        first_seen: events.iter().map(|e| e.time).min().map(|t| rfc3339(&t)),
        last_seen: events.iter().map(|e| e.time).max().map(|t| rfc3339(&t)),
        as_source: role_count(Role::Source),
        as_destination: role_count(Role::Destination),
        as_agent: role_count(Role::Agent),
        rules,
        agents,
        peers,
        dest_ports,
        users,
        log_lines,
        omitted,
        notes: found.notes.clone(),
    }
}

/// Rules by how often they fired, then by how severe, each with its highest level.
fn count_rules(events: &[Event]) -> Vec<RuleCount> {
    let mut rules: Vec<RuleCount> = Vec::new();
    let mut rule_index: HashMap<&str, usize> = HashMap::new();
    for e in events {
        match rule_index.get(e.rule_id.as_str()) {
            Some(&i) => {
                rules[i].count += 1;
                rules[i].level = rules[i].level.max(e.rule_level);
            }
            None => {
                rule_index.insert(&e.rule_id, rules.len());
                rules.push(RuleCount {
                    id: e.rule_id.clone(),
                    description: truncate_chars(&one_line(&e.description), 120).to_string(),
                    level: e.rule_level,
                    count: 1,
                });
            }
        }
    }
    rules.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(b.level.cmp(&a.level))
            .then(a.id.cmp(&b.id))
    });
    rules
}

/// Hosts (a name and an address) by how often they were seen, with their configured zone.
fn count_hosts(items: Vec<(String, Option<IpAddr>)>, zones: &[Zone]) -> Vec<HostCount> {
    let mut out: Vec<HostCount> = Vec::new();
    for (name, ip) in items {
        match out.iter_mut().find(|h| h.name == name && h.ip == ip) {
            Some(h) => h.count += 1,
            None => out.push(HostCount {
                zone: ip.and_then(|ip| scope::zone_of(ip, zones).map(str::to_string)),
                name,
                ip,
                count: 1,
            }),
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.name.cmp(&b.name)));
    out
}

/// Values (ports, user names) by how often they were seen.
fn count_values<'a>(values: impl Iterator<Item = &'a String>) -> Vec<Count> {
    let mut out: Vec<Count> = Vec::new();
    for v in values {
        let v = one_line(v);
        match out.iter_mut().find(|c| c.value == v) {
            Some(c) => c.count += 1,
            None => out.push(Count { value: v, count: 1 }),
        }
    }
    out.sort_by(|a, b| b.count.cmp(&a.count).then(a.value.cmp(&b.value)));
    out
}

/// The most telling log lines: the newest line of each rule, the most severe and frequent rules
/// first, then further distinct lines, newest first.
fn telling_lines(events: &[Event], max: usize, chars: usize) -> Vec<LogLine> {
    if max == 0 {
        return Vec::new();
    }
    let mut by_rule: Vec<(&str, u32, usize, &Event)> = Vec::new();
    for e in events.iter().filter(|e| e.full_log.is_some()) {
        // Events come newest first, so the first one seen per rule is its newest.
        match by_rule.iter_mut().find(|(id, ..)| *id == e.rule_id) {
            Some(entry) => {
                entry.1 = entry.1.max(e.rule_level);
                entry.2 += 1;
            }
            None => by_rule.push((&e.rule_id, e.rule_level, 1, e)),
        }
    }
    by_rule.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)));
    let mut picked: Vec<&Event> = by_rule.iter().map(|(.., e)| *e).take(max).collect();
    for e in events.iter().filter(|e| e.full_log.is_some()) {
        if picked.len() >= max {
            break;
        }
        if !picked.iter().any(|p| p.full_log == e.full_log) {
            picked.push(e);
        }
    }
    picked.sort_by_key(|e| std::cmp::Reverse(e.time));
    picked
        .into_iter()
        .map(|e| {
            let folded = one_line(e.full_log.as_deref().unwrap_or_default());
            let cut = truncate_chars(&folded, chars);
            LogLine {
                timestamp: e.timestamp.clone(),
                rule_id: e.rule_id.clone(),
                agent: truncate_chars(&one_line(&e.agent_name), 60).to_string(),
                line: if cut.len() < folded.len() {
                    format!("{cut}…")
                } else {
                    folded
                },
            }
        })
        .collect()
}

fn rfc3339(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn times(n: usize) -> String {
    format!("×{n}")
}

fn host_text(h: &HostCount) -> String {
    let mut s = h.name.clone();
    match (&h.ip, &h.zone) {
        (Some(ip), Some(z)) if ip.to_string() != h.name => {
            let _ = write!(s, " ({ip}, zone {z})");
        }
        (Some(ip), None) if ip.to_string() != h.name => {
            let _ = write!(s, " ({ip})");
        }
        (_, Some(z)) => {
            let _ = write!(s, " (zone {z})");
        }
        _ => {}
    }
    let _ = write!(s, " {}", times(h.count));
    s
}

impl HistorySummary {
    /// One line of facts computed here (counts and times, no text from the log).
    pub fn headline(&self) -> String {
        let window = format!(
            "in the {} h before {}",
            self.lookback_hours,
            short_time(&self.until)
        );
        if self.events == 0 {
            return format!(
                "No earlier alerts for {} on this manager {window} (searched: {}).",
                self.ip,
                self.searched()
            );
        }
        let mut s = format!(
            "{}{} earlier alert{} for {} {window} (searched: {})",
            if self.limit_reached { "at least " } else { "" },
            self.events,
            if self.events == 1 { "" } else { "s" },
            self.ip,
            self.searched()
        );
        if let (Some(first), Some(last)) = (&self.first_seen, &self.last_seen) {
            let _ = write!(
                s,
                ": first {}, last {}",
                short_time(first),
                short_time(last)
            );
        }
        let roles: Vec<String> = [
            ("as source", self.as_source),
            ("as destination", self.as_destination),
            ("as the agent's own address", self.as_agent),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(what, n)| format!("{what} {n}"))
        .collect();
        let _ = write!(s, "; {}.", roles.join(", "));
        if self.limit_reached {
            s.push_str(" Only the most recent ones were read (history.max_events).");
        }
        s
    }

    /// The details, one item a line: rules, hosts, ports, users, log lines. This text comes from
    /// the logs (user names and log lines are chosen by the attacker): it belongs in the fence.
    pub fn text(&self) -> String {
        let mut out = String::new();
        let more = |name: &str| {
            self.omitted
                .get(name)
                .map(|n| format!("; and {n} more"))
                .unwrap_or_default()
        };
        if !self.rules.is_empty() {
            let items: Vec<String> = self
                .rules
                .iter()
                .map(|r| {
                    format!(
                        "{} \"{}\" (level {}) {}",
                        r.id,
                        r.description,
                        r.level,
                        times(r.count)
                    )
                })
                .collect();
            let _ = writeln!(out, "Rules: {}{}", items.join("; "), more("rules"));
        }
        if !self.agents.is_empty() {
            let items: Vec<String> = self.agents.iter().map(host_text).collect();
            let _ = writeln!(
                out,
                "Agents reporting: {}{}",
                items.join("; "),
                more("agents")
            );
        }
        if !self.peers.is_empty() {
            let items: Vec<String> = self.peers.iter().map(host_text).collect();
            let _ = writeln!(out, "Other side: {}{}", items.join("; "), more("peers"));
        }
        let list = |items: &[Count]| {
            items
                .iter()
                .map(|c| format!("{} {}", c.value, times(c.count)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !self.dest_ports.is_empty() {
            let _ = writeln!(
                out,
                "Destination ports: {}{}",
                list(&self.dest_ports),
                more("dest_ports")
            );
        }
        if !self.users.is_empty() {
            let _ = writeln!(out, "Users: {}{}", list(&self.users), more("users"));
        }
        if !self.log_lines.is_empty() {
            let _ = writeln!(out, "Log lines:");
            for l in &self.log_lines {
                let _ = writeln!(
                    out,
                    "- {} rule {} on {}: {}",
                    short_time(&l.timestamp),
                    l.rule_id,
                    l.agent,
                    l.line
                );
            }
        }
        for n in &self.notes {
            let _ = writeln!(out, "Note: {n}");
        }
        out.trim_end().to_string()
    }

    fn searched(&self) -> &'static str {
        if self.backend == "indexer" {
            "the Wazuh indexer"
        } else {
            "the alert log"
        }
    }

    /// A few hundred characters for the no-AI report and the `enrich` table.
    pub fn brief(&self) -> String {
        let mut s = self.headline();
        if self.events == 0 {
            return s;
        }
        let rules: Vec<String> = self
            .rules
            .iter()
            .take(4)
            .map(|r| format!("{} {}", r.id, times(r.count)))
            .collect();
        let _ = write!(s, " Rules: {}.", rules.join(", "));
        if !self.users.is_empty() {
            let users: Vec<&str> = self
                .users
                .iter()
                .take(5)
                .map(|c| c.value.as_str())
                .collect();
            let _ = write!(s, " Users: {}.", users.join(", "));
        }
        if !self.dest_ports.is_empty() {
            let ports: Vec<&str> = self
                .dest_ports
                .iter()
                .take(5)
                .map(|c| c.value.as_str())
                .collect();
            let _ = write!(s, " Ports: {}.", ports.join(", "));
        }
        s
    }
}

/// `2024-06-10T14:12:41.512+00:00` -> `2024-06-10 14:12:41 +00:00`; other text as it is.
fn short_time(text: &str) -> String {
    match parse_timestamp(text) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        None => text.to_string(),
    }
}
