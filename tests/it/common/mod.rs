//! Shared helpers for the black-box tests: a config pointing at local fakes, the built binary, and
//! a child process with a deadline.
#![allow(dead_code)]

pub mod dns;
pub mod intel;
pub mod opensearch;

use std::io::{Read, Write as _};
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

/// Every test config turns the outside sources off, so that no test ever asks the Internet about
/// a public address; [`Env::intel`] swaps this for sections that point at local fakes.
pub const NO_INTEL: &str = "
[providers.ipinfo]
enabled = false
[providers.rdap]
enabled = false
[providers.abuseipdb]
enabled = false
[providers.virustotal]
enabled = false
[providers.greynoise]
enabled = false
[providers.shodan]
enabled = false
[providers.internetdb]
enabled = false
[providers.tor]
enabled = false
[dnsbl]
enabled = false
";

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
num_ctx = 8192
temperature = 0.1

[ntfy]
url = "{ntfy}"
topic = "soc-test"
{extra}
{NO_INTEL}
"#,
            state = dir.path().join("state").display(),
            log = dir.path().join("ar.log").display(),
        );
        std::fs::write(&config, text).expect("write config");
        Env { dir, config }
    }

    /// Points the threat-intel sources and the DNSBL resolver at local fakes: `toml` (whole
    /// `[providers.*]` / `[dnsbl]` sections) replaces [`NO_INTEL`].
    pub fn intel(&self, toml: &str) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        assert!(text.contains(NO_INTEL), "intel() called twice");
        std::fs::write(&self.config, text.replacen(NO_INTEL, toml, 1)).expect("config");
    }

    /// Adds a key to the config's `[general]` section.
    pub fn general(&self, line: &str) {
        self.set("general", line);
    }

    /// Adds a key to one of the sections the config already has (general, intake, ollama, ntfy).
    pub fn set(&self, section: &str, line: &str) {
        let text = std::fs::read_to_string(&self.config).expect("config");
        let header = format!("[{section}]\n");
        assert!(text.contains(&header), "no [{section}] in the test config");
        let text = text.replacen(&header, &format!("{header}{line}\n"), 1);
        std::fs::write(&self.config, text).expect("config");
    }

    /// Shares this node's state on the indexer at `url` (`cluster.backend = "indexer"`), in
    /// `index`.
    pub fn share_state(&self, url: &str, index: &str) {
        let config = std::fs::read_to_string(&self.config).expect("config");
        std::fs::write(
            &self.config,
            format!(
                "{config}\n[cluster]\nbackend = \"indexer\"\nindex = \"{index}\"\n\
                 [history.indexer]\nurl = \"{url}\"\ntimeout_secs = 2\n"
            ),
        )
        .expect("config");
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
        command(&self.config)
    }
}

/// The binary with `--config config` and no config or token from the environment.
pub fn command(config: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("AI_ANALYZER_CONFIG")
        .env_remove("AI_ANALYZER_NTFY_TOKEN")
        .arg("--config")
        .arg(config);
    c
}

