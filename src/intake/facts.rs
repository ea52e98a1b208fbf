//! The facts a person needs from one alert, by alert family: who logged in how, which process ran
//! what, which file changed and by whom, which package is vulnerable. One table per family says
//! where each fact lives; the prompt and the report without AI both read them from here, so what
//! one shows the other shows too.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::alert::{fold_line, Alert};

/// The kinds of alert the tool tells apart; each has its facts and its advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Authentication,
    Windows,
    Sysmon,
    Fim,
    Malware,
    Vulnerability,
    Sca,
    Rootcheck,
    Web,
    Ids,
    Firewall,
    Cloud,
    Osquery,
    Docker,
    Package,
    Other,
}

impl Family {
    /// What an analyst calls it.
    pub fn name(self) -> &'static str {
        match self {
            Family::Authentication => "authentication",
            Family::Windows => "Windows event",
            Family::Sysmon => "Sysmon event",
            Family::Fim => "file integrity",
            Family::Malware => "malware",
            Family::Vulnerability => "vulnerability",
            Family::Sca => "configuration assessment",
            Family::Rootcheck => "rootcheck",
            Family::Web => "web request",
            Family::Ids => "intrusion detection",
            Family::Firewall => "firewall",
            Family::Cloud => "cloud",
            Family::Osquery => "osquery",
            Family::Docker => "Docker",
            Family::Package => "software change",
            Family::Other => "other",
        }
    }

    /// Whether the family is about the host itself rather than traffic from an address (its
    /// alerts normally name no source, and their title says none).
    pub fn is_host_event(self) -> bool {
        matches!(
            self,
            Family::Fim
                | Family::Malware
                | Family::Vulnerability
                | Family::Sca
                | Family::Rootcheck
                | Family::Osquery
                | Family::Docker
                | Family::Package
        )
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fact: its label and its value as the alert gives it (folded to one line, capped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// The facts of one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Facts {
    pub family: Family,
    pub items: Vec<Fact>,
    /// How many events the alert stands for, in words (`8 events in 120 s`), when it says.
    pub count: Option<String>,
}

impl Facts {
    /// The value of the first fact with `label`.
    pub fn get(&self, label: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|f| f.label == label)
            .map(|f| f.value.as_str())
    }

    /// The alert paths each fact was read from, so that the prompt need not repeat them.
    pub fn paths(&self) -> Vec<&'static str> {
        table(self.family)
            .iter()
            .flat_map(|(_, paths)| paths.iter().copied())
            .chain(COUNT_PATHS.iter().copied())
            .collect()
    }
}

/// Where the user names of an alert can live (tried, targeted, logged in): for the history
/// summary and a campaign's targeted users.
pub const USER_FIELDS: &[&str] = &[
    "data.dstuser",
    "data.srcuser",
    "data.user",
    "data.win.eventdata.targetUserName",
    "data.office365.UserId",
    "data.aws.userIdentity.userName",
    "user.name",
];

/// A fact's value is cut here: a command line or a diff can be long, and the report is short.
const MAX_VALUE_CHARS: usize = 300;

/// Where the count of events lives.
const COUNT_PATHS: &[&str] = &[
    "rule.frequency",
    "rule.timeframe",
    "rule.firedtimes",
    "previous_output",
];

type Table = &'static [(&'static str, &'static [&'static str])];

const AUTHENTICATION: Table = &[
    (
        "User",
        &[
            "data.dstuser",
            "data.srcuser",
            "data.user",
            "data.win.eventdata.targetUserName",
            "data.office365.UserId",
            "user.name",
        ],
    ),
    ("Service", &["predecoder.program_name", "decoder.parent"]),
    ("Method", &[]),
    ("Logon type", &["data.win.eventdata.logonType"]),
    ("Source port", &["data.srcport", "data.src_port"]),
    (
        "Failure",
        &["data.win.eventdata.failureReason", "data.status"],
    ),
];

