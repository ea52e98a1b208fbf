//! The whole pipeline through the built binary, against a fake Ollama and a fake ntfy on loopback
//! that answer with the recorded wire bodies.

use std::time::Duration;

use crate::common::*;
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AI_TEXT: &str = "Here is the report you asked for:\n```markdown\n# SSH brute force from 172.17.1.1 on localhost\n## Overview\nRepeated invalid users.\n## Risk assessment\n**High**\n```\n";

async fn fakes(ollama: ResponseTemplate) -> (MockServer, MockServer) {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/chat"))
        .respond_with(ollama)
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/soc-test"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    (llm, ntfy)
}

#[tokio::test]
async fn ai_report_is_cleaned_pushed_and_archived() {
    let (llm, ntfy) = fakes(ResponseTemplate::new(200).set_body_json(ollama_answer(AI_TEXT))).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "token = \"tk_test_token_42\"");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.starts_with("# SSH brute force from 172.17.1.1 on localhost\n## Overview"),
        "{stdout}"
    );
    assert!(!stdout.contains("```"), "outer fence removed: {stdout}");
    assert!(!stdout.contains("Here is the report"));

    // What went to Ollama.
    let requests = llm.received_requests().await.expect("recorded");
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).expect("JSON request");
    assert_eq!(body["model"], "test-model:7b");
    assert_eq!(body["stream"], false);
    assert_eq!(body["think"], false);
    assert_eq!(body["options"]["num_ctx"], 8192);
    assert!((body["options"]["temperature"].as_f64().unwrap() - 0.1).abs() < 1e-6);
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(body["messages"][1]["role"], "user");
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains("Invalid user paco from 172.17.1.1"));

    // What went to ntfy.
    let pushes = ntfy.received_requests().await.expect("recorded");
    assert_eq!(pushes.len(), 1);
    let p = &pushes[0];
    assert_eq!(
        header(p, "title"),
        "SSH brute force from 172.17.1.1 on localhost"
    );
    assert_eq!(header(p, "priority"), "4");
    assert_eq!(header(p, "tags"), "warning,wazuh,rule-5712,ai");
    assert_eq!(header(p, "markdown"), "yes");
    assert_eq!(header(p, "authorization"), "Bearer tk_test_token_42");
    // The push is the report without its title (that is the Title header), led by the verdict.
    let (title_line, rest) = stdout.split_once('\n').expect("a title line");
    assert_eq!(title_line, "# SSH brute force from 172.17.1.1 on localhost");
    assert_eq!(after_lead(&p.body).trim_end(), rest.trim_end());
    assert!(p.body.len() <= 4096);

    // The archive keeps the report, its PDF and its evidence.
    let reports: Vec<_> = std::fs::read_dir(env.state().join("reports"))
        .expect("reports dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(reports.len(), 3, "{reports:?}");
    let pdf = reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "pdf"))
        .expect("PDF archive");
    let pdf = pdf_text(&std::fs::read(pdf).unwrap());
    assert_eq!(pdf.title, "SSH brute force from 172.17.1.1 on localhost");
    let json = reports
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("json archive");
    let archived: Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    assert_eq!(archived["report"]["ai"], true);
    assert_eq!(archived["evidence"]["source"]["ip"], "172.17.1.1");
    assert_eq!(archived["alert"]["rule"]["id"], "5712");
    assert!(!env.state_files().contains("tk_test_token_42"));
    assert!(!env.log().contains("tk_test_token_42"));
}

#[tokio::test]
async fn every_sample_alert_gets_a_report_when_the_llm_is_down() {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let env = Env::new(&dead_url(), &ntfy.uri(), "");
    let samples = [
        ("alerts/sshd_bruteforce_5712.json", "5712", "4"),
        ("alerts/sshd_bruteforce_5763.json", "5763", "4"),
        ("alerts/web_shellshock_31168.json", "31168", "5"),
        ("alerts/pfsense_filterlog_block_87701.json", "87701", "2"),
        ("alerts/windows_logon_failure_4625_60122.json", "60122", "2"),
        ("alerts/fim_file_added_554_no_ip.json", "554", "2"),
    ];
    for (file, rule, priority) in samples {
        let mut cmd = env.cmd();
        cmd.arg("--alert-file").arg(fixture(file));
        let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        let report = text(&out.stdout);
        assert!(report.starts_with("# "), "{file}: {report}");
        assert!(
            report.contains("Written without AI: Ollama is unreachable"),
            "{file}"
        );
        assert!(report.contains("## Recommended actions"), "{file}");
        assert!(report.contains(&format!("rule {rule}")), "{file}");
        let pushes = ntfy.received_requests().await.unwrap();
        let last = pushes.last().expect("a push");
        assert_eq!(header(last, "priority"), priority, "{file}");
        assert!(header(last, "tags").ends_with(",no-ai"), "{file}");
    }
    assert_eq!(ntfy.received_requests().await.unwrap().len(), samples.len());
}

