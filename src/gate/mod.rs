//! The gate: what is analysed, counted or skipped, and the check_keys handshake with execd. The
//! decisions here are pure; the cooldown store keeps the windows they read.

pub(crate) mod campaign;
pub(crate) mod cooldown;
pub(crate) mod handshake;
pub(crate) mod held;
pub(crate) mod shared;

use crate::config::{Detach, Settings};
use crate::intake::alert::Alert;
use crate::intake::Origin;
use crate::util::ceiling::Ceiling;

/// Why an alert is not looked at at all (this tool's own events, a level below
/// `general.min_level`), or `None` when it goes on.
pub(crate) fn screen(alert: &Alert, min_level: u32) -> Option<String> {
    if let Some(why) = alert.loop_guard() {
        return Some(why.to_string());
    }
    (alert.rule_level() < min_level).then(|| {
        format!(
            "rule level {} is below general.min_level {min_level}",
            alert.rule_level()
        )
    })
}

/// Whether the job goes to the detached worker: never in the foreground (`--foreground`,
/// `--dry-run`), else as `wazuh.detach` says (`auto`: runs started by Wazuh).
pub(crate) fn detaches(origin: Origin, foreground: bool, mode: Detach) -> bool {
    !foreground
        && match mode {
            Detach::Never => false,
            Detach::Always => true,
            Detach::Auto => origin != Origin::Hand,
        }
}

/// The host-wide ceiling of analyses a minute: true when `alert` is held back (counted into the
/// next held-back digest) instead of analysed. When the count cannot be kept, it is analysed.
pub(crate) fn over_ceiling(settings: &Settings, alert: &Alert, now_ms: i64) -> bool {
    let dirs = settings.state();
    let ceiling = Ceiling::new(
        &dirs.limits(),
        "analyses",
        settings.limits.analyses_per_minute,
    );
    match ceiling.take(now_ms) {
        Ok(true) => false,
        Ok(false) => hold(
            settings,
            alert,
            &format!(
                "the ceiling of {} analyses a minute (limits.analyses_per_minute)",
                ceiling.per_minute()
            ),
            now_ms,
        ),
        Err(e) => {
            tracing::warn!("the ceiling of analyses is unavailable ({e}); analysing");
            false
        }
    }
}

/// Counts `alert` into the held-back digest for `reason`; false when that cannot be written
/// (the alert then goes on, rather than being lost).
pub(crate) fn hold(settings: &Settings, alert: &Alert, reason: &str, now_ms: i64) -> bool {
    match held::Held::new(settings.state().limits()).add(alert, reason, now_ms) {
        Ok(n) => {
            tracing::warn!(
                "held back, not analysed: {reason}; {n} alert(s) held for the next digest"
            );
            true
        }
        Err(e) => {
            tracing::error!("{reason}, but the held-back count cannot be kept ({e}); going on");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn screen_skips_our_own_events_and_low_levels() {
        let alert = |level: u32| Alert::new(json!({"rule": {"id": "5712", "level": level}}));
        assert_eq!(screen(&alert(10), 0), None);
        assert_eq!(screen(&alert(10), 10), None);
        assert_eq!(
            screen(&alert(9), 10).as_deref(),
            Some("rule level 9 is below general.min_level 10")
        );
        let own = Alert::new(json!({"rule": {"id": "100900", "level": 3,
            "groups": ["ai_analyzer"]}, "location": "ai-analyzer"}));
        assert!(screen(&own, 0).is_some(), "the loop guard comes first");
    }

    #[test]
    fn detach_follows_the_mode_and_the_origin() {
        for (origin, foreground, mode, want) in [
            (Origin::Execd, false, Detach::Auto, true),
            (Origin::Integratord, false, Detach::Auto, true),
            (Origin::Hand, false, Detach::Auto, false),
            (Origin::Hand, false, Detach::Always, true),
            (Origin::Execd, false, Detach::Never, false),
            (Origin::Execd, true, Detach::Always, false),
        ] {
            assert_eq!(
                detaches(origin, foreground, mode),
                want,
                "{origin:?} {mode:?}"
            );
        }
    }
}
