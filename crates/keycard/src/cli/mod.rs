//! The `keycard` command line. `serve` runs the server; the other commands administer the
//! database named by the same configuration, so they work on a stopped server as well as beside
//! running nodes (changes reach every node within `cache.poll_interval_ms`).
//!
//! This file holds [`Cli`], [`Command`] and the dispatch ([`run`]). One file per command group,
//! each with its subcommand enum and the function that runs it: `serve.rs`, `config_cmd.rs`
//! (`config check`, `config dump`), `client.rs`, `user.rs`, `scope.rs`, `keys.rs`; `output.rs`
//! prints their results. The example clients `login` and `device-login` live in
//! [`crate::dev`], which is not the server.
//!
//! Adding a command: add a variant to [`Command`] with a doc comment (it becomes the `--help`
//! text) and an example to `EXAMPLES`; put its subcommand enum and the function that runs it in
//! a new file here, and call that function from [`run`]. Errors are one clear line on stderr and
//! exit 1.

mod client;
mod config_cmd;
mod keys;
mod output;
mod scope;
mod serve;
mod user;

pub use client::ClientCmd;
pub use config_cmd::ConfigCmd;
pub use keys::KeysCmd;
pub use scope::ScopeCmd;
pub use user::UserCmd;

use crate::admin::{Admin, AdminError};
use crate::app;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, LogFormat};
use crate::dev::{device_login, native_login};
use crate::state::Secrets;
use clap::{Args, Parser, Subcommand};
use client::client_cmd;
use config_cmd::toml_dump;
use keys::keys_cmd;
use scope::scope_cmd;
use serve::serve_forever;
use std::path::PathBuf;
use std::process::ExitCode;
use user::user_cmd;

const EXAMPLES: &str = "\
Examples:
  keycard serve                               run on http://127.0.0.1:8080 with SQLite in ./data
  keycard serve --demo                        the same plus a demo user, clients and API (all four roles)
  keycard client create --name billing --grant client_credentials --scope invoices:read
  curl -u ID:SECRET -d grant_type=client_credentials http://127.0.0.1:8080/token
  keycard user create --username alice --email alice@example.com
  keycard user invite bob --email bob@example.com   mails bob a link to choose his password
  keycard keys rotate                         new signing key; the old one stays published
  keycard config check keycard.toml           validate a config file
  keycard login --client-id desktop           example native app: browser, loopback, PKCE
  keycard device-login --client-id tv         example device: user code and QR code
  KEYCARD_DATABASE__URL=postgres://postgres@127.0.0.1/keycard keycard serve

Configuration: --config FILE, else ./keycard.toml when present, then KEYCARD_* environment
variables (KEYCARD_HTTP__LISTEN, KEYCARD_SECRET, ...). See keycard.example.toml.";

/// Keycard: an OAuth 2.1 and OpenID Connect authorization server.
#[derive(Debug, Parser)]
#[command(name = "keycard", version, about, after_help = EXAMPLES, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: ./keycard.toml when it exists).
    #[arg(long, short = 'c', global = true, env = "KEYCARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: text (default) or json. Overrides log.format.
    #[arg(long, global = true, value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (zero config: SQLite in ./data, keys created, http://127.0.0.1:8080).
    Serve {
        /// Address to listen on (overrides http.listen).
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Also run the demo (development only): a demo user, two demo clients and a demo API
        /// protected with keycard-resource on 127.0.0.1:8081; prints what to run next.
        #[arg(long)]
        demo: bool,
        /// Port of the demo API on 127.0.0.1 (with --demo).
        #[arg(long, default_value_t = crate::dev::demo::DEFAULT_PORT, requires = "demo")]
        demo_port: u16,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate or show the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage clients (applications).
    #[command(subcommand)]
    Client(Box<ClientCmd>),
    /// Manage users.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage scopes.
    #[command(subcommand)]
    Scope(ScopeCmd),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Example client: sign a user in with the device flow (RFC 8628), against any issuer.
    #[command(after_help = device_login::DEVICE_LOGIN_HELP)]
    DeviceLogin(device_login::DeviceLoginArgs),
    /// Example client: sign a user in like a native app (browser, loopback redirect, PKCE; RFC 8252).
    #[command(after_help = native_login::LOGIN_HELP)]
    Login(native_login::LoginArgs),
}

