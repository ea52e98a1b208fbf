//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Turns one Wazuh alert into a short, evidence-based incident report on your phone.
///
/// Started by wazuh-execd with no arguments, it reads the active-response message on stdin.
/// By hand: `ai-analyzer --alert-file alert.json` or `ai-analyzer < alert.json`.
#[derive(Debug, Parser)]
#[command(name = "ai-analyzer", version, about, long_about)]
pub(crate) struct Cli {
    /// Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log debug lines too.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Read the alert (a raw alert or an active-response message) from this file.
    #[arg(long, value_name = "PATH")]
    pub alert_file: Option<PathBuf>,

    /// Do everything up to delivery, print the report; send nothing, keep no report, open no
    /// cooldown window (threat-intel answers are still cached).
    #[arg(long)]
    pub dry_run: bool,

    /// Do not detach, even for an active-response message.
    #[arg(long)]
    pub foreground: bool,

    /// Also write the report as a PDF to this file (with or without --dry-run); the run stays in
    /// the foreground.
    #[arg(long, value_name = "PATH")]
    pub pdf: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Investigate one IP address: scope, zone and what the lookups find.
    Enrich {
        /// The address to investigate.
        ip: String,
        /// Print the evidence as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the exact prompt that would go to the LLM.
    Prompt {
        /// The alert (default: stdin).
        #[arg(long, value_name = "PATH")]
        alert_file: Option<PathBuf>,
        /// Also print the pseudonymisation table (placeholder and name), when the prompt is
        /// pseudonymised.
        #[arg(long)]
        show_mapping: bool,
    },
    /// Validate the config and probe every configured endpoint, one line each.
    Check,
    /// Drain the spool, send due digests, retry the outbox (what the detached worker runs).
    Work {
        /// First take one job from stdin (intake's hand-off when the spool cannot be written).
        #[arg(long, hide = true)]
        job_on_stdin: bool,
    },
    /// Put the binary, config, state dir, decoder and rules in place; print the ossec.conf blocks.
    Install {
        /// The Wazuh home.
        #[arg(long, value_name = "DIR", default_value = "/var/ossec")]
        wazuh_dir: PathBuf,
        /// Show what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also install the integratord hook (integrations/custom-ai-analyzer).
        #[arg(long)]
        integration: bool,
    },
    /// Remove what install put in place; the config and the reports stay unless --purge.
    Uninstall {
        /// The Wazuh home.
        #[arg(long, value_name = "DIR", default_value = "/var/ossec")]
        wazuh_dir: PathBuf,
        /// Remove the config and the state dir (reports, cache) too.
        #[arg(long)]
        purge: bool,
        /// Show what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the shell completions for SHELL (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(hide = true)]
    Manpage,
}

/// The command line's definition, for the completions and the man page.
pub(crate) fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

/// The arguments wazuh-integratord passes to `integrations/custom-ai-analyzer`:
/// `<alert file> <api_key> <hook_url> [debug] [options file] [timeout] [retries] ...`, some empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Integration {
    pub alert_file: PathBuf,
    /// A non-empty api_key is the ntfy token for this run.
    pub api_key: Option<String>,
    /// A non-empty hook_url is the ntfy topic URL for this run.
    pub hook_url: Option<String>,
}

/// Recognises an integratord invocation: the first argument is an existing file and not an option
/// or a subcommand. Everything else goes to clap.
pub(crate) fn integration(args: &[std::ffi::OsString]) -> Option<Integration> {
    let first = args.get(1)?.to_str()?;
    if first.starts_with('-')
        || [
            "enrich",
            "prompt",
            "check",
            "work",
            "install",
            "uninstall",
            "completions",
            "manpage",
            "help",
        ]
        .contains(&first)
    {
        return None;
    }
    let path = PathBuf::from(first);
    if !path.is_file() {
        return None;
    }
    let field = |i: usize| {
        args.get(i)
            .and_then(|a| a.to_str())
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(String::from)
    };
    Some(Integration {
        alert_file: path,
        api_key: field(2),
        hook_url: field(3),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[test]
    fn integratord_argv_is_recognised() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        let got = integration(&args(&[
            "integrations",
            path,
            "tk_abc",
            "https://ntfy.example/topic",
            "",
            "",
            "10",
            "3",
            "> /dev/null 2>&1",
        ]))
        .expect("integration mode");
        assert_eq!(got.alert_file, file.path());
        assert_eq!(got.api_key.as_deref(), Some("tk_abc"));
        assert_eq!(got.hook_url.as_deref(), Some("https://ntfy.example/topic"));
        let got = integration(&args(&["integrations", path, "", ""])).unwrap();
        assert_eq!(got.api_key, None);
        assert_eq!(got.hook_url, None);
    }

    #[test]
    fn normal_command_lines_are_not_integrations() {
        assert!(integration(&args(&["ai-analyzer"])).is_none());
        assert!(integration(&args(&["ai-analyzer", "prompt"])).is_none());
        assert!(integration(&args(&["ai-analyzer", "--config", "x"])).is_none());
        assert!(integration(&args(&["ai-analyzer", "/no/such/file"])).is_none());
    }

    #[test]
    fn config_goes_before_or_after_the_subcommand() {
        use clap::Parser;
        let a = Cli::try_parse_from(["ai-analyzer", "--config", "c.toml", "prompt"]).unwrap();
        let b = Cli::try_parse_from(["ai-analyzer", "prompt", "--config", "c.toml"]).unwrap();
        assert_eq!(a.config, b.config);
        assert!(matches!(a.command, Some(Command::Prompt { .. })));
    }
}
