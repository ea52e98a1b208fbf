//! Delivery: every way a report leaves the host is a [`Channel`] (the ntfy push, the mail, the
//! verdict event back into Wazuh), listed once in [`Channels::new`]. What a channel could not
//! send waits in the [`outbox`] and is retried by later runs, whatever the channel.
//!
//! Adding a channel (Gotify, Telegram, a webhook): one file with a type that implements
//! [`Channel`], and one line in [`Channels::new`].

pub mod archive;
pub mod digest;
pub mod email;
pub mod feedback;
pub mod html;
pub mod ntfy;
pub mod outbox;
pub mod pdf;
mod smtp;
pub mod view;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use serde_json::Value;

use crate::analyze::report::{self, Report};
use crate::config::Settings;
use crate::intake::alert::Alert;
use crate::investigate::Evidence;
use crate::util::Probe;
use ntfy::NtfyOverride;

/// One report on its way out, as every channel sees it.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    pub alert: &'a Alert,
    pub evidence: &'a Evidence,
    pub report: &'a Report,
    /// The full report: the analysis, then the evidence appendix.
    pub full: &'a str,
    /// Where the full report was saved, when it was.
    pub archived: Option<&'a Path>,
    /// An ntfy target for this run only (integratord's hook_url and api_key).
    pub target: Option<&'a NtfyOverride>,
    /// The full report as a PDF, when one could be made.
    pub pdf: Option<&'a [u8]>,
}

/// What one attempt to send came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Delivered; where to, for the log.
    Done(String),
    /// Not now; `down` when the server itself is out of reach (left alone for a while).
    Retry { error: String, down: bool },
    /// Refused as it is: retrying cannot help, the settings must change.
    Refused(String),
    /// Nobody to deliver to here (no analysisd socket outside a manager): a debug note.
    NoReceiver(String),
}

/// A channel's answer to "what would you send for this report?".
#[derive(Debug)]
pub enum Compose {
    /// The message, as the outbox keeps it.
    Message(Value),
    /// Nothing goes out on this channel for this report (turned off, below its level); the
    /// reason is a debug note.
    Skip(String),
    /// Nothing goes out because that would not be safe; the reason is a warning.
    Held(String),
    /// Nothing can go out: the settings are wrong (logged as an error).
    Broken(String),
}

/// The future of one send.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Sent> + Send + 'a>>;
/// The future of one probe.
pub type Probing<'a> = Pin<Box<dyn Future<Output = Probe> + Send + 'a>>;

/// One way a report leaves the host.
pub trait Channel: Send + Sync {
    /// Its name in the outbox, the log and `check`: `ntfy`, `email`, `wazuh`.
    fn kind(&self) -> &'static str;

    /// What one message is called in the log: `push`, `mail`, `verdict`.
    fn noun(&self) -> &'static str;

    /// The settings to fix when a message is refused: `[ntfy]`.
    fn section(&self) -> &'static str;

    /// The message for one report, or why none goes out.
    fn compose(&self, delivery: &Delivery<'_>) -> Compose;

    /// Sends a message, fresh or from the outbox.
    fn send<'a>(&'a self, message: &'a Value) -> Sending<'a>;

    /// Where a message goes: messages to one server share its fate within one outbox pass.
    fn target(&self, message: &Value) -> String;

    /// A few words on a message for the log: `push "SSH brute force ..."`.
    fn describe(&self, message: &Value) -> String;

    /// What the outbox keeps of a message refused for good (a token of its own is dropped).
    fn scrub(&self, _message: &mut Value) {}

    /// False when a failed message is only logged, never kept for a retry.
    fn keeps_failed(&self) -> bool {
        true
    }

    /// What `check` says of the channel.
    fn probe<'a>(&'a self, http: &'a reqwest::Client) -> Probing<'a>;
}

/// Every channel, built once from the settings. A report goes out on all of them side by side,
/// so a slow server delays only its own channel.
pub struct Channels(Vec<Box<dyn Channel>>);

impl Channels {
    pub fn new(settings: &Settings) -> Channels {
        Channels(vec![
            Box::new(ntfy::NtfyChannel::new(settings)),
            Box::new(email::EmailChannel::new(settings)),
            Box::new(feedback::WazuhChannel::new(settings)),
        ])
    }

    /// The channel that sends messages of `kind`.
    pub fn get(&self, kind: &str) -> Option<&dyn Channel> {
        self.0.iter().find(|c| c.kind() == kind).map(AsRef::as_ref)
    }

    pub fn iter(&self) -> impl Iterator<Item = &dyn Channel> {
        self.0.iter().map(AsRef::as_ref)
    }
}

/// The longest one send may take as a whole, whatever the server does (a mail server can keep
/// each read under its timeout forever by sending a line every few seconds).
pub const SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// One send, bounded as a whole by [`SEND_LIMIT`]: past it the message waits in the outbox.
pub async fn send_bounded(channel: &dyn Channel, message: &Value) -> Sent {
    match tokio::time::timeout(SEND_LIMIT, channel.send(message)).await {
        Ok(sent) => sent,
        Err(_) => Sent::Retry {
            error: format!("no answer within {} s", SEND_LIMIT.as_secs()),
            down: true,
        },
    }
}

/// What delivery did with one report.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Where the full report was saved, when it was.
    pub archived: Option<PathBuf>,
    /// Whether the push reached ntfy now (a failed one waits in the outbox).
    pub pushed: bool,
    /// The report as a PDF, when one could be made.
    pub pdf: Option<Vec<u8>>,
}

