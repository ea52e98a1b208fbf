//! Benchmark of the alert-log history; the numbers go in docs/investigation.md ("History").
//!
//! Generates a 1 GiB `alerts.json` of realistic 1-3 KB alert lines (sshd, web, Windows, pfSense,
//! Suricata; templated, so it takes seconds) in a temporary directory, then times the release
//! binary's `ai-analyzer enrich IP --json` against `grep -F IP alerts.json | tail -n 30` on the
//! same file in the same run, for two addresses:
//! - "recent": 60 events, all in the last 5% of the file (the search needs the last 30);
//! - "absent": an address that appears nowhere (a full scan).
//!
//! Each is measured cold-ish (the file's pages dropped from the page cache with
//! `posix_fadvise(DONTNEED)` first: no root needed, but the disk's own cache may still help) and
//! warm (median of 5). Peak RSS comes from `wait4`'s rusage (the largest of the pipeline's
//! processes for grep). Run it with `bench/history` (a release build); `SIZE_MIB=256` for a
//! smaller file. The file is deleted at the end.

use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const RECENT_IP: &str = "203.0.113.47";
const ABSENT_IP: &str = "198.51.100.250";
const RECENT_EVENTS: usize = 60;
const WARM_RUNS: usize = 5;

/// xorshift64*: deterministic and fast; the file is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    /// A public-looking address that is neither of the two searched for.
    fn ip(&mut self) -> String {
        loop {
            let ip = format!(
                "{}.{}.{}.{}",
                11 + self.below(212),
                self.below(256),
                self.below(256),
                1 + self.below(254)
            );
            if ip != RECENT_IP && ip != ABSENT_IP {
                return ip;
            }
        }
    }
}

const USERS: &[&str] = &[
    "root", "admin", "oracle", "postgres", "ubuntu", "test", "user", "git", "deploy", "pi",
];
const AGENTS: &[(&str, &str, &str)] = &[
    ("001", "web-01", "10.0.0.11"),
    ("002", "web-02", "10.0.0.12"),
    ("003", "db-01", "10.0.1.20"),
    ("004", "mail-01", "10.0.2.5"),
    ("007", "WINSERVER2022", "10.0.0.40"),
];

