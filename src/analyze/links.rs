//! No clickable link or image in a report: whatever a push or a mail shows comes from the model or
//! from alert fields, and both are the attacker's to write (`[confirm here](https://evil/sso)` as
//! a user name, a link the model was talked into). Links are turned into plain text and every URL
//! is defanged (`hxxps://evil[.]example/sso`) so that no phone or mail client makes it clickable
//! again. The only link a push carries is the report link from the configuration, which goes in
//! ntfy's Click header, never in the text.

/// `markdown` with no link, image, autolink or HTML tag left, and every URL defanged except
/// those whose host is in `configured` (the admin's own servers, named in error lines and the
/// blocklist line: they come from the configuration, not from an attacker).
pub fn unlink(markdown: &str, configured: &[String]) -> String {
    // Defanging writes brackets (`[://]`, `[.]`), and a bracket can complete the syntax of a
    // link or a reference definition with one already there (`[x://://]`): the steps run again
    // until nothing changes, so a report that passes through twice stays as it is.
    let mut text = markdown.to_string();
    for _ in 0..4 {
        let next = unlink_once(&text, configured);
        if next == text {
            return next;
        }
        text = next;
    }
    // Still changing: a contrived input. Its square brackets go; none can pair up then.
    text.replace('[', "(").replace(']', ")")
}

fn unlink_once(markdown: &str, configured: &[String]) -> String {
    // Links inside links come out one layer a pass; whatever is left after a few passes loses
    // its syntax outright.
    let mut text = markdown.to_string();
    for _ in 0..8 {
        let next = inline_links_to_text(&text);
        if next == text {
            break;
        }
        text = next;
    }
    let text = text.replace("](", "] (");
    let text = reference_definitions_to_text(&text);
    let text = angle_brackets_to_text(&text);
    // A defanged scheme ends in `]`: before a `(` it would start a link's syntax again. And a
    // reference definition's label may span lines (`[x` then `]: url` on the next one): no
    // `]:` is left anywhere.
    defang_urls(&text, configured)
        .replace("](", "] (")
        .replace("]:", "] :")
}

/// `[text](url)` -> `text (url)`, `![alt](url)` -> `alt (url)`.
fn inline_links_to_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|i| open + i) else {
            break;
        };
        let after = &rest[close + 1..];
        let dest_end = after
            .starts_with('(')
            .then(|| after.find(')'))
            .flatten()
            .filter(|end| !after[..*end].contains('\n'));
        let Some(dest_end) = dest_end else {
            out.push_str(&rest[..=open]);
            rest = &rest[open + 1..];
            continue;
        };
        let image = rest[..open].ends_with('!');
        out.push_str(&rest[..if image { open - 1 } else { open }]);
        let label = &rest[open + 1..close];
        let dest = after[1..dest_end].trim();
        out.push_str(label);
        if !dest.is_empty() {
            out.push_str(" (");
            out.push_str(dest);
            out.push(')');
        }
        rest = &after[dest_end + 1..];
    }
    out.push_str(rest);
    out
}

/// A reference definition (`[id]: url` at the start of a line) loses its brackets, so that no
/// `[text][id]` elsewhere becomes a link.
fn reference_definitions_to_text(text: &str) -> String {
    text.split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            match trimmed.strip_prefix('[').and_then(|r| r.split_once("]:")) {
                Some((id, url)) if indent < 4 && !id.contains(']') => {
                    format!("{}{id}:{url}", &line[..indent])
                }
                _ => line.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `<https://x>` autolinks and HTML tags (`<a href=...>`, `<img ...>`): the `<` becomes `‹`.
fn angle_brackets_to_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // A tag, a comment, or an autolink (`<https://x>`, and `<_a@b>`: a mail address may
        // start with almost any character): anything but a space after the `<`.
        let tag_like = c == '<' && chars.peek().is_some_and(|n| !n.is_whitespace());
        out.push(if tag_like { '\u{2039}' } else { c });
    }
    out
}

