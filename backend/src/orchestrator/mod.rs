//! Orchestration: flows, deployments, runs and their state machine, the queue, workers, the
//! dispatcher and the reaper.

pub mod blocks;
pub mod context;
pub mod deployments;
pub mod engine;
pub mod flow;
pub mod logs;
pub mod queue;
pub mod retention;
pub mod runs;
pub mod schedules;
pub mod schema;
pub mod state;
pub mod timing;

pub use blocks::{BlockData, BlockSource, Blocks, NoBlocks};
pub use context::RunContext;
pub use engine::{Engine, EngineSettings, Trigger};
pub use flow::{Flow, FlowError, FlowRegistry};
pub use queue::Queue;
