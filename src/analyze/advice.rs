//! What to do about one alert, most urgent first: first about the address (block it, ask why our
//! host talked to it, find the internal machine), then what fits the alert's family (a failed
//! login, a new Windows service, a changed file, a vulnerable package). Advice is picked by the
//! family and the facts, never by a rule group alone: no SSH advice on a Windows logon.

use crate::intake::alert::fold_line;
use crate::intake::facts::{Facts, Family};
use crate::investigate::outcome::Outcome;
use crate::investigate::risk::Verdict;
use crate::investigate::{Direction, Endpoint, Evidence};

/// The steps, most urgent first; never empty.
pub fn actions(evidence: &Evidence, facts: &Facts) -> Vec<String> {
    let host = fold_line(&evidence.agent.name, 60);
    let mut steps = Vec::new();
    if let Some(Outcome::LoginSucceeded { user, .. }) = &evidence.outcome {
        steps.push(format!(
            "A login succeeded after the failures: treat {host} as compromised{}: end its \
             sessions, change the password, and check what the session did.",
            user.as_ref()
                .map(|u| format!(" through the account {}", fold_line(u, 60)))
                .unwrap_or_default()
        ));
    }
    steps.extend(about_the_address(evidence, &host));
    steps.extend(for_the_family(facts, evidence, &host));
    steps.push("Review related events in the Wazuh dashboard.".into());
    steps
}

