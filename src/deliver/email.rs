//! The full report by e-mail: a multipart message with the Markdown as plain text, the styled
//! HTML part ([`super::html`]: a banner, a facts table, the analysis, the evidence appendix),
//! and as attachments the PDF ([`super::pdf`], unless `email.attach_pdf` is off), the Markdown
//! and the evidence JSON.
//!
//! The HTML comes from the Markdown through pulldown-cmark with every raw-HTML event turned into
//! escaped text, and no image or link: nothing the model (or an attacker quoted in a log line)
//! writes can put markup or script into the admin's mail client.

use base64::Engine as _;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{Address, Message};
use serde::{Deserialize, Serialize};

use serde_json::Value;

use super::{Channel, Compose, Delivery, Probing, Sending, Sent};
use crate::config::{Email, Settings};
use crate::util::Probe;

/// A message ready to send (and to keep in the outbox): envelope and the formatted bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outgoing {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    /// The RFC 5322 message, base64 so the outbox file stays plain JSON.
    pub raw_base64: String,
}

/// Why a message was not sent, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid e-mail settings: {0}")]
    Settings(String),
    #[error("SMTP server at {url} failed: {reason}")]
    Smtp {
        url: String,
        reason: String,
        retryable: bool,
    },
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MailError::Smtp {
                retryable: true,
                ..
            }
        )
    }
}

/// Builds the message for one report.
pub fn compose(
    cfg: &Email,
    subject: &str,
    markdown: &str,
    html: String,
    evidence_json: &str,
    pdf: Option<&[u8]>,
) -> Result<Outgoing, MailError> {
    let bad = |e: String| MailError::Settings(e);
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|e| bad(format!("email.from {:?}: {e}", cfg.from)))?;
    if cfg.to.is_empty() {
        return Err(bad("email.to is empty".into()));
    }
    let mut builder = Message::builder().from(from.clone()).subject(
        subject
            .chars()
            .filter(|c| !c.is_control())
            .collect::<String>(),
    );
    let mut to = Vec::new();
    for (i, rcpt) in cfg.to.iter().enumerate() {
        let mb: Mailbox = rcpt
            .parse()
            .map_err(|e| bad(format!("email.to[{i}] {rcpt:?}: {e}")))?;
        to.push(mb.email.to_string());
        builder = builder.to(mb);
    }
    let mut parts = MultiPart::mixed().multipart(MultiPart::alternative_plain_html(
        markdown.to_string(),
        html,
    ));
    if let Some(pdf) = pdf {
        parts = parts.singlepart(Attachment::new("report.pdf".into()).body(
            pdf.to_vec(),
            ContentType::parse("application/pdf").map_err(|e| bad(e.to_string()))?,
        ));
    }
    let message = builder
        .multipart(
            parts
                .singlepart(
                    Attachment::new("report.md".into()).body(
                        markdown.to_string(),
                        ContentType::parse("text/markdown; charset=utf-8")
                            .map_err(|e| bad(e.to_string()))?,
                    ),
                )
                .singlepart(Attachment::new("evidence.json".into()).body(
                    evidence_json.to_string(),
                    ContentType::parse("application/json").map_err(|e| bad(e.to_string()))?,
                )),
        )
        .map_err(|e| bad(e.to_string()))?;
    Ok(Outgoing {
        from: from.email.to_string(),
        to,
        subject: subject.to_string(),
        raw_base64: base64::engine::general_purpose::STANDARD.encode(message.formatted()),
    })
}

/// Connects to the SMTP server (and authenticates, when configured) without sending anything.
pub async fn probe(cfg: &Email) -> Result<(), MailError> {
    super::smtp::probe(cfg).await
}

/// Sends a composed message.
pub async fn send(cfg: &Email, mail: &Outgoing) -> Result<(), MailError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(&mail.raw_base64)
        .map_err(|e| MailError::Settings(format!("stored message is damaged: {e}")))?;
    let from: Address = mail
        .from
        .parse()
        .map_err(|e| MailError::Settings(format!("from {:?}: {e}", mail.from)))?;
    let to = mail
        .to
        .iter()
        .map(|t| t.parse::<Address>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| MailError::Settings(format!("to: {e}")))?;
    let envelope = lettre::address::Envelope::new(Some(from), to)
        .map_err(|e| MailError::Settings(e.to_string()))?;
    super::smtp::send(cfg, &envelope, &raw).await
}

