//! What a run wrote: its log, followed live, and its report.

use std::time::Duration;

use chap_scheduler_api::{ArtifactKind, ArtifactView, LogView, RunState, RunView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;
use web_sys::{AbortController, AbortSignal};

use super::ErrorNotice;
use crate::api::{self, ApiError, LogEvent, StreamEnd};
use crate::components::time::{Precision, Time};

/// Lines kept in the log tail; older ones are dropped.
const MAX_LOG_LINES: usize = 5000;
/// The longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(15);

/// How the live log is connected, as the page shows it.
#[derive(Debug, Clone, PartialEq)]
enum Link {
    /// Opening the stream.
    Connecting,
    /// Lines arrive as they are written.
    Live,
    /// The connection dropped; trying again after a pause (why, for the tooltip).
    Reconnecting(String),
    /// The run finished and every line is shown.
    Complete,
    /// Given up: the page shows why.
    Stopped,
}

impl Link {
    fn as_str(&self) -> &'static str {
        match self {
            Link::Connecting => "connecting",
            Link::Live => "live",
            Link::Reconnecting(_) => "reconnecting",
            Link::Complete => "complete",
            Link::Stopped => "stopped",
        }
    }
}

/// The run's log, followed live over the log stream, with a lowest-level filter and a follow mode
/// that keeps the newest line in view. `on_state` hears every state the stream reports; `on_lines`
/// hears that new lines arrived (the run's steps probably moved).
#[component]
pub(super) fn LogTail(
    run_id: Uuid,
    on_state: Callback<RunView>,
    on_lines: Callback<()>,
) -> impl IntoView {
    let level = RwSignal::new("info".to_owned());
    let follow = RwSignal::new(true);
    let lines = RwSignal::new(Vec::<LogView>::new());
    let error = RwSignal::new(None::<String>);
    let link = RwSignal::new(Link::Connecting);
    let controller = StoredValue::new_local(None::<AbortController>);
    let log_ref = NodeRef::<leptos::html::Ol>::new();

    let stop = move || {
        if let Some(Some(previous)) = controller.try_update_value(Option::take) {
            previous.abort();
        }
    };
    // A new level starts a new stream from the first line; leaving the page ends it.
    Effect::new(move |_| {
        let level = level.get();
        stop();
        let Ok(next) = AbortController::new() else {
            error.set(Some("This browser cannot follow the log live.".to_owned()));
            return;
        };
        let signal = next.signal();
        controller.set_value(Some(next));
        lines.set(Vec::new());
        error.set(None);
        link.set(Link::Connecting);
        let tail = Tail {
            run_id,
            level,
            lines,
            error,
            link,
            on_state,
            on_lines,
        };
        spawn_local(tail.follow(signal));
    });
    on_cleanup(stop);

    Effect::new(move |_| {
        lines.track();
        if follow.get() {
            if let Some(list) = log_ref.get() {
                // After the new lines are laid out: a first chunk of many lines arrives in one update,
                // and its height is not known yet when this effect runs.
                request_animation_frame(move || list.set_scroll_top(list.scroll_height()));
            }
        }
    });

    view! {
        <div class="log-controls">
            <div class="field inline">
                <label for="log-level">"Lowest level"</label>
                <select id="log-level" on:change=move |ev| level.set(event_target_value(&ev))>
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
            <LiveStatus link />
        </div>
        {move || error.get().map(|message| view! { <ErrorNotice message /> })}
        <ol class="log-tail" node_ref=log_ref tabindex="0" aria-label="Log lines" data-testid="log-lines">
            <For each=move || lines.get() key=|line| line.id let:line>
                <li class=format!("log-line log-{}", line.level) data-id=line.id>
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

/// "Live" while lines stream in, "Reconnecting…" while the connection is down; nothing otherwise.
#[component]
fn LiveStatus(link: RwSignal<Link>) -> impl IntoView {
    let text = move || match link.get() {
        Link::Live => "Live",
        Link::Reconnecting(_) => "Reconnecting…",
        _ => "",
    };
    let title = move || match link.get() {
        Link::Reconnecting(why) => Some(why),
        _ => None,
    };
    view! {
        <span
            class="log-status"
            role="status"
            data-testid="log-status"
            data-link=move || link.get().as_str()
            title=title
        >
            {text}
        </span>
    }
}

/// One stream of the log at one level, resumed after drops until `end` or until aborted.
struct Tail {
    run_id: Uuid,
    level: String,
    lines: RwSignal<Vec<LogView>>,
    error: RwSignal<Option<String>>,
    link: RwSignal<Link>,
    on_state: Callback<RunView>,
    on_lines: Callback<()>,
}

impl Tail {
    async fn follow(self, signal: AbortSignal) {
        // The id of the last line shown: a resumed stream starts after it, so none is lost or repeated.
        let mut after = None::<i64>;
        let mut last_state = None::<RunState>;
        let mut failures = 0u32;
        loop {
            let mut heard = false;
            let result =
                api::follow_run_log(self.run_id, after, Some(&self.level), &signal, |events| {
                    heard = true;
                    self.take(events, &mut after, &mut last_state);
                })
                .await;
            if signal.aborted() {
                return;
            }
            let why = match result {
                Ok(StreamEnd::Complete) => {
                    self.link.try_set(Link::Complete);
                    return;
                }
                // The server ends streams after a while, so that connections recycle: resume at once.
                Ok(StreamEnd::Closed) if heard => {
                    failures = 0;
                    continue;
                }
                Ok(StreamEnd::Closed) => "The server closed the log stream.".to_owned(),
                // The session ended: the app goes to the login page.
                Err(ApiError::Unauthorized) => return,
                Err(
                    e @ (ApiError::Status {
                        status: 403 | 404, ..
                    }
                    | ApiError::UnexpectedResponse(_)),
                ) => {
                    self.error.try_set(Some(e.to_string()));
                    self.link.try_set(Link::Stopped);
                    return;
                }
                Err(e) => e.to_string(),
            };
            failures = if heard { 1 } else { failures + 1 };
            self.link.try_set(Link::Reconnecting(why));
            sleep(backoff(failures)).await;
            if signal.aborted() {
                return;
            }
        }
    }

    /// Shows the events of one chunk of the stream.
    fn take(
        &self,
        events: Vec<LogEvent>,
        after: &mut Option<i64>,
        last_state: &mut Option<RunState>,
    ) {
        let mut new_lines = Vec::new();
        for event in events {
            match event {
                // A line at or before the last one shown was already shown (a resumed stream).
                LogEvent::Line(line) if after.is_some_and(|a| line.id <= a) => {}
                LogEvent::Line(line) => {
                    *after = Some(line.id);
                    new_lines.push(line);
                }
                LogEvent::State(run) => {
                    if *last_state != Some(run.state) {
                        *last_state = Some(run.state);
                        self.on_state.run(*run);
                    }
                }
                LogEvent::End => {}
            }
        }
        self.link.try_set(Link::Live);
        if !new_lines.is_empty() {
            self.lines.try_update(|l| {
                l.extend(new_lines);
                if l.len() > MAX_LOG_LINES {
                    l.drain(..l.len() - MAX_LOG_LINES);
                }
            });
            self.on_lines.run(());
        }
    }
}

/// 1 s, 2 s, 4 s … up to 15 s between attempts.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(4)).min(MAX_BACKOFF)
}

/// Resolves after `duration` (a `setTimeout`).
async fn sleep(duration: Duration) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(window) = web_sys::window() {
            let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                &resolve,
                duration.as_millis() as i32,
            );
        }
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
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
