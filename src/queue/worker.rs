//! The detached worker (`ai-analyzer work`): drains the spool oldest first, sends the digests of
//! closed cooldown windows and retries the outbox, then exits when nothing is due soon.
//!
//! wazuh-execd runs one active response at a time and waits for it to exit, so intake only
//! spools the job and starts this worker in a new session with its stdio on /dev/null (execd's
//! pipes must not stay open), then exits. At most `ollama.max_concurrent` workers run at a time
//! on the host (a slot lock each), so an alert storm never becomes a process storm.

use std::collections::HashSet;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config::{Settings, Source};
use crate::deliver::{archive, digest, outbox, Channels};
use crate::gate::cooldown::{self, Decision};
use crate::gate::{self, held::Held};
use crate::intake::alert::Alert;
use crate::pipeline::{self, RunOptions};
use crate::queue::spool::{self, Job};
use crate::util::claim::{self, Claim};
use crate::util::now_ms;
use crate::util::slots;
use crate::util::state::StateDir;

/// How often an idle worker looks at the spool again.
pub const POLL: Duration = Duration::from_millis(250);

/// Starts `ai-analyzer work` detached: a new session, stdio on /dev/null, nothing inherited that
/// keeps execd's pipes open (std opens every other descriptor close-on-exec).
pub fn spawn(source: &Source) -> std::io::Result<u32> {
    let child = detached(source).stdin(Stdio::null()).spawn()?;
    Ok(child.id())
}

/// Starts a detached worker that takes `job` from its stdin instead of the spool: the hand-off
/// when the spool cannot be written (a full disk), so execd is still freed at once.
pub fn spawn_with_job(source: &Source, job: &Job) -> std::io::Result<u32> {
    use std::io::Write as _;
    let data = serde_json::to_vec(job).map_err(std::io::Error::other)?;
    let mut cmd = detached(source);
    cmd.arg(JOB_ON_STDIN).stdin(Stdio::piped());
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let written = match child.stdin.take() {
        // The worker reads its stdin first thing; it ends at our close.
        Some(mut stdin) => stdin.write_all(&data),
        None => Err(std::io::Error::other("no pipe to the worker")),
    };
    written.map(|()| pid).inspect_err(|_| {
        let _ = child.kill();
    })
}

/// The flag of `work` that takes one job from stdin.
pub const JOB_ON_STDIN: &str = "--job-on-stdin";

fn detached(source: &Source) -> Command {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("/proc/self/exe"));
    let mut cmd = Command::new(exe);
    cmd.arg("work").stdout(Stdio::null()).stderr(Stdio::null());
    if let Source::File(path) = source {
        cmd.arg("--config").arg(path);
    }
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            close_inherited_descriptors();
            Ok(())
        });
    }
    cmd
}

/// Reads the job a parent hands over on stdin (see [`spawn_with_job`]), at most `limit` bytes.
pub fn read_job(input: impl std::io::Read, limit: u64) -> anyhow::Result<Job> {
    use anyhow::Context as _;
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut input.take(limit.saturating_add(1)), &mut data)
        .context("cannot read the job handed over on stdin")?;
    anyhow::ensure!(
        data.len() as u64 <= limit,
        "the job handed over on stdin is over {limit} bytes"
    );
    serde_json::from_slice(&data).context("the job handed over on stdin is not a job")
}

/// One job handed over in memory: analysed and delivered here, with no worker slot (no other
/// worker can see it), then whatever else is due.
pub async fn run_handed(settings: &Settings, job: Job) -> anyhow::Result<()> {
    if let Err(e) = process(settings, &job).await {
        // Nowhere to keep it: the log is the last place the alert is named.
        tracing::error!(
            "job handed over in memory failed: {e:#}; lost: alert rule {} from {}",
            Alert::new(job.alert.clone()).rule_id(),
            Alert::new(job.alert)
                .source_ip()
                .map(|(ip, _)| ip.to_string())
                .unwrap_or_else(|| "no source address".into())
        );
    }
    if let Err(e) = run(settings).await {
        tracing::debug!("no worker pass after the handed-over job: {e:#}");
    }
    Ok(())
}

/// Closes every descriptor above stderr in the child before it runs: whatever the parent held
/// (a pipe of execd's, a socket, a lock) must not live on in a worker that outlives it. Only
/// async-signal-safe calls: it runs between fork and exec.
fn close_inherited_descriptors() {
    // SAFETY: close_range and close take plain integers and touch no memory of ours.
    unsafe {
        if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
            for fd in 3..1024 {
                libc::close(fd);
            }
        }
    }
}

