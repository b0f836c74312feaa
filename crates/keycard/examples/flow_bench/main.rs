//! Load generator for the full authorization code flow (bench/run.sh --flow; bench/README.md).
//!
//! Each virtual user is a browser with its own cookie jar (written here: reqwest's cookie
//! feature is not enabled) and no redirect following, talking over keep-alive HTTP to a running
//! Keycard. It loops until the time is up:
//!
//! 1. `GET /authorize` (code, PKCE S256 with a fresh verifier, `openid offline_access`) → 303
//!    to `/login?request=…`;
//! 2. `GET /login?request=…` (hidden `request_id` and `csrf_token`), then `POST /login` with
//!    `Origin: <base>` → 303. The first flow of an account leads to `/consent` (`GET`, then
//!    `POST decision=approve`); consent is remembered, so later flows go straight to the client's
//!    redirect URI with the code;
//! 3. `POST /token` `grant_type=authorization_code` (client_secret_basic, PKCE verifier);
//! 4. `POST /token` `grant_type=refresh_token` with the refresh token just received.
//!
//! The session cookie (not the browser cookie) is dropped at the start of every flow, so every
//! flow signs in: the login POST, whose cost is one argon2id verification by design, is measured
//! in every flow. Any unexpected status or answer counts as an error and ends that flow.
//!
//! Before the load, N argon2id hashes with the server's default parameters are timed in-process
//! (`keycard::admin::hash_password`), which gives the per-hash cost and the implied upper bound
//! of sign-ins per second on this machine.
//!
//! `--count-statements --server-log FILE` instead runs two flows of one account one step at a
//! time against a server that logs `sqlx::query=debug` as JSON into FILE (`--log-format json`)
//! and prints the SQL statements each step ran, by kind; the code redemption and the refresh
//! must each change state with at most one statement.
//!
//! Files: `flow.rs` one flow, step by step; `browser.rs` the virtual browser; `load.rs` the load
//! and its report; `statements.rs` `--count-statements`. A new step: a constant and a name in
//! `STEPS` (`flow.rs`), its `timed(…)` block in `one_flow`; the report picks it up.
//!
//! ```sh
//! cargo run --release -p keycard --example flow_bench -- --base http://127.0.0.1:8080 \
//!     --concurrency 32 --duration 10 --users 32
//! ```

mod browser;
mod flow;
mod load;
mod statements;

use clap::Parser;
use std::path::PathBuf;

/// Full authorization code flow load generator for Keycard.
#[derive(Parser, Debug, Clone)]
#[command(name = "flow_bench")]
struct Args {
    /// Keycard's base URL, which must also be its issuer (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    base: String,
    /// Virtual users (browsers) running flows at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds during which new flows are started (flows in progress then finish).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Accounts `<user-prefix>0` … `<user-prefix>N-1` (default: one per virtual user).
    #[arg(long)]
    users: Option<usize>,
    /// Account name prefix.
    #[arg(long, default_value = "bench-user-")]
    user_prefix: String,
    /// Password of every account.
    #[arg(long, default_value = "bench-password-0123456789")]
    password: String,
    /// Confidential client (authorization_code + refresh_token, client_secret_basic).
    #[arg(long, default_value = "bench-web")]
    client_id: String,
    /// Its secret.
    #[arg(long, default_value = "bench-secret-0123456789abcdef0123456789abcdef")]
    client_secret: String,
    /// Its registered redirect URI (never called: the code is read from the Location header).
    #[arg(long, default_value = "http://127.0.0.1:9/cb")]
    redirect_uri: String,
    /// argon2id hashes timed in-process before the load (0: none).
    #[arg(long, default_value_t = 8)]
    hash_samples: usize,
    /// Seconds allowed for one HTTP request.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// A label for the report (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Instead of the load: run two flows of `--count-user` step by step and count the SQL
    /// statements of each step in `--server-log`.
    #[arg(long)]
    count_statements: bool,
    /// The server's log: JSON lines (`--log-format json`) with `sqlx::query=debug`.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// Account used by --count-statements (a fresh one, so that its first flow asks for consent).
    #[arg(long, default_value = "bench-count")]
    count_user: String,
    /// The server's pid: its CPU use during the load is reported (Linux `/proc`).
    #[arg(long)]
    server_pid: Option<u32>,
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    while args.base.ends_with('/') {
        args.base.pop();
    }
    let rc = if args.count_statements { statements::count_statements(args).await } else { load::load(args).await };
    std::process::exit(rc);
}