/// A link written by the attacker (a user name, a URL) or by a model talked into it is never
/// clickable in the push: it is text, and its address is defanged.
#[tokio::test]
async fn no_link_from_an_alert_or_the_model_reaches_the_push() {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let mut alert: serde_json::Value =
        serde_json::from_str(&read_fixture("alerts/sshd_bruteforce_5712.json")).unwrap();
    alert["data"]["srcuser"] = serde_json::json!("[confirm here](https://evil.example/sso)");
    alert["data"]["url"] =
        serde_json::json!("![x](https://evil.example/t.png) <https://evil.example/a>");
    // The LLM down: the no-AI report quotes the alert's fields.
    let env = Env::new(&dead_url(), &ntfy.uri(), "");
    let (out, _) = run_with_input(
        env.cmd(),
        alert.to_string().as_bytes(),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // The LLM up, and talked into writing links.
    let (llm, _) = fakes(ResponseTemplate::new(200).set_body_json(ollama_answer(
        "# Brute force\n## Overview\nPlease [log in here](https://evil.example/sso) and see \
         ![chart](http://evil.example/c.png) or www.evil.example/help.",
    )))
    .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let (out, _) = run_with_input(
        env.cmd(),
        alert.to_string().as_bytes(),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let pushes = ntfy.received_requests().await.unwrap();
    assert_eq!(pushes.len(), 2);
    for push in &pushes {
        let body = text(&push.body);
        assert!(!body.contains("]("), "{body}");
        assert!(!body.contains("<http"), "{body}");
        assert!(!body.to_ascii_lowercase().contains("https://"), "{body}");
        assert!(!body.contains("www.evil"), "{body}");
        assert!(body.contains("evil[.]example"), "{body}");
    }
    assert!(text(&pushes[0].body).contains("confirm here (hxxps://evil[.]example/sso)"));
    assert!(text(&pushes[1].body).contains("log in here (hxxps://evil[.]example/sso)"));
}

/// A model server (or ntfy) that sends an answer without end is cut off at the cap: the run
/// ends with the no-AI report, whatever the server sends.
#[tokio::test]
async fn an_endless_answer_is_cut_off_and_the_report_still_goes_out() {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    // 64 MiB of blanks from "Ollama"; the client stops reading at 2 MiB.
    let llm = endless_answer(64 << 20);
    let env = Env::new(&llm, &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    assert!(
        report.contains(
            "Ollama sent a body that is not a chat answer: the answer is larger than 2048 KiB"
        ),
        "{report}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
    // ntfy itself answering without end: the push counts as sent (2xx), nothing waits on it.
    let env = Env::new(&dead_url(), &endless_answer(64 << 20), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(took < Duration::from_secs(20), "{took:?}");
}

/// A proxy in the environment never sees what goes to the admin's own servers: the prompt to
/// an Ollama on loopback and the push to a local ntfy go direct.
#[tokio::test]
async fn no_proxy_for_servers_on_the_admins_network() {
    let (llm, ntfy) = fakes(
        ResponseTemplate::new(200)
            .set_body_json(ollama_answer("# Direct\n## Overview\nNo proxy in between.")),
    )
    .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"))
        // Nothing listens there: a request sent through it would fail.
        .env("HTTP_PROXY", dead_url())
        .env("http_proxy", dead_url())
        .env("ALL_PROXY", dead_url());
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("# Direct"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
}

/// The LLM failing in each distinct way still delivers the fallback, naming the failure.
#[tokio::test]
async fn llm_failures_each_give_the_fallback_with_their_reason() {
    let not_found = read_fixture("llm_ntfy/ollama_error_404_model_not_found.json");
    let busy = read_fixture("llm_ntfy/ollama_error_503_queue_full.json");
    let cases = [
        (
            ResponseTemplate::new(200)
                .set_body_json(ollama_answer("# late"))
                .set_delay(Duration::from_secs(6)),
            "did not answer within 3 s",
        ),
        (
            ResponseTemplate::new(404).set_body_raw(not_found, "application/json"),
            "model \"test-model:7b\" is not installed",
        ),
        (
            ResponseTemplate::new(503).set_body_raw(busy, "application/json"),
            "HTTP 503: server busy",
        ),
        (
            ResponseTemplate::new(200).set_body_raw("<html>proxy error</html>", "text/html"),
            "not a chat answer",
        ),
        (
            ResponseTemplate::new(200).set_body_json(ollama_answer("   ")),
            "empty answer",
        ),
    ];
    for (response, reason) in cases {
        let (llm, ntfy) = fakes(response).await;
        let env = Env::new(&llm.uri(), &ntfy.uri(), "");
        env.set("ollama", "timeout_secs = 3");
        let mut cmd = env.cmd();
        cmd.arg("--alert-file")
            .arg(fixture("alerts/web_shellshock_31168.json"));
        let (out, took) = run_with_input(cmd, b"", Duration::from_secs(20));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{reason}: {}",
            text(&out.stderr)
        );
        let report = text(&out.stdout);
        assert!(report.contains("Written without AI"), "{reason}: {report}");
        assert!(report.contains(reason), "want {reason:?} in {report}");
        assert!(
            env.log().contains(reason),
            "log names the reason: {}",
            env.log()
        );
        assert_eq!(ntfy.received_requests().await.unwrap().len(), 1, "{reason}");
        assert!(took < Duration::from_secs(10), "{reason}: took {took:?}");
    }
}

#[tokio::test]
async fn ntfy_refusal_is_reported_with_its_code_and_the_report_is_kept() {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer("# T\nbody")))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_raw(
            read_fixture("llm_ntfy/ntfy_error_401.json"),
            "application/json",
        ))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5763.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("# T"));
    let log = env.log();
    assert!(log.contains("HTTP 401 code 40101: unauthorized"), "{log}");
    // Kept in the outbox (not retried) and in the archive.
    let kept: Vec<_> = std::fs::read_dir(env.state().join("outbox"))
        .unwrap()
        .flatten()
        .collect();
    assert_eq!(kept.len(), 1);
    let entry: Value = serde_json::from_slice(&std::fs::read(kept[0].path()).unwrap()).unwrap();
    let kept_body = entry["push"]["body"].as_str().unwrap();
    assert_eq!(after_lead(kept_body.as_bytes()), "body");
    assert_eq!(entry["push"]["title"], "T");
    assert!(entry["dead"].as_str().unwrap().contains("40101"));
    assert!(env.state_files().contains("# T\n_Report of"));
}

#[tokio::test]
async fn dry_run_sends_nothing_and_writes_nothing() {
    let (llm, ntfy) =
        fakes(ResponseTemplate::new(200).set_body_json(ollama_answer("# Dry\nx"))).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--dry-run")
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("# Dry"));
    assert_eq!(llm.received_requests().await.unwrap().len(), 1);
    assert!(ntfy.received_requests().await.unwrap().is_empty());
    assert!(!env.state().exists());
}

