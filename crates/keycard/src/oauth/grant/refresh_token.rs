//! RFC 6749 §6 (OAuth 2.1 §4.3) with rotation and reuse detection (RFC 9700 §4.14.2,
//! SECURITY C1–C8).
//!
//! The current refresh token rotates in one conditional UPDATE of its grant: of N concurrent
//! refreshes exactly one wins. Presenting a rotated token revokes the whole family and records a
//! security event — unless the client has a replay window and it is the IMMEDIATELY previous
//! token within that window and count, in which case the SAME successor pair already issued is
//! returned again (idempotent; for lost responses and racing tabs). Rotation is always on for
//! public clients; confidential clients may turn it off (`refresh_rotation = false`).
//!
//! Only a token Keycard really issued for the family counts as reuse: its keyed hash must be the
//! previous token's or one of the family's retired tokens (`retired_refresh_tokens`). The grant
//! id and generation inside a token are no secret (`gid` is in every JWT access token and public
//! clients authenticate with their id alone), so a made-up token with a real grant id and an old
//! generation is a plain `invalid_grant` that revokes nothing. Generations are bounded
//! ([`MAX_GENERATION`](super::user_tokens::MAX_GENERATION)), so no arithmetic on them can overflow.

use super::user_tokens::{self, MAX_GENERATION, new_refresh_token, parse_refresh_token};
use crate::clock::UnixTime;
use crate::jose;
use crate::model::{Client, Grant};
use crate::oauth::OAuthError;
use crate::state::AppState;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keycard_types::{Scope, TokenResponse};

fn bad(d: &'static str) -> OAuthError {
    OAuthError::invalid_grant(d)
}

async fn revoke_family(state: &AppState, grant: &Grant, now: UnixTime, why: &str) {
    if let Ok(true) = state.store.revoke_grant(&grant.id, why, now).await {
        let detail = serde_json::json!({"grant_id": grant.id, "generation": grant.generation});
        let _ = state.store.record_event(now, why, Some(&grant.client_id), Some(&grant.user_id), &detail).await;
        tracing::warn!(client_id = %grant.client_id, grant_id = %grant.id, reason = why, "refresh token family revoked");
    }
}

fn seal(state: &AppState, grant_id: &str, res: &TokenResponse) -> Result<String, OAuthError> {
    let json = serde_json::to_vec(res).map_err(OAuthError::server_error)?;
    let sealed = jose::seal(&state.secrets.kek, grant_id.as_bytes(), &json).map_err(OAuthError::server_error)?;
    Ok(STANDARD.encode(sealed))
}

fn unseal(state: &AppState, grant_id: &str, sealed: &str) -> Option<TokenResponse> {
    let raw = STANDARD.decode(sealed).ok()?;
    let json = jose::open(&state.secrets.kek, grant_id.as_bytes(), &raw).ok()?;
    serde_json::from_slice(&json).ok()
}

