//! DNS blocklists: is the address listed in Spamhaus ZEN, SpamCop, Barracuda, DroneBL, ...?
//! One `A` query per zone, all zones at once, through hickory-resolver (its API churn stays in
//! this file), against `dnsbl.nameservers` when set, else the system resolver.
//!
//! Only a definite answer counts: NXDOMAIN is "not listed", a 127.0.0.0/8 code is "listed" (and
//! decoded for Spamhaus and DroneBL). Error codes (Spamhaus 127.255.255.x: typo, public resolver
//! refused, rate limited), 127.0.0.1, answers outside 127/8, SERVFAIL, REFUSED and timeouts are
//! "unknown", never "listed" and never "clean". Spamhaus PBL is policy (an end-user range that
//! should not send mail), not a sign of malice.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::config::{ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::investigate::cache::Cache;
use crate::util::Probe;

/// `[dnsbl]`: which blocklists to ask, through which name servers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dnsbl {
    pub enabled: bool,
    /// `host:port` pairs; empty means the system resolver.
    pub nameservers: Vec<String>,
    pub zones: Vec<String>,
    pub timeout_secs: u64,
}

impl Default for Dnsbl {
    fn default() -> Self {
        Dnsbl {
            enabled: true,
            nameservers: Vec::new(),
            zones: [
                "zen.spamhaus.org",
                "bl.spamcop.net",
                "b.barracudacentral.org",
                "dnsbl.dronebl.org",
            ]
            .map(String::from)
            .to_vec(),
            timeout_secs: 3,
        }
    }
}

/// What one zone said about the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListingStatus {
    /// Listed for abuse (spam source, exploited host, botnet, ...).
    Listed,
    /// Listed only in a policy list (Spamhaus PBL): an end-user range, not malice.
    Policy,
    NotListed,
    /// No usable answer: error code, SERVFAIL, REFUSED, timeout.
    Unknown,
}

impl ListingStatus {
    /// The JSON word: `listed`, `policy`, `not_listed`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListingStatus::Listed => "listed",
            ListingStatus::Policy => "policy",
            ListingStatus::NotListed => "not_listed",
            ListingStatus::Unknown => "unknown",
        }
    }
}

/// One zone's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Listing {
    /// The zone as configured (a Spamhaus DQS key in it is masked).
    pub zone: String,
    pub status: ListingStatus,
    /// The A records returned, e.g. `127.0.0.4`.
    #[serde(default)]
    pub answers: Vec<String>,
    /// Decoded list names, e.g. `SBL`, `XBL`, `PBL`, `brute-force attacker`.
    #[serde(default)]
    pub lists: Vec<String>,
    /// Why the status is unknown, or other detail.
    #[serde(default)]
    pub detail: Option<String>,
    /// True when the answer came from `state_dir/cache`.
    #[serde(default)]
    pub cached: bool,
}

impl Listing {
    pub fn unknown(zone: &str, detail: impl Into<String>) -> Self {
        Listing {
            zone: display_zone(zone),
            status: ListingStatus::Unknown,
            answers: Vec::new(),
            lists: Vec::new(),
            detail: Some(detail.into()),
            cached: false,
        }
    }

    /// Is this zone one of Spamhaus's?
    pub fn is_spamhaus(&self) -> bool {
        self.zone.contains("spamhaus")
    }

    /// `zen.spamhaus.org listed (SBL, XBL)`.
    pub fn summary(&self) -> String {
        let what = match self.status {
            ListingStatus::Listed if self.lists.is_empty() => "listed".to_string(),
            ListingStatus::Listed => format!("listed ({})", self.lists.join(", ")),
            ListingStatus::Policy => format!(
                "policy listing only ({}: end-user range, not malicious)",
                self.lists.join(", ")
            ),
            ListingStatus::NotListed => "not listed".to_string(),
            ListingStatus::Unknown => format!(
                "unknown ({})",
                self.detail.as_deref().unwrap_or("no usable answer")
            ),
        };
        format!("{} {what}", self.zone)
    }
}

/// `45.113.0.203.zen.spamhaus.org.` for 203.0.113.45; 32 reversed nibbles for IPv6.
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    let zone = zone.trim().trim_end_matches('.');
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}.{zone}.")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(64 + zone.len() + 1);
            for byte in v6.octets().iter().rev() {
                name.push_str(&format!("{:x}.{:x}.", byte & 0x0f, byte >> 4));
            }
            format!("{name}{zone}.")
        }
    }
}

