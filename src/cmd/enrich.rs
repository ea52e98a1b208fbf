//! `ai-analyzer enrich IP`: what is known about one address.

use std::net::IpAddr;

use super::{print_stdout, runtime};
use crate::config::Settings;
use crate::intake::alert;
use crate::util::error::{InputError, EXIT_OK};

pub(crate) fn run(settings: &Settings, ip: &str, json: bool) -> anyhow::Result<u8> {
    let ip: IpAddr = alert::parse_ip_text(ip).ok_or_else(|| InputError::NotIp(ip.to_string()))?;
    let evidence = runtime()?.block_on(crate::investigate::investigate_ip(
        ip,
        &settings.investigation(),
    ));
    if json {
        print_stdout(&serde_json::to_string_pretty(&evidence)?)?;
    } else {
        print_stdout(&evidence.table())?;
    }
    Ok(EXIT_OK)
}
