//! Settings: built-in defaults, then the TOML file, then secrets from the environment.
//!
//! Our own file is parsed strictly (an unknown key is exit 3, naming the key) so that a typo never
//! silently turns a feature off. Every key has a default, so the tool runs with no file at all.

mod cluster;
mod llm;
mod load;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::investigate::dnsbl::Dnsbl;
pub use crate::investigate::history::{HistoryBackend, HistoryConfig, Indexer, MAX_HISTORY_EVENTS};
pub use crate::investigate::scope::Zone;
pub use crate::investigate::sources::Providers;
use crate::investigate::{history, Setup};
use crate::util::check_url;
use crate::util::error::ConfigError;
pub use crate::util::join_url;
pub use crate::util::secret::Secret;
use crate::util::state::StateDir;
pub use cluster::{Cluster, ClusterBackend};
pub use llm::{Llm, LlmBackend, OpenAi, Pseudonymize};
pub use load::{load, parse, resolve_path, Source, INTEGRATORD_STATE, WAZUH_HOME};

/// Where the file is looked for when neither `--config` nor `$AI_ANALYZER_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "/var/ossec/etc/ai-analyzer.toml";
/// Environment variable that names the config file.
pub const CONFIG_ENV: &str = "AI_ANALYZER_CONFIG";
/// ntfy refuses (or turns into an attachment) any message body over this many bytes.
pub const NTFY_MAX_BYTES: usize = 4096;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub general: General,
    pub intake: Intake,
    pub wazuh: Wazuh,
    pub llm: Llm,
    pub ollama: Ollama,
    pub openai: OpenAi,
    pub ntfy: Ntfy,
    pub providers: Providers,
    pub dnsbl: Dnsbl,
    pub history: HistoryConfig,
    pub network: Network,
    pub cache: Cache,
    pub dedup: Dedup,
    pub email: Email,
    pub report: Report,
    pub limits: Limits,
    pub campaign: Campaign,
    pub cluster: Cluster,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct General {
    pub state_dir: PathBuf,
    /// `-` means stderr.
    pub log_file: String,
    pub min_level: u32,
    pub deadline_secs: u64,
}

