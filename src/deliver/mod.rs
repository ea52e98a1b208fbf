//! Delivery: the push, the mail, the verdict back into Wazuh, and the outbox for what failed.

pub mod email;
pub mod feedback;
pub mod ntfy;
pub mod outbox;