/// Every `scheme://host...` and `www.host`: the scheme loses its `t`s (`hxxp`, `hxxps`), other
/// schemes their `://` (`[://]`), and the host's dots become `[.]`.
fn defang_urls(text: &str, configured: &[String]) -> String {
    let is_configured = |host: &str| {
        configured
            .iter()
            .any(|c| c.eq_ignore_ascii_case(host.trim_end_matches('.')))
    };
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < text.len() {
        let rest = &text[i..];
        if let Some(scheme_len) = scheme_at(text, i) {
            let host_start = i + scheme_len + 3;
            let host_len = text[host_start..]
                .find(|c: char| !is_host_char(c))
                .unwrap_or(text.len() - host_start);
            let host = &text[host_start..host_start + host_len];
            let bare = host.rsplit('@').next().unwrap_or(host);
            let bare = bare.rsplit_once(':').map_or(bare, |(h, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    h
                } else {
                    bare
                }
            });
            if is_configured(bare) {
                out.push_str(&text[i..host_start + host_len]);
                i = host_start + host_len;
                continue;
            }
            out.push_str(&defanged_scheme(&rest[..scheme_len]));
            i = push_defanged_host(text, host_start, &mut out);
            continue;
        }
        // A mail address stays whole: a client makes it a mailto link at most.
        let local_part =
            |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
        if i > 1 && bytes[i - 1] == b'@' && local_part(bytes[i - 2]) {
            let len = rest
                .find(|c: char| !(is_label_char(c) || c == '.'))
                .unwrap_or(rest.len());
            // With a path after it, it is a URL after all, and defanged below.
            if len > 0 && !rest[len..].starts_with('/') {
                out.push_str(&rest[..len]);
                i += len;
                continue;
            }
        }
        let word_start = i == 0 || !is_label_char(bytes[i - 1] as char);
        if word_start {
            if let Some(len) = bare_domain_at(rest) {
                if is_configured(&rest[..len]) {
                    out.push_str(&rest[..len]);
                } else {
                    out.push_str(&rest[..len].replace('.', "[.]"));
                }
                i += len;
                continue;
            }
        }
        let c = rest.chars().next().unwrap_or_default();
        out.push(c);
        i += c.len_utf8().max(1);
    }
    out
}

/// Top-level domains a mail client or phone would make a bare name clickable for.
const CLICKABLE_TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "me", "app", "dev", "xyz", "top", "site",
    "online", "club", "shop", "live", "cc", "ws", "tk", "ml", "ga", "cf", "gq", "pw", "su", "ru",
    "cn", "ua", "de", "uk", "fr", "nl", "eu", "us", "ca", "au", "jp", "in", "br", "it", "es", "pl",
    "ch", "se", "no", "fi", "dk", "be", "at", "cz", "ro", "tr", "ir", "kr", "tw", "hk", "sg", "id",
    "vn", "za", "mx", "ar", "nz", "example",
];

fn is_label_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

/// The length of a bare host name that starts `text` and that a client would make clickable:
/// two labels or more, the last one alphabetic, and `www.` first, a path after it, or a
/// well-known top-level domain. File names (`auth.log`), addresses and versions are left alone.
pub(crate) fn bare_domain_at(text: &str) -> Option<usize> {
    let len = text
        .char_indices()
        .find(|(_, c)| !(is_label_char(*c) || *c == '.'))
        .map_or(text.len(), |(i, _)| i);
    let host = text[..len].trim_end_matches('.');
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
        return None;
    }
    let tld = labels[labels.len() - 1];
    if !(2..=24).contains(&tld.len()) || !tld.chars().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let www = labels[0].eq_ignore_ascii_case("www");
    let path = text[host.len()..].starts_with('/');
    let known = CLICKABLE_TLDS.contains(&tld.to_ascii_lowercase().as_str());
    (www || path || known).then_some(host.len())
}