/// Refreshes: `token` from the client, `requested` scope (narrowing only), `jkt` the thumbprint
/// of the request's DPoP proof (RFC 9449 §5: the new access token is bound to it, and a public
/// client's bound refresh token needs it to be the family's key).
pub async fn issue(
    state: &AppState,
    client: &Client,
    token: &str,
    requested: Option<Scope>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    let Some((gid, generation)) = parse_refresh_token(token) else {
        return Err(bad("the refresh token is invalid"));
    };
    let Some(grant) = state.store.get_grant(gid).await? else {
        return Err(bad("the refresh token is invalid"));
    };
    if grant.client_id != client.id {
        return Err(bad("the refresh token was issued to another client"));
    }
    if grant.revoked_at.is_some() || grant.refresh_hash.is_none() {
        return Err(bad("the refresh token has been revoked"));
    }
    crate::oauth::dpop::check_refresh_binding(grant.dpop_jkt.as_deref(), jkt)?;
    let hash = jose::keyed_hash(&state.secrets.hash_key, token.as_bytes());
    let is_current = generation == grant.generation && grant.refresh_hash.as_deref() == Some(hash.as_str());
    let is_previous = generation.checked_add(1) == Some(grant.generation)
        && grant.prev_refresh_hash.as_deref() == Some(hash.as_str());
    let window = client.settings.refresh_replay_window_secs;
    if is_previous && window > 0 {
        let max = client.settings.refresh_replay_max.max(1);
        if let Some(sealed) = state.store.replay_refresh(&grant.id, &hash, now - window, max).await?
            && let Some(res) = unseal(state, &grant.id, &sealed)
        {
            return Ok(res);
        }
    }
    if !is_current {
        if generation < grant.generation && (is_previous || state.store.is_retired_refresh(&grant.id, &hash).await?) {
            // A rotated token came back: someone else has (or had) it (RFC 9700 §4.14.2).
            revoke_family(state, &grant, now, "refresh_token_reuse").await;
        }
        return Err(bad("the refresh token is invalid or was already used"));
    }
    if grant.refresh_idle_expires_at.is_some_and(|t| t <= now) || grant.refresh_expires_at.is_some_and(|t| t <= now) {
        return Err(bad("the refresh token has expired"));
    }
    if state.store.get_user(&grant.user_id).await?.is_none_or(|u| u.disabled) {
        return Err(bad("the user is no longer active"));
    }
    let granted = Scope::parse(&grant.scope).unwrap_or_default();
    let scope = match requested {
        None => granted.clone(),
        Some(r) if r.is_subset(&granted) => r,
        Some(_) => return Err(OAuthError::invalid_scope("a refresh may narrow the scope, never widen it")),
    };
    let family_end = grant.refresh_expires_at.unwrap_or(now);
    let idle_end = (now + state.config.tokens.refresh_token_idle_ttl_secs).min(family_end);
    let rotate = client.is_public() || client.settings.refresh_rotation.unwrap_or(true);
    if !rotate {
        if !state.store.touch_refresh(&grant.id, &hash, idle_end).await? {
            return Err(bad("the refresh token has been revoked"));
        }
        return user_tokens::respond(state, client, &grant, &scope, None, None, jkt).await;
    }
    let Some(next_generation) = grant.generation.checked_add(1).filter(|g| *g <= MAX_GENERATION) else {
        return Err(bad("the refresh token family has reached its last generation"));
    };
    let next = new_refresh_token(&grant.id, next_generation);
    let next_hash = jose::keyed_hash(&state.secrets.hash_key, next.as_bytes());
    let res = user_tokens::respond(state, client, &grant, &scope, Some(next), None, jkt).await?;
    let sealed = if window > 0 { Some(seal(state, &grant.id, &res)?) } else { None };
    if state
        .store
        .rotate_refresh(&grant.id, grant.generation, &hash, &next_hash, now, idle_end, sealed.as_deref())
        .await?
    {
        return Ok(res);
    }
    // Lost a race with a concurrent refresh of the same token. Within a replay window that is the
    // racing-tabs case: hand out the winner's pair. Otherwise it is reuse.
    if window > 0
        && let Some(sealed) = state
            .store
            .replay_refresh(&grant.id, &hash, now - window, client.settings.refresh_replay_max.max(1))
            .await?
        && let Some(res) = unseal(state, &grant.id, &sealed)
    {
        return Ok(res);
    }
    revoke_family(state, &grant, now, "refresh_token_reuse").await;
    Err(bad("the refresh token is invalid or was already used"))
}

/// RFC 7662 for a refresh token, to the client that holds it: active while its family is.
pub async fn describe_refresh_token(
    state: &AppState,
    token: &str,
    client_id: &str,
) -> Result<keycard_types::IntrospectionResponse, OAuthError> {
    let now = state.clock.now();
    let inactive = keycard_types::IntrospectionResponse::inactive;
    let Some((gid, generation)) = parse_refresh_token(token) else { return Ok(inactive()) };
    let Some(g) = state.store.get_grant(gid).await? else { return Ok(inactive()) };
    let hash = jose::keyed_hash(&state.secrets.hash_key, token.as_bytes());
    let current = g.generation == generation && g.refresh_hash.as_deref() == Some(hash.as_str());
    let live = g.revoked_at.is_none()
        && g.refresh_idle_expires_at.is_some_and(|t| t > now)
        && g.refresh_expires_at.is_some_and(|t| t > now);
    if !current
        || !live
        || g.client_id != client_id
        || state.store.get_user(&g.user_id).await?.is_none_or(|u| u.disabled)
    {
        return Ok(inactive());
    }
    Ok(keycard_types::IntrospectionResponse {
        active: true,
        scope: Some(g.scope),
        client_id: Some(g.client_id),
        token_type: Some("refresh_token".into()),
        exp: g.refresh_idle_expires_at,
        iat: g.rotated_at.or(Some(g.created_at)),
        sub: Some(g.user_id),
        iss: Some(state.config.issuer.clone()),
        ..Default::default()
    })
}
