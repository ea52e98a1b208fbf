//! The errors that end a run, and the one place that maps them to the exit codes of the contract.
//!
//! Input and configuration errors are typed because the caller must tell them apart (exit 2 and 3);
//! everything else is an `anyhow::Error` that ends in exit 1.

/// Exit code: handled (delivered, handed off, skipped, or a `delete`).
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: a runtime failure that could not even be spooled for retry.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code: invalid input (empty, not JSON, not an alert, over the size cap).
pub(crate) const EXIT_INPUT: u8 = 2;
/// Exit code: invalid configuration; the message names the key.
pub(crate) const EXIT_CONFIG: u8 = 3;

/// The input could not be taken as an alert.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error(
        "no alert given: pipe one in (ai-analyzer < alert.json) or name it with --alert-file PATH; \
         ai-analyzer --help lists the commands"
    )]
    NoAlert,
    #[error("{0:?} is not an IP address")]
    NotIp(String),
    #[error("no input: stdin was empty")]
    Empty,
    #[error("no input: nothing arrived on stdin within {0} ms")]
    Timeout(u64),
    #[error("input is larger than intake.max_alert_bytes ({0} bytes)")]
    TooLarge(usize),
    #[error("input is not valid UTF-8")]
    NotUtf8,
    #[error("input is not JSON: {0}")]
    NotJson(String),
    #[error("input is not a Wazuh alert: {0}")]
    NotAlert(String),
    #[error("cannot read {path}: {reason}")]
    Unreadable { path: String, reason: String },
}

/// The configuration could not be used. The message always names the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

/// Maps an error to the contract's exit code.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if err.downcast_ref::<InputError>().is_some() {
        EXIT_INPUT
    } else if err.downcast_ref::<ConfigError>().is_some() {
        EXIT_CONFIG
    } else {
        EXIT_RUNTIME
    }
}

/// The one-line form of an error, for stderr and the log: the whole chain, newlines folded.
pub fn one_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause already said.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

/// The innermost cause alone: what a person can act on (`Connection refused (os error 111)`).
pub(crate) fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_contract() {
        assert_eq!(exit_code(&InputError::Empty.into()), 2);
        assert_eq!(exit_code(&ConfigError("x".into()).into()), 3);
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
        let wrapped = anyhow::Error::from(InputError::NotUtf8).context("reading stdin");
        assert_eq!(exit_code(&wrapped), 2);
    }

    #[test]
    fn one_line_folds_newlines() {
        let err = anyhow::anyhow!("line one\nline two").context("outer");
        assert_eq!(one_line(&err), "outer: line one line two");
    }
}
