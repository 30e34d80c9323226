//! `dhis2-sim --scenario FILE --bind ADDR`: serves a scenario until interrupted.

use std::net::SocketAddr;
use std::process::ExitCode;

use dhis2_sim::{Scenario, Simulator};

const USAGE: &str = "usage: dhis2-sim [--scenario FILE | --national-scale [ORG_UNITS,MONTHS,COVARIATES]] [--bind ADDR]

  --scenario FILE     scenario JSON (see e2e/dhis2-sim/README.md); default: scenarios/demo.json's world
  --national-scale    the scale generator (default 1000,60,5: ~300k analytics rows)
  --bind ADDR         listen address (default 127.0.0.1:8080; port 0 picks one)

Prints `dhis2-sim listening on http://ADDR` when ready; stops on Ctrl-C or SIGTERM.";

enum Source {
    Demo,
    File(String),
    Scale(usize, u32, usize),
}

fn parse_args() -> Result<(Source, SocketAddr), String> {
    let mut source = Source::Demo;
    let mut bind: SocketAddr = "127.0.0.1:8080".parse().map_err(|e| format!("{e}"))?;
    let mut args = std::env::args().skip(1).peekable();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" => source = Source::File(args.next().ok_or("--scenario needs a file")?),
            "--bind" => {
                let addr = args.next().ok_or("--bind needs an address")?;
                bind = addr.parse().map_err(|e| format!("--bind {addr}: {e}"))?;
            }
            "--national-scale" => {
                source = Source::Scale(1000, 60, 5);
                if let Some(spec) = args.next_if(|a| !a.starts_with("--")) {
                    let parts: Vec<&str> = spec.split(',').collect();
                    let bad =
                        || format!("--national-scale {spec}: expected ORG_UNITS,MONTHS,COVARIATES");
                    let [ou, months, cov] = parts.as_slice() else {
                        return Err(bad());
                    };
                    source = Source::Scale(
                        ou.parse().map_err(|_| bad())?,
                        months.parse().map_err(|_| bad())?,
                        cov.parse().map_err(|_| bad())?,
                    );
                }
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument {other}\n\n{USAGE}")),
        }
    }
    Ok((source, bind))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (source, bind) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let scenario = match source {
        Source::Demo => Scenario::demo(),
        Source::File(path) => match Scenario::from_file(&path) {
            Ok(scenario) => scenario,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        Source::Scale(org_units, months, covariates) => {
            Scenario::national_scale(org_units, months, covariates)
        }
    };
    let sim = match Simulator::bind(scenario, bind).await {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!("error: listening on {bind}: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("dhis2-sim listening on {}", sim.base_url());
    shutdown_signal().await;
    sim.stop().await;
    ExitCode::SUCCESS
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
