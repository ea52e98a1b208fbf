//! The subcommands, one file each.

pub mod cli;
pub mod install;
pub mod run;
