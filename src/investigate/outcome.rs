//! Did it work? The first thing an admin asks after a burst of failed logins is whether one of
//! them got in. The answer is read from the address's history on this manager (the alert log or
//! the indexer): a successful login from the same address after the first failure.
//!
//! Each question is one function over the alert and the events found; more can be added the
//! same way (a user created on the target, a file change on the target after the alert, an
//! outbound connection to the address).

use std::fmt;

use serde::Serialize;

use super::history::{parse_timestamp, Event, Found};
use crate::intake::alert::Alert;

/// The answer to "did it work?", for the alerts where it can be asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Outcome {
    /// A login from the address succeeded after the first failure.
    LoginSucceeded {
        time: String,
        user: Option<String>,
        rule_id: String,
        agent: String,
    },
    /// No successful login from the address in the window searched.
    NoLoginSeen { hours: u64, source: String },
}

impl Outcome {
    /// Whether the attack worked, as far as the logs tell.
    pub fn succeeded(&self) -> bool {
        matches!(self, Outcome::LoginSucceeded { .. })
    }
}

impl fmt::Display for Outcome {
    /// `Outcome: login succeeded at <time> as root (rule 5715 on web-01)`, or
    /// `Outcome: no successful login seen (24 h of the alert log searched)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::LoginSucceeded {
                time,
                user,
                rule_id,
                agent,
            } => {
                let user = user
                    .as_ref()
                    .map(|u| format!(" as {u}"))
                    .unwrap_or_default();
                write!(
                    f,
                    "Outcome: login succeeded at {time}{user} (rule {rule_id} on {agent})"
                )
            }
            Outcome::NoLoginSeen { hours, source } => write!(
                f,
                "Outcome: no successful login seen ({hours} h of the {source} searched)"
            ),
        }
    }
}

pub use crate::intake::facts::{is_login_failure, is_login_success};

/// The login outcome for a failed login: the first success from the address at or after its
/// first failure (in the window, or this alert), or that none was seen.
pub fn login(alert: &Alert, found: &Found, hours: u64) -> Option<Outcome> {
    if !is_login_failure(alert) {
        return None;
    }
    let this = alert.timestamp().and_then(|t| parse_timestamp(&t));
    let first_failure = found
        .events
        .iter()
        .filter(|e| e.login == Some(false))
        .map(|e| e.time)
        .chain(this)
        .min();
    let success = found
        .events
        .iter()
        .filter(|e| e.login == Some(true))
        .filter(|e| first_failure.is_none_or(|f| e.time >= f))
        .min_by_key(|e| e.time);
    Some(match success {
        Some(e) => succeeded(e),
        None => Outcome::NoLoginSeen {
            hours,
            source: found.source.to_string(),
        },
    })
}

/// The first successful login in `found` at or after `since` (a campaign's first alert), if any.
pub fn login_since(found: &Found, since: chrono::DateTime<chrono::FixedOffset>) -> Option<Outcome> {
    found
        .events
        .iter()
        .filter(|e| e.login == Some(true) && e.time >= since)
        .min_by_key(|e| e.time)
        .map(succeeded)
}

