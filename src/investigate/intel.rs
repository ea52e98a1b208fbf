//! The investigation of a source address: every threat-intelligence source and the DNS blocklists,
//! asked at once, each bounded by its own timeout and all by one deadline, into one [`Intel`] value.
//!
//! A source that fails is a finding like any other ("timed out after 5000 ms", "bad key"), never
//! an error that stops the others. Nothing is ever sent for an address that is not globally
//! routable, and nothing but the address itself is sent for one that is. Answers are cached per
//! address and source under `state_dir/cache/`; a rate limit or a rejected key pauses that source
//! instead of spending the quota again on the next alert.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use crate::investigate::dnsbl::{self, Listing};
use crate::investigate::risk::{self, Risk};
use crate::investigate::scope::{self, Scope};
use crate::investigate::sources::{self, millis, Ctx, Finding, Provider, Source, SourceResult};
use crate::investigate::Setup;
use crate::util::error::chain as error_chain;

/// Added to the longest per-source timeout to form the investigation's outer deadline.
pub(super) const DEADLINE_GRACE: Duration = Duration::from_millis(500);

/// How far the investigation of the source address went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IntelStatus {
    /// The sources were asked (or answered from the cache).
    Investigated,
    /// The address is not globally routable: nothing was sent anywhere.
    NotSent,
    /// The alert names no source address.
    NoAddress,
    /// Lookups were not run in this view (e.g. `ai-analyzer prompt`).
    NotRun,
}

/// Everything learned about the source address from outside sources, and the score built on it.
#[derive(Debug, Clone, Serialize)]
pub struct Intel {
    pub status: IntelStatus,
    /// Why nothing was asked, or a remark on the run (e.g. the deadline was hit).
    pub note: Option<String>,
    /// One entry per source, in [`Provider::ALL`] order (empty when nothing was asked).
    pub sources: Vec<SourceResult>,
    /// One entry per `dnsbl.zones` entry (empty when DNSBL is off or nothing was asked).
    pub dnsbl: Vec<Listing>,
    pub risk: Risk,
    /// Wall time of the whole investigation.
    pub elapsed_ms: u64,
}

impl Intel {
    /// Intel that was not gathered, with the reason.
    pub fn without_lookups(status: IntelStatus, note: impl Into<String>) -> Self {
        let note = note.into();
        Intel {
            status,
            risk: risk::assess(&[], &[]),
            note: Some(note),
            sources: Vec::new(),
            dnsbl: Vec::new(),
            elapsed_ms: 0,
        }
    }

    /// For an address that must never be sent anywhere: says so and names its zone.
    pub fn not_sent(ip: IpAddr, scope: Scope, zone: Option<&str>) -> Self {
        let zone = match zone {
            Some(z) => format!("it is in the local zone {z}"),
            None => "no configured network zone contains it".to_string(),
        };
        Intel::without_lookups(
            IntelStatus::NotSent,
            format!(
                "{ip} is a {} address: it is never sent to outside services; {zone}",
                scope.describe()
            ),
        )
    }

    /// Intel built from findings (used by the investigation and by tests on recorded answers).
    pub fn from_findings(sources: Vec<SourceResult>, dnsbl: Vec<Listing>) -> Self {
        let risk = risk::assess(&sources::signals_of(&sources), &dnsbl);
        Intel {
            status: IntelStatus::Investigated,
            note: None,
            sources,
            dnsbl,
            risk,
            elapsed_ms: 0,
        }
    }

    /// The entry of one source, if it was part of this run.
    pub fn source(&self, provider: Provider) -> Option<&SourceResult> {
        self.sources.iter().find(|s| s.provider == provider)
    }

    /// The lines of the attacker profile: every source, the blocklists, the score.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(note) = &self.note {
            lines.push(note.clone());
        }
        lines.extend(self.sources.iter().map(SourceResult::line));
        if !self.dnsbl.is_empty() {
            lines.push(format!("DNS blocklists: {}", dnsbl_line(&self.dnsbl)));
        }
        lines
    }

    /// The whole profile as text, one fact a line; empty when nothing was asked.
    pub fn profile(&self) -> String {
        let mut out = String::new();
        for l in self.lines() {
            let _ = writeln!(out, "- {l}");
        }
        out
    }
}

