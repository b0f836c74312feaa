//! Example OAuth clients that work against ANY issuer (Keycard or not):
//!
//! - `keycard device-login`: the device authorization grant (RFC 8628), the way a TV or a
//!   command-line tool signs a user in: a short user code and a QR code here, approval on a phone.
//! - `keycard login`: the native-app flow (RFC 8252): the system browser, a loopback redirect on
//!   `127.0.0.1`, the authorization code grant with PKCE S256 (RFC 7636), `state`, and the
//!   RFC 9207 `iss` check.
//!
//! Both find the endpoints in the issuer's RFC 8414 metadata ([`discover`]), talk to the token
//! endpoint through [`token_request`] and show the result with [`print_tokens`]. This is the only
//! HTTP client code of the CLI. Nothing here logs: instructions go to stdout (stderr with
//! `--json`, so that stdout is only the token response) and errors are one line.

use crate::clock::{Clock as _, SystemClock, rfc3339};
use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::io::{IsTerminal as _, Read as _, Write as _};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// `keycard device-login --help`, after the options.
pub const DEVICE_LOGIN_HELP: &str = "\
Runs the device authorization grant (RFC 8628) against any issuer: it shows a short user code
and a QR code, you approve on a phone or computer, and the tokens are printed here. The endpoints
come from the issuer's metadata (/.well-known/oauth-authorization-server, else
/.well-known/openid-configuration).

Register a public client with the device_code grant first, e.g. on a local Keycard:
  keycard client create --name Terminal --id terminal --public \\
      --grant device_code --grant refresh_token --scope openid --scope offline_access

Examples:
  keycard device-login --client-id terminal --scope \"openid offline_access\"
  keycard device-login --issuer https://auth.example.com --client-id tv --json > tokens.json
  keycard device-login --client-id my-tv --client-secret-stdin < tv-secret.txt   # confidential

Exit code 0 with the tokens; 1 (one line on stderr) when the user denies, the code expires or the
issuer refuses; 130 on Ctrl-C.";

/// `keycard login --help`, after the options.
pub const LOGIN_HELP: &str = "\
Signs a user in the way a native or desktop app should (RFC 8252): it listens on
http://127.0.0.1:PORT/callback, opens the system browser at the issuer's authorization endpoint
with PKCE (S256) and a random state, waits for the browser to come back, checks state and iss
(RFC 9207), and exchanges the code for tokens. Works against any issuer; the endpoints come from
its metadata.

Register a public client with a loopback redirect first (any port matches, RFC 8252 section 7.3):
  keycard client create --name \"Desktop App\" --id desktop --public \\
      --grant authorization_code --grant refresh_token \\
      --scope openid --scope offline_access --redirect-uri http://127.0.0.1/callback

Examples:
  keycard login --client-id desktop --scope \"openid offline_access\"
  keycard login --issuer https://auth.example.com --client-id desktop --no-browser
  keycard login --client-id desktop --port 9999 --json > tokens.json

Exit code 0 with the tokens; 1 (one line on stderr) when the user denies, the state or issuer of
the answer is wrong, or nothing comes back within --timeout; 130 on Ctrl-C.";

/// What both commands need: the issuer, the client and the output format.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Issuer URL of the authorization server; its endpoints are discovered from its metadata.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub issuer: String,
    /// The client's id (a public client unless --client-secret-stdin).
    #[arg(long, value_name = "ID")]
    pub client_id: String,
    /// Scopes to ask for (space separated or repeated), e.g. "openid offline_access";
    /// default: none sent, the issuer decides.
    #[arg(long = "scope", value_name = "SCOPES")]
    pub scopes: Vec<String>,
    /// A confidential client: read its secret from the first line of stdin (prompted on a
    /// terminal; never taken from the command line). It is sent with HTTP Basic.
    #[arg(long)]
    pub client_secret_stdin: bool,
    /// Print the raw token response as JSON on stdout (instructions go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ClientArgs {
    fn scope(&self) -> Option<String> {
        let s = self.scopes.iter().flat_map(|s| s.split_whitespace()).collect::<Vec<_>>().join(" ");
        (!s.is_empty()).then_some(s)
    }
}

/// `keycard device-login` options.
#[derive(Debug, Args)]
pub struct DeviceLoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Do not draw the QR code of the verification link.
    #[arg(long)]
    pub no_qr: bool,
}

