//! The outbox: pushes and mails that could not be delivered yet. Nothing is lost when ntfy or
//! the mail server is down.
//!
//! A failed delivery is stored durably under `state_dir/outbox/` and retried by later runs with
//! exponential backoff (5 s, 10 s, 20 s, ... at most an hour apart). A refusal that can never pass
//! by itself (400, 401, 403, 404, 413) is kept, logged loudly once, and not retried. Digests of
//! closed cooldown windows go out through the outbox too, so they survive a crash.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Secret, Settings};
use crate::deliver::email::{self, MailError, Outgoing};
use crate::deliver::ntfy::NtfyOverride;
use crate::deliver::ntfy::{self, Push, PushError};
use crate::util::claim::{self, Claim};
use crate::util::fsutil;
use crate::util::now_ms;

pub const FIRST_RETRY_SECS: i64 = 5;
pub const MAX_RETRY_SECS: i64 = 3600;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub created_ms: i64,
    pub attempts: u32,
    pub next_ms: i64,
    /// Set when the delivery can never pass as it is; the entry is kept, not retried.
    pub dead: Option<String>,
    pub last_error: Option<String>,
    #[serde(flatten)]
    pub message: Message,
}

/// What waits for delivery.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    Ntfy {
        push: Push,
        /// An ntfy target other than the config's (integratord runs).
        target: Option<NtfyOverride>,
    },
    Email {
        mail: Outgoing,
    },
}

impl Message {
    /// Where it goes: entries for the same server share its fate within one pass.
    fn target(&self, settings: &Settings) -> String {
        match self {
            Message::Ntfy { target, .. } => {
                let cfg = ntfy_for(settings, target.as_ref());
                format!("ntfy {}", cfg.url)
            }
            Message::Email { .. } => format!("smtp {}", settings.email.smtp_url),
        }
    }

    fn describe(&self) -> String {
        match self {
            Message::Ntfy { push, .. } => format!("push {:?}", push.title),
            Message::Email { mail } => format!("mail {:?}", mail.subject),
        }
    }
}

/// The outcome of one delivery attempt.
enum Attempt {
    Sent(String),
    /// The error, and whether the server itself is out of reach (not asked again this pass).
    Retry(String, bool),
    Dead(String),
}

/// Delay before attempt `attempts + 1`.
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (FIRST_RETRY_SECS << exp).min(MAX_RETRY_SECS)
}

/// Stores a push: `failure` is the error of the attempt just made, if any.
pub fn store(
    dir: &Path,
    push: &Push,
    target: Option<&NtfyOverride>,
    failure: Option<&PushError>,
) -> std::io::Result<PathBuf> {
    let message = Message::Ntfy {
        push: push.clone(),
        target: target.cloned(),
    };
    store_message(
        dir,
        message,
        failure.map(|e| (e.to_string(), e.is_retryable())),
    )
}

/// Stores a mail that could not be sent.
pub fn store_mail(dir: &Path, mail: &Outgoing, failure: &MailError) -> std::io::Result<PathBuf> {
    store_message(
        dir,
        Message::Email { mail: mail.clone() },
        Some((failure.to_string(), failure.is_retryable())),
    )
}

fn store_message(
    dir: &Path,
    mut message: Message,
    failure: Option<(String, bool)>,
) -> std::io::Result<PathBuf> {
    let now = now_ms();
    if let (
        Some((_, false)),
        Message::Ntfy {
            target: Some(t), ..
        },
    ) = (&failure, &mut message)
    {
        // Refused for good, never retried: its own token need not be kept.
        t.token = None;
    }
    let (attempts, next_ms, dead) = match &failure {
        None => (0, now, None),
        Some((_, true)) => (1, now + backoff_secs(1) * 1000, None),
        Some((e, false)) => (1, now, Some(e.clone())),
    };
    let entry = Entry {
        created_ms: now,
        attempts,
        next_ms,
        dead,
        last_error: failure.map(|(e, _)| e),
        message,
    };
    write_new(dir, &entry)
}

