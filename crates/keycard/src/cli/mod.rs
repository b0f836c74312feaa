//! The `keycard` command line. `serve` runs the server; the other commands administer the
//! database named by the same configuration, so they work on a stopped server as well as beside
//! running nodes (changes reach every node within `cache.poll_interval_ms`).
//!
//! Adding a command: add a variant with a doc comment (it becomes the `--help` text) and an
//! example to `EXAMPLES`, and a `run_*` function. Errors are one clear line on stderr and exit 1.

mod client_flows;
mod output;

use crate::admin::{Admin, AdminError, ClientSpec};
use crate::app;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::config::{Config, LogFormat};
use crate::jose::Alg;
use crate::keys;
use crate::model::{AuthMethod, GrantType, TokenFormat};
use crate::state::{AppState, Secrets};
use crate::store::Store;
use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand};
use output::Out;
use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

const EXAMPLES: &str = "\
Examples:
  keycard serve                               run on http://127.0.0.1:8080 with SQLite in ./data
  keycard serve --demo                        the same plus a demo user, clients and API (all four roles)
  keycard client create --name billing --grant client_credentials --scope invoices:read
  curl -u ID:SECRET -d grant_type=client_credentials http://127.0.0.1:8080/token
  keycard user create --username alice --email alice@example.com
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
        #[arg(long, default_value_t = crate::demo::DEFAULT_PORT, requires = "demo")]
        demo_port: u16,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Validate or show the configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Manage clients (applications).
    #[command(subcommand)]
    Client(ClientCmd),
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
    #[command(after_help = client_flows::DEVICE_LOGIN_HELP)]
    DeviceLogin(client_flows::DeviceLoginArgs),
    /// Example client: sign a user in like a native app (browser, loopback redirect, PKCE; RFC 8252).
    #[command(after_help = client_flows::LOGIN_HELP)]
    Login(client_flows::LoginArgs),
}

/// `keycard config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCmd {
    /// Check a configuration file (and the environment); exit 1 naming the bad key.
    Check {
        /// The file (default: --config, else ./keycard.toml).
        file: Option<PathBuf>,
    },
    /// Print the effective configuration as TOML, secrets redacted.
    Dump,
}

