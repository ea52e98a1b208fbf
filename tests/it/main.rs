//! The integration tests, one binary: each module drives the built binary (or the library)
//! against local fakes that speak the recorded wire formats, set up in [`common`].

mod common;
mod corpus;

mod cluster;
mod dnsbl;
mod email;
mod enrich;
mod feedback;
mod history;
mod install;
mod intake;
mod investigate;
mod llm;
mod pipeline;
mod sources;
mod worker;
