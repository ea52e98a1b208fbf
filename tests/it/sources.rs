//! Every threat-intel source against a wiremock fake on 127.0.0.1 serving the recorded
//! bodies: malicious, clean, 404, 401, 429 (with and without Retry-After), 500, garbage, and slow
//! past its timeout. The requests are checked too: path, query, auth header, nothing but the
//! address sent, the key never echoed back.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::read_fixture;
use ai_analyzer::config::{Secret, Settings};
use ai_analyzer::investigate::investigate_intel as investigate_ip;
use ai_analyzer::investigate::sources::{Finding, Provider, SourceResult};
use serde_json::Value;
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const IP: &str = "185.220.101.33";

fn ip() -> IpAddr {
    IP.parse().unwrap()
}

/// Settings with every source and the DNSBLs off, and the state dir in `state`.
pub fn quiet_settings(state: &Path) -> Settings {
    let mut s = Settings::default();
    s.general.state_dir = state.to_path_buf();
    let p = &mut s.providers;
    p.ipinfo.enabled = false;
    p.rdap.enabled = false;
    p.abuseipdb.enabled = false;
    p.virustotal.enabled = false;
    p.greynoise.enabled = false;
    p.shodan.enabled = false;
    p.internetdb.enabled = false;
    p.tor.enabled = false;
    s.dnsbl.enabled = false;
    s
}

/// Turns one source on, at `url`, with `key` and `timeout_secs`.
pub fn enable(s: &mut Settings, p: Provider, url: &str, key: Option<&str>, timeout_secs: u64) {
    let key = Secret::new(key.unwrap_or_default());
    let url = url.to_string();
    let ps = &mut s.providers;
    match p {
        Provider::Ipinfo => {
            (ps.ipinfo.enabled, ps.ipinfo.url, ps.ipinfo.timeout_secs) = (true, url, timeout_secs);
            ps.ipinfo.token = key;
        }
        Provider::Rdap => {
            (ps.rdap.enabled, ps.rdap.url, ps.rdap.timeout_secs) = (true, url, timeout_secs);
        }
        Provider::Abuseipdb => {
            let c = &mut ps.abuseipdb;
            (c.enabled, c.url, c.timeout_secs, c.api_key) = (true, url, timeout_secs, key);
        }
        Provider::Virustotal => {
            let c = &mut ps.virustotal;
            (c.enabled, c.url, c.timeout_secs, c.api_key) = (true, url, timeout_secs, key);
        }
        Provider::Greynoise => {
            let c = &mut ps.greynoise;
            (c.enabled, c.url, c.timeout_secs, c.api_key) = (true, url, timeout_secs, key);
        }
        Provider::Shodan => {
            let c = &mut ps.shodan;
            (c.enabled, c.url, c.timeout_secs, c.api_key) = (true, url, timeout_secs, key);
        }
        Provider::Internetdb => {
            let c = &mut ps.internetdb;
            (c.enabled, c.url, c.timeout_secs) = (true, url, timeout_secs);
        }
        Provider::Tor => {
            let c = &mut ps.tor;
            (c.enabled, c.url, c.timeout_secs) = (true, url, timeout_secs);
        }
    }
}

