//! Parse the command line, run, map the outcome to an exit code. Nothing else.

use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must end as one line and exit 1, never as a panic dump on a user's screen. The hook
    // only reports; a panic inside a lookup task is caught where the task is joined, and one on
    // the main thread is caught below.
    std::panic::set_hook(Box::new(|info| {
        let line = format!("internal error: {info}").replace('\n', " ");
        report(&line);
    }));
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let code = match std::panic::catch_unwind(move || ai_analyzer::run(args)) {
        Ok(Ok(code)) => code,
        Ok(Err(err)) => {
            report(&ai_analyzer::one_line(&err));
            ai_analyzer::exit_code(&err)
        }
        // Already reported by the hook.
        Err(_) => ai_analyzer::EXIT_RUNTIME,
    };
    ExitCode::from(code)
}

/// A failure, once on stderr, and in the log file when there is one.
fn report(line: &str) {
    if !ai_analyzer::logs_to_stderr() {
        tracing::error!("{line}");
    }
    eprintln!("ai-analyzer: error: {line}");
}
