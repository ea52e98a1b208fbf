//! Analysis: the prompt, the LLM, the checks on its answer and the report without AI.

pub mod advice;
pub mod guard;
pub mod links;
pub mod llm;
pub mod ollama;
pub mod openai;
pub mod prompt;
pub mod pseudonym;
pub mod report;

use std::time::{Duration, Instant};

use crate::config::Settings;
use crate::intake::alert::Alert;
use crate::investigate::Evidence;
use crate::util::slots;
use report::Report;

/// The model's report, or the deterministic one with the reason the model's is missing.
pub async fn analyse(
    alert: &Alert,
    evidence: &Evidence,
    settings: &Settings,
    deadline: Duration,
    dry_run: bool,
) -> Report {
    let mut report = write(alert, evidence, settings, deadline, dry_run).await;
    // The verdict line the push leads with, from the evidence whoever wrote the report; it
    // quotes alert fields, so it is unlinked like the report.
    let lead = report::lead(alert, evidence, &crate::intake::facts::extract(alert));
    report.lead = links::unlink(&lead, &settings.configured_hosts())
        .chars()
        .filter(|c| !crate::util::is_hiding_char(*c))
        .collect();
    report
}

async fn write(
    alert: &Alert,
    evidence: &Evidence,
    settings: &Settings,
    deadline: Duration,
    dry_run: bool,
) -> Report {
    let max_chars = settings.ntfy.max_chars;
    let (prompt, mapping) = prompt_for(alert, evidence, settings);
    let fallback_title = report::fallback_title(alert, evidence);
    let answer = if deadline.is_zero() {
        Err(format!(
            "the job waited past general.deadline_secs ({} s) before its turn",
            settings.general.deadline_secs
        ))
    } else {
        match llm::client(settings) {
            Ok(client) => {
                let call = async {
                    // At most ollama.max_concurrent calls on this host, whoever makes them.
                    let _slot = if dry_run {
                        None
                    } else {
                        let dir = settings.state().slots();
                        let n = settings.ollama.max_concurrent;
                        match slots::acquire(&dir, "llm", n, Instant::now() + deadline).await {
                            Ok(slot) => slot,
                            Err(e) => {
                                tracing::warn!("no LLM slot lock ({e}); calling without one");
                                None
                            }
                        }
                    };
                    let model = client.model().to_string();
                    client
                        .chat(&prompt)
                        .await
                        .map(|answer| (model, answer))
                        .map_err(|e| e.to_string())
                };
                match tokio::time::timeout(deadline, call).await {
                    Ok(result) => result,
                    Err(_) => Err(format!(
                        "the job ran past general.deadline_secs ({} s)",
                        settings.general.deadline_secs
                    )),
                }
            }
            Err(e) => Err(format!("cannot build the HTTP client: {e}")),
        }
    };
    match answer {
        Ok(answer) => {
            let (model, answer) = answer;
            tracing::info!(
                "model {model} answered ({} prompt tokens, {} answer tokens, done_reason {})",
                answer.prompt_tokens.unwrap_or_default(),
                answer.answer_tokens.unwrap_or_default(),
                answer.done_reason.as_deref().unwrap_or("-")
            );
            let mut content = answer.content.clone();
            if answer.cut_at_limit() {
                // Cut at the token limit: the report says so rather than end mid-sentence unseen.
                tracing::warn!(
                    "the model's answer was cut at its token limit (done_reason length); raise \
                     openai.max_tokens, or ollama.num_ctx"
                );
                content.push_str("\n\n_(the model's answer was cut at its token limit)_");
            }
            // Cleaned first (no preamble, fence, think block, control character or hidden
            // character is left to split a placeholder), then the names come back, then
            // nothing the model wrote may be a link or an image.
            let cleaned: String = ollama::clean_answer(&content, &fallback_title, max_chars)
                .chars()
                .filter(|c| !crate::util::is_hiding_char(*c))
                .collect();
            let (restored, invented) = match mapping.as_ref().filter(|m| !m.is_empty()) {
                Some(m) => {
                    let restored = m.reverse(&cleaned);
                    let invented = m.invented(&restored);
                    (with_pseudonym_note(&restored), invented)
                }
                None => (cleaned, Vec::new()),
            };
            // Names are longer than their placeholders: fitted again.
            let markdown = report::fit(
                &links::unlink(&restored, &settings.configured_hosts()),
                max_chars,
            );
            // The quality guard: whatever the model names must be in the evidence; so must a
            // placeholder it used.
            let mut unverified = evidence_corpus(alert, evidence, settings).unverified(&markdown);
            unverified.extend(invented);
            if unverified.is_empty() {
                Report::from_markdown(markdown, true, None)
            } else {
                tracing::warn!(
                    "report names facts not in the evidence: {}",
                    unverified.join(", ")
                );
                let flagged = report::fit(&guard::flag(&markdown, &unverified), max_chars);
                let mut report = Report::from_markdown(flagged, true, None);
                report.unverified = unverified;
                report
            }
        }
        Err(reason) => {
            // An error body may quote the key it refused: the report never shows a secret.
            let secrets: Vec<String> = settings.secrets().into_iter().map(String::from).collect();
            let reason = crate::util::logging::sanitize(&reason, &secrets);
            tracing::warn!("AI analysis unavailable: {reason}");
            let mut report = report::fallback(alert, evidence, &reason, max_chars);
            // Alert fields (a user name, a URL) may carry link syntax of the attacker's.
            report.markdown = links::unlink(&report.markdown, &settings.configured_hosts())
                .chars()
                .filter(|c| !crate::util::is_hiding_char(*c))
                .collect();
            report.title = report::title_of(&report.markdown);
            report
        }
    }
}