/// How one source is asked and what its recorded answers look like.
struct Spec {
    provider: Provider,
    key: Option<&'static str>,
    /// Path prefix put into the configured URL (checks that `join_url` keeps it).
    prefix: &'static str,
    /// The request path after the prefix.
    path: String,
    /// Expected query pairs, sorted.
    query: Vec<(&'static str, String)>,
    /// Headers that must be present, with their value.
    headers: Vec<(&'static str, String)>,
    malicious: String,
    malicious_says: &'static str,
    clean: String,
    clean_says: &'static str,
    not_found_body: String,
    /// The status a 404 gives.
    on_404: &'static str,
    unauthorized_body: String,
    /// The status a 401 gives (bad_key only when a key was sent).
    on_401: &'static str,
    /// The source's recorded 429 body.
    too_many_body: String,
    garbage_says: &'static str,
}

fn spec(p: Provider) -> Spec {
    let f = read_fixture;
    let base = |path: String| Spec {
        provider: p,
        key: None,
        prefix: "",
        path,
        query: Vec::new(),
        headers: Vec::new(),
        malicious: String::new(),
        malicious_says: "",
        clean: String::new(),
        clean_says: "",
        not_found_body: String::new(),
        on_404: "not_found",
        unauthorized_body: String::new(),
        on_401: "failed",
        too_many_body: "{}".into(),
        garbage_says: "unreadable answer",
    };
    match p {
        Provider::Ipinfo => Spec {
            key: Some("ipinfo-token-0001"),
            headers: vec![("authorization", "Bearer ipinfo-token-0001".into())],
            malicious: f("ti/ipinfo_malicious.json"),
            malicious_says: "privacy flags: tor, hosting",
            clean: f("ti/ipinfo_clean.json"),
            clean_says: "AS15169 Google LLC",
            not_found_body: f("ti/ipinfo_404_invalid_ip.json"),
            unauthorized_body: f("ti/ipinfo_403_unknown_token.json"),
            on_401: "bad_key",
            too_many_body: f("ti/ipinfo_429.json"),
            ..base(format!("/{IP}/json"))
        },
        Provider::Rdap => Spec {
            headers: vec![("accept", "application/rdap+json, application/json".into())],
            malicious: f("ti/rdap_ripe.json"),
            malicious_says: "abuse contact abuse@whalebone.io",
            clean: f("ti/rdap_arin.json"),
            clean_says: "network GOGL (NET-8-8-8-0-2)",
            not_found_body: f("ti/rdap_404.json"),
            too_many_body: f("ti/rdap_429.json"),
            unauthorized_body: "{}".into(),
            ..base(format!("/ip/{IP}"))
        },
        Provider::Abuseipdb => Spec {
            key: Some("abuseipdb-key-0002"),
            prefix: "/proxy/abuseipdb",
            query: vec![("ipAddress", IP.into()), ("maxAgeInDays", "90".into())],
            headers: vec![
                ("key", "abuseipdb-key-0002".into()),
                ("accept", "application/json".into()),
            ],
            malicious: f("ti/abuseipdb_malicious_nonverbose.json"),
            malicious_says: "confidence 100%, 3319 reports from 795 users",
            clean: f("ti/abuseipdb_clean.json"),
            clean_says: "confidence 0%, 0 reports",
            // The check endpoint has no 404: whatever comes is a failure.
            not_found_body: "{}".into(),
            on_404: "failed",
            unauthorized_body: f("ti/abuseipdb_401.json"),
            on_401: "bad_key",
            too_many_body: f("ti/abuseipdb_429.json"),
            ..base("/api/v2/check".into())
        },
        Provider::Virustotal => Spec {
            key: Some("vt-key-0003"),
            headers: vec![("x-apikey", "vt-key-0003".into())],
            malicious: f("ti/virustotal_malicious.json"),
            malicious_says: "9 malicious, 2 suspicious of 20 engines",
            clean: f("ti/virustotal_clean.json"),
            clean_says: "0 malicious, 0 suspicious of 20 engines; reputation 530",
            not_found_body: f("ti/virustotal_404.json"),
            unauthorized_body: f("ti/virustotal_401.json"),
            on_401: "bad_key",
            too_many_body: f("ti/virustotal_429.json"),
            ..base(format!("/api/v3/ip_addresses/{IP}"))
        },
        Provider::Greynoise => Spec {
            key: Some("greynoise-key-0004"),
            headers: vec![("key", "greynoise-key-0004".into())],
            malicious: f("ti/greynoise_malicious.json"),
            malicious_says: "classification malicious",
            clean: f("ti/greynoise_riot.json"),
            clean_says: "RIOT: known business service",
            not_found_body: f("ti/greynoise_unknown_404.json"),
            unauthorized_body: f("ti/greynoise_401.json"),
            on_401: "bad_key",
            too_many_body: f("ti/greynoise_429.json"),
            ..base(format!("/v3/community/{IP}"))
        },
        Provider::Shodan => Spec {
            key: Some("shodan-key-0005"),
            query: vec![("key", "shodan-key-0005".into())],
            malicious: f("ti/shodan_host_malicious.json"),
            malicious_says: "vulns CVE-2021-41617, CVE-2023-38408",
            clean: f("ti/shodan_host_minify.json"),
            clean_says: "open ports 443",
            not_found_body: f("ti/shodan_host_404.json"),
            unauthorized_body: f("ti/shodan_401.json"),
            on_401: "bad_key",
            too_many_body: f("ti/shodan_429.json"),
            ..base(format!("/shodan/host/{IP}"))
        },
        Provider::Internetdb => Spec {
            malicious: f("ti/internetdb_malicious.json"),
            malicious_says: "tags self-signed, tor",
            clean: f("ti/internetdb_clean.json"),
            clean_says: "open ports 53, 443",
            not_found_body: f("ti/internetdb_404.json"),
            unauthorized_body: "{}".into(),
            ..base(format!("/{IP}"))
        },
        Provider::Tor => Spec {
            malicious: f("ti/torbulkexitlist.txt"),
            malicious_says: "a Tor exit node (6 exits in the list",
            clean: "8.8.8.8\n1.1.1.1\n".into(),
            clean_says: "not a Tor exit (2 exits in the list",
            not_found_body: "Not Found".into(),
            on_404: "failed",
            unauthorized_body: "".into(),
            garbage_says: "the exit list holds no addresses",
            ..base("/torbulkexitlist".into())
        },
    }
}

struct Run {
    result: SourceResult,
    requests: Vec<Request>,
    json: String,
    elapsed: Duration,
}

/// Serves `template` for every request, asks the source once (in `state`), returns what it said
/// and what the fake received.
async fn ask(spec: &Spec, template: ResponseTemplate, state: &Path, timeout_secs: u64) -> Run {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(template)
        .mount(&server)
        .await;
    ask_at(spec, &server, state, timeout_secs).await
}

async fn ask_at(spec: &Spec, server: &MockServer, state: &Path, timeout_secs: u64) -> Run {
    let mut s = quiet_settings(state);
    let url = if spec.provider == Provider::Tor {
        format!("{}{}/torbulkexitlist", server.uri(), spec.prefix)
    } else {
        format!("{}{}", server.uri(), spec.prefix)
    };
    enable(&mut s, spec.provider, &url, spec.key, timeout_secs);
    if spec.provider == Provider::Internetdb {
        // InternetDB is asked only when Shodan has no key; make sure it has none.
        s.providers.shodan.api_key = Secret::default();
    }
    let started = Instant::now();
    let intel = investigate_ip(ip(), &s.investigation()).await;
    let elapsed = started.elapsed();
    let result = intel
        .source(spec.provider)
        .cloned()
        .expect("the source is in the result");
    // Every other source is off and says so.
    for other in &intel.sources {
        if other.provider != spec.provider {
            assert_eq!(other.finding.status(), "skipped", "{}", other.line());
        }
    }
    Run {
        result,
        requests: server.received_requests().await.unwrap_or_default(),
        json: serde_json::to_string(&intel).unwrap(),
        elapsed,
    }
}

fn json_body(body: &str, status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.as_bytes().to_vec(), "application/json")
}

fn status_of(r: &SourceResult) -> &'static str {
    r.finding.status()
}