/// The zone for display: a Spamhaus DQS key (`<key>.zen.dq.spamhaus.net`) is masked.
pub fn display_zone(zone: &str) -> String {
    let zone = zone.trim().trim_end_matches('.');
    if zone.ends_with(".dq.spamhaus.net") {
        if let Some((_, rest)) = zone.split_once('.') {
            if rest.contains('.') && rest != "dq.spamhaus.net" {
                return format!("[key].{rest}");
            }
        }
    }
    zone.to_string()
}

/// Reads a zone's A answers.
pub fn classify(zone: &str, answers: &[Ipv4Addr]) -> Listing {
    let shown = display_zone(zone);
    let texts: Vec<String> = answers.iter().map(Ipv4Addr::to_string).collect();
    let base = |status, lists: Vec<String>, detail: Option<String>| Listing {
        zone: shown.clone(),
        status,
        answers: texts.clone(),
        lists,
        detail,
        cached: false,
    };
    if answers.is_empty() {
        return base(ListingStatus::NotListed, Vec::new(), None);
    }
    if let Some(err) = answers.iter().find_map(|a| error_answer(*a)) {
        return base(ListingStatus::Unknown, Vec::new(), Some(err));
    }
    let spamhaus = zone.contains("spamhaus");
    let dronebl = zone.contains("dronebl");
    let mut lists: Vec<String> = Vec::new();
    for a in answers {
        let code = a.octets()[3];
        let name = if spamhaus {
            spamhaus_list(code).map(String::from)
        } else if dronebl {
            dronebl_class(code).map(String::from)
        } else {
            None
        };
        let name = name.unwrap_or_else(|| format!("code {a}"));
        if !lists.contains(&name) {
            lists.push(name);
        }
    }
    let status = if spamhaus && lists.iter().all(|l| l == "PBL") {
        ListingStatus::Policy
    } else {
        ListingStatus::Listed
    };
    base(status, lists, None)
}

/// The reason an answer is an error, not a listing.
fn error_answer(a: Ipv4Addr) -> Option<String> {
    let [x, y, z, w] = a.octets();
    let why = match (x, y, z, w) {
        (127, 255, 255, 252) => "typing error in the DNSBL name",
        (127, 255, 255, 254) => "the list refuses queries from public or open resolvers",
        (127, 255, 255, 255) => "the list says too many queries were sent",
        (127, 255, 255, _) => "an error code of the list",
        (127, 0, 1, 255) => "IP queries are not allowed on this list",
        (127, 0, 0, 1) => "127.0.0.1 is never a listing (the list may be listing the world)",
        (127, ..) => return None,
        _ => "an answer outside 127.0.0.0/8 (a resolver that rewrites NXDOMAIN?)",
    };
    Some(format!("error answer {a}: {why}"))
}

fn spamhaus_list(code: u8) -> Option<&'static str> {
    match code {
        2 => Some("SBL"),
        3 => Some("CSS"),
        4..=7 => Some("XBL"),
        9 => Some("DROP"),
        10 | 11 => Some("PBL"),
        30 => Some("BCL"),
        _ => None,
    }
}

fn dronebl_class(code: u8) -> Option<&'static str> {
    Some(match code {
        3 => "IRC drone",
        5 => "bottler",
        6 => "spambot or drone",
        7 => "DDoS drone",
        8 => "SOCKS proxy",
        9 => "HTTP proxy",
        10 => "ProxyChain",
        11 => "web page proxy",
        12 => "open DNS resolver",
        13 => "brute-force attacker",
        14 => "open WinGate",
        15 => "compromised router",
        16 => "autorooting worm",
        17 => "botnet",
        18 => "DNS/MX on IRC",
        19 => "abused VPN",
        255 => "uncategorised",
        _ => return None,
    })
}

