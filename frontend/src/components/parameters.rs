//! A flow's parameters as form inputs, one per schema property (the rules are in `schema_form`).
//! The run form and the schedule form share them; the schedule form passes the deployment's
//! defaults as `inherited`, so an empty field means "use the deployment's value".

use std::collections::BTreeMap;

use chap_scheduler_api::BlockView;
use leptos::prelude::*;

use crate::api::ApiError;
use crate::schema_form::{self, FieldKind, FieldSpec};

/// The credentials blocks a form offers, loaded once per form.
pub type Blocks = LocalResource<Result<Vec<BlockView>, ApiError>>;

/// Checks the parameter fields as they are typed: a field with a value at once, an empty required
/// one after the first attempt to submit. Only these fields' messages are replaced.
pub fn check_as_typed(
    specs: StoredValue<Vec<FieldSpec>>,
    values: RwSignal<BTreeMap<String, String>>,
    errors: RwSignal<BTreeMap<String, String>>,
    submitted: RwSignal<bool>,
    check: impl Fn(&[FieldSpec], &BTreeMap<String, String>) -> BTreeMap<String, String> + 'static,
) {
    Effect::new(move |ran: Option<()>| {
        let current = values.get();
        let all = submitted.get();
        if ran.is_none() && !all {
            // Nothing typed yet: no messages for an untouched form.
            return;
        }
        let found = specs.with_value(|s| check(s, &current));
        errors.update(|e| {
            specs.with_value(|s| {
                for f in s {
                    e.remove(&f.name);
                }
            });
            e.extend(found.into_iter().filter(|(name, _)| {
                all || current.get(name).is_some_and(|v| !v.trim().is_empty())
            }));
        });
    });
}

/// The server's messages for these fields from a 422: the API names them `parameters.<name>`.
pub fn server_field_errors(error: &ApiError, specs: &[FieldSpec]) -> BTreeMap<String, String> {
    specs
        .iter()
        .filter_map(|f| {
            error
                .field_error(&format!("parameters.{}", f.name))
                .or_else(|| error.field_error(&f.name))
                .map(|m| (f.name.clone(), m))
        })
        .collect()
}

