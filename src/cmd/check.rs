//! `ai-analyzer check`: every component's probe, one line each; exit 1 when any failed.

use std::time::Duration;

use super::print_stdout;
use crate::analyze::ollama;
use crate::config::{Settings, Source};
use crate::deliver::{outbox, Channels};
use crate::investigate::{dnsbl, history};
use crate::queue::spool;
use crate::util::error::{EXIT_OK, EXIT_RUNTIME};
use crate::util::fsutil;
use crate::util::slots;

/// `check`: one line per item; exit 1 when anything is not OK.
pub(crate) async fn run(settings: &Settings, source: &Source) -> anyhow::Result<u8> {
    let mut lines = vec![format!("ok    config      {source}")];
    let mut failed = false;
    let mut line = |ok: bool, what: &str, text: String| {
        failed |= !ok;
        lines.push(format!(
            "{} {what:<11} {text}",
            if ok { "ok   " } else { "FAIL " }
        ));
    };
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .build()?;
    // Every component's own probe: the model server, each channel, each threat-intel source,
    // each DNS blocklist, the history backend.
    let probe = ollama::probe(&settings.ollama, &http).await;
    line(probe.ok, "ollama", probe.text);
    for channel in Channels::new(settings).iter() {
        let probe = channel.probe(&http).await;
        line(probe.ok, channel.kind(), probe.text);
    }
    for source in settings.providers.all() {
        let probe = source.probe(&http).await;
        line(probe.ok, source.provider().key(), probe.text);
    }
    for probe in dnsbl::probe(&settings.dnsbl).await {
        line(probe.ok, "dnsbl", probe.text);
    }
    let probe = history::probe(&settings.history, &http).await;
    line(probe.ok, "history", probe.text);
    let state = &settings.general.state_dir;
    match crate::util::fsutil::create_private_dir(state).and_then(|()| {
        let probe = state.join(".check");
        crate::util::fsutil::write_atomic(&probe, b"ok")?;
        std::fs::remove_file(probe)
    }) {
        Ok(()) => line(
            true,
            "state_dir",
            format!("{} is writable", state.display()),
        ),
        Err(e) => line(false, "state_dir", format!("{}: {e}", state.display())),
    }
    let dirs = settings.state();
    let jobs = spool::list(&dirs.spool()).len();
    line(
        true,
        "spool",
        format!("{jobs} job(s) waiting in {}", dirs.spool().display()),
    );
    let (pending, dead) = outbox::depth(&dirs.outbox());
    line(
        dead == 0,
        "outbox",
        format!("{pending} push(es) waiting for retry, {dead} refused for good (see the log)"),
    );
    let workers = slots::busy(&dirs.slots(), "worker", settings.ollama.max_concurrent);
    line(
        true,
        "worker",
        if workers == 0 {
            "none running".to_string()
        } else {
            format!("{workers} running")
        },
    );
    let cache = settings.state().cache();
    let (files, bytes) = fsutil::dir_size(&cache);
    line(
        true,
        "cache",
        format!(
            "{files} file(s), {} KiB in {}",
            bytes.div_ceil(1024),
            cache.display()
        ),
    );
    let log = &settings.general.log_file;
    if log == "-" {
        line(true, "log_file", "stderr".into());
    } else {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            Ok(_) => line(true, "log_file", format!("{log} is writable")),
            Err(e) => line(false, "log_file", format!("{log}: {e}")),
        }
    }
    print_stdout(&lines.join("\n"))?;
    Ok(if failed { EXIT_RUNTIME } else { EXIT_OK })
}
