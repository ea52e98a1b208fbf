//! The report quality guard: a model can invent an address, a CVE or a rule id that sounds right.
//! Before a report goes out, every IP address, CVE id and rule id in the model's text is looked
//! up in the evidence (the alert, the investigation, the admin's network config); whatever is not
//! there is named in an "unverified" line at the top of the push and the full report.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::analyze::links::bare_domain_at;
use crate::intake::alert::parse_ip_text;

/// What the evidence contains, normalised for lookup.
#[derive(Debug, Default)]
pub struct Corpus {
    ips: HashSet<IpAddr>,
    tokens: HashSet<String>,
    /// Host names, lower case: those of URLs, and bare domains a client would make clickable.
    hosts: HashSet<String>,
}

/// Undoes the usual defanging, so that `45.9.148[.]100` is the address it names and
/// `hxxps://evil[.]example` the URL: `[.]`, `(.)`, `{.}` and `[dot]` are dots, `[:]` a colon,
/// `[://]` the separator, `hxxp` and `fxp` the schemes they stand for.
pub fn refang(text: &str) -> String {
    let mut out = text
        .replace("[.]", ".")
        .replace("(.)", ".")
        .replace("{.}", ".")
        .replace("[dot]", ".")
        .replace("[://]", "://")
        .replace("[:]", ":");
    for (from, to) in [
        ("hxxps://", "https://"),
        ("hxxp://", "http://"),
        ("fxp://", "ftp://"),
    ] {
        while let Some(i) = out.to_ascii_lowercase().find(from) {
            out.replace_range(i..i + from.len(), to);
        }
    }
    out
}

/// The host a token names: that of a URL (`https://evil.example/x`), or a bare domain a client
/// would make clickable (`www.evil.example`, `evil.com`); lower case, without a port.
fn host_in(token: &str) -> Option<String> {
    if let Some((_, rest)) = token.split_once("://") {
        let host = rest
            .split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .rsplit('@')
            .next()
            .unwrap_or_default();
        let host = if host.starts_with('[') {
            host.trim_start_matches('[')
                .split(']')
                .next()
                .unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or_default()
        };
        return (!host.is_empty()).then(|| host.to_ascii_lowercase());
    }
    bare_domain_at(token)
        .filter(|len| *len == token.len() || token[*len..].starts_with('/'))
        .map(|len| token[..len].to_ascii_lowercase())
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_' | '%' | '[' | ']' | '/')
}

/// Splits text into candidate tokens (addresses keep their dots and colons).
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_token_char(c))
        // A leading `::` or `[` belongs to an IPv6 address; trailing punctuation never does.
        .map(|t| {
            t.trim_start_matches(['.', '-', '_', '/'])
                .trim_end_matches(['.', ':', '-', '_', '/'])
        })
        .filter(|t| !t.is_empty())
}

/// An address in a token: `1.2.3.4`, `1.2.3.4:22`, `[2001:db8::1]:443`, `10.0.0.0/24`.
fn ip_in(token: &str) -> Option<IpAddr> {
    let t = token.split('/').next().unwrap_or(token);
    if !t.contains('.') && t.matches(':').count() < 2 {
        return None;
    }
    parse_ip_text(t)
}

