//! The cooldown windows shared by several manager nodes: one report per address per window
//! across the nodes, and one digest of what they all counted.
//!
//! The gate in front of wazuh-execd never waits on the network: each node's intake decides on its
//! own windows, as with one node, and spools the alerts it would analyse. The worker then claims
//! the shared window `cooldown-<key>` on the indexer before it analyses one; the node whose claim
//! lands first reports, and every other node counts the alert into its own window, which closes
//! with the shared one.
//!
//! A closed window's counts are handed over, not pushed: the worker adds them to the shared
//! window's pending tally, waits [`GRACE`] for the other nodes to add theirs, then takes the
//! tally. The first node to take it pushes the one digest; a node that finds it taken pushes
//! nothing. Each step is one change with OpenSearch's concurrency control, so no count is taken
//! twice or dropped. When the indexer does not answer, the node pushes its own counts as a
//! digest of its own, as a single node would: nothing is lost, and no alert is counted twice on
//! one node.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Settings;
use crate::gate::cooldown::{self, is_failure, is_success, Tally};
use crate::intake::alert::Alert;
use crate::investigate::cluster::{self, Change, Shared, SHARED_LIMIT};
use crate::util::claim::{self, Claim};
use crate::util::{fsutil, now_ms};

/// How long after a window closes its digest is taken: the other nodes add their counts first.
pub(crate) const GRACE: Duration = Duration::from_secs(3);

/// How long a node keeps trying to take a tally it added, before it pushes its own counts.
const GIVE_UP: Duration = Duration::from_secs(600);

/// How long a window's document outlives its close (for a late node's counts).
const KEEP_MS: i64 = 3_600_000;

/// How many recent additions and takes a window remembers, so that a node that retries one
/// (its answer was lost, or it crashed before recording it) is not counted twice.
const REMEMBERED_ADDS: usize = 256;
const REMEMBERED_TAKES: usize = 16;

/// What a shared window holds beside its times: the counts not yet taken, and the tokens of the
/// latest additions and takes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Entry {
    #[serde(default)]
    pending: Tally,
    #[serde(default)]
    added: Vec<String>,
    #[serde(default)]
    took: Vec<(String, Tally)>,
}

fn entry_of(doc: Option<&Value>) -> Entry {
    doc.and_then(|d| serde_json::from_value(d["entry"].clone()).ok())
        .unwrap_or_default()
}

/// What the shared window says of an alert this node would analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// This node reports it.
    Report,
    /// Another node reported this address in the window that closes at `closes_ms`.
    Counted { closes_ms: i64 },
}

/// The document id of an address's shared window.
fn window_id(key: &str) -> String {
    format!("cooldown-{key}")
}

/// The decision on the shared window `doc` for `alert` at `now_ms`, and what to write: the
/// rules of [`cooldown::Store::gate`] (a new window, a closed one, a higher level, a success
/// after failures), applied to the nodes' window.
pub(crate) fn decide(
    doc: Option<&Value>,
    alert: &Alert,
    now_ms: i64,
    cooldown_ms: i64,
) -> Change<Verdict> {
    let level = alert.rule_level();
    let closes = doc.and_then(|d| d["closes_ms"].as_i64());
    let entry = entry_of(doc);
    let window = |opened: i64, closes: i64, level: u32, failure: bool, entry: &Entry| {
        json!({
            "kind": "cooldown",
            "opened_ms": opened,
            "closes_ms": closes,
            "level": level,
            "saw_failure": failure,
            "expires_at": closes.saturating_add(KEEP_MS),
            "entry": entry,
        })
    };
    let (doc, closes) = match (doc, closes) {
        (Some(doc), Some(closes)) if now_ms < closes => (doc, closes),
        // No window, or a closed one: a new window, this node reports. Counts nobody has
        // taken yet stay for the next digest.
        _ => {
            let closes = now_ms.saturating_add(cooldown_ms);
            return Change::Write(
                window(now_ms, closes, level, is_failure(alert), &entry),
                Verdict::Report,
            );
        }
    };
    let was_level = doc["level"].as_u64().unwrap_or(0);
    let saw_failure = doc["saw_failure"].as_bool().unwrap_or(false);
    let opened = doc["opened_ms"].as_i64().unwrap_or(now_ms);
    if u64::from(level) > was_level || (is_success(alert) && saw_failure) {
        // The window keeps its highest level, as this node's own does.
        let level = u32::try_from(was_level.max(u64::from(level))).unwrap_or(u32::MAX);
        return Change::Write(
            window(opened, closes, level, saw_failure, &entry),
            Verdict::Report,
        );
    }
    let verdict = Verdict::Counted { closes_ms: closes };
    if is_failure(alert) && !saw_failure {
        let level = u32::try_from(was_level).unwrap_or(u32::MAX);
        Change::Write(window(opened, closes, level, true, &entry), verdict)
    } else {
        Change::Keep(verdict)
    }
}

