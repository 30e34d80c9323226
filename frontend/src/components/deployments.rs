//! `/deployments` (the list) and `/deployments/:id` (settings, pause, recent runs, and the run form).

use std::collections::BTreeMap;

use chap_scheduler_api::{
    DeploymentView, RunView, ScheduleView, TriggerRunRequest, UpdateDeploymentRequest,
};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_router::hooks::{use_navigate, use_params_map};
use uuid::Uuid;

use crate::api::{self, ApiError, RunFilter};
use crate::components::deployment_settings::{DeploymentSettingsForm, FlowResource};
use crate::components::form::FormActions;
use crate::components::parameters::{check_as_typed, server_field_errors, Blocks, ParameterField};
use crate::components::runs::RunTable;
use crate::components::schedules::SchedulesPanel;
use crate::components::shell::use_can_operate;
use crate::components::{set_document_title, LoadingNotice};
use crate::paths::app_path;
use crate::schema_form::{self, FieldSpec};
use crate::tz;

/// "Paused" next to a deployment whose schedules create no runs.
#[component]
fn PausedBadge() -> impl IntoView {
    view! { <span class="state-badge state-paused">"Paused"</span> }
}

fn concurrency_text(d: &DeploymentView) -> String {
    match d.concurrency_limit {
        Some(n) => format!("{n} at once ({})", d.collision_strategy.as_str()),
        None => "unlimited".to_owned(),
    }
}

/// `/deployments`.
#[component]
pub fn DeploymentsPage() -> impl IntoView {
    set_document_title("Deployments");
    let deployments = LocalResource::new(api::list_deployments);
    let schedules = LocalResource::new(api::list_all_schedules);
    view! {
        <section class="page">
            <h1>"Deployments"</h1>
            {move || {
                deployments
                    .get()
                    .map(|result| match result {
                        Err(e) => {
                            view! {
                                <p class="form-error" role="alert">
                                    {e.to_string()}
                                </p>
                            }
                                .into_any()
                        }
                        Ok(list) if list.is_empty() => {
                            view! {
                                <p class="empty" data-testid="deployments-empty">
                                    "There are no deployments. Each registered flow gets a default deployment when the service starts."
                                </p>
                            }
                                .into_any()
                        }
                        Ok(list) => {
                            view! {
                                <ul class="card-list" data-testid="deployments">
                                    {list
                                        .into_iter()
                                        .map(|d| deployment_card(d, schedules))
                                        .collect_view()}
                                </ul>
                            }
                                .into_any()
                        }
                    })
                    .unwrap_or_else(|| view! { <LoadingNotice /> }.into_any())
            }}
        </section>
    }
}

fn deployment_card(
    d: DeploymentView,
    schedules: LocalResource<Result<Vec<ScheduleView>, ApiError>>,
) -> impl IntoView {
    let concurrency = concurrency_text(&d);
    let (id, paused) = (d.id, d.paused);
    // The list is sorted soonest first, so the first match is the next slot.
    let next = move || {
        let list = schedules.get()?.ok()?;
        let text = match list
            .iter()
            .find(|s| s.deployment_id == id && s.active && s.next_fire_at.is_some())
        {
            Some(s) if !paused => format!(
                "Next scheduled run: {}",
                tz::format_in(s.next_fire_at.unwrap_or_default(), &s.timezone)
            ),
            Some(_) => "Scheduled, but paused".to_owned(),
            None => "No active schedule".to_owned(),
        };
        Some(view! { <p class="small" data-testid="next-scheduled">{text}</p> })
    };
    view! {
        <li class="card" data-deployment-id=d.id.to_string()>
            <h2>
                <a href=app_path(&format!("/deployments/{}", d.id))>{d.name}</a>
                {d.paused.then(|| view! { " " <PausedBadge /> })}
            </h2>
            <p class="muted small">{format!("Flow {}", d.flow_name)}</p>
            {(!d.description.is_empty()).then(|| view! { <p>{d.description}</p> })}
            <p class="small">{format!("Concurrency: {concurrency}")}</p>
            {next}
        </li>
    }
}

/// `/deployments/:id`.
#[component]
pub fn DeploymentDetailPage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .with(|p| p.get("id"))
            .and_then(|s| s.parse::<Uuid>().ok())
    });
    move || match id.get() {
        Some(id) => view! { <DeploymentDetail id /> }.into_any(),
        None => view! { <NotFound /> }.into_any(),
    }
}

#[component]
fn NotFound() -> impl IntoView {
    set_document_title("Deployment not found");
    view! {
        <section class="page">
            <h1>"Deployment not found"</h1>
            <p>
                <a href=app_path("/deployments")>"All deployments"</a>
            </p>
        </section>
    }
}