/// Starts a worker unless enough are running already.
pub fn ensure_running(settings: &Settings, source: &Source) {
    let dirs = settings.state();
    let n = settings.ollama.max_concurrent;
    if slots::busy(&dirs.slots(), "worker", n) >= n {
        tracing::debug!("a worker is running; it will take the job");
        return;
    }
    match spawn(source) {
        Ok(pid) => tracing::debug!("worker started (pid {pid})"),
        Err(e) => tracing::error!("cannot start the worker: {e}; the next run will take the job"),
    }
}

/// What one `ai-analyzer work` did, for a person who ran it by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worked {
    /// Every worker slot was taken: the running workers do the work.
    Busy(u32),
    /// Jobs taken from the spool, and messages still waiting in the outbox.
    Done { jobs: usize, outbox: usize },
}

impl std::fmt::Display for Worked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Worked::Busy(n) => write!(
                f,
                "{n} worker(s) already running (ollama.max_concurrent = {n}); they take the jobs"
            ),
            Worked::Done { jobs, outbox } => write!(
                f,
                "{jobs} job(s) from the spool done; {outbox} message(s) waiting in the outbox"
            ),
        }
    }
}

/// `ai-analyzer work`.
pub async fn run(settings: &Settings) -> anyhow::Result<Worked> {
    let dirs = settings.state();
    let n = settings.ollama.max_concurrent;
    let Some(mut slot) = slots::try_acquire(&dirs.slots(), "worker", n)? else {
        tracing::debug!("{n} worker(s) already running; nothing to do");
        return Ok(Worked::Busy(n));
    };
    tracing::debug!("worker in slot {} of {n}", slot.index);
    let linger_ms = (settings.dedup.cooldown_secs.max(60) as i64)
        .saturating_add(1)
        .saturating_mul(1000);
    let mut failed: HashSet<PathBuf> = HashSet::new();
    let mut down = outbox::Down::default();
    let channels = Channels::new(settings);
    let mut jobs = 0;
    let mut removed_ms = now_ms();
    loop {
        let pass = drain(settings, &dirs, &mut failed).await;
        jobs += pass.done;
        digest::send_digests(settings);
        digest::shared_digests(settings).await;
        digest::send_held(settings);
        campaign_lookups(settings).await;
        // Bounded like the lookups: the push never waits long for its outcome.
        let _ = tokio::time::timeout(CAMPAIGN_LOOKUP_LIMIT, campaign_outcomes(settings)).await;
        digest::send_campaigns(settings).await;
        outbox::flush(&dirs.outbox(), &channels, &mut down).await;
        if now_ms().saturating_sub(removed_ms) > REMOVE_EVERY_MS {
            // A worker that stays up for hours still removes what has expired.
            remove_expired(settings).await;
            removed_ms = now_ms();
        }

        // Jobs another worker holds are that worker's; only claimable ones keep us here.
        let claimable = spool::list(&dirs.spool())
            .iter()
            .any(|p| !failed.contains(p) && !pass.busy.contains(p));
        let next_due = [
            cooldown::Store::new(settings.state().cooldown(), settings.dedup.cooldown_secs)
                .next_due_ms(),
            outbox::next_due_ms(&dirs.outbox()),
            Held::new(dirs.limits()).next_due_ms(),
            gate::campaign::Store::new(dirs.campaigns(), &settings.campaign).next_due_ms(),
            gate::shared::cooldown::next_due_ms(&gate::shared::cooldown::handover_dir(settings)),
        ]
        .into_iter()
        .flatten()
        .min();
        let now = now_ms();
        let due_soon = next_due.is_some_and(|t| t.saturating_sub(now) <= linger_ms);
        if !claimable && !due_soon {
            drop(slot);
            // An intake that saw us running may have spooled a job just now: look once more.
            if spool::list(&dirs.spool())
                .iter()
                .all(|p| failed.contains(p))
            {
                break;
            }
            match slots::try_acquire(&dirs.slots(), "worker", n)? {
                Some(s) => slot = s,
                None => break,
            }
        }
        if pass.done == 0 {
            // Nothing moved: wait until the next item falls due, at most POLL; an item already
            // due but held back (its server is down) waits a full POLL.
            let wait = next_due
                .filter(|t| *t > now)
                .map(|t| Duration::from_millis((t - now).min(POLL.as_millis() as i64) as u64))
                .unwrap_or(POLL);
            tokio::time::sleep(wait.max(Duration::from_millis(20))).await;
        }
    }
    remove_expired(settings).await;
    prune(settings);
    tracing::debug!("worker done");
    Ok(Worked::Done {
        jobs,
        outbox: outbox::depth(&dirs.outbox()).0,
    })
}

