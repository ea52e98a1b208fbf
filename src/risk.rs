//! The risk score of a source address: 0-100, built from the findings by a short list of fixed,
//! additive rules, each of which names itself in the reasons ("AbuseIPDB 87% (412 reports)",
//! "listed in Spamhaus XBL", "Tor exit"). Explainable on purpose: an administrator must be able to
//! see why an address scored what it did, and the model gets the same list.
//!
//! The rules and weights are documented in the README ("Risk score"); change both together.

use serde::Serialize;

use crate::dnsbl::{Listing, ListingStatus};
use crate::enrich::{Data, Provider, SourceResult};

/// At or above: malicious.
pub const MALICIOUS_AT: u32 = 60;
/// At or above: suspicious.
pub const SUSPICIOUS_AT: u32 = 25;
/// Below, with at least one reputation source answering: likely benign.
pub const BENIGN_BELOW: u32 = 10;
/// DNS blocklists together add at most this much.
pub const DNSBL_CAP: i32 = 35;

/// What the score says, in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Malicious,
    Suspicious,
    Unknown,
    LikelyBenign,
}

impl Verdict {
    /// The JSON word: `malicious`, `suspicious`, `unknown`, `likely_benign`.
    pub fn key(self) -> &'static str {
        match self {
            Verdict::Malicious => "malicious",
            Verdict::Suspicious => "suspicious",
            Verdict::Unknown => "unknown",
            Verdict::LikelyBenign => "likely_benign",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Verdict::Malicious => "malicious",
            Verdict::Suspicious => "suspicious",
            Verdict::Unknown => "unknown",
            Verdict::LikelyBenign => "likely benign",
        }
    }
}

/// One rule that fired, with what it added (or took away).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    pub points: i32,
    pub text: String,
}

/// The score, the verdict and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Risk {
    /// 0-100.
    pub score: u32,
    pub verdict: Verdict,
    /// Largest contribution first.
    pub reasons: Vec<Reason>,
}

impl Risk {
    /// `87/100 (malicious)`.
    pub fn summary(&self) -> String {
        format!("{}/100 ({})", self.score, self.verdict.label())
    }

