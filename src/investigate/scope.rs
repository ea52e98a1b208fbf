//! Is an address out on the Internet, or one of ours? The answer decides whether any outside
//! service may ever hear of it, and which configured network zone it belongs to.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A configured `[[network.zones]]` entry: a name for an address range of the admin's network.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub name: String,
    pub cidr: IpNet,
}

/// What kind of address this is. Only [`Scope::Global`] is ever sent to an outside service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    Global,
    Private,
    Loopback,
    LinkLocal,
    SharedCgnat,
    Documentation,
    Benchmarking,
    Multicast,
    Reserved,
    Unspecified,
    UniqueLocal,
}

impl Scope {
    pub fn is_global(self) -> bool {
        self == Scope::Global
    }

    pub fn describe(self) -> &'static str {
        match self {
            Scope::Global => "public (globally routable)",
            Scope::Private => "private (RFC 1918)",
            Scope::Loopback => "loopback",
            Scope::LinkLocal => "link-local",
            Scope::SharedCgnat => "shared address space (CGNAT, RFC 6598)",
            Scope::Documentation => "documentation range",
            Scope::Benchmarking => "benchmarking range (RFC 2544)",
            Scope::Multicast => "multicast",
            Scope::Reserved => "reserved",
            Scope::Unspecified => "unspecified",
            Scope::UniqueLocal => "IPv6 unique local (fc00::/7)",
        }
    }
}

const V4_RANGES: &[(&str, Scope)] = &[
    ("0.0.0.0/8", Scope::Unspecified),
    ("10.0.0.0/8", Scope::Private),
    ("100.64.0.0/10", Scope::SharedCgnat),
    ("127.0.0.0/8", Scope::Loopback),
    ("169.254.0.0/16", Scope::LinkLocal),
    ("172.16.0.0/12", Scope::Private),
    ("192.0.0.0/24", Scope::Reserved),
    ("192.0.2.0/24", Scope::Documentation),
    ("192.88.99.0/24", Scope::Reserved),
    ("192.168.0.0/16", Scope::Private),
    ("198.18.0.0/15", Scope::Benchmarking),
    ("198.51.100.0/24", Scope::Documentation),
    ("203.0.113.0/24", Scope::Documentation),
    ("224.0.0.0/4", Scope::Multicast),
    ("240.0.0.0/4", Scope::Reserved),
];

const V6_RANGES: &[(&str, Scope)] = &[
    ("::/128", Scope::Unspecified),
    ("::1/128", Scope::Loopback),
    ("::/96", Scope::Reserved),
    ("64:ff9b:1::/48", Scope::Reserved),
    ("100::/64", Scope::Reserved),
    ("2001::/23", Scope::Reserved),
    ("2001:db8::/32", Scope::Documentation),
    ("2002::/16", Scope::Reserved),
    ("3fff::/20", Scope::Documentation),
    ("5f00::/16", Scope::Reserved),
    ("fc00::/7", Scope::UniqueLocal),
    ("fe80::/10", Scope::LinkLocal),
    ("fec0::/10", Scope::Reserved),
    ("ff00::/8", Scope::Multicast),
];

/// Classifies an address. IPv4-mapped IPv6 is classified as the IPv4 address it carries.
pub fn scope(ip: IpAddr) -> Scope {
    let ip = ip.to_canonical();
    let table = match ip {
        IpAddr::V4(_) => V4_RANGES,
        IpAddr::V6(_) => V6_RANGES,
    };
    // The most specific range wins (2001:db8::/32 is documentation inside reserved 2001::/23).
    table
        .iter()
        .filter_map(|(cidr, scope)| {
            let net: IpNet = cidr.parse().ok()?;
            net.contains(&ip).then_some((net.prefix_len(), *scope))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, s)| s)
        .unwrap_or(match ip {
            // Only 2000::/3 is allocated global unicast.
            IpAddr::V6(v6) if v6.segments()[0] & 0xe000 != 0x2000 => Scope::Reserved,
            _ => Scope::Global,
        })
}

/// Whether a server URL points into the admin's own network (a loopback, private or link-local
/// address, `localhost`, or a name without a dot): such a request never goes through a proxy,
/// since the proxy would see what only the admin's hosts may (the prompt, the report).
pub fn is_local_url(url: &str) -> bool {
    let Some(host) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<IpAddr>() {
        Ok(ip) => !scope(ip).is_global(),
        Err(_) => {
            let name = host.trim_end_matches('.');
            name == "localhost" || name.ends_with(".localhost") || !name.contains('.')
        }
    }
}

