//! What outside sources said, kept under `state_dir/cache/` so that the next alert from the same
//! address costs no quota, and the pauses that keep a rate-limited or key-rejected source from
//! being asked again on every alert.
//!
//! Layout: `ti/<provider>/<ip>.json` (answers: data or "not found"; failures are never cached),
//! `pause/<provider>.json`, `dnsbl/<ip>@<zone hash>.json`, `tor/exit-list.txt`. Files are written
//! atomically (a crash leaves the old file or the new one; see [`write_replace`]), and a file that
//! does not parse is ignored and later overwritten. No file holds a secret: a pause remembers only an HMAC of the key
//! it was for, under a random secret of this host readable by root alone, so that a new key
//! lifts it and nobody who reads the cache can test a guessed key against it.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::sources::{Data, Finding, Provider};
use crate::investigate::dnsbl::Listing;
use crate::util::fsutil;
use crate::util::secret::Secret;

/// A 429 without `Retry-After` pauses the source this long.
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(15 * 60);
/// A `Retry-After` below this is raised to it (Shodan has been seen sending `Retry-After: 0`).
pub const MIN_PAUSE: Duration = Duration::from_secs(60);
/// A `Retry-After` above this is cut to it.
pub const MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);
/// A rejected key pauses its source for the cache TTL, and at least this long (or until the key
/// changes).
pub const MIN_BAD_KEY_PAUSE: Duration = Duration::from_secs(3600);

const VERSION: u64 = 1;

/// The cache directory and TTL of one run.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    ttl: Duration,
}

#[derive(Serialize, Deserialize)]
struct Entry {
    version: u64,
    provider: String,
    ip: String,
    fetched_at: u64,
    /// `ok` or `not_found`.
    status: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    detail: String,
}

#[derive(Serialize, Deserialize)]
struct Pause {
    version: u64,
    provider: String,
    until: u64,
    /// `rate_limited` or `bad_key`.
    kind: String,
    #[serde(default)]
    http_status: u16,
    #[serde(default)]
    detail: String,
    /// The key in use when the pause began, as [`Cache::key_id`] names it; empty for keyless
    /// requests.
    #[serde(default)]
    key_id: String,
}

#[derive(Serialize, Deserialize)]
struct ListingEntry {
    version: u64,
    ip: String,
    fetched_at: u64,
    listing: Listing,
}

impl Cache {
    /// A cache in `dir` whose answers are fresh for `ttl` (zero: nothing is kept).
    pub fn new(dir: PathBuf, ttl: Duration) -> Self {
        Cache { dir, ttl }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn answer_path(&self, provider: Provider, ip: IpAddr) -> PathBuf {
        self.dir
            .join("ti")
            .join(provider.key())
            .join(format!("{}.json", file_ip(ip)))
    }

    fn pause_path(&self, provider: Provider) -> PathBuf {
        self.dir
            .join("pause")
            .join(format!("{}.json", provider.key()))
    }

    fn listing_path(&self, zone: &str, ip: IpAddr) -> PathBuf {
        self.dir.join("dnsbl").join(format!(
            "{}@{:016x}.json",
            file_ip(ip),
            fnv1a(zone.as_bytes())
        ))
    }

    /// Where the Tor exit list is kept.
    pub fn tor_list_path(&self) -> PathBuf {
        self.dir.join("tor").join("exit-list.txt")
    }

    /// A fresh cached answer of `provider` for `ip`, if there is one.
    pub fn load(&self, provider: Provider, ip: IpAddr) -> Option<Finding> {
        if self.ttl.is_zero() {
            return None;
        }
        let path = self.answer_path(provider, ip);
        let entry: Entry = read_json(&path)?;
        if entry.version != VERSION
            || entry.provider != provider.key()
            || entry.ip != ip.to_string()
            || age(entry.fetched_at) >= self.ttl
        {
            return None;
        }
        match entry.status.as_str() {
            "ok" => match Data::decode(provider, entry.data) {
                Some(data) => Some(Finding::Ok { data }),
                None => {
                    tracing::debug!("ignoring unreadable cache file {}", path.display());
                    None
                }
            },
            "not_found" => Some(Finding::NotFound {
                detail: entry.detail,
            }),
            _ => None,
        }
    }

    /// The kept answer of `provider` for `ip` as JSON (for other manager nodes), and when it
    /// stops being fresh (seconds since the epoch).
    pub fn shareable(&self, provider: Provider, ip: IpAddr) -> Option<(Value, u64)> {
        let entry: Entry = read_json(&self.answer_path(provider, ip))?;
        let expires = entry.fetched_at.saturating_add(self.ttl.as_secs());
        Some((serde_json::to_value(&entry).ok()?, expires))
    }

    /// An answer another node kept: checked like a local one, kept here too, and returned when
    /// it is fresh and for this provider and address.
    pub fn adopt(&self, provider: Provider, ip: IpAddr, entry: Value) -> Option<Finding> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry: Entry = serde_json::from_value(entry).ok()?;
        if entry.version != VERSION
            || entry.provider != provider.key()
            || entry.ip != ip.to_string()
            || age(entry.fetched_at) >= self.ttl
        {
            return None;
        }
        self.write_json(&self.answer_path(provider, ip), &entry);
        self.load(provider, ip)
    }

