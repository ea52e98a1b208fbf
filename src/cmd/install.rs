//! `ai-analyzer install` / `uninstall`: put the binary, the config, the state dir and the Wazuh
//! decoder and rules in place under a Wazuh home, the way Wazuh's own installer lays out active
//! responses (`root:wazuh`, binaries 0750), and print the `ossec.conf` blocks to add.
//!
//! Idempotent: running it again changes nothing that is already right, and never overwrites a
//! config the admin has edited. The .deb's maintainer scripts call these same commands.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::util::fsutil;

pub(crate) const CONFIG_TEMPLATE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/config/ai-analyzer.toml"
));
pub(crate) const DECODERS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/wazuh/ai-analyzer_decoders.xml"
));
pub(crate) const RULES: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/examples/wazuh/ai-analyzer_rules.xml"
));

/// What one install step did, for the printed plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Done {
    Created,
    Updated,
    Unchanged,
    Kept,
    Removed,
    Absent,
    WouldCreate,
    WouldUpdate,
    WouldRemove,
}

impl Done {
    fn word(&self) -> &'static str {
        match self {
            Done::Created => "created",
            Done::Updated => "updated",
            Done::Unchanged => "unchanged",
            Done::Kept => "kept (already there; not overwritten)",
            Done::Removed => "removed",
            Done::Absent => "not there",
            Done::WouldCreate => "would create",
            Done::WouldUpdate => "would update",
            Done::WouldRemove => "would remove",
        }
    }
}

/// The paths under a Wazuh home.
pub(crate) struct Layout {
    pub home: PathBuf,
}

impl Layout {
    pub(crate) fn binary(&self) -> PathBuf {
        self.home.join("active-response/bin/ai-analyzer")
    }
    pub(crate) fn integration(&self) -> PathBuf {
        self.home.join("integrations/custom-ai-analyzer")
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.home.join("etc/ai-analyzer.toml")
    }
    pub(crate) fn decoders(&self) -> PathBuf {
        self.home.join("etc/decoders/ai-analyzer_decoders.xml")
    }
    pub(crate) fn rules(&self) -> PathBuf {
        self.home.join("etc/rules/ai-analyzer_rules.xml")
    }
    pub(crate) fn state(&self) -> PathBuf {
        self.home.join("var/ai-analyzer")
    }
}

/// Owner root, group wazuh, when we can; otherwise leave ownership as it is.
fn owner(gid: Option<u32>) -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    gid.filter(|_| root).map(|g| (0, g))
}

