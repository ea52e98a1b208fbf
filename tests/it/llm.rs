//! The OpenAI-compatible backend (`llm.backend = "openai"`) through the built binary, against a
//! fake that answers with the recorded bodies of `tests/fixtures/llm_openai/`.

use std::time::Duration;

use crate::common::*;
use wiremock::matchers::{header as has_header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A recorded chat completion with `content` as the model's text and `finish_reason`.
fn completion(content: &str, finish_reason: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&read_fixture("llm_openai/openai_chat_stop_recorded.json"))
            .expect("fixture parses");
    v["choices"][0]["message"]["content"] = content.into();
    v["choices"][0]["finish_reason"] = finish_reason.into();
    v
}

fn openai_config(server: &MockServer, key: &str) -> String {
    format!(
        "[llm]\nbackend = \"openai\"\n[openai]\nurl = \"{}/prefix\"\nmodel = \"qwen2.5-7b-instruct\"\n\
         api_key = \"{key}\"\nmax_tokens = 900\n",
        server.uri()
    )
}

/// A model server that answers every POST with `answer`.
async fn answering(answer: ResponseTemplate) -> MockServer {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(answer)
        .mount(&llm)
        .await;
    llm
}

async fn ntfy() -> MockServer {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    ntfy
}

fn run_alert(env: &Env) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    out
}

/// The report comes from the OpenAI-compatible server: the Bearer key, the model and
/// `max_tokens` are sent, the answer is cleaned like Ollama's (no preamble, no outer fence),
/// and the key appears nowhere else.
#[tokio::test]
async fn a_report_through_an_openai_compatible_server() {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/prefix/v1/chat/completions"))
        .and(has_header("authorization", "Bearer sk-test-key-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion(
            "Sure! Here is the report:\n```markdown\n# SSH brute force from 172.17.1.1\n## Overview\nEight failures for paco.\n```",
            "stop",
        )))
        .mount(&llm)
        .await;
    let ntfy = ntfy().await;
    let env = Env::new(
        &dead_url(),
        &ntfy.uri(),
        &openai_config(&llm, "sk-test-key-123"),
    );
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = llm.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{}", env.log());
    let body: serde_json::Value = serde_json::from_slice(&requests[0].body).unwrap();
    assert_eq!(body["model"], "qwen2.5-7b-instruct");
    assert_eq!(body["max_tokens"], 900);
    assert_eq!(body["stream"], false);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    let pushes = ntfy.received_requests().await.unwrap();
    assert_eq!(pushes.len(), 1, "{}", env.log());
    assert_eq!(
        header(&pushes[0], "title"),
        "SSH brute force from 172.17.1.1"
    );
    let pushed = text(&pushes[0].body);
    assert!(
        pushed.contains("## Overview\nEight failures for paco."),
        "{pushed}"
    );
    assert!(
        !pushed.contains("Sure!") && !pushed.contains("```"),
        "{pushed}"
    );
    assert!(
        env.log().contains("model qwen2.5-7b-instruct answered"),
        "{}",
        env.log()
    );
    assert!(!env.log().contains("sk-test-key-123"));
    assert!(!env.state_files().contains("sk-test-key-123"));
}

/// `finish_reason = "length"`: the report goes out and says it was cut.
#[tokio::test]
async fn an_answer_cut_at_max_tokens_says_so() {
    let llm = answering(ResponseTemplate::new(200).set_body_json(completion(
        "# SSH brute force from 172.17.1.1\n## Overview\nEight failures for pa",
        "length",
    )))
    .await;
    let ntfy = ntfy().await;
    let env = Env::new(&dead_url(), &ntfy.uri(), &openai_config(&llm, ""));
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = llm.received_requests().await.unwrap();
    assert!(
        requests[0].headers.get("authorization").is_none(),
        "no key, no header"
    );
    let pushes = ntfy.received_requests().await.unwrap();
    let pushed = text(&pushes[0].body);
    assert!(pushed.contains("Eight failures for pa"), "{pushed}");
    assert!(
        pushed.contains("the model's answer was cut at its token limit"),
        "{pushed}"
    );
    assert!(
        env.log().contains("raise openai.max_tokens"),
        "{}",
        env.log()
    );
}

/// A 401 (the OpenAI API's recorded body): one clear line in the log, and the report without AI
/// goes out with that reason.
#[tokio::test]
async fn a_refused_key_gives_the_report_without_ai() {
    let llm = answering(ResponseTemplate::new(401).set_body_raw(
        read_fixture("llm_openai/openai_error_401_invalid_api_key.json"),
        "application/json",
    ))
    .await;
    let ntfy = ntfy().await;
    let env = Env::new(&dead_url(), &ntfy.uri(), &openai_config(&llm, "sk-wrong"));
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let log = env.log();
    assert!(
        log.contains("AI analysis unavailable: the OpenAI-compatible server refused the API key (HTTP 401: Incorrect API key provided"),
        "{log}"
    );
    assert!(log.contains("check openai.api_key"), "{log}");
    assert!(!log.contains("sk-wrong"), "{log}");
    let pushes = ntfy.received_requests().await.unwrap();
    assert_eq!(pushes.len(), 1);
    let pushed = text(&pushes[0].body);
    assert!(
        pushed.contains("Written without AI: the OpenAI-compatible server refused the API key"),
        "{pushed}"
    );
}

