//! `/admin/tokens`: API tokens. Everyone sees their own (admins see everyone's); operators and
//! admins create and revoke them. A new token's secret is shown once, with a Copy button, and
//! leaves the page when the box is dismissed.

use chap_scheduler_api::{ApiTokenView, CreateApiTokenRequest, CreatedApiToken, Role};
use chrono::{DateTime, TimeDelta, Utc};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use super::{error_sentence, focus_soon, point_at_first_error, show_refusal, FormField, RoleField};
use crate::api::{self, ApiError};
use crate::clock::{end_of, format_utc, now, parse_day, today, Zone};
use crate::components::form::FormActions;
use crate::components::shell::use_current_user;
use crate::components::time::{use_zone, zone_name, Time, TimeOr};
use crate::components::{set_document_title, LoadingNotice};

/// Longest token name the server accepts.
const MAX_NAME_CHARS: usize = 100;

/// Where a token stands now.
#[derive(Debug, Clone, Copy, PartialEq)]
enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

fn token_status(token: &ApiTokenView, at: DateTime<Utc>) -> TokenStatus {
    if token.revoked_at.is_some() {
        TokenStatus::Revoked
    } else if token.expires_at.is_some_and(|e| e <= at) {
        TokenStatus::Expired
    } else {
        TokenStatus::Active
    }
}

/// The last second of the chosen day on the viewer's clock: a token "expiring on 1 Dec" works
/// all of 1 Dec.
fn end_of_day(value: &str, zone: Zone) -> Result<Option<DateTime<Utc>>, String> {
    let Some(date) = parse_day(value)? else {
        return Ok(None);
    };
    if date < today(zone) {
        return Err("Choose today or a later day.".to_owned());
    }
    Ok(end_of(date, zone).map(|end| end - TimeDelta::seconds(1)))
}

/// `/admin/tokens`.
#[component]
pub fn ApiTokensAdmin() -> impl IntoView {
    set_document_title("API tokens");
    let me = use_current_user();
    let my_role = Signal::derive(move || me.with(|u| u.as_ref().map_or(Role::Viewer, |u| u.role)));
    let can_manage = Signal::derive(move || my_role.get() >= Role::Operator);
    let is_admin = Signal::derive(move || my_role.get() >= Role::Admin);
    let tokens = RwSignal::new(None::<Result<Vec<ApiTokenView>, ApiError>>);
    let creating = RwSignal::new(false);
    let created = RwSignal::new(None::<CreatedApiToken>);
    let notice = RwSignal::new(None::<String>);
    let reload = move || {
        spawn_local(async move {
            let result = api::list_tokens().await;
            tokens.try_set(Some(result));
        });
    };
    reload();

    let intro = move || {
        if is_admin.get() {
            "Tokens let other systems call the API with “Authorization: Bearer <token>”. As an admin you see everyone's tokens and can revoke any of them."
        } else if can_manage.get() {
            "Tokens let other systems call the API with “Authorization: Bearer <token>”. These are your tokens; each acts with at most your role."
        } else {
            "Tokens let other systems call the API with “Authorization: Bearer <token>”. These are your tokens. Viewers cannot create or revoke tokens; ask an admin."
        }
    };
    let on_created = Callback::new(move |token: Option<CreatedApiToken>| {
        creating.set(false);
        match token {
            Some(token) => {
                created.set(Some(token));
                reload();
                focus_soon("secret-heading");
            }
            None => focus_soon("new-token-button"),
        }
    });
    let on_revoked = Callback::new(move |name: String| {
        notice.set(Some(format!(
            "Token {name} is revoked; it stopped working at once."
        )));
        reload();
        focus_soon("tokens-heading");
    });

    view! {
        <section class="page" aria-labelledby="tokens-heading">
            <h1 id="tokens-heading" tabindex="-1">
                "API tokens"
            </h1>
            <p>{intro}</p>
            <Show when=move || {
                can_manage.get() && !creating.get() && created.with(Option::is_none)
            }>
                <div class="actions">
                    <button
                        type="button"
                        class="button primary"
                        id="new-token-button"
                        on:click=move |_| {
                            notice.set(None);
                            creating.set(true);
                        }
                    >
                        "New token"
                    </button>
                </div>
            </Show>
            <p class="notice" role="status">
                {move || notice.get()}
            </p>
        </section>
        <Show when=move || creating.get()>
            <NewTokenForm max_role=my_role.get_untracked() on_done=on_created />
        </Show>
        {move || {
            created
                .get()
                .map(|token| {
                    view! {
                        <SecretBox
                            token
                            on_dismiss=move || {
                                created.set(None);
                                focus_soon("new-token-button");
                            }
                        />
                    }
                })
        }}
        {move || match tokens.get() {
            None => view! { <LoadingNotice /> }.into_any(),
            Some(Err(e)) => view! { <p class="form-error" role="alert">{e.to_string()}</p> }.into_any(),
            Some(Ok(list)) if list.is_empty() => view! {
                <p class="empty" data-testid="tokens-empty">"There are no API tokens yet."</p>
            }
            .into_any(),
            Some(Ok(list)) => view! { <TokenTable list is_admin can_manage on_revoked /> }.into_any(),
        }}
    }
}

