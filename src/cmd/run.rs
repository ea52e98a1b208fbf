//! One run, start to end: intake, gate, investigate, analyse, deliver. Each stage takes plain data
//! from the one before; this module only wires them together and decides what goes to stdout.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::analyze::report::{self, Archived, Report};
use crate::analyze::{guard, ollama, prompt};
use crate::cmd::cli::{Cli, Command};
use crate::cmd::install;
use crate::config::{self, Detach, Settings, Source};
use crate::deliver::{email, feedback, ntfy, outbox};
use crate::gate::cooldown::{self, Decision, Tally};
use crate::gate::handshake::{self, Answer};
use crate::intake::alert::{self, Alert, Command as ArCommand, Incoming};
use crate::intake::read;
use crate::investigate::Evidence;
use crate::queue::spool::{self, Job, NtfyOverride, Origin};
use crate::queue::{slots, worker};
use crate::util::error::{InputError, EXIT_OK, EXIT_RUNTIME};
use crate::util::{fsutil, logging};

/// Options of one analysis.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Everything up to delivery; send nothing, write nothing.
    pub dry_run: bool,
    /// Alerts for the same address counted since its last report.
    pub earlier: Option<Tally>,
    /// An ntfy target for this run only (integratord's hook_url and api_key).
    pub ntfy: Option<NtfyOverride>,
    /// How long the job waited in the spool; it counts against `general.deadline_secs`.
    pub waited_secs: u64,
}

/// What one analysis produced.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub evidence: Evidence,
    pub archived: Option<PathBuf>,
    pub pushed: bool,
}

