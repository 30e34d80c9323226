use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = chap_scheduler::cli::Cli::parse();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
