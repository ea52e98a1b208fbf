//! The risk score of a source address: 0-100, built from the findings by a short list of fixed,
//! additive rules, each of which names itself in the reasons ("AbuseIPDB 87% (412 reports)",
//! "listed in Spamhaus XBL", "Tor exit"). Explainable on purpose: an administrator must be able to
//! see why an address scored what it did, and the model gets the same list.
//!
//! Each source's own rules live in its file (`sources/<name>.rs`, `Answer::signals`) and come
//! here as [`Signals`]; this file holds what reads them all: Tor seen by any source counts once,
//! a hosting network once, the DNS blocklists together at most [`DNSBL_CAP`], and the verdict's
//! thresholds. The rules and weights are documented in docs/investigation.md ("Risk score"); change both
//! together.

use serde::Serialize;

use crate::investigate::dnsbl::{Listing, ListingStatus};

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

/// `1 report`, `3 reports`.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What one source's answer says about the address, in the terms the score reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals {
    /// The source that said it, as people know it (`AbuseIPDB`).
    pub source: &'static str,
    /// The source's own rules that fired.
    pub reasons: Vec<Reason>,
    /// The answer is a reputation verdict (so a low score may read "likely benign").
    pub reputation: bool,
    /// The source says the address is a Tor exit.
    pub tor: bool,
    /// The source says the address is in a hosting or data-centre network.
    pub hosting: bool,
}

impl Signals {
    /// Signals from `source` with nothing set yet.
    pub fn from(source: &'static str) -> Self {
        Signals {
            source,
            ..Signals::default()
        }
    }

    /// Adds a reason of `points` (negative takes away).
    pub fn add(&mut self, points: i32, text: String) {
        self.reasons.push(Reason { points, text });
    }
}

/// Scores what the sources said (in the order [`crate::investigate::sources::signals_of`] gives)
/// and what the blocklists said. Sources that failed or were not asked give no signals.
pub fn assess(signals: &[Signals], dnsbl: &[Listing]) -> Risk {
    let mut reasons: Vec<Reason> = Vec::new();
    let mut add = |points: i32, text: String| reasons.push(Reason { points, text });
    let mut reputation_answered = false;
    let mut tor_seen_by: Vec<&str> = Vec::new();
    let mut hosting = false;
    for s in signals {
        for r in &s.reasons {
            add(r.points, r.text.clone());
        }
        reputation_answered |= s.reputation;
        hosting |= s.hosting;
        if s.tor {
            tor_seen_by.push(s.source);
        }
    }
    if !tor_seen_by.is_empty() {
        add(15, format!("Tor exit ({})", tor_seen_by.join(", ")));
    }
    if hosting {
        add(5, "hosting / data-centre network".into());
    }

    for (points, text) in blocklist_reasons(dnsbl) {
        add(points, text);
    }

    reasons.sort_by_key(|r| std::cmp::Reverse(r.points));
    let total: i32 = reasons.iter().map(|r| r.points).sum();
    let score = u32::try_from(total.clamp(0, 100)).unwrap_or(0);
    Risk {
        score,
        verdict: verdict(score, reputation_answered),
        reasons,
    }
}

/// The verdict for a score; "likely benign" needs a reputation source to have answered.
fn verdict(score: u32, reputation_answered: bool) -> Verdict {
    if score >= MALICIOUS_AT {
        Verdict::Malicious
    } else if score >= SUSPICIOUS_AT {
        Verdict::Suspicious
    } else if score < BENIGN_BELOW && reputation_answered {
        Verdict::LikelyBenign
    } else {
        Verdict::Unknown
    }
}

