//! The Ollama client (`POST /api/chat`, one non-streamed answer) and the clean-up of what the model
//! says, so that what reaches the phone is always a Markdown report that starts with `# ` and fits.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::analyze::llm::{snippet, Answer, Chatting, Endpoint, Llm, LlmError};
use crate::analyze::prompt::Prompt;
use crate::analyze::report::fit;
use crate::config::{join_url, Ollama};

use crate::util::error::root_cause;
use crate::util::Probe;

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: [Message<'a>; 2],
    stream: bool,
    think: bool,
    options: serde_json::Value,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

#[derive(Deserialize)]
struct ChatResponse {
    message: Option<ResponseMessage>,
    #[serde(default)]
    done_reason: Option<String>,
    #[serde(default)]
    prompt_eval_count: Option<u64>,
    #[serde(default)]
    eval_count: Option<u64>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct ResponseMessage {
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

/// A token is at most this many bytes on average, for any text we send; fewer evaluated tokens than
/// `bytes / this` means Ollama cut the prompt.
const MAX_BYTES_PER_TOKEN: u64 = 6;

pub struct Client {
    http: reqwest::Client,
    cfg: Ollama,
}

impl Client {
    pub fn new(cfg: &Ollama) -> anyhow::Result<Self> {
        Ok(Client {
            http: endpoint(cfg).client()?,
            cfg: cfg.clone(),
        })
    }

    /// One chat call with the prompt; no retries (the fallback report is the retry).
    pub async fn chat(&self, prompt: &Prompt) -> Result<Answer, LlmError> {
        let url = join_url(&self.cfg.url, "api/chat");
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
            think: false,
            options: json!({
                "num_ctx": self.cfg.num_ctx,
                "temperature": self.cfg.temperature,
            }),
        };
        let estimated_tokens = prompt.len() as u64 / 4;
        if estimated_tokens > u64::from(self.cfg.num_ctx) {
            tracing::warn!(
                "prompt is about {estimated_tokens} tokens, more than ollama.num_ctx = {}; \
                 Ollama will drop its start",
                self.cfg.num_ctx
            );
        }
        let (status, bytes) = endpoint(&self.cfg)
            .send(self.http.post(&url).json(&body))
            .await?;
        self.read_answer(status, &bytes, prompt)
    }

    /// The answer in a response body: the model's text, or the error the server sent.
    fn read_answer(
        &self,
        status: reqwest::StatusCode,
        bytes: &[u8],
        prompt: &Prompt,
    ) -> Result<Answer, LlmError> {
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(LlmError::ModelNotFound {
                model: self.cfg.model.clone(),
            });
        }
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(bytes)
                .map(|b| b.error)
                .unwrap_or_else(|_| snippet(bytes));
            return Err(LlmError::Http {
                server: SERVER,
                status: status.as_u16(),
                message,
            });
        }
        let parsed: ChatResponse =
            serde_json::from_slice(bytes).map_err(|e| LlmError::BadBody {
                server: SERVER,
                message: e.to_string(),
            })?;
        if let Some(error) = parsed.error {
            return Err(LlmError::Http {
                server: SERVER,
                status: status.as_u16(),
                message: error,
            });
        }
        let content = parsed
            .message
            .ok_or_else(|| LlmError::BadBody {
                server: SERVER,
                message: "no \"message\" field".into(),
            })?
            .content;
        if content.trim().is_empty() {
            return Err(LlmError::Empty);
        }
        let min_tokens = prompt.len() as u64 / MAX_BYTES_PER_TOKEN;
        let truncated_prompt = parsed.prompt_eval_count.is_some_and(|n| n < min_tokens);
        if truncated_prompt {
            tracing::warn!(
                "Ollama evaluated only {} prompt tokens for a prompt of {} bytes: the prompt was cut; \
                 raise ollama.num_ctx",
                parsed.prompt_eval_count.unwrap_or_default(),
                prompt.len()
            );
        }
        Ok(Answer {
            content,
            done_reason: parsed.done_reason,
            prompt_tokens: parsed.prompt_eval_count,
            answer_tokens: parsed.eval_count,
            truncated_prompt,
        })
    }
}