/// `keycard login` options.
#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Loopback port to listen on for the redirect (0: any free port).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Do not try to open a browser; only print the URL to open.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub timeout: u64,
}

// ---------------------------------------------------------------------------------------------
// Output

/// Where instructions go: stdout, or stderr with `--json` (stdout is then only the JSON result).
struct Ui {
    json: bool,
    tty: bool,
    color: bool,
}

impl Ui {
    fn new(json: bool) -> Ui {
        let tty = if json { std::io::stderr().is_terminal() } else { std::io::stdout().is_terminal() };
        Ui { json, tty, color: tty && std::env::var_os("NO_COLOR").is_none() }
    }

    fn line(&self, s: impl fmt::Display) {
        if self.json {
            eprintln!("{s}");
        } else {
            println!("{s}");
        }
    }

    /// Text without a newline (the progress line on a terminal).
    fn partial(&self, s: &str) {
        if self.json {
            eprint!("{s}");
            let _ = std::io::stderr().flush();
        } else {
            print!("{s}");
            let _ = std::io::stdout().flush();
        }
    }

    fn bold(&self, s: &str) -> String {
        if self.color { format!("\x1b[1m{s}\x1b[0m") } else { s.to_owned() }
    }
}

/// Text from the network, fit for one line of a terminal: no control characters, bounded.
fn one_line(s: &str) -> String {
    let mut out: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).take(300).collect();
    if s.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// The QR code of `data` in Unicode half blocks (two modules per character cell). Light modules
/// are drawn as blocks, as terminals are usually light on dark; on a terminal the colours are
/// forced (white on black) so that the code scans whatever the theme.
fn qr_code(data: &str, color: bool) -> Option<String> {
    use qrcode::render::unicode::Dense1x2;
    let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::L).ok()?;
    let image =
        code.render::<Dense1x2>().dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).quiet_zone(true).build();
    Some(
        image
            .lines()
            .map(|l| if color { format!("  \x1b[97;40m{l}\x1b[0m") } else { format!("  {l}") })
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Shows a token response: the raw JSON with `--json`; else the access token, its expiry and
/// scope, whether a refresh token came, and the ID token's claims (decoded, NOT verified).
fn print_tokens(tokens: &Value, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(tokens)?);
        return Ok(());
    }
    let s = |k: &str| tokens.get(k).and_then(Value::as_str);
    println!();
    println!("Signed in.");
    println!("access_token:  {}", s("access_token").unwrap_or("(none)"));
    println!("token_type:    {}", s("token_type").unwrap_or("(none)"));
    match tokens.get("expires_in").and_then(Value::as_i64) {
        Some(secs) => println!("expires_in:    {secs} s (at {})", rfc3339(SystemClock.now() + secs)),
        None => println!("expires_in:    (not given)"),
    }
    println!("scope:         {}", s("scope").unwrap_or("(as requested)"));
    println!(
        "refresh_token: {}",
        if s("refresh_token").is_some() { "issued (not shown; --json prints it)" } else { "none" }
    );
    if let Some(id_token) = s("id_token") {
        match jwt_claims(id_token) {
            Some(claims) => {
                println!("id_token claims (decoded, signature NOT verified):");
                for l in serde_json::to_string_pretty(&claims)?.lines() {
                    println!("  {l}");
                }
            }
            None => println!("id_token:      present but not a readable JWT"),
        }
    }
    Ok(())
}

/// The payload of a JWS compact serialisation, without any verification.
fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

// ---------------------------------------------------------------------------------------------
// HTTP: discovery and the token endpoint

fn http_client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("keycard/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot create the HTTP client")
}

/// A reqwest error with its causes, on one line.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    one_line(&s)
}

/// The parts of the RFC 8414 metadata that the two flows use.
#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    #[serde(default)]
    authorization_endpoint: Option<String>,
    token_endpoint: String,
    #[serde(default)]
    device_authorization_endpoint: Option<String>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<bool>,
}

/// Where the metadata of `issuer` may be: RFC 8414 §3.1 (the well-known path goes between host
/// and path), the same appended to the issuer, then OpenID Connect Discovery 1.0 §4.
fn metadata_urls(issuer: &url::Url) -> Vec<String> {
    let origin = &issuer[..url::Position::BeforePath];
    let path = issuer.path().trim_end_matches('/');
    let mut urls = vec![format!("{origin}/.well-known/oauth-authorization-server{path}")];
    if !path.is_empty() {
        urls.push(format!("{origin}{path}/.well-known/oauth-authorization-server"));
    }
    urls.push(format!("{origin}{path}/.well-known/openid-configuration"));
    urls
}

