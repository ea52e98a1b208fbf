//! A run on one alert (the default command): intake, the gate, then a hand-off to the worker or
//! the pipeline in the foreground. Decides what goes to stdout.

use std::time::Instant;

use anyhow::Context as _;

use super::{print_stdout, read_input, runtime};
use crate::cmd::cli::{Cli, Integration};
use crate::config::{self, Settings, Source};
use crate::deliver::ntfy::NtfyOverride;
use crate::deliver::{digest, outbox, Channels};
use crate::gate;
use crate::gate::campaign;
use crate::gate::cooldown::{self, Decision};
use crate::gate::handshake::{self, Answer};
use crate::gate::held::Held;
use crate::intake::alert::{Alert, Command as ArCommand, Incoming};
use crate::intake::read;
use crate::pipeline::{self, RunOptions};
use crate::queue::spool::{self, Job, Origin};
use crate::queue::worker;
use crate::util::error::EXIT_OK;
use crate::util::logging;
use crate::util::now_ms;

pub(crate) fn alert(cli: &Cli, settings: &Settings, source: &Source) -> anyhow::Result<u8> {
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
        // A PDF asked for on the command line is written by this process.
        foreground: cli.foreground || cli.pdf.is_some(),
        options: RunOptions {
            dry_run: cli.dry_run,
            pdf: cli.pdf.clone(),
            ..RunOptions::default()
        },
        ungated: false,
    };
    run.process(&incoming)
}

