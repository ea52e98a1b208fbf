//! One report per source address per `dedup.cooldown_secs`, and no alert lost in a storm.
//!
//! The first analysed alert for an address opens a window. Alerts for it inside the window are
//! counted into a [`Tally`] instead of analysed; the next report for that address, or a digest
//! push once the window has closed, says `N more alerts` with their rule ids and times. A higher
//! rule level, or a first success after failures, breaks through the window.
//!
//! State lives in `state_dir/cooldown/<key>.json`, changed only under one host-wide lock, so
//! concurrent intake processes never lose a count.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::intake::alert::{fold_line, truncate_chars, Alert};
#[cfg(doc)]
use crate::util::state::StateDir;
use crate::util::store::{self, Documents, Guard, Local};

/// At most this many single alerts are listed in a tally (all are counted).
pub(crate) const MAX_LISTED: usize = 20;
/// How long intake waits for the cooldown lock before it goes on without dedup.
pub(crate) const LOCK_WAIT: std::time::Duration = std::time::Duration::from_millis(200);

/// Alerts counted for one address since its last report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub first: String,
    pub last: String,
    /// Rule id -> (level, description, count).
    pub rules: BTreeMap<String, RuleCount>,
    pub agents: Vec<String>,
    pub max_level: u32,
    /// The first [`MAX_LISTED`] alerts: time, rule, level, agent.
    pub listed: Vec<Counted>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    pub level: u32,
    pub description: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    pub time: String,
    pub rule: String,
    pub level: u32,
    pub agent: String,
}

impl Tally {
    pub fn add(&mut self, alert: &Alert) {
        let time = alert
            .timestamp()
            .unwrap_or_else(|| chrono::Utc::now().to_rfc3339());
        if self.count == 0 {
            self.first = time.clone();
        }
        self.last = time.clone();
        self.count += 1;
        let level = alert.rule_level();
        self.max_level = self.max_level.max(level);
        let rule = self
            .rules
            .entry(alert.rule_id())
            .or_insert_with(|| RuleCount {
                level,
                // A rule description may quote alert fields: one line, so it forges nothing.
                description: truncate_chars(&fold_line(&alert.description(), usize::MAX), 120)
                    .to_string(),
                count: 0,
            });
        rule.count += 1;
        rule.level = rule.level.max(level);
        let agent = alert.agent_name();
        if !self.agents.contains(&agent) && self.agents.len() < MAX_LISTED {
            self.agents.push(agent.clone());
        }
        if self.listed.len() < MAX_LISTED {
            self.listed.push(Counted {
                time,
                rule: alert.rule_id(),
                level,
                agent,
            });
        }
    }

    /// Adds another tally's alerts (another node's, or an earlier window's): every count is
    /// summed, the lists stay within [`MAX_LISTED`].
    pub fn merge(&mut self, other: &Tally) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 || (!other.first.is_empty() && other.first < self.first) {
            self.first = other.first.clone();
        }
        if other.last > self.last {
            self.last = other.last.clone();
        }
        self.count = self.count.saturating_add(other.count);
        self.max_level = self.max_level.max(other.max_level);
        for (id, r) in &other.rules {
            let mine = self.rules.entry(id.clone()).or_insert_with(|| RuleCount {
                level: r.level,
                description: r.description.clone(),
                count: 0,
            });
            mine.count = mine.count.saturating_add(r.count);
            mine.level = mine.level.max(r.level);
        }
        for agent in &other.agents {
            if !self.agents.contains(agent) && self.agents.len() < MAX_LISTED {
                self.agents.push(agent.clone());
            }
        }
        let room = MAX_LISTED.saturating_sub(self.listed.len());
        self.listed.extend(other.listed.iter().take(room).cloned());
        self.listed.sort_by(|a, b| a.time.cmp(&b.time));
    }

    /// `12 more alerts since the last report (rules 5710 x9, 5712 x3; first ..., last ...)`.
    pub fn sentence(&self, ip: &str) -> String {
        let rules = self
            .rules
            .iter()
            .map(|(id, r)| format!("{id} x{}", r.count))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "{} more alerts from {ip} since the last report (rules {rules}; first {}, last {})",
            self.count, self.first, self.last
        )
    }

    /// The Markdown section appended to a report.
    pub fn section(&self, ip: &str) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "## Since the last report");
        let _ = writeln!(md, "{}.", self.sentence(ip));
        for (id, r) in &self.rules {
            let _ = writeln!(
                md,
                "- rule {id} (level {}): {} x{}",
                r.level, r.description, r.count
            );
        }
        if !self.agents.is_empty() {
            let _ = writeln!(md, "- agents: {}", self.agents.join(", "));
        }
        md.trim_end().to_string()
    }

    /// A digest push for a window that closed with counted alerts.
    pub fn digest_markdown(&self, ip: &str) -> String {
        let mut md = format!(
            "# {} more alerts from {ip}\n\n{}\n",
            self.count,
            self.section(ip)
        );
        if self.listed.len() > 1 {
            let _ = writeln!(md, "\n## Alerts");
            for c in &self.listed {
                let _ = writeln!(
                    md,
                    "- {} rule {} (level {}) on {}",
                    c.time, c.rule, c.level, c.agent
                );
            }
            if self.count > self.listed.len() as u64 {
                let _ = writeln!(
                    md,
                    "- ... and {} more",
                    self.count - self.listed.len() as u64
                );
            }
        }
        md.trim_end().to_string()
    }
}