#[component]
fn DeploymentDetail(id: Uuid) -> impl IntoView {
    set_document_title("Deployment");
    let deployment = RwSignal::new(None::<Result<DeploymentView, ApiError>>);
    spawn_local(async move {
        let result = api::get_deployment(id).await;
        deployment.try_set(Some(result));
    });
    move || match deployment.get() {
        None => view! { <LoadingNotice /> }.into_any(),
        Some(Err(ApiError::Status { status: 404, .. })) => view! { <NotFound /> }.into_any(),
        Some(Err(e)) => view! {
            <section class="page">
                <h1>"Deployment"</h1>
                <p class="form-error" role="alert">
                    {e.to_string()}
                </p>
            </section>
        }
        .into_any(),
        Some(Ok(d)) => view! { <DeploymentView d=d deployment /> }.into_any(),
    }
}

#[component]
fn DeploymentView(
    d: DeploymentView,
    deployment: RwSignal<Option<Result<DeploymentView, ApiError>>>,
) -> impl IntoView {
    set_document_title(&d.name);
    let can_operate = use_can_operate();
    let show_form = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let toggle_error = RwSignal::new(None::<String>);
    let id = d.id;
    let paused = d.paused;
    let toggle_paused = move |_| {
        busy.set(true);
        toggle_error.set(None);
        let request = UpdateDeploymentRequest {
            paused: Some(!paused),
            ..Default::default()
        };
        spawn_local(async move {
            match api::update_deployment(id, &request).await {
                Ok(updated) => {
                    deployment.try_set(Some(Ok(updated)));
                }
                Err(e) => {
                    toggle_error.try_set(Some(e.to_string()));
                }
            }
            busy.try_set(false);
        });
    };
    let navigate = use_navigate();
    let quick_run = move |_| {
        busy.set(true);
        toggle_error.set(None);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::trigger_run(id, &TriggerRunRequest::default()).await {
                Ok(run) => navigate(&format!("/runs/{}", run.id), Default::default()),
                Err(e) => {
                    toggle_error.try_set(Some(format!(
                        "{}. Set the missing defaults under Edit settings, or use Custom run.",
                        e.to_string().trim_end_matches('.')
                    )));
                }
            }
            busy.try_set(false);
        });
    };
    let parameters =
        serde_json::to_string_pretty(&d.parameters).unwrap_or_else(|_| "{}".to_owned());
    let timeout = d
        .timeout_seconds
        .map_or_else(|| "none".to_owned(), |t| format!("{t} s"));
    let defaults = d.parameters.clone();
    // The flow's schema and the blocks, loaded once for the run, schedule and settings forms.
    let flow_name = d.flow_name.clone();
    let flow: FlowResource = LocalResource::new(move || {
        let name = flow_name.clone();
        async move { api::get_flow(&name).await }
    });
    let blocks: Blocks = LocalResource::new(api::list_blocks);
    let editing = RwSignal::new(false);
    let for_form = StoredValue::new(d.clone());

    view! {
        <section class="page">
            <p class="breadcrumb">
                <a href=app_path("/deployments")>"Deployments"</a>
                " / "
            </p>
            <h1>{d.name.clone()} {paused.then(|| view! { " " <PausedBadge /> })}</h1>
            {(!d.description.is_empty()).then(|| view! { <p>{d.description.clone()}</p> })}
            <Show when=move || can_operate.get()>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        disabled=move || paused || busy.get()
                        title=if paused {
                            "Resume the deployment to run it"
                        } else {
                            "Start a run with the deployment's parameter defaults"
                        }
                        on:click=quick_run.clone()
                    >
                        "Quick run"
                    </button>
                    <button
                        type="button"
                        class="button primary"
                        disabled=move || paused || show_form.get()
                        title=if paused { "Resume the deployment to run it" } else { "" }
                        on:click=move |_| show_form.set(true)
                    >
                        "Custom run…"
                    </button>
                    <button
                        type="button"
                        class="button secondary"
                        aria-pressed=if paused { "true" } else { "false" }
                        disabled=busy
                        on:click=toggle_paused
                    >
                        {if paused { "Resume" } else { "Pause" }}
                    </button>
                </div>
                {move || {
                    toggle_error
                        .get()
                        .map(|m| {
                            view! {
                                <p class="form-error" role="alert">
                                    {m}
                                </p>
                            }
                        })
                }}
            </Show>
        </section>
        <Show when=move || show_form.get()>
            <RunForm
                deployment_id=id
                flow
                blocks
                defaults=defaults.clone()
                on_close=move || show_form.set(false)
            />
        </Show>
        <section class="panel" aria-labelledby="settings-heading">
            <h2 id="settings-heading">"Settings"</h2>
            <Show when=move || can_operate.get() && !editing.get()>
                <div class="actions">
                    <button type="button" class="button secondary" on:click=move |_| editing.set(true)>
                        "Edit settings"
                    </button>
                </div>
            </Show>
            <Show when=move || editing.get()>
                <DeploymentSettingsForm
                    deployment=for_form.get_value()
                    flow
                    blocks
                    on_done=move |saved| {
                        editing.set(false);
                        if let Some(saved) = saved {
                            deployment.set(Some(Ok(saved)));
                        }
                    }
                />
            </Show>
            <dl class="facts" hidden=move || editing.get()>
                <dt>"Flow"</dt>
                <dd>{d.flow_name.clone()}</dd>
                <dt>"Concurrency"</dt>
                <dd data-testid="concurrency">{concurrency_text(&d)}</dd>
                <dt>"Retries"</dt>
                <dd>
                    {format!(
                        "{} (first after {} s, ×{} each time)",
                        d.retries,
                        d.retry_delay_seconds,
                        d.retry_backoff,
                    )}
                </dd>
                <dt>"Timeout"</dt>
                <dd>{timeout}</dd>
                <dt>"Tags"</dt>
                <dd>{if d.tags.is_empty() { "—".to_owned() } else { d.tags.join(", ") }}</dd>
            </dl>
            <div hidden=move || editing.get()>
                <h3>"Parameter defaults"</h3>
                <pre class="code" data-testid="deployment-parameters">{parameters}</pre>
            </div>
        </section>
        <SchedulesPanel deployment=d.clone() flow blocks />
        <RecentRuns deployment_id=id />
    }
}

