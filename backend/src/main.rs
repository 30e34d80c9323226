/// jemalloc instead of glibc's allocator: glibc kept each 19 MiB password-hash buffer in the arena of the
/// thread that computed it (idle `serve` held one from the start-up warm-up, twelve sequential logins
/// left 235 MiB); jemalloc gives large blocks back to the system (docs/benchmarks.md, `logins`). Built
/// unprefixed, it is also the C `malloc` of the process: SQLite allocates from it instead of from one
/// glibc arena per connection thread. Its options: `.cargo/config.toml`.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = chap_scheduler::cli::Cli::parse_with_settings_help();
    match cli.run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
