//! The Tor Project's bulk exit list: is the address a Tor exit right now? An anonymiser is not
//! proof of malice, but it means the address says nothing about who is behind it.
//!
//! `GET {url}` (the list itself) returns one IPv4 address a line. The list is downloaded once and
//! kept for an hour under `state_dir/cache/tor/`; the address is looked up locally, so it is never
//! sent anywhere. When a download fails, a list up to a day old is used and marked stale.

use std::collections::HashSet;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::{Answer, Ctx, Data, Finding, Lookup, Provider, Source};
use crate::investigate::cache::timestamp;
use crate::investigate::risk::Signals;

/// How reports and the risk reasons name it.
pub const LABEL: &str = "Tor exit list";

source_config!("https://check.torproject.org/torbulkexitlist", budget(0, 0));

impl Source for Config {
    fn provider(&self) -> Provider {
        Provider::Tor
    }
    /// The list is kept as a whole (an hour), not per address.
    fn cached_per_ip(&self) -> bool {
        false
    }
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a> {
        Box::pin(lookup(self, ctx, ip))
    }
}

/// A downloaded list is used this long before it is fetched again.
pub const LIST_TTL: Duration = Duration::from_secs(3600);
/// When the download fails, a list up to this old is still used (and marked stale).
pub const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// The address's standing in the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Membership {
    pub exit: bool,
    /// Addresses in the list.
    pub list_size: usize,
    /// When the list was downloaded (RFC 3339).
    pub list_fetched_at: Option<String>,
    /// True when the list is older than an hour because the download failed.
    pub stale: bool,
}

impl Membership {
    pub fn summary(&self) -> String {
        let mut s = if self.exit {
            "a Tor exit node".to_string()
        } else {
            "not a Tor exit".to_string()
        };
        s.push_str(&format!(" ({} exits in the list", self.list_size));
        if let Some(at) = &self.list_fetched_at {
            s.push_str(&format!(", fetched {at}"));
        }
        if self.stale {
            s.push_str(", stale: the download failed");
        }
        s.push(')');
        s
    }
}

impl Answer for Membership {
    fn summary(&self) -> String {
        Membership::summary(self)
    }

    fn signals(&self, label: &'static str) -> Signals {
        Signals {
            tor: self.exit,
            ..Signals::from(label)
        }
    }
}

/// The addresses in a list body; lines that are not an address (comments, HTML) are skipped.
pub fn parse(body: &str) -> HashSet<IpAddr> {
    body.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter_map(|w| w.parse::<IpAddr>().ok())
        .map(|ip| ip.to_canonical())
        .collect()
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn age(t: SystemTime) -> Duration {
    SystemTime::now().duration_since(t).unwrap_or_default()
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

async fn lookup(cfg: &Config, ctx: &Ctx, ip: IpAddr) -> Finding {
    let path = ctx.cache.tor_list_path();
    let cached = modified(&path).and_then(|t| {
        let text = std::fs::read_to_string(&path).ok()?;
        Some((t, parse(&text)))
    });
    let (list, fetched, stale) = match cached {
        Some((t, list)) if age(t) < LIST_TTL && !list.is_empty() => (list, t, false),
        cached => match download(cfg, ctx).await {
            Ok((body, list)) => {
                ctx.cache.write(&path, body.as_bytes());
                (list, SystemTime::now(), false)
            }
            Err(failure) => match cached {
                Some((t, list)) if age(t) < STALE_LIMIT && !list.is_empty() => (list, t, true),
                _ => return failure,
            },
        },
    };
    if ip.is_ipv6() && !list.iter().any(IpAddr::is_ipv6) {
        return Finding::skipped("the Tor exit list holds IPv4 addresses only");
    }
    Finding::Ok {
        data: Data::Tor(Membership {
            exit: list.contains(&ip.to_canonical()),
            list_size: list.len(),
            list_fetched_at: Some(timestamp(secs(fetched))),
            stale,
        }),
    }
}

async fn download(cfg: &Config, ctx: &Ctx) -> Result<(String, HashSet<IpAddr>), Finding> {
    let req = ctx.http.get(&cfg.url).timeout(cfg.timeout());
    let reply = ctx.send(req).await?;
    if reply.status != 200 {
        return Err(ctx.failure(&reply, false));
    }
    let list = parse(&reply.body);
    if list.is_empty() {
        return Err(Finding::failed("the exit list holds no addresses"));
    }
    Ok((reply.body, list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sample_list_parses() {
        let text = std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/torbulkexitlist.txt",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let list = parse(&text);
        assert_eq!(list.len(), 6);
        assert!(list.contains(&"185.220.101.33".parse().unwrap()));
        assert!(parse("<html>\n<body>captive portal</body>").is_empty());
        let m = Membership {
            exit: true,
            list_size: 6,
            list_fetched_at: None,
            stale: false,
        };
        assert_eq!(m.summary(), "a Tor exit node (6 exits in the list)");
    }
}