/// The whole matrix for one source.
async fn matrix(p: Provider) {
    let spec = spec(p);
    let secret = spec.key.unwrap_or("no-key-at-all");
    let check_secret = |run: &Run| {
        assert!(
            !run.json.contains(secret),
            "{p:?}: the key leaked: {}",
            run.json
        );
    };

    // Malicious: the data, and the request exactly as the source expects it.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(&spec, json_body(&spec.malicious, 200), dir.path(), 5).await;
    assert_eq!(status_of(&run.result), "ok", "{}", run.result.line());
    assert!(
        run.result.line().contains(spec.malicious_says),
        "{p:?}: {}",
        run.result.line()
    );
    assert!(!run.result.cached);
    assert_eq!(run.requests.len(), 1, "{p:?}: one request");
    let req = &run.requests[0];
    assert_eq!(req.method.as_str(), "GET");
    assert_eq!(req.url.path(), format!("{}{}", spec.prefix, spec.path));
    let mut query: Vec<(String, String)> = req.url.query_pairs().into_owned().collect();
    query.sort();
    let mut want: Vec<(String, String)> = spec
        .query
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    want.sort();
    assert_eq!(query, want, "{p:?}: query");
    for (name, value) in &spec.headers {
        assert_eq!(
            req.headers.get(*name).and_then(|v| v.to_str().ok()),
            Some(value.as_str()),
            "{p:?}: header {name}"
        );
    }
    if spec.key.is_none() || spec.headers.iter().all(|(n, _)| *n != "authorization") {
        assert!(req.headers.get("authorization").is_none(), "{p:?}");
    }
    assert!(
        req.body.is_empty(),
        "{p:?}: nothing but the address is sent"
    );
    check_secret(&run);

    // Clean.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(&spec, json_body(&spec.clean, 200), dir.path(), 5).await;
    assert_eq!(status_of(&run.result), "ok", "{}", run.result.line());
    assert!(
        run.result.line().contains(spec.clean_says),
        "{p:?}: {}",
        run.result.line()
    );

    // 404.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(&spec, json_body(&spec.not_found_body, 404), dir.path(), 5).await;
    assert_eq!(status_of(&run.result), spec.on_404, "{}", run.result.line());

    // 401.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        json_body(&spec.unauthorized_body, 401),
        dir.path(),
        5,
    )
    .await;
    assert_eq!(status_of(&run.result), spec.on_401, "{}", run.result.line());
    check_secret(&run);
    if spec.on_401 == "bad_key" {
        // A rejected key pauses the source: the next run does not ask again.
        let again = ask(&spec, json_body(&spec.malicious, 200), dir.path(), 5).await;
        assert_eq!(
            status_of(&again.result),
            "bad_key",
            "{}",
            again.result.line()
        );
        assert!(again.requests.is_empty(), "{p:?}: asked despite the pause");
        assert!(again.result.line().contains("not asked"));
    }

    // 429 with Retry-After: paused, and the next run sends nothing.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        json_body(&spec.too_many_body, 429).insert_header("Retry-After", "120"),
        dir.path(),
        5,
    )
    .await;
    match &run.result.finding {
        Finding::RateLimited {
            retry_after_secs,
            paused_until,
            detail,
        } => {
            assert!(detail.starts_with("HTTP 429"), "{p:?}: {detail}");
            assert_eq!(*retry_after_secs, Some(120), "{p:?}");
            assert!(paused_until.is_some(), "{p:?}");
        }
        other => panic!("{p:?}: {other:?}"),
    }
    let again = ask(&spec, json_body(&spec.malicious, 200), dir.path(), 5).await;
    assert_eq!(
        status_of(&again.result),
        "rate_limited",
        "{}",
        again.result.line()
    );
    assert!(again.requests.is_empty(), "{p:?}: asked while paused");

    // 429 without Retry-After (ntfy-style, GreyNoise, ipinfo's text body).
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        ResponseTemplate::new(429).set_body_string(read_fixture("ti/ipinfo_429_legacy.txt")),
        dir.path(),
        5,
    )
    .await;
    match &run.result.finding {
        Finding::RateLimited {
            retry_after_secs,
            paused_until,
            ..
        } => {
            assert_eq!(*retry_after_secs, None);
            assert!(paused_until.is_some());
        }
        other => panic!("{p:?}: {other:?}"),
    }

    // 500: a failure with the status, not cached.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        ResponseTemplate::new(500).set_body_string("internal error"),
        dir.path(),
        5,
    )
    .await;
    assert_eq!(status_of(&run.result), "failed");
    assert!(
        run.result.line().contains("HTTP 500"),
        "{}",
        run.result.line()
    );
    let again = ask(&spec, json_body(&spec.malicious, 200), dir.path(), 5).await;
    assert_eq!(status_of(&again.result), "ok", "a failure is never cached");
    assert_eq!(again.requests.len(), 1);

    // Garbage with status 200.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        ResponseTemplate::new(200).set_body_string("<html><body>garbage</body></html>"),
        dir.path(),
        5,
    )
    .await;
    assert_eq!(status_of(&run.result), "failed");
    assert!(
        run.result.line().contains(spec.garbage_says),
        "{p:?}: {}",
        run.result.line()
    );

    // Slow past its timeout: timed out at about the timeout, the run not held up.
    let dir = tempfile::tempdir().unwrap();
    let run = ask(
        &spec,
        json_body(&spec.malicious, 200).set_delay(Duration::from_secs(4)),
        dir.path(),
        1,
    )
    .await;
    match run.result.finding {
        Finding::TimedOut { after_ms } => {
            assert!((900..2000).contains(&after_ms), "{p:?}: {after_ms} ms")
        }
        ref other => panic!("{p:?}: {other:?}"),
    }
    assert!(
        run.elapsed < Duration::from_millis(2500),
        "{:?}",
        run.elapsed
    );
    assert!(run.result.line().contains("timed out after"));
}

