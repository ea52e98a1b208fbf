//! What has this address done here before? The analyst weighs one failed login very differently
//! from the 400th in three days, so the investigation hands over a summary of the address's recent
//! alerts on this manager: how many, since when, which rules, which hosts, ports and users, and the
//! few log lines that tell the story.
//!
//! The answer must come fast and must not grow with the log: a busy manager's `alerts.json` holds
//! gigabytes. The file backend ([`search_files`]) reads it backwards from the end in large blocks,
//! finds candidates with a SIMD substring search and stops as soon as it has enough recent
//! events; the indexer backend ([`indexer::search`]) asks the Wazuh indexer of a multi-node
//! cluster instead. Either way, a candidate only counts when an address field of the alert really
//! holds the address ([`ip_role`]): `10.0.0.1` never matches `10.0.0.11` or a log line that merely
//! mentions it. [`summarise`] turns the events into a [`HistorySummary`] that fits a character
//! budget, and [`lookup`] picks the backend and never fails the run.

mod config;
mod files;
pub mod indexer;
mod summary;

pub use config::{HistoryBackend, HistoryConfig, Indexer, MAX_HISTORY_EVENTS};

pub use files::search_files;
pub(crate) use indexer::{client as indexer_client, display_url};
pub use summary::{budget_chars, summarise, Count, HistorySummary, HostCount, LogLine, RuleCount};

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use serde::Serialize;

use crate::intake::alert::{self, truncate_chars, Alert};
use crate::intake::facts::USER_FIELDS;
use crate::investigate::Setup;
use crate::util::Probe;

/// How long the file backend may search before it returns what it has found.
pub const FILE_TIME_LIMIT: Duration = Duration::from_secs(20);
/// How far past the alert's own time the window reaches.
const AFTER_THE_ALERT_SECS: i64 = 3600;
/// At most this many characters of one log line are kept per event.
const EVENT_LOG_CHARS: usize = 2000;
/// At most this many sample log lines go into the summary.
const SAMPLE_LINES: usize = 5;

/// Which kind of field of an alert held the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One of [`alert::SOURCE_IP_FIELDS`].
    Source,
    /// One of [`alert::DEST_IP_FIELDS`].
    Destination,
    /// `agent.ip`: the address is the reporting agent itself.
    Agent,
}

/// Where the address sits in `alert`, if an address field really holds it: the parsed value is
/// compared, so `::ffff:` forms and IPv6 written in other forms match, and a look-alike such as
/// `10.0.0.11` for `10.0.0.1` does not. Source fields first, then destination, then the agent.
pub fn ip_role(alert: &Alert, ip: IpAddr) -> Option<(Role, &'static str)> {
    let ip = ip.to_canonical();
    let holds = |path: &str| {
        alert
            .lookup(path)
            .into_iter()
            .filter_map(alert::parse_ip_value)
            .any(|v| v == ip)
    };
    let find =
        |fields: &[&'static str], role: Role| fields.iter().find(|f| holds(f)).map(|f| (role, *f));
    find(alert::SOURCE_IP_FIELDS, Role::Source)
        .or_else(|| find(alert::DEST_IP_FIELDS, Role::Destination))
        .or_else(|| find(&["agent.ip", "wazuh.agent.ip"], Role::Agent))
}

/// Parses an alert timestamp: Wazuh's `2020-03-24T15:38:42.512+0000`, or RFC 3339.
pub fn parse_timestamp(text: &str) -> Option<DateTime<FixedOffset>> {
    let text = text.trim();
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
}

/// What identifies one alert across the AR message and the alert log. The `id` suffix may differ
/// between the two (see reference/wazuh-execd.md §5.1), so it is left out.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint {
    timestamp: Option<String>,
    rule_id: String,
    agent_id: Option<String>,
    full_log: Option<String>,
}