/// Fetches the issuer's metadata and checks that it names the same issuer (RFC 8414 §3.3).
async fn discover(http: &reqwest::Client, issuer: &str, ui: &Ui) -> anyhow::Result<Metadata> {
    let url = url::Url::parse(issuer).with_context(|| format!("--issuer {issuer:?} is not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        bail!("--issuer must be an http(s) URL without query or fragment, e.g. https://auth.example.com");
    }
    let loopback = matches!(url.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
        || matches!(url.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
        || url.host_str() == Some("localhost");
    if url.scheme() == "http" && !loopback {
        ui.line("warning: the issuer uses plain http: tokens travel unencrypted");
    }
    let mut tried = Vec::new();
    for candidate in metadata_urls(&url) {
        let res = http
            .get(&candidate)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| anyhow!("cannot reach the issuer {issuer}: {}", describe(&e)))?;
        if !res.status().is_success() {
            tried.push(format!("{candidate} ({})", res.status().as_u16()));
            continue;
        }
        let meta: Metadata = res
            .json()
            .await
            .map_err(|e| anyhow!("the metadata at {candidate} is not valid metadata JSON: {}", describe(&e)))?;
        if meta.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            bail!(
                "the metadata at {candidate} names the issuer {:?}, not {issuer:?} (RFC 8414 section 3.3)",
                one_line(&meta.issuer)
            );
        }
        return Ok(meta);
    }
    bail!("no authorization server metadata found for {issuer}: tried {}", tried.join(", "))
}

/// The client and, for a confidential client, its secret (never printed).
struct ClientAuth {
    id: String,
    secret: Option<String>,
}

impl ClientAuth {
    fn from_args(args: &ClientArgs) -> anyhow::Result<ClientAuth> {
        let secret = if args.client_secret_stdin { Some(read_client_secret()?) } else { None };
        Ok(ClientAuth { id: args.client_id.clone(), secret })
    }
}

fn read_client_secret() -> anyhow::Result<String> {
    let secret = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Client secret: ").context("cannot read the client secret")?
    } else {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the client secret from stdin")?;
        s.lines().next().unwrap_or("").trim().to_owned()
    };
    if secret.is_empty() {
        bail!("--client-secret-stdin: no secret on stdin; pipe it in, e.g. `... --client-secret-stdin < secret.txt`");
    }
    Ok(secret)
}

/// RFC 6749 §2.3.1: HTTP Basic with the id and secret form-encoded first.
fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// Why a request to the token (or device authorization) endpoint brought no result.
#[derive(Debug)]
enum TokenError {
    /// An RFC 6749 §5.2 error answer.
    OAuth { error: String, description: Option<String> },
    /// The network, a timeout or a server error: worth retrying.
    Transient(String),
    /// Anything else (an unexpected status or body).
    Other(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::OAuth { error, description: Some(d) } => write!(f, "{error}: {d}"),
            TokenError::OAuth { error, description: None } => write!(f, "{error}"),
            TokenError::Transient(s) | TokenError::Other(s) => write!(f, "{s}"),
        }
    }
}

/// POSTs a form to an OAuth endpoint with client authentication: public clients send
/// `client_id` in the body, confidential ones HTTP Basic. Returns the JSON object of a success.
async fn oauth_post(
    http: &reqwest::Client,
    endpoint: &str,
    client: &ClientAuth,
    params: &[(&str, &str)],
) -> Result<Value, TokenError> {
    let mut form: Vec<(&str, &str)> = params.to_vec();
    let mut rb = http.post(endpoint).header(reqwest::header::ACCEPT, "application/json");
    match &client.secret {
        Some(secret) => rb = rb.header(reqwest::header::AUTHORIZATION, basic_auth(&client.id, secret)),
        None => form.push(("client_id", &client.id)),
    }
    let res = rb.form(&form).send().await.map_err(|e| TokenError::Transient(describe(&e)))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| TokenError::Transient(describe(&e)))?;
    let json = serde_json::from_slice::<Value>(&body).ok().filter(Value::is_object);
    if status.is_success() {
        return json.ok_or_else(|| TokenError::Other(format!("{endpoint} answered {status} without a JSON object")));
    }
    let error = json.as_ref().and_then(|v| v.get("error")).and_then(Value::as_str).map(one_line);
    let description = json.as_ref().and_then(|v| v.get("error_description")).and_then(Value::as_str).map(one_line);
    match error {
        Some(e) if status.is_server_error() || e == "temporarily_unavailable" => {
            Err(TokenError::Transient(format!("{endpoint} answered {status}: {e}")))
        }
        Some(error) => Err(TokenError::OAuth { error, description }),
        None if status.is_server_error() => Err(TokenError::Transient(format!("{endpoint} answered {status}"))),
        None => Err(TokenError::Other(format!("{endpoint} answered {status} without an OAuth error"))),
    }
}

