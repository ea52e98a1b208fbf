//! Sample values built from the recorded answers in `tests/fixtures/`, for the unit tests of
//! whatever reads the evidence (the prompt, the no-AI report, the `enrich` table).

use std::net::IpAddr;
use std::time::Duration;

use crate::intake::alert::Alert;
use crate::investigate::dnsbl::{self, Listing};
use crate::investigate::history::{parse_timestamp, summarise, Collector, History, Query};
use crate::investigate::sources::{
    abuseipdb, greynoise, internetdb, ipinfo, tor, virustotal, Data, Finding, Provider,
    SourceResult,
};
use crate::investigate::{Intel, Setup};

/// An investigation result built from the recorded sample answers, for tests of the readers of
/// `Intel` (prompt, fallback report, table).
pub(crate) fn sample_intel() -> Intel {
    let fixture = |name: &str| {
        std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/{name}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("fixture")
    };
    let ok = |provider, data| SourceResult {
        provider,
        finding: Finding::Ok { data },
        elapsed_ms: 120,
        cached: false,
    };
    let sources = vec![
        ok(
            Provider::Ipinfo,
            Data::Ipinfo(ipinfo::parse(&fixture("ipinfo_malicious.json")).expect("sample")),
        ),
        SourceResult {
            provider: Provider::Rdap,
            finding: Finding::TimedOut { after_ms: 5000 },
            elapsed_ms: 5000,
            cached: false,
        },
        ok(
            Provider::Abuseipdb,
            Data::Abuseipdb(
                abuseipdb::parse(&fixture("abuseipdb_malicious_nonverbose.json"), 90)
                    .expect("sample"),
            ),
        ),
        SourceResult {
            cached: true,
            ..ok(
                Provider::Virustotal,
                Data::Virustotal(
                    virustotal::parse(&fixture("virustotal_malicious.json")).expect("sample"),
                ),
            )
        },
        ok(
            Provider::Greynoise,
            Data::Greynoise(greynoise::parse(&fixture("greynoise_malicious.json")).expect("sample")),
        ),
        SourceResult::new(
            Provider::Shodan,
            Finding::NotConfigured {
                reason: "no API key (providers.shodan.api_key or AI_ANALYZER_SHODAN_API_KEY); the keyless InternetDB is asked instead".into(),
            },
        ),
        ok(
            Provider::Internetdb,
            Data::Internetdb(
                internetdb::parse(&fixture("internetdb_malicious.json")).expect("sample"),
            ),
        ),
        ok(
            Provider::Tor,
            Data::Tor(tor::Membership {
                exit: true,
                list_size: 6,
                list_fetched_at: Some("2026-09-16T18:00:00Z".into()),
                stale: false,
            }),
        ),
    ];
    let a = |s: &str| s.parse().expect("address");
    let dnsbl = vec![
        dnsbl::classify("zen.spamhaus.org", &[a("127.0.0.2"), a("127.0.0.4")]),
        dnsbl::classify("bl.spamcop.net", &[a("127.0.0.2")]),
        Listing::unknown("b.barracudacentral.org", "the server answered Refused"),
        dnsbl::classify("dnsbl.dronebl.org", &[]),
    ];
    let mut intel = Intel::from_findings(sources, dnsbl);
    intel.elapsed_ms = 5003;
    intel
}

/// A history of 172.18.1.100 (the source of the sshd 5763 sample) built from synthetic alerts,
/// for tests of the readers of `History` (prompt, fallback report, table).
pub(crate) fn sample_history(setup: &Setup) -> History {
    let ip: IpAddr = "172.18.1.100".parse().expect("ip");
    let now = parse_timestamp("2020-03-24T15:38:42.512+0000").expect("time");
    let query = Query::new(ip, None, 30, Duration::from_secs(72 * 3600), now);
    let mut collector = Collector::new(query, "alert log");
    for i in 0..9u32 {
        let (rule, level, description, user) = match i % 3 {
            0 => ("5760", 5, "sshd: authentication failed.", "root"),
            1 => (
                "5710",
                5,
                "sshd: Attempt to login using a non-existent user",
                "oracle",
            ),
            _ => ("5503", 5, "PAM: User login failed.", "admin"),
        };
        let (h, m) = (14 - i / 4, 50 - i * 5);
        let ts = format!("2020-03-24T{h:02}:{m:02}:07.120+0000");
        let alert = Alert::new(serde_json::json!({"timestamp": ts,
            "rule":{"id":rule,"level":level,"description":description},
            "agent":{"id":"003","name":"web-01","ip":"172.18.1.10"},
            "id": format!("1585060000.{i}"),
            "full_log": format!("Mar 24 {h:02}:{m:02}:07 web-01 sshd[{}]: Failed password for {user} from 172.18.1.100 port 43042 ssh2", 2500 + i),
            "data":{"srcip":"172.18.1.100","dstuser":user,"dstport":"22"}}));
        if let Some(e) = collector.query().accept(&alert) {
            collector.push(e);
        }
    }
    History::Collected(Box::new(summarise(&collector.finish(), setup, 6000)))
}
