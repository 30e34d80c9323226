//! What a run wrote: its log, followed live, and its report.

use std::time::Duration;

use chap_scheduler_api::{ArtifactKind, ArtifactView, LogView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;

use super::{every, ErrorNotice};
use crate::api;
use crate::components::time::{Precision, Time};

/// The log tail asks for new lines this often.
const LOG_POLL: Duration = Duration::from_secs(1);
/// Lines kept in the log tail; older ones are dropped.
const MAX_LOG_LINES: usize = 5000;

/// The run's log, polled every second (`EventSource` cannot send the bearer token the stream
/// needs), with a lowest-level filter and a follow mode that keeps the newest line in view.
#[component]
pub(super) fn LogTail(run_id: Uuid, terminal: Signal<bool>) -> impl IntoView {
    let level = RwSignal::new("info".to_owned());
    let follow = RwSignal::new(true);
    let lines = RwSignal::new(Vec::<LogView>::new());
    let error = RwSignal::new(None::<String>);
    let after = StoredValue::new(None::<i64>);
    let in_flight = StoredValue::new(false);
    // Finished run and nothing more to read: stop asking.
    let drained = StoredValue::new(false);
    let generation = StoredValue::new(0u64);
    let log_ref = NodeRef::<leptos::html::Ol>::new();

    let poll = move || {
        if in_flight.get_value() || drained.get_value() {
            return;
        }
        in_flight.set_value(true);
        let asked_in = generation.get_value();
        let since = after.get_value();
        let min_level = level.get_untracked();
        let finished = terminal.get_untracked();
        spawn_local(async move {
            let result = api::run_logs(run_id, since, Some(&min_level)).await;
            if generation.try_get_value() != Some(asked_in) {
                return;
            }
            in_flight.set_value(false);
            match result {
                Ok(page) => {
                    error.set(None);
                    if page.items.is_empty() {
                        if finished {
                            drained.set_value(true);
                        }
                        return;
                    }
                    let last = page.items.last().map(|l| l.id);
                    after.set_value(page.next_after.or(last));
                    lines.update(|l| {
                        l.extend(page.items);
                        if l.len() > MAX_LOG_LINES {
                            l.drain(..l.len() - MAX_LOG_LINES);
                        }
                    });
                }
                Err(e) => error.set(Some(e.to_string())),
            }
        });
    };
    poll();
    every(LOG_POLL, poll);

    let change_level = move |ev| {
        level.set(event_target_value(&ev));
        generation.update_value(|g| *g += 1);
        after.set_value(None);
        in_flight.set_value(false);
        drained.set_value(false);
        lines.set(Vec::new());
        poll();
    };

    Effect::new(move |_| {
        lines.track();
        if follow.get() {
            if let Some(list) = log_ref.get() {
                list.set_scroll_top(list.scroll_height());
            }
        }
    });

    view! {
        <div class="log-controls">
            <div class="field inline">
                <label for="log-level">"Lowest level"</label>
                <select id="log-level" on:change=change_level>
                    <option value="debug">"Debug"</option>
                    <option value="info" selected>
                        "Info"
                    </option>
                    <option value="warning">"Warning"</option>
                    <option value="error">"Error"</option>
                </select>
            </div>
            <label class="checkbox">
                <input type="checkbox" id="log-follow" bind:checked=follow />
                " Follow"
            </label>
        </div>
        {move || error.get().map(|message| view! { <ErrorNotice message /> })}
        <ol class="log-tail" node_ref=log_ref tabindex="0" aria-label="Log lines" data-testid="log-lines">
            <For each=move || lines.get() key=|line| line.id let:line>
                <li class=format!("log-line log-{}", line.level)>
                    <Time at=line.at precision=Precision::Clock />
                    " "
                    <span class="log-level">{line.level.to_string()}</span>
                    " "
                    <span class="log-message">{line.message.clone()}</span>
                </li>
            </For>
        </ol>
        <Show when=move || lines.with(Vec::is_empty)>
            <p class="empty muted">"No log lines at this level yet."</p>
        </Show>
    }
}

/// The run's report (markdown rendered with raw HTML escaped) and other artifacts.
#[component]
pub(super) fn RunReport(run_id: Uuid, terminal: Signal<bool>) -> impl IntoView {
    let artifacts = LocalResource::new(move || {
        // Fetch again when the run finishes: that is when the report is written.
        terminal.track();
        api::run_artifacts(run_id)
    });
    move || {
        artifacts.get().map(|result| match result {
            Ok(list) if list.is_empty() => ().into_any(),
            Ok(list) => view! {
                <section class="panel" aria-labelledby="report-heading">
                    <h2 id="report-heading">"Report"</h2>
                    {list.into_iter().map(artifact_view).collect_view()}
                </section>
            }
            .into_any(),
            Err(e) => view! { <ErrorNotice message=e.to_string() /> }.into_any(),
        })
    }
}

fn artifact_view(artifact: ArtifactView) -> impl IntoView {
    if let (ArtifactKind::Markdown, Some(html)) = (artifact.kind, artifact.html) {
        // Safe: the server renders the report with raw HTML escaped and script-capable link targets
        // dropped (`chap_scheduler_api::markdown`), so the SPA ships no markdown renderer.
        view! {
            <div class="report" data-testid="report" data-key=artifact.key inner_html=html></div>
        }
        .into_any()
    } else {
        view! {
            <pre class="code" data-key=artifact.key>
                {artifact.content}
            </pre>
        }
        .into_any()
    }
}
