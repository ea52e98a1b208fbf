//! `[llm]` (which model server) and `[openai]` (an OpenAI-compatible one). `[ollama]` stays
//! where it was; its `max_concurrent` applies to either backend.

use serde::{Deserialize, Serialize};

use crate::util::check_url;
use crate::util::error::ConfigError;
use crate::util::secret::Secret;

/// Which model server writes the reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmBackend {
    /// Ollama's `/api/chat` (`[ollama]`).
    #[default]
    Ollama,
    /// Any OpenAI-compatible `/v1/chat/completions` server (`[openai]`).
    Openai,
}

/// When the prompt's names and internal addresses are replaced by placeholders.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pseudonymize {
    /// When the model server is not on loopback or a private network.
    #[default]
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Llm {
    pub backend: LlmBackend,
    pub pseudonymize: Pseudonymize,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OpenAi {
    /// Base URL, may carry a path prefix; `/v1/chat/completions` is appended.
    pub url: String,
    pub model: String,
    /// Sent as a Bearer token when set; or `AI_ANALYZER_OPENAI_API_KEY`.
    pub api_key: Secret,
    pub timeout_secs: u64,
    pub max_tokens: u32,
    pub temperature: f32,
}

impl Default for OpenAi {
    fn default() -> Self {
        OpenAi {
            url: "http://127.0.0.1:8080".into(),
            model: String::new(),
            api_key: Secret::default(),
            timeout_secs: 180,
            max_tokens: 1200,
            temperature: 0.2,
        }
    }
}

impl OpenAi {
    /// Checked only when the backend is in use: an unused `[openai]` may stay empty.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(ConfigError(format!("{key}: {why}")));
        check_url("openai.url", &self.url, false)?;
        if self.model.trim().is_empty() {
            return bad(
                "openai.model",
                "must name the model (llm.backend is \"openai\")",
            );
        }
        if !(1..=100_000).contains(&self.max_tokens) {
            return bad("openai.max_tokens", "must be between 1 and 100000");
        }
        if !(0.0..=2.0).contains(&self.temperature) {
            return bad("openai.temperature", "must be within 0.0..=2.0");
        }
        if !(1..=86_400).contains(&self.timeout_secs) {
            return bad("openai.timeout_secs", "must be between 1 and 86400");
        }
        Ok(())
    }
}
