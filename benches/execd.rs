//! How long wazuh-execd is blocked per alert, and how much memory intake and the worker use.
//!
//! `cargo bench --bench execd` runs the release binary the way execd does (one line on stdin, the
//! check_keys answer, stdin closed, wait for exit) against local fakes:
//! - 200 detached runs (the default): execd-blocked time p50/p99;
//! - 10 foreground runs (`--foreground`) with a model that takes 2 s, for comparison;
//! - peak RSS of one intake process and of one worker draining 50 jobs.

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// Runs like execd; returns (blocked time, peak RSS in KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4 in wait_rss
fn execd_run(mut cmd: Command, message: &str) -> (Duration, i64) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = writeln!(stdin, "{message}");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    let _ = out.read_line(&mut line);
    if !line.is_empty() {
        let mut v: serde_json::Value = serde_json::from_str(message).expect("json");
        v["command"] = "continue".into();
        let _ = writeln!(stdin, "{v}");
    }
    drop(stdin);
    let rss = wait_rss(child.id());
    (start.elapsed(), rss)
}

/// Waits for `pid` and returns its peak RSS in KiB.
fn wait_rss(pid: u32) -> i64 {
    let mut status = 0;
    // SAFETY: plain syscall on our own child with valid out-pointers.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(pid as i32, &mut status, 0, &mut usage) };
    usage.ru_maxrss
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[allow(clippy::zombie_processes)] // reaped by wait4 in wait_rss
fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let ntfy = rt.block_on(async {
        let server = wiremock::MockServer::start().await;
        wiremock::Mock::given(wiremock::matchers::method("POST"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(ntfy_ok()))
            .mount(&server)
            .await;
        server
    });

    // 1. Detached: 200 alerts from 200 addresses, the model answering at once.
    let llm = SlowLlm::start(vec![Duration::from_millis(1)], "# Bench report\nbody");
    let env = Env::new(&llm.url, &ntfy.uri(), "");
    let mut blocked = Vec::new();
    let mut intake_rss = 0;
    for i in 0..200u32 {
        let ip = format!("198.51.{}.{}", 100 + i / 250, 1 + i % 250);
        let (took, rss) = execd_run(env.cmd(), &ar_message(&ip, 10));
        blocked.push(took);
        intake_rss = intake_rss.max(rss);
    }
    blocked.sort();
    let delivered_by = Instant::now();
    while rt
        .block_on(ntfy.received_requests())
        .unwrap_or_default()
        .len()
        < 200
        && delivered_by.elapsed() < Duration::from_secs(120)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let delivered = rt
        .block_on(ntfy.received_requests())
        .unwrap_or_default()
        .len();
    wait_workers_gone(&env.config, Duration::from_secs(60));
    println!(
        "detached   (200 runs): execd blocked p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; {delivered}/200 reports delivered",
        ms(percentile(&blocked, 0.5)),
        ms(percentile(&blocked, 0.99)),
        ms(blocked[blocked.len() - 1]),
    );
    println!("intake peak RSS: {intake_rss} KiB");

    // 2. Foreground, the model taking 2 s: what execd would suffer without the hand-off.
    let slow = SlowLlm::start(vec![Duration::from_secs(2)], "# Bench report\nbody");
    let env = Env::new(&slow.url, &ntfy.uri(), "");
    let mut fg = Vec::new();
    for i in 0..10u32 {
        let mut cmd = env.cmd();
        cmd.arg("--foreground");
        let (took, _) = execd_run(cmd, &ar_message(&format!("203.0.113.{}", 1 + i), 10));
        fg.push(took);
    }
    fg.sort();
    println!(
        "foreground (10 runs, model takes 2 s): execd blocked p50 {:.1} ms, max {:.1} ms",
        ms(percentile(&fg, 0.5)),
        ms(fg[fg.len() - 1])
    );

    // 3. One worker draining 50 jobs: its peak RSS.
    let env = Env::new(&llm.url, &ntfy.uri(), "");
    let alert: serde_json::Value =
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5712.json")).expect("alert");
    for _ in 0..50 {
        let job = ai_analyzer::queue::spool::Job::new(
            ai_analyzer::queue::spool::Origin::Execd,
            alert.clone(),
        );
        ai_analyzer::queue::spool::put(&env.state().join("spool"), &job).expect("spool");
    }
    let mut cmd = env.cmd();
    cmd.arg("work").stdout(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let child = cmd.spawn().expect("worker");
    let rss = wait_rss(child.id());
    println!(
        "worker: 50 jobs in {:.0} ms, peak RSS {rss} KiB",
        ms(start.elapsed())
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
