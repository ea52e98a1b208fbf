//! Where the gate keeps its state: the cooldown windows, the campaigns, what the ceilings held
//! back, the sources' budgets. Each kind is a set of small JSON documents changed under one lock
//! that every process honours. [`Local`] keeps them as files under the state dir; a shared
//! backend for several managers (the Wazuh indexer) implements [`Documents`] as well, and the
//! stores built on it do not change.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::util::fsutil;

/// What is held while the lock is: dropping it lets the next one in.
pub(crate) type Guard = Box<dyn std::any::Any>;

/// A set of documents of one kind, read and changed only under [`Documents::lock`].
pub(crate) trait Documents: Send + Sync {
    /// Takes the lock over every document of this kind, waiting at most as long as the store
    /// was made to wait.
    fn lock(&self) -> io::Result<Guard>;

    /// The document `name`, if there is one.
    fn get(&self, name: &str) -> Option<Vec<u8>>;

    /// Writes the document `name` whole (a reader sees the old one or the new one).
    fn put(&self, name: &str, data: &[u8]) -> io::Result<()>;

    /// Forgets the document `name` (no error when there is none).
    fn remove(&self, name: &str) -> io::Result<()>;

    /// The names of every document of this kind.
    fn names(&self) -> Vec<String>;
}

/// A document, read as `T`; `None` when it is missing or does not parse.
pub(crate) fn load<T: DeserializeOwned>(docs: &dyn Documents, name: &str) -> Option<T> {
    serde_json::from_slice(&docs.get(name)?).ok()
}

/// Writes `value` as the document `name`.
pub(crate) fn save<T: Serialize>(docs: &dyn Documents, name: &str, value: &T) -> io::Result<()> {
    let data = serde_json::to_vec(value).map_err(io::Error::other)?;
    docs.put(name, &data)
}

/// Documents as `<name>.json` files in one directory of the state dir, under an exclusive `flock`
/// on a lock file there; no symlink is ever followed.
pub(crate) struct Local {
    dir: PathBuf,
    lock_file: String,
    /// What the state is called in an error: `cooldown`, `campaign`.
    what: &'static str,
    wait: Duration,
}

impl Local {
    /// The documents in `dir`, locked by `lock_file` there; `what` names them in errors, and the
    /// lock is waited for at most `wait`.
    pub(crate) fn new(dir: PathBuf, lock_file: &str, what: &'static str, wait: Duration) -> Local {
        Local {
            dir,
            lock_file: lock_file.to_string(),
            what,
            wait,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }
}

impl Documents for Local {
    fn lock(&self) -> io::Result<Guard> {
        fsutil::create_private_dir(&self.dir)?;
        let path = self.dir.join(&self.lock_file);
        fsutil::refuse_symlink(&path)?;
        let file: File = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(fsutil::FILE_MODE)
            // A symlink swapped in after the check above is refused by the kernel itself.
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(Box::new(file)),
                Err(fs::TryLockError::WouldBlock) if start.elapsed() < self.wait => {
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(io::Error::other(format!(
                        "the {} state stayed locked for {} ms",
                        self.what,
                        self.wait.as_millis()
                    )))
                }
                Err(fs::TryLockError::Error(e)) => return Err(e),
            }
        }
    }

    fn get(&self, name: &str) -> Option<Vec<u8>> {
        let path = self.path(name);
        fsutil::refuse_symlink(&path).ok()?;
        fs::read(path).ok()
    }

    fn put(&self, name: &str, data: &[u8]) -> io::Result<()> {
        fsutil::create_private_dir(&self.dir)?;
        fsutil::write_atomic(&self.path(name), data)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        match fs::remove_file(self.path(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn names(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_str()?.to_string();
                name.strip_suffix(".json").map(String::from)
            })
            .collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(dir: &std::path::Path, wait_ms: u64) -> Local {
        Local::new(
            dir.to_path_buf(),
            ".lock",
            "test",
            Duration::from_millis(wait_ms),
        )
    }

    #[test]
    fn documents_round_trip_and_are_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let docs = local(&dir.path().join("kind"), 50);
        assert!(docs.names().is_empty(), "no directory yet");
        assert_eq!(load::<u32>(&docs, "a"), None);
        save(&docs, "b", &2u32).unwrap();
        save(&docs, "a", &1u32).unwrap();
        assert_eq!(load::<u32>(&docs, "a"), Some(1));
        assert_eq!(docs.names(), vec!["a", "b"]);
        docs.remove("a").unwrap();
        docs.remove("a").unwrap();
        assert_eq!(docs.names(), vec!["b"]);
        std::fs::write(dir.path().join("kind/c.json"), b"{half").unwrap();
        assert_eq!(load::<u32>(&docs, "c"), None, "a damaged document is none");
    }

    #[test]
    fn the_lock_is_exclusive_and_waits_only_so_long() {
        let dir = tempfile::tempdir().unwrap();
        let docs = local(dir.path(), 30);
        let held = docs.lock().unwrap();
        let other = local(dir.path(), 30);
        let started = Instant::now();
        let Err(err) = other.lock() else {
            panic!("held elsewhere")
        };
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(err.to_string(), "the test state stayed locked for 30 ms");
        drop(held);
        assert!(other.lock().is_ok());
    }

    #[test]
    fn symlinks_are_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"7").unwrap();
        let kind = dir.path().join("kind");
        std::fs::create_dir(&kind).unwrap();
        std::os::unix::fs::symlink(&target, kind.join("x.json")).unwrap();
        std::os::unix::fs::symlink(&target, kind.join(".lock")).unwrap();
        let docs = local(&kind, 10);
        assert_eq!(docs.get("x"), None);
        assert!(docs.put("x", b"8").is_err());
        assert!(docs.lock().is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"7");
    }
}