impl Corpus {
    pub fn new<'a>(texts: impl IntoIterator<Item = &'a str>) -> Corpus {
        let mut c = Corpus::default();
        for text in texts {
            let text = refang(text);
            for t in tokens(&text) {
                if let Some(ip) = ip_in(t) {
                    c.ips.insert(ip);
                }
                if let Some(host) = host_in(t) {
                    if let Ok(ip) = host.parse::<IpAddr>() {
                        c.ips.insert(ip);
                    }
                    c.hosts.insert(host);
                }
                c.tokens.insert(t.to_ascii_uppercase());
                // `5712` inside `rule-5712` or `"id":"5712"` counts as the token 5712.
                for part in t.split(|c: char| !c.is_ascii_alphanumeric()) {
                    if !part.is_empty() {
                        c.tokens.insert(part.to_ascii_uppercase());
                    }
                }
            }
        }
        c
    }

    /// The addresses, host names, CVE ids and rule ids in `report` that the evidence does not
    /// contain, in the order they first appear, each once. Defanged forms count as what they
    /// name.
    pub fn unverified(&self, report: &str) -> Vec<String> {
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        let report = refang(report);
        let words: Vec<&str> = tokens(&report).collect();
        for (i, w) in words.iter().enumerate() {
            let claim = if let Some(ip) = ip_in(w) {
                (!self.ips.contains(&ip)).then(|| ip.to_string())
            } else if let Some(host) = host_in(w) {
                match host.parse::<IpAddr>() {
                    Ok(ip) => (!self.ips.contains(&ip)).then(|| ip.to_string()),
                    Err(_) => (!self.hosts.contains(&host)).then_some(host),
                }
            } else if let Some(cve) = cve_in(w) {
                (!self.tokens.contains(&cve)).then_some(cve)
            } else if is_rule_word(w) {
                // "rule 5712", "rule id 5712", "rules 5710 and 5712"
                words[i + 1..]
                    .iter()
                    .take(4)
                    .skip_while(|n| n.eq_ignore_ascii_case("id") || n.eq_ignore_ascii_case("ids"))
                    .take_while(|n| {
                        n.chars().all(|c| c.is_ascii_digit()) || n.eq_ignore_ascii_case("and")
                    })
                    .filter(|n| n.chars().all(|c| c.is_ascii_digit()) && n.len() >= 3)
                    .find(|n| !self.tokens.contains(**n))
                    .map(|n| format!("rule {n}"))
            } else {
                None
            };
            if let Some(c) = claim {
                if seen.insert(c.clone()) {
                    missing.push(c);
                }
            }
        }
        missing
    }
}

fn is_rule_word(w: &str) -> bool {
    w.eq_ignore_ascii_case("rule")
        || w.eq_ignore_ascii_case("rules")
        || w.eq_ignore_ascii_case("sid")
}

/// `CVE-2021-44228` (any case) -> `CVE-2021-44228`.
fn cve_in(token: &str) -> Option<String> {
    let up = token.to_ascii_uppercase();
    let rest = up.strip_prefix("CVE-")?;
    let mut parts = rest.splitn(2, '-');
    let year = parts.next()?;
    let num: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (year.len() == 4 && year.chars().all(|c| c.is_ascii_digit()) && num.len() >= 4)
        .then(|| format!("CVE-{year}-{num}"))
}

/// The flag line put under a report's title.
pub fn flag_line(unverified: &[String]) -> String {
    // A named host is the model's claim: shown defanged, never clickable.
    crate::analyze::links::unlink(
        &format!(
            "_⚠ Unverified: {} not in the evidence; check before acting._",
            unverified.join(", ")
        ),
        &[],
    )
}

