//! Files that one process at a time may work on: a spooled job or an outbox entry is claimed with
//! an exclusive `flock` on its file and removed when the work is done. If the holder dies, the
//! kernel drops the lock and the next process takes the file over.

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::util::fsutil;

/// The files with extension `ext` in `dir`, by name (oldest first for our names).
pub(crate) fn list_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
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
pub(crate) struct Claimed<T> {
    pub path: PathBuf,
    pub value: T,
    _lock: File,
}

pub(crate) enum Claim<T> {
    Got(Box<Claimed<T>>),
    /// Another worker holds it, or it is already done.
    Busy,
    /// The file is unreadable or not a job; it has been moved aside to `*.bad`.
    Bad(String),
}

/// Tries to take the job (or outbox entry) at `path`.
pub(crate) fn claim<T: serde::de::DeserializeOwned>(path: &Path) -> Claim<T> {
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
    pub(crate) fn done(self) -> std::io::Result<()> {
        fs::remove_file(&self.path)
    }
}