/// `zen.spamhaus.org listed (SBL, XBL); bl.spamcop.net not listed; ...`
pub fn dnsbl_line(listings: &[Listing]) -> String {
    listings
        .iter()
        .map(Listing::summary)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a source is not asked at all in this run, if it is not.
fn not_asked(source: &dyn Source, ctx: &Ctx, ip: IpAddr) -> Option<Finding> {
    let key = source.provider().key();
    if !source.enabled() {
        return Some(Finding::skipped(format!(
            "disabled (providers.{key}.enabled = false)"
        )));
    }
    if source.needs_key() && source.key_in_use().is_none() {
        let also = match source.without_key() {
            "skipped" => String::new(),
            note => format!("; {note}"),
        };
        return Some(Finding::NotConfigured {
            reason: format!(
                "no API key (providers.{key}.api_key or AI_ANALYZER_{}_API_KEY){also}",
                key.to_uppercase()
            ),
        });
    }
    source.not_asked(ip, ctx)
}

/// A fresh answer another manager node shared, kept in this node's cache too.
async fn shared_answer(ctx: &Ctx, provider: Provider, ip: IpAddr) -> Option<Finding> {
    use crate::investigate::cluster::{note, SHARED_LIMIT};
    let shared = ctx.shared.as_ref()?;
    let key = provider.key();
    match tokio::time::timeout(SHARED_LIMIT, shared.cached(key, &ip.to_string())).await {
        Ok(Ok(entry)) => {
            note(true, "");
            ctx.cache.adopt(provider, ip, entry?)
        }
        Ok(Err(e)) => {
            note(false, &ctx.redact(&e));
            None
        }
        Err(_) => {
            note(false, &crate::investigate::cluster::no_answer());
            None
        }
    }
}

/// Shares the answer just kept with the other manager nodes.
async fn share_answer(ctx: &Ctx, provider: Provider, ip: IpAddr) {
    use crate::investigate::cluster::{note, SHARED_LIMIT};
    let (Some(shared), Some((entry, expires))) =
        (ctx.shared.as_ref(), ctx.cache.shareable(provider, ip))
    else {
        return;
    };
    let address = ip.to_string();
    let sharing = shared.share(provider.key(), &address, entry, expires);
    match tokio::time::timeout(SHARED_LIMIT, sharing).await {
        Ok(Ok(())) => note(true, ""),
        Ok(Err(e)) => note(false, &ctx.redact(&e)),
        Err(_) => note(false, &crate::investigate::cluster::no_answer()),
    }
}

/// Asks one source, through the cache and the pause list, bounded by its timeout.
async fn run_one(ctx: Arc<Ctx>, provider: Provider, ip: IpAddr, timeout: Duration) -> SourceResult {
    let started = Instant::now();
    let source = ctx.providers.get(provider);
    if source.cached_per_ip() {
        if let Some(finding) = ctx.cache.load(provider, ip) {
            return SourceResult {
                provider,
                finding,
                elapsed_ms: millis(started.elapsed()),
                cached: true,
            };
        }
    }
    // Another manager node may have asked already.
    if source.cached_per_ip() {
        if let Some(finding) = shared_answer(&ctx, provider, ip).await {
            return SourceResult {
                provider,
                finding,
                elapsed_ms: millis(started.elapsed()),
                cached: true,
            };
        }
    }
    if let Some(paused) = ctx.cache.pause(provider, source.key_in_use()) {
        return SourceResult {
            provider,
            finding: paused,
            elapsed_ms: 0,
            cached: false,
        };
    }
    // The source's own budget (its free tier's quota), then the host-wide ceiling. A source kept
    // as a whole (the Tor list) costs nothing per address. Neither is cached: the next alert
    // asks again.
    let spent = if source.cached_per_ip() {
        ctx.spend(provider, source.budget()).await
    } else {
        None
    };
    if let Some(why) = spent {
        return SourceResult {
            provider,
            finding: Finding::skipped(why),
            elapsed_ms: 0,
            cached: false,
        };
    }
    if source.cached_per_ip() && !ctx.lookups.take(crate::util::now_ms()).unwrap_or(true) {
        return SourceResult {
            provider,
            finding: Finding::skipped(format!(
                "not asked: the host-wide limit of {} threat-intel requests a minute is reached \
                 (limits.lookups_per_minute)",
                ctx.lookups.per_minute()
            )),
            elapsed_ms: 0,
            cached: false,
        };
    }
    let finding = match tokio::time::timeout(timeout, source.lookup(&ctx, ip)).await {
        Ok(Finding::TimedOut { .. }) | Err(_) => Finding::TimedOut {
            after_ms: millis(started.elapsed()),
        },
        Ok(f) => f,
    };
    let finding = ctx.cache.record(
        provider,
        source.cached_per_ip(),
        ip,
        finding,
        source.key_in_use(),
    );
    if source.cached_per_ip() && matches!(finding, Finding::Ok { .. } | Finding::NotFound { .. }) {
        share_answer(&ctx, provider, ip).await;
    }
    SourceResult {
        provider,
        finding,
        elapsed_ms: millis(started.elapsed()),
        cached: false,
    }
}

enum Done {
    Source(Box<SourceResult>),
    Dnsbl(Vec<Listing>),
}

/// Investigates one address: every enabled source and every DNSBL zone at once. Never fails: each
/// source's outcome is in the result, and the whole run ends by the longest per-source timeout
/// (plus [`DEADLINE_GRACE`]), never later than `general.deadline_secs`.
pub async fn investigate_ip(ip: IpAddr, setup: &Setup) -> Intel {
    let ip = ip.to_canonical();
    let scope = scope::scope(ip);
    if !scope.is_global() {
        return Intel::not_sent(ip, scope, scope::zone_of(ip, &setup.zones));
    }
    let started = Instant::now();
    let ctx = match Ctx::new(setup) {
        Ok(ctx) => Arc::new(ctx),
        Err(e) => {
            let reason = format!("cannot build the HTTP client: {}", error_chain(&e));
            let sources = Provider::ALL
                .iter()
                .map(|p| SourceResult::new(*p, Finding::failed(reason.clone())))
                .collect();
            return Intel::from_findings(sources, Vec::new());
        }
    };
    let mut run = FanOut::default();
    run.spawn_sources(&ctx, ip);
    let zones = if setup.dnsbl.enabled {
        setup.dnsbl.zones.clone()
    } else {
        Vec::new()
    };
    if !zones.is_empty() {
        run.spawn_dnsbl(&ctx, ip, setup);
    }
    let deadline =
        (run.longest + DEADLINE_GRACE).min(Duration::from_secs(setup.deadline_secs.max(1)));
    let deadline_hit = run.collect(deadline).await;
    let mut intel = run.finish(millis(deadline), &zones);
    if deadline_hit {
        intel.note = Some(format!(
            "the investigation stopped at its deadline ({} ms); unfinished lookups are marked timed out",
            millis(deadline)
        ));
    }
    intel.elapsed_ms = millis(started.elapsed());
    log_outcome(ip, &intel);
    intel
}

/// The lookups of one investigation, running side by side.
#[derive(Default)]
struct FanOut {
    /// One result per source, in [`Provider::ALL`] order, as they come in.
    slots: Vec<Option<SourceResult>>,
    /// Which task asks which source (to name the source of a task that panicked).
    tasks: HashMap<tokio::task::Id, Provider>,
    set: JoinSet<Done>,
    /// The longest timeout of anything started.
    longest: Duration,
    listings: Option<Vec<Listing>>,
}

impl FanOut {
    /// Starts every source that is to be asked; the others get their finding at once.
    fn spawn_sources(&mut self, ctx: &Arc<Ctx>, ip: IpAddr) {
        self.slots = vec![None; Provider::ALL.len()];
        for provider in Provider::ALL {
            let source = ctx.providers.get(provider);
            if let Some(finding) = not_asked(source, ctx, ip) {
                self.slots[provider.index()] = Some(SourceResult::new(provider, finding));
                continue;
            }
            let timeout = source.timeout();
            self.longest = self.longest.max(timeout);
            let ctx = Arc::clone(ctx);
            let handle = self.set.spawn(async move {
                Done::Source(Box::new(run_one(ctx, provider, ip, timeout).await))
            });
            self.tasks.insert(handle.id(), provider);
        }
    }

    /// Starts the DNS blocklist queries, all zones in one task.
    fn spawn_dnsbl(&mut self, ctx: &Arc<Ctx>, ip: IpAddr, setup: &Setup) {
        self.longest = self
            .longest
            .max(Duration::from_secs(setup.dnsbl.timeout_secs));
        let ctx = Arc::clone(ctx);
        let cfg = setup.dnsbl.clone();
        self.set
            .spawn(async move { Done::Dnsbl(dnsbl::check(ip, &cfg, Some(&ctx.cache)).await) });
    }

    /// Takes results as they come until all are in or `deadline` has passed; true on the latter.
    async fn collect(&mut self, deadline: Duration) -> bool {
        let end = tokio::time::Instant::now() + deadline;
        loop {
            match tokio::time::timeout_at(end, self.set.join_next_with_id()).await {
                Ok(Some(Ok((_, Done::Source(r))))) => {
                    let i = r.provider.index();
                    self.slots[i] = Some(*r);
                }
                Ok(Some(Ok((_, Done::Dnsbl(l))))) => self.listings = Some(l),
                Ok(Some(Err(e))) => {
                    // A task that panicked: its source failed, the others go on.
                    if let Some(p) = self.tasks.get(&e.id()) {
                        self.slots[p.index()] = Some(SourceResult::new(
                            *p,
                            Finding::failed("internal error in this source's lookup"),
                        ));
                    } else {
                        self.listings = Some(Vec::new());
                    }
                }
                Ok(None) => return false,
                Err(_) => return true,
            }
        }
    }

    /// The intel: what came in, and "timed out" for whatever had not when the deadline passed.
    /// Whatever is still running is dropped (and aborted) with the set.
    fn finish(self, waited: u64, zones: &[String]) -> Intel {
        let sources: Vec<SourceResult> = Provider::ALL
            .iter()
            .zip(self.slots)
            .map(|(p, slot)| {
                slot.unwrap_or(SourceResult {
                    provider: *p,
                    finding: Finding::TimedOut { after_ms: waited },
                    elapsed_ms: waited,
                    cached: false,
                })
            })
            .collect();
        let dnsbl = match self.listings {
            Some(l) => l,
            None => zones
                .iter()
                .map(|z| Listing::unknown(z, format!("no answer within {waited} ms")))
                .collect(),
        };
        Intel::from_findings(sources, dnsbl)
    }
}

/// One log line per investigation: the time, the score, and the sources that gave no answer.
fn log_outcome(ip: IpAddr, intel: &Intel) {
    let unanswered: Vec<String> = intel
        .sources
        .iter()
        .filter(|s| {
            matches!(
                s.finding,
                Finding::TimedOut { .. }
                    | Finding::Failed { .. }
                    | Finding::RateLimited { .. }
                    | Finding::BadKey { .. }
            )
        })
        .map(|s| format!("{} {}", s.provider.key(), s.finding.status()))
        .collect();
    tracing::info!(
        "investigated {ip} in {} ms: risk {}{}",
        intel.elapsed_ms,
        intel.risk.summary(),
        if unanswered.is_empty() {
            String::new()
        } else {
            format!("; no answer from {}", unanswered.join(", "))
        }
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    #[tokio::test]
    async fn non_global_addresses_are_never_investigated() {
        let mut settings = Settings::default();
        settings.general.state_dir = std::path::PathBuf::from("/nonexistent/never/used");
        settings.network.zones.push(crate::config::Zone {
            name: "LAN".into(),
            cidr: "10.0.0.0/8".parse().unwrap(),
        });
        for ip in [
            "10.1.2.3",
            "127.0.0.1",
            "100.64.0.1",
            "fe80::1",
            "fd00::1",
            "2001:db8::1",
        ] {
            let intel = investigate_ip(ip.parse().unwrap(), &settings.investigation()).await;
            assert_eq!(intel.status, IntelStatus::NotSent, "{ip}");
            assert!(intel.sources.is_empty() && intel.dnsbl.is_empty(), "{ip}");
            assert!(intel.note.as_deref().unwrap_or("").contains("never sent"));
        }
        let intel = investigate_ip("10.1.2.3".parse().unwrap(), &settings.investigation()).await;
        assert!(intel.note.unwrap().contains("local zone LAN"));
    }
}
