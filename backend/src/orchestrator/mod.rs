//! Orchestration: flows, deployments, runs and their state machine, the queue, the engine (trigger,
//! dispatch, workers, reaper) and the store that owns the run tables.

pub mod blocks;
pub mod context;
pub mod deployments;
pub mod engine;
pub mod flow;
pub mod queue;
pub mod schedules;
pub mod schema;
pub mod state;
pub mod store;
pub mod timing;

pub use blocks::{BlockData, BlockSource, Blocks, NoBlocks};
pub use context::RunContext;
pub use engine::{Engine, EngineSettings, Target, Trigger, TriggerAudit};
pub use flow::{Flow, FlowError, FlowRegistry};
pub use queue::Queue;