/// `--pdf PATH` writes the report as a PDF, on a dry run too, and keeps the run in the
/// foreground even when the config would hand it to the worker.
#[tokio::test]
async fn pdf_flag_writes_the_report_on_a_dry_run() {
    let ntfy = MockServer::start().await;
    let env = Env::new(&dead_url(), &ntfy.uri(), "[wazuh]\ndetach = \"always\"");
    let out_pdf = env.dir.path().join("triage.pdf");
    let mut cmd = env.cmd();
    cmd.arg("--dry-run")
        .arg("--pdf")
        .arg(&out_pdf)
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report = text(&out.stdout);
    let title = report
        .lines()
        .next()
        .unwrap_or_default()
        .trim_start_matches("# ");
    let pdf = pdf_text(&std::fs::read(&out_pdf).expect("the PDF is written"));
    assert_eq!(pdf.title, title);
    assert!(pdf.text.contains("WRITTEN WITHOUT AI"), "{}", pdf.text);
    assert!(pdf.text.contains("from 172.17.1.1"), "{}", pdf.text);
    for heading in [
        "Overview",
        "Incident details",
        "Attacker profile",
        "Indicators of compromise",
        "Recommended actions",
        "Evidence appendix",
        "Raw alert",
    ] {
        assert!(pdf.text.contains(heading), "{heading}: {}", pdf.text);
    }
    assert!(pdf.text.contains(&format!("page {0} of {0}", pdf.pages)));
    assert!(ntfy.received_requests().await.unwrap().is_empty());
    // A path that cannot be written is a clear error.
    let mut cmd = env.cmd();
    cmd.arg("--dry-run")
        .arg("--pdf")
        .arg(env.dir.path().join("no/such/dir/x.pdf"))
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("cannot write the PDF to"),
        "{}",
        text(&out.stderr)
    );
}

