//! Code that is not the server: example OAuth clients that work against ANY issuer (Keycard or
//! not), and the demo of `keycard serve --demo`.
//!
//! - [`demo`]: a demo API protected with `keycard-resource`, a browser client and their
//!   provisioning, so that one process shows all four OAuth roles (development only).
//!
//! - [`device_login`]: `keycard device-login`, the device authorization grant (RFC 8628), the
//!   way a TV or a command-line tool signs a user in: a short user code and a QR code here,
//!   approval on a phone.
//! - [`native_login`]: `keycard login`, the native-app flow (RFC 8252): the system browser, a
//!   loopback redirect on `127.0.0.1`, the authorization code grant with PKCE S256 (RFC 7636),
//!   `state`, and the RFC 9207 `iss` check.
//! - [`oauth_client`]: what both need: the issuer's RFC 8414 metadata
//!   (`oauth_client::discover`), client authentication ([`oauth_client::basic_auth`], RFC 6749
//!   §2.3.1) and the token endpoint (`oauth_client::token_request`). This is the only HTTP
//!   client code of the CLI.
//! - `terminal`: the instructions and the token response on the terminal (`print_tokens`).
//!   Nothing here logs: instructions go to stdout (stderr with `--json`, so that stdout is only
//!   the token response) and errors are one line.
//!
//! Adding an example client: a new file here with its clap `Args` (flattening
//! [`oauth_client::ClientArgs`]), its `--help` text and an `async fn` that runs it inside
//! `oauth_client::until_ctrl_c`; then a variant of `cli::Command` that calls it before the
//! configuration is loaded. Nothing here may import `crate::cli` (the CLI sits above).
//!
//! `html_escape` and `jwt_claims` serve every tool here; use them rather than another copy.

pub mod demo;
pub mod device_login;
pub mod native_login;
pub mod oauth_client;
mod terminal;

use base64::Engine as _;
use serde_json::Value;

/// The payload of a JWS compact serialisation, without any verification.
fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    serde_json::from_slice::<Value>(&bytes).ok().filter(Value::is_object)
}

/// Escapes text for HTML element content and quoted attribute values.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_html() {
        assert_eq!(html_escape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }
}
