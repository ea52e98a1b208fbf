//! `[history]`: where earlier alerts of an address are looked up, and how far back.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::util::secret::Secret;

/// Where the earlier alerts for an address are looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HistoryBackend {
    /// The manager's own alert log: `alerts_file` and the rotated daily files beside it.
    #[default]
    File,
    /// The Wazuh indexer (OpenSearch), for multi-node clusters.
    Indexer,
}

impl HistoryBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryBackend::File => "file",
            HistoryBackend::Indexer => "indexer",
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    pub backend: HistoryBackend,
    pub alerts_file: PathBuf,
    /// At most this many earlier events, the most recent first; 0 turns the lookup off.
    pub max_events: usize,
    pub lookback_hours: u64,
    pub indexer: Indexer,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            backend: HistoryBackend::File,
            alerts_file: PathBuf::from("/var/ossec/logs/alerts/alerts.json"),
            max_events: 30,
            lookback_hours: 72,
            indexer: Indexer::default(),
        }
    }
}

impl HistoryConfig {
    pub fn lookback(&self) -> Duration {
        Duration::from_secs(self.lookback_hours.saturating_mul(3600))
    }
}

/// The Wazuh indexer (`[history.indexer]`), asked with OpenSearch's `_search`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Indexer {
    pub url: String,
    /// Basic auth; "" sends no credentials.
    pub username: String,
    pub password: Secret,
    /// PEM file with the CA that signed the indexer's certificate; "" = the system's roots.
    pub ca_file: PathBuf,
    pub index: String,
    pub timeout_secs: u64,
}

impl Default for Indexer {
    fn default() -> Self {
        Indexer {
            url: "https://127.0.0.1:9200".into(),
            username: String::new(),
            password: Secret::default(),
            ca_file: PathBuf::new(),
            index: "wazuh-alerts-*".into(),
            timeout_secs: 10,
        }
    }
}

impl Indexer {
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// Upper bound for `history.max_events`: every event is kept in memory until it is summarised.
pub const MAX_HISTORY_EVENTS: usize = 1000;
