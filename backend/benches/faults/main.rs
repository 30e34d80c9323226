//! The fault script's harness (`scripts/faults`): starts PostgreSQL + Redis installations of the real
//! release binary (`serve` and 2 `worker` processes) against the DHIS2 + chap simulator, does to each
//! what a real outage or operator would — kill, stop, freeze, flush, restart, cut off, cancel — and prints
//! what was lost. Every loss column must read zero.
//!
//! ```sh
//! cargo bench -p chap-scheduler --bench faults -- [all|spread|kill|term|redis|postgres|vanish|restart|two-serves|zombie|cancels]…
//! ```

mod faults;
mod outages;
#[allow(clippy::expect_used)]
#[path = "../../tests/api/packet_filter.rs"]
mod packet_filter;
mod rig;
#[allow(dead_code)]
#[path = "../engine/support.rs"]
mod support;
mod tally;

/// The flow `support` names for bulk-inserted rows (this harness inserts none).
mod flow {
    pub const FLOW: &str = "dhis2-chap-prediction";
}

use std::process::ExitCode;

use support::{loadavg, Services};
use tally::Tally;

const ALL: [&str; 10] = [
    "spread",
    "kill",
    "term",
    "redis",
    "postgres",
    "vanish",
    "restart",
    "two-serves",
    "zombie",
    "cancels",
];

/// A finished row of the table.
pub struct Row {
    /// What was done.
    pub fault: String,
    /// What it cost.
    pub tally: Tally,
    /// What else was seen.
    pub notes: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let which = match support::chosen(&args, &ALL) {
        Ok(which) => which,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    chap_scheduler::install_crypto_provider();
    let services = Services::from_env();
    support::banner("chap-scheduler faults");
    let mut rows = Vec::new();
    let mut failed = false;
    for name in which {
        println!("\n== {name} (load {})", loadavg());
        let started = std::time::Instant::now();
        match faults::run(name, &services).await {
            Ok(row) => {
                println!(
                    "   {:?} in {:.0} s: {}",
                    row.tally,
                    started.elapsed().as_secs_f64(),
                    row.notes
                );
                failed |= !row.tally.clean();
                rows.push(row);
            }
            Err(e) => {
                failed = true;
                println!("   not measured: {e:#}");
                rows.push(Row {
                    fault: name.into(),
                    tally: Tally::default(),
                    notes: format!("not measured: {e:#}"),
                });
            }
        }
    }
    println!(
        "\n| fault | runs | terminal | lost | executed twice | duplicate chap jobs | duplicate slots | missed slots | wrong final state | notes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let t = &r.tally;
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}; {} chap jobs in all |",
            r.fault,
            t.runs,
            t.terminal,
            t.lost,
            t.twice,
            t.duplicate_jobs,
            t.duplicate_slots,
            t.missed_slots,
            t.wrong_state,
            r.notes,
            t.jobs
        );
    }
    if failed {
        println!("\nSOME FAULT LOST SOMETHING (or was not measured)");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
