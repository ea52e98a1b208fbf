//! What the host-wide limits held back: alerts counted, not analysed, because the ceiling of
//! analyses a minute was reached or the spool was full. Nothing is dropped silently: they are
//! told of in one digest push a minute ("Held back: N alerts from M addresses").
//!
//! State is `state_dir/limits/held.json`, changed only under the lock `held.lock`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cooldown::Tally;
use crate::intake::alert::Alert;
use crate::util::ceiling::WINDOW_MS;
use crate::util::store::{self, Documents, Local};

/// Distinct addresses kept by name; more are only counted.
const MAX_ADDRESSES: usize = 1000;
/// Addresses named in the digest.
const TOP: usize = 10;

/// The alerts held back since the last digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldBack {
    /// When the first of them was held back.
    pub since_ms: i64,
    pub tally: Tally,
    /// Alerts per source address (at most [`MAX_ADDRESSES`] named).
    pub addresses: BTreeMap<String, u64>,
    /// Alerts whose address was not among the named ones.
    pub other_addresses: u64,
    /// Alerts per reason (`the ceiling of 20 analyses a minute`).
    pub reasons: BTreeMap<String, u64>,
}

impl HeldBack {
    fn add(&mut self, alert: &Alert, reason: &str, now_ms: i64) {
        if self.tally.count == 0 {
            self.since_ms = now_ms;
        }
        self.tally.add(alert);
        let address = alert
            .source_ip()
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_else(|| "no address".into());
        let room = self.addresses.len() < MAX_ADDRESSES;
        match self.addresses.get_mut(&address) {
            Some(n) => *n += 1,
            None if room => {
                self.addresses.insert(address, 1);
            }
            None => self.other_addresses += 1,
        }
        *self.reasons.entry(reason.to_string()).or_default() += 1;
    }

    /// The digest push: counts, reasons, the top addresses, the rules and agents.
    pub fn markdown(&self) -> String {
        let more = if self.other_addresses > 0 { "+" } else { "" };
        let one_address = self.addresses.len() == 1 && more.is_empty();
        let mut md = format!(
            "# Held back: {} alert{} from {}{more} address{}\n\n",
            self.tally.count,
            if self.tally.count == 1 { "" } else { "s" },
            self.addresses.len(),
            if one_address { "" } else { "es" },
        );
        let reasons = self
            .reasons
            .iter()
            .map(|(why, count)| format!("{why}: {count}"))
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            md,
            "Counted, not analysed, between {} and {}: {reasons}.",
            self.tally.first, self.tally.last
        );
        let mut top: Vec<(&String, &u64)> = self.addresses.iter().collect();
        top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let _ = writeln!(md, "\n## Top addresses");
        for (address, count) in top.iter().take(TOP) {
            let _ = writeln!(md, "- {address}: {count}");
        }
        let rest = top.len().saturating_sub(TOP) as u64 + self.other_addresses;
        if rest > 0 {
            let _ = writeln!(md, "- ... and more: {rest} alert(s) from other addresses");
        }
        let _ = writeln!(md, "\n## Rules");
        for (id, r) in &self.tally.rules {
            let _ = writeln!(
                md,
                "- rule {id} (level {}): {} x{}",
                r.level, r.description, r.count
            );
        }
        if !self.tally.agents.is_empty() {
            let _ = writeln!(md, "- agents: {}", self.tally.agents.join(", "));
        }
        let _ = writeln!(
            md,
            "\nIf such bursts are normal here, raise the limits in [limits]."
        );
        md.trim_end().to_string()
    }
}

/// The held-back tally of the host: one document (see [`crate::util::store`]).
pub(crate) struct Held {
    docs: Box<dyn Documents>,
}

/// The tally's document.
const NAME: &str = "held";
/// How long a run waits for the tally's lock (its holders only read and write one small file).
const WAIT: std::time::Duration = std::time::Duration::from_millis(500);

impl Held {
    /// The tally in `dir` (the state dir's `limits/`).
    pub(crate) fn new(dir: PathBuf) -> Held {
        Held {
            docs: Box::new(Local::new(dir, "held.lock", "held-back", WAIT)),
        }
    }

    fn load(&self) -> HeldBack {
        store::load(&*self.docs, NAME).unwrap_or_default()
    }

    /// Counts one alert held back for `reason`; returns how many are held so far.
    pub(crate) fn add(&self, alert: &Alert, reason: &str, now_ms: i64) -> std::io::Result<u64> {
        let _lock = self.docs.lock()?;
        let mut held = self.load();
        held.add(alert, reason, now_ms);
        store::save(&*self.docs, NAME, &held)?;
        Ok(held.tally.count)
    }

