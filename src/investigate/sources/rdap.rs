//! RDAP, the registries' JSON whois: which network the address belongs to, who registered it and
//! where to send an abuse report. Context for the analyst, not reputation.
//!
//! `GET {url}/ip/{ip}` on a redirector (rdap.org answers 302 to the right registry), following up
//! to [`MAX_REDIRECTS`] redirects by hand: only the address travels, never a header of ours. A 404
//! with an RFC 9083 error body means no registry holds the address.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::lenient::{self, BodyError};
use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::util::join_url;

/// How reports name it.
pub const LABEL: &str = "RDAP";

source_config!("https://rdap.org", budget(0, 0));

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Rdap
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// Redirect hops followed before giving up.
pub const MAX_REDIRECTS: usize = 5;

/// The network object, in our field names.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Network {
    pub name: Option<String>,
    pub handle: Option<String>,
    /// `8.8.8.0/24`; from `cidr0_cidrs`, else the start and end addresses.
    pub cidr: Vec<String>,
    pub country: Option<String>,
    /// The registrant's name (`fn` of the entity with role `registrant`).
    pub registrant: Option<String>,
    /// The abuse contact's email.
    pub abuse_email: Option<String>,
    /// Origin AS numbers (ARIN only).
    pub origin_as: Vec<String>,
    /// The registry's whois server (`port43`), e.g. `whois.ripe.net`.
    pub registry: Option<String>,
}

impl Network {
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        match (&self.name, &self.handle) {
            (Some(n), Some(h)) if n != h => parts.push(format!("network {n} ({h})")),
            (Some(n), _) | (None, Some(n)) => parts.push(format!("network {n}")),
            (None, None) => {}
        }
        if !self.cidr.is_empty() {
            parts.push(self.cidr.join(", "));
        }
        if let Some(r) = &self.registrant {
            parts.push(format!("registrant {r}"));
        }
        if let Some(c) = &self.country {
            parts.push(format!("country {c}"));
        }
        if !self.origin_as.is_empty() {
            parts.push(format!("origin AS{}", self.origin_as.join(", AS")));
        }
        if let Some(a) = &self.abuse_email {
            parts.push(format!("abuse contact {a}"));
        }
        if let Some(r) = &self.registry {
            parts.push(format!("registry {r}"));
        }
        if parts.is_empty() {
            "no details".into()
        } else {
            parts.join("; ")
        }
    }
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    handle: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        rename = "startAddress"
    )]
    start: Option<String>,
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        rename = "endAddress"
    )]
    end: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    country: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    port43: Option<String>,
    #[serde(default)]
    cidr0_cidrs: Value,
    #[serde(default)]
    entities: Value,
    #[serde(default, deserialize_with = "lenient::strings")]
    arin_originas0_originautnums: Vec<String>,
}

impl Answer for Network {
    fn summary(&self) -> String {
        Network::summary(self)
    }

    fn abuse_contact(&self) -> Option<&str> {
        self.abuse_email.as_deref()
    }
}

/// Parses a 200 body (an `ip network` object).
pub fn parse(body: &str) -> Result<Network, BodyError> {
    let w: Wire = lenient::object(body)?;
    let mut cidr: Vec<String> = w
        .cidr0_cidrs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let prefix = lenient::as_string(&c["v4prefix"])
                .or_else(|| lenient::as_string(&c["v6prefix"]))?;
            let len = lenient::as_u64(&c["length"])?;
            Some(format!("{prefix}/{len}"))
        })
        .collect();
    if cidr.is_empty() {
        if let (Some(s), Some(e)) = (&w.start, &w.end) {
            cidr.push(format!("{s} - {e}"));
        }
    }
    let entities = w.entities.as_array().cloned().unwrap_or_default();
    Ok(Network {
        name: w.name,
        handle: w.handle,
        cidr,
        country: w.country,
        registrant: find_entity(&entities, "registrant").and_then(|e| vcard(e, "fn")),
        abuse_email: find_entity(&entities, "abuse").and_then(|e| vcard(e, "email")),
        origin_as: w.arin_originas0_originautnums,
        registry: w.port43,
    })
}