pub fn run(cli: Cli) -> anyhow::Result<u8> {
    // Installing needs no (valid) config: it may be what writes the config.
    match &cli.command {
        Some(Command::Install {
            wazuh_dir,
            dry_run,
            integration,
        }) => {
            let lines = install::install(&install::Options {
                home: wazuh_dir.clone(),
                dry_run: *dry_run,
                integration: *integration,
            })?;
            print_stdout(&lines.join("\n"))?;
            return Ok(EXIT_OK);
        }
        Some(Command::Uninstall {
            wazuh_dir,
            purge,
            dry_run,
        }) => {
            let lines = install::uninstall(wazuh_dir, *purge, *dry_run)?;
            print_stdout(&lines.join("\n"))?;
            return Ok(EXIT_OK);
        }
        _ => {}
    }
    let (settings, source) = config::load(cli.config.as_deref())?;
    let hand_run = cli.command.is_some() || cli.alert_file.is_some();
    let note = logging::init(
        &settings.general.log_file,
        cli.verbose,
        hand_run || std::io::IsTerminal::is_terminal(&std::io::stdin()),
        settings.secrets().into_iter().map(String::from).collect(),
    );
    if let Some(note) = note {
        tracing::debug!("{note}");
    }
    tracing::debug!("config: {source}");
    match &cli.command {
        Some(Command::Prompt { alert_file }) => cmd_prompt(&settings, alert_file.as_deref()),
        Some(Command::Check) => runtime()?.block_on(cmd_check(&settings, &source)),
        Some(Command::Enrich { ip, json }) => cmd_enrich(&settings, ip, *json),
        Some(Command::Install { .. } | Command::Uninstall { .. }) => Ok(EXIT_OK),
        Some(Command::Work) => {
            runtime()?.block_on(worker::run(&settings))?;
            Ok(EXIT_OK)
        }
        None => cmd_alert(&cli, &settings, &source),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Reads the input: the file when one is given, else stdin.
fn read_input(settings: &Settings, file: Option<&std::path::Path>) -> Result<Incoming, InputError> {
    let bytes = match file {
        Some(path) => read::read_file(path, settings.intake.max_alert_bytes)?,
        None => read::read_stdin(
            settings.intake.max_alert_bytes,
            Duration::from_millis(settings.intake.stdin_timeout_ms),
        )?,
    };
    alert::parse_input(&bytes)
}

fn cmd_alert(cli: &Cli, settings: &Settings, source: &Source) -> anyhow::Result<u8> {
    let incoming = read_input(settings, cli.alert_file.as_deref())?;
    // An AR message on stdin means wazuh-execd: stdout carries protocol lines only.
    let origin = if cli.alert_file.is_none() && incoming.is_ar_message() {
        Origin::Execd
    } else {
        Origin::Hand
    };
    let run = Run {
        settings,
        source,
        origin,
        foreground: cli.foreground,
        options: RunOptions {
            dry_run: cli.dry_run,
            ..RunOptions::default()
        },
    };
    run.process(&incoming)
}

/// A run started by wazuh-integratord (`integrations/custom-ai-analyzer <alert file> <api_key>
/// <hook_url> ...`): a non-empty hook_url and api_key are the ntfy topic URL and token for it.
pub fn run_integration(args: &crate::cmd::cli::Integration) -> anyhow::Result<u8> {
    let (settings, source) = config::load(None)?;
    let mut target = None;
    if args.hook_url.is_some() || args.api_key.is_some() {
        let (url, topic) = match &args.hook_url {
            Some(hook) => split_topic_url(hook).ok_or_else(|| {
                crate::util::error::ConfigError(format!(
                    "hook_url {hook:?} is not an ntfy topic URL (https://host/topic)"
                ))
            })?,
            None => (settings.ntfy.url.clone(), settings.ntfy.topic.clone()),
        };
        target = Some(NtfyOverride {
            url,
            topic,
            token: args.api_key.clone().or_else(|| {
                settings
                    .ntfy
                    .token
                    .is_set()
                    .then(|| settings.ntfy.token.expose().to_string())
            }),
        });
    }
    let mut secrets: Vec<String> = settings.secrets().into_iter().map(String::from).collect();
    secrets.extend(args.api_key.clone());
    let note = logging::init(&settings.general.log_file, false, true, secrets);
    if let Some(note) = note {
        tracing::debug!("{note}");
    }
    tracing::debug!("config: {source}; started by wazuh-integratord");
    let incoming = read_input(&settings, Some(&args.alert_file))?;
    let run = Run {
        settings: &settings,
        source: &source,
        origin: Origin::Integratord,
        foreground: false,
        options: RunOptions {
            ntfy: target,
            ..RunOptions::default()
        },
    };
    run.process(&incoming)
}

/// `https://ntfy.example/prefix/topic` -> (`https://ntfy.example/prefix`, `topic`).
pub fn split_topic_url(hook: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(hook.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let topic = url.path_segments()?.rfind(|s| !s.is_empty())?.to_string();
    let base = hook.trim().trim_end_matches('/');
    let base = base.strip_suffix(topic.as_str())?.trim_end_matches('/');
    config::valid_topic(&topic).then(|| (base.to_string(), topic))
}

/// One alert's way through the gate.
struct Run<'a> {
    settings: &'a Settings,
    source: &'a Source,
    origin: Origin,
    foreground: bool,
    options: RunOptions,
}

impl Run<'_> {
    fn process(mut self, incoming: &Incoming) -> anyhow::Result<u8> {
        let started = Instant::now();
        let settings = self.settings;
        let alert = &incoming.alert;
        if incoming.command == ArCommand::Delete {
            tracing::info!(
                "delete command for rule {}: nothing to undo",
                alert.rule_id()
            );
            // execd's timeout ran out: a digest may be due now; make sure someone sends it.
            if self.origin == Origin::Execd && work_is_due(settings) {
                worker::ensure_running(settings, self.source);
            }
            return Ok(EXIT_OK);
        }
        // Skips come before the handshake: execd then gets no key and remembers nothing, so a
        // skipped alert can never make execd abort a later one from the same address.
        if let Some(why) = alert.loop_guard() {
            tracing::info!("skipped: {why}");
            return Ok(EXIT_OK);
        }
        if alert.rule_level() < settings.general.min_level {
            tracing::info!(
                "skipped: rule level {} is below general.min_level {}",
                alert.rule_level(),
                settings.general.min_level
            );
            return Ok(EXIT_OK);
        }
        tracing::info!("{}", describe(alert));
        let store = cooldown::Store::new(&settings.general.state_dir, settings.dedup.cooldown_secs);
        let gated = self.origin != Origin::Hand && !self.options.dry_run;
        if self.origin == Origin::Execd && settings.wazuh.check_keys {
            let keys = handshake::keys_for(alert);
            let answer = handshake::handshake(&mut std::io::stdout().lock(), &keys, || {
                read::read_stdin_line(
                    settings.intake.max_alert_bytes + 4096,
                    handshake::ANSWER_TIMEOUT,
                )
                .ok()
                .flatten()
            })
            .context("cannot write the check_keys line to wazuh-execd")?;
            if answer == Answer::Abort {
                // Not analysed, as execd asks, but counted: it reaches a digest, never lost.
                let counted = if gated {
                    match store.count_only(alert, spool::now_ms()) {
                        Ok(n) => {
                            worker::ensure_running(settings, self.source);
                            format!("; counted ({n} pending for the next digest)")
                        }
                        Err(e) => format!("; not counted: {e}"),
                    }
                } else {
                    String::new()
                };
                tracing::info!(
                    "wazuh-execd answered abort for key {}: already handled within its timeout{counted}",
                    keys.join(","),
                );
                return Ok(EXIT_OK);
            }
        }
        let detach = !self.foreground
            && !self.options.dry_run
            && match settings.wazuh.detach {
                Detach::Never => false,
                Detach::Always => true,
                Detach::Auto => self.origin != Origin::Hand,
            };
        if gated {
            match store.gate(alert, spool::now_ms()) {
                Ok(Decision::Counted {
                    count,
                    closes_in_secs,
                }) => {
                    tracing::info!(
                        "counted, not analysed: {count} alert(s) for {} since its last report; \
                         the window closes in {closes_in_secs} s",
                        cooldown::key_for(alert)
                    );
                    if detach {
                        // Someone must send the digest when the window closes.
                        worker::ensure_running(settings, self.source);
                    }
                    return Ok(EXIT_OK);
                }
                Ok(Decision::Analyse { earlier, reason }) => {
                    tracing::debug!("analysing: {reason}");
                    self.options.earlier = earlier;
                }
                Err(e) => {
                    tracing::warn!("cooldown state unavailable ({e}); analysing without dedup")
                }
            }
        }
        if detach {
            let mut job = Job::new(self.origin, alert.json().clone());
            job.earlier = self.options.earlier.clone();
            job.ntfy = self.options.ntfy.clone();
            let dirs = worker::Dirs::new(settings);
            match spool::put(&dirs.spool, &job) {
                Ok(path) => {
                    worker::ensure_running(settings, self.source);
                    tracing::info!(
                        "handed off as {} in {} ms",
                        path.file_name()
                            .map(|n| n.to_string_lossy())
                            .unwrap_or_default(),
                        started.elapsed().as_millis()
                    );
                    if self.origin == Origin::Hand {
                        // wazuh.detach = "always": the person at the terminal gets no report here.
                        eprintln!(
                            "ai-analyzer: handed off to the worker (wazuh.detach = \"always\"); \
                             the report will be pushed and saved under {}",
                            settings.general.state_dir.join("reports").display()
                        );
                    }
                    return Ok(EXIT_OK);
                }
                Err(e) => tracing::error!(
                    "cannot spool the job in {} ({e}); analysing in the foreground",
                    dirs.spool.display()
                ),
            }
        }
        let origin = self.origin;
        let dry_run = self.options.dry_run;
        let rt = runtime()?;
        let outcome = rt.block_on(analyse_and_deliver(alert, settings, self.options))?;
        if origin == Origin::Hand {
            // The person waiting sees the report before older deliveries are retried.
            print_stdout(&outcome.report.markdown)?;
        }
        if !dry_run {
            // Any run delivers what is due: digests of closed windows, the outbox.
            let dirs = worker::Dirs::new(settings);
            worker::send_digests(settings, &dirs);
            rt.block_on(outbox::flush(
                &dirs.outbox,
                settings,
                &mut outbox::Down::default(),
            ));
        }
        tracing::info!(
            "Ended in {} ms: {} report{}",
            started.elapsed().as_millis(),
            if outcome.report.ai { "AI" } else { "fallback" },
            if outcome.pushed { ", pushed" } else { "" }
        );
        Ok(EXIT_OK)
    }
}

/// Whether a digest or an outbox retry is waiting.
fn work_is_due(settings: &Settings) -> bool {
    let store = cooldown::Store::new(&settings.general.state_dir, settings.dedup.cooldown_secs);
    store.next_due_ms().is_some()
        || outbox::next_due_ms(&worker::Dirs::new(settings).outbox).is_some()
}

fn describe(alert: &Alert) -> String {
    let source = alert
        .source_ip()
        .map(|(ip, field)| format!("{ip} ({field})"))
        .unwrap_or_else(|| "no source address".into());
    format!(
        "alert rule {} level {} on {} from {}",
        alert.rule_id(),
        alert.rule_level(),
        alert.agent_name(),
        source
    )
}

fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}

