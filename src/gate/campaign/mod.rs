//! Campaigns: one page per attack, not per alert. Alerts of one kind (the alert family and its
//! service) against one target (the agent) from `campaign.min_sources` distinct addresses inside
//! `campaign.window_secs` form a campaign. From then on such alerts are counted into it instead
//! of analysed one by one; the worker pushes the campaign report when it forms, at most one
//! update per `update_secs`, an escalation at once (a higher rule level, a new target, a
//! successful login from one of its addresses), and a closing summary once no alert has joined
//! for `window_secs`.
//!
//! Every alert is counted once: those before the campaign formed went their own way (a report or
//! a digest), those after it are in its totals. State lives in `state_dir/campaigns/<key>.json`,
//! changed only under one host-wide lock, like the cooldown windows.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cooldown::LOCK_WAIT;
use crate::config::Campaign as Settings;
use crate::intake::alert::{fold_line, Alert};
use crate::intake::facts::{self, is_login_failure, is_login_success};
use crate::util::store::{self, Documents, Guard, Local};

mod nodes;

/// Addresses and users a campaign names; more are counted, not named.
const MAX_NAMED: usize = 5000;
/// Addresses and users the nodes' shared campaign names (more are counted): its document stays
/// well under the indexer answer's cap however many addresses and user names an attacker uses.
const SHARED_NAMED: usize = 1000;
const SHARED_USERS: usize = 100;
/// Addresses and users a push lists.
const TOP: usize = 10;

/// What one address did in a campaign.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Source {
    pub alerts: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    /// Of `alerts`, those already added to the nodes' shared campaign.
    #[serde(default)]
    pub shared: u64,
}

/// One campaign, forming or formed. Every field has its default when missing (a search leaves
/// the users out).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Campaign {
    pub key: String,
    /// `authentication failures (sshd) against web-01`.
    pub label: String,
    /// The addresses seen, with what each did; before forming, only those inside the window.
    pub sources: BTreeMap<String, Source>,
    /// Addresses beyond [`MAX_NAMED`].
    pub other_sources: u64,
    /// When it formed; `None` while it is still forming.
    pub formed_ms: Option<i64>,
    /// Alerts counted into it since it formed (those before went their own way).
    pub alerts: u64,
    pub first_ms: i64,
    pub last_ms: i64,
    pub max_level: u32,
    pub agents: Vec<String>,
    pub users: BTreeMap<String, u64>,
    /// Totals at the last push: what an update or the closing summary tells as new.
    pub pushed_alerts: u64,
    pub pushed_sources: usize,
    pub last_push_ms: Option<i64>,
    /// Why the next push must go out at once, if it must.
    pub escalation: Option<String>,
    /// The rule level and description of the last alert, for the title.
    pub description: String,
    /// Formed from failed logins: "did one get in?" is asked of it.
    #[serde(default)]
    pub login: bool,
    /// The answer, once asked: `Outcome: ...`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// What the nodes' shared campaign already has of this node's (the shared state only).
    #[serde(default)]
    pub shared: Shared,
    /// News on its way to the shared campaign, under its token: sent again, under the same
    /// token, until the indexer answers (the shared campaign adds one token's news once).
    #[serde(default)]
    pub outgoing: Option<(String, Box<Campaign>)>,
    /// On the shared campaign: the tokens of the latest news added.
    #[serde(default)]
    pub applied: Vec<String>,
}

/// What of a campaign was last added to the nodes' shared one: the rest is news.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Shared {
    pub alerts: u64,
    pub users: BTreeMap<String, u64>,
    pub escalation: Option<String>,
    pub outcome: Option<String>,
}

/// What the gate did with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Joined {
    /// Not (yet) part of a campaign: it goes its own way.
    No,
    /// Counted into the campaign `label`, which has `alerts` alerts from `sources` addresses.
    Counted {
        label: String,
        alerts: u64,
        sources: usize,
        escalation: Option<String>,
    },
}

/// A push the worker owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Due {
    /// The campaign just formed.
    Formed,
    /// It grew and `update_secs` have passed, or it escalated.
    Update,
    /// No alert joined for `window_secs`: the closing summary, then it is forgotten.
    Closing,
}