    /// Keeps an answer, or starts a pause for a rate limit or a rejected key. Returns the finding,
    /// with the end of the pause filled in.
    pub fn record(
        &self,
        provider: Provider,
        per_ip: bool,
        ip: IpAddr,
        finding: Finding,
        key: Option<&Secret>,
    ) -> Finding {
        match finding {
            Finding::Ok { .. } | Finding::NotFound { .. } => {
                if per_ip && !self.ttl.is_zero() {
                    let (status, data, detail) = match &finding {
                        Finding::Ok { data } => (
                            "ok",
                            serde_json::to_value(data).unwrap_or_default(),
                            String::new(),
                        ),
                        Finding::NotFound { detail } => ("not_found", Value::Null, detail.clone()),
                        _ => ("", Value::Null, String::new()),
                    };
                    let entry = Entry {
                        version: VERSION,
                        provider: provider.key().into(),
                        ip: ip.to_string(),
                        fetched_at: now(),
                        status: status.into(),
                        data,
                        detail,
                    };
                    self.write_json(&self.answer_path(provider, ip), &entry);
                }
                finding
            }
            Finding::RateLimited {
                detail,
                retry_after_secs,
                ..
            } => {
                let pause = retry_after_secs
                    .map(|s| Duration::from_secs(s).clamp(MIN_PAUSE, MAX_PAUSE))
                    .unwrap_or(RATE_LIMIT_PAUSE);
                let until = now() + pause.as_secs();
                self.start_pause(provider, key, until, "rate_limited", 429, &detail);
                Finding::RateLimited {
                    detail,
                    retry_after_secs,
                    paused_until: Some(timestamp(until)),
                }
            }
            Finding::BadKey {
                http_status,
                detail,
                ..
            } => {
                let until = now() + self.ttl.max(MIN_BAD_KEY_PAUSE).as_secs();
                self.start_pause(provider, key, until, "bad_key", http_status, &detail);
                Finding::BadKey {
                    http_status,
                    detail,
                    paused_until: Some(timestamp(until)),
                }
            }
            other => other,
        }
    }

    fn start_pause(
        &self,
        provider: Provider,
        key: Option<&Secret>,
        until: u64,
        kind: &str,
        http_status: u16,
        detail: &str,
    ) {
        let pause = Pause {
            version: VERSION,
            provider: provider.key().into(),
            until,
            kind: kind.into(),
            http_status,
            detail: detail.into(),
            key_id: self.key_id(key),
        };
        tracing::warn!(
            "{} paused until {}: {detail}",
            provider.label(),
            timestamp(until)
        );
        self.write_json(&self.pause_path(provider), &pause);
    }

    /// The finding to report instead of asking, while `provider` is paused for the key in use.
    pub fn pause(&self, provider: Provider, key: Option<&Secret>) -> Option<Finding> {
        let pause: Pause = read_json(&self.pause_path(provider))?;
        if pause.version != VERSION
            || pause.provider != provider.key()
            || pause.until <= now()
            || pause.key_id != self.key_id(key)
        {
            return None;
        }
        let until = timestamp(pause.until);
        match pause.kind.as_str() {
            "rate_limited" => Some(Finding::RateLimited {
                detail: format!("not asked, paused after an earlier {}", pause.detail),
                retry_after_secs: None,
                paused_until: Some(until),
            }),
            "bad_key" => Some(Finding::BadKey {
                http_status: pause.http_status,
                detail: format!("not asked, the key was rejected earlier: {}", pause.detail),
                paused_until: Some(until),
            }),
            _ => None,
        }
    }

