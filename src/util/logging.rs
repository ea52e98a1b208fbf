//! Logging in the shape of Wazuh's own active responses, to `general.log_file`:
//! `YYYY/MM/DD HH:MM:SS active-response/bin/ai-analyzer: message` (local time), one line each.
//!
//! The manager decodes that file (decoder `ar_log_json`, rules 650-658), so a message is always
//! folded to one line, never starts with `{` (a logged AR message fires rule 657 and can trigger
//! the analysis again), and never carries a secret: known secret values are masked before writing.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer as _;

/// The program name Wazuh's decoder expects in each line.
pub(crate) const PROGRAM: &str = "active-response/bin/ai-analyzer";

/// Formats one event as a Wazuh active-response log line.
pub(crate) struct WazuhFormat {
    secrets: Vec<String>,
}

impl<S, N> FormatEvent<S, N> for WazuhFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut message = String::new();
        ctx.format_fields(Writer::new(&mut message), event)?;
        let level = match *event.metadata().level() {
            Level::ERROR => "ERROR: ",
            Level::WARN => "WARNING: ",
            Level::DEBUG | Level::TRACE => "DEBUG: ",
            Level::INFO => "",
        };
        let now = chrono::Local::now().format("%Y/%m/%d %H:%M:%S");
        writeln!(
            writer,
            "{now} {PROGRAM}: {level}{}",
            sanitize(&message, &self.secrets)
        )
    }
}

/// One line, no leading `{`, secrets masked.
pub(crate) fn sanitize(message: &str, secrets: &[String]) -> String {
    let mut line: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        line = line.replace(s.as_str(), "[redacted]");
    }
    if line.trim_start().starts_with('{') {
        line.insert_str(0, "json: ");
    }
    line
}

/// Our own events at `level`; other crates' (hickory, hyper, ...) only from WARN up, so that `-v`
/// does not flood the manager's log with a resolver's chatter.
fn filter(level: Level) -> Targets {
    Targets::new()
        .with_target(env!("CARGO_CRATE_NAME"), level)
        .with_default(Level::WARN.min(level))
}

/// Whether log lines go to stderr (no log file): a failure is then printed once, not logged too.
static TO_STDERR: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// True until a log file has been opened: log lines and the user's error line share stderr.
pub fn logs_to_stderr() -> bool {
    TO_STDERR.load(std::sync::atomic::Ordering::Relaxed)
}

/// Installs the global subscriber: the log file, or stderr when the file cannot be opened (or is
/// `-`). Returns a note when the file could not be opened.
/// On stderr only warnings and errors go out (all with `-v`), however the alert arrived: the
/// person at the terminal reads the report, and the log file has the detail.
pub(crate) fn init(log_file: &str, verbose: bool, secrets: Vec<String>) -> Option<String> {
    let format = WazuhFormat { secrets };
    let note = if log_file == "-" {
        None
    } else {
        match OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o660)
            // Runs as root in a directory the wazuh user can write: never through a symlink.
            .custom_flags(libc::O_NOFOLLOW)
            .open(log_file)
        {
            Ok(f) => {
                let level = if verbose { Level::DEBUG } else { Level::INFO };
                let layer = tracing_subscriber::fmt::layer()
                    .event_format(format)
                    .with_writer(Mutex::new(f))
                    .with_filter(filter(level));
                if tracing::subscriber::set_global_default(
                    tracing_subscriber::registry().with(layer),
                )
                .is_ok()
                {
                    TO_STDERR.store(false, std::sync::atomic::Ordering::Relaxed);
                }
                return None;
            }
            Err(e) => Some(format!(
                "cannot open log file {log_file} ({e}); logging to stderr"
            )),
        }
    };
    let level = if verbose { Level::DEBUG } else { Level::WARN };
    let layer = tracing_subscriber::fmt::layer()
        .event_format(format)
        .with_writer(io::stderr)
        .with_filter(filter(level));
    let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer));
    note
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_folded_masked_and_never_json() {
        let secrets = vec!["tk_secret123".to_string()];
        assert_eq!(sanitize("a\nb\r\nc", &secrets), "a b  c");
        assert_eq!(
            sanitize("token tk_secret123 used", &secrets),
            "token [redacted] used"
        );
        assert_eq!(
            sanitize("{\"command\":\"add\"}", &secrets),
            "json: {\"command\":\"add\"}"
        );
    }
}
