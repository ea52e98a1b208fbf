//! A fake Wazuh indexer (OpenSearch) for the shared state: one index of documents with
//! `_seq_no` and `_primary_term`, `_create` that refuses an existing id (409), updates with
//! `if_seq_no` / `if_primary_term` that refuse a stale one (409), index creation, `_search` with
//! a bool query of `term` and `range` filters, and `_delete_by_query` on `expires_at`; errors
//! in OpenSearch's shape, from the recorded bodies in `tests/fixtures/opensearch/`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use super::read_fixture;

#[derive(Default)]
struct State {
    indices: HashMap<String, HashMap<String, (i64, Value)>>,
    seq_no: i64,
    /// Requests that changed a document, for the tests' counts.
    writes: usize,
    conflicts: usize,
    /// The disk is full: writes get the flood-stage block.
    blocked: bool,
    /// Every request is refused as with wrong credentials.
    denied: bool,
    /// Every answer comes this late.
    delay: Option<std::time::Duration>,
}

#[derive(Clone, Default)]
pub struct FakeIndexer {
    state: Arc<Mutex<State>>,
}

fn recorded(name: &str, replace: &[(&str, &str)]) -> Value {
    let mut text = read_fixture(&format!("opensearch/{name}"));
    for (from, to) in replace {
        text = text.replace(from, to);
    }
    serde_json::from_str(&text).expect("recorded body parses")
}

impl FakeIndexer {
    pub async fn start() -> (MockServer, FakeIndexer) {
        // Not from wiremock's pool: dropping it stops it, as a node losing the indexer sees.
        let server = MockServer::builder().start().await;
        let fake = FakeIndexer::default();
        Mock::given(wiremock::matchers::any())
            .respond_with(fake.clone())
            .mount(&server)
            .await;
        (server, fake)
    }

    /// The `count` of every budget document, by id.
    pub fn counts(&self) -> HashMap<String, u64> {
        let state = self.state.lock().unwrap();
        state
            .indices
            .values()
            .flat_map(|docs| docs.iter())
            .map(|(id, (_, doc))| (id.clone(), doc["count"].as_u64().unwrap_or(0)))
            .collect()
    }

    /// The `_source` of every document of `kind`.
    pub fn docs(&self, kind: &str) -> Vec<Value> {
        let state = self.state.lock().unwrap();
        state
            .indices
            .values()
            .flat_map(|docs| docs.values())
            .filter(|(_, doc)| doc["kind"] == kind)
            .map(|(_, doc)| doc.clone())
            .collect()
    }

    /// Per kind of document: how many there are and the bytes of their `_source`.
    pub fn sizes(&self) -> std::collections::BTreeMap<String, (usize, usize)> {
        let state = self.state.lock().unwrap();
        let mut sizes = std::collections::BTreeMap::new();
        for (_, doc) in state.indices.values().flat_map(|docs| docs.values()) {
            let kind = doc["kind"].as_str().unwrap_or("other").to_string();
            let entry: &mut (usize, usize) = sizes.entry(kind).or_default();
            entry.0 += 1;
            entry.1 += doc.to_string().len();
        }
        sizes
    }

    pub fn conflicts(&self) -> usize {
        self.state.lock().unwrap().conflicts
    }

    /// Puts a document in place, as another node would have.
    pub fn insert(&self, index: &str, id: &str, doc: Value) {
        let mut state = self.state.lock().unwrap();
        state.seq_no += 1;
        let seq_no = state.seq_no;
        state
            .indices
            .entry(index.to_string())
            .or_default()
            .insert(id.to_string(), (seq_no, doc));
    }

    /// From now on, every request is refused with 401, as the security plugin does.
    pub fn deny(&self) {
        self.state.lock().unwrap().denied = true;
    }

    /// From now on, every answer comes `delay` late.
    pub fn slow(&self, delay: std::time::Duration) {
        self.state.lock().unwrap().delay = Some(delay);
    }

    /// From now on, writes are refused as on an indexer whose disk passed the flood stage.
    pub fn block_writes(&self) {
        self.state.lock().unwrap().blocked = true;
    }
}

impl Respond for FakeIndexer {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (denied, delay) = {
            let state = self.state.lock().unwrap();
            (state.denied, state.delay)
        };
        let answer = if denied {
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Basic realm=\"OpenSearch Security\"")
                .set_body_raw(
                    read_fixture("opensearch/error_401_security.txt").into_bytes(),
                    "text/plain; charset=UTF-8",
                )
        } else {
            self.answer(request)
        };
        match delay {
            Some(delay) => answer.set_delay(delay),
            None => answer,
        }
    }
}

