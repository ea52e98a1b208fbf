//! The full report: archived, linked from the push, mailed as MIME to an SMTP server on loopback,
//! and checked by the quality guard.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// What the fake server received: the RCPT TO lines and the DATA of each message.
type Received = Arc<Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server that speaks the protocol lettre uses (EHLO, MAIL, RCPT, DATA, QUIT),
/// answers `fail_first` transactions with a transient 451, and keeps what it received.
struct Smtp {
    port: u16,
    received: Received,
}

impl Smtp {
    fn start(fail_first: usize) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let store = received.clone();
        let failures = Arc::new(Mutex::new(fail_first));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = store.clone();
                let failures = failures.clone();
                std::thread::spawn(move || {
                    let mut out = stream.try_clone().expect("clone");
                    let mut reader = BufReader::new(stream);
                    let _ = out.write_all(b"220 fake.smtp ESMTP\r\n");
                    let mut rcpts = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let cmd = line.to_ascii_uppercase();
                        let reply: &[u8] = if cmd.starts_with("EHLO") || cmd.starts_with("HELO") {
                            b"250-fake.smtp\r\n250 8BITMIME\r\n"
                        } else if cmd.starts_with("MAIL FROM") {
                            let mut f = failures.lock().unwrap();
                            if *f > 0 {
                                *f -= 1;
                                b"451 4.3.0 try again later\r\n"
                            } else {
                                b"250 OK\r\n"
                            }
                        } else if cmd.starts_with("RCPT TO") {
                            rcpts.push(line.trim().to_string());
                            b"250 OK\r\n"
                        } else if cmd.starts_with("DATA") {
                            let _ = out.write_all(b"354 go ahead\r\n");
                            let mut data = String::new();
                            loop {
                                let mut l = String::new();
                                if reader.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                            }
                            store
                                .lock()
                                .unwrap()
                                .push((std::mem::take(&mut rcpts), data));
                            b"250 OK queued\r\n"
                        } else if cmd.starts_with("RSET") || cmd.starts_with("NOOP") {
                            b"250 OK\r\n"
                        } else if cmd.starts_with("QUIT") {
                            let _ = out.write_all(b"221 bye\r\n");
                            return;
                        } else {
                            b"502 not implemented\r\n"
                        };
                        let _ = out.write_all(reply);
                    }
                });
            }
        });
        Smtp { port, received }
    }

    fn messages(&self) -> Vec<(Vec<String>, String)> {
        self.received.lock().unwrap().clone()
    }
}

const MODEL_TEXT: &str = "# Shellshock from 192.168.0.223 on ubuntu-bionic\n## Overview\nRule 31168 fired. \
<script>alert(1)</script> See [docs](https://wazuh.com).\n## Indicators of compromise\n- 192.168.0.223";

async fn fakes(text: &str) -> (MockServer, MockServer) {
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer(text)))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ntfy_ok()))
        .mount(&ntfy)
        .await;
    (llm, ntfy)
}

fn email_config(port: u16, min_level: u32) -> String {
    format!(
        "[email]\nenabled = true\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"Wazuh <wazuh@example.org>\"\n\
         to = [\"soc@example.org\", \"admin@example.org\"]\nmin_level = {min_level}\n\
         [report]\nbase_url = \"https://wazuh.example.org/reports/\""
    )
}

