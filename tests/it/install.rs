//! `install` and `uninstall` into a fake Wazuh tree.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::*;

fn wazuh_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in [
        "active-response/bin",
        "etc/decoders",
        "etc/rules",
        "integrations",
        "var",
        "logs",
    ] {
        std::fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

fn run(args: &[&str], home: &Path) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.env_remove("AI_ANALYZER_CONFIG")
        .args(args)
        .arg("--wazuh-dir")
        .arg(home);
    let (out, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn install_is_complete_idempotent_and_reversible() {
    let home = wazuh_tree();
    let h = home.path();

    // --dry-run changes nothing.
    let (code, out, _) = run(&["install", "--dry-run"], h);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("would create"), "{out}");
    assert!(!h.join("active-response/bin/ai-analyzer").exists());
    assert!(!h.join("etc/ai-analyzer.toml").exists());

    let (code, out, err) = run(&["install", "--integration"], h);
    assert_eq!(code, 0, "{out}{err}");
    let bin = h.join("active-response/bin/ai-analyzer");
    assert_eq!(std::fs::read(&bin).unwrap(), std::fs::read(BIN).unwrap());
    assert_eq!(mode(&bin), 0o750);
    assert_eq!(mode(&h.join("integrations/custom-ai-analyzer")), 0o750);
    let config = h.join("etc/ai-analyzer.toml");
    assert_eq!(mode(&config), 0o640);
    let text_cfg = std::fs::read_to_string(&config).unwrap();
    assert!(text_cfg.contains(&format!("state_dir = \"{}/var/ai-analyzer\"", h.display())));
    ai_analyzer::config::parse(&text_cfg, &config).expect("installed config parses");
    assert_eq!(
        mode(&h.join("etc/decoders/ai-analyzer_decoders.xml")),
        0o660
    );
    assert_eq!(mode(&h.join("etc/rules/ai-analyzer_rules.xml")), 0o660);
    // setgid: what the worker makes in the state dir later has its group (wazuh) too.
    let state_mode = std::fs::metadata(h.join("var/ai-analyzer"))
        .unwrap()
        .permissions()
        .mode()
        & 0o7777;
    assert_eq!(state_mode, 0o2750);
    if !group_exists("wazuh") {
        assert!(out.contains("group wazuh does not exist"), "{out}");
    }

    // The printed ossec.conf blocks are valid XML with the command and the active response.
    let start = out.find("<!-- ai-analyzer").expect("snippet");
    let end = out
        .find("Then edit what the config marks EDIT")
        .expect("restart line");
    let xml = format!("<root>{}</root>", &out[start..end]);
    let doc = roxmltree::Document::parse(&xml).expect("snippet is XML");
    let tags: Vec<_> = doc
        .root_element()
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name().to_string())
        .collect();
    // With --integration only the hook: both would give two reports per alert.
    assert_eq!(tags, ["integration"]);
    assert!(
        out.contains("REPLACE with your ntfy server and topic"),
        "{out}"
    );
    assert!(out.contains("<api_key>"), "{out}");
    assert!(out.contains("systemctl restart wazuh-manager"));
    // The check line checks the installed config, as printed.
    let check_line = out
        .lines()
        .find(|l| l.trim_start().starts_with(&bin.display().to_string()))
        .expect("a check line");
    assert_eq!(
        check_line.trim(),
        format!("{} --config {} check", bin.display(), config.display())
    );
    // The hook's own state dir, for integratord's user.
    let hook_state = h.join("var/ai-analyzer/integratord");
    assert!(hook_state.is_dir());
    if let Some(uid) = user_uid("wazuh") {
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&hook_state).unwrap()),
            uid
        );
    } else {
        assert!(out.contains("user wazuh does not exist"), "{out}");
    }

    // Again: nothing changes, and an edited config is kept.
    std::fs::write(&config, format!("{text_cfg}\n# edited by the admin\n")).unwrap();
    let (code, out, _) = run(&["install"], h);
    assert_eq!(code, 0);
    assert!(out.contains("ai-analyzer (unchanged)"), "{out}");
    assert!(out.contains("kept (already there"), "{out}");
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("edited by the admin"));

    // The installed binary runs with the installed config.
    let mut cmd = Command::new(&bin);
    cmd.arg("--config")
        .arg(&config)
        .arg("prompt")
        .arg("--alert-file")
        .arg(fixture("alerts/sshd_bruteforce_5712.json"));
    let (o, _) = run_with_input(cmd, b"", Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));

    // Uninstall keeps config and state; --purge removes them.
    std::fs::write(h.join("var/ai-analyzer/keep.md"), "report").unwrap();
    let (code, out, _) = run(&["uninstall"], h);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("and the custom-ai-analyzer <integration> block from ossec.conf"),
        "{out}"
    );
    assert!(!bin.exists());
    assert!(!h.join("integrations/custom-ai-analyzer").exists());
    assert!(!h.join("etc/rules/ai-analyzer_rules.xml").exists());
    assert!(config.exists());
    assert!(h.join("var/ai-analyzer/keep.md").exists());
    let (code, _, _) = run(&["uninstall", "--purge"], h);
    assert_eq!(code, 0);
    assert!(!config.exists());
    assert!(!h.join("var/ai-analyzer").exists());
}

