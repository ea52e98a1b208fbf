//! The investigation of a source address: every threat-intelligence source and the DNS blocklists,
//! asked at once, each bounded by its own timeout and all by one deadline, into one [`Intel`] value.
//!
//! A source that fails is a finding like any other ("timed out after 5000 ms", "bad key"), never
//! an error that stops the others. Nothing is ever sent for an address that is not globally
//! routable, and nothing but the address itself is sent for one that is. Answers are cached per
//! address and source under `state_dir/cache/`; a rate limit or a rejected key pauses that source
//! instead of spending the quota again on the next alert.

pub mod abuseipdb;
pub mod greynoise;
pub mod internetdb;
pub mod ipinfo;
pub mod lenient;
pub mod rdap;
pub mod shodan;
pub mod tor;
pub mod virustotal;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::config::{Secret, Settings};
use crate::investigate::dnsbl::{self, Listing};
use crate::investigate::risk::{self, Risk};
use crate::investigate::scope::{self, Scope};

use crate::investigate::cache::Cache;

/// How long to wait for a TCP (and TLS) connection to any source.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest any single HTTP exchange may take, whatever a source's `timeout_secs` says.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bodies larger than this are cut off and treated as unreadable: no source sends this much.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Added to the longest per-source timeout to form the investigation's outer deadline.
pub const DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// Every outside source, in the order the report lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Ipinfo,
    Rdap,
    Abuseipdb,
    Virustotal,
    Greynoise,
    Shodan,
    Internetdb,
    Tor,
}

impl Provider {
    pub const ALL: [Provider; 8] = [
        Provider::Ipinfo,
        Provider::Rdap,
        Provider::Abuseipdb,
        Provider::Virustotal,
        Provider::Greynoise,
        Provider::Shodan,
        Provider::Internetdb,
        Provider::Tor,
    ];

    /// The config and JSON name: `abuseipdb`.
    pub fn key(self) -> &'static str {
        match self {
            Provider::Ipinfo => "ipinfo",
            Provider::Rdap => "rdap",
            Provider::Abuseipdb => "abuseipdb",
            Provider::Virustotal => "virustotal",
            Provider::Greynoise => "greynoise",
            Provider::Shodan => "shodan",
            Provider::Internetdb => "internetdb",
            Provider::Tor => "tor",
        }
    }

    /// The name people know: `AbuseIPDB`.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Ipinfo => "ipinfo",
            Provider::Rdap => "RDAP",
            Provider::Abuseipdb => "AbuseIPDB",
            Provider::Virustotal => "VirusTotal",
            Provider::Greynoise => "GreyNoise",
            Provider::Shodan => "Shodan",
            Provider::Internetdb => "InternetDB",
            Provider::Tor => "Tor exit list",
        }
    }

    fn index(self) -> usize {
        Provider::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    /// `enabled`, `timeout_secs` and the key (when the source takes one) from the config.
    fn settings(self, s: &Settings) -> (bool, Duration, Option<&Secret>) {
        let p = &s.providers;
        match self {
            Provider::Ipinfo => (p.ipinfo.enabled, p.ipinfo.timeout(), Some(&p.ipinfo.token)),
            Provider::Rdap => (p.rdap.enabled, p.rdap.timeout(), None),
            Provider::Abuseipdb => (
                p.abuseipdb.enabled,
                p.abuseipdb.timeout(),
                Some(&p.abuseipdb.api_key),
            ),
            Provider::Virustotal => (
                p.virustotal.enabled,
                p.virustotal.timeout(),
                Some(&p.virustotal.api_key),
            ),
            Provider::Greynoise => (
                p.greynoise.enabled,
                p.greynoise.timeout(),
                Some(&p.greynoise.api_key),
            ),
            Provider::Shodan => (
                p.shodan.enabled,
                p.shodan.timeout(),
                Some(&p.shodan.api_key),
            ),
            Provider::Internetdb => (p.internetdb.enabled, p.internetdb.timeout(), None),
            Provider::Tor => (p.tor.enabled, p.tor.timeout(), None),
        }
    }

    /// Sources that cannot work at all without a key.
    fn needs_key(self) -> bool {
        matches!(
            self,
            Provider::Abuseipdb | Provider::Virustotal | Provider::Shodan
        )
    }

    /// The Tor list is cached as a whole (one hour), not per address.
    pub(crate) fn cached_per_ip(self) -> bool {
        self != Provider::Tor
    }

    /// The key the source would be asked with, if any.
    pub(crate) fn key_in(self, s: &Settings) -> Option<&Secret> {
        self.settings(s).2.filter(|k| k.is_set())
    }

    /// Asks the source. Every outcome, failures included, is a [`Finding`].
    async fn lookup(self, ctx: &Ctx, ip: IpAddr) -> Finding {
        match self {
            Provider::Ipinfo => ipinfo::lookup(ctx, ip).await,
            Provider::Rdap => rdap::lookup(ctx, ip).await,
            Provider::Abuseipdb => abuseipdb::lookup(ctx, ip).await,
            Provider::Virustotal => virustotal::lookup(ctx, ip).await,
            Provider::Greynoise => greynoise::lookup(ctx, ip).await,
            Provider::Shodan => shodan::lookup(ctx, ip).await,
            Provider::Internetdb => internetdb::lookup(ctx, ip).await,
            Provider::Tor => tor::lookup(ctx, ip).await,
        }
    }
}

