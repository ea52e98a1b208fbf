//! The gate's state shared by several manager nodes through the Wazuh indexer
//! (`cluster.backend = "indexer"`): the cooldown windows with their digests, and the campaigns.
//!
//! The gate in front of wazuh-execd never waits on the network: each node's intake decides on
//! its own state, as a single node does. The worker reconciles that state with the other nodes'
//! on the indexer, with OpenSearch's concurrency control, and falls back to the node's own
//! decisions whenever the indexer does not answer within [`SHARED_LIMIT`].
//!
//! [`SHARED_LIMIT`]: crate::investigate::cluster::SHARED_LIMIT

pub(crate) mod campaign;
pub(crate) mod cooldown;
