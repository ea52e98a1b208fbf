//! Digests: once a cooldown window has closed with alerts counted in it, one push tells of them
//! ("N more alerts ..."), through the outbox so that it survives a crash.

use crate::analyze::report;
use crate::config::Settings;
use crate::deliver::ntfy::{self, NtfyChannel, Push};
use crate::deliver::{outbox, Compose};
use crate::gate::campaign::{self, Campaign, Due};
use crate::gate::cooldown::{self, Tally};
use crate::gate::held::{Held, HeldBack};
use crate::gate::shared;
use crate::investigate::cluster::{self, Shared};
use crate::util::now_ms;

/// Moves the tallies of closed cooldown windows into the outbox as digest pushes. With the
/// shared state, they are handed over to the nodes' shared digest instead (see
/// [`shared_digests`]).
pub fn send_digests(settings: &Settings) {
    let store = cooldown::Store::new(settings.state().cooldown(), settings.dedup.cooldown_secs);
    let handover = settings
        .investigation()
        .shared
        .is_some()
        .then(|| shared::cooldown::handover_dir(settings));
    let result = store.take_due(now_ms(), |label, key, tally| match &handover {
        Some(dir) => shared::cooldown::hand_over(dir, label, key, tally),
        None => store_digest(settings, label, tally),
    });
    if let Err(e) = result {
        tracing::error!("cannot write cooldown digests: {e}");
    }
}

/// The digests of the windows shared with other manager nodes: this node's counts are added to
/// the shared window, and the node that takes the sum pushes it.
pub async fn shared_digests(settings: &Settings) {
    let Some(shared) = settings.shared() else {
        return;
    };
    let dir = shared::cooldown::handover_dir(settings);
    shared::cooldown::settle(&shared, &dir, |label, tally| {
        store_digest(settings, label, tally)
    })
    .await;
}

/// One digest push for `label` into the outbox.
fn store_digest(settings: &Settings, label: &str, tally: &Tally) -> std::io::Result<()> {
    if !settings.ntfy.enabled() {
        tracing::info!(
            "digest for {label} ({} more alerts since the last report) not sent: ntfy is not configured",
            tally.count
        );
        return Ok(());
    }
    let push = digest_push(label, tally, settings.ntfy.max_chars);
    let Compose::Message(message) = ntfy::message(push, None) else {
        return Err(std::io::Error::other("cannot encode the digest push"));
    };
    tracing::info!(
        "digest for {label}: {} more alerts since the last report",
        tally.count
    );
    let channel = NtfyChannel::new(settings);
    outbox::store(&settings.state().outbox(), &channel, message, None).map(|_| ())
}

/// Moves what the host-wide limits held back, once a minute old, into the outbox as one push.
pub fn send_held(settings: &Settings) {
    let outbox_dir = settings.state().outbox();
    let channel = NtfyChannel::new(settings);
    let held = Held::new(settings.state().limits());
    let result = held.take_due(now_ms(), |held| {
        tracing::warn!(
            "held-back digest: {} alert(s) from {} address(es) counted, not analysed",
            held.tally.count,
            held.addresses.len()
        );
        if !settings.ntfy.enabled() {
            tracing::info!("held-back digest not sent: ntfy is not configured");
            return Ok(());
        }
        let Compose::Message(message) =
            ntfy::message(held_push(held, settings.ntfy.max_chars), None)
        else {
            return Err(std::io::Error::other("cannot encode the held-back push"));
        };
        outbox::store(&outbox_dir, &channel, message, None).map(|_| ())
    });
    if let Err(e) = result {
        tracing::error!("cannot write the held-back digest: {e}");
    }
}

/// Moves the campaign pushes that are due (formed, update, escalation, closing) into the outbox.
/// With the shared state, the campaigns are first reconciled with the other nodes' and the pushes
/// decided on the shared ones; when the indexer does not answer, this node's own.
pub async fn send_campaigns(settings: &Settings) {
    let store = campaign::Store::new(settings.state().campaigns(), &settings.campaign);
    if let (Some(shared), true) = (settings.shared(), settings.campaign.enabled) {
        match shared_campaigns(settings, &shared, &store).await {
            Ok(asked) => {
                if asked {
                    cluster::note(true, "");
                }
                return;
            }
            Err(why) => cluster::note(false, &why),
        }
    }
    let result = store.take_due(now_ms(), |c, due| store_campaign_push(settings, c, &due));
    if let Err(e) = result {
        tracing::error!("cannot write the campaign pushes: {e}");
    }
}