/// What one source said, in the source's own terms but our field names.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Data {
    Ipinfo(ipinfo::Info),
    Rdap(rdap::Network),
    Abuseipdb(abuseipdb::Check),
    Virustotal(virustotal::Report),
    Greynoise(greynoise::Community),
    Shodan(shodan::Host),
    Internetdb(internetdb::Host),
    Tor(tor::Membership),
}

impl Data {
    /// One line for people and the model.
    pub fn summary(&self) -> String {
        match self {
            Data::Ipinfo(d) => d.summary(),
            Data::Rdap(d) => d.summary(),
            Data::Abuseipdb(d) => d.summary(),
            Data::Virustotal(d) => d.summary(),
            Data::Greynoise(d) => d.summary(),
            Data::Shodan(d) => d.summary(),
            Data::Internetdb(d) => d.summary(),
            Data::Tor(d) => d.summary(),
        }
    }
}

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
    fn new(provider: Provider, finding: Finding) -> Self {
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

/// How far the investigation of the source address went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntelStatus {
    /// The sources were asked (or answered from the cache).
    Investigated,
    /// The address is not globally routable: nothing was sent anywhere.
    NotSent,
    /// The alert names no source address.
    NoAddress,
    /// Lookups were not run in this view (e.g. `ai-analyzer prompt`).
    NotRun,
}

/// Everything learned about the source address from outside sources, and the score built on it.
#[derive(Debug, Clone, Serialize)]
pub struct Intel {
    pub status: IntelStatus,
    /// Why nothing was asked, or a remark on the run (e.g. the deadline was hit).
    pub note: Option<String>,
    /// One entry per source, in [`Provider::ALL`] order (empty when nothing was asked).
    pub sources: Vec<SourceResult>,
    /// One entry per `dnsbl.zones` entry (empty when DNSBL is off or nothing was asked).
    pub dnsbl: Vec<Listing>,
    pub risk: Risk,
    /// Wall time of the whole investigation.
    pub elapsed_ms: u64,
}

impl Intel {
    /// Intel that was not gathered, with the reason.
    pub fn without_lookups(status: IntelStatus, note: impl Into<String>) -> Self {
        let note = note.into();
        Intel {
            status,
            risk: risk::assess(&[], &[]),
            note: Some(note),
            sources: Vec::new(),
            dnsbl: Vec::new(),
            elapsed_ms: 0,
        }
    }

    /// For an address that must never be sent anywhere: says so and names its zone.
    pub fn not_sent(ip: IpAddr, scope: Scope, zone: Option<&str>) -> Self {
        let zone = match zone {
            Some(z) => format!("it is in the local zone {z}"),
            None => "no configured network zone contains it".to_string(),
        };
        Intel::without_lookups(
            IntelStatus::NotSent,
            format!(
                "{ip} is a {} address: it is never sent to outside services; {zone}",
                scope.describe()
            ),
        )
    }

