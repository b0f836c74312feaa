//! The demo of `keycard serve --demo`: a small invoices API protected with [`keycard_resource`],
//! plus a start page and a `/callback` that play a web client, so that one process shows all
//! four OAuth roles (RFC 6749 §1.1): the **resource owner** (you, signing in as `demo`), the
//! **client** (`demo-app` driven from your browser, `demo-service` from curl), the
//! **authorization server** (Keycard) and the **resource server** (this API).
//!
//! - [`router`]: the API alone, which is what a real service built on `keycard-resource` has:
//!   `GET /api/health` (no token), `GET /api/profile` (scope `profile`), `GET /api/invoices`
//!   (`invoices:read`), `POST /api/invoices` (`invoices:write`), and
//!   `GET /api/invoices-unprotected`, the same work as `GET /api/invoices` without any token, the
//!   baseline of `bench/demo_api.sh`.
//! - [`serve_demo`]: the API plus the browser client (`/` and `/callback`) on a listener.
//! - [`provision`]: the demo user, clients and scopes, created or updated at every start.
//! - [`start`]: all of the above for `keycard serve --demo`, printing what to run next.
//!
//! Files: `api.rs` the API ([`router`]); `web.rs` the browser client (`/`, `/callback` and their
//! pages, HTML built with `format!` and every value escaped); `provision.rs` the demo objects and
//! credentials ([`provision`], [`DemoCredentials`]); this file the constants, [`serve_demo`] and
//! [`start`].
//!
//! Extending: add a route to [`router`] (`api.rs`) behind `route_layer(require_scopes(…))`, and
//! its scope to [`provision`] (`provision.rs`, with a description for the consent page) so the
//! demo clients may ask for it.
//!
//! Development only: the demo credentials are stored in plain text in
//! `data_dir/demo-credentials.json` and printed at every start, and the API keeps its invoices
//! in memory.

mod api;
mod provision;
mod web;

pub use api::router;
pub use provision::{DemoCredentials, provision};

use crate::state::AppState;
use anyhow::Context as _;
use axum::Router;
use axum::routing::get;
use keycard_resource::Validator;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::net::TcpListener;
use web::{Web, callback, start_page};

/// Default port of the demo API (`--demo-port`), on 127.0.0.1.
pub const DEFAULT_PORT: u16 = 8081;
/// The demo user (the resource owner).
pub const DEMO_USER: &str = "demo";
/// The confidential demo client (client credentials).
pub const SERVICE_CLIENT_ID: &str = "demo-service";
/// The scopes of [`SERVICE_CLIENT_ID`].
pub const SERVICE_SCOPES: [&str; 2] = ["invoices:read", "invoices:write"];
/// The public demo client (authorization code + PKCE, refresh tokens).
pub const APP_CLIENT_ID: &str = "demo-app";
/// The scopes of [`APP_CLIENT_ID`], all requested by the start page.
pub const APP_SCOPES: [&str; 4] = ["openid", "profile", "invoices:read", "offline_access"];
/// Where the generated demo credentials are kept, in `data_dir`.
pub const CREDENTIALS_FILE: &str = "demo-credentials.json";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
/// Serves the demo on `listener` until `shutdown` resolves: the API of [`router`], validating
/// tokens from `issuer` for `audience`, plus the browser client of `demo-app` at `/` (start page:
/// redirects to Keycard's `/authorize`) and `/callback`.
///
/// `audience` is also the demo's own base URL (e.g. `http://127.0.0.1:8081`): the redirect URI is
/// `{audience}/callback`, and the callback calls the API there. Keycard must be reachable at
/// `issuer` (it may start serving after this function is called).
pub async fn serve_demo(
    listener: TcpListener,
    issuer: &str,
    audience: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let validator = Validator::builder(issuer)
        .audience(audience)
        // The demo follows whatever issuer Keycard runs with; Keycard itself warned if it is
        // plain http on a non-loopback address.
        .allow_http(true)
        .build()
        .context("cannot configure the demo API's token validator")?;
    let validator = Arc::new(validator);
    {
        let v = validator.clone();
        tokio::spawn(async move {
            if let Err(e) = v.warm_up().await {
                tracing::warn!(error = %e, "demo API: cannot fetch Keycard's keys yet (retried at the first request)");
            }
        });
    }
    let base = audience.trim_end_matches('/').to_owned();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .context("cannot build the demo's HTTP client")?;
    let web = Arc::new(Web {
        issuer: issuer.to_owned(),
        redirect_uri: format!("{base}/callback"),
        base,
        http,
        pending: Mutex::new(HashMap::new()),
    });
    let app = router(validator)
        .merge(Router::new().route("/", get(start_page)).route("/callback", get(callback)).with_state(web));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await.context("demo API server failed")
}

