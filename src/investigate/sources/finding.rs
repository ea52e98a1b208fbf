//! What asking one source came to: data, "not found", or why there is no answer. A failure is a
//! value like the others, never an error that stops the investigation.

use serde::Serialize;

use super::{Data, Provider};

/// The outcome of asking one source. A failure is a value like the others.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Finding {
    /// The source answered with data.
    Ok { data: Data },
    /// The source answered that it knows nothing of the address (GreyNoise's 404, Shodan's 404).
    NotFound { detail: String },
    /// The source needs a key and none is set.
    NotConfigured { reason: String },
    /// Not asked: disabled in the config, superseded by another source, or no IPv6 support.
    Skipped { reason: String },
    /// HTTP 429 now, or earlier and the source is paused until `paused_until`.
    RateLimited {
        detail: String,
        retry_after_secs: Option<u64>,
        paused_until: Option<String>,
    },
    /// HTTP 401/403 for the configured key (now, or earlier and still paused).
    BadKey {
        http_status: u16,
        detail: String,
        paused_until: Option<String>,
    },
    /// No answer within the source's `timeout_secs` (or the investigation's deadline).
    TimedOut { after_ms: u64 },
    /// Anything else: connection refused, HTTP 500, an unreadable body.
    Failed { reason: String },
}

impl Finding {
    pub fn failed(reason: impl Into<String>) -> Self {
        Finding::Failed {
            reason: reason.into(),
        }
    }

    pub fn skipped(reason: impl Into<String>) -> Self {
        Finding::Skipped {
            reason: reason.into(),
        }
    }

    /// The status word used in tables and JSON: `ok`, `not_found`, ...
    pub fn status(&self) -> &'static str {
        match self {
            Finding::Ok { .. } => "ok",
            Finding::NotFound { .. } => "not_found",
            Finding::NotConfigured { .. } => "not_configured",
            Finding::Skipped { .. } => "skipped",
            Finding::RateLimited { .. } => "rate_limited",
            Finding::BadKey { .. } => "bad_key",
            Finding::TimedOut { .. } => "timed_out",
            Finding::Failed { .. } => "failed",
        }
    }

    /// The data, when the source gave some.
    pub fn data(&self) -> Option<&Data> {
        match self {
            Finding::Ok { data } => Some(data),
            _ => None,
        }
    }

    /// One line: the data's summary, or what went wrong.
    pub fn summary(&self) -> String {
        match self {
            Finding::Ok { data } => data.summary(),
            Finding::NotFound { .. } => format!("not found ({})", self.detail()),
            Finding::NotConfigured { .. } => format!("not configured: {}", self.detail()),
            Finding::Skipped { .. } => format!("skipped: {}", self.detail()),
            Finding::RateLimited { .. } => format!("rate limited: {}", self.detail()),
            Finding::BadKey { .. } => format!("bad key: {}", self.detail()),
            Finding::TimedOut { .. } => format!("timed out {}", self.detail()),
            Finding::Failed { .. } => format!("failed: {}", self.detail()),
        }
    }

    /// The text after the status word: the data's summary, or the reason.
    pub fn detail(&self) -> String {
        let paused = |until: &Option<String>| {
            until
                .as_ref()
                .map(|u| format!("; paused until {u}"))
                .unwrap_or_default()
        };
        match self {
            Finding::Ok { data } => data.summary(),
            Finding::NotFound { detail } => detail.clone(),
            Finding::NotConfigured { reason } | Finding::Skipped { reason } => reason.clone(),
            Finding::RateLimited {
                detail,
                paused_until,
                ..
            } => format!("{detail}{}", paused(paused_until)),
            Finding::BadKey {
                http_status,
                detail,
                paused_until,
            } => format!("HTTP {http_status}: {detail}{}", paused(paused_until)),
            Finding::TimedOut { after_ms } => format!("after {after_ms} ms"),
            Finding::Failed { reason } => reason.clone(),
        }
    }
}

/// One source's entry in the evidence.
#[derive(Debug, Clone, Serialize)]
pub struct SourceResult {
    pub provider: Provider,
    #[serde(flatten)]
    pub finding: Finding,
    /// Wall time spent on this source in this run (0 when not asked).
    pub elapsed_ms: u64,
    /// True when the answer came from `state_dir/cache` and nothing was sent.
    pub cached: bool,
}

impl SourceResult {
    pub fn new(provider: Provider, finding: Finding) -> Self {
        SourceResult {
            provider,
            finding,
            elapsed_ms: 0,
            cached: false,
        }
    }

    /// `AbuseIPDB: confidence 100% ...`
    pub fn line(&self) -> String {
        let cached = if self.cached { " (cached)" } else { "" };
        format!(
            "{}{cached}: {}",
            self.provider.label(),
            self.finding.summary()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_json_is_tagged_by_status() {
        let r = SourceResult {
            provider: Provider::Virustotal,
            finding: Finding::TimedOut { after_ms: 5000 },
            elapsed_ms: 5001,
            cached: false,
        };
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["provider"], "virustotal");
        assert_eq!(v["status"], "timed_out");
        assert_eq!(v["after_ms"], 5000);
        assert_eq!(r.line(), "VirusTotal: timed out after 5000 ms");
    }
}