/// Claims the report of `alert` (received at `received_ms`) in its shared window.
pub(crate) async fn claim_report(
    shared: &Shared,
    alert: &Alert,
    received_ms: i64,
    cooldown_ms: i64,
) -> Result<Verdict, String> {
    let id = window_id(&cooldown::key_for(alert));
    shared
        .update(&id, |doc| decide(doc, alert, received_ms, cooldown_ms))
        .await
}

/// Adds this node's counts to the shared window of `key` (made anew if it is gone), once:
/// an addition whose `token` the window remembers is not made again.
async fn add_counts(
    shared: &Shared,
    key: &str,
    token: &str,
    tally: &Tally,
    now_ms: i64,
) -> Result<(), String> {
    shared
        .update(&window_id(key), |doc| add_change(doc, token, tally, now_ms))
        .await
}

/// What [`add_counts`] writes.
fn add_change(doc: Option<&Value>, token: &str, tally: &Tally, now_ms: i64) -> Change<()> {
    let mut entry = entry_of(doc);
    if entry.added.iter().any(|t| t == token) {
        return Change::Keep(());
    }
    let mut doc = doc.cloned().unwrap_or_else(|| {
        json!({"kind": "cooldown", "opened_ms": now_ms, "closes_ms": now_ms,
               "level": 0, "saw_failure": false})
    });
    entry.pending.merge(tally);
    entry.added.push(token.to_string());
    let extra = entry.added.len().saturating_sub(REMEMBERED_ADDS);
    entry.added.drain(..extra);
    let closes = doc["closes_ms"].as_i64().unwrap_or(now_ms).max(now_ms);
    doc["expires_at"] = json!(closes.saturating_add(KEEP_MS));
    doc["entry"] = json!(entry);
    Change::Write(doc, ())
}

/// Takes the shared window's pending counts, leaving it empty: `None` when another node took
/// them first (or there are none). A take is remembered by its `token`: asked again, the window
/// hands the same counts back, so a take whose answer was lost is not lost.
async fn take_counts(shared: &Shared, key: &str, token: &str) -> Result<Option<Tally>, String> {
    shared
        .update(&window_id(key), |doc| take_change(doc, token))
        .await
}

/// What [`take_counts`] writes.
fn take_change(doc: Option<&Value>, token: &str) -> Change<Option<Tally>> {
    let Some(doc) = doc else {
        return Change::Keep(None);
    };
    let mut entry = entry_of(Some(doc));
    if let Some((_, tally)) = entry.took.iter().find(|(t, _)| t == token) {
        return Change::Keep(Some(tally.clone()));
    }
    if entry.pending.count == 0 {
        return Change::Keep(None);
    }
    let pending = std::mem::take(&mut entry.pending);
    entry.took.push((token.to_string(), pending.clone()));
    let extra = entry.took.len().saturating_sub(REMEMBERED_TAKES);
    entry.took.drain(..extra);
    let mut doc = doc.clone();
    doc["entry"] = json!(entry);
    Change::Write(doc, Some(pending))
}

/// A closed window's counts on their way to the shared digest: one file in
/// `state_dir/cooldown/handover/`, claimed by one worker at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Handover {
    pub key: String,
    pub label: String,
    pub tally: Tally,
    /// When the window closed.
    pub closed_ms: i64,
    /// Added to the shared window: then it is taken from `GRACE` after the close.
    #[serde(default)]
    pub added: bool,
    /// Names this handover's addition and take on the shared window.
    #[serde(default = "crate::util::random_token")]
    pub token: String,
    /// An addition got no answer: it may have landed, so it is only ever tried again.
    #[serde(default)]
    pub unanswered: bool,
}

