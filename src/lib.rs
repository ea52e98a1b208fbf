//! ai-analyzer: a Wazuh active response that turns one alert into a short, evidence-based
//! incident report, written by a local LLM and pushed to ntfy.
//!
//! The binary is thin; everything lives here so that tests and benchmarks can drive each stage:
//! intake ([`alert`], [`intake`]) -> gate ([`gate`]) -> investigate ([`evidence`], [`net`]) ->
//! analyse ([`prompt`], [`llm`]) -> deliver ([`report`], [`notify`]).

pub mod alert;
pub mod app;
pub mod cli;
pub mod config;
pub mod dedup;
pub mod dnsbl;
pub mod email;
pub mod enrich;
pub mod error;
pub mod evidence;
pub mod feedback;
pub mod fsutil;
pub mod gate;
pub mod guard;
pub mod history;
pub mod install;
pub mod intake;
pub mod llm;
pub mod logging;
pub mod net;
pub mod notify;
pub mod outbox;
pub mod prompt;
pub mod report;
pub mod risk;
pub mod slots;
pub mod spool;
pub mod worker;
