//! Campaigns shared by several manager nodes: one campaign per key across the nodes, one
//! campaign report, and the counts of every node in it.
//!
//! Each node's intake joins alerts to its own campaigns, as a single node does. The worker then
//! adds each campaign's news (the alerts, addresses and users counted since it last did, a new
//! escalation or outcome) to the shared campaign `campaign-<key>` on the indexer, and takes in
//! what the other nodes brought: a campaign their addresses formed, or one formed on another
//! node's target that this node's addresses belong to. From then on this node's intake counts
//! such alerts into it.
//!
//! The pushes are decided on the shared campaign, with the rules of one node (formed, update,
//! escalation, closing); the node whose change of the shared campaign lands first sends the
//! push. When the indexer does not answer, the node sends its own campaigns' pushes, as a single
//! node would.

use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{json, Value};

use crate::config::Campaign as Settings;
use crate::gate::campaign::{Campaign, Due, Store};
use crate::investigate::cluster::{Change, Shared, SHARED_LIMIT};

/// How long a closed campaign's document stays (a late node's news starts a new campaign).
const KEEP_MS: i64 = 3_600_000;

/// At most this many campaigns of other nodes are taken in at a time.
const MAX_TAKEN_IN: usize = 20;

/// The campaigns are reconciled at most once a second: the worker passes more often.
const EVERY_MS: i64 = 1000;

/// When this process last reconciled the campaigns.
static LAST: AtomicI64 = AtomicI64::new(0);

fn id(key: &str) -> String {
    format!("campaign-{key}")
}

fn window_ms(cfg: &Settings) -> i64 {
    (cfg.window_secs as i64).saturating_mul(1000)
}

/// The document of a shared campaign: the campaign itself, and what the search for open ones
/// needs beside it.
fn doc_of(c: &Campaign, closed: bool, cfg: &Settings) -> Value {
    json!({
        "kind": "campaign",
        "formed": c.formed_ms.is_some(),
        "closed": closed,
        "last_ms": c.last_ms,
        "expires_at": c.last_ms.saturating_add(window_ms(cfg)).saturating_add(KEEP_MS),
        "entry": c,
    })
}

/// The campaign in a document, and whether it is closed; `None` when it does not parse.
fn campaign_of(doc: &Value) -> Option<(Campaign, bool)> {
    let c = serde_json::from_value(doc["entry"].clone()).ok()?;
    Some((c, doc["closed"].as_bool().unwrap_or(false)))
}

/// One bounded change of a shared campaign.
async fn change<T>(
    shared: &Shared,
    key: &str,
    f: impl FnMut(Option<&Value>) -> Change<T>,
) -> Result<T, String> {
    match tokio::time::timeout(SHARED_LIMIT, shared.update(&id(key), f)).await {
        Ok(result) => result,
        Err(_) => Err(crate::investigate::cluster::no_answer()),
    }
}

/// Adds `news` (under `token`) to the shared campaign `doc`, once: news whose token the campaign
/// remembers is not added again. The campaign as it is then, and what to write.
fn add_news(
    doc: Option<&Value>,
    token: &str,
    news: &Campaign,
    cfg: &Settings,
    now_ms: i64,
) -> Change<Campaign> {
    let mut c = match doc.and_then(campaign_of) {
        Some((c, false)) => c,
        Some((c, true)) if c.applied.iter().any(|t| t == token) => c,
        // Closed: this news starts one, which remembers what the closed one had added.
        Some((closed, true)) => Campaign {
            applied: closed.applied,
            ..Campaign::default()
        },
        None => Campaign::default(),
    };
    if c.applied.iter().any(|t| t == token) {
        return Change::Keep(c);
    }
    c.merge(news, cfg, now_ms);
    c.applied.push(token.to_string());
    let extra = c.applied.len().saturating_sub(REMEMBERED_NEWS);
    c.applied.drain(..extra);
    Change::Write(doc_of(&c, false, cfg), c)
}

/// How many tokens of news a shared campaign remembers.
const REMEMBERED_NEWS: usize = 1024;

