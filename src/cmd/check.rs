//! `ai-analyzer check`: every component's probe, one line each; exit 1 when any failed.

use std::time::Duration;

use super::print_stdout;
use crate::config::{Settings, Source};
use crate::deliver::{outbox, Channels};
use crate::investigate::{dnsbl, history};
use crate::queue::spool;
use crate::util::error::{EXIT_OK, EXIT_RUNTIME};
use crate::util::fsutil;
use crate::util::slots;
use crate::util::Probe;

/// `check`: one line per item; exit 1 when anything is not OK.
pub(crate) async fn run(settings: &Settings, source: &Source) -> anyhow::Result<u8> {
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(5))
        .build()?;
    let mut probes = vec![("config", Probe::ok(source.to_string()))];
    // Every component's own probe: the model server, each channel, each threat-intel source,
    // each DNS blocklist, the history backend.
    probes.push(crate::analyze::llm::probe(settings, &http).await);
    for channel in Channels::new(settings).iter() {
        probes.push((channel.kind(), channel.probe(&http).await));
    }
    for source in settings.providers.all() {
        probes.push((source.provider().key(), source.probe(&http).await));
    }
    for probe in dnsbl::probe(&settings.dnsbl).await {
        probes.push(("dnsbl", probe));
    }
    let off_manager = !std::path::Path::new(crate::config::WAZUH_HOME)
        .join("etc/ossec.conf")
        .exists();
    let default_log =
        settings.history.alerts_file == crate::config::Settings::default().history.alerts_file;
    probes.push((
        "history",
        if off_manager
            && default_log
            && settings.history.backend == crate::config::HistoryBackend::File
        {
            Probe::ok(format!(
                "not on a Wazuh manager ({}/etc/ossec.conf is missing): no history is collected",
                crate::config::WAZUH_HOME
            ))
        } else {
            history::probe(&settings.history, &http).await
        },
    ));
    probes.push(("pdf", crate::deliver::pdf::probe()));
    let setup = settings.investigation();
    probes.push((
        "cluster",
        crate::investigate::cluster::probe(setup.shared.as_ref()).await,
    ));
    probes.extend(local_state(settings));
    probes.push(("budgets", budgets(settings)));
    probes.push(("permissions", permissions(settings, source)));
    let mut lines = Vec::new();
    for (what, p) in &probes {
        lines.push(format!(
            "{} {what:<11} {}",
            if p.ok { "ok   " } else { "FAIL " },
            p.text
        ));
        if let Some(next) = (!p.ok).then(|| next_step(what, settings)).flatten() {
            lines.push(format!("      {:<11} next: {next}", ""));
        }
    }
    print_stdout(&lines.join("\n"))?;
    let failed = probes.iter().any(|(_, p)| !p.ok);
    Ok(if failed { EXIT_RUNTIME } else { EXIT_OK })
}

/// What a newcomer does about a failed line, one line per component; None where the failed
/// line says it already.
fn next_step(what: &str, settings: &Settings) -> Option<String> {
    let provider = |name: &str| {
        format!(
            "check [providers.{name}] (url, and api_key where it takes one) and that this host \
             reaches it (a proxy goes in HTTPS_PROXY); or set enabled = false to do without it"
        )
    };
    Some(match what {
        // Its line names the resolver to use.
        "dnsbl" => return None,
        "log_file" => format!(
            "create the directory of [general] log_file ({}), or set it to \"-\" for stderr",
            settings.general.log_file
        ),
        "openai" => "check [openai] url, model and api_key (GET /v1/models must list the model); \
             reports go out without AI meanwhile"
            .into(),
        "ollama" => format!(
            "start Ollama (ollama serve) and pull the model (ollama pull {}), or point [ollama] url \
             at your server; reports go out without AI meanwhile",
            settings.ollama.model
        ),
        "ntfy" => "check [ntfy] url, topic and token; reports wait in the outbox meanwhile".into(),
        "email" => "check [email] smtp_url, from, to and the credentials; mails wait in the outbox meanwhile".into(),
        "wazuh" => "check [wazuh] queue_socket, or set feedback = false".into(),
        "history" => "check [history] alerts_file (or the indexer settings); reports say the history was not collected meanwhile".into(),
        "pdf" => "reinstall ai-analyzer; mails go out without the PDF meanwhile".into(),
        "cluster" => "check [history.indexer] url, username, password and ca_file, or set \
                      [cluster] backend = \"local\""
            .into(),
        "state_dir" | "spool" | "outbox" | "cache" | "worker" => format!(
            "run ai-analyzer install (it creates the state dir with the right owner), or fix the \
             path and permissions of [general] state_dir ({})",
            settings.general.state_dir.display()
        ),
        "permissions" => "chmod g-w,o-w the paths named above, or run ai-analyzer install again".into(),
        "budgets" => "wait for the next UTC day, or raise daily_budget under [providers.*]".into(),
        other if settings.providers.all().any(|p| p.provider().key() == other) => provider(other),
        _ => "see the line above; docs/usage.md has what each part needs".into(),
    })
}