/// The campaign store: one document per campaign (see [`crate::util::store`]).
pub(crate) struct Store {
    dir: PathBuf,
    docs: Box<dyn Documents>,
    cfg: Settings,
}

/// The campaign key of an alert: its kind and its target.
pub(crate) fn key_of(alert: &Alert) -> String {
    key_and_label(alert).0
}

/// The kind of an alert and its target: the campaign key and its label.
fn key_and_label(alert: &Alert) -> (String, String) {
    let family = facts::family(alert);
    let service = alert
        .text("predecoder.program_name")
        .or_else(|| alert.text("decoder.parent"))
        .or_else(|| alert.text("decoder.name"))
        .unwrap_or_default();
    let service = fold_line(&service, 40);
    let failed = if is_login_failure(alert) {
        " failures"
    } else {
        ""
    };
    let target = fold_line(&alert.agent_name(), 60);
    let label = if service.is_empty() {
        format!("{family}{failed} against {target}")
    } else {
        format!("{family}{failed} ({service}) against {target}")
    };
    let raw = format!(
        "{family}{failed}-{service}-{}",
        alert.agent_id().unwrap_or(target)
    );
    let key = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(120)
        .collect();
    (key, label)
}

impl Store {
    pub(crate) fn new(dir: PathBuf, cfg: &Settings) -> Store {
        Store {
            docs: Box::new(Local::new(dir.clone(), ".lock", "campaign", LOCK_WAIT)),
            dir,
            cfg: cfg.clone(),
        }
    }

    /// The same store, waiting up to `wait` for the lock (the worker, which nobody waits on).
    pub(crate) fn patient(self, wait: std::time::Duration) -> Store {
        Store {
            docs: Box::new(Local::new(self.dir.clone(), ".lock", "campaign", wait)),
            ..self
        }
    }

    fn window_ms(&self) -> i64 {
        (self.cfg.window_secs as i64).saturating_mul(1000)
    }

    fn lock(&self) -> std::io::Result<Guard> {
        self.docs.lock()
    }

    fn load(&self, key: &str) -> Option<Campaign> {
        store::load(&*self.docs, key)
    }

    fn save(&self, c: &Campaign) -> std::io::Result<()> {
        store::save(&*self.docs, &c.key, c)
    }

    /// Every campaign there is.
    fn all(&self) -> Vec<Campaign> {
        self.docs
            .names()
            .iter()
            .filter_map(|key| self.load(key))
            .collect()
    }

    /// Records `alert` (with its source address) at `now_ms`, and says whether a campaign took
    /// it. An alert without a source address never forms or joins one.
    pub(crate) fn join(&self, alert: &Alert, now_ms: i64) -> std::io::Result<Joined> {
        if !self.cfg.enabled {
            return Ok(Joined::No);
        }
        let Some((ip, _)) = alert.source_ip() else {
            return Ok(Joined::No);
        };
        let ip = ip.to_string();
        let _lock = self.lock()?;
        let (key, label) = key_and_label(alert);
        // An address already in a formed campaign of this kind on another target: that
        // campaign takes it, and the new target escalates it.
        let mut c = match self.load(&key) {
            Some(c) => c,
            None => match self.formed_elsewhere(alert, &ip) {
                Some(c) => c,
                None => Campaign {
                    key: key.clone(),
                    label,
                    ..Campaign::default()
                },
            },
        };
        let level = alert.rule_level();
        if c.formed_ms.is_none() {
            // Forming: only what is inside the window counts.
            let oldest = now_ms.saturating_sub(self.window_ms());
            c.sources.retain(|_, s| s.last_ms >= oldest);
            add_source(&mut c, &ip, now_ms);
            if c.sources.len() < self.cfg.min_sources.max(2) as usize {
                self.save(&c)?;
                return Ok(Joined::No);
            }
            c.formed_ms = Some(now_ms);
            c.first_ms = now_ms;
            c.max_level = level;
            c.login = is_login_failure(alert);
        } else {
            add_source(&mut c, &ip, now_ms);
            if level > c.max_level {
                c.escalation = Some(format!("rule level {level} (was {})", c.max_level));
            }
            c.max_level = c.max_level.max(level);
        }
        count_in(&mut c, alert, &ip, now_ms);
        self.save(&c)?;
        Ok(c.joined())
    }