/// The first entity with `role`, searching nested entities too (ARIN nests the abuse contact
/// inside the registrant; RIPE lists it at the top).
fn find_entity<'a>(entities: &'a [Value], role: &str) -> Option<&'a Value> {
    for e in entities {
        let has_role = e["roles"]
            .as_array()
            .is_some_and(|roles| roles.iter().any(|r| r.as_str() == Some(role)));
        if has_role {
            return Some(e);
        }
    }
    entities.iter().find_map(|e| {
        e["entities"]
            .as_array()
            .and_then(|nested| find_entity(nested, role))
    })
}

/// A property of an entity's jCard: `["vcard", [[name, params, type, value], ...]]`.
fn vcard(entity: &Value, property: &str) -> Option<String> {
    entity["vcardArray"][1]
        .as_array()?
        .iter()
        .find(|p| p[0].as_str() == Some(property))
        .and_then(|p| lenient::as_string(&p[3]))
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let mut url = join_url(&cfg.url, &format!("ip/{ip}"));
    // After a redirect to another host: the client pinned to the addresses it was checked at.
    let mut pinned: Option<reqwest::Client> = None;
    for _ in 0..=MAX_REDIRECTS {
        let req = pinned
            .as_ref()
            .unwrap_or(&ctx.http)
            .get(&url)
            .header(
                reqwest::header::ACCEPT,
                "application/rdap+json, application/json",
            )
            .timeout(cfg.timeout());
        let reply = match ctx.send(req).await {
            Ok(r) => r,
            Err(f) => return f,
        };
        match reply.status {
            200 => {
                return match parse(&reply.body) {
                    Ok(n) => Finding::Ok {
                        data: Data::Rdap(n),
                    },
                    Err(e) => ctx.unreadable(&reply, e),
                }
            }
            301 | 302 | 303 | 307 | 308 => {
                let current = reqwest::Url::parse(&url).ok();
                let next = reply.location.as_deref().and_then(|loc| {
                    current
                        .as_ref()?
                        .join(loc)
                        .ok()
                        .filter(|u| redirect_allowed(current.as_ref(), u))
                });
                match next {
                    Some(next) if same_host(current.as_ref(), &next) => url = next.to_string(),
                    Some(next) => match global_addresses(&next).await {
                        Ok(addrs) => {
                            let host = next.host_str().unwrap_or_default().to_string();
                            match ctx.pinned(&host, &addrs) {
                                Ok(client) => pinned = Some(client),
                                Err(e) => return Finding::failed(format!("redirect: {e}")),
                            }
                            url = next.to_string();
                        }
                        Err(why) => {
                            return Finding::failed(format!(
                                "HTTP {} to a host refused: {why}",
                                reply.status
                            ))
                        }
                    },
                    None => {
                        return Finding::failed(format!(
                            "HTTP {} without a usable Location",
                            reply.status
                        ))
                    }
                }
            }
            404 => {
                return Finding::NotFound {
                    detail: ctx.redact(&reply.message()),
                }
            }
            _ => return ctx.failure(&reply, false),
        }
    }
    Finding::failed(format!("more than {MAX_REDIRECTS} redirects"))
}

/// A redirect may stay on the same host (any scheme the base URL uses), or go to another host
/// over https whose name is not an address outside the global Internet: an answer must never
/// steer a request to a private, loopback or link-local address, nor down to plain http.
fn redirect_allowed(from: Option<&reqwest::Url>, to: &reqwest::Url) -> bool {
    if same_host(from, to) {
        return matches!(to.scheme(), "http" | "https");
    }
    if to.scheme() != "https" {
        return false;
    }
    let Some(host) = to.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => crate::investigate::scope::scope(ip).is_global(),
        Err(_) => {
            let host = host.to_ascii_lowercase();
            let host = host.trim_end_matches('.');
            host != "localhost" && !host.ends_with(".localhost")
        }
    }
}

fn same_host(from: Option<&reqwest::Url>, to: &reqwest::Url) -> bool {
    from.is_some_and(|f| {
        f.host_str() == to.host_str() && f.port_or_known_default() == to.port_or_known_default()
    })
}

