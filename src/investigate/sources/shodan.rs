//! Shodan host API, when a key is set: which ports the address exposes, known CVEs of those
//! services, and Shodan's tags (`tor`, `vpn`, `proxy`, `compromised`, ...). An attacking address
//! with exposed vulnerable services is often a hijacked host or a proxy.
//!
//! `GET {url}/shodan/host/{ip}?key=...`. **The key travels in the query string**, so no error text
//! built here ever carries the URL (see `Ctx::send`). 404 `{"error":...}` means Shodan has not
//! indexed the address. Without a key the keyless InternetDB ([`super::internetdb`]) is asked
//! instead.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::risk::{plural, Signals};
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "Shodan";

// 100 lookups a day by default; a paid plan can raise it.
source_config!("https://api.shodan.io", budget(100, 0), key api_key);

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Shodan
    }
    fn needs_key(&self) -> bool {
        true
    }
    fn without_key(&self) -> &'static str {
        "the keyless InternetDB is asked instead"
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// What Shodan (or InternetDB) said, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Host {
    pub ports: Vec<u16>,
    pub vulns: Vec<String>,
    pub tags: Vec<String>,
    pub hostnames: Vec<String>,
    pub org: Option<String>,
    pub isp: Option<String>,
    pub asn: Option<String>,
    pub os: Option<String>,
    pub country_code: Option<String>,
    pub last_update: Option<String>,
}

/// At most this many CVE ids are listed in a summary line.
const SUMMARY_VULNS: usize = 8;

impl Host {
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.ports.is_empty() {
            parts.push("no open ports seen".to_string());
        } else {
            let ports: Vec<String> = self.ports.iter().map(u16::to_string).collect();
            parts.push(format!("open ports {}", ports.join(", ")));
        }
        if !self.vulns.is_empty() {
            let shown: Vec<&str> = self
                .vulns
                .iter()
                .take(SUMMARY_VULNS)
                .map(String::as_str)
                .collect();
            let more = self.vulns.len().saturating_sub(SUMMARY_VULNS);
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            parts.push(format!("vulns {}{more}", shown.join(", ")));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(", ")));
        }
        if let Some(o) = self.org.as_ref().or(self.isp.as_ref()) {
            parts.push(format!("org {o}"));
        }
        if let Some(os) = &self.os {
            parts.push(format!("OS {os}"));
        }
        if !self.hostnames.is_empty() {
            parts.push(format!("hostnames {}", self.hostnames.join(", ")));
        }
        if let Some(u) = &self.last_update {
            parts.push(format!("last scanned {u}"));
        }
        parts.join("; ")
    }
}

impl Answer for Host {
    fn summary(&self) -> String {
        Host::summary(self)
    }

    fn signals(&self, label: &'static str) -> Signals {
        host_signals(self, label)
    }
}

/// The rules for a host record, Shodan's or InternetDB's: +20 for a tag that says compromised
/// (`compromised`, `malware`, `doublepulsar`), +5 for known CVEs on its services; a `tor` tag
/// counts in the cross-source Tor rule.
pub(super) fn host_signals(h: &Host, label: &'static str) -> Signals {
    let mut s = Signals::from(label);
    let bad: Vec<&str> = h
        .tags
        .iter()
        .map(String::as_str)
        .filter(|t| matches!(*t, "compromised" | "malware" | "doublepulsar"))
        .collect();
    if !bad.is_empty() {
        s.add(20, format!("{label} tags: {}", bad.join(", ")));
    }
    if !h.vulns.is_empty() {
        s.add(
            5,
            format!(
                "{} on its exposed services ({label})",
                plural(h.vulns.len() as u64, "known CVE", "known CVEs"),
            ),
        );
    }
    s.tor = h.tags.iter().any(|t| t == "tor");
    s
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "lenient::ports")]
    ports: Vec<u16>,
    #[serde(default, deserialize_with = "lenient::keys_or_strings")]
    vulns: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    hostnames: Vec<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    org: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    isp: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    asn: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    os: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    country_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    last_update: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    error: Option<String>,
}

/// Parses a 200 body. Shodan can put `{"error": ...}` in a 200; that is a failure.
pub fn parse(body: &str) -> Result<Host, BodyError> {
    let w: Wire = lenient::object(body)?;
    if let Some(e) = w.error {
        return Err(BodyError::Said(e));
    }
    let mut ports = w.ports;
    ports.sort_unstable();
    ports.dedup();
    let mut vulns = w.vulns;
    vulns.sort();
    vulns.dedup();
    Ok(Host {
        ports,
        vulns,
        tags: w.tags,
        hostnames: w.hostnames,
        org: w.org,
        isp: w.isp,
        asn: w.asn,
        os: w.os,
        country_code: w.country_code,
        last_update: w.last_update,
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let req = ctx
        .http
        .get(join_url(&cfg.url, &format!("shodan/host/{ip}")))
        .query(&[("key", cfg.api_key.expose())])
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    ctx.fetch(req, true, parse, Data::Shodan).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let bad = parse(&fixture("shodan_host_malicious.json")).unwrap();
        assert_eq!(bad.ports, vec![22, 80, 443, 3389]);
        assert_eq!(bad.vulns, vec!["CVE-2021-41617", "CVE-2023-38408"]);
        assert_eq!(bad.tags, vec!["self-signed", "tor"]);
        assert_eq!(bad.asn.as_deref(), Some("AS64500"));
        let min = parse(&fixture("shodan_host_minify.json")).unwrap();
        assert_eq!(min.ports, vec![443]);
        assert!(min.vulns.is_empty());
        assert_eq!(
            parse(&fixture("shodan_host_404.json"))
                .unwrap_err()
                .to_string(),
            "No information available for that IP."
        );
    }
}
