//! Host-wide limits shared by every process: at most `ollama.max_concurrent` LLM calls and as many
//! workers at a time. A slot is an exclusive `flock` on one of N files under `state_dir/slots/`;
//! the kernel releases it when the holder exits, however it exits, so no slot is ever leaked.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::util::fsutil;

/// A held slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct Slot {
    _file: File,
    pub index: u32,
}

fn open(dir: &Path, kind: &str, i: u32) -> std::io::Result<File> {
    let path = dir.join(format!("{kind}-{i}.lock"));
    fsutil::refuse_symlink(&path)?;
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(fsutil::FILE_MODE)
        // A symlink swapped in after the check above is refused by the kernel itself.
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Takes a free slot of `kind` among `n`, without waiting.
pub(crate) fn try_acquire(dir: &Path, kind: &str, n: u32) -> std::io::Result<Option<Slot>> {
    fsutil::create_private_dir(dir)?;
    for i in 0..n.max(1) {
        let file = open(dir, kind, i)?;
        if file.try_lock().is_ok() {
            return Ok(Some(Slot {
                _file: file,
                index: i,
            }));
        }
    }
    Ok(None)
}

/// Waits for a free slot until `deadline`, polling every 100 ms.
pub(crate) async fn acquire(
    dir: &Path,
    kind: &str,
    n: u32,
    deadline: Instant,
) -> std::io::Result<Option<Slot>> {
    loop {
        if let Some(slot) = try_acquire(dir, kind, n)? {
            return Ok(Some(slot));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many of the `n` slots are held right now (by any process).
pub(crate) fn busy(dir: &Path, kind: &str, n: u32) -> u32 {
    (0..n.max(1))
        .filter(|i| match open(dir, kind, *i) {
            Ok(f) => f.try_lock().is_err(),
            Err(_) => false,
        })
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_exclusive_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let a = try_acquire(dir.path(), "llm", 2).unwrap().expect("first");
        let b = try_acquire(dir.path(), "llm", 2).unwrap().expect("second");
        assert_ne!(a.index, b.index);
        assert!(try_acquire(dir.path(), "llm", 2).unwrap().is_none());
        assert_eq!(busy(dir.path(), "llm", 2), 2);
        drop(a);
        assert_eq!(busy(dir.path(), "llm", 2), 1);
        assert!(try_acquire(dir.path(), "llm", 2).unwrap().is_some());
    }

    #[tokio::test]
    async fn acquire_gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let _held = try_acquire(dir.path(), "llm", 1).unwrap().unwrap();
        let start = Instant::now();
        let got = acquire(dir.path(), "llm", 1, start + Duration::from_millis(250))
            .await
            .unwrap();
        assert!(got.is_none());
        assert!(start.elapsed() >= Duration::from_millis(250));
    }
}