/// The running demo of `keycard serve --demo`.
pub struct DemoHandle {
    /// The demo's base URL (= the audience of its tokens).
    pub base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl DemoHandle {
    /// Stops the demo API, waiting at most five seconds for in-flight requests.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(5), &mut self.task).await {
            Ok(Ok(Err(e))) => tracing::warn!(error = %format!("{e:#}"), "demo API stopped with an error"),
            Ok(_) => {}
            Err(_) => self.task.abort(),
        }
    }
}

/// `keycard serve --demo`: binds 127.0.0.1:`port` (0: any free port), provisions the demo
/// objects for that address, starts [`serve_demo`] and prints what to run next.
pub async fn start(state: &AppState, port: u16) -> anyhow::Result<DemoHandle> {
    let listener = crate::app::bind(SocketAddr::from(([127, 0, 0, 1], port))).await.context("demo API")?;
    let base = format!("http://{}", listener.local_addr()?);
    let creds = DemoCredentials::load_or_create(&state.config.data_dir)?;
    provision(state, &base, &creds).await?;
    let issuer = state.config.issuer.clone();
    let listen = state.config.http.listen;
    if let Ok(u) = url::Url::parse(&issuer)
        && matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
        && u.port_or_known_default() != Some(listen.port())
    {
        tracing::warn!(
            %issuer, %listen,
            "the issuer is not this server's address: the demo API and the commands below use the issuer; \
             with --listen, also set KEYCARD_ISSUER=http://127.0.0.1:<port>"
        );
    }
    println!("{}", instructions(&issuer, &base, &creds, &state.config.data_dir.join(CREDENTIALS_FILE)));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (i, b) = (issuer.clone(), base.clone());
    let task = tokio::spawn(async move {
        serve_demo(listener, &i, &b, async {
            let _ = rx.await;
        })
        .await
    });
    tracing::info!(demo_api = %base, "demo API is ready");
    Ok(DemoHandle { base, shutdown: Some(tx), task })
}

/// What `keycard serve --demo` prints at start.
fn instructions(issuer: &str, base: &str, creds: &DemoCredentials, file: &Path) -> String {
    let secret = &creds.service_secret;
    let password = &creds.user_password;
    format!(
        "\n\
Keycard demo: the four OAuth roles in one process (development only)
  authorization server  {issuer}   Keycard
  resource server       {base}/api   the demo API, protected with keycard-resource
  resource owner        user {DEMO_USER:?}, password {password}
  clients               {SERVICE_CLIENT_ID} (confidential, client credentials), secret {secret}
                        {APP_CLIENT_ID} (public, authorization code + PKCE), run from {base}/

1. A service calls the API with its own token (client credentials):

  TOKEN=$(curl -s -u {SERVICE_CLIENT_ID}:{secret} -d grant_type=client_credentials -d scope=invoices:read \\
          {issuer}/token | sed 's/.*\"access_token\":\"\\([^\"]*\\)\".*/\\1/')
  curl -H \"Authorization: Bearer $TOKEN\" {base}/api/invoices            # 200
  curl -i -X POST -H \"Authorization: Bearer $TOKEN\" {base}/api/invoices  # 403 insufficient_scope
  curl -i {base}/api/invoices                                           # 401

2. A user signs in (authorization code + PKCE): open {base}/ in a browser
   and sign in as {DEMO_USER} / {password}

These credentials are kept in {file}.\n",
        file = file.display()
    )
}
