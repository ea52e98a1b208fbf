//! VirusTotal: how many of some ninety blocklist engines flag the address as malicious or
//! suspicious, the community reputation, and who owns the AS.
//!
//! `GET {url}/api/v3/ip_addresses/{ip}` with `x-apikey:`. Usually 200 even for an address VT has
//! never seen (then with all-zero stats); 404 `NotFoundError` is possible. The public quota is
//! 4 requests a minute, hence the cache.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::risk::{plural, Signals};
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "VirusTotal";

// The public API: 500 lookups a day and 4 a minute.
source_config!("https://www.virustotal.com", budget(500, 4), key api_key);

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Virustotal
    }
    fn needs_key(&self) -> bool {
        true
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// What VirusTotal said, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Report {
    pub malicious: u64,
    pub suspicious: u64,
    pub harmless: u64,
    pub undetected: u64,
    /// Community reputation; negative is bad.
    pub reputation: Option<i64>,
    pub votes_malicious: u64,
    pub votes_harmless: u64,
    pub as_owner: Option<String>,
    pub asn: Option<u64>,
    pub country: Option<String>,
    pub network: Option<String>,
    pub tags: Vec<String>,
}

impl Report {
    /// Engines that gave any verdict at all.
    pub fn engines(&self) -> u64 {
        self.malicious + self.suspicious + self.harmless + self.undetected
    }

    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if self.engines() == 0 {
            parts.push("no engine has analysed this address".to_string());
        } else {
            parts.push(format!(
                "{} malicious, {} suspicious of {} engines",
                self.malicious,
                self.suspicious,
                self.engines()
            ));
        }
        if let Some(r) = self.reputation {
            parts.push(format!("reputation {r}"));
        }
        if self.votes_malicious + self.votes_harmless > 0 {
            parts.push(format!(
                "votes {} malicious / {} harmless",
                self.votes_malicious, self.votes_harmless
            ));
        }
        match (&self.as_owner, self.asn) {
            (Some(o), Some(a)) => parts.push(format!("AS{a} {o}")),
            (Some(o), None) => parts.push(format!("AS owner {o}")),
            (None, Some(a)) => parts.push(format!("AS{a}")),
            (None, None) => {}
        }
        if let Some(n) = &self.network {
            parts.push(format!("network {n}"));
        }
        if let Some(c) = &self.country {
            parts.push(format!("country {c}"));
        }
        if !self.tags.is_empty() {
            parts.push(format!("tags {}", self.tags.join(", ")));
        }
        parts.join("; ")
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Object>,
}

#[derive(Deserialize)]
struct Object {
    attributes: Option<Attributes>,
}

#[derive(Deserialize)]
struct Attributes {
    #[serde(default)]
    last_analysis_stats: Value,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    reputation: Option<i64>,
    #[serde(default)]
    total_votes: Value,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    as_owner: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    asn: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    network: Option<String>,
    #[serde(default, deserialize_with = "lenient::strings")]
    tags: Vec<String>,
}

impl Answer for Report {
    fn summary(&self) -> String {
        Report::summary(self)
    }

    /// 5 points an engine that calls it malicious (at most 30), else 5 for suspicious ones, and 5
    /// for a negative community reputation. An answer from no engine is no reputation answer.
    fn signals(&self, label: &'static str) -> Signals {
        let mut s = Signals::from(label);
        s.reputation = self.engines() > 0;
        if self.malicious > 0 {
            let points = i32::try_from(self.malicious.saturating_mul(5).min(30)).unwrap_or(30);
            s.add(
                points,
                format!(
                    "VirusTotal {} malicious",
                    plural(self.malicious, "engine", "engines")
                ),
            );
        } else if self.suspicious > 0 {
            s.add(
                5,
                format!(
                    "VirusTotal {} suspicious",
                    plural(self.suspicious, "engine", "engines")
                ),
            );
        }
        if let Some(r) = self.reputation.filter(|r| *r < 0) {
            s.add(5, format!("VirusTotal community reputation {r}"));
        }
        s
    }
}

/// Parses a 200 body.
pub fn parse(body: &str) -> Result<Report, BodyError> {
    let env: Envelope = lenient::object(body)?;
    let a = env
        .data
        .and_then(|d| d.attributes)
        .ok_or(BodyError::Missing("data.attributes"))?;
    let stat = |k: &str| lenient::as_u64(&a.last_analysis_stats[k]).unwrap_or(0);
    let vote = |k: &str| lenient::as_u64(&a.total_votes[k]).unwrap_or(0);
    Ok(Report {
        malicious: stat("malicious"),
        suspicious: stat("suspicious"),
        harmless: stat("harmless"),
        undetected: stat("undetected"),
        reputation: a.reputation,
        votes_malicious: vote("malicious"),
        votes_harmless: vote("harmless"),
        as_owner: a.as_owner,
        asn: a.asn,
        country: a.country,
        network: a.network,
        tags: a.tags,
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let req = ctx
        .http
        .get(join_url(&cfg.url, &format!("api/v3/ip_addresses/{ip}")))
        .header("x-apikey", cfg.api_key.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    let reply = match ctx.send(req).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    match reply.status {
        200 => match parse(&reply.body) {
            Ok(r) => Finding::Ok {
                data: Data::Virustotal(r),
            },
            Err(e) => ctx.unreadable(&reply, e),
        },
        404 => Finding::NotFound {
            detail: "VirusTotal has no record of this address".into(),
        },
        _ => ctx.failure(&reply, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let bad = parse(&fixture("virustotal_malicious.json")).unwrap();
        assert_eq!((bad.malicious, bad.suspicious, bad.engines()), (9, 2, 20));
        assert_eq!(bad.reputation, Some(-11));
        assert_eq!(bad.as_owner.as_deref(), Some("Example Hosting B.V."));
        assert!(bad
            .summary()
            .starts_with("9 malicious, 2 suspicious of 20 engines; reputation -11"));
        let clean = parse(&fixture("virustotal_clean.json")).unwrap();
        assert_eq!((clean.malicious, clean.reputation), (0, Some(530)));
        assert_eq!(clean.asn, Some(15169));
        assert!(parse(&fixture("virustotal_404.json")).is_err());
        let sparse = parse(r#"{"data":{"attributes":{}}}"#).unwrap();
        assert_eq!(sparse.summary(), "no engine has analysed this address");
    }
}