impl Fingerprint {
    pub fn of(alert: &Alert) -> Self {
        Fingerprint {
            timestamp: alert.timestamp(),
            rule_id: alert.rule_id(),
            agent_id: alert.agent_id(),
            full_log: alert.full_log(),
        }
    }
}

/// One earlier alert for the address, reduced to what the summary needs.
#[derive(Debug, Clone)]
pub struct Event {
    pub time: DateTime<FixedOffset>,
    /// The timestamp as the alert wrote it.
    pub timestamp: String,
    /// The alert's `id`, when it has one.
    pub id: Option<String>,
    pub rule_id: String,
    pub rule_level: u32,
    pub description: String,
    pub agent_name: String,
    pub agent_id: Option<String>,
    pub agent_ip: Option<IpAddr>,
    pub role: Role,
    /// The field that held the address (`data.srcip`, ...).
    pub field: &'static str,
    /// The other side: the destination address when the address is the source, else the source.
    pub peer: Option<IpAddr>,
    pub dest_ports: Vec<String>,
    pub users: Vec<String>,
    /// `full_log`, cut to 2,000 characters.
    pub full_log: Option<String>,
    /// A login: `Some(true)` succeeded, `Some(false)` failed, `None` not a login.
    pub login: Option<bool>,
}

/// Where a destination port can live.
const PORT_FIELDS: &[&str] = &[
    "data.dstport",
    "data.dest_port",
    "data.dst_port",
    "data.win.eventdata.destinationPort",
    "destination.port",
];

impl Event {
    /// The event for `alert` when an address field holds `ip` and it has a readable timestamp.
    pub fn from_alert(alert: &Alert, ip: IpAddr) -> Option<Event> {
        let (role, field) = ip_role(alert, ip)?;
        let timestamp = alert.timestamp()?;
        let time = parse_timestamp(&timestamp)?;
        let ip = ip.to_canonical();
        let peer = match role {
            Role::Source => alert.dest_ip().map(|(p, _)| p),
            Role::Destination | Role::Agent => alert.source_ip().map(|(p, _)| p),
        }
        .filter(|p| *p != ip);
        let values = |fields: &[&str]| {
            let mut out: Vec<String> = Vec::new();
            for f in fields {
                for v in alert.lookup(f) {
                    let text = match v {
                        serde_json::Value::String(s) => s.trim().to_string(),
                        serde_json::Value::Number(n) => n.to_string(),
                        _ => continue,
                    };
                    if !text.is_empty() && text != "-" && !out.contains(&text) {
                        out.push(truncate_chars(&text, 80).to_string());
                    }
                }
            }
            out
        };
        Some(Event {
            time,
            timestamp,
            id: alert.text("id"),
            rule_id: alert.rule_id(),
            rule_level: alert.rule_level(),
            description: alert.description(),
            agent_name: alert.agent_name(),
            agent_id: alert.agent_id(),
            agent_ip: alert.agent_ip(),
            role,
            field,
            peer,
            dest_ports: values(PORT_FIELDS),
            users: values(USER_FIELDS),
            full_log: alert
                .full_log()
                .map(|l| truncate_chars(l.trim(), EVENT_LOG_CHARS).to_string()),
            login: if crate::investigate::outcome::is_login_success(alert) {
                Some(true)
            } else if crate::investigate::outcome::is_login_failure(alert) {
                Some(false)
            } else {
                None
            },
        })
    }

    fn key(&self) -> (String, Option<String>, String, Option<String>) {
        (
            self.timestamp.clone(),
            self.id.clone(),
            self.rule_id.clone(),
            self.agent_id.clone(),
        )
    }
}

/// What to look for: the address, the window, how many events, and the alert to leave out.
#[derive(Debug, Clone)]
pub struct Query {
    pub ip: IpAddr,
    /// The alert under analysis: it is not history.
    pub exclude: Option<Fingerprint>,
    pub max_events: usize,
    /// The window is `since..=until`.
    pub since: DateTime<FixedOffset>,
    pub until: DateTime<FixedOffset>,
    /// The file backend stops here and returns what it has, saying so.
    pub deadline: Option<Instant>,
}