/// How the errors name this server.
const SERVER: &str = "Ollama";

fn endpoint(cfg: &Ollama) -> Endpoint<'_> {
    Endpoint {
        server: SERVER,
        url: &cfg.url,
        timeout_secs: cfg.timeout_secs,
        timeout_key: "ollama.timeout_secs",
    }
}

impl Llm for Client {
    fn chat<'a>(&'a self, prompt: &'a Prompt) -> Chatting<'a> {
        Box::pin(Client::chat(self, prompt))
    }

    fn model(&self) -> &str {
        &self.cfg.model
    }
}

/// Makes the model's text fit for the phone: no preamble, no outer code fence, no control or ANSI
/// escape characters, starts with `# ` (using `fallback_title` when the model gave none), and at most
/// `max_chars` characters and 4,096 bytes, cut on a line (or at least UTF-8) boundary.
pub fn clean_answer(text: &str, fallback_title: &str, max_chars: usize) -> String {
    let text = strip_controls(text);
    let text = drop_think_blocks(&text);
    let text = unwrap_fence(text.trim());
    let lines: Vec<&str> = text.lines().collect();
    let body = match lines.iter().position(|l| l.starts_with("# ")) {
        Some(i) => lines[i..].join("\n"),
        None => {
            // No title line: promote the first heading, or add one.
            match lines.iter().position(|l| l.trim_start().starts_with('#')) {
                Some(i) => {
                    let heading = lines[i].trim_start().trim_start_matches('#').trim();
                    let rest = lines[i + 1..].join("\n");
                    format!("# {heading}\n{rest}")
                }
                None => format!("# {fallback_title}\n\n{}", lines.join("\n")),
            }
        }
    };
    fit(body.trim(), max_chars)
}

/// Removes ANSI escape sequences and control characters other than newline and tab.
fn strip_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                // CSI: ESC [ params final-byte; OSC: ESC ] ... BEL or ESC \; else drop ESC + one char.
                match chars.next() {
                    Some('[') => {
                        for c in chars.by_ref() {
                            if ('@'..='~').contains(&c) {
                                break;
                            }
                        }
                    }
                    Some(']') => {
                        while let Some(c) = chars.next() {
                            if c == '\u{7}' {
                                break;
                            }
                            if c == '\u{1b}' && chars.peek() == Some(&'\\') {
                                chars.next();
                                break;
                            }
                        }
                    }
                    _ => {}
                }
            }
            '\n' => out.push('\n'),
            '\t' => out.push_str("    "),
            '\r' => {}
            c if c.is_control() => {}
            // Bidi overrides and invisible marks can disguise text on screen.
            c if crate::util::is_hiding_char(c) => {}
            c => out.push(c),
        }
    }
    out
}

/// Some models think aloud in `<think>` tags even with `think:false`.
fn drop_think_blocks(text: &str) -> String {
    let mut out = text.to_string();
    while let Some(start) = out.find("<think>") {
        match out[start..].find("</think>") {
            Some(end) => out.replace_range(start..start + end + "</think>".len(), ""),
            None => {
                out.truncate(start);
                break;
            }
        }
    }
    out
}

/// `Here is the report:\n```markdown\n# ...\n```` -> `# ...`. Inner fences are kept.
fn unwrap_fence(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let Some(open) = lines.iter().position(|l| l.trim_start().starts_with("```")) else {
        return text.to_string();
    };
    // Only an outer fence: nothing but prose before it and no title before it.
    if lines[..open].iter().any(|l| l.starts_with('#')) {
        return text.to_string();
    }
    let Some(close) = lines.iter().rposition(|l| l.trim() == "```") else {
        return lines[open + 1..].join("\n");
    };
    if close <= open {
        return lines[open + 1..].join("\n");
    }
    lines[open + 1..close].join("\n")
}