    /// Intel built from findings (used by the investigation and by tests on recorded answers).
    pub fn from_findings(sources: Vec<SourceResult>, dnsbl: Vec<Listing>) -> Self {
        let risk = risk::assess(&sources, &dnsbl);
        Intel {
            status: IntelStatus::Investigated,
            note: None,
            sources,
            dnsbl,
            risk,
            elapsed_ms: 0,
        }
    }

    /// The entry of one source, if it was part of this run.
    pub fn source(&self, provider: Provider) -> Option<&SourceResult> {
        self.sources.iter().find(|s| s.provider == provider)
    }

    /// The lines of the attacker profile: every source, the blocklists, the score.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(note) = &self.note {
            lines.push(note.clone());
        }
        lines.extend(self.sources.iter().map(SourceResult::line));
        if !self.dnsbl.is_empty() {
            lines.push(format!("DNS blocklists: {}", dnsbl_line(&self.dnsbl)));
        }
        lines
    }

    /// The whole profile as text, one fact a line; empty when nothing was asked.
    pub fn profile(&self) -> String {
        let mut out = String::new();
        for l in self.lines() {
            let _ = writeln!(out, "- {l}");
        }
        out
    }
}

/// `zen.spamhaus.org listed (SBL, XBL); bl.spamcop.net not listed; ...`
pub fn dnsbl_line(listings: &[Listing]) -> String {
    listings
        .iter()
        .map(Listing::summary)
        .collect::<Vec<_>>()
        .join("; ")
}

/// What every source shares in one run: the HTTP client, the settings, the cache.
pub struct Ctx {
    pub http: reqwest::Client,
    pub settings: Settings,
    pub cache: Cache,
    secrets: Vec<String>,
}

impl Ctx {
    pub fn new(settings: &Settings) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            // Redirects are followed by hand where a source needs them (RDAP): a custom key
            // header such as `Key:` or `x-apikey:` must never follow a redirect to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("ai-analyzer/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", error_chain(&e)))?;
        Ok(Ctx {
            http,
            cache: Cache::new(settings),
            secrets: settings.secrets().into_iter().map(String::from).collect(),
            settings: settings.clone(),
        })
    }

    /// Masks every configured secret in text that came from outside or from an error.
    pub fn redact(&self, text: &str) -> String {
        redact(text, &self.secrets)
    }

    /// Sends one request and reads the whole body (capped). Transport failures become findings
    /// whose text never carries the URL (Shodan's has the key in it) or any secret.
    pub(crate) async fn send(&self, req: reqwest::RequestBuilder) -> Result<Reply, Finding> {
        let started = Instant::now();
        let mut resp = req
            .send()
            .await
            .map_err(|e| self.transport_failure(e, started))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > MAX_BODY_BYTES {
                        return Err(Finding::failed(format!(
                            "HTTP {status}: answer larger than {MAX_BODY_BYTES} bytes"
                        )));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return Err(self.transport_failure(e, started)),
            }
        }
        Ok(Reply {
            status,
            retry_after,
            location,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    fn transport_failure(&self, e: reqwest::Error, started: Instant) -> Finding {
        if e.is_timeout() {
            return Finding::TimedOut {
                after_ms: millis(started.elapsed()),
            };
        }
        let what = if e.is_connect() {
            "cannot connect"
        } else if e.is_body() || e.is_decode() {
            "the answer broke off"
        } else {
            "request failed"
        };
        let e = e.without_url();
        Finding::failed(self.redact(&format!("{what} ({})", error_chain(&e))))
    }

    /// The common meaning of a status that is not the source's own success or "not found":
    /// 401/403 with a key is a bad key, 429 a rate limit, anything else a failure.
    pub(crate) fn failure(&self, reply: &Reply, keyed: bool) -> Finding {
        let message = self.redact(&reply.message());
        match reply.status {
            401 | 403 if keyed => Finding::BadKey {
                http_status: reply.status,
                detail: message,
                paused_until: None,
            },
            401 | 403 => Finding::failed(format!(
                "HTTP {}: {message} (this source may now need an API key)",
                reply.status
            )),
            429 => Finding::RateLimited {
                detail: format!("HTTP 429: {message}"),
                retry_after_secs: reply.retry_after,
                paused_until: None,
            },
            300..=399 => Finding::failed(format!("unexpected redirect (HTTP {})", reply.status)),
            s => Finding::failed(format!("HTTP {s}: {message}")),
        }
    }

    /// The reason for a body that does not parse.
    pub(crate) fn unreadable(&self, reply: &Reply, err: impl std::fmt::Display) -> Finding {
        Finding::failed(self.redact(&format!("unreadable answer (HTTP {}: {err})", reply.status)))
    }

    /// Sends a lookup and reads the answers most sources share: 200 parsed into data, 404 "not
    /// found" in the service's own words, anything else through [`Ctx::failure`].
    pub(crate) async fn fetch<T>(
        &self,
        req: reqwest::RequestBuilder,
        keyed: bool,
        parse: impl FnOnce(&str) -> Result<T, String>,
        wrap: impl FnOnce(T) -> Data,
    ) -> Finding {
        let reply = match self.send(req).await {
            Ok(r) => r,
            Err(f) => return f,
        };
        match reply.status {
            200 => match parse(&reply.body) {
                Ok(v) => Finding::Ok { data: wrap(v) },
                Err(e) => self.unreadable(&reply, e),
            },
            404 => Finding::NotFound {
                detail: self.redact(&reply.message()),
            },
            _ => self.failure(&reply, keyed),
        }
    }
}

/// A recorded response body from `tests/fixtures/ti/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/ti/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}

/// One HTTP answer, read in full.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// `Retry-After` in seconds (a date is turned into seconds from now).
    pub retry_after: Option<u64>,
    pub location: Option<String>,
    pub body: String,
}

