//! What came in: a Wazuh 4.x active-response message, a Wazuh 5.0 message, or a raw alert, turned
//! into one [`Incoming`] value; and the lenient accessors the rest of the tool reads an alert with.
//!
//! A Wazuh alert is whatever its decoder produced: fields come and go, numbers arrive as strings, and
//! values can be `-` or garbage. Nothing here panics or rejects an alert for an odd field.

use std::net::IpAddr;

use serde_json::{Map, Value};

use crate::error::InputError;

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

/// Where a source IP can live, in the order they are tried; the first valid address wins.
///
/// `data.srcip` first: it is what analysisd itself treats as the source (white list, CDB lists).
/// Arrays along the path are searched element by element.
pub const SOURCE_IP_FIELDS: &[&str] = &[
    "data.srcip",
    "data.src_ip",
    "data.win.eventdata.ipAddress",
    "data.win.eventdata.sourceIp",
    "data.aws.sourceIPAddress",
    "data.aws.service.action.networkConnectionAction.remoteIpDetails.ipAddressV4",
    "data.aws.service.action.awsApiCallAction.remoteIpDetails.ipAddressV4",
    "data.aws.service.action.portProbeAction.portProbeDetails.remoteIpDetails.ipAddressV4",
    "data.aws.httpRequest.clientIp",
    "data.aws.client_ip",
    "data.aws.srcaddr",
    "data.office365.ClientIP",
    "data.gcp.jsonPayload.sourceIP",
    "data.gcp.protoPayload.requestMetadata.callerIp",
    "data.src_endpoint.ip",
    "data.ClientIP",
    "data.client_ip",
    "data.ip_address",
    "data.osquery.columns.src_ip",
    "data.srcip2",
    "source.ip",
];

/// Where the attacked address can live (besides the agent's own address).
pub const DEST_IP_FIELDS: &[&str] = &[
    "data.dstip",
    "data.dst_ip",
    "data.dest_ip",
    "data.win.eventdata.destinationIp",
    "data.aws.dstaddr",
    "destination.ip",
];

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
        ["agent.ip", "wazuh.agent.ip"]
            .iter()
            .find_map(|p| self.lookup(p).into_iter().find_map(parse_ip_value))
    }

    pub fn timestamp(&self) -> Option<String> {
        self.text("timestamp").or_else(|| self.text("@timestamp"))
    }

    pub fn full_log(&self) -> Option<String> {
        self.text("full_log")
            .or_else(|| self.text("event.original"))
    }

    /// The first valid source address, with the field it came from.
    pub fn source_ip(&self) -> Option<(IpAddr, &'static str)> {
        first_ip(self, SOURCE_IP_FIELDS)
    }

    /// The first valid destination address, with the field it came from.
    pub fn dest_ip(&self) -> Option<(IpAddr, &'static str)> {
        first_ip(self, DEST_IP_FIELDS)
    }

    /// True for alerts this tool must never analyse: active-response logs (rules 650-658, which our
    /// own log lines can fire) and the verdict events the tool itself feeds back.
    pub fn loop_guard(&self) -> Option<&'static str> {
        if self.groups().iter().any(|g| g == "active_response") {
            return Some("rule group active_response");
        }
        if self.groups().iter().any(|g| g == "ai_analyzer") {
            return Some("rule group ai_analyzer (this tool's own verdict)");
        }
        if self.text("data.integration").as_deref() == Some("ai-analyzer") {
            return Some("an ai-analyzer verdict event");
        }
        if self
            .full_log()
            .is_some_and(|l| l.contains("active-response/bin/ai-analyzer"))
        {
            return Some("a line of this tool's own log");
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

fn first_ip(alert: &Alert, fields: &[&'static str]) -> Option<(IpAddr, &'static str)> {
    fields.iter().find_map(|field| {
        alert
            .lookup(field)
            .into_iter()
            .find_map(parse_ip_value)
            .map(|ip| (ip, *field))
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alert(v: Value) -> Alert {
        Alert::new(v)
    }

    #[test]
    fn ar_message_4x() {
        let line = include_str!("../tests/fixtures/protocol/1_execd_to_ar_stdin_line1_add.json");
        let inc = parse_input(line.as_bytes()).expect("AR message parses");
        assert_eq!(inc.shape, Shape::ArMessage);
        assert_eq!(inc.command, Command::Add);
        assert_eq!(inc.alert.rule_id(), "31168");
        assert_eq!(inc.alert.rule_level(), 15);
        assert_eq!(
            inc.alert.source_ip(),
            Some(("192.168.0.223".parse().unwrap(), "data.srcip"))
        );
        assert!(inc.message.is_some());
    }

    #[test]
    fn delete_needs_no_alert() {
        let line =
            include_str!("../tests/fixtures/protocol/4_execd_to_ar_stdin_timeout_delete.json");
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
        let compact = include_str!("../tests/fixtures/alerts/sshd_bruteforce_5763.json");
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
            assert_eq!(got, Some(("1.1.1.1".parse().unwrap(), field)));
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
                "data.win.eventdata.ipAddress"
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
        assert!(alert(json!({"data":{"integration":"ai-analyzer"}}))
            .loop_guard()
            .is_some());
        assert!(alert(
            json!({"full_log":"2024/06/10 14:12:41 active-response/bin/ai-analyzer: Ended"})
        )
        .loop_guard()
        .is_some());
        assert!(alert(json!({"rule":{"groups":["sshd"]}}))
            .loop_guard()
            .is_none());
    }

    #[test]
    fn dest_ip_and_agent_ip() {
        let a = alert(json!({"agent":{"ip":"10.0.0.40"},"data":{"dstip":"10.9.0.255"}}));
        assert_eq!(a.dest_ip().unwrap().0.to_string(), "10.9.0.255");
        assert_eq!(a.agent_ip().unwrap().to_string(), "10.0.0.40");
    }
}