/// One alert's way through the gate.
struct Run<'a> {
    settings: &'a Settings,
    source: &'a Source,
    origin: Origin,
    foreground: bool,
    options: RunOptions,
    /// The cooldown could not be applied here; the worker applies it.
    ungated: bool,
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
        if let Some(why) = gate::screen(alert, settings.general.min_level) {
            tracing::info!("skipped: {why}");
            return Ok(EXIT_OK);
        }
        tracing::info!("{}", describe(alert));
        let store = cooldown::Store::new(settings.state().cooldown(), settings.dedup.cooldown_secs);
        let gated = self.origin != Origin::Hand && !self.options.dry_run;
        if self.origin == Origin::Execd
            && settings.wazuh.check_keys
            && self.aborted(alert, &store, gated)?
        {
            return Ok(EXIT_OK);
        }
        let detach = gate::detaches(
            self.origin,
            self.foreground || self.options.dry_run,
            settings.wazuh.detach,
        );
        if gated && self.in_campaign(alert) {
            return Ok(EXIT_OK);
        }
        if gated && self.counted(alert, &store, detach) {
            return Ok(EXIT_OK);
        }
        if detach && self.handed_off(alert, started) {
            return Ok(EXIT_OK);
        }
        self.in_foreground(alert, started)
    }

    /// The check_keys handshake; true when execd answered abort (the alert is then counted for
    /// the next digest, never lost).
    fn aborted(&self, alert: &Alert, store: &cooldown::Store, gated: bool) -> anyhow::Result<bool> {
        let settings = self.settings;
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
        if answer != Answer::Abort {
            return Ok(false);
        }
        let counted = if gated {
            match store.count_only(alert, now_ms()) {
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
        Ok(true)
    }

    /// Campaigns: true when the alert is counted into one instead of analysed (a worker is made
    /// sure of, to push the campaign report). A campaign store that cannot be read lets the
    /// alert go its own way.
    fn in_campaign(&self, alert: &Alert) -> bool {
        let settings = self.settings;
        let store = campaign::Store::new(settings.state().campaigns(), &settings.campaign);
        match store.join(alert, now_ms()) {
            Ok(campaign::Joined::No) => false,
            Ok(campaign::Joined::Counted {
                label,
                alerts,
                sources,
                escalation,
            }) => {
                let escalation = escalation
                    .map(|e| format!("; escalates: {e}"))
                    .unwrap_or_default();
                tracing::info!(
                    "counted into the campaign {label}: {alerts} alert(s) from {sources} \
                     address(es){escalation}"
                );
                worker::ensure_running(settings, self.source);
                true
            }
            Err(e) => {
                tracing::warn!("campaign state unavailable ({e}); the alert goes its own way");
                false
            }
        }
    }

    /// The cooldown: true when the alert is counted into an open window instead of analysed.
    fn counted(&mut self, alert: &Alert, store: &cooldown::Store, detach: bool) -> bool {
        match store.gate(alert, now_ms()) {
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
                    worker::ensure_running(self.settings, self.source);
                }
                true
            }
            Ok(Decision::Analyse { earlier, reason }) => {
                tracing::debug!("analysing: {reason}");
                self.options.earlier = earlier;
                false
            }
            Err(e) if detach => {
                tracing::warn!("cooldown state unavailable ({e}); the worker applies the cooldown");
                self.ungated = true;
                false
            }
            Err(e) => {
                tracing::warn!("cooldown state unavailable ({e}); analysing without dedup");
                false
            }
        }
    }

    /// Spools the job for the worker; true when it is safely handed off.
    fn handed_off(&self, alert: &Alert, started: Instant) -> bool {
        let settings = self.settings;
        let mut job = Job::new(self.origin, alert.json().clone());
        job.earlier = self.options.earlier.clone();
        job.ntfy = self.options.ntfy.clone();
        job.ungated = self.ungated;
        let dirs = settings.state();
        if self.queue_is_full(alert) {
            return true;
        }
        match spool::put(&dirs.spool(), &job) {
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
                        settings.state().reports().display()
                    );
                }
                true
            }
            Err(e) => match worker::spawn_with_job(self.source, &job) {
                // execd is still freed at once: the job lives in the new worker's memory.
                Ok(pid) => {
                    tracing::error!(
                        "cannot spool the job in {} ({e}); handed to a worker in memory \
                         (pid {pid}): it is lost if that worker dies",
                        dirs.spool().display()
                    );
                    true
                }
                Err(e2) => {
                    tracing::error!(
                        "cannot spool the job in {} ({e}) nor start a worker ({e2}); \
                         analysing in the foreground",
                        dirs.spool().display()
                    );
                    false
                }
            },
        }
    }

    /// The cap on queued jobs: true when the spool is full and the alert was counted into the
    /// held-back digest instead (a worker is made sure of, to send it).
    fn queue_is_full(&self, alert: &Alert) -> bool {
        let settings = self.settings;
        let cap = settings.limits.max_queued_jobs as usize;
        let queued = spool::list(&settings.state().spool()).len();
        if cap == 0 || queued < cap {
            return false;
        }
        let reason = format!("the spool holds {queued} jobs (limits.max_queued_jobs = {cap})");
        let held = gate::hold(settings, alert, &reason, now_ms());
        if held {
            worker::ensure_running(settings, self.source);
        }
        held
    }

    /// The pipeline in this process; then whatever else is due (digests, the outbox).
    fn in_foreground(mut self, alert: &Alert, started: Instant) -> anyhow::Result<u8> {
        let settings = self.settings;
        let origin = self.origin;
        let dry_run = self.options.dry_run;
        let rt = runtime()?;
        if origin != Origin::Hand && !dry_run {
            // As the worker does: the other manager nodes' word first (execd waits for this run
            // anyway), then the ceiling.
            let earlier = self.options.earlier.take();
            match rt.block_on(gate::shared::gate(settings, alert, now_ms(), earlier)) {
                Some(earlier) => self.options.earlier = earlier,
                None => return Ok(EXIT_OK),
            }
            if gate::over_ceiling(settings, alert, now_ms()) {
                return Ok(EXIT_OK);
            }
        }
        let outcome = rt.block_on(pipeline::analyse_and_deliver(alert, settings, self.options))?;
        if origin == Origin::Hand {
            // The person waiting sees the report before older deliveries are retried.
            print_stdout(&outcome.report.markdown)?;
        }
        if !dry_run {
            // Any run delivers what is due: digests of closed windows, the outbox.
            digest::send_digests(settings);
            digest::send_held(settings);
            if settings.shares_state() {
                // What the nodes share takes calls to the indexer: the worker makes them, not
                // this run, which execd may be waiting for.
                worker::ensure_running(settings, self.source);
            } else {
                rt.block_on(digest::send_campaigns(settings));
            }
            rt.block_on(outbox::flush(
                &settings.state().outbox(),
                &Channels::new(settings),
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
    let store = cooldown::Store::new(settings.state().cooldown(), settings.dedup.cooldown_secs);
    store.next_due_ms().is_some()
        || outbox::next_due_ms(&settings.state().outbox()).is_some()
        || Held::new(settings.state().limits()).next_due_ms().is_some()
        || campaign::Store::new(settings.state().campaigns(), &settings.campaign)
            .next_due_ms()
            .is_some()
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

/// A run started by wazuh-integratord (`integrations/custom-ai-analyzer <alert file> <api_key>
/// <hook_url> ...`): a non-empty hook_url and api_key are the ntfy topic URL and token for it.
pub(crate) fn run_integration(args: &Integration) -> anyhow::Result<u8> {
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
        // The configured token goes only to the server it was configured for.
        let token = args.api_key.clone().or_else(|| {
            (settings.ntfy.token.is_set() && same_origin(&url, &settings.ntfy.url))
                .then(|| settings.ntfy.token.expose().to_string())
        });
        target = Some(NtfyOverride { url, topic, token });
    }
    let mut secrets: Vec<String> = settings.secrets().into_iter().map(String::from).collect();
    secrets.extend(args.api_key.clone());
    let note = logging::init(&settings.general.log_file, false, secrets);
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
        ungated: false,
    };
    run.process(&incoming)
}

/// Whether two URLs name the same server: scheme, host and port.
fn same_origin(a: &str, b: &str) -> bool {
    match (reqwest::Url::parse(a), reqwest::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}

/// `https://ntfy.example/prefix/topic` -> (`https://ntfy.example/prefix`, `topic`).
pub(crate) fn split_topic_url(hook: &str) -> Option<(String, String)> {
    let url = reqwest::Url::parse(hook.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let topic = url.path_segments()?.rfind(|s| !s.is_empty())?.to_string();
    let base = hook.trim().trim_end_matches('/');
    let base = base.strip_suffix(topic.as_str())?.trim_end_matches('/');
    config::valid_topic(&topic).then(|| (base.to_string(), topic))
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

    #[test]
    fn the_configured_token_goes_only_to_its_own_server() {
        assert!(same_origin(
            "https://ntfy.example.com/p",
            "https://ntfy.example.com"
        ));
        assert!(same_origin(
            "https://ntfy.example.com:443",
            "https://ntfy.example.com/x"
        ));
        assert!(!same_origin(
            "https://evil.example",
            "https://ntfy.example.com"
        ));
        assert!(!same_origin(
            "http://ntfy.example.com",
            "https://ntfy.example.com"
        ));
        assert!(!same_origin(
            "https://ntfy.example.com:8443",
            "https://ntfy.example.com"
        ));
        assert!(!same_origin("not a url", "https://ntfy.example.com"));
    }
}