const WINDOWS: Table = &[
    ("Event id", &["data.win.system.eventID"]),
    ("Channel", &["data.win.system.channel"]),
    (
        "Account",
        &[
            "data.win.eventdata.targetUserName",
            "data.win.eventdata.subjectUserName",
            "data.win.eventdata.samAccountName",
        ],
    ),
    (
        "Domain",
        &[
            "data.win.eventdata.targetDomainName",
            "data.win.eventdata.subjectDomainName",
        ],
    ),
    ("Logon type", &["data.win.eventdata.logonType"]),
    ("Workstation", &["data.win.eventdata.workstationName"]),
    ("Failure", &["data.win.eventdata.failureReason"]),
    ("Status", &["data.win.eventdata.status"]),
    ("Sub-status", &["data.win.eventdata.subStatus"]),
    (
        "Process image",
        &[
            "data.win.eventdata.newProcessName",
            "data.win.eventdata.processName",
            "data.win.eventdata.image",
        ],
    ),
    ("Command line", &["data.win.eventdata.commandLine"]),
    (
        "Parent",
        &[
            "data.win.eventdata.parentProcessName",
            "data.win.eventdata.parentImage",
        ],
    ),
    ("Service name", &["data.win.eventdata.serviceName"]),
    ("Service path", &["data.win.eventdata.imagePath"]),
    ("Service account", &["data.win.eventdata.accountName"]),
];

const SYSMON: Table = &[
    ("Event id", &["data.win.system.eventID"]),
    ("Process image", &["data.win.eventdata.image"]),
    ("Command line", &["data.win.eventdata.commandLine"]),
    ("Parent", &["data.win.eventdata.parentImage"]),
    (
        "Parent command line",
        &["data.win.eventdata.parentCommandLine"],
    ),
    ("User", &["data.win.eventdata.user"]),
    ("Hashes", &["data.win.eventdata.hashes"]),
    ("Target file", &["data.win.eventdata.targetFilename"]),
    (
        "Destination",
        &[
            "data.win.eventdata.destinationIp",
            "data.win.eventdata.destinationHostname",
        ],
    ),
    ("Destination port", &["data.win.eventdata.destinationPort"]),
    ("Query", &["data.win.eventdata.queryName"]),
];

const FIM: Table = &[
    ("Path", &["syscheck.path"]),
    ("Change", &["syscheck.event"]),
    ("Changed attributes", &["syscheck.changed_attributes"]),
    ("Size", &["syscheck.size_after"]),
    ("MD5 before", &["syscheck.md5_before"]),
    ("MD5 after", &["syscheck.md5_after"]),
    ("SHA1 before", &["syscheck.sha1_before"]),
    ("SHA1 after", &["syscheck.sha1_after"]),
    ("SHA256 before", &["syscheck.sha256_before"]),
    ("SHA256 after", &["syscheck.sha256_after"]),
    ("Owner", &["syscheck.uname_after"]),
    ("Permissions", &["syscheck.perm_after"]),
    (
        "Changed by",
        &[
            "syscheck.audit.user.name",
            "syscheck.audit.effective_user.name",
            "syscheck.audit.login_user.name",
        ],
    ),
    // The person behind a sudo: the account they logged in with.
    ("Logged in as", &["syscheck.audit.login_user.name"]),
    ("Process", &["syscheck.audit.process.name"]),
    ("Process id", &["syscheck.audit.process.id"]),
];

const MALWARE: Table = &[
    (
        "File",
        &[
            "data.virustotal.source.file",
            "data.file",
            "data.yara_scanned_file",
        ],
    ),
    ("MD5", &["data.virustotal.source.md5"]),
    ("SHA1", &["data.virustotal.source.sha1"]),
    ("Detections", &[]),
    ("Scan date", &["data.virustotal.scan_date"]),
    ("Report", &["data.virustotal.permalink"]),
    ("Finding", &["data.title", "data.yara_rule"]),
];

