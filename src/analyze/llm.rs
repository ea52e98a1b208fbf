//! The model server behind one small trait: Ollama's `/api/chat` ([`super::ollama`]) or any
//! OpenAI-compatible `/v1/chat/completions` ([`super::openai`]: llama.cpp's server, vLLM,
//! LM Studio, LocalAI, a hosted API). Both get the same prompt, deadline and slot, and their
//! answers the same cleaning and guard.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use crate::analyze::prompt::Prompt;
use crate::config::{LlmBackend, Settings};
use crate::util::Probe;

/// Why the model gave no report. Each variant says what the admin can do about it.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("{server} is unreachable at {url} ({reason})")]
    Unreachable {
        server: &'static str,
        url: String,
        reason: String,
    },
    #[error("{server} did not answer within {secs} s ({key})")]
    Timeout {
        server: &'static str,
        secs: u64,
        key: &'static str,
    },
    #[error("model {model:?} is not installed in Ollama (run: ollama pull {model})")]
    ModelNotFound { model: String },
    #[error("{server} refused the API key (HTTP {status}: {message}); check {key}")]
    Refused {
        server: &'static str,
        status: u16,
        message: String,
        key: &'static str,
    },
    #[error("{server} answered HTTP {status}: {message}")]
    Http {
        server: &'static str,
        status: u16,
        message: String,
    },
    #[error("{server} sent a body that is not a chat answer: {message}")]
    BadBody {
        server: &'static str,
        message: String,
    },
    #[error("the model returned an empty answer")]
    Empty,
}

/// A successful answer.
#[derive(Debug, Clone)]
pub struct Answer {
    pub content: String,
    /// Why the model stopped: `stop`, or `length` when it hit its token limit.
    pub done_reason: Option<String>,
    pub prompt_tokens: Option<u64>,
    pub answer_tokens: Option<u64>,
    /// Set when the server's token count shows it dropped part of the prompt.
    pub truncated_prompt: bool,
}

impl Answer {
    /// The model stopped at its token limit (Ollama's `done_reason`, OpenAI's `finish_reason`):
    /// the report it wrote is cut short.
    pub fn cut_at_limit(&self) -> bool {
        self.done_reason.as_deref() == Some("length")
    }
}

/// The future of one chat call.
pub type Chatting<'a> = Pin<Box<dyn Future<Output = Result<Answer, LlmError>> + Send + 'a>>;

/// One model server.
pub trait Llm: Send + Sync {
    /// One chat call with the prompt; no retries (the report without AI is the retry).
    fn chat<'a>(&'a self, prompt: &'a Prompt) -> Chatting<'a>;

    /// The model's name, for the log.
    fn model(&self) -> &str;
}

/// The configured backend's client.
pub fn client(settings: &Settings) -> anyhow::Result<Box<dyn Llm>> {
    Ok(match settings.llm.backend {
        LlmBackend::Ollama => Box::new(super::ollama::Client::new(&settings.ollama)?),
        LlmBackend::Openai => Box::new(super::openai::Client::new(&settings.openai)?),
    })
}

/// What `check` says of the configured backend.
pub async fn probe(settings: &Settings, http: &reqwest::Client) -> (&'static str, Probe) {
    match settings.llm.backend {
        LlmBackend::Ollama => ("ollama", super::ollama::probe(&settings.ollama, http).await),
        LlmBackend::Openai => ("openai", super::openai::probe(&settings.openai, http).await),
    }
}

/// How long to wait for the TCP connection to the model server.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An answer larger than this is refused unread: a report is a few KiB, and a server that sends
/// gigabytes must not take the host's memory with it.
pub const MAX_ANSWER_BYTES: usize = 2 * 1024 * 1024;

/// One model server as both clients talk to it: its name and URL for errors, its timeout.
pub(crate) struct Endpoint<'a> {
    /// How errors name it: `Ollama`, `the OpenAI-compatible server`.
    pub server: &'static str,
    pub url: &'a str,
    pub timeout_secs: u64,
    /// The key that sets the timeout, named when it runs out.
    pub timeout_key: &'static str,
}

impl Endpoint<'_> {
    /// The HTTP client: no proxy for a server on the admin's network, no redirect (it would
    /// carry the whole prompt to another host), the timeouts.
    pub(crate) fn client(&self) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder();
        if crate::investigate::scope::is_local_url(self.url) {
            // A proxy must never see what goes to a server on the admin's own network.
            builder = builder.no_proxy();
        }
        builder
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(Duration::from_secs(self.timeout_secs))
            .user_agent(concat!("ai-analyzer/", env!("CARGO_PKG_VERSION")))
            .build()
    }

    /// Sends a request and reads the whole answer, capped at [`MAX_ANSWER_BYTES`].
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), LlmError> {
        use crate::util::body::{read_capped, BodyError};
        let response = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        match read_capped(response, MAX_ANSWER_BYTES).await {
            Ok(bytes) => Ok((status, bytes)),
            Err(BodyError::Read(e)) => Err(self.transport_error(&e)),
            Err(e @ BodyError::TooLarge(_)) => Err(LlmError::BadBody {
                server: self.server,
                message: e.to_string(),
            }),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout {
                server: self.server,
                secs: self.timeout_secs,
                key: self.timeout_key,
            }
        } else if e.is_decode() || e.is_body() {
            LlmError::BadBody {
                server: self.server,
                message: snippet(e.to_string().as_bytes()),
            }
        } else {
            LlmError::Unreachable {
                server: self.server,
                url: shown_url(self.url),
                reason: snippet(crate::util::error::root_cause(e).as_bytes()),
            }
        }
    }
}

/// A server's text (an error body, a model id) on one line: no control or hidden character,
/// cut to 200 characters.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(bytes)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !crate::util::is_hiding_char(*c))
        .collect();
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::intake::alert::truncate_chars(&one_line, 200).to_string()
}

/// A server URL as errors show it: without a user name or password in it.
pub(crate) fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}