/// The deployment's ten newest runs.
#[component]
fn RecentRuns(deployment_id: Uuid) -> impl IntoView {
    let runs = RwSignal::new(Vec::<RunView>::new());
    let error = RwSignal::new(None::<String>);
    spawn_local(async move {
        let filter = RunFilter {
            deployment_id: Some(deployment_id),
            limit: Some(10),
            ..Default::default()
        };
        match api::list_runs(&filter).await {
            Ok(page) => {
                runs.try_set(page.items);
            }
            Err(e) => {
                error.try_set(Some(e.to_string()));
            }
        }
    });
    view! {
        <section class="panel" aria-labelledby="recent-heading">
            <h2 id="recent-heading">"Recent runs"</h2>
            {move || error.get().map(|m| view! { <p class="form-error" role="alert">{m}</p> })}
            <Show
                when=move || runs.with(|r| !r.is_empty())
                fallback=|| view! { <p class="empty">"No runs in the last 30 days."</p> }
            >
                <RunTable runs=runs.into() />
            </Show>
            <p>
                <a href=app_path(&format!("/runs?deployment_id={deployment_id}"))>"All runs of this deployment"</a>
            </p>
        </section>
    }
}

/// The custom run form, generated from the flow's parameter schema.
#[component]
fn RunForm(
    deployment_id: Uuid,
    flow: FlowResource,
    blocks: Blocks,
    defaults: serde_json::Value,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    move || {
        let defaults = defaults.clone();
        flow.get().map(|result| match result {
            Err(e) => view! {
                <section class="panel">
                    <p class="form-error" role="alert">
                        {format!("Cannot load the run form: {e}")}
                    </p>
                </section>
            }
            .into_any(),
            Ok(flow) => {
                let specs = schema_form::fields(&flow.parameter_schema);
                let values = RwSignal::new(schema_form::initial_values(
                    &flow.parameter_schema,
                    &defaults,
                ));
                view! { <RunFormFields deployment_id specs values blocks on_close /> }.into_any()
            }
        })
    }
}

#[component]
fn RunFormFields(
    deployment_id: Uuid,
    specs: Vec<FieldSpec>,
    values: RwSignal<BTreeMap<String, String>>,
    blocks: Blocks,
    on_close: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let navigate = use_navigate();
    let errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let submitting = RwSignal::new(false);
    let submitted = RwSignal::new(false);
    let specs = StoredValue::new(specs);
    check_as_typed(specs, values, errors, submitted, schema_form::validate);

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if submitting.get_untracked() {
            return;
        }
        submitted.set(true);
        let current = values.get_untracked();
        let found = specs.with_value(|s| schema_form::validate(s, &current));
        form_error.set(None);
        if !found.is_empty() {
            errors.set(found);
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        }
        errors.set(BTreeMap::new());
        let request = TriggerRunRequest {
            parameters: Some(specs.with_value(|s| schema_form::parameters(s, &current))),
            idempotency_key: None,
        };
        submitting.set(true);
        let navigate = navigate.clone();
        spawn_local(async move {
            match api::trigger_run(deployment_id, &request).await {
                Ok(run) => navigate(&format!("/runs/{}", run.id), Default::default()),
                Err(e) => {
                    errors.try_set(specs.with_value(|s| server_field_errors(&e, s)));
                    form_error.try_set(Some(e.to_string()));
                }
            }
            submitting.try_set(false);
        });
    };

    let field_views = specs.with_value(|s| {
        s.iter()
            .cloned()
            .map(|spec| view! { <ParameterField spec values errors blocks id_prefix="param" /> })
            .collect_view()
    });

    view! {
        <section class="panel" aria-labelledby="run-form-heading">
            <h2 id="run-form-heading">"Run with parameters"</h2>
            <form class="run-form" on:submit=submit novalidate>
                {field_views}
                <FormActions
                    error=form_error
                    busy=submitting
                    submit="Start run"
                    busy_label="Starting…"
                    on_cancel=Callback::new(move |()| on_close())
                    cancel_label="Close"
                />
            </form>
        </section>
    }
}
