//! Pieces every form and list of the UI ends with.

use leptos::prelude::*;

/// The end of a form: its error line (a live region), the submit button — relabelled and disabled
/// while `busy` — and, when given, a Cancel button.
#[component]
pub fn FormActions(
    /// The message for the whole form (empty: nothing shown).
    error: RwSignal<Option<String>>,
    /// A request is on its way.
    busy: RwSignal<bool>,
    /// Label of the submit button.
    submit: &'static str,
    /// Its label while busy, e.g. "Saving…".
    busy_label: &'static str,
    /// What Cancel does; no Cancel button without it.
    #[prop(optional)]
    on_cancel: Option<Callback<()>>,
    /// Label of the Cancel button.
    #[prop(default = "Cancel")]
    cancel_label: &'static str,
) -> impl IntoView {
    view! {
        <p class="form-error" role="alert">
            {move || error.get()}
        </p>
        <div class="actions">
            <button type="submit" class="button primary" disabled=busy>
                {move || if busy.get() { busy_label } else { submit }}
            </button>
            {on_cancel
                .map(|cancel| {
                    view! {
                        <button type="button" class="button secondary" on:click=move |_| cancel.run(())>
                            {cancel_label}
                        </button>
                    }
                })}
        </div>
    }
}

/// "Load more" under a paged list, while there is a next page.
#[component]
pub fn LoadMore(
    /// There is a next page.
    #[prop(into)]
    more: Signal<bool>,
    /// It is being fetched.
    loading: RwSignal<bool>,
    on_load: Callback<()>,
) -> impl IntoView {
    view! {
        <Show when=move || more.get()>
            <button
                type="button"
                class="button secondary load-more"
                on:click=move |_| on_load.run(())
                disabled=loading
            >
                {move || if loading.get() { "Loading…" } else { "Load more" }}
            </button>
        </Show>
    }
}
