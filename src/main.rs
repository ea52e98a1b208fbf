//! Parse the command line, run, map the outcome to an exit code. Nothing else.

use std::process::ExitCode;

use ai_analyzer::{cmd, util::error};

fn main() -> ExitCode {
    // A bug must end as one line and exit 1, never as a panic dump on a user's screen. The hook
    // only reports; a panic inside a lookup task is caught where the task is joined, and one on
    // the main thread is caught below.
    std::panic::set_hook(Box::new(|info| {
        let line = format!("internal error: {info}").replace('\n', " ");
        tracing::error!("{line}");
        eprintln!("ai-analyzer: error: {line}");
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let result = std::panic::catch_unwind(move || cmd::main(args));
    match result {
        Ok(Ok(code)) => error::to_exit(code),
        Ok(Err(err)) => {
            let line = error::one_line(&err);
            tracing::error!("{line}");
            eprintln!("ai-analyzer: error: {line}");
            error::to_exit(error::exit_code(&err))
        }
        // Already reported by the hook.
        Err(_) => error::to_exit(error::EXIT_RUNTIME),
    }
}
