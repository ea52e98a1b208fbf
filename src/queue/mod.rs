//! The queue: the durable spool, the detached worker, and the slot locks that bound them.

pub mod spool;
pub mod worker;
