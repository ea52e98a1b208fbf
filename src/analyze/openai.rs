//! Any OpenAI-compatible model server (`POST /v1/chat/completions`, one non-streamed answer):
//! llama.cpp's server, vLLM, LM Studio, LocalAI, or a hosted API. A Bearer key when one is set,
//! `max_tokens` always; `finish_reason = "length"` is a report cut at the token limit, as with
//! Ollama. The error bodies of the OpenAI API, llama.cpp's server and vLLM become one line each.

use serde::{Deserialize, Serialize};

use crate::analyze::llm::{
    shown_url, snippet, Answer, Chatting, Endpoint, Llm, LlmError, MAX_ANSWER_BYTES,
};
use crate::analyze::prompt::Prompt;
use crate::config::{join_url, OpenAi};
use crate::util::body::read_capped;
use crate::util::error::root_cause;
use crate::util::Probe;

/// How the errors name this server.
const SERVER: &str = "the OpenAI-compatible server";

fn endpoint(cfg: &OpenAi) -> Endpoint<'_> {
    Endpoint {
        server: SERVER,
        url: &cfg.url,
        timeout_secs: cfg.timeout_secs,
        timeout_key: "openai.timeout_secs",
    }
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    stream: bool,
    max_tokens: u32,
    temperature: f32,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default, deserialize_with = "null_as_empty")]
    choices: Vec<Choice>,
    #[serde(default)]
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<ChoiceMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    #[serde(default)]
    content: Option<String>,
}

/// Read leniently: a server that counts oddly must not cost a good answer.
#[derive(Deserialize)]
struct Usage {
    #[serde(default)]
    prompt_tokens: serde_json::Value,
    #[serde(default)]
    completion_tokens: serde_json::Value,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Choice>, D::Error> {
    Ok(Option::<Vec<Choice>>::deserialize(d)?.unwrap_or_default())
}

/// The message in an error body, wherever the server puts it: `error.message` (the OpenAI API,
/// llama.cpp's server, newer vLLM), a top-level `message` (older vLLM), or `error` as a string.
fn error_message(bytes: &[u8]) -> String {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return snippet(bytes);
    };
    let text = body["error"]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .or_else(|| body["error"].as_str())
        .or_else(|| body["detail"].as_str());
    match text {
        Some(text) => snippet(text.as_bytes()),
        None => snippet(bytes),
    }
}

pub struct Client {
    http: reqwest::Client,
    cfg: OpenAi,
}

impl Client {
    pub fn new(cfg: &OpenAi) -> anyhow::Result<Self> {
        Ok(Client {
            http: endpoint(cfg).client()?,
            cfg: cfg.clone(),
        })
    }

    async fn call(&self, prompt: &Prompt) -> Result<Answer, LlmError> {
        let url = join_url(&self.cfg.url, "v1/chat/completions");
        let body = ChatRequest {
            model: &self.cfg.model,
            messages: [
                Message {
                    role: "system",
                    content: &prompt.system,
                },
                Message {
                    role: "user",
                    content: &prompt.user,
                },
            ],
            stream: false,
            max_tokens: self.cfg.max_tokens,
            temperature: self.cfg.temperature,
        };
        let mut request = self.http.post(&url).json(&body);
        if self.cfg.api_key.is_set() {
            request = request.bearer_auth(self.cfg.api_key.expose());
        }
        let (status, bytes) = endpoint(&self.cfg).send(request).await?;
        self.read_answer(status, &bytes)
    }

    /// The answer in a response body: the model's text, or the error the server sent.
    fn read_answer(&self, status: reqwest::StatusCode, bytes: &[u8]) -> Result<Answer, LlmError> {
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(LlmError::Refused {
                server: SERVER,
                status: status.as_u16(),
                message: error_message(bytes),
                key: "openai.api_key (or AI_ANALYZER_OPENAI_API_KEY)",
            });
        }
        if !status.is_success() {
            return Err(LlmError::Http {
                server: SERVER,
                status: status.as_u16(),
                message: error_message(bytes),
            });
        }
        let parsed: ChatResponse =
            serde_json::from_slice(bytes).map_err(|e| LlmError::BadBody {
                server: SERVER,
                message: e.to_string(),
            })?;
        let choice = parsed.choices.into_iter().next().ok_or(LlmError::BadBody {
            server: SERVER,
            message: "no \"choices\" in the answer".into(),
        })?;
        let content = choice.message.and_then(|m| m.content).unwrap_or_default();
        if content.trim().is_empty() {
            if choice.finish_reason.as_deref() == Some("length") {
                return Err(LlmError::Http {
                    server: SERVER,
                    status: status.as_u16(),
                    message: "the model stopped at max_tokens before writing anything (a \
                              reasoning model thinks first): raise openai.max_tokens"
                        .into(),
                });
            }
            return Err(LlmError::Empty);
        }
        let usage = parsed.usage;
        Ok(Answer {
            content,
            done_reason: choice.finish_reason.map(|r| snippet(r.as_bytes())),
            prompt_tokens: usage.as_ref().and_then(|u| u.prompt_tokens.as_u64()),
            answer_tokens: usage.as_ref().and_then(|u| u.completion_tokens.as_u64()),
            // Such servers refuse a prompt longer than the context with an error instead.
            truncated_prompt: false,
        })
    }
}