/// Output format flag.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Entry point: parses arguments, runs, prints one-line errors.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let is_serve = matches!(cli.command, Command::Serve { .. });
    // The first random number on a thread initialises aws-lc's per-thread generator (tens of
    // milliseconds); do it as each worker starts, in parallel with start-up, not in the first request.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(|| {
            let _ = crate::jose::random_bytes::<8>();
        })
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    // Leave without waiting on a runtime thread that is still busy: once seen in tests under
    // heavy load, sqlx's pool maintenance kept a worker polling after `store.close()` and the
    // CLI hung at exit with its work done. The command's result is already known.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if is_serve {
                tracing::error!("{e:#}");
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(config: &Config, cli_format: Option<&str>, serve: bool) {
    let default = if serve { config.log.level.clone() } else { "warn".to_owned() };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let json = match cli_format {
        Some(f) => f == "json",
        None => config.log.format == LogFormat::Json,
    };
    // A log line that cannot be written (stderr redirected to a file on a full disk) is dropped:
    // tracing-subscriber would otherwise report it with `eprintln!`, which panics when stderr
    // fails, and every request that logs would die without an answer (docs/reliability.md §3).
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).log_internal_errors(false);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCmd::Check { file }) = &cli.command {
        return config_cmd::check(file.clone().or(cli.config.clone()));
    }
    // The example clients talk to an issuer over HTTP and need no local configuration.
    let cli = match cli.command {
        Command::DeviceLogin(args) => return device_login::device_login(args).await,
        Command::Login(args) => return native_login::login(args).await,
        command => Cli { command, ..cli },
    };
    let mut config = Config::load(cli.config.as_deref())?;
    let serve = matches!(cli.command, Command::Serve { .. });
    init_logging(&config, cli.log_format.as_deref(), serve);
    match cli.command {
        Command::Serve { listen, demo, demo_port } => {
            if let Some(l) = listen {
                config.http.listen = l;
            }
            serve_forever(config, demo.then_some(demo_port)).await
        }
        Command::Config(ConfigCmd::Dump) => {
            print!("{}", toml_dump(&config)?);
            Ok(())
        }
        Command::Config(ConfigCmd::Check { .. }) => Ok(()),
        Command::Migrate => {
            let store = app::open_store(&config).await?;
            println!("database {} is up to date", app::redact_url(&config.database_url()));
            store.close().await;
            Ok(())
        }
        Command::Client(cmd) => with_admin(&config, |a| Box::pin(client_cmd(a, *cmd))).await,
        Command::User(cmd) => with_admin(&config, |a| Box::pin(user_cmd(a, cmd))).await,
        Command::Scope(cmd) => with_admin(&config, |a| Box::pin(scope_cmd(a, cmd))).await,
        Command::Keys(cmd) => keys_cmd(&config, cmd).await,
        Command::DeviceLogin(_) | Command::Login(_) => unreachable!("handled before the configuration is loaded"),
    }
}

type AdminFut<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

async fn with_admin(config: &Config, f: impl for<'a> FnOnce(&'a Admin<'a>) -> AdminFut<'a>) -> anyhow::Result<()> {
    let secret = app::load_secret(config)?;
    let secrets = Secrets::derive(&secret);
    let store = app::open_store(config).await?;
    let admin = Admin { store: &store, config, hash_key: &secrets.hash_key, kek: &secrets.kek, now: SystemClock.now() };
    let r = f(&admin).await;
    store.close().await;
    r
}

fn admin_err(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!(e)
}