    /// When the next digest is due: a minute after the first alert held back.
    pub(crate) fn next_due_ms(&self) -> Option<i64> {
        let held = self.load();
        (held.tally.count > 0).then(|| held.since_ms.saturating_add(WINDOW_MS))
    }

    /// Hands the tally to `write` once it is a minute old, and forgets it only when `write`
    /// has stored it durably. True when a digest was taken.
    pub(crate) fn take_due(
        &self,
        now_ms: i64,
        write: impl FnOnce(&HeldBack) -> std::io::Result<()>,
    ) -> std::io::Result<bool> {
        let _lock = self.docs.lock()?;
        let held = self.load();
        if held.tally.count == 0 || now_ms < held.since_ms.saturating_add(WINDOW_MS) {
            return Ok(false);
        }
        write(&held)?;
        self.docs.remove(NAME)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(ip: &str, rule: &str, level: u32) -> Alert {
        Alert::new(
            json!({"rule": {"id": rule, "level": level, "description": "sshd: failed"},
            "agent": {"name": "web-01"}, "data": {"srcip": ip},
            "timestamp": "2026-11-30T03:00:00.000+0000"}),
        )
    }

    #[test]
    fn held_alerts_are_counted_then_taken_once_a_minute_later() {
        let dir = tempfile::tempdir().unwrap();
        let held = Held::new(dir.path().to_path_buf());
        assert_eq!(held.next_due_ms(), None);
        let why = "the ceiling of 2 analyses a minute";
        assert_eq!(
            held.add(&alert("203.0.113.5", "5710", 5), why, 1000)
                .unwrap(),
            1
        );
        assert_eq!(
            held.add(&alert("203.0.113.5", "5710", 5), why, 2000)
                .unwrap(),
            2
        );
        assert_eq!(
            held.add(
                &alert("198.51.100.7", "5712", 10),
                "the spool is full",
                3000
            )
            .unwrap(),
            3
        );
        assert_eq!(held.next_due_ms(), Some(1000 + WINDOW_MS));
        let mut taken = None;
        assert!(!held
            .take_due(1000 + WINDOW_MS - 1, |h| {
                taken = Some(h.clone());
                Ok(())
            })
            .unwrap());
        assert!(taken.is_none(), "not before the minute is up");
        assert!(held
            .take_due(1000 + WINDOW_MS, |h| {
                taken = Some(h.clone());
                Ok(())
            })
            .unwrap());
        let h = taken.expect("taken");
        assert_eq!(h.tally.count, 3);
        assert_eq!(h.tally.max_level, 10);
        assert_eq!(h.addresses["203.0.113.5"], 2);
        assert_eq!(h.reasons[why], 2);
        assert_eq!(held.next_due_ms(), None, "forgotten once taken");
        let md = h.markdown();
        assert!(
            md.starts_with("# Held back: 3 alerts from 2 addresses"),
            "{md}"
        );
        assert!(md.contains("- 203.0.113.5: 2\n- 198.51.100.7: 1"), "{md}");
        assert!(
            md.contains("the ceiling of 2 analyses a minute: 2; the spool is full: 1"),
            "{md}"
        );
        assert!(md.contains("rule 5712 (level 10): sshd: failed x1"), "{md}");
    }

    #[test]
    fn a_failed_write_keeps_the_tally() {
        let dir = tempfile::tempdir().unwrap();
        let held = Held::new(dir.path().to_path_buf());
        held.add(&alert("203.0.113.5", "5710", 5), "x", 0).unwrap();
        let r = held.take_due(WINDOW_MS, |_| Err(std::io::Error::other("disk full")));
        assert!(r.is_err());
        assert_eq!(held.next_due_ms(), Some(WINDOW_MS), "still held, still due");
    }

    #[test]
    fn addresses_are_bounded_and_the_rest_counted() {
        let mut h = HeldBack::default();
        for i in 0..(MAX_ADDRESSES as u32 + 5) {
            let ip = std::net::Ipv4Addr::from(0xCB00_7100 + i).to_string();
            h.add(&alert(&ip, "5710", 5), "x", 0);
        }
        assert_eq!(h.addresses.len(), MAX_ADDRESSES);
        assert_eq!(h.other_addresses, 5);
        assert_eq!(h.tally.count, MAX_ADDRESSES as u64 + 5);
        let md = h.markdown();
        assert!(
            md.starts_with("# Held back: 1005 alerts from 1000+ addresses"),
            "{md}"
        );
        assert!(
            md.contains("and more: 995 alert(s) from other addresses"),
            "{md}"
        );
    }
}