#[tokio::test]
async fn ipinfo_against_its_fake() {
    matrix(Provider::Ipinfo).await;
}

#[tokio::test]
async fn rdap_against_its_fake() {
    matrix(Provider::Rdap).await;
}

#[tokio::test]
async fn abuseipdb_against_its_fake() {
    matrix(Provider::Abuseipdb).await;
}

#[tokio::test]
async fn virustotal_against_its_fake() {
    matrix(Provider::Virustotal).await;
}

#[tokio::test]
async fn greynoise_against_its_fake() {
    matrix(Provider::Greynoise).await;
}

#[tokio::test]
async fn shodan_against_its_fake() {
    matrix(Provider::Shodan).await;
}

#[tokio::test]
async fn internetdb_against_its_fake() {
    matrix(Provider::Internetdb).await;
}

#[tokio::test]
async fn tor_list_against_its_fake() {
    matrix(Provider::Tor).await;
}

/// GreyNoise's 404 is a normal answer: "not seen", with its message.
#[tokio::test]
async fn greynoise_404_is_not_seen() {
    let spec = spec(Provider::Greynoise);
    let dir = tempfile::tempdir().unwrap();
    let run = ask(&spec, json_body(&spec.not_found_body, 404), dir.path(), 5).await;
    assert_eq!(
        run.result.line(),
        "GreyNoise: not found (IP not observed scanning the internet or contained in RIOT data set.)"
    );
    // "Not found" is an answer: it is cached like data.
    let again = ask(&spec, json_body(&spec.malicious, 200), dir.path(), 5).await;
    assert!(again.result.cached && again.requests.is_empty());
    assert_eq!(status_of(&again.result), "not_found");
}

