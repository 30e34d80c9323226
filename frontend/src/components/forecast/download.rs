//! "Download CSV": the API needs the bearer token, so a plain link cannot fetch the file. The
//! button fetches it through the api module and hands the browser a Blob URL to save.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use uuid::Uuid;
use wasm_bindgen::{JsCast, JsValue};

use crate::api;
use crate::components::runs::short_id;

/// How long the Blob URL lives: the browser reads the blob after the click returns.
const URL_LIFETIME: Duration = Duration::from_secs(60);

/// The file name the server's `Content-Disposition` would give.
fn file_name(run_id: Uuid, setup_id: i64) -> String {
    format!("forecast-{}-setup-{setup_id}.csv", short_id(run_id))
}

/// Saves `text` as a file named `name` through a hidden `<a download>` on a Blob URL.
fn save_text(name: &str, mime: &str, text: &str) -> Result<(), JsValue> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)?;
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| JsValue::from_str("no document"))?;
    let body = document
        .body()
        .ok_or_else(|| JsValue::from_str("no body"))?;
    let link: web_sys::HtmlAnchorElement = document.create_element("a")?.unchecked_into();
    link.set_href(&url);
    link.set_download(name);
    link.set_hidden(true);
    body.append_child(&link)?;
    link.click();
    body.remove_child(&link)?;
    set_timeout(
        move || {
            let _ = web_sys::Url::revoke_object_url(&url);
        },
        URL_LIFETIME,
    );
    Ok(())
}

/// Downloads one setup's forecast as CSV (one row per org unit, period and quantile).
#[component]
pub fn CsvDownload(run_id: Uuid, setup_id: i64) -> impl IntoView {
    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let download = move |_| {
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let result = match api::forecast_csv(run_id, setup_id).await {
                Ok(csv) => save_text(&file_name(run_id, setup_id), "text/csv", &csv)
                    .map_err(|_| "The browser could not save the file.".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            busy.try_set(false);
            error.try_set(result.err());
        });
    };
    view! {
        <div class="csv-download">
            <button
                type="button"
                class="button secondary"
                data-testid="forecast-csv"
                disabled=move || busy.get()
                on:click=download
            >
                {move || if busy.get() { "Preparing CSV…" } else { "Download CSV" }}
            </button>
            {move || {
                error
                    .get()
                    .map(|message| {
                        view! {
                            <p class="form-error" role="alert">
                                {message}
                            </p>
                        }
                    })
            }}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn the_file_is_named_like_the_servers_attachment() {
        let run = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
            .parse()
            .expect("uuid");
        assert_eq!(file_name(run, 3), "forecast-0190a1b2-setup-3.csv");
    }
}