/// Output format flag.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `keycard client …`
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints its id and (confidential clients) its secret ONCE.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Choose the client id (printable ASCII); default: random.
        #[arg(long)]
        id: Option<String>,
        /// Allowed grant type (repeatable): client_credentials, authorization_code, refresh_token, device_code.
        #[arg(long = "grant", required_unless_present = "resource_audiences")]
        grants: Vec<GrantType>,
        /// Allowed scope (repeatable, or space separated); unknown scopes are created.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Redirect URI (repeatable), matched exactly.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (no secret: SPAs, native apps, devices).
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default) or client_secret_post.
        #[arg(long)]
        auth_method: Option<AuthMethod>,
        /// Access token format: jwt (default) or opaque.
        #[arg(long)]
        token_format: Option<TokenFormat>,
        /// Access token lifetime in seconds.
        #[arg(long)]
        access_token_ttl: Option<i64>,
        /// Audience (aud) of the client's access tokens.
        #[arg(long)]
        audience: Option<String>,
        /// Browser origin allowed for CORS (repeatable), e.g. https://app.example.com.
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        /// Make it a resource server for this audience (repeatable): it may introspect access
        /// tokens whose aud is one of them. Needs no --grant.
        #[arg(long = "resource-audience")]
        resource_audiences: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List clients.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one client (never its secret).
    Show {
        /// Client id.
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a client; only the given options change.
    Update {
        /// Client id.
        id: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Replace the grant types (repeatable).
        #[arg(long = "grant")]
        grants: Vec<GrantType>,
        /// Replace the allowed scopes (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Add an allowed scope (repeatable).
        #[arg(long = "add-scope")]
        add_scopes: Vec<String>,
        /// Remove an allowed scope (repeatable).
        #[arg(long = "remove-scope")]
        remove_scopes: Vec<String>,
        /// Replace the redirect URIs (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Access token format.
        #[arg(long)]
        token_format: Option<TokenFormat>,
        /// Access token lifetime in seconds.
        #[arg(long)]
        access_token_ttl: Option<i64>,
        /// Audience of access tokens.
        #[arg(long)]
        audience: Option<String>,
        /// Replace the browser origins allowed for CORS (repeatable).
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        /// Replace the audiences this client serves as a resource server (repeatable).
        #[arg(long = "resource-audience")]
        resource_audiences: Vec<String>,
        /// Disable the client (it can no longer authenticate).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the client.
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a client and its tokens.
    Delete {
        /// Client id.
        id: String,
    },
    /// Replace a client's secret; prints the new one ONCE. The old one stops working at once.
    RotateSecret {
        /// Client id.
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the keyed hash of a secret read from stdin, for `secret_hash` in provisioning files
    /// (valid only with the same server secret).
    HashSecret,
}

/// `keycard user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is prompted for (or read from stdin with --password-stdin).
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// Create the user without a password (cannot sign in until one is set).
        #[arg(long)]
        no_password: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List users.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show a user (by id, username or e-mail).
    Show {
        /// Id, username or e-mail.
        user: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a user's password (prompted, or --password-stdin).
    SetPassword {
        /// Id, username or e-mail.
        user: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot sign in and their tokens stop working.
    Disable {
        /// Id, username or e-mail.
        user: String,
    },
    /// Enable a user again.
    Enable {
        /// Id, username or e-mail.
        user: String,
    },
    /// Delete a user.
    Delete {
        /// Id, username or e-mail.
        user: String,
    },
    /// List the clients a user has consented to.
    Consents {
        /// Id, username or e-mail.
        user: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Withdraw a user's consent for a client; that client's refresh tokens for the user stop working.
    RevokeConsent {
        /// Id, username or e-mail.
        user: String,
        /// The client.
        #[arg(long)]
        client: String,
    },
    /// End all of a user's sign-in sessions.
    Logout {
        /// Id, username or e-mail.
        user: String,
    },
}

/// `keycard scope …`
#[derive(Debug, Subcommand)]
pub enum ScopeCmd {
    /// Create a scope or change its description.
    Create {
        /// The scope, e.g. invoices:read.
        name: String,
        /// What it allows, shown to users on the consent page.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List scopes.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a scope.
    Delete {
        /// The scope.
        name: String,
    },
}

/// `keycard keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List signing keys and their state.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create a new signing key and sign with it from now on; the old public key stays in the
    /// JWKS until every token it signed has expired.
    Rotate {
        /// Algorithm to rotate (default: keys.access_token_alg); --all rotates every one.
        #[arg(long)]
        alg: Option<Alg>,
        /// Rotate every configured algorithm.
        #[arg(long, conflicts_with = "alg")]
        all: bool,
    },
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
    match rt.block_on(run(cli)) {
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}

/// Runs a parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Config(ConfigCmd::Check { file }) = &cli.command {
        let file = file.clone().or(cli.config.clone());
        let config = Config::load(file.as_deref())?;
        println!(
            "configuration OK{}: issuer {}, listening on {}, database {}",
            file.map(|f| format!(" ({})", f.display())).unwrap_or_default(),
            config.issuer,
            config.http.listen,
            app::redact_url(&config.database_url())
        );
        return Ok(());
    }
    // The example clients talk to an issuer over HTTP and need no local configuration.
    let cli = match cli.command {
        Command::DeviceLogin(args) => return client_flows::device_login(args).await,
        Command::Login(args) => return client_flows::login(args).await,
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
        Command::Client(cmd) => with_admin(&config, |a| Box::pin(client_cmd(a, cmd))).await,
        Command::User(cmd) => with_admin(&config, |a| Box::pin(user_cmd(a, cmd))).await,
        Command::Scope(cmd) => with_admin(&config, |a| Box::pin(scope_cmd(a, cmd))).await,
        Command::Keys(cmd) => keys_cmd(&config, cmd).await,
        Command::DeviceLogin(_) | Command::Login(_) => unreachable!("handled before the configuration is loaded"),
    }
}

fn toml_dump(config: &Config) -> anyhow::Result<String> {
    // Through JSON so that redacted secrets and None values serialise cleanly.
    let mut v = serde_json::to_value(config)?;
    fn strip_nulls(v: &mut serde_json::Value) {
        if let serde_json::Value::Object(m) = v {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
    }
    strip_nulls(&mut v);
    let t: toml_edit_lite::Table = toml_edit_lite::from_json(&v);
    Ok(t.0)
}

mod toml_edit_lite {
    //! A tiny JSON → TOML printer for `config dump` (keeps the dependency tree lean).
    use serde_json::Value;

    pub struct Table(pub String);

    fn scalar(v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(serde_json::to_string(s).unwrap_or_default()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Array(a) if a.iter().all(|x| !x.is_object()) => {
                Some(format!("[{}]", a.iter().filter_map(scalar).collect::<Vec<_>>().join(", ")))
            }
            _ => None,
        }
    }

    fn write(prefix: &str, v: &Value, out: &mut String) {
        let Value::Object(m) = v else { return };
        for (k, x) in m {
            if let Some(s) = scalar(x) {
                out.push_str(&format!("{k} = {s}\n"));
            }
        }
        for (k, x) in m {
            let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
            match x {
                Value::Object(_) => {
                    out.push_str(&format!("\n[{name}]\n"));
                    write(&name, x, out);
                }
                Value::Array(a) if a.iter().any(Value::is_object) => {
                    for item in a {
                        out.push_str(&format!("\n[[{name}]]\n"));
                        write(&name, item, out);
                    }
                }
                _ => {}
            }
        }
    }

    pub fn from_json(v: &Value) -> Table {
        let mut s = String::new();
        write("", v, &mut s);
        Table(s)
    }
}

async fn serve_forever(config: Config, demo_port: Option<u16>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let listen = config.http.listen;
    let listener = app::bind(listen).await?;
    let state: AppState = app::start(config, Arc::new(SystemClock)).await?;
    let background = app::spawn_background(state.clone());
    let demo = match demo_port {
        Some(port) => Some(crate::demo::start(&state, port).await?),
        None => None,
    };
    tracing::info!(
        issuer = %state.config.issuer,
        listen = %listen,
        database = %app::redact_url(&state.config.database_url()),
        startup_ms = started.elapsed().as_millis() as u64,
        "Keycard is ready"
    );
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown signal received");
    };
    app::serve(listener, state.clone(), shutdown).await?;
    if let Some(demo) = demo {
        demo.stop().await;
    }
    background.abort();
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

type AdminFut<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

async fn with_admin(config: &Config, f: impl for<'a> FnOnce(&'a Admin<'a>) -> AdminFut<'a>) -> anyhow::Result<()> {
    let secret = app::load_secret(config)?;
    let secrets = Secrets::derive(&secret);
    let store = app::open_store(config).await?;
    let admin = Admin { store: &store, config, hash_key: &secrets.hash_key, now: SystemClock.now() };
    let r = f(&admin).await;
    store.close().await;
    r
}

fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the password from stdin")?;
        s.lines().next().unwrap_or("").to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to prompt for a password: pass --password-stdin and pipe it in");
        }
        let pw = rpassword::prompt_password("Password: ")?;
        if confirm && rpassword::prompt_password("Repeat password: ")? != pw {
            bail!("the passwords do not match");
        }
        pw
    };
    if pw.chars().count() < 8 {
        bail!("the password must be at least 8 characters");
    }
    Ok(pw)
}

fn split_scopes(v: &[String]) -> Vec<String> {
    v.iter().flat_map(|s| s.split_whitespace().map(str::to_owned)).collect()
}

fn admin_err(e: AdminError) -> anyhow::Error {
    anyhow::anyhow!(e)
}

async fn client_cmd(a: &Admin<'_>, cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Create {
            name,
            id,
            grants,
            scopes,
            redirect_uris,
            public,
            auth_method,
            token_format,
            access_token_ttl,
            audience,
            web_origins,
            resource_audiences,
            out,
        } => {
            let spec = ClientSpec {
                id,
                name: Some(name),
                public,
                auth_method,
                grant_types: grants,
                scopes: split_scopes(&scopes),
                redirect_uris,
                access_token_ttl,
                token_format,
                audience,
                web_origins,
                disabled: false,
                resource_audiences,
            };
            let (client, secret) = a.create_client(&spec).await.map_err(admin_err)?;
            Out::new(out.json).created_client(&client, secret.as_ref());
        }
        ClientCmd::List { out } => Out::new(out.json).clients(&a.store.list_clients().await?),
        ClientCmd::Show { id, out } => Out::new(out.json).client(&a.client(&id).await.map_err(admin_err)?),
        ClientCmd::Update {
            id,
            name,
            grants,
            scopes,
            add_scopes,
            remove_scopes,
            redirect_uris,
            token_format,
            access_token_ttl,
            audience,
            web_origins,
            resource_audiences,
            disable,
            enable,
            out,
        } => {
            let mut c = a.client(&id).await.map_err(admin_err)?;
            if let Some(n) = name {
                c.name = n;
            }
            if !grants.is_empty() {
                c.grant_types = grants;
            }
            if !scopes.is_empty() {
                c.scopes = split_scopes(&scopes);
            }
            c.scopes.extend(split_scopes(&add_scopes));
            let remove = split_scopes(&remove_scopes);
            c.scopes.retain(|s| !remove.contains(s));
            if !redirect_uris.is_empty() {
                c.redirect_uris = redirect_uris;
            }
            if let Some(f) = token_format {
                c.token_format = f;
            }
            if let Some(t) = access_token_ttl {
                c.access_token_ttl = t;
            }
            if audience.is_some() {
                c.settings.audience = audience;
            }
            if !web_origins.is_empty() {
                c.settings.web_origins = web_origins;
            }
            if !resource_audiences.is_empty() {
                c.settings.resource_audiences = resource_audiences;
            }
            if disable {
                c.disabled = true;
            }
            if enable {
                c.disabled = false;
            }
            let c = a.save_client(c).await.map_err(admin_err)?;
            Out::new(out.json).client(&c);
        }
        ClientCmd::Delete { id } => {
            a.delete_client(&id).await.map_err(admin_err)?;
            println!("deleted client {id:?} and its tokens");
        }
        ClientCmd::RotateSecret { id, out } => {
            let secret = a.rotate_client_secret(&id).await.map_err(admin_err)?;
            Out::new(out.json).rotated_secret(&id, &secret);
        }
        ClientCmd::HashSecret => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            let s = s.lines().next().unwrap_or("");
            if s.is_empty() {
                bail!("pipe the secret into stdin");
            }
            println!("{}", crate::jose::keyed_hash(a.hash_key, s.as_bytes()));
        }
    }
    Ok(())
}

