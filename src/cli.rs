//! The command line. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Turns one Wazuh alert into a short, evidence-based incident report on your phone.
///
/// Started by wazuh-execd with no arguments, it reads the active-response message on stdin.
/// By hand: `ai-analyzer --alert-file alert.json` or `ai-analyzer < alert.json`.
#[derive(Debug, Parser)]
#[command(
    name = "ai-analyzer",
    version,
    about,
    long_about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// Config file (default: $AI_ANALYZER_CONFIG, else /var/ossec/etc/ai-analyzer.toml if present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Log debug lines too.
    #[arg(short, long, global = true)]
    pub verbose: bool,

    /// Read the alert (a raw alert or an active-response message) from this file.
    #[arg(long, value_name = "PATH")]
    pub alert_file: Option<PathBuf>,

    /// Do everything up to delivery, print the report, send nothing and change no state.
    #[arg(long)]
    pub dry_run: bool,

    /// Do not detach, even for an active-response message.
    #[arg(long)]
    pub foreground: bool,

    /// wazuh-integratord's arguments: alert file, api_key (ntfy token), hook_url (ntfy topic URL), ...
    #[arg(hide = true, num_args = 0.., allow_hyphen_values = true)]
    pub integration: Vec<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
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
    },
    /// Validate the config and probe every configured endpoint, one line each.
    Check,
}