/// Inserts the flag line after the title of `markdown`.
pub fn flag(markdown: &str, unverified: &[String]) -> String {
    if unverified.is_empty() {
        return markdown.to_string();
    }
    let line = flag_line(unverified);
    match markdown.split_once('\n') {
        Some((title, rest)) => format!("{title}\n{line}\n{rest}"),
        None => format!("{markdown}\n{line}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus() -> Corpus {
        Corpus::new([
            r#"{"rule":{"id":"5712","level":10,"info":"CVE-2014-6271"},"data":{"srcip":"::ffff:203.0.113.5","dstip":"10.0.0.11"}}"#,
            "Zones: DMZ 192.168.111.0/24; mail server 2001:db8::25",
        ])
    }

    #[test]
    fn grounded_reports_pass() {
        let text = "# SSH brute force from 203.0.113.5\nRule 5712 fired against 10.0.0.11. \
                    Shellshock (cve-2014-6271). The DMZ is 192.168.111.0/24; mail at [2001:db8::25]:25.";
        assert_eq!(corpus().unverified(text), Vec::<String>::new());
    }

    #[test]
    fn invented_facts_are_named_once_each() {
        let text = "# Attack from 203.0.113.9\nAlso seen: 203.0.113.9, 198.51.100.1:22. Exploits CVE-2021-44228 \
                    and CVE-2014-6271; matches rules 5712 and 99999 and rule id 31151.";
        assert_eq!(
            corpus().unverified(text),
            vec![
                "203.0.113.9",
                "198.51.100.1",
                "CVE-2021-44228",
                "rule 99999",
                "rule 31151"
            ]
        );
    }

    #[test]
    fn look_alikes_are_not_matches() {
        // 10.0.0.1 is not 10.0.0.11, and 571 is not 5712.
        assert_eq!(
            corpus().unverified("From 10.0.0.1, rule 571."),
            vec!["10.0.0.1", "rule 571"]
        );
        // Versions and times are not addresses.
        assert!(corpus()
            .unverified("OpenSSH 8.9 at 12:30:01, ver 1.2.3")
            .is_empty());
    }

    #[test]
    fn flag_goes_under_the_title() {
        let out = flag("# T\nbody", &["203.0.113.9".into()]);
        assert_eq!(
            out,
            "# T\n_⚠ Unverified: 203.0.113.9 not in the evidence; check before acting._\nbody"
        );
        assert_eq!(flag("# T\nbody", &[]), "# T\nbody");
    }

    #[test]
    fn tokens_split_on_punctuation_and_trim_it() {
        let got: Vec<&str> =
            tokens("Seen: 1.2.3.4., [2001:db8::1]:443; ::1 (-x-) _y_ /24/ .. rule-5712!").collect();
        assert_eq!(
            got,
            vec![
                "Seen",
                "1.2.3.4",
                "[2001:db8::1]:443",
                "::1",
                "x",
                "y",
                "24",
                "rule-5712"
            ]
        );
        assert_eq!(tokens(" ,;() ").count(), 0, "separators alone are no token");
    }

    #[test]
    fn token_chars_are_alphanumerics_and_address_punctuation() {
        for c in ['a', 'Z', '7', '.', ':', '-', '_', '%', '[', ']', '/'] {
            assert!(is_token_char(c), "{c:?}");
        }
        for c in [' ', ',', ';', '(', ')', '"', '!', '\n', 'é'] {
            assert!(!is_token_char(c), "{c:?}");
        }
    }

    #[test]
    fn addresses_are_found_in_every_spelling() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let cases = [
            ("1.2.3.4", ip("1.2.3.4")),
            ("1.2.3.4:22", ip("1.2.3.4")),
            ("10.0.0.0/24", ip("10.0.0.0")),
            ("::1", ip("::1")),
            ("fe80::1", ip("fe80::1")),
            ("fe80::1%eth0", ip("fe80::1")),
            ("2001:db8::9", ip("2001:db8::9")),
            ("2001:0db8:0000:0000:0000:0000:0000:0009", ip("2001:db8::9")),
            ("2001:db8::/32", ip("2001:db8::")),
            ("[2001:db8::1]:443", ip("2001:db8::1")),
            ("::ffff:1.2.3.4", ip("1.2.3.4")),
            ("[::ffff:1.2.3.4]:22", ip("1.2.3.4")),
            // Not addresses: versions, times, numbers, words.
            ("8.9", None),
            ("1.2.3", None),
            ("12:30:01", None),
            ("a:b", None),
            ("5712", None),
            ("abc", None),
        ];
        for (token, want) in cases {
            assert_eq!(ip_in(token), want, "{token}");
        }
    }

    #[test]
    fn cve_ids_need_a_four_digit_year_and_at_least_four_digits() {
        let cases = [
            ("CVE-2021-44228", Some("CVE-2021-44228")),
            ("cve-2021-44228", Some("CVE-2021-44228")),
            ("Cve-2014-6271", Some("CVE-2014-6271")),
            ("CVE-2021-1234", Some("CVE-2021-1234")),
            ("CVE-2021-44228abc", Some("CVE-2021-44228")),
            ("CVE-2021-123", None),
            ("CVE-21-44228", None),
            ("CVE-12345-4422", None),
            ("CVE-20x1-44228", None),
            ("CVE-2021", None),
            ("CVE-", None),
            ("XCVE-2021-44228", None),
            ("2021-44228", None),
        ];
        for (token, want) in cases {
            assert_eq!(cve_in(token).as_deref(), want, "{token}");
        }
    }

    #[test]
    fn rule_words_are_rule_rules_and_sid_in_any_case() {
        for w in ["rule", "RULE", "Rules", "rules", "sid", "SID"] {
            assert!(is_rule_word(w), "{w}");
        }
        for w in ["rulez", "ruleset", "id", "port", "signature", ""] {
            assert!(!is_rule_word(w), "{w}");
        }
    }

    #[test]
    fn invented_ipv6_addresses_are_named_in_every_spelling() {
        // The evidence holds 2001:db8::25 and ::ffff:203.0.113.5 (that is 203.0.113.5).
        let text = "# Scan from 2001:db8::9\nAlso 2001:0db8:0000:0000:0000:0000:0000:0010, \
                    ::ffff:198.51.100.7, [2001:db8::11]:443, 2001:db8:1::/48 and fe80::1.";
        assert_eq!(
            corpus().unverified(text),
            vec![
                "2001:db8::9",
                "2001:db8::10",
                "198.51.100.7",
                "2001:db8::11",
                "2001:db8:1::",
                "fe80::1"
            ]
        );
    }

    #[test]
    fn known_addresses_match_in_any_spelling() {
        let text = "2001:0db8:0000:0000:0000:0000:0000:0025, [2001:db8::25]:25, 2001:db8::25/128, \
                    203.0.113.5, ::ffff:203.0.113.5, [::ffff:203.0.113.5]:22, 203.0.113.5:2222, \
                    ::ffff:10.0.0.11 and 192.168.111.0.";
        assert_eq!(corpus().unverified(text), Vec::<String>::new());
    }

    #[test]
    fn invented_cves_are_named_in_upper_case_and_malformed_ones_ignored() {
        assert_eq!(
            corpus().unverified("cve-2021-44228, CVE-2014-6271, CVE-2021-123, CVE-21-4422."),
            vec!["CVE-2021-44228"]
        );
    }

    #[test]
    fn rule_ids_after_every_rule_word() {
        let cases: [(&str, &[&str]); 12] = [
            ("Rule 5712 and RULES 5712 and sid 5712", &[]),
            ("rule 99999", &["rule 99999"]),
            ("RULES 88888", &["rule 88888"]),
            ("sid 77777", &["rule 77777"]),
            ("SID 77777", &["rule 77777"]),
            ("rule id 31151", &["rule 31151"]),
            ("rule ids 31152", &["rule 31152"]),
            ("rule ID 5712", &[]),
            ("rules 5712 and 5710", &["rule 5710"]),
            ("rules 5712, 5713", &["rule 5713"]),
            // Numbers shorter than three digits are no rule ids.
            ("rule 12 and rule 99; rule 100", &["rule 100"]),
            // Numbers after other words are not rule ids.
            ("port 4444, rulez 4444, 4444 rule", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(corpus().unverified(text), want, "{text}");
        }
    }

    #[test]
    fn at_most_four_words_after_a_rule_word_are_read() {
        // id, 5712, and, 66666: the fourth word is read.
        assert_eq!(
            corpus().unverified("rule id 5712 and 66666"),
            vec!["rule 66666"]
        );
        // 5712, and, 5712, and: 66666 is the fifth word and is not read.
        assert!(corpus()
            .unverified("rules 5712 and 5712 and 66666")
            .is_empty());
        // A word that is neither a number nor "and" ends the list.
        assert!(corpus().unverified("rule 5712 then 66666").is_empty());
    }

    #[test]
    fn numbers_inside_evidence_tokens_count() {
        let c = Corpus::new(["alert rule-5712 fired; see id=31151"]);
        assert!(c.unverified("rule 5712 and rule 31151").is_empty());
        assert_eq!(c.unverified("rule 5713"), vec!["rule 5713"]);
    }

    #[test]
    fn with_no_evidence_everything_is_unverified() {
        let c = Corpus::new([]);
        assert_eq!(
            c.unverified("1.2.3.4 2001:db8::1 CVE-2021-44228 rule 5712"),
            vec!["1.2.3.4", "2001:db8::1", "CVE-2021-44228", "rule 5712"]
        );
    }

    #[test]
    fn flag_line_names_every_claim() {
        assert_eq!(
            flag_line(&["203.0.113.9".into(), "rule 99999".into()]),
            "_⚠ Unverified: 203.0.113.9, rule 99999 not in the evidence; check before acting._"
        );
    }

    #[test]
    fn flag_without_a_newline_goes_after_the_text() {
        assert_eq!(
            flag("# Title only", &["CVE-2021-44228".into()]),
            "# Title only\n_⚠ Unverified: CVE-2021-44228 not in the evidence; check before acting._"
        );
        assert_eq!(flag("# Title only", &[]), "# Title only");
        // Only the first line is the title.
        assert_eq!(
            flag("# T\na\nb", &["x".into()]),
            "# T\n_⚠ Unverified: x not in the evidence; check before acting._\na\nb"
        );
    }

    #[test]
    fn defanged_forms_are_read_as_what_they_name() {
        for (input, want) in [
            ("45.9.148[.]100", "45.9.148.100"),
            ("45(.)9{.}148[dot]100", "45.9.148.100"),
            ("2001:db8[:]:1", "2001:db8::1"),
            ("hxxps://evil[.]example/x", "https://evil.example/x"),
            ("HXXP://a[.]b and hxxp://c", "http://a.b and http://c"),
            ("fxp://f[.]example ssh[://]h", "ftp://f.example ssh://h"),
            ("plain 10.0.0.1", "plain 10.0.0.1"),
        ] {
            assert_eq!(refang(input), want, "{input}");
        }
    }

    #[test]
    fn hosts_come_from_urls_and_clickable_domains() {
        for (token, want) in [
            ("https://Evil.Example/sso", Some("evil.example")),
            ("http://user@evil.example:8080/x?y#z", Some("evil.example")),
            ("http://[2001:db8::9]:443/", Some("2001:db8::9")),
            ("ftp://1.2.3.4", Some("1.2.3.4")),
            ("evil.com", Some("evil.com")),
            ("www.evil.test/login", Some("www.evil.test")),
            ("evil.test/login", Some("evil.test")),
            ("evil.com.", None),
            ("auth.log", None),
            ("alerts.json", None),
            ("localhost.localdomain", None),
            ("1.2.3.4", None),
            ("https://", None),
        ] {
            assert_eq!(host_in(token).as_deref(), want, "{token}");
        }
    }

    #[test]
    fn invented_hosts_and_defanged_addresses_are_named() {
        let c = Corpus::new([
            r#"{"data":{"url":"https://shop.example.com/cart","srcip":"45.9.148.100"}}"#,
            "RDAP: abuse contact abuse@provider.net",
        ]);
        let report =
            "# From 45.9.148[.]100 and 45.9.148[.]101\nSee hxxps://shop[.]example[.]com/x, \
                      https://evil.example/sso, www.evil.test, mail abuse@provider.net, \
                      logs in auth.log, and http://198.51.100.7/x.";
        assert_eq!(
            c.unverified(report),
            vec![
                "45.9.148.101",
                "evil.example",
                "www.evil.test",
                "198.51.100.7"
            ]
        );
        // A URL whose host is a known address is grounded like the address itself.
        assert!(c.unverified("http://45.9.148.100/admin").is_empty());
    }
}