async fn user_cmd(a: &Admin<'_>, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create { username, email, name, password_stdin, no_password, out } => {
            let hash = if no_password {
                None
            } else {
                let pw = read_password(password_stdin, true)?;
                Some(
                    tokio::task::spawn_blocking({
                        let c = a.config.clone();
                        move || crate::admin::hash_password(&c, &pw)
                    })
                    .await?
                    .map_err(anyhow::Error::msg)?,
                )
            };
            let u = a.create_user(&username, email.as_deref(), name.as_deref(), hash).await.map_err(admin_err)?;
            Out::new(out.json).user(&u, true);
        }
        UserCmd::List { out } => Out::new(out.json).users(&a.store.list_users().await?),
        UserCmd::Show { user, out } => Out::new(out.json).user(&a.user(&user).await.map_err(admin_err)?, false),
        UserCmd::SetPassword { user, password_stdin } => {
            let mut u = a.user(&user).await.map_err(admin_err)?;
            let pw = read_password(password_stdin, true)?;
            u.password_hash = Some(
                tokio::task::spawn_blocking({
                    let c = a.config.clone();
                    move || crate::admin::hash_password(&c, &pw)
                })
                .await?
                .map_err(anyhow::Error::msg)?,
            );
            let u = a.save_user(u).await.map_err(admin_err)?;
            println!("password set for {:?}", u.username);
        }
        UserCmd::Disable { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let u = a.set_user_disabled(u, true).await.map_err(admin_err)?;
            println!("disabled user {:?}: sessions ended, refresh tokens no longer work", u.username);
        }
        UserCmd::Enable { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let u = a.set_user_disabled(u, false).await.map_err(admin_err)?;
            println!("enabled user {:?}", u.username);
        }
        UserCmd::Consents { user, out } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let consents = a.store.list_consents(&u.id).await?;
            if out.json {
                let v: Vec<_> = consents.iter().map(|(c, s)| serde_json::json!({"client_id": c, "scope": s})).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if consents.is_empty() {
                println!("{:?} has not consented to any client", u.username);
            } else {
                for (c, s) in consents {
                    println!("{c:<28} {s}");
                }
            }
        }
        UserCmd::RevokeConsent { user, client } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let n = a.revoke_consent(&u, &client).await.map_err(admin_err)?;
            println!("revoked the consent of {:?} for {client:?} and {n} grant(s)", u.username);
        }
        UserCmd::Logout { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let n = a.store.revoke_user_sessions(&u.id, a.now).await?;
            println!("ended {n} session(s) of {:?}", u.username);
        }
        UserCmd::Delete { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            a.store.delete_user(&u.id).await?;
            println!("deleted user {:?}", u.username);
        }
    }
    Ok(())
}