#[tokio::test]
async fn full_report_is_mailed_as_mime_archived_and_linked() {
    let smtp = Smtp::start(0);
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), &email_config(smtp.port, 10));
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{}", env.log());
    let (rcpts, raw) = &messages[0];
    assert_eq!(rcpts.len(), 2);
    let mail = mailparse::parse_mail(raw.as_bytes()).expect("MIME parses");
    let subject = mail
        .headers
        .iter()
        .find(|h| h.get_key() == "Subject")
        .unwrap()
        .get_value();
    assert_eq!(
        subject,
        "[Wazuh L15] Shellshock from 192.168.0.223 on ubuntu-bionic"
    );
    assert_eq!(mail.ctype.mimetype, "multipart/mixed");
    let alternative = &mail.subparts[0];
    assert_eq!(alternative.ctype.mimetype, "multipart/alternative");
    let plain = alternative.subparts[0].get_body().unwrap();
    let html = alternative.subparts[1].get_body().unwrap();
    assert_eq!(alternative.subparts[1].ctype.mimetype, "text/html");
    assert!(
        plain.starts_with("# Shellshock from 192.168.0.223"),
        "{plain}"
    );
    assert!(plain.contains("## Evidence appendix"));
    assert!(plain.contains("### Raw alert"));
    assert!(
        plain.contains("() { :; }; /bin/cat /etc/passwd"),
        "raw alert in the appendix"
    );
    assert!(
        !html.contains("<script>"),
        "no raw HTML from the model: {html}"
    );
    // The model's raw HTML is text: its tags are broken up before the HTML is made.
    assert!(html.contains("\u{2039}script&gt;alert(1)"), "{html}");
    // Styled for mail clients: a banner coloured by the level (15: Critical), a facts table,
    // one column at most 700 px, inline styles only, nothing fetched from anywhere.
    assert!(
        html.contains("data-banner=\"Critical\" style=\"background:#b91c1c;color:#ffffff"),
        "{html}"
    );
    assert!(
        html.contains("Shellshock from 192.168.0.223 on ubuntu-bionic</div>"),
        "{html}"
    );
    assert!(html.contains("<table data-facts=\"1\""), "{html}");
    for label in ["Rule", "Level", "Agent", "Source"] {
        assert!(html.contains(&format!(">{label}</th>")), "{label}: {html}");
    }
    assert!(
        html.contains("from 192.168.0.223, private (RFC 1918) (field data.srcip)"),
        "{html}"
    );
    assert!(html.contains("max-width:700px"));
    assert!(html.contains("<meta name=\"color-scheme\" content=\"light dark\">"));
    assert!(!html.contains("<style") && !html.contains("<img") && !html.contains("<link"));
    assert!(!html.contains("src=") && !html.contains("url("), "{html}");
    // The appendix wraps to the page.
    assert!(html.contains(">Evidence appendix</h2>"), "{html}");
    assert!(
        html.contains("<pre style=\"white-space:pre-wrap;word-break:break-word"),
        "{html}"
    );
    assert_eq!(
        html.matches("Written without AI").count() + html.matches("written without AI").count(),
        0,
        "the model wrote it"
    );
    // A link the model wrote is text, its address defanged.
    assert!(!html.contains("<a "), "{html}");
    assert!(html.contains("docs (hxxps://wazuh[.]com)"), "{html}");
    let names: Vec<String> = mail.subparts[1..]
        .iter()
        .map(|p| {
            p.get_content_disposition()
                .params
                .get("filename")
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(names, vec!["report.pdf", "report.md", "evidence.json"]);
    // The PDF: the same report, every section, page numbers, metadata.
    assert_eq!(mail.subparts[1].ctype.mimetype, "application/pdf");
    let pdf_bytes = mail.subparts[1].get_body_raw().unwrap();
    assert!(pdf_bytes.starts_with(b"%PDF-"));
    let pdf = pdf_text(&pdf_bytes);
    assert_eq!(pdf.title, "Shellshock from 192.168.0.223 on ubuntu-bionic");
    assert_eq!(pdf.producer, "ai-analyzer");
    assert!(
        pdf.text
            .contains("CRITICAL · WAZUH RULE LEVEL 15 · ANALYSIS BY THE LOCAL LLM"),
        "{}",
        pdf.text
    );
    for heading in [
        "Overview",
        "Indicators of compromise",
        "Evidence appendix",
        "Investigation",
        "Raw alert",
    ] {
        assert!(pdf.text.contains(heading), "{heading}: {}", pdf.text);
    }
    assert!(
        pdf.text
            .contains("from 192.168.0.223, private (RFC 1918) (field data.srcip)"),
        "{}",
        pdf.text
    );
    assert!(
        pdf.text.contains("/bin/cat /etc/passwd"),
        "raw alert: {}",
        pdf.text
    );
    assert!(
        pdf.text.contains(&format!("page 1 of {}", pdf.pages)),
        "{}",
        pdf.text
    );
    assert!(
        pdf.text.contains(&format!("page {0} of {0}", pdf.pages)),
        "{}",
        pdf.text
    );
    assert!(
        pdf.text.contains("docs (hxxps://wazuh[.]com)"),
        "defanged: {}",
        pdf.text
    );
    let evidence: serde_json::Value =
        serde_json::from_str(&mail.subparts[3].get_body().unwrap()).expect("evidence JSON");
    assert_eq!(evidence["alert"]["rule"]["id"], "31168");
    assert_eq!(evidence["evidence"]["source"]["ip"], "192.168.0.223");

    // The archive keeps the full report; the push links to it.
    let md: Vec<_> = std::fs::read_dir(env.state().join("reports"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    assert_eq!(md.len(), 1);
    let full = std::fs::read_to_string(&md[0]).unwrap();
    assert!(full.contains("## Evidence appendix") && full.contains("### Investigation"));
    // The PDF beside it is the one mailed.
    let archived_pdf = std::fs::read(md[0].with_extension("pdf")).expect("report.pdf archived");
    assert_eq!(pdf_text(&archived_pdf).text, pdf.text);
    let push = &ntfy.received_requests().await.unwrap()[0];
    let name = md[0].file_name().unwrap().to_string_lossy().to_string();
    assert_eq!(
        header(push, "click"),
        format!("https://wazuh.example.org/reports/{name}")
    );
    assert!(
        !text(&push.body).contains("Evidence appendix"),
        "the push stays short"
    );
}

/// With `attach_pdf = false` the mail has no PDF part; the archive still keeps one.
#[tokio::test]
async fn no_pdf_part_when_turned_off() {
    let smtp = Smtp::start(0);
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let config = email_config(smtp.port, 0).replace("[report]", "attach_pdf = false\n[report]");
    let env = Env::new(&llm.uri(), &ntfy.uri(), &config);
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{}", env.log());
    let mail = mailparse::parse_mail(messages[0].1.as_bytes()).expect("MIME parses");
    let types: Vec<&str> = mail
        .subparts
        .iter()
        .map(|p| p.ctype.mimetype.as_str())
        .collect();
    assert_eq!(
        types,
        vec!["multipart/alternative", "text/markdown", "application/json"]
    );
    let pdfs = std::fs::read_dir(env.state().join("reports"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "pdf"))
        .count();
    assert_eq!(pdfs, 1);
}

#[tokio::test]
async fn below_email_min_level_no_mail() {
    let smtp = Smtp::start(0);
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), &email_config(smtp.port, 12));
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    assert!(smtp.messages().is_empty());
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
}

/// The mail server says "try again later": the mail waits in the outbox and goes out on a later
/// run, once.
#[tokio::test]
async fn failed_mail_waits_in_the_outbox() {
    let smtp = Smtp::start(1);
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), &email_config(smtp.port, 0));
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    assert!(smtp.messages().is_empty());
    assert!(env.log().contains("mail failed"), "{}", env.log());
    assert_eq!(
        ntfy.received_requests().await.unwrap().len(),
        1,
        "the push did not wait"
    );
    std::thread::sleep(Duration::from_millis(5500));
    for _ in 0..2 {
        let mut cmd = env.cmd();
        cmd.arg("work");
        run_with_input(cmd, b"", Duration::from_secs(30));
    }
    let messages = smtp.messages();
    assert_eq!(messages.len(), 1, "{}", env.log());
    assert!(messages[0].1.contains("Subject: [Wazuh L15] Shellshock"));
}