/// The configured zone an address falls in; the most specific CIDR wins.
pub fn zone_of(ip: IpAddr, zones: &[Zone]) -> Option<&str> {
    let ip = ip.to_canonical();
    zones
        .iter()
        .filter(|z| z.cidr.contains(&ip))
        .max_by_key(|z| z.cidr.prefix_len())
        .map(|z| z.name.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_urls_are_the_admins_own_servers() {
        for (url, want) in [
            ("http://127.0.0.1:11434", true),
            ("http://[::1]:11434", true),
            ("http://10.0.0.5", true),
            ("http://192.168.1.2:8080/ntfy", true),
            ("http://[fd00::1]", true),
            ("http://localhost:11434", true),
            ("http://ollama.localhost", true),
            ("http://ollama:11434", true),
            ("https://ntfy.sh", false),
            ("https://9.9.9.9", false),
            ("https://api.openai.com/v1", false),
            ("not a url", false),
        ] {
            assert_eq!(is_local_url(url), want, "{url}");
        }
    }

    fn s(ip: &str) -> Scope {
        scope(ip.parse().expect("test address"))
    }

    #[test]
    fn public_addresses_are_global() {
        for ip in [
            "8.8.8.8",
            "218.92.0.222",
            "1.1.1.1",
            "2606:4700::1111",
            "2a00:1450::1",
        ] {
            assert_eq!(s(ip), Scope::Global, "{ip}");
        }
    }

    #[test]
    fn non_global_addresses_are_named() {
        let cases = [
            ("10.1.2.3", Scope::Private),
            ("172.17.1.1", Scope::Private),
            ("192.168.0.223", Scope::Private),
            ("127.0.0.1", Scope::Loopback),
            ("169.254.10.1", Scope::LinkLocal),
            ("100.64.1.1", Scope::SharedCgnat),
            ("192.0.2.10", Scope::Documentation),
            ("198.51.100.7", Scope::Documentation),
            ("203.0.113.9", Scope::Documentation),
            ("198.18.5.5", Scope::Benchmarking),
            ("224.0.0.251", Scope::Multicast),
            ("255.255.255.255", Scope::Reserved),
            ("0.0.0.0", Scope::Unspecified),
            ("::1", Scope::Loopback),
            ("::", Scope::Unspecified),
            ("fe80::1", Scope::LinkLocal),
            ("fd00::1", Scope::UniqueLocal),
            ("2001:db8::1", Scope::Documentation),
            ("ff02::1", Scope::Multicast),
            ("::ffff:10.0.0.1", Scope::Private),
            ("4000::1", Scope::Reserved),
        ];
        for (ip, want) in cases {
            assert_eq!(s(ip), want, "{ip}");
            assert!(!want.is_global());
        }
    }

    #[test]
    fn zones_most_specific_wins() {
        let zones = vec![
            Zone {
                name: "LAN".into(),
                cidr: "10.0.0.0/8".parse().unwrap(),
            },
            Zone {
                name: "Servers".into(),
                cidr: "10.0.0.0/24".parse().unwrap(),
            },
        ];
        assert_eq!(
            zone_of("10.0.0.40".parse().unwrap(), &zones),
            Some("Servers")
        );
        assert_eq!(zone_of("10.9.0.1".parse().unwrap(), &zones), Some("LAN"));
        assert_eq!(zone_of("8.8.8.8".parse().unwrap(), &zones), None);
        assert_eq!(
            zone_of("::ffff:10.0.0.1".parse().unwrap(), &zones),
            Some("Servers")
        );
    }

    #[test]
    fn only_global_is_global_and_every_scope_has_its_words() {
        // Pinned here so that this module does not rely on other modules' tests for it.
        let all = [
            (Scope::Global, "public (globally routable)"),
            (Scope::Private, "private (RFC 1918)"),
            (Scope::Loopback, "loopback"),
            (Scope::LinkLocal, "link-local"),
            (Scope::SharedCgnat, "shared address space (CGNAT, RFC 6598)"),
            (Scope::Documentation, "documentation range"),
            (Scope::Benchmarking, "benchmarking range (RFC 2544)"),
            (Scope::Multicast, "multicast"),
            (Scope::Reserved, "reserved"),
            (Scope::Unspecified, "unspecified"),
            (Scope::UniqueLocal, "IPv6 unique local (fc00::/7)"),
        ];
        for (scope, words) in all {
            assert_eq!(scope.describe(), words);
            assert_eq!(scope.is_global(), scope == Scope::Global, "{words}");
        }
    }
}
