//! The Wazuh indexer (OpenSearch) as the state several manager nodes share: one index, created
//! on first use with a mapping of its own, of small documents that carry their expiry. Every
//! change goes through [`Shared::update`], OpenSearch's own concurrency control: `_create` for
//! a new document (409: another node made it first), `if_seq_no` / `if_primary_term` for an
//! existing one (409: another node changed it in between; read again and decide again). Never a
//! read-then-write race.
//!
//! Here: the daily threat-intel budgets (N nodes together never ask a source more than its
//! `daily_budget`) and the threat-intel answers. The gate's cooldown windows and campaigns are
//! in `gate::shared`, on the same calls.
//!
//! Only the worker, `enrich` and foreground runs ask the indexer, never the intake in front of
//! wazuh-execd. Each call is bounded by [`SHARED_LIMIT`]; past it, or on any error (indexer
//! down, 401, 429, a read-only index on a full disk), the node decides on its own state and the
//! log says so once per change.

use std::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::time::Duration;

use serde_json::{json, Value};

use crate::investigate::history::Indexer;
use crate::util::join_url;

/// The longest a decision may wait on the indexer before the node decides on its own.
pub const SHARED_LIMIT: Duration = Duration::from_secs(1);

/// How often a conflicting update is read and tried again (the whole claim is bounded by
/// [`SHARED_LIMIT`] anyway).
const MAX_CONFLICTS: u32 = 64;

/// A short random pause after a conflict, growing with each one (at most 32 ms), so that nodes
/// that collided do not collide again in step.
async fn back_off(conflicts: u32) {
    let mut byte = [0u8; 1];
    let jitter = if getrandom::fill(&mut byte).is_ok() {
        u64::from(byte[0])
    } else {
        128
    };
    let ceiling = 1u64 << conflicts.min(5);
    tokio::time::sleep(Duration::from_micros(jitter * ceiling * 1000 / 256)).await;
}

/// The index's mapping: nothing but what the documents hold is indexed.
fn mapping() -> Value {
    json!({
        "settings": {"index": {"number_of_shards": 1, "auto_expand_replicas": "0-1"}},
        "mappings": {
            "dynamic": false,
            "properties": {
                "kind": {"type": "keyword"},
                "count": {"type": "integer"},
                "day": {"type": "long"},
                "formed": {"type": "boolean"},
                "closed": {"type": "boolean"},
                "last_ms": {"type": "long"},
                "expires_at": {"type": "date", "format": "epoch_millis"},
                "entry": {"type": "object", "enabled": false}
            }
        }
    })
}

/// What [`Shared::update`] does with a document: write this `_source`, or leave it; either
/// way the call returns the `T`.
pub enum Change<T> {
    Write(Value, T),
    Keep(T),
}

