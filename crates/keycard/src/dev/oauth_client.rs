//! The client side of OAuth, for any issuer: the issuer's metadata (RFC 8414, `discover`),
//! client authentication (a public client sends `client_id`, a confidential one HTTP Basic,
//! [`basic_auth`], RFC 6749 §2.3.1), and requests to the token and device authorization
//! endpoints (`oauth_post`, `token_request`) with their errors (RFC 6749 §5.2,
//! `TokenError`). [`ClientArgs`] are the options every example client takes.
//!
//! Adding a request to another endpoint: take the endpoint from `Metadata` (add the member
//! there, `#[serde(default)]` when it is optional in RFC 8414) and send it through
//! `oauth_post`, which authenticates the client and sorts the answer.

use super::terminal::{Ui, one_line};
use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::io::{IsTerminal as _, Read as _};
use std::time::Duration;

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
    pub(super) fn scope(&self) -> Option<String> {
        let s = self.scopes.iter().flat_map(|s| s.split_whitespace()).collect::<Vec<_>>().join(" ");
        (!s.is_empty()).then_some(s)
    }
}

pub(super) fn http_client() -> anyhow::Result<reqwest::Client> {
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
pub(super) struct Metadata {
    pub(super) issuer: String,
    #[serde(default)]
    pub(super) authorization_endpoint: Option<String>,
    pub(super) token_endpoint: String,
    #[serde(default)]
    pub(super) device_authorization_endpoint: Option<String>,
    #[serde(default)]
    pub(super) code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    pub(super) authorization_response_iss_parameter_supported: Option<bool>,
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
pub(super) async fn discover(http: &reqwest::Client, issuer: &str, ui: &Ui) -> anyhow::Result<Metadata> {
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
pub(super) struct ClientAuth {
    pub(super) id: String,
    pub(super) secret: Option<String>,
}

impl ClientAuth {
    pub(super) fn from_args(args: &ClientArgs) -> anyhow::Result<ClientAuth> {
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
pub fn basic_auth(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// Why a request to the token (or device authorization) endpoint brought no result.
#[derive(Debug)]
pub(super) enum TokenError {
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
pub(super) async fn oauth_post(
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
pub(super) async fn token_request(
    http: &reqwest::Client,
    meta: &Metadata,
    client: &ClientAuth,
    params: &[(&str, &str)],
) -> Result<Value, TokenError> {
    oauth_post(http, &meta.token_endpoint, client, params).await
}

/// Runs `flow`; Ctrl-C ends the process cleanly (exit code 130) instead.
pub(super) async fn until_ctrl_c<T>(flow: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::select! {
        r = flow => r,
        Ok(()) = tokio::signal::ctrl_c() => {
            eprintln!("\ncancelled");
            std::process::exit(130);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