const VULNERABILITY: Table = &[
    (
        "Package",
        &["data.vulnerability.package.name", "package.name"],
    ),
    (
        "Version",
        &["data.vulnerability.package.version", "package.version"],
    ),
    ("CVE", &["data.vulnerability.cve", "vulnerability.id"]),
    (
        "Severity",
        &["data.vulnerability.severity", "vulnerability.severity"],
    ),
    (
        "CVSS",
        &[
            "data.vulnerability.cvss.cvss3.base_score",
            "data.vulnerability.score.base",
            "data.vulnerability.cvss.cvss2.base_score",
            "vulnerability.score.base",
        ],
    ),
    ("Affected", &["data.vulnerability.package.condition"]),
    ("Status", &["data.vulnerability.status"]),
    ("Title", &["data.vulnerability.title"]),
];

const SCA: Table = &[
    ("Policy", &["data.sca.policy"]),
    ("Check", &["data.sca.check.title"]),
    ("Result", &["data.sca.check.result"]),
    ("Remediation", &["data.sca.check.remediation"]),
    ("File", &["data.sca.check.file"]),
    ("Score", &["data.sca.score"]),
    ("Failed checks", &["data.sca.failed"]),
];

const ROOTCHECK: Table = &[
    ("Finding", &["data.title"]),
    ("File", &["data.file"]),
    ("Process id", &["data.pid"]),
];

const WEB: Table = &[
    (
        "Method",
        &["data.protocol", "data.http.http_method", "data.method"],
    ),
    ("URL", &["data.url", "data.http.url"]),
    ("Status", &["data.id", "data.http.status", "data.status"]),
    (
        "User agent",
        &["data.user_agent", "data.http.http_user_agent"],
    ),
];

const IDS: Table = &[
    ("Signature", &["data.alert.signature"]),
    ("Signature id", &["data.alert.signature_id"]),
    ("Category", &["data.alert.category"]),
    ("Severity", &["data.alert.severity"]),
    ("IDS action", &["data.alert.action"]),
    ("Protocol", &["data.proto", "data.app_proto"]),
    ("Source port", &["data.src_port"]),
    ("Destination port", &["data.dest_port"]),
    ("HTTP host", &["data.http.hostname"]),
    ("URL", &["data.http.url"]),
];

const FIREWALL: Table = &[
    ("Action", &["data.action"]),
    ("Protocol", &["data.protocol", "data.proto", "data.service"]),
    ("Source port", &["data.srcport", "data.src_port"]),
    ("Destination port", &["data.dstport", "data.dst_port"]),
    ("Device", &["data.devname", "data.hostname"]),
    ("Event", &["data.logdesc", "data.msg"]),
    ("User", &["data.user", "data.dstuser"]),
    ("Interface", &["data.ui"]),
    ("Status", &["data.status"]),
];

const CLOUD: Table = &[
    (
        "Service",
        &[
            "data.aws.source",
            "data.office365.Workload",
            "data.gcp.protoPayload.serviceName",
            "data.azure.category",
            "data.integration",
        ],
    ),
    (
        "API call",
        &[
            "data.aws.eventName",
            "data.aws.service.action.awsApiCallAction.api",
            "data.office365.Operation",
            "data.gcp.protoPayload.methodName",
            "data.azure.operationName",
            "data.ms-graph.activityType",
            "data.github.action",
        ],
    ),
    (
        "Principal",
        &[
            "data.aws.userIdentity.arn",
            "data.aws.userIdentity.userName",
            "data.aws.resource.accessKeyDetails.userName",
            "data.office365.UserId",
            "data.gcp.protoPayload.authenticationInfo.principalEmail",
            "data.ms-graph.userPrincipalName",
            "data.ms-graph.actor.userPrincipalName",
            "data.azure.identity",
            "data.github.actor",
        ],
    ),
    ("User", &["data.github.user", "data.office365.ObjectId"]),
    ("Finding", &["data.aws.type", "data.ms-graph.title"]),
    ("Summary", &["data.aws.title", "data.aws.description"]),
    ("Category", &["data.ms-graph.category"]),
    (
        "Severity",
        &[
            "data.aws.severity",
            "data.ms-graph.severity",
            "data.gcp.severity",
        ],
    ),
    ("Status", &["data.ms-graph.status"]),
    (
        "Result",
        &[
            "data.office365.ResultStatus",
            "data.aws.errorCode",
            "data.azure.resultType",
            "data.ms-graph.activityResult",
            "data.gcp.protoPayload.status.message",
            "data.gcp.jsonPayload.responseCode",
        ],
    ),
    ("Query", &["data.gcp.jsonPayload.queryName"]),
    (
        "Region",
        &[
            "data.aws.awsRegion",
            "data.aws.region",
            "data.gcp.resource.labels.location",
        ],
    ),
    (
        "Resource",
        &[
            "data.aws.resource.instanceDetails.instanceId",
            "data.aws.resource.resourceType",
            "data.gcp.protoPayload.resourceName",
            "data.azure.resourceId",
        ],
    ),
    (
        "Account",
        &[
            "data.aws.accountId",
            "data.aws.recipientAccountId",
            "data.gcp.resource.labels.project_id",
        ],
    ),
];

