//! Where an alert's source address is. First every field that Wazuh, its integrations and common
//! vendor decoders use ([`SOURCE_IP_FIELDS`]); then a generic rule over the names of the keys
//! under `data` (one that says source, remote or client address); last the log line, where an
//! address follows a word such as `from` or `rhost=`. The field it came from always goes with it.

use std::net::IpAddr;

use serde_json::Value;

use super::alert::{parse_ip_text, Alert};

/// Where the source address can live, most specific first. `data.srcip` leads: it is what
/// analysisd itself treats as the source (white list, CDB lists).
pub const SOURCE_IP_FIELDS: &[&str] = &[
    "data.srcip",
    "data.src_ip",
    "data.win.eventdata.ipAddress",
    "data.win.eventdata.sourceIp",
    "data.win.eventdata.sourceAddress",
    "data.aws.sourceIPAddress",
    "data.aws.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
    "data.aws.service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
    "data.aws.service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
    "data.aws.service.action.kubernetesApiCallAction.remoteIpDetails.ipAddressV4",
    "data.aws.httpRequest.clientIp",
    "data.aws.client_ip",
    "data.aws.srcaddr",
    "data.office365.ClientIP",
    "data.office365.ActorIpAddress",
    "data.ms-graph.ipAddress",
    "data.ms-graph.evidence.ipAddress",
    "data.ipAddress",
    "data.azure.callerIpAddress",
    "data.azure.properties.ipAddress",
    "data.callerIpAddress",
    "data.gcp.jsonPayload.sourceIP",
    "data.gcp.protoPayload.requestMetadata.callerIp",
    "data.github.actor_ip",
    "data.source.ip",
    "data.client.ip",
    "data.src_endpoint.ip",
    "data.remip",
    "data.ui",
    "data.ClientIP",
    "data.client_ip",
    "data.ip_address",
    "data.osquery.columns.src_ip",
    "data.srcip2",
    "source.ip",
    "client.ip",
];

/// Where the attacked address can live (besides the agent's own address).
pub const DEST_IP_FIELDS: &[&str] = &[
    "data.dstip",
    "data.dst_ip",
    "data.dest_ip",
    "data.win.eventdata.destinationIp",
    "data.aws.dstaddr",
    "data.destination.ip",
    "data.server.ip",
    "destination.ip",
];

/// Words in a key's name that make it a source address: `sourceIp`, `remote_addr`, `clientIP`.
const SOURCE_WORDS: &[&str] = &[
    "src", "source", "remote", "client", "caller", "peer", "attacker",
];
const ADDRESS_WORDS: &[&str] = &["ip", "addr", "address"];
/// Words that make it something else: `src_ip_dest`, `remote_server_ip`.
const OTHER_WORDS: &[&str] = &["dst", "dest", "destination", "target", "local", "server"];
/// The deepest a key is looked for under `data`.
const MAX_DEPTH: usize = 6;
/// Log words an address follows: `Failed password for root from 203.0.113.5`.
const LOG_CUES: &[&str] = &[
    "from", "rhost=", "src=", "srcip=", "client", "remote", "source", "ip=", "addr=",
];

/// The first source address, with the field it came from: a known field, a key under `data`
/// whose name says so, or the log line (`full_log`).
pub fn source_ip(alert: &Alert) -> Option<(IpAddr, String)> {
    first_ip(alert, SOURCE_IP_FIELDS)
        .map(|(ip, field)| (ip, field.to_string()))
        .or_else(|| by_key_name(alert))
        .or_else(|| in_log_line(alert))
}

/// Whether the alert itself says our host started the traffic: GuardDuty's
/// `connectionDirection` OUTBOUND, Sysmon's `initiated`, an ECS `network.direction` of
/// outbound or egress.
pub fn declared_outbound(alert: &Alert) -> bool {
    let says = |path: &str, words: &[&str]| {
        alert.lookup(path).iter().any(|v| {
            v.as_str()
                .is_some_and(|s| words.iter().any(|w| s.eq_ignore_ascii_case(w)))
        })
    };
    says(
        "data.aws.service.action.networkConnectionAction.connectionDirection",
        &["OUTBOUND"],
    ) || says("data.win.eventdata.initiated", &["true"])
        || says("data.network.direction", &["outbound", "egress"])
        || says("network.direction", &["outbound", "egress"])
}

