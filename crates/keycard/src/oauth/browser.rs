//! The browser side of the interactive flows (`flow.rs`, `device.rs`): the cookies and
//! address of one browser ([`Browser`]), the server-minted browser-binding cookie (SECURITY
//! G1/G4) and the keyed hash under which pending requests are bound to it (SECURITY G2).
//!
//! The cookie value is 192 random bits followed by their HMAC-SHA256 under the server's hash
//! key (label `browser-cookie v1`, see `docs/security.md`); the HTTP layer adopts only values
//! for which [`browser_token_valid`] holds and mints a new one otherwise. To bind something
//! new to the browser, derive it from [`Browser::browser_token`] with a label of its own.

use crate::jose;
use crate::secret::Redacted;
use crate::state::AppState;

/// The browser's cookies and address. The cookie values are secrets: `Debug` never shows them
/// (SECURITY I7).
#[derive(Debug, Clone)]
pub struct Browser {
    /// The browser-binding cookie (always present: the HTTP layer creates it), a value minted by
    /// [`mint_browser_token`] and checked with [`browser_token_valid`].
    pub browser_token: Redacted<String>,
    /// The session cookie, when present.
    pub session_token: Option<Redacted<String>>,
    /// Client IP (for throttling).
    pub ip: String,
}

impl Browser {
    /// The session cookie value, when present.
    pub fn session(&self) -> Option<&str> {
        self.session_token.as_ref().map(|t| t.as_str())
    }
}

/// Length of the random part of a browser-binding cookie (24 bytes, base64url).
const BROWSER_NONCE_LEN: usize = 32;

/// What the browser cookie's MAC covers: a domain label (no other keyed hash starts with it)
/// and the random part.
fn browser_mac_input(nonce: &str) -> Vec<u8> {
    format!("browser-cookie v1\0{nonce}").into_bytes()
}

/// A new browser-binding cookie value: 192 random bits followed by their HMAC under a key
/// derived from the server secret (SECURITY G1/G4). Only values this server minted are adopted:
/// whoever can set cookies for the browser (plain-http mode, a sibling subdomain) cannot pick
/// or precompute a value and the CSRF tokens that go with it. (Planting a value the server once
/// minted for the attacker stays possible wherever cookies can be injected at all; the
/// `__Host-` prefix of https issuers keeps sibling subdomains from setting the cookie, and the
/// Origin / Fetch-Metadata check stands in front of every form.)
pub fn mint_browser_token(state: &AppState) -> String {
    let nonce = jose::random_token(24);
    let mac = jose::keyed_hash(&state.secrets.hash_key, &browser_mac_input(&nonce));
    format!("{nonce}{mac}")
}

/// Was `value` minted by [`mint_browser_token`] with this server secret? (Constant time over
/// the MAC.) A value that fails is ignored and replaced.
pub fn browser_token_valid(state: &AppState, value: &str) -> bool {
    let Some((nonce, mac)) = value.split_at_checked(BROWSER_NONCE_LEN) else { return false };
    !mac.is_empty() && jose::keyed_hash_matches(&state.secrets.hash_key, &browser_mac_input(nonce), mac)
}

/// The keyed hash under which a pending request is bound to the browser cookie.
pub(crate) fn browser_hash(state: &AppState, token: &str) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("browser\0{token}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SECURITY I7: `{:?}` of a browser never shows its cookie values.
    #[test]
    fn browser_debug_hides_the_cookies() {
        let b = Browser {
            browser_token: "browser-cookie-secret".to_string().into(),
            session_token: Some("session-cookie-secret".to_string().into()),
            ip: "192.0.2.1".into(),
        };
        let s = format!("{b:?} {b:#?}");
        assert!(!s.contains("browser-cookie-secret") && !s.contains("session-cookie-secret"), "{s}");
        assert!(s.contains("192.0.2.1"), "the address is not a secret: {s}");
    }
}
