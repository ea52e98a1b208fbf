//! The report quality guard: a model can invent an address, a CVE or a rule id that sounds right.
//! Before a report goes out, every IP address, CVE id and rule id in the model's text is looked
//! up in the evidence (the alert, the investigation, the admin's network config); whatever is not
//! there is named in an "unverified" line at the top of the push and the full report.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::alert::parse_ip_text;

/// What the evidence contains, normalised for lookup.
#[derive(Debug, Default)]
pub struct Corpus {
    ips: HashSet<IpAddr>,
    tokens: HashSet<String>,
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
            for t in tokens(text) {
                if let Some(ip) = ip_in(t) {
                    c.ips.insert(ip);
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

    /// The addresses, CVE ids and rule ids in `report` that the evidence does not contain, in
    /// the order they first appear, each once.
    pub fn unverified(&self, report: &str) -> Vec<String> {
        let mut missing = Vec::new();
        let mut seen = HashSet::new();
        let words: Vec<&str> = tokens(report).collect();
        for (i, w) in words.iter().enumerate() {
            let claim = if let Some(ip) = ip_in(w) {
                (!self.ips.contains(&ip)).then(|| ip.to_string())
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
    format!(
        "_⚠ Unverified: {} not in the evidence; check before acting._",
        unverified.join(", ")
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
}