    /// A fresh cached DNSBL answer for `ip` in `zone`.
    pub fn load_listing(&self, zone: &str, ip: IpAddr) -> Option<Listing> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry: ListingEntry = read_json(&self.listing_path(zone, ip))?;
        (entry.version == VERSION && entry.ip == ip.to_string() && age(entry.fetched_at) < self.ttl)
            .then_some(entry.listing)
    }

    /// Keeps a definite DNSBL answer (listed or not); "unknown" is never kept.
    pub fn store_listing(&self, zone: &str, ip: IpAddr, listing: &Listing) {
        if self.ttl.is_zero() {
            return;
        }
        let entry = ListingEntry {
            version: VERSION,
            ip: ip.to_string(),
            fetched_at: now(),
            listing: listing.clone(),
        };
        self.write_json(&self.listing_path(zone, ip), &entry);
    }

    /// Writes a file atomically under the cache; a failure is logged and otherwise ignored.
    pub fn write(&self, path: &Path, bytes: &[u8]) {
        let result = path
            .parent()
            .map_or(Ok(()), fsutil::create_private_dir)
            .and_then(|()| write_replace(path, bytes));
        if let Err(e) = result {
            tracing::debug!("cache not written to {}: {e}", path.display());
        }
    }

    fn write_json<T: Serialize>(&self, path: &Path, value: &T) {
        match serde_json::to_vec(value) {
            Ok(bytes) => self.write(path, &bytes),
            Err(e) => tracing::debug!("cache entry not serialisable: {e}"),
        }
    }
}

/// A temporary file (created with `O_EXCL`, mode 0640, never through a link) renamed over `path`:
/// a reader, or a crash, sees the old file or the new one, never half of one. Unlike
/// [`fsutil::write_atomic`] there is no fsync: a cache entry lost to a power cut is merely asked
/// for again, and eleven fsyncs in a row would add tens of milliseconds to every investigation.
fn write_replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    fsutil::refuse_symlink(path)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        fsutil::unique_suffix()
    ));
    let result = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(fsutil::FILE_MODE)
        .open(&tmp)
        .and_then(|mut f| f.write_all(bytes))
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!("ignoring corrupt cache file {}: {e}", path.display());
            None
        }
    }
}

/// `2001:db8::1` -> `2001_db8__1`: one name per address, valid everywhere.
fn file_ip(ip: IpAddr) -> String {
    ip.to_string().replace(':', "_")
}

impl Cache {
    /// Names the key in use without keeping it, nor anything a reader of the cache could test a
    /// guessed key against: HMAC-SHA-256 under a random secret of this host (`.pause-secret`,
    /// readable by root only), 128 bits, hex. Without that secret, `?`: a pause then holds for
    /// any key until it ends.
    fn key_id(&self, key: Option<&Secret>) -> String {
        let Some(key) = key.filter(|k| k.is_set()) else {
            return String::new();
        };
        let Some(secret) = self.local_secret() else {
            return "?".into();
        };
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &secret),
            key.expose().as_bytes(),
        );
        tag.as_ref()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The host's secret for [`Cache::key_id`], made on first use.
    fn local_secret(&self) -> Option<[u8; 32]> {
        let path = self.dir.join(".pause-secret");
        fsutil::refuse_symlink(&path).ok()?;
        if let Ok(bytes) = std::fs::read(&path) {
            if let Ok(secret) = <[u8; 32]>::try_from(bytes.as_slice()) {
                return Some(secret);
            }
        }
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).ok()?;
        fsutil::create_private_dir(&self.dir).ok()?;
        match fsutil::write_atomic_as(&path, &secret, 0o600, None) {
            Ok(()) => Some(secret),
            Err(e) => {
                tracing::debug!("cannot keep {}: {e}", path.display());
                None
            }
        }
    }
}

pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn age(fetched_at: u64) -> Duration {
    Duration::from_secs(now().saturating_sub(fetched_at))
}

