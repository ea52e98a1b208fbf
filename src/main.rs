//! Parse the command line, run, map the outcome to an exit code. Nothing else.

use std::process::ExitCode;

use ai_analyzer::cli::{self, Cli};
use ai_analyzer::{app, error};
use clap::Parser;

fn main() -> ExitCode {
    // A bug must still end as one line and exit 1, never as a panic message on a user's screen.
    std::panic::set_hook(Box::new(|info| {
        let line = format!("internal error: {info}").replace('\n', " ");
        tracing::error!("{line}");
        eprintln!("ai-analyzer: error: {line}");
        std::process::exit(i32::from(error::EXIT_RUNTIME));
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let result = match cli::integration(&args) {
        Some(integration) => app::run_integration(&integration),
        None => app::run(Cli::parse_from(args)),
    };
    match result {
        Ok(code) => error::to_exit(code),
        Err(err) => {
            let line = error::one_line(&err);
            tracing::error!("{line}");
            eprintln!("ai-analyzer: error: {line}");
            error::to_exit(error::exit_code(&err))
        }
    }
}