/// The first destination address, with the field it came from.
pub fn dest_ip(alert: &Alert) -> Option<(IpAddr, &'static str)> {
    first_ip(alert, DEST_IP_FIELDS)
}

fn first_ip(alert: &Alert, fields: &[&'static str]) -> Option<(IpAddr, &'static str)> {
    fields.iter().find_map(|field| {
        alert
            .lookup(field)
            .into_iter()
            .find_map(ip_in_value)
            .map(|ip| (ip, *field))
    })
}

/// An address in a field value: the value itself (`203.0.113.5`, `[2001:db8::1]:443`), or one
/// in parentheses (FortiGate's `ui`: `ssh(203.0.113.5)`, `GUI(203.0.113.5)`).
fn ip_in_value(v: &Value) -> Option<IpAddr> {
    let s = v.as_str()?.trim();
    let ip = parse_ip_text(s).or_else(|| {
        let inner = s.split_once('(')?.1.split_once(')')?.0;
        parse_ip_text(inner)
    })?;
    (!ip.is_unspecified()).then_some(ip)
}

/// The generic rule: the first key under `data` (depth first, in the alert's order) whose name
/// says source, remote or client address, and whose value is one.
fn by_key_name(alert: &Alert) -> Option<(IpAddr, String)> {
    let data = alert.json().get("data")?;
    let mut stack = vec![(data, "data".to_string(), 0usize)];
    while let Some((value, path, depth)) = stack.pop() {
        let Value::Object(map) = value else {
            continue;
        };
        for (key, child) in map {
            let child_path = format!("{path}.{key}");
            if names_a_source(key) {
                if let Some(ip) = ip_in_value(child) {
                    return Some((ip, child_path));
                }
            }
            if depth < MAX_DEPTH && child.is_object() {
                stack.push((child, child_path, depth + 1));
            }
        }
    }
    None
}

fn names_a_source(key: &str) -> bool {
    let words = split_words(key);
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    has(SOURCE_WORDS) && has(ADDRESS_WORDS) && !has(OTHER_WORDS)
}

/// `sourceIPAddress` -> `source`, `ip`, `address`; `remote_addr` -> `remote`, `addr`;
/// `srcip` -> `src`, `ip`.
fn split_words(key: &str) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = key.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii_alphanumeric() {
            words.extend((!current.is_empty()).then(|| std::mem::take(&mut current)));
            continue;
        }
        // A capital starts a word, unless it continues a run of capitals (`IPAddress`: `IP`,
        // `Address`).
        let starts = c.is_ascii_uppercase()
            && !current.is_empty()
            && (!chars[i - 1].is_ascii_uppercase()
                || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if starts {
            words.push(std::mem::take(&mut current));
        }
        current.push(c.to_ascii_lowercase());
    }
    words.extend((!current.is_empty()).then_some(current));
    // Glued names: `srcip`, `clientip`, `remoteaddr`.
    let mut out = Vec::new();
    for w in words {
        let glued = SOURCE_WORDS.iter().find_map(|s| {
            let rest = w.strip_prefix(s)?;
            ADDRESS_WORDS.contains(&rest).then_some((*s, rest))
        });
        match glued {
            Some((a, b)) => out.extend([a.to_string(), b.to_string()]),
            None => out.push(w),
        }
    }
    out
}

