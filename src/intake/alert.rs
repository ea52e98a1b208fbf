//! What came in: a Wazuh 4.x active-response message, a Wazuh 5.0 message, or a raw alert, turned
//! into one [`Incoming`] value; and the lenient accessors the rest of the tool reads an alert with.
//!
//! A Wazuh alert is whatever its decoder produced: fields come and go, numbers arrive as strings, and
//! values can be `-` or garbage. Nothing here panics or rejects an alert for an odd field.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::util::error::InputError;

/// The location of the verdict events this tool writes to analysisd's queue.
pub const VERDICT_LOCATION: &str = "ai-analyzer";

/// What execd asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `add` (4.x) or `enable` (5.0): analyse.
    Add,
    /// `delete` (4.x) or `disable` (5.0): a stateful timeout expired; nothing to do.
    Delete,
}

/// How the input was shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"version":1,"origin":..,"command":"add","parameters":{"alert":{..}}}`
    ArMessage,
    /// Wazuh 5.0: the alert is the top-level object, with `command` added.
    ArMessageV5,
    /// One line of `alerts.json`, or the same pretty-printed.
    RawAlert,
}

/// The parsed input.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub shape: Shape,
    pub command: Command,
    pub alert: Alert,
    /// The whole AR message, kept for the `check_keys` handshake.
    pub message: Option<Value>,
}

impl Incoming {
    pub fn is_ar_message(&self) -> bool {
        matches!(self.shape, Shape::ArMessage | Shape::ArMessageV5)
    }
}

/// Parses the bytes of one input (an AR message line, a raw alert, or a file's content).
pub fn parse_input(bytes: &[u8]) -> Result<Incoming, InputError> {
    let text = std::str::from_utf8(bytes).map_err(|_| InputError::NotUtf8)?;
    let text = text.trim_start_matches('\u{feff}').trim();
    if text.is_empty() {
        return Err(InputError::Empty);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| InputError::NotJson(e.to_string()))?;
    let Value::Object(mut object) = value else {
        return Err(InputError::NotAlert("expected a JSON object".into()));
    };
    let command = object
        .get("command")
        .map(|c| c.as_str().unwrap_or_default());
    match command {
        Some(c) if object.get("parameters").is_some_and(Value::is_object) => {
            let command = parse_command(c)?;
            let message = Value::Object(object.clone());
            let alert = object
                .get_mut("parameters")
                .and_then(|p| p.get_mut("alert"))
                .map(Value::take)
                .unwrap_or(Value::Null);
            let alert = match (command, alert) {
                (Command::Delete, a) => Alert::new(a),
                (Command::Add, Value::Object(map)) if map.is_empty() => {
                    return Err(InputError::NotAlert(
                        "the active-response message carries an empty alert".into(),
                    ))
                }
                (Command::Add, a @ Value::Object(_)) => Alert::new(a),
                (Command::Add, _) => {
                    return Err(InputError::NotAlert(
                        "the active-response message has no parameters.alert object".into(),
                    ))
                }
            };
            Ok(Incoming {
                shape: Shape::ArMessage,
                command,
                alert,
                message: Some(message),
            })
        }
        Some(c) => {
            // Wazuh 5.0: the finding itself, with `command` added by execd.
            let command = parse_command(c)?;
            let message = Value::Object(object.clone());
            object.remove("command");
            if command == Command::Add && object.is_empty() {
                return Err(InputError::NotAlert(
                    "the active-response message carries an empty alert".into(),
                ));
            }
            Ok(Incoming {
                shape: Shape::ArMessageV5,
                command,
                alert: Alert::new(Value::Object(object)),
                message: Some(message),
            })
        }
        None => {
            if !object.get("rule").is_some_and(Value::is_object) {
                return Err(InputError::NotAlert(
                    "no \"rule\" object (expected one line of alerts.json or an active-response message)"
                        .into(),
                ));
            }
            Ok(Incoming {
                shape: Shape::RawAlert,
                command: Command::Add,
                alert: Alert::new(Value::Object(object)),
                message: None,
            })
        }
    }
}

fn parse_command(c: &str) -> Result<Command, InputError> {
    match c {
        "add" | "enable" => Ok(Command::Add),
        "delete" | "disable" => Ok(Command::Delete),
        other => Err(InputError::NotAlert(format!(
            "unknown active-response command {:?}",
            truncate_chars(other, 40)
        ))),
    }
}

pub use super::address::{DEST_IP_FIELDS, SOURCE_IP_FIELDS};

/// A Wazuh alert, read leniently.
#[derive(Debug, Clone)]
pub struct Alert {
    value: Value,
}

impl Alert {
    pub fn new(value: Value) -> Self {
        Alert { value }
    }

    pub fn json(&self) -> &Value {
        &self.value
    }