/// Adds every local campaign's news to the shared one, and takes in what the other nodes
/// formed. `Ok(false)` when it was done less than a second ago. A campaign that fails is
/// tried again on the next pass; the others go on.
pub(crate) async fn reconcile(
    shared: &Shared,
    store: &Store,
    cfg: &Settings,
    now_ms: i64,
) -> Result<bool, String> {
    let last = LAST.load(Ordering::Relaxed);
    if now_ms.saturating_sub(last) < EVERY_MS {
        return Ok(false);
    }
    // This node's own state failing is not the indexer's: it is logged, never taken for the
    // indexer being down.
    let local = |e: std::io::Error| {
        tracing::warn!("campaigns not reconciled now: the local campaign state: {e}");
    };
    let all_news = match store.news() {
        Ok(news) => news,
        Err(e) => {
            local(e);
            return Ok(false);
        }
    };
    let mut failed = None;
    for (token, news) in all_news {
        let merged = change(shared, &news.key, |doc| {
            add_news(doc, &token, &news, cfg, now_ms)
        })
        .await;
        match merged {
            // Not recorded here: the news is sent again under its token, and added once.
            Ok(merged) => store.shared(Some(&token), &merged).unwrap_or_else(local),
            Err(e) => failed = Some(e),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    for theirs in open_campaigns(shared, now_ms.saturating_sub(window_ms(cfg))).await? {
        store.shared(None, &theirs).unwrap_or_else(local);
    }
    LAST.store(now_ms, Ordering::Relaxed);
    Ok(true)
}

/// Adds the news of the campaign `key` to the shared one, and returns the shared one (`None`
/// when there is none): what the worker asks before it analyses an alert this node's intake
/// recorded while the campaign was forming here.
pub(crate) async fn reconcile_key(
    shared: &Shared,
    store: &Store,
    cfg: &Settings,
    key: &str,
    now_ms: i64,
) -> Result<Option<Campaign>, String> {
    let local = |e: std::io::Error| {
        tracing::warn!("campaign {key} not reconciled now: the local campaign state: {e}");
    };
    let news = store.news_of(key).unwrap_or_else(|e| {
        local(e);
        None
    });
    let merged = change(shared, key, |doc| match &news {
        Some((token, news)) => match add_news(doc, token, news, cfg, now_ms) {
            Change::Write(v, c) => Change::Write(v, Some(c)),
            Change::Keep(c) => Change::Keep(Some(c)),
        },
        None => Change::Keep(match doc.and_then(campaign_of) {
            Some((c, false)) => Some(c),
            _ => None,
        }),
    })
    .await?;
    if let Some(merged) = &merged {
        let token = news.as_ref().map(|(t, _)| t.as_str());
        store.shared(token, merged).unwrap_or_else(local);
    }
    Ok(merged)
}

/// The formed, open campaigns on the indexer that had an alert since `since_ms` (without their
/// users, which this node does not need to take them in).
async fn open_campaigns(shared: &Shared, since_ms: i64) -> Result<Vec<Campaign>, String> {
    let query = json!({
        "size": MAX_TAKEN_IN,
        "_source": {"excludes": ["entry.users", "entry.applied"]},
        "sort": [{"last_ms": "desc"}],
        "query": {"bool": {"filter": [
            {"term": {"kind": "campaign"}},
            {"term": {"formed": true}},
            {"term": {"closed": false}},
            {"range": {"last_ms": {"gte": since_ms}}}
        ]}}
    });
    let hits = tokio::time::timeout(SHARED_LIMIT, shared.search(&query))
        .await
        .map_err(|_| crate::investigate::cluster::no_answer())??;
    Ok(hits
        .iter()
        .filter_map(campaign_of)
        .filter(|(c, closed)| !closed && c.formed_ms.is_some() && !c.key.is_empty())
        .map(|(c, _)| c)
        .collect())
}

/// Takes the pushes the shared campaigns of this node owe at `now_ms` and hands each to `push`
/// (the campaign as it is pushed, and why). Taking one records it on the indexer, so no other
/// node sends it. A campaign that fails is left for the next pass; the others go on.
pub(crate) async fn take_pushes(
    shared: &Shared,
    store: &Store,
    cfg: &Settings,
    now_ms: i64,
    mut push: impl FnMut(&Campaign, &Due),
) -> Result<(), String> {
    let mut failed = None;
    for key in store.keys() {
        let taken = change(shared, &key, |doc| {
            let Some((c, false)) = doc.and_then(campaign_of) else {
                return Change::Keep(None);
            };
            let Some(due) = store.due(&c, now_ms) else {
                return Change::Keep(None);
            };
            // A closing summary only when there is news, as on one node.
            let changed = c.alerts != c.pushed_alerts || c.escalation.is_some();
            let mut next = c.clone();
            next.pushed_alerts = c.alerts;
            next.pushed_sources = c.sources.len();
            next.last_push_ms = Some(now_ms);
            next.escalation = None;
            let closing = due == Due::Closing;
            let taken = (!closing || changed).then_some((c, due));
            Change::Write(doc_of(&next, closing, cfg), taken)
        })
        .await;
        match taken {
            Ok(Some((c, due))) => push(&c, &due),
            Ok(None) => {}
            Err(e) => failed = Some(e),
        }
    }
    failed.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::alert::Alert;

    fn cfg() -> Settings {
        Settings {
            enabled: true,
            window_secs: 60,
            min_sources: 3,
            update_secs: 300,
            paid_lookups: 0,
        }
    }

    fn sshd(ip: &str, agent: &str) -> Alert {
        Alert::new(
            json!({"rule": {"id": "5710", "level": 5, "description": "sshd: failed",
            "groups": ["sshd", "authentication_failed"]},
            "agent": {"id": agent, "name": agent}, "predecoder": {"program_name": "sshd"},
            "data": {"srcip": ip, "dstuser": "root"}}),
        )
    }

    /// Two nodes that each saw two addresses against one target: neither formed the campaign,
    /// their news together does, and each node then counts its alerts into it.
    #[test]
    fn the_nodes_addresses_together_form_the_campaign() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (na, nb) = (
            Store::new(a.path().to_path_buf(), &cfg()),
            Store::new(b.path().to_path_buf(), &cfg()),
        );
        for ip in ["203.0.113.1", "203.0.113.2"] {
            na.join(&sshd(ip, "001"), 1_000).unwrap();
        }
        nb.join(&sshd("203.0.113.3", "001"), 2_000).unwrap();
        let mut shared = Campaign::default();
        let news_a = na.news().unwrap();
        assert_eq!(news_a.len(), 1);
        shared.merge(&news_a[0].1, &cfg(), 2_500);
        na.shared(Some(&news_a[0].0), &shared).unwrap();
        assert!(shared.formed_ms.is_none(), "two addresses do not form it");
        assert!(
            na.news().unwrap().is_empty(),
            "nothing new on a after sharing"
        );
        let news_b = nb.news().unwrap();
        shared.merge(&news_b[0].1, &cfg(), 3_000);
        assert_eq!(shared.formed_ms, Some(3_000));
        assert_eq!(shared.sources.len(), 3);
        nb.shared(Some(&news_b[0].0), &shared).unwrap();
        na.shared(None, &shared).unwrap();
        // Both nodes now count into it.
        for node in [&na, &nb] {
            let joined = node.join(&sshd("203.0.113.9", "001"), 4_000).unwrap();
            assert!(
                matches!(joined, crate::gate::campaign::Joined::Counted { .. }),
                "{joined:?}"
            );
        }
        // Each node's news is its own alert; the shared campaign sums them.
        for node in [&na, &nb] {
            let news = node.news().unwrap();
            assert_eq!(news[0].1.alerts, 1);
            shared.merge(&news[0].1, &cfg(), 4_500);
            node.shared(Some(&news[0].0), &shared).unwrap();
        }
        assert_eq!(shared.alerts, 2);
        assert_eq!(shared.sources["203.0.113.9"].alerts, 2);
    }

    /// A campaign another node formed on its target takes this node's alerts from its
    /// addresses against another target, and escalates with the new target.
    #[test]
    fn a_campaign_formed_elsewhere_takes_its_addresses_here() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (na, nb) = (
            Store::new(a.path().to_path_buf(), &cfg()),
            Store::new(b.path().to_path_buf(), &cfg()),
        );
        for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            na.join(&sshd(ip, "001"), 1_000).unwrap();
        }
        let mut shared = Campaign::default();
        let news = na.news().unwrap();
        shared.merge(&news[0].1, &cfg(), 1_500);
        assert!(shared.formed_ms.is_some(), "formed on node a");
        nb.shared(None, &shared).unwrap();
        let joined = nb.join(&sshd("203.0.113.2", "002"), 2_000).unwrap();
        assert!(
            matches!(joined, crate::gate::campaign::Joined::Counted { .. }),
            "{joined:?}"
        );
        let news = nb.news().unwrap();
        assert_eq!(news.len(), 1);
        assert_eq!(news[0].1.alerts, 1, "only node b's own alert is news");
        shared.merge(&news[0].1, &cfg(), 2_500);
        assert_eq!(shared.escalation.as_deref(), Some("a new target, 002"));
        assert_eq!(shared.agents, vec!["001".to_string(), "002".to_string()]);
    }

    /// News asked again before its answer came is the same news under the same token, and the
    /// shared campaign adds it once; a second process on the node gets no news of its own.
    #[test]
    fn news_is_sent_once_however_often_it_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let node = Store::new(dir.path().to_path_buf(), &cfg());
        for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
            node.join(&sshd(ip, "001"), 1_000).unwrap();
        }
        let first = node.news().unwrap();
        let again = node.news().unwrap();
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].0, again[0].0, "the same token");
        let (token, news) = &first[0];
        let Change::Write(doc, merged) = add_news(None, token, news, &cfg(), 1_500) else {
            panic!("first news written");
        };
        assert_eq!(merged.sources.len(), 4);
        assert!(matches!(
            add_news(Some(&doc), token, news, &cfg(), 1_600),
            Change::Keep(_)
        ));
        node.shared(Some(token), &merged).unwrap();
        assert!(
            node.news().unwrap().is_empty(),
            "nothing new after it arrived"
        );
    }

    /// In the shared state the node's bookkeeping clears an escalation only once it was sent
    /// to the shared campaign, and forgets a closed campaign only once all its news was.
    #[test]
    fn bookkeeping_keeps_what_was_not_shared_yet() {
        let dir = tempfile::tempdir().unwrap();
        let node = Store::new(dir.path().to_path_buf(), &cfg());
        for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            node.join(&sshd(ip, "001"), 1_000).unwrap();
        }
        node.join(&sshd("203.0.113.3", "002"), 1_100).unwrap(); // a new target: escalates
        node.settle_shared(1_200).unwrap();
        let news = node.news().unwrap();
        assert_eq!(
            news[0].1.escalation.as_deref(),
            Some("a new target, 002"),
            "the escalation survived the bookkeeping"
        );
        // Closed, but its news has not arrived: kept.
        node.settle_shared(1_000_000).unwrap();
        assert_eq!(node.keys().len(), 1);
        let (token, news) = &node.news().unwrap()[0];
        let Change::Write(_, merged) = add_news(None, token, news, &cfg(), 1_000_000) else {
            panic!("written");
        };
        node.shared(Some(token), &merged).unwrap();
        node.settle_shared(1_000_000).unwrap();
        assert!(node.keys().is_empty(), "forgotten once shared");
    }

    /// A search hit leaves the users out: the campaign still reads.
    #[test]
    fn a_campaign_without_its_users_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let node = Store::new(dir.path().to_path_buf(), &cfg());
        for ip in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
            node.join(&sshd(ip, "001"), 1_000).unwrap();
        }
        let (token, news) = node.news().unwrap().remove(0);
        let Change::Write(mut doc, _) = add_news(None, &token, &news, &cfg(), 1_500) else {
            panic!("written");
        };
        doc["entry"].as_object_mut().unwrap().remove("users");
        doc["entry"].as_object_mut().unwrap().remove("applied");
        let (c, closed) = campaign_of(&doc).expect("reads without users");
        assert!(!closed);
        assert_eq!(c.sources.len(), 3);
        assert!(c.formed_ms.is_some());
    }
}
