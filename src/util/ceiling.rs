//! Host-wide ceilings: at most N events in any minute, across every process on the host. Each
//! ceiling is one small file under `state_dir/limits/` holding the times of the events of the
//! last minute, read and written under an exclusive `flock` on the file itself.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::util::fsutil;

/// The window a ceiling counts over.
pub(crate) const WINDOW_MS: i64 = 60_000;

/// At most `per_minute` events in any 60 s; zero means no ceiling.
#[derive(Debug, Clone)]
pub(crate) struct Ceiling {
    path: PathBuf,
    per_minute: u32,
}

impl Ceiling {
    /// The ceiling called `name` (a file name) in `dir`.
    pub(crate) fn new(dir: &Path, name: &str, per_minute: u32) -> Ceiling {
        Ceiling {
            path: dir.join(format!("{name}.json")),
            per_minute,
        }
    }

    pub(crate) fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes one event at `now_ms`: true when it fits under the ceiling (and is counted), false
    /// when the last minute already holds `per_minute` events.
    pub(crate) fn take(&self, now_ms: i64) -> std::io::Result<bool> {
        if self.per_minute == 0 {
            return Ok(true);
        }
        let mut file = open_locked(&self.path)?;
        let mut text = String::new();
        // A damaged file counts as an empty minute: the ceiling is a guard, not a ledger.
        let _ = file.read_to_string(&mut text);
        let mut times: Vec<i64> = serde_json::from_str(&text).unwrap_or_default();
        times.retain(|t| *t > now_ms - WINDOW_MS && *t <= now_ms);
        let fits = times.len() < self.per_minute as usize;
        if fits {
            times.push(now_ms);
        }
        let data = serde_json::to_vec(&times).map_err(std::io::Error::other)?;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(&data)?;
        Ok(fits)
    }
}

/// At most `per_day` events in one UTC day; zero means no limit. One small file, under flock.
#[derive(Debug, Clone)]
pub(crate) struct Daily {
    path: PathBuf,
    per_day: u32,
}

/// What a [`Daily`] file holds: the UTC day (days since the epoch) and its count.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct DayCount {
    day: i64,
    count: u32,
}

const DAY_MS: i64 = 86_400_000;

impl Daily {
    pub(crate) fn new(dir: &Path, name: &str, per_day: u32) -> Daily {
        Daily {
            path: dir.join(format!("{name}.json")),
            per_day,
        }
    }

    /// Takes one event at `now_ms`: true when today's count was under the budget (and is now
    /// one higher).
    pub(crate) fn take(&self, now_ms: i64) -> std::io::Result<bool> {
        if self.per_day == 0 {
            return Ok(true);
        }
        self.update(now_ms, |c| {
            let fits = c.count < self.per_day;
            if fits {
                c.count += 1;
            }
            fits
        })
    }

    /// How many are left today; `None` without a limit.
    pub(crate) fn left(&self, now_ms: i64) -> Option<u32> {
        if self.per_day == 0 {
            return None;
        }
        let used = self.update(now_ms, |c| c.count).unwrap_or(0);
        Some(self.per_day.saturating_sub(used))
    }

    fn update<T>(&self, now_ms: i64, f: impl FnOnce(&mut DayCount) -> T) -> std::io::Result<T> {
        let mut file = open_locked(&self.path)?;
        let mut text = String::new();
        let _ = file.read_to_string(&mut text);
        let today = now_ms.div_euclid(DAY_MS);
        let mut count: DayCount = serde_json::from_str(&text).unwrap_or_default();
        if count.day != today {
            count = DayCount {
                day: today,
                count: 0,
            };
        }
        let out = f(&mut count);
        let data = serde_json::to_vec(&count).map_err(std::io::Error::other)?;
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(&data)?;
        Ok(out)
    }
}

/// Opens `path` (made if missing, never through a symlink) and takes its exclusive lock.
fn open_locked(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir)?;
    }
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(fsutil::FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.lock()?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_in_any_minute() {
        let dir = tempfile::tempdir().unwrap();
        let c = Ceiling::new(dir.path(), "analyses", 3);
        let t0 = 1_000_000;
        assert!(c.take(t0).unwrap());
        assert!(c.take(t0 + 1).unwrap());
        assert!(c.take(t0 + 2).unwrap());
        assert!(!c.take(t0 + 3).unwrap(), "the fourth in the same minute");
        assert!(
            !c.take(t0 + WINDOW_MS - 1).unwrap(),
            "still inside the minute"
        );
        // The first event leaves the window exactly 60 s after it.
        assert!(c.take(t0 + WINDOW_MS).unwrap());
        assert!(!c.take(t0 + WINDOW_MS).unwrap());
        assert!(c.take(t0 + WINDOW_MS + 2).unwrap());
    }

    #[test]
    fn refused_events_are_not_counted_and_zero_is_no_ceiling() {
        let dir = tempfile::tempdir().unwrap();
        let c = Ceiling::new(dir.path(), "x", 1);
        assert!(c.take(10).unwrap());
        for t in 11..100 {
            assert!(!c.take(t).unwrap());
        }
        assert!(
            c.take(10 + WINDOW_MS).unwrap(),
            "refusals did not extend the window"
        );
        let open = Ceiling::new(dir.path(), "y", 0);
        for t in 0..1000 {
            assert!(open.take(t).unwrap());
        }
        assert!(
            !dir.path().join("y.json").exists(),
            "no file without a ceiling"
        );
    }

    #[test]
    fn shared_by_every_holder_of_the_file_and_damage_is_forgiven() {
        let dir = tempfile::tempdir().unwrap();
        let a = Ceiling::new(dir.path(), "lookups", 2);
        let b = Ceiling::new(dir.path(), "lookups", 2);
        assert!(a.take(5).unwrap());
        assert!(b.take(6).unwrap());
        assert!(!a.take(7).unwrap());
        std::fs::write(dir.path().join("lookups.json"), b"[half").unwrap();
        assert!(b.take(8).unwrap());
        assert_eq!(b.per_minute(), 2);
    }

    #[test]
    fn a_daily_budget_holds_for_the_utc_day_then_starts_again() {
        let dir = tempfile::tempdir().unwrap();
        let day = Daily::new(dir.path(), "abuseipdb-day", 3);
        let noon = 20_000 * DAY_MS + DAY_MS / 2;
        assert_eq!(day.left(noon), Some(3));
        for _ in 0..3 {
            assert!(day.take(noon).unwrap());
        }
        assert!(!day.take(noon).unwrap(), "the fourth today");
        assert!(
            !day.take(noon + DAY_MS / 2 - 1).unwrap(),
            "until midnight UTC"
        );
        assert_eq!(day.left(noon), Some(0));
        assert!(day.take(noon + DAY_MS / 2).unwrap(), "a new day");
        assert_eq!(day.left(noon + DAY_MS / 2), Some(2));
        let open = Daily::new(dir.path(), "rdap-day", 0);
        assert!(open.take(noon).unwrap());
        assert_eq!(open.left(noon), None);
    }

    #[test]
    fn a_symlink_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, dir.path().join("z.json")).unwrap();
        assert!(Ceiling::new(dir.path(), "z", 5).take(1).is_err());
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    }
}