/// The addresses a redirect target's host resolves to, when every one of them is global: a
/// name must not lead a request to this host, the LAN or a cloud metadata service either.
async fn global_addresses(to: &reqwest::Url) -> Result<Vec<std::net::SocketAddr>, String> {
    let host = to
        .host_str()
        .ok_or("no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = to.port_or_known_default().unwrap_or(443);
    let name = host.clone();
    let addrs: Vec<std::net::SocketAddr> = tokio::task::spawn_blocking(move || {
        std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), port)).map(Iterator::collect)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("{host} does not resolve ({e})"))?;
    match addrs
        .iter()
        .find(|a| !crate::investigate::scope::scope(a.ip()).is_global())
    {
        _ if addrs.is_empty() => Err(format!("{host} has no address")),
        Some(inside) => Err(format!(
            "{host} resolves to {}, which is not a global address",
            inside.ip()
        )),
        None => Ok(addrs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::fixture;

    /// A name is judged by what it resolves to: one that leads to this host (a trailing dot, a
    /// name from /etc/hosts) is refused, or cannot be resolved at all; a global address passes.
    #[tokio::test]
    async fn a_redirect_target_must_resolve_to_global_addresses_only() {
        async fn check(to: &str) -> Result<Vec<std::net::SocketAddr>, String> {
            global_addresses(&reqwest::Url::parse(to).unwrap()).await
        }
        for inside in [
            "https://localhost./ip/x",
            "https://ip6-localhost/ip/x",
            "https://127.0.0.1/ip/x",
            "https://[::1]:8443/ip/x",
            "https://169.254.169.254/latest",
            "https://no-such-host.invalid/ip/x",
        ] {
            assert!(check(inside).await.is_err(), "{inside}");
        }
        let why = check("https://127.0.0.1/ip/x").await.unwrap_err();
        assert!(
            why.contains("127.0.0.1, which is not a global address"),
            "{why}"
        );
        let addrs = check("https://8.8.8.8/ip/x")
            .await
            .expect("a global address");
        assert_eq!(addrs, vec!["8.8.8.8:443".parse().unwrap()]);
        // The name check alone catches the trailing dot too.
        let from = reqwest::Url::parse("https://rdap.org/ip/1").ok();
        let to = reqwest::Url::parse("https://LOCALHOST./x").unwrap();
        assert!(!redirect_allowed(from.as_ref(), &to));
    }

    #[test]
    fn redirects_never_lead_inside() {
        let from = reqwest::Url::parse("https://rdap.org/ip/203.0.113.5").ok();
        let ok = |to: &str| redirect_allowed(from.as_ref(), &reqwest::Url::parse(to).unwrap());
        assert!(ok("https://rdap.db.ripe.net/ip/203.0.113.5"));
        assert!(ok("https://rdap.org/other"));
        assert!(
            !ok("http://rdap.arin.net/registry/ip/203.0.113.5"),
            "no downgrade to http"
        );
        assert!(!ok("https://127.0.0.1/ip/x"));
        assert!(!ok("https://169.254.169.254/latest/meta-data"));
        assert!(!ok("https://[fd00::1]/x"));
        assert!(!ok("https://10.0.0.5/x"));
        assert!(!ok("https://localhost/x"));
        assert!(ok("https://8.8.8.8/x"));
    }

    #[test]
    fn arin_and_ripe_samples_parse() {
        let arin = parse(&fixture("rdap_arin.json")).unwrap();
        assert_eq!(arin.name.as_deref(), Some("GOGL"));
        assert_eq!(arin.handle.as_deref(), Some("NET-8-8-8-0-2"));
        assert_eq!(arin.cidr, vec!["8.8.8.0/24"]);
        assert_eq!(arin.registrant.as_deref(), Some("Google LLC"));
        assert_eq!(
            arin.abuse_email.as_deref(),
            Some("network-abuse@google.com")
        );
        assert_eq!(arin.country, None, "ARIN omits the country");
        assert!(arin
            .summary()
            .contains("abuse contact network-abuse@google.com"));

        let ripe = parse(&fixture("rdap_ripe.json")).unwrap();
        assert_eq!(ripe.country.as_deref(), Some("DE"));
        assert_eq!(ripe.abuse_email.as_deref(), Some("abuse@whalebone.io"));
        assert_eq!(ripe.registrant.as_deref(), Some("Whalebone, s.r.o."));
        assert_eq!(ripe.registry.as_deref(), Some("whois.ripe.net"));
        assert!(parse("<html>").is_err());
    }
}
