//! The threat-intelligence sources: one file each, behind one [`Source`] trait, and this registry.
//!
//! A source file owns everything about its service: its `[providers.<name>]` section and defaults,
//! the lookup, the one-line summary, the risk signals its answer gives, and what `check` says of
//! it. This file only lists them (see [`register!`] at the bottom); the investigation, the cache,
//! the risk score and `check` go through the trait and the generated [`Provider`], [`Data`] and
//! [`Providers`], never through a source's own types.
//!
//! Adding a source: write `sources/<name>.rs` with a `Config` (made by [`source_config!`]) that
//! implements [`Source`], an answer type that implements [`Answer`], and add one line to the
//! `register!` call below.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::investigate::risk::Signals;
use crate::util::error::{root_cause, ConfigError};
use crate::util::secret::Secret;
use crate::util::Probe;

/// Makes a source's `Config`: `enabled`, `url` and `timeout_secs` (5 s) that every source takes,
/// the key when the source takes one (`key api_key`), the source's own keys with their defaults,
/// and the [`Common`] accessors.
macro_rules! source_config {
    ($url:expr, budget($day:expr, $minute:expr), key $(#[$kdoc:meta])* $key:ident $(, $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr)* $(,)?) => {
        source_config!(@config $url, $day, $minute, [$(#[$kdoc])* $key] $(, $(#[$doc])* $field : $ty = $default)*);

        impl $crate::investigate::sources::Common for Config {
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn url(&self) -> &str {
                &self.url
            }
            fn timeout_secs(&self) -> u64 {
                self.timeout_secs
            }
            fn budget(&self) -> $crate::investigate::sources::Budget {
                $crate::investigate::sources::Budget {
                    daily: self.daily_budget,
                    per_minute: self.per_minute,
                }
            }
            fn key(&self) -> Option<&$crate::util::secret::Secret> {
                Some(&self.$key)
            }
            fn key_mut(&mut self) -> Option<&mut $crate::util::secret::Secret> {
                Some(&mut self.$key)
            }
        }
    };
    ($url:expr, budget($day:expr, $minute:expr) $(, $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr)* $(,)?) => {
        source_config!(@config $url, $day, $minute, [] $(, $(#[$doc])* $field : $ty = $default)*);

        impl $crate::investigate::sources::Common for Config {
            fn enabled(&self) -> bool {
                self.enabled
            }
            fn url(&self) -> &str {
                &self.url
            }
            fn timeout_secs(&self) -> u64 {
                self.timeout_secs
            }
            fn budget(&self) -> $crate::investigate::sources::Budget {
                $crate::investigate::sources::Budget {
                    daily: self.daily_budget,
                    per_minute: self.per_minute,
                }
            }
        }
    };
    (@config $url:expr, $day:expr, $minute:expr, [$($(#[$kdoc:meta])* $key:ident)?] $(, $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr)*) => {
        /// This source's `[providers.<name>]` section.
        #[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Config {
            pub enabled: bool,
            pub url: String,
            pub timeout_secs: u64,
            /// Lookups per UTC day, across every process on the host (0: no limit).
            pub daily_budget: u32,
            /// Lookups per minute, across every process on the host (0: no limit).
            pub per_minute: u32,
            $($(#[$kdoc])* pub $key: $crate::util::secret::Secret,)?
            $($(#[$doc])* pub $field: $ty,)*
        }

        impl Default for Config {
            fn default() -> Self {
                Config {
                    enabled: true,
                    url: $url.into(),
                    timeout_secs: 5,
                    daily_budget: $day,
                    per_minute: $minute,
                    $($key: $crate::util::secret::Secret::default(),)?
                    $($field: $default,)*
                }
            }
        }

        impl Config {
            /// `timeout_secs` as a duration.
            pub fn timeout(&self) -> std::time::Duration {
                std::time::Duration::from_secs(self.timeout_secs)
            }
        }
    };
}

pub mod abuseipdb;
mod finding;
pub mod greynoise;
mod http;
pub mod internetdb;
pub mod ipinfo;
pub mod lenient;
pub mod rdap;
pub mod shodan;
pub mod tor;
pub mod virustotal;

pub use finding::{Finding, SourceResult};
pub use http::{millis, parse_retry_after, redact, Ctx, Reply};

/// The lookup of one source: a future that always ends in a [`Finding`].
pub type Lookup<'a> = Pin<Box<dyn Future<Output = Finding> + Send + 'a>>;

/// The keys every source's section has (made by [`source_config!`]).
pub trait Common {
    fn enabled(&self) -> bool;
    fn url(&self) -> &str;
    fn timeout_secs(&self) -> u64;

    /// The key the source is asked with (set or not), for sources that take one.
    fn key(&self) -> Option<&Secret> {
        None
    }

    /// The key, to fill in from the environment.
    fn key_mut(&mut self) -> Option<&mut Secret> {
        None
    }

    fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs())
    }

    /// How many lookups the source may take (`daily_budget`, `per_minute`).
    fn budget(&self) -> Budget;
}

/// A source's quota, counted across every process on the host; zero means no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Lookups per UTC day.
    pub daily: u32,
    /// Lookups per minute.
    pub per_minute: u32,
}

/// One threat-intelligence source, built from its config section.
pub trait Source: Common + Sync {
    /// Which source this is.
    fn provider(&self) -> Provider;

    /// Environment variables that may hold the key, the strongest last.
    fn key_env(&self) -> Vec<String> {
        vec![format!(
            "AI_ANALYZER_{}_API_KEY",
            self.provider().key().to_uppercase()
        )]
    }

    /// True when the source cannot be asked at all without a key.
    fn needs_key(&self) -> bool {
        false
    }

    /// What `check` and the report say of a source that needs a key and has none.
    fn without_key(&self) -> &'static str {
        "skipped"
    }

    /// False for a source kept as a whole (the Tor list), not per address.
    fn cached_per_ip(&self) -> bool {
        true
    }

    /// Why this source is not asked for `ip` in this run, beyond "disabled" and "no key".
    fn not_asked(&self, _ip: IpAddr, _ctx: &Ctx) -> Option<Finding> {
        None
    }

    /// Asks the source. Every outcome, failures included, is a [`Finding`].
    fn lookup<'a>(&'a self, ctx: &'a Ctx, ip: IpAddr) -> Lookup<'a>;

    /// The key, when one is set.
    fn key_in_use(&self) -> Option<&Secret> {
        self.key().filter(|k| k.is_set())
    }

    /// What `check` says: disabled, not configured, or whether the base URL answers. Only the
    /// base URL is asked: a probe must not spend an API quota.
    fn probe<'a>(
        &'a self,
        http: &'a reqwest::Client,
    ) -> Pin<Box<dyn Future<Output = Probe> + Send + 'a>> {
        Box::pin(async move {
            if !self.enabled() {
                return Probe::ok("disabled");
            }
            if self.needs_key() && self.key_in_use().is_none() {
                return Probe::ok(format!(
                    "not configured (no api_key): {}",
                    self.without_key()
                ));
            }
            let url = self.url();
            match http.get(url).send().await {
                Ok(r) => Probe::ok(format!("{url} reachable (HTTP {})", r.status().as_u16())),
                Err(e) => Probe::failed(format!("{url} unreachable ({})", root_cause(&e))),
            }
        })
    }
}

/// What a source's answer offers to people and to the risk score.
pub trait Answer {
    /// One line for people and the model.
    fn summary(&self) -> String;

    /// What the answer says about the address, for the risk score. `label` names the source.
    fn signals(&self, _label: &'static str) -> Signals {
        Signals::default()
    }

    /// Where to report abuse from the address, when the answer names it.
    fn abuse_contact(&self) -> Option<&str> {
        None
    }
}

/// Lists the sources once and derives from the list: [`Provider`] (the order reports list
/// them in), [`Data`] (one answer type each), [`Providers`] (the `[providers]` section) and the
/// order the risk rules read them in.
macro_rules! register {
    ($($variant:ident => $module:ident :: $answer:ident, risk order $rank:literal;)*) => {
        /// Every outside source, in the order the report lists them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum Provider {
            $($variant,)*
        }

        impl Provider {
            pub const ALL: [Provider; [$(stringify!($variant)),*].len()] = [$(Provider::$variant),*];

            /// The config and JSON name: `abuseipdb`.
            pub fn key(self) -> &'static str {
                match self {
                    $(Provider::$variant => stringify!($module),)*
                }
            }

            /// The name people know: `AbuseIPDB`.
            pub fn label(self) -> &'static str {
                match self {
                    $(Provider::$variant => $module::LABEL,)*
                }
            }

            /// The risk rules read the sources in this order, so that reasons of equal weight
            /// and the sources that saw a Tor exit are always named in the same order.
            fn risk_order(self) -> u8 {
                match self {
                    $(Provider::$variant => $rank,)*
                }
            }

            pub(crate) fn index(self) -> usize {
                self as usize
            }
        }

        /// What one source said, in the source's own terms but our field names.
        #[derive(Debug, Clone, Serialize)]
        #[serde(untagged)]
        pub enum Data {
            $($variant($module::$answer),)*
        }

        impl Data {
            fn answer(&self) -> &dyn Answer {
                match self {
                    $(Data::$variant(d) => d,)*
                }
            }

            /// Reads back an answer kept in the cache.
            pub(crate) fn decode(provider: Provider, v: Value) -> Option<Data> {
                Some(match provider {
                    $(Provider::$variant => {
                        Data::$variant(serde_json::from_value::<$module::$answer>(v).ok()?)
                    })*
                })
            }
        }

        /// The `[providers]` section: one sub-section per source.
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Providers {
            $(pub $module: $module::Config,)*
        }

        impl Providers {
            /// The source behind `provider`, as configured.
            pub fn get(&self, provider: Provider) -> &dyn Source {
                match provider {
                    $(Provider::$variant => &self.$module,)*
                }
            }

            fn get_mut(&mut self, provider: Provider) -> &mut dyn Source {
                match provider {
                    $(Provider::$variant => &mut self.$module,)*
                }
            }
        }
    };
}

impl Data {
    /// One line for people and the model.
    pub fn summary(&self) -> String {
        self.answer().summary()
    }

    /// Where to report abuse from the address, when the answer names it.
    pub fn abuse_contact(&self) -> Option<&str> {
        self.answer().abuse_contact()
    }
}

impl Providers {
    /// Every source, in report order.
    pub fn all(&self) -> impl Iterator<Item = &dyn Source> {
        Provider::ALL.into_iter().map(|p| self.get(p))
    }

    /// Keys from the environment win over the file.
    pub fn apply_env(&mut self, get: &impl Fn(&str) -> Option<String>) {
        for p in Provider::ALL {
            let source = self.get_mut(p);
            for name in source.key_env() {
                if let Some(v) = get(&name).filter(|v| !v.trim().is_empty()) {
                    if let Some(slot) = source.key_mut() {
                        *slot = Secret::new(v.trim());
                    }
                }
            }
        }
    }

    /// Every key that is set.
    pub fn secrets(&self) -> impl Iterator<Item = &Secret> {
        self.all().filter_map(Source::key_in_use)
    }

    /// Checks what parses but makes no sense; the message names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for source in self.all() {
            let key = source.provider().key();
            if source.timeout_secs() > 3600 {
                return Err(ConfigError(format!(
                    "providers.{key}.timeout_secs: {} is over the limit of 3600",
                    source.timeout_secs()
                )));
            }
            crate::util::check_url(&format!("providers.{key}.url"), source.url(), false)?;
        }
        Ok(())
    }
}

/// The risk signals of every answer, in the order the risk rules read them.
pub fn signals_of(results: &[SourceResult]) -> Vec<Signals> {
    let mut answered: Vec<(Provider, &Data)> = results
        .iter()
        .filter_map(|r| r.finding.data().map(|d| (r.provider, d)))
        .collect();
    answered.sort_by_key(|(p, _)| p.risk_order());
    answered
        .into_iter()
        .map(|(p, d)| d.answer().signals(p.label()))
        .collect()
}

register! {
    Ipinfo => ipinfo::Info, risk order 6;
    Rdap => rdap::Network, risk order 7;
    Abuseipdb => abuseipdb::Check, risk order 1;
    Virustotal => virustotal::Report, risk order 2;
    Greynoise => greynoise::Community, risk order 3;
    Shodan => shodan::Host, risk order 4;
    Internetdb => internetdb::Host, risk order 5;
    Tor => tor::Membership, risk order 0;
}

/// A recorded response body from `tests/fixtures/ti/`.
#[cfg(test)]
pub(crate) fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/ti/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture")
}
