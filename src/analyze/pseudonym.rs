//! Pseudonymised prompts for a model server off the admin's network: internal host and agent
//! names, user names, e-mail addresses and non-global IP addresses become stable placeholders
//! (`HOST-1`, `USER-1`, `MAIL-1`, `IP-1`) before the prompt leaves, and are put back in the
//! answer. Public addresses, rule ids and CVEs stay: they are what the model reasons about.
//!
//! The mapping lives in memory for one job only: it is never written to disk or to the log.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::config::{LlmBackend, Pseudonymize, Settings};
use crate::intake::alert::Alert;
use crate::intake::facts::{Facts, USER_FIELDS};
use crate::investigate::Evidence;

/// Alert fields that name a host of the admin's.
const HOST_FIELDS: &[&str] = &[
    "agent.name",
    "manager.name",
    "predecoder.hostname",
    "data.hostname",
    "data.win.system.computer",
    "data.win.eventdata.workstationName",
    "host.name",
    "host.hostname",
    // The Active Directory domain of a Windows logon names the organisation.
    "data.win.eventdata.targetDomainName",
    "data.win.eventdata.subjectDomainName",
];

/// Facts that name a user or a host.
const USER_FACTS: &[&str] = &[
    "User",
    "Logged in as",
    "Changed by",
    "Owner",
    "Service account",
];
const HOST_FACTS: &[&str] = &["Workstation", "Device"];

/// Names shorter than this stay: replacing "a" or "db" at every word boundary would garble the
/// prompt and hide nothing.
const MIN_NAME_CHARS: usize = 3;

/// What kind of name a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Host,
    User,
    Mail,
    Ip,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Host => "HOST",
            Kind::User => "USER",
            Kind::Mail => "MAIL",
            Kind::Ip => "IP",
        }
    }
}

/// The placeholders of one job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mapping {
    /// (placeholder, the name in clear), longest name first.
    pairs: Vec<(String, String)>,
}

/// Whether this job's prompt is pseudonymised: `always`, `never`, or with `auto` when the model
/// server is not on loopback or a private network.
pub fn wanted(settings: &Settings) -> bool {
    let url = match settings.llm.backend {
        LlmBackend::Ollama => &settings.ollama.url,
        LlmBackend::Openai => &settings.openai.url,
    };
    match settings.llm.pseudonymize {
        Pseudonymize::Always => true,
        Pseudonymize::Never => false,
        Pseudonymize::Auto => !crate::investigate::scope::is_local_url(url),
    }
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `text[at..at + len]` stands alone: no letter, digit or underscore on either side.
fn stands_alone(text: &str, at: usize, len: usize) -> bool {
    let before = text[..at].chars().next_back();
    let after = text[at + len..].chars().next();
    !before.is_some_and(is_word) && !after.is_some_and(is_word)
}

/// Whether `name` stands alone somewhere in `text`.
fn occurs(text: &str, name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(at) = text[from..].find(name).map(|i| from + i) {
        if stands_alone(text, at, name.len()) {
            return true;
        }
        // Overlapping matches too: one character on.
        from = at + text[at..].chars().next().map_or(1, char::len_utf8);
    }
    false
}

/// One pass over `text`: at each place, the first `(from, to)` whose `from` stands alone there
/// is written as `to`, and the scan goes on after it (what was written is never looked at
/// again). `pairs` go longest `from` first.
fn substitute(text: &str, pairs: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let hit = pairs.iter().find(|(from, _)| {
            !from.is_empty() && rest.starts_with(from) && stands_alone(text, at, from.len())
        });
        match hit {
            Some((from, to)) => {
                out.push_str(to);
                at += from.len();
            }
            None => {
                let c = rest.chars().next().unwrap_or(' ');
                out.push(c);
                at += c.len_utf8();
            }
        }
    }
    out
}