    /// `+50 AbuseIPDB 100% (3319 reports); +25 listed in Spamhaus XBL`.
    pub fn reasons_line(&self) -> String {
        if self.reasons.is_empty() {
            return "no rule fired".into();
        }
        self.reasons
            .iter()
            .map(|r| format!("{:+} {}", r.points, r.text))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Scores the findings. Sources that failed or were not asked add nothing.
pub fn assess(sources: &[SourceResult], dnsbl: &[Listing]) -> Risk {
    let mut reasons: Vec<Reason> = Vec::new();
    let mut add = |points: i32, text: String| reasons.push(Reason { points, text });
    let data = |p: Provider| {
        sources
            .iter()
            .find(|s| s.provider == p)
            .and_then(|s| s.finding.data())
    };
    let mut reputation_answered = false;
    let mut tor_seen_by: Vec<&str> = Vec::new();
    let mut hosting = false;

    if let Some(Data::Abuseipdb(a)) = data(Provider::Abuseipdb) {
        reputation_answered = true;
        if a.score > 0 {
            // Half the confidence score: 100% adds 50.
            let points = i32::try_from(a.score.min(100))
                .unwrap_or(100)
                .div_euclid(2)
                .max(1);
            add(
                points,
                format!(
                    "AbuseIPDB {}% ({})",
                    a.score,
                    plural(a.total_reports, "report", "reports")
                ),
            );
        } else if a.is_whitelisted == Some(true) {
            add(-10, "AbuseIPDB: whitelisted".into());
        }
        if a.is_tor {
            tor_seen_by.push("AbuseIPDB");
        }
        if a.usage_type
            .as_deref()
            .is_some_and(|u| u.contains("Data Center") || u.contains("Hosting"))
        {
            hosting = true;
        }
    }

    if let Some(Data::Virustotal(v)) = data(Provider::Virustotal) {
        if v.engines() > 0 {
            reputation_answered = true;
        }
        if v.malicious > 0 {
            let points = i32::try_from(v.malicious.saturating_mul(5).min(30)).unwrap_or(30);
            add(
                points,
                format!(
                    "VirusTotal {} malicious",
                    plural(v.malicious, "engine", "engines")
                ),
            );
        } else if v.suspicious > 0 {
            add(
                5,
                format!(
                    "VirusTotal {} suspicious",
                    plural(v.suspicious, "engine", "engines")
                ),
            );
        }
        if let Some(r) = v.reputation.filter(|r| *r < 0) {
            add(5, format!("VirusTotal community reputation {r}"));
        }
    }

    if let Some(Data::Greynoise(g)) = data(Provider::Greynoise) {
        reputation_answered = true;
        let name = g
            .name
            .as_deref()
            .filter(|n| *n != "unknown")
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        match g.classification.as_deref() {
            Some("malicious") => add(25, format!("GreyNoise: malicious{name}")),
            _ if g.riot => add(-25, format!("GreyNoise RIOT: known business service{name}")),
            Some("benign") => add(-20, format!("GreyNoise: benign{name}")),
            _ if g.noise => add(5, "GreyNoise: mass Internet scanner".into()),
            _ => {}
        }
    }

    for p in [Provider::Shodan, Provider::Internetdb] {
        if let Some(Data::Shodan(h) | Data::Internetdb(h)) = data(p) {
            let bad: Vec<&str> = h
                .tags
                .iter()
                .map(String::as_str)
                .filter(|t| matches!(*t, "compromised" | "malware" | "doublepulsar"))
                .collect();
            if !bad.is_empty() {
                add(20, format!("{} tags: {}", p.label(), bad.join(", ")));
            }
            if !h.vulns.is_empty() {
                add(
                    5,
                    format!(
                        "{} on its exposed services ({})",
                        plural(h.vulns.len() as u64, "known CVE", "known CVEs"),
                        p.label()
                    ),
                );
            }
            if h.tags.iter().any(|t| t == "tor") {
                tor_seen_by.push(p.label());
            }
        }
    }

    if let Some(Data::Ipinfo(i)) = data(Provider::Ipinfo) {
        if i.privacy.iter().any(|f| f == "tor") {
            tor_seen_by.push("ipinfo");
        }
        if i.privacy.iter().any(|f| f == "hosting") || i.asn_type.as_deref() == Some("hosting") {
            hosting = true;
        }
        let anon: Vec<&str> = i
            .privacy
            .iter()
            .map(String::as_str)
            .filter(|f| matches!(*f, "vpn" | "proxy" | "relay"))
            .collect();
        if !anon.is_empty() {
            add(5, format!("anonymiser: {} (ipinfo)", anon.join(", ")));
        }
    }

    if let Some(Data::Tor(t)) = data(Provider::Tor) {
        if t.exit {
            tor_seen_by.insert(0, "Tor exit list");
        }
    }
    if !tor_seen_by.is_empty() {
        add(15, format!("Tor exit ({})", tor_seen_by.join(", ")));
    }
    if hosting {
        add(5, "hosting / data-centre network".into());
    }

    // Blocklists: strongest listing first, all of them together capped at DNSBL_CAP.
    let mut listed: Vec<(i32, String)> = Vec::new();
    for l in dnsbl {
        match l.status {
            ListingStatus::Listed if l.is_spamhaus() => {
                for list in &l.lists {
                    listed.push(match list.as_str() {
                        "XBL" => (
                            25,
                            "listed in Spamhaus XBL (exploited or infected host)".into(),
                        ),
                        "SBL" | "CSS" | "DROP" | "BCL" => {
                            (20, format!("listed in Spamhaus {list}"))
                        }
                        "PBL" => (0, "Spamhaus PBL: end-user range (policy only)".into()),
                        other => (10, format!("listed in {} ({other})", l.zone)),
                    });
                }
            }
            ListingStatus::Listed => {
                let what = if l.lists.iter().all(|x| x.starts_with("code ")) {
                    String::new()
                } else {
                    format!(" ({})", l.lists.join(", "))
                };
                listed.push((10, format!("listed in {}{what}", l.zone)));
            }
            ListingStatus::Policy => {
                listed.push((0, format!("{}: end-user range, policy only", l.zone)));
            }
            ListingStatus::NotListed | ListingStatus::Unknown => {}
        }
    }
    listed.sort_by_key(|l| std::cmp::Reverse(l.0));
    let mut dnsbl_points = 0;
    for (points, text) in listed {
        let granted = points.min(DNSBL_CAP - dnsbl_points);
        dnsbl_points += granted;
        if granted < points {
            add(
                granted,
                format!("{text} (blocklists add at most {DNSBL_CAP})"),
            );
        } else {
            add(granted, text);
        }
    }

    reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
    let total: i32 = reasons.iter().map(|r| r.points).sum();
    let score = u32::try_from(total.clamp(0, 100)).unwrap_or(0);
    let verdict = if score >= MALICIOUS_AT {
        Verdict::Malicious
    } else if score >= SUSPICIOUS_AT {
        Verdict::Suspicious
    } else if score < BENIGN_BELOW && reputation_answered {
        Verdict::LikelyBenign
    } else {
        Verdict::Unknown
    };
    Risk {
        score,
        verdict,
        reasons,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_key_is_its_json_word() {
        for v in [
            Verdict::Malicious,
            Verdict::Suspicious,
            Verdict::Unknown,
            Verdict::LikelyBenign,
        ] {
            assert_eq!(serde_json::to_value(v).unwrap(), v.key());
        }
    }
    use crate::dnsbl::classify;
    use crate::enrich::{
        abuseipdb, greynoise, internetdb, ipinfo, shodan, tor, virustotal, Finding,
    };

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    }

    fn ok(provider: Provider, data: Data) -> SourceResult {
        SourceResult {
            provider,
            finding: Finding::Ok { data },
            elapsed_ms: 1,
            cached: false,
        }
    }

    fn texts(r: &Risk) -> Vec<String> {
        r.reasons
            .iter()
            .map(|x| format!("{:+} {}", x.points, x.text))
            .collect()
    }

    #[test]
    fn malicious_samples_score_malicious_with_reasons() {
        let sources = vec![
            ok(
                Provider::Abuseipdb,
                Data::Abuseipdb(
                    abuseipdb::parse(&fixture("abuseipdb_malicious_nonverbose.json"), 90).unwrap(),
                ),
            ),
            ok(
                Provider::Virustotal,
                Data::Virustotal(virustotal::parse(&fixture("virustotal_malicious.json")).unwrap()),
            ),
            ok(
                Provider::Greynoise,
                Data::Greynoise(greynoise::parse(&fixture("greynoise_malicious.json")).unwrap()),
            ),
        ];
        let dnsbl = vec![classify(
            "zen.spamhaus.org",
            &["127.0.0.2".parse().unwrap(), "127.0.0.4".parse().unwrap()],
        )];
        let r = assess(&sources, &dnsbl);
        assert_eq!(r.score, 100);
        assert_eq!(r.verdict, Verdict::Malicious);
        let t = texts(&r);
        for want in [
            "+50 AbuseIPDB 100% (3319 reports)",
            "+30 VirusTotal 9 engines malicious",
            "+25 GreyNoise: malicious",
            "+25 listed in Spamhaus XBL (exploited or infected host)",
            "+10 listed in Spamhaus SBL (blocklists add at most 35)",
            "+15 Tor exit (AbuseIPDB)",
            "+5 VirusTotal community reputation -11",
            "+5 hosting / data-centre network",
        ] {
            assert!(t.contains(&want.to_string()), "{want} not in {t:?}");
        }
        assert_eq!(r.reasons[0].points, 50, "largest first");
    }

    #[test]
    fn clean_samples_are_likely_benign() {
        let sources = vec![
            ok(
                Provider::Abuseipdb,
                Data::Abuseipdb(abuseipdb::parse(&fixture("abuseipdb_clean.json"), 90).unwrap()),
            ),
            ok(
                Provider::Virustotal,
                Data::Virustotal(virustotal::parse(&fixture("virustotal_clean.json")).unwrap()),
            ),
            ok(
                Provider::Greynoise,
                Data::Greynoise(greynoise::parse(&fixture("greynoise_riot.json")).unwrap()),
            ),
            ok(
                Provider::Internetdb,
                Data::Internetdb(internetdb::parse(&fixture("internetdb_clean.json")).unwrap()),
            ),
            ok(
                Provider::Ipinfo,
                Data::Ipinfo(ipinfo::parse(&fixture("ipinfo_clean.json")).unwrap()),
            ),
        ];
        let dnsbl = vec![classify("zen.spamhaus.org", &[])];
        let r = assess(&sources, &dnsbl);
        assert_eq!(r.score, 0);
        assert_eq!(r.verdict, Verdict::LikelyBenign);
        assert_eq!(
            texts(&r),
            vec!["-25 GreyNoise RIOT: known business service (Cloudflare Public DNS)"]
        );
    }

    #[test]
    fn nothing_known_is_unknown_not_benign() {
        let r = assess(&[], &[]);
        assert_eq!((r.score, r.verdict), (0, Verdict::Unknown));
        // Failures and "not found" add nothing either.
        let failed = SourceResult {
            provider: Provider::Abuseipdb,
            finding: Finding::failed("HTTP 500"),
            elapsed_ms: 1,
            cached: false,
        };
        let r = assess(
            &[failed],
            &[classify(
                "zen.spamhaus.org",
                &["127.255.255.254".parse().unwrap()],
            )],
        );
        assert_eq!((r.score, r.verdict), (0, Verdict::Unknown));
        assert!(r.reasons.is_empty(), "an error code is never a listing");
    }

    #[test]
    fn tor_and_shodan_rules() {
        let mut shodan_host = shodan::parse(&fixture("shodan_host_malicious.json")).unwrap();
        shodan_host.tags.push("compromised".into());
        let sources = vec![
            ok(Provider::Shodan, Data::Shodan(shodan_host)),
            ok(
                Provider::Tor,
                Data::Tor(tor::Membership {
                    exit: true,
                    list_size: 6,
                    list_fetched_at: None,
                    stale: false,
                }),
            ),
            ok(
                Provider::Ipinfo,
                Data::Ipinfo(ipinfo::parse(&fixture("ipinfo_malicious.json")).unwrap()),
            ),
        ];
        let r = assess(&sources, &[]);
        let t = texts(&r);
        assert!(
            t.contains(&"+20 Shodan tags: compromised".to_string()),
            "{t:?}"
        );
        assert!(
            t.contains(&"+15 Tor exit (Tor exit list, Shodan, ipinfo)".to_string()),
            "{t:?}"
        );
        assert!(t.contains(&"+5 2 known CVEs on its exposed services (Shodan)".to_string()));
        assert!(t.contains(&"+5 hosting / data-centre network".to_string()));
        assert_eq!(r.score, 45);
        assert_eq!(r.verdict, Verdict::Suspicious);
    }

    #[test]
    fn dnsbl_points_are_capped_and_pbl_is_policy() {
        let l = |zone: &str, code: &str| classify(zone, &[code.parse().unwrap()]);
        let dnsbl = vec![
            classify(
                "zen.spamhaus.org",
                &["127.0.0.4".parse().unwrap(), "127.0.0.2".parse().unwrap()],
            ),
            l("bl.spamcop.net", "127.0.0.2"),
            l("dnsbl.dronebl.org", "127.0.0.13"),
        ];
        let r = assess(&[], &dnsbl);
        assert_eq!(r.score, 35, "{:?}", r.reasons);
        assert!(texts(&r).contains(
            &"+0 listed in dnsbl.dronebl.org (brute-force attacker) (blocklists add at most 35)"
                .to_string()
        ));
        let r = assess(&[], &[l("zen.spamhaus.org", "127.0.0.10")]);
        assert_eq!(r.score, 0);
        assert_eq!(
            r.reasons[0].text,
            "zen.spamhaus.org: end-user range, policy only"
        );
        assert_eq!(r.verdict, Verdict::Unknown);
    }

    #[test]
    fn abuseipdb_reason_reads_like_the_issue() {
        let mut a = abuseipdb::parse(&fixture("abuseipdb_clean.json"), 90).unwrap();
        a.score = 87;
        a.total_reports = 412;
        let r = assess(&[ok(Provider::Abuseipdb, Data::Abuseipdb(a))], &[]);
        assert_eq!(texts(&r), vec!["+43 AbuseIPDB 87% (412 reports)"]);
        assert_eq!(r.verdict, Verdict::Suspicious);
    }
}
