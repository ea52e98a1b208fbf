//! ntfy: one push per report, `POST {url}/{topic}` with the Markdown as body and Title, Priority,
//! Tags and `Markdown: yes` as headers. A title that is not ASCII goes as RFC 2047, which ntfy
//! decodes, so no HTTP library ever mangles it.

use std::time::Duration;

use base64::Engine as _;
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::{Channel, Compose, Delivery, Probing, Sending, Sent};
use crate::config::{Ntfy, Settings, NTFY_MAX_BYTES};
use crate::util::body::{read_capped, BodyError};
use crate::util::error::root_cause;
use crate::util::secret::Secret;
use crate::util::{join_url, Probe};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// ntfy answers a publish with a small JSON; anything larger is not read.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// Titles longer than this are cut (phones show one line anyway).
pub const MAX_TITLE_CHARS: usize = 150;

/// ntfy target for this job only (integratord's hook_url and api_key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtfyOverride {
    pub url: String,
    pub topic: String,
    /// Kept in the 0640 spool file only as long as the job lives.
    pub token: Option<String>,
}

/// One notification, ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Push {
    pub title: String,
    pub priority: u8,
    pub tags: Vec<String>,
    pub body: String,
    pub click: Option<String>,
}

/// ntfy priority from the Wazuh rule level: >=12 max (5), 10-11 high (4), 7-9 default (3),
/// 4-6 low (2), else min (1).
pub fn priority_for_level(level: u32) -> u8 {
    match level {
        12.. => 5,
        10..=11 => 4,
        7..=9 => 3,
        4..=6 => 2,
        _ => 1,
    }
}

/// Tags: an emoji shortcode for the level band, then `wazuh`, `rule-<id>`, and `ai` or `no-ai`.
pub fn tags_for(level: u32, rule_id: &str, ai: bool) -> Vec<String> {
    let emoji = match level {
        12.. => "rotating_light",
        7..=11 => "warning",
        _ => "information_source",
    };
    let rule: String = rule_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    vec![
        emoji.to_string(),
        "wazuh".to_string(),
        format!("rule-{rule}"),
        if ai { "ai" } else { "no-ai" }.to_string(),
    ]
}

/// Why a push failed, and whether trying again later can help.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("ntfy is unreachable at {url} ({reason})")]
    Unreachable { url: String, reason: String },
    #[error("ntfy did not answer within {} s", TIMEOUT.as_secs())]
    Timeout,
    #[error("ntfy refused the message: HTTP {status}{}: {message}", code.map(|c| format!(" code {c}")).unwrap_or_default())]
    Refused {
        status: u16,
        code: Option<u32>,
        message: String,
    },
}