impl Default for General {
    fn default() -> Self {
        General {
            state_dir: PathBuf::from("/var/ossec/var/ai-analyzer"),
            log_file: "/var/ossec/logs/active-responses.log".into(),
            min_level: 0,
            deadline_secs: 300,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Intake {
    pub stdin_timeout_ms: u64,
    pub max_alert_bytes: usize,
}

impl Default for Intake {
    fn default() -> Self {
        Intake {
            stdin_timeout_ms: 2000,
            max_alert_bytes: 1_048_576,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Detach {
    /// Detach runs started by wazuh-execd or wazuh-integratord; run by hand in the foreground.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Wazuh {
    pub check_keys: bool,
    pub detach: Detach,
    pub feedback: bool,
    pub queue_socket: PathBuf,
}

impl Default for Wazuh {
    fn default() -> Self {
        Wazuh {
            check_keys: true,
            detach: Detach::Auto,
            feedback: true,
            queue_socket: PathBuf::from("/var/ossec/queue/sockets/queue"),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ollama {
    pub url: String,
    pub model: String,
    pub timeout_secs: u64,
    pub num_ctx: u32,
    pub temperature: f32,
    pub max_concurrent: u32,
}

impl Default for Ollama {
    fn default() -> Self {
        Ollama {
            url: "http://127.0.0.1:11434".into(),
            model: "qwen2.5-coder:7b".into(),
            timeout_secs: 180,
            num_ctx: 16384,
            temperature: 0.2,
            max_concurrent: 1,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ntfy {
    /// Empty disables ntfy.
    pub url: String,
    pub topic: String,
    pub token: Secret,
    pub max_chars: usize,
}

impl Default for Ntfy {
    fn default() -> Self {
        Ntfy {
            url: "https://ntfy.sh".into(),
            topic: "wazuh-alerts".into(),
            token: Secret::default(),
            max_chars: 3500,
        }
    }
}

/// The shipped topic on the public server: anyone can read it, so it is never published to.
pub const PLACEHOLDER_TOPIC: &str = "wazuh-alerts";

impl Ntfy {
    /// True when pushes can go out: a URL, and not the placeholder topic on the public ntfy.sh.
    pub fn enabled(&self) -> bool {
        !self.url.trim().is_empty() && !self.is_placeholder()
    }

    /// The default `https://ntfy.sh` + `wazuh-alerts`: a public topic anyone may subscribe to.
    /// Reports name internal hosts and users, so this is treated as "not configured".
    pub fn is_placeholder(&self) -> bool {
        let url = self.url.trim().trim_end_matches('/');
        (url == "https://ntfy.sh" || url == "http://ntfy.sh") && self.topic == PLACEHOLDER_TOPIC
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Network {
    /// Free text about the topology, given to the analyst as is.
    pub context: String,
    pub zones: Vec<Zone>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cache {
    pub ttl_hours: u64,
}

impl Default for Cache {
    fn default() -> Self {
        Cache { ttl_hours: 24 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dedup {
    pub cooldown_secs: u64,
}

impl Default for Dedup {
    fn default() -> Self {
        Dedup { cooldown_secs: 900 }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Email {
    pub enabled: bool,
    pub smtp_url: String,
    pub username: Secret,
    pub password: Secret,
    pub from: String,
    pub to: Vec<String>,
    pub min_level: u32,
    /// Lets `smtp://` to a server that is not on loopback go out in plain text when the server
    /// offers no STARTTLS (a trusted LAN relay). Off: STARTTLS is required there.
    pub allow_plaintext: bool,
    /// Attach the report as a PDF.
    pub attach_pdf: bool,
}

impl Default for Email {
    fn default() -> Self {
        Email {
            enabled: false,
            smtp_url: "smtp://127.0.0.1:25".into(),
            username: Secret::default(),
            password: Secret::default(),
            from: "wazuh@localhost".into(),
            to: Vec::new(),
            min_level: 0,
            allow_plaintext: false,
            attach_pdf: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Report {
    /// Where `state_dir/reports` is served, for the push's Click link.
    pub base_url: String,
    /// Saved reports older than this are removed (0 = kept for ever).
    pub max_age_days: u64,
    /// The oldest saved reports are removed while all of them take more than this (0 = no cap).
    pub max_total_mb: u64,
}

impl Default for Report {
    fn default() -> Self {
        Report {
            base_url: String::new(),
            max_age_days: 90,
            max_total_mb: 500,
        }
    }
}

/// Campaigns: alerts of one kind against one target from many addresses become one report.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Campaign {
    pub enabled: bool,
    /// Alerts of one kind against one target inside this window may form a campaign; a
    /// campaign that no alert joined for this long is closed.
    pub window_secs: u64,
    /// Distinct source addresses before they are grouped.
    pub min_sources: u32,
    /// At most one update push per campaign in this time, unless it escalates.
    pub update_secs: u64,
    /// Addresses of a campaign that get lookups from sources with a budget.
    pub paid_lookups: u32,
}

impl Default for Campaign {
    fn default() -> Self {
        Campaign {
            enabled: true,
            window_secs: 600,
            min_sources: 5,
            update_secs: 1800,
            paid_lookups: 10,
        }
    }
}

/// Host-wide limits, so that a flood of alerts (from addresses an attacker picks) cannot run
/// away with the model, the push channel, the threat-intel quotas or the disk.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Analyses started in any minute; past it, alerts are counted into a digest (0 = no limit).
    pub analyses_per_minute: u32,
    /// Threat-intel requests in any minute; past it, sources are skipped (0 = no limit).
    pub lookups_per_minute: u32,
    /// Jobs waiting in the spool; past it, alerts are counted into a digest (0 = no limit).
    pub max_queued_jobs: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            analyses_per_minute: 20,
            lookups_per_minute: 200,
            max_queued_jobs: 500,
        }
    }
}

impl Settings {
    /// Secrets from the environment win over the file.
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) {
        let set = |slot: &mut Secret, name: &str| {
            if let Some(v) = get(name).filter(|v| !v.trim().is_empty()) {
                *slot = Secret::new(v.trim());
            }
        };
        set(&mut self.ntfy.token, "AI_ANALYZER_NTFY_TOKEN");
        set(&mut self.openai.api_key, "AI_ANALYZER_OPENAI_API_KEY");
        self.providers.apply_env(&get);
        set(&mut self.email.username, "AI_ANALYZER_EMAIL_USERNAME");
        set(&mut self.email.password, "AI_ANALYZER_EMAIL_PASSWORD");
        set(
            &mut self.history.indexer.password,
            "AI_ANALYZER_INDEXER_PASSWORD",
        );
    }

    /// What the investigation needs, taken once from these settings.
    pub fn investigation(&self) -> Setup {
        Setup {
            providers: self.providers.clone(),
            dnsbl: self.dnsbl.clone(),
            history: self.history.clone(),
            cache_ttl: Duration::from_secs(self.cache.ttl_hours.saturating_mul(3600)),
            zones: self.network.zones.clone(),
            state: self.state(),
            deadline_secs: self.general.deadline_secs,
            history_budget_chars: history::budget_chars(self.ollama.num_ctx),
            secrets: self.secrets().into_iter().map(String::from).collect(),
            lookups_per_minute: self.limits.lookups_per_minute,
            shared: self.shared(),
        }
    }

    /// Whether the nodes share their state on the indexer (`cluster.backend = "indexer"`).
    pub fn shares_state(&self) -> bool {
        self.cluster.backend == ClusterBackend::Indexer
    }

    /// The indexer as the nodes' shared state, when `cluster.backend = "indexer"`.
    pub fn shared(&self) -> Option<crate::investigate::cluster::Shared> {
        self.shares_state().then(|| {
            crate::investigate::cluster::Shared::new(
                self.history.indexer.clone(),
                self.cluster.index.clone(),
            )
        })
    }

    /// The hosts the configuration names (the model server, ntfy, the report link, the indexer,
    /// the mail relay, every source, every blocklist zone): a report may name these as they
    /// are, while any other host in it is defanged.
    pub fn configured_hosts(&self) -> Vec<String> {
        let urls = [
            self.ollama.url.as_str(),
            self.ntfy.url.as_str(),
            self.report.base_url.as_str(),
            self.history.indexer.url.as_str(),
            self.email.smtp_url.as_str(),
        ]
        .into_iter()
        .chain(self.providers.all().map(|s| s.url()));
        let mut hosts: Vec<String> = urls
            .filter_map(|u| reqwest::Url::parse(u).ok())
            .filter_map(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
            .chain(self.dnsbl.zones.iter().cloned())
            .collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }

    /// The state directory and every folder in it.
    pub fn state(&self) -> StateDir {
        StateDir::new(&self.general.state_dir)
    }

    /// Every secret that is set, so that output can be checked for leaks.
    pub fn secrets(&self) -> Vec<&str> {
        [
            &self.ntfy.token,
            &self.openai.api_key,
            &self.email.username,
            &self.email.password,
            &self.history.indexer.password,
        ]
        .into_iter()
        .chain(self.providers.secrets())
        .filter(|s| s.is_set())
        .map(Secret::expose)
        .collect()
    }

    /// Checks values that parse but make no sense; the message names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_bounds()?;
        self.validate_ollama()?;
        if self.llm.backend == LlmBackend::Openai {
            self.openai.validate()?;
        }
        self.validate_rest()
    }

    /// Upper bounds: no time arithmetic on these may overflow, and none of them makes sense
    /// beyond a year.
    fn validate_bounds(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        const DAY: u64 = 86_400;
        for (key, value, max) in [
            ("general.deadline_secs", self.general.deadline_secs, DAY),
            ("ollama.timeout_secs", self.ollama.timeout_secs, DAY),
            ("dedup.cooldown_secs", self.dedup.cooldown_secs, 30 * DAY),
            ("cache.ttl_hours", self.cache.ttl_hours, 24 * 365),
            (
                "history.lookback_hours",
                self.history.lookback_hours,
                24 * 365,
            ),
            (
                "history.indexer.timeout_secs",
                self.history.indexer.timeout_secs,
                3600,
            ),
            ("dnsbl.timeout_secs", self.dnsbl.timeout_secs, 3600),
            (
                "intake.stdin_timeout_ms",
                self.intake.stdin_timeout_ms,
                3_600_000,
            ),
        ] {
            if value > max {
                return bad(key, format!("{value} is over the limit of {max}"));
            }
        }
        Ok(())
    }

    fn validate_ollama(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        if self.ollama.max_concurrent > 64 {
            return bad(
                "ollama.max_concurrent",
                format!("{} is over the limit of 64", self.ollama.max_concurrent),
            );
        }
        check_url("ollama.url", &self.ollama.url, false)?;
        if self.ollama.model.trim().is_empty() {
            return bad("ollama.model", "must not be empty".into());
        }
        if !(0.0..=2.0).contains(&self.ollama.temperature) {
            return bad(
                "ollama.temperature",
                format!("{} is outside 0.0..=2.0", self.ollama.temperature),
            );
        }
        if self.ollama.num_ctx < 512 {
            return bad(
                "ollama.num_ctx",
                format!("{} is too small (at least 512)", self.ollama.num_ctx),
            );
        }
        if self.ollama.max_concurrent == 0 {
            return bad("ollama.max_concurrent", "must be at least 1".into());
        }
        if self.ollama.timeout_secs == 0 {
            return bad("ollama.timeout_secs", "must be at least 1".into());
        }
        Ok(())
    }

    /// ntfy, intake, the deadline, the sources, history, DNS blocklists and zones.
    fn validate_rest(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: String| Err(ConfigError(format!("{key}: {why}")));
        check_url("ntfy.url", &self.ntfy.url, true)?;
        if self.ntfy.enabled() && !valid_topic(&self.ntfy.topic) {
            return bad(
                "ntfy.topic",
                format!(
                    "{:?} is not a valid ntfy topic (1-64 of A-Z a-z 0-9 _ -)",
                    self.ntfy.topic
                ),
            );
        }
        if !(200..=NTFY_MAX_BYTES).contains(&self.ntfy.max_chars) {
            return bad(
                "ntfy.max_chars",
                format!("{} is outside 200..=4096", self.ntfy.max_chars),
            );
        }
        if self.intake.max_alert_bytes < 1024 {
            return bad(
                "intake.max_alert_bytes",
                "must be at least 1024".to_string(),
            );
        }
        if self.intake.stdin_timeout_ms == 0 {
            return bad("intake.stdin_timeout_ms", "must be at least 1".into());
        }
        if self.general.deadline_secs == 0 {
            return bad("general.deadline_secs", "must be at least 1".into());
        }
        self.providers.validate()?;
        check_url("report.base_url", &self.report.base_url, true)?;
        let h = &self.history;
        if h.max_events > MAX_HISTORY_EVENTS {
            return bad(
                "history.max_events",
                format!("{} is over {MAX_HISTORY_EVENTS}", h.max_events),
            );
        }
        if h.lookback_hours == 0 {
            return bad("history.lookback_hours", "must be at least 1".into());
        }
        if h.backend == HistoryBackend::Indexer {
            check_url("history.indexer.url", &h.indexer.url, false)?;
            if h.indexer.index.trim().is_empty() {
                return bad("history.indexer.index", "must not be empty".into());
            }
            if h.indexer.timeout_secs == 0 {
                return bad("history.indexer.timeout_secs", "must be at least 1".into());
            }
        }
        for (i, ns) in self.dnsbl.nameservers.iter().enumerate() {
            if ns.parse::<std::net::SocketAddr>().is_err()
                && ns.parse::<std::net::IpAddr>().is_err()
            {
                return bad(
                    &format!("dnsbl.nameservers[{i}]"),
                    format!("{ns:?} is not an address (e.g. \"127.0.0.1:53\")"),
                );
            }
        }
        for (i, zone) in self.network.zones.iter().enumerate() {
            if zone.name.trim().is_empty() {
                return bad(
                    &format!("network.zones[{i}].name"),
                    "must not be empty".into(),
                );
            }
        }
        Ok(())
    }
}

/// ntfy's topic rule: `^[-_A-Za-z0-9]{1,64}$`.
pub fn valid_topic(topic: &str) -> bool {
    (1..=64).contains(&topic.len())
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse_str(text: &str) -> Result<Settings, ConfigError> {
        parse(text, Path::new("test.toml"))
    }

    #[test]
    fn empty_file_gives_defaults() {
        let s = parse_str("").expect("empty config parses");
        assert_eq!(s.ollama.model, "qwen2.5-coder:7b");
        assert_eq!(s.ntfy.max_chars, 3500);
        assert_eq!(s.intake.stdin_timeout_ms, 2000);
        assert_eq!(s.providers.abuseipdb.max_age_days, 90);
        assert_eq!(s.providers.rdap.url, "https://rdap.org");
        assert_eq!(s.dnsbl.zones.len(), 4);
        assert!(s.wazuh.check_keys);
        s.validate().expect("defaults are valid");
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = parse_str("[ollama]\nurl = \"http://x:1\"\nmodle = \"m\"\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("modle"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn unknown_key_in_a_provider_is_an_error() {
        let err = parse_str("[providers.virustotal]\ntoken = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("token"));
    }

    #[test]
    fn off_a_manager_state_and_log_go_to_the_xdg_state_dir() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let mut s = Settings::default();
        let moved = s.off_manager(env(&[("XDG_STATE_HOME", "/x/state"), ("HOME", "/home/a")]));
        assert_eq!(moved, Some(PathBuf::from("/x/state/ai-analyzer")));
        assert_eq!(s.general.state_dir, PathBuf::from("/x/state/ai-analyzer"));
        assert_eq!(s.general.log_file, "/x/state/ai-analyzer/ai-analyzer.log");
        let mut s = Settings::default();
        s.off_manager(env(&[("XDG_STATE_HOME", "relative"), ("HOME", "/home/a")]));
        assert_eq!(
            s.general.state_dir,
            PathBuf::from("/home/a/.local/state/ai-analyzer")
        );
        // What the config sets stays; with no home at all, nothing moves.
        let mut s = Settings::default();
        s.general.state_dir = "/srv/ai".into();
        s.general.log_file = "-".into();
        assert_eq!(s.off_manager(env(&[("HOME", "/home/a")])), None);
        assert_eq!(s.general.state_dir, PathBuf::from("/srv/ai"));
        let mut s = Settings::default();
        assert_eq!(s.off_manager(env(&[])), None);
        assert_eq!(s.general.state_dir, General::default().state_dir);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key_in_words() {
        let cases = [
            (
                "[dedup]\ncooldown_secs = \"3 minutes\"\n",
                "line 2: dedup.cooldown_secs must be a whole number (0 or more), not the string \"3 minutes\"",
            ),
            (
                "[general]\n\n[email]\nenabled = 1\n",
                "line 4: email.enabled must be true or false, not the integer 1",
            ),
            (
                "[dedup]\ncooldown_secs = -5\n",
                "dedup.cooldown_secs must be a whole number (0 or more), not the integer -5",
            ),
            (
                "[[network.zones]]\nname = 5\ncidr = \"10.0.0.0/8\"\n",
                "network.zones.name must be text in quotes, not the integer 5",
            ),
        ];
        for (text, want) in cases {
            let err = parse_str(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(!err.contains("u64") && !err.contains("expected"), "{err}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        let mut s = Settings::default();
        s.ntfy.topic = "bad topic!".into();
        assert!(s.validate().unwrap_err().to_string().contains("ntfy.topic"));
        let mut s = Settings::default();
        s.ollama.url = "not a url".into();
        assert!(s.validate().unwrap_err().to_string().contains("ollama.url"));
        let err =
            parse_str("[[network.zones]]\nname = \"DMZ\"\ncidr = \"300.1.1.0/24\"\n").unwrap_err();
        assert!(err.to_string().contains("line"), "{err}");
        let mut s = Settings::default();
        s.ntfy.max_chars = 5000;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ntfy.max_chars"));
    }

    #[test]
    fn the_public_placeholder_topic_is_never_used() {
        let s = Settings::default();
        assert!(s.ntfy.is_placeholder());
        assert!(!s.ntfy.enabled(), "the shipped default publishes nothing");
        let own = Ntfy {
            topic: "soc-7f3a9c1e".into(),
            ..Ntfy::default()
        };
        assert!(own.enabled());
        let self_hosted = Ntfy {
            url: "https://ntfy.example.org".into(),
            ..Ntfy::default()
        };
        assert!(
            self_hosted.enabled(),
            "wazuh-alerts is fine on your own server"
        );
    }

    #[test]
    fn huge_values_are_refused_by_name() {
        for (text, key) in [
            (
                "[history]\nlookback_hours = 9999999999\n",
                "history.lookback_hours",
            ),
            (
                "[dedup]\ncooldown_secs = 18446744073709551615\n",
                "dedup.cooldown_secs",
            ),
            (
                "[general]\ndeadline_secs = 9223372036854775807\n",
                "general.deadline_secs",
            ),
            (
                "[providers.tor]\ntimeout_secs = 100000\n",
                "providers.tor.timeout_secs",
            ),
        ] {
            let err = parse_str(text).unwrap().validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn env_secrets_win_over_the_file() {
        let mut s =
            parse_str("[ntfy]\ntoken = \"tk_file\"\n[providers.abuseipdb]\napi_key = \"file\"\n")
                .unwrap();
        s.apply_env(|name| match name {
            "AI_ANALYZER_NTFY_TOKEN" => Some("tk_env".into()),
            "AI_ANALYZER_SHODAN_API_KEY" => Some("shodan-env".into()),
            _ => None,
        });
        assert_eq!(s.ntfy.token.expose(), "tk_env");
        assert_eq!(s.providers.abuseipdb.api_key.expose(), "file");
        assert_eq!(s.providers.shodan.api_key.expose(), "shodan-env");
        assert_eq!(s.secrets().len(), 3);
    }

    /// The indexer password comes from the environment too, is a secret, and the
    /// history keys are validated by name.
    #[test]
    fn history_indexer_settings() {
        let mut s = parse_str(
            "[history]\nbackend = \"indexer\"\n[history.indexer]\nurl = \"https://idx:9200\"\n\
             username = \"reader\"\npassword = \"file-pw\"\n",
        )
        .unwrap();
        assert_eq!(s.history.backend, HistoryBackend::Indexer);
        assert_eq!(s.history.indexer.index, "wazuh-alerts-*");
        s.apply_env(|name| {
            (name == "AI_ANALYZER_INDEXER_PASSWORD").then(|| "env-pw-123".to_string())
        });
        assert_eq!(s.history.indexer.password.expose(), "env-pw-123");
        assert!(s.secrets().contains(&"env-pw-123"));
        assert!(!format!("{s:?}").contains("env-pw-123"));
        s.validate().expect("valid");
        s.history.indexer.url = "not a url".into();
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("history.indexer.url"), "{err}");
        let err = parse_str("[history]\nbackend = \"grep\"\n").unwrap_err();
        assert!(err.to_string().contains("grep"), "{err}");
        let err = parse_str("[history.indexer]\npasswd = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("passwd"), "{err}");
        let mut s = Settings::default();
        s.history.max_events = MAX_HISTORY_EVENTS + 1;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("history.max_events"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_display() {
        let s = Secret::new("tk_supersecret");
        assert_eq!(format!("{s}"), "[redacted]");
        assert!(!format!(
            "{:?}",
            Settings {
                ntfy: Ntfy {
                    token: s.clone(),
                    ..Ntfy::default()
                },
                ..Settings::default()
            }
        )
        .contains("supersecret"));
    }

    #[test]
    fn path_resolution_order() {
        let flag = Path::new("/a.toml");
        assert_eq!(
            resolve_path(Some(flag), Some("/b.toml")),
            Some(PathBuf::from("/a.toml"))
        );
        assert_eq!(
            resolve_path(None, Some("/b.toml")),
            Some(PathBuf::from("/b.toml"))
        );
    }

    #[test]
    fn url_join_keeps_prefix() {
        assert_eq!(
            join_url("http://h:1/ollama/", "/api/chat"),
            "http://h:1/ollama/api/chat"
        );
        assert_eq!(
            join_url("https://ntfy.sh", "topic"),
            "https://ntfy.sh/topic"
        );
    }

    /// Every key path in a TOML value, tables of arrays indexed as `[]`.
    fn key_paths(value: &toml::Value, prefix: &str, out: &mut std::collections::BTreeSet<String>) {
        match value {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.insert(path.clone());
                    key_paths(v, &path, out);
                }
            }
            toml::Value::Array(items) => {
                for item in items.iter().filter(|i| i.is_table()) {
                    key_paths(item, &format!("{prefix}[]"), out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn shipped_config_parses_and_names_every_key() {
        let text = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/config/ai-analyzer.toml"
        ));
        let shipped =
            parse(text, Path::new("config/ai-analyzer.toml")).expect("shipped config parses");
        shipped.validate().expect("shipped config is valid");
        let mut in_file = std::collections::BTreeSet::new();
        key_paths(&toml::from_str(text).expect("toml"), "", &mut in_file);
        let mut known = std::collections::BTreeSet::new();
        let defaults = toml::Value::try_from(Settings::default()).expect("defaults serialize");
        key_paths(&defaults, "", &mut known);
        // `[[network.zones]]` is an example in comments (checked below).
        let missing: Vec<_> = known
            .difference(&in_file)
            .filter(|k| k.as_str() != "network.zones")
            .collect();
        assert!(
            missing.is_empty(),
            "keys missing from config/ai-analyzer.toml: {missing:?}"
        );
        // The zones and the topology text are shown as examples only: nothing invented about
        // a network goes to the model from a fresh install.
        assert!(text.contains("#   [[network.zones]]\n#   name = \"DMZ\""));
        assert!(
            shipped.network.zones.is_empty(),
            "{:?}",
            shipped.network.zones
        );
        assert_eq!(shipped.network.context, "");
        // In effect, the shipped file is the built-in defaults written out.
        assert_eq!(
            toml::Value::try_from(&shipped).expect("serializes"),
            defaults
        );
    }
}
