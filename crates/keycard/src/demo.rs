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
//! Extending: add a route to [`router`] behind `route_layer(require_scopes(…))`, and its scope to
//! [`provision`] (with a description for the consent page) so the demo clients may ask for it.
//!
//! Development only: the demo credentials are stored in plain text in
//! `data_dir/demo-credentials.json` and printed at every start, and the API keeps its invoices
//! in memory.

use crate::admin::Admin;
use crate::config::{Provision, ProvisionClient, ProvisionScope, ProvisionUser, Secret};
use crate::model::{AuthMethod, GrantType, is_user_subject};
use crate::state::AppState;
use anyhow::Context as _;
use axum::body::Bytes;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use keycard_resource::axum::{BearerClaims, require_scopes};
use keycard_resource::{Claims, Validator};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

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

/// Binds the browser's sign-in to the pending PKCE verifier (the `state` value).
const STATE_COOKIE: &str = "kc_demo_state";
const MAX_INVOICES: usize = 50;
const MAX_PENDING: usize = 1000;
const PENDING_TTL: Duration = Duration::from_secs(600);
const MAX_CUSTOMER_LEN: usize = 100;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

// ------------------------------------------------------------------------------------ the API

#[derive(Debug, Clone, Serialize)]
struct Invoice {
    id: u64,
    customer: String,
    amount_cents: u64,
    currency: &'static str,
    created_by: String,
}

struct Invoices {
    next_id: u64,
    list: VecDeque<Invoice>,
}

impl Invoices {
    fn seeded() -> Self {
        let mut inv = Invoices { next_id: 1, list: VecDeque::new() };
        for (customer, amount_cents) in [("ACME Corp", 125_000), ("Globex", 48_050), ("Initech", 9_900)] {
            inv.add(customer.to_owned(), amount_cents, "seed".to_owned());
        }
        inv
    }

    fn add(&mut self, customer: String, amount_cents: u64, created_by: String) -> Invoice {
        let invoice = Invoice { id: self.next_id, customer, amount_cents, currency: "EUR", created_by };
        self.next_id += 1;
        if self.list.len() >= MAX_INVOICES {
            self.list.pop_front();
        }
        self.list.push_back(invoice.clone());
        invoice
    }
}

#[derive(Clone)]
struct ApiState {
    validator: Arc<Validator>,
    invoices: Arc<Mutex<Invoices>>,
}

impl FromRef<ApiState> for Arc<Validator> {
    fn from_ref(s: &ApiState) -> Self {
        s.validator.clone()
    }
}

/// Who called, as the verified token says.
#[derive(Debug, Serialize)]
struct Caller {
    subject: String,
    client_id: String,
    scopes: Vec<String>,
    /// `user` (a user delegated access to the client) or `client` (the client acts for itself).
    on_behalf_of: &'static str,
}

impl Caller {
    fn of(c: &Claims) -> Caller {
        Caller {
            subject: c.subject.clone(),
            client_id: c.client_id.clone(),
            scopes: c.scopes.iter().map(str::to_owned).collect(),
            on_behalf_of: if is_user_subject(&c.subject) { "user" } else { "client" },
        }
    }

    /// What the unprotected twin of `/api/invoices` reports, of about the same size.
    fn anonymous() -> Caller {
        Caller {
            subject: "anonymous".into(),
            client_id: "none".into(),
            scopes: vec!["none".into()],
            on_behalf_of: "nobody",
        }
    }
}

