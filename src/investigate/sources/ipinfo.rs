//! ipinfo.io: who holds the address (AS number and organisation), where it is, its reverse name,
//! and on paid plans whether it is a VPN, proxy, Tor or hosting address. Context, not reputation.
//!
//! `GET {url}/{ip}/json` with `Authorization: Bearer <token>` when a token is set (the keyless
//! API works with a smaller quota). A 404 means ipinfo did not take the address; 403 is a bad token.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::risk::Signals;
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "ipinfo";

source_config!(
    "https://ipinfo.io",
    // The free plan: 50,000 a month, about 1,600 a day.
    budget(1600, 0),
    // Optional: the keyless API works with a smaller quota.
    key token,
);

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Ipinfo
    }
    /// `AI_ANALYZER_IPINFO_TOKEN` (ipinfo's own word) wins over `..._API_KEY`.
    fn key_env(&self) -> Vec<String> {
        vec![
            "AI_ANALYZER_IPINFO_API_KEY".into(),
            "AI_ANALYZER_IPINFO_TOKEN".into(),
        ]
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// What ipinfo said, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Info {
    pub hostname: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub country: Option<String>,
    /// `AS64500 Example Hosting B.V.`
    pub org: Option<String>,
    /// `hosting`, `isp`, `business`, ... (paid plans).
    pub asn_type: Option<String>,
    /// The privacy flags that are set: `vpn`, `proxy`, `tor`, `relay`, `hosting` (paid plans).
    pub privacy: Vec<String>,
    pub anycast: bool,
    pub bogon: bool,
}

impl Info {
    pub fn summary(&self) -> String {
        if self.bogon {
            return "bogon address (not routed on the Internet)".into();
        }
        let mut parts = Vec::new();
        if let Some(org) = &self.org {
            parts.push(org.clone());
        }
        let place: Vec<&str> = [&self.city, &self.region, &self.country]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        if !place.is_empty() {
            parts.push(place.join(", "));
        }
        if let Some(h) = &self.hostname {
            parts.push(format!("hostname {h}"));
        }
        if let Some(t) = &self.asn_type {
            parts.push(format!("network type {t}"));
        }
        if !self.privacy.is_empty() {
            parts.push(format!("privacy flags: {}", self.privacy.join(", ")));
        }
        if self.anycast {
            parts.push("anycast".into());
        }
        if parts.is_empty() {
            "no details".into()
        } else {
            parts.join("; ")
        }
    }
}

impl Answer for Info {
    fn summary(&self) -> String {
        Info::summary(self)
    }

    /// Its privacy flags: `tor` counts in the Tor rule, `hosting` (or a hosting ASN) in the
    /// hosting rule, and VPN, proxy or relay add 5 as an anonymiser.
    fn signals(&self, label: &'static str) -> Signals {
        let mut s = Signals::from(label);
        s.tor = self.privacy.iter().any(|f| f == "tor");
        s.hosting = self.privacy.iter().any(|f| f == "hosting")
            || self.asn_type.as_deref() == Some("hosting");
        let anon: Vec<&str> = self
            .privacy
            .iter()
            .map(String::as_str)
            .filter(|f| matches!(*f, "vpn" | "proxy" | "relay"))
            .collect();
        if !anon.is_empty() {
            s.add(5, format!("anonymiser: {} (ipinfo)", anon.join(", ")));
        }
        s
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    hostname: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    city: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    region: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    org: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    anycast: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    bogon: bool,
    #[serde(default)]
    asn: serde_json::Value,
    #[serde(default)]
    privacy: serde_json::Value,
}

/// Parses a 200 body.
pub fn parse(body: &str) -> Result<Info, BodyError> {
    let w: Wire = lenient::object(body)?;
    let asn_type = lenient::as_string(&w.asn["type"]);
    let org = w.org.or_else(|| {
        // Paid plans carry `asn: {asn, name}` too; use it when `org` is missing.
        match (
            lenient::as_string(&w.asn["asn"]),
            lenient::as_string(&w.asn["name"]),
        ) {
            (Some(a), Some(n)) => Some(format!("{a} {n}")),
            (a, n) => a.or(n),
        }
    });
    let privacy = ["vpn", "proxy", "tor", "relay", "hosting"]
        .into_iter()
        .filter(|k| lenient::as_bool(&w.privacy[*k]) == Some(true))
        .map(String::from)
        .collect();
    Ok(Info {
        hostname: w.hostname,
        city: w.city,
        region: w.region,
        country: w.country,
        org,
        asn_type,
        privacy,
        anycast: w.anycast,
        bogon: w.bogon,
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let mut req = ctx
        .http
        .get(join_url(&cfg.url, &format!("{ip}/json")))
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    let keyed = cfg.token.is_set();
    if keyed {
        req = req.bearer_auth(cfg.token.expose());
    }
    ctx.fetch(req, keyed, parse, Data::Ipinfo).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let clean = parse(&fixture("ipinfo_clean.json")).unwrap();
        assert_eq!(clean.org.as_deref(), Some("AS15169 Google LLC"));
        assert_eq!(clean.hostname.as_deref(), Some("dns.google"));
        assert!(clean.anycast && clean.privacy.is_empty());
        assert_eq!(
            clean.summary(),
            "AS15169 Google LLC; Mountain View, California, US; hostname dns.google; anycast"
        );
        let bad = parse(&fixture("ipinfo_malicious.json")).unwrap();
        assert_eq!(bad.privacy, vec!["tor", "hosting"]);
        assert_eq!(bad.asn_type.as_deref(), Some("hosting"));
        assert!(parse(&fixture("ipinfo_bogon.json")).unwrap().bogon);
        assert!(parse(&fixture("ipinfo_unauthenticated.json")).is_ok());
        assert!(parse("not json").is_err());
        assert!(parse("[1,2]").is_err());
    }
}
