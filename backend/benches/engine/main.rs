//! Benchmarks of chap-scheduler that print figures (they never assert timing):
//!
//! ```sh
//! cargo bench -p chap-scheduler --bench engine -- [all|startup|logins|latency|throughput|schedule|list|http|import|prediction|census|purge]…
//! ```
//!
//! The binary also has two child modes, `--serve-mode` and `--worker-mode`: the real application and
//! engine built with the benchmark's trivial flow, which production does not register.

mod api;
mod census;
mod cluster;
mod cpu;
mod flow;
mod footprint;
mod history;
mod logins;
mod prediction;
mod purge;
mod runs;
mod scale;
mod stack;
mod support;

use std::process::ExitCode;

use support::{loadavg, Report, Services};

const ALL: [&str; 11] = [
    "startup",
    "logins",
    "latency",
    "throughput",
    "schedule",
    "list",
    "http",
    "import",
    "prediction",
    "census",
    "purge",
];

#[tokio::main]
async fn main() -> ExitCode {
    // `cargo bench` appends `--bench`; filters of the libtest harness mean nothing here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let child = match args.first().map(String::as_str) {
        Some("--serve-mode") => Some(flow::serve().await),
        Some("--worker-mode") => Some(flow::worker().await),
        Some("--census-mode") => Some(census::child().await),
        _ => None,
    };
    if let Some(result) = child {
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let which = match support::chosen(&args, &ALL) {
        Ok(which) => which,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    chap_scheduler::install_crypto_provider();
    let services = Services::from_env();
    support::banner("chap-scheduler benchmarks");
    let mut report = Report::default();
    let mut failed = false;
    for name in which {
        println!("\n== {name} (load {})", loadavg());
        let result = match name {
            "startup" => footprint::run(&services, &mut report).await,
            "logins" => logins::run(&services, &mut report).await,
            "latency" => runs::latency(&services, &mut report).await,
            "throughput" => runs::throughput(&services, &mut report).await,
            "schedule" => runs::schedule(&services, &mut report).await,
            "list" => api::list(&services, &mut report).await,
            "import" => scale::import(&services, &mut report).await,
            "prediction" => prediction::run(&services, &mut report).await,
            "census" => census::run(&services, &mut report).await,
            "purge" => purge::run(&services, &mut report).await,
            _ => api::http(&services, &mut report).await,
        };
        if let Err(e) = result {
            failed = true;
            report.add(name, format!("not measured: {e:#}"), "");
        }
    }
    report.print_table();
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
