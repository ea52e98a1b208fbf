//! The archive: every full report, its alert and its evidence, kept under
//! `state_dir/reports/` for the admin (and for the push's Click link).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::analyze::report::{self, Archived, Report};
use crate::config::Settings;
use crate::intake::alert::Alert;
use crate::investigate::Evidence;

/// Saves the full report; says in the log where, or why not.
pub(super) fn archive(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    full: &str,
    pdf: Option<&[u8]>,
    settings: &Settings,
) -> Option<PathBuf> {
    let dir = settings.state().reports();
    let now = chrono::Local::now();
    let stem = format!("{}-{}", now.format("%Y%m%dT%H%M%S%.3f"), alert.slug());
    let archived = Archived {
        report,
        alert: alert.json(),
        evidence,
        created: now.to_rfc3339(),
        full,
    };
    match report::archive(&dir, &stem, &archived) {
        Ok(path) => {
            tracing::info!("report saved to {}", path.display());
            if let Some(pdf) = pdf {
                // Beside the Markdown, as `<stem>.pdf`; pruned with it.
                let pdf_path = path.with_extension("pdf");
                if let Err(e) = crate::util::fsutil::write_atomic(&pdf_path, pdf) {
                    tracing::warn!("PDF not saved to {}: {e}", pdf_path.display());
                }
            }
            Some(path)
        }
        Err(e) => {
            tracing::warn!("report not saved: {e:#}");
            None
        }
    }
}

/// Removes saved reports older than `max_age` (when set), then the oldest while all of them
/// take more than `max_bytes` (when set). Only regular files directly in `dir`; never a link.
/// Returns how many files went.
pub fn prune(dir: &Path, max_age: Option<Duration>, max_bytes: Option<u64>) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut files: Vec<(SystemTime, u64, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let meta = std::fs::symlink_metadata(e.path()).ok()?;
            meta.is_file()
                .then(|| (meta.modified().unwrap_or(now), meta.len(), e.path()))
        })
        .collect();
    // Oldest first; a name starts with its time, which breaks ties.
    files.sort();
    let mut total: u64 = files.iter().map(|f| f.1).sum();
    let mut removed = 0;
    for (modified, len, path) in files {
        let too_old = max_age.is_some_and(|age| {
            now.duration_since(modified)
                .is_ok_and(|elapsed| elapsed > age)
        });
        let too_big = max_bytes.is_some_and(|cap| total > cap);
        if !(too_old || too_big) {
            // Sorted oldest first: nothing younger is too old, and the total fits.
            break;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                total = total.saturating_sub(len);
                removed += 1;
            }
            Err(e) => tracing::warn!("cannot remove old report {}: {e}", path.display()),
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn aged(dir: &Path, name: &str, bytes: usize, days_old: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![b'x'; bytes]).unwrap();
        let when = SystemTime::now() - Duration::from_secs(days_old * 86_400);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
        path
    }

    #[test]
    fn old_reports_go_first_then_the_oldest_until_the_total_fits() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ancient = aged(d, "a.md", 100, 100);
        let old = aged(d, "b.md", 100, 10);
        let mid = aged(d, "c.md", 100, 5);
        let new = aged(d, "d.md", 100, 0);
        let other = tempfile::tempdir().unwrap();
        let elsewhere = other.path().join("outside");
        std::fs::write(&elsewhere, b"keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, d.join("0-link.md")).unwrap();
        let month = Some(Duration::from_secs(30 * 86_400));
        // Nothing to do without limits, or within them.
        assert_eq!(prune(d, None, None), 0);
        assert_eq!(prune(d, None, Some(400)), 0);
        assert_eq!(prune(d, month, None), 1, "only the 100-day-old one");
        assert!(!ancient.exists() && old.exists());
        // 300 bytes left; a cap of 150 removes the two oldest.
        assert_eq!(prune(d, month, Some(150)), 2);
        assert!(!old.exists() && !mid.exists() && new.exists());
        assert_eq!(prune(d, month, Some(100)), 0, "exactly at the cap stays");
        assert!(elsewhere.exists(), "a link is never followed nor removed");
        assert!(d.join("0-link.md").symlink_metadata().is_ok());
    }
}