/// Seconds since the epoch as RFC 3339 UTC: `2026-09-16T18:57:24Z`.
pub fn timestamp(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| chrono::DateTime::<chrono::Utc>::from_timestamp(s, 0))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::investigate::sources::greynoise;

    /// A cache under `dir` with the default TTL of 24 hours.
    fn cache_in(dir: &Path) -> Cache {
        Cache::new(dir.join("cache"), Duration::from_secs(24 * 3600))
    }

    fn ip() -> IpAddr {
        "185.220.101.33".parse().unwrap()
    }

    #[test]
    fn answers_round_trip_and_corrupt_files_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let body = std::fs::read_to_string(format!(
            "{}/tests/fixtures/ti/greynoise_malicious.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let data = Data::Greynoise(greynoise::parse(&body).unwrap());
        cache.record(Provider::Greynoise, true, ip(), Finding::Ok { data }, None);
        match cache.load(Provider::Greynoise, ip()) {
            Some(Finding::Ok {
                data: Data::Greynoise(g),
            }) => assert_eq!(g.classification.as_deref(), Some("malicious")),
            other => panic!("{other:?}"),
        }
        // Another address, another provider: nothing.
        assert!(cache
            .load(Provider::Greynoise, "8.8.8.8".parse().unwrap())
            .is_none());
        assert!(cache.load(Provider::Virustotal, ip()).is_none());
        // A torn or garbage file is ignored, not fatal.
        let path = cache.answer_path(Provider::Greynoise, ip());
        std::fs::write(&path, b"{\"version\":1,\"provider\":").unwrap();
        assert!(cache.load(Provider::Greynoise, ip()).is_none());
        // Failures are never cached.
        cache.record(
            Provider::Greynoise,
            true,
            ip(),
            Finding::failed("HTTP 500"),
            None,
        );
        assert!(cache.load(Provider::Greynoise, ip()).is_none());
    }

    #[test]
    fn stale_answers_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = cache_in(dir.path());
        let entry = Entry {
            version: VERSION,
            provider: "shodan".into(),
            ip: ip().to_string(),
            fetched_at: now() - 25 * 3600,
            status: "not_found".into(),
            data: Value::Null,
            detail: "x".into(),
        };
        cache.write_json(&cache.answer_path(Provider::Shodan, ip()), &entry);
        assert!(cache.load(Provider::Shodan, ip()).is_none());
    }

    #[test]
    fn rate_limits_pause_and_new_keys_lift_bad_key_pauses() {
        let dir = tempfile::tempdir().unwrap();
        let key_one = Secret::new("vt-key-one-123456");
        let cache = cache_in(dir.path());
        assert!(cache.pause(Provider::Virustotal, Some(&key_one)).is_none());
        let f = cache.record(
            Provider::Virustotal,
            true,
            ip(),
            Finding::BadKey {
                http_status: 401,
                detail: "Wrong API key".into(),
                paused_until: None,
            },
            Some(&key_one),
        );
        assert!(matches!(
            f,
            Finding::BadKey {
                paused_until: Some(_),
                ..
            }
        ));
        assert!(matches!(
            cache.pause(Provider::Virustotal, Some(&key_one)),
            Some(Finding::BadKey {
                http_status: 401,
                ..
            })
        ));
        let text = std::fs::read_to_string(cache.pause_path(Provider::Virustotal)).unwrap();
        assert!(!text.contains("vt-key-one"), "{text}");
        let key_two = Secret::new("vt-key-two-654321");
        assert!(cache.pause(Provider::Virustotal, Some(&key_two)).is_none());

        // Retry-After: 0 is raised to the minimum pause; a missing one gives the default.
        let f = cache.record(
            Provider::Greynoise,
            true,
            ip(),
            Finding::RateLimited {
                detail: "HTTP 429".into(),
                retry_after_secs: Some(0),
                paused_until: None,
            },
            None,
        );
        assert!(matches!(
            f,
            Finding::RateLimited {
                paused_until: Some(_),
                ..
            }
        ));
        let p: Pause = read_json(&cache.pause_path(Provider::Greynoise)).unwrap();
        assert!(p.until >= now() + MIN_PAUSE.as_secs() - 2);
        assert!(p.until <= now() + MIN_PAUSE.as_secs() + 2);
        assert!(matches!(
            cache.pause(Provider::Greynoise, None),
            Some(Finding::RateLimited { .. })
        ));
        // A corrupt pause file is no pause.
        std::fs::write(cache.pause_path(Provider::Greynoise), b"garbage").unwrap();
        assert!(cache.pause(Provider::Greynoise, None).is_none());
    }

    /// A pause names its key by an HMAC under a secret only root reads: nothing in the pause
    /// file lets a reader test a guessed key, yet every process of the host agrees on it.
    #[test]
    fn a_pause_names_its_key_by_a_keyed_hash() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let key = Secret::new("vt-key-one-123456");
        let (a, b) = (cache_in(dir.path()), cache_in(dir.path()));
        let id = a.key_id(Some(&key));
        assert_eq!(id.len(), 32, "{id}");
        assert_eq!(b.key_id(Some(&key)), id, "another process, the same secret");
        assert_ne!(a.key_id(Some(&Secret::new("vt-key-two"))), id);
        assert_eq!(a.key_id(None), "");
        assert_eq!(a.key_id(Some(&Secret::default())), "");
        // Not the unkeyed hash it used to be.
        assert_ne!(id, format!("{:016x}", fnv1a(key.expose().as_bytes())));
        let secret = dir.path().join("cache/.pause-secret");
        let meta = std::fs::metadata(&secret).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 32);
        // Another host (another secret) names the same key differently.
        let other = tempfile::tempdir().unwrap();
        assert_ne!(cache_in(other.path()).key_id(Some(&key)), id);
        // Without a usable secret, a pause is for any key.
        std::fs::remove_file(&secret).unwrap();
        std::os::unix::fs::symlink("/etc/hostname", &secret).unwrap();
        assert_eq!(a.key_id(Some(&key)), "?");
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
    }
}
