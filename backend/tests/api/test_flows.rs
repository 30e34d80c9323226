//! Flows for testing the engine: they only live in test code.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chap_scheduler::config::Config;
use chap_scheduler::orchestrator::{Flow, FlowError, FlowRegistry, RunContext};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};

/// Three steps, log lines and a markdown artifact.
pub struct Steps;

impl Flow for Steps {
    fn name(&self) -> &'static str {
        "test-steps"
    }
    fn description(&self) -> &'static str {
        "three steps, logs and a report"
    }
    fn parameter_schema(&self) -> Value {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["greeting"],
            "properties": {
                "greeting": { "type": "string", "minLength": 1 },
                "count": { "type": "integer", "minimum": 1, "maximum": 10 },
                // A link target the report ends with.
                "link": { "type": "string" }
            }
        })
    }
    fn default_parameters(&self) -> Value {
        json!({ "count": 3 })
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move {
            let greeting = ctx.parameters()["greeting"]
                .as_str()
                .unwrap_or("")
                .to_string();
            let count = ctx.parameters()["count"].as_u64().unwrap_or(3);
            for i in 1..=count {
                ctx.step("greet", Some(&format!("greeting {i}")), async {
                    ctx.info(format!("{greeting} number {i}"));
                    Ok::<_, String>(())
                })
                .await?;
            }
            ctx.artifact(
                "run-report",
                chap_scheduler_api::ArtifactKind::Markdown,
                &match ctx.parameters()["link"].as_str() {
                    Some(link) => format!("# Report\n\n{count} greetings sent. [More]({link})\n"),
                    None => format!("# Report\n\n{count} greetings sent.\n"),
                },
            );
            Ok(())
        })
    }
}

/// Fails until the given attempt.
pub struct Flaky;

impl Flow for Flaky {
    fn name(&self) -> &'static str {
        "test-flaky"
    }
    fn description(&self) -> &'static str {
        "fails until attempt `succeed_on`"
    }
    fn parameter_schema(&self) -> Value {
        json!({ "type": "object", "properties": { "succeed_on": { "type": "integer" } } })
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move {
            let succeed_on = ctx.parameters()["succeed_on"].as_u64().unwrap_or(u64::MAX);
            ctx.step("try", None, async {
                if (ctx.attempt() as u64) < succeed_on {
                    Err(format!("attempt {} is not lucky", ctx.attempt()))
                } else {
                    Ok(())
                }
            })
            .await?;
            Ok(())
        })
    }
}

/// The parameters of the sleeping flows: how many seconds, and whether the steps are read steps.
fn seconds_schema() -> Value {
    json!({ "type": "object", "properties": {
        "seconds": { "type": "number", "minimum": 0 },
        "read_steps": { "type": "boolean" }
    } })
}

/// Sleeps the `seconds` parameter away in steps of 100 ms, each logging `line(i)`; read steps
/// (`RunContext::read_step`) with `read_steps`.
async fn ticks(ctx: &RunContext, line: impl Fn(u64) -> String) -> Result<(), FlowError> {
    let seconds = ctx.parameters()["seconds"].as_f64().unwrap_or(1.0);
    let read = ctx.parameters()["read_steps"].as_bool().unwrap_or(false);
    for i in 0..(seconds * 10.0).ceil() as u64 {
        let label = format!("tick {i}");
        let work = async {
            ctx.info(line(i));
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok::<_, String>(())
        };
        if read {
            ctx.read_step("tick", Some(&label), work).await?;
        } else {
            ctx.step("tick", Some(&label), work).await?;
        }
    }
    Ok(())
}

/// Sleeps in steps of 100 ms; counts how many times its body started.
pub struct Sleepy {
    pub started: Arc<AtomicUsize>,
}

impl Flow for Sleepy {
    fn name(&self) -> &'static str {
        "test-sleepy"
    }
    fn description(&self) -> &'static str {
        "sleeps `seconds` in 100 ms steps"
    }
    fn parameter_schema(&self) -> Value {
        seconds_schema()
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move {
            self.started.fetch_add(1, Ordering::SeqCst);
            ticks(ctx, |i| format!("tick {i}")).await
        })
    }
}

/// Sleeps `seconds` in 100 ms steps, then stores a report naming its attempt: which attempt's report
/// a run keeps shows whether a stale attempt overwrote it.
pub struct Report;

impl Flow for Report {
    fn name(&self) -> &'static str {
        "test-report"
    }
    fn description(&self) -> &'static str {
        "sleeps `seconds`, then reports its attempt"
    }
    fn parameter_schema(&self) -> Value {
        seconds_schema()
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move {
            ticks(ctx, |i| format!("attempt {} tick {i}", ctx.attempt())).await?;
            ctx.artifact(
                "run-report",
                chap_scheduler_api::ArtifactKind::Markdown,
                &format!("attempt {}", ctx.attempt()),
            );
            ctx.set_summary(json!({ "attempt": ctx.attempt() }));
            Ok(())
        })
    }
}

/// Relays text as an upstream service may send it, with a NUL and other control characters: in a
/// log line, a step's error, the report, the summary, and the error it fails with.
pub struct UpstreamText;

/// What [`UpstreamText`] relays.
pub const UPSTREAM_TEXT: &str = "before\u{0}after\u{7}bell";

impl Flow for UpstreamText {
    fn name(&self) -> &'static str {
        "test-upstream-text"
    }
    fn description(&self) -> &'static str {
        "relays upstream text holding control characters, then fails with it"
    }
    fn parameter_schema(&self) -> Value {
        json!({ "type": "object" })
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move {
            ctx.info(format!("upstream said: {UPSTREAM_TEXT}"));
            let _ = ctx
                .step("relay", None, async {
                    Err::<(), _>(UPSTREAM_TEXT.to_string())
                })
                .await;
            ctx.artifact(
                "run-report",
                chap_scheduler_api::ArtifactKind::Markdown,
                &format!("# Report\n\n{UPSTREAM_TEXT}\n"),
            );
            ctx.set_summary(json!({ "upstream": UPSTREAM_TEXT }));
            Err(FlowError::permanent(format!(
                "upstream failed: {UPSTREAM_TEXT}"
            )))
        })
    }
}

/// Panics.
pub struct Panics;

impl Flow for Panics {
    fn name(&self) -> &'static str {
        "test-panics"
    }
    fn description(&self) -> &'static str {
        "panics"
    }
    fn parameter_schema(&self) -> Value {
        json!({ "type": "object" })
    }
    fn default_concurrency_limit(&self) -> Option<u32> {
        None
    }
    fn run<'a>(&'a self, _ctx: &'a RunContext) -> BoxFuture<'a, Result<(), FlowError>> {
        Box::pin(async move { panic!("the test flow panicked on purpose") })
    }
}

/// The registry of the tests (the production flows as `config` sets them, and the test flows), and the
/// start counter of the sleepy flow.
pub fn registry(config: &Config) -> (FlowRegistry, Arc<AtomicUsize>) {
    let started = Arc::new(AtomicUsize::new(0));
    let registry = chap_scheduler::flows::registry(config)
        .register(Steps)
        .register(Flaky)
        .register(Sleepy {
            started: started.clone(),
        })
        .register(Panics)
        .register(Report)
        .register(UpstreamText);
    (registry, started)
}
