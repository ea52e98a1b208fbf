//! The subcommands, one file each; this file picks one and holds what they share.

pub(crate) mod check;
pub(crate) mod cli;
pub(crate) mod enrich;
pub(crate) mod install;
pub(crate) mod prompt;
pub(crate) mod run;

use std::io::Write as _;
use std::time::Duration;

use anyhow::Context as _;

use crate::config;
use crate::config::Settings;
use crate::intake::alert::{self, Incoming};
use crate::intake::read;
use crate::queue::worker;
use crate::util::error::{InputError, EXIT_OK};
use crate::util::logging;
use cli::{Cli, Command};

/// Runs what the command line asks: integratord's call when its arguments say so, else the parsed
/// command.
pub(crate) fn main(args: Vec<std::ffi::OsString>) -> anyhow::Result<u8> {
    use clap::Parser as _;
    match cli::integration(&args) {
        Some(integration) => run::run_integration(&integration),
        None => dispatch(Cli::parse_from(args)),
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    // Installing needs no (valid) config: it may be what writes the config; nor do the
    // completions and the man page.
    match &cli.command {
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cli::command(), "ai-analyzer", &mut out);
            print_stdout(String::from_utf8_lossy(&out).trim_end())?;
            return Ok(EXIT_OK);
        }
        Some(Command::Manpage) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cli::command())
                .render(&mut out)
                .context("cannot render the man page")?;
            print_stdout(String::from_utf8_lossy(&out).trim_end())?;
            return Ok(EXIT_OK);
        }
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
    let note = logging::init(
        &settings.general.log_file,
        cli.verbose,
        settings.secrets().into_iter().map(String::from).collect(),
    );
    if let Some(note) = note {
        tracing::debug!("{note}");
    }
    tracing::debug!("config: {source}");
    match &cli.command {
        Some(Command::Prompt {
            alert_file,
            show_mapping,
        }) => prompt::run(&settings, alert_file.as_deref(), *show_mapping),
        Some(Command::Check) => runtime()?.block_on(check::run(&settings, &source)),
        Some(Command::Enrich { ip, json }) => enrich::run(&settings, ip, *json),
        Some(
            Command::Install { .. }
            | Command::Uninstall { .. }
            | Command::Completions { .. }
            | Command::Manpage,
        ) => Ok(EXIT_OK),
        Some(Command::Work { job_on_stdin }) => {
            if *job_on_stdin {
                let limit = (settings.intake.max_alert_bytes as u64).saturating_add(1 << 20);
                let job = worker::read_job(std::io::stdin().lock(), limit)?;
                runtime()?.block_on(worker::run_handed(&settings, job))?;
            } else {
                // The detached worker's stdout goes nowhere; a person sees what it did.
                let worked = runtime()?.block_on(worker::run(&settings))?;
                print_stdout(&format!("ai-analyzer work: {worked}"))?;
            }
            Ok(EXIT_OK)
        }
        None => run::alert(&cli, &settings, &source),
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
        // A person at a terminal who typed the bare command: say at once how to give an alert.
        None if std::io::IsTerminal::is_terminal(&std::io::stdin()) => {
            return Err(InputError::NoAlert)
        }
        None => read::read_stdin(
            settings.intake.max_alert_bytes,
            Duration::from_millis(settings.intake.stdin_timeout_ms),
        )?,
    };
    alert::parse_input(&bytes)
}

fn print_stdout(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write to stdout"),
    }
}
