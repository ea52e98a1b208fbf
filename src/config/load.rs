//! Finding, reading and placing the configuration: the file's path, the TOML parsed with errors
//! that name the key in words, secrets from the environment, and where state goes off a manager
//! or for integratord's hook.

use std::fmt;
use std::path::{Path, PathBuf};

use super::{General, Settings, CONFIG_ENV, DEFAULT_CONFIG_PATH};
use crate::util::error::ConfigError;

/// Which file the settings came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File(PathBuf),
    Defaults,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Defaults => f.write_str("built-in defaults (no config file)"),
        }
    }
}

/// Picks the config file: `--config`, else `$AI_ANALYZER_CONFIG`, else the Wazuh path if it exists.
pub fn resolve_path(flag: Option<&Path>, env: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = flag {
        return Some(p.to_path_buf());
    }
    if let Some(e) = env.filter(|e| !e.is_empty()) {
        return Some(PathBuf::from(e));
    }
    let default = Path::new(DEFAULT_CONFIG_PATH);
    default.exists().then(|| default.to_path_buf())
}

/// Loads the settings the way every command does: path resolution, file, environment, validation.
pub fn load(flag: Option<&Path>) -> Result<(Settings, Source), ConfigError> {
    let env_path = std::env::var(CONFIG_ENV).ok();
    let (mut settings, source) = match resolve_path(flag, env_path.as_deref()) {
        Some(path) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?;
            (parse(&text, &path)?, Source::File(path))
        }
        None => (Settings::default(), Source::Defaults),
    };
    settings.apply_env(|name| std::env::var(name).ok());
    let on_manager = Path::new(WAZUH_HOME).join("etc/ossec.conf").exists();
    if !on_manager {
        if let Some(dir) = settings.off_manager(|name| std::env::var(name).ok()) {
            // Ours alone (0700): the log file goes in it too.
            let _ = crate::util::fsutil::create_private_dir(&dir);
        }
    }
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    settings.integratord_state(euid);
    settings.validate()?;
    Ok((settings, source))
}

/// Where Wazuh lives on a manager; the default paths are under it.
pub const WAZUH_HOME: &str = "/var/ossec";

/// The state dir of runs as the `wazuh` user (wazuh-integratord's hook), inside the state dir
/// and owned by that user: what they write never reaches the root worker.
pub const INTEGRATORD_STATE: &str = "integratord";

impl Settings {
    /// A run that is not root (wazuh-integratord runs its hook as the `wazuh` user) keeps its
    /// state in `state_dir/integratord` when that directory exists and belongs to this user:
    /// its own spool, worker, cooldowns, cache and reports. The root state dir stays read-only to
    /// it, and the root worker never reads what it writes.
    pub fn integratord_state(&mut self, euid: u32) {
        use std::os::unix::fs::MetadataExt as _;
        if euid == 0 {
            return;
        }
        let own = self.general.state_dir.join(INTEGRATORD_STATE);
        // Not through a link: the directory itself must be ours.
        if std::fs::symlink_metadata(&own).is_ok_and(|m| m.is_dir() && m.uid() == euid) {
            self.general.state_dir = own;
        }
    }

    /// Off a Wazuh manager (a hand run on a laptop), the default state dir and log file would
    /// create a Wazuh home that does not exist: they go to `$XDG_STATE_HOME/ai-analyzer` (else
    /// `~/.local/state/ai-analyzer`) instead. Paths set in the config stay. Returns the state
    /// dir when it moved.
    pub fn off_manager(&mut self, env: impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
        let defaults = General::default();
        let base = env("XDG_STATE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                env("HOME")
                    .map(PathBuf::from)
                    .filter(|p| p.is_absolute())
                    .map(|home| home.join(".local/state"))
            })?;
        let dir = base.join("ai-analyzer");
        let mut moved = None;
        if self.general.state_dir == defaults.state_dir {
            self.general.state_dir = dir.clone();
            moved = Some(dir.clone());
        }
        if self.general.log_file == defaults.log_file {
            self.general.log_file = dir.join("ai-analyzer.log").to_string_lossy().into_owned();
            moved.get_or_insert(dir);
        }
        moved
    }
}

/// Parses TOML text; errors name the file, the line and the key, in words rather than Rust types.
pub fn parse(text: &str, path: &Path) -> Result<Settings, ConfigError> {
    toml::from_str::<Settings>(text).map_err(|e| {
        let message = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
        let Some(start) = e.span().map(|s| s.start.min(text.len())) else {
            return ConfigError(format!("{}: {message}", path.display()));
        };
        let line = text[..start].matches('\n').count() + 1;
        let message = match key_at(text, start) {
            Some(key) => plain_type_error(&key, &message).unwrap_or(message),
            None => message,
        };
        ConfigError(format!("{} line {line}: {message}", path.display()))
    })
}

/// The dotted key whose value starts at byte `at`: `dedup.cooldown_secs`.
fn key_at(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let (key, _) = text[line_start..at].split_once('=')?;
    let key = key.trim().trim_matches('"');
    if key.is_empty() || key.starts_with('[') {
        return None;
    }
    let section = text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| {
            l.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or("")
                .trim()
                .to_string()
        });
    Some(match section {
        Some(section) if !section.is_empty() => format!("{section}.{key}"),
        _ => key.to_string(),
    })
}

/// "invalid type: string \"3 minutes\", expected u64" as "dedup.cooldown_secs must be a whole
/// number (0 or more), not the string \"3 minutes\"".
fn plain_type_error(key: &str, message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))?;
    let (found, expected) = rest.rsplit_once(", expected ")?;
    let wanted = match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" => "text in quotes",
        "a sequence" => "a list in brackets, like [\"a\", \"b\"]",
        other => other,
    };
    let found = found.replace('`', "");
    Some(format!("{key} must be {wanted}, not the {found}"))
}