impl Reply {
    /// The error text a source put in its body (`{"error":{"message"}}`, `{"errors":[{"detail"}]}`,
    /// `{"message"}`, `{"detail"}`, RDAP's `title`), or a short note for non-JSON bodies.
    pub fn message(&self) -> String {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&self.body) else {
            let text = self.body.split_whitespace().collect::<Vec<_>>().join(" ");
            return if text.is_empty() {
                "empty body".into()
            } else if text.starts_with('<') {
                "HTML page".into()
            } else {
                crate::intake::alert::truncate_chars(&text, 160).to_string()
            };
        };
        let candidates = [
            &v["error"]["message"],
            &v["error"]["title"],
            &v["error"],
            &v["errors"][0]["detail"],
            &v["message"],
            &v["detail"],
            &v["title"],
            &v["description"][0],
        ];
        candidates
            .iter()
            .find_map(|c| c.as_str().filter(|s| !s.trim().is_empty()))
            .map(|s| {
                let folded = s.split_whitespace().collect::<Vec<_>>().join(" ");
                crate::intake::alert::truncate_chars(&folded, 200).to_string()
            })
            .unwrap_or_else(|| "no error text".into())
    }
}

/// `Retry-After: 120` or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let secs = when.timestamp() - chrono::Utc::now().timestamp();
    Some(u64::try_from(secs).unwrap_or(0))
}

/// Masks each secret (4 characters or longer) in `text`.
pub fn redact(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for s in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(s.as_str(), "[redacted]");
    }
    out
}

/// An error and its causes, `a: b: c`, without repeats.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cause = c.source();
    }
    parts.join(": ")
}

pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Why a source is not asked at all in this run, if it is not.
fn not_asked(provider: Provider, ctx: &Ctx, ip: IpAddr) -> Option<Finding> {
    let s = &ctx.settings;
    let (enabled, _, key) = provider.settings(s);
    if !enabled {
        return Some(Finding::skipped(format!(
            "disabled (providers.{}.enabled = false)",
            provider.key()
        )));
    }
    let keyed = key.is_some_and(Secret::is_set);
    if provider.needs_key() && !keyed {
        let also = if provider == Provider::Shodan {
            "; the keyless InternetDB is asked instead"
        } else {
            ""
        };
        return Some(Finding::NotConfigured {
            reason: format!(
                "no API key (providers.{}.api_key or AI_ANALYZER_{}_API_KEY){also}",
                provider.key(),
                provider.key().to_uppercase()
            ),
        });
    }
    match provider {
        Provider::Greynoise if ip.is_ipv6() => Some(Finding::skipped(
            "the GreyNoise community API answers for IPv4 addresses only",
        )),
        Provider::Internetdb
            if s.providers.shodan.enabled
                && s.providers.shodan.api_key.is_set()
                && ctx.cache.pause(Provider::Shodan, s).is_none() =>
        {
            Some(Finding::skipped(
                "the Shodan host API is keyed and asked instead",
            ))
        }
        _ => None,
    }
}

/// Asks one source, through the cache and the pause list, bounded by its timeout.
async fn run_one(ctx: Arc<Ctx>, provider: Provider, ip: IpAddr, timeout: Duration) -> SourceResult {
    let started = Instant::now();
    if provider.cached_per_ip() {
        if let Some(finding) = ctx.cache.load(provider, ip) {
            return SourceResult {
                provider,
                finding,
                elapsed_ms: millis(started.elapsed()),
                cached: true,
            };
        }
    }
    if let Some(paused) = ctx.cache.pause(provider, &ctx.settings) {
        return SourceResult {
            provider,
            finding: paused,
            elapsed_ms: 0,
            cached: false,
        };
    }
    let finding = match tokio::time::timeout(timeout, provider.lookup(&ctx, ip)).await {
        Ok(Finding::TimedOut { .. }) | Err(_) => Finding::TimedOut {
            after_ms: millis(started.elapsed()),
        },
        Ok(f) => f,
    };
    let finding = ctx.cache.record(provider, ip, finding, &ctx.settings);
    SourceResult {
        provider,
        finding,
        elapsed_ms: millis(started.elapsed()),
        cached: false,
    }
}

enum Done {
    Source(Box<SourceResult>),
    Dnsbl(Vec<Listing>),
}