impl FakeIndexer {
    fn answer(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let parts: Vec<String> = request
            .url
            .path()
            .trim_matches('/')
            .split('/')
            .map(String::from)
            .collect();
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let method = request.method.as_str().to_string();
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let index = parts.first().cloned().unwrap_or_default();
        let missing_index = || {
            ResponseTemplate::new(404)
                .set_body_json(recorded("error_404_index_not_found.json", &[]))
        };
        match (method.as_str(), parts.len()) {
            // HEAD on an index: 200 or 404, no body.
            ("HEAD", 1) => ResponseTemplate::new(if state.indices.contains_key(&index) {
                200
            } else {
                404
            }),
            ("PUT", 1) => {
                if state.indices.contains_key(&index) {
                    return ResponseTemplate::new(400)
                        .set_body_json(recorded("error_400_index_exists.json", &[]));
                }
                state.indices.insert(index.clone(), HashMap::new());
                ResponseTemplate::new(200).set_body_json(json!({
                    "acknowledged": true, "shards_acknowledged": true, "index": index
                }))
            }
            ("GET", 3) if parts[1] == "_doc" => {
                let Some(docs) = state.indices.get(&index) else {
                    return missing_index();
                };
                match docs.get(&parts[2]) {
                    Some((seq_no, doc)) => ResponseTemplate::new(200).set_body_json(json!({
                        "_index": index, "_id": parts[2], "_version": 1, "_seq_no": seq_no,
                        "_primary_term": 1, "found": true, "_source": doc
                    })),
                    None => ResponseTemplate::new(404).set_body_json(json!({
                        "_index": index, "_id": parts[2], "found": false
                    })),
                }
            }
            ("PUT", 3) if state.blocked => ResponseTemplate::new(429)
                .set_body_json(recorded("error_429_cluster_block_flood_stage.json", &[])),
            ("PUT", 3) if parts[1] == "_create" || parts[1] == "_doc" => {
                state.seq_no += 1;
                let next = state.seq_no;
                let id = parts[2].clone();
                let wanted = query.get("if_seq_no").and_then(|s| s.parse::<i64>().ok());
                let Some(docs) = state.indices.get_mut(&index) else {
                    return missing_index();
                };
                let current = docs.get(&id).map(|(s, _)| *s);
                let conflict = match (parts[1].as_str(), current, wanted) {
                    ("_create", Some(_), _) => Some("error_409_create_conflict.json"),
                    ("_doc", Some(have), Some(want)) if have != want => {
                        Some("error_409_seq_no_conflict.json")
                    }
                    ("_doc", None, Some(_)) => Some("error_409_seq_no_conflict.json"),
                    _ => None,
                };
                if let Some(file) = conflict {
                    state.conflicts += 1;
                    return ResponseTemplate::new(409)
                        .set_body_json(recorded(file, &[]));
                }
                docs.insert(id.clone(), (next, body));
                state.writes += 1;
                let created = current.is_none();
                ResponseTemplate::new(if created { 201 } else { 200 }).set_body_json(json!({
                    "_index": index, "_id": id, "_version": 1,
                    "result": if created { "created" } else { "updated" },
                    "_shards": {"total": 1, "successful": 1, "failed": 0},
                    "_seq_no": next, "_primary_term": 1
                }))
            }
            ("POST" | "GET", 2) if parts[1] == "_search" => {
                let Some(docs) = state.indices.get(&index) else {
                    return missing_index();
                };
                let size = body["size"].as_u64().unwrap_or(10) as usize;
                let filters = body["query"]["bool"]["filter"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut hits: Vec<(&String, &(i64, Value))> = docs
                    .iter()
                    .filter(|(_, (_, doc))| filters.iter().all(|f| matches(f, doc)))
                    .collect();
                hits.sort_by_key(|(id, _)| (*id).clone());
                let total = hits.len();
                // `_source.excludes`: dotted paths left out of each hit.
                let excludes: Vec<String> = body["_source"]["excludes"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|p| p.as_str().map(String::from)).collect())
                    .unwrap_or_default();
                let hits: Vec<Value> = hits
                    .into_iter()
                    .take(size)
                    .map(|(id, (_, doc))| {
                        let mut doc = doc.clone();
                        for path in &excludes {
                            let mut parts: Vec<&str> = path.split('.').collect();
                            let Some(last) = parts.pop() else { continue };
                            let mut at = &mut doc;
                            for part in parts {
                                at = &mut at[part];
                            }
                            if let Some(map) = at.as_object_mut() {
                                map.remove(last);
                            }
                        }
                        json!({"_index": index, "_id": id, "_score": 0.0, "_source": doc})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!({
                    "took": 1, "timed_out": false,
                    "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
                    "hits": {"total": {"value": total, "relation": "eq"}, "max_score": 0.0,
                             "hits": hits}
                }))
            }
            ("POST", 2) if parts[1] == "_delete_by_query" => {
                let Some(docs) = state.indices.get_mut(&index) else {
                    return missing_index();
                };
                let before = body["query"]["range"]["expires_at"]["lt"].as_i64().unwrap_or(0);
                let old = docs.len();
                docs.retain(|_, (_, doc)| doc["expires_at"].as_i64().unwrap_or(i64::MAX) >= before);
                let deleted = old - docs.len();
                ResponseTemplate::new(200).set_body_json(json!({
                    "took": 1, "timed_out": false, "total": deleted, "deleted": deleted,
                    "batches": 1, "version_conflicts": 0, "noops": 0, "failures": []
                }))
            }
            _ => ResponseTemplate::new(400).set_body_json(json!({
                "error": {"type": "illegal_argument_exception", "reason": format!("no fake for {method} {}", request.url.path())},
                "status": 400
            })),
        }
    }
}

/// Whether `doc` passes one filter of a bool query: `term` (the field equals the value) or
/// `range` (`gte`, `gt`, `lte`, `lt` on a number), the two kinds the shared state asks.
fn matches(filter: &Value, doc: &Value) -> bool {
    if let Some(term) = filter["term"].as_object() {
        return term.iter().all(|(field, want)| {
            let want = want.get("value").unwrap_or(want);
            &doc[field.as_str()] == want
        });
    }
    if let Some(range) = filter["range"].as_object() {
        return range.iter().all(|(field, bounds)| {
            let Some(have) = doc[field.as_str()].as_i64() else {
                return false;
            };
            let bound = |name: &str| bounds[name].as_i64();
            bound("gte").is_none_or(|b| have >= b)
                && bound("gt").is_none_or(|b| have > b)
                && bound("lte").is_none_or(|b| have <= b)
                && bound("lt").is_none_or(|b| have < b)
        });
    }
    false
}
