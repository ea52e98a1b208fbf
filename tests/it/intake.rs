//! Bad input, and the active-response protocol as wazuh-execd speaks it over real pipes.

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Each bad input gives its documented exit code and one clear line within 3 seconds, also when
/// the log file cannot be opened and log lines go to stderr as well.
#[test]
fn bad_input_table() {
    let env = Env::new(&dead_url(), "", "");
    bad_inputs(&env);
    let config = std::fs::read_to_string(&env.config).unwrap();
    let unreachable = env.dir.path().join("no/such/dir/ar.log");
    let log_line = format!("log_file = \"{}\"", env.dir.path().join("ar.log").display());
    assert!(config.contains(&log_line));
    std::fs::write(
        &env.config,
        config.replace(
            &log_line,
            &format!("log_file = \"{}\"", unreachable.display()),
        ),
    )
    .unwrap();
    bad_inputs(&env);
}

fn bad_inputs(env: &Env) {
    let big = format!(
        "{{\"rule\":{{\"id\":\"1\"}},\"full_log\":\"{}\"}}\n",
        "x".repeat(2 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, i32, &str)> = vec![
        ("empty stdin", vec![], 2, "stdin was empty"),
        ("not JSON", b"hello world\n".to_vec(), 2, "not JSON"),
        ("JSON, not an alert", b"{\"foo\":1}\n".to_vec(), 2, "not a Wazuh alert"),
        ("a JSON array", b"[1,2,3]\n".to_vec(), 2, "not a Wazuh alert"),
        ("2 MB line", big.into_bytes(), 2, "larger than intake.max_alert_bytes"),
        ("invalid UTF-8", vec![0xff, 0xfe, b'{', b'}', b'\n'], 2, "not valid UTF-8"),
        (
            "AR message with an empty alert",
            br#"{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add","parameters":{"extra_args":[],"alert":{},"program":"active-response/bin/ai-analyzer"}}"#
                .iter()
                .chain(b"\n")
                .copied()
                .collect(),
            2,
            "empty alert",
        ),
        (
            "unknown command",
            br#"{"version":1,"command":"reboot","parameters":{"alert":{"rule":{}}}}"#.to_vec(),
            2,
            "unknown active-response command",
        ),
    ];
    for (name, input, code, needle) in cases {
        let (out, took) = run_with_input(env.cmd(), &input, Duration::from_secs(10));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(err.starts_with("ai-analyzer: error: "), "{name}: {err}");
        assert!(err.contains(needle), "{name}: want {needle:?} in {err}");
        assert_eq!(err.lines().count(), 1, "{name}: one line only: {err}");
        assert!(!err.contains("panicked"), "{name}");
        assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
        assert!(took < Duration::from_secs(3), "{name}: took {took:?}");
    }
}

#[test]
fn unreadable_alert_file_is_exit_2() {
    let env = Env::new(&dead_url(), "", "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file").arg("/nonexistent/alert.json");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read /nonexistent/alert.json"));
}

/// stdin that never closes and never sends a line: exit 2 after intake.stdin_timeout_ms.
#[test]
fn silent_open_stdin_times_out() {
    let env = Env::new(&dead_url(), "", "");
    let mut cmd = env.cmd();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let stdin = child.stdin.take(); // held open, never written
    let out = wait_with_deadline(child, Duration::from_secs(5));
    let took = start.elapsed();
    drop(stdin);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("nothing arrived on stdin within 1000 ms"),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[test]
fn delete_command_exits_0_at_once() {
    let env = Env::new(&dead_url(), "", "");
    let line = read_fixture("protocol/4_execd_to_ar_stdin_timeout_delete.json");
    let (out, took) = run_with_input(env.cmd(), line.as_bytes(), Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(took < Duration::from_secs(1));
    assert!(env.log().contains("delete command"), "{}", env.log());
}

/// A fake wazuh-execd: writes line 1, keeps stdin open, reads one stdout line (or EOF) under a
/// deadline, answers with the whole message with `command` replaced, closes stdin, waits.
struct FakeExecd {
    pub keys_line: Option<String>,
    pub stdout_rest: String,
    pub code: Option<i32>,
    /// From writing line 1 to the child's exit: the time execd is blocked.
    pub blocked: Duration,
}

fn fake_execd(env: &Env, message: &str, answer: Option<&str>, limit: Duration) -> FakeExecd {
    let mut cmd = env.cmd();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let start = Instant::now();
    stdin.write_all(message.trim_end().as_bytes()).unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.flush().unwrap();
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut first = String::new();
        let n = reader.read_line(&mut first).unwrap_or(0);
        let _ = tx.send((n > 0).then_some(first));
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut reader, &mut rest);
        let _ = tx.send(Some(rest));
    });
    let keys_line = rx
        .recv_timeout(limit)
        .expect("execd blocked: no stdout line and no EOF");
    if keys_line.is_some() {
        if let Some(answer) = answer {
            let mut v: Value = serde_json::from_str(message).unwrap();
            v["command"] = Value::String(answer.into());
            let _ = writeln!(stdin, "{v}");
        }
    }
    drop(stdin);
    let out = wait_with_deadline(child, limit);
    let blocked = start.elapsed();
    let stdout_rest = rx.recv_timeout(limit).ok().flatten().unwrap_or_default();
    FakeExecd {
        keys_line,
        stdout_rest,
        code: out.status.code(),
        blocked,
    }
}

