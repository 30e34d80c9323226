//! Transport of "run this" messages from dispatchers to workers. The database is the source of truth
//! (a run is queued when it is PENDING); the queue only carries the run id. Embedded mode needs no
//! transport at all: workers claim PENDING runs straight from the database and are woken in-process.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use uuid::Uuid;

/// The job a queue carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJob {
    /// The run to execute.
    pub run_id: Uuid,
}

/// The queue of this process.
#[derive(Clone)]
pub enum Queue {
    /// PENDING rows are the queue; this wakes the in-process workers.
    Embedded {
        /// Notified on every push.
        wake: Arc<Notify>,
    },
}

impl Queue {
    /// An embedded queue.
    pub fn embedded() -> Self {
        Queue::Embedded {
            wake: Arc::new(Notify::new()),
        }
    }

    /// `embedded` or `redis`.
    pub fn kind(&self) -> &'static str {
        match self {
            Queue::Embedded { .. } => "embedded",
        }
    }

    /// Delivers a run id to a worker.
    pub async fn push(&self, _run_id: Uuid) -> anyhow::Result<()> {
        match self {
            Queue::Embedded { wake } => {
                wake.notify_one();
                Ok(())
            }
        }
    }

    /// Whether the transport answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