/// The first address in the log line that follows a cue word (`from`, `rhost=`, ...), other
/// than the agent's own: a version number or a timestamp is never taken for one.
fn in_log_line(alert: &Alert) -> Option<(IpAddr, String)> {
    let log = alert.full_log()?;
    let own = alert.agent_ip();
    let mut previous = String::new();
    let mut before = String::new();
    for token in log.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'')) {
        let lower = token.to_ascii_lowercase();
        // `from 1.2.3.4`, `rhost=1.2.3.4`, and `from host 1.2.3.4`.
        let after_cue = LOG_CUES.contains(&previous.as_str())
            || (before == "from" && ["host", "ip", "address"].contains(&previous.as_str()));
        let (cue, value) = match LOG_CUES
            .iter()
            .find(|c| c.ends_with('=') && lower.starts_with(*c))
        {
            Some(c) => (true, &token[c.len()..]),
            None => (after_cue, token),
        };
        if cue {
            let value =
                value.trim_matches(|c: char| matches!(c, '(' | ')' | '[' | ']' | '<' | '>'));
            if let Some(ip) = parse_ip_text(value).filter(|ip| !ip.is_unspecified()) {
                if Some(ip) != own {
                    return Some((ip, "full_log".to_string()));
                }
            }
        }
        before = std::mem::replace(&mut previous, lower);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn found(v: Value) -> Option<(String, String)> {
        source_ip(&Alert::new(v)).map(|(ip, f)| (ip.to_string(), f))
    }

    fn pair(ip: &str, field: &str) -> Option<(String, String)> {
        Some((ip.to_string(), field.to_string()))
    }

    #[test]
    fn known_fields_come_first_in_their_order() {
        assert_eq!(
            found(json!({"data": {"srcip": "203.0.113.5", "source": {"ip": "198.51.100.7"}}})),
            pair("203.0.113.5", "data.srcip")
        );
        assert_eq!(
            found(json!({"data": {"source": {"ip": "198.51.100.7"}}})),
            pair("198.51.100.7", "data.source.ip")
        );
        assert_eq!(
            found(json!({"data": {"client": {"ip": "198.51.100.8"}}})),
            pair("198.51.100.8", "data.client.ip")
        );
        assert_eq!(
            found(json!({"data": {"remip": "198.51.100.9"}})),
            pair("198.51.100.9", "data.remip")
        );
        assert_eq!(
            found(json!({"data": {"ui": "ssh(203.0.113.77)"}})),
            pair("203.0.113.77", "data.ui")
        );
        assert_eq!(
            found(json!({"data": {"ui": "GUI(2001:db8::7)"}})),
            pair("2001:db8::7", "data.ui")
        );
        assert_eq!(found(json!({"data": {"ui": "jsconsole"}})), None);
        assert_eq!(
            found(json!({"data": {"ms-graph": {"ipAddress": "203.0.113.12"}}})),
            pair("203.0.113.12", "data.ms-graph.ipAddress")
        );
        assert_eq!(
            found(json!({"source": {"ip": "203.0.113.13"}})),
            pair("203.0.113.13", "source.ip")
        );
        assert_eq!(
            found(json!({"data": {"srcip": "0.0.0.0"}})),
            None,
            "unspecified"
        );
    }

    #[test]
    fn a_key_that_names_a_source_address_is_found_anywhere_under_data() {
        for (key, want) in [
            ("sourceIPAddress", true),
            ("remote_addr", true),
            ("clientIP", true),
            ("ClientIpAddress", true),
            ("caller-ip", true),
            ("peerAddress", true),
            ("srcaddr", true),
            ("src_ip_dest", false),
            ("remoteServerIp", false),
            ("sourceHost", false),
            ("ip", false),
            ("source", false),
            ("localAddress", false),
        ] {
            assert_eq!(names_a_source(key), want, "{key}");
        }
        assert_eq!(
            found(json!({"data": {"app": {"request": {"remoteAddr": "203.0.113.21"}}}})),
            pair("203.0.113.21", "data.app.request.remoteAddr")
        );
        assert_eq!(
            found(json!({"data": {"app": {"sourceHost": "203.0.113.22"}}})),
            None,
            "a host name field is not an address field"
        );
        assert_eq!(
            found(json!({"data": {"remote_addr": "not an address"}})),
            None
        );
    }

    #[test]
    fn key_names_split_into_words() {
        let words = |k: &str| split_words(k);
        assert_eq!(words("remote_server_ip"), vec!["remote", "server", "ip"]);
        assert_eq!(words("userID"), vec!["user", "id"]);
        assert_eq!(words("IPAddress"), vec!["ip", "address"]);
        assert_eq!(words("sourceIPAddress"), vec!["source", "ip", "address"]);
        assert_eq!(words("srcip"), vec!["src", "ip"]);
        assert_eq!(words("-a--b-"), vec!["a", "b"]);
    }

    #[test]
    fn keys_are_looked_for_six_levels_deep_and_no_deeper() {
        let nest = |levels: usize| {
            let mut v = json!({"remote_addr": "203.0.113.44"});
            for i in 0..levels {
                v = json!({ format!("l{i}"): v });
            }
            json!({"data": v})
        };
        assert!(
            found(nest(MAX_DEPTH)).is_some(),
            "at the deepest level searched"
        );
        assert_eq!(found(nest(MAX_DEPTH + 1)), None, "one level deeper");
        // Objects only: an array under data is not searched.
        assert_eq!(
            found(json!({"data": {"x": [{"remote_addr": "203.0.113.44"}]}})),
            None
        );
    }

    #[test]
    fn the_alert_itself_may_say_our_host_started_it() {
        let says = |v: Value| declared_outbound(&Alert::new(v));
        assert!(says(
            json!({"data": {"aws": {"service": {"action": {"networkConnectionAction":
            {"connectionDirection": "OUTBOUND"}}}}}})
        ));
        assert!(says(
            json!({"data": {"win": {"eventdata": {"initiated": "true"}}}})
        ));
        assert!(says(json!({"data": {"network": {"direction": "egress"}}})));
        assert!(says(json!({"network": {"direction": "Outbound"}})));
        assert!(!says(
            json!({"data": {"win": {"eventdata": {"initiated": "false"}}}})
        ));
        assert!(!says(json!({"network": {"direction": "inbound"}})));
        assert!(!says(
            json!({"data": {"aws": {"service": {"action": {"networkConnectionAction":
            {"connectionDirection": "INBOUND"}}}}}})
        ));
    }

    #[test]
    fn the_log_line_is_read_last_and_only_after_a_cue() {
        assert_eq!(
            found(
                json!({"full_log": "sshd[1]: Failed password for root from 203.0.113.5 port 22 ssh2"})
            ),
            pair("203.0.113.5", "full_log")
        );
        assert_eq!(
            found(
                json!({"full_log": "pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=198.51.100.4 user=root"})
            ),
            pair("198.51.100.4", "full_log")
        );
        assert_eq!(
            found(
                json!({"full_log": "System configuration saved by netscreen via web from host 10.10.10.101 to 10.10.10.1:443"})
            ),
            pair("10.10.10.101", "full_log")
        );
        // `host` alone is no cue, nor a word after `from` other than host, ip, address.
        assert_eq!(
            found(json!({"full_log": "configuration pushed to host 10.10.10.1 by admin"})),
            None
        );
        assert_eq!(
            found(json!({"full_log": "relayed from mx 10.10.10.2"})),
            None
        );
        assert_eq!(
            found(json!({"full_log": "a b c from 203.0.113.5"})),
            pair("203.0.113.5", "full_log"),
            "short words before the cue"
        );
        assert_eq!(
            found(json!({"full_log": "OpenSSH 8.2.1.4 started at 10.11.12.13"})),
            None,
            "a version number or an address without a cue is not a source"
        );
        assert_eq!(
            found(json!({"agent": {"ip": "10.0.0.5"},
                "full_log": "connection from 10.0.0.5 accepted"})),
            None,
            "the agent's own address is not the source"
        );
        assert_eq!(
            found(json!({"data": {"srcip": "203.0.113.9"},
                "full_log": "from 198.51.100.1"})),
            pair("203.0.113.9", "data.srcip"),
            "fields come before the log line"
        );
    }

    #[test]
    fn destinations_are_read_from_their_fields() {
        let alert = Alert::new(json!({"data": {"dest_ip": "8.8.8.8", "src_ip": "10.0.0.7"}}));
        assert_eq!(
            dest_ip(&alert).map(|(ip, f)| (ip.to_string(), f)),
            Some(("8.8.8.8".into(), "data.dest_ip"))
        );
        let alert = Alert::new(json!({"data": {"destination": {"ip": "192.0.2.1"}}}));
        assert_eq!(dest_ip(&alert).map(|(_, f)| f), Some("data.destination.ip"));
    }
}