async fn ok_fakes() -> (MockServer, MockServer) {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer("# AR report\nbody")))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    (llm, ntfy)
}

#[tokio::test]
async fn execd_handshake_continue_then_report() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let message = read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json");
    let run = fake_execd(&env, &message, Some("continue"), Duration::from_secs(20));
    assert_eq!(run.code, Some(0));
    let keys: Value =
        serde_json::from_str(run.keys_line.as_deref().expect("check_keys line")).unwrap();
    assert_eq!(keys["command"], "check_keys");
    assert_eq!(keys["version"], 1);
    assert_eq!(keys["origin"]["module"], "active-response");
    assert_eq!(
        keys["parameters"]["keys"],
        serde_json::json!(["192.168.0.223"])
    );
    assert_eq!(
        run.stdout_rest, "",
        "nothing but the protocol line on stdout"
    );
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(
        pushes.len(),
        1,
        "report pushed by the worker: {}",
        env.log()
    );
    assert!(
        wait_workers_gone(&env.config, Duration::from_secs(20)),
        "worker exited"
    );
    eprintln!("execd blocked for {:?}", run.blocked);
    let log = env.log();
    assert!(
        !log.lines().any(|l| l.contains(": {")),
        "no raw JSON logged: {log}"
    );
    assert!(
        log.lines()
            .all(|l| l.contains(" active-response/bin/ai-analyzer: ")),
        "{log}"
    );
}

#[tokio::test]
async fn execd_abort_means_no_analysis() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "[dedup]\ncooldown_secs = 2");
    let message = read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json");
    for _ in 0..2 {
        let run = fake_execd(&env, &message, Some("abort"), Duration::from_secs(10));
        assert_eq!(run.code, Some(0));
        assert!(run.keys_line.is_some());
    }
    assert!(llm.received_requests().await.unwrap().is_empty());
    assert!(env.log().contains("answered abort"), "{}", env.log());
    // Not analysed, but not lost either: both are counted and a digest goes out when the window
    // (opened by the aborted alerts themselves, since ours had not been opened) closes.
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(pushes.len(), 1, "{}", env.log());
    assert_eq!(
        header(&pushes[0], "title"),
        "2 more alerts from 192.168.0.223"
    );
    let body = text(&pushes[0].body);
    assert!(
        body.starts_with("## Since the last report\n2 more alerts"),
        "{body}"
    );
    assert!(wait_workers_gone(&env.config, Duration::from_secs(20)));
}

