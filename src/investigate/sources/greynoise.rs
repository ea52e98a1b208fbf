//! GreyNoise community API: is the address a mass Internet scanner ("noise"), a known benign
//! business service ("RIOT", e.g. a CDN or a public resolver), and is it classified malicious or
//! benign. This tells a targeted attack from background radiation.
//!
//! `GET {url}/v3/community/{ip}` with an optional `key:` header. IPv4 only. **An address GreyNoise
//! has not seen is HTTP 404 with a normal JSON body**: that is a finding ("not seen"), not an error.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::risk::Signals;
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "GreyNoise";

source_config!(
    "https://api.greynoise.io",
    // The community API: 50 lookups a day.
    budget(50, 0),
    // The community API works without a key.
    key api_key,
);

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Greynoise
    }
    fn not_asked(&self, ip: IpAddr, _ctx: &Ctx) -> Option<Finding> {
        ip.is_ipv6().then(|| {
            Finding::skipped("the GreyNoise community API answers for IPv4 addresses only")
        })
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// What GreyNoise said, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Community {
    /// `malicious`, `benign` or `unknown`.
    pub classification: Option<String>,
    /// Seen scanning the Internet.
    pub noise: bool,
    /// A known business service (Rule It Out).
    pub riot: bool,
    /// The actor or service, e.g. `Shodan.io`, `Cloudflare Public DNS`.
    pub name: Option<String>,
    pub last_seen: Option<String>,
}

impl Community {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "classification {}",
            self.classification.as_deref().unwrap_or("unknown")
        )];
        if let Some(n) = self.name.as_deref().filter(|n| *n != "unknown") {
            parts.push(format!("name {n}"));
        }
        parts.push(if self.noise {
            "seen scanning the Internet (noise)".into()
        } else {
            "not seen scanning".into()
        });
        if self.riot {
            parts.push("RIOT: known business service".into());
        }
        if let Some(l) = &self.last_seen {
            parts.push(format!("last seen {l}"));
        }
        parts.join("; ")
    }
}

impl Answer for Community {
    fn summary(&self) -> String {
        Community::summary(self)
    }

    /// Malicious +25; else a known business service (RIOT) -25, benign -20, a mass scanner +5.
    fn signals(&self, label: &'static str) -> Signals {
        let mut s = Signals::from(label);
        s.reputation = true;
        let name = self
            .name
            .as_deref()
            .filter(|n| *n != "unknown")
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        match self.classification.as_deref() {
            Some("malicious") => s.add(25, format!("GreyNoise: malicious{name}")),
            _ if self.riot => s.add(-25, format!("GreyNoise RIOT: known business service{name}")),
            Some("benign") => s.add(-20, format!("GreyNoise: benign{name}")),
            _ if self.noise => s.add(5, "GreyNoise: mass Internet scanner".into()),
            _ => {}
        }
        s
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    classification: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    noise: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    riot: bool,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    last_seen: Option<String>,
}

/// Parses a 200 body.
pub fn parse(body: &str) -> Result<Community, BodyError> {
    let w: Wire = lenient::object(body)?;
    Ok(Community {
        classification: w.classification.map(|c| c.to_ascii_lowercase()),
        noise: w.noise,
        riot: w.riot,
        name: w.name,
        last_seen: w.last_seen,
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let mut req = ctx
        .http
        .get(join_url(&cfg.url, &format!("v3/community/{ip}")))
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    let keyed = cfg.api_key.is_set();
    if keyed {
        req = req.header("key", cfg.api_key.expose());
    }
    // Its 404 is the normal "never seen" answer (`not_found`), which `fetch` reads as such.
    ctx.fetch(req, keyed, parse, Data::Greynoise).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let bad = parse(&fixture("greynoise_malicious.json")).unwrap();
        assert_eq!(bad.classification.as_deref(), Some("malicious"));
        assert!(bad.noise && !bad.riot);
        assert_eq!(
            bad.summary(),
            "classification malicious; seen scanning the Internet (noise); last seen 2026-09-15"
        );
        let riot = parse(&fixture("greynoise_riot.json")).unwrap();
        assert!(riot.riot);
        assert_eq!(riot.name.as_deref(), Some("Cloudflare Public DNS"));
        let scanner = parse(&fixture("greynoise_benign_scanner.json")).unwrap();
        assert_eq!(scanner.classification.as_deref(), Some("benign"));
        assert!(parse("garbage").is_err());
    }
}