/// The indexer as the shared store. Its HTTP client is built once, on first use.
#[derive(Debug, Clone)]
pub struct Shared {
    pub connection: Indexer,
    pub index: String,
    client: std::sync::Arc<tokio::sync::OnceCell<reqwest::Client>>,
    /// The index is known to exist with its mapping.
    index_made: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// An answer of the indexer is read up to this size: its documents are small (a shared campaign,
/// the largest, names at most 1,000 addresses and 100 users; a search returns at most 20).
const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;

/// Where the state was last kept, for logging each change once: 0 not yet, 1 shared, 2 local.
static STATE: AtomicU8 = AtomicU8::new(0);

/// When the indexer last failed this process (ms since the epoch; 0: it has not, or it answered
/// since). For [`PAUSE_MS`] after that the indexer is not asked: the node decides alone at
/// once instead of waiting up to [`SHARED_LIMIT`] for every decision.
static FAILED_MS: AtomicI64 = AtomicI64::new(0);

/// How long a process leaves the indexer alone after it failed.
const PAUSE_MS: i64 = 30_000;

/// The error of a call not made, because the indexer failed a moment ago.
const PAUSED: &str = "it failed less than 30 s ago; asked again after that";

/// Logs a change between the shared state and this node's own, once per change.
pub fn note(shared: bool, why: &str) {
    if shared {
        FAILED_MS.store(0, Ordering::Relaxed);
    } else if why != PAUSED {
        FAILED_MS.store(crate::util::now_ms(), Ordering::Relaxed);
    }
    let now = if shared { 1 } else { 2 };
    let was = STATE.swap(now, Ordering::Relaxed);
    if was == now || (shared && was == 0) {
        return;
    }
    if shared {
        tracing::info!("shared state: the indexer answers again; budgets and cooldowns are shared");
    } else {
        tracing::warn!(
            "shared state: the indexer is unavailable ({why}); this node falls back to its own \
             budget counts and cooldowns until it answers again"
        );
    }
}

/// The error of a call the indexer did not answer within [`SHARED_LIMIT`].
pub fn no_answer() -> String {
    format!("no answer within {} ms", SHARED_LIMIT.as_millis())
}

/// Whether `error` is [`no_answer`]: the request may still have landed.
pub fn is_no_answer(error: &str) -> bool {
    error == no_answer()
}

const DAY_MS: i64 = 86_400_000;

impl Shared {
    pub fn new(connection: Indexer, index: String) -> Shared {
        Shared {
            connection,
            index,
            client: Default::default(),
            index_made: Default::default(),
        }
    }

    async fn client(&self) -> Result<&reqwest::Client, String> {
        self.client
            .get_or_try_init(|| async {
                crate::investigate::history::indexer_client(&self.connection)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
    }

    /// One request to `path` under the indexer's URL, with its credentials; the status and the
    /// JSON answer (capped; `null` when it is not JSON).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let failed = FAILED_MS.load(Ordering::Relaxed);
        if failed != 0 && crate::util::now_ms().saturating_sub(failed) < PAUSE_MS {
            return Err(PAUSED.into());
        }
        let client = self.client().await?;
        let url = join_url(&self.connection.url, path);
        let mut request = client.request(method, &url);
        if !self.connection.username.is_empty() {
            request = request.basic_auth(
                &self.connection.username,
                Some(self.connection.password.expose()),
            );
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let fail = |e: reqwest::Error| crate::util::error::root_cause(&e.without_url());
        let response = request.send().await.map_err(fail)?;
        let status = response.status().as_u16();
        let bytes = crate::util::body::read_capped(response, MAX_ANSWER_BYTES)
            .await
            .map_err(|e| e.to_string())?;
        // Not JSON (the security plugin's 401 is plain text): its first line, as a string.
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            Value::String(crate::intake::alert::fold_line(
                &String::from_utf8_lossy(&bytes),
                200,
            ))
        });
        Ok((status, body))
    }

    /// The index, created with its mapping when it is missing.
    async fn ensure_index(&self) -> Result<(), String> {
        let (status, body) = self
            .call(reqwest::Method::PUT, &self.index, Some(&mapping()))
            .await?;
        match (status, error_type(&body)) {
            (200, _) | (_, Some("resource_already_exists_exception")) => Ok(()),
            _ => Err(describe(status, &body)),
        }
    }