const OSQUERY: Table = &[
    ("Query", &["data.osquery.name", "data.name"]),
    ("Action", &["data.osquery.action", "data.action"]),
    ("Columns", &[]),
];

const DOCKER: Table = &[
    (
        "Docker action",
        &["data.docker.Action", "data.docker.status"],
    ),
    ("Container", &["data.docker.Actor.Attributes.name"]),
    (
        "Image",
        &["data.docker.Actor.Attributes.image", "data.docker.from"],
    ),
    ("Object", &["data.docker.Type"]),
];

const PACKAGE: Table = &[
    (
        "Package",
        &["data.package", "data.dpkg_package", "data.program_name"],
    ),
    ("Version", &["data.version"]),
    ("Change", &["data.dpkg_status", "data.status"]),
];

/// An alert of no known family: the fields most decoders share.
const OTHER: Table = &[
    (
        "User",
        &["data.srcuser", "data.dstuser", "data.user", "user.name"],
    ),
    ("Source port", &["data.srcport", "data.src_port"]),
    ("Destination port", &["data.dstport", "data.dst_port"]),
    ("URL", &["data.url"]),
    ("Protocol", &["data.protocol"]),
    ("Action", &["data.action"]),
    ("Status", &["data.status"]),
];

fn table(family: Family) -> Table {
    match family {
        Family::Authentication => AUTHENTICATION,
        Family::Windows => WINDOWS,
        Family::Sysmon => SYSMON,
        Family::Fim => FIM,
        Family::Malware => MALWARE,
        Family::Vulnerability => VULNERABILITY,
        Family::Sca => SCA,
        Family::Rootcheck => ROOTCHECK,
        Family::Web => WEB,
        Family::Ids => IDS,
        Family::Firewall => FIREWALL,
        Family::Cloud => CLOUD,
        Family::Osquery => OSQUERY,
        Family::Docker => DOCKER,
        Family::Package => PACKAGE,
        Family::Other => OTHER,
    }
}

/// The labels of a family's facts, in their order.
pub fn labels(family: Family) -> Vec<&'static str> {
    table(family).iter().map(|(label, _)| *label).collect()
}

