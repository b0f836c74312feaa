//! RFC 8628 device authorization grant: the device authorization endpoint (§3.1–3.2), user
//! codes (§6.1: 8 characters from 20 consonants, shown `XXXX-XXXX`, typed in any case with or
//! without the dash), and the verification page's decisions (§3.3). Wrong user codes are
//! throttled per browser and per IP (§5.1); the device code is 256 random bits, stored hashed;
//! the user must confirm explicitly — nothing is approved by merely opening a link (§5.4).
//!
//! A decision (§3.3, approve or deny) is accepted only for a code this browser looked up: the
//! confirmation form carries a [`decision_token`], a MAC naming the device row, the browser
//! cookie and the session, and a decision without the right one counts as a wrong code against
//! the same per-browser and per-IP throttles. `/device_authorization` is limited per (client,
//! address) by `device.max_authorizations_per_client_ip` a minute (429 `slow_down`). A device code
//! lives `device.code_ttl_secs`, or the client's own `device_code_ttl_secs` when it has one.

use super::OAuthError;
use super::client_auth;
use super::flow::Browser;
use super::params::Params;
use crate::jose;
use crate::model::{Client, DeviceRequest, DeviceStatus, GrantType, Session};
use crate::secret::Redacted;
use crate::state::AppState;
use crate::store::StoreError;
use keycard_types::{ErrorCode, Scope};
use serde::Serialize;
use std::sync::Arc;

/// RFC 8628 §6.1: the user-code alphabet (no vowels, no look-alikes).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Prefix of device codes.
pub const DEVICE_CODE_PREFIX: &str = "kc_dc_";

/// A new user code: 8 characters drawn uniformly from [`USER_CODE_ALPHABET`] (≈34.5 bits).
pub fn generate_user_code() -> String {
    let mut out = String::with_capacity(8);
    while out.len() < 8 {
        let bytes: [u8; 16] = jose::random_bytes();
        // Rejection sampling: 240 = 12 × 20, so bytes below it map uniformly.
        for b in bytes.into_iter().filter(|b| *b < 240) {
            if out.len() == 8 {
                break;
            }
            out.push(USER_CODE_ALPHABET[usize::from(b % 20)] as char);
        }
    }
    out
}

/// `BCDFGHJK` → `BCDF-GHJK`.
pub fn format_user_code(code: &str) -> String {
    if code.len() == 8 { format!("{}-{}", &code[..4], &code[4..]) } else { code.to_owned() }
}

/// What the user typed → the canonical code: case-insensitive, dashes and spaces ignored, and
/// nothing else accepted (so normalisation cannot widen the search space).
pub fn normalize_user_code(input: &str) -> Option<String> {
    if input.len() > 32 {
        return None;
    }
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

fn user_code_hash(state: &AppState, code: &str) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("user_code\0{code}").as_bytes())
}

/// RFC 8628 §3.2 response. The codes (and the URI that contains the user code) are secrets:
/// `Debug` never shows them (SECURITY I7); the JSON is unchanged.
#[derive(Debug, Serialize)]
pub struct DeviceAuthorizationResponse {
    /// The device verification code.
    pub device_code: Redacted<String>,
    /// The code the user types.
    pub user_code: Redacted<String>,
    /// Where the user goes.
    pub verification_uri: String,
    /// The same with the code filled in (still needs a confirm click).
    pub verification_uri_complete: Redacted<String>,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Minimum seconds between polls.
    pub interval: i64,
}

