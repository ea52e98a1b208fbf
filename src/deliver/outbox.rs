//! The outbox: messages a channel could not deliver yet. Nothing is lost when ntfy or the mail
//! server is down.
//!
//! A failed delivery is stored durably under `state_dir/outbox/` and retried by later runs with
//! exponential backoff (5 s, 10 s, 20 s, ... at most an hour apart). A refusal that can never pass
//! by itself (400, 401, 403, 404, 413) is kept, logged loudly once, and not retried. Digests of
//! closed cooldown windows go out through the outbox too, so they survive a crash. The outbox
//! knows no channel: an entry names its channel's `kind`, and that channel sends it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Channel, Channels, Sent};
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
    /// The channel that sends it (`ntfy`, `email`, ...).
    pub kind: String,
    /// The message, in its channel's own shape.
    #[serde(flatten)]
    pub message: Map<String, Value>,
}

/// Delay before attempt `attempts + 1`.
pub fn backoff_secs(attempts: u32) -> i64 {
    let exp = attempts.saturating_sub(1).min(20);
    (FIRST_RETRY_SECS << exp).min(MAX_RETRY_SECS)
}

/// Stores a message of `channel`; `failure` is the error of the attempt just made (and whether
/// it may pass later), if one was made.
pub fn store(
    dir: &Path,
    channel: &dyn Channel,
    mut message: Value,
    failure: Option<(&str, bool)>,
) -> std::io::Result<PathBuf> {
    let now = now_ms();
    if let Some((_, false)) = failure {
        channel.scrub(&mut message);
    }
    let (attempts, next_ms, dead) = match failure {
        None => (0, now, None),
        Some((_, true)) => (1, now + backoff_secs(1) * 1000, None),
        Some((e, false)) => (1, now, Some(e.to_string())),
    };
    let entry = Entry {
        created_ms: now,
        attempts,
        next_ms,
        dead,
        last_error: failure.map(|(e, _)| e.to_string()),
        kind: channel.kind().to_string(),
        message: match message {
            Value::Object(map) => map,
            other => Map::from_iter([("message".to_string(), other)]),
        },
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

/// Sends every entry that is due. Entries are claimed with a lock, so two workers never send the
/// same one.
pub async fn flush(dir: &Path, channels: &Channels, down: &mut Down) -> Flushed {
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
        let Some(channel) = channels.get(&entry.kind) else {
            tracing::error!(
                "outbox: {} holds a message for an unknown channel {:?}; left alone",
                path.display(),
                entry.kind
            );
            done.retry_later += 1;
            continue;
        };
        let message = Value::Object(std::mem::take(&mut entry.message));
        // A server found out of reach (or hanging) is left alone for a while: a backlog must not
        // hold the worker for a timeout per entry, nor hammer a server that is down.
        let target = channel.target(&message);
        if down.is_down(&target) {
            done.retry_later += 1;
            continue;
        }
        match attempt(channel, &mut entry, message, (&target, &path), down).await {
            Sent::Done(_) => {
                if let Err(e) = claimed.done() {
                    tracing::error!(
                        "outbox: delivered but cannot remove {}: {e}",
                        path.display()
                    );
                }
                done.sent += 1;
                continue;
            }
            Sent::Refused(_) => done.dead += 1,
            Sent::Retry { .. } | Sent::NoReceiver(_) => done.retry_later += 1,
        }
        rewrite(&path, &entry);
    }
    done
}

/// One attempt at a due entry: sends it through its channel and records the outcome in `entry`
/// (attempts, the next try, the error; a refused one is marked dead and scrubbed).
async fn attempt(
    channel: &dyn Channel,
    entry: &mut Entry,
    mut message: Value,
    (target, path): (&str, &Path),
    down: &mut Down,
) -> Sent {
    let what = channel.describe(&message);
    entry.attempts += 1;
    let sent = super::send_bounded(channel, &message).await;
    match &sent {
        Sent::Done(to) => tracing::info!(
            "outbox: delivered {what} to {to} after {} attempt(s)",
            entry.attempts
        ),
        Sent::Retry { error, down: out } => {
            if *out {
                down.mark(target.to_string());
            }
            entry.next_ms = now_ms() + backoff_secs(entry.attempts) * 1000;
            tracing::warn!(
                "outbox: {what} still failing ({error}); attempt {} failed, next in {} s",
                entry.attempts,
                backoff_secs(entry.attempts)
            );
            entry.last_error = Some(error.clone());
        }
        Sent::NoReceiver(error) => {
            entry.next_ms = now_ms() + backoff_secs(entry.attempts) * 1000;
            entry.last_error = Some(error.clone());
        }
        Sent::Refused(error) => {
            tracing::error!(
                "outbox: {what} refused for good ({error}); kept in {} and not retried: fix the settings",
                path.display()
            );
            entry.dead = Some(error.clone());
            entry.last_error = Some(error.clone());
            channel.scrub(&mut message);
        }
    }
    if let Value::Object(map) = message {
        entry.message = map;
    }
    sent
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
    use crate::config::Settings;
    use crate::deliver::ntfy::{self, NtfyChannel, NtfyOverride, Push, PushError};

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_secs(1), 5);
        assert_eq!(backoff_secs(2), 10);
        assert_eq!(backoff_secs(3), 20);
        assert_eq!(backoff_secs(30), MAX_RETRY_SECS);
    }

    fn push(target: Option<NtfyOverride>) -> Value {
        let push = Push {
            title: "t".into(),
            priority: 3,
            tags: vec![],
            body: "# t".into(),
            click: None,
        };
        match ntfy::message(push, target) {
            crate::deliver::Compose::Message(v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn failure(e: &PushError) -> Option<(&str, bool)> {
        let text: &'static str = Box::leak(e.to_string().into_boxed_str());
        Some((text, e.is_retryable()))
    }

    #[test]
    fn store_classifies_failures() {
        let dir = tempfile::tempdir().unwrap();
        let channel = NtfyChannel::new(&Settings::default());
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
        store(dir.path(), &channel, push(None), failure(&retry)).unwrap();
        store(dir.path(), &channel, push(None), failure(&never)).unwrap();
        store(dir.path(), &channel, push(None), None).unwrap();
        assert_eq!(depth(dir.path()), (2, 1));
        let next = next_due_ms(dir.path()).unwrap();
        assert!(next <= now_ms() + 1000, "the unsent one is due now");
    }

    #[test]
    fn a_push_refused_for_good_keeps_no_token_of_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let channel = NtfyChannel::new(&Settings::default());
        let target = NtfyOverride {
            url: "http://127.0.0.1:9".into(),
            topic: "t".into(),
            token: Some("tk_own_token_1234".into()),
        };
        let path = store(
            dir.path(),
            &channel,
            push(Some(target)),
            Some(("HTTP 401", false)),
        )
        .unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        assert!(!text.contains("tk_own_token_1234"), "{text}");
        assert!(text.contains("\"kind\":\"ntfy\""), "{text}");
    }
}