/// Investigate, analyse with the LLM (or fall back), then archive and push unless dry-run.
/// Fails only when the report could neither be pushed nor queued in the outbox.
pub async fn analyse_and_deliver(
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
    let evidence = crate::investigate::investigate(alert, settings).await;
    // The job's deadline covers the lookups too.
    let deadline = deadline.saturating_sub(investigation.elapsed());
    let mut report = analyse(alert, &evidence, settings, deadline, options.dry_run).await;
    if let Some(earlier) = &options.earlier {
        let label = cooldown::label_for(alert);
        report.markdown = report::with_appendix(
            &report.markdown,
            &earlier.section(&label),
            settings.ntfy.max_chars,
        );
    }
    if options.dry_run {
        tracing::info!("dry run: nothing archived or sent");
        return Ok(Outcome {
            report,
            evidence,
            archived: None,
            pushed: false,
        });
    }
    let created = chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string();
    let full = report::full(alert, &evidence, &report, &created);
    let archived = archive(alert, &evidence, &report, &full, settings);
    let pushed = push(
        alert,
        &report,
        settings,
        archived.as_deref(),
        options.ntfy.as_ref(),
    )
    .await?;
    // The phone first; the mail may wait on a slow SMTP server.
    mail(alert, &evidence, &report, &full, settings).await?;
    if settings.wazuh.feedback {
        feedback::report_back(
            &settings.wazuh.queue_socket,
            alert,
            &evidence,
            &report,
            archived.as_deref(),
        );
    }
    Ok(Outcome {
        report,
        evidence,
        archived,
        pushed,
    })
}