    /// Changes the document `id` with OpenSearch's concurrency control: `change` sees its
    /// `_source` (`None` when there is none) and says what to write, if anything. A new document
    /// is made with `_create` (409: another node made it first), an existing one replaced with
    /// `if_seq_no` / `if_primary_term` (409: another node changed it in between); either way the
    /// document is read again and `change` asked again, after a short pause. The index is made
    /// on first use.
    pub async fn update<T>(
        &self,
        id: &str,
        mut change: impl FnMut(Option<&Value>) -> Change<T>,
    ) -> Result<T, String> {
        let doc_path = format!("{}/_doc/{id}", self.index);
        let mut made_index = false;
        let mut conflicts = 0;
        while conflicts < MAX_CONFLICTS {
            let (status, body) = self.call(reqwest::Method::GET, &doc_path, None).await?;
            let found = status == 200 && body["found"] == true;
            if status == 404 && error_type(&body) == Some("index_not_found_exception") {
                if made_index {
                    return Err(describe(status, &body));
                }
                self.ensure_index().await?;
                made_index = true;
                continue;
            }
            if !found && status != 404 {
                return Err(describe(status, &body));
            }
            let current = found.then(|| &body["_source"]);
            let (next, outcome) = match change(current) {
                Change::Keep(outcome) => return Ok(outcome),
                Change::Write(next, outcome) => (next, outcome),
            };
            let path = if found {
                let (Some(seq_no), Some(term)) =
                    (body["_seq_no"].as_i64(), body["_primary_term"].as_i64())
                else {
                    return Err("the indexer sent a document without _seq_no".into());
                };
                format!("{doc_path}?if_seq_no={seq_no}&if_primary_term={term}")
            } else {
                format!("{}/_create/{id}", self.index)
            };
            let (status, body) = self.call(reqwest::Method::PUT, &path, Some(&next)).await?;
            match status {
                200 | 201 => return Ok(outcome),
                409 => {
                    conflicts += 1;
                    back_off(conflicts).await;
                }
                _ => return Err(describe(status, &body)),
            }
        }
        Err(format!("{MAX_CONFLICTS} conflicting updates in a row"))
    }

    /// Takes one lookup from the budget `name` (a source's daily budget) on the UTC day of
    /// `now_ms`: true when it fits, shared by every node.
    pub async fn take_daily(&self, name: &str, now_ms: i64, per_day: u32) -> Result<bool, String> {
        let day = now_ms.div_euclid(DAY_MS);
        self.update(&format!("budget-{name}-{day}"), |doc| {
            let count = doc.map_or(0, |d| d["count"].as_u64().unwrap_or(0));
            if count >= u64::from(per_day) {
                return Change::Keep(false);
            }
            let count = u32::try_from(count + 1).unwrap_or(u32::MAX);
            Change::Write(
                json!({"kind": "budget", "count": count, "day": day, "expires_at": (day + 2) * DAY_MS}),
                true,
            )
        })
        .await
    }

    /// The `_source` of the documents that match `query` (a `_search` body); none when the
    /// index does not exist yet.
    pub async fn search(&self, query: &Value) -> Result<Vec<Value>, String> {
        let path = format!("{}/_search", self.index);
        let (status, body) = self.call(reqwest::Method::POST, &path, Some(query)).await?;
        match (status, error_type(&body)) {
            (200, _) => Ok(body["hits"]["hits"]
                .as_array()
                .map(|hits| hits.iter().map(|h| h["_source"].clone()).collect())
                .unwrap_or_default()),
            (404, Some("index_not_found_exception")) => Ok(Vec::new()),
            _ => Err(describe(status, &body)),
        }
    }

    /// A threat-intel answer another node kept (`Cache` entry JSON), if there is one.
    pub async fn cached(&self, provider: &str, ip: &str) -> Result<Option<Value>, String> {
        let path = format!("{}/_doc/{}", self.index, cache_id(provider, ip));
        let (status, body) = self.call(reqwest::Method::GET, &path, None).await?;
        match status {
            200 if body["found"] == true => Ok(Some(body["_source"]["entry"].clone())),
            404 => Ok(None),
            _ => Err(describe(status, &body)),
        }
    }

