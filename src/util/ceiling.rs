//! Host-wide ceilings and budgets: at most N events in any minute, or in one UTC day, across
//! every process on the host. Each counter is one document under `state_dir/limits/` (see
//! [`crate::util::store`]), read and changed under its own lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::store::{self, Documents, Local};

/// How long a counter's lock is waited for (its holders read and write one small file).
const WAIT: Duration = Duration::from_secs(2);

/// The documents of the counter `name` in `dir`.
fn documents(dir: &Path, name: &str) -> Local {
    Local::new(dir.to_path_buf(), &format!("{name}.lock"), "budget", WAIT)
}

/// The window a ceiling counts over.
pub(crate) const WINDOW_MS: i64 = 60_000;

/// At most `per_minute` events in any 60 s; zero means no ceiling.
#[derive(Debug, Clone)]
pub(crate) struct Ceiling {
    dir: PathBuf,
    name: String,
    per_minute: u32,
}

impl Ceiling {
    /// The ceiling called `name` (a file name) in `dir`.
    pub(crate) fn new(dir: &Path, name: &str, per_minute: u32) -> Ceiling {
        Ceiling {
            dir: dir.to_path_buf(),
            name: name.to_string(),
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
        let docs = documents(&self.dir, &self.name);
        let _lock = docs.lock()?;
        // A damaged document counts as an empty minute: the ceiling is a guard, not a ledger.
        let mut times: Vec<i64> = store::load(&docs, &self.name).unwrap_or_default();
        times.retain(|t| *t > now_ms - WINDOW_MS && *t <= now_ms);
        let fits = times.len() < self.per_minute as usize;
        if fits {
            times.push(now_ms);
        }
        store::save(&docs, &self.name, &times)?;
        Ok(fits)
    }
}

/// At most `per_day` events in one UTC day; zero means no limit. One small file, under flock.
#[derive(Debug, Clone)]
pub(crate) struct Daily {
    dir: PathBuf,
    name: String,
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
            dir: dir.to_path_buf(),
            name: name.to_string(),
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
        let docs = documents(&self.dir, &self.name);
        let _lock = docs.lock()?;
        let today = now_ms.div_euclid(DAY_MS);
        let mut count: DayCount = store::load(&docs, &self.name).unwrap_or_default();
        if count.day != today {
            count = DayCount {
                day: today,
                count: 0,
            };
        }
        let out = f(&mut count);
        store::save(&docs, &self.name, &count)?;
        Ok(out)
    }
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