    fn formed_elsewhere(&self, alert: &Alert, ip: &str) -> Option<Campaign> {
        let (key, _) = key_and_label(alert);
        let kind = key.rsplit_once('-').map(|(k, _)| k.to_string())?;
        self.all().into_iter().find(|c| {
            c.formed_ms.is_some()
                && c.key.rsplit_once('-').is_some_and(|(k, _)| k == kind)
                && c.sources.contains_key(ip)
        })
    }

    /// Hands each campaign that owes a push to `write` (which must store it durably), and
    /// records it; a closed campaign is forgotten once its summary is stored.
    pub(crate) fn take_due(
        &self,
        now_ms: i64,
        write: impl FnMut(&Campaign, Due) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        self.take_due_as(now_ms, false, write)
    }

    fn take_due_as(
        &self,
        now_ms: i64,
        shared: bool,
        mut write: impl FnMut(&Campaign, Due) -> std::io::Result<()>,
    ) -> std::io::Result<usize> {
        let _lock = self.lock()?;
        let unshared = |c: &Campaign| shared && (c.outgoing.is_some() || c.news().is_some());
        let mut taken = 0;
        for mut c in self.all() {
            let Some(due) = self.due(&c, now_ms) else {
                if c.formed_ms.is_none()
                    && c.last_seen() < now_ms - self.window_ms()
                    && !unshared(&c)
                {
                    // Never formed and gone quiet: nothing to tell.
                    let _ = self.docs.remove(&c.key);
                }
                continue;
            };
            // A closing summary only when there is news: more alerts, or an escalation.
            let changed = c.alerts != c.pushed_alerts || c.escalation.is_some();
            if due != Due::Closing || changed {
                write(&c, due.clone())?;
                taken += 1;
            }
            if due == Due::Closing && !unshared(&c) {
                let _ = self.docs.remove(&c.key);
                continue;
            }
            c.pushed_alerts = c.alerts;
            c.pushed_sources = c.sources.len();
            c.last_push_ms = Some(now_ms);
            if !shared || c.escalation == c.shared.escalation {
                c.escalation = None;
            }
            self.save(&c)?;
        }
        Ok(taken)
    }

    /// The push `c` owes at `now_ms`, if any.
    pub(crate) fn due(&self, c: &Campaign, now_ms: i64) -> Option<Due> {
        c.formed_ms?;
        if now_ms.saturating_sub(c.last_ms) >= self.window_ms() {
            return Some(Due::Closing);
        }
        let Some(last) = c.last_push_ms else {
            return Some(Due::Formed);
        };
        let update_ms = (self.cfg.update_secs as i64).saturating_mul(1000);
        let grew = c.alerts != c.pushed_alerts;
        (c.escalation.is_some() || (grew && now_ms.saturating_sub(last) >= update_ms))
            .then_some(Due::Update)
    }

    /// The keys of every campaign here.
    pub(crate) fn keys(&self) -> Vec<String> {
        self.docs.names()
    }

    /// The top `n` addresses (by alerts) of the campaigns whose push is due at `now_ms`: the
    /// ones worth a lookup from sources with a budget before the push goes out.
    pub(crate) fn top_due(&self, now_ms: i64, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for c in self.all() {
            if self.due(&c, now_ms).is_none() {
                continue;
            }
            let mut top: Vec<(&String, &Source)> = c.sources.iter().collect();
            top.sort_by(|a, b| b.1.alerts.cmp(&a.1.alerts).then(a.0.cmp(b.0)));
            out.extend(top.into_iter().take(n).map(|(ip, _)| ip.clone()));
        }
        out
    }