/// A request to the issuer's token endpoint.
async fn token_request(
    http: &reqwest::Client,
    meta: &Metadata,
    client: &ClientAuth,
    params: &[(&str, &str)],
) -> Result<Value, TokenError> {
    oauth_post(http, &meta.token_endpoint, client, params).await
}

/// Runs `flow`; Ctrl-C ends the process cleanly (exit code 130) instead.
async fn until_ctrl_c<T>(flow: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        r = flow => r,
        Ok(()) = tokio::signal::ctrl_c() => {
            eprintln!("\ncancelled");
            std::process::exit(130);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// keycard device-login (RFC 8628)

/// RFC 8628 §3.2.
#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    #[serde(alias = "verification_url")]
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    expires_in: u64,
    #[serde(default)]
    interval: Option<u64>,
}

const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// `keycard device-login`.
pub async fn device_login(args: DeviceLoginArgs) -> anyhow::Result<()> {
    let ui = Ui::new(args.client.json);
    let client = ClientAuth::from_args(&args.client)?;
    until_ctrl_c(async {
        let http = http_client()?;
        let meta = discover(&http, &args.client.issuer, &ui).await?;
        let Some(endpoint) = meta.device_authorization_endpoint.clone() else {
            bail!(
                "{} offers no device authorization grant (no device_authorization_endpoint in its metadata)",
                meta.issuer
            );
        };
        let scope = args.client.scope();
        let mut params = Vec::new();
        if let Some(s) = &scope {
            params.push(("scope", s.as_str()));
        }
        let d = oauth_post(&http, &endpoint, &client, &params)
            .await
            .map_err(|e| anyhow!("the device authorization request failed: {e}"))?;
        let d: DeviceAuthorization =
            serde_json::from_value(d).map_err(|e| anyhow!("the device authorization response is incomplete: {e}"))?;
        show_user_code(&ui, &d, !args.no_qr);
        let tokens = poll(&http, &meta, &client, &d, &ui).await?;
        print_tokens(&tokens, args.client.json)
    })
    .await
}

fn show_user_code(ui: &Ui, d: &DeviceAuthorization, qr: bool) {
    let code = one_line(&d.user_code);
    let inner = format!("  User code: {code}  ");
    let width = inner.chars().count();
    ui.line("");
    ui.line(format!("To sign in, open  {}  on your phone or computer", ui.bold(&one_line(&d.verification_uri))));
    ui.line("and enter this code:");
    ui.line("");
    ui.line(format!("    ╭{}╮", "─".repeat(width)));
    ui.line(format!("    │  User code: {}  │", ui.bold(&code)));
    ui.line(format!("    ╰{}╯", "─".repeat(width)));
    ui.line("");
    if let Some(complete) = &d.verification_uri_complete {
        if qr && let Some(qr) = qr_code(complete, ui.color) {
            ui.line("Or scan this QR code, which fills the code in for you:");
            ui.line("");
            ui.line(qr);
            ui.line("");
        }
        ui.line(format!("Direct link: {}", one_line(complete)));
    }
    let minutes = d.expires_in.div_ceil(60);
    ui.line(format!("The code expires in {minutes} minute{}.", if minutes == 1 { "" } else { "s" }));
}

/// RFC 8628 §3.4–3.5: polls the token endpoint every `interval` seconds until the user acts.
async fn poll(
    http: &reqwest::Client,
    meta: &Metadata,
    client: &ClientAuth,
    d: &DeviceAuthorization,
    ui: &Ui,
) -> anyhow::Result<Value> {
    const MAX_NETWORK_FAILURES: u32 = 5;
    let started = Instant::now();
    let deadline = started + Duration::from_secs(d.expires_in);
    let mut interval = d.interval.unwrap_or(5).clamp(1, 300);
    let mut failures = 0u32;
    let mut extra_wait = 0u64;
    if !ui.tty {
        ui.line("Waiting for approval… (Ctrl-C to cancel)");
    }
    let params = [("grant_type", DEVICE_CODE_GRANT), ("device_code", d.device_code.as_str())];
    loop {
        wait(ui, Duration::from_secs(interval + extra_wait), started).await;
        if Instant::now() >= deadline {
            clear_progress(ui);
            bail!("the code expired before it was approved; run the command again");
        }
        let outcome = token_request(http, meta, client, &params).await;
        extra_wait = 0;
        match outcome {
            Ok(tokens) => {
                clear_progress(ui);
                ui.line("Approved.");
                return Ok(tokens);
            }
            Err(TokenError::OAuth { error, description }) => {
                failures = 0;
                match error.as_str() {
                    "authorization_pending" => {}
                    "slow_down" => interval += 5,
                    "access_denied" => {
                        clear_progress(ui);
                        bail!("access denied: the sign-in was declined on the verification page");
                    }
                    "expired_token" => {
                        clear_progress(ui);
                        bail!("the code expired before it was approved; run the command again");
                    }
                    _ => {
                        clear_progress(ui);
                        let e = TokenError::OAuth { error, description };
                        bail!("the token endpoint refused: {e}");
                    }
                }
            }
            Err(TokenError::Transient(e)) => {
                failures += 1;
                if failures > MAX_NETWORK_FAILURES {
                    clear_progress(ui);
                    bail!("giving up after {failures} failed polls: {e}");
                }
                // RFC 8628 §3.5: back off on network trouble.
                extra_wait = (1u64 << failures).min(60);
                clear_progress(ui);
                ui.line(format!("network trouble ({e}); retrying ({failures}/{MAX_NETWORK_FAILURES})"));
            }
            Err(e @ TokenError::Other(_)) => {
                clear_progress(ui);
                bail!("unexpected answer from the token endpoint: {e}");
            }
        }
    }
}

/// Sleeps, animating "Waiting for approval…" on a terminal.
async fn wait(ui: &Ui, d: Duration, started: Instant) {
    if !ui.tty {
        tokio::time::sleep(d).await;
        return;
    }
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let end = Instant::now() + d;
    let mut i = 0usize;
    while Instant::now() < end {
        ui.partial(&format!(
            "\r{} Waiting for approval… {}s (Ctrl-C to cancel) ",
            FRAMES[i % FRAMES.len()],
            started.elapsed().as_secs()
        ));
        i += 1;
        tokio::time::sleep(Duration::from_millis(120).min(end.saturating_duration_since(Instant::now()))).await;
    }
}

fn clear_progress(ui: &Ui) {
    if ui.tty {
        ui.partial("\r\x1b[2K");
    }
}

// ---------------------------------------------------------------------------------------------
// keycard login (RFC 8252)

/// What a callback must carry to be accepted.
struct Expected {
    state: String,
    issuer: String,
    /// The issuer promises `iss` in every authorization response (RFC 9207 §3).
    iss_required: bool,
}

/// `keycard login`.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let ui = Ui::new(args.client.json);
    let client = ClientAuth::from_args(&args.client)?;
    until_ctrl_c(async {
        let http = http_client()?;
        let meta = discover(&http, &args.client.issuer, &ui).await?;
        let Some(authorization_endpoint) = meta.authorization_endpoint.clone() else {
            bail!("{} has no authorization_endpoint in its metadata", meta.issuer);
        };
        if let Some(methods) = &meta.code_challenge_methods_supported
            && !methods.iter().any(|m| m == "S256")
        {
            bail!("{} does not support PKCE S256 (code_challenge_methods_supported)", meta.issuer);
        }
        // RFC 8252 §7.3 and §8.3: the loopback IP literal, any port, bound before the request.
        let listener = TcpListener::bind(("127.0.0.1", args.port))
            .await
            .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
        let port = listener.local_addr().context("the loopback listener has no address")?.port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        // RFC 7636: a fresh 256-bit verifier and its S256 challenge.
        let verifier = crate::jose::random_token(32);
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
        let state = crate::jose::random_token(16);
        let scope = args.client.scope();
        let nonce = scope
            .as_deref()
            .is_some_and(|s| s.split(' ').any(|x| x == "openid"))
            .then(|| crate::jose::random_token(16));
        let mut url = url::Url::parse(&authorization_endpoint)
            .with_context(|| format!("the authorization_endpoint {authorization_endpoint:?} is not a URL"))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.id)
                .append_pair("redirect_uri", &redirect_uri)
                .append_pair("state", &state)
                .append_pair("code_challenge", &challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(s) = &scope {
                q.append_pair("scope", s);
            }
            if let Some(n) = &nonce {
                q.append_pair("nonce", n);
            }
        }
        ui.line("Open this URL in your browser to sign in:");
        ui.line("");
        ui.line(format!("  {url}"));
        ui.line("");
        if !args.no_browser {
            match open_browser(url.as_str()) {
                Ok(()) => ui.line("Opening your browser… If nothing opens, open the URL above yourself."),
                Err(why) => ui.line(format!("Cannot open a browser here ({why}): open the URL above yourself.")),
            }
        }
        ui.line(format!("Waiting for the browser to come back to {redirect_uri} (Ctrl-C to cancel)…"));
        let expected = Arc::new(Expected {
            state,
            issuer: meta.issuer.clone(),
            iss_required: meta.authorization_response_iss_parameter_supported == Some(true),
        });
        let waited = tokio::time::timeout(Duration::from_secs(args.timeout), await_callback(listener, expected)).await;
        let Ok(callback) = waited else {
            bail!("the browser did not come back within {} s; run the command again", args.timeout);
        };
        let code = callback?;
        let tokens = token_request(
            &http,
            &meta,
            &client,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &redirect_uri),
                ("code_verifier", &verifier),
            ],
        )
        .await
        .map_err(|e| anyhow!("the code exchange at the token endpoint failed: {e}"))?;
        if let (Some(expected), Some(id_token)) = (&nonce, tokens.get("id_token").and_then(Value::as_str)) {
            let claims = jwt_claims(id_token).ok_or_else(|| anyhow!("the id_token is not a readable JWT"))?;
            if claims.get("nonce").and_then(Value::as_str) != Some(expected.as_str()) {
                bail!("the id_token's nonce does not match the request: refusing it");
            }
        }
        print_tokens(&tokens, args.client.json)
    })
    .await
}