/// Where handed-over counts wait.
pub(crate) fn handover_dir(settings: &Settings) -> PathBuf {
    settings.state().cooldown().join("handover")
}

/// Keeps a closed window's counts for the shared digest (durably: the window is forgotten once
/// this returns).
pub(crate) fn hand_over(dir: &Path, label: &str, key: &str, tally: &Tally) -> std::io::Result<()> {
    let h = Handover {
        key: key.to_string(),
        label: label.to_string(),
        tally: tally.clone(),
        closed_ms: now_ms(),
        added: false,
        token: crate::util::random_token(),
        unanswered: false,
    };
    write(dir, &h, &file_for(dir, &h))
}

fn file_for(dir: &Path, h: &Handover) -> PathBuf {
    dir.join(format!("{}-{}.handover", h.key, h.closed_ms))
}

fn write(dir: &Path, h: &Handover, path: &Path) -> std::io::Result<()> {
    fsutil::create_private_dir(dir)?;
    let data = serde_json::to_vec(h).map_err(std::io::Error::other)?;
    fsutil::write_atomic(path, &data)
}

/// When the next handed-over tally needs the worker (now, for one not yet added).
pub(crate) fn next_due_ms(dir: &Path) -> Option<i64> {
    claim::list_ext(dir, "handover")
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .filter_map(|b| serde_json::from_slice::<Handover>(&b).ok())
        .map(|h| due_ms(&h))
        .min()
}

fn due_ms(h: &Handover) -> i64 {
    if h.added {
        h.closed_ms.saturating_add(GRACE.as_millis() as i64)
    } else {
        h.closed_ms
    }
}