    /// The campaigns of failed logins whose push is due and whose outcome is not known to be a
    /// success: key, first alert, top `n` addresses. The worker asks their history.
    pub(crate) fn logins_due(&self, now_ms: i64, n: usize) -> Vec<(String, i64, Vec<String>)> {
        self.all()
            .into_iter()
            .filter(|c| c.login && self.due(c, now_ms).is_some())
            .filter(|c| {
                !c.outcome
                    .as_deref()
                    .is_some_and(|o| o.starts_with("Outcome: login succeeded"))
            })
            .map(|c| {
                let mut top: Vec<(&String, &Source)> = c.sources.iter().collect();
                top.sort_by(|a, b| b.1.alerts.cmp(&a.1.alerts).then(a.0.cmp(b.0)));
                let top = top.into_iter().take(n).map(|(ip, _)| ip.clone()).collect();
                (c.key.clone(), c.first_ms, top)
            })
            .collect()
    }

    /// Records the answer to "did one get in?"; a success escalates the campaign.
    pub(crate) fn set_outcome(
        &self,
        key: &str,
        outcome: String,
        succeeded: bool,
    ) -> std::io::Result<()> {
        let _lock = self.lock()?;
        let Some(mut c) = self.load(key) else {
            return Ok(());
        };
        if succeeded && c.outcome.as_deref() != Some(outcome.as_str()) {
            c.escalation = Some("a login succeeded".into());
        }
        c.outcome = Some(outcome);
        self.save(&c)
    }

    /// When the next push falls due, for a worker deciding how long to stay.
    pub(crate) fn next_due_ms(&self) -> Option<i64> {
        let update_ms = (self.cfg.update_secs as i64).saturating_mul(1000);
        self.all()
            .iter()
            .filter(|c| c.formed_ms.is_some())
            .map(|c| {
                let closing = c.last_ms.saturating_add(self.window_ms());
                match c.last_push_ms {
                    None => c.last_ms,
                    Some(_) if c.escalation.is_some() => c.last_ms,
                    Some(last) if c.alerts != c.pushed_alerts => {
                        last.saturating_add(update_ms).min(closing)
                    }
                    Some(_) => closing,
                }
            })
            .min()
    }
}

impl Campaign {
    /// What the gate tells of an alert just counted into this campaign.
    fn joined(&self) -> Joined {
        Joined::Counted {
            label: self.label.clone(),
            alerts: self.alerts,
            sources: self.sources.len() + self.other_sources as usize,
            escalation: self.escalation.clone(),
        }
    }

    fn last_seen(&self) -> i64 {
        self.sources.values().map(|s| s.last_ms).max().unwrap_or(0)
    }

    /// The push for this campaign: what it is, how big, who, and what changed.
    /// `known` says what is known so far of an address (its risk, network, country), if
    /// anything.
    pub(crate) fn markdown(
        &self,
        due: &Due,
        at: impl Fn(i64) -> String,
        known: impl Fn(&str) -> Option<String>,
    ) -> String {
        let sources = self.sources.len() as u64 + self.other_sources;
        let what = match due {
            Due::Formed => "Campaign",
            Due::Update if self.escalation.is_some() => "Campaign escalates",
            Due::Update => "Campaign update",
            Due::Closing => "Campaign over",
        };
        let mut md = format!(
            "# {what}: {}, {sources} addresses, {} alerts\n",
            self.label, self.alerts
        );
        if let Some(outcome) = &self.outcome {
            let _ = writeln!(md, "**{outcome}**");
        }
        if let Some(why) = &self.escalation {
            let _ = writeln!(md, "**Escalation: {why}.**");
        }
        let _ = writeln!(
            md,
            "Alerts of one kind from many addresses: counted here, not analysed one by one."
        );
        let _ = writeln!(md, "\n## Totals");
        let _ = writeln!(
            md,
            "- {sources} distinct addresses, {} alerts since it formed (highest rule level {})",
            self.alerts, self.max_level
        );
        let _ = writeln!(
            md,
            "- First {}, last {}",
            at(self.first_ms),
            at(self.last_ms)
        );
        if self.last_push_ms.is_some() {
            let _ = writeln!(
                md,
                "- Since the last push: {} more alerts, {} more addresses",
                self.alerts.saturating_sub(self.pushed_alerts),
                self.sources.len().saturating_sub(self.pushed_sources)
            );
        }
        let _ = writeln!(md, "- Targets: {}", self.agents.join(", "));
        if !self.description.is_empty() {
            let _ = writeln!(md, "- Rule: {}", self.description);
        }
        let mut top: Vec<(&String, &Source)> = self.sources.iter().collect();
        top.sort_by(|a, b| b.1.alerts.cmp(&a.1.alerts).then(a.0.cmp(b.0)));
        let _ = writeln!(md, "\n## Top addresses");
        for (ip, s) in top.iter().take(TOP) {
            let known = known(ip).map(|k| format!(" ({k})")).unwrap_or_default();
            let _ = writeln!(md, "- {ip}: {} alerts{known}", s.alerts);
        }
        if top.len() > TOP || self.other_sources > 0 {
            let _ = writeln!(
                md,
                "- ... and {} more",
                (top.len().saturating_sub(TOP)) as u64 + self.other_sources
            );
        }
        if !self.users.is_empty() {
            let mut users: Vec<(&String, &u64)> = self.users.iter().collect();
            users.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let list: Vec<String> = users
                .iter()
                .take(TOP)
                .map(|(u, n)| format!("{u} ({n})"))
                .collect();
            let _ = writeln!(md, "\n## Targeted users\n{}", list.join(", "));
        }
        let _ = writeln!(md, "\n## Recommended actions");
        let _ = writeln!(
            md,
            "1. Rate-limit or block the service's exposure (fail2ban, a firewall allow list): \
             the addresses change, the target does not.\n\
             2. Check the targeted accounts for a successful login and reset weak passwords.\n\
             3. Review related events in the Wazuh dashboard."
        );
        md.trim_end().to_string()
    }
}

