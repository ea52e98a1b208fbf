//! ai-analyzer: a Wazuh active response that turns one alert into a short, evidence-based
//! incident report, written by a local LLM and pushed to ntfy.
//!
//! The binary is thin; everything lives here, one folder per stage of the pipeline:
//! [`intake`] (message -> alert) -> `gate` (loop guard, cooldown, handshake) -> [`queue`]
//! (spool, worker) -> [`investigate`] (sources, DNSBL, history, risk) -> [`analyze`] (prompt,
//! LLM, guard, fallback report) -> [`deliver`] (ntfy, mail, the Wazuh verdict, outbox).
//! `pipeline` tells that story for one alert; `cmd` holds one file per subcommand. The public
//! modules are the facade the tests, benchmarks and the fuzz target drive.
#![warn(unreachable_pub)]

pub mod analyze;
mod cmd;
pub mod config;
pub mod deliver;
mod gate;
pub mod intake;
pub mod investigate;
mod pipeline;
pub mod queue;
mod util;

pub use util::error::{exit_code, one_line, EXIT_RUNTIME};
pub use util::logging::logs_to_stderr;

/// Runs what the command line asks (`args` as the process got them) and returns the contract's
/// exit code; an `Err` maps to one through [`exit_code`].
pub fn run(args: Vec<std::ffi::OsString>) -> anyhow::Result<u8> {
    cmd::main(args)
}