/// How `text` writes `name`: every standing-alone occurrence in any ASCII case, and for a host
/// also with the domain labels that follow it.
fn spellings<'t>(text: &'t str, name: &str, host: bool) -> impl Iterator<Item = String> + 't {
    let name = name
        .trim_matches(|c: char| !is_word(c))
        .to_ascii_lowercase();
    let lowered = text.to_ascii_lowercase();
    let mut found = Vec::new();
    if name.chars().count() >= MIN_NAME_CHARS {
        let mut from = 0;
        while let Some(at) = lowered[from..].find(&name).map(|i| from + i) {
            from = at + name.len().max(1);
            let mut end = at + name.len();
            if host {
                // `.corp.example.com` after a host name belongs to it.
                let label = |c: char| c.is_ascii_alphanumeric() || c == '-';
                while text[end..].starts_with('.')
                    && text[end + 1..]
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    let len = text[end + 1..].chars().take_while(|c| label(*c)).count();
                    end += 1 + len;
                }
            }
            if stands_alone(text, at, end - at) {
                found.push(text[at..end].to_string());
            }
        }
    }
    found.into_iter()
}

/// IP addresses written in `text` (IPv4, and IPv6 with at least two colons).
fn addresses_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let token = |c: char| c.is_ascii_hexdigit() || c == '.' || c == ':';
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (token(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                // A sentence's full stop or a list's colon goes; a leading `::` (`::ffff:10.1.2.3`,
                // `::1`) stays.
                let candidate = text[s..i].trim_end_matches(['.', ':']);
                // `10.0.0.5:22`: the address without its port.
                let address = match candidate.rsplit_once(':') {
                    Some((v4, port))
                        if v4.contains('.') && port.chars().all(|c| c.is_ascii_digit()) =>
                    {
                        v4
                    }
                    _ => candidate,
                };
                if address.parse::<IpAddr>().is_ok() && stands_alone(text, s, i - s) {
                    out.push(address.to_string());
                } else {
                    // An IPv4 address glued to a word by a colon: `dst:10.8.8.8`.
                    let mut at = s;
                    for part in text[s..i].split(':') {
                        if part.contains('.')
                            && part.parse::<std::net::Ipv4Addr>().is_ok()
                            && stands_alone(text, at, part.len())
                        {
                            out.push(part.to_string());
                        }
                        at += part.len() + 1;
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

/// E-mail addresses written in `text`: `local@domain.tld`, and URL-encoded as web logs write
/// them, `local%40domain.tld`.
fn mails_in(text: &str) -> Vec<String> {
    let mut out = mails_with(text, "@");
    out.extend(mails_with(text, "%40"));
    out
}

fn mails_with(text: &str, sign: &str) -> Vec<String> {
    let part = |c: char| c.is_alphanumeric() || "._%+-".contains(c);
    let mut out = Vec::new();
    for (at, _) in text.match_indices(sign) {
        let local_start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| part(*c))
            .last()
            .map(|(i, _)| i);
        let after = at + sign.len();
        let domain_end = text[after..]
            .char_indices()
            .take_while(|(_, c)| part(*c))
            .last()
            .map(|(i, c)| after + i + c.len_utf8());
        if let (Some(s), Some(e)) = (local_start, domain_end) {
            let mail = text[s..e].trim_end_matches('.');
            let domain = mail.find(sign).map_or(0, |i| i + sign.len());
            if mail[domain..].contains('.') {
                out.push(mail.to_string());
            }
        }
    }
    out
}

impl Mapping {
    /// The names of one job: the alert's host and user fields and facts, the agents, peers and
    /// users of the address's history, and every e-mail address and non-global IP address
    /// written in `texts` (the prompt). A name that is a word of the prompt's own fixed text
    /// (`fixed`: "report", "DATA"), a public address or a number stays: replacing it would
    /// garble the instructions or the fence, or hide what the model must see.
    pub fn build(
        alert: &Alert,
        evidence: &Evidence,
        facts: &Facts,
        texts: &[&str],
        fixed: &str,
    ) -> Mapping {
        let mut names: Vec<(Kind, String)> = Vec::new();
        for path in HOST_FIELDS {
            if let Some(v) = alert.text(path) {
                names.push((Kind::Host, v));
            }
        }
        names.push((Kind::Host, evidence.agent.name.clone()));
        for path in USER_FIELDS {
            if let Some(v) = alert.text(path) {
                names.push((Kind::User, v));
            }
        }
        for fact in &facts.items {
            if USER_FACTS.contains(&fact.label) {
                names.push((Kind::User, fact.value.clone()));
            } else if HOST_FACTS.contains(&fact.label) {
                names.push((Kind::Host, fact.value.clone()));
            }
        }
        if let Some(history) = evidence.history.summary() {
            for host in history.agents.iter().chain(&history.peers) {
                names.push((Kind::Host, host.name.clone()));
            }
            for user in &history.users {
                names.push((Kind::User, user.value.clone()));
            }
            for line in &history.log_lines {
                names.push((Kind::Host, line.agent.clone()));
            }
        }
        for text in texts {
            names.extend(mails_in(text).into_iter().map(|m| (Kind::Mail, m)));
            for ip in addresses_in(text) {
                let global = ip
                    .parse::<IpAddr>()
                    .is_ok_and(|a| crate::investigate::scope::scope(a).is_global());
                if !global {
                    names.push((Kind::Ip, ip));
                }
            }
        }
        names.retain(|(_, name)| {
            let name = name.trim_matches(|c: char| !is_word(c));
            let global_ip = name
                .parse::<IpAddr>()
                .is_ok_and(|a| crate::investigate::scope::scope(a).is_global());
            let number = name.chars().all(|c| !c.is_alphabetic());
            let ours = occurs(fixed, name);
            !(global_ip || (number && !name.contains(['.', ':'])) || ours)
        });
        // Each name as the texts write it: in another case (`WEB-01`, `PACO`) and, for a host,
        // with the domain that follows it (`web-01.corp.example`), each its own placeholder so
        // that every one comes back as it was.
        let mut spelled = Vec::new();
        for (kind, name) in &names {
            for text in texts {
                spelled.extend(spellings(text, name, *kind == Kind::Host).map(|s| (*kind, s)));
            }
        }
        names.extend(spelled);
        Mapping::from_names(names, texts)
    }

    /// Numbers each distinct name by kind, skipping any placeholder the texts already hold (an
    /// alert that writes `HOST-1` itself cannot take over the real host's name).
    pub fn from_names(names: Vec<(Kind, String)>, texts: &[&str]) -> Mapping {
        let mut seen = BTreeSet::new();
        let mut next = [0usize; 4];
        let mut pairs = Vec::new();
        for (kind, name) in names {
            // A name starts and ends with a letter or digit, so that its placeholder stands
            // alone where the name did, and comes back.
            let name = name.trim_matches(|c: char| !is_word(c)).to_string();
            if name.chars().count() < MIN_NAME_CHARS || !seen.insert(name.clone()) {
                continue;
            }
            // Only names the texts show, as they show them: a placeholder the prompt never
            // used must not turn into a name when the model makes it up.
            let shown = texts.iter().any(|t| occurs(t, &name));
            if !shown {
                continue;
            }
            let placeholder = loop {
                next[kind as usize] += 1;
                let p = format!("{}-{}", kind.prefix(), next[kind as usize]);
                if !texts.iter().any(|t| t.contains(&p)) {
                    break p;
                }
            };
            pairs.push((placeholder, name));
        }
        // Longest names first: `web-01.corp` goes before `web-01`.
        pairs.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        Mapping { pairs }
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Names to placeholders.
    pub fn apply(&self, text: &str) -> String {
        let pairs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .map(|(p, n)| (n.as_str(), p.as_str()))
            .collect();
        substitute(text, &pairs)
    }

    /// Placeholders back to names.
    pub fn reverse(&self, text: &str) -> String {
        // Longest placeholder first: HOST-12 before HOST-1.
        let mut pairs: Vec<(&str, &str)> = self
            .pairs
            .iter()
            .map(|(p, n)| (p.as_str(), n.as_str()))
            .collect();
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(b.0)));
        substitute(text, &pairs)
    }

    /// What still looks like a placeholder in a reversed answer: the model invented it, or
    /// bent one (`HOST-1s`, `HOST‑1` with another hyphen, `HOST_1`). Flagged, never reversed.
    pub fn invented(&self, reversed: &str) -> Vec<String> {
        let hyphen = |c: char| matches!(c, '-' | '_' | '\u{2010}'..='\u{2015}' | '\u{2212}');
        let mut out = BTreeSet::new();
        for prefix in ["HOST", "USER", "MAIL", "IP"] {
            for (at, _) in reversed.match_indices(prefix) {
                if reversed[..at]
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphabetic)
                {
                    continue;
                }
                let mut rest = reversed[at + prefix.len()..].chars();
                if !rest.next().is_some_and(hyphen) {
                    continue;
                }
                let digits: String = rest.take_while(char::is_ascii_digit).collect();
                if !digits.is_empty() {
                    let sep = reversed[at + prefix.len()..]
                        .chars()
                        .next()
                        .map_or(1, char::len_utf8);
                    let len = prefix.len() + sep + digits.len();
                    out.insert(reversed[at..at + len].to_string());
                }
            }
        }
        out.into_iter().collect()
    }

    /// The table for `prompt --show-mapping`.
    pub fn table(&self) -> String {
        let mut rows: Vec<&(String, String)> = self.pairs.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows.iter()
            .map(|(p, n)| format!("{p:<8} {n}"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mapping(names: &[(Kind, &str)], texts: &[&str]) -> Mapping {
        Mapping::from_names(
            names.iter().map(|(k, n)| (*k, n.to_string())).collect(),
            texts,
        )
    }

    #[test]
    fn names_become_placeholders_at_word_boundaries_and_come_back() {
        let text = "Failed password for paco from 172.17.1.1 on web-01.corp (web-01); \
                    mail paco@corp.example; not pacoX or xweb-01";
        let m = Mapping::from_names(
            vec![
                (Kind::User, "paco".into()),
                (Kind::Host, "web-01".into()),
                (Kind::Host, "web-01.corp".into()),
                (Kind::Ip, "172.17.1.1".into()),
                (Kind::Mail, "paco@corp.example".into()),
            ],
            &[text],
        );
        let out = m.apply(text);
        assert_eq!(
            out,
            "Failed password for USER-1 from IP-1 on HOST-2 (HOST-1); mail MAIL-1; not pacoX or xweb-01"
        );
        assert_eq!(m.reverse(&out), text);
        assert_eq!(
            m.invented(&m.reverse("HOST-1 and HOST-9, USER-12, HOST-1s, HOST\u{2011}1, host-1")),
            vec!["HOST-1", "HOST-9", "HOST\u{2011}1", "USER-12"]
        );
    }

    #[test]
    fn a_placeholder_already_in_the_text_is_never_used() {
        let text = "user HOST-1 logged in to web-01";
        let m = mapping(&[(Kind::Host, "web-01")], &[text]);
        assert_eq!(m.apply(text), "user HOST-1 logged in to HOST-2");
        assert_eq!(m.reverse(&m.apply(text)), text);
    }

    /// The attack review's cases: a name that is a word of our own prompt stays (the fence and
    /// the instructions keep their words); a name the prompt never shows gets no placeholder,
    /// so a made-up one is flagged, not turned into that name; a mapped IPv6 keeps its `::`.
    #[test]
    fn our_words_stay_and_only_shown_names_get_placeholders() {
        use crate::config::Settings;
        let alert = Alert::new(serde_json::json!({
            "rule": {"id": "5710", "level": 5, "description": "sshd: invalid user",
                     "groups": ["sshd", "authentication_failed"]},
            "agent": {"id": "001", "name": "web-01"},
            "manager": {"name": "wazuh-mgr"},
            "data": {"srcip": "185.220.101.33", "srcuser": "DATA", "dstuser": "report"},
            "full_log": "Failed password for invalid user DATA from 185.220.101.33 rip=::ffff:10.1.2.3"}));
        let mut settings = Settings::default();
        settings.llm.pseudonymize = crate::config::Pseudonymize::Always;
        let evidence = Evidence::local(&alert, &settings.investigation());
        let (prompt, mapping) = crate::analyze::prompt_for(&alert, &evidence, &settings);
        let mapping = mapping.expect("pseudonymised");
        assert!(prompt.user.contains("<<<DATA-") && prompt.user.contains("<<<END-DATA-"));
        assert!(
            prompt.user.contains("Write the report now"),
            "{}",
            prompt.user
        );
        assert!(!prompt.user.contains("web-01"), "{}", prompt.user);
        assert!(!prompt.user.contains("10.1.2.3"), "{}", prompt.user);
        assert!(
            prompt.user.contains("185.220.101.33"),
            "a public address stays"
        );
        assert!(
            !mapping.table().contains("wazuh-mgr"),
            "{}",
            mapping.table()
        );
        let answer = mapping.reverse("HOST-1 and HOST-2");
        assert!(answer.starts_with("web-01 and "), "{answer}");
        assert!(mapping.invented(&answer).contains(&"HOST-2".to_string()));
    }

    /// A name in another case, and a host with its domain, get placeholders of their own and
    /// come back exactly.
    #[test]
    fn other_cases_and_domains_are_caught() {
        let text = "web-01 and WEB-01 and web-01.corp.example.com; user PACO (paco)";
        let mut names = vec![
            (Kind::Host, "web-01".to_string()),
            (Kind::User, "paco".to_string()),
        ];
        for (kind, name) in names.clone() {
            names.extend(spellings(text, &name, kind == Kind::Host).map(|s| (kind, s)));
        }
        let m = Mapping::from_names(names, &[text]);
        let out = m.apply(text);
        for leak in ["web-01", "WEB-01", "corp.example", "PACO", "paco"] {
            assert!(!out.contains(leak), "{leak}: {out}");
        }
        assert_eq!(m.reverse(&out), text);
    }

    #[test]
    fn addresses_and_mails_are_found_in_text() {
        assert_eq!(
            addresses_in("rip=::ffff:10.1.2.3, lip=::1."),
            vec!["::ffff:10.1.2.3", "::1"]
        );
        assert_eq!(
            addresses_in("from 10.0.0.5:22 to fe80::1, v1.2 and 999.1.1.1"),
            vec!["10.0.0.5", "fe80::1"]
        );
        assert_eq!(
            mails_in(
                "to: <alice.b@corp.example.org>, bob@localhost, x@y.z., ?u=carol%40corp.example&x"
            ),
            vec!["alice.b@corp.example.org", "x@y.z", "carol%40corp.example"]
        );
        assert_eq!(
            addresses_in("dst:10.8.8.8 inside:10.9.9.9/22 x10.1.1.1"),
            vec!["10.8.8.8", "10.9.9.9"]
        );
    }

    proptest! {
        /// Whatever the text and the names, the answer that echoes the pseudonymised text comes
        /// back as the original.
        #[test]
        fn the_mapping_round_trips_any_text(
            text in "\\PC{0,300}",
            names in proptest::collection::vec("\\PC{1,12}", 0..6),
            picks in proptest::collection::vec(0usize..300, 0..6),
        ) {
            // Names taken from the text itself as well as arbitrary ones.
            let chars: Vec<char> = text.chars().collect();
            let mut all: Vec<(Kind, String)> = names.into_iter().map(|n| (Kind::User, n)).collect();
            for p in picks {
                if chars.len() > 4 {
                    let s = p % (chars.len() - 4);
                    all.push((Kind::Host, chars[s..s + 4].iter().collect()));
                }
            }
            let m = Mapping::from_names(all, &[&text]);
            prop_assert_eq!(m.reverse(&m.apply(&text)), text);
        }
    }
}
