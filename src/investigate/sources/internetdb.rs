//! Shodan InternetDB, the keyless cousin of the host API: open ports, known CVEs, tags, hostnames
//! and CPEs of an address, refreshed weekly. Asked only when Shodan itself has no key (or is
//! paused).
//!
//! `GET {url}/{ip}`, no auth. 404 `{"detail":"No information available"}` is normal for
//! residential and CGNAT addresses: "not indexed", not "clean".

use std::net::IpAddr;

use serde::Deserialize;

use super::lenient::{self, BodyError};
use super::{shodan, Common, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "InternetDB";

/// InternetDB's answer, in the same shape as Shodan's (and read by the same rules).
pub type Host = shodan::Host;

source_config!("https://internetdb.shodan.io", budget(0, 0));

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Internetdb
    }
    /// Shodan's keyed host API knows more: InternetDB stands in only while it cannot be asked.
    fn not_asked(&self, _ip: IpAddr, ctx: &Ctx) -> Option<Finding> {
        let shodan = &ctx.providers.shodan;
        let keyed = shodan.key_in_use();
        (shodan.enabled() && keyed.is_some() && ctx.cache.pause(Provider::Shodan, keyed).is_none())
            .then(|| Finding::skipped("the Shodan host API is keyed and asked instead"))
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "lenient::ports")]
    ports: Vec<u16>,
    #[serde(default, deserialize_with = "lenient::strings")]
    vulns: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    tags: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    hostnames: Vec<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    cpes: Vec<String>,
}

/// Parses a 200 body.
pub fn parse(body: &str) -> Result<Host, BodyError> {
    let w: Wire = lenient::object(body)?;
    let mut ports = w.ports;
    ports.sort_unstable();
    ports.dedup();
    let mut vulns = w.vulns;
    vulns.sort();
    vulns.dedup();
    // CPEs name the products; the OS one is the only part the summary has room for.
    let os = w
        .cpes
        .iter()
        .find(|c| c.starts_with("cpe:/o:"))
        .map(|c| c.trim_start_matches("cpe:/o:").replace(':', " "));
    Ok(Host {
        ports,
        vulns,
        tags: w.tags,
        hostnames: w.hostnames,
        os,
        ..Host::default()
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let req = ctx
        .http
        .get(join_url(&cfg.url, &ip.to_string()))
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    ctx.fetch(req, false, parse, Data::Internetdb).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let bad = parse(&fixture("internetdb_malicious.json")).unwrap();
        assert_eq!(bad.ports, vec![22, 80, 443, 3389]);
        assert_eq!(bad.vulns.len(), 2);
        assert_eq!(bad.os.as_deref(), Some("canonical ubuntu_linux"));
        // The tags feed the risk rules (a `tor` tag counts as a Tor exit).
        assert_eq!(bad.tags, vec!["self-signed", "tor"]);
        assert_eq!(bad.hostnames, vec!["vps-203-0-113-45.example-hosting.net"]);
        let clean = parse(&fixture("internetdb_clean.json")).unwrap();
        assert_eq!(clean.ports, vec![53, 443]);
        assert!(clean.vulns.is_empty() && clean.tags.is_empty());
        assert_eq!(clean.summary(), "open ports 53, 443; hostnames dns.google");
    }
}
