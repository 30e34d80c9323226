//! The command line: `serve | worker | migrate | user | import-prefect | openapi | info`.

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context};
use chap_scheduler_api::{CreateUserRequest, Role, UpdateUserRequest};
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::ExposeSecret;

use crate::auth;
use crate::config::Config;
use crate::db;
use crate::startup::Application;

/// chap-scheduler: DHIS2 → chap-core predictions on demand or on a schedule.
#[derive(Debug, Parser)]
#[command(name = "chap-scheduler", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP API, the web UI and Swagger UI (migrates the database first).
    Serve,
    /// Run only workers: execute queued flow runs (scale out by starting more).
    Worker,
    /// Apply database migrations and exit (`migrate status` lists them without applying).
    Migrate {
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Import the credentials blocks, parameter defaults and schedules of the old (Python)
    /// chap-scheduler from its running Prefect 3 server. Prints the plan first; idempotent.
    ImportPrefect {
        /// Prefect's API URL, e.g. http://127.0.0.1:9090/prefect/api (the old chap-scheduler's).
        #[arg(long)]
        url: String,
        /// Print the plan and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print the OpenAPI document (or write it to a file).
    Openapi {
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print the effective configuration, secrets masked.
    Info,
}

#[derive(Debug, Subcommand)]
enum MigrateAction {
    /// List the migrations this build knows: applied or pending. Changes nothing.
    Status,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user. The password is read from standard input with --password-stdin, otherwise generated and printed.
    Add {
        /// Login name.
        username: String,
        /// Role: viewer, operator or admin.
        #[arg(long, default_value = "viewer")]
        role: Role,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users.
    List,
    /// Set a user's password (ends their sessions). Generated and printed unless --password-stdin.
    SetPassword {
        /// Login name.
        username: String,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: ends their sessions and revokes their API tokens.
    Disable {
        /// Login name.
        username: String,
    },
}

fn read_password(from_stdin: bool) -> anyhow::Result<(String, bool)> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok((line.trim_end_matches(['\r', '\n']).to_string(), false))
    } else {
        Ok((auth::random_token(18), true))
    }
}

impl Cli {
    /// Parses the command line; `serve --help` and `worker --help` end with every setting and its
    /// default, so an operator without the README finds them.
    pub fn parse_with_settings_help() -> Self {
        const SHORT: &str =
            "Settings are environment variables: --help lists them with their defaults.";
        let settings = settings_help();
        let command = Cli::command()
            .mut_subcommand("serve", |c| c.after_help(SHORT).after_long_help(settings.clone()))
            .mut_subcommand("worker", |c| c.after_help(SHORT).after_long_help(settings.clone()))
            .after_help("Settings are environment variables: `chap-scheduler serve --help` lists them, `chap-scheduler info` shows the values in effect.");
        Cli::from_arg_matches(&command.get_matches()).unwrap_or_else(|e| e.exit())
    }

    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        crate::install_crypto_provider();
        let config = Config::from_env()?;
        crate::telemetry::init(&config.log, &config.log_format);
        match self.command {
            Command::Serve => {
                let bind = config.bind;
                let public_path = config.public_path.clone();
                let app = Application::build(config).await?;
                let url = format!("http://{}:{}", bind.ip(), app.port());
                tracing::info!(%url, %public_path, "chap-scheduler started");
                println!("listening on {url}");
                if !public_path.is_root() {
                    println!("serving the web UI and the API under {url}{public_path}/");
                }
                app.run_until_stopped().await
            }
            Command::Worker => {
                let engine =
                    crate::startup::engine(&config, crate::flows::registry(&config)).await?;
                tracing::info!(
                    worker = engine.worker_id(),
                    queue = engine.queue().kind(),
                    concurrency = config.workers,
                    "worker started"
                );
                println!("worker {} started", engine.worker_id());
                crate::startup::run_worker_process(engine, &config).await
            }
            Command::Migrate { action: None } => {
                let conn = db::connect(&config).await?;
                db::migrate(&conn).await?;
                println!("migrations applied ({})", config.database_kind());
                Ok(())
            }
            Command::Migrate {
                action: Some(MigrateAction::Status),
            } => {
                let conn = db::connect(&config).await?;
                let status = db::migration_status(&conn).await?;
                let mut text = format!(
                    "database: {}\n",
                    crate::config::mask_url(config.database_url.expose_secret())
                );
                for (name, applied) in &status {
                    let state = if *applied { "applied" } else { "pending" };
                    text.push_str(&format!("{state:<8} {name}\n"));
                }
                let pending = status.iter().filter(|(_, applied)| !applied).count();
                text.push_str(&format!(
                    "{} applied, {pending} pending\n",
                    status.len() - pending
                ));
                print_ignoring_closed_pipe(&text)
            }
            Command::Openapi { output } => {
                let text = openapi_json()?;
                match output {
                    Some(path) => std::fs::write(&path, text)
                        .with_context(|| format!("writing {}", path.display()))?,
                    None => print_ignoring_closed_pipe(&text)?,
                }
                Ok(())
            }
            Command::Info => {
                let mut text = format!(
                    "chap-scheduler {}\nmode: {} database, {} queue\n",
                    env!("CARGO_PKG_VERSION"),
                    config.database_kind(),
                    config.queue_kind()
                );
                for (key, value) in config.describe() {
                    text.push_str(&format!("{key:<48} {value}\n"));
                }
                print_ignoring_closed_pipe(&text)
            }
            Command::User(cmd) => user_command(&config, cmd).await,
            Command::ImportPrefect { url, dry_run } => {
                crate::import_prefect::run(&config, &url, dry_run).await
            }
        }
    }
}

/// Every setting with its default (as `info` prints it with no variable set).
fn settings_help() -> String {
    let mut text = String::from(
        "Settings (environment variables; the default after each). `chap-scheduler info` shows the \
         values in effect. Every secret (DATABASE_URL, REDIS_URL, CHAP_SCHEDULER_JWT_SECRET, \
         CHAP_SCHEDULER_ADMIN_PASSWORD, CHAP_SCHEDULER_ENCRYPTION_KEY) can also be read from a file \
         named by <NAME>_FILE.\n\n",
    );
    match Config::from_source(&std::collections::HashMap::<String, String>::new()) {
        Ok(defaults) => {
            for (key, value) in defaults.describe() {
                text.push_str(&format!("  {key:<46} {value}\n"));
            }
        }
        Err(e) => text.push_str(&format!("  (the defaults could not be read: {e})\n")),
    }
    text
}

/// Writes to stdout; a reader that went away (`| head`) is not an error.
fn print_ignoring_closed_pipe(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// The OpenAPI document as pretty JSON with a trailing newline (the format of `openapi/openapi.json`).
pub fn openapi_json() -> anyhow::Result<String> {
    let mut text = crate::http::openapi()
        .to_pretty_json()
        .context("serialising the OpenAPI document")?;
    text.push('\n');
    Ok(text)
}

async fn user_command(config: &Config, cmd: UserCommand) -> anyhow::Result<()> {
    let conn = db::connect(config).await?;
    db::migrate(&conn).await?;
    let find = |name: String| {
        let conn = conn.clone();
        async move {
            db::users::by_username(&conn, &name)
                .await?
                .with_context(|| format!("no user named `{name}`"))
        }
    };
    match cmd {
        UserCommand::Add {
            username,
            role,
            password_stdin,
        } => {
            let (password, generated) = read_password(password_stdin)?;
            let user = auth::users::create(
                &conn,
                None,
                CreateUserRequest {
                    username,
                    password: password.clone(),
                    role,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("created user `{}` with role {}", user.username, user.role);
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::List => {
            println!(
                "{:<32} {:<9} {:<9} last login",
                "username", "role", "status"
            );
            for u in db::users::list(&conn).await? {
                let view = db::users::view(&u);
                println!(
                    "{:<32} {:<9} {:<9} {}",
                    view.username,
                    view.role,
                    if view.disabled { "disabled" } else { "active" },
                    view.last_login_at
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_else(|| "never".into())
                );
            }
        }
        UserCommand::SetPassword {
            username,
            password_stdin,
        } => {
            let user = find(username).await?;
            let (password, generated) = read_password(password_stdin)?;
            auth::users::update(
                &conn,
                None,
                user.id,
                UpdateUserRequest {
                    password: Some(password.clone()),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "password of `{}` changed; their sessions have ended",
                user.username
            );
            if generated {
                println!("password: {password}");
            }
        }
        UserCommand::Disable { username } => {
            let user = find(username).await?;
            if user.disabled {
                bail!("`{}` is already disabled", user.username);
            }
            auth::users::update(
                &conn,
                None,
                user.id,
                UpdateUserRequest {
                    disabled: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "disabled `{}`: sessions ended, API tokens revoked",
                user.username
            );
        }
    }
    Ok(())
}