/// Which family an alert belongs to: from its rule groups, its decoder and the shape of its data.
pub fn family(alert: &Alert) -> Family {
    let groups: Vec<String> = alert
        .groups()
        .iter()
        .map(|g| g.to_ascii_lowercase())
        .collect();
    let group = |names: &[&str]| groups.iter().any(|g| names.contains(&g.as_str()));
    let has = |path: &str| !alert.lookup(path).is_empty();
    let decoder = alert
        .text("decoder.name")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let provider = alert
        .text("data.win.system.providerName")
        .unwrap_or_default()
        .to_ascii_lowercase();
    if group(&[
        "syscheck",
        "syscheck_file",
        "syscheck_entry_modified",
        "syscheck_entry_added",
        "syscheck_entry_deleted",
    ]) || has("syscheck")
    {
        Family::Fim
    } else if group(&["virustotal", "malware", "yara"]) || has("data.virustotal") {
        Family::Malware
    } else if group(&["vulnerability-detector"])
        || has("data.vulnerability")
        || has("vulnerability.id")
    {
        Family::Vulnerability
    } else if group(&["sca"]) || has("data.sca") {
        Family::Sca
    } else if group(&["rootcheck"]) {
        Family::Rootcheck
    } else if group(&["osquery"]) || has("data.osquery") {
        Family::Osquery
    } else if group(&["docker"]) || has("data.docker") {
        Family::Docker
    } else if group(&[
        "amazon",
        "aws",
        "office365",
        "gcp",
        "azure",
        "ms-graph",
        "github",
        "cloudtrail",
        "guardduty",
    ]) || [
        "data.aws",
        "data.office365",
        "data.gcp",
        "data.azure",
        "data.ms-graph",
        "data.github",
    ]
    .iter()
    .any(|p| has(p))
    {
        Family::Cloud
    } else if group(&["sysmon"]) || provider.contains("sysmon") {
        Family::Sysmon
    } else if has("data.win") {
        Family::Windows
    } else if group(&["ids", "suricata", "snort"]) || has("data.alert.signature") {
        Family::Ids
    } else if group(&[
        "firewall",
        "pfsense",
        "fortigate",
        "cisco_asa",
        "netscreen",
        "firewall_drop",
        "firewall_block",
    ]) || ["pfsense", "fortigate", "cisco-asa", "netscreen", "iptables"]
        .iter()
        .any(|d| decoder.contains(d))
    {
        Family::Firewall
    } else if group(&["web", "accesslog", "web_scan", "attack"]) && has("data.url") {
        Family::Web
    } else if groups.iter().any(|g| {
        g.starts_with("authentication") || g == "invalid_login" || g == "sshd" || g == "pam"
    }) || alert
        .lookup("event.category")
        .iter()
        .any(|c| c.as_str() == Some("authentication"))
    {
        Family::Authentication
    } else if group(&["dpkg", "yum", "rpm", "package"]) {
        Family::Package
    } else if group(&["web", "accesslog"]) {
        Family::Web
    } else {
        Family::Other
    }
}

/// The family's facts, read from the alert; a fact the alert lacks is left out.
pub fn extract(alert: &Alert) -> Facts {
    let family = family(alert);
    let mut items = Vec::new();
    for (label, paths) in table(family) {
        let value = match *label {
            "Detections" => detections(alert),
            "Columns" => {
                columns(alert, "data.osquery.columns").or_else(|| columns(alert, "data.columns"))
            }
            "Method" if family == Family::Authentication => auth_method(alert),
            "User agent" => paths
                .iter()
                .find_map(|p| value_at(alert, p))
                .or_else(|| user_agent_in_log(alert)),
            _ => paths.iter().find_map(|p| value_at(alert, p)),
        };
        if let Some(value) = value {
            items.push(Fact { label, value });
        }
    }
    Facts {
        family,
        items,
        count: count(alert),
    }
}

/// The first usable value at `path`: text, a number, or a list of them joined; `-`, empty and
/// `(null)` are no value.
fn value_at(alert: &Alert, path: &str) -> Option<String> {
    let values: Vec<String> = alert
        .lookup(path)
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.trim().to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        })
        .filter(|s| !s.is_empty() && s != "-" && s != "(null)")
        .collect();
    if values.is_empty() {
        return None;
    }
    Some(fold(&values.join(", ")))
}

/// Folds whitespace (a value never breaks a line) and caps the length.
fn fold(text: &str) -> String {
    fold_line(text, MAX_VALUE_CHARS)
}

/// VirusTotal's verdict: `66 of 72 engines`.
fn detections(alert: &Alert) -> Option<String> {
    let positives = value_at(alert, "data.virustotal.positives")?;
    Some(match value_at(alert, "data.virustotal.total") {
        Some(total) => format!("{positives} of {total} engines"),
        None => format!("{positives} engines"),
    })
}

