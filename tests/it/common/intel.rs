//! Local fakes for the whole investigation: one wiremock server on 127.0.0.1 that answers every
//! threat-intel source's path with its recorded "malicious" body, and a hickory-server DNS zone
//! table for the blocklists. Used by the investigation tests, the `enrich` tests and the
//! benchmark (examples/bench_investigate.rs).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use ai_analyzer::config::{Secret, Settings};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::dns::{Answer, FakeDns};

/// The attacker address the fakes know (a real Tor exit range, so globally routable).
pub const IP: &str = "185.220.101.33";
/// The keys the fake config uses; tests check none of them ever shows up in output.
pub const KEYS: [&str; 4] = [
    "abuseipdb-fake-key-1111",
    "virustotal-fake-key-2222",
    "greynoise-fake-key-3333",
    "shodan-fake-key-4444",
];
pub const ZONES: [&str; 4] = [
    "zen.spamhaus.org",
    "bl.spamcop.net",
    "b.barracudacentral.org",
    "dnsbl.dronebl.org",
];

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/ti")
            .join(name),
    )
    .expect("fixture")
}

/// Every source's path on the fake, and the body it serves.
pub fn routes() -> Vec<(&'static str, String, String)> {
    vec![
        (
            "ipinfo",
            format!("/{IP}/json"),
            fixture("ipinfo_malicious.json"),
        ),
        ("rdap", format!("/ip/{IP}"), fixture("rdap_ripe.json")),
        (
            "abuseipdb",
            "/api/v2/check".into(),
            fixture("abuseipdb_malicious_nonverbose.json"),
        ),
        (
            "virustotal",
            format!("/api/v3/ip_addresses/{IP}"),
            fixture("virustotal_malicious.json"),
        ),
        (
            "greynoise",
            format!("/v3/community/{IP}"),
            fixture("greynoise_malicious.json"),
        ),
        (
            "shodan",
            format!("/shodan/host/{IP}"),
            fixture("shodan_host_malicious.json"),
        ),
        (
            "internetdb",
            format!("/{IP}"),
            fixture("internetdb_malicious.json"),
        ),
        (
            "tor",
            "/torbulkexitlist".into(),
            fixture("torbulkexitlist.txt"),
        ),
    ]
}

pub struct IntelFakes {
    pub http: MockServer,
    pub dns: FakeDns,
}

impl IntelFakes {
    /// How many lookups reached AbuseIPDB.
    pub async fn abuseipdb_requests(&self) -> usize {
        self.http
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/api/v2/check")
            .count()
    }

    /// Every route answers after `delay`; so does every DNS query. `hang` names a source whose
    /// route never answers (well, after an hour).
    pub async fn start(delay: Duration, hang: Option<&str>) -> IntelFakes {
        let http = MockServer::start().await;
        for (name, route, body) in routes() {
            let delay = if Some(name) == hang {
                Duration::from_secs(3600)
            } else {
                delay
            };
            Mock::given(method("GET"))
                .and(path(route.as_str()))
                .respond_with(
                    ResponseTemplate::new(200)
                        .set_body_raw(body.into_bytes(), "application/json")
                        .set_delay(delay),
                )
                .mount(&http)
                .await;
        }
        let dns = FakeDns::start(
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
            ],
            &[],
            delay,
        );
        IntelFakes { http, dns }
    }

    /// HTTP requests received so far.
    pub async fn http_requests(&self) -> usize {
        self.http
            .received_requests()
            .await
            .map(|r| r.len())
            .unwrap_or_default()
    }

    /// Settings pointing every source (Shodan keyed when `shodan_key`) and the DNSBLs at the
    /// fakes, state in `state`, every source with `timeout_secs`.
    pub fn settings(&self, state: &Path, timeout_secs: u64, shodan_key: bool) -> Settings {
        let mut s = Settings::default();
        s.general.state_dir = state.to_path_buf();
        let url = self.http.uri();
        let p = &mut s.providers;
        (p.ipinfo.url, p.ipinfo.timeout_secs) = (url.clone(), timeout_secs);
        (p.rdap.url, p.rdap.timeout_secs) = (url.clone(), timeout_secs);
        (p.abuseipdb.url, p.abuseipdb.timeout_secs) = (url.clone(), timeout_secs);
        p.abuseipdb.api_key = Secret::new(KEYS[0]);
        (p.virustotal.url, p.virustotal.timeout_secs) = (url.clone(), timeout_secs);
        p.virustotal.api_key = Secret::new(KEYS[1]);
        (p.greynoise.url, p.greynoise.timeout_secs) = (url.clone(), timeout_secs);
        p.greynoise.api_key = Secret::new(KEYS[2]);
        (p.shodan.url, p.shodan.timeout_secs) = (url.clone(), timeout_secs);
        if shodan_key {
            p.shodan.api_key = Secret::new(KEYS[3]);
        }
        (p.internetdb.url, p.internetdb.timeout_secs) = (url.clone(), timeout_secs);
        (p.tor.url, p.tor.timeout_secs) = (format!("{url}/torbulkexitlist"), timeout_secs);
        s.dnsbl.nameservers = vec![self.dns.addr.to_string()];
        s.dnsbl.zones = ZONES.iter().map(|z| z.to_string()).collect();
        s.dnsbl.timeout_secs = timeout_secs;
        s
    }

    /// The same as config file sections, for the binary.
    pub fn toml(&self, timeout_secs: u64, shodan_key: bool) -> String {
        let url = self.http.uri();
        let t = timeout_secs;
        let shodan = if shodan_key { KEYS[3] } else { "" };
        format!(
            r#"
[providers.ipinfo]
url = "{url}"
timeout_secs = {t}
[providers.rdap]
url = "{url}"
timeout_secs = {t}
[providers.abuseipdb]
url = "{url}"
timeout_secs = {t}
api_key = "{k0}"
[providers.virustotal]
url = "{url}"
timeout_secs = {t}
api_key = "{k1}"
[providers.greynoise]
url = "{url}"
timeout_secs = {t}
api_key = "{k2}"
[providers.shodan]
url = "{url}"
timeout_secs = {t}
api_key = "{shodan}"
[providers.internetdb]
url = "{url}"
timeout_secs = {t}
[providers.tor]
url = "{url}/torbulkexitlist"
timeout_secs = {t}
[dnsbl]
nameservers = ["{dns}"]
zones = {zones:?}
timeout_secs = {t}
"#,
            k0 = KEYS[0],
            k1 = KEYS[1],
            k2 = KEYS[2],
            dns = self.dns.addr,
            zones = ZONES,
        )
    }
}