/// One alert line of about 1-3 KB, `timestamp` first as analysisd writes it.
fn alert_line(rng: &mut Rng, ts: &str, id: u64, ip: &str) -> String {
    let (agent_id, agent, agent_ip) = AGENTS[rng.below(AGENTS.len() as u64) as usize];
    let user = rng.pick(USERS);
    let port = 1024 + rng.below(60000);
    let pid = 1000 + rng.below(60000);
    let secs = id % 60;
    match rng.below(6) {
        0 => format!(
            r#"{{"timestamp":"{ts}","rule":{{"level":5,"description":"sshd: Attempt to login using a non-existent user","id":"5710","mitre":{{"id":["T1110.001","T1021.004"],"tactic":["Credential Access","Lateral Movement"],"technique":["Password Guessing","SSH"]}},"firedtimes":{f},"mail":false,"groups":["syslog","sshd","authentication_failed","invalid_login"],"gdpr":["IV_35.7.d","IV_32.2"],"gpg13":["7.1"],"hipaa":["164.312.b"],"nist_800_53":["AU.14","AC.7","AU.6"],"pci_dss":["10.2.4","10.2.5","10.6.1"],"tsc":["CC6.1","CC6.8","CC7.2","CC7.3"]}},"agent":{{"id":"{agent_id}","name":"{agent}","ip":"{agent_ip}"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","full_log":"Nov 27 10:12:{secs:02} {agent} sshd[{pid}]: Invalid user {user} from {ip} port {port}","predecoder":{{"program_name":"sshd","timestamp":"Nov 27 10:12:{secs:02}","hostname":"{agent}"}},"decoder":{{"parent":"sshd","name":"sshd"}},"data":{{"srcip":"{ip}","srcport":"{port}","srcuser":"{user}"}},"location":"/var/log/auth.log"}}"#,
            f = 1 + rng.below(5000)
        ),
        1 => {
            let previous: Vec<String> = (0..7)
                .map(|i| {
                    format!(
                        "Nov 27 10:12:{:02} {agent} sshd[{}]: Failed password for {user} from {ip} port {} ssh2",
                        (secs + 60 - i * 3) % 60,
                        pid - i,
                        port - i
                    )
                })
                .collect();
            format!(
                r#"{{"timestamp":"{ts}","rule":{{"level":10,"description":"sshd: brute force trying to get access to the system. Authentication failed.","id":"5763","mitre":{{"id":["T1110"],"tactic":["Credential Access"],"technique":["Brute Force"]}},"frequency":8,"firedtimes":{f},"mail":false,"groups":["syslog","sshd","authentication_failures"],"gdpr":["IV_35.7.d","IV_32.2"],"hipaa":["164.312.b"],"nist_800_53":["SI.4","AU.14","AC.7"],"pci_dss":["11.4","10.2.4","10.2.5"],"tsc":["CC6.1","CC6.8","CC7.2","CC7.3"]}},"agent":{{"id":"{agent_id}","name":"{agent}","ip":"{agent_ip}"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","previous_output":"{prev}","full_log":"Nov 27 10:12:{secs:02} {agent} sshd[{pid}]: Failed password for {user} from {ip} port {port} ssh2","predecoder":{{"program_name":"sshd","timestamp":"Nov 27 10:12:{secs:02}","hostname":"{agent}"}},"decoder":{{"parent":"sshd","name":"sshd"}},"data":{{"srcip":"{ip}","srcport":"{port}","dstuser":"{user}"}},"location":"/var/log/auth.log"}}"#,
                f = 1 + rng.below(500),
                prev = previous.join("\\n")
            )
        }
        2 => format!(
            r#"{{"timestamp":"{ts}","rule":{{"level":6,"description":"A web attack returned code 200 (success).","id":"31108","firedtimes":{f},"mail":false,"groups":["web","accesslog","attack"],"pci_dss":["6.5","11.4"],"gdpr":["IV_35.7.d"],"nist_800_53":["SA.11","SI.4"],"tsc":["PI1.4","CC6.6","CC7.1","CC8.1","CC7.2","CC7.3"]}},"agent":{{"id":"{agent_id}","name":"{agent}","ip":"{agent_ip}"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","full_log":"{ip} - - [27/Nov/2026:10:12:{secs:02} +0000] \"GET /index.php?page=../../../../etc/passwd&id={pid} HTTP/1.1\" 200 {port} \"-\" \"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36\"","decoder":{{"name":"web-accesslog"}},"data":{{"protocol":"GET","srcip":"{ip}","id":"200","url":"/index.php?page=../../../../etc/passwd&id={pid}"}},"location":"/var/log/nginx/access.log"}}"#,
            f = 1 + rng.below(900)
        ),
        3 => format!(
            r#"{{"timestamp":"{ts}","rule":{{"level":5,"description":"Logon Failure - Unknown user or bad password","id":"60122","mitre":{{"id":["T1531"],"tactic":["Impact"],"technique":["Account Access Removal"]}},"firedtimes":{f},"mail":false,"groups":["windows","windows_security","authentication_failed"],"pci_dss":["10.2.4","10.2.5"],"gpg13":["7.1"],"gdpr":["IV_35.7.d","IV_32.2"],"hipaa":["164.312.b"],"nist_800_53":["AU.14","AC.7"],"tsc":["CC6.1","CC6.8","CC7.2","CC7.3"]}},"agent":{{"id":"007","name":"WINSERVER2022","ip":"10.0.0.40"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","decoder":{{"name":"windows_eventchannel"}},"data":{{"win":{{"system":{{"providerName":"Microsoft-Windows-Security-Auditing","providerGuid":"{{54849625-5478-4994-a5ba-3e3b0328c30d}}","eventID":"4625","version":"0","level":"0","task":"12544","opcode":"0","keywords":"0x8010000000000000","systemTime":"2026-11-27T10:12:{secs:02}.123456Z","eventRecordID":"{pid}{port}","processID":"608","threadID":"2536","channel":"Security","computer":"WINSERVER2022","severityValue":"AUDIT_FAILURE","message":"\"An account failed to log on.\r\n\r\nSubject:\r\n\tSecurity ID:\t\tS-1-0-0\r\n\tAccount Name:\t\t-\r\n\tAccount Domain:\t\t-\r\n\tLogon ID:\t\t0x0\r\n\r\nLogon Type:\t\t\t3\r\n\r\nAccount For Which Logon Failed:\r\n\tSecurity ID:\t\tS-1-0-0\r\n\tAccount Name:\t\t{user}\r\n\tAccount Domain:\t\tCONTOSO\r\n\r\nFailure Information:\r\n\tFailure Reason:\t\tUnknown user name or bad password.\r\n\tStatus:\t\t\t0xC000006D\r\n\tSub Status:\t\t0xC0000064\r\n\r\nProcess Information:\r\n\tCaller Process ID:\t0x0\r\n\tCaller Process Name:\t-\r\n\r\nNetwork Information:\r\n\tWorkstation Name:\tREMOTEWORKSTATION\r\n\tSource Network Address:\t{ip}\r\n\tSource Port:\t\t{port}\r\n\r\nDetailed Authentication Information:\r\n\tLogon Process:\t\tNtLmSsp \r\n\tAuthentication Package:\tNTLM\r\n\tTransited Services:\t-\r\n\tPackage Name (NTLM only):\t-\r\n\tKey Length:\t\t0\r\n\r\nThis event is generated when a logon request fails. It is generated on the computer where access was attempted.\""}},"eventdata":{{"subjectUserSid":"S-1-0-0","subjectUserName":"-","subjectDomainName":"-","subjectLogonId":"0x0","targetUserSid":"S-1-0-0","targetUserName":"{user}","targetDomainName":"CONTOSO","status":"0xc000006d","failureReason":"%%2313","subStatus":"0xc0000064","logonType":"3","logonProcessName":"NtLmSsp","authenticationPackageName":"NTLM","workstationName":"REMOTEWORKSTATION","transmittedServices":"-","lmPackageName":"-","keyLength":"0","processId":"0x0","processName":"-","ipAddress":"{ip}","ipPort":"{port}"}}}}}},"location":"EventChannel"}}"#,
            f = 1 + rng.below(300)
        ),
        4 => format!(
            r#"{{"timestamp":"{ts}","rule":{{"level":5,"description":"pfSense firewall drop event.","id":"87701","firedtimes":{f},"mail":false,"groups":["pfsense","firewall_block"],"pci_dss":["1.4"],"gpg13":["4.12"],"hipaa":["164.312.a.1"],"nist_800_53":["SC.7"],"tsc":["CC6.7","CC6.8"]}},"agent":{{"id":"000","name":"wazuh-manager"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","full_log":"Nov 27 10:12:{secs:02} pfSense filterlog: 5,,,1000102433,em0,match,block,in,4,0x0,,128,24677,0,none,6,tcp,60,{ip},10.0.0.11,{port},22,0,S,{pid},,64240,,mss;sackOK;TS;nop;wscale","predecoder":{{"program_name":"filterlog","timestamp":"Nov 27 10:12:{secs:02}","hostname":"pfSense"}},"decoder":{{"parent":"pf","name":"pf"}},"data":{{"protocol":"tcp","action":"block","srcip":"{ip}","srcport":"{port}","dstip":"10.0.0.11","dstport":"22","id":"1000102433","length":"60"}},"location":"192.168.1.1"}}"#,
            f = 1 + rng.below(90000)
        ),
        _ => format!(
            r#"{{"timestamp":"{ts}","rule":{{"level":6,"description":"Suricata: Alert - ET SCAN Suspicious inbound to PostgreSQL port 5432","id":"86601","firedtimes":{f},"mail":false,"groups":["ids","suricata"]}},"agent":{{"id":"{agent_id}","name":"{agent}","ip":"{agent_ip}"}},"manager":{{"name":"wazuh-manager"}},"id":"{id}.{pid}","decoder":{{"name":"json"}},"data":{{"timestamp":"2026-11-27T10:12:{secs:02}.512345+0000","flow_id":"{pid}{port}{pid}","in_iface":"eth0","event_type":"alert","src_ip":"{ip}","src_port":"{port}","dest_ip":"{agent_ip}","dest_port":"5432","proto":"TCP","community_id":"1:q2nx0I2a8/yYGJ0vD9Bnh5Ws2Ac=","alert":{{"action":"allowed","gid":"1","signature_id":"2010939","rev":"3","signature":"ET SCAN Suspicious inbound to PostgreSQL port 5432","category":"Potentially Bad Traffic","severity":"2","metadata":{{"created_at":["2010_07_30"],"former_category":["HUNTING"],"updated_at":["2024_03_05"]}}}},"flow":{{"pkts_toserver":"1","pkts_toclient":"0","bytes_toserver":"74","bytes_toclient":"0","start":"2026-11-27T10:12:{secs:02}.512345+0000"}}}},"location":"/var/log/suricata/eve.json"}}"#,
            f = 1 + rng.below(4000)
        ),
    }
}

