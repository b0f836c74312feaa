//! `keycard login`: sign a user in the way a native or desktop app should (RFC 8252) against any
//! issuer: a listener on the loopback IP literal (§7.3, §8.3), the system browser at the
//! authorization endpoint with PKCE S256 (RFC 7636) and a random `state`, the answer checked
//! for `state` and `iss` (RFC 6749 §4.1.2, RFC 9207 §2.4), and the code redeemed at the token
//! endpoint (RFC 6749 §4.1.3). The loopback listener is a minimal HTTP server of its own: one
//! `GET /callback` is all it has to understand.
//!
//! Adding an option: a field of [`LoginArgs`] (its doc comment is the `--help` text; options
//! shared with `keycard device-login` go into [`ClientArgs`]), used in [`login`]. A new check on
//! the answer goes into `check_callback`, with a case in its test.

use super::oauth_client::{ClientArgs, ClientAuth, discover, http_client, token_request, until_ctrl_c};
use super::terminal::{Ui, one_line, print_tokens};
use super::{html_escape, jwt_claims};
use anyhow::{Context as _, anyhow, bail};
use base64::Engine as _;
use clap::Args;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

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
}