    /// The value at a dotted path, searching arrays element by element.
    pub fn lookup(&self, path: &str) -> Vec<&Value> {
        let mut current = vec![&self.value];
        for key in path.split('.') {
            let mut next = Vec::new();
            for v in current {
                match v {
                    Value::Object(m) => {
                        if let Some(child) = m.get(key) {
                            next.push(child);
                        }
                    }
                    Value::Array(items) => {
                        next.extend(items.iter().filter_map(|i| i.get(key)));
                    }
                    _ => {}
                }
            }
            current = next;
        }
        // A leaf that is an array of values counts as several values.
        current
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect()
    }

    /// The first value at a path as text (strings as they are, numbers and booleans printed).
    pub fn text(&self, path: &str) -> Option<String> {
        self.lookup(path).into_iter().find_map(scalar_text)
    }

    pub fn rule_level(&self) -> u32 {
        self.lookup("rule.level")
            .into_iter()
            .find_map(|v| match v {
                Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
                Value::String(s) => s.trim().parse::<u64>().ok(),
                _ => None,
            })
            .map(|l| l.min(u64::from(u32::MAX)) as u32)
            .unwrap_or(0)
    }

    pub fn rule_id(&self) -> String {
        self.text("rule.id").unwrap_or_else(|| "unknown".into())
    }

    pub fn description(&self) -> String {
        self.text("rule.description")
            .or_else(|| self.text("rule.name"))
            .unwrap_or_else(|| "Wazuh alert".into())
    }

    pub fn groups(&self) -> Vec<String> {
        self.lookup("rule.groups")
            .into_iter()
            .filter_map(scalar_text)
            .collect()
    }

    pub fn agent_name(&self) -> String {
        self.text("agent.name")
            .or_else(|| self.text("wazuh.agent.name"))
            .unwrap_or_else(|| "unknown agent".into())
    }

    pub fn agent_id(&self) -> Option<String> {
        self.text("agent.id")
            .or_else(|| self.text("wazuh.agent.id"))
    }

    pub fn agent_ip(&self) -> Option<IpAddr> {
        ["agent.ip", "wazuh.agent.ip", "agent.host.ip"]
            .iter()
            .find_map(|p| self.lookup(p).into_iter().find_map(parse_ip_value))
    }

    pub fn timestamp(&self) -> Option<String> {
        self.text("timestamp").or_else(|| self.text("@timestamp"))
    }

    pub fn full_log(&self) -> Option<String> {
        self.text("full_log")
            .or_else(|| self.text("event.original"))
            .or_else(|| self.text("message"))
    }

    /// The source address, with the field it came from (see [`super::address`]).
    pub fn source_ip(&self) -> Option<(IpAddr, String)> {
        super::address::source_ip(self)
    }

    /// The first valid destination address, with the field it came from.
    pub fn dest_ip(&self) -> Option<(IpAddr, &'static str)> {
        super::address::dest_ip(self)
    }