/// Writes `bytes` of alerts spread over the 20 hours before `now`; the last 5% holds
/// [`RECENT_EVENTS`] alerts of [`RECENT_IP`].
fn generate(path: &Path, bytes: u64) -> std::io::Result<(u64, usize)> {
    let now = chrono::Utc::now() - chrono::Duration::minutes(1);
    let span_ms = 20 * 3600 * 1000;
    let start = now - chrono::Duration::milliseconds(span_ms);
    let mut out = std::io::BufWriter::with_capacity(8 << 20, std::fs::File::create(path)?);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut written = 0u64;
    let mut lines = 0usize;
    let recent_from = bytes - bytes / 20;
    // ~2 KB a line: the last 5% has about bytes/20/2000 lines; spread the events over them.
    let every = ((bytes / 20 / 2000) as usize / RECENT_EVENTS).max(1);
    let mut recent = 0usize;
    let mut since_recent = 0usize;
    while written < bytes {
        let t = start + chrono::Duration::milliseconds((span_ms as u64 * written / bytes) as i64);
        let ts = t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
        let ip = if written >= recent_from && recent < RECENT_EVENTS && since_recent >= every {
            since_recent = 0;
            recent += 1;
            RECENT_IP.to_string()
        } else {
            if written >= recent_from {
                since_recent += 1;
            }
            rng.ip()
        };
        let line = alert_line(&mut rng, &ts, 1_764_000_000 + lines as u64, &ip);
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        lines += 1;
    }
    out.flush()?;
    out.get_ref().sync_all()?;
    Ok((written, recent))
}