/// Writes `data` at `path` with `mode` unless the same bytes are there already.
fn put_file(
    path: &Path,
    data: &[u8],
    mode: u32,
    overwrite: bool,
    dry: bool,
    gid: Option<u32>,
) -> io::Result<Done> {
    let existing = fs::read(path).ok();
    let done = match (&existing, overwrite) {
        (Some(_), false) => return Ok(Done::Kept),
        (Some(old), true) if old.as_slice() == data => {
            if !dry {
                fsutil::set_mode_owner(path, mode, owner(gid))?;
            }
            return Ok(Done::Unchanged);
        }
        (Some(_), true) => Done::Updated,
        (None, _) => Done::Created,
    };
    if dry {
        return Ok(if done == Done::Created {
            Done::WouldCreate
        } else {
            Done::WouldUpdate
        });
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fsutil::write_atomic_as(path, data, mode, owner(gid))?;
    Ok(done)
}

/// The config template with every `/var/ossec` path moved to `home`.
pub(crate) fn config_for(home: &Path) -> String {
    let home = home.display().to_string();
    let home = home.trim_end_matches('/');
    CONFIG_TEMPLATE.replace("\"/var/ossec/", &format!("\"{home}/"))
}

/// The block(s) to add to ossec.conf: the active response, or with `integration` the
/// integratord hook instead (both at once would give two reports per alert).
pub(crate) fn ossec_snippet(cooldown_secs: u64, integration: bool) -> String {
    if integration {
        return "<!-- ai-analyzer: add inside <ossec_config> of ossec.conf, instead of the active response
     (both give two reports per alert) -->
<integration>
  <name>custom-ai-analyzer</name>
  <!-- REPLACE with your ntfy server and topic; or remove it to use [ntfy] of the config -->
  <hook_url>https://ntfy.example.com/wazuh-alerts</hook_url>
  <!-- REPLACE with the topic's access token, or remove it when the topic needs none -->
  <api_key>tk_replace_me</api_key>
  <level>10</level>
  <alert_format>json</alert_format>
</integration>
"
        .to_string();
    }
    format!(
        "<!-- ai-analyzer: add inside <ossec_config> of ossec.conf -->
<command>
  <name>ai-analyzer</name>
  <executable>ai-analyzer</executable>
  <timeout_allowed>no</timeout_allowed>
</command>

<!-- No <timeout>: ai-analyzer's own cooldown ({cooldown_secs} s) deduplicates per address. -->
<active-response>
  <command>ai-analyzer</command>
  <location>server</location>
  <level>10</level>
</active-response>
"
    )
}

pub(crate) struct Options {
    pub home: PathBuf,
    pub dry_run: bool,
    pub integration: bool,
}

/// Installs; returns the lines to print.
/// The state dir: root:wazuh 2750, and everything in it of group wazuh, so that the group reads
/// the reports (and what the worker makes later inherits the group). Changed on descriptors
/// only, never through a symlink.
fn share_state(state: &Path, gid: Option<u32>) -> io::Result<()> {
    fsutil::create_private_dir(state)?;
    let owner = owner(gid);
    fsutil::set_dir_mode_owner(state, 0o2000 | fsutil::DIR_MODE, owner)?;
    if let Some((_, gid)) = owner {
        fsutil::share_with_group(state, gid)?;
    }
    Ok(())
}

pub(crate) fn install(opts: &Options) -> anyhow::Result<Vec<String>> {
    let layout = Layout {
        home: opts.home.clone(),
    };
    if !layout.home.join("active-response/bin").is_dir() {
        anyhow::bail!(
            "{} does not look like a Wazuh home (no active-response/bin); use --wazuh-dir",
            layout.home.display()
        );
    }
    let mut lines = Vec::new();
    let gid = fsutil::wazuh_gid();
    if gid.is_none() {
        lines.push(
            "warning: group wazuh does not exist; leaving the group of the files as it is".into(),
        );
    }
    let exe = std::env::current_exe()?;
    let binary = fs::read(&exe)?;
    let dry = opts.dry_run;
    let mut step = |what: &str, path: &Path, done: io::Result<Done>| -> anyhow::Result<()> {
        let done = done.map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?;
        lines.push(format!("{what:<10} {} ({})", path.display(), done.word()));
        Ok(())
    };
    step(
        "binary",
        &layout.binary(),
        put_file(&layout.binary(), &binary, 0o750, true, dry, gid),
    )?;
    if opts.integration {
        step(
            "integration",
            &layout.integration(),
            put_file(&layout.integration(), &binary, 0o750, true, dry, gid),
        )?;
    }
    let config = config_for(&layout.home);
    step(
        "config",
        &layout.config(),
        put_file(&layout.config(), config.as_bytes(), 0o640, false, dry, gid),
    )?;
    step(
        "decoders",
        &layout.decoders(),
        put_file(
            &layout.decoders(),
            DECODERS.as_bytes(),
            0o660,
            true,
            dry,
            gid,
        ),
    )?;
    step(
        "rules",
        &layout.rules(),
        put_file(&layout.rules(), RULES.as_bytes(), 0o660, true, dry, gid),
    )?;
    let state = layout.state();
    let state_done = match (state.is_dir(), dry) {
        (true, true) => Ok(Done::Unchanged),
        (false, true) => Ok(Done::WouldCreate),
        (existed, false) => share_state(&state, gid).map(|()| {
            if existed {
                Done::Unchanged
            } else {
                Done::Created
            }
        }),
    };
    step("state dir", &state, state_done)?;
    if opts.integration {
        // wazuh-integratord runs the hook as the wazuh user: it gets a state dir of its own.
        let own = state.join(crate::config::INTEGRATORD_STATE);
        let uid = fsutil::wazuh_uid();
        let done = match (own.is_dir(), dry) {
            (true, true) => Ok(Done::Unchanged),
            (false, true) => Ok(Done::WouldCreate),
            (existed, false) => fsutil::create_private_dir(&own)
                .and_then(|()| {
                    let owner = uid.zip(gid);
                    fsutil::set_dir_mode_owner(&own, fsutil::DIR_MODE, owner)
                })
                .map(|()| {
                    if existed {
                        Done::Unchanged
                    } else {
                        Done::Created
                    }
                }),
        };
        step("hook state", &own, done)?;
        if uid.is_none() {
            lines.push(
                "warning: user wazuh does not exist; the integratord hook needs its state dir owned by it"
                    .into(),
            );
        }
    }
    lines.push(String::new());
    lines.push(ossec_snippet(900, opts.integration));
    lines.push(format!(
        "Then edit what the config marks EDIT, check and restart:\n  {} --config {} check\n  \
         systemctl restart wazuh-manager",
        layout.binary().display(),
        layout.config().display()
    ));
    Ok(lines)
}

/// Uninstalls; keeps the config, the reports and the state unless `purge`.
pub(crate) fn uninstall(home: &Path, purge: bool, dry: bool) -> anyhow::Result<Vec<String>> {
    let layout = Layout {
        home: home.to_path_buf(),
    };
    let mut lines = Vec::new();
    let mut remove = |what: &str, path: PathBuf, dir: bool| -> anyhow::Result<()> {
        let done = if fs::symlink_metadata(&path).is_err() {
            Done::Absent
        } else if dry {
            Done::WouldRemove
        } else {
            let r = if dir {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            r.map_err(|e| anyhow::anyhow!("{what} {}: {e}", path.display()))?;
            Done::Removed
        };
        lines.push(format!("{what:<10} {} ({})", path.display(), done.word()));
        Ok(())
    };
    let had_hook = fs::symlink_metadata(layout.integration()).is_ok();
    remove("binary", layout.binary(), false)?;
    remove("integration", layout.integration(), false)?;
    remove("decoders", layout.decoders(), false)?;
    remove("rules", layout.rules(), false)?;
    if purge {
        remove("config", layout.config(), false)?;
        remove("state dir", layout.state(), true)?;
    } else {
        lines.push(format!(
            "kept       {} and {} (use --purge to remove them)",
            layout.config().display(),
            layout.state().display()
        ));
    }
    lines.push(format!(
        "Remove the ai-analyzer <command> and <active-response> blocks{} from ossec.conf, then: \
         systemctl restart wazuh-manager",
        if had_hook {
            " and the custom-ai-analyzer <integration> block"
        } else {
            ""
        }
    ));
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_paths_follow_the_home() {
        let text = config_for(Path::new("/opt/wazuh/"));
        assert!(text.contains("state_dir = \"/opt/wazuh/var/ai-analyzer\""));
        assert!(text.contains("log_file = \"/opt/wazuh/logs/active-responses.log\""));
        assert!(!text.contains("\"/var/ossec/"));
        crate::config::parse(&text, Path::new("t.toml")).expect("still parses");
    }

    #[test]
    fn snippet_is_xml() {
        for integration in [false, true] {
            let xml = format!("<root>{}</root>", ossec_snippet(900, integration));
            let doc = roxmltree::Document::parse(&xml).expect("valid XML");
            let names: Vec<_> = doc
                .root_element()
                .children()
                .filter(|n| n.is_element())
                .map(|n| n.tag_name().name())
                .collect();
            let want: &[&str] = if integration {
                &["integration"]
            } else {
                &["command", "active-response"]
            };
            assert_eq!(names, want);
            assert!(!xml.contains("<expect>"));
        }
    }
}