/// Whether anyone but the owner and its group may change what the root worker reads: the
/// config (it names the servers the reports go to) and the state dir (jobs the worker analyses).
fn permissions(settings: &Settings, source: &Source) -> Probe {
    let mut paths = vec![settings.general.state_dir.clone()];
    if let Source::File(config) = source {
        paths.push(config.clone());
    }
    let wazuh = crate::util::fsutil::wazuh_gid();
    let open: Vec<String> = paths
        .iter()
        .filter_map(|p| {
            let meta = std::fs::metadata(p).ok()?;
            writable_by_others(&meta, wazuh).map(|who| format!("{} ({who})", p.display()))
        })
        .collect();
    if open.is_empty() {
        Probe::ok("the config and the state dir are writable by root and the wazuh group only")
    } else {
        Probe::failed(format!(
            "writable beyond root and the wazuh group: {} (run: chmod o-w, and g-w unless the \
             group is wazuh; the worker runs as root)",
            open.join(", ")
        ))
    }
}

/// Who besides root and the wazuh group may write a file with this metadata, if anyone.
fn writable_by_others(meta: &std::fs::Metadata, wazuh: Option<u32>) -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let mode = meta.mode();
    if mode & 0o002 != 0 {
        return Some("anyone".into());
    }
    let trusted_group = meta.gid() == 0 || Some(meta.gid()) == wazuh;
    if mode & 0o020 != 0 && !trusted_group {
        return Some(format!("group {}", meta.gid()));
    }
    let trusted_owner = meta.uid() == 0 || meta.uid() == euid();
    (!trusted_owner).then(|| format!("owner {}", meta.uid()))
}

/// The user this runs as (who may own its own files, when not root).
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// What is left today of each source's daily budget.
fn budgets(settings: &Settings) -> Probe {
    use crate::investigate::sources::Provider;
    use crate::util::ceiling::Daily;
    let dir = settings.state().limits();
    let now = crate::util::now_ms();
    let left: Vec<String> = Provider::ALL
        .iter()
        .filter_map(|p| {
            let source = settings.providers.get(*p);
            let daily = source.budget().daily;
            (source.enabled() && daily > 0).then(|| {
                let left = Daily::new(&dir, &format!("{}-day", p.key()), daily)
                    .left(now)
                    .unwrap_or(daily);
                format!("{} {left} of {daily}", p.key())
            })
        })
        .collect();
    if left.is_empty() {
        Probe::ok("no source has a daily budget")
    } else {
        Probe::ok(format!("left today (UTC): {}", left.join(", ")))
    }
}

/// What is on this host: the state dir and what waits in it, the workers, the cache, the log.
fn local_state(settings: &Settings) -> Vec<(&'static str, Probe)> {
    let mut probes = Vec::new();
    let state = &settings.general.state_dir;
    probes.push((
        "state_dir",
        match fsutil::create_private_dir(state).and_then(|()| {
            let probe = state.join(".check");
            fsutil::write_atomic(&probe, b"ok")?;
            std::fs::remove_file(probe)
        }) {
            Ok(()) => Probe::ok(format!("{} is writable", state.display())),
            Err(e) => Probe::failed(format!("{}: {e}", state.display())),
        },
    ));
    let dirs = settings.state();
    let jobs = spool::list(&dirs.spool()).len();
    probes.push((
        "spool",
        Probe::ok(format!(
            "{jobs} job(s) waiting in {}",
            dirs.spool().display()
        )),
    ));
    let (pending, dead) = outbox::depth(&dirs.outbox());
    probes.push((
        "outbox",
        Probe {
            ok: dead == 0,
            text: format!(
                "{pending} push(es) waiting for retry, {dead} refused for good (see the log)"
            ),
        },
    ));
    let workers = slots::busy(&dirs.slots(), "worker", settings.ollama.max_concurrent);
    probes.push((
        "worker",
        Probe::ok(if workers == 0 {
            "none running".to_string()
        } else {
            format!("{workers} running")
        }),
    ));
    let cache = dirs.cache();
    let (files, bytes) = fsutil::dir_size(&cache);
    probes.push((
        "cache",
        Probe::ok(format!(
            "{files} file(s), {} KiB in {}",
            bytes.div_ceil(1024),
            cache.display()
        )),
    ));
    let log = &settings.general.log_file;
    probes.push((
        "log_file",
        if log == "-" {
            Probe::ok("stderr")
        } else {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
            {
                Ok(_) => Probe::ok(format!("{log} is writable")),
                Err(e) => Probe::failed(format!("{log}: {e}")),
            }
        },
    ));
    probes
}