/// A skipped alert (below general.min_level) gets no check_keys line: execd then remembers no
/// key, and cannot abort a later alert from the same address because of it.
#[tokio::test]
async fn skipped_alerts_do_not_register_a_key_with_execd() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    env.general("min_level = 16");
    let message = read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json");
    let run = fake_execd(&env, &message, Some("continue"), Duration::from_secs(10));
    assert_eq!(run.code, Some(0));
    assert_eq!(run.keys_line, None, "EOF, no key line");
    assert!(env.log().contains("below general.min_level 16"));
    assert!(ntfy.received_requests().await.unwrap().is_empty());
}

/// execd that reads our line but never answers (and never closes stdin until we exit): we go on
/// after the answer timeout instead of hanging.
#[tokio::test]
async fn execd_that_never_answers_does_not_hang_us() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let message = read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json");
    let mut cmd = env.cmd();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", message.trim_end()).unwrap();
    let out = wait_with_deadline(child, Duration::from_secs(20));
    drop(stdin);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        start.elapsed() >= Duration::from_secs(4),
        "waited for the answer timeout"
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "only the check_keys line"
    );
    assert_eq!(
        wait_for_requests(&ntfy, 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
}

/// With check_keys off, the binary reads one line and never waits for EOF on stdin.
#[tokio::test]
async fn stdin_is_never_read_to_eof() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "[wazuh]\ncheck_keys = false");
    let message = read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json");
    let mut cmd = env.cmd();
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{}", message.trim_end()).unwrap();
    stdin.flush().unwrap();
    // stdin stays open for the whole run.
    let out = wait_with_deadline(child, Duration::from_secs(10));
    drop(stdin);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stdout.is_empty(),
        "no stdout at all: {}",
        text(&out.stdout)
    );
    assert_eq!(
        wait_for_requests(&ntfy, 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn wazuh_5_message_is_accepted() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let message = serde_json::json!({
        "command": "enable",
        "@timestamp": "2026-01-01T00:00:00Z",
        "wazuh": {"active_response": {"name": "ai-analyzer", "executable": "ai-analyzer"},
                  "agent": {"id": "001", "name": "web-01"}},
        "rule": {"id": "5712", "level": 10, "description": "sshd brute force"},
        "source": {"ip": "198.51.100.23"},
        "user": {"name": "root"}
    })
    .to_string();
    let run = fake_execd(&env, &message, Some("continue"), Duration::from_secs(20));
    assert_eq!(run.code, Some(0));
    let keys: Value = serde_json::from_str(run.keys_line.as_deref().unwrap()).unwrap();
    assert_eq!(
        keys["parameters"]["keys"],
        serde_json::json!(["198.51.100.23"])
    );
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(after_lead(&pushes[0].body), "body");
    assert_eq!(header(&pushes[0], "title"), "AR report");
}

#[tokio::test]
async fn own_events_are_skipped_by_the_loop_guard() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let alert = serde_json::json!({"rule":{"id":"657","level":3,"groups":["ossec","active_response"]},
        "data":{"srcip":"8.8.8.8"}});
    let (out, _) = run_with_input(
        env.cmd(),
        alert.to_string().as_bytes(),
        Duration::from_secs(5),
    );
    assert_eq!(out.status.code(), Some(0));
    assert!(llm.received_requests().await.unwrap().is_empty());
    assert!(env.log().contains("skipped: rule group active_response"));
}

#[tokio::test]
async fn below_min_level_is_skipped() {
    let (llm, ntfy) = ok_fakes().await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    env.general("min_level = 12");
    let alert = read_fixture("alerts/sshd_bruteforce_5712.json");
    let (out, _) = run_with_input(env.cmd(), alert.as_bytes(), Duration::from_secs(5));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    assert!(llm.received_requests().await.unwrap().is_empty());
    assert!(ntfy.received_requests().await.unwrap().is_empty());
    assert!(
        env.log().contains("below general.min_level 12"),
        "{}",
        env.log()
    );
}