/// Investigates one address: every enabled source and every DNSBL zone at once. Never fails: each
/// source's outcome is in the result, and the whole run ends by the longest per-source timeout
/// (plus [`DEADLINE_GRACE`]), never later than `general.deadline_secs`.
pub async fn investigate_ip(ip: IpAddr, settings: &Settings) -> Intel {
    let ip = ip.to_canonical();
    let scope = scope::scope(ip);
    if !scope.is_global() {
        return Intel::not_sent(ip, scope, scope::zone_of(ip, &settings.network.zones));
    }
    let started = Instant::now();
    let ctx = match Ctx::new(settings) {
        Ok(ctx) => Arc::new(ctx),
        Err(reason) => {
            let sources = Provider::ALL
                .iter()
                .map(|p| SourceResult::new(*p, Finding::failed(reason.clone())))
                .collect();
            return Intel::from_findings(sources, Vec::new());
        }
    };

    let mut slots: Vec<Option<SourceResult>> = vec![None; Provider::ALL.len()];
    let mut tasks: HashMap<tokio::task::Id, Provider> = HashMap::new();
    let mut set: JoinSet<Done> = JoinSet::new();
    let mut longest = Duration::ZERO;
    for provider in Provider::ALL {
        if let Some(finding) = not_asked(provider, &ctx, ip) {
            slots[provider.index()] = Some(SourceResult::new(provider, finding));
            continue;
        }
        let timeout = provider.settings(settings).1;
        longest = longest.max(timeout);
        let ctx = Arc::clone(&ctx);
        let handle =
            set.spawn(
                async move { Done::Source(Box::new(run_one(ctx, provider, ip, timeout).await)) },
            );
        tasks.insert(handle.id(), provider);
    }
    let dnsbl_zones = if settings.dnsbl.enabled {
        settings.dnsbl.zones.clone()
    } else {
        Vec::new()
    };
    if !dnsbl_zones.is_empty() {
        longest = longest.max(Duration::from_secs(settings.dnsbl.timeout_secs));
        let ctx = Arc::clone(&ctx);
        set.spawn(async move {
            Done::Dnsbl(dnsbl::check(ip, &ctx.settings.dnsbl, Some(&ctx.cache)).await)
        });
    }

    let deadline =
        (longest + DEADLINE_GRACE).min(Duration::from_secs(settings.general.deadline_secs.max(1)));
    let end = tokio::time::Instant::now() + deadline;
    let mut listings: Option<Vec<Listing>> = None;
    let mut deadline_hit = false;
    loop {
        match tokio::time::timeout_at(end, set.join_next_with_id()).await {
            Ok(Some(Ok((_, Done::Source(r))))) => {
                let i = r.provider.index();
                slots[i] = Some(*r);
            }
            Ok(Some(Ok((_, Done::Dnsbl(l))))) => listings = Some(l),
            Ok(Some(Err(e))) => {
                // A task that panicked: its source failed, the others go on.
                if let Some(p) = tasks.get(&e.id()) {
                    slots[p.index()] = Some(SourceResult::new(
                        *p,
                        Finding::failed("internal error in this source's lookup"),
                    ));
                } else {
                    listings = Some(Vec::new());
                }
            }
            Ok(None) => break,
            Err(_) => {
                deadline_hit = true;
                break;
            }
        }
    }
    // Whatever is still running past the deadline is dropped (and aborted) with the set.
    drop(set);
    let waited = millis(deadline);
    let sources: Vec<SourceResult> = Provider::ALL
        .iter()
        .zip(slots)
        .map(|(p, slot)| {
            slot.unwrap_or(SourceResult {
                provider: *p,
                finding: Finding::TimedOut { after_ms: waited },
                elapsed_ms: waited,
                cached: false,
            })
        })
        .collect();
    let dnsbl = match listings {
        Some(l) => l,
        None => dnsbl_zones
            .iter()
            .map(|z| Listing::unknown(z, format!("no answer within {waited} ms")))
            .collect(),
    };
    let mut intel = Intel::from_findings(sources, dnsbl);
    if deadline_hit {
        intel.note = Some(format!(
            "the investigation stopped at its deadline ({waited} ms); unfinished lookups are marked timed out"
        ));
    }
    intel.elapsed_ms = millis(started.elapsed());
    let unanswered: Vec<String> = intel
        .sources
        .iter()
        .filter(|s| {
            matches!(
                s.finding,
                Finding::TimedOut { .. }
                    | Finding::Failed { .. }
                    | Finding::RateLimited { .. }
                    | Finding::BadKey { .. }
            )
        })
        .map(|s| format!("{} {}", s.provider.key(), s.finding.status()))
        .collect();
    tracing::info!(
        "investigated {ip} in {} ms: risk {}{}",
        intel.elapsed_ms,
        intel.risk.summary(),
        if unanswered.is_empty() {
            String::new()
        } else {
            format!("; no answer from {}", unanswered.join(", "))
        }
    );
    intel
}