impl PushError {
    /// 5xx, 429 and network trouble pass; 400/401/403/404/413 never will by themselves.
    pub fn is_retryable(&self) -> bool {
        match self {
            PushError::Unreachable { .. } | PushError::Timeout => true,
            PushError::Refused { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

#[derive(Deserialize)]
struct NtfyError {
    #[serde(default)]
    code: Option<u32>,
    #[serde(default)]
    error: String,
}

/// The id ntfy gave the message.
#[derive(Debug, Deserialize)]
pub struct Published {
    #[serde(default)]
    pub id: String,
}

pub struct Client {
    http: reqwest::Client,
    cfg: Ntfy,
}

impl Client {
    pub fn new(cfg: &Ntfy) -> anyhow::Result<Self> {
        let mut builder = reqwest::Client::builder();
        if crate::investigate::scope::is_local_url(&cfg.url) {
            // A proxy must never see what goes to a server on the admin's own network.
            builder = builder.no_proxy();
        }
        let http = builder
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TIMEOUT)
            .user_agent(concat!("ai-analyzer/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Client {
            http,
            cfg: cfg.clone(),
        })
    }

    pub async fn publish(&self, push: &Push) -> Result<Published, PushError> {
        let url = join_url(&self.cfg.url, &self.cfg.topic);
        let mut body = push.body.clone();
        if body.len() > NTFY_MAX_BYTES {
            // Callers fit the text already; this only guards the wire limit.
            body = crate::analyze::report::fit(&body, NTFY_MAX_BYTES);
        }
        let mut request = self
            .http
            .post(&url)
            .header("Title", encode_header(&push.title))
            .header("Priority", push.priority.to_string())
            .header("Tags", push.tags.join(","))
            .header("Markdown", "yes")
            .header("Content-Type", "text/markdown; charset=utf-8")
            .body(body);
        if let Some(click) = &push.click {
            request = request.header("Click", click);
        }
        if self.cfg.token.is_set() {
            request = request.bearer_auth(self.cfg.token.expose());
        }
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        let bytes = match read_capped(response, MAX_ANSWER_BYTES).await {
            Ok(b) => b,
            Err(BodyError::Read(e)) => return Err(self.transport_error(&e)),
            // More than ntfy ever sends: the start of it is all a refusal needs.
            Err(BodyError::TooLarge(_)) => b"(an answer too large to read)".to_vec(),
        };
        if !status.is_success() {
            return Err(refusal(status.as_u16(), &bytes));
        }
        Ok(serde_json::from_slice(&bytes).unwrap_or(Published { id: String::new() }))
    }

    fn transport_error(&self, e: &reqwest::Error) -> PushError {
        if e.is_timeout() {
            PushError::Timeout
        } else {
            PushError::Unreachable {
                url: self.cfg.url.clone(),
                reason: crate::util::error::root_cause(e),
            }
        }
    }
}

/// Header text: printable ASCII as is, anything else as RFC 2047 base64 (`=?UTF-8?B?...?=`).
/// What ntfy said when it refused a message: its JSON error (`code`, `error`), or the start of
/// whatever else it sent.
fn refusal(status: u16, bytes: &[u8]) -> PushError {
    let (code, message) = match serde_json::from_slice::<NtfyError>(bytes) {
        Ok(e) => (e.code, e.error),
        Err(_) => (
            None,
            String::from_utf8_lossy(bytes)
                .trim()
                .chars()
                .take(200)
                .collect(),
        ),
    };
    PushError::Refused {
        status,
        code,
        message,
    }
}

pub fn encode_header(text: &str) -> String {
    let cut: String = text
        .chars()
        .filter(|c| !c.is_control() && !crate::util::is_hiding_char(*c))
        .take(MAX_TITLE_CHARS)
        .collect();
    // An ASCII title that holds an encoded word of its own (`=?UTF-8?B?...?=`) would be decoded
    // by ntfy into whatever its author chose: it is encoded as a whole, so it reads as written.
    let looks_encoded = cut.contains("=?") && cut.contains("?=");
    if !looks_encoded && cut.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        cut
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(cut.as_bytes())
        )
    }
}

/// The outbox and log name of this channel.
pub const KIND: &str = "ntfy";

/// A push as the outbox keeps it: the message, and the run's own target if it had one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Stored {
    pub push: Push,
    /// An ntfy target other than the config's (integratord runs).
    pub target: Option<NtfyOverride>,
}

/// The push to the admin's phone.
pub struct NtfyChannel {
    cfg: Ntfy,
    /// `report.base_url`: where the archive is served, for the Click link.
    report_base_url: String,
}

impl NtfyChannel {
    pub fn new(settings: &Settings) -> Self {
        NtfyChannel {
            cfg: settings.ntfy.clone(),
            report_base_url: settings.report.base_url.clone(),
        }
    }

    /// The settings for one message: the config's, or the message's own target.
    pub fn settings_for(&self, target: Option<&NtfyOverride>) -> Ntfy {
        let mut cfg = self.cfg.clone();
        if let Some(t) = target {
            cfg.url = t.url.clone();
            cfg.topic = t.topic.clone();
            if let Some(token) = &t.token {
                cfg.token = Secret::new(token.clone());
            }
        }
        cfg
    }