/// The full report (analysis and evidence appendix) as of `now`, its links defanged like the
/// report's: the archive's `.md`, the mail's text part and the PDF.
pub fn full_report(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let created = now
        .with_timezone(&chrono::Local)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    // The appendix quotes the alert: its URLs are defanged like the report's.
    crate::analyze::links::unlink(
        &report::full(alert, evidence, report, &created),
        &settings.configured_hosts(),
    )
}

/// Archives the report and sends it on every channel. A channel that fails keeps its message in
/// the outbox; this fails only when a message could neither be sent nor kept there.
pub async fn deliver(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    settings: &Settings,
    target: Option<&NtfyOverride>,
) -> anyhow::Result<Delivered> {
    let now = chrono::Utc::now();
    let full = full_report(alert, evidence, report, settings, now);
    let draft = Delivery {
        alert,
        evidence,
        report,
        full: &full,
        archived: None,
        target,
        pdf: None,
    };
    let pdf = match pdf::render(&draft, now) {
        Ok(pdf) => Some(pdf),
        Err(e) => {
            tracing::warn!("{e}; the report goes out without it");
            None
        }
    };
    let archived = archive::archive(alert, evidence, report, &full, pdf.as_deref(), settings);
    let delivery = Delivery {
        archived: archived.as_deref(),
        pdf: pdf.as_deref(),
        ..draft
    };
    let outbox_dir = settings.state().outbox();
    // The channels go out side by side: a slow mail server delays only the mail. Each one gets
    // its turn even when another can neither send nor keep its message (a full disk).
    let channels = Channels::new(settings);
    let results = futures_util::future::join_all(
        channels
            .iter()
            .map(|channel| send_one(channel, &delivery, &outbox_dir)),
    )
    .await;
    let mut pushed = false;
    let mut lost = None;
    for (channel, result) in channels.iter().zip(results) {
        match result {
            Ok(sent) => pushed |= sent && channel.kind() == ntfy::KIND,
            Err(e) => {
                tracing::error!("{e:#}");
                lost.get_or_insert(e);
            }
        }
    }
    match lost {
        // The job stays in the spool: the next worker tries again.
        Some(e) => Err(e),
        None => Ok(Delivered {
            archived,
            pushed,
            pdf,
        }),
    }
}

/// Sends one report on one channel; what fails goes to the outbox. True when it went out now.
async fn send_one(
    channel: &dyn Channel,
    delivery: &Delivery<'_>,
    outbox_dir: &Path,
) -> anyhow::Result<bool> {
    use anyhow::Context as _;
    let noun = channel.noun();
    let message = match channel.compose(delivery) {
        Compose::Message(m) => m,
        Compose::Skip(why) => {
            tracing::debug!("{why}");
            return Ok(false);
        }
        Compose::Held(why) => {
            tracing::warn!("{why}");
            return Ok(false);
        }
        Compose::Broken(why) => {
            tracing::error!("{noun} not sent: {why}");
            return Ok(false);
        }
    };
    let (error, retry) = match send_bounded(channel, &message).await {
        Sent::Done(to) => {
            tracing::info!("{noun} delivered to {to}");
            return Ok(true);
        }
        Sent::Retry { error, .. } => (error, true),
        Sent::Refused(error) => (error, false),
        Sent::NoReceiver(why) => {
            tracing::debug!("{noun} not delivered: {why}");
            return Ok(false);
        }
    };
    if !channel.keeps_failed() {
        tracing::warn!("{noun} not delivered: {error}");
        return Ok(false);
    }
    let stored = keep(outbox_dir, channel, message, (&error, retry))
        .await
        .with_context(|| {
            format!(
                "{noun} failed ({error}) and the outbox {} is unusable",
                outbox_dir.display()
            )
        })?;
    if retry {
        tracing::warn!(
            "{noun} failed: {error}; queued in the outbox, retried from {} s on",
            outbox::FIRST_RETRY_SECS
        );
    } else {
        tracing::error!(
            "{noun} failed: {error}; kept in {} and not retried: fix {}",
            stored.display(),
            channel.section()
        );
    }
    Ok(false)
}

/// How often a message that cannot be written to the outbox (a full disk) is tried again before
/// the job is left in the spool, and the pause before each try.
const KEEP_RETRIES: [std::time::Duration; 2] = [
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(3),
];

/// Writes a failed message to the outbox; a failed write is logged and tried again a few times
/// (space may come free) before it counts as lost for this run.
async fn keep(
    outbox_dir: &Path,
    channel: &dyn Channel,
    message: Value,
    (error, retry): (&str, bool),
) -> std::io::Result<PathBuf> {
    for pause in KEEP_RETRIES {
        match outbox::store(outbox_dir, channel, message.clone(), Some((error, retry))) {
            Ok(path) => return Ok(path),
            Err(e) => {
                tracing::warn!(
                    "{} cannot be written to the outbox {} ({e}); trying again in {} s",
                    channel.noun(),
                    outbox_dir.display(),
                    pause.as_secs()
                );
                tokio::time::sleep(pause).await;
            }
        }
    }
    outbox::store(outbox_dir, channel, message, Some((error, retry)))
}