/// The campaigns shared by the nodes: this node's news added, the pushes due taken and stored.
/// This node's own bookkeeping then follows, without pushes of its own. `Ok(false)` when the
/// indexer was not asked (it was a moment ago); on an error this node's own pushes go out.
async fn shared_campaigns(
    settings: &Settings,
    shared: &Shared,
    store: &campaign::Store,
) -> Result<bool, String> {
    let now = now_ms();
    if !shared::campaign::reconcile(shared, store, &settings.campaign, now).await? {
        return Ok(false);
    }
    let taken = shared::campaign::take_pushes(shared, store, &settings.campaign, now, |c, due| {
        if let Err(e) = store_campaign_push(settings, c, due) {
            tracing::error!("cannot write the campaign push for {}: {e}", c.label);
        }
    })
    .await;
    // Only when every push was taken: else this node's own bookkeeping must still owe them, for
    // the fall-back that follows.
    taken?;
    if let Err(e) = store.settle_shared(now) {
        tracing::error!("cannot keep the campaign state: {e}");
    }
    Ok(true)
}

/// One campaign push into the outbox.
fn store_campaign_push(settings: &Settings, c: &Campaign, due: &Due) -> std::io::Result<()> {
    tracing::info!(
        "campaign {}: {due:?} push, {} alert(s) from {} address(es)",
        c.label,
        c.alerts,
        c.sources.len()
    );
    if !settings.ntfy.enabled() {
        return Ok(());
    }
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| {
                t.with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_default()
    };
    let setup = settings.investigation();
    let known = |ip: &str| {
        ip.parse()
            .ok()
            .and_then(|ip| crate::investigate::known_so_far(ip, &setup))
    };
    let markdown = crate::analyze::links::unlink(&c.markdown(due, at, known), &[]);
    let (title, body) = split_title(&markdown, settings.ntfy.max_chars);
    // An escalation is urgent; a campaign otherwise as its highest rule level.
    let priority = if c.escalation.is_some() {
        5
    } else {
        ntfy::priority_for_level(c.max_level)
    };
    let push = Push {
        title,
        priority,
        tags: vec!["warning".into(), "wazuh".into(), "campaign".into()],
        body,
        click: None,
    };
    let Compose::Message(message) = ntfy::message(push, None) else {
        return Err(std::io::Error::other("cannot encode the campaign push"));
    };
    let channel = NtfyChannel::new(settings);
    outbox::store(&settings.state().outbox(), &channel, message, None).map(|_| ())
}

/// The push that tells of alerts held back by the host-wide limits.
pub fn held_push(held: &HeldBack, max_chars: usize) -> Push {
    let markdown = crate::analyze::links::unlink(&held.markdown(), &[]);
    let (title, body) = split_title(&markdown, max_chars);
    Push {
        title,
        priority: ntfy::priority_for_level(held.tally.max_level),
        tags: vec!["warning".into(), "wazuh".into(), "digest".into()],
        body,
        click: None,
    }
}

/// The push that tells of alerts counted in a closed window.
pub fn digest_push(key: &str, tally: &Tally, max_chars: usize) -> Push {
    // Rule descriptions (which may quote alert fields) and agent names: no link of theirs goes out.
    let markdown = crate::analyze::links::unlink(&tally.digest_markdown(key), &[]);
    let (title, body) = split_title(&markdown, max_chars);
    Push {
        title,
        priority: ntfy::priority_for_level(tally.max_level),
        tags: vec!["information_source".into(), "wazuh".into(), "digest".into()],
        body,
        click: None,
    }
}

/// The push's title (its `# ` line) and its body without it, within `max_chars`: the Title
/// header carries the title, the body does not repeat it.
fn split_title(markdown: &str, max_chars: usize) -> (String, String) {
    let title = report::title_of(markdown);
    (
        title,
        report::fit(report::without_title(markdown), max_chars),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::alert::Alert;

    /// A digest quotes rule descriptions and agent names: a link in them goes out as text.
    #[test]
    fn a_digest_carries_no_link() {
        let mut tally = Tally::default();
        tally.add(&Alert::new(serde_json::json!({
            "rule": {"id": "5710", "level": 5,
                     "description": "sshd: user [confirm here](https://evil.example/sso)"},
            "agent": {"name": "web-01"},
            "data": {"srcip": "203.0.113.5"}
        })));
        let push = digest_push("203.0.113.5", &tally, 3500);
        assert!(!push.body.contains("]("), "{}", push.body);
        // The title is the push's header; the body does not repeat it.
        assert_eq!(push.title, "1 more alerts from 203.0.113.5");
        assert!(!push.body.starts_with("# "), "{}", push.body);
        assert!(
            push.body
                .contains("confirm here (hxxps://evil[.]example/sso)"),
            "{}",
            push.body
        );
    }
}
