//! The whole investigation against local fakes: every source and the blocklists at once,
//! the cache (a second run sends nothing), the private-address rule (nothing sent at all), a
//! hanging source (the run ends at its timeout with the rest intact), the outer deadline, and a
//! corrupt cache file.

use std::time::{Duration, Instant};

use crate::common::intel::{IntelFakes, IP, KEYS};
use ai_analyzer::intake::alert::Alert;
use ai_analyzer::investigate;
use ai_analyzer::investigate::dnsbl::ListingStatus;
use ai_analyzer::investigate::risk::Verdict;
use ai_analyzer::investigate::sources::Provider;
use ai_analyzer::investigate::{investigate_intel as investigate_ip, IntelStatus};

#[tokio::test]
async fn every_source_at_once_then_all_from_the_cache() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = fakes.settings(dir.path(), 5, true);
    let first = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    assert_eq!(first.status, IntelStatus::Investigated);
    for s in &first.sources {
        let want = if s.provider == Provider::Internetdb {
            "skipped" // Shodan is keyed and asked instead.
        } else {
            "ok"
        };
        assert_eq!(s.finding.status(), want, "{}", s.line());
        assert!(!s.cached);
    }
    let zen = &first.dnsbl[0];
    assert_eq!(
        (zen.status, zen.lists.clone()),
        (
            ListingStatus::Listed,
            vec!["SBL".to_string(), "XBL".to_string()]
        )
    );
    assert_eq!(first.dnsbl[2].status, ListingStatus::NotListed);
    assert_eq!(first.risk.verdict, Verdict::Malicious);
    assert_eq!(first.risk.score, 100);
    let http_after_first = fakes.http_requests().await;
    let dns_after_first = fakes.dns.queries().len();
    assert_eq!(http_after_first, 7, "seven sources over HTTP");
    assert_eq!(dns_after_first, 4, "one query per zone");

    // Within the TTL: zero outside requests, the same findings, marked cached.
    let second = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    assert_eq!(
        fakes.http_requests().await,
        http_after_first,
        "HTTP asked again"
    );
    assert_eq!(
        fakes.dns.queries().len(),
        dns_after_first,
        "DNS asked again"
    );
    for (a, b) in first.sources.iter().zip(&second.sources) {
        assert_eq!(a.finding.summary(), b.finding.summary());
        if a.provider != Provider::Internetdb {
            // The Tor list is cached as a whole, not per address.
            assert_eq!(b.cached, a.provider != Provider::Tor, "{}", b.line());
        }
    }
    assert!(second
        .dnsbl
        .iter()
        .all(|l| l.cached || l.status == ListingStatus::Unknown));
    assert_eq!(second.risk, first.risk);

    // No key in any cache file.
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for k in KEYS {
                    assert!(!text.contains(k), "{} holds a key", p.display());
                }
            }
        }
    }
}

#[tokio::test]
async fn a_private_source_address_sends_nothing_anywhere() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fakes.settings(dir.path(), 5, true);
    settings.network.zones.push(ai_analyzer::config::Zone {
        name: "Office LAN".into(),
        cidr: "172.16.0.0/12".parse().unwrap(),
    });
    for (ip, zone) in [
        ("172.17.1.1", Some("Office LAN")),
        ("100.64.3.4", None),
        ("fd12:3456::1", None),
        ("169.254.1.1", None),
        ("198.18.0.9", None),
        ("203.0.113.45", None),
    ] {
        let alert = Alert::new(serde_json::json!({
            "rule": {"id": "5712", "level": 10},
            "agent": {"name": "web-01", "ip": "172.18.1.10"},
            "data": {"srcip": ip}
        }));
        let ev = investigate::investigate(&alert, &settings.investigation()).await;
        assert_eq!(ev.intel.status, IntelStatus::NotSent, "{ip}");
        let note = ev.intel.note.clone().unwrap_or_default();
        assert!(note.contains("never sent"), "{note}");
        if let Some(z) = zone {
            assert!(note.contains(&format!("local zone {z}")), "{note}");
        }
    }
    assert_eq!(
        fakes.http_requests().await,
        0,
        "an outside source was asked"
    );
    assert!(fakes.dns.queries().is_empty(), "a DNSBL was asked");
}

#[tokio::test]
async fn a_hanging_source_ends_at_its_timeout_with_the_rest_intact() {
    let fakes = IntelFakes::start(Duration::ZERO, Some("virustotal")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fakes.settings(dir.path(), 5, true);
    settings.providers.virustotal.timeout_secs = 1;
    let started = Instant::now();
    let intel = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1800), "{took:?}");
    let vt = intel.source(Provider::Virustotal).unwrap();
    assert_eq!(vt.finding.status(), "timed_out", "{}", vt.line());
    assert!(
        vt.line().starts_with("VirusTotal: timed out after 1"),
        "{}",
        vt.line()
    );
    for p in [
        Provider::Ipinfo,
        Provider::Rdap,
        Provider::Abuseipdb,
        Provider::Greynoise,
        Provider::Shodan,
        Provider::Tor,
    ] {
        assert_eq!(intel.source(p).unwrap().finding.status(), "ok", "{p:?}");
    }
    assert_eq!(intel.dnsbl[0].status, ListingStatus::Listed);
    // The score is still built from what answered.
    assert_eq!(intel.risk.verdict, Verdict::Malicious);
    // A timeout is not cached: the next run asks again.
    let _ = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    let vt_requests = fakes
        .http
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/api/v3/"))
        .count();
    assert_eq!(vt_requests, 2);
}

#[tokio::test]
async fn the_outer_deadline_bounds_the_whole_run() {
    let fakes = IntelFakes::start(Duration::ZERO, Some("rdap")).await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fakes.settings(dir.path(), 30, true);
    settings.general.deadline_secs = 1;
    let started = Instant::now();
    let intel = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    assert!(started.elapsed() < Duration::from_millis(1800));
    let rdap = intel.source(Provider::Rdap).unwrap();
    assert_eq!(rdap.finding.status(), "timed_out", "{}", rdap.line());
    assert!(intel.note.as_deref().unwrap_or("").contains("deadline"));
    assert_eq!(
        intel.source(Provider::Abuseipdb).unwrap().finding.status(),
        "ok"
    );
}

#[tokio::test]
async fn a_corrupt_cache_file_is_ignored_and_replaced() {
    let fakes = IntelFakes::start(Duration::ZERO, None).await;
    let dir = tempfile::tempdir().unwrap();
    let settings = fakes.settings(dir.path(), 5, true);
    let file = dir
        .path()
        .join("cache/ti/abuseipdb")
        .join(format!("{IP}.json"));
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"{\"version\":1,\"provider\":\"abuseip").unwrap();
    let intel = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    let a = intel.source(Provider::Abuseipdb).unwrap();
    assert_eq!(a.finding.status(), "ok", "{}", a.line());
    assert!(!a.cached);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(&text).is_ok(),
        "{text}"
    );
    let again = investigate_ip(IP.parse().unwrap(), &settings.investigation()).await;
    assert!(again.source(Provider::Abuseipdb).unwrap().cached);
}