/// The length of the scheme when a `scheme://` starts at byte `i`: not inside a word, except
/// for the web's own schemes, which some clients find anywhere (`44http://...`).
fn scheme_at(text: &str, i: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let len = bytes[i..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        .count();
    if len == 0 || !bytes[i].is_ascii_alphabetic() || !text[i + len..].starts_with("://") {
        return None;
    }
    let in_word = i > 0 && (bytes[i - 1] as char).is_ascii_alphanumeric();
    let web = matches!(
        text[i..i + len].to_ascii_lowercase().as_str(),
        "http" | "https" | "ftp"
    );
    (!in_word || web).then_some(len)
}

fn defanged_scheme(scheme: &str) -> String {
    match scheme.to_ascii_lowercase().as_str() {
        "http" => "hxxp://".into(),
        "https" => "hxxps://".into(),
        "ftp" => "fxp://".into(),
        // Defanged already (a report passes through twice: alone, then in the full report).
        "hxxp" | "hxxps" | "fxp" => format!("{scheme}://"),
        // A scheme may hold dots (`rule.id.://`): they would read as a domain once `://` is gone.
        _ => format!("{}[://]", scheme.replace('.', "[.]")),
    }
}

fn is_host_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':' | '@')
}

/// Copies the host that starts at byte `i` with its dots as `[.]`; returns where it ended.
fn push_defanged_host(text: &str, mut i: usize, out: &mut String) -> usize {
    while let Some(c) = text[i..].chars().next() {
        if scheme_at(text, i).is_some() {
            // `a://b://`: the next URL starts here, and is defanged on its own.
            break;
        }
        if text[i..].starts_with("[.]") {
            // Defanged already.
            out.push_str("[.]");
            i += 3;
            continue;
        }
        if !is_host_char(c) {
            break;
        }
        if c == '.' {
            // A dot that ends the name is the sentence's, not the host's.
            if !text[i + 1..].starts_with(|n: char| is_label_char(n)) {
                break;
            }
            out.push_str("[.]");
        } else {
            out.push(c);
        }
        i += c.len_utf8();
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_images_become_text_with_a_defanged_address() {
        for (input, want) in [
            (
                "User [confirm here](https://evil.example/sso) failed",
                "User confirm here (hxxps://evil[.]example/sso) failed",
            ),
            (
                "![logo](http://evil.example/x.png) seen",
                "logo (hxxp://evil[.]example/x.png) seen",
            ),
            ("[empty]()", "empty"),
            ("a [b] c (d)", "a [b] c (d)"),
            ("[broken](no end", "[broken] (no end"),
            (
                "[two\nlines](http://x.example)",
                "two\nlines (hxxp://x[.]example)",
            ),
            (
                "! [not an image](ftp://f.example)",
                "! not an image (fxp://f[.]example)",
            ),
        ] {
            assert_eq!(unlink(input, &[]), want, "{input}");
        }
    }

    #[test]
    fn reference_definitions_autolinks_and_html_lose_their_syntax() {
        assert_eq!(
            unlink(
                "See [here][1].\n[1]: https://evil.example/a\n    [2]: x",
                &[]
            ),
            "See [here][1].\n1: hxxps://evil[.]example/a\n    [2] : x"
        );
        assert_eq!(
            unlink(
                "<https://evil.example> and <a href=\"x\">y</a> and 1 < 2",
                &[]
            ),
            "\u{2039}hxxps://evil[.]example> and \u{2039}a href=\"x\">y\u{2039}/a> and 1 < 2"
        );
        assert_eq!(
            unlink("<!-- c --> <?x?>", &[]),
            "\u{2039}!-- c --> \u{2039}?x?>"
        );
    }

    /// Found by the fuzz target: a URL whose host runs into the next URL's scheme. Each one
    /// is defanged in the first pass, so a second pass changes nothing.
    #[test]
    fn back_to_back_urls_are_each_defanged_at_once() {
        for (input, want) in [
            ("jt://tp://", "jt[://]tp[://]"),
            (
                "http://a.example/https://b.example",
                "hxxp://a[.]example/hxxps://b[.]example",
            ),
            ("x://http://evil.example", "x[://]hxxp://evil[.]example"),
            // Also found by the fuzz target: a web scheme glued to a word.
            ("0.0.44http://-.&", "0.0.44hxxp://-.&"),
            ("xhttps://evil.example", "xhttps[://]evil[.]example"),
            ("rule.id.://2", "rule[.]id[.][://]2"),
            ("rhttps://(le.in.", "rhttps[://] (le[.]in."),
            ("<__V@d>", "\u{2039}__V@d>"),
            ("[x\n]://\n", "[x\n] ://\n"),
            ("a < b", "a < b"),
            ("[//httpp://://]*", "[//httpp[://] ://]*"),
        ] {
            let once = unlink(input, &[]);
            assert_eq!(once, want, "{input}");
            assert_eq!(unlink(&once, &[]), once, "{input}");
        }
    }

    #[test]
    fn configured_hosts_stay_as_they_are() {
        let configured = ["127.0.0.1".to_string(), "zen.spamhaus.org".to_string()];
        assert_eq!(
            unlink(
                "Ollama is unreachable at http://127.0.0.1:11434 (refused); zen.spamhaus.org \
                 listed; http://127.0.0.2:80 and evil.com",
                &configured
            ),
            "Ollama is unreachable at http://127.0.0.1:11434 (refused); zen.spamhaus.org \
             listed; hxxp://127[.]0[.]0[.]2:80 and evil[.]com"
        );
        // A configured address that ends the text stays whole too.
        assert_eq!(
            unlink("down: http://127.0.0.1:11434", &configured),
            "down: http://127.0.0.1:11434"
        );
        // The link syntax goes even for a configured host: only the address stays as it is.
        assert_eq!(
            unlink("[x](http://127.0.0.1/a)", &configured),
            "x (http://127.0.0.1/a)"
        );
    }

    #[test]
    fn every_url_is_defanged_and_nothing_else_changes() {
        for (input, want) in [
            (
                "go to HTTPS://Evil.Example:8443/a.b",
                "go to hxxps://Evil[.]Example:8443/a.b",
            ),
            ("www.evil.example/x", "www[.]evil[.]example/x"),
            ("Awww.evil.example/login", "Awww[.]evil[.]example/login"),
            (
                "evil.com and evil.test/x and www.evil.test",
                "evil[.]com and evil[.]test/x and www[.]evil[.]test",
            ),
            ("mail abuse@example.net.", "mail abuse@example.net."),
            ("to x@www.evil.example y", "to x@www.evil.example y"),
            ("a@www.evil.example/login", "a@www[.]evil[.]example/login"),
            (
                "/var/log/auth.log, alerts.json, sshd.service, 8.9p1",
                "/var/log/auth.log, alerts.json, sshd.service, 8.9p1",
            ),
            ("ssh://root@10.0.0.1", "ssh[://]root@10[.]0[.]0[.]1"),
            ("xhttp://a.b", "xhttp[://]a[.]b"),
            ("in a word:http://a.b", "in a word:hxxp://a[.]b"),
            (
                "no url: 203.0.113.5, auth.log, e.g. this",
                "no url: 203.0.113.5, auth.log, e.g. this",
            ),
            (
                "ünïcode http://ä.example ok",
                "ünïcode hxxp://ä[.]example ok",
            ),
            // A sentence's dot is not part of the host.
            (
                "see http://evil.example. Then",
                "see hxxp://evil[.]example. Then",
            ),
            // An @ without a mail address's local part before it is no mail address.
            ("@evil.com", "@evil[.]com"),
            ("x @evil.com", "x @evil[.]com"),
            ("a@ b.com", "a@ b[.]com"),
            ("", ""),
        ] {
            assert_eq!(unlink(input, &[]), want, "{input}");
        }
    }
}
