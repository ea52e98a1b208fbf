//! DNS blocklists through hickory-resolver against a real DNS server on 127.0.0.1
//! (hickory-server): listed, unlisted, error-code, SERVFAIL and non-answering zones, IPv4 and
//! IPv6, all zones at once.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::common::dns::{Answer, FakeDns};
use ai_analyzer::config::Dnsbl;
use ai_analyzer::investigate::dnsbl::{check, probe, ListingStatus};

const ZONES: [&str; 6] = [
    "zen.spamhaus.org",
    "bl.spamcop.net",
    "b.barracudacentral.org",
    "dnsbl.dronebl.org",
    "broken.example",
    "silent.example",
];

fn server() -> FakeDns {
    // The sample answer table (samples/ti/dnsbl_answers.json), with 185.220.101.33 as the
    // listed address and 2a01:4f8:c0c:1234::1 as the listed IPv6 address.
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.3.2.1.c.0.c.0.8.f.4.0.1.0.a.2";
    FakeDns::start(
        &[
            (
                "33.101.220.185.zen.spamhaus.org",
                Answer::a(&["127.0.0.2", "127.0.0.4"]),
            ),
            ("33.101.220.185.bl.spamcop.net", Answer::a(&["127.0.0.2"])),
            (
                "33.101.220.185.dnsbl.dronebl.org",
                Answer::a(&["127.0.0.13"]),
            ),
            // Spamhaus refusing a public resolver: an error code, never a listing.
            ("8.8.8.8.zen.spamhaus.org", Answer::a(&["127.255.255.254"])),
            (&format!("{v6}.zen.spamhaus.org"), Answer::a(&["127.0.0.3"])),
            (
                &format!("{v6}.dnsbl.dronebl.org"),
                Answer::a(&["127.0.0.1"]),
            ),
            // PBL only: policy, not malice.
            ("77.66.55.44.zen.spamhaus.org", Answer::a(&["127.0.0.10"])),
        ],
        &[
            ("broken.example", Answer::ServFail),
            ("silent.example", Answer::Silent),
            ("b.barracudacentral.org", Answer::Refused),
        ],
        Duration::ZERO,
    )
}

fn cfg(server: &FakeDns) -> Dnsbl {
    Dnsbl {
        enabled: true,
        nameservers: vec![server.addr.to_string()],
        zones: ZONES.iter().map(|z| z.to_string()).collect(),
        timeout_secs: 1,
    }
}

