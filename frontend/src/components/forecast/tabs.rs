//! One tab per prediction setup (the ARIA tabs pattern: arrow keys, Home and End move between the
//! tabs and choose them; only the chosen tab is in the tab order).

use leptos::ev::KeyboardEvent;
use leptos::prelude::*;
use wasm_bindgen::JsCast;

/// The id of a setup's tab element.
pub fn tab_id(setup_id: i64) -> String {
    format!("forecast-tab-{setup_id}")
}

/// The id of the one tab panel the tabs control.
pub const PANEL_ID: &str = "forecast-tabpanel";

/// Where a key moves from tab `at` of `count` (`None`: not a key the tabs use).
fn moved(key: &str, at: usize, count: usize) -> Option<usize> {
    match key {
        "ArrowRight" | "ArrowDown" => Some((at + 1) % count),
        "ArrowLeft" | "ArrowUp" => Some((at + count - 1) % count),
        "Home" => Some(0),
        "End" => Some(count - 1),
        _ => None,
    }
}

fn focus_tab(setup_id: i64) {
    let tab = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(&tab_id(setup_id)))
        .and_then(|el| el.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(tab) = tab {
        // Focus cannot move to the tab before it is drawn: the chosen one may just have changed.
        let _ = tab.focus();
    }
}

/// The setup tabs: `setups` are (id, name); `on_choose` hears the chosen setup's id.
#[component]
pub fn SetupTabs(
    setups: Vec<(i64, String)>,
    chosen: Signal<i64>,
    on_choose: impl Fn(i64) + Copy + Send + Sync + 'static,
) -> impl IntoView {
    let ids: Vec<i64> = setups.iter().map(|(id, _)| *id).collect();
    let count = ids.len();
    let on_keydown = move |ev: KeyboardEvent| {
        let at = ids.iter().position(|id| *id == chosen.get_untracked());
        if let Some(next) = at.and_then(|at| moved(&ev.key(), at, count)) {
            ev.prevent_default();
            on_choose(ids[next]);
            focus_tab(ids[next]);
        }
    };
    view! {
        <div class="forecast-tabs" role="tablist" aria-label="Prediction setups" on:keydown=on_keydown>
            {setups
                .into_iter()
                .map(|(id, name)| {
                    let selected = move || chosen.get() == id;
                    view! {
                        <button
                            type="button"
                            role="tab"
                            class="forecast-tab"
                            id=tab_id(id)
                            data-setup-id=id
                            aria-selected=move || selected().to_string()
                            aria-controls=PANEL_ID
                            tabindex=move || if selected() { "0" } else { "-1" }
                            on:click=move |_| on_choose(id)
                        >
                            {name}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::moved;

    #[test]
    fn arrows_wrap_around_and_home_and_end_jump_to_the_ends() {
        assert_eq!(moved("ArrowRight", 2, 3), Some(0));
        assert_eq!(moved("ArrowLeft", 0, 3), Some(2));
        assert_eq!(moved("ArrowDown", 0, 3), Some(1));
        assert_eq!(moved("Home", 2, 3), Some(0));
        assert_eq!(moved("End", 0, 3), Some(2));
        assert_eq!(moved("Enter", 0, 3), None);
    }
}