/// How often a long-running worker removes the shared state's expired documents.
const REMOVE_EVERY_MS: i64 = 3_600_000;

/// Removes the shared state's expired documents (past windows, answers past their TTL, budgets
/// of past days); bounded like every wait on the indexer.
async fn remove_expired(settings: &Settings) {
    let Some(shared) = settings.shared() else {
        return;
    };
    let limit = crate::investigate::cluster::SHARED_LIMIT * 3;
    match tokio::time::timeout(limit, shared.remove_expired(now_ms())).await {
        Ok(Ok(n)) if n > 0 => tracing::debug!("shared state: {n} expired document(s) removed"),
        Ok(Err(e)) => tracing::debug!("shared state: expired documents not removed: {e}"),
        _ => {}
    }
}

/// Before a campaign push goes out, its top `campaign.paid_lookups` addresses are looked up
/// (within every source's budget; a cached answer costs nothing), so that the push can name
/// their risk, network and country.
async fn campaign_lookups(settings: &Settings) {
    let n = settings.campaign.paid_lookups as usize;
    if n == 0 {
        return;
    }
    let store = gate::campaign::Store::new(settings.state().campaigns(), &settings.campaign);
    let setup = settings.investigation();
    let unknown: Vec<std::net::IpAddr> = store
        .top_due(now_ms(), n)
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .filter(|ip| {
            crate::investigate::scope::scope(*ip).is_global()
                && crate::investigate::known_so_far(*ip, &setup).is_none()
        })
        .collect();
    if unknown.is_empty() {
        return;
    }
    // All at once, each source within its own timeout: the push waits for the slowest only.
    let lookups = unknown
        .iter()
        .map(|ip| crate::investigate::investigate_intel(*ip, &setup));
    let _ = tokio::time::timeout(
        CAMPAIGN_LOOKUP_LIMIT,
        futures_util::future::join_all(lookups),
    )
    .await;
}

/// Did one of a login campaign's top addresses get in? Their history since the campaign's first
/// alert answers, before its push goes out.
async fn campaign_outcomes(settings: &Settings) {
    let n = (settings.campaign.paid_lookups as usize).max(1);
    let store = gate::campaign::Store::new(settings.state().campaigns(), &settings.campaign);
    let setup = settings.investigation();
    for (key, first_ms, top) in store.logins_due(now_ms(), n) {
        let Some(since) = chrono::DateTime::from_timestamp_millis(first_ms) else {
            continue;
        };
        let since = since.fixed_offset();
        let mut outcome = None;
        for ip in top.iter().filter_map(|ip| ip.parse().ok()) {
            let Ok(found) = crate::investigate::history::find(ip, None, &setup).await else {
                continue;
            };
            if let Some(o) = crate::investigate::outcome::login_since(&found, since) {
                outcome = Some(format!("{o} from {ip}"));
                break;
            }
        }
        let (text, succeeded) = match outcome {
            Some(text) => (text, true),
            None => (
                format!(
                    "Outcome: no successful login seen from its top {} addresses ({} h searched)",
                    top.len(),
                    settings.history.lookback_hours
                ),
                false,
            ),
        };
        if let Err(e) = store.set_outcome(&key, text, succeeded) {
            tracing::warn!("campaign outcome not kept: {e}");
        }
    }
}

/// The longest a campaign push waits for the lookups of its top addresses.
const CAMPAIGN_LOOKUP_LIMIT: Duration = Duration::from_secs(15);

/// What one pass over the spool did.
#[derive(Default)]
struct Pass {
    /// Jobs delivered (or failed and set aside) by this pass.
    done: usize,
    /// Jobs another worker holds right now.
    busy: HashSet<PathBuf>,
}

/// The cooldown for a job that intake spooled without it (its lock was busy): the worker may wait
/// for the lock. `None` when even that fails; the job is then analysed.
fn late_gate(settings: &Settings, alert: &Alert, received_ms: i64) -> Option<Decision> {
    let store = cooldown::Store::new(settings.state().cooldown(), settings.dedup.cooldown_secs)
        .patient(LATE_GATE_WAIT);
    match store.gate(alert, received_ms) {
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!("cooldown state unavailable ({e}); analysing without dedup");
            None
        }
    }
}