/// Starts the system browser at `url`; never waits for it.
fn open_browser(url: &str) -> Result<(), String> {
    let mut cmd = if cfg!(target_os = "macos") {
        std::process::Command::new("open")
    } else if cfg!(windows) {
        let mut c = std::process::Command::new("rundll32");
        c.arg("url.dll,FileProtocolHandler");
        c
    } else {
        // Without a graphical session xdg-open may start a text browser in this very terminal.
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Err("no graphical session".into());
        }
        std::process::Command::new("xdg-open")
    };
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

/// Accepts connections on the loopback listener until one brings the callback; answers the
/// browser, then returns the code or a one-line error.
async fn await_callback(listener: TcpListener, expected: Arc<Expected>) -> anyhow::Result<String> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<String, String>>(1);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let (tx, expected) = (tx.clone(), expected.clone());
                    // One task per connection: a browser's idle pre-connection must not hold up
                    // the real request.
                    tokio::spawn(async move {
                        if let Some(outcome) = serve_connection(stream, &expected).await {
                            let _ = tx.send(outcome).await;
                        }
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            Some(outcome) = rx.recv() => return outcome.map_err(anyhow::Error::msg),
        }
    }
}

/// Reads one HTTP request; `/callback` gets checked and answered, anything else is a 404.
async fn serve_connection(mut stream: TcpStream, expected: &Expected) -> Option<Result<String, String>> {
    let head = tokio::time::timeout(Duration::from_secs(10), read_head(&mut stream)).await.ok()??;
    let request_line = head.lines().next()?;
    let mut parts = request_line.split(' ');
    let (method, target) = (parts.next()?, parts.next()?);
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != "/callback" {
        respond(&mut stream, "404 Not Found", "Not found", "This address only receives the sign-in answer.").await;
        return None;
    }
    if method != "GET" {
        respond(&mut stream, "405 Method Not Allowed", "Method not allowed", "Use GET.").await;
        return None;
    }
    let outcome = check_callback(query, expected);
    match &outcome {
        Ok(_) => {
            respond(
                &mut stream,
                "200 OK",
                "Signed in",
                "You are signed in. You can close this window and return to the terminal.",
            )
            .await
        }
        Err(e) => {
            respond(&mut stream, "400 Bad Request", "Sign-in failed", &format!("{e}. Return to the terminal.")).await
        }
    }
    Some(outcome)
}

