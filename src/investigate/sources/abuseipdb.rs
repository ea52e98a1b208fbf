//! AbuseIPDB: how many people reported the address for abuse, and how confident AbuseIPDB is that
//! it is abusive (0-100). The strongest single reputation signal for brute force and scans.
//!
//! `GET {url}/api/v2/check?ipAddress={ip}&maxAgeInDays={max_age_days}` with `Key:` and
//! `Accept: application/json` (without it errors come back as HTML). Any valid address gets 200;
//! "never reported" is score 0 with 0 reports. `verbose` is not asked for: it adds up to 10,000
//! report comments nobody reads on a phone. 429 carries `Retry-After`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::risk::{plural, Signals};
use crate::util::join_url;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "AbuseIPDB";

source_config!(
    "https://api.abuseipdb.com",
    // The free tier: 1,000 checks a day.
    budget(1000, 0),
    key api_key,
    /// Reports older than this are not counted (1-365).
    max_age_days: u32 = 90,
);

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Abuseipdb
    }
    fn needs_key(&self) -> bool {
        true
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// What AbuseIPDB said, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Check {
    /// `abuseConfidenceScore`, 0-100.
    pub score: u64,
    pub total_reports: u64,
    pub distinct_users: u64,
    pub last_reported_at: Option<String>,
    /// `Data Center/Web Hosting/Transit`, `Fixed Line ISP`, ...
    pub usage_type: Option<String>,
    pub isp: Option<String>,
    pub domain: Option<String>,
    pub country_code: Option<String>,
    pub is_tor: bool,
    pub is_whitelisted: Option<bool>,
    pub max_age_days: u32,
}

impl Check {
    pub fn summary(&self) -> String {
        let mut parts = vec![format!(
            "confidence {}%, {} reports from {} users in {} days",
            self.score, self.total_reports, self.distinct_users, self.max_age_days
        )];
        if let Some(last) = &self.last_reported_at {
            parts.push(format!("last reported {last}"));
        }
        if let Some(u) = &self.usage_type {
            parts.push(format!("usage {u}"));
        }
        if let Some(isp) = &self.isp {
            parts.push(format!("ISP {isp}"));
        }
        if let Some(c) = &self.country_code {
            parts.push(format!("country {c}"));
        }
        if self.is_tor {
            parts.push("Tor exit".into());
        }
        if self.is_whitelisted == Some(true) {
            parts.push("whitelisted".into());
        }
        parts.join("; ")
    }
}

impl Answer for Check {
    fn summary(&self) -> String {
        Check::summary(self)
    }

    /// Half the confidence score (100% adds 50), -10 when whitelisted with no reports; its Tor
    /// flag and its usage type (a data centre or hosting) count in the cross-source rules.
    fn signals(&self, label: &'static str) -> Signals {
        let mut s = Signals::from(label);
        s.reputation = true;
        if self.score > 0 {
            let points = i32::try_from(self.score.min(100))
                .unwrap_or(100)
                .div_euclid(2)
                .max(1);
            s.add(
                points,
                format!(
                    "AbuseIPDB {}% ({})",
                    self.score,
                    plural(self.total_reports, "report", "reports")
                ),
            );
        } else if self.is_whitelisted == Some(true) {
            s.add(-10, "AbuseIPDB: whitelisted".into());
        }
        s.tor = self.is_tor;
        s.hosting = self
            .usage_type
            .as_deref()
            .is_some_and(|u| u.contains("Data Center") || u.contains("Hosting"));
        s
    }
}

#[derive(Deserialize)]
struct Envelope {
    data: Option<Wire>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Wire {
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    abuse_confidence_score: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    total_reports: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    num_distinct_users: Option<u64>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    last_reported_at: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    usage_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    isp: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    domain: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    country_code: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool")]
    is_tor: bool,
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    is_whitelisted: Option<bool>,
}

/// Parses a 200 body.
pub fn parse(body: &str, max_age_days: u32) -> Result<Check, BodyError> {
    let env: Envelope = lenient::object(body)?;
    let w = env.data.ok_or(BodyError::Missing("data"))?;
    Ok(Check {
        score: w.abuse_confidence_score.unwrap_or(0).min(100),
        total_reports: w.total_reports.unwrap_or(0),
        distinct_users: w.num_distinct_users.unwrap_or(0),
        last_reported_at: w.last_reported_at,
        usage_type: w.usage_type,
        isp: w.isp,
        domain: w.domain,
        country_code: w.country_code,
        is_tor: w.is_tor,
        is_whitelisted: w.is_whitelisted,
        max_age_days,
    })
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let days = cfg.max_age_days.clamp(1, 365);
    let req = ctx
        .http
        .get(join_url(&cfg.url, "api/v2/check"))
        .query(&[
            ("ipAddress", ip.to_string()),
            ("maxAgeInDays", days.to_string()),
        ])
        .header("Key", cfg.api_key.expose())
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(cfg.timeout());
    let reply = match ctx.send(req).await {
        Ok(r) => r,
        Err(f) => return f,
    };
    match reply.status {
        200 => match parse(&reply.body, days) {
            Ok(check) => Finding::Ok {
                data: Data::Abuseipdb(check),
            },
            Err(e) => ctx.unreadable(&reply, e),
        },
        422 => Finding::failed(format!(
            "AbuseIPDB refused the address (HTTP 422: {})",
            ctx.redact(&reply.message())
        )),
        _ => ctx.failure(&reply, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    #[test]
    fn samples_parse() {
        let bad = parse(&fixture("abuseipdb_malicious_nonverbose.json"), 90).unwrap();
        assert_eq!(
            (bad.score, bad.total_reports, bad.distinct_users),
            (100, 3319, 795)
        );
        assert!(bad.is_tor);
        assert_eq!(
            bad.usage_type.as_deref(),
            Some("Data Center/Web Hosting/Transit")
        );
        let verbose = parse(&fixture("abuseipdb_malicious.json"), 90).unwrap();
        assert_eq!((verbose.score, verbose.total_reports), (100, 1));
        let clean = parse(&fixture("abuseipdb_clean.json"), 90).unwrap();
        assert_eq!((clean.score, clean.total_reports), (0, 0));
        assert_eq!(clean.last_reported_at, None);
        assert_eq!(clean.is_whitelisted, Some(false));
        assert!(clean
            .summary()
            .starts_with("confidence 0%, 0 reports from 0 users in 90 days"));
        let reserved = parse(&fixture("abuseipdb_reserved.json"), 90).unwrap();
        assert_eq!(reserved.is_whitelisted, Some(true));
        assert!(parse(&fixture("abuseipdb_401.json"), 90).is_err());
        assert!(parse("{\"data\": \"x\"}", 90).is_err());
    }
}
