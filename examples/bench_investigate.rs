//! Benchmark of the investigation's fan-out, against local fakes only: every
//! threat-intel source served by wiremock on 127.0.0.1 and every DNSBL zone by a hickory-server on
//! 127.0.0.1, each answer delayed by the same amount.
//!
//! Run: `cargo run --release --example bench_investigate [delay_ms] [runs]` (default 400 ms, 5).
//! Prints the parallel wall time, its ratio to the slowest single source, the same lookups done one
//! after another, and the case of one source hanging forever.

#[allow(dead_code)]
#[path = "../tests/it/common/dns.rs"]
mod dns;
#[path = "../tests/it/common/intel.rs"]
mod intel;

use std::time::{Duration, Instant};

use ai_analyzer::config::Settings;
use ai_analyzer::investigate::investigate_intel as investigate_ip;
use ai_analyzer::investigate::{sources::Provider, Intel};
use intel::{IntelFakes, IP};

/// Settings with only `keep` on (and the DNSBLs only when `dnsbl`).
fn only(base: &Settings, keep: Option<Provider>, dnsbl: bool) -> Settings {
    let mut s = base.clone();
    let p = &mut s.providers;
    let on = |x: Provider| keep == Some(x);
    p.ipinfo.enabled = on(Provider::Ipinfo);
    p.rdap.enabled = on(Provider::Rdap);
    p.abuseipdb.enabled = on(Provider::Abuseipdb);
    p.virustotal.enabled = on(Provider::Virustotal);
    p.greynoise.enabled = on(Provider::Greynoise);
    p.shodan.enabled = on(Provider::Shodan);
    p.internetdb.enabled = on(Provider::Internetdb);
    p.tor.enabled = on(Provider::Tor);
    s.dnsbl.enabled = dnsbl;
    s
}

/// One investigation in a fresh state dir (nothing cached), timed.
async fn timed(settings: &Settings) -> (Duration, Intel) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = settings.clone();
    s.general.state_dir = dir.path().to_path_buf();
    let started = Instant::now();
    let intel = investigate_ip(IP.parse().expect("ip"), &s.investigation()).await;
    (started.elapsed(), intel)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let delay_ms: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    let delay = Duration::from_millis(delay_ms);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("fakes on 127.0.0.1, every answer delayed {delay_ms} ms; {runs} runs; {cores} cores");

    let fakes = IntelFakes::start(delay, None).await;
    // Shodan keyless: InternetDB is asked instead (Shodan says "not configured" at once), so the
    // full investigation runs 7 HTTP sources and the blocklists. Alone, Shodan is timed keyed.
    let base = fakes.settings(std::path::Path::new("/unused"), 5, false);
    let keyed = fakes.settings(std::path::Path::new("/unused"), 5, true);

    // Each source alone, and the blocklists alone: the slowest of these is the floor.
    let mut singles = Vec::new();
    for p in Provider::ALL {
        let mut times = Vec::new();
        let settings = if p == Provider::Shodan { &keyed } else { &base };
        for _ in 0..runs {
            times.push(timed(&only(settings, Some(p), false)).await.0);
        }
        singles.push((p.label().to_string(), median(times)));
    }
    let mut times = Vec::new();
    for _ in 0..runs {
        times.push(timed(&only(&base, None, true)).await.0);
    }
    singles.push(("DNSBL (4 zones)".to_string(), median(times)));
    println!("\neach source alone (median of {runs}):");
    for (name, t) in &singles {
        println!("  {name:<16} {:>7.1} ms", ms(*t));
    }
    let slowest = singles.iter().map(|(_, t)| *t).max().unwrap_or_default();

    // Everything at once.
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let (t, intel) = timed(&base).await;
        times.push(t);
        last = Some(intel);
    }
    let asked = last
        .as_ref()
        .map(|i| {
            i.sources
                .iter()
                .filter(|s| s.finding.status() == "ok")
                .count()
        })
        .unwrap_or_default();
    // One after another: each source of the full run alone, summed (Shodan is not in it).
    let sequential: Duration = singles
        .iter()
        .filter(|(name, _)| name != Provider::Shodan.label())
        .map(|(_, t)| *t)
        .sum();
    let parallel = median(times.clone());
    let worst = times.iter().max().copied().unwrap_or_default();
    println!(
        "\nall at once ({asked} HTTP sources answering + 4 DNSBL zones): median {:.1} ms, worst {:.1} ms",
        ms(parallel),
        ms(worst)
    );
    println!(
        "ratio to the slowest single source: median {:.3}, worst {:.3} (target <= 1.15)",
        parallel.as_secs_f64() / slowest.as_secs_f64(),
        worst.as_secs_f64() / slowest.as_secs_f64()
    );
    println!(
        "the same lookups one after another: {:.1} ms ({:.1}x the parallel run)",
        ms(sequential),
        sequential.as_secs_f64() / parallel.as_secs_f64()
    );

    // What `ai-analyzer enrich` prints for that run.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut s = base.clone();
    s.general.state_dir = dir.path().to_path_buf();
    let ev =
        ai_analyzer::investigate::investigate_ip(IP.parse().expect("ip"), &s.investigation()).await;
    println!(
        "\n`ai-analyzer enrich {IP}` against these fakes:\n{}",
        ev.table()
    );

    // One source hanging forever: the run ends at its timeout, the rest intact.
    drop(fakes);
    let fakes = IntelFakes::start(delay, Some("virustotal")).await;
    let mut s = fakes.settings(std::path::Path::new("/unused"), 5, false);
    s.providers.virustotal.timeout_secs = 2;
    let (t, intel) = timed(&s).await;
    let vt = intel
        .source(Provider::Virustotal)
        .map(|r| r.line())
        .unwrap_or_default();
    let ok = intel
        .sources
        .iter()
        .filter(|r| r.finding.status() == "ok")
        .count();
    println!(
        "\nVirusTotal hanging forever (timeout_secs = 2): whole run {:.1} ms; {vt}; {ok} other sources ok; DNSBL: {}",
        ms(t),
        ai_analyzer::investigate::dnsbl_line(&intel.dnsbl)
    );
}