/// The blocklists' reasons, strongest listing first, all of them together capped at
/// [`DNSBL_CAP`].
fn blocklist_reasons(dnsbl: &[Listing]) -> Vec<(i32, String)> {
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
    let mut granted_reasons = Vec::new();
    for (points, text) in listed {
        let granted = points.min(DNSBL_CAP - dnsbl_points);
        dnsbl_points += granted;
        if granted < points {
            granted_reasons.push((
                granted,
                format!("{text} (blocklists add at most {DNSBL_CAP})"),
            ));
        } else {
            granted_reasons.push((granted, text));
        }
    }
    granted_reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::{signals_of, Data, Provider, SourceResult};

    /// The score of recorded answers, read in the order the investigation reads them.
    fn assess(sources: &[SourceResult], dnsbl: &[Listing]) -> Risk {
        super::assess(&signals_of(sources), dnsbl)
    }

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
    use crate::investigate::dnsbl::classify;
    use crate::investigate::sources::{
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

    // ---- Builders: one source at a time, only the fields a rule reads. ----

    fn abuse(score: u64, total_reports: u64) -> abuseipdb::Check {
        abuseipdb::Check {
            score,
            total_reports,
            ..Default::default()
        }
    }

    fn abuse_src(c: abuseipdb::Check) -> SourceResult {
        ok(Provider::Abuseipdb, Data::Abuseipdb(c))
    }

    fn vt(malicious: u64, suspicious: u64, harmless: u64, reputation: Option<i64>) -> SourceResult {
        ok(
            Provider::Virustotal,
            Data::Virustotal(virustotal::Report {
                malicious,
                suspicious,
                harmless,
                reputation,
                ..Default::default()
            }),
        )
    }

    fn gn(
        classification: Option<&str>,
        riot: bool,
        noise: bool,
        name: Option<&str>,
    ) -> SourceResult {
        ok(
            Provider::Greynoise,
            Data::Greynoise(greynoise::Community {
                classification: classification.map(String::from),
                riot,
                noise,
                name: name.map(String::from),
                last_seen: None,
            }),
        )
    }

    fn host(tags: &[&str], vulns: &[&str]) -> shodan::Host {
        shodan::Host {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            vulns: vulns.iter().map(|v| v.to_string()).collect(),
            ..Default::default()
        }
    }

    fn shodan_src(tags: &[&str], vulns: &[&str]) -> SourceResult {
        ok(Provider::Shodan, Data::Shodan(host(tags, vulns)))
    }

    fn idb_src(tags: &[&str], vulns: &[&str]) -> SourceResult {
        ok(Provider::Internetdb, Data::Internetdb(host(tags, vulns)))
    }

    fn ipinfo_src(privacy: &[&str], asn_type: Option<&str>) -> SourceResult {
        ok(
            Provider::Ipinfo,
            Data::Ipinfo(ipinfo::Info {
                privacy: privacy.iter().map(|p| p.to_string()).collect(),
                asn_type: asn_type.map(String::from),
                ..Default::default()
            }),
        )
    }

    fn tor_src(exit: bool) -> SourceResult {
        ok(
            Provider::Tor,
            Data::Tor(tor::Membership {
                exit,
                ..Default::default()
            }),
        )
    }

    /// One zone's answer, from the last octets of its 127.0.0.x codes.
    fn zone(name: &str, codes: &[u8]) -> Listing {
        let answers: Vec<std::net::Ipv4Addr> = codes
            .iter()
            .map(|c| std::net::Ipv4Addr::new(127, 0, 0, *c))
            .collect();
        classify(name, &answers)
    }

    /// Asserts the exact reasons (in order), the score and the verdict.
    fn check(
        what: &str,
        sources: &[SourceResult],
        dnsbl: &[Listing],
        reasons: &[&str],
        score: u32,
        verdict: Verdict,
    ) {
        let r = assess(sources, dnsbl);
        assert_eq!(texts(&r), reasons, "reasons: {what}");
        assert_eq!(r.score, score, "score: {what}");
        assert_eq!(r.verdict, verdict, "verdict: {what}");
    }

    #[test]
    fn abuseipdb_rules_add_half_the_score_or_take_ten_for_whitelisted() {
        use Verdict::*;
        let whitelisted = |score: u64, w: Option<bool>| abuseipdb::Check {
            is_whitelisted: w,
            ..abuse(score, 7)
        };
        let cases: Vec<(&str, abuseipdb::Check, Vec<&str>, u32, Verdict)> = vec![
            (
                "never reported adds nothing",
                abuse(0, 0),
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "1% still adds a point (one report, singular)",
                abuse(1, 1),
                vec!["+1 AbuseIPDB 1% (1 report)"],
                1,
                LikelyBenign,
            ),
            (
                "87% adds 43 (rounded down)",
                abuse(87, 412),
                vec!["+43 AbuseIPDB 87% (412 reports)"],
                43,
                Suspicious,
            ),
            (
                "100% adds 50",
                abuse(100, 3319),
                vec!["+50 AbuseIPDB 100% (3319 reports)"],
                50,
                Suspicious,
            ),
            (
                "an out-of-range score is read as 100%",
                abuse(150, 2),
                vec!["+50 AbuseIPDB 150% (2 reports)"],
                50,
                Suspicious,
            ),
            (
                "whitelisted and never reported takes 10 away",
                whitelisted(0, Some(true)),
                vec!["-10 AbuseIPDB: whitelisted"],
                0,
                LikelyBenign,
            ),
            (
                "explicitly not whitelisted adds nothing",
                whitelisted(0, Some(false)),
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "a reported address is never credited for being whitelisted",
                whitelisted(40, Some(true)),
                vec!["+20 AbuseIPDB 40% (7 reports)"],
                20,
                Unknown,
            ),
            (
                "AbuseIPDB's Tor flag is a Tor sighting",
                abuseipdb::Check {
                    is_tor: true,
                    ..abuse(0, 0)
                },
                vec!["+15 Tor exit (AbuseIPDB)"],
                15,
                Unknown,
            ),
        ];
        for (what, c, reasons, score, verdict) in cases {
            check(what, &[abuse_src(c)], &[], &reasons, score, verdict);
        }
    }

    #[test]
    fn hosting_is_read_from_abuseipdb_usage_type_and_ipinfo() {
        let hosting = vec!["+5 hosting / data-centre network"];
        let usage = |u: &str| {
            abuse_src(abuseipdb::Check {
                usage_type: Some(u.into()),
                ..abuse(0, 0)
            })
        };
        // AbuseIPDB answered, so a low score is likely benign.
        for (u, hosted) in [
            ("Data Center/Web Hosting/Transit", true),
            ("Data Center", true),
            ("Web Hosting", true),
            ("Fixed Line ISP", false),
        ] {
            let want: &[&str] = if hosted { &hosting } else { &[] };
            let score = if hosted { 5 } else { 0 };
            check(u, &[usage(u)], &[], want, score, Verdict::LikelyBenign);
        }
        // ipinfo is no reputation source: a low score stays unknown.
        for (what, src, hosted) in [
            ("privacy flag hosting", ipinfo_src(&["hosting"], None), true),
            ("ASN type hosting", ipinfo_src(&[], Some("hosting")), true),
            ("ASN type isp", ipinfo_src(&[], Some("isp")), false),
            ("nothing set", ipinfo_src(&[], None), false),
        ] {
            let want: &[&str] = if hosted { &hosting } else { &[] };
            let score = if hosted { 5 } else { 0 };
            check(what, &[src], &[], want, score, Verdict::Unknown);
        }
        // Seen by both: one reason, five points.
        check(
            "hosting seen twice counts once",
            &[usage("Data Center"), ipinfo_src(&["hosting"], None)],
            &[],
            &hosting,
            5,
            Verdict::LikelyBenign,
        );
    }

    #[test]
    fn virustotal_engines_suspicious_and_reputation_rules() {
        use Verdict::*;
        let cases: Vec<(&str, SourceResult, Vec<&str>, u32, Verdict)> = vec![
            (
                "no engine answered: not a reputation answer",
                vt(0, 0, 0, None),
                vec![],
                0,
                Unknown,
            ),
            (
                "engines answered clean: a reputation answer",
                vt(0, 0, 80, None),
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "undetected engines also count as an answer",
                ok(
                    Provider::Virustotal,
                    Data::Virustotal(virustotal::Report {
                        undetected: 12,
                        ..Default::default()
                    }),
                ),
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "one malicious engine adds 5",
                vt(1, 0, 80, None),
                vec!["+5 VirusTotal 1 engine malicious"],
                5,
                LikelyBenign,
            ),
            (
                "four malicious engines add 20",
                vt(4, 0, 80, None),
                vec!["+20 VirusTotal 4 engines malicious"],
                20,
                Unknown,
            ),
            (
                "malicious engines add at most 30",
                vt(7, 0, 80, None),
                vec!["+30 VirusTotal 7 engines malicious"],
                30,
                Suspicious,
            ),
            (
                "suspicious engines add 5 (singular)",
                vt(0, 1, 80, None),
                vec!["+5 VirusTotal 1 engine suspicious"],
                5,
                LikelyBenign,
            ),
            (
                "suspicious engines add 5 however many",
                vt(0, 3, 80, None),
                vec!["+5 VirusTotal 3 engines suspicious"],
                5,
                LikelyBenign,
            ),
            (
                "malicious wins over suspicious",
                vt(2, 3, 80, None),
                vec!["+10 VirusTotal 2 engines malicious"],
                10,
                Unknown,
            ),
            (
                "a negative community reputation adds 5",
                vt(0, 0, 80, Some(-1)),
                vec!["+5 VirusTotal community reputation -1"],
                5,
                LikelyBenign,
            ),
            (
                "a zero reputation adds nothing",
                vt(0, 0, 80, Some(0)),
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "a positive reputation adds nothing",
                vt(0, 0, 80, Some(12)),
                vec![],
                0,
                LikelyBenign,
            ),
        ];
        for (what, src, reasons, score, verdict) in cases {
            check(what, &[src], &[], &reasons, score, verdict);
        }
    }

    #[test]
    fn greynoise_rules_in_priority_order() {
        use Verdict::*;
        let cases: Vec<(&str, SourceResult, Vec<&str>, u32, Verdict)> = vec![
            (
                "malicious wins over RIOT and noise; the name unknown is not shown",
                gn(Some("malicious"), true, true, Some("unknown")),
                vec!["+25 GreyNoise: malicious"],
                25,
                Suspicious,
            ),
            (
                "malicious with its actor's name",
                gn(Some("malicious"), false, true, Some("Mirai")),
                vec!["+25 GreyNoise: malicious (Mirai)"],
                25,
                Suspicious,
            ),
            (
                "RIOT wins over benign",
                gn(Some("benign"), true, false, Some("Cloudflare Public DNS")),
                vec!["-25 GreyNoise RIOT: known business service (Cloudflare Public DNS)"],
                0,
                LikelyBenign,
            ),
            (
                "RIOT without a classification",
                gn(None, true, false, None),
                vec!["-25 GreyNoise RIOT: known business service"],
                0,
                LikelyBenign,
            ),
            (
                "benign wins over noise",
                gn(Some("benign"), false, true, Some("Shodan.io")),
                vec!["-20 GreyNoise: benign (Shodan.io)"],
                0,
                LikelyBenign,
            ),
            (
                "noise alone adds 5",
                gn(Some("unknown"), false, true, Some("unknown")),
                vec!["+5 GreyNoise: mass Internet scanner"],
                5,
                LikelyBenign,
            ),
            (
                "seen but nothing said: adds nothing, still a reputation answer",
                gn(Some("unknown"), false, false, None),
                vec![],
                0,
                LikelyBenign,
            ),
        ];
        for (what, src, reasons, score, verdict) in cases {
            check(what, &[src], &[], &reasons, score, verdict);
        }
    }

    #[test]
    fn shodan_and_internetdb_bad_tags_and_vulns() {
        use Verdict::*;
        let cases: Vec<(&str, SourceResult, Vec<&str>, u32, Verdict)> = vec![
            (
                "every bad Shodan tag is named, harmless ones are not",
                shodan_src(&["cloud", "compromised", "malware", "doublepulsar"], &[]),
                vec!["+20 Shodan tags: compromised, malware, doublepulsar"],
                20,
                Unknown,
            ),
            (
                "InternetDB bad tag",
                idb_src(&["malware"], &[]),
                vec!["+20 InternetDB tags: malware"],
                20,
                Unknown,
            ),
            (
                "harmless tags add nothing",
                shodan_src(&["cloud", "vpn", "self-signed"], &[]),
                vec![],
                0,
                Unknown,
            ),
            (
                "one CVE adds 5 (singular)",
                shodan_src(&[], &["CVE-2014-6271"]),
                vec!["+5 1 known CVE on its exposed services (Shodan)"],
                5,
                Unknown,
            ),
            (
                "several CVEs add 5",
                idb_src(&[], &["CVE-2014-6271", "CVE-2021-44228", "CVE-2017-0144"]),
                vec!["+5 3 known CVEs on its exposed services (InternetDB)"],
                5,
                Unknown,
            ),
            (
                "Shodan tor tag is a Tor sighting",
                shodan_src(&["tor"], &[]),
                vec!["+15 Tor exit (Shodan)"],
                15,
                Unknown,
            ),
            (
                "InternetDB tor tag is a Tor sighting",
                idb_src(&["tor"], &[]),
                vec!["+15 Tor exit (InternetDB)"],
                15,
                Unknown,
            ),
        ];
        for (what, src, reasons, score, verdict) in cases {
            check(what, &[src], &[], &reasons, score, verdict);
        }
    }

    #[test]
    fn ipinfo_privacy_flags_tor_and_anonymisers() {
        use Verdict::*;
        let cases: Vec<(&str, SourceResult, Vec<&str>, u32, Verdict)> = vec![
            (
                "tor flag is a Tor sighting",
                ipinfo_src(&["tor"], None),
                vec!["+15 Tor exit (ipinfo)"],
                15,
                Unknown,
            ),
            (
                "a VPN is an anonymiser (and neither Tor nor hosting)",
                ipinfo_src(&["vpn"], None),
                vec!["+5 anonymiser: vpn (ipinfo)"],
                5,
                Unknown,
            ),
            (
                "every anonymiser flag is named, 5 points in all",
                ipinfo_src(&["vpn", "proxy", "relay"], Some("isp")),
                vec!["+5 anonymiser: vpn, proxy, relay (ipinfo)"],
                5,
                Unknown,
            ),
        ];
        for (what, src, reasons, score, verdict) in cases {
            check(what, &[src], &[], &reasons, score, verdict);
        }
    }

    #[test]
    fn tor_is_one_reason_naming_every_source_list_first() {
        check(
            "Tor exit list",
            &[tor_src(true)],
            &[],
            &["+15 Tor exit (Tor exit list)"],
            15,
            Verdict::Unknown,
        );
        check(
            "not on the Tor exit list",
            &[tor_src(false)],
            &[],
            &[],
            0,
            Verdict::Unknown,
        );
        check(
            "every Tor source at once",
            &[
                abuse_src(abuseipdb::Check {
                    is_tor: true,
                    ..abuse(0, 0)
                }),
                shodan_src(&["tor"], &[]),
                idb_src(&["tor"], &[]),
                ipinfo_src(&["tor"], None),
                tor_src(true),
            ],
            &[],
            &["+15 Tor exit (Tor exit list, AbuseIPDB, Shodan, InternetDB, ipinfo)"],
            15,
            Verdict::Unknown,
        );
    }

    #[test]
    fn only_each_providers_own_data_is_read() {
        // A GreyNoise answer must not be read as AbuseIPDB's and so on; equal points keep the
        // order the rules run in (AbuseIPDB, VirusTotal, GreyNoise, ...), not the sources' order.
        check(
            "several sources, each scored once",
            &[
                gn(Some("unknown"), false, true, None),
                abuse_src(abuse(20, 3)),
                vt(1, 0, 80, None),
            ],
            &[],
            &[
                "+10 AbuseIPDB 20% (3 reports)",
                "+5 VirusTotal 1 engine malicious",
                "+5 GreyNoise: mass Internet scanner",
            ],
            20,
            Verdict::Unknown,
        );
    }

    #[test]
    fn spamhaus_codes_and_other_blocklists() {
        use Verdict::*;
        let cases: Vec<(&str, Listing, Vec<&str>, u32, Verdict)> = vec![
            (
                "Spamhaus XBL adds 25",
                zone("zen.spamhaus.org", &[4]),
                vec!["+25 listed in Spamhaus XBL (exploited or infected host)"],
                25,
                Suspicious,
            ),
            (
                "Spamhaus SBL adds 20",
                zone("zen.spamhaus.org", &[2]),
                vec!["+20 listed in Spamhaus SBL"],
                20,
                Unknown,
            ),
            (
                "Spamhaus CSS adds 20",
                zone("zen.spamhaus.org", &[3]),
                vec!["+20 listed in Spamhaus CSS"],
                20,
                Unknown,
            ),
            (
                "Spamhaus DROP adds 20",
                zone("zen.spamhaus.org", &[9]),
                vec!["+20 listed in Spamhaus DROP"],
                20,
                Unknown,
            ),
            (
                "Spamhaus BCL adds 20",
                zone("zen.spamhaus.org", &[30]),
                vec!["+20 listed in Spamhaus BCL"],
                20,
                Unknown,
            ),
            (
                "PBL next to a listing adds nothing",
                zone("zen.spamhaus.org", &[2, 10]),
                vec![
                    "+20 listed in Spamhaus SBL",
                    "+0 Spamhaus PBL: end-user range (policy only)",
                ],
                20,
                Unknown,
            ),
            (
                "PBL alone is policy and adds nothing",
                zone("zen.spamhaus.org", &[10]),
                vec!["+0 zen.spamhaus.org: end-user range, policy only"],
                0,
                Unknown,
            ),
            (
                "an undecoded Spamhaus code adds 10",
                zone("zen.spamhaus.org", &[50]),
                vec!["+10 listed in zen.spamhaus.org (code 127.0.0.50)"],
                10,
                Unknown,
            ),
            (
                "another list without decoded names adds 10",
                zone("bl.spamcop.net", &[2]),
                vec!["+10 listed in bl.spamcop.net"],
                10,
                Unknown,
            ),
            (
                "another list with a decoded name names it",
                zone("dnsbl.dronebl.org", &[13]),
                vec!["+10 listed in dnsbl.dronebl.org (brute-force attacker)"],
                10,
                Unknown,
            ),
            (
                "not listed adds nothing",
                zone("zen.spamhaus.org", &[]),
                vec![],
                0,
                Unknown,
            ),
            (
                "an error answer adds nothing",
                classify("bl.spamcop.net", &["127.255.255.254".parse().unwrap()]),
                vec![],
                0,
                Unknown,
            ),
        ];
        for (what, l, reasons, score, verdict) in cases {
            check(what, &[], &[l], &reasons, score, verdict);
        }
    }

    #[test]
    fn blocklists_are_capped_strongest_first() {
        // Exactly at the cap: nothing is cut, nothing says so.
        check(
            "25 + 10 is exactly the cap",
            &[],
            &[zone("zen.spamhaus.org", &[4]), zone("bl.spamcop.net", &[2])],
            &[
                "+25 listed in Spamhaus XBL (exploited or infected host)",
                "+10 listed in bl.spamcop.net",
            ],
            35,
            Verdict::Suspicious,
        );
        // SBL answered first, but XBL is stronger and is granted in full; the rest is cut.
        check(
            "over the cap",
            &[],
            &[
                zone("zen.spamhaus.org", &[2, 4]),
                zone("bl.spamcop.net", &[2]),
                zone("dnsbl.dronebl.org", &[13]),
            ],
            &[
                "+25 listed in Spamhaus XBL (exploited or infected host)",
                "+10 listed in Spamhaus SBL (blocklists add at most 35)",
                "+0 listed in bl.spamcop.net (blocklists add at most 35)",
                "+0 listed in dnsbl.dronebl.org (brute-force attacker) (blocklists add at most 35)",
            ],
            35,
            Verdict::Suspicious,
        );
        // The cap is on blocklists only, not on the score.
        check(
            "cap is for blocklists only",
            &[abuse_src(abuse(100, 3319))],
            &[zone("zen.spamhaus.org", &[2, 4])],
            &[
                "+50 AbuseIPDB 100% (3319 reports)",
                "+25 listed in Spamhaus XBL (exploited or infected host)",
                "+10 listed in Spamhaus SBL (blocklists add at most 35)",
            ],
            85,
            Verdict::Malicious,
        );
    }

    #[test]
    fn verdict_thresholds_on_both_sides() {
        use Verdict::*;
        let spamcop = || vec![zone("bl.spamcop.net", &[2])];
        // What, sources, blocklists, expected score, expected verdict.
        type Row = (&'static str, Vec<SourceResult>, Vec<Listing>, u32, Verdict);
        let cases: Vec<Row> = vec![
            (
                "60 is malicious",
                vec![abuse_src(abuse(100, 9))],
                spamcop(),
                60,
                Malicious,
            ),
            (
                "59 is suspicious",
                vec![abuse_src(abuse(98, 9))],
                spamcop(),
                59,
                Suspicious,
            ),
            (
                "25 is suspicious",
                vec![abuse_src(abuse(50, 9))],
                vec![],
                25,
                Suspicious,
            ),
            (
                "24 is unknown",
                vec![abuse_src(abuse(48, 9))],
                vec![],
                24,
                Unknown,
            ),
            (
                "10 with an answer is unknown",
                vec![abuse_src(abuse(20, 9))],
                vec![],
                10,
                Unknown,
            ),
            (
                "9 with an answer is likely benign",
                vec![abuse_src(abuse(18, 9))],
                vec![],
                9,
                LikelyBenign,
            ),
            (
                "5 without a reputation answer is unknown",
                vec![ipinfo_src(&[], Some("hosting"))],
                vec![],
                5,
                Unknown,
            ),
            (
                "below zero is clamped to 0",
                vec![
                    abuse_src(abuseipdb::Check {
                        is_whitelisted: Some(true),
                        ..abuse(0, 0)
                    }),
                    gn(Some("benign"), true, false, None),
                ],
                vec![],
                0,
                LikelyBenign,
            ),
            (
                "above 100 is clamped to 100",
                vec![
                    abuse_src(abuse(100, 9)),
                    vt(9, 0, 0, None),
                    gn(Some("malicious"), false, false, None),
                ],
                vec![],
                100,
                Malicious,
            ),
        ];
        for (what, sources, dnsbl, score, verdict) in cases {
            let r = assess(&sources, &dnsbl);
            assert_eq!(
                (r.score, r.verdict),
                (score, verdict),
                "{what}: {:?}",
                r.reasons
            );
        }
    }

    #[test]
    fn verdict_labels_and_keys() {
        let all = [
            (Verdict::Malicious, "malicious", "malicious"),
            (Verdict::Suspicious, "suspicious", "suspicious"),
            (Verdict::Unknown, "unknown", "unknown"),
            (Verdict::LikelyBenign, "likely_benign", "likely benign"),
        ];
        for (v, key, label) in all {
            assert_eq!(v.key(), key);
            assert_eq!(v.label(), label);
        }
    }

    #[test]
    fn summary_and_reasons_line_read_as_documented() {
        let r = assess(
            &[abuse_src(abuse(100, 3319))],
            &[zone("zen.spamhaus.org", &[4])],
        );
        assert_eq!(r.summary(), "75/100 (malicious)");
        assert_eq!(
            r.reasons_line(),
            "+50 AbuseIPDB 100% (3319 reports); +25 listed in Spamhaus XBL (exploited or infected host)"
        );
        let r = assess(
            &[abuse_src(abuseipdb::Check {
                is_whitelisted: Some(true),
                ..abuse(0, 0)
            })],
            &[],
        );
        assert_eq!(r.summary(), "0/100 (likely benign)");
        assert_eq!(r.reasons_line(), "-10 AbuseIPDB: whitelisted");
        let r = assess(&[], &[]);
        assert_eq!(r.summary(), "0/100 (unknown)");
        assert_eq!(r.reasons_line(), "no rule fired");
    }

    #[test]
    fn plural_picks_the_word_by_count() {
        assert_eq!(plural(0, "report", "reports"), "0 reports");
        assert_eq!(plural(1, "report", "reports"), "1 report");
        assert_eq!(plural(2, "report", "reports"), "2 reports");
    }
}
