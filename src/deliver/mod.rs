//! Delivery: the push, the mail, the verdict back into Wazuh, and the outbox for what failed.

pub mod email;
pub mod feedback;
pub mod ntfy;
pub mod outbox;

use std::path::PathBuf;

use anyhow::Context as _;

use crate::analyze::report::{self, Archived, Report};
use crate::config::{self, Settings};
use crate::deliver::ntfy::NtfyOverride;
use crate::intake::alert::Alert;
use crate::investigate::Evidence;

/// What delivery did with one report.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Where the full report was saved, when it was.
    pub archived: Option<PathBuf>,
    /// Whether the push reached ntfy now (a failed one waits in the outbox).
    pub pushed: bool,
}

/// Archives the report, pushes it, mails it and writes the verdict back into Wazuh. Fails only
/// when a report could neither be sent nor kept in the outbox.
pub async fn deliver(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    settings: &Settings,
    target: Option<&NtfyOverride>,
) -> anyhow::Result<Delivered> {
    let created = chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let full = report::full(alert, evidence, report, &created);
    let archived = archive(alert, evidence, report, &full, settings);
    let pushed = push(alert, report, settings, archived.as_deref(), target).await?;
    // The phone first; the mail may wait on a slow SMTP server.
    mail(alert, evidence, report, &full, settings).await?;
    if settings.wazuh.feedback {
        feedback::report_back(
            &settings.wazuh.queue_socket,
            alert,
            evidence,
            report,
            archived.as_deref(),
        );
    }
    Ok(Delivered { archived, pushed })
}

fn archive(
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

/// Mails the full report when `[email]` is on and the level reaches `email.min_level`; a failed
/// send goes to the outbox. Errs only when even that fails.
async fn mail(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    full: &str,
    settings: &Settings,
) -> anyhow::Result<()> {
    let cfg = &settings.email;
    if !cfg.enabled || alert.rule_level() < cfg.min_level {
        return Ok(());
    }
    let subject = format!("[Wazuh L{}] {}", alert.rule_level(), report.title);
    let evidence_json = serde_json::to_string_pretty(&serde_json::json!({
        "alert": alert.json(),
        "evidence": evidence,
        "report": report,
    }))
    .unwrap_or_default();
    let outgoing = match email::compose(cfg, &subject, full, &evidence_json) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!("mail not sent: {e}");
            return Ok(());
        }
    };
    let error = match email::send(cfg, &outgoing).await {
        Ok(()) => {
            tracing::info!("full report mailed to {}", outgoing.to.join(", "));
            return Ok(());
        }
        Err(e) => e,
    };
    let dir = settings.state().outbox();
    outbox::store_mail(&dir, &outgoing, &error).with_context(|| {
        format!(
            "mail failed ({error}) and the outbox {} is unusable",
            dir.display()
        )
    })?;
    if error.is_retryable() {
        tracing::warn!("mail failed: {error}; queued in the outbox");
    } else {
        tracing::error!("mail failed: {error}; kept in the outbox and not retried: fix [email]");
    }
    Ok(())
}

/// Pushes the report; a failed push goes to the outbox. Errs only when even that fails.
async fn push(
    alert: &Alert,
    report: &Report,
    settings: &Settings,
    archived: Option<&std::path::Path>,
    target: Option<&NtfyOverride>,
) -> anyhow::Result<bool> {
    let cfg = outbox::ntfy_for(settings, target);
    if cfg.is_placeholder() {
        tracing::warn!(
            "not pushed: ntfy.topic is still the placeholder \"wazuh-alerts\" on the public ntfy.sh, \
             which anyone can read; set a topic of your own (the report is saved)"
        );
        return Ok(false);
    }
    if !cfg.enabled() {
        tracing::debug!("ntfy.url is empty: no push");
        return Ok(false);
    }
    let click = archived
        .and_then(|p| p.file_name())
        .filter(|_| !settings.report.base_url.is_empty())
        .map(|name| config::join_url(&settings.report.base_url, &name.to_string_lossy()));
    let push = ntfy::Push {
        title: report.title.clone(),
        priority: ntfy::priority_for_level(alert.rule_level()),
        tags: ntfy::tags_for(alert.rule_level(), &alert.rule_id(), report.ai),
        body: report.markdown.clone(),
        click,
    };
    let result = match ntfy::Client::new(&cfg) {
        Ok(client) => client.publish(&push).await,
        Err(e) => Err(ntfy::PushError::Unreachable {
            url: cfg.url.clone(),
            reason: e.to_string(),
        }),
    };
    let error = match result {
        Ok(published) => {
            tracing::info!(
                "pushed to ntfy topic {} (message id {})",
                cfg.topic,
                published.id
            );
            return Ok(true);
        }
        Err(e) => e,
    };
    let dir = settings.state().outbox();
    let stored = outbox::store(&dir, &push, target, Some(&error)).with_context(|| {
        format!(
            "push failed ({error}) and the outbox {} is unusable",
            dir.display()
        )
    })?;
    if error.is_retryable() {
        tracing::warn!(
            "push failed: {error}; queued in the outbox, retried from {} s on",
            outbox::FIRST_RETRY_SECS
        );
    } else {
        tracing::error!(
            "push failed: {error}; kept in {} and not retried: fix the ntfy settings",
            stored.display()
        );
    }
    Ok(false)
}