/// How long the worker waits for the cooldown lock.
const LATE_GATE_WAIT: Duration = Duration::from_secs(10);

/// Analyses and delivers every job in the spool, oldest first.
async fn drain(settings: &Settings, dirs: &StateDir, failed: &mut HashSet<PathBuf>) -> Pass {
    let mut pass = Pass::default();
    // One job at a time, the spool read again after each: a level-15 alert that arrives while
    // a long analysis runs is the next one taken, ahead of older, lower ones.
    while let Some(path) = next_job(dirs, failed, &mut pass) {
        let claimed = match claim::claim::<Job>(&path) {
            Claim::Got(c) => c,
            Claim::Busy => {
                pass.busy.insert(path);
                continue;
            }
            Claim::Bad(why) => {
                tracing::error!("spooled job unreadable, set aside: {why}");
                failed.insert(path);
                pass.done += 1;
                continue;
            }
        };
        pass.done += 1;
        match process(settings, &claimed.value).await {
            Ok(()) => {
                if let Err(e) = claimed.done() {
                    tracing::error!("job done but cannot remove {}: {e}", path.display());
                }
            }
            Err(e) => {
                tracing::error!(
                    "job {} failed: {e:#}; it stays in the spool for the next worker",
                    file_name(&path)
                );
                failed.insert(path);
            }
        }
    }
    pass
}

/// The first job in the spool's order that this pass has not found failed or busy.
fn next_job(dirs: &StateDir, failed: &HashSet<PathBuf>, pass: &mut Pass) -> Option<PathBuf> {
    spool::list(&dirs.spool())
        .into_iter()
        .find(|p| !failed.contains(p) && !pass.busy.contains(p))
}

/// One job: the cooldown when intake could not apply it, then the analysis and delivery. An
/// error means the report could not be delivered nor kept: the job must be kept.
async fn process(settings: &Settings, job: &Job) -> anyhow::Result<()> {
    let alert = Alert::new(job.alert.clone());
    let mut earlier = job.earlier.clone();
    if job.ungated {
        match late_gate(settings, &alert, job.received_ms) {
            Some(Decision::Counted { count, .. }) => {
                tracing::info!(
                    "counted, not analysed: {count} alert(s) for {} since its last report \
                     (the cooldown applied by the worker)",
                    cooldown::key_for(&alert)
                );
                return Ok(());
            }
            Some(Decision::Analyse { earlier: e, .. }) => earlier = e,
            None => {}
        }
    }
    let Some(earlier) = gate::shared::gate(settings, &alert, job.received_ms, earlier).await else {
        return Ok(());
    };
    if gate::over_ceiling(settings, &alert, now_ms()) {
        return Ok(());
    }
    let options = RunOptions {
        dry_run: false,
        earlier,
        ntfy: job.ntfy.clone(),
        waited_secs: job.age_secs(),
        pdf: None,
    };
    pipeline::analyse_and_deliver(&alert, settings, options)
        .await
        .map(|_| ())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Removes what has outlived its use under `state_dir`: cached answers past `cache.ttl_hours`,
/// temporary files a crash left behind, unreadable jobs and refused deliveries after 30 days;
/// saved reports past `report.max_age_days` or beyond `report.max_total_mb`.
pub fn prune(settings: &Settings) {
    let dirs = settings.state();
    let state = dirs.root();
    let (cache, reports) = (dirs.cache(), dirs.reports());
    let now = std::time::SystemTime::now();
    let older_than = |path: &Path, age: Duration| {
        std::fs::symlink_metadata(path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|a| a > age)
    };
    let ttl = Duration::from_secs(settings.cache.ttl_hours.max(1).saturating_mul(3600));
    let month = Duration::from_secs(30 * 86_400);
    let mut removed = 0usize;
    let mut stack = vec![state.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if path != reports {
                    stack.push(path);
                }
                continue;
            }
            if !kind.is_file() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let in_cache = path.starts_with(&cache);
            let stale = (name.ends_with(".tmp") && older_than(&path, Duration::from_secs(3600)))
                || (in_cache
                    && name.ends_with(".json")
                    && older_than(&path, ttl.max(Duration::from_secs(86_400))))
                || (name.ends_with(".bad") && older_than(&path, month))
                || (name.ends_with(".out") && older_than(&path, month) && is_dead(&path));
            if stale && std::fs::remove_file(&path).is_ok() {
                removed += 1;
            }
        }
    }
    if removed > 0 {
        tracing::debug!("pruned {removed} stale file(s) under {}", state.display());
    }
    let report = &settings.report;
    let old_reports = archive::prune(
        &reports,
        (report.max_age_days > 0)
            .then(|| Duration::from_secs(report.max_age_days.saturating_mul(86_400))),
        (report.max_total_mb > 0).then(|| report.max_total_mb.saturating_mul(1 << 20)),
    );
    if old_reports > 0 {
        tracing::info!(
            "removed {old_reports} saved report file(s) past report.max_age_days or \
             report.max_total_mb"
        );
    }
}

