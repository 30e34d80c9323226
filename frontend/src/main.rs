//! Entry point of the chap-scheduler web UI: mounts the app on `<body>`.

mod api;
mod app;
mod clock;
mod components;
mod paths;
mod schema_form;
mod session;
mod tz;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