/// `--pdf PATH` on a run that delivers writes the very PDF that was archived (and mailed).
#[tokio::test]
async fn pdf_flag_on_a_delivered_run_writes_the_archived_pdf() {
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let env = Env::new(&dead_url(), &ntfy.uri(), "");
    let out_pdf = env.dir.path().join("triage.pdf");
    let mut cmd = env.cmd();
    cmd.arg("--pdf")
        .arg(&out_pdf)
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read(&out_pdf).expect("the PDF is written");
    let archived: Vec<Vec<u8>> = std::fs::read_dir(env.state().join("reports"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pdf"))
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert_eq!(archived, vec![written]);
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
}

#[tokio::test]
async fn raw_alert_on_stdin_pretty_printed() {
    let (llm, ntfy) =
        fakes(ResponseTemplate::new(200).set_body_json(ollama_answer("# From stdin\nok"))).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let raw: Value = serde_json::from_str(&read_fixture(
        "alerts/windows_logon_failure_4625_60122.json",
    ))
    .unwrap();
    let pretty = serde_json::to_string_pretty(&raw).unwrap();
    let (out, _) = run_with_input(env.cmd(), pretty.as_bytes(), Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("# From stdin"));
    let req = &llm.received_requests().await.unwrap()[0];
    let body: Value = serde_json::from_slice(&req.body).unwrap();
    let user = body["messages"][1]["content"].as_str().unwrap();
    assert!(user.contains(
        "218.92.0.222 (public (globally routable)) from field data.win.eventdata.ipAddress"
    ));
}

#[tokio::test]
async fn prompt_command_prints_the_prompt() {
    let env = Env::new(&dead_url(), "", "");
    let mut cmd = env.cmd();
    cmd.arg("prompt")
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5763.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(0));
    let p = text(&out.stdout);
    assert!(p.starts_with("=== system ===\nYou are a senior SOC analyst"));
    assert!(p.contains("=== user ===\n## Alert\n<<<DATA-"));
    assert!(p.contains("Failed password for user from 172.18.1.100"));
    assert!(p.contains("Not collected"));
}

#[tokio::test]
async fn check_command_probes_each_endpoint() {
    let llm = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/tags"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "models":[{"name":"test-model:7b","model":"test-model:7b"}]})))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v1/health"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({"healthy":true})))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let alerts = env.dir.path().join("alerts.json");
    std::fs::write(&alerts, b"").unwrap();
    // RDAP at a local fake, AbuseIPDB on but without a key, the rest off.
    let rdap = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404))
        .mount(&rdap)
        .await;
    env.intel(&format!(
        "[providers.ipinfo]\nenabled = false\n[providers.rdap]\nurl = \"{}\"\n\
         [providers.abuseipdb]\n[providers.virustotal]\nenabled = false\n\
         [providers.greynoise]\nenabled = false\n[providers.shodan]\nenabled = false\n\
         [providers.internetdb]\nenabled = false\n[providers.tor]\nenabled = false\n\
         [dnsbl]\nenabled = false\n[history]\nalerts_file = \"{}\"\n",
        rdap.uri(),
        alerts.display()
    ));
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("ok    ollama"), "{stdout}");
    assert!(stdout.contains("has model test-model:7b"), "{stdout}");
    assert!(stdout.contains("ok    ntfy"), "{stdout}");
    assert!(stdout.contains("ok    state_dir"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "ok    rdap        {} reachable (HTTP 404)",
            rdap.uri()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("ok    abuseipdb   not configured (no api_key): skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    virustotal  disabled"), "{stdout}");
    assert!(stdout.contains("ok    history"), "{stdout}");
    assert!(
        stdout.contains("ok    pdf         built-in fonts; "),
        "{stdout}"
    );
    assert!(stdout.contains("ok    email       disabled"), "{stdout}");
    assert_eq!(
        rdap.received_requests().await.unwrap().len(),
        1,
        "one probe, no lookup"
    );

    assert!(
        stdout.contains("ok    permissions the config and the state dir"),
        "{stdout}"
    );
    // A config anyone may write to: check fails and says what to do.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o666)).unwrap();
        let mut cmd = env.cmd();
        cmd.arg("check");
        let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{stdout}");
        assert!(
            stdout.contains(&format!(
                "FAIL  permissions writable beyond root and the wazuh group: {} (anyone) \
                 (run: chmod o-w",
                env.config.display()
            )),
            "{stdout}"
        );
        // Writable by a group that is neither root nor wazuh: the same.
        std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o660)).unwrap();
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&env.config, None, Some(65534)).unwrap();
            let mut cmd = env.cmd();
            cmd.arg("check");
            let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
            let stdout = text(&out.stdout);
            assert_eq!(out.status.code(), Some(1), "{stdout}");
            assert!(
                stdout.contains(&format!("{} (group 65534)", env.config.display())),
                "{stdout}"
            );
        }
    }

    // Ollama down: the line says so and the exit code is 1.
    let env = Env::new(&dead_url(), "", "");
    let mut cmd = env.cmd();
    cmd.arg("check");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("FAIL  ollama"));
    // The default alert log: off a manager it is not expected; on one it is absent here.
    let want = if std::path::Path::new("/var/ossec/etc/ossec.conf").exists() {
        "FAIL  history"
    } else {
        "ok    history     not on a Wazuh manager"
    };
    assert!(text(&out.stdout).contains(want), "{}", text(&out.stdout));
}

