//! Small shared pieces: errors and exit codes, the state directory, file helpers, claims and slot
//! locks, logging, the clock.

pub(crate) mod body;
pub(crate) mod ceiling;
pub(crate) mod claim;
pub(crate) mod error;
pub(crate) mod fsutil;
pub(crate) mod logging;
pub(crate) mod secret;
pub(crate) mod slots;
pub(crate) mod state;
pub(crate) mod store;

use error::ConfigError;

/// What `check` says of one component: whether it is usable, and one line on what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub ok: bool,
    pub text: String,
}

impl Probe {
    pub fn ok(text: impl Into<String>) -> Self {
        Probe {
            ok: true,
            text: text.into(),
        }
    }

    pub fn failed(text: impl Into<String>) -> Self {
        Probe {
            ok: false,
            text: text.into(),
        }
    }
}

/// True for the invisible characters that reorder or hide text on screen (bidi overrides and
/// marks, isolates, zero-width spaces): an attacker uses them to make a title or a name read as
/// something else. The zero-width joiner stays (emoji need it).
pub(crate) fn is_hiding_char(c: char) -> bool {
    matches!(
        c,
        '\u{061c}'
            | '\u{200b}'
            | '\u{200c}'
            | '\u{200e}'
            | '\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'
            | '\u{2066}'..='\u{2069}'
            | '\u{feff}'
    )
}

/// Unix time in milliseconds.
/// 16 random hex digits, to name one attempt of this node's apart from any other's.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness: the time and the process still tell attempts apart.
        bytes = (now_ms() as u64 ^ (u64::from(std::process::id()) << 40)).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Joins a base URL that may carry a path prefix with an API path: `{url}/{path}`.
pub fn join_url(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

/// Checks that `url` is an http(s) URL with a host; the error names `key`.
pub(crate) fn check_url(key: &str, url: &str, may_be_empty: bool) -> Result<(), ConfigError> {
    if url.trim().is_empty() {
        return if may_be_empty {
            Ok(())
        } else {
            Err(ConfigError(format!("{key}: must not be empty")))
        };
    }
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        Ok(_) => Err(ConfigError(format!("{key}: {url:?} is not an http(s) URL"))),
        Err(e) => Err(ConfigError(format!("{key}: {url:?} is not a URL ({e})"))),
    }
}
