//! The HTTP side every source shares: one client, bodies read with a cap, the meaning of the
//! status codes sources have in common, error texts from every known body shape, and secrets
//! masked in all of it.

use std::time::{Duration, Instant};

use super::lenient::BodyError;
use super::{Data, Finding, Providers};
use crate::investigate::cache::Cache;
use crate::investigate::Setup;
use crate::util::ceiling::Ceiling;
use crate::util::error::chain as error_chain;

/// How long to wait for a TCP (and TLS) connection to any source.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest any single HTTP exchange may take, whatever a source's `timeout_secs` says.
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Bodies larger than this are cut off and treated as unreadable: no source sends this much.
pub(super) const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

fn client_builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // Redirects are followed by hand where a source needs them (RDAP): a custom key header
        // such as `Key:` or `x-apikey:` must never follow a redirect to another host.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ai-analyzer/", env!("CARGO_PKG_VERSION")))
}

/// What every source shares in one run: the HTTP client, the sources' settings, the cache.
pub struct Ctx {
    pub http: reqwest::Client,
    pub providers: Providers,
    pub cache: Cache,
    /// The host-wide ceiling of threat-intel requests a minute.
    pub(crate) lookups: Ceiling,
    /// Where the sources' budgets are counted (`state_dir/limits`).
    limits: std::path::PathBuf,
    secrets: Vec<String>,
    /// The indexer, when the daily budgets and the answers are shared by several manager nodes.
    pub(crate) shared: Option<crate::investigate::cluster::Shared>,
}

impl Ctx {
    pub fn new(setup: &Setup) -> Result<Self, reqwest::Error> {
        let http = client_builder().build()?;
        Ok(Ctx {
            http,
            cache: Cache::new(setup.state.cache(), setup.cache_ttl),
            lookups: Ceiling::new(&setup.state.limits(), "lookups", setup.lookups_per_minute),
            limits: setup.state.limits(),
            secrets: setup.secrets.clone(),
            providers: setup.providers.clone(),
            shared: setup.shared.clone(),
        })
    }

    /// A client like [`Ctx::http`] that connects to `host` at `addrs` only: the addresses a
    /// redirect target was checked at are the ones it is asked at (no second resolution that
    /// could answer differently).
    pub(crate) fn pinned(
        &self,
        host: &str,
        addrs: &[std::net::SocketAddr],
    ) -> Result<reqwest::Client, reqwest::Error> {
        client_builder().resolve_to_addrs(host, addrs).build()
    }

    /// Takes one lookup from `provider`'s budget: `None` when it fits, else why it does not
    /// ("budget spent ..."). Counted across every process on the host, and with
    /// `cluster.backend = "indexer"` the daily budget across every node; a counter that cannot
    /// be kept lets the lookup go (the source's own quota still holds).
    pub(crate) async fn spend(
        &self,
        provider: super::Provider,
        budget: super::Budget,
    ) -> Option<String> {
        use crate::util::ceiling::Daily;
        let key = provider.key();
        let now = crate::util::now_ms();
        let minute = Ceiling::new(&self.limits, &format!("{key}-minute"), budget.per_minute);
        if !minute.take(now).unwrap_or(true) {
            return Some(format!(
                "budget spent: {} lookups a minute (providers.{key}.per_minute)",
                budget.per_minute
            ));
        }
        let name = format!("{key}-day");
        let day = Daily::new(&self.limits, &name, budget.daily);
        let shared = match (&self.shared, budget.daily) {
            (Some(shared), 1..) => {
                use crate::investigate::cluster::{note, SHARED_LIMIT};
                match tokio::time::timeout(
                    SHARED_LIMIT,
                    shared.take_daily(&name, now, budget.daily),
                )
                .await
                {
                    Ok(Ok(fits)) => {
                        note(true, "");
                        Some(fits)
                    }
                    Ok(Err(e)) => {
                        note(false, &self.redact(&e));
                        None
                    }
                    Err(_) => {
                        note(false, &crate::investigate::cluster::no_answer());
                        None
                    }
                }
            }
            _ => None,
        };
        let fits = shared.unwrap_or_else(|| day.take(now).unwrap_or(true));
        if !fits {
            return Some(format!(
                "budget spent: {} lookups today (providers.{key}.daily_budget); asked again after \
                 midnight UTC",
                budget.daily
            ));
        }
        None
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
        parse: impl FnOnce(&str) -> Result<T, BodyError>,
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

pub fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
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
        // The other recorded error bodies of the sources we ask.
        for (name, want) in [
            (
                "abuseipdb_422_invalid_ip.json",
                "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or 2001:4860:4860::8888).",
            ),
            (
                "greynoise_400_invalid.json",
                "Request is not a valid routable IPv4 address",
            ),
            (
                "ipinfo_429_unauthenticated.json",
                "You've hit the daily limit for the unauthenticated API. Create an API access token by signing up to get 50k req/month.",
            ),
            ("virustotal_401_missing.json", "X-Apikey header is missing"),
        ] {
            assert_eq!(reply(&fixture(name)).message(), want, "{name}");
        }
        // A recorded 429 as it came over the wire: the body after the headers.
        let raw = fixture("abuseipdb_429.http");
        let body = raw
            .lines()
            .skip_while(|l| !l.trim().is_empty())
            .collect::<String>();
        assert_eq!(
            reply(&body).message(),
            "Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details."
        );
    }

    #[test]
    fn secrets_are_masked() {
        let secrets = vec!["abcd1234".to_string(), "x".to_string()];
        assert_eq!(
            redact("GET /host?key=abcd1234 failed x", &secrets),
            "GET /host?key=[redacted] failed x"
        );
    }
}
