//! Closing the loop: the verdict goes back into Wazuh as an event, the way Wazuh's own
//! integrations report their findings (`integrations/virustotal.py`, `send_msg`): one datagram
//! on analysisd's socket `queue/sockets/queue`, `1:ai-analyzer:<json>` for the manager, or
//! `1:[<id>] (<name>) <ip>->ai-analyzer:<json>` (with `|` and `:` escaped) for an agent's alert.
//!
//! The shipped decoder and rules (`examples/wazuh/`) turn it into a level 12 / 8 / 3 alert by
//! verdict; the loop guard in `alert.rs` makes sure such an alert is never analysed again.

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::analyze::report::Report;
use serde_json::Value;

use super::{Channel, Compose, Delivery, Probing, Sending, Sent};
use crate::config::Settings;
use crate::intake::alert::{truncate_chars, Alert, VERDICT_LOCATION};
use crate::investigate::Evidence;
use crate::util::Probe;

/// How long a full socket buffer is retried before the event is given up (and logged).
pub const SEND_RETRY_FOR: Duration = Duration::from_millis(500);
/// The summary carries at most this many characters of the report.
pub const SUMMARY_CHARS: usize = 600;

/// The event. `integration` comes first so that the decoder's prematch can anchor on it.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub integration: &'static str,
    pub ai_analyzer: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// malicious / suspicious / unknown / likely_benign.
    pub verdict: String,
    pub risk_score: u32,
    /// The largest contributions to the score, at most three.
    pub reasons: Vec<String>,
    pub source: Option<Source>,
    pub alert: AlertRef,
    pub title: String,
    /// The first lines of the report.
    pub summary: String,
    /// True when the report text came from the LLM.
    pub ai: bool,
    /// Where the full report was saved.
    pub report: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub ip: String,
    pub scope: crate::investigate::scope::Scope,
    pub zone: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AlertRef {
    pub rule_id: String,
    pub level: u32,
    pub agent_id: Option<String>,
    pub agent_name: String,
    pub timestamp: Option<String>,
}

/// Builds the event for one analysis.
pub fn event(alert: &Alert, evidence: &Evidence, report: &Report, saved: Option<&Path>) -> Event {
    let risk = &evidence.intel.risk;
    Event {
        integration: "ai-analyzer",
        ai_analyzer: Verdict {
            verdict: risk.verdict.key().to_string(),
            risk_score: risk.score,
            reasons: risk
                .reasons
                .iter()
                .take(3)
                .map(|r| r.text.clone())
                .collect(),
            source: evidence.source.as_ref().map(|s| Source {
                ip: s.ip.to_string(),
                scope: s.scope,
                zone: s.zone.clone(),
            }),
            alert: AlertRef {
                rule_id: alert.rule_id(),
                level: alert.rule_level(),
                agent_id: alert.agent_id(),
                agent_name: alert.agent_name(),
                timestamp: alert.timestamp(),
            },
            title: report.title.clone(),
            summary: summary(&report.markdown),
            ai: report.ai,
            report: saved.map(|p| p.display().to_string()),
        },
    }
}

/// The report without its title, folded to one line and cut.
fn summary(markdown: &str) -> String {
    let body: Vec<&str> = markdown
        .lines()
        .filter(|l| !l.starts_with("# ") && !l.trim().is_empty())
        .collect();
    let folded = body
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    truncate_chars(&folded, SUMMARY_CHARS).to_string()
}

/// The datagram: the header Wazuh's integrations use, then the JSON.
pub fn frame(event: &Event, alert: &Alert) -> Vec<u8> {
    let json = serde_json::to_string(event).unwrap_or_else(|_| "{}".into());
    let agent_id = alert.agent_id();
    let header = match agent_id.as_deref() {
        None | Some("000") => format!("1:{VERDICT_LOCATION}:"),
        Some(id) => {
            let ip = alert.text("agent.ip").unwrap_or_else(|| "any".into());
            let location = format!("[{id}] ({}) {ip}", alert.agent_name())
                .replace('|', "||")
                .replace(':', "|:");
            format!("1:{location}->{VERDICT_LOCATION}:")
        }
    };
    format!("{header}{json}").into_bytes()
}

/// Why the event was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// No socket: the tool runs outside a manager. Not an error worth more than a debug line.
    #[error("no analysisd socket at {0}")]
    NoSocket(String),
    #[error("analysisd's socket stayed full for {} ms", SEND_RETRY_FOR.as_millis())]
    Full,
    #[error("cannot send to {path}: {reason}")]
    Other { path: String, reason: String },
}

