//! `keycard device-login`: the device authorization grant (RFC 8628) against any issuer. It asks
//! the device authorization endpoint for a user code (§3.1–3.2), shows it with the verification
//! link and its QR code (§3.3), and polls the token endpoint (§3.4–3.5) until the user approves,
//! denies or the code expires, backing off on `slow_down` and on network trouble.
//!
//! Adding an option: a field of [`DeviceLoginArgs`] (its doc comment is the `--help` text;
//! options shared with `keycard login` go into [`ClientArgs`]), used in [`device_login`].

use super::oauth_client::{
    ClientArgs, ClientAuth, Metadata, TokenError, discover, http_client, oauth_post, token_request, until_ctrl_c,
};
use super::terminal::{Ui, one_line, print_tokens};
use anyhow::{anyhow, bail};
use clap::Args;
use serde::Deserialize;
use serde_json::Value;
use std::time::{Duration, Instant};

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

/// `keycard device-login` options.
#[derive(Debug, Args)]
pub struct DeviceLoginArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// Do not draw the QR code of the verification link.
    #[arg(long)]
    pub no_qr: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_code_renders_half_blocks() {
        let qr = qr_code("http://127.0.0.1:8080/device?user_code=BCDF-GHJK", false).unwrap();
        assert!(qr.lines().count() > 10);
        assert!(qr.contains('▀') || qr.contains('▄'));
    }
}
