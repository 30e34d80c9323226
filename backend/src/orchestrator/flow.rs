//! Flows are code: a name, a description, a parameter schema and an async body that works through a
//! [`RunContext`]. The registry holds the flows a process can run (production's: `flows::registry`).

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use serde_json::Value;

use super::context::RunContext;
use super::schema::FieldErrors;

/// Why a flow attempt failed.
#[derive(Debug, Clone)]
pub struct FlowError {
    /// Shown as the run's state message (redacted of secrets).
    pub message: String,
    /// Whether another attempt could succeed (a bad parameter never will).
    pub retryable: bool,
}

impl FlowError {
    /// A failure worth retrying.
    pub fn retryable(message: impl Into<String>) -> Self {
        FlowError {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        FlowError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl<E: std::fmt::Display> From<E> for FlowError {
    fn from(err: E) -> Self {
        FlowError::retryable(err.to_string())
    }
}

/// A flow the engine can run.
pub trait Flow: Send + Sync + 'static {
    /// Unique name, e.g. `dhis2-chap-prediction`.
    fn name(&self) -> &'static str;
    /// One paragraph for people.
    fn description(&self) -> &'static str;
    /// JSON Schema of the parameters.
    fn parameter_schema(&self) -> Value;
    /// The one gate for a run's complete parameters (at trigger and when a schedule is saved):
    /// field → message, empty when they are valid. By default the parameter schema; a flow that parses
    /// its parameters into a typed form checks them with that same parse instead, so what is accepted
    /// here is exactly what the run can read.
    fn validate(&self, parameters: &Value) -> FieldErrors {
        super::schema::validate(&self.parameter_schema(), parameters, false)
    }
    /// Parameter defaults of the deployment created for this flow at start.
    fn default_parameters(&self) -> Value {
        Value::Object(Default::default())
    }
    /// Concurrency limit of the default deployment.
    fn default_concurrency_limit(&self) -> Option<u32> {
        Some(1)
    }
    /// The parameters of a run that redoes only what failed in a finished run, from that run's
    /// parameters and summary; `Err` says why there is nothing to redo (or that the flow cannot).
    fn failed_parts(&self, parameters: &Value, summary: Option<&Value>) -> Result<Value, String> {
        let _ = (parameters, summary);
        Err(format!(
            "the flow `{}` cannot retry only the failed part of a run",
            self.name()
        ))
    }
    /// The body of one attempt.
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>>;
}

/// The flows of this process, by name.
#[derive(Clone, Default)]
pub struct FlowRegistry {
    flows: BTreeMap<&'static str, Arc<dyn Flow>>,
}

impl FlowRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a flow (replacing one of the same name).
    ///
    /// # Panics
    /// When the flow's parameter schema uses a keyword the validator does not implement: the schema
    /// is code, and a check silently skipped would let invalid runs through.
    pub fn register(mut self, flow: impl Flow) -> Self {
        let unsupported = super::schema::unsupported_keywords(&flow.parameter_schema());
        assert!(
            unsupported.is_empty(),
            "the parameter schema of flow `{}` uses {unsupported:?}, which the validator does not implement",
            flow.name()
        );
        self.flows.insert(flow.name(), Arc::new(flow));
        self
    }

    /// A flow by name.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Flow>> {
        self.flows.get(name).cloned()
    }

    /// Every flow, by name.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Flow>> {
        self.flows.values()
    }
}