impl Llm for Client {
    fn chat<'a>(&'a self, prompt: &'a Prompt) -> Chatting<'a> {
        Box::pin(self.call(prompt))
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }
}

/// What `check` says of the server: reachable, the key accepted, and the model listed by
/// `GET /v1/models`.
pub async fn probe(cfg: &OpenAi, http: &reqwest::Client) -> Probe {
    let url = join_url(&cfg.url, "v1/models");
    let mut request = http.get(&url);
    let url = shown_url(&url);
    if cfg.api_key.is_set() {
        request = request.bearer_auth(cfg.api_key.expose());
    }
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) => {
            return Probe::failed(format!(
                "{} unreachable ({})",
                shown_url(&cfg.url),
                snippet(root_cause(&e).as_bytes())
            ))
        }
    };
    let status = response.status();
    let bytes = read_capped(response, MAX_ANSWER_BYTES)
        .await
        .unwrap_or_default();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Probe::failed(format!(
            "{url} refused the API key (HTTP {}: {}); set openai.api_key or AI_ANALYZER_OPENAI_API_KEY",
            status.as_u16(),
            error_message(&bytes)
        ));
    }
    if !status.is_success() {
        return Probe::failed(format!(
            "{url} answered HTTP {}: {}",
            status.as_u16(),
            error_message(&bytes)
        ));
    }
    let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let ids: Vec<&str> = body["data"]
        .as_array()
        .map(|models| models.iter().filter_map(|m| m["id"].as_str()).collect())
        .unwrap_or_default();
    let url_shown = shown_url(&cfg.url);
    if ids.contains(&cfg.model.as_str()) {
        Probe::ok(format!("{url_shown} has model {}", cfg.model))
    } else {
        let listed: Vec<String> = ids
            .iter()
            .take(5)
            .map(|id| snippet(id.as_bytes()))
            .collect();
        Probe::failed(format!(
            "{url_shown} is up but does not list model {:?} (it lists: {}); set openai.model",
            cfg.model,
            if listed.is_empty() {
                "nothing".to_string()
            } else {
                listed.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/llm_openai/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(path).expect("fixture")
    }

    fn client() -> Client {
        Client::new(&OpenAi {
            model: "m".into(),
            ..OpenAi::default()
        })
        .expect("client")
    }

    /// Every recorded error body (the OpenAI API, llama.cpp's server, vLLM before and after it
    /// nested its errors) becomes one line carrying the server's own message; 401 and 403 say
    /// which key to check.
    #[test]
    fn recorded_error_bodies_become_one_line_errors() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llm_openai");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(status) = name
                .split("_error_")
                .nth(1)
                .and_then(|rest| rest.get(..3))
                .and_then(|s| s.parse::<u16>().ok())
            else {
                continue;
            };
            let body = fixture(&name);
            let said: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            let want = said["error"]["message"]
                .as_str()
                .or_else(|| said["message"].as_str())
                .expect("a message");
            let code = reqwest::StatusCode::from_u16(status).expect("status");
            let err = client().read_answer(code, &body).expect_err(&name);
            let line = err.to_string();
            assert!(!line.contains('\n'), "{name}: {line}");
            assert!(line.contains(&format!("HTTP {status}")), "{name}: {line}");
            let short = crate::intake::alert::truncate_chars(want, 150);
            assert!(line.contains(short), "{name}: {line}");
            if status == 401 {
                assert!(line.contains("check openai.api_key"), "{name}: {line}");
            }
            seen += 1;
        }
        assert!(seen >= 10, "{seen}");
    }

    #[test]
    fn answers_stop_and_length() {
        let ok = client()
            .read_answer(
                reqwest::StatusCode::OK,
                &fixture("openai_chat_stop_recorded.json"),
            )
            .expect("an answer");
        assert!(!ok.cut_at_limit());
        assert!(ok.prompt_tokens.is_some() && ok.answer_tokens.is_some());
        let cut = client()
            .read_answer(reqwest::StatusCode::OK, &fixture("openai_chat_length.json"))
            .expect("an answer");
        assert!(cut.cut_at_limit());
        assert_eq!(cut.answer_tokens, Some(1));
        let none = client().read_answer(reqwest::StatusCode::OK, b"{\"choices\":[]}");
        assert!(matches!(none, Err(LlmError::BadBody { .. })), "{none:?}");
        let not_json = client().read_answer(reqwest::StatusCode::OK, b"<html>");
        assert!(matches!(not_json, Err(LlmError::BadBody { .. })));
    }
}