/// A model that invents an address and a CVE gets its report flagged, in the push and the full
/// report alike.
#[tokio::test]
async fn invented_facts_are_flagged() {
    let text =
        "# Attack from 192.168.0.223\n## Overview\nLinked to 198.51.100.99 and CVE-2021-44228; \
                also CVE-2014-6271 (in the alert).";
    let (llm, ntfy) = fakes(text).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), "");
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(0));
    let push = text_of(&ntfy.received_requests().await.unwrap()[0].body);
    assert!(
        after_lead(push.as_bytes())
            .starts_with("_⚠ Unverified: 198.51.100.99, CVE-2021-44228 not in the evidence"),
        "{push}"
    );
    assert!(env
        .state_files()
        .contains("Unverified: 198.51.100.99, CVE-2021-44228"));
    assert!(env.log().contains("not in the evidence"));
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The outbox unusable (a full disk, here a file where its folder should be) and ntfy refusing:
/// the push can neither go out nor wait, but the mail still goes out, the failure is logged, and
/// the run fails with exit 1 so that nothing is taken as delivered.
#[tokio::test]
async fn a_push_that_cannot_be_kept_does_not_cost_the_mail() {
    let smtp = Smtp::start(0);
    let llm = MockServer::start().await;
    Mock::given(method("POST"))
        .and(wiremock::matchers::path("/api/chat"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ollama_answer(MODEL_TEXT)))
        .mount(&llm)
        .await;
    let ntfy = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).set_body_raw(
            read_fixture("llm_ntfy/ntfy_error_500.json"),
            "application/json",
        ))
        .mount(&ntfy)
        .await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), &email_config(smtp.port, 0));
    std::fs::create_dir_all(env.state()).unwrap();
    std::fs::write(env.state().join("outbox"), b"not a folder").unwrap();
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(30));
    assert_eq!(out.status.code(), Some(1), "{}", env.log());
    assert_eq!(smtp.messages().len(), 1, "the mail went out: {}", env.log());
    assert!(env.log().contains("the outbox"), "{}", env.log());
    assert!(
        env.log().contains("cannot be written to the outbox")
            && env.log().contains("trying again in 1 s"),
        "a failed write is logged and tried again: {}",
        env.log()
    );
}