    /// Shares a threat-intel answer until `expires` (seconds since the epoch); the last writer
    /// wins, as every writer holds a fresh answer.
    pub async fn share(
        &self,
        provider: &str,
        ip: &str,
        entry: Value,
        expires: u64,
    ) -> Result<(), String> {
        let path = format!("{}/_doc/{}", self.index, cache_id(provider, ip));
        let doc = json!({
            "kind": "ti",
            "entry": entry,
            "expires_at": i64::try_from(expires).unwrap_or(i64::MAX / 1000).saturating_mul(1000),
        });
        // Made with its mapping first: an indexer that creates missing indices on a write would
        // otherwise make this one with a mapping of its own guessing.
        if !self.index_made.load(Ordering::Relaxed) {
            // Asked first, so that a user who may write but not create indices can share.
            let (status, _) = self.call(reqwest::Method::HEAD, &self.index, None).await?;
            if !(200..300).contains(&status) {
                self.ensure_index().await?;
            }
            self.index_made.store(true, Ordering::Relaxed);
        }
        for _ in 0..2 {
            let (status, body) = self.call(reqwest::Method::PUT, &path, Some(&doc)).await?;
            match (status, error_type(&body)) {
                (200 | 201, _) => return Ok(()),
                (404, Some("index_not_found_exception")) => self.ensure_index().await?,
                _ => return Err(describe(status, &body)),
            }
        }
        Err("the index could not be created".into())
    }

    /// Removes the documents whose time is over (the worker calls it now and then).
    pub async fn remove_expired(&self, now_ms: i64) -> Result<u64, String> {
        let path = format!("{}/_delete_by_query?conflicts=proceed", self.index);
        let query = json!({"query": {"range": {"expires_at": {"lt": now_ms}}}});
        let (status, body) = self
            .call(reqwest::Method::POST, &path, Some(&query))
            .await?;
        if status == 200 {
            Ok(body["deleted"].as_u64().unwrap_or(0))
        } else {
            Err(describe(status, &body))
        }
    }
}

/// What `check` says of the shared state: which backend is in use and why, and whether the
/// indexer answers.
pub async fn probe(shared: Option<&Shared>) -> crate::util::Probe {
    use crate::util::Probe;
    let Some(shared) = shared else {
        return Probe::ok("local: each node keeps its own state (cluster.backend = \"local\")");
    };
    let shown = crate::investigate::history::display_url(&shared.connection.url);
    let head = shared.call(reqwest::Method::HEAD, &shared.index, None);
    match tokio::time::timeout(SHARED_LIMIT * 3, head).await {
        Ok(Ok((200..=299, _))) => Probe::ok(format!(
            "indexer at {shown}, index {}: cooldowns, campaigns, budgets and answers are shared by every node",
            shared.index
        )),
        Ok(Ok((404, _))) => Probe::ok(format!(
            "indexer at {shown}: index {} is created on first use; cooldowns, campaigns, budgets and answers are shared",
            shared.index
        )),
        Ok(Ok((status, _))) => Probe::failed(format!(
            "indexer at {shown} answered HTTP {status} for index {}: this node decides on its own state",
            shared.index
        )),
        Ok(Err(e)) => Probe::failed(format!(
            "indexer at {shown} unreachable ({e}): this node decides on its own state"
        )),
        Err(_) => Probe::failed(format!(
            "indexer at {shown} did not answer within 3 s: this node decides on its own state"
        )),
    }
}

/// The document id of a threat-intel answer: the provider and the address, `:` as `_`.
fn cache_id(provider: &str, ip: &str) -> String {
    format!("ti-{provider}-{}", ip.replace(':', "_"))
}

/// An OpenSearch error's `error.type`.
fn error_type(body: &Value) -> Option<&str> {
    body["error"]["type"].as_str()
}

/// An OpenSearch error on one line: the status, the type and the reason.
fn describe(status: u16, body: &Value) -> String {
    let reason = body["error"]["reason"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .or_else(|| body.as_str())
        .unwrap_or("");
    let text = match error_type(body) {
        Some(kind) => format!("HTTP {status}: {kind}: {reason}"),
        None if !reason.is_empty() => format!("HTTP {status}: {reason}"),
        None => format!("HTTP {status}"),
    };
    crate::intake::alert::fold_line(&text, 200)
}