/// The first step: what the lock screen shows.
pub fn top_action(evidence: &Evidence, facts: &Facts) -> String {
    actions(evidence, facts)
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn about_the_address(evidence: &Evidence, host: &str) -> Vec<String> {
    let Some(s) = &evidence.source else {
        return Vec::new();
    };
    let risk = &evidence.intel.risk;
    let malicious = risk.verdict == Verdict::Malicious;
    let mut steps = Vec::new();
    match evidence.direction {
        Direction::Outbound => {
            let ours = evidence
                .destination
                .as_ref()
                .map(|d| d.ip.to_string())
                .unwrap_or_else(|| host.to_string());
            if malicious {
                steps.push(format!(
                    "Block outbound traffic to {} now (risk {}) and find the process on {ours} \
                     that opened the connection.",
                    s.ip,
                    risk.summary()
                ));
            } else {
                steps.push(format!(
                    "Find out why {ours} connected to {}: the process, the user, whether it is \
                     expected; block {} at the egress firewall if it is not.",
                    s.ip, s.ip
                ));
            }
        }
        _ if s.scope.is_global() => {
            steps.push(if malicious {
                format!(
                    "Block {} at the firewall now: its risk score is {}.",
                    s.ip,
                    risk.summary()
                )
            } else {
                format!(
                    "Block {} at the firewall if it has no business reaching {host}.",
                    s.ip
                )
            });
            let abuse = evidence
                .intel
                .sources
                .iter()
                .find_map(|r| r.finding.data()?.abuse_contact().map(String::from));
            if let Some(email) = abuse {
                steps.push(format!(
                    "Report the abuse to the network's abuse contact, {}.",
                    fold_line(&email, 80)
                ));
            }
        }
        _ if s.ip.is_loopback() => steps.push(format!(
            "The event came from {host} itself ({}): check the local sessions and processes \
             on {host}.",
            s.ip
        )),
        _ => steps.push(internal_machine(s)),
    }
    steps
}

fn internal_machine(s: &Endpoint) -> String {
    format!(
        "Find which internal machine holds {} ({}) and check it for compromise.",
        s.ip,
        s.zone.as_deref().unwrap_or(s.scope.describe())
    )
}

fn for_the_family(facts: &Facts, evidence: &Evidence, host: &str) -> Vec<String> {
    let fact = |label: &str| facts.get(label).map(|v| fold_line(v, 120));
    let from = evidence
        .source
        .as_ref()
        .map(|s| format!(" from {}", s.ip))
        .unwrap_or_default();
    let mut steps = Vec::new();
    match facts.family {
        Family::Authentication => {
            let service = fact("Service").unwrap_or_default().to_ascii_lowercase();
            steps.push(format!(
                "Check the authentication log on {host} for a successful login{from} after these \
                 failures."
            ));
            if let Some(user) = fact("User") {
                steps.push(format!(
                    "Check whether the account {user} should accept logins from there; reset its \
                     password if it may have been guessed."
                ));
            }
            if service.contains("sshd") {
                steps.push(
                    "Turn SSH password login off where keys can be used \
                     (PasswordAuthentication no)."
                        .into(),
                );
            } else if ["postfix", "dovecot", "sasl", "exim"]
                .iter()
                .any(|m| service.contains(m))
            {
                steps.push(
                    "Rate-limit SMTP authentication on the mail server (e.g. fail2ban on the \
                     SASL log)."
                        .into(),
                );
            }
        }
        Family::Windows => steps.extend(windows(facts, host, &from)),
        Family::Sysmon => {
            let image = fact("Process image").unwrap_or_else(|| "the process".into());
            match (fact("Command line"), fact("Destination")) {
                (_, Some(dest)) => steps.push(format!(
                    "Check why {image} on {host} connected to {dest}{}.",
                    fact("Destination port")
                        .map(|p| format!(" port {p}"))
                        .unwrap_or_default()
                )),
                (Some(cmd), None) => steps.push(format!(
                    "Check whether {image} running `{}` on {host}{} is expected; isolate the host \
                     if it is not.",
                    cmd.replace('`', "'"),
                    fact("Parent")
                        .map(|p| format!(" (started by {p})"))
                        .unwrap_or_default()
                )),
                (None, None) => steps.push(format!("Check {image} on {host}.")),
            }
        }
        Family::Fim => {
            let path = fact("Path").unwrap_or_else(|| "the file".into());
            steps.push(format!(
                "Compare the change to {path} on {host} with your change record{}.",
                match (
                    fact("SHA256 after").or(fact("MD5 after")),
                    fact("MD5 before")
                ) {
                    (Some(after), _) => format!(" (new hash {after})"),
                    _ => String::new(),
                }
            ));
            let user = match (fact("Changed by"), fact("Logged in as")) {
                (Some(user), Some(login)) if login != user => {
                    Some(format!("{user} (logged in as {login})"))
                }
                (user, login) => user.or(login),
            };
            match (user, fact("Process")) {
                (Some(user), Some(process)) => steps.push(format!(
                    "It was changed by {user} through {process}: confirm with that person."
                )),
                (Some(user), None) => steps.push(format!(
                    "It was changed by {user}: confirm with that person."
                )),
                _ => steps.push(format!(
                    "Turn on who-data for {path} to see who changes it (syscheck whodata=\"yes\")."
                )),
            }
        }
        Family::Malware => {
            let file = fact("File").unwrap_or_else(|| "the file".into());
            let flagged = fact("Detections").is_none_or(|d| !d.starts_with("0 "));
            if flagged {
                steps.push(format!(
                    "Isolate {host} and quarantine {file} until it is cleared."
                ));
                if let Some(hash) = fact("SHA1").or(fact("MD5")) {
                    steps.push(format!(
                        "Look for the same file (hash {hash}) on your other hosts."
                    ));
                }
            } else {
                steps.push(format!(
                    "No engine flagged {file}: nothing to do unless other signs point to it."
                ));
            }
        }
        Family::Vulnerability => {
            let package = fact("Package").unwrap_or_else(|| "the package".into());
            steps.push(format!(
                "Update {package}{} on {host}{}.",
                fact("Version")
                    .map(|v| format!(" from {v}"))
                    .unwrap_or_default(),
                fact("Affected")
                    .map(|c| format!(" to a fixed version (affected: {c})"))
                    .unwrap_or_else(|| " to a fixed version".into())
            ));
            if let Some(cve) = fact("CVE") {
                steps.push(format!(
                    "Until then, check whether {package} is reachable from outside ({cve})."
                ));
            }
        }
        Family::Sca => match fact("Remediation") {
            Some(fix) => steps.push(format!("Apply the remediation on {host}: {fix}")),
            None => steps.push(format!(
                "Fix the failed check{} on {host}.",
                fact("Check")
                    .map(|c| format!(" \"{c}\""))
                    .unwrap_or_default()
            )),
        },
        Family::Rootcheck => steps.push(format!(
            "Check {} on {host} by hand (compare with the package: debsums or rpm -V); treat the \
             host as compromised if it is confirmed.",
            fact("File")
                .or(fact("Finding"))
                .unwrap_or_else(|| "the finding".into())
        )),
        Family::Web => steps.push(format!(
            "Check the web server on {host} for the answer to {}{}: a 200 may mean the request \
             worked.",
            fact("URL").unwrap_or_else(|| "the request".into()),
            fact("Status")
                .map(|s| format!(" (logged status {s})"))
                .unwrap_or_default()
        )),
        Family::Ids => steps.push(format!(
            "Look at the traffic behind the signature{} in the IDS and the host's logs.",
            fact("Signature")
                .map(|s| format!(" \"{s}\""))
                .unwrap_or_default()
        )),
        Family::Firewall => {
            let action = fact("Action").unwrap_or_default().to_ascii_lowercase();
            if fact("User").is_some() || fact("Event").is_some_and(|e| e.contains("login")) {
                steps.push(format!(
                    "Allow administrative logins to {} from trusted addresses only.",
                    fact("Device").unwrap_or_else(|| host.to_string())
                ));
            } else if ["deny", "drop", "block", "reject"]
                .iter()
                .any(|a| action.contains(a))
            {
                steps.push(
                    "The firewall stopped this traffic: act only if it repeats or also shows up \
                     as allowed elsewhere."
                        .into(),
                );
            } else {
                steps.push(
                    "Check that the firewall rule that allowed this traffic is meant.".into(),
                );
            }
        }
        Family::Cloud => steps.push(format!(
            "Confirm that {} made {}{}; if not, disable those credentials and review the \
             account's audit log.",
            fact("Principal").unwrap_or_else(|| "the account".into()),
            fact("API call")
                .or(fact("Finding"))
                .unwrap_or_else(|| "this call".into()),
            fact("Region")
                .map(|r| format!(" in {r}"))
                .unwrap_or_default()
        )),
        Family::Osquery => steps.push(format!(
            "Review the result of the osquery query{} on {host}.",
            fact("Query").map(|q| format!(" {q}")).unwrap_or_default()
        )),
        Family::Docker => steps.push(format!(
            "Confirm that the container {}{} was meant to {}.",
            fact("Container").unwrap_or_else(|| "event".into()),
            fact("Image")
                .map(|i| format!(" (image {i})"))
                .unwrap_or_default(),
            fact("Docker action").unwrap_or_else(|| "change".into())
        )),
        Family::Package => steps.push(format!(
            "Confirm that the software change{} on {host} was planned.",
            fact("Package")
                .map(|p| format!(" to {p}"))
                .unwrap_or_default()
        )),
        Family::Other => {}
    }
    steps
}

fn windows(facts: &Facts, host: &str, from: &str) -> Vec<String> {
    let fact = |label: &str| facts.get(label).map(|v| fold_line(v, 120));
    let account = fact("Account").unwrap_or_else(|| "the account".into());
    match fact("Event id").as_deref() {
        Some("4625" | "4771" | "4776") => vec![format!(
            "Check the Security log on {host} for a successful logon (4624) of {account}{from} \
             after these failures."
        )],
        Some("4740") => vec![format!(
            "Find what locked {account} out (the caller computer in the event) and look for \
             password spraying before unlocking it."
        )],
        Some("4624") => vec![format!(
            "Confirm that the logon of {account}{from} on {host} was expected."
        )],
        Some("7045" | "4697") => vec![format!(
            "Confirm that the service {}{} is expected on {host}; if not, stop and delete it, and \
             find how it was installed (PsExec, remote administration).",
            fact("Service name").unwrap_or_else(|| "installed".into()),
            fact("Service path")
                .map(|p| format!(" ({p})"))
                .unwrap_or_default()
        )],
        _ => match fact("Process image") {
            Some(image) => vec![format!("Check whether {image} on {host} is expected.")],
            None => vec![format!(
                "Check the Windows event log on {host} around this event."
            )],
        },
    }
}