/// The prompt for this job, pseudonymised (with its mapping) when the model server is not on
/// the admin's network or the config says always.
pub fn prompt_for(
    alert: &Alert,
    evidence: &Evidence,
    settings: &Settings,
) -> (prompt::Prompt, Option<pseudonym::Mapping>) {
    let mut prompt = prompt::build(alert, evidence, settings, &prompt::new_nonce());
    if !pseudonym::wanted(settings) {
        return (prompt, None);
    }
    let facts = crate::intake::facts::extract(alert);
    let mapping = pseudonym::Mapping::build(
        alert,
        evidence,
        &facts,
        &[&prompt.user],
        fixed_words(settings),
    );
    // The system message is fixed text with no data in it.
    prompt.user = mapping.apply(&prompt.user);
    (prompt, Some(mapping))
}

/// The prompt's own words: the prompt built for no alert, without the admin's network text. A
/// name that is one of them is not replaced, or the instructions and the fence would change.
/// Built once per process: the words do not depend on the alert, and a worker runs many jobs.
fn fixed_words(settings: &Settings) -> &'static str {
    static FIXED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut bare = settings.clone();
        bare.network.context.clear();
        bare.network.zones.clear();
        let empty = Alert::new(serde_json::json!({}));
        let skeleton = prompt::build(
            &empty,
            &Evidence::local(&empty, &bare.investigation()),
            &bare,
            "0000",
        );
        format!("{}\n{}", skeleton.system, skeleton.user)
    })
}

/// The line under the title that says the model saw placeholders, not names.
fn with_pseudonym_note(markdown: &str) -> String {
    let note = "_Names and internal addresses were pseudonymised for the model and put back here._";
    match markdown.split_once('\n') {
        Some((title, rest)) => format!("{title}\n{note}\n{rest}"),
        None => format!("{markdown}\n{note}"),
    }
}

/// Everything the model may cite: the alert, the investigation, the admin's network config.
fn evidence_corpus(alert: &Alert, evidence: &Evidence, settings: &Settings) -> guard::Corpus {
    let alert_json = alert.json().to_string();
    let evidence_json = serde_json::to_string(evidence).unwrap_or_default();
    let zones: Vec<String> = settings
        .network
        .zones
        .iter()
        .map(|z| z.cidr.to_string())
        .collect();
    let zones = zones.join(" ");
    guard::Corpus::new([
        alert_json.as_str(),
        evidence_json.as_str(),
        settings.network.context.as_str(),
        zones.as_str(),
    ])
}
