//! The gate between intake and analysis: wazuh-execd's `check_keys` handshake.
//!
//! For `add`, we tell execd which key this run is about (the source IP, else the rule id) and read
//! its one-line answer: the whole original message with `command` set to `continue` or `abort`.
//! execd answers `abort` when a run for the same key is still inside its `<timeout>`.

use std::io::Write;
use std::time::Duration;

use serde_json::{json, Value};

use crate::intake::alert::Alert;

/// How long we wait for execd's answer before going on as if it said `continue`.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    Continue,
    Abort,
    /// EOF, a timeout or an unreadable line: go on.
    Silent,
}

/// The key execd dedups on: the source IP, else the rule id.
pub(crate) fn keys_for(alert: &Alert) -> Vec<String> {
    match alert.source_ip() {
        Some((ip, _)) => vec![ip.to_string()],
        None => vec![alert.rule_id()],
    }
}

/// The line we write on stdout.
pub(crate) fn check_keys_line(keys: &[String]) -> String {
    json!({
        "version": 1,
        "origin": {"name": "ai-analyzer", "module": "active-response"},
        "command": "check_keys",
        "parameters": {"keys": keys},
    })
    .to_string()
}

/// Reads execd's answer line.
pub(crate) fn parse_answer(line: Option<&[u8]>) -> Answer {
    let Some(line) = line else {
        return Answer::Silent;
    };
    match serde_json::from_slice::<Value>(line) {
        Ok(v) => match v.get("command").and_then(Value::as_str) {
            Some("abort") => Answer::Abort,
            Some("continue") => Answer::Continue,
            _ => Answer::Silent,
        },
        Err(_) => Answer::Silent,
    }
}

/// Writes the `check_keys` line and reads the answer through `read_answer`.
pub(crate) fn handshake(
    out: &mut impl Write,
    keys: &[String],
    read_answer: impl FnOnce() -> Option<Vec<u8>>,
) -> std::io::Result<Answer> {
    writeln!(out, "{}", check_keys_line(keys))?;
    out.flush()?;
    Ok(parse_answer(read_answer().as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_wazuhs_shape() {
        let line = check_keys_line(&["192.168.0.223".into()]);
        let ours: Value = serde_json::from_str(&line).unwrap();
        let sample: Value = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/2_ar_to_execd_stdout_check_keys.json"
        )))
        .unwrap();
        assert_eq!(ours["command"], sample["command"]);
        assert_eq!(ours["version"], sample["version"]);
        assert_eq!(ours["parameters"], sample["parameters"]);
        assert_eq!(ours["origin"]["module"], sample["origin"]["module"]);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn answers() {
        let cont = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/3_execd_to_ar_stdin_line2_continue.json"
        ));
        let abort = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/3b_execd_to_ar_stdin_line2_abort.json"
        ));
        assert_eq!(parse_answer(Some(cont)), Answer::Continue);
        assert_eq!(parse_answer(Some(abort)), Answer::Abort);
        assert_eq!(parse_answer(None), Answer::Silent);
        assert_eq!(parse_answer(Some(b"garbage")), Answer::Silent);
    }

    #[test]
    fn handshake_writes_one_line_then_reads() {
        let mut out = Vec::new();
        let answer = handshake(&mut out, &["1.2.3.4".into()], || {
            Some(br#"{"version":1,"command":"abort","parameters":{}}"#.to_vec())
        })
        .unwrap();
        assert_eq!(answer, Answer::Abort);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
    }
}