/// An unused local port: nothing listens there.
pub fn dead_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// `enrich` on the `n` addresses 185.220.101.`first`.. from the config of `env`, all at once;
/// the children, with their stdout piped.
pub fn enrich_all(env: &Env, first: u32, n: u32) -> Vec<Child> {
    (first..first + n)
        .map(|i| {
            let mut cmd = env.cmd();
            cmd.arg("enrich")
                .arg(format!("185.220.101.{i}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            cmd.spawn().expect("spawn")
        })
        .collect()
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

/// A push body as the phone shows it: the verdict line first (`**High** (rule level 10). ...`),
/// then the report without its title. Returns what follows the verdict line, and checks that
/// the body starts with one and repeats no `# ` title.
pub fn after_lead(body: &[u8]) -> String {
    let body = text(body);
    assert!(body.starts_with("**"), "no verdict line first: {body}");
    assert!(
        !body.starts_with("# ") && !body.contains("\n# "),
        "the title is repeated: {body}"
    );
    body.split_once("\n\n")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_default()
}

/// A PDF read back: its page count, its title and producer, and its text.
pub struct PdfText {
    pub pages: usize,
    pub title: String,
    pub producer: String,
    pub text: String,
}

pub fn pdf_text(bytes: &[u8]) -> PdfText {
    let doc = lopdf::Document::load_mem(bytes).expect("a PDF lopdf can read");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let info = doc
        .trailer
        .get(b"Info")
        .and_then(|o| o.as_reference())
        .and_then(|r| doc.get_dictionary(r))
        .expect("an Info dictionary");
    let field = |key: &[u8]| {
        info.get(key)
            .ok()
            .and_then(|o| lopdf::decode_text_string(o).ok())
            .unwrap_or_default()
    };
    PdfText {
        pages: pages.len(),
        title: field(b"Title"),
        producer: field(b"Producer"),
        text: doc.extract_text(&pages).expect("text extracts"),
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

/// A request header as text ("" when absent).
pub fn header(req: &wiremock::Request, name: &str) -> String {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
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

/// A fake Ollama `/api/chat` that counts requests in flight, to check a host-wide concurrency
/// limit (wiremock cannot see overlap). Each request is answered after `delay`, with
/// `Connection: close`; `content` is the report text.
pub struct SlowLlm {
    pub url: String,
    pub max_in_flight: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl SlowLlm {
    /// `delays[i]` is the delay of the i-th request; the last one repeats.
    pub fn start(delays: Vec<Duration>, content: &str) -> SlowLlm {
        use std::io::{BufRead, BufReader, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let max_in_flight = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let body = serde_json::to_vec(&ollama_answer(content)).expect("json");
        let (inf, max, reqs) = (in_flight.clone(), max_in_flight.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (inf, max, reqs, body, delays) = (
                    inf.clone(),
                    max.clone(),
                    reqs.clone(),
                    body.clone(),
                    delays.clone(),
                );
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut len = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let lower = line.to_ascii_lowercase();
                        if let Some(v) = lower.strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        if line == "\r\n" {
                            break;
                        }
                    }
                    let mut req_body = vec![0u8; len];
                    let _ = std::io::Read::read_exact(&mut reader, &mut req_body);
                    let n = reqs.fetch_add(1, Ordering::SeqCst);
                    let now = inf.fetch_add(1, Ordering::SeqCst) + 1;
                    max.fetch_max(now, Ordering::SeqCst);
                    let delay = delays.get(n).or(delays.last()).copied().unwrap_or_default();
                    std::thread::sleep(delay);
                    inf.fetch_sub(1, Ordering::SeqCst);
                    let mut out = stream;
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = out.write_all(&body);
                });
            }
        });
        SlowLlm {
            url,
            max_in_flight,
            requests,
        }
    }

    pub fn max(&self) -> usize {
        self.max_in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn count(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// An AR message (as wazuh-execd writes it) for `alert_file`'s alert with the source IP and rule
/// level replaced.
pub fn ar_message(ip: &str, level: u32) -> String {
    let mut v: serde_json::Value =
        serde_json::from_str(&read_fixture("protocol/1_execd_to_ar_stdin_line1_add.json"))
            .expect("sample");
    v["parameters"]["alert"]["data"]["srcip"] = serde_json::Value::String(ip.into());
    v["parameters"]["alert"]["rule"]["level"] = serde_json::json!(level);
    v.to_string()
}

/// A server that answers every request with `200` and a chunked body that never ends (up to
/// `limit` bytes): a model server, or ntfy, that tries to take the host's memory. It stops
/// sending when the client hangs up.
pub fn endless_answer(limit: usize) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut len = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0u8; len];
                let _ = std::io::Read::read_exact(&mut reader, &mut body);
                let mut out = stream;
                let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                if out.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = vec![b' '; 64 * 1024];
                let mut sent = 0;
                while sent < limit {
                    let framed = [
                        format!("{:x}\r\n", chunk.len()).as_bytes(),
                        &chunk[..],
                        b"\r\n",
                    ]
                    .concat();
                    if out.write_all(&framed).is_err() {
                        return;
                    }
                    sent += chunk.len();
                }
                let _ = out.write_all(b"0\r\n\r\n");
            });
        }
    });
    url
}

/// An ntfy server that accepts every push.
pub async fn ntfy_ok_server() -> wiremock::MockServer {
    let ntfy = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    ntfy
}

/// One invocation the way execd makes it: write the line, answer `continue` to check_keys,
/// close stdin, wait. Returns the time execd was blocked and the exit code.
pub fn execd_run(config: &std::path::Path, message: &str) -> (Duration, Option<i32>) {
    let mut cmd = command(config);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = writeln!(stdin, "{message}");
    let mut stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = std::io::BufRead::read_line(&mut stdout, &mut line);
    if !line.is_empty() {
        let mut v: serde_json::Value = serde_json::from_str(message).expect("message");
        v["command"] = "continue".into();
        let _ = writeln!(stdin, "{v}");
    }
    drop(stdin);
    let status = child.wait().expect("wait");
    (start.elapsed(), status.code())
}