/// RDAP follows the redirector's 302 to the registry; only the address travels.
#[tokio::test]
async fn rdap_follows_redirects_to_the_registry() {
    // rdap.org answers with a redirect to the registry; here both live on one server.
    let server = MockServer::start().await;
    Mock::given(path(format!("/registry/ip/{IP}")))
        .respond_with(json_body(&read_fixture("ti/rdap_arin.json"), 200))
        .mount(&server)
        .await;
    Mock::given(path(format!("/ip/{IP}")))
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/registry/ip/{IP}", server.uri()).as_str(),
        ))
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let run = ask_at(&spec(Provider::Rdap), &server, dir.path(), 5).await;
    assert_eq!(status_of(&run.result), "ok", "{}", run.result.line());
    assert!(run
        .result
        .line()
        .contains("abuse contact network-abuse@google.com"));
    let hops = server.received_requests().await.unwrap();
    assert_eq!(hops.len(), 2);
    assert_eq!(hops[1].url.path(), format!("/registry/ip/{IP}"));
    assert!(hops[1].url.query().is_none());

    // A redirect to another host over plain http (here: a loopback port) is not followed:
    // an answer must never steer a request inside the network or down to http.
    let inside = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_body(&read_fixture("ti/rdap_arin.json"), 200))
        .mount(&inside)
        .await;
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("{}/registry/ip/{IP}", inside.uri()).as_str(),
        ))
        .mount(&redirector)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let run = ask_at(&spec(Provider::Rdap), &redirector, dir.path(), 5).await;
    assert_eq!(status_of(&run.result), "failed", "{}", run.result.line());
    assert!(inside.received_requests().await.unwrap().is_empty());

    // Nor over https to a name that leads back to this host (`localhost.`, which the name check
    // used to let through): nothing is sent. (Names are also resolved and judged by their
    // addresses; the unit tests of `global_addresses` pin that.)
    let port = inside.address().port();
    let redirector = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(302).insert_header(
            "Location",
            format!("https://localhost.:{port}/registry/ip/{IP}").as_str(),
        ))
        .mount(&redirector)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let run = ask_at(&spec(Provider::Rdap), &redirector, dir.path(), 5).await;
    let line = run.result.line();
    assert_eq!(status_of(&run.result), "failed", "{line}");
    assert!(
        line.contains("to a host refused") || line.contains("without a usable Location"),
        "{line}"
    );
    assert!(inside.received_requests().await.unwrap().is_empty());
}

