//! The spool: jobs handed from the short-lived intake process to the detached worker.
//!
//! A job is written durably (temporary file, fsync, rename) before intake exits, so a crash of
//! anything afterwards loses nothing. A worker claims a job with an exclusive `flock` on its file
//! and removes it when the report is out; if the worker dies, the kernel drops the lock and the
//! next worker takes the job over.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::gate::cooldown::Tally;
use crate::util::fsutil;

/// Who started the run that spooled the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Execd,
    Integratord,
    Hand,
}

/// ntfy target for this job only (integratord's hook_url and api_key).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NtfyOverride {
    pub url: String,
    pub topic: String,
    /// Kept in the 0640 spool file only as long as the job lives.
    pub token: Option<String>,
}

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
        }
    }

    /// How long the job has waited, in seconds.
    pub fn age_secs(&self) -> u64 {
        (now_ms().saturating_sub(self.received_ms) / 1000).max(0) as u64
    }
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Writes a job into `dir`; the name sorts by arrival time.
pub fn put(dir: &Path, job: &Job) -> std::io::Result<PathBuf> {
    fsutil::create_private_dir(dir)?;
    let name = format!(
        "{:016}-{:08}-{}.job",
        job.received_ms.max(0),
        std::process::id(),
        fsutil::unique_suffix()
    );
    let path = dir.join(name);
    let data = serde_json::to_vec(job).map_err(std::io::Error::other)?;
    fsutil::write_atomic(&path, &data)?;
    Ok(path)
}

/// The job files in `dir`, oldest first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    list_ext(dir, "job")
}

/// The files with extension `ext` in `dir`, by name (oldest first for our names).
pub fn list_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut jobs: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    jobs.sort();
    jobs
}

/// A file (job or outbox entry) this process holds the lock on.
pub struct Claimed<T> {
    pub path: PathBuf,
    pub value: T,
    _lock: File,
}

pub enum Claim<T> {
    Got(Box<Claimed<T>>),
    /// Another worker holds it, or it is already done.
    Busy,
    /// The file is unreadable or not a job; it has been moved aside to `*.bad`.
    Bad(String),
}

/// Tries to take the job (or outbox entry) at `path`.
pub fn claim<T: serde::de::DeserializeOwned>(path: &Path) -> Claim<T> {
    if fsutil::refuse_symlink(path).is_err() {
        return Claim::Bad(format!("{} is a symlink", path.display()));
    }
    let Ok(file) = File::open(path) else {
        return Claim::Busy;
    };
    if file.try_lock().is_err() {
        return Claim::Busy;
    }
    // The previous holder may have finished and unlinked it between our open and our lock.
    let same = match (fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
        _ => false,
    };
    if !same {
        return Claim::Busy;
    }
    match fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()))
    {
        Ok(value) => Claim::Got(Box::new(Claimed {
            path: path.to_path_buf(),
            value,
            _lock: file,
        })),
        Err(e) => {
            let _ = fs::rename(path, path.with_extension("bad"));
            Claim::Bad(format!("{}: {e}", path.display()))
        }
    }
}

impl<T> Claimed<T> {
    /// The work is done (the report is out, or safely in the outbox): remove the file.
    pub fn done(self) -> std::io::Result<()> {
        fs::remove_file(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