/// The demo API: the routes of the [module documentation](self), each scope checked by a
/// [`require_scopes`] layer before the handler runs (401/403/400 per RFC 6750 §3 otherwise).
pub fn router(validator: Arc<Validator>) -> Router {
    let state = ApiState { validator: validator.clone(), invoices: Arc::new(Mutex::new(Invoices::seeded())) };
    let needs = |scope: &str| require_scopes(validator.clone(), [scope]);
    Router::new()
        .route("/api/health", get(health))
        .route("/api/profile", get(profile).route_layer(needs("profile")))
        .route(
            "/api/invoices",
            get(list_invoices)
                .route_layer(needs("invoices:read"))
                .merge(post(create_invoice).route_layer(needs("invoices:write"))),
        )
        .route("/api/invoices-unprotected", get(list_invoices_unprotected))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn profile(BearerClaims(c): BearerClaims) -> Json<Value> {
    Json(json!({
        "caller": Caller::of(&c),
        "token": { "audience": c.audience, "expires_at": c.expires_at, "jwt_id": c.jwt_id },
    }))
}

fn invoices_body(state: &ApiState, caller: Caller) -> Json<Value> {
    let invoices: Vec<Invoice> = lock(&state.invoices).list.iter().cloned().collect();
    Json(json!({ "caller": caller, "invoices": invoices }))
}

async fn list_invoices(State(state): State<ApiState>, BearerClaims(c): BearerClaims) -> Json<Value> {
    invoices_body(&state, Caller::of(&c))
}

async fn list_invoices_unprotected(State(state): State<ApiState>) -> Json<Value> {
    invoices_body(&state, Caller::anonymous())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewInvoice {
    customer: Option<String>,
    amount_cents: Option<u64>,
}

fn bad_request(description: &str) -> Response {
    let mut res =
        (StatusCode::BAD_REQUEST, Json(json!({ "error": "invalid_request", "error_description": description })))
            .into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `POST /api/invoices` with an optional JSON body `{"customer": "…", "amount_cents": 1234}`.
async fn create_invoice(State(state): State<ApiState>, BearerClaims(c): BearerClaims, body: Bytes) -> Response {
    let new: NewInvoice = if body.iter().all(u8::is_ascii_whitespace) {
        NewInvoice::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(n) => n,
            Err(_) => return bad_request("the body must be JSON: {\"customer\": \"...\", \"amount_cents\": 1234}"),
        }
    };
    let customer = new.customer.unwrap_or_else(|| "Demo customer".to_owned());
    if customer.trim().is_empty()
        || customer.chars().count() > MAX_CUSTOMER_LEN
        || customer.chars().any(char::is_control)
    {
        return bad_request("customer must be 1 to 100 printable characters");
    }
    let invoice = lock(&state.invoices).add(customer, new.amount_cents.unwrap_or(1000), c.subject.clone());
    (StatusCode::CREATED, Json(json!({ "caller": Caller::of(&c), "invoice": invoice }))).into_response()
}

// ---------------------------------------------------------------------- the browser client

/// The web client `demo-app`: it starts the authorization code flow with PKCE (RFC 7636) and
/// finishes it server-side, holding each verifier under its `state`.
struct Web {
    issuer: String,
    /// The demo's base URL, e.g. `http://127.0.0.1:8081`.
    base: String,
    redirect_uri: String,
    http: reqwest::Client,
    /// `state` → (PKCE verifier, created).
    pending: Mutex<HashMap<String, (String, Instant)>>,
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Keycard demo</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1d2430}}\
         h1{{font-size:1.5rem}} h2{{font-size:1.1rem;margin:0 0 .4rem}}\
         section{{border:1px solid #d5dae3;border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0}}\
         pre{{background:#f4f6f9;padding:.6rem;overflow-x:auto;font-size:.85rem;white-space:pre-wrap;word-break:break-all}}\
         .ok{{color:#176b2c}} .no{{color:#a32020}} code{{background:#f4f6f9;padding:0 .2rem}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>",
        title = esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn error_page(status: StatusCode, what: &str) -> Response {
    page(status, "Sign-in did not complete", &format!("<p>{}</p><p><a href=\"/\">Start again</a></p>", esc(what)))
}

/// `GET /`: a new `state` and PKCE verifier, then a redirect to Keycard's authorization endpoint.
async fn start_page(State(web): State<Arc<Web>>) -> Response {
    let state = crate::jose::random_token(16);
    let verifier = crate::jose::random_token(32);
    let challenge = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    {
        let mut pending = lock(&web.pending);
        pending.retain(|_, (_, at)| at.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ins in progress; try again later.");
        }
        pending.insert(state.clone(), (verifier, Instant::now()));
    }
    let scope = APP_SCOPES.join(" ");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", APP_CLIENT_ID)
        .append_pair("redirect_uri", &web.redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let location = format!("{}/authorize?{query}", web.issuer);
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::try_from(location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::try_from(format!(
        "{STATE_COOKIE}={state}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age={}",
        PENDING_TTL.as_secs()
    )) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Decodes a JWT's payload for display (the resource server verified it; this page only shows it).
fn jwt_payload(token: &str) -> Option<Value> {
    let payload = token.split('.').nth(1)?;
    serde_json::from_slice(&B64.decode(payload).ok()?).ok()
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

/// What a call to the API answered.
struct ApiCall {
    request: String,
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl ApiCall {
    async fn run(web: &Web, method: reqwest::Method, path: &str, token: &str) -> Result<ApiCall, reqwest::Error> {
        let res = web.http.request(method.clone(), format!("{}{path}", web.base)).bearer_auth(token).send().await?;
        let status = res.status().as_u16();
        let challenge = res.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = res.text().await?;
        Ok(ApiCall { request: format!("{method} {path}"), status, challenge, body })
    }

    fn html(&self) -> String {
        let class = if self.status < 300 { "ok" } else { "no" };
        let challenge = self
            .challenge
            .as_deref()
            .map(|c| format!("<br><code>WWW-Authenticate: {}</code>", esc(c)))
            .unwrap_or_default();
        format!(
            "<p><code>{}</code> → <strong class=\"{class}\">{}</strong>{challenge}</p><pre>{}</pre>",
            esc(&self.request),
            self.status,
            esc(&pretty(&self.body))
        )
    }
}

/// `GET /callback`: RFC 6749 §4.1.2 response. Checks `iss` (RFC 9207) and `state` (bound to
/// this browser by a cookie), redeems the code with the PKCE verifier (§4.1.3), then calls the
/// API with the access token and shows the four roles.
async fn callback(State(web): State<Arc<Web>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        params.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    let param = |k: &str| params.get(k).map(String::as_str);
    if param("iss").is_some_and(|iss| iss != web.issuer) {
        return error_page(StatusCode::BAD_REQUEST, "The response comes from another issuer (RFC 9207): refused.");
    }
    let Some(state) = param("state") else {
        return error_page(StatusCode::BAD_REQUEST, "The response has no state.");
    };
    if cookie(&headers, STATE_COOKIE) != Some(state) {
        return error_page(StatusCode::BAD_REQUEST, "This sign-in was not started in this browser (state mismatch).");
    }
    let Some((verifier, _)) = lock(&web.pending).remove(state).filter(|(_, at)| at.elapsed() < PENDING_TTL) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown or expired sign-in.");
    };
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or("");
        return error_page(StatusCode::BAD_REQUEST, &format!("Keycard answered error={error}: {description}"));
    }
    let Some(code) = param("code") else {
        return error_page(StatusCode::BAD_REQUEST, "The response has neither a code nor an error.");
    };

    // The client role: redeem the code at the token endpoint (a public client: no secret, PKCE).
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &web.redirect_uri),
        ("client_id", APP_CLIENT_ID),
        ("code_verifier", &verifier),
    ];
    let token_url = format!("{}/token", web.issuer);
    let tokens = match web.http.post(&token_url).form(&form).send().await {
        Ok(res) if res.status().is_success() => match res.json::<keycard_types::TokenResponse>().await {
            Ok(t) => t,
            Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Unreadable token response: {e}")),
        },
        Ok(res) => {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            return error_page(StatusCode::BAD_GATEWAY, &format!("The token endpoint answered {status}: {body}"));
        }
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Cannot reach {token_url}: {e}")),
    };

    // The resource server role: the API validates the token (signature, issuer, audience,
    // expiry, scope) with keycard-resource.
    let at: &str = &tokens.access_token;
    let mut calls = Vec::new();
    for (method, path) in [(reqwest::Method::GET, "/api/profile"), (reqwest::Method::POST, "/api/invoices")] {
        match ApiCall::run(&web, method, path, at).await {
            Ok(c) => calls.push(c.html()),
            Err(e) => calls.push(format!("<p class=\"no\">{path}: {}</p>", esc(&e.to_string()))),
        }
    }
    let claims = jwt_payload(at).unwrap_or(Value::Null);
    let subject = claims["sub"].as_str().unwrap_or("?");
    let shown = |v: &Value| esc(&serde_json::to_string_pretty(v).unwrap_or_default());
    let id_token = tokens.id_token.as_deref().and_then(jwt_payload);
    let body = format!(
        "<p>The authorization code flow with PKCE just ran end to end. Here is who did what.</p>\
         <section><h2>1. Resource owner: you</h2><p>You signed in to Keycard as <code>{DEMO_USER}</code> \
         and allowed <code>{APP_CLIENT_ID}</code> the scopes <code>{scope}</code>. Keycard knows you as \
         <code>{subject}</code>.</p></section>\
         <section><h2>2. Client: {APP_CLIENT_ID}</h2><p>This page's server (a public client: no secret) \
         got the code at <code>{redirect}</code>, checked <code>state</code> and <code>iss</code>, and \
         redeemed it at <code>{token_url}</code> with its PKCE verifier. It received an access token \
         (expires in {expires}s){refresh}{idt}.</p></section>\
         <section><h2>3. Authorization server: Keycard at {issuer}</h2><p>Keycard issued a signed RFC 9068 \
         JWT access token for the audience <code>{base}</code>. Its claims (decoded for display only):</p>\
         <pre>{claims}</pre>{id_claims}</section>\
         <section><h2>4. Resource server: the demo API at {base}/api</h2><p>The API verified the token \
         against Keycard's JWKS with <code>keycard-resource</code> (signature, <code>typ</code>, \
         <code>iss</code>, <code>aud</code>, <code>exp</code>) and checked the scope each route needs:</p>\
         {calls}</section>\
         <section><h2>Try it yourself</h2><pre>curl -H \"Authorization: Bearer {at}\" {base}/api/invoices</pre>\
         <p><a href=\"/\">Sign in again</a> · <a href=\"{issuer}/logout\">Sign out of Keycard</a></p></section>",
        scope = esc(tokens.scope.as_deref().unwrap_or("")),
        subject = esc(subject),
        redirect = esc(&web.redirect_uri),
        token_url = esc(&token_url),
        expires = tokens.expires_in,
        refresh = if tokens.refresh_token.is_some() { ", a refresh token (offline_access)" } else { "" },
        idt = if tokens.id_token.is_some() { " and an OpenID Connect ID token" } else { "" },
        issuer = esc(&web.issuer),
        base = esc(&web.base),
        claims = shown(&claims),
        id_claims = id_token.map(|v| format!("<p>ID token claims:</p><pre>{}</pre>", shown(&v))).unwrap_or_default(),
        calls = calls.join(""),
        at = esc(at),
    );
    let mut res = page(StatusCode::OK, "All four OAuth roles, working", &body);
    if let Ok(v) = HeaderValue::try_from(format!("{STATE_COOKIE}=; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=0"))
    {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
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

// ----------------------------------------------------------------------- provisioning, CLI

/// The generated demo secrets, kept in `data_dir/demo-credentials.json` so that every start
/// prints the same ones.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoCredentials {
    /// Secret of [`SERVICE_CLIENT_ID`].
    pub service_secret: String,
    /// Password of [`DEMO_USER`].
    pub user_password: String,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoCredentials(<redacted>)")
    }
}

impl DemoCredentials {
    /// Reads `dir/demo-credentials.json`, or generates new credentials and writes it (mode 0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DemoCredentials> {
        let path = dir.join(CREDENTIALS_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged: delete it to generate new demo credentials", path.display()));
        }
        let creds = DemoCredentials {
            service_secret: crate::admin::generate_client_secret().0,
            user_password: crate::jose::random_token(12),
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        use std::io::Write as _;
        opts.open(&path)
            .and_then(|mut f| f.write_all(serde_json::to_string_pretty(&creds)?.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(creds)
    }
}

/// Creates or updates (idempotently) the demo scopes, the user [`DEMO_USER`], the confidential
/// client [`SERVICE_CLIENT_ID`] and the public client [`APP_CLIENT_ID`], whose tokens are for the
/// audience `api_base` (the demo API's URL) and whose redirect URI is `{api_base}/callback`.
pub async fn provision(state: &AppState, api_base: &str, creds: &DemoCredentials) -> anyhow::Result<()> {
    let scope = |name: &str, description: &str| ProvisionScope { name: name.into(), description: description.into() };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = Provision {
        scopes: vec![
            scope("invoices:read", "Read your invoices"),
            scope("invoices:write", "Create invoices in your name"),
        ],
        clients: vec![
            ProvisionClient {
                id: SERVICE_CLIENT_ID.into(),
                name: Some("Demo service (machine to machine)".into()),
                secret_hash: None,
                secret: Some(Secret(creds.service_secret.clone())),
                auth_method: Some(AuthMethod::ClientSecretBasic),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: strings(&SERVICE_SCOPES),
                redirect_uris: vec![],
                access_token_ttl_secs: None,
                token_format: None,
                audience: Some(api_base.to_owned()),
                web_origins: vec![],
                disabled: false,
                resource_audiences: vec![],
            },
            ProvisionClient {
                id: APP_CLIENT_ID.into(),
                name: Some("Demo app".into()),
                secret_hash: None,
                secret: None,
                auth_method: Some(AuthMethod::None),
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                scopes: strings(&APP_SCOPES),
                redirect_uris: vec![format!("{}/callback", api_base.trim_end_matches('/'))],
                access_token_ttl_secs: None,
                token_format: None,
                audience: Some(api_base.to_owned()),
                web_origins: vec![],
                disabled: false,
                resource_audiences: vec![],
            },
        ],
        users: vec![ProvisionUser {
            username: DEMO_USER.into(),
            email: Some("demo@example.com".into()),
            name: Some("Demo User".into()),
            password_hash: None,
            password: Some(Secret(creds.user_password.clone())),
            disabled: false,
        }],
    };
    let admin =
        Admin { store: &state.store, config: &state.config, hash_key: &state.secrets.hash_key, now: state.clock.now() };
    for line in admin.provision(&p).await.context("demo provisioning failed")? {
        tracing::debug!("demo: {line}");
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; kc_demo_state=xyz; b=2"));
        assert_eq!(cookie(&h, STATE_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn credentials_are_kept() {
        let dir = std::env::temp_dir().join(format!("keycard-demo-test-{}", crate::jose::random_token(8)));
        let a = DemoCredentials::load_or_create(&dir).unwrap();
        let b = DemoCredentials::load_or_create(&dir).unwrap();
        assert_eq!((a.service_secret.clone(), a.user_password.clone()), (b.service_secret, b.user_password));
        assert!(a.user_password.len() >= 16 && a.service_secret.starts_with("kc_cs_"));
        assert_eq!(format!("{a:?}"), "DemoCredentials(<redacted>)");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
