//! ai-analyzer: a Wazuh active response that turns one alert into a short, evidence-based
//! incident report, written by a local LLM and pushed to ntfy.
//!
//! The binary is thin; everything lives here, one folder per stage of the pipeline:
//! [`intake`] (message -> alert) -> [`gate`] (loop guard, cooldown, handshake) -> [`queue`]
//! (spool, worker) -> [`investigate`] (sources, DNSBL, history, risk) -> [`analyze`] (prompt,
//! LLM, guard, fallback report) -> [`deliver`] (ntfy, mail, the Wazuh verdict, outbox).

pub mod analyze;
pub mod cmd;
pub mod config;
pub mod deliver;
pub mod gate;
pub mod intake;
pub mod investigate;
pub mod pipeline;
pub mod queue;
pub mod util;