/// The model's report, or the deterministic one with the reason the model's is missing.
pub async fn analyse(
    alert: &Alert,
    evidence: &Evidence,
    settings: &Settings,
    deadline: Duration,
    dry_run: bool,
) -> Report {
    let max_chars = settings.ntfy.max_chars;
    let prompt = prompt::build(alert, evidence, settings, &prompt::new_nonce());
    let fallback_title = report::fallback_title(alert, evidence);
    let answer = if deadline.is_zero() {
        Err(format!(
            "the job waited past general.deadline_secs ({} s) before its turn",
            settings.general.deadline_secs
        ))
    } else {
        match ollama::Client::new(&settings.ollama) {
            Ok(client) => {
                let call = async {
                    // At most ollama.max_concurrent calls on this host, whoever makes them.
                    let _slot = if dry_run {
                        None
                    } else {
                        let dir = settings.general.state_dir.join("slots");
                        let n = settings.ollama.max_concurrent;
                        match slots::acquire(&dir, "llm", n, Instant::now() + deadline).await {
                            Ok(slot) => slot,
                            Err(e) => {
                                tracing::warn!("no LLM slot lock ({e}); calling without one");
                                None
                            }
                        }
                    };
                    client.chat(&prompt).await.map_err(|e| e.to_string())
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
            tracing::info!(
                "model {} answered ({} prompt tokens, {} answer tokens, done_reason {})",
                settings.ollama.model,
                answer.prompt_eval_count.unwrap_or_default(),
                answer.eval_count.unwrap_or_default(),
                answer.done_reason.as_deref().unwrap_or("-")
            );
            let markdown = ollama::clean_answer(&answer.content, &fallback_title, max_chars);
            // The quality guard: whatever the model names must be in the evidence.
            let unverified = evidence_corpus(alert, evidence, settings).unverified(&markdown);
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
            tracing::warn!("AI analysis unavailable: {reason}");
            report::fallback(alert, evidence, &reason, max_chars)
        }
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

fn archive(
    alert: &Alert,
    evidence: &Evidence,
    report: &Report,
    full: &str,
    settings: &Settings,
) -> Option<PathBuf> {
    let dir = settings.general.state_dir.join("reports");
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
    let dir = worker::Dirs::new(settings).outbox;
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
    let dir = worker::Dirs::new(settings).outbox;
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

fn cmd_prompt(settings: &Settings, file: Option<&std::path::Path>) -> anyhow::Result<u8> {
    let incoming = read_input(settings, file)?;
    if incoming.command == ArCommand::Delete {
        return Err(
            InputError::NotAlert("a delete command carries no alert to analyse".into()).into(),
        );
    }
    // The exact prompt: with the same lookups a run would make (answered from the cache when fresh).
    let evidence = runtime()?.block_on(crate::investigate::investigate(&incoming.alert, settings));
    let prompt = prompt::build(&incoming.alert, &evidence, settings, &prompt::new_nonce());
    print_stdout(&prompt.render())?;
    Ok(EXIT_OK)
}

fn cmd_enrich(settings: &Settings, ip: &str, json: bool) -> anyhow::Result<u8> {
    let ip: IpAddr = alert::parse_ip_text(ip)
        .ok_or_else(|| InputError::NotAlert(format!("{ip:?} is not an IP address")))?;
    let evidence = runtime()?.block_on(crate::investigate::investigate_ip(ip, settings));
    if json {
        print_stdout(&serde_json::to_string_pretty(&evidence)?)?;
    } else {
        print_stdout(&evidence.table())?;
    }
    Ok(EXIT_OK)
}

/// `check`: one line per item; exit 1 when anything is not OK.
async fn cmd_check(settings: &Settings, source: &Source) -> anyhow::Result<u8> {
    let mut lines = vec![format!("ok    config      {source}")];
    let mut failed = false;
    let mut line = |ok: bool, what: &str, text: String| {
        failed |= !ok;
        lines.push(format!(
            "{} {what:<11} {text}",
            if ok { "ok   " } else { "FAIL " }
        ));
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .build()?;
    // Ollama: reachable, and the model pulled.
    let tags_url = config::join_url(&settings.ollama.url, "api/tags");
    match http.get(&tags_url).send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let model = &settings.ollama.model;
            let present = body["models"].as_array().is_some_and(|models| {
                models.iter().any(|m| {
                    let name = m["name"].as_str().unwrap_or_default();
                    name == model || name == format!("{model}:latest")
                })
            });
            if present {
                line(
                    true,
                    "ollama",
                    format!("{} has model {model}", settings.ollama.url),
                );
            } else {
                line(
                    false,
                    "ollama",
                    format!(
                        "{} is up but lacks model {model} (ollama pull {model})",
                        settings.ollama.url
                    ),
                );
            }
        }
        Ok(r) => line(
            false,
            "ollama",
            format!("{tags_url} answered HTTP {}", r.status().as_u16()),
        ),
        Err(e) => line(
            false,
            "ollama",
            format!(
                "{} unreachable ({})",
                settings.ollama.url,
                ollama::root_cause(&e)
            ),
        ),
    }
    if settings.ntfy.is_placeholder() {
        line(
            false,
            "ntfy",
            "topic \"wazuh-alerts\" on the public ntfy.sh is the placeholder: anyone can read it; \
             set ntfy.topic to a long topic of your own (nothing is pushed until then)"
                .into(),
        );
    } else if settings.ntfy.enabled() {
        let health = config::join_url(&settings.ntfy.url, "v1/health");
        match http.get(&health).send().await {
            Ok(r) if r.status().is_success() => line(
                true,
                "ntfy",
                format!(
                    "{} is up (topic {})",
                    settings.ntfy.url, settings.ntfy.topic
                ),
            ),
            Ok(r) => line(
                false,
                "ntfy",
                format!("{health} answered HTTP {}", r.status().as_u16()),
            ),
            Err(e) => line(
                false,
                "ntfy",
                format!(
                    "{} unreachable ({})",
                    settings.ntfy.url,
                    ollama::root_cause(&e)
                ),
            ),
        }
    } else {
        line(
            true,
            "ntfy",
            "disabled (ntfy.url is empty): reports go to stdout and the archive".into(),
        );
    }
    // Threat-intel sources: reachable, or why they are skipped. Only the base URL is asked:
    // a probe must not spend an API quota.
    let p = &settings.providers;
    let key = |s: &config::Secret| Some(s.is_set());
    let sources: [(&str, bool, &str, Option<bool>, bool); 8] = [
        (
            "ipinfo",
            p.ipinfo.enabled,
            &p.ipinfo.url,
            key(&p.ipinfo.token),
            false,
        ),
        ("rdap", p.rdap.enabled, &p.rdap.url, None, false),
        (
            "abuseipdb",
            p.abuseipdb.enabled,
            &p.abuseipdb.url,
            key(&p.abuseipdb.api_key),
            true,
        ),
        (
            "virustotal",
            p.virustotal.enabled,
            &p.virustotal.url,
            key(&p.virustotal.api_key),
            true,
        ),
        (
            "greynoise",
            p.greynoise.enabled,
            &p.greynoise.url,
            key(&p.greynoise.api_key),
            false,
        ),
        (
            "shodan",
            p.shodan.enabled,
            &p.shodan.url,
            key(&p.shodan.api_key),
            true,
        ),
        (
            "internetdb",
            p.internetdb.enabled,
            &p.internetdb.url,
            None,
            false,
        ),
        ("tor", p.tor.enabled, &p.tor.url, None, false),
    ];
    for (name, enabled, url, has_key, key_required) in sources {
        if !enabled {
            line(true, name, "disabled".into());
            continue;
        }
        if key_required && has_key == Some(false) {
            let note = if name == "shodan" {
                "not configured (no api_key): the keyless InternetDB is used instead"
            } else {
                "not configured (no api_key): skipped"
            };
            line(true, name, note.into());
            continue;
        }
        match http.get(url).send().await {
            Ok(r) => line(
                true,
                name,
                format!("{url} reachable (HTTP {})", r.status().as_u16()),
            ),
            Err(e) => line(
                false,
                name,
                format!("{url} unreachable ({})", ollama::root_cause(&e)),
            ),
        }
    }
    // DNS blocklists: every list answers 127.0.0.2 as listed; that is their test entry.
    if settings.dnsbl.enabled {
        match crate::investigate::dnsbl::resolver(&settings.dnsbl) {
            Ok(resolver) => {
                let test = IpAddr::from([127, 0, 0, 2]);
                for zone in &settings.dnsbl.zones {
                    let listing = crate::investigate::dnsbl::query(&resolver, test, zone).await;
                    let ok = listing.status != crate::investigate::dnsbl::ListingStatus::Unknown;
                    let detail = listing.detail.clone().unwrap_or_else(|| {
                        format!("test entry 127.0.0.2 {}", listing.status.as_str())
                    });
                    line(ok, "dnsbl", format!("{}: {detail}", listing.zone));
                }
            }
            Err(e) => line(false, "dnsbl", e),
        }
    } else {
        line(true, "dnsbl", "disabled".into());
    }
    // History.
    match settings.history.backend {
        config::HistoryBackend::File => {
            let f = &settings.history.alerts_file;
            match std::fs::metadata(f) {
                Ok(m) => line(
                    true,
                    "history",
                    format!("{} readable, {} MiB", f.display(), m.len() / (1 << 20)),
                ),
                Err(e) => line(false, "history", format!("{}: {e}", f.display())),
            }
        }
        config::HistoryBackend::Indexer => {
            let url = &settings.history.indexer.url;
            match http.get(url).send().await {
                Ok(r) => line(
                    r.status().as_u16() != 401,
                    "history",
                    format!("indexer {url} answered HTTP {}", r.status().as_u16()),
                ),
                Err(e) => line(
                    false,
                    "history",
                    format!("indexer {url} unreachable ({})", ollama::root_cause(&e)),
                ),
            }
        }
    }
    // Mail.
    if settings.email.enabled {
        match email::probe(&settings.email).await {
            Ok(()) => line(
                true,
                "email",
                format!("{} accepts connections", settings.email.smtp_url),
            ),
            Err(e) => line(false, "email", e.to_string()),
        }
    } else {
        line(true, "email", "disabled".into());
    }
    let state = &settings.general.state_dir;
    match crate::util::fsutil::create_private_dir(state).and_then(|()| {
        let probe = state.join(".check");
        crate::util::fsutil::write_atomic(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }) {
        Ok(()) => line(
            true,
            "state_dir",
            format!("{} is writable", state.display()),
        ),
        Err(e) => line(false, "state_dir", format!("{}: {e}", state.display())),
    }
    let dirs = worker::Dirs::new(settings);
    let jobs = spool::list(&dirs.spool).len();
    line(
        true,
        "spool",
        format!("{jobs} job(s) waiting in {}", dirs.spool.display()),
    );
    let (pending, dead) = outbox::depth(&dirs.outbox);
    line(
        dead == 0,
        "outbox",
        format!("{pending} push(es) waiting for retry, {dead} refused for good (see the log)"),
    );
    let workers = slots::busy(&dirs.slots, "worker", settings.ollama.max_concurrent);
    line(
        true,
        "worker",
        if workers == 0 {
            "none running".to_string()
        } else {
            format!("{workers} running")
        },
    );
    let cache = settings.general.state_dir.join("cache");
    let (files, bytes) = fsutil::dir_size(&cache);
    line(
        true,
        "cache",
        format!(
            "{files} file(s), {} KiB in {}",
            bytes.div_ceil(1024),
            cache.display()
        ),
    );
    let log = &settings.general.log_file;
    if log == "-" {
        line(true, "log_file", "stderr".into());
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            Ok(_) => line(true, "log_file", format!("{log} is writable")),
            Err(e) => line(false, "log_file", format!("{log}: {e}")),
        }
    }
    print_stdout(&lines.join("\n"))?;
    Ok(if failed { EXIT_RUNTIME } else { EXIT_OK })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_urls_split_into_base_and_topic() {
        assert_eq!(
            split_topic_url("https://ntfy.example.com/wazuh-alerts"),
            Some(("https://ntfy.example.com".into(), "wazuh-alerts".into()))
        );
        assert_eq!(
            split_topic_url("http://127.0.0.1:8080/ntfy/soc_1/"),
            Some(("http://127.0.0.1:8080/ntfy".into(), "soc_1".into()))
        );
        assert_eq!(split_topic_url("https://ntfy.example.com/"), None);
        assert_eq!(split_topic_url("not a url"), None);
        assert_eq!(split_topic_url("ftp://h/topic"), None);
    }
}
