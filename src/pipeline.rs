//! The story of one analysis: investigate -> analyze -> deliver. The worker and a run by hand
//! both call [`analyse_and_deliver`]; nothing here calls back up.

use std::time::{Duration, Instant};

use crate::analyze::{
    self,
    report::{self, Report},
};
use crate::config::Settings;
use crate::deliver;
use crate::deliver::ntfy::NtfyOverride;
use crate::gate::cooldown::{self, Tally};
use crate::intake::alert::Alert;

/// Options of one analysis.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunOptions {
    /// Everything up to delivery; send nothing, write nothing.
    pub dry_run: bool,
    /// Alerts for the same address counted since its last report.
    pub earlier: Option<Tally>,
    /// An ntfy target for this run only (integratord's hook_url and api_key).
    pub ntfy: Option<NtfyOverride>,
    /// How long the job waited in the spool; it counts against `general.deadline_secs`.
    pub waited_secs: u64,
    /// Also write the report as a PDF here (`--pdf`).
    pub pdf: Option<std::path::PathBuf>,
}

/// What one analysis produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub report: Report,
    /// Whether the push reached ntfy now (a failed one waits in the outbox).
    pub pushed: bool,
}

/// Investigate, analyse with the LLM (or fall back), then archive and push unless dry-run.
/// Fails only when the report could neither be pushed nor queued in the outbox.
pub(crate) async fn analyse_and_deliver(
    alert: &Alert,
    settings: &Settings,
    options: RunOptions,
) -> anyhow::Result<Outcome> {
    let deadline = Duration::from_secs(
        settings
            .general
            .deadline_secs
            .saturating_sub(options.waited_secs),
    );
    let investigation = Instant::now();
    let evidence = crate::investigate::investigate(alert, &settings.investigation()).await;
    // The job's deadline covers the lookups too.
    let deadline = deadline.saturating_sub(investigation.elapsed());
    let mut report = analyze::analyse(alert, &evidence, settings, deadline, options.dry_run).await;
    if let Some(earlier) = &options.earlier {
        let label = cooldown::label_for(alert);
        report.markdown = report::with_appendix(
            &report.markdown,
            &earlier.section(&label),
            settings.ntfy.max_chars,
        );
    }
    if options.dry_run {
        if let Some(path) = &options.pdf {
            let pdf = render_pdf(alert, &evidence, &report, settings)?;
            save_pdf(&pdf, path)?;
        }
        tracing::info!("dry run: nothing archived or sent");
        return Ok(Outcome {
            report,
            pushed: false,
        });
    }
    let delivered =
        deliver::deliver(alert, &evidence, &report, settings, options.ntfy.as_ref()).await?;
    if let Some(path) = &options.pdf {
        // The PDF delivery made (and archived), not a second rendering.
        let pdf = match delivered.pdf {
            Some(pdf) => pdf,
            None => render_pdf(alert, &evidence, &report, settings)?,
        };
        save_pdf(&pdf, path)?;
    }
    Ok(Outcome {
        report,
        pushed: delivered.pushed,
    })
}

/// The report as a PDF, for `--pdf` on a dry run (nothing else renders it then).
fn render_pdf(
    alert: &Alert,
    evidence: &crate::investigate::Evidence,
    report: &Report,
    settings: &Settings,
) -> anyhow::Result<Vec<u8>> {
    let now = chrono::Utc::now();
    let full = deliver::full_report(alert, evidence, report, settings, now);
    let delivery = deliver::Delivery {
        alert,
        evidence,
        report,
        full: &full,
        archived: None,
        target: None,
        pdf: None,
    };
    Ok(deliver::pdf::render(&delivery, now)?)
}

/// Writes the PDF to the path given on the command line.
fn save_pdf(pdf: &[u8], path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context as _;
    std::fs::write(path, pdf)
        .with_context(|| format!("cannot write the PDF to {}", path.display()))?;
    tracing::info!("PDF written to {}", path.display());
    Ok(())
}