/// What `check` says of the model server: reachable, and the model pulled.
pub async fn probe(cfg: &Ollama, http: &reqwest::Client) -> Probe {
    let tags_url = join_url(&cfg.url, "api/tags");
    match http.get(&tags_url).send().await {
        Ok(r) if r.status().is_success() => {
            let body: serde_json::Value = r.json().await.unwrap_or_default();
            let model = &cfg.model;
            let present = body["models"].as_array().is_some_and(|models| {
                models.iter().any(|m| {
                    let name = m["name"].as_str().unwrap_or_default();
                    name == model || name == format!("{model}:latest")
                })
            });
            if present {
                Probe::ok(format!("{} has model {model}", cfg.url))
            } else {
                Probe::failed(format!(
                    "{} is up but lacks model {model} (ollama pull {model})",
                    cfg.url
                ))
            }
        }
        Ok(r) => Probe::failed(format!("{tags_url} answered HTTP {}", r.status().as_u16())),
        Err(e) => Probe::failed(format!("{} unreachable ({})", cfg.url, root_cause(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every error body Ollama is recorded sending: 404 is a missing model, anything else an
    /// HTTP error carrying Ollama's own text.
    #[test]
    fn recorded_error_bodies_become_one_line_errors() {
        let client = Client::new(&Ollama::default()).unwrap();
        let prompt = Prompt {
            system: "s".into(),
            user: "u".into(),
        };
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/llm_ntfy");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(rest) = name.strip_prefix("ollama_error_") else {
                continue;
            };
            let status: u16 = rest[..3].parse().unwrap();
            let body = std::fs::read(&path).unwrap();
            let said: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let code = reqwest::StatusCode::from_u16(status).unwrap();
            match client.read_answer(code, &body, &prompt) {
                Err(LlmError::ModelNotFound { model }) => {
                    assert_eq!(status, 404, "{name}");
                    assert_eq!(model, Ollama::default().model);
                }
                Err(LlmError::Http {
                    status: s, message, ..
                }) => {
                    assert_eq!(s, status, "{name}");
                    assert_eq!(message, said["error"].as_str().unwrap(), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
            seen += 1;
        }
        assert_eq!(seen, 8, "every recorded Ollama error body");
    }
    use crate::config::NTFY_MAX_BYTES;

    #[test]
    fn preamble_and_fence_are_dropped() {
        let raw = "Sure! Here is the report:\n```markdown\n# SSH brute force\n## Overview\nBad.\n```\nHope it helps.";
        assert_eq!(
            clean_answer(raw, "t", 3500),
            "# SSH brute force\n## Overview\nBad."
        );
    }

    #[test]
    fn inner_code_blocks_are_kept() {
        let raw = "# Title\n## Details\n```\nFailed password for root\n```\nEnd.";
        assert_eq!(clean_answer(raw, "t", 3500), raw);
    }

    #[test]
    fn ansi_and_controls_are_stripped() {
        let raw = "# T\u{1b}[31mred\u{1b}[0m\u{7}\u{0}\r\nok\u{1b}]0;title\u{7}!\u{202e}x";
        assert_eq!(clean_answer(raw, "t", 3500), "# Tred\nok!x");
    }

    #[test]
    fn missing_title_is_added_or_promoted() {
        assert_eq!(
            clean_answer("## Overview\nstuff", "Fallback", 3500),
            "# Overview\nstuff"
        );
        assert_eq!(
            clean_answer("Just text.", "Fallback title", 3500),
            "# Fallback title\n\nJust text."
        );
        assert_eq!(clean_answer("intro\n# Real\nx", "F", 3500), "# Real\nx");
    }

    #[test]
    fn think_blocks_are_removed() {
        assert_eq!(
            clean_answer("<think>hmm\nyes</think>\n# T\nbody", "F", 3500),
            "# T\nbody"
        );
    }

    #[test]
    fn long_answers_fit_chars_and_bytes() {
        let long = format!("# Title\n{}", "äöü line of text\n".repeat(400));
        let out = clean_answer(&long, "F", 3500);
        assert!(out.chars().count() <= 3500);
        assert!(out.len() <= NTFY_MAX_BYTES);
        assert!(out.starts_with("# Title"));
        // Cut on a line boundary, then marked.
        assert!(out.ends_with("_(truncated)_"), "{}", &out[out.len() - 40..]);
    }
}