/// The bare command typed at a terminal says at once how to give it an alert (stdin is a
/// terminal through `script`, which gives the command a pseudo-terminal), exit 2.
#[test]
fn bare_command_at_a_terminal_says_how_to_give_an_alert() {
    let env = Env::new(&dead_url(), "", "");
    let line = format!("{BIN} --config {}", env.config.display());
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec", &line, "/dev/null"]);
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(10));
    let said = text(&out.stdout);
    assert!(
        said.contains("ai-analyzer: error: no alert given: pipe one in (ai-analyzer < alert.json) or name it with --alert-file PATH"),
        "{said}"
    );
    assert_eq!(said.matches("no alert given").count(), 1, "{said}");
    assert_eq!(out.status.code(), Some(2), "{said}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

/// `enrich` with something that is not an address says just that.
#[test]
fn enrich_names_what_is_not_an_address() {
    let env = Env::new(&dead_url(), "", "");
    let mut cmd = env.cmd();
    cmd.args(["enrich", "not-an-ip"]);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        text(&out.stderr).trim_end(),
        "ai-analyzer: error: \"not-an-ip\" is not an IP address"
    );
}

/// Off a Wazuh manager, a hand run with the default paths keeps its state and log under
/// `$XDG_STATE_HOME/ai-analyzer` and never creates `/var/ossec`.
#[test]
fn off_a_manager_state_goes_to_the_xdg_state_dir() {
    if std::path::Path::new("/var/ossec/etc/ossec.conf").exists() {
        eprintln!("skipped: this host is a Wazuh manager");
        return;
    }
    let ossec_existed = std::path::Path::new("/var/ossec").exists();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ai-analyzer.toml");
    std::fs::write(
        &config,
        format!(
            "[ollama]\nurl = \"{}\"\n[ntfy]\nurl = \"\"\n{NO_INTEL}",
            dead_url()
        ),
    )
    .unwrap();
    let xdg = dir.path().join("xdg");
    let mut cmd = command(&config);
    cmd.env("XDG_STATE_HOME", &xdg).arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let state = xdg.join("ai-analyzer");
    assert!(
        said.contains(&format!(
            "ok    state_dir   {} is writable",
            state.display()
        )),
        "{said}"
    );
    assert!(
        said.contains(&format!(
            "ok    log_file    {}/ai-analyzer.log is writable",
            state.display()
        )),
        "{said}"
    );
    assert!(
        said.contains("ok    history     not on a Wazuh manager"),
        "{said}"
    );
    assert!(state.join("ai-analyzer.log").exists());
    if !ossec_existed {
        assert!(
            !std::path::Path::new("/var/ossec").exists(),
            "no Wazuh home made"
        );
    }
}

/// The same alert by `--alert-file` and on stdin gives the same lines on stderr (with no log
/// file): what a person sees does not depend on how the alert came.
#[test]
fn the_same_alert_logs_the_same_either_way() {
    let env = Env::new(&dead_url(), "", "");
    let config = std::fs::read_to_string(&env.config).unwrap();
    let log_line = format!("log_file = \"{}\"", env.dir.path().join("ar.log").display());
    std::fs::write(&env.config, config.replace(&log_line, "log_file = \"-\"")).unwrap();
    let alert = fixture("alerts/sshd_bruteforce_5712.json");
    let strip = |stderr: &[u8]| -> Vec<String> {
        // Lines start with the date and time: `2026/11/30 03:00:01 ...`.
        text(stderr)
            .lines()
            .map(|l| l.splitn(3, ' ').nth(2).unwrap_or(l).to_string())
            .collect()
    };
    let mut by_file = env.cmd();
    by_file.arg("--dry-run").arg("--alert-file").arg(&alert);
    let (a, _) = run_with_input(by_file, b"", Duration::from_secs(20));
    let mut by_stdin = env.cmd();
    by_stdin.arg("--dry-run");
    let (b, _) = run_with_input(
        by_stdin,
        &std::fs::read(&alert).unwrap(),
        Duration::from_secs(20),
    );
    assert_eq!(a.status.code(), Some(0), "{}", text(&a.stderr));
    assert_eq!(b.status.code(), Some(0), "{}", text(&b.stderr));
    assert_eq!(a.stdout, b.stdout, "the same report");
    let (a, b) = (strip(&a.stderr), strip(&b.stderr));
    assert!(
        a.iter().any(|l| l.contains("AI analysis unavailable")),
        "{a:?}"
    );
    assert_eq!(a, b);
}