/// Moves the handed-over tallies on: each is added to its shared window, then, after
/// [`GRACE`], the window's tally is taken and `push` gets it (label, tally) for the digest. On
/// any failure of the indexer, `push` gets this node's own tally instead.
pub(crate) async fn settle(
    shared: &Shared,
    dir: &Path,
    mut push: impl FnMut(&str, &Tally) -> std::io::Result<()>,
) {
    for path in claim::list_ext(dir, "handover") {
        let claimed = match claim::claim::<Handover>(&path) {
            Claim::Got(c) => c,
            Claim::Busy => continue,
            Claim::Bad(why) => {
                tracing::error!("handed-over cooldown counts unreadable, set aside: {why}");
                continue;
            }
        };
        let h = claimed.value.clone();
        let now = now_ms();
        if now < due_ms(&h) {
            continue;
        }
        let step = if h.added {
            tokio::time::timeout(SHARED_LIMIT, take_counts(shared, &h.key, &h.token))
                .await
                .map(|r| r.map(Some))
        } else {
            let add = add_counts(shared, &h.key, &h.token, &h.tally, now);
            tokio::time::timeout(SHARED_LIMIT, add)
                .await
                .map(|r| r.map(|()| None))
        };
        let step = step.unwrap_or_else(|_| Err(cluster::no_answer()));
        let result = match step {
            Ok(None) => {
                cluster::note(true, "");
                // Added: taken after the grace by whichever node comes first.
                let mut next = h.clone();
                next.added = true;
                write(dir, &next, &path)
            }
            Ok(Some(taken)) => {
                cluster::note(true, "");
                match taken {
                    Some(tally) => push(&h.label, &tally).and_then(|()| claimed.done()),
                    None => {
                        tracing::debug!(
                            "digest for {}: another node took the counts and sends it",
                            h.label
                        );
                        claimed.done()
                    }
                }
            }
            Err(why) => {
                cluster::note(false, &why);
                // An addition that got no answer may have landed: it is tried again (its token
                // keeps it from counting twice) rather than sent as this node's own at once.
                let unsure = h.added || h.unanswered || cluster::is_no_answer(&why);
                if unsure && !h.unanswered && !h.added {
                    // Remembered, so that a later pass (the indexer paused) does not take it
                    // for an addition that surely did not land.
                    let mut next = h.clone();
                    next.unanswered = true;
                    if let Err(e) = write(dir, &next, &path) {
                        tracing::error!("cannot keep the cooldown counts of {}: {e}", h.label);
                    }
                }
                if !unsure || now > due_ms(&h).saturating_add(GIVE_UP.as_millis() as i64) {
                    if unsure {
                        tracing::warn!(
                            "digest for {}: the shared counts could not be taken for {} s; \
                             sending this node's own",
                            h.label,
                            GIVE_UP.as_secs()
                        );
                    }
                    push(&h.label, &h.tally).and_then(|()| claimed.done())
                } else {
                    // Retried on the next pass.
                    Ok(())
                }
            }
        };
        if let Err(e) = result {
            tracing::error!("cannot move the cooldown counts of {} on: {e}", h.label);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(ip: &str, level: u32, groups: &[&str]) -> Alert {
        Alert::new(json!({"timestamp": "2026-11-30T03:00:00Z",
            "rule": {"id": "5710", "level": level, "description": "sshd", "groups": groups},
            "agent": {"name": "web-01"}, "data": {"srcip": ip}}))
    }

    fn write_of(c: Change<Verdict>) -> (Option<Value>, Verdict) {
        match c {
            Change::Write(v, verdict) => (Some(v), verdict),
            Change::Keep(verdict) => (None, verdict),
        }
    }

    #[test]
    fn the_first_node_reports_and_the_others_count_until_the_window_closes() {
        let a = alert("203.0.113.5", 5, &["sshd"]);
        let (doc, v) = write_of(decide(None, &a, 1_000, 60_000));
        assert_eq!(v, Verdict::Report);
        let doc = doc.expect("a new window is written");
        assert_eq!(doc["closes_ms"], 61_000);
        assert_eq!(doc["expires_at"], 61_000 + KEEP_MS);
        // Inside the window: counted, nothing written.
        let (written, v) = write_of(decide(Some(&doc), &a, 60_999, 60_000));
        assert_eq!(v, Verdict::Counted { closes_ms: 61_000 });
        assert!(written.is_none());
        // At the close: a new window.
        let (written, v) = write_of(decide(Some(&doc), &a, 61_000, 60_000));
        assert_eq!(v, Verdict::Report);
        assert_eq!(written.expect("new window")["closes_ms"], 121_000);
    }

    #[test]
    fn a_higher_level_or_a_success_after_failures_breaks_through() {
        let fail = alert("203.0.113.5", 5, &["authentication_failed"]);
        let (doc, _) = write_of(decide(None, &fail, 0, 60_000));
        let doc = doc.expect("window");
        let (raised, v) = write_of(decide(
            Some(&doc),
            &alert("203.0.113.5", 10, &[]),
            5,
            60_000,
        ));
        assert_eq!(v, Verdict::Report);
        let raised = raised.expect("level kept");
        assert_eq!(raised["level"], 10);
        assert_eq!(raised["closes_ms"], 60_000, "the window is not moved");
        let (_, v) = write_of(decide(
            Some(&raised),
            &alert("203.0.113.5", 10, &[]),
            6,
            60_000,
        ));
        assert_eq!(v, Verdict::Counted { closes_ms: 60_000 });
        let success = alert("203.0.113.5", 3, &["authentication_success"]);
        let (_, v) = write_of(decide(Some(&raised), &success, 7, 60_000));
        assert_eq!(v, Verdict::Report);
        // Without failures first, a success is counted.
        let (quiet, _) = write_of(decide(None, &alert("203.0.113.6", 5, &[]), 0, 60_000));
        let (_, v) = write_of(decide(quiet.as_ref(), &success, 7, 60_000));
        assert_eq!(v, Verdict::Counted { closes_ms: 60_000 });
        // A failure counted on another node is remembered for that rule.
        let (marked, v) = write_of(decide(quiet.as_ref(), &fail, 8, 60_000));
        assert_eq!(v, Verdict::Counted { closes_ms: 60_000 });
        assert_eq!(marked.expect("failure kept")["saw_failure"], true);
    }

    #[test]
    fn counts_nobody_took_survive_a_new_window() {
        let a = alert("203.0.113.5", 5, &[]);
        let mut t = Tally::default();
        t.add(&a);
        t.add(&a);
        let old = json!({"kind": "cooldown", "opened_ms": 0, "closes_ms": 10, "level": 5,
            "saw_failure": false, "entry": {"pending": t}});
        let (doc, v) = write_of(decide(Some(&old), &a, 20, 60_000));
        assert_eq!(v, Verdict::Report);
        assert_eq!(doc.expect("new window")["entry"]["pending"]["count"], 2);
    }

    /// An addition or a take asked again (its answer was lost, or the node crashed before it
    /// recorded it) changes nothing the second time: nothing counted twice, nothing lost.
    #[test]
    fn additions_and_takes_count_once_however_often_they_are_asked() {
        let a = alert("203.0.113.5", 5, &[]);
        let mut three = Tally::default();
        for _ in 0..3 {
            three.add(&a);
        }
        let (doc, _) = write_of(decide(None, &a, 0, 60_000));
        let add = |doc: Option<&Value>, token: &str| match add_change(doc, token, &three, 10) {
            Change::Write(v, ()) => Some(v),
            Change::Keep(()) => None,
        };
        let once = add(doc.as_ref(), "node-a").expect("added");
        assert!(
            add(Some(&once), "node-a").is_none(),
            "the same addition again"
        );
        let both = add(Some(&once), "node-b").expect("another node's");
        assert_eq!(both["entry"]["pending"]["count"], 6);
        let take = |doc: &Value, token: &str| match take_change(Some(doc), token) {
            Change::Write(v, t) => (Some(v), t),
            Change::Keep(t) => (None, t),
        };
        let (taken, tally) = take(&both, "take-a");
        let taken = taken.expect("taken");
        assert_eq!(tally.map(|t| t.count), Some(6));
        // The same take again: the same counts, nothing written.
        let (again, tally) = take(&taken, "take-a");
        assert!(again.is_none());
        assert_eq!(tally.map(|t| t.count), Some(6));
        // Another node's take finds nothing.
        let (_, tally) = take(&taken, "take-b");
        assert_eq!(tally, None);
        // A new window keeps what the nodes remember.
        let (renewed, _) = write_of(decide(Some(&taken), &a, 70_000, 60_000));
        let renewed = renewed.expect("new window");
        assert!(add(Some(&renewed), "node-b").is_none());
        assert_eq!(take(&renewed, "take-a").1.map(|t| t.count), Some(6));
    }

    #[test]
    fn a_success_after_failures_keeps_the_windows_highest_level() {
        let (doc, _) = write_of(decide(
            None,
            &alert("203.0.113.5", 10, &["authentication_failed"]),
            0,
            60_000,
        ));
        let success = alert("203.0.113.5", 3, &["authentication_success"]);
        let (after, v) = write_of(decide(doc.as_ref(), &success, 5, 60_000));
        assert_eq!(v, Verdict::Report);
        assert_eq!(after.as_ref().expect("written")["level"], 10);
        let (_, v) = write_of(decide(
            after.as_ref(),
            &alert("203.0.113.5", 5, &[]),
            6,
            60_000,
        ));
        assert_eq!(v, Verdict::Counted { closes_ms: 60_000 });
    }

    #[test]
    fn tallies_merge_without_losing_a_count() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for _ in 0..15 {
            a.add(&alert("203.0.113.5", 5, &[]));
        }
        let other = Alert::new(json!({"timestamp": "2026-11-30T02:00:00Z",
            "rule": {"id": "5712", "level": 7, "description": "sshd"},
            "agent": {"name": "db-01"}, "data": {"srcip": "203.0.113.5"}}));
        for _ in 0..10 {
            b.add(&other);
        }
        a.merge(&b);
        assert_eq!(a.count, 25);
        assert_eq!(a.rules["5710"].count, 15);
        assert_eq!(a.rules["5712"].count, 10);
        assert_eq!(a.max_level, 7);
        assert_eq!(a.first, "2026-11-30T02:00:00Z");
        assert_eq!(a.last, "2026-11-30T03:00:00Z");
        assert_eq!(a.agents, vec!["web-01".to_string(), "db-01".to_string()]);
        assert_eq!(a.listed.len(), cooldown::MAX_LISTED);
        a.merge(&Tally::default());
        assert_eq!(a.count, 25);
    }
}
