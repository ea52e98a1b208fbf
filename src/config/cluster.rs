//! `[cluster]`: where the state that several manager nodes share is kept.

use serde::{Deserialize, Serialize};

/// `local`: every node keeps its own state under `general.state_dir`; `indexer`: the daily
/// threat-intel budgets and answers are shared by every node through the Wazuh indexer, with
/// the connection of `[history.indexer]`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterBackend {
    #[default]
    Local,
    Indexer,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Cluster {
    pub backend: ClusterBackend,
    /// Created on first use, with a mapping of its own.
    pub index: String,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster {
            backend: ClusterBackend::Local,
            index: "ai-analyzer-state".into(),
        }
    }
}