fn succeeded(e: &Event) -> Outcome {
    Outcome::LoginSucceeded {
        time: e.timestamp.clone(),
        user: e.users.first().cloned(),
        rule_id: e.rule_id.clone(),
        agent: e.agent_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::history::Query;
    use serde_json::json;

    fn alert(v: serde_json::Value) -> Alert {
        Alert::new(v)
    }

    fn found(events: &[serde_json::Value]) -> Found {
        let ip = "203.0.113.5".parse().unwrap();
        let now = parse_timestamp("2026-11-30T12:00:00.000+0000").unwrap();
        let query = Query::new(ip, None, 100, std::time::Duration::from_secs(86_400), now);
        Found {
            events: events
                .iter()
                .filter_map(|v| Event::from_alert(&alert(v.clone()), ip))
                .collect(),
            query,
            limit_reached: false,
            notes: Vec::new(),
            source: "alert log",
        }
    }

    fn failure(time: &str) -> serde_json::Value {
        json!({"timestamp": time, "rule": {"id": "5710", "groups": ["sshd", "authentication_failed"]},
            "agent": {"name": "web-01"}, "data": {"srcip": "203.0.113.5", "srcuser": "admin"}})
    }

    fn success(time: &str, user: &str) -> serde_json::Value {
        json!({"timestamp": time, "rule": {"id": "5715", "groups": ["sshd", "authentication_success"]},
            "predecoder": {"program_name": "sshd"},
            "agent": {"name": "web-01"}, "data": {"srcip": "203.0.113.5", "dstuser": user},
            "full_log": "sshd[1]: Accepted password for root from 203.0.113.5 port 4242 ssh2"})
    }

    #[test]
    fn a_success_after_the_first_failure_is_the_outcome() {
        let now = alert(failure("2026-11-30T11:00:00.000+0000"));
        let f = found(&[
            failure("2026-11-30T10:00:00.000+0000"),
            success("2026-11-30T09:00:00.000+0000", "old"),
            success("2026-11-30T11:30:00.000+0000", "root"),
            success("2026-11-30T11:45:00.000+0000", "later"),
        ]);
        let outcome = login(&now, &f, 24).expect("a failed login");
        assert!(outcome.succeeded());
        assert_eq!(
            outcome.to_string(),
            "Outcome: login succeeded at 2026-11-30T11:30:00.000+0000 as root (rule 5715 on web-01)"
        );
    }

    #[test]
    fn no_success_says_how_far_it_looked_and_other_alerts_ask_nothing() {
        let now = alert(failure("2026-11-30T11:00:00.000+0000"));
        let f = found(&[
            failure("2026-11-30T10:00:00.000+0000"),
            success("2026-11-30T09:00:00.000+0000", "before"),
        ]);
        let outcome = login(&now, &f, 24).expect("a failed login");
        assert!(!outcome.succeeded());
        assert_eq!(
            outcome.to_string(),
            "Outcome: no successful login seen (24 h of the alert log searched)"
        );
        let web = alert(json!({"rule": {"groups": ["web", "attack"]}}));
        assert_eq!(login(&web, &f, 24), None);
    }

    #[test]
    fn a_campaign_asks_for_the_first_success_since_it_began() {
        let f = found(&[
            success("2026-11-30T09:00:00.000+0000", "before"),
            success("2026-11-30T11:30:00.000+0000", "root"),
            failure("2026-11-30T10:00:00.000+0000"),
        ]);
        let since = parse_timestamp("2026-11-30T10:00:00.000+0000").unwrap();
        let o = login_since(&f, since).expect("a success after");
        assert_eq!(
            o.to_string(),
            "Outcome: login succeeded at 2026-11-30T11:30:00.000+0000 as root (rule 5715 on web-01)"
        );
        let later = parse_timestamp("2026-11-30T11:31:00.000+0000").unwrap();
        assert_eq!(login_since(&f, later), None);
    }

    #[test]
    fn failures_and_successes_by_group_windows_event_and_sshd_line() {
        assert!(is_login_failure(&alert(
            json!({"rule": {"groups": ["authentication_failures"]}})
        )));
        assert!(is_login_failure(&alert(
            json!({"data": {"win": {"system": {"eventID": "4625"}}}})
        )));
        assert!(!is_login_failure(&alert(
            json!({"rule": {"groups": ["authentication_success"]}})
        )));
        assert!(is_login_success(&alert(
            json!({"data": {"win": {"system": {"eventID": "4624"}}}})
        )));
        assert!(is_login_success(&alert(
            json!({"predecoder": {"program_name": "sshd"},
            "full_log": "Nov 30 11:30:00 web-01 sshd[42]: Accepted publickey for deploy from 203.0.113.5 port 1 ssh2"})
        )));
        // An attacker's URL that quotes such a line is no login.
        assert!(!is_login_success(&alert(
            json!({"predecoder": {"program_name": "nginx"},
            "full_log": "GET /?q=sshd[1]: Accepted password for root"})
        )));
    }
}