/// A mail server that keeps the connection alive with a `220-` line every second and never
/// finishes its greeting: each read stays under the SMTP timeout, but the send as a whole is cut
/// at its limit, the push and the verdict go out beside it, and the mail waits in the outbox.
#[tokio::test]
async fn a_mail_server_that_drips_holds_nothing_up() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                for _ in 0..120 {
                    if s.write_all(b"220-still here\r\n").is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            });
        }
    });
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let scratch = tempfile::tempdir().unwrap();
    let queue = scratch.path().join("queue");
    let analysisd = std::os::unix::net::UnixDatagram::bind(&queue).expect("bind");
    analysisd
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let env = Env::new(
        &llm.uri(),
        &ntfy.uri(),
        &format!(
            "{}\n[wazuh]\nqueue_socket = \"{}\"",
            email_config(port, 0),
            queue.display()
        ),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let run = std::thread::spawn(move || run_with_input(cmd, b"", Duration::from_secs(90)));
    // The verdict, the last channel, does not wait for the mail: it arrives long before the
    // mail's 30 s are up.
    let mut buf = vec![0u8; 65536];
    let verdict = analysisd.recv(&mut buf);
    assert!(
        verdict.is_ok_and(|n| String::from_utf8_lossy(&buf[..n]).contains("ai-analyzer")),
        "the verdict went out while the mail was still waiting"
    );
    let (out, took) = run.join().expect("the run");
    assert_eq!(out.status.code(), Some(0), "{}", env.log());
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
    assert!(
        took < Duration::from_secs(45),
        "the send is cut at 30 s: {took:?}"
    );
    assert!(
        env.log().contains("mail failed: no answer within 30 s"),
        "{}",
        env.log()
    );
    let waiting = std::fs::read_dir(env.state().join("outbox"))
        .map(|d| d.flatten().count())
        .unwrap_or(0);
    assert_eq!(waiting, 1, "the mail waits in the outbox");
}

/// With credentials, a server that offers no STARTTLS gets nothing, not even on loopback: the
/// password and the report never cross the wire in plain text.
#[tokio::test]
async fn no_mail_in_plain_text_with_credentials() {
    let smtp = Smtp::start(0);
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let env = Env::new(
        &llm.uri(),
        &ntfy.uri(),
        &email_config(smtp.port, 0).replace(
            "min_level = 0",
            "min_level = 0\nusername = \"soc\"\npassword = \"hunter2-secret\"",
        ),
    );
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", env.log());
    assert!(smtp.messages().is_empty(), "nothing sent in clear");
    let log = env.log();
    assert!(
        log.contains("mail failed") && log.to_lowercase().contains("tls"),
        "{log}"
    );
    assert!(log.contains("use smtps://"), "says what to do: {log}");
    assert!(!log.contains("hunter2"), "{log}");
}

/// A mail server (or an attacker on the path, before STARTTLS) that sends a greeting without
/// end: the session stops reading at 1 MiB, the mail waits in the outbox, and the run neither
/// grows nor waits for the send's time limit.
#[tokio::test]
async fn an_endless_greeting_is_cut_at_a_mebibyte() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = stream;
                let _ = s.write_all(b"220 ");
                let chunk = vec![b'a'; 64 * 1024];
                // Up to 4 GiB, no line end; stops when the client hangs up.
                for _ in 0..65_536 {
                    if s.write_all(&chunk).is_err() {
                        return;
                    }
                }
            });
        }
    });
    let (llm, ntfy) = fakes(MODEL_TEXT).await;
    let env = Env::new(&llm.uri(), &ntfy.uri(), &email_config(port, 0));
    let mut cmd = env.cmd();
    cmd.arg("--alert-file")
        .arg(fixture("alerts/web_shellshock_31168.json"));
    let (out, took) = run_with_input(cmd, b"", Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0), "{}", env.log());
    assert!(
        env.log().contains("the server sent more than 1024 KiB"),
        "{}",
        env.log()
    );
    assert!(
        took < Duration::from_secs(25),
        "cut by size, not by time: {took:?}"
    );
    assert_eq!(ntfy.received_requests().await.unwrap().len(), 1);
}