impl Query {
    /// The window ends at the current alert's time (history is what came before it), or at `now`
    /// when there is no alert or its time is unreadable or in the future; it reaches `lookback`
    /// further back.
    pub fn new(
        ip: IpAddr,
        exclude: Option<&Alert>,
        max_events: usize,
        lookback: Duration,
        now: DateTime<FixedOffset>,
    ) -> Query {
        // What followed the alert counts too (a login that succeeded after the failures), up to
        // an hour after it.
        let until = exclude
            .and_then(Alert::timestamp)
            .and_then(|t| parse_timestamp(&t))
            .filter(|t| *t <= now)
            .map(|t| (t + chrono::Duration::seconds(AFTER_THE_ALERT_SECS)).min(now))
            .unwrap_or(now);
        let lookback = chrono::Duration::from_std(lookback).unwrap_or(chrono::Duration::MAX);
        let since = until
            .checked_sub_signed(lookback)
            .unwrap_or(DateTime::<FixedOffset>::MIN_UTC.fixed_offset());
        Query {
            ip: ip.to_canonical(),
            exclude: exclude.map(Fingerprint::of),
            max_events,
            since,
            until,
            deadline: None,
        }
    }

    pub fn with_deadline(mut self, deadline: Instant) -> Query {
        self.deadline = Some(deadline);
        self
    }

    pub fn in_window(&self, time: &DateTime<FixedOffset>) -> bool {
        *time >= self.since && *time <= self.until
    }

    /// The event for `alert` if it counts: it holds the address, falls in the window, and is not
    /// the alert under analysis.
    pub fn accept(&self, alert: &Alert) -> Option<Event> {
        let event = Event::from_alert(alert, self.ip)?;
        if !self.in_window(&event.time) {
            return None;
        }
        if self
            .exclude
            .as_ref()
            .is_some_and(|f| *f == Fingerprint::of(alert))
        {
            return None;
        }
        Some(event)
    }

    pub fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What a backend found.
#[derive(Debug, Clone)]
pub struct Found {
    pub query: Query,
    /// The most recent first; at most `max_events`.
    pub events: Vec<Event>,
    /// `max_events` were found: there may be more in the window.
    pub limit_reached: bool,
    /// What could not be read, and other things the reader should know.
    pub notes: Vec<String>,
    /// "alert log" or "indexer".
    pub source: &'static str,
}

impl Found {
    /// Only the events up to `alert`'s own time, and the window ending there: the history proper.
    pub fn before(&self, alert: Option<&Alert>) -> Found {
        let Some(end) = alert
            .and_then(Alert::timestamp)
            .and_then(|t| parse_timestamp(&t))
            .filter(|t| *t < self.query.until)
        else {
            return self.clone();
        };
        let mut found = self.clone();
        found.events.retain(|e| e.time <= end);
        found.query.until = end;
        found
    }
}

/// Collects events newest first, without duplicates, up to the limit.
pub(crate) struct Collector {
    pub found: Found,
    seen: HashSet<(String, Option<String>, String, Option<String>)>,
}

impl Collector {
    pub(crate) fn new(query: Query, source: &'static str) -> Self {
        Collector {
            found: Found {
                query,
                events: Vec::new(),
                limit_reached: false,
                notes: Vec::new(),
                source,
            },
            seen: HashSet::new(),
        }
    }

    pub(crate) fn query(&self) -> &Query {
        &self.found.query
    }

    pub(crate) fn full(&self) -> bool {
        self.found.events.len() >= self.found.query.max_events
    }

    /// Adds an event found while going back in time; false once the limit is reached.
    pub(crate) fn push(&mut self, event: Event) -> bool {
        if self.full() {
            return false;
        }
        if self.seen.insert(event.key()) {
            self.found.events.push(event);
        }
        if self.full() {
            self.found.limit_reached = true;
        }
        !self.full()
    }

