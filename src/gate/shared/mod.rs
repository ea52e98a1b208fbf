//! The gate's state shared by several manager nodes through the Wazuh indexer
//! (`cluster.backend = "indexer"`): the cooldown windows with their digests, and the campaigns.
//!
//! The gate in front of wazuh-execd never waits on the network: each node's intake decides on
//! its own state, as a single node does. The worker reconciles that state with the other nodes'
//! on the indexer, with OpenSearch's concurrency control, and falls back to the node's own
//! decisions whenever the indexer does not answer within [`SHARED_LIMIT`].
//!
//! [`SHARED_LIMIT`]: crate::investigate::cluster::SHARED_LIMIT

pub(crate) mod campaign;
pub(crate) mod cooldown;

use crate::config::Settings;
use crate::gate::campaign::{Joined, Store as CampaignStore};
use crate::gate::cooldown::Store as CooldownStore;
use crate::gate::cooldown::Tally;
use crate::intake::alert::Alert;
use crate::investigate::cluster::{self, Shared};

/// How long the worker waits for this node's own cooldown or campaign lock.
const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The shared state's word on an alert this node would analyse (received at `received_ms`,
/// with `earlier` counted since its address's last report here): `None` when it is counted
/// instead, into a campaign the nodes formed or into a window another node reports; else the
/// job goes on, with `earlier`. Without the shared state, or without an answer from the indexer
/// within [`cluster::SHARED_LIMIT`], this node's own decision stands.
pub(crate) async fn gate(
    settings: &Settings,
    alert: &Alert,
    received_ms: i64,
    earlier: Option<Tally>,
) -> Option<Option<Tally>> {
    let Some(shared) = settings.shared() else {
        return Some(earlier);
    };
    // Whether a campaign took the alert, and what the window says.
    let asked = async {
        if campaign_formed(settings, &shared, alert, received_ms).await? {
            return Ok((true, None));
        }
        let decided = window(settings, &shared, alert, received_ms, earlier.clone()).await?;
        Ok((false, decided))
    };
    // One bound for the whole decision, however many calls it takes.
    let asked = tokio::time::timeout(cluster::SHARED_LIMIT, asked)
        .await
        .unwrap_or_else(|_| Err(cluster::no_answer()));
    match asked {
        Ok((true, _)) => {
            cluster::note(true, "");
            if let Some(earlier) = &earlier {
                // What this node had counted for the report that is not made here still
                // reaches a digest.
                let store =
                    CooldownStore::new(settings.state().cooldown(), settings.dedup.cooldown_secs)
                        .patient(WAIT);
                if let Err(e) = store.keep_counts(alert, earlier) {
                    tracing::error!(
                        "{} alert(s) counted for {} could not be kept for a digest: {e}",
                        earlier.count,
                        crate::gate::cooldown::label_for(alert)
                    );
                }
            }
            None
        }
        // Counted into another node's window (with `earlier`), or analysed here.
        Ok((false, decided)) => {
            cluster::note(true, "");
            decided
        }
        Err(why) => {
            cluster::note(false, &why);
            Some(earlier)
        }
    }
}

/// An alert this node's intake let through while its campaign was still forming here is
/// counted into it when the nodes' addresses together have formed it: true when it was (the
/// job is then done), as on one node, where the alert that forms a campaign and every later one
/// are counted into it.
async fn campaign_formed(
    settings: &Settings,
    shared: &Shared,
    alert: &Alert,
    received_ms: i64,
) -> Result<bool, String> {
    if !settings.campaign.enabled || alert.source_ip().is_none() {
        return Ok(false);
    }
    let store = CampaignStore::new(settings.state().campaigns(), &settings.campaign).patient(WAIT);
    let key = crate::gate::campaign::key_of(alert);
    let cfg = &settings.campaign;
    let merged = campaign::reconcile_key(shared, &store, cfg, &key, received_ms).await?;
    if merged.is_none_or(|c| c.formed_ms.is_none()) {
        return Ok(false);
    }
    match store.count_formed(alert, received_ms) {
        Ok(Joined::Counted {
            label,
            alerts,
            sources,
            ..
        }) => {
            tracing::info!(
                "counted into the campaign {label} the manager nodes formed: {alerts} alert(s) \
                 from {sources} address(es)"
            );
            Ok(true)
        }
        Ok(Joined::No) => Ok(false),
        Err(e) => {
            tracing::warn!("campaign state unavailable ({e}); the alert goes its own way");
            Ok(false)
        }
    }
}

/// The report of `alert` claimed in the nodes' shared window: `None` when another node reports
/// it (the alert, and `earlier`, are then counted here into a window that closes with the shared
/// one), else the job goes on with `earlier`.
async fn window(
    settings: &Settings,
    shared: &Shared,
    alert: &Alert,
    received_ms: i64,
    earlier: Option<Tally>,
) -> Result<Option<Option<Tally>>, String> {
    let cooldown_ms = (settings.dedup.cooldown_secs as i64).saturating_mul(1000);
    if cooldown_ms == 0 {
        return Ok(Some(earlier));
    }
    let claim = cooldown::claim_report(shared, alert, received_ms, cooldown_ms);
    let verdict = tokio::time::timeout(cluster::SHARED_LIMIT, claim)
        .await
        .map_err(|_| cluster::no_answer())??;
    let cooldown::Verdict::Counted { closes_ms } = verdict else {
        return Ok(Some(earlier));
    };
    let store =
        CooldownStore::new(settings.state().cooldown(), settings.dedup.cooldown_secs).patient(WAIT);
    match store.count_for_other_node(alert, earlier.as_ref(), closes_ms) {
        Ok(count) => {
            tracing::info!(
                "counted, not analysed: another manager node reports {} in this cooldown window; \
                 {count} alert(s) counted here for its digest",
                crate::gate::cooldown::label_for(alert)
            );
            Ok(None)
        }
        Err(e) => {
            // Not countable here: analysed rather than lost.
            tracing::warn!("cooldown state unavailable ({e}); analysing");
            Ok(Some(earlier))
        }
    }
}