/// The request line and headers (up to 16 KiB).
async fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 16 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

/// RFC 6749 §4.1.2, RFC 9207 §2.4: the answer must carry our `state` and, when present or
/// promised, the issuer's `iss`; then either a code or an error.
fn check_callback(query: &str, expected: &Expected) -> Result<String, String> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if params.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("the answer repeats the parameter {:?}", one_line(&k)));
        }
    }
    match params.get("iss") {
        Some(iss) if *iss != expected.issuer => {
            return Err(format!(
                "the answer comes from the issuer {:?}, not {:?} (RFC 9207 mix-up protection)",
                one_line(iss),
                expected.issuer
            ));
        }
        None if expected.iss_required => {
            return Err("the answer lacks the iss parameter that the issuer promises (RFC 9207)".into());
        }
        _ => {}
    }
    if params.get("state") != Some(&expected.state) {
        return Err("the state in the answer does not match this sign-in (a forged or stale request)".into());
    }
    if let Some(error) = params.get("error") {
        return Err(match params.get("error_description") {
            Some(d) => format!("the authorization server answered {}: {}", one_line(error), one_line(d)),
            None => format!("the authorization server answered {}", one_line(error)),
        });
    }
    match params.remove("code") {
        Some(code) if !code.is_empty() => Ok(code),
        _ => Err("the answer carries neither a code nor an error".into()),
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

async fn respond(stream: &mut TcpStream, status: &str, title: &str, message: &str) {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title} - Keycard</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head>\
         <body style=\"font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem\">\
         <h1>{title}</h1><p>{}</p></body></html>",
        html_escape(message)
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nContent-Security-Policy: default-src 'none'; style-src 'unsafe-inline'\r\n\
         Referrer-Policy: no-referrer\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(iss_required: bool) -> Expected {
        Expected { state: "s1".into(), issuer: "https://auth.example".into(), iss_required }
    }

    #[test]
    fn callback_checks_iss_state_and_error() {
        let e = expected(true);
        assert_eq!(check_callback("code=c1&state=s1&iss=https%3A%2F%2Fauth.example", &e), Ok("c1".into()));
        assert!(check_callback("code=c1&state=s1", &e).unwrap_err().contains("RFC 9207"));
        assert!(check_callback("code=c1&state=s1", &expected(false)).is_ok());
        assert!(check_callback("code=c1&state=s1&iss=https%3A%2F%2Fevil", &e).unwrap_err().contains("mix-up"));
        assert!(check_callback("code=c1&state=s2&iss=https%3A%2F%2Fauth.example", &e).unwrap_err().contains("state"));
        assert!(check_callback("code=c1&code=c2&state=s1", &expected(false)).unwrap_err().contains("repeats"));
        let err = check_callback("error=access_denied&error_description=no%0Athanks&state=s1", &expected(false));
        assert_eq!(err.unwrap_err(), "the authorization server answered access_denied: no thanks");
    }

    #[test]
    fn metadata_locations() {
        let u = url::Url::parse("https://auth.example").unwrap();
        assert_eq!(
            metadata_urls(&u),
            [
                "https://auth.example/.well-known/oauth-authorization-server",
                "https://auth.example/.well-known/openid-configuration"
            ]
        );
        let u = url::Url::parse("https://auth.example:8443/tenant/").unwrap();
        assert_eq!(
            metadata_urls(&u),
            [
                "https://auth.example:8443/.well-known/oauth-authorization-server/tenant",
                "https://auth.example:8443/tenant/.well-known/oauth-authorization-server",
                "https://auth.example:8443/tenant/.well-known/openid-configuration"
            ]
        );
    }

    #[test]
    fn basic_auth_form_encodes() {
        // "a:b" / "s p" → "a%3Ab:s+p"
        assert_eq!(basic_auth("a:b", "s p"), "Basic YSUzQWI6cytw");
    }

    #[test]
    fn qr_code_renders_half_blocks() {
        let qr = qr_code("http://127.0.0.1:8080/device?user_code=BCDF-GHJK", false).unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('▀') || qr.contains('▄'));
    }
}