fn write_new(dir: &Path, entry: &Entry) -> std::io::Result<PathBuf> {
    fsutil::create_private_dir(dir)?;
    let path = dir.join(format!(
        "{:016}-{:08}-{}.out",
        entry.created_ms.max(0),
        std::process::id(),
        fsutil::unique_suffix()
    ));
    let data = serde_json::to_vec(entry).map_err(std::io::Error::other)?;
    fsutil::write_atomic(&path, &data)?;
    Ok(path)
}

/// Servers found out of reach, and until when they are left alone.
#[derive(Debug, Default)]
pub struct Down {
    until_ms: std::collections::HashMap<String, i64>,
}

impl Down {
    /// How long an unreachable server is left alone.
    pub const PAUSE_MS: i64 = 30_000;

    fn is_down(&self, target: &str) -> bool {
        self.until_ms.get(target).is_some_and(|t| *t > now_ms())
    }

    fn mark(&mut self, target: String) {
        self.until_ms.insert(target, now_ms() + Self::PAUSE_MS);
    }
}

/// What one flush did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flushed {
    pub sent: usize,
    pub retry_later: usize,
    pub dead: usize,
}

/// The ntfy settings for an entry: the config's, or the entry's own target.
pub fn ntfy_for(settings: &Settings, target: Option<&NtfyOverride>) -> crate::config::Ntfy {
    let mut cfg = settings.ntfy.clone();
    if let Some(t) = target {
        cfg.url = t.url.clone();
        cfg.topic = t.topic.clone();
        if let Some(token) = &t.token {
            cfg.token = Secret::new(token.clone());
        }
    }
    cfg
}

/// Sends every entry that is due. Entries are claimed with a lock, so two workers never send the
/// same one.
pub async fn flush(dir: &Path, settings: &Settings, down: &mut Down) -> Flushed {
    let mut done = Flushed::default();
    for path in claim::list_ext(dir, "out") {
        let claimed = match claim::claim::<Entry>(&path) {
            Claim::Got(c) => c,
            Claim::Busy => continue,
            Claim::Bad(why) => {
                tracing::error!("outbox entry unreadable, moved aside: {why}");
                continue;
            }
        };
        let mut entry = claimed.value.clone();
        if entry.dead.is_some() {
            done.dead += 1;
            continue;
        }
        if entry.next_ms > now_ms() {
            done.retry_later += 1;
            continue;
        }
        // A server found out of reach (or hanging) is left alone for a while: a backlog must not
        // hold the worker for a timeout per entry, nor hammer a server that is down.
        let target = entry.message.target(settings);
        if down.is_down(&target) {
            done.retry_later += 1;
            continue;
        }
        let what = entry.message.describe();
        entry.attempts += 1;
        let result = attempt(settings, &entry.message).await;
        if let Attempt::Retry(_, true) = &result {
            down.mark(target);
        }
        match result {
            Attempt::Sent(to) => {
                tracing::info!(
                    "outbox: delivered {what} to {to} after {} attempt(s)",
                    entry.attempts
                );
                if let Err(e) = claimed.done() {
                    tracing::error!(
                        "outbox: delivered but cannot remove {}: {e}",
                        path.display()
                    );
                }
                done.sent += 1;
            }
            Attempt::Retry(e, _) => {
                entry.next_ms = now_ms() + backoff_secs(entry.attempts) * 1000;
                tracing::warn!(
                    "outbox: {what} still failing ({e}); attempt {} failed, next in {} s",
                    entry.attempts,
                    backoff_secs(entry.attempts)
                );
                entry.last_error = Some(e);
                rewrite(&path, &entry);
                done.retry_later += 1;
            }
            Attempt::Dead(e) => {
                tracing::error!(
                    "outbox: {what} refused for good ({e}); kept in {} and not retried: fix the settings",
                    path.display()
                );
                entry.dead = Some(e.clone());
                entry.last_error = Some(e);
                // Never retried: a token of its own has no reason to stay on disk.
                if let Message::Ntfy {
                    target: Some(t), ..
                } = &mut entry.message
                {
                    t.token = None;
                }
                rewrite(&path, &entry);
                done.dead += 1;
            }
        }
    }
    done
}