#[tokio::test]
async fn ipv4_listed_unlisted_error_servfail_and_silent_zones() {
    let dns = server();
    let ip: IpAddr = "185.220.101.33".parse().unwrap();
    let started = Instant::now();
    let got = check(ip, &cfg(&dns), None).await;
    let took = started.elapsed();
    let by_zone = |z: &str| got.iter().find(|l| l.zone == z).expect(z).clone();

    let zen = by_zone("zen.spamhaus.org");
    assert_eq!(zen.status, ListingStatus::Listed);
    assert_eq!(zen.lists, vec!["SBL", "XBL"]);
    assert_eq!(zen.answers, vec!["127.0.0.2", "127.0.0.4"]);
    assert_eq!(by_zone("bl.spamcop.net").status, ListingStatus::Listed);
    assert_eq!(
        by_zone("dnsbl.dronebl.org").lists,
        vec!["brute-force attacker"]
    );
    let refused = by_zone("b.barracudacentral.org");
    assert_eq!(refused.status, ListingStatus::Unknown, "{refused:?}");
    let servfail = by_zone("broken.example");
    assert_eq!(servfail.status, ListingStatus::Unknown, "{servfail:?}");
    let silent = by_zone("silent.example");
    assert_eq!(silent.status, ListingStatus::Unknown, "{silent:?}");
    assert!(
        silent.detail.as_deref().unwrap_or("").contains("no answer"),
        "{silent:?}"
    );
    // All zones at once: the silent one's 1 s timeout is the whole wait.
    assert!(took < Duration::from_millis(1900), "{took:?}");
    // The order is the configured one.
    let zones: Vec<&str> = got.iter().map(|l| l.zone.as_str()).collect();
    assert_eq!(zones, ZONES);
    // What was asked: reversed octets under each zone.
    let asked = dns.queries();
    assert!(
        asked.contains(&"33.101.220.185.zen.spamhaus.org".to_string()),
        "{asked:?}"
    );
    assert!(
        asked.iter().all(|q| q.starts_with("33.101.220.185.")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn unlisted_and_error_code_answers() {
    let dns = server();
    let mut c = cfg(&dns);
    c.zones = vec!["zen.spamhaus.org".into(), "bl.spamcop.net".into()];
    let got = check("8.8.8.8".parse().unwrap(), &c, None).await;
    assert_eq!(got[0].status, ListingStatus::Unknown, "{:?}", got[0]);
    assert!(got[0]
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("127.255.255.254"));
    assert_eq!(got[1].status, ListingStatus::NotListed, "NXDOMAIN");
    assert_eq!(got[1].summary(), "bl.spamcop.net not listed");

    let got = check("44.55.66.77".parse().unwrap(), &c, None).await;
    assert_eq!(got[0].status, ListingStatus::Policy, "{:?}", got[0]);
}

#[tokio::test]
async fn ipv6_uses_reversed_nibbles() {
    let dns = server();
    let mut c = cfg(&dns);
    c.zones = vec![
        "zen.spamhaus.org".into(),
        "dnsbl.dronebl.org".into(),
        "bl.spamcop.net".into(),
    ];
    let got = check("2a01:4f8:c0c:1234::1".parse().unwrap(), &c, None).await;
    assert_eq!(got[0].status, ListingStatus::Listed, "{:?}", got[0]);
    assert_eq!(got[0].lists, vec!["CSS"]);
    assert_eq!(
        got[1].status,
        ListingStatus::Unknown,
        "127.0.0.1 is never a listing"
    );
    assert_eq!(got[2].status, ListingStatus::NotListed);
    let asked = dns.queries();
    assert!(
        asked.contains(
            &"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.3.2.1.c.0.c.0.8.f.4.0.1.0.a.2.zen.spamhaus.org"
                .to_string()
        ),
        "{asked:?}"
    );
}

#[tokio::test]
async fn a_dead_nameserver_is_unknown_everywhere() {
    // A bound UDP socket that never answers.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let c = Dnsbl {
        enabled: true,
        nameservers: vec![sock.local_addr().unwrap().to_string()],
        zones: vec!["zen.spamhaus.org".into(), "bl.spamcop.net".into()],
        timeout_secs: 1,
    };
    let started = Instant::now();
    let got = check("185.220.101.33".parse().unwrap(), &c, None).await;
    assert!(started.elapsed() < Duration::from_millis(1900));
    assert!(
        got.iter().all(|l| l.status == ListingStatus::Unknown),
        "{got:?}"
    );
}

/// `check`: a zone passes only when its test entry 127.0.0.2 is answered as listed; a resolver
/// that says NXDOMAIN to everything fails with what to do.
#[tokio::test]
async fn check_needs_the_test_entry_listed() {
    let dns = FakeDns::start(
        &[
            (
                "2.0.0.127.zen.spamhaus.org",
                Answer::a(&["127.0.0.2", "127.0.0.4", "127.0.0.10"]),
            ),
            ("2.0.0.127.bl.spamcop.net", Answer::a(&["127.0.0.2"])),
        ],
        &[("b.barracudacentral.org", Answer::Refused)],
        Duration::ZERO,
    );
    let mut c = cfg(&dns);
    c.zones = vec![
        "zen.spamhaus.org".into(),
        "bl.spamcop.net".into(),
        "dnsbl.dronebl.org".into(),
        "b.barracudacentral.org".into(),
    ];
    let got = probe(&c).await;
    let lines: Vec<(bool, &str)> = got.iter().map(|p| (p.ok, p.text.as_str())).collect();
    assert!(got[0].ok, "{lines:?}");
    assert!(
        got[0]
            .text
            .contains("test entry 127.0.0.2 listed (127.0.0.2, 127.0.0.4, 127.0.0.10)"),
        "{lines:?}"
    );
    assert!(got[1].ok, "{lines:?}");
    // NXDOMAIN for the test entry: a resolver that cannot see the list.
    assert!(!got[2].ok, "{lines:?}");
    assert!(
        got[2].text.contains(
            "answered as not listed, so every address would be too; use a local resolver"
        ),
        "{lines:?}"
    );
    assert!(!got[3].ok, "{lines:?}");
    assert!(got[3].text.contains("use a local resolver"), "{lines:?}");
}