    async fn publish(&self, stored: &Stored) -> Sent {
        let cfg = self.settings_for(stored.target.as_ref());
        if !cfg.enabled() {
            return Sent::Retry {
                error: "ntfy is not configured (empty ntfy.url, or the placeholder topic)".into(),
                down: false,
            };
        }
        let result = match Client::new(&cfg) {
            Ok(client) => client.publish(&stored.push).await,
            Err(e) => Err(PushError::Unreachable {
                url: cfg.url.clone(),
                reason: e.to_string(),
            }),
        };
        match result {
            Ok(p) => Sent::Done(format!("ntfy topic {} (message id {})", cfg.topic, p.id)),
            Err(e) if e.is_retryable() => Sent::Retry {
                down: matches!(e, PushError::Unreachable { .. } | PushError::Timeout),
                error: e.to_string(),
            },
            Err(e) => Sent::Refused(e.to_string()),
        }
    }
}

fn stored(message: &Value) -> Result<Stored, serde_json::Error> {
    serde_json::from_value(message.clone())
}

impl Channel for NtfyChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn noun(&self) -> &'static str {
        "push"
    }

    fn section(&self) -> &'static str {
        "the ntfy settings"
    }

    fn compose(&self, d: &Delivery<'_>) -> Compose {
        let cfg = self.settings_for(d.target);
        if cfg.is_placeholder() {
            return Compose::Held(
                "not pushed: ntfy.topic is still the placeholder \"wazuh-alerts\" on the public \
                 ntfy.sh, which anyone can read; set a topic of your own (the report is saved)"
                    .into(),
            );
        }
        if !cfg.enabled() {
            return Compose::Skip("ntfy.url is empty: no push".into());
        }
        let click = d
            .archived
            .and_then(|p| p.file_name())
            .filter(|_| !self.report_base_url.is_empty())
            .map(|name| join_url(&self.report_base_url, &name.to_string_lossy()));
        let level = d.alert.rule_level();
        // A login that succeeded after the failures is the most urgent news there is.
        let priority = if d.evidence.outcome.as_ref().is_some_and(|o| o.succeeded()) {
            5
        } else {
            priority_for_level(level)
        };
        let push = Push {
            title: d.report.title.clone(),
            priority,
            tags: tags_for(level, &d.alert.rule_id(), d.report.ai),
            body: crate::analyze::report::push_body(d.report, cfg.max_chars),
            click,
        };
        message(push, d.target.cloned())
    }

    fn send<'a>(&'a self, message: &'a Value) -> Sending<'a> {
        Box::pin(async move {
            match stored(message) {
                Ok(s) => self.publish(&s).await,
                Err(e) => Sent::Refused(format!("not a stored push: {e}")),
            }
        })
    }

    fn target(&self, message: &Value) -> String {
        let target = stored(message).ok().and_then(|s| s.target);
        format!("ntfy {}", self.settings_for(target.as_ref()).url)
    }

    fn describe(&self, message: &Value) -> String {
        format!(
            "push {:?}",
            message["push"]["title"].as_str().unwrap_or_default()
        )
    }

    /// A push refused for good is never retried: its own token has no reason to stay on disk.
    fn scrub(&self, message: &mut Value) {
        if let Some(target) = message.get_mut("target").and_then(Value::as_object_mut) {
            target.insert("token".into(), Value::Null);
        }
    }

    fn probe<'a>(&'a self, http: &'a reqwest::Client) -> Probing<'a> {
        Box::pin(async move {
            let cfg = &self.cfg;
            if cfg.is_placeholder() {
                return Probe::failed(
                    "topic \"wazuh-alerts\" on the public ntfy.sh is the placeholder: anyone can \
                     read it; set ntfy.topic to a long topic of your own (nothing is pushed until then)",
                );
            }
            if !cfg.enabled() {
                return Probe::ok(
                    "disabled (ntfy.url is empty): reports go to stdout and the archive",
                );
            }
            let health = join_url(&cfg.url, "v1/health");
            match http.get(&health).send().await {
                Ok(r) if r.status().is_success() => {
                    Probe::ok(format!("{} is up (topic {})", cfg.url, cfg.topic))
                }
                Ok(r) => Probe::failed(format!("{health} answered HTTP {}", r.status().as_u16())),
                Err(e) => Probe::failed(format!("{} unreachable ({})", cfg.url, root_cause(&e))),
            }
        })
    }
}