/// RFC 8628 §3.1: `POST /device_authorization`.
pub async fn device_authorization(
    state: &AppState,
    authorization: Option<&[u8]>,
    ip: &str,
    params: &Params,
) -> Result<DeviceAuthorizationResponse, OAuthError> {
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented, ip).await?;
    if !client.allows_grant(GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the client may not use the device authorization grant",
        ));
    }
    if let Some(retry_after) = authorization_throttled(state, &client.id, ip).await? {
        return Err(OAuthError::new(
            ErrorCode::SlowDown,
            "too many device authorization requests from this address; try again after the Retry-After delay",
        )
        .with_retry_after(retry_after));
    }
    let scope = match params.get("scope") {
        Some(s) => Scope::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))?,
        None => Scope::default(),
    };
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    let known = state.store.list_scopes().await?;
    if !scope.is_subset(&allowed) || !scope.iter().all(|s| known.iter().any(|k| k.name == s)) {
        return Err(OAuthError::invalid_scope("the client may not request this scope"));
    }
    let now = state.clock.now();
    let d = &state.config.device;
    // RFC 8628 §3.2 `expires_in`: the client's own lifetime (validated 60..3600 at registration)
    // or the server's.
    let ttl = client.settings.device_code_ttl_secs.unwrap_or(d.code_ttl_secs);
    let device_code = format!("{DEVICE_CODE_PREFIX}{}", jose::random_token(32));
    for _ in 0..5 {
        let user_code = generate_user_code();
        let row = DeviceRequest {
            device_hash: jose::keyed_hash(&state.secrets.hash_key, device_code.as_bytes()),
            user_code_hash: user_code_hash(state, &user_code),
            client_id: client.id.clone(),
            scope: scope.to_string(),
            status: DeviceStatus::Pending,
            user_id: None,
            session_sid: None,
            auth_time: None,
            poll_interval: d.poll_interval_secs,
            last_polled_at: None,
            created_at: now,
            expires_at: now + ttl,
        };
        match state.store.insert_device(&row).await {
            Ok(()) => {
                let base = state.config.issuer.trim_end_matches('/');
                let shown = format_user_code(&user_code);
                return Ok(DeviceAuthorizationResponse {
                    device_code: device_code.into(),
                    verification_uri: format!("{base}/device"),
                    verification_uri_complete: format!("{base}/device?user_code={shown}").into(),
                    user_code: shown.into(),
                    expires_in: ttl,
                    interval: d.poll_interval_secs,
                });
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OAuthError::server_error(std::io::Error::other("could not allocate a unique user code")))
}

/// Why a typed user code was not accepted.
#[derive(Debug)]
pub enum CodeProblem {
    /// Unknown, expired, used or malformed: one answer for all.
    Invalid,
    /// Too many wrong codes from this browser or address (§5.1).
    Throttled {
        /// Seconds to wait.
        retry_after: i64,
    },
}

/// Window of the code-attempt and authorization-request counters (seconds).
const WINDOW_SECS: i64 = 60;

/// One request to `/device_authorization` from `ip` for `client_id`, counted in the shared
/// throttle table; `Some(retry_after)` when over `device.max_authorizations_per_client_ip`
/// a minute. Only authenticated clients are counted, so random ids cannot fill the table.
async fn authorization_throttled(state: &AppState, client_id: &str, ip: &str) -> Result<Option<i64>, OAuthError> {
    let now = state.clock.now();
    let key = format!("dev-auth:{}", crate::client_locks::key(client_id, ip));
    let limit = state.config.device.max_authorizations_per_client_ip;
    let a = state.store.count_login_attempt(&key, now, WINDOW_SECS, limit).await?;
    if let Some(until) = a.locked_until.filter(|u| *u > now) {
        return Ok(Some(until - now));
    }
    if a.attempts > limit {
        state.store.lock_login(&key, now + WINDOW_SECS).await?;
        return Ok(Some(WINDOW_SECS));
    }
    Ok(None)
}

fn browser_key(state: &AppState, browser: &Browser) -> String {
    format!("dev-b:{}", jose::keyed_hash(&state.secrets.hash_key, browser.browser_token.as_bytes()))
}

/// Counts one user-code attempt against the IP and the browser (§5.1); `Some(retry_after)`
/// when either is over its limit.
async fn count_attempt(state: &AppState, browser: &Browser) -> Result<Option<i64>, OAuthError> {
    let now = state.clock.now();
    let d = &state.config.device;
    let bkey = browser_key(state, browser);
    let ikey = format!("dev-ip:{}", browser.ip);
    for (key, limit) in [(&ikey, d.max_code_attempts_per_ip), (&bkey, d.max_code_attempts_per_browser)] {
        let a = state.store.count_login_attempt(key, now, WINDOW_SECS, limit).await?;
        if a.attempts > limit || a.locked_until.is_some_and(|u| u > now) {
            state.store.lock_login(key, now + WINDOW_SECS).await?;
            return Ok(Some(WINDOW_SECS));
        }
    }
    Ok(None)
}

/// Looks a typed user code up, counting the attempt against the browser and the IP first.
pub async fn lookup_user_code(
    state: &AppState,
    input: &str,
    browser: &Browser,
) -> Result<Result<(String, DeviceRequest, Arc<Client>), CodeProblem>, OAuthError> {
    if let Some(retry_after) = count_attempt(state, browser).await? {
        return Ok(Err(CodeProblem::Throttled { retry_after }));
    }
    let Some((code, dev)) = pending_device(state, input).await? else { return Ok(Err(CodeProblem::Invalid)) };
    let Some(client) = state.clients.get(&state.store, &dev.client_id).await?.filter(|c| !c.disabled) else {
        return Ok(Err(CodeProblem::Invalid));
    };
    state.store.reset_login(&browser_key(state, browser)).await?;
    Ok(Ok((format_user_code(&code), dev, client)))
}

/// The pending, unexpired device row of a typed code, with the canonical code.
async fn pending_device(state: &AppState, input: &str) -> Result<Option<(String, DeviceRequest)>, OAuthError> {
    let Some(code) = normalize_user_code(input) else { return Ok(None) };
    let Some(dev) = state.store.get_device_by_user_code(&user_code_hash(state, &code)).await? else {
        return Ok(None);
    };
    Ok((dev.status == DeviceStatus::Pending && dev.expires_at > state.clock.now()).then_some((code, dev)))
}

/// The token the confirmation form carries (in place of the page's CSRF token): a MAC naming
/// the device row, the browser cookie and the session that looked the code up (§3.3, §5.1).
/// Only a browser that looked the code up (an attempt counted by [`lookup_user_code`]) has it.
pub fn decision_token(state: &AppState, dev: &DeviceRequest, browser: &Browser, session: &Session) -> String {
    let input = format!("device-decision v1\0{}\0{}\0{}", dev.device_hash, &*browser.browser_token, session.sid);
    jose::keyed_hash(&state.secrets.hash_key, input.as_bytes())
}

/// What became of a decision.
#[derive(Debug, PartialEq, Eq)]
pub enum Decided {
    /// Recorded.
    Done,
    /// The code was confirmed by this browser but is no longer pending (decided, expired).
    NoLongerPending,
    /// Not a code this browser looked up and confirmed (or no session): counted as a wrong code.
    Refused,
    /// Too many wrong codes from this browser or address (§5.1).
    Throttled {
        /// Seconds to wait.
        retry_after: i64,
    },
}

/// Records the signed-in user's decision for a user code (§3.3), but only with the
/// [`decision_token`] this browser got on the confirmation page; anything else counts as a
/// wrong code against the per-browser and per-IP throttles.
pub async fn decide(
    state: &AppState,
    user_code: &str,
    token: Option<&str>,
    approve: bool,
    browser: &Browser,
    session: Option<&Session>,
) -> Result<Decided, OAuthError> {
    let confirmed = match (session, pending_device(state, user_code).await?) {
        (Some(s), Some((code, dev))) => token
            .filter(|t| {
                let want = decision_token(state, &dev, browser, s);
                aws_lc_rs::constant_time::verify_slices_are_equal(t.as_bytes(), want.as_bytes()).is_ok()
            })
            .map(|_| (code, s)),
        _ => None,
    };
    let Some((code, session)) = confirmed else {
        return Ok(match count_attempt(state, browser).await? {
            Some(retry_after) => Decided::Throttled { retry_after },
            None => Decided::Refused,
        });
    };
    let now = state.clock.now();
    let done = state
        .store
        .decide_device(&user_code_hash(state, &code), approve, &session.user_id, &session.sid, session.auth_time, now)
        .await?;
    Ok(if done { Decided::Done } else { Decided::NoLongerPending })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes() {
        for _ in 0..200 {
            let c = generate_user_code();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{c}");
        }
        assert_eq!(format_user_code("BCDFGHJK"), "BCDF-GHJK");
        assert_eq!(normalize_user_code("bcdf-ghjk").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code(" BCDF GHJK ").as_deref(), Some("BCDFGHJK"));
        assert_eq!(normalize_user_code("BCDFGHJK").as_deref(), Some("BCDFGHJK"));
        for bad in ["BCDF-GHJ", "ABCD-EFGH", "BCDF-GHJK-L", "BCDF_GHJK", "", "BCDF-GHJ1"] {
            assert_eq!(normalize_user_code(bad), None, "{bad}");
        }
    }

    /// SECURITY I7: `{:?}` of the §3.2 response never shows the codes; its JSON is unchanged.
    #[test]
    fn device_authorization_response_debug_hides_the_codes() {
        let r = DeviceAuthorizationResponse {
            device_code: "kc_dc_devicesecret".to_string().into(),
            user_code: "BCDF-GHJK".to_string().into(),
            verification_uri: "https://id.example/device".into(),
            verification_uri_complete: "https://id.example/device?user_code=BCDF-GHJK".to_string().into(),
            expires_in: 600,
            interval: 5,
        };
        let s = format!("{r:?} {r:#?}");
        assert!(!s.contains("devicesecret") && !s.contains("GHJK"), "{s}");
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({
                "device_code": "kc_dc_devicesecret",
                "user_code": "BCDF-GHJK",
                "verification_uri": "https://id.example/device",
                "verification_uri_complete": "https://id.example/device?user_code=BCDF-GHJK",
                "expires_in": 600,
                "interval": 5,
            })
        );
    }
}