/// One address's cooldown window.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Window {
    pub key: String,
    /// The address as people write it (the key is made safe for a file name).
    #[serde(default)]
    pub label: String,
    pub opened_ms: i64,
    pub closes_ms: i64,
    /// The highest level analysed in this window.
    pub level: u32,
    /// Whether an authentication failure was analysed or counted in this window.
    pub saw_failure: bool,
    /// Alerts counted since the last report.
    pub pending: Tally,
}

/// What intake does with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Analyse it; `earlier` holds what was counted since the last report.
    Analyse {
        earlier: Option<Tally>,
        reason: &'static str,
    },
    /// Counted into the open window; `count` alerts are now pending there.
    Counted { count: u64, closes_in_secs: u64 },
}

/// How the address (or rule and agent) is shown in digests.
pub(crate) fn label_for(alert: &Alert) -> String {
    match alert.source_ip() {
        Some((ip, _)) => ip.to_string(),
        None => format!("rule {} on {}", alert.rule_id(), alert.agent_name()),
    }
}

/// The dedup key: the source address, else the rule and agent.
pub(crate) fn key_for(alert: &Alert) -> String {
    let raw = match alert.source_ip() {
        Some((ip, _)) => ip.to_string(),
        None => format!("rule-{}-agent-{}", alert.rule_id(), alert.agent_name()),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect()
}

pub(crate) fn is_failure(alert: &Alert) -> bool {
    alert
        .groups()
        .iter()
        .any(|g| g.contains("authentication_fail") || g == "invalid_login")
}

pub(crate) fn is_success(alert: &Alert) -> bool {
    alert.groups().iter().any(|g| g == "authentication_success")
}

/// The cooldown store: one document per key (see [`crate::util::store`]).
pub(crate) struct Store {
    dir: PathBuf,
    cooldown_ms: i64,
    docs: Box<dyn Documents>,
}

impl Store {
    /// The store in `dir` (the state dir's `cooldown/`, [`StateDir::cooldown`]).
    pub(crate) fn new(dir: PathBuf, cooldown_secs: u64) -> Store {
        Store {
            docs: Box::new(Local::new(dir.clone(), ".lock", "cooldown", LOCK_WAIT)),
            dir,
            cooldown_ms: (cooldown_secs as i64).saturating_mul(1000),
        }
    }

    /// The same store, waiting up to `wait` for the lock (the worker, which nobody waits on).
    pub(crate) fn patient(self, wait: std::time::Duration) -> Store {
        Store {
            docs: Box::new(Local::new(self.dir.clone(), ".lock", "cooldown", wait)),
            ..self
        }
    }

    fn lock(&self) -> std::io::Result<Guard> {
        self.docs.lock()
    }

    fn load(&self, key: &str) -> Option<Window> {
        store::load(&*self.docs, key)
    }

    fn save(&self, w: &Window) -> std::io::Result<()> {
        store::save(&*self.docs, &w.key, w)
    }

    /// Decides for one alert at `now_ms`, and records the decision.
    pub(crate) fn gate(&self, alert: &Alert, now_ms: i64) -> std::io::Result<Decision> {
        let _guard = self.lock()?;
        let key = key_for(alert);
        let level = alert.rule_level();
        let fresh = || Window {
            key: key.clone(),
            label: label_for(alert),
            opened_ms: now_ms,
            closes_ms: now_ms.saturating_add(self.cooldown_ms),
            level,
            saw_failure: is_failure(alert),
            pending: Tally::default(),
        };
        let (window, decision) = match self.load(&key) {
            None => (
                fresh(),
                Decision::Analyse {
                    earlier: None,
                    reason: "first alert for this address",
                },
            ),
            Some(old) if now_ms >= old.closes_ms => {
                let earlier = (old.pending.count > 0).then_some(old.pending);
                (
                    fresh(),
                    Decision::Analyse {
                        earlier,
                        reason: "cooldown window closed",
                    },
                )
            }
            Some(mut w) => {
                let jump = level > w.level;
                let success_after_failure = is_success(alert) && w.saw_failure;
                if jump || success_after_failure {
                    w.level = w.level.max(level);
                    let earlier = (w.pending.count > 0).then(|| std::mem::take(&mut w.pending));
                    let reason = if jump {
                        "rule level higher than the last report's"
                    } else {
                        "a success after failures"
                    };
                    (w, Decision::Analyse { earlier, reason })
                } else {
                    w.saw_failure |= is_failure(alert);
                    w.pending.add(alert);
                    let count = w.pending.count;
                    let closes_in_secs = ((w.closes_ms - now_ms).max(0) / 1000) as u64;
                    (
                        w,
                        Decision::Counted {
                            count,
                            closes_in_secs,
                        },
                    )
                }
            }
        };
        self.save(&window)?;
        Ok(decision)
    }

    /// Counts an alert without analysing it (execd answered `abort`): into the open window for its
    /// address, or into a new one when ours has closed (execd's timer restarts with every repeat,
    /// ours does not), so that the alert still reaches a digest. Returns the pending count.
    pub(crate) fn count_only(&self, alert: &Alert, now_ms: i64) -> std::io::Result<u64> {
        let _guard = self.lock()?;
        let key = key_for(alert);
        let mut w = match self.load(&key) {
            Some(w) if now_ms < w.closes_ms => w,
            old => {
                // A closed window's counts are carried over, not dropped.
                let pending = old.map(|o| o.pending).unwrap_or_default();
                Window {
                    key: key.clone(),
                    label: label_for(alert),
                    opened_ms: now_ms,
                    closes_ms: now_ms.saturating_add(self.cooldown_ms),
                    level: alert.rule_level(),
                    saw_failure: is_failure(alert),
                    pending,
                }
            }
        };
        w.pending.add(alert);
        self.save(&w)?;
        Ok(w.pending.count)
    }

    /// Counts an alert another manager node reports (the shared window said so): into this
    /// node's window for its address, which closes with the shared one at `closes_ms`, so the
    /// nodes' counts meet in one digest. `earlier`, what this node had counted for the report
    /// that is now not made here, is counted there too. Returns the pending count.
    pub(crate) fn count_for_other_node(
        &self,
        alert: &Alert,
        earlier: Option<&Tally>,
        closes_ms: i64,
    ) -> std::io::Result<u64> {
        let _guard = self.lock()?;
        let key = key_for(alert);
        let mut w = self.load(&key).unwrap_or_else(|| Window {
            key: key.clone(),
            label: label_for(alert),
            opened_ms: closes_ms.saturating_sub(self.cooldown_ms),
            closes_ms,
            level: alert.rule_level(),
            saw_failure: is_failure(alert),
            pending: Tally::default(),
        });
        w.closes_ms = closes_ms;
        w.saw_failure |= is_failure(alert);
        w.pending.add(alert);
        if let Some(earlier) = earlier {
            w.pending.merge(earlier);
        }
        self.save(&w)?;
        Ok(w.pending.count)
    }

    /// Keeps `tally` (alerts counted for `alert`'s address before) in its window, for the next
    /// report or digest: when the alert that was to carry it is counted elsewhere.
    pub(crate) fn keep_counts(&self, alert: &Alert, tally: &Tally) -> std::io::Result<()> {
        let _guard = self.lock()?;
        let key = key_for(alert);
        let now = crate::util::now_ms();
        let mut w = self.load(&key).unwrap_or_else(|| Window {
            key: key.clone(),
            label: label_for(alert),
            opened_ms: now,
            closes_ms: now.saturating_add(self.cooldown_ms),
            level: alert.rule_level(),
            saw_failure: is_failure(alert),
            pending: Tally::default(),
        });
        w.pending.merge(tally);
        self.save(&w)
    }

    /// Takes the tallies of windows that have closed with counted alerts, and forgets closed
    /// windows. `write` must store each digest durably (the outbox); a window is forgotten only
    /// after its digest was stored.
    pub(crate) fn take_due(
        &self,
        now_ms: i64,
        mut write: impl FnMut(&str, &str, &Tally) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        let _guard = self.lock()?;
        let mut taken = 0;
        for key in self.docs.names() {
            let Some(w) = self.load(&key) else {
                // Corrupt: ignore it, and let the next alert open a fresh window.
                let _ = self.docs.remove(&key);
                continue;
            };
            if now_ms < w.closes_ms {
                continue;
            }
            if w.pending.count > 0 {
                let label = if w.label.is_empty() { &w.key } else { &w.label };
                write(label, &w.key, &w.pending)?;
                taken += 1;
            }
            let _ = self.docs.remove(&key);
        }
        Ok(taken)
    }

    /// When the next open window with counted alerts closes, in ms since the epoch.
    pub(crate) fn next_due_ms(&self) -> Option<i64> {
        self.docs
            .names()
            .iter()
            .filter_map(|key| {
                let w = self.load(key)?;
                (w.pending.count > 0).then_some(w.closes_ms)
            })
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs::{self, File, OpenOptions};

    fn alert(ip: &str, rule: &str, level: u32, groups: &[&str]) -> Alert {
        Alert::new(
            json!({"timestamp":"2026-01-01T00:00:00Z","rule":{"id":rule,"level":level,
            "description":"d","groups":groups},"agent":{"name":"web"},"data":{"srcip":ip}}),
        )
    }

    /// Counts kept for a report that is not made here (the alert went into a campaign the
    /// nodes formed) reach the next digest, with what the window already had.
    #[test]
    fn kept_counts_reach_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 60);
        let a = alert("203.0.113.5", "5710", 5, &["sshd"]);
        let mut earlier = Tally::default();
        for _ in 0..7 {
            earlier.add(&a);
        }
        store.keep_counts(&a, &earlier).unwrap();
        let now = crate::util::now_ms();
        store.gate(&a, now).unwrap();
        let mut digests = Vec::new();
        store
            .take_due(now + 61_000, |_, _, t| {
                digests.push(t.count);
                Ok(())
            })
            .unwrap();
        assert_eq!(digests, vec![8]);
    }

    #[test]
    fn window_counts_then_hands_over() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 60);
        let a = alert("203.0.113.5", "5710", 5, &["sshd", "authentication_failed"]);
        assert!(matches!(
            store.gate(&a, 0).unwrap(),
            Decision::Analyse { earlier: None, .. }
        ));
        for i in 1..=3 {
            assert_eq!(
                store.gate(&a, i * 1000).unwrap(),
                Decision::Counted {
                    count: i as u64,
                    closes_in_secs: 60 - i as u64
                }
            );
        }
        // Another address is independent.
        let b = alert("198.51.100.1", "5710", 5, &[]);
        assert!(matches!(
            store.gate(&b, 2000).unwrap(),
            Decision::Analyse { .. }
        ));
        // After the window, the next alert is analysed and carries the three counted ones.
        match store.gate(&a, 61_000).unwrap() {
            Decision::Analyse {
                earlier: Some(t), ..
            } => {
                assert_eq!(t.count, 3);
                assert!(t.sentence("203.0.113.5").starts_with("3 more alerts"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn level_jump_and_success_break_through() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 600);
        let fail = alert("203.0.113.5", "5710", 5, &["authentication_failed"]);
        store.gate(&fail, 0).unwrap();
        store.gate(&fail, 1).unwrap();
        let higher = alert("203.0.113.5", "5712", 10, &["authentication_failures"]);
        match store.gate(&higher, 2).unwrap() {
            Decision::Analyse {
                earlier: Some(t),
                reason,
            } => {
                assert_eq!(t.count, 1);
                assert!(reason.contains("level"));
            }
            other => panic!("{other:?}"),
        }
        let success = alert("203.0.113.5", "5715", 3, &["authentication_success"]);
        assert!(matches!(
            store.gate(&success, 3).unwrap(),
            Decision::Analyse {
                reason: "a success after failures",
                ..
            }
        ));
    }

    #[test]
    fn due_windows_become_digests_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        let a = alert("203.0.113.5", "5710", 5, &[]);
        store.gate(&a, 0).unwrap();
        store.gate(&a, 1000).unwrap();
        store.gate(&a, 2000).unwrap();
        assert_eq!(store.next_due_ms(), Some(10_000));
        let mut digests = Vec::new();
        assert_eq!(store.take_due(5_000, |_, _, _| Ok(())).unwrap(), 0);
        store
            .take_due(10_000, |k, _, t| {
                digests.push((k.to_string(), t.clone()));
                Ok(())
            })
            .unwrap();
        assert_eq!(digests.len(), 1);
        assert_eq!(digests[0].1.count, 2);
        let md = digests[0].1.digest_markdown("203.0.113.5");
        assert!(md.starts_with("# 2 more alerts from 203.0.113.5"), "{md}");
        assert_eq!(
            store
                .take_due(20_000, |_, _, _| panic!("sent twice"))
                .unwrap(),
            0
        );
        assert_eq!(store.next_due_ms(), None);
    }

    #[test]
    fn corrupt_state_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        fs::create_dir_all(dir.path().join("cooldown")).unwrap();
        fs::write(dir.path().join("cooldown/203.0.113.5.json"), b"{broken").unwrap();
        let a = alert("203.0.113.5", "5710", 5, &[]);
        assert!(matches!(
            store.gate(&a, 0).unwrap(),
            Decision::Analyse { .. }
        ));
    }

    #[test]
    fn keys() {
        assert_eq!(key_for(&alert("::ffff:1.2.3.4", "1", 1, &[])), "1.2.3.4");
        assert_eq!(key_for(&alert("2001:db8::1", "1", 1, &[])), "2001_db8__1");
        let no_ip = Alert::new(json!({"rule":{"id":"554"},"agent":{"name":"a/b"}}));
        assert_eq!(key_for(&no_ip), "rule-554-agent-a_b");
    }

    /// An alert with its own time, level, agent and groups.
    fn at(time: &str, ip: &str, rule: &str, level: u32, agent: &str, groups: &[&str]) -> Alert {
        Alert::new(json!({"timestamp":time,"rule":{"id":rule,"level":level,
            "description":format!("rule {rule}"),"groups":groups},
            "agent":{"name":agent},"data":{"srcip":ip}}))
    }

    fn reason(d: &Decision) -> &'static str {
        match d {
            Decision::Analyse { reason, .. } => reason,
            other => panic!("expected Analyse, got {other:?}"),
        }
    }

    fn earlier_count(d: &Decision) -> Option<u64> {
        match d {
            Decision::Analyse { earlier, .. } => earlier.as_ref().map(|t| t.count),
            other => panic!("expected Analyse, got {other:?}"),
        }
    }

    #[test]
    fn tally_add_keeps_first_last_rules_agents_and_listing() {
        let mut t = Tally::default();
        t.add(&at("t1", "1.2.3.4", "5710", 5, "web", &[]));
        t.add(&at("t2", "1.2.3.4", "5712", 10, "db", &[]));
        t.add(&at("t3", "1.2.3.4", "5710", 7, "web", &[]));
        let counted = |time: &str, rule: &str, level, agent: &str| Counted {
            time: time.into(),
            rule: rule.into(),
            level,
            agent: agent.into(),
        };
        let want = Tally {
            count: 3,
            first: "t1".into(),
            last: "t3".into(),
            rules: BTreeMap::from([
                (
                    "5710".to_string(),
                    RuleCount {
                        level: 7,
                        description: "rule 5710".into(),
                        count: 2,
                    },
                ),
                (
                    "5712".to_string(),
                    RuleCount {
                        level: 10,
                        description: "rule 5712".into(),
                        count: 1,
                    },
                ),
            ]),
            agents: vec!["web".into(), "db".into()],
            max_level: 10,
            listed: vec![
                counted("t1", "5710", 5, "web"),
                counted("t2", "5712", 10, "db"),
                counted("t3", "5710", 7, "web"),
            ],
        };
        assert_eq!(t, want);
    }

    #[test]
    fn tally_cuts_long_descriptions_to_120_characters() {
        let mut t = Tally::default();
        t.add(&Alert::new(
            json!({"rule":{"id":"1","description":"é".repeat(130)}}),
        ));
        assert_eq!(t.rules["1"].description, "é".repeat(120));
        // Without a timestamp the time of counting is used.
        assert!(!t.first.is_empty());
        assert_eq!(t.first, t.last);
        assert_eq!(t.agents, vec!["unknown agent"]);
    }

    #[test]
    fn tally_lists_and_names_at_most_20_but_counts_all() {
        let mut t = Tally::default();
        for i in 0..25 {
            t.add(&at(
                &format!("t{i}"),
                "1.2.3.4",
                "5710",
                5,
                &format!("agent{i}"),
                &[],
            ));
        }
        // A known agent is not named twice.
        t.add(&at("t25", "1.2.3.4", "5710", 5, "agent0", &[]));
        assert_eq!(t.count, 26);
        assert_eq!(t.rules["5710"].count, 26);
        assert_eq!(t.listed.len(), MAX_LISTED);
        assert_eq!(t.listed[19].time, "t19");
        assert_eq!(t.agents.len(), MAX_LISTED);
        assert_eq!(t.agents[19], "agent19");
        assert_eq!(t.first, "t0");
        assert_eq!(t.last, "t25");
        let mut t = Tally::default();
        t.add(&at("t0", "1.2.3.4", "5710", 5, "web", &[]));
        t.add(&at("t1", "1.2.3.4", "5710", 5, "web", &[]));
        assert_eq!(t.agents, vec!["web"]);
    }

    #[test]
    fn tally_sentence_section_and_digest_text() {
        let mut t = Tally::default();
        t.add(&at("t1", "1.2.3.4", "5710", 5, "web", &[]));
        assert_eq!(
            t.sentence("1.2.3.4"),
            "1 more alerts from 1.2.3.4 since the last report (rules 5710 x1; first t1, last t1)"
        );
        let section = "## Since the last report\n\
            1 more alerts from 1.2.3.4 since the last report (rules 5710 x1; first t1, last t1).\n\
            - rule 5710 (level 5): rule 5710 x1\n\
            - agents: web";
        assert_eq!(t.section("1.2.3.4"), section);
        // One alert: no list of alerts.
        assert_eq!(
            t.digest_markdown("1.2.3.4"),
            format!("# 1 more alerts from 1.2.3.4\n\n{section}")
        );
        t.add(&at("t2", "1.2.3.4", "5712", 10, "db", &[]));
        assert_eq!(
            t.digest_markdown("1.2.3.4"),
            "# 2 more alerts from 1.2.3.4\n\n\
             ## Since the last report\n\
             2 more alerts from 1.2.3.4 since the last report (rules 5710 x1, 5712 x1; first t1, last t2).\n\
             - rule 5710 (level 5): rule 5710 x1\n\
             - rule 5712 (level 10): rule 5712 x1\n\
             - agents: web, db\n\n\
             ## Alerts\n\
             - t1 rule 5710 (level 5) on web\n\
             - t2 rule 5712 (level 10) on db"
        );
        // Nothing counted: no agents line.
        assert_eq!(
            Tally::default().section("x"),
            "## Since the last report\n0 more alerts from x since the last report (rules ; first , last )."
        );
    }

    #[test]
    fn digest_says_how_many_are_not_listed() {
        let mut t = Tally::default();
        for i in 0..25 {
            t.add(&at(&format!("t{i}"), "1.2.3.4", "5710", 5, "web", &[]));
        }
        let md = t.digest_markdown("1.2.3.4");
        assert!(
            md.ends_with("- t19 rule 5710 (level 5) on web\n- ... and 5 more"),
            "{md}"
        );
        assert_eq!(md.matches(" rule 5710 (level 5) on web").count(), 20);
    }

    #[test]
    fn labels_and_keys_with_and_without_an_address() {
        let v4 = at("t", "203.0.113.5", "5710", 5, "web", &[]);
        assert_eq!(label_for(&v4), "203.0.113.5");
        assert_eq!(key_for(&v4), "203.0.113.5");
        let v6 = at("t", "2001:db8::1", "5710", 5, "web", &[]);
        assert_eq!(label_for(&v6), "2001:db8::1");
        assert_eq!(key_for(&v6), "2001_db8__1");
        let no_ip = Alert::new(json!({"rule":{"id":"554"},"agent":{"name":"Ubuntu 22.04"}}));
        assert_eq!(label_for(&no_ip), "rule 554 on Ubuntu 22.04");
        assert_eq!(key_for(&no_ip), "rule-554-agent-Ubuntu_22.04");
        let long = Alert::new(json!({"rule":{"id":"1"},"agent":{"name":"x".repeat(200)}}));
        assert_eq!(key_for(&long), format!("rule-1-agent-{}", "x".repeat(107)));
    }

    #[test]
    fn failure_and_success_groups() {
        let groups = |g: &[&str]| at("t", "1.2.3.4", "1", 1, "a", g);
        for (g, failure, success) in [
            (&["authentication_failed"][..], true, false),
            (&["syslog", "authentication_failures"][..], true, false),
            (&["invalid_login"][..], true, false),
            (&["authentication_success"][..], false, true),
            (&["sshd", "authentication_success"][..], false, true),
            (&["sshd"][..], false, false),
            (
                &["invalid_login_x", "authentication_successes"][..],
                false,
                false,
            ),
            (&[][..], false, false),
        ] {
            assert_eq!(is_failure(&groups(g)), failure, "{g:?}");
            assert_eq!(is_success(&groups(g)), success, "{g:?}");
        }
    }

    #[test]
    fn gate_window_closes_exactly_at_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        let a = alert("203.0.113.5", "5710", 5, &[]);
        let d = store.gate(&a, 0).unwrap();
        assert_eq!(reason(&d), "first alert for this address");
        assert_eq!(earlier_count(&d), None);
        assert_eq!(
            store.gate(&a, 9_999).unwrap(),
            Decision::Counted {
                count: 1,
                closes_in_secs: 0
            }
        );
        let d = store.gate(&a, 10_000).unwrap();
        assert_eq!(reason(&d), "cooldown window closed");
        assert_eq!(earlier_count(&d), Some(1));
        // The new window opened at 10 s; it closes at 20 s with nothing counted.
        assert_eq!(
            store.gate(&a, 11_500).unwrap(),
            Decision::Counted {
                count: 1,
                closes_in_secs: 8
            }
        );
        let d = store.gate(&a, 20_000).unwrap();
        assert_eq!(reason(&d), "cooldown window closed");
        assert_eq!(earlier_count(&d), Some(1));
        let d = store.gate(&a, 30_000).unwrap();
        assert_eq!(reason(&d), "cooldown window closed");
        assert_eq!(earlier_count(&d), None);
    }

    #[test]
    fn gate_level_must_rise_to_break_through() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 600);
        store.gate(&alert("203.0.113.5", "1", 7, &[]), 0).unwrap();
        // Same and lower levels are counted.
        assert!(matches!(
            store.gate(&alert("203.0.113.5", "2", 7, &[]), 1).unwrap(),
            Decision::Counted { count: 1, .. }
        ));
        assert!(matches!(
            store.gate(&alert("203.0.113.5", "3", 6, &[]), 2).unwrap(),
            Decision::Counted { count: 2, .. }
        ));
        // A higher level is analysed and takes the pending tally.
        let d = store.gate(&alert("203.0.113.5", "4", 8, &[]), 3).unwrap();
        assert_eq!(reason(&d), "rule level higher than the last report's");
        assert_eq!(earlier_count(&d), Some(2));
        // The window now remembers level 8: another 8 is counted, a 9 breaks through with
        // nothing pending to hand over.
        assert!(matches!(
            store.gate(&alert("203.0.113.5", "5", 8, &[]), 4).unwrap(),
            Decision::Counted { count: 1, .. }
        ));
        let d = store.gate(&alert("203.0.113.5", "6", 9, &[]), 5).unwrap();
        assert_eq!(earlier_count(&d), Some(1));
        let d = store.gate(&alert("203.0.113.5", "7", 10, &[]), 6).unwrap();
        assert_eq!(reason(&d), "rule level higher than the last report's");
        assert_eq!(earlier_count(&d), None);
    }

    #[test]
    fn gate_success_breaks_through_only_after_failures() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 600);
        let plain = alert("203.0.113.5", "1", 5, &["sshd"]);
        let fail = alert("203.0.113.5", "5710", 5, &["authentication_failed"]);
        let success = alert("203.0.113.5", "5715", 3, &["authentication_success"]);
        store.gate(&plain, 0).unwrap();
        // No failure seen yet: a success is only counted.
        assert!(matches!(
            store.gate(&success, 1).unwrap(),
            Decision::Counted { count: 1, .. }
        ));
        // A counted failure is remembered, even after more counted alerts.
        assert!(matches!(
            store.gate(&fail, 2).unwrap(),
            Decision::Counted { count: 2, .. }
        ));
        assert!(matches!(
            store.gate(&fail, 3).unwrap(),
            Decision::Counted { count: 3, .. }
        ));
        assert!(matches!(
            store.gate(&plain, 4).unwrap(),
            Decision::Counted { count: 4, .. }
        ));
        let d = store.gate(&success, 5).unwrap();
        assert_eq!(reason(&d), "a success after failures");
        assert_eq!(earlier_count(&d), Some(4));
        // A success that also raises the level gives the level as the reason.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 600);
        store.gate(&fail, 0).unwrap();
        let d = store
            .gate(
                &alert("203.0.113.5", "5715", 9, &["authentication_success"]),
                1,
            )
            .unwrap();
        assert_eq!(reason(&d), "rule level higher than the last report's");
    }

    #[test]
    fn count_only_joins_the_open_window_and_carries_a_closed_ones_counts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        let a = alert("203.0.113.5", "5710", 5, &[]);
        // No window yet: one is opened, closing 10 s later.
        assert_eq!(store.count_only(&a, 0).unwrap(), 1);
        assert_eq!(store.next_due_ms(), Some(10_000));
        assert_eq!(store.count_only(&a, 5_000).unwrap(), 2);
        assert_eq!(store.next_due_ms(), Some(10_000));
        assert_eq!(store.count_only(&a, 9_999).unwrap(), 3);
        assert_eq!(store.next_due_ms(), Some(10_000));
        // At the close a new window opens and the three counted alerts come along.
        assert_eq!(store.count_only(&a, 10_000).unwrap(), 4);
        assert_eq!(store.next_due_ms(), Some(20_000));
        // gate sees the open window and counts too.
        assert_eq!(
            store.gate(&a, 12_000).unwrap(),
            Decision::Counted {
                count: 5,
                closes_in_secs: 8
            }
        );
        let mut got = Vec::new();
        assert_eq!(
            store
                .take_due(20_000, |label, _, t| {
                    got.push((label.to_string(), t.count));
                    Ok(())
                })
                .unwrap(),
            1
        );
        assert_eq!(got, vec![("203.0.113.5".to_string(), 5)]);
    }

    #[test]
    fn take_due_hands_over_closed_windows_by_label_and_forgets_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        let a = alert("203.0.113.5", "5710", 5, &[]);
        let no_ip = Alert::new(json!({"timestamp":"t","rule":{"id":"554","level":5},
            "agent":{"name":"web"}}));
        let quiet = alert("198.51.100.7", "5710", 5, &[]);
        let late = alert("192.0.2.1", "5710", 5, &[]);
        for alert in [&a, &no_ip] {
            store.gate(alert, 0).unwrap();
            store.gate(alert, 1).unwrap();
        }
        store.gate(&quiet, 0).unwrap();
        store.gate(&late, 1).unwrap();
        store.gate(&late, 2).unwrap();
        // An older state file without a label: its key is shown.
        let old = Window {
            key: "old-key".into(),
            label: String::new(),
            opened_ms: 0,
            closes_ms: 10_000,
            level: 5,
            saw_failure: false,
            pending: {
                let mut t = Tally::default();
                t.add(&a);
                t
            },
        };
        store.save(&old).unwrap();
        let cooldown = dir.path().join("cooldown");
        fs::write(cooldown.join("notes.txt"), b"not a window").unwrap();
        fs::write(cooldown.join("broken.json"), b"{").unwrap();
        assert_eq!(store.next_due_ms(), Some(10_000));

        let mut got = Vec::new();
        let taken = store
            .take_due(10_000, |label, _, t| {
                got.push((label.to_string(), t.count));
                Ok(())
            })
            .unwrap();
        assert_eq!(taken, 3);
        got.sort();
        assert_eq!(
            got,
            vec![
                ("203.0.113.5".to_string(), 1),
                ("old-key".to_string(), 1),
                ("rule 554 on web".to_string(), 1),
            ]
        );
        // Closed windows and the corrupt file are gone; the open one and other files stay.
        let mut left: Vec<String> = fs::read_dir(&cooldown)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![".lock", "192.0.2.1.json", "notes.txt"]);
        assert_eq!(
            reason(&store.gate(&quiet, 10_001).unwrap()),
            "first alert for this address"
        );
        assert_eq!(store.next_due_ms(), Some(10_001));
    }

    #[test]
    fn take_due_keeps_a_window_whose_digest_could_not_be_stored() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        let a = alert("203.0.113.5", "5710", 5, &[]);
        store.gate(&a, 0).unwrap();
        store.gate(&a, 1).unwrap();
        assert!(store
            .take_due(10_000, |_, _, _| Err(std::io::Error::other("disk full")))
            .is_err());
        assert_eq!(store.next_due_ms(), Some(10_000));
        assert_eq!(store.take_due(10_000, |_, _, _| Ok(())).unwrap(), 1);
        assert_eq!(store.next_due_ms(), None);
    }

    #[test]
    fn next_due_is_the_earliest_window_with_counted_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("cooldown"), 10);
        // No state directory at all.
        assert_eq!(store.next_due_ms(), None);
        // A window with nothing counted is not due.
        store
            .gate(&alert("203.0.113.5", "1", 5, &[]), 1_000)
            .unwrap();
        assert_eq!(store.next_due_ms(), None);
        let b = alert("198.51.100.7", "1", 5, &[]);
        store.gate(&b, 3_000).unwrap();
        store.gate(&b, 4_000).unwrap();
        assert_eq!(store.next_due_ms(), Some(13_000));
        let c = alert("192.0.2.1", "1", 5, &[]);
        store.gate(&c, 2_000).unwrap();
        store.gate(&c, 2_500).unwrap();
        assert_eq!(store.next_due_ms(), Some(12_000));
    }

    /// Holds the store's lock as another intake process would.
    fn hold_lock(dir: &std::path::Path) -> File {
        let cooldown = dir.join("cooldown");
        fs::create_dir_all(&cooldown).unwrap();
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(cooldown.join(".lock"))
            .unwrap();
        file.lock().unwrap();
        file
    }

    #[test]
    fn intake_gives_up_on_a_held_lock_after_the_wait_limit() {
        let dir = tempfile::tempdir().unwrap();
        let held = hold_lock(dir.path());
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let store = Store::new(path.join("cooldown"), 10);
            let start = std::time::Instant::now();
            let result = store.gate(&alert("203.0.113.5", "1", 5, &[]), 0);
            let _ = tx.send((result.map_err(|e| e.to_string()), start.elapsed()));
        });
        // Never wait forever: execd is waiting for us.
        let (result, waited) = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("gate kept waiting for the lock");
        assert_eq!(
            result.unwrap_err(),
            "the cooldown state stayed locked for 200 ms"
        );
        // But it does wait the whole limit first.
        assert!(waited >= LOCK_WAIT, "{waited:?}");
        drop(held);
    }

    /// The worker's store waits longer than intake's for a lock held past intake's limit.
    #[test]
    fn a_patient_store_waits_past_the_intake_limit() {
        let dir = tempfile::tempdir().unwrap();
        let held = hold_lock(dir.path());
        let release = std::thread::spawn(move || {
            std::thread::sleep(LOCK_WAIT * 5);
            drop(held);
        });
        let alert = alert("203.0.113.5", "1", 5, &[]);
        let impatient = Store::new(dir.path().join("cooldown"), 10);
        assert!(
            impatient.gate(&alert, 0).is_err(),
            "intake gives up at its limit"
        );
        let patient =
            Store::new(dir.path().join("cooldown"), 10).patient(std::time::Duration::from_secs(5));
        assert!(patient.gate(&alert, 0).is_ok(), "the worker waits for it");
        release.join().unwrap();
    }

    #[test]
    fn intake_gets_a_lock_released_within_the_wait_limit() {
        let dir = tempfile::tempdir().unwrap();
        let held = hold_lock(dir.path());
        let store = Store::new(dir.path().join("cooldown"), 10);
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            drop(held);
        });
        let d = store
            .gate(&alert("203.0.113.5", "1", 5, &[]), 0)
            .expect("the lock came free in time");
        assert_eq!(reason(&d), "first alert for this address");
        releaser.join().unwrap();
    }
}