/// The outbox and log name of this channel.
pub const KIND: &str = "email";

/// The full report by mail, to `email.to`.
pub struct EmailChannel {
    cfg: Email,
}

impl EmailChannel {
    pub fn new(settings: &Settings) -> Self {
        EmailChannel {
            cfg: settings.email.clone(),
        }
    }
}

fn outgoing(message: &Value) -> Result<Outgoing, serde_json::Error> {
    serde_json::from_value(message["mail"].clone())
}

impl Channel for EmailChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn noun(&self) -> &'static str {
        "mail"
    }

    fn section(&self) -> &'static str {
        "[email]"
    }

    fn compose(&self, d: &Delivery<'_>) -> Compose {
        if !self.cfg.enabled || d.alert.rule_level() < self.cfg.min_level {
            return Compose::Skip(
                "no mail for this alert ([email] off or below its min_level)".into(),
            );
        }
        let subject = format!("[Wazuh L{}] {}", d.alert.rule_level(), d.report.title);
        let evidence_json = serde_json::to_string_pretty(&serde_json::json!({
            "alert": d.alert.json(),
            "evidence": d.evidence,
            "report": d.report,
        }))
        .unwrap_or_default();
        match compose(
            &self.cfg,
            &subject,
            d.full,
            super::html::render(d),
            &evidence_json,
            d.pdf.filter(|_| self.cfg.attach_pdf),
        ) {
            Ok(mail) => match serde_json::to_value(&mail) {
                Ok(mail) => Compose::Message(serde_json::json!({ "mail": mail })),
                Err(e) => Compose::Broken(format!("cannot encode the mail: {e}")),
            },
            Err(e) => Compose::Broken(e.to_string()),
        }
    }

    fn send<'a>(&'a self, message: &'a Value) -> Sending<'a> {
        Box::pin(async move {
            let mail = match outgoing(message) {
                Ok(m) => m,
                Err(e) => return Sent::Refused(format!("not a stored mail: {e}")),
            };
            match send(&self.cfg, &mail).await {
                Ok(()) => Sent::Done(mail.to.join(", ")),
                Err(e) if e.is_retryable() => Sent::Retry {
                    error: e.to_string(),
                    down: true,
                },
                Err(e) => Sent::Refused(e.to_string()),
            }
        })
    }

    fn target(&self, _message: &Value) -> String {
        format!("smtp {}", self.cfg.smtp_url)
    }

    fn describe(&self, message: &Value) -> String {
        format!(
            "mail {:?}",
            message["mail"]["subject"].as_str().unwrap_or_default()
        )
    }

    fn probe<'a>(&'a self, _http: &'a reqwest::Client) -> Probing<'a> {
        Box::pin(async move {
            if !self.cfg.enabled {
                return Probe::ok("disabled");
            }
            match probe(&self.cfg).await {
                Ok(()) => Probe::ok(format!("{} accepts connections", self.cfg.smtp_url)),
                Err(e) => Probe::failed(e.to_string()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_checks_addresses() {
        let mut cfg = Email {
            enabled: true,
            to: vec!["soc@example.org".into()],
            ..Email::default()
        };
        let mail = compose(&cfg, "Title", "# T\nx", String::new(), "{}", None).expect("composes");
        assert_eq!(mail.to, vec!["soc@example.org"]);
        cfg.to = vec!["not an address".into()];
        let err = compose(&cfg, "Title", "# T", String::new(), "{}", None).unwrap_err();
        assert!(err.to_string().contains("email.to[0]"), "{err}");
        cfg.to.clear();
        assert!(compose(&cfg, "T", "x", String::new(), "{}", None)
            .unwrap_err()
            .to_string()
            .contains("email.to is empty"));
    }
}