/// A push as the outbox keeps it.
pub fn message(push: Push, target: Option<NtfyOverride>) -> Compose {
    match serde_json::to_value(Stored { push, target }) {
        Ok(v) => Compose::Message(v),
        Err(e) => Compose::Broken(format!("cannot encode the push: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error body ntfy documents: its status, code and text are read, and only 429 and
    /// 5xx are worth a retry.
    #[test]
    fn recorded_error_bodies_are_read_and_classified() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llm_ntfy");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !name.starts_with("ntfy_error_") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let status = u16::try_from(v["http"].as_u64().unwrap()).unwrap();
            let e = refusal(status, &body);
            match &e {
                PushError::Refused {
                    status: s,
                    code,
                    message,
                } => {
                    assert_eq!(*s, status, "{name}");
                    assert_eq!(code.map(u64::from), v["code"].as_u64(), "{name}");
                    assert_eq!(message, v["error"].as_str().unwrap(), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
            assert_eq!(e.is_retryable(), status == 429 || status >= 500, "{name}");
            seen += 1;
        }
        assert_eq!(seen, 13, "every recorded ntfy error body");
        // A body that is not ntfy's JSON (a proxy's page) is kept as text.
        match refusal(502, b"  <html>Bad Gateway</html>  ") {
            PushError::Refused { code, message, .. } => {
                assert_eq!((code, message.as_str()), (None, "<html>Bad Gateway</html>"));
            }
            other => panic!("{other:?}"),
        }
    }

    /// A message that ntfy turned into an attachment still answers with its id.
    #[test]
    fn a_publish_answer_gives_the_message_id() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/llm_ntfy/ntfy_publish_response_body_became_attachment.json"
        ))
        .unwrap();
        let p: Published = serde_json::from_slice(&body).unwrap();
        assert_eq!(p.id, "Gx3kLmN0pQrS");
    }

    #[test]
    fn priority_map() {
        let cases = [
            (15, 5),
            (12, 5),
            (11, 4),
            (10, 4),
            (9, 3),
            (7, 3),
            (6, 2),
            (4, 2),
            (3, 1),
            (0, 1),
        ];
        for (level, want) in cases {
            assert_eq!(priority_for_level(level), want, "level {level}");
        }
    }

    #[test]
    fn tags() {
        assert_eq!(
            tags_for(10, "5712", true),
            vec!["warning", "wazuh", "rule-5712", "ai"]
        );
        assert_eq!(tags_for(13, "a,b", false)[2], "rule-ab");
    }

    #[test]
    fn header_encoding() {
        assert_eq!(encode_header("SSH brute force"), "SSH brute force");
        assert_eq!(encode_header("Größe"), "=?UTF-8?B?R3LDtsOfZQ==?=");
        assert_eq!(encode_header("a\nb"), "ab");
        assert_eq!(encode_header(&"x".repeat(500)).len(), MAX_TITLE_CHARS);
        // Bidi overrides and invisible marks are dropped: "evil\u{202e}txt.exe" reads as written.
        assert_eq!(encode_header("a\u{202e}b\u{200f}c\u{200b}d"), "abcd");
        // A title that is an encoded word of its own is encoded as a whole: ntfy shows it as
        // written, never what it would decode to.
        let forged = "=?UTF-8?B?QmVuaWduOiBub3RoaW5nIHRvIGRv?=";
        let sent = encode_header(forged);
        assert_ne!(sent, forged);
        let inner = sent
            .strip_prefix("=?UTF-8?B?")
            .and_then(|s| s.strip_suffix("?="))
            .unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(inner)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), forged);
    }

    #[test]
    fn retryable() {
        let refused = |status| PushError::Refused {
            status,
            code: None,
            message: String::new(),
        };
        assert!(refused(503).is_retryable());
        assert!(refused(429).is_retryable());
        assert!(!refused(401).is_retryable());
        assert!(!refused(400).is_retryable());
        assert!(PushError::Timeout.is_retryable());
    }
}
