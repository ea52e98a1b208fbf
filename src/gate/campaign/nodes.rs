//! A campaign across several manager nodes: what of it is news for the nodes' shared campaign
//! on the indexer, how news from any node is added to it, and what this node takes in from it
//! (see [`crate::gate::shared::campaign`]).

use super::{
    add_source, count_in, key_and_label, Campaign, Joined, Shared, Source, Store, MAX_NAMED,
    SHARED_NAMED, SHARED_USERS,
};
use crate::config::Campaign as Settings;
use crate::intake::alert::Alert;

impl Store {
    /// Counts `alert`, which this node's intake recorded while the campaign was forming, into
    /// it once the nodes' shared state says it has formed (see
    /// [`crate::gate::shared::campaign`]): `Joined::No` when it has not.
    pub(crate) fn count_formed(&self, alert: &Alert, now_ms: i64) -> std::io::Result<Joined> {
        let Some((ip, _)) = alert.source_ip() else {
            return Ok(Joined::No);
        };
        let ip = ip.to_string();
        let _lock = self.lock()?;
        let (key, _) = key_and_label(alert);
        let Some(mut c) = self.load(&key).filter(|c| c.formed_ms.is_some()) else {
            return Ok(Joined::No);
        };
        if !c.sources.contains_key(&ip) {
            add_source(&mut c, &ip, now_ms);
        }
        let level = alert.rule_level();
        if c.alerts > 0 && level > c.max_level {
            c.escalation = Some(format!("rule level {level} (was {})", c.max_level));
        }
        c.max_level = c.max_level.max(level);
        count_in(&mut c, alert, &ip, now_ms);
        self.save(&c)?;
        Ok(c.joined())
    }

    /// The news of the campaign `key` alone (see [`Store::news`]).
    pub(crate) fn news_of(&self, key: &str) -> std::io::Result<Option<(String, Campaign)>> {
        let _lock = self.lock()?;
        let Some(mut c) = self.load(key) else {
            return Ok(None);
        };
        let news = c.take_news();
        if news.is_some() {
            self.save(&c)?;
        }
        Ok(news)
    }

    /// The bookkeeping of [`Store::take_due`] without pushes, for a node whose pushes are
    /// decided on the shared campaigns: an escalation is only cleared once it has been shared,
    /// and a campaign is only forgotten once all its news has been.
    pub(crate) fn settle_shared(&self, now_ms: i64) -> std::io::Result<()> {
        self.take_due_as(now_ms, true, |_, _| Ok(())).map(|_| ())
    }

    /// Each campaign's news since it was last added to the nodes' shared campaign, with its
    /// token: the same campaign with its counts (alerts, per address, per user) cut to what is
    /// new, and an escalation or outcome only when it is new. The news is marked as sent at
    /// once and kept as `outgoing` until [`Store::shared`] says it arrived; asked again before
    /// that, the same news comes back under the same token. Campaigns with no news are left
    /// out.
    pub(crate) fn news(&self) -> std::io::Result<Vec<(String, Campaign)>> {
        let _lock = self.lock()?;
        let mut out = Vec::new();
        for mut c in self.all() {
            if let Some(news) = c.take_news() {
                self.save(&c)?;
                out.push(news);
            }
        }
        Ok(out)
    }

    /// Records that the news of `token` reached the shared campaign, which is now `merged`, and
    /// takes in what the other nodes brought (a campaign formed by their addresses, addresses
    /// this node has not seen), so that the intake here counts such alerts into it. With no
    /// token, `merged` is a campaign another node formed, found by a search.
    pub(crate) fn shared(&self, token: Option<&str>, merged: &Campaign) -> std::io::Result<()> {
        let _lock = self.lock()?;
        let mut c = match self.load(&merged.key) {
            Some(c) => c,
            // A campaign another node formed: a copy whose counts are all theirs.
            None if merged.formed_ms.is_some() => Campaign {
                pushed_alerts: merged.alerts,
                pushed_sources: merged.sources.len(),
                last_push_ms: merged.last_push_ms,
                applied: Vec::new(),
                outgoing: None,
                ..merged.clone()
            }
            .all_shared(),
            None => return Ok(()),
        };
        if token.is_some() && c.outgoing.as_ref().map(|(t, _)| t.as_str()) == token {
            c.outgoing = None;
        }
        if c.formed_ms.is_none() && merged.formed_ms.is_some() {
            c.formed_ms = merged.formed_ms;
            c.first_ms = merged.first_ms;
            c.max_level = merged.max_level;
            c.login = merged.login;
        }
        for (ip, s) in &merged.sources {
            if !c.sources.contains_key(ip) && c.sources.len() < MAX_NAMED {
                let theirs = Source {
                    shared: s.alerts,
                    ..s.clone()
                };
                c.sources.insert(ip.clone(), theirs);
            }
        }
        for agent in &merged.agents {
            if !c.agents.contains(agent) {
                c.agents.push(agent.clone());
            }
        }
        c.last_ms = c.last_ms.max(merged.last_ms);
        self.save(&c)
    }
}

