//! The indexer backend: on a multi-node cluster each manager only sees its own alerts, but the
//! Wazuh indexer (OpenSearch) has them all. This asks it, with the same `_search` the dashboard
//! uses, for the most recent alerts whose address fields hold the address, in the window.
//!
//! Every hit is checked the same way as a line of the alert log ([`Query::accept`]): an address
//! field must really hold the address, and the alert under analysis is left out.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Value};

use super::Indexer;
use super::{Collector, Found, Query};
use crate::intake::alert::{self, Alert};
use crate::util::body::read_capped;
use crate::util::error::chain as error_chain;
use crate::util::join_url;

/// Connecting takes at most this long (within `timeout_secs`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// At most this much of an answer is read.
const MAX_BODY: usize = 16 << 20;

/// The fields searched: every source and destination field, and the agent's address.
pub fn fields() -> Vec<&'static str> {
    alert::SOURCE_IP_FIELDS
        .iter()
        .chain(alert::DEST_IP_FIELDS)
        .copied()
        .chain(["agent.ip"])
        .collect()
}

/// The values a keyword field may hold for `ip`: the usual text, the IPv4-mapped IPv6 form of an
/// IPv4 address, and for IPv6 the fully expanded form and upper case.
pub fn term_values(ip: IpAddr) -> Vec<String> {
    let mut out = vec![ip.to_string()];
    match ip {
        IpAddr::V4(v4) => out.push(format!("::ffff:{v4}")),
        IpAddr::V6(v6) => {
            let expanded = v6
                .segments()
                .iter()
                .map(|g| format!("{g:04x}"))
                .collect::<Vec<_>>()
                .join(":");
            out.push(ip.to_string().to_uppercase());
            out.push(expanded);
        }
    }
    out.dedup();
    out
}

/// The `_search` body: a bool query with the window as a range filter and one term per field and
/// spelling, at least one of which must match; newest first.
pub fn request_body(query: &Query) -> Value {
    let values = term_values(query.ip);
    let should: Vec<Value> = fields()
        .into_iter()
        .flat_map(|f| values.iter().map(move |v| json!({"term": {f: v}})))
        .collect();
    let millis = chrono::SecondsFormat::Millis;
    json!({
        // One more than needed: the alert under analysis may be among them.
        "size": query.max_events + usize::from(query.exclude.is_some()),
        "sort": [{"timestamp": {"order": "desc"}}],
        "query": {"bool": {
            "filter": [{"range": {"timestamp": {
                "gte": query.since.to_rfc3339_opts(millis, false),
                "lte": query.until.to_rfc3339_opts(millis, false),
            }}}],
            "should": should,
            "minimum_should_match": 1,
        }},
    })
}

/// `url` without any user:password in it, for messages.
pub(crate) fn display_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => url.to_string(),
    }
}

/// Asks the indexer. Errors are one line that names the indexer and never carries the password.
/// Why the indexer gave no history. The text goes into the report as it is.
#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error("cannot read history.indexer.ca_file {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("history.indexer.ca_file {0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("cannot set up the indexer client: {0}")]
    Client(String),
    #[error("the indexer at {url} did not answer: {what}")]
    NoAnswer { url: String, what: String },
    #[error("the indexer at {url}: {what}")]
    Read { url: String, what: String },
    #[error("the indexer at {url} answered HTTP {status}: {reason}")]
    Http {
        url: String,
        status: u16,
        reason: String,
    },
    #[error("the indexer at {url} sent something that is not JSON: {reason}")]
    NotJson { url: String, reason: String },
    #[error("the indexer at {url} answered without hits.hits: {reason}")]
    NoHits { url: String, reason: String },
}