/// Drops the file's pages from the page cache.
fn evict(path: &Path) {
    if let Ok(f) = std::fs::File::open(path) {
        // SAFETY: a plain syscall on a file descriptor we own.
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
    }
}

/// Runs `cmd`, returning (wall time, peak RSS in KiB, stdout).
#[allow(clippy::zombie_processes)] // reaped by wait4
fn measure(mut cmd: Command) -> (Duration, i64, Vec<u8>) {
    use std::io::Read;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = Vec::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_end(&mut stdout);
    }
    let mut status = 0;
    // SAFETY: wait4 on our own child, valid out-pointers; reaps it (so no Child::wait).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    (start.elapsed(), usage.ru_maxrss, stdout)
}

fn ours(bin: &Path, config: &Path, ip: &str) -> Command {
    let mut c = Command::new(bin);
    c.env_remove("AI_ANALYZER_CONFIG")
        .arg("--config")
        .arg(config)
        .args(["enrich", ip, "--json"]);
    c
}

fn grep(file: &Path, ip: &str) -> Command {
    let mut c = Command::new("sh");
    c.env("LC_ALL", "C")
        .arg("-c")
        .arg("grep -F -- \"$0\" \"$1\" | tail -n 30")
        .arg(ip)
        .arg(file);
    c
}

