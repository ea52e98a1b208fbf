//! Every path under `general.state_dir`, in one place: the spool, the outbox, the slot locks, the
//! threat-intel cache, the cooldown windows, the host-wide limits and the saved reports.

use std::path::{Path, PathBuf};

/// The state directory and the folders in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateDir(PathBuf);

impl StateDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateDir(root.into())
    }

    pub fn root(&self) -> &Path {
        &self.0
    }

    /// Jobs handed from intake to the worker.
    pub fn spool(&self) -> PathBuf {
        self.0.join("spool")
    }

    /// Pushes and mails waiting for a retry.
    pub fn outbox(&self) -> PathBuf {
        self.0.join("outbox")
    }

    /// The slot locks that bound workers and LLM calls on the host.
    pub fn slots(&self) -> PathBuf {
        self.0.join("slots")
    }

    /// Threat-intel answers, DNSBL listings, source pauses and the Tor list.
    pub fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }

    /// The per-address cooldown windows.
    pub fn cooldown(&self) -> PathBuf {
        self.0.join("cooldown")
    }

    /// The campaigns: alerts of one kind against one target from many addresses.
    pub fn campaigns(&self) -> PathBuf {
        self.0.join("campaigns")
    }

    /// The host-wide ceilings and what they held back.
    pub fn limits(&self) -> PathBuf {
        self.0.join("limits")
    }

    /// The full reports, kept for the admin.
    pub fn reports(&self) -> PathBuf {
        self.0.join("reports")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_folder_is_under_the_root() {
        let s = StateDir::new("/var/ossec/var/ai-analyzer");
        assert_eq!(s.root(), Path::new("/var/ossec/var/ai-analyzer"));
        for (dir, name) in [
            (s.spool(), "spool"),
            (s.outbox(), "outbox"),
            (s.slots(), "slots"),
            (s.cache(), "cache"),
            (s.cooldown(), "cooldown"),
            (s.reports(), "reports"),
            (s.limits(), "limits"),
            (s.campaigns(), "campaigns"),
        ] {
            assert_eq!(dir, Path::new("/var/ossec/var/ai-analyzer").join(name));
        }
    }
}