/// `check` asks `GET /v1/models` and says whether the model is there.
#[tokio::test]
async fn check_lists_the_servers_models() {
    let llm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/prefix/v1/models"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            read_fixture("llm_openai/llamacpp_models.json"),
            "application/json",
        ))
        .mount(&llm)
        .await;
    let listed: serde_json::Value =
        serde_json::from_str(&read_fixture("llm_openai/llamacpp_models.json")).unwrap();
    let id = listed["data"][0]["id"].as_str().unwrap().to_string();
    let env = Env::new(
        &dead_url(),
        "",
        &openai_config(&llm, "").replace("qwen2.5-7b-instruct", &id),
    );
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    let said = text(&out.stdout);
    assert!(
        said.contains(&format!(
            "ok    openai      {}/prefix has model {id}",
            llm.uri()
        )),
        "{said}"
    );
    assert!(!said.contains("ollama"), "{said}");
    let env = Env::new(&dead_url(), "", &openai_config(&llm, ""));
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    let said = text(&out.stdout);
    assert!(
        said.contains("FAIL  openai")
            && said.contains("does not list model \"qwen2.5-7b-instruct\""),
        "{said}"
    );
    assert!(said.contains(&format!("(it lists: {id})")), "{said}");
    assert!(
        said.contains("next: check [openai] url, model and api_key"),
        "{said}"
    );
}

/// `pseudonymize = "always"`: the request the server gets holds none of the alert's host names,
/// user names or internal addresses; the push names them again in clear; a placeholder the model
/// invented is flagged; the mapping is in no file and no log line.
#[tokio::test]
async fn pseudonymised_prompt_and_clear_report() {
    let llm = answering(ResponseTemplate::new(200).set_body_json(completion(
        "# SSH brute force from IP-1 on HOST-1\n## Overview\nUSER-1 was tried 8 times from IP-1 \
             against HOST-1.\n## Indicators of compromise\n- IP-1\n- HOST-7\n- USER-\u{200b}1",
        "stop",
    )))
    .await;
    let ntfy = ntfy().await;
    let config = openai_config(&llm, "").replace(
        "backend = \"openai\"\n",
        "backend = \"openai\"\npseudonymize = \"always\"\n",
    );
    let env = Env::new(&dead_url(), &ntfy.uri(), &config);
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = llm.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1, "{}", env.log());
    let sent = text(&requests[0].body);
    for name in ["localhost", "paco", "172.17.1.1"] {
        assert!(!sent.contains(name), "{name} left in the prompt: {sent}");
    }
    for placeholder in ["HOST-1", "USER-1", "IP-1"] {
        assert!(sent.contains(placeholder), "{placeholder}: {sent}");
    }
    let pushes = ntfy.received_requests().await.unwrap();
    assert_eq!(pushes.len(), 1, "{}", env.log());
    assert_eq!(
        header(&pushes[0], "title"),
        "SSH brute force from 172.17.1.1 on localhost.localdomain"
    );
    let pushed = text(&pushes[0].body);
    assert!(
        pushed.contains("paco was tried 8 times from 172.17.1.1 against localhost.localdomain."),
        "{pushed}"
    );
    assert!(
        pushed.contains("Names and internal addresses were pseudonymised for the model"),
        "{pushed}"
    );
    assert!(pushed.contains("Unverified: HOST-7"), "{pushed}");
    // A hidden character inside a placeholder does not smuggle it past: it comes back too.
    assert!(pushed.contains("- paco"), "{pushed}");
    assert!(!env.state_files().contains("USER-1"), "no mapping kept");
    assert!(!env.log().contains("USER-1"), "{}", env.log());
}

/// A redirect is not followed (it would carry the prompt to another host), and a 401 body that
/// quotes the key never puts it in the report or the log.
#[tokio::test]
async fn no_redirect_and_no_key_in_the_report() {
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(completion("# Stolen\nx", "stop")))
        .mount(&elsewhere)
        .await;
    let llm = answering(ResponseTemplate::new(307).insert_header(
        "location",
        format!("{}/v1/chat/completions", elsewhere.uri()),
    ))
    .await;
    let push = ntfy().await;
    let env = Env::new(
        &dead_url(),
        &push.uri(),
        &openai_config(&llm, "sk-secret-4242"),
    );
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "followed a redirect"
    );
    assert!(env.log().contains("HTTP 307"), "{}", env.log());

    let llm = answering(ResponseTemplate::new(401).set_body_json(serde_json::json!({
            "error": {"message": "Invalid API key: sk-secret-4242", "type": "authentication_error", "code": 401}
        }))).await;
    let push = ntfy().await;
    let env = Env::new(
        &dead_url(),
        &push.uri(),
        &openai_config(&llm, "sk-secret-4242"),
    );
    let out = run_alert(&env);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pushed = text(&push.received_requests().await.unwrap()[0].body);
    assert!(pushed.contains("refused the API key"), "{pushed}");
    assert!(!pushed.contains("sk-secret-4242"), "{pushed}");
    assert!(!env.log().contains("sk-secret-4242"), "{}", env.log());
    assert!(!env.state_files().contains("sk-secret-4242"));
}