/// `127.0.0.1:5353` or `127.0.0.1` (port 53).
fn nameserver(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

/// A resolver for the configured name servers (or the system's), with our timeout and no retries:
/// the per-zone timeout is the bound.
/// Why no resolver could be set up for the blocklists.
#[derive(Debug, thiserror::Error)]
pub enum ResolverError {
    #[error("cannot read the system resolver configuration: {0}")]
    System(String),
    #[error("no usable address in dnsbl.nameservers")]
    NoNameserver,
    #[error("cannot set up the resolver: {0}")]
    Build(String),
}

pub fn resolver(cfg: &Dnsbl) -> Result<TokioResolver, ResolverError> {
    let mut builder = if cfg.nameservers.is_empty() {
        TokioResolver::builder_tokio().map_err(|e| ResolverError::System(e.to_string()))?
    } else {
        let servers: Vec<_> = cfg
            .nameservers
            .iter()
            .filter_map(|t| nameserver(t))
            .map(|addr| {
                let mut ns = hickory_resolver::config::NameServerConfig::udp_and_tcp(addr.ip());
                for c in &mut ns.connections {
                    c.port = addr.port();
                }
                ns
            })
            .collect();
        if servers.is_empty() {
            return Err(ResolverError::NoNameserver);
        }
        Resolver::builder_with_config(
            ResolverConfig::from_parts(None, Vec::new(), servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_secs(cfg.timeout_secs.max(1));
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.ndots = 0;
    builder
        .build()
        .map_err(|e| ResolverError::Build(e.to_string()))
}

/// Asks one zone about the address.
pub async fn query(resolver: &TokioResolver, ip: IpAddr, zone: &str) -> Listing {
    let name = query_name(ip, zone);
    match resolver.lookup(name.as_str(), RecordType::A).await {
        Ok(lookup) => {
            let answers: Vec<Ipv4Addr> = lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::A(a) => Some(a.0),
                    _ => None,
                })
                .collect();
            classify(zone, &answers)
        }
        Err(NetError::Dns(DnsError::NoRecordsFound(_))) => classify(zone, &[]),
        Err(NetError::Dns(DnsError::ResponseCode(code))) => {
            Listing::unknown(zone, format!("the server answered {code}"))
        }
        Err(NetError::Timeout) => Listing::unknown(zone, "no answer in time"),
        Err(e) => Listing::unknown(zone, format!("lookup failed: {e}")),
    }
}

/// Asks every zone at once, each bounded by `dnsbl.timeout_secs`; answers that are not "unknown"
/// are cached. The result is in `dnsbl.zones` order.
pub async fn check(ip: IpAddr, cfg: &Dnsbl, cache: Option<&Cache>) -> Vec<Listing> {
    let ip = ip.to_canonical();
    let timeout = Duration::from_secs(cfg.timeout_secs.max(1));
    let mut out: Vec<Option<Listing>> = vec![None; cfg.zones.len()];
    let mut pending = Vec::new();
    for (i, zone) in cfg.zones.iter().enumerate() {
        match cache.and_then(|c| c.load_listing(zone, ip)) {
            Some(mut hit) => {
                hit.cached = true;
                out[i] = Some(hit);
            }
            None => pending.push(i),
        }
    }
    if !pending.is_empty() {
        match resolver(cfg) {
            Ok(resolver) => {
                let mut set = JoinSet::new();
                for i in pending {
                    let zone = cfg.zones[i].clone();
                    let resolver = resolver.clone();
                    set.spawn(async move {
                        let listing = match tokio::time::timeout(
                            timeout,
                            query(&resolver, ip, &zone),
                        )
                        .await
                        {
                            Ok(l) => l,
                            Err(_) => Listing::unknown(
                                &zone,
                                format!("no answer within {} s", timeout.as_secs()),
                            ),
                        };
                        (i, listing)
                    });
                }
                while let Some(done) = set.join_next().await {
                    if let Ok((i, listing)) = done {
                        if listing.status != ListingStatus::Unknown {
                            if let Some(c) = cache {
                                c.store_listing(&cfg.zones[i], ip, &listing);
                            }
                        }
                        out[i] = Some(listing);
                    }
                }
            }
            Err(reason) => {
                for i in pending {
                    out[i] = Some(Listing::unknown(&cfg.zones[i], reason.to_string()));
                }
            }
        }
    }
    out.into_iter()
        .zip(&cfg.zones)
        .map(|(l, zone)| l.unwrap_or_else(|| Listing::unknown(zone, "lookup did not finish")))
        .collect()
}

/// What `check` says of each zone: the zone's test entry, 127.0.0.2, must be answered.
pub async fn probe(cfg: &Dnsbl) -> Vec<Probe> {
    if !cfg.enabled {
        return vec![Probe::ok("disabled")];
    }
    let resolver = match resolver(cfg) {
        Ok(r) => r,
        Err(e) => return vec![Probe::failed(e.to_string())],
    };
    // Every blocklist lists 127.0.0.2 as its test entry (RFC 5782): a resolver that answers
    // "not listed" for it answers so for everyone (public resolvers are refused by Spamhaus
    // with NXDOMAIN), and every address would read "not listed" for a day.
    let test = IpAddr::from([127, 0, 0, 2]);
    let hint = if cfg.nameservers.is_empty() {
        "use a local resolver (unbound on this host) in dnsbl.nameservers, or set dnsbl.enabled = false"
    } else {
        "use a local resolver (unbound on this host) that asks the blocklists itself, or set dnsbl.enabled = false"
    };
    let mut probes = Vec::new();
    for zone in &cfg.zones {
        let listing = query(&resolver, test, zone).await;
        let probe = match listing.status {
            ListingStatus::Listed | ListingStatus::Policy => Probe::ok(format!(
                "{}: test entry 127.0.0.2 listed ({})",
                listing.zone,
                listing.answers.join(", ")
            )),
            ListingStatus::NotListed => Probe::failed(format!(
                "{}: the test entry 127.0.0.2 is answered as not listed, so every address would be too; {hint}",
                listing.zone
            )),
            ListingStatus::Unknown => Probe::failed(format!(
                "{}: {}; {hint}",
                listing.zone,
                listing.detail.as_deref().unwrap_or("no usable answer")
            )),
        };
        probes.push(probe);
    }
    probes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn query_names_reverse_octets_and_nibbles() {
        assert_eq!(
            query_name("203.0.113.45".parse().unwrap(), "zen.spamhaus.org"),
            "45.113.0.203.zen.spamhaus.org."
        );
        // The sample table's IPv6 example (RFC 5782).
        assert_eq!(
            query_name("2001:db8::45".parse().unwrap(), "zen.spamhaus.org."),
            "5.4.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org."
        );
        assert_eq!(
            query_name("::ffff:1.2.3.4".parse().unwrap(), "x.org"),
            "4.3.2.1.x.org."
        );
    }

    #[test]
    fn spamhaus_codes_are_decoded() {
        let l = classify("zen.spamhaus.org", &[a("127.0.0.2"), a("127.0.0.4")]);
        assert_eq!(l.status, ListingStatus::Listed);
        assert_eq!(l.lists, vec!["SBL", "XBL"]);
        assert_eq!(l.summary(), "zen.spamhaus.org listed (SBL, XBL)");
        let l = classify("zen.spamhaus.org", &[a("127.0.0.3"), a("127.0.0.9")]);
        assert_eq!(l.lists, vec!["CSS", "DROP"]);
        let l = classify("zen.spamhaus.org", &[a("127.0.0.10"), a("127.0.0.11")]);
        assert_eq!(l.status, ListingStatus::Policy, "PBL alone is policy");
        assert_eq!(l.lists, vec!["PBL"]);
        let l = classify("zen.spamhaus.org", &[a("127.0.0.4"), a("127.0.0.10")]);
        assert_eq!(l.status, ListingStatus::Listed);
    }

    #[test]
    fn error_answers_are_never_listings() {
        for code in [
            "127.255.255.252",
            "127.255.255.254",
            "127.255.255.255",
            "127.0.0.1",
            "10.0.0.1",
            "127.0.1.255",
        ] {
            let l = classify("zen.spamhaus.org", &[a(code)]);
            assert_eq!(l.status, ListingStatus::Unknown, "{code}");
            assert!(l.detail.as_deref().unwrap_or("").contains(code), "{code}");
        }
        // An error code next to a listing code still makes the whole answer unusable.
        let l = classify("zen.spamhaus.org", &[a("127.0.0.2"), a("127.255.255.254")]);
        assert_eq!(l.status, ListingStatus::Unknown);
    }

    #[test]
    fn other_lists() {
        let l = classify("dnsbl.dronebl.org", &[a("127.0.0.13")]);
        assert_eq!(l.lists, vec!["brute-force attacker"]);
        let l = classify("bl.spamcop.net", &[a("127.0.0.2")]);
        assert_eq!(l.summary(), "bl.spamcop.net listed (code 127.0.0.2)");
        assert_eq!(
            classify("bl.spamcop.net", &[]).summary(),
            "bl.spamcop.net not listed"
        );
    }

    #[test]
    fn dqs_keys_are_masked() {
        assert_eq!(
            display_zone("abcdef123456.zen.dq.spamhaus.net"),
            "[key].zen.dq.spamhaus.net"
        );
        assert_eq!(display_zone("zen.spamhaus.org."), "zen.spamhaus.org");
        let l = classify("abcdef123456.zen.dq.spamhaus.net", &[a("127.0.0.4")]);
        assert!(!serde_json::to_string(&l).unwrap().contains("abcdef"));
        assert_eq!(l.lists, vec!["XBL"]);
    }
}
