//! "Edit settings" of a deployment: description, concurrency and what happens at the limit,
//! retries, timeout, and the parameter defaults every run and schedule starts from.

use std::collections::BTreeMap;

use chap_scheduler_api::{CollisionStrategy, DeploymentView, FlowView, UpdateDeploymentRequest};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, ApiError};
use crate::components::form::{FormActions, FormField};
use crate::components::parameters::{check_as_typed, server_field_errors, Blocks, ParameterField};
use crate::schema_form::{self, FieldSpec};

/// The flow of the deployment, loaded once for all its forms.
pub type FlowResource = LocalResource<Result<FlowView, ApiError>>;

/// `""` → `None`, else a number in `range` or the message saying what is expected.
fn number_in<T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy>(
    text: &str,
    range: (T, T),
    what: &str,
) -> Result<Option<T>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<T>() {
        Ok(n) if n >= range.0 && n <= range.1 => Ok(Some(n)),
        _ => Err(format!("Enter {what} from {} to {}.", range.0, range.1)),
    }
}

fn required<T>(value: Result<Option<T>, String>) -> Result<T, String> {
    value.and_then(|v| v.ok_or_else(|| "Required.".to_owned()))
}

fn text_of<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// The policy fields as typed.
#[derive(Clone, Copy)]
struct PolicyInputs {
    concurrency: RwSignal<String>,
    retries: RwSignal<String>,
    delay: RwSignal<String>,
    backoff: RwSignal<String>,
    timeout: RwSignal<String>,
}

/// The checked policy values: `concurrency_limit`, `retries`, `retry_delay_seconds`,
/// `retry_backoff`, `timeout_seconds`.
type Policy = (Option<u32>, u32, f64, f64, Option<f64>);

impl PolicyInputs {
    fn read(&self) -> Result<Policy, BTreeMap<String, String>> {
        let concurrency = number_in(
            &self.concurrency.get_untracked(),
            (1u32, 1000),
            "a whole number",
        );
        let retries = required(number_in(
            &self.retries.get_untracked(),
            (0u32, 10),
            "a whole number",
        ));
        let delay = required(number_in(
            &self.delay.get_untracked(),
            (0.0f64, 86_400.0),
            "seconds",
        ));
        let backoff = required(number_in(
            &self.backoff.get_untracked(),
            (1.0f64, 10.0),
            "a factor",
        ));
        let timeout = number_in(
            &self.timeout.get_untracked(),
            (1.0f64, 604_800.0),
            "seconds",
        );
        match (concurrency, retries, delay, backoff, timeout) {
            (Ok(c), Ok(r), Ok(d), Ok(b), Ok(t)) => Ok((c, r, d, b, t)),
            (c, r, d, b, t) => Err([
                ("concurrency_limit", c.err()),
                ("retries", r.err()),
                ("retry_delay_seconds", d.err()),
                ("retry_backoff", b.err()),
                ("timeout_seconds", t.err()),
            ]
            .into_iter()
            .filter_map(|(k, e)| e.map(|e| (k.to_owned(), e)))
            .collect()),
        }
    }
}