async fn scope_cmd(a: &Admin<'_>, cmd: ScopeCmd) -> anyhow::Result<()> {
    match cmd {
        ScopeCmd::Create { name, description } => {
            a.upsert_scope(&name, &description).await.map_err(admin_err)?;
            println!("scope {name:?} saved");
        }
        ScopeCmd::List { out } => Out::new(out.json).scopes(&a.store.list_scopes().await?),
        ScopeCmd::Delete { name } => {
            if !a.store.delete_scope(&name).await? {
                bail!("scope {name:?} not found");
            }
            println!("deleted scope {name:?}");
        }
    }
    Ok(())
}

async fn keys_cmd(config: &Config, cmd: KeysCmd) -> anyhow::Result<()> {
    let secret = app::load_secret(config)?;
    let secrets = Secrets::derive(&secret);
    let store: Store = app::open_store(config).await?;
    let now = SystemClock.now();
    // Make sure the configured keys exist (first use before any `serve`).
    keys::KeyRing::load_or_create(&store, secrets.kek, &config.keys.algorithms, now).await?;
    match cmd {
        KeysCmd::List { out } => Out::new(out.json).keys(&store.list_keys().await?, now),
        KeysCmd::Rotate { alg, all } => {
            let algs: Vec<Alg> =
                if all { config.keys.algorithms.clone() } else { vec![alg.unwrap_or(config.keys.access_token_alg)] };
            let max_ttl = store.max_access_token_ttl().await?.max(config.tokens.max_access_token_ttl_secs);
            for alg in algs {
                let kid =
                    keys::rotate(&store, &secrets.kek, alg, max_ttl, config.keys.rotation_leeway_secs, now).await?;
                println!(
                    "rotated {alg}: now signing with {kid}; the previous key stays in the JWKS until {}",
                    rfc3339(now + max_ttl + config.keys.rotation_leeway_secs)
                );
            }
        }
    }
    store.close().await;
    Ok(())
}