/// An investigation result built from the recorded sample answers, for tests of the readers of
/// `Intel` (prompt, fallback report, table).
#[cfg(test)]
pub(crate) fn sample_intel() -> Intel {
    let fixture = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    };
    let ok = |provider, data| SourceResult {
        provider,
        finding: Finding::Ok { data },
        elapsed_ms: 120,
        cached: false,
    };
    let sources = vec![
        ok(
            Provider::Ipinfo,
            Data::Ipinfo(ipinfo::parse(&fixture("ipinfo_malicious.json")).expect("sample")),
        ),
        SourceResult {
            provider: Provider::Rdap,
            finding: Finding::TimedOut { after_ms: 5000 },
            elapsed_ms: 5000,
            cached: false,
        },
        ok(
            Provider::Abuseipdb,
            Data::Abuseipdb(
                abuseipdb::parse(&fixture("abuseipdb_malicious_nonverbose.json"), 90)
                    .expect("sample"),
            ),
        ),
        SourceResult {
            cached: true,
            ..ok(
                Provider::Virustotal,
                Data::Virustotal(
                    virustotal::parse(&fixture("virustotal_malicious.json")).expect("sample"),
                ),
            )
        },
        ok(
            Provider::Greynoise,
            Data::Greynoise(greynoise::parse(&fixture("greynoise_malicious.json")).expect("sample")),
        ),
        SourceResult::new(
            Provider::Shodan,
            Finding::NotConfigured {
                reason: "no API key (providers.shodan.api_key or AI_ANALYZER_SHODAN_API_KEY); the keyless InternetDB is asked instead".into(),
            },
        ),
        ok(
            Provider::Internetdb,
            Data::Internetdb(
                internetdb::parse(&fixture("internetdb_malicious.json")).expect("sample"),
            ),
        ),
        ok(
            Provider::Tor,
            Data::Tor(tor::Membership {
                exit: true,
                list_size: 6,
                list_fetched_at: Some("2026-09-16T18:00:00Z".into()),
                stale: false,
            }),
        ),
    ];
    let a = |s: &str| s.parse().expect("address");
    let dnsbl = vec![
        dnsbl::classify("zen.spamhaus.org", &[a("127.0.0.2"), a("127.0.0.4")]),
        dnsbl::classify("bl.spamcop.net", &[a("127.0.0.2")]),
        Listing::unknown("b.barracudacentral.org", "the server answered Refused"),
        dnsbl::classify("dnsbl.dronebl.org", &[]),
    ];
    let mut intel = Intel::from_findings(sources, dnsbl);
    intel.elapsed_ms = 5003;
    intel
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("29241"), Some(29241));
        assert_eq!(parse_retry_after(" 0 "), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn error_messages_come_from_every_known_body_shape() {
        let reply = |body: &str| Reply {
            status: 401,
            retry_after: None,
            location: None,
            body: body.into(),
        };
        let fixture = |name: &str| {
            std::fs::read_to_string(format!(
                "{}/tests/fixtures/ti/{name}",
                env!("CARGO_MANIFEST_DIR")
            ))
            .expect("fixture")
        };
        assert_eq!(
            reply(&fixture("virustotal_401.json")).message(),
            "Wrong API key"
        );
        assert!(reply(&fixture("abuseipdb_401.json"))
            .message()
            .starts_with("Authentication failed."));
        assert_eq!(
            reply(&fixture("shodan_401.json")).message(),
            "Invalid API key"
        );
        assert_eq!(
            reply(&fixture("ipinfo_403_unknown_token.json")).message(),
            "Please ensure you've entered your token correctly. Refer to https://ipinfo.io/developers for details, or contact us at support@ipinfo.io for help"
        );
        assert_eq!(
            reply(&fixture("rdap_429.json")).message(),
            "Too Many Requests"
        );
        assert_eq!(
            reply("<html><body>401</body></html>").message(),
            "HTML page"
        );
        assert_eq!(reply("").message(), "empty body");
    }

    #[test]
    fn secrets_are_masked() {
        let secrets = vec!["abcd1234".to_string(), "x".to_string()];
        assert_eq!(
            redact("GET /host?key=abcd1234 failed x", &secrets),
            "GET /host?key=[redacted] failed x"
        );
    }

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

    #[tokio::test]
    async fn non_global_addresses_are_never_investigated() {
        let mut settings = Settings::default();
        settings.general.state_dir = std::path::PathBuf::from("/nonexistent/never/used");
        settings.network.zones.push(crate::config::Zone {
            name: "LAN".into(),
            cidr: "10.0.0.0/8".parse().unwrap(),
        });
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "100.64.0.1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
        ] {
            let intel = investigate_ip(ip.parse().unwrap(), &settings).await;
            assert_eq!(intel.status, IntelStatus::NotSent, "{ip}");
            assert!(intel.sources.is_empty() && intel.dnsbl.is_empty(), "{ip}");
            assert!(intel.note.as_deref().unwrap_or("").contains("never sent"));
        }
        let intel = investigate_ip("10.1.2.3".parse().unwrap(), &settings).await;
        assert!(intel.note.unwrap().contains("local zone LAN"));
    }
}