/// Shodan's key is in the query string: a transport error must not carry the URL.
#[tokio::test]
async fn shodan_connection_errors_never_carry_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = quiet_settings(dir.path());
    enable(
        &mut s,
        Provider::Shodan,
        &crate::common::dead_url(),
        Some("shodan-secret-key-77"),
        2,
    );
    let intel = investigate_ip(ip(), &s.investigation()).await;
    let r = intel.source(Provider::Shodan).unwrap();
    assert_eq!(r.finding.status(), "failed", "{}", r.line());
    assert!(r.line().contains("cannot connect"), "{}", r.line());
    let json = serde_json::to_string(&intel).unwrap();
    assert!(!json.contains("shodan-secret-key-77"), "{json}");
    assert!(!json.contains("key="), "{json}");
}

/// A source that needs a key and has none is "not configured", never an error; Shodan without a
/// key hands over to InternetDB, with a key it replaces it.
#[tokio::test]
async fn missing_keys_are_not_configured() {
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(json_body(&read_fixture("ti/internetdb_clean.json"), 200))
        .mount(&server)
        .await;
    let mut s = quiet_settings(dir.path());
    for p in [
        Provider::Abuseipdb,
        Provider::Virustotal,
        Provider::Shodan,
        Provider::Internetdb,
    ] {
        enable(&mut s, p, &server.uri(), None, 2);
    }
    let intel = investigate_ip(ip(), &s.investigation()).await;
    for p in [Provider::Abuseipdb, Provider::Virustotal, Provider::Shodan] {
        let r = intel.source(p).unwrap();
        assert_eq!(r.finding.status(), "not_configured", "{}", r.line());
        assert!(r.line().contains("no API key"), "{}", r.line());
    }
    assert!(intel
        .source(Provider::Shodan)
        .unwrap()
        .line()
        .contains("InternetDB is asked instead"));
    assert_eq!(
        intel.source(Provider::Internetdb).unwrap().finding.status(),
        "ok"
    );
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "only InternetDB was asked");
    assert_eq!(requests[0].url.path(), format!("/{IP}"));

    // With a Shodan key, InternetDB is not asked.
    let dir = tempfile::tempdir().unwrap();
    enable(&mut s, Provider::Shodan, &server.uri(), Some("k-123456"), 2);
    s.general.state_dir = dir.path().to_path_buf();
    let intel = investigate_ip(ip(), &s.investigation()).await;
    let idb = intel.source(Provider::Internetdb).unwrap();
    assert_eq!(idb.finding.status(), "skipped", "{}", idb.line());
    let v: Value = serde_json::to_value(&intel).unwrap();
    assert_eq!(v["sources"][6]["provider"], "internetdb");
    assert_eq!(v["sources"][6]["status"], "skipped");
}