    pub(crate) fn note(&mut self, note: impl Into<String>) {
        self.found.notes.push(note.into());
    }

    pub(crate) fn finish(mut self) -> Found {
        // Blocks are read newest first, but lines within a log are only nearly in time order.
        self.found.events.sort_by_key(|e| std::cmp::Reverse(e.time));
        self.found
    }
}

/// The history section of the evidence: a summary, or why there is none.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum History {
    Collected(Box<HistorySummary>),
    NotCollected { reason: String },
}

impl History {
    pub fn not_collected(reason: impl Into<String>) -> Self {
        History::NotCollected {
            reason: reason.into(),
        }
    }

    pub fn summary(&self) -> Option<&HistorySummary> {
        match self {
            History::Collected(s) => Some(s),
            History::NotCollected { .. } => None,
        }
    }

    /// One paragraph for the report and the `enrich` table.
    pub fn brief(&self) -> String {
        match self {
            History::Collected(s) => s.brief(),
            History::NotCollected { reason } => format!("Not collected: {reason}."),
        }
    }
}

/// Looks up the earlier alerts of `ip` with the configured backend and summarises them. `alert`
/// is the alert under analysis (left out, and the end of the window), or `None` for
/// `ai-analyzer enrich`. Never fails: a backend that fails gives [`History::NotCollected`] with
/// the reason, secrets masked.
pub async fn lookup(ip: IpAddr, alert: Option<&Alert>, setup: &Setup) -> History {
    lookup_with_outcome(ip, alert, setup).await.0
}

/// [`lookup`], and the outcome of `alert` read from the same events (see
/// [`crate::investigate::outcome`]).
pub async fn lookup_with_outcome(
    ip: IpAddr,
    alert: Option<&Alert>,
    setup: &Setup,
) -> (History, Option<crate::investigate::outcome::Outcome>) {
    let h = &setup.history;
    if h.max_events == 0 {
        return (History::not_collected("history.max_events is 0"), None);
    }
    let found = find(ip, alert, setup).await;
    match found {
        Ok(found) => {
            let outcome =
                alert.and_then(|a| crate::investigate::outcome::login(a, &found, h.lookback_hours));
            // The history is what came before the alert; what followed it served the outcome.
            let earlier = found.before(alert);
            (
                History::Collected(Box::new(summarise(
                    &earlier,
                    setup,
                    setup.history_budget_chars,
                ))),
                outcome,
            )
        }
        Err(reason) => {
            let reason = crate::investigate::sources::redact(&reason, &setup.secrets);
            tracing::warn!("history for {ip} not collected: {reason}");
            (History::not_collected(reason), None)
        }
    }
}

/// The events of `ip` from the configured backend: the window ends at `alert` (an hour past it,
/// at most now) or now, and reaches `history.lookback_hours` back.
pub async fn find(ip: IpAddr, alert: Option<&Alert>, setup: &Setup) -> Result<Found, String> {
    let h = &setup.history;
    let started = Instant::now();
    let now = chrono::Local::now().fixed_offset();
    let query = Query::new(ip, alert, h.max_events, h.lookback(), now);
    let found = match h.backend {
        HistoryBackend::File => {
            let path = h.alerts_file.clone();
            let query = query.with_deadline(started + FILE_TIME_LIMIT);
            match tokio::task::spawn_blocking(move || search_files(&path, &query)).await {
                Ok(Ok(found)) => Ok(found),
                Ok(Err(e)) => Err(format!("{e:#}")),
                Err(e) => Err(format!("the alert-log search stopped: {e}")),
            }
        }
        HistoryBackend::Indexer => indexer::search(&h.indexer, &query)
            .await
            .map_err(|e| e.to_string()),
    };
    found.inspect(|found| {
        tracing::info!(
            "history: {} event(s) for {ip} from the {} in {} ms",
            found.events.len(),
            found.source,
            started.elapsed().as_millis()
        );
    })
}

