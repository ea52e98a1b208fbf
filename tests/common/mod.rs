//! Shared helpers for the black-box tests: a config pointing at local fakes, the built binary, and
//! a child process with a deadline.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ai-analyzer");

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

pub fn read_fixture(rel: &str) -> String {
    std::fs::read_to_string(fixture(rel)).expect("fixture exists")
}

/// A scratch directory with a config file, a state dir and a log file.
pub struct Env {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Env {
    /// `ollama` and `ntfy` are base URLs ("" disables ntfy); `extra` is appended TOML.
    pub fn new(ollama: &str, ntfy: &str, extra: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("ai-analyzer.toml");
        let text = format!(
            r#"
[general]
state_dir = "{state}"
log_file = "{log}"

[intake]
stdin_timeout_ms = 1000

[ollama]
url = "{ollama}"
model = "test-model:7b"
timeout_secs = 3
num_ctx = 8192
temperature = 0.1

[ntfy]
url = "{ntfy}"
topic = "soc-test"
{extra}
"#,
            state = dir.path().join("state").display(),
            log = dir.path().join("ar.log").display(),
        );
        std::fs::write(&config, text).expect("write config");
        Env { dir, config }
    }

    /// Adds a key to the config's `[general]` section.
    pub fn general(&self, line: &str) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let text = text.replacen("[general]\n", &format!("[general]\n{line}\n"), 1);
        std::fs::write(&self.config, text).expect("config");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ar.log")).unwrap_or_default()
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Every file under the state dir, concatenated.
    pub fn state_files(&self) -> String {
        let mut all = String::new();
        let mut stack = vec![self.state()];
        while let Some(d) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Ok(t) = std::fs::read_to_string(&p) {
                    all.push_str(&t);
                }
            }
        }
        all
    }

    pub fn cmd(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_remove("AI_ANALYZER_CONFIG")
            .env_remove("AI_ANALYZER_NTFY_TOKEN")
            .arg("--config")
            .arg(&self.config);
        c
    }
}

/// An unused local port: nothing listens there.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Runs a command with stdin from `input`, bounded by `limit`.
pub fn run_with_input(mut cmd: Command, input: &[u8], limit: Duration) -> (Output, Duration) {
    use std::io::Write;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        let _ = stdin.write_all(input);
    }
    let out = wait_with_deadline(child, limit);
    (out, start.elapsed())
}

/// Waits for the child, killing it (and failing the test) after `limit`.
pub fn wait_with_deadline(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    loop {
        match child.try_wait().expect("try_wait") {
            Some(status) => {
                let mut stdout = Vec::new();
                let mut stderr = Vec::new();
                if let Some(mut s) = child.stdout.take() {
                    let _ = s.read_to_end(&mut stdout);
                }
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_end(&mut stderr);
                }
                return Output {
                    status,
                    stdout,
                    stderr,
                };
            }
            None if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("process still running after {limit:?}");
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// An Ollama chat answer carrying `content`, in the shape of the recorded sample.
pub fn ollama_answer(content: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&read_fixture("llm_ntfy/ollama_chat_response_nostream.json"))
            .expect("sample parses");
    v["message"]["content"] = serde_json::Value::String(content.to_string());
    v["prompt_eval_count"] = serde_json::json!(2400);
    v
}

pub fn ntfy_ok() -> serde_json::Value {
    serde_json::from_str(&read_fixture("llm_ntfy/ntfy_publish_response.json")).expect("sample")
}

/// Waits until `server` has received at least `n` requests, or `limit` passes; returns them all.
pub async fn wait_for_requests(
    server: &wiremock::MockServer,
    n: usize,
    limit: Duration,
) -> Vec<wiremock::Request> {
    let start = Instant::now();
    loop {
        let got = server.received_requests().await.unwrap_or_default();
        if got.len() >= n || start.elapsed() > limit {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until no `ai-analyzer work` process started with this config is left, or `limit` passes.
/// Returns whether none is left.
pub fn wait_workers_gone(config: &Path, limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if workers_running(config) == 0 {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How many processes run this binary with this config file (workers, found through /proc).
pub fn workers_running(config: &Path) -> usize {
    let needle = config.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|cmd| {
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            args.iter().any(|a| a == "work") && args.contains(&needle)
        })
        .count()
}
