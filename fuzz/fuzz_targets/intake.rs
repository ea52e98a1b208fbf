//! Whatever wazuh-execd, integratord or a person sends, intake and the alert accessors must not
//! panic.
#![no_main]

use ai_analyzer::intake::alert;
use ai_analyzer::investigate::scope as net;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(incoming) = alert::parse_input(data) {
        let a = &incoming.alert;
        let _ = (a.rule_level(), a.rule_id(), a.description(), a.groups());
        let _ = (a.agent_name(), a.timestamp(), a.full_log(), a.loop_guard(), a.slug());
        if let Some((ip, _)) = a.source_ip() {
            let _ = net::scope(ip);
        }
        let _ = a.dest_ip();
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = alert::parse_ip_text(text);
    }
});