/// The tokens: name, prefix, role, owner (admins), dates and status; Revoke for managers.
#[component]
fn TokenTable(
    list: Vec<ApiTokenView>,
    is_admin: Signal<bool>,
    can_manage: Signal<bool>,
    on_revoked: Callback<String>,
) -> impl IntoView {
    let at = now();
    let admin = is_admin.get_untracked();
    let manage = can_manage.get_untracked();
    view! {
        <div class="table-scroll">
            <table class="runs-table admin-table" data-testid="tokens-table">
                <caption class="visually-hidden">"API tokens"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Name"</th>
                        <th scope="col">"Prefix"</th>
                        <th scope="col">"Role"</th>
                        {admin.then(|| view! { <th scope="col">"Owner"</th> })}
                        <th scope="col">"Created"</th>
                        <th scope="col">"Expires"</th>
                        <th scope="col">"Last used"</th>
                        <th scope="col">"Status"</th>
                        {manage.then(|| view! { <th scope="col">"Actions"</th> })}
                    </tr>
                </thead>
                <tbody>
                    {list
                        .into_iter()
                        .map(|token| {
                            let status = token_status(&token, at);
                            view! { <TokenRow token status admin manage on_revoked /> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn TokenRow(
    token: ApiTokenView,
    status: TokenStatus,
    admin: bool,
    manage: bool,
    on_revoked: Callback<String>,
) -> impl IntoView {
    let badge = match status {
        TokenStatus::Active => view! { <span class="state-badge status-on">"Active"</span> },
        TokenStatus::Expired => view! { <span class="state-badge status-expired">"Expired"</span> },
        TokenStatus::Revoked => view! { <span class="state-badge status-off">"Revoked"</span> },
    };
    let revoked_title = token
        .revoked_at
        .map(|at| format!("Revoked {}", format_utc(at)))
        .unwrap_or_default();
    view! {
        <tr data-token-id=token.id.to_string()>
            <th scope="row">{token.name.clone()}</th>
            <td>
                <code>{format!("{}…", token.prefix)}</code>
            </td>
            <td>{token.role.as_str()}</td>
            {admin.then(|| view! { <td>{token.username.clone()}</td> })}
            <td>
                <Time at=token.created_at />
            </td>
            <td>
                <TimeOr at=token.expires_at none="never" />
            </td>
            <td>
                <TimeOr at=token.last_used_at none="never" />
            </td>
            <td title=revoked_title>{badge}</td>
            {manage
                .then(|| {
                    view! {
                        <td>
                            {(status == TokenStatus::Active)
                                .then(|| {
                                    view! { <RevokeControl id=token.id name=token.name.clone() on_revoked /> }
                                })}
                        </td>
                    }
                })}
        </tr>
    }
}

/// "Revoke", then "Yes, revoke" / "Cancel" in place.
#[component]
fn RevokeControl(id: Uuid, name: String, on_revoked: Callback<String>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let name = StoredValue::new(name);
    let revoke_id = move || format!("token-{id}-revoke");
    let confirm_id = move || format!("token-{id}-confirm");
    let revoke = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match api::revoke_token(id).await {
                Ok(()) => on_revoked.run(name.get_value()),
                Err(e) => {
                    busy.try_set(false);
                    error.try_set(Some(error_sentence(&e)));
                }
            }
        });
    };
    view! {
        <Show
            when=move || confirming.get()
            fallback=move || {
                view! {
                    <button
                        type="button"
                        class="button secondary"
                        id=revoke_id()
                        on:click=move |_| {
                            confirming.set(true);
                            focus_soon(confirm_id());
                        }
                    >
                        "Revoke"
                        <span class="visually-hidden">{format!(" {}", name.get_value())}</span>
                    </button>
                }
            }
        >
            <div class="inline-confirm" role="group" aria-label=format!("Revoke {}", name.get_value())>
                <span class="small">"It stops working at once, for good."</span>
                <div class="row-actions">
                    <button
                        type="button"
                        class="button danger"
                        id=confirm_id()
                        on:click=revoke
                        disabled=busy
                    >
                        "Yes, revoke"
                        <span class="visually-hidden">{format!(" {}", name.get_value())}</span>
                    </button>
                    <button
                        type="button"
                        class="button secondary"
                        on:click=move |_| {
                            confirming.set(false);
                            error.set(None);
                            focus_soon(revoke_id());
                        }
                    >
                        "Cancel"
                    </button>
                </div>
                <p class="field-error" role="alert">
                    {move || error.get()}
                </p>
            </div>
        </Show>
    }
}

/// "New token": a name, a role up to your own, and an optional last day.
#[component]
fn NewTokenForm(max_role: Role, on_done: Callback<Option<CreatedApiToken>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let expires = RwSignal::new(String::new());
    let zone = use_zone();
    let name_error = RwSignal::new(None::<String>);
    let role_error = RwSignal::new(None::<String>);
    let expires_error = RwSignal::new(None::<String>);
    let form_error = RwSignal::new(None::<String>);
    let saving = RwSignal::new(false);
    let name_problem = |v: String| {
        let chars = v.trim().chars().count();
        if chars == 0 {
            Some("Required.".to_owned())
        } else if chars > MAX_NAME_CHARS {
            Some(format!("At most {MAX_NAME_CHARS} characters."))
        } else {
            None
        }
    };

    let submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        name_error.set(name_problem(name.get_untracked()));
        let expires_at = end_of_day(&expires.get_untracked(), zone.get_untracked());
        expires_error.set(expires_at.as_ref().err().cloned());
        let slots = [
            ("name", "token-name", name_error),
            ("role", "token-role", role_error),
            ("expires_at", "token-expires", expires_error),
        ];
        if point_at_first_error(&slots, form_error) {
            return;
        }
        form_error.set(None);
        saving.set(true);
        let request = CreateApiTokenRequest {
            name: name.get_untracked().trim().to_owned(),
            role: Some(role.get_untracked()),
            expires_at: expires_at.ok().flatten(),
        };
        spawn_local(async move {
            let result = api::create_token(&request).await;
            saving.try_set(false);
            match result {
                Ok(token) => on_done.run(Some(token)),
                Err(e) => show_refusal(&e, &slots, form_error),
            }
        });
    };
    focus_soon("token-name");

    view! {
        <section class="panel" aria-labelledby="new-token-heading" data-testid="new-token">
            <h2 id="new-token-heading">"New token"</h2>
            <form class="admin-form" on:submit=submit novalidate>
                <FormField
                    id="token-name"
                    label="Name"
                    required=true
                    value=name
                    error=name_error
                    help="What the token is for, e.g. “nightly export from the data warehouse”."
                    validate=Callback::new(name_problem)
                />
                <RoleField id="token-role" value=role max=max_role error=role_error />
                // The day ends on the viewer's clock; the help says which.
                {move || {
                    let zone = zone.get();
                    view! {
                        <FormField
                            id="token-expires"
                            label="Expires after"
                            input_type="date"
                            value=expires
                            error=expires_error
                            min=today(zone).format("%Y-%m-%d").to_string()
                            help=format!(
                                "The token works until the end of this day ({}). Leave empty for a token that never expires.",
                                zone_name(zone),
                            )
                            validate=Callback::new(move |v: String| end_of_day(&v, zone).err())
                        />
                    }
                }}
                <FormActions
                    error=form_error
                    busy=saving
                    submit="Create token"
                    busy_label="Creating…"
                    on_cancel=Callback::new(move |()| on_done.run(None))
                />
            </form>
        </section>
    }
}

/// What the Copy button achieved.
#[derive(Debug, Clone, PartialEq)]
enum CopyOutcome {
    Copied,
    Failed(&'static str),
}

/// Writes `text` to the clipboard, if this browser lets the page do so.
async fn copy_to_clipboard(text: &str) -> CopyOutcome {
    const UNAVAILABLE: &str =
        "The clipboard is not available here: select the token above and copy it by hand.";
    let Some(navigator) = web_sys::window().map(|w| w.navigator()) else {
        return CopyOutcome::Failed(UNAVAILABLE);
    };
    // `navigator.clipboard` is missing outside secure contexts; calling it then would throw.
    let has_clipboard = js_sys::Reflect::get(&navigator, &JsValue::from_str("clipboard"))
        .is_ok_and(|c| !c.is_undefined() && !c.is_null());
    if !has_clipboard {
        return CopyOutcome::Failed(UNAVAILABLE);
    }
    match JsFuture::from(navigator.clipboard().write_text(text)).await {
        Ok(_) => CopyOutcome::Copied,
        Err(_) => CopyOutcome::Failed(
            "The browser did not allow copying: select the token above and copy it by hand.",
        ),
    }
}

/// The new token's secret, this once: Copy, and Done to remove it from the page.
#[component]
fn SecretBox(token: CreatedApiToken, on_dismiss: impl Fn() + Copy + 'static) -> impl IntoView {
    let secret = StoredValue::new(token.secret);
    let copied = RwSignal::new(None::<CopyOutcome>);
    let copy = move |_| {
        copied.set(None);
        let text = secret.get_value();
        spawn_local(async move {
            let outcome = copy_to_clipboard(&text).await;
            copied.try_set(Some(outcome));
        });
    };
    let name = token.token.name;
    view! {
        <section
            class="panel secret-box"
            aria-labelledby="secret-heading"
            data-testid="token-secret-box"
        >
            <h2 id="secret-heading" tabindex="-1">
                {format!("Your new token “{name}”")}
            </h2>
            <p>
                <strong>"Copy it now and keep it somewhere safe: it will not be shown again."</strong>
                " If it is lost, revoke it and create a new one."
            </p>
            <p class="secret-line">
                <code class="secret" id="token-secret" data-testid="token-secret">
                    {secret.get_value()}
                </code>
            </p>
            <div class="actions">
                <button type="button" class="button primary" on:click=copy>
                    "Copy"
                    <span class="visually-hidden">" the token"</span>
                </button>
                <button type="button" class="button secondary" on:click=move |_| on_dismiss()>
                    "Done, hide the token"
                </button>
            </div>
            <p
                role="status"
                class=move || match copied.get() {
                    Some(CopyOutcome::Failed(_)) => "copy-status field-error",
                    _ => "copy-status",
                }
            >
                {move || {
                    copied
                        .get()
                        .map(|c| match c {
                            CopyOutcome::Copied => "Copied to the clipboard.",
                            CopyOutcome::Failed(why) => why,
                        })
                }}
            </p>
        </section>
    }
}