/// The settings form; `on_done` gets the saved deployment, or `None` when cancelled.
#[component]
pub fn DeploymentSettingsForm(
    deployment: DeploymentView,
    flow: FlowResource,
    blocks: Blocks,
    on_done: impl Fn(Option<DeploymentView>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let deployment = StoredValue::new(deployment);
    move || {
        flow.get().map(|result| match result {
            Err(e) => view! {
                <p class="form-error" role="alert">
                    {format!("Cannot load the settings form: {e}")}
                </p>
            }
            .into_any(),
            Ok(flow) => {
                // Defaults may be incomplete: runs and schedules add the rest.
                let specs: Vec<FieldSpec> = schema_form::fields(&flow.parameter_schema)
                    .into_iter()
                    .map(|f| FieldSpec {
                        required: false,
                        ..f
                    })
                    .collect();
                let values = deployment
                    .with_value(|d| schema_form::values_of(&flow.parameter_schema, &d.parameters));
                view! {
                    <SettingsFields deployment=deployment.get_value() specs values blocks on_done />
                }
                .into_any()
            }
        })
    }
}

#[component]
fn SettingsFields(
    deployment: DeploymentView,
    specs: Vec<FieldSpec>,
    values: BTreeMap<String, String>,
    blocks: Blocks,
    on_done: impl Fn(Option<DeploymentView>) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let id = deployment.id;
    let description = RwSignal::new(deployment.description.clone());
    let strategy = RwSignal::new(deployment.collision_strategy);
    let inputs = PolicyInputs {
        concurrency: RwSignal::new(text_of(deployment.concurrency_limit)),
        retries: RwSignal::new(deployment.retries.to_string()),
        delay: RwSignal::new(deployment.retry_delay_seconds.to_string()),
        backoff: RwSignal::new(deployment.retry_backoff.to_string()),
        timeout: RwSignal::new(text_of(deployment.timeout_seconds)),
    };
    let field_errors = [
        "concurrency_limit",
        "retries",
        "retry_delay_seconds",
        "retry_backoff",
        "timeout_seconds",
    ]
    .map(|name| (name, RwSignal::new(None::<String>)));
    let error_of = move |name: &str| {
        field_errors
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, e)| *e)
            .unwrap_or_else(|| RwSignal::new(None))
    };
    let values = RwSignal::new(values);
    let param_errors = RwSignal::new(BTreeMap::<String, String>::new());
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let submitted = RwSignal::new(false);
    let specs = StoredValue::new(specs);
    check_as_typed(
        specs,
        values,
        param_errors,
        submitted,
        schema_form::validate,
    );

    let show_field_errors = move |found: &BTreeMap<String, String>| {
        for (name, slot) in &field_errors {
            slot.try_set(found.get(*name).cloned());
        }
    };
    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submitted.set(true);
        form_error.set(None);
        let current = values.get_untracked();
        let params_found = specs.with_value(|s| schema_form::validate(s, &current));
        let policy = inputs.read();
        show_field_errors(policy.as_ref().err().unwrap_or(&BTreeMap::new()));
        let Ok((concurrency, retries, delay, backoff, timeout)) = policy else {
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        };
        if !params_found.is_empty() {
            form_error.set(Some("Correct the highlighted fields.".to_owned()));
            return;
        }
        let request = UpdateDeploymentRequest {
            description: Some(description.get_untracked().trim().to_owned()),
            parameters: Some(specs.with_value(|s| schema_form::parameters(s, &current))),
            concurrency_limit: Some(concurrency),
            collision_strategy: Some(strategy.get_untracked()),
            retries: Some(retries),
            retry_delay_seconds: Some(delay),
            retry_backoff: Some(backoff),
            timeout_seconds: Some(timeout),
            ..Default::default()
        };
        saving.set(true);
        spawn_local(async move {
            match api::update_deployment(id, &request).await {
                Ok(saved) => on_done(Some(saved)),
                Err(e) => {
                    let found: BTreeMap<String, String> = field_errors
                        .iter()
                        .filter_map(|(name, _)| e.field_error(name).map(|m| (name.to_string(), m)))
                        .collect();
                    show_field_errors(&found);
                    param_errors.try_set(specs.with_value(|s| server_field_errors(&e, s)));
                    form_error.try_set(Some(e.to_string()));
                }
            }
            saving.try_set(false);
        });
    };

    let parameter_fields = specs.with_value(|s| {
        s.iter()
            .cloned()
            .map(|spec| {
                view! { <ParameterField spec values errors=param_errors blocks id_prefix="default" /> }
            })
            .collect_view()
    });

    view! {
        <form class="run-form" on:submit=submit novalidate aria-labelledby="settings-form-heading">
            <h3 id="settings-form-heading">"Edit settings"</h3>
            <div class="field">
                <label for="deployment-description">"Description"</label>
                <textarea
                    id="deployment-description"
                    rows="3"
                    prop:value=move || description.get()
                    on:input=move |ev| description.set(event_target_value(&ev))
                ></textarea>
            </div>
            <FormField
                id="concurrency_limit"
                label="Runs at once"
                input_type="number"
                min="1"
                value=inputs.concurrency
                error=error_of("concurrency_limit")
                help="Empty: no limit. One is right for a single DHIS2: overlapping runs only repeat work."
            />
            <div class="field">
                <label for="collision-strategy">"When that many are running"</label>
                <select
                    id="collision-strategy"
                    on:change=move |ev| {
                        strategy
                            .set(
                                if event_target_value(&ev) == "cancel_new" {
                                    CollisionStrategy::CancelNew
                                } else {
                                    CollisionStrategy::Enqueue
                                },
                            )
                    }
                >
                    <option value="enqueue" selected=move || strategy.get() == CollisionStrategy::Enqueue>
                        "A new run waits for a free slot"
                    </option>
                    <option value="cancel_new" selected=move || strategy.get() == CollisionStrategy::CancelNew>
                        "A new run is cancelled at once"
                    </option>
                </select>
            </div>
            <FormField
                id="retries"
                label="Retries"
                input_type="number"
                min="0"
                required=true
                value=inputs.retries
                error=error_of("retries")
                help="Attempts after a failure or crash, 0 to 10."
            />
            <FormField
                id="retry_delay_seconds"
                label="First retry after (seconds)"
                input_type="number"
                min="0"
                step="any"
                required=true
                value=inputs.delay
                error=error_of("retry_delay_seconds")
            />
            <FormField
                id="retry_backoff"
                label="Each later wait multiplied by"
                input_type="number"
                min="1"
                step="any"
                required=true
                value=inputs.backoff
                error=error_of("retry_backoff")
            />
            <FormField
                id="timeout_seconds"
                label="Timeout (seconds)"
                input_type="number"
                min="1"
                step="any"
                value=inputs.timeout
                error=error_of("timeout_seconds")
                help="Empty: none. A run still going after this long fails (and is retried if attempts remain)."
            />
            <fieldset class="field">
                <legend>"Parameter defaults"</legend>
                <p class="help muted small">
                    "What every run and schedule of this deployment starts from; each may override them."
                </p>
                {parameter_fields}
            </fieldset>
            <FormActions
                error=form_error
                busy=saving
                submit="Save settings"
                busy_label="Saving…"
                on_cancel=Callback::new(move |()| on_done(None))
            />
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::number_in;

    #[test]
    fn numbers_are_checked_against_the_servers_ranges() {
        assert_eq!(number_in("", (1u32, 1000), "a whole number"), Ok(None));
        assert_eq!(
            number_in(" 3 ", (1u32, 1000), "a whole number"),
            Ok(Some(3))
        );
        assert_eq!(
            number_in("0", (1u32, 1000), "a whole number"),
            Err("Enter a whole number from 1 to 1000.".to_owned())
        );
        assert!(number_in("1.5", (0u32, 10), "a whole number").is_err());
        assert_eq!(number_in("2.5", (1.0f64, 10.0), "a factor"), Ok(Some(2.5)));
    }
}