/// An object's keys and values on one line: `pid=42, name=nc, path=/usr/bin/nc` (at most 8).
fn columns(alert: &Alert, path: &str) -> Option<String> {
    let Some(Value::Object(map)) = alert.lookup(path).into_iter().next() else {
        return None;
    };
    let pairs: Vec<String> = map
        .iter()
        .filter_map(|(k, v)| {
            let v = match v {
                Value::String(s) if !s.trim().is_empty() => s.trim().to_string(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            Some(format!("{k}={v}"))
        })
        .take(8)
        .collect();
    (!pairs.is_empty()).then(|| fold(&pairs.join(", ")))
}

/// How a login was tried, as sshd and its kin log it: `Failed password for ...`, `Accepted
/// publickey for ...`, `SASL LOGIN authentication failed`.
fn auth_method(alert: &Alert) -> Option<String> {
    let log = alert.full_log()?;
    let words: Vec<&str> = log.split_whitespace().collect();
    let known = [
        "password",
        "publickey",
        "keyboard-interactive/pam",
        "keyboard-interactive",
        "hostbased",
        "none",
    ];
    let method = words.windows(2).find_map(|w| {
        (matches!(w[0], "Failed" | "Accepted") && known.contains(&w[1])).then(|| w[1].to_string())
    });
    method.or_else(|| {
        let at = log.find("SASL ")?;
        let mechanism = log[at + 5..].split_whitespace().next()?;
        mechanism
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
            .then(|| format!("SASL {mechanism}"))
    })
}

/// The user agent of a combined-format access log line: its third quoted string (after the
/// request and the referrer).
fn user_agent_in_log(alert: &Alert) -> Option<String> {
    let log = alert.full_log()?;
    // The quoted fields, where `\"` inside one is part of it.
    let mut quoted: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    let mut escaped = false;
    for c in log.chars() {
        match (&mut current, c) {
            (Some(field), '"') if !escaped => {
                quoted.push(std::mem::take(field));
                current = None;
            }
            (Some(field), c) => field.push(c),
            (None, '"') if !escaped => current = Some(String::new()),
            (None, _) => {}
        }
        escaped = c == '\\' && !escaped;
    }
    let first = quoted.first()?;
    let is_request = [
        "GET ", "POST ", "HEAD ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ",
    ]
    .iter()
    .any(|m| first.starts_with(m));
    quoted
        .get(2)
        .filter(|ua| is_request && !ua.is_empty() && *ua != "-")
        .map(|ua| fold(ua))
}

/// Whether `alert` is a failed login: the question "did a later one succeed?" is asked of it.
pub fn is_login_failure(alert: &Alert) -> bool {
    let groups = alert.groups();
    groups.iter().any(|g| {
        matches!(
            g.as_str(),
            "authentication_failed" | "authentication_failures" | "invalid_login"
        )
    }) || matches!(
        alert.text("data.win.system.eventID").as_deref(),
        Some("4625" | "4771" | "4776")
    )
}

/// Whether an earlier (or later) alert was a successful login: rule group
/// `authentication_success`, a Windows 4624 logon, an `Accepted` line that sshd's decoder read
/// (never text that merely quotes one, such as a URL).
pub fn is_login_success(alert: &Alert) -> bool {
    let sshd = alert.text("predecoder.program_name").as_deref() == Some("sshd")
        || alert.text("decoder.parent").as_deref() == Some("sshd");
    alert.groups().iter().any(|g| g == "authentication_success")
        || alert.text("data.win.system.eventID").as_deref() == Some("4624")
        || (sshd && alert.full_log().is_some_and(|l| l.contains("]: Accepted ")))
}

/// `once`, `twice`, `5 times`: a count is never "1 times".
pub fn times(n: u64) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        n => format!("{n} times"),
    }
}

