//! The archive: every full report, its alert and its evidence, kept under
//! `state_dir/reports/` for the admin (and for the push's Click link).

use std::path::PathBuf;

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
            Some(path)
        }
        Err(e) => {
            tracing::warn!("report not saved: {e:#}");
            None
        }
    }
}