/// The HTTP client for the indexer: its timeouts, no redirects (credentials never follow one),
/// and the CA of `ca_file` when one is set.
pub(crate) async fn client(cfg: &Indexer) -> Result<reqwest::Client, IndexerError> {
    let timeout = cfg.timeout();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout)
        // Credentials never follow a redirect.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("ai-analyzer/", env!("CARGO_PKG_VERSION")));
    if !cfg.ca_file.as_os_str().is_empty() {
        let pem = tokio::fs::read(&cfg.ca_file)
            .await
            .map_err(|e| IndexerError::CaFile {
                path: cfg.ca_file.display().to_string(),
                reason: e.to_string(),
            })?;
        // A bundle is accepted too; Wazuh's root-ca.pem holds one certificate.
        let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
        if certs.is_empty() {
            return Err(IndexerError::NoCertificate(
                cfg.ca_file.display().to_string(),
            ));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder
        .build()
        .map_err(|e| IndexerError::Client(error_chain(&e.without_url())))
}

pub async fn search(cfg: &Indexer, query: &Query) -> Result<Found, IndexerError> {
    let mut collector = Collector::new(query.clone(), "indexer");
    if query.max_events == 0 {
        return Ok(collector.finish());
    }
    let timeout = cfg.timeout();
    let client = client(cfg).await?;
    let shown = display_url(&cfg.url);
    let url = join_url(&cfg.url, &format!("{}/_search", cfg.index.trim()));
    let mut request = client.post(&url).json(&request_body(query));
    if !cfg.username.is_empty() {
        request = request.basic_auth(&cfg.username, Some(cfg.password.expose()));
    }
    let response = request.send().await.map_err(|e| {
        let what = if e.is_timeout() {
            format!("timed out after {} s", timeout.as_secs())
        } else {
            error_chain(&e.without_url())
        };
        IndexerError::NoAnswer {
            url: shown.clone(),
            what,
        }
    })?;
    let status = response.status();
    let body = read_capped(response, MAX_BODY)
        .await
        .map_err(|e| IndexerError::Read {
            url: shown.clone(),
            what: e.to_string(),
        })?;
    if !status.is_success() {
        return Err(IndexerError::Http {
            url: shown,
            status: status.as_u16(),
            reason: error_reason(&body),
        });
    }
    let value: Value = serde_json::from_slice(&body).map_err(|e| IndexerError::NotJson {
        url: shown.clone(),
        reason: e.to_string(),
    })?;
    let Some(hits) = value.pointer("/hits/hits").and_then(Value::as_array) else {
        return Err(IndexerError::NoHits {
            url: shown,
            reason: error_reason(&body),
        });
    };
    for hit in hits {
        let Some(source) = hit.get("_source").filter(|s| s.is_object()) else {
            continue;
        };
        let alert = Alert::new(source.clone());
        if let Some(event) = query.accept(&alert) {
            if !collector.push(event) {
                break;
            }
        }
    }
    if value.pointer("/timed_out").and_then(Value::as_bool) == Some(true) {
        collector
            .note("the indexer timed out on part of the search: the history may be incomplete");
    }
    Ok(collector.finish())
}

/// OpenSearch's `{"error":{"root_cause":[{"reason":...}],"reason":...},"status":...}`, or the
/// start of whatever came.
fn error_reason(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let reason = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        [
            v.pointer("/error/root_cause/0/reason"),
            v.pointer("/error/reason"),
            v.pointer("/error"),
            v.pointer("/message"),
        ]
        .into_iter()
        .flatten()
        .find_map(|r| r.as_str().map(str::to_string))
    });
    let reason = reason.unwrap_or_else(|| text.into_owned());
    let folded = reason.split_whitespace().collect::<Vec<_>>().join(" ");
    if folded.is_empty() {
        "no error text".into()
    } else {
        alert::truncate_chars(&folded, 200).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        let now =
            crate::investigate::history::parse_timestamp("2024-06-10T12:00:00.000+0000").unwrap();
        Query::new(
            "198.51.100.7".parse().unwrap(),
            None,
            30,
            Duration::from_secs(72 * 3600),
            now,
        )
    }

    #[test]
    fn body_is_a_bool_query_on_every_ip_field_with_a_time_range() {
        let body = request_body(&query());
        assert_eq!(body["size"], 30);
        assert_eq!(body["sort"][0]["timestamp"]["order"], "desc");
        let range = &body["query"]["bool"]["filter"][0]["range"]["timestamp"];
        assert_eq!(range["gte"], "2024-06-07T12:00:00.000+00:00");
        assert_eq!(range["lte"], "2024-06-10T12:00:00.000+00:00");
        let should = body["query"]["bool"]["should"].as_array().unwrap();
        assert!(should.contains(&json!({"term":{"data.srcip":"198.51.100.7"}})));
        assert!(should.contains(&json!({"term":{"data.srcip":"::ffff:198.51.100.7"}})));
        assert!(should.contains(&json!({"term":{"data.win.eventdata.ipAddress":"198.51.100.7"}})));
        assert!(should.contains(&json!({"term":{"agent.ip":"198.51.100.7"}})));
        assert_eq!(body["query"]["bool"]["minimum_should_match"], 1);
    }

    #[test]
    fn error_reasons() {
        let body = br#"{"error":{"root_cause":[{"type":"x","reason":"no such index [wazuh-alerts-*]"}],"reason":"outer"},"status":404}"#;
        assert_eq!(error_reason(body), "no such index [wazuh-alerts-*]");
        assert_eq!(error_reason(b"Unauthorized"), "Unauthorized");
        assert_eq!(error_reason(b""), "no error text");
    }

    #[test]
    fn urls_are_shown_without_credentials() {
        assert_eq!(
            display_url("https://admin:s3cret@idx:9200/"),
            "https://idx:9200/"
        );
    }
}