impl Campaign {
    /// This campaign's news for the shared one (see [`Store::news`]).
    pub(super) fn news(&self) -> Option<Campaign> {
        let mut news = self.clone();
        news.alerts = self.alerts.saturating_sub(self.shared.alerts);
        for s in news.sources.values_mut() {
            s.alerts = s.alerts.saturating_sub(s.shared);
        }
        news.sources.retain(|_, s| s.alerts > 0);
        for (user, n) in news.users.iter_mut() {
            *n = n.saturating_sub(self.shared.users.get(user).copied().unwrap_or(0));
        }
        news.users.retain(|_, n| *n > 0);
        if news.escalation == self.shared.escalation {
            news.escalation = None;
        }
        if news.outcome == self.shared.outcome {
            news.outcome = None;
        }
        let new = news.alerts > 0
            || !news.sources.is_empty()
            || news.escalation.is_some()
            || news.outcome.is_some();
        new.then_some(news)
    }

    /// The news to send now, with its token: the outgoing news if some is still on its way,
    /// else the news since then, marked as sent (and kept as outgoing).
    pub(super) fn take_news(&mut self) -> Option<(String, Campaign)> {
        if let Some((token, news)) = &self.outgoing {
            return Some((token.clone(), (**news).clone()));
        }
        let mut news = self.news()?;
        news.outgoing = None;
        news.applied = Vec::new();
        self.shared.alerts = self.shared.alerts.saturating_add(news.alerts);
        for (ip, s) in &news.sources {
            if let Some(mine) = self.sources.get_mut(ip) {
                mine.shared = mine.shared.saturating_add(s.alerts);
            }
        }
        for (user, n) in &news.users {
            let had = self.shared.users.entry(user.clone()).or_default();
            *had = had.saturating_add(*n);
        }
        if news.escalation.is_some() {
            self.shared.escalation.clone_from(&news.escalation);
        }
        if news.outcome.is_some() {
            self.shared.outcome.clone_from(&news.outcome);
        }
        let token = crate::util::random_token();
        self.outgoing = Some((token.clone(), Box::new(news.clone())));
        Some((token, news))
    }

    /// The same campaign with every count marked as shared already.
    pub(super) fn all_shared(mut self) -> Campaign {
        for s in self.sources.values_mut() {
            s.shared = s.alerts;
        }
        self.shared = Shared {
            alerts: self.alerts,
            users: self.users.clone(),
            escalation: self.escalation.clone(),
            outcome: self.outcome.clone(),
        };
        self
    }

    /// Adds another node's news to this (the nodes' shared) campaign: counts are summed,
    /// targets joined, the highest level kept; it forms here when the nodes' addresses
    /// together reach `min_sources` inside the window. A new target or a higher level of a
    /// formed campaign escalates it, as on one node.
    pub(crate) fn merge(&mut self, news: &Campaign, cfg: &Settings, now_ms: i64) {
        let window_ms = (cfg.window_secs as i64).saturating_mul(1000);
        for (ip, s) in &news.sources {
            let room = self.sources.len() < SHARED_NAMED;
            match self.sources.get_mut(ip) {
                Some(mine) => {
                    mine.alerts = mine.alerts.saturating_add(s.alerts);
                    mine.first_ms = mine.first_ms.min(s.first_ms);
                    mine.last_ms = mine.last_ms.max(s.last_ms);
                }
                None if room => {
                    let s = Source {
                        shared: 0,
                        ..s.clone()
                    };
                    self.sources.insert(ip.clone(), s);
                }
                None => self.other_sources = self.other_sources.saturating_add(1),
            }
        }
        let formed = self.formed_ms.is_some();
        if formed {
            for agent in &news.agents {
                if !self.agents.contains(agent) && !self.agents.is_empty() {
                    self.escalation = Some(format!("a new target, {agent}"));
                }
            }
            if self.alerts > 0 && news.alerts > 0 && news.max_level > self.max_level {
                self.escalation = Some(format!(
                    "rule level {} (was {})",
                    news.max_level, self.max_level
                ));
            }
        }
        for agent in &news.agents {
            if !self.agents.contains(agent) {
                self.agents.push(agent.clone());
            }
        }
        if self.key.is_empty() {
            self.key.clone_from(&news.key);
            self.label.clone_from(&news.label);
        }
        self.alerts = self.alerts.saturating_add(news.alerts);
        for (user, n) in &news.users {
            if self.users.len() < SHARED_USERS || self.users.contains_key(user) {
                let had = self.users.entry(user.clone()).or_default();
                *had = had.saturating_add(*n);
            }
        }
        if news.escalation.is_some() {
            self.escalation.clone_from(&news.escalation);
        }
        let succeeded = |o: &Option<String>| {
            o.as_deref()
                .is_some_and(|o| o.starts_with("Outcome: login succeeded"))
        };
        if news.outcome.is_some() && !succeeded(&self.outcome) {
            self.outcome.clone_from(&news.outcome);
        }
        if !news.description.is_empty() {
            self.description.clone_from(&news.description);
        }
        self.login |= news.login;
        self.last_ms = self.last_ms.max(news.last_ms).max(news.last_seen());
        match (self.formed_ms, news.formed_ms) {
            (Some(mine), Some(theirs)) if theirs < mine => self.formed_ms = Some(theirs),
            (None, Some(theirs)) => {
                self.formed_ms = Some(theirs);
                self.first_ms = news.first_ms;
            }
            (None, None) => {
                let oldest = now_ms.saturating_sub(window_ms);
                self.sources.retain(|_, s| s.last_ms >= oldest);
                if self.sources.len() >= cfg.min_sources.max(2) as usize {
                    self.formed_ms = Some(now_ms);
                    self.first_ms = now_ms;
                    self.last_ms = now_ms;
                }
            }
            _ => {}
        }
        self.max_level = self.max_level.max(news.max_level);
    }
}
