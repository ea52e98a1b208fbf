//! `ai-analyzer check`: every component's probe, one line each; exit 1 when any failed.

use std::net::IpAddr;
use std::time::Duration;

use super::print_stdout;
use crate::config::{self, Settings, Source};
use crate::deliver::{email, outbox};
use crate::queue::spool;
use crate::util::error::{EXIT_OK, EXIT_RUNTIME};
use crate::util::fsutil;
use crate::util::slots;

/// `check`: one line per item; exit 1 when anything is not OK.
pub async fn run(settings: &Settings, source: &Source) -> anyhow::Result<u8> {
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
    // Ollama: reachable, and the model pulled.
    let tags_url = config::join_url(&settings.ollama.url, "api/tags");
    match http.get(&tags_url).send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let model = &settings.ollama.model;
            let present = body["models"].as_array().is_some_and(|models| {
                models.iter().any(|m| {
                    let name = m["name"].as_str().unwrap_or_default();
                    name == model || name == format!("{model}:latest")
                })
            });
            if present {
                line(
                    true,
                    "ollama",
                    format!("{} has model {model}", settings.ollama.url),
                );
            } else {
                line(
                    false,
                    "ollama",
                    format!(
                        "{} is up but lacks model {model} (ollama pull {model})",
                        settings.ollama.url
                    ),
                );
            }
        }
        Ok(r) => line(
            false,
            "ollama",
            format!("{tags_url} answered HTTP {}", r.status().as_u16()),
        ),
        Err(e) => line(
            false,
            "ollama",
            format!(
                "{} unreachable ({})",
                settings.ollama.url,
                crate::util::error::root_cause(&e)
            ),
        ),
    }
    if settings.ntfy.is_placeholder() {
        line(
            false,
            "ntfy",
            "topic \"wazuh-alerts\" on the public ntfy.sh is the placeholder: anyone can read it; \
             set ntfy.topic to a long topic of your own (nothing is pushed until then)"
                .into(),
        );
    } else if settings.ntfy.enabled() {
        let health = config::join_url(&settings.ntfy.url, "v1/health");
        match http.get(&health).send().await {
            Ok(r) if r.status().is_success() => line(
                true,
                "ntfy",
                format!(
                    "{} is up (topic {})",
                    settings.ntfy.url, settings.ntfy.topic
                ),
            ),
            Ok(r) => line(
                false,
                "ntfy",
                format!("{health} answered HTTP {}", r.status().as_u16()),
            ),
            Err(e) => line(
                false,
                "ntfy",
                format!(
                    "{} unreachable ({})",
                    settings.ntfy.url,
                    crate::util::error::root_cause(&e)
                ),
            ),
        }
    } else {
        line(
            true,
            "ntfy",
            "disabled (ntfy.url is empty): reports go to stdout and the archive".into(),
        );
    }
    // Threat-intel sources: reachable, or why they are skipped.
    for source in settings.providers.all() {
        let probe = source.probe(&http).await;
        line(probe.ok, source.provider().key(), probe.text);
    }
    // DNS blocklists: every list answers 127.0.0.2 as listed; that is their test entry.
    if settings.dnsbl.enabled {
        match crate::investigate::dnsbl::resolver(&settings.dnsbl) {
            Ok(resolver) => {
                let test = IpAddr::from([127, 0, 0, 2]);
                for zone in &settings.dnsbl.zones {
                    let listing = crate::investigate::dnsbl::query(&resolver, test, zone).await;
                    let ok = listing.status != crate::investigate::dnsbl::ListingStatus::Unknown;
                    let detail = listing.detail.clone().unwrap_or_else(|| {
                        format!("test entry 127.0.0.2 {}", listing.status.as_str())
                    });
                    line(ok, "dnsbl", format!("{}: {detail}", listing.zone));
                }
            }
            Err(e) => line(false, "dnsbl", e),
        }
    } else {
        line(true, "dnsbl", "disabled".into());
    }
    // History.
    match settings.history.backend {
        config::HistoryBackend::File => {
            let f = &settings.history.alerts_file;
            match std::fs::metadata(f) {
                Ok(m) => line(
                    true,
                    "history",
                    format!("{} readable, {} MiB", f.display(), m.len() / (1 << 20)),
                ),
                Err(e) => line(false, "history", format!("{}: {e}", f.display())),
            }
        }
        config::HistoryBackend::Indexer => {
            let url = &settings.history.indexer.url;
            match http.get(url).send().await {
                Ok(r) => line(
                    r.status().as_u16() != 401,
                    "history",
                    format!("indexer {url} answered HTTP {}", r.status().as_u16()),
                ),
                Err(e) => line(
                    false,
                    "history",
                    format!(
                        "indexer {url} unreachable ({})",
                        crate::util::error::root_cause(&e)
                    ),
                ),
            }
        }
    }
    // Mail.
    if settings.email.enabled {
        match email::probe(&settings.email).await {
            Ok(()) => line(
                true,
                "email",
                format!("{} accepts connections", settings.email.smtp_url),
            ),
            Err(e) => line(false, "email", e.to_string()),
        }
    } else {
        line(true, "email", "disabled".into());
    }
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