    /// Why this alert is one of the events that must never start an analysis: Wazuh's alerts on
    /// the active-response log (this tool's own lines among them), and the verdicts this tool
    /// feeds back. Read only from what Wazuh's rules and decoders set (rule groups, the decoder's
    /// name, the event's location), never from text an attacker can put in a log line.
    pub fn loop_guard(&self) -> Option<&'static str> {
        let groups = self.groups();
        if groups.iter().any(|g| g == "active_response") {
            return Some("rule group active_response");
        }
        let our_location = self.text("location").is_some_and(|l| {
            l == VERDICT_LOCATION || l.ends_with(&format!("->{VERDICT_LOCATION}"))
        });
        // Only a process on the manager that may write to analysisd's queue (root or the wazuh
        // group) can give an event this location; whatever decoder or rule then took it, it is
        // this tool's verdict. Our decoder or rule group anywhere else is a log line imitating one.
        if our_location {
            return Some("this tool's own verdict (location ai-analyzer)");
        }
        None
    }

    /// A short, stable name for files: `<rule id>-<ip or agent>`.
    pub fn slug(&self) -> String {
        let who = self
            .source_ip()
            .map(|(ip, _)| ip.to_string())
            .unwrap_or_else(|| self.agent_name());
        let raw = format!("{}-{}", self.rule_id(), who);
        raw.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(80)
            .collect()
    }

    /// The alert as an object map (empty when it is not an object).
    pub fn fields(&self) -> Option<&Map<String, Value>> {
        self.value.as_object()
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Reads an address out of a field value: `-`, empty and garbage give `None`; `::ffff:a.b.c.d` is
/// unwrapped to IPv4; brackets, an IPv6 zone id and an IPv4 `:port` suffix are dropped.
pub fn parse_ip_value(v: &Value) -> Option<IpAddr> {
    let s = match v {
        Value::String(s) => s.trim(),
        _ => return None,
    };
    parse_ip_text(s)
}

pub fn parse_ip_text(s: &str) -> Option<IpAddr> {
    let s = s.trim();
    if s.is_empty() || s == "-" || s.len() > 64 {
        return None;
    }
    let s = s
        .strip_prefix('[')
        .map(|rest| rest.split(']').next().unwrap_or(rest))
        .unwrap_or(s);
    let s = s.split('%').next().unwrap_or(s);
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    // `1.2.3.4:5678`
    if let Some((host, port)) = s.rsplit_once(':') {
        if port.bytes().all(|b| b.is_ascii_digit()) && !port.is_empty() {
            if let Ok(ip @ IpAddr::V4(_)) = host.parse::<IpAddr>() {
                return Some(ip);
            }
        }
    }
    None
}

/// Cuts a string to at most `max` characters.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Alert text on one line: whitespace of any kind (line breaks included) folded to one space,
/// cut to `max` characters with `…` marking the cut. A value can then never start a line of its
/// own in a report or a push (a forged heading or list).
pub fn fold_line(text: &str, max: usize) -> String {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut = truncate_chars(&folded, max);
    if cut.len() < folded.len() {
        format!("{cut}…")
    } else {
        folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(v: Value) -> Alert {
        Alert::new(v)
    }

    /// The AR message of Wazuh's own documentation (firewall-drop on a shellshock alert) reads
    /// the same way as a live one.
    #[test]
    fn ar_message_from_the_wazuh_docs() {
        let line = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/ar_stdin_add_firewall-drop_31168_from_docs.json"
        ));
        let inc = parse_input(line.as_bytes()).expect("AR message parses");
        assert_eq!(inc.shape, Shape::ArMessage);
        assert_eq!(inc.command, Command::Add);
        assert_eq!(inc.alert.rule_id(), "31168");
        assert_eq!(inc.alert.rule_level(), 15);
        assert_eq!(
            inc.alert.source_ip().map(|(ip, f)| (ip.to_string(), f)),
            Some(("192.168.0.223".to_string(), "data.srcip".to_string()))
        );
    }

    #[test]
    fn ar_message_4x() {
        let line = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/1_execd_to_ar_stdin_line1_add.json"
        ));
        let inc = parse_input(line.as_bytes()).expect("AR message parses");
        assert_eq!(inc.shape, Shape::ArMessage);
        assert_eq!(inc.command, Command::Add);
        assert_eq!(inc.alert.rule_id(), "31168");
        assert_eq!(inc.alert.rule_level(), 15);
        assert_eq!(
            inc.alert.source_ip(),
            Some(("192.168.0.223".parse().unwrap(), "data.srcip".to_string()))
        );
        assert!(inc.message.is_some());
    }

    #[test]
    fn delete_needs_no_alert() {
        let line = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/protocol/4_execd_to_ar_stdin_timeout_delete.json"
        ));
        let inc = parse_input(line.as_bytes()).expect("delete parses");
        assert_eq!(inc.command, Command::Delete);
        let inc = parse_input(br#"{"version":1,"command":"delete","parameters":{}}"#).unwrap();
        assert_eq!(inc.command, Command::Delete);
    }

    #[test]
    fn v5_message_alert_at_top_level() {
        let msg = json!({"command":"enable","wazuh":{"active_response":{"name":"ai"},"agent":{"name":"web"}},
                         "source":{"ip":"203.0.113.9"},"rule":{"id":"5712","level":"10"}});
        let inc = parse_input(msg.to_string().as_bytes()).unwrap();
        assert_eq!(inc.shape, Shape::ArMessageV5);
        assert_eq!(inc.command, Command::Add);
        assert_eq!(inc.alert.source_ip().unwrap().1, "source.ip");
        assert_eq!(inc.alert.rule_level(), 10);
        assert_eq!(inc.alert.agent_name(), "web");
        assert!(inc.alert.json().get("command").is_none());
        let inc = parse_input(br#"{"command":"disable","source":{"ip":"1.2.3.4"}}"#).unwrap();
        assert_eq!(inc.command, Command::Delete);
    }

    #[test]
    fn raw_alerts_compact_and_pretty() {
        let compact = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/alerts/sshd_bruteforce_5763.json"
        ));
        let inc = parse_input(compact.as_bytes()).unwrap();
        assert_eq!(inc.shape, Shape::RawAlert);
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(compact).unwrap()).unwrap();
        let inc2 = parse_input(pretty.as_bytes()).unwrap();
        assert_eq!(inc2.alert.rule_id(), "5763");
        assert_eq!(inc.alert.source_ip(), inc2.alert.source_ip());
    }

    #[test]
    fn bad_inputs_are_typed() {
        assert!(matches!(parse_input(b""), Err(InputError::Empty)));
        assert!(matches!(parse_input(b"  \n"), Err(InputError::Empty)));
        assert!(matches!(parse_input(b"hello"), Err(InputError::NotJson(_))));
        assert!(matches!(
            parse_input(b"[1,2]"),
            Err(InputError::NotAlert(_))
        ));
        assert!(matches!(
            parse_input(b"{\"a\":1}"),
            Err(InputError::NotAlert(_))
        ));
        assert!(matches!(
            parse_input(&[0xff, 0xfe, b'{']),
            Err(InputError::NotUtf8)
        ));
        assert!(matches!(
            parse_input(br#"{"version":1,"command":"add","parameters":{"alert":{}}}"#),
            Err(InputError::NotAlert(_))
        ));
        assert!(matches!(
            parse_input(br#"{"version":1,"command":"explode","parameters":{"alert":{"rule":{}}}}"#),
            Err(InputError::NotAlert(_))
        ));
    }

    #[test]
    fn ip_values() {
        let cases = [
            ("1.2.3.4", Some("1.2.3.4")),
            ("  8.8.8.8 ", Some("8.8.8.8")),
            ("::ffff:203.0.113.5", Some("203.0.113.5")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("fe80::1%eth0", Some("fe80::1")),
            ("198.51.100.7:5555", Some("198.51.100.7")),
            ("-", None),
            ("", None),
            ("not-an-ip", None),
            ("999.1.1.1", None),
            ("1.2.3", None),
        ];
        for (input, want) in cases {
            let got = parse_ip_text(input).map(|ip| ip.to_string());
            assert_eq!(got.as_deref(), want, "input {input:?}");
        }
        assert_eq!(parse_ip_value(&json!(1234)), None);
    }

    #[test]
    fn every_documented_field_is_found() {
        let cases = [
            (json!({"data":{"srcip":"1.1.1.1"}}), "data.srcip"),
            (json!({"data":{"src_ip":"1.1.1.1"}}), "data.src_ip"),
            (json!({"data":{"win":{"eventdata":{"ipAddress":"1.1.1.1"}}}}), "data.win.eventdata.ipAddress"),
            (json!({"data":{"aws":{"sourceIPAddress":"1.1.1.1"}}}), "data.aws.sourceIPAddress"),
            (json!({"data":{"office365":{"ClientIP":"1.1.1.1"}}}), "data.office365.ClientIP"),
            (json!({"data":{"gcp":{"jsonPayload":{"sourceIP":"1.1.1.1"}}}}), "data.gcp.jsonPayload.sourceIP"),
            (
                json!({"data":{"aws":{"service":{"action":{"networkConnectionAction":{"remoteIpDetails":{"ipAddressV4":"1.1.1.1"}}}}}}}),
                "data.aws.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
            ),
            (
                json!({"data":{"aws":{"service":{"action":{"portProbeAction":{"portProbeDetails":[
                    {"remoteIpDetails":{"ipAddressV4":"-"}},{"remoteIpDetails":{"ipAddressV4":"1.1.1.1"}}]}}}}}}),
                "data.aws.service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
            ),
            (json!({"source":{"ip":"1.1.1.1"}}), "source.ip"),
        ];
        for (value, field) in cases {
            let got = alert(value).source_ip();
            assert_eq!(got, Some(("1.1.1.1".parse().unwrap(), field.to_string())));
        }
    }

    #[test]
    fn first_valid_wins_and_garbage_is_skipped() {
        let a = alert(json!({"data":{"srcip":"-","src_ip":"garbage",
            "win":{"eventdata":{"ipAddress":"::ffff:198.51.100.1"}}}}));
        assert_eq!(
            a.source_ip(),
            Some((
                "198.51.100.1".parse().unwrap(),
                "data.win.eventdata.ipAddress".to_string()
            ))
        );
        assert_eq!(alert(json!({"syscheck":{"path":"/x"}})).source_ip(), None);
    }

    #[test]
    fn lenient_fields() {
        let a = alert(json!({"rule":{"level":"12","id":5712,"groups":"sshd"},"agent":"weird"}));
        assert_eq!(a.rule_level(), 12);
        assert_eq!(a.rule_id(), "5712");
        assert_eq!(a.groups(), vec!["sshd"]);
        assert_eq!(a.agent_name(), "unknown agent");
        let a = alert(json!({"rule":{"level":-3}}));
        assert_eq!(a.rule_level(), 0);
        let a = alert(json!({"rule":{"level":7.0}}));
        assert_eq!(a.rule_level(), 7);
        let a = alert(json!(null));
        assert_eq!(a.rule_level(), 0);
        assert_eq!(a.description(), "Wazuh alert");
    }

    #[test]
    fn loop_guard() {
        assert!(
            alert(json!({"rule":{"groups":["ossec","active_response"]}}))
                .loop_guard()
                .is_some()
        );
        let verdict = json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
            "location":"ai-analyzer","data":{"integration":"ai-analyzer"}});
        assert!(alert(verdict).loop_guard().is_some());
        assert!(alert(json!({"rule":{"groups":["sshd"]}}))
            .loop_guard()
            .is_none());
    }

    /// Text an attacker writes (a URL, a user name, a JSON field of their own log) never makes
    /// an alert pass for one of this tool's own events.
    #[test]
    fn attacker_text_never_skips_an_alert() {
        let shellshock = include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/alerts/web_shellshock_31168.json"
        ));
        let mut v: Value = serde_json::from_str(shellshock).unwrap();
        v["full_log"] = json!(
            "203.0.113.7 - - [01/Feb/2021:20:58:43 +0000] \"GET /active-response/bin/ai-analyzer HTTP/1.1\" 200 612 \"-\" \"() { :; }; /bin/cat /etc/passwd\""
        );
        v["data"]["url"] = json!("/active-response/bin/ai-analyzer");
        assert_eq!(
            alert(v).loop_guard(),
            None,
            "shellshock with our path in the URL"
        );
        let sshd = json!({"rule":{"id":"5710","level":5,"groups":["syslog","sshd","authentication_failed"]},
            "decoder":{"name":"sshd"},"location":"/var/log/auth.log",
            "data":{"srcip":"203.0.113.7","srcuser":"active-response/bin/ai-analyzer"},
            "full_log":"sshd[1]: Invalid user active-response/bin/ai-analyzer from 203.0.113.7"});
        assert_eq!(alert(sshd).loop_guard(), None, "our path as the user name");
        // A JSON log of the attacker's that looks like our verdict: the json decoder and our
        // decoder's prematch may take it, but its location is a file, not ours.
        let forged = json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
            "location":"/var/log/app/events.json","data":{"integration":"ai-analyzer"}});
        assert_eq!(
            alert(forged).loop_guard(),
            None,
            "a forged verdict from a log file"
        );
        let no_group = json!({"decoder":{"name":"json"},"location":"/var/log/app/events.json",
            "data":{"integration":"ai-analyzer"}});
        assert_eq!(alert(no_group).loop_guard(), None, "data.integration alone");
    }

    #[test]
    fn dest_ip_and_agent_ip() {
        let a = alert(json!({"agent":{"ip":"10.0.0.40"},"data":{"dstip":"10.9.0.255"}}));
        assert_eq!(a.dest_ip().unwrap().0.to_string(), "10.9.0.255");
        assert_eq!(a.agent_ip().unwrap().to_string(), "10.0.0.40");
    }

    /// The error text of a rejected input, or a panic when it was accepted.
    fn not_alert(bytes: &[u8]) -> String {
        match parse_input(bytes) {
            Err(InputError::NotAlert(why)) => why,
            other => panic!("expected NotAlert, got {other:?}"),
        }
    }

    /// An object with `value` at the dotted `path` (nested objects created on the way).
    fn at_path(path: &str, value: Value) -> Value {
        path.rsplit('.')
            .fold(value, |inner, key| json!({ key: inner }))
    }

    /// Merges `b` into `a`, object by object.
    fn merge(a: &mut Value, b: Value) {
        match (a, b) {
            (Value::Object(a), Value::Object(b)) => {
                for (k, v) in b {
                    match a.get_mut(&k) {
                        Some(existing) => merge(existing, v),
                        None => {
                            a.insert(k, v);
                        }
                    }
                }
            }
            (a, b) => *a = b,
        }
    }

    #[test]
    fn every_command_word_of_both_message_forms() {
        let cases = [
            ("add", Command::Add),
            ("enable", Command::Add),
            ("delete", Command::Delete),
            ("disable", Command::Delete),
        ];
        for (word, want) in cases {
            // Wazuh 4.x: the alert under parameters.
            let msg =
                json!({"version":1,"command":word,"parameters":{"alert":{"rule":{"id":"1"}}}});
            let inc = parse_input(msg.to_string().as_bytes()).unwrap();
            assert_eq!(inc.command, want, "4.x {word}");
            assert_eq!(inc.shape, Shape::ArMessage, "4.x {word}");
            assert_eq!(inc.alert.rule_id(), "1", "4.x {word}");
            assert_eq!(inc.message, Some(msg), "4.x {word}");
            assert!(inc.is_ar_message());
            // Wazuh 5.0: the alert at the top level; `command` is taken out of the alert only.
            let msg = json!({"command":word,"rule":{"id":"2"}});
            let inc = parse_input(msg.to_string().as_bytes()).unwrap();
            assert_eq!(inc.command, want, "5.0 {word}");
            assert_eq!(inc.shape, Shape::ArMessageV5, "5.0 {word}");
            assert_eq!(inc.alert.json(), &json!({"rule":{"id":"2"}}), "5.0 {word}");
            assert_eq!(inc.message, Some(msg), "5.0 {word}");
            assert!(inc.is_ar_message());
        }
    }

    #[test]
    fn unknown_or_non_text_commands_are_rejected_with_the_word_cut_to_40_chars() {
        let long = "x".repeat(50);
        let msg = json!({"command":long,"parameters":{"alert":{"rule":{}}}});
        assert_eq!(
            not_alert(msg.to_string().as_bytes()),
            format!("unknown active-response command {:?}", "x".repeat(40))
        );
        let msg = json!({"command":"ADD","rule":{"id":"1"}});
        assert_eq!(
            not_alert(msg.to_string().as_bytes()),
            "unknown active-response command \"ADD\""
        );
        // A command that is not a string reads as "".
        assert_eq!(
            not_alert(br#"{"command":7,"rule":{"id":"1"}}"#),
            "unknown active-response command \"\""
        );
    }

    #[test]
    fn raw_alert_is_an_add_without_message() {
        let inc = parse_input(br#"{"rule":{"id":"5710"}}"#).unwrap();
        assert_eq!(inc.shape, Shape::RawAlert);
        assert_eq!(inc.command, Command::Add);
        assert!(inc.message.is_none());
        assert!(!inc.is_ar_message());
        // A byte-order mark and surrounding blanks are ignored.
        let inc = parse_input("\u{feff} {\"rule\":{\"id\":\"9\"}}\n".as_bytes()).unwrap();
        assert_eq!(inc.alert.rule_id(), "9");
        // `rule` must be an object.
        assert_eq!(
            not_alert(br#"{"rule":"5710"}"#),
            "no \"rule\" object (expected one line of alerts.json or an active-response message)"
        );
    }

    #[test]
    fn ar_message_4x_alert_must_be_a_non_empty_object_for_add_only() {
        assert_eq!(
            not_alert(br#"{"version":1,"command":"add","parameters":{"alert":{}}}"#),
            "the active-response message carries an empty alert"
        );
        for msg in [
            r#"{"version":1,"command":"add","parameters":{}}"#,
            r#"{"version":1,"command":"add","parameters":{"alert":[1]}}"#,
            r#"{"version":1,"command":"add","parameters":{"alert":"x"}}"#,
        ] {
            assert_eq!(
                not_alert(msg.as_bytes()),
                "the active-response message has no parameters.alert object",
                "{msg}"
            );
        }
        // A delete takes whatever is there, even nothing.
        let inc =
            parse_input(br#"{"version":1,"command":"delete","parameters":{"alert":{}}}"#).unwrap();
        assert_eq!(inc.command, Command::Delete);
        assert_eq!(inc.alert.json(), &json!({}));
        let inc = parse_input(br#"{"version":1,"command":"delete","parameters":{}}"#).unwrap();
        assert_eq!(inc.alert.json(), &Value::Null);
        // `parameters` that is not an object makes it a 5.0 message.
        let inc = parse_input(br#"{"command":"add","parameters":"x","rule":{"id":"3"}}"#).unwrap();
        assert_eq!(inc.shape, Shape::ArMessageV5);
        assert_eq!(inc.alert.rule_id(), "3");
    }

    #[test]
    fn v5_message_with_nothing_but_the_command() {
        // An `enable` with no alert is refused ...
        assert_eq!(
            not_alert(br#"{"command":"enable"}"#),
            "the active-response message carries an empty alert"
        );
        // ... a `disable` with no alert is accepted (nothing to analyse anyway).
        let inc = parse_input(br#"{"command":"disable"}"#).unwrap();
        assert_eq!(inc.command, Command::Delete);
        assert_eq!(inc.shape, Shape::ArMessageV5);
        assert_eq!(inc.alert.json(), &json!({}));
        // An `enable` whose alert has any field at all is accepted, even without a rule.
        let inc = parse_input(br#"{"command":"enable","x":1}"#).unwrap();
        assert_eq!(inc.command, Command::Add);
        assert_eq!(inc.alert.json(), &json!({"x":1}));
    }

    #[test]
    fn lookup_walks_nested_objects_and_arrays() {
        let a = alert(json!({"a":{"b":{"c":"deep"}},
            "list":[{"k":1},{"other":2},{"k":[3,4]},"scalar",{"k":{"z":5}}],
            "s":"text"}));
        assert_eq!(a.lookup("a.b.c"), vec![&json!("deep")]);
        assert_eq!(a.lookup("a.b"), vec![&json!({"c":"deep"})]);
        assert_eq!(
            a.lookup("list.k"),
            vec![&json!(1), &json!(3), &json!(4), &json!({"z":5})]
        );
        assert_eq!(a.lookup("list.k.z"), vec![&json!(5)]);
        // A leaf array counts as its elements.
        assert_eq!(a.lookup("list").len(), 5);
        assert!(a.lookup("s.x").is_empty());
        assert!(a.lookup("a.missing").is_empty());
        assert!(a.lookup("missing.b").is_empty());
        assert_eq!(a.json()["s"], json!("text"));
        assert_eq!(a.fields().map(|m| m.len()), Some(3));
        assert!(alert(json!([1])).fields().is_none());
    }

    #[test]
    fn text_prints_scalars_and_skips_the_rest() {
        let a = alert(
            json!({"s":"x y","n":42,"f":3.5,"t":true,"no":false,"z":null,
            "o":{"k":1},"arr":[null,{"k":1},7,"later"],"empty":""}),
        );
        assert_eq!(a.text("s").as_deref(), Some("x y"));
        assert_eq!(a.text("n").as_deref(), Some("42"));
        assert_eq!(a.text("f").as_deref(), Some("3.5"));
        assert_eq!(a.text("t").as_deref(), Some("true"));
        assert_eq!(a.text("no").as_deref(), Some("false"));
        assert_eq!(a.text("z"), None);
        assert_eq!(a.text("o"), None);
        assert_eq!(a.text("arr").as_deref(), Some("7"));
        assert_eq!(a.text("empty").as_deref(), Some(""));
        assert_eq!(a.text("missing"), None);
        assert_eq!(scalar_text(&json!("a")).as_deref(), Some("a"));
        assert_eq!(scalar_text(&json!(-1)).as_deref(), Some("-1"));
        assert_eq!(scalar_text(&json!(true)).as_deref(), Some("true"));
        assert_eq!(scalar_text(&json!([1])), None);
    }

    #[test]
    fn rule_level_reads_numbers_strings_and_clamps() {
        let cases = [
            (json!(12), 12),
            (json!(0), 0),
            (json!(" 9 "), 9),
            (json!("abc"), 0),
            (json!("-4"), 0),
            (json!(7.9), 7),
            (json!(-3), 0),
            (json!(-2.5), 0),
            (json!(5_000_000_000u64), u32::MAX),
            (json!(true), 0),
            (json!(null), 0),
            (json!({"x":3}), 0),
            (json!(["bad", 4]), 4),
        ];
        for (level, want) in cases {
            let a = alert(json!({"rule":{"level":level.clone()}}));
            assert_eq!(a.rule_level(), want, "level {level}");
        }
        assert_eq!(alert(json!({})).rule_level(), 0);
    }

    #[test]
    fn rule_fields_and_their_defaults() {
        let a = alert(
            json!({"rule":{"id":5712,"description":"Brute force","name":"n",
            "groups":["sshd",1,true,null,{"x":1},"authentication_failed"]}}),
        );
        assert_eq!(a.rule_id(), "5712");
        assert_eq!(a.description(), "Brute force");
        assert_eq!(
            a.groups(),
            vec!["sshd", "1", "true", "authentication_failed"]
        );
        let a = alert(json!({"rule":{"name":"Only a name"}}));
        assert_eq!(a.description(), "Only a name");
        assert_eq!(a.rule_id(), "unknown");
        assert!(a.groups().is_empty());
    }

    #[test]
    fn agent_fields_prefer_agent_over_wazuh_agent() {
        let both = alert(json!({
            "agent":{"name":"a1","id":"001","ip":"10.0.0.1"},
            "wazuh":{"agent":{"name":"w1","id":"002","ip":"10.0.0.2"}}}));
        assert_eq!(both.agent_name(), "a1");
        assert_eq!(both.agent_id().as_deref(), Some("001"));
        assert_eq!(both.agent_ip(), Some("10.0.0.1".parse().unwrap()));
        let v5 = alert(json!({"agent":{"ip":"-"},
            "wazuh":{"agent":{"name":"w1","id":2,"ip":"::ffff:10.0.0.2"}}}));
        assert_eq!(v5.agent_name(), "w1");
        assert_eq!(v5.agent_id().as_deref(), Some("2"));
        assert_eq!(v5.agent_ip(), Some("10.0.0.2".parse().unwrap()));
        let none = alert(json!({"agent":{"ip":"garbage"}}));
        assert_eq!(none.agent_name(), "unknown agent");
        assert_eq!(none.agent_id(), None);
        assert_eq!(none.agent_ip(), None);
    }

    #[test]
    fn timestamp_and_full_log_fallbacks() {
        let a = alert(json!({"timestamp":"t1","@timestamp":"t2","full_log":"l1",
            "event":{"original":"l2"}}));
        assert_eq!(a.timestamp().as_deref(), Some("t1"));
        assert_eq!(a.full_log().as_deref(), Some("l1"));
        let a = alert(json!({"@timestamp":"t2","event":{"original":"l2"}}));
        assert_eq!(a.timestamp().as_deref(), Some("t2"));
        assert_eq!(a.full_log().as_deref(), Some("l2"));
        let a = alert(json!({}));
        assert_eq!(a.timestamp(), None);
        assert_eq!(a.full_log(), None);
    }

    #[test]
    fn source_and_dest_fields_are_tried_in_the_documented_order() {
        for (fields, get) in [
            (
                SOURCE_IP_FIELDS,
                Alert::source_ip as fn(&Alert) -> Option<(IpAddr, String)>,
            ),
            (DEST_IP_FIELDS, |a: &Alert| {
                a.dest_ip().map(|(ip, f)| (ip, f.to_string()))
            }),
        ] {
            for (i, field) in fields.iter().enumerate() {
                // This field and every later one hold a valid address; earlier ones hold garbage.
                let mut value = json!({});
                for (j, other) in fields.iter().enumerate() {
                    let text = if j < i {
                        "-".to_string()
                    } else {
                        format!("10.0.{i}.{j}")
                    };
                    merge(&mut value, at_path(other, json!(text)));
                }
                let want: IpAddr = format!("10.0.{i}.{i}").parse().unwrap();
                assert_eq!(
                    get(&alert(value)),
                    Some((want, field.to_string())),
                    "{field}"
                );
            }
        }
        assert_eq!(alert(json!({"data":{"dstip":"x"}})).dest_ip(), None);
    }

    #[test]
    fn parse_ip_text_length_and_port_edges() {
        // 64 characters (with a zone id) is still read; 65 is not.
        let zone64 = format!("fe80::1%{}", "a".repeat(56));
        assert_eq!(zone64.len(), 64);
        assert_eq!(parse_ip_text(&zone64), Some("fe80::1".parse().unwrap()));
        let zone65 = format!("fe80::1%{}", "a".repeat(57));
        assert_eq!(parse_ip_text(&zone65), None);
        // Trimming happens before the length check.
        assert_eq!(
            parse_ip_text(&format!("  {zone64}  ")),
            Some("fe80::1".parse().unwrap())
        );
        // A port must be all digits and not empty.
        assert_eq!(parse_ip_text("1.2.3.4:abc"), None);
        assert_eq!(parse_ip_text("1.2.3.4:"), None);
        assert_eq!(parse_ip_text("1.2.3.4:12a"), None);
        assert_eq!(parse_ip_text("1.2.3.4:0"), Some("1.2.3.4".parse().unwrap()));
        // Only an IPv4 host takes a port suffix this way.
        assert_eq!(parse_ip_text("1:2:3:4:5:6:7:8:80"), None);
        assert_eq!(
            parse_ip_text("[::ffff:1.2.3.4]"),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(
            parse_ip_value(&json!(" 1.2.3.4 ")),
            Some("1.2.3.4".parse().unwrap())
        );
        assert_eq!(parse_ip_value(&json!(["1.2.3.4"])), None);
    }

    #[test]
    fn loop_guard_names_each_reason_in_order() {
        let ours = "this tool's own verdict (location ai-analyzer)";
        let cases = [
            (
                json!({"rule":{"groups":["ossec","active_response"]}}),
                Some("rule group active_response"),
            ),
            (
                json!({"rule":{"groups":["ai_analyzer","active_response"]}}),
                Some("rule group active_response"),
            ),
            (
                json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
                    "location":"ai-analyzer"}),
                Some(ours),
            ),
            (
                // An agent's verdict: analysisd keeps the agent's part of the location.
                json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
                    "location":"[001] (web-01) 10.0.0.5->ai-analyzer"}),
                Some(ours),
            ),
            (
                // Our decoder not installed: the json decoder read it, at our location.
                json!({"rule":{"groups":["other"]},"decoder":{"name":"json"},
                    "location":"ai-analyzer"}),
                Some(ours),
            ),
            (
                json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
                    "location":"/var/log/ai-analyzer.json"}),
                None,
            ),
            (
                json!({"rule":{"groups":["ai_analyzer"]},"decoder":{"name":"ai-analyzer"},
                    "location":"/var/log/app/ai-analyzer"}),
                None,
            ),
            (
                json!({"data":{"integration":"ai-analyzer"},
                    "full_log":"x active-response/bin/ai-analyzer y"}),
                None,
            ),
            (
                json!({"event":{"original":"2024/06/10 active-response/bin/ai-analyzer: Ended"}}),
                None,
            ),
            (
                json!({"rule":{"groups":["active_responses","ai"]},
                    "data":{"integration":"virustotal"},
                    "full_log":"active-response/bin/firewall-drop"}),
                None,
            ),
            (json!({}), None),
        ];
        for (value, want) in cases {
            assert_eq!(alert(value.clone()).loop_guard(), want, "{value}");
        }
    }

    #[test]
    fn slug_is_rule_and_address_or_agent_made_file_safe() {
        let a = alert(json!({"rule":{"id":"5712"},"data":{"srcip":"203.0.113.9"},
            "agent":{"name":"web"}}));
        assert_eq!(a.slug(), "5712-203.0.113.9");
        let a = alert(json!({"rule":{"id":"5712"},"data":{"srcip":"2001:db8::1"}}));
        assert_eq!(a.slug(), "5712-2001_db8__1");
        let a = alert(json!({"rule":{"id":"554"},"agent":{"name":"Web Server/01.é"}}));
        assert_eq!(a.slug(), "554-Web_Server_01._");
        let a = alert(json!({"agent":{"name":"x".repeat(100)}}));
        let slug = a.slug();
        assert_eq!(slug.len(), 80);
        assert_eq!(slug, format!("unknown-{}", "x".repeat(72)));
    }

    #[test]
    fn truncate_chars_counts_characters_not_bytes() {
        let s = "héllo€";
        let cases = [
            (0, ""),
            (1, "h"),
            (2, "hé"),
            (5, "héllo"),
            (6, "héllo€"),
            (7, "héllo€"),
        ];
        for (max, want) in cases {
            assert_eq!(truncate_chars(s, max), want, "max {max}");
        }
        assert_eq!(truncate_chars("", 3), "");
    }
}