/// How many events the alert stands for: a frequency rule's count (with the earlier events
/// quoted in `previous_output`) and timeframe; else how often the rule has fired.
fn count(alert: &Alert) -> Option<String> {
    let number = |path: &str| {
        alert.lookup(path).into_iter().find_map(|v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        })
    };
    let previous = alert
        .text("previous_output")
        .map(|p| p.lines().filter(|l| !l.trim().is_empty()).count() as u64);
    let events = match (number("rule.frequency"), previous) {
        (Some(f), Some(p)) => Some(f.max(p + 1)),
        (Some(f), None) => Some(f),
        (None, Some(p)) => Some(p + 1),
        (None, None) => None,
    };
    if let Some(n) = events.filter(|n| *n > 1) {
        return Some(match number("rule.timeframe") {
            Some(t) => format!("{n} events within {t} s"),
            None => format!("{n} events"),
        });
    }
    number("rule.firedtimes")
        .filter(|n| *n > 1)
        .map(|n| format!("this rule has fired {} on this agent", times(n)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts(v: Value) -> Facts {
        extract(&Alert::new(v))
    }

    #[test]
    fn families_are_told_apart_by_groups_decoder_and_data() {
        for (v, want) in [
            (
                json!({"rule": {"groups": ["ossec", "syscheck", "syscheck_entry_modified"]}}),
                Family::Fim,
            ),
            (
                json!({"rule": {"groups": ["virustotal"]}, "data": {"virustotal": {"positives": "3"}}}),
                Family::Malware,
            ),
            (
                json!({"rule": {"groups": ["vulnerability-detector"]}}),
                Family::Vulnerability,
            ),
            (json!({"rule": {"groups": ["sca"]}}), Family::Sca),
            (
                json!({"rule": {"groups": ["ossec", "rootcheck"]}}),
                Family::Rootcheck,
            ),
            (json!({"rule": {"groups": ["osquery"]}}), Family::Osquery),
            (
                json!({"data": {"docker": {"Action": "start"}}}),
                Family::Docker,
            ),
            (
                json!({"rule": {"groups": ["amazon", "aws_guardduty"]}, "data": {"aws": {}}}),
                Family::Cloud,
            ),
            (
                json!({"data": {"office365": {"Operation": "UserLoggedIn"}}}),
                Family::Cloud,
            ),
            (
                json!({"rule": {"groups": ["sysmon", "sysmon_event1"]}, "data": {"win": {}}}),
                Family::Sysmon,
            ),
            (
                json!({"rule": {"groups": ["windows", "authentication_failed"]}, "data": {"win": {"system": {}}}}),
                Family::Windows,
            ),
            (
                json!({"rule": {"groups": ["ids", "suricata"]}}),
                Family::Ids,
            ),
            (
                json!({"decoder": {"name": "pf"}, "rule": {"groups": ["pfsense", "firewall_drop"]}}),
                Family::Firewall,
            ),
            (
                json!({"decoder": {"name": "fortigate-firewall-v5"}}),
                Family::Firewall,
            ),
            (
                json!({"rule": {"groups": ["web", "accesslog", "attack"]}, "data": {"url": "/x"}}),
                Family::Web,
            ),
            (
                json!({"rule": {"groups": ["syslog", "sshd", "authentication_failed"]}}),
                Family::Authentication,
            ),
            (
                json!({"rule": {"groups": ["syslog", "dpkg", "config_changed"]}}),
                Family::Package,
            ),
            (json!({"rule": {"groups": ["syslog"]}}), Family::Other),
        ] {
            assert_eq!(family(&Alert::new(v.clone())), want, "{v}");
        }
    }

    #[test]
    fn each_fact_comes_from_the_first_path_that_has_one() {
        let f = facts(json!({
            "rule": {"groups": ["windows", "windows_security", "authentication_failed"]},
            "data": {"win": {
                "system": {"eventID": "4625", "channel": "Security"},
                "eventdata": {"targetUserName": "administrator", "subjectUserName": "-",
                    "logonType": "3", "failureReason": "%%2313", "workstationName": "-"}}}}));
        assert_eq!(f.family, Family::Windows);
        assert_eq!(f.get("Event id"), Some("4625"));
        assert_eq!(f.get("Account"), Some("administrator"));
        assert_eq!(f.get("Logon type"), Some("3"));
        assert_eq!(f.get("Workstation"), None, "`-` is no value");
        let f = facts(json!({"rule": {"groups": ["windows"]}, "data": {"win": {
            "system": {"eventID": "7045"},
            "eventdata": {"serviceName": "PSEXESVC", "imagePath": "%SystemRoot%\\PSEXESVC.exe",
                "accountName": "LocalSystem"}}}}));
        assert_eq!(f.get("Service name"), Some("PSEXESVC"));
        assert_eq!(f.get("Service path"), Some("%SystemRoot%\\PSEXESVC.exe"));
    }

    #[test]
    fn virustotal_fim_vulnerability_and_osquery_facts() {
        let f = facts(
            json!({"rule": {"groups": ["virustotal"]}, "data": {"virustotal": {
            "positives": "66", "total": "72", "permalink": "https://www.virustotal.com/x",
            "source": {"file": "/root/eicar", "md5": "44d88612fea8a8f36de82e1278abb02f"}}}}),
        );
        assert_eq!(f.get("Detections"), Some("66 of 72 engines"));
        assert_eq!(f.get("File"), Some("/root/eicar"));
        assert_eq!(f.get("MD5"), Some("44d88612fea8a8f36de82e1278abb02f"));
        let f = facts(json!({"rule": {"groups": ["syscheck"]}, "syscheck": {
            "path": "/etc/passwd", "event": "modified", "changed_attributes": ["size", "md5"],
            "audit": {"user": {"name": "root"}, "process": {"name": "/usr/bin/vi"}}}}));
        assert_eq!(f.get("Changed attributes"), Some("size, md5"));
        assert_eq!(f.get("Changed by"), Some("root"));
        assert_eq!(f.get("Process"), Some("/usr/bin/vi"));
        let f = facts(
            json!({"rule": {"groups": ["vulnerability-detector"]}, "data": {"vulnerability": {
            "cve": "CVE-2021-3156", "severity": "High",
            "package": {"name": "sudo", "version": "1.8.31", "condition": "Package less than 1.9.5p2"},
            "cvss": {"cvss3": {"base_score": "7.8"}}}}}),
        );
        assert_eq!(f.get("Package"), Some("sudo"));
        assert_eq!(f.get("CVSS"), Some("7.8"));
        assert_eq!(f.get("Affected"), Some("Package less than 1.9.5p2"));
        let f = facts(
            json!({"rule": {"groups": ["osquery"]}, "data": {"osquery": {
            "name": "pack_it_shell", "columns": {"pid": "42", "name": "nc", "empty": ""}}}}),
        );
        assert_eq!(f.get("Columns"), Some("name=nc, pid=42"));
    }

    #[test]
    fn counts_are_in_good_english() {
        assert_eq!(times(1), "once");
        assert_eq!(times(2), "twice");
        assert_eq!(times(7), "7 times");
        let c = |v: Value| count(&Alert::new(v));
        assert_eq!(
            c(json!({"rule": {"frequency": 8, "timeframe": 120, "firedtimes": 1}})).as_deref(),
            Some("8 events within 120 s")
        );
        // Seven earlier lines plus this one.
        assert_eq!(
            c(json!({"rule": {"firedtimes": 1}, "previous_output": "a\nb\nc\nd\ne\nf\ng"}))
                .as_deref(),
            Some("8 events")
        );
        assert_eq!(
            c(json!({"rule": {"firedtimes": "3"}})).as_deref(),
            Some("this rule has fired 3 times on this agent")
        );
        assert_eq!(
            c(json!({"rule": {"firedtimes": 1}})),
            None,
            "never \"1 times\""
        );
    }

    #[test]
    fn long_values_are_folded_and_capped() {
        let long = format!("powershell -enc {}\nsecond line", "A".repeat(400));
        let f = facts(json!({"rule": {"groups": ["sysmon"]}, "data": {"win": {
            "eventdata": {"commandLine": long}}}}));
        let v = f.get("Command line").unwrap();
        assert!(!v.contains('\n'));
        assert_eq!(v.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(v.ends_with('…'));
    }
}