/// One delivery attempt of a stored message.
async fn attempt(settings: &Settings, message: &Message) -> Attempt {
    match message {
        Message::Ntfy { push, target } => {
            let cfg = ntfy_for(settings, target.as_ref());
            if !cfg.enabled() {
                return Attempt::Retry(
                    "ntfy is not configured (empty ntfy.url, or the placeholder topic)".into(),
                    false,
                );
            }
            let result = match ntfy::Client::new(&cfg) {
                Ok(client) => client.publish(push).await,
                Err(e) => Err(PushError::Unreachable {
                    url: cfg.url.clone(),
                    reason: e.to_string(),
                }),
            };
            match result {
                Ok(p) => Attempt::Sent(format!("ntfy topic {} (message id {})", cfg.topic, p.id)),
                Err(e) if e.is_retryable() => {
                    let down = matches!(e, PushError::Unreachable { .. } | PushError::Timeout);
                    Attempt::Retry(e.to_string(), down)
                }
                Err(e) => Attempt::Dead(e.to_string()),
            }
        }
        Message::Email { mail } => match email::send(&settings.email, mail).await {
            Ok(()) => Attempt::Sent(mail.to.join(", ")),
            Err(e) if e.is_retryable() => Attempt::Retry(e.to_string(), true),
            Err(e) => Attempt::Dead(e.to_string()),
        },
    }
}

fn rewrite(path: &Path, entry: &Entry) {
    match serde_json::to_vec(entry) {
        Ok(data) => {
            if let Err(e) = fsutil::write_atomic(path, &data) {
                tracing::error!("outbox: cannot update {}: {e}", path.display());
            }
        }
        Err(e) => tracing::error!("outbox: cannot encode entry: {e}"),
    }
}

/// (pending, dead) entries.
pub fn depth(dir: &Path) -> (usize, usize) {
    let mut pending = 0;
    let mut dead = 0;
    for path in claim::list_ext(dir, "out") {
        let is_dead = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Entry>(&b).ok())
            .is_some_and(|e| e.dead.is_some());
        if is_dead {
            dead += 1;
        } else {
            pending += 1;
        }
    }
    (pending, dead)
}

/// When the next pending entry is due, in ms since the epoch.
pub fn next_due_ms(dir: &Path) -> Option<i64> {
    claim::list_ext(dir, "out")
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice::<Entry>(&b).ok())
        .filter(|e| e.dead.is_none())
        .map(|e| e.next_ms)
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_secs(1), 5);
        assert_eq!(backoff_secs(2), 10);
        assert_eq!(backoff_secs(3), 20);
        assert_eq!(backoff_secs(30), MAX_RETRY_SECS);
    }

    fn push() -> Push {
        Push {
            title: "t".into(),
            priority: 3,
            tags: vec![],
            body: "# t".into(),
            click: None,
        }
    }

    #[test]
    fn store_classifies_failures() {
        let dir = tempfile::tempdir().unwrap();
        let retry = PushError::Refused {
            status: 503,
            code: None,
            message: "down".into(),
        };
        let never = PushError::Refused {
            status: 401,
            code: Some(40101),
            message: "unauthorized".into(),
        };
        store(dir.path(), &push(), None, Some(&retry)).unwrap();
        store(dir.path(), &push(), None, Some(&never)).unwrap();
        store(dir.path(), &push(), None, None).unwrap();
        assert_eq!(depth(dir.path()), (2, 1));
        let next = next_due_ms(dir.path()).unwrap();
        assert!(next <= now_ms() + 1000, "the unsent one is due now");
    }
}