fn is_dead(path: &Path) -> bool {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<outbox::Entry>(&b).ok())
        .is_some_and(|e| e.dead.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handed_over_job_is_read_whole_and_bounded() {
        let job = Job::new(
            crate::intake::Origin::Execd,
            serde_json::json!({"rule": {"id": "5712"}}),
        );
        let data = serde_json::to_vec(&job).unwrap();
        let n = data.len() as u64;
        let read = read_job(&data[..], n).expect("a job at the limit");
        assert_eq!(read.alert, job.alert);
        let err = read_job(&data[..], n - 1).unwrap_err().to_string();
        assert!(err.contains(&format!("over {} bytes", n - 1)), "{err}");
        let err = read_job(&b"{\"half\""[..], 100).unwrap_err().to_string();
        assert!(err.contains("not a job"), "{err}");
    }

    /// A descriptor the parent left open (not close-on-exec) is closed in the worker.
    #[test]
    fn a_worker_inherits_no_descriptor_above_stderr() {
        use std::os::unix::io::AsRawFd;
        let f = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: dup of a descriptor we own; the copy is closed below.
        let fd = unsafe { libc::dup(f.as_raw_fd()) };
        assert!(fd > 2);
        let probe = format!("test -e /proc/self/fd/{fd} && echo open || echo closed");
        let run = |close: bool| {
            let mut cmd = Command::new("sh");
            cmd.arg("-c").arg(&probe);
            if close {
                // SAFETY: only close and close_range run in the child.
                unsafe {
                    cmd.pre_exec(|| {
                        close_inherited_descriptors();
                        Ok(())
                    });
                }
            }
            String::from_utf8_lossy(&cmd.output().unwrap().stdout)
                .trim()
                .to_string()
        };
        let (without, with) = (run(false), run(true));
        // SAFETY: closes the copy made above.
        unsafe { libc::close(fd) };
        assert_eq!(without, "open", "the probe sees an inherited descriptor");
        assert_eq!(with, "closed");
    }
    use std::time::SystemTime;

    fn aged(path: &Path, secs: u64) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"{}").unwrap();
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    #[test]
    fn prune_removes_only_what_has_outlived_its_use() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::default();
        settings.general.state_dir = dir.path().to_path_buf();
        settings.cache.ttl_hours = 24;
        let s = dir.path();
        let day = 86_400;
        aged(&s.join("cache/ti/abuseipdb/203.0.113.5.json"), 2 * day); // past the TTL
        aged(&s.join("cache/ti/abuseipdb/203.0.113.6.json"), 3600); // fresh
        aged(&s.join("spool/.x.job.1.2.tmp"), 2 * 3600); // crash leftover
        aged(&s.join("spool/0001.job"), 40 * day); // a job is never pruned
        aged(&s.join("spool/0002.bad"), 40 * day);
        aged(&s.join("reports/old.md"), 400 * day); // past report.max_age_days
        aged(&s.join("reports/recent.md"), 10 * day);
        aged(&s.join("cooldown/203.0.113.5.json"), 40 * day); // not a cache file
        prune(&settings);
        assert!(!s.join("cache/ti/abuseipdb/203.0.113.5.json").exists());
        assert!(s.join("cache/ti/abuseipdb/203.0.113.6.json").exists());
        assert!(!s.join("spool/.x.job.1.2.tmp").exists());
        assert!(s.join("spool/0001.job").exists());
        assert!(!s.join("spool/0002.bad").exists());
        assert!(!s.join("reports/old.md").exists());
        assert!(s.join("reports/recent.md").exists());
        assert!(s.join("cooldown/203.0.113.5.json").exists());
        // Kept for ever when asked to.
        aged(&s.join("reports/old.md"), 400 * day);
        settings.report.max_age_days = 0;
        prune(&settings);
        assert!(s.join("reports/old.md").exists());
    }
}