fn events_of(json: &[u8]) -> i64 {
    let v: serde_json::Value = serde_json::from_slice(json).expect("enrich --json");
    v["history"]["events"].as_i64().unwrap_or(-1)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("ai-analyzer")))
        .filter(|p| p.exists())
        .expect("build the binary first: bench/history does (target/release/ai-analyzer)");
    let size_mib: u64 = std::env::var("SIZE_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1024);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("alerts.json");
    let started = Instant::now();
    let (bytes, recent) = generate(&file, size_mib << 20).expect("generate");
    println!(
        "generated {:.2} GiB alerts.json in {:.1} s; {RECENT_IP} has {recent} events in its last 5%",
        bytes as f64 / f64::from(1 << 30),
        started.elapsed().as_secs_f64()
    );
    let config = dir.path().join("ai-analyzer.toml");
    std::fs::write(
        &config,
        format!(
            r#"[general]
state_dir = "{state}"
log_file = "{log}"
[ntfy]
url = ""
[history]
alerts_file = "{file}"
max_events = 30
lookback_hours = 72
[dnsbl]
enabled = false
[providers.ipinfo]
enabled = false
[providers.rdap]
enabled = false
[providers.abuseipdb]
enabled = false
[providers.virustotal]
enabled = false
[providers.greynoise]
enabled = false
[providers.shodan]
enabled = false
[providers.internetdb]
enabled = false
[providers.tor]
enabled = false
"#,
            state = dir.path().join("state").display(),
            log = dir.path().join("ar.log").display(),
            file = file.display()
        ),
    )
    .expect("config");

    println!(
        "\n| case | run | ai-analyzer enrich | grep -F IP \\| tail -n 30 | speed-up | peak RSS ours / grep |"
    );
    println!("|---|---|---|---|---|---|");
    for (case, ip, want) in [
        (
            "recent (last 30 of 60 events in the last 5%)",
            RECENT_IP,
            30,
        ),
        ("absent (full scan)", ABSENT_IP, 0),
    ] {
        evict(&file);
        let (t_ours, rss_ours, out) = measure(ours(&bin, &config, ip));
        assert_eq!(events_of(&out), want, "{case}: wrong number of events");
        evict(&file);
        let (t_grep, rss_grep, out) = measure(grep(&file, ip));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), want as usize);
        println!(
            "| {case} | cold-ish | {} | {} | {:.1}x | {:.1} / {:.1} MiB |",
            ms(t_ours),
            ms(t_grep),
            t_grep.as_secs_f64() / t_ours.as_secs_f64(),
            rss_ours as f64 / 1024.0,
            rss_grep as f64 / 1024.0
        );
        // Warm: both read the file once first.
        let _ = measure(grep(&file, ip));
        let mut ours_t = Vec::new();
        let mut grep_t = Vec::new();
        let (mut ours_rss, mut grep_rss) = (0, 0);
        for _ in 0..WARM_RUNS {
            let (t, r, out) = measure(ours(&bin, &config, ip));
            assert_eq!(events_of(&out), want);
            ours_t.push(t);
            ours_rss = ours_rss.max(r);
            let (t, r, _) = measure(grep(&file, ip));
            grep_t.push(t);
            grep_rss = grep_rss.max(r);
        }
        let (o, g) = (median(ours_t), median(grep_t));
        println!(
            "| {case} | warm (median of {WARM_RUNS}) | {} | {} | {:.1}x | {:.1} / {:.1} MiB |",
            ms(o),
            ms(g),
            g.as_secs_f64() / o.as_secs_f64(),
            ours_rss as f64 / 1024.0,
            grep_rss as f64 / 1024.0
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("\n{cores} cores; the file is deleted now.");
}