/// Sends one datagram; a full buffer is retried briefly, never blocking the run for long.
pub fn send(socket: &Path, datagram: &[u8]) -> Result<(), SendError> {
    let other = |e: std::io::Error| SendError::Other {
        path: socket.display().to_string(),
        reason: e.to_string(),
    };
    let sock = UnixDatagram::unbound().map_err(other)?;
    sock.set_nonblocking(true).map_err(other)?;
    let start = Instant::now();
    loop {
        match sock.send_to(datagram, socket) {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Err(SendError::NoSocket(socket.display().to_string()))
            }
            Err(e)
                if e.kind() == ErrorKind::WouldBlock || e.raw_os_error() == Some(libc::ENOBUFS) =>
            {
                if start.elapsed() >= SEND_RETRY_FOR {
                    return Err(SendError::Full);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(other(e)),
        }
    }
}

/// The outbox and log name of this channel.
pub const KIND: &str = "wazuh";

/// The verdict, back into Wazuh as an event on analysisd's queue socket.
pub struct WazuhChannel {
    enabled: bool,
    socket: PathBuf,
}

impl WazuhChannel {
    pub fn new(settings: &Settings) -> Self {
        WazuhChannel {
            enabled: settings.wazuh.feedback,
            socket: settings.wazuh.queue_socket.clone(),
        }
    }
}

impl Channel for WazuhChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn noun(&self) -> &'static str {
        "verdict"
    }

    fn section(&self) -> &'static str {
        "[wazuh]"
    }

    fn compose(&self, d: &Delivery<'_>) -> Compose {
        if !self.enabled {
            return Compose::Skip("wazuh.feedback is off: no verdict event".into());
        }
        let datagram = frame(&event(d.alert, d.evidence, d.report, d.archived), d.alert);
        Compose::Message(serde_json::json!({
            "datagram": String::from_utf8_lossy(&datagram),
            "risk": d.evidence.intel.risk.summary(),
        }))
    }

    fn send<'a>(&'a self, message: &'a Value) -> Sending<'a> {
        Box::pin(async move {
            let datagram = message["datagram"].as_str().unwrap_or_default().as_bytes();
            match send(&self.socket, datagram) {
                Ok(()) => Sent::Done(format!(
                    "Wazuh ({})",
                    message["risk"].as_str().unwrap_or_default()
                )),
                Err(SendError::NoSocket(path)) => {
                    Sent::NoReceiver(format!("no analysisd socket at {path}"))
                }
                Err(e) => Sent::Retry {
                    error: e.to_string(),
                    down: true,
                },
            }
        })
    }

    fn target(&self, _message: &Value) -> String {
        format!("analysisd {}", self.socket.display())
    }

    fn describe(&self, _message: &Value) -> String {
        "verdict event".into()
    }

    /// The event is about this moment; a later retry would only repeat what the report says.
    fn keeps_failed(&self) -> bool {
        false
    }

    fn probe<'a>(&'a self, _http: &'a reqwest::Client) -> Probing<'a> {
        Box::pin(async move {
            if !self.enabled {
                Probe::ok("disabled (wazuh.feedback = false)")
            } else if self.socket.exists() {
                Probe::ok(format!("verdicts go to {}", self.socket.display()))
            } else {
                Probe::ok(format!(
                    "no analysisd socket at {}: verdicts are not fed back on this host",
                    self.socket.display()
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;
    use serde_json::json;

    fn report() -> Report {
        Report::from_markdown(
            "# SSH brute force\n## Overview\nMany failures.".into(),
            true,
            None,
        )
    }

    #[test]
    fn manager_and_agent_headers() {
        let settings = Settings::default();
        let manager = Alert::new(
            json!({"agent":{"id":"000","name":"mgr"},"rule":{"id":"5712","level":10},
            "data":{"srcip":"203.0.113.5"}}),
        );
        let ev = Evidence::local(&manager, &settings.investigation());
        let d = String::from_utf8(frame(&event(&manager, &ev, &report(), None), &manager)).unwrap();
        assert!(
            d.starts_with("1:ai-analyzer:{\"integration\":\"ai-analyzer\","),
            "{d}"
        );

        let agent = Alert::new(json!({"agent":{"id":"003","name":"web|01","ip":"10.0.0.5"},
            "rule":{"id":"5712","level":10}}));
        let ev = Evidence::local(&agent, &settings.investigation());
        let d = String::from_utf8(frame(&event(&agent, &ev, &report(), None), &agent)).unwrap();
        assert!(
            d.starts_with("1:[003] (web||01) 10.0.0.5->ai-analyzer:{"),
            "{d}"
        );

        let v6 =
            Alert::new(json!({"agent":{"id":"004","name":"db","ip":"fd00::5"},"rule":{"id":"1"}}));
        let ev = Evidence::local(&v6, &settings.investigation());
        let d = String::from_utf8(frame(&event(&v6, &ev, &report(), None), &v6)).unwrap();
        assert!(
            d.starts_with("1:[004] (db) fd00|:|:5->ai-analyzer:{"),
            "{d}"
        );
    }

    #[test]
    fn missing_socket_is_its_own_case() {
        let dir = tempfile::tempdir().unwrap();
        let err = send(&dir.path().join("nope"), b"x").unwrap_err();
        assert!(matches!(err, SendError::NoSocket(_)));
    }

    #[test]
    fn summary_skips_the_title_and_is_capped() {
        let s = summary(&format!("# T\n\n## Overview\n{}", "word ".repeat(500)));
        assert!(s.starts_with("## Overview word"));
        assert!(s.chars().count() <= SUMMARY_CHARS);
    }
}
