//! RFC 6749 §4.1.3 + RFC 7636 §4.6 (OAuth 2.1 §4.1.3): redeem an authorization code.
//!
//! The code must exist, be unexpired, belong to the authenticated client, match the redirect
//! URI when one was sent, and pass PKCE. A failed check does NOT consume the code (OAuth 2.1
//! §7.5.2, SECURITY B3). Redemption itself is one statement: inserting the grant row keyed by
//! the code's grant id; of two concurrent redemptions exactly one succeeds, on any number of
//! nodes (B7). A second valid redemption revokes the grant and so every token issued from the
//! code (RFC 6749 §4.1.2, B6).
//!
//! The code lives no longer than what it was issued under (SECURITY C7): the session it was
//! issued in must not have ended (logout, password change, disabled user) and, unless the client
//! is first-party, the user's consent must still stand — given no later than the code and
//! covering its scope. A code replayed after one of those ended still revokes its grant (B6).

use super::user_tokens::{self, NewGrant};
use crate::jose;
use crate::model::{AuthCode, Client};
use crate::oauth::OAuthError;
use crate::oauth::authorize::verify_pkce;
use crate::secret::Redacted;
use crate::state::AppState;
use keycard_types::{Scope, TokenResponse};

/// Prefix of authorization codes.
pub const CODE_PREFIX: &str = "kc_ac_";

/// The parameters of RFC 6749 §4.1.3; the code and the verifier are [`Redacted`] (SECURITY I7).
#[derive(Debug)]
pub struct CodeRequest {
    /// The code.
    pub code: Redacted<String>,
    /// `redirect_uri`, when sent.
    pub redirect_uri: Option<String>,
    /// PKCE `code_verifier`, when sent.
    pub code_verifier: Option<Redacted<String>>,
}

fn bad(d: &'static str) -> OAuthError {
    OAuthError::invalid_grant(d)
}

/// A code was presented again after its redemption: revoke everything issued from it.
async fn revoke_reused(state: &AppState, client: &Client, code: &AuthCode) -> Result<(), OAuthError> {
    let now = state.clock.now();
    if state.store.revoke_grant(&code.grant_id, "authorization_code_reuse", now).await? {
        let detail = serde_json::json!({"grant_id": code.grant_id});
        let _ = state
            .store
            .record_event(now, "authorization_code_reuse", Some(&client.id), Some(&code.user_id), &detail)
            .await;
        tracing::warn!(client_id = %client.id, grant_id = %code.grant_id, "authorization code reused: grant revoked");
    }
    Ok(())
}

/// SECURITY C7: is what the code was issued under still standing?
async fn still_standing(state: &AppState, client: &Client, code: &AuthCode, scope: &Scope) -> Result<bool, OAuthError> {
    let session = state.store.get_session_by_sid(&code.session_sid).await?;
    if session.is_none_or(|s| s.revoked_at.is_some() || s.user_id != code.user_id) {
        return Ok(false);
    }
    if client.settings.first_party {
        return Ok(true);
    }
    Ok(state.store.get_consent_record(&code.user_id, &client.id).await?.is_some_and(|(granted, since)| {
        since <= code.created_at && Scope::parse(&granted).is_ok_and(|g| scope.is_subset(&g))
    }))
}

/// Redeems the code for tokens; `jkt` is the thumbprint of the request's DPoP proof, if any
/// (RFC 9449 §5: the tokens are bound to it; §10: it must be the code's `dpop_jkt`).
pub async fn issue(
    state: &AppState,
    client: &Client,
    req: CodeRequest,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    if !req.code.starts_with(CODE_PREFIX) || req.code.len() > 128 {
        return Err(bad("the authorization code is invalid"));
    }
    let hash = jose::keyed_hash(&state.secrets.hash_key, req.code.as_bytes());
    let Some(code) = state.store.get_code(&hash).await? else {
        return Err(bad("the authorization code is invalid"));
    };
    if code.client_id != client.id {
        return Err(bad("the authorization code was issued to another client"));
    }
    if code.expires_at <= now {
        return Err(bad("the authorization code has expired"));
    }
    match (&req.redirect_uri, code.redirect_uri_given) {
        (None, true) => return Err(bad("redirect_uri is required: it was sent in the authorization request")),
        (Some(r), _) if *r != code.redirect_uri => {
            return Err(bad("redirect_uri does not match the authorization request"));
        }
        _ => {}
    }
    match (&code.code_challenge, &req.code_verifier) {
        (Some(ch), Some(v)) if verify_pkce(ch, v.as_str()) => {}
        (Some(_), Some(_)) => return Err(bad("the PKCE code_verifier does not match the code_challenge")),
        (Some(_), None) => return Err(bad("code_verifier is required (PKCE)")),
        // RFC 9700 §4.8.2: a verifier for a code issued without a challenge is a downgrade attempt.
        (None, Some(_)) => return Err(bad("code_verifier sent but the authorization request had no code_challenge")),
        (None, None) if client.is_public() => return Err(bad("public clients must use PKCE")),
        (None, None) => {}
    }
    crate::oauth::dpop::check_code_binding(code.dpop_jkt.as_deref(), jkt)?;
    let user = state.store.get_user(&code.user_id).await?;
    if user.is_none_or(|u| u.disabled) {
        return Err(bad("the user is no longer active"));
    }
    let scope = Scope::parse(&code.scope).unwrap_or_default();
    if !still_standing(state, client, &code, &scope).await? {
        revoke_reused(state, client, &code).await?;
        return Err(bad("the sign-in or consent this code was issued under has ended"));
    }
    let (mut grant, refresh) = user_tokens::new_grant(
        state,
        NewGrant {
            id: code.grant_id.clone(),
            client,
            user_id: &code.user_id,
            session_sid: Some(&code.session_sid),
            scope: &scope,
            auth_time: code.auth_time,
        },
        user_tokens::wants_refresh(client, &scope),
    );
    grant.dpop_jkt = crate::oauth::dpop::refresh_binding(client, jkt);
    if !state.store.create_grant(&grant).await? {
        // The code was redeemed before: revoke everything issued from it.
        revoke_reused(state, client, &code).await?;
        return Err(bad("the authorization code has already been used"));
    }
    user_tokens::respond(state, client, &grant, &scope, refresh, code.nonce.as_deref(), jkt).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SECURITY I7: the code and the PKCE verifier never show in `{:?}`.
    #[test]
    fn code_request_debug_redacts_code_and_verifier() {
        let r = CodeRequest {
            code: "kc_ac_SECRET-code".to_string().into(),
            redirect_uri: Some("https://app.example/cb".into()),
            code_verifier: Some("SECRET-verifier".to_string().into()),
        };
        let s = format!("{r:?} {r:#?}");
        assert!(!s.contains("SECRET"), "{s}");
        assert!(s.contains("https://app.example/cb"), "{s}");
    }
}