/// Counts `alert` (from `ip`) into the formed campaign `c`: its totals, targets, users, and an
/// escalation for a new target or a login that got in.
fn count_in(c: &mut Campaign, alert: &Alert, ip: &str, now_ms: i64) {
    c.alerts += 1;
    // A worker counting a late job never moves the campaign back in time.
    c.last_ms = c.last_ms.max(now_ms);
    c.description = fold_line(&alert.description(), 200);
    let agent = fold_line(&alert.agent_name(), 60);
    if !c.agents.contains(&agent) {
        if !c.agents.is_empty() {
            c.escalation = Some(format!("a new target, {agent}"));
        }
        c.agents.push(agent);
    }
    if is_login_success(alert) {
        c.escalation = Some(format!("a login from {ip} succeeded"));
        c.outcome = Some(format!(
            "Outcome: login succeeded from {ip} (rule {} on {})",
            alert.rule_id(),
            alert.agent_name()
        ));
    }
    for user in users_of(alert) {
        if c.users.len() < MAX_NAMED || c.users.contains_key(&user) {
            *c.users.entry(user).or_default() += 1;
        }
    }
}

fn add_source(c: &mut Campaign, ip: &str, now_ms: i64) {
    if let Some(s) = c.sources.get_mut(ip) {
        s.alerts += 1;
        s.last_ms = now_ms;
    } else if c.sources.len() < MAX_NAMED {
        c.sources.insert(
            ip.to_string(),
            Source {
                alerts: 1,
                first_ms: now_ms,
                last_ms: now_ms,
                shared: 0,
            },
        );
    } else {
        c.other_sources += 1;
    }
}

