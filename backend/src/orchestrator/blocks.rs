//! How a flow reads a credentials block: through its [`RunContext`](super::RunContext), never the
//! database. The engine holds a [`BlockSource`]; the blocks module provides the real one.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;
use uuid::Uuid;

/// A block as a flow sees it: secret fields decrypted.
#[derive(Clone)]
pub struct BlockData {
    /// Block id.
    pub id: Uuid,
    /// Unique name.
    pub name: String,
    /// Block type slug, e.g. `dhis2-credentials`.
    pub block_type: String,
    /// The fields, secrets included in clear.
    pub data: Value,
    /// The clear values of the secret fields (registered for redaction by the context).
    pub secrets: Vec<String>,
}

impl std::fmt::Debug for BlockData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the data: it holds secrets.
        f.debug_struct("BlockData")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("block_type", &self.block_type)
            .finish_non_exhaustive()
    }
}

/// Loads blocks for flows.
pub trait BlockSource: Send + Sync + 'static {
    /// The block, or `None` when there is no block with this id.
    fn load(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<Option<BlockData>>>;
}

/// A source with no blocks (processes or tests without credentials).
pub struct NoBlocks;

impl BlockSource for NoBlocks {
    fn load(&self, _id: Uuid) -> BoxFuture<'_, anyhow::Result<Option<BlockData>>> {
        Box::pin(async { Ok(None) })
    }
}

/// Shared handle.
pub type Blocks = Arc<dyn BlockSource>;