#[tokio::test]
async fn secrets_never_leak() {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_raw(
            read_fixture("llm_ntfy/ollama_error_500_runner.json"),
            "application/json",
        ))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_raw(
            read_fixture("llm_ntfy/ntfy_error_403.json"),
            "application/json",
        ))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "token = \"tk_FILETOKEN_abc123\"");
    env.set("providers.virustotal", "api_key = \"VT_SECRET_KEY_777\"");
    let mut outputs = String::new();
    for sub in [&["--alert-file"][..], &["prompt", "--alert-file"][..]] {
        let mut cmd = env.cmd();
        cmd.args(sub)
            .arg(fixture("alerts/windows_logon_failure_4625_60122.json"))
            .arg("-v")
            .env("AI_ANALYZER_NTFY_TOKEN", "tk_ENVTOKEN_xyz789")
            .env("AI_ANALYZER_ABUSEIPDB_API_KEY", "ABUSE_SECRET_555");
        let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        outputs.push_str(&text(&out.stdout));
        outputs.push_str(&text(&out.stderr));
    }
    // The env token won over the file's and was used.
    let push = &ntfy.received_requests().await.unwrap()[0];
    assert_eq!(header(push, "authorization"), "Bearer tk_ENVTOKEN_xyz789");
    let llm_body = text(&llm.received_requests().await.unwrap()[0].body);
    outputs.push_str(&env.log());
    outputs.push_str(&env.state_files());
    outputs.push_str(&llm_body);
    assert!(env.log().contains("HTTP 403"), "the failure is logged");
    for secret in [
        "tk_FILETOKEN_abc123",
        "VT_SECRET_KEY_777",
        "tk_ENVTOKEN_xyz789",
        "ABUSE_SECRET_555",
    ] {
        assert!(!outputs.contains(secret), "{secret} leaked");
    }
}