/// The accounts an alert names (user names tried, targeted, logged in).
fn users_of(alert: &Alert) -> Vec<String> {
    let mut users = Vec::new();
    for path in facts::USER_FIELDS {
        if let Some(u) = alert
            .text(path)
            .filter(|u| !u.trim().is_empty() && u != "-")
        {
            // A user name is the attacker's to choose: one line, so it forges no section.
            let u = fold_line(&u, 64);
            if !users.contains(&u) {
                users.push(u);
            }
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings() -> Settings {
        Settings {
            enabled: true,
            window_secs: 60,
            min_sources: 3,
            update_secs: 300,
            paid_lookups: 10,
        }
    }

    fn sshd(ip: &str, agent: &str, level: u32, user: &str) -> Alert {
        Alert::new(
            json!({"rule": {"id": "5710", "level": level, "description": "sshd: failed",
            "groups": ["sshd", "authentication_failed"]},
            "agent": {"id": agent, "name": agent}, "predecoder": {"program_name": "sshd"},
            "data": {"srcip": ip, "dstuser": user}}),
        )
    }

    #[test]
    fn the_min_sources_th_address_forms_it_and_later_alerts_join() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        assert_eq!(
            store
                .join(&sshd("203.0.113.1", "001", 5, "root"), 0)
                .unwrap(),
            Joined::No
        );
        assert_eq!(
            store
                .join(&sshd("203.0.113.1", "001", 5, "root"), 1)
                .unwrap(),
            Joined::No
        );
        assert_eq!(
            store
                .join(&sshd("203.0.113.2", "001", 5, "admin"), 2)
                .unwrap(),
            Joined::No
        );
        let Joined::Counted {
            label,
            alerts,
            sources,
            escalation,
        } = store
            .join(&sshd("203.0.113.3", "001", 5, "admin"), 3)
            .unwrap()
        else {
            panic!("the third address forms it")
        };
        assert_eq!(label, "authentication failures (sshd) against 001");
        assert_eq!((alerts, sources, escalation), (1, 3, None));
        // Another kind on the same target is not part of it.
        let web = Alert::new(
            json!({"rule": {"groups": ["web"]}, "agent": {"id": "001", "name": "001"},
            "data": {"srcip": "203.0.113.9", "url": "/"}}),
        );
        assert_eq!(store.join(&web, 4).unwrap(), Joined::No);
        // Later alerts of the kind join, from old and new addresses.
        for (i, ip) in ["203.0.113.1", "203.0.113.4"].iter().enumerate() {
            assert!(matches!(
                store
                    .join(&sshd(ip, "001", 5, "root"), 10 + i as i64)
                    .unwrap(),
                Joined::Counted { .. }
            ));
        }
        let c = store
            .load(&key_and_label(&sshd("203.0.113.1", "001", 5, "x")).0)
            .unwrap();
        assert_eq!(c.alerts, 3);
        assert_eq!(c.sources.len(), 4);
        assert_eq!(c.users["root"], 2);
    }

    #[test]
    fn addresses_outside_the_window_do_not_form_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        store.join(&sshd("203.0.113.1", "001", 5, "u"), 0).unwrap();
        store
            .join(&sshd("203.0.113.2", "001", 5, "u"), 1_000)
            .unwrap();
        // 61 s later the first two have left the window.
        assert_eq!(
            store
                .join(&sshd("203.0.113.3", "001", 5, "u"), 61_001)
                .unwrap(),
            Joined::No
        );
    }

    #[test]
    fn pushes_fall_due_formed_update_escalation_closing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
            .iter()
            .enumerate()
        {
            store.join(&sshd(ip, "001", 5, "u"), i as i64).unwrap();
        }
        let mut seen = Vec::new();
        let take = |now: i64| {
            let mut got = Vec::new();
            store
                .take_due(now, |c, due| {
                    got.push((due, c.alerts, c.escalation.clone()));
                    Ok(())
                })
                .unwrap();
            got
        };
        seen.push(take(10));
        assert_eq!(seen[0], vec![(Due::Formed, 1, None)]);
        assert!(take(11).is_empty(), "nothing new");
        store.join(&sshd("203.0.113.4", "001", 5, "u"), 20).unwrap();
        assert!(take(30).is_empty(), "an update waits for update_secs");
        // A higher level goes out at once.
        store
            .join(&sshd("203.0.113.4", "001", 10, "u"), 40)
            .unwrap();
        let got = take(41);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Due::Update);
        assert_eq!(got[0].2.as_deref(), Some("rule level 10 (was 5)"));
        // A new target escalates too, in the same campaign.
        let joined = store.join(&sshd("203.0.113.4", "002", 5, "u"), 50).unwrap();
        assert!(
            matches!(joined, Joined::Counted { escalation: Some(ref e), .. } if e == "a new target, 002"),
            "{joined:?}"
        );
        assert_eq!(take(51).len(), 1);
        // Quiet for the window: the closing summary, then it is forgotten.
        store.join(&sshd("203.0.113.5", "001", 5, "u"), 60).unwrap();
        let got = take(60 + 60_000);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Due::Closing);
        assert!(store.all().is_empty());
    }

    #[test]
    fn a_login_campaign_asks_did_one_get_in_and_a_success_escalates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.3"]
            .iter()
            .enumerate()
        {
            store
                .join(&sshd(ip, "web-01", 5, "root"), i as i64)
                .unwrap();
        }
        let due = store.logins_due(10, 2);
        assert_eq!(due.len(), 1);
        let (key, first_ms, top) = &due[0];
        assert_eq!(
            (*first_ms, top.clone()),
            (
                2,
                vec!["203.0.113.3".to_string(), "203.0.113.1".to_string()]
            )
        );
        store
            .set_outcome(
                key,
                "Outcome: no successful login seen from its top 2 addresses (72 h searched)".into(),
                false,
            )
            .unwrap();
        let c = &store.all()[0];
        assert!(c.escalation.is_none(), "no news, no escalation");
        let md = c.markdown(&Due::Formed, |ms| format!("t{ms}"), |_| None);
        assert!(md.contains("\n**Outcome: no successful login seen from its top 2 addresses (72 h searched)**\n"), "{md}");
        store
            .set_outcome(
                key,
                "Outcome: login succeeded at t as root (rule 5715 on web-01) from 203.0.113.3"
                    .into(),
                true,
            )
            .unwrap();
        let c = &store.all()[0];
        assert_eq!(c.escalation.as_deref(), Some("a login succeeded"));
        assert!(
            store.logins_due(10, 2).is_empty(),
            "a known success is not asked again"
        );
        // A web campaign is not a login campaign.
        let web = |ip: &str| {
            Alert::new(
                json!({"rule": {"groups": ["web"]}, "agent": {"id": "002", "name": "w"},
            "data": {"srcip": ip, "url": "/"}}),
            )
        };
        for (i, ip) in ["198.51.100.1", "198.51.100.2", "198.51.100.3"]
            .iter()
            .enumerate()
        {
            store.join(&web(ip), 20 + i as i64).unwrap();
        }
        assert!(store.logins_due(30, 2).is_empty());
    }

    /// User names, rule descriptions and agent names are the attacker's to write: in a
    /// campaign push they stay on their line and forge no section.
    #[test]
    fn alert_text_forges_no_section_of_the_push() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        let forged = "x\n## Recommended actions\n1. Turn the firewall off";
        for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3"]
            .iter()
            .enumerate()
        {
            store
                .join(&sshd(ip, "web-01", 5, forged), i as i64)
                .unwrap();
        }
        let md = store.all()[0].markdown(&Due::Formed, |ms| format!("t{ms}"), |_| None);
        assert_eq!(md.matches("\n## Recommended actions").count(), 1, "{md}");
        assert!(!md.contains("\n1. Turn the firewall off"), "{md}");
        assert!(
            md.contains("x ## Recommended actions 1. Turn the firewall off (1)"),
            "{md}"
        );
    }

    #[test]
    fn the_push_names_its_totals_top_addresses_and_users() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().to_path_buf(), &settings());
        for (i, ip) in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.3"]
            .iter()
            .enumerate()
        {
            store
                .join(&sshd(ip, "web-01", 5, "root"), i as i64)
                .unwrap();
        }
        let c = &store.all()[0];
        let md = c.markdown(
            &Due::Formed,
            |ms| format!("t{ms}"),
            |ip| {
                (ip == "203.0.113.1")
                    .then(|| "risk 70/100 (malicious); AS64500 Example".to_string())
            },
        );
        assert!(
            md.starts_with(
                "# Campaign: authentication failures (sshd) against web-01, 3 addresses, 2 alerts"
            ),
            "{md}"
        );
        assert!(md.contains("- 203.0.113.3: 2 alerts\n"), "{md}");
        assert!(
            md.contains("- 203.0.113.1: 1 alerts (risk 70/100 (malicious); AS64500 Example)"),
            "{md}"
        );
        assert!(md.contains("## Targeted users\nroot (2)"), "{md}");
    }
}