/// What `check` says of the history backend: the alert log readable, or the indexer answering.
pub async fn probe(cfg: &HistoryConfig, http: &reqwest::Client) -> Probe {
    match cfg.backend {
        HistoryBackend::File => {
            let f = &cfg.alerts_file;
            match std::fs::metadata(f) {
                Ok(m) => Probe::ok(format!(
                    "{} readable, {} MiB",
                    f.display(),
                    m.len() / (1 << 20)
                )),
                Err(e) => Probe::failed(format!("{}: {e}", f.display())),
            }
        }
        HistoryBackend::Indexer => {
            let url = &cfg.indexer.url;
            match http.get(url).send().await {
                Ok(r) => Probe {
                    ok: r.status().as_u16() != 401,
                    text: format!("indexer {url} answered HTTP {}", r.status().as_u16()),
                },
                Err(e) => Probe::failed(format!(
                    "indexer {url} unreachable ({})",
                    crate::util::error::root_cause(&e)
                )),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use serde_json::json;

    fn at(text: &str) -> DateTime<FixedOffset> {
        parse_timestamp(text).expect("timestamp")
    }

    #[test]
    fn timestamps_in_wazuh_and_rfc3339_form() {
        let t = at("2020-03-24T15:38:42.512+0000");
        assert_eq!(t.to_rfc3339(), "2020-03-24T15:38:42.512+00:00");
        assert_eq!(
            at("2020-03-24T17:38:42.512+0200"),
            at("2020-03-24T15:38:42.512Z")
        );
        assert!(parse_timestamp("yesterday").is_none());
    }

    #[test]
    fn role_compares_addresses_not_text() {
        let a = Alert::new(json!({"data":{"srcip":"10.0.0.11","dstip":"::ffff:10.0.0.1"}}));
        assert_eq!(
            ip_role(&a, "10.0.0.1".parse().unwrap()),
            Some((Role::Destination, "data.dstip"))
        );
        assert_eq!(
            ip_role(&a, "10.0.0.11".parse().unwrap()),
            Some((Role::Source, "data.srcip"))
        );
        assert_eq!(ip_role(&a, "10.0.0.111".parse().unwrap()), None);
        let v6 = Alert::new(json!({"data":{"src_ip":"2001:DB8:0:0::0:1"}}));
        assert_eq!(
            ip_role(&v6, "2001:db8::1".parse().unwrap()).map(|r| r.0),
            Some(Role::Source)
        );
        let agent = Alert::new(json!({"agent":{"ip":"10.0.0.1"},
            "full_log":"from 10.0.0.1 port 22"}));
        assert_eq!(
            ip_role(&agent, "10.0.0.1".parse().unwrap()),
            Some((Role::Agent, "agent.ip"))
        );
        let only_log = Alert::new(json!({"full_log":"Failed password from 10.0.0.1"}));
        assert_eq!(ip_role(&only_log, "10.0.0.1".parse().unwrap()), None);
    }

    fn event_alert(ts: &str, rule: &str, level: u32, user: &str) -> Alert {
        Alert::new(json!({"timestamp": ts,
            "rule":{"id":rule,"level":level,"description":format!("rule {rule}")},
            "agent":{"id":"003","name":"web-01","ip":"172.18.1.10"},
            "id": format!("{ts}-{rule}"),
            "full_log": format!("sshd: Invalid user {user} from 198.51.100.7 port 4242"),
            "data":{"srcip":"198.51.100.7","dstip":"172.18.1.10","dstport":"22","srcuser":user}}))
    }

    fn query(now: &str, exclude: Option<&Alert>, max: usize) -> Query {
        Query::new(
            "198.51.100.7".parse().unwrap(),
            exclude,
            max,
            Duration::from_secs(72 * 3600),
            at(now),
        )
    }

    #[test]
    fn the_window_ends_an_hour_after_the_alert_and_the_alert_is_left_out() {
        let current = event_alert("2024-06-10T12:00:00.000+0000", "5712", 10, "root");
        // Analysed five minutes later: the window ends now.
        let q = query("2024-06-10T12:05:00.000+0000", Some(&current), 30);
        assert_eq!(q.until, at("2024-06-10T12:05:00.000+0000"));
        assert_eq!(q.since, at("2024-06-07T12:05:00.000+0000"));
        assert!(
            q.accept(&current).is_none(),
            "the current alert is not history"
        );
        let earlier = event_alert("2024-06-10T11:59:59.000+0000", "5710", 5, "admin");
        assert!(q.accept(&earlier).is_some());
        let later = event_alert("2024-06-10T12:00:01.000+0000", "5710", 5, "admin");
        assert!(q.accept(&later).is_some(), "what followed the alert counts");
        // Analysed a day later: the window ends an hour after the alert.
        let q = query("2024-06-11T12:00:00.000+0000", Some(&current), 30);
        assert_eq!(q.until, at("2024-06-10T13:00:00.000+0000"));
        let much_later = event_alert("2024-06-10T13:00:01.000+0000", "5710", 5, "admin");
        assert!(
            q.accept(&much_later).is_none(),
            "more than an hour after the alert"
        );
        let q = query("2024-06-10T12:05:00.000+0000", Some(&current), 30);
        let old = event_alert("2024-06-07T11:59:59.000+0000", "5710", 5, "admin");
        assert!(q.accept(&old).is_none(), "before the window");
        // No alert: the window ends now.
        let q = query("2024-06-10T12:05:00.000+0000", None, 30);
        assert!(q.accept(&later).is_some());
    }

    fn found(events: Vec<Event>, limit_reached: bool) -> Found {
        Found {
            query: query("2024-06-10T12:00:00.000+0000", None, 30),
            events,
            limit_reached,
            notes: Vec::new(),
            source: "alert log",
        }
    }

    fn sample_events() -> Vec<Event> {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let mut events = Vec::new();
        for i in 0..12 {
            let (rule, level, user) = match i % 4 {
                0 => ("5712", 10, "root"),
                1 | 2 => ("5710", 5, "admin"),
                _ => ("5710", 5, "oracle"),
            };
            let ts = format!("2024-06-10T11:{:02}:00.000+0000", 59 - i);
            events.push(Event::from_alert(&event_alert(&ts, rule, level, user), ip).unwrap());
        }
        events
    }

    #[test]
    fn summary_counts_rules_hosts_ports_users_and_picks_lines() {
        let mut settings = Settings::default();
        settings.network.zones.push(crate::config::Zone {
            name: "DMZ".into(),
            cidr: "172.18.1.0/24".parse().unwrap(),
        });
        let s = summarise(
            &found(sample_events(), false),
            &settings.investigation(),
            6000,
        );
        assert_eq!(s.events, 12);
        assert_eq!(s.as_source, 12);
        assert_eq!(
            s.first_seen.as_deref(),
            Some("2024-06-10T11:48:00.000+00:00")
        );
        assert_eq!(
            s.last_seen.as_deref(),
            Some("2024-06-10T11:59:00.000+00:00")
        );
        assert_eq!(
            s.rules
                .iter()
                .map(|r| (r.id.as_str(), r.count))
                .collect::<Vec<_>>(),
            vec![("5710", 9), ("5712", 3)]
        );
        assert_eq!(s.agents.len(), 1);
        assert_eq!(s.agents[0].zone.as_deref(), Some("DMZ"));
        assert_eq!(s.agents[0].count, 12);
        assert_eq!(s.peers[0].name, "172.18.1.10");
        assert_eq!(
            s.dest_ports,
            vec![Count {
                value: "22".into(),
                count: 12
            }]
        );
        assert_eq!(
            s.users.iter().map(|u| u.value.as_str()).collect::<Vec<_>>(),
            vec!["admin", "oracle", "root"]
        );
        // One line per rule, then more distinct lines up to five: there are three distinct.
        assert_eq!(s.log_lines.len(), 3);
        let mut lines: Vec<&str> = s.log_lines.iter().map(|l| l.line.as_str()).collect();
        lines.dedup();
        assert_eq!(lines.len(), 3);
        assert!(s.log_lines.iter().any(|l| l.rule_id == "5712"));
        let text = s.text();
        assert!(
            text.contains("Rules: 5710 \"rule 5710\" (level 5) ×9; 5712"),
            "{text}"
        );
        assert!(
            text.contains("web-01 (172.18.1.10, zone DMZ) ×12"),
            "{text}"
        );
        assert!(
            text.contains("Users: admin ×6, oracle ×3, root ×3"),
            "{text}"
        );
        let head = s.headline();
        assert!(
            head.starts_with("12 earlier alerts for 198.51.100.7"),
            "{head}"
        );
        assert!(head.contains("first 2024-06-10 11:48:00 +00:00"), "{head}");
    }

    #[test]
    fn summary_fits_the_budget_and_counts_what_it_left_out() {
        let ip: IpAddr = "198.51.100.7".parse().unwrap();
        let events: Vec<Event> = (0..200)
            .map(|i| {
                let ts = format!(
                    "2024-06-10T{:02}:{:02}:00.000+0000",
                    11 - i / 60,
                    59 - i % 60
                );
                let a = event_alert(&ts, &format!("{}", 5000 + i), 5, &format!("user{i}"));
                Event::from_alert(&a, ip).unwrap()
            })
            .collect();
        for budget in [600, 1500, 6000] {
            let s = summarise(
                &found(events.clone(), true),
                &Settings::default().investigation(),
                budget,
            );
            let len = s.text().chars().count() + s.headline().chars().count();
            assert!(len <= budget, "{len} > {budget}");
            assert_eq!(s.events, 200);
            assert!(s.omitted.get("users").copied().unwrap_or(0) > 0);
            assert_eq!(
                s.users.len() + s.omitted.get("users").copied().unwrap_or(0),
                200
            );
        }
        let s = summarise(
            &found(events, true),
            &Settings::default().investigation(),
            6000,
        );
        assert!(s.headline().starts_with("at least 200 earlier alerts"));
    }

    #[test]
    fn no_events_says_so() {
        let s = summarise(
            &found(Vec::new(), false),
            &Settings::default().investigation(),
            6000,
        );
        assert!(s
            .headline()
            .starts_with("No earlier alerts for 198.51.100.7 on this manager in the 72 h"));
        assert_eq!(s.text(), "");
    }

    #[test]
    fn history_serialises_with_a_status() {
        let h = History::not_collected("no source address");
        let v = serde_json::to_value(&h).unwrap();
        assert_eq!(
            v,
            json!({"status":"not_collected","reason":"no source address"})
        );
        let s = summarise(
            &found(sample_events(), false),
            &Settings::default().investigation(),
            6000,
        );
        let v = serde_json::to_value(History::Collected(Box::new(s))).unwrap();
        assert_eq!(v["status"], "collected");
        assert_eq!(v["events"], 12);
        for key in [
            "ip",
            "backend",
            "since",
            "until",
            "first_seen",
            "last_seen",
            "limit_reached",
            "rules",
            "agents",
            "peers",
            "dest_ports",
            "users",
            "log_lines",
            "omitted",
            "notes",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn budget_follows_num_ctx() {
        let mut s = Settings::default();
        assert_eq!(budget_chars(s.ollama.num_ctx), 6000);
        s.ollama.num_ctx = 2048;
        assert_eq!(budget_chars(s.ollama.num_ctx), 1024);
        s.ollama.num_ctx = 512;
        assert_eq!(budget_chars(s.ollama.num_ctx), 600);
    }
}