#[test]
fn unknown_config_key_is_exit_3_naming_it() {
    let env = Env::new("http://127.0.0.1:1", "", "tpoic = \"x\"");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(10));
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(
        err.starts_with("ai-analyzer: error: invalid configuration"),
        "{err}"
    );
    assert!(err.contains("tpoic"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(took < Duration::from_secs(3));
}

/// wazuh-integratord's call: `custom-ai-analyzer <alert file> <api_key> <hook_url> ...`; the hook
/// URL and key are the ntfy topic and token for that run, and stdout stays quiet.
#[tokio::test]
async fn integratord_invocation_uses_hook_url_and_api_key() {
    let (llm, _unused) =
        fakes(ResponseTemplate::new(200).set_body_json(ollama_answer("# Integration\nok"))).await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/prefix/hooked-topic"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), "http://127.0.0.1:9/never-used", "");
    let alert_file = env
        .dir
        .path()
        .join("custom-ai-analyzer-1700000000-123.alert");
    std::fs::copy(fixture("alerts/sshd_bruteforce_5763.json"), &alert_file).unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.env("AI_ANALYZER_CONFIG", &env.config)
        .env_remove("AI_ANALYZER_NTFY_TOKEN")
        .arg(&alert_file)
        .arg("tk_from_integration")
        .arg(format!("{}/prefix/hooked-topic", ntfy.uri()))
        .arg("")
        .arg("")
        .arg("10")
        .arg("3")
        .arg("> /dev/null 2>&1");
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    // integratord unlinks the alert file as soon as we exit; the job must not need it.
    std::fs::remove_file(&alert_file).unwrap();
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(pushes.len(), 1, "{}", env.log());
    assert_eq!(
        header(&pushes[0], "authorization"),
        "Bearer tk_from_integration"
    );
    assert!(wait_workers_gone(&env.config, Duration::from_secs(20)));
    assert!(
        !env.state_files().contains("tk_from_integration"),
        "the token does not outlive the job"
    );
    assert_eq!(after_lead(&pushes[0].body), "ok");
}

/// Ollama evaluated far fewer prompt tokens than the prompt holds: it cut the prompt (its default
/// context shift drops the start silently). The log says so and names the key to raise.
#[tokio::test]
async fn a_silently_truncated_prompt_is_logged() {
    let mut answer = ollama_answer("# Short\nbody");
    answer["prompt_eval_count"] = serde_json::json!(12);
    let (llm, ntfy) = fakes(ResponseTemplate::new(200).set_body_json(answer)).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).starts_with("# Short"));
    let log = env.log();
    assert!(
        log.contains("WARNING: Ollama evaluated only 12 prompt tokens")
            && log.contains("raise ollama.num_ctx"),
        "{log}"
    );
}

/// wazuh.detach = "always" hands even a run by hand to the worker; stdout stays empty and
/// stderr says where the report goes.
#[tokio::test]
async fn detach_always_hands_a_manual_run_to_the_worker() {
    let (llm, ntfy) =
        fakes(ResponseTemplate::new(200).set_body_json(ollama_answer("# Queued\nx"))).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "[wazuh]\ndetach = \"always\"");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("handed off to the worker"));
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(after_lead(&pushes[0].body), "x");
    assert!(wait_workers_gone(&env.config, Duration::from_secs(20)));
}

/// wazuh-integratord runs the hook as the `wazuh` user (here: nobody), and the root state dir is
/// `root:wazuh 2750`: the hook keeps its own state in `state_dir/integratord`, owned by that
/// user, and the report still goes out. Needs root to switch users; skipped otherwise.
#[tokio::test]
async fn the_integratord_hook_works_as_an_unprivileged_user() {
    use std::os::unix::fs::{chown, PermissionsExt as _};
    use std::os::unix::process::CommandExt as _;
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to run the hook as another user");
        return;
    }
    let (llm, _unused) =
        fakes(ResponseTemplate::new(200).set_body_json(ollama_answer("# As wazuh\nok"))).await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), "http://127.0.0.1:9/never-used", "");
    let (user, group) = (65534, 65534);
    let dir = env.dir.path();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o640)).unwrap();
    chown(&env.config, Some(0), Some(group)).unwrap();
    // What `install --integration` sets up: the state dir root:wazuh 2750, and the hook's own.
    let state = env.state();
    std::fs::create_dir(&state).unwrap();
    chown(&state, Some(0), Some(group)).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o2750)).unwrap();
    let own = state.join("integratord");
    std::fs::create_dir(&own).unwrap();
    chown(&own, Some(user), Some(group)).unwrap();
    std::fs::set_permissions(&own, std::fs::Permissions::from_mode(0o750)).unwrap();
    let alert_file = dir.join("custom-ai-analyzer-1700000000-456.alert");
    std::fs::copy(fixture("alerts/sshd_bruteforce_5763.json"), &alert_file).unwrap();
    chown(&alert_file, Some(user), Some(group)).unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.uid(user)
        .gid(group)
        .env("AI_ANALYZER_CONFIG", &env.config)
        .env_remove("AI_ANALYZER_NTFY_TOKEN")
        .arg(&alert_file)
        .arg("")
        .arg(format!("{}/hooked-topic", ntfy.uri()));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    std::fs::remove_file(&alert_file).unwrap();
    let pushes = wait_for_requests(&ntfy, 1, Duration::from_secs(20)).await;
    assert_eq!(pushes.len(), 1, "{}{}", text(&out.stderr), env.log());
    assert_eq!(after_lead(&pushes[0].body), "ok");
    // Everything it wrote is in its own dir; the root state dir holds nothing else.
    let at_root: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(at_root, vec!["integratord"]);
    let reports = std::fs::read_dir(own.join("reports")).unwrap().count();
    assert_eq!(reports, 3, "md, pdf and json");
}