/// One schema property as a labelled input, with its description and error; hidden while its
/// condition (e.g. `end_mode = fixed`) does not hold.
#[component]
pub fn ParameterField(
    spec: FieldSpec,
    /// The values typed into the form, by parameter name.
    values: RwSignal<BTreeMap<String, String>>,
    /// Messages to show at fields, by parameter name.
    errors: RwSignal<BTreeMap<String, String>>,
    blocks: Blocks,
    /// Prefix of the input ids, unique per form on a page.
    id_prefix: &'static str,
    /// Values an empty field falls back to (shown as its placeholder); conditions are then judged
    /// on the values merged over these.
    #[prop(optional)]
    inherited: Option<StoredValue<BTreeMap<String, String>>>,
) -> impl IntoView {
    let spec = StoredValue::new(spec);
    let name = spec.with_value(|s| s.name.clone());
    let input_id = format!("{id_prefix}-{name}");
    let help_id = format!("{input_id}-help");
    let error_id = format!("{input_id}-error");
    let fallback = {
        let name = name.clone();
        inherited
            .and_then(|i| i.with_value(|i| i.get(&name).cloned()))
            .filter(|v| !v.is_empty())
    };
    let shown = move || {
        values.with(|v| match inherited {
            Some(inherited) => inherited
                .with_value(|i| spec.with_value(|s| s.is_shown(&schema_form::merged(i, v)))),
            None => spec.with_value(|s| s.is_shown(v)),
        })
    };
    let value = {
        let name = name.clone();
        move || values.with(|v| v.get(&name).cloned().unwrap_or_default())
    };
    let set_value = {
        let name = name.clone();
        move |ev| {
            let new = event_target_value(&ev);
            values.update(|v| {
                v.insert(name.clone(), new);
            });
        }
    };
    let error = {
        let name = name.clone();
        move || errors.with(|e| e.get(&name).cloned())
    };
    let invalid = {
        let error = error.clone();
        move || if error().is_some() { "true" } else { "false" }
    };
    let described_by = format!("{help_id} {error_id}");
    let (title, description, kind) =
        spec.with_value(|s| (s.title.clone(), s.description.clone(), s.kind.clone()));
    // With a fallback the field may stay empty; otherwise the schema decides.
    let required = spec.with_value(|s| s.required) && fallback.is_none();
    let placeholder = fallback.clone().map(|f| format!("Default: {f}"));

    let input = match kind {
        FieldKind::Choice(options) => {
            let empty_option = match &fallback {
                Some(f) => Some(format!("Deployment default ({f})")),
                None => (!required).then(|| "—".to_owned()),
            };
            view! {
                <select
                    id=input_id.clone()
                    name=name.clone()
                    aria-describedby=described_by.clone()
                    aria-invalid=invalid.clone()
                    on:change=set_value.clone()
                >
                    {empty_option
                        .map(|label| {
                            let value = value.clone();
                            view! {
                                <option value="" selected=move || value().is_empty()>
                                    {label}
                                </option>
                            }
                        })}
                    {options
                        .into_iter()
                        .map(|o| {
                            let value = value.clone();
                            let selected = {
                                let o = o.text.clone();
                                move || value() == o
                            };
                            view! {
                                <option value=o.text.clone() selected=selected>
                                    {o.text.clone()}
                                </option>
                            }
                        })
                        .collect_view()}
                </select>
            }
            .into_any()
        }
        FieldKind::Block(slug) => {
            let value = value.clone();
            let fallback = fallback.clone();
            let empty_label = move || {
                let Some(id) = fallback.clone() else {
                    return "Choose credentials…".to_owned();
                };
                let name = blocks
                    .get()
                    .and_then(Result::ok)
                    .and_then(|list| list.into_iter().find(|b| b.id.to_string() == id))
                    .map_or(id, |b| b.name);
                format!("Deployment default ({name})")
            };
            view! {
                <select
                    id=input_id.clone()
                    name=name.clone()
                    aria-describedby=described_by.clone()
                    aria-invalid=invalid.clone()
                    on:change=set_value.clone()
                >
                    <option value="">{empty_label}</option>
                    {move || {
                        let slug = slug.clone();
                        let value = value.clone();
                        blocks
                            .get()
                            .and_then(Result::ok)
                            .map(|list| {
                                list.into_iter()
                                    .filter(|b| b.block_type == slug)
                                    .map(|b| {
                                        let id = b.id.to_string();
                                        let selected = value() == id;
                                        view! {
                                            <option value=id selected=selected>
                                                {b.name}
                                            </option>
                                        }
                                    })
                                    .collect_view()
                            })
                    }}
                </select>
            }
            .into_any()
        }
        FieldKind::Integer { minimum } => view! {
            <input
                id=input_id.clone()
                name=name.clone()
                type="number"
                inputmode="numeric"
                step="1"
                min=minimum.map(|m| m.to_string())
                placeholder=placeholder.clone()
                aria-describedby=described_by.clone()
                aria-invalid=invalid.clone()
                prop:value=value.clone()
                on:input=set_value.clone()
            />
        }
        .into_any(),
        // A text input, not `type=number`: the ids are typed with commas or blanks between them.
        FieldKind::IntegerList { .. } => view! {
            <input
                id=input_id.clone()
                name=name.clone()
                type="text"
                autocomplete="off"
                placeholder=placeholder.clone().unwrap_or_else(|| "e.g. 1, 3, 7".to_owned())
                aria-describedby=described_by.clone()
                aria-invalid=invalid.clone()
                prop:value=value.clone()
                on:input=set_value.clone()
            />
        }
        .into_any(),
        FieldKind::Date | FieldKind::Text => {
            let input_type = if matches!(kind, FieldKind::Date) {
                "date"
            } else {
                "text"
            };
            view! {
                <input
                    id=input_id.clone()
                    name=name.clone()
                    type=input_type
                    placeholder=placeholder.clone()
                    aria-describedby=described_by.clone()
                    aria-invalid=invalid.clone()
                    prop:value=value.clone()
                    on:input=set_value.clone()
                />
            }
            .into_any()
        }
    };

    view! {
        <div class="field" data-field=name.clone() hidden=move || !shown()>
            <label for=input_id.clone()>
                {title} {required.then(|| view! { <span class="required">" (required)"</span> })}
            </label>
            {input}
            <p class="help muted small" id=help_id>
                {description}
            </p>
            <p class="field-error" id=error_id>
                {error}
            </p>
        </div>
    }
}
