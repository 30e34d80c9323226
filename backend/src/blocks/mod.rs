//! Credentials blocks (DESIGN §7): code-defined block types with a JSON schema, blocks stored with
//! their secret fields AES-256-GCM encrypted, the engine's [`BlockSource`](crate::orchestrator::BlockSource)
//! that decrypts them for flows, and the connection check.

mod channels;
mod check;
mod store;
mod types;

pub use channels::{SMTP, SMTP_SECURITY, WEBHOOK, WEBHOOK_FORMATS};
pub use check::{credentials, scrub, test_connection};
pub use store::{view, BlockStore, UnsealError};
pub use types::{
    all as block_types, check_base_url, find as block_type, BlockName, BlockType, DHIS2_CREDENTIALS,
};