/// A file install put in place swapped for a symlink to another file (what a process of the
/// wazuh group can do in etc/decoders): a second install never changes the link's target.
#[test]
fn install_never_follows_a_symlink_swapped_in() {
    let h = wazuh_tree();
    let (code, _, err) = run(&["install"], h.path());
    assert_eq!(code, 0, "{err}");
    let victim = h.path().join("victim");
    std::fs::write(&victim, b"root's own").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let decoders = h.path().join("etc/decoders/ai-analyzer_decoders.xml");
    let same = std::fs::read(&decoders).unwrap();
    // The same bytes at the target: install would only fix mode and owner, through the link.
    std::fs::write(&victim, &same).unwrap();
    std::fs::remove_file(&decoders).unwrap();
    std::os::unix::fs::symlink(&victim, &decoders).unwrap();
    let (code, _, err) = run(&["install"], h.path());
    assert_eq!(mode(&victim), 0o600, "the link's target keeps its mode");
    // The link is refused, not followed: install says so and stops.
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ai-analyzer_decoders.xml"), "{err}");
}

#[test]
fn install_refuses_a_directory_that_is_not_wazuh() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["install"], dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("does not look like a Wazuh home"), "{err}");
    assert_eq!(err.lines().count(), 1);
}

fn group_exists(name: &str) -> bool {
    std::fs::read_to_string("/etc/group")
        .unwrap_or_default()
        .lines()
        .any(|l| l.split(':').next() == Some(name))
}

fn user_uid(name: &str) -> Option<u32> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2)?.parse().ok())
}

/// The man page and the completions shipped in the .deb are what the binary prints now. When
/// the command line changes: `cargo run -- manpage > docs/man/ai-analyzer.1` and
/// `cargo run -- completions bash > docs/completions/ai-analyzer.bash` (zsh: `_ai-analyzer`,
/// fish: `ai-analyzer.fish`).
#[test]
fn shipped_man_page_and_completions_are_current() {
    let cases = [
        (vec!["manpage"], "docs/man/ai-analyzer.1"),
        (
            vec!["completions", "bash"],
            "docs/completions/ai-analyzer.bash",
        ),
        (vec!["completions", "zsh"], "docs/completions/_ai-analyzer"),
        (
            vec!["completions", "fish"],
            "docs/completions/ai-analyzer.fish",
        ),
    ];
    for (args, file) in cases {
        let out = Command::new(BIN).args(&args).output().expect("runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let shipped = std::fs::read_to_string(format!("{}/{file}", env!("CARGO_MANIFEST_DIR")))
            .expect("shipped file");
        assert_eq!(text(&out.stdout), shipped, "{file} is stale: regenerate it");
    }
    let man = text(&Command::new(BIN).arg("manpage").output().unwrap().stdout);
    for needle in [
        "\\-\\-alert\\-file",
        "\\-\\-dry\\-run",
        "\\-\\-pdf",
        "completions",
        "install",
    ] {
        assert!(man.contains(needle), "{needle}");
    }
}
