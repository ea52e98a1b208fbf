//! The spool: jobs handed from the short-lived intake process to the detached worker.
//!
//! A job is written durably (temporary file, fsync, rename) before intake exits, so a crash of
//! anything afterwards loses nothing. A worker claims a job with an exclusive `flock` on its file
//! and removes it when the report is out; if the worker dies, the kernel drops the lock and the
//! next worker takes the job over.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::deliver::ntfy::NtfyOverride;
use crate::gate::cooldown::Tally;
use crate::util::{claim, fsutil, now_ms};

pub use crate::intake::Origin;

/// One unit of work.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Job {
    pub version: u32,
    /// Unix time in milliseconds when intake received the alert.
    pub received_ms: i64,
    pub origin: Origin,
    pub alert: serde_json::Value,
    /// Alerts for the same address counted since its last report, to mention in this one.
    #[serde(default)]
    pub earlier: Option<Tally>,
    #[serde(default)]
    pub ntfy: Option<NtfyOverride>,
    /// Intake could not apply the cooldown (its lock was busy while execd waited): the worker
    /// applies it before analysing.
    #[serde(default)]
    pub ungated: bool,
}

impl Job {
    pub fn new(origin: Origin, alert: serde_json::Value) -> Job {
        Job {
            version: 1,
            received_ms: now_ms(),
            origin,
            alert,
            earlier: None,
            ntfy: None,
            ungated: false,
        }
    }

    /// How long the job has waited, in seconds.
    pub fn age_secs(&self) -> u64 {
        (now_ms().saturating_sub(self.received_ms) / 1000).max(0) as u64
    }
}

/// Writes a job into `dir`; the name holds its arrival time and its rule level (`-l15`).
pub fn put(dir: &Path, job: &Job) -> std::io::Result<PathBuf> {
    fsutil::create_private_dir(dir)?;
    let level = crate::intake::alert::Alert::new(job.alert.clone()).rule_level();
    let name = format!(
        "{:016}-{:08}-{}-l{:02}.job",
        job.received_ms.max(0),
        std::process::id(),
        fsutil::unique_suffix(),
        level.min(99)
    );
    let path = dir.join(name);
    let data = serde_json::to_vec(job).map_err(std::io::Error::other)?;
    fsutil::write_atomic(&path, &data)?;
    Ok(path)
}

/// The job files in `dir` in the order the worker takes them: highest rule level first, then
/// oldest.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut jobs: Vec<(std::cmp::Reverse<u32>, PathBuf)> = claim::list_ext(dir, "job")
        .into_iter()
        .map(|p| (std::cmp::Reverse(level_of(&p)), p))
        .collect();
    // Stable: within a level, the names' order (arrival time) stays.
    jobs.sort_by_key(|j| j.0);
    jobs.into_iter().map(|(_, p)| p).collect()
}

/// The rule level in a job's name (`...-l15.job`); 0 for a name without one.
fn level_of(path: &Path) -> u32 {
    path.file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.rsplit_once("-l"))
        .and_then(|(_, level)| level.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::claim::{claim, Claim};
    use std::fs;

    #[test]
    fn put_list_claim_done() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        let a = put(&spool, &Job::new(Origin::Execd, serde_json::json!({"n":1}))).unwrap();
        let b = put(&spool, &Job::new(Origin::Execd, serde_json::json!({"n":2}))).unwrap();
        assert_eq!(list(&spool), vec![a.clone(), b.clone()]);
        let Claim::Got(first) = claim::<Job>(&a) else {
            panic!("claim failed")
        };
        assert_eq!(first.value.alert["n"], 1);
        // A second claimer (another open file description) is refused while we hold it.
        assert!(matches!(claim::<Job>(&a), Claim::Busy));
        first.done().unwrap();
        assert_eq!(list(&spool), vec![b]);
        assert!(matches!(claim::<Job>(&a), Claim::Busy));
    }

    #[test]
    fn the_highest_level_goes_first_then_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let job = |level: u32, ms: i64| {
            let mut j = Job::new(Origin::Execd, serde_json::json!({"rule": {"level": level}}));
            j.received_ms = ms;
            put(dir.path(), &j).unwrap()
        };
        let low_old = job(5, 1_000);
        let low_new = job(5, 2_000);
        let high_new = job(15, 3_000);
        let mid = job(10, 2_500);
        let high_newer = job(15, 4_000);
        assert_eq!(
            list(dir.path()),
            vec![high_new, high_newer, mid, low_old, low_new]
        );
        assert_eq!(level_of(Path::new("0001-00000001-7-l07.job")), 7);
        assert_eq!(level_of(Path::new("0001-00000001-7.job")), 0, "an old name");
    }

    #[test]
    fn a_dropped_claim_can_be_taken_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = put(dir.path(), &Job::new(Origin::Hand, serde_json::json!({}))).unwrap();
        let Claim::Got(c) = claim::<Job>(&path) else {
            panic!()
        };
        drop(c); // a crashed worker
        assert!(matches!(claim::<Job>(&path), Claim::Got(_)));
    }

    #[test]
    fn corrupt_jobs_are_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0001.job");
        fs::write(&path, b"{half").unwrap();
        assert!(matches!(claim::<Job>(&path), Claim::Bad(_)));
        assert!(list(dir.path()).is_empty());
        assert!(dir.path().join("0001.bad").exists());
    }
}
