//! RFC 7662 token introspection. The caller must authenticate as a confidential client
//! (§2.1). Any failure to recognise the token — garbage, unknown, expired, revoked, signed by a
//! key that is not ours, issued under a revoked grant, for a disabled user or a deleted client —
//! is `{"active": false}` and never an error (§2.2); a database that is down is a 503, never
//! `active:false` for a valid token (SECURITY E6).
//!
//! Who may learn what (§4, SECURITY E4): a client about its own tokens; a resource server (a
//! client with `resource_audiences`) about access tokens whose `aud` it serves. Anyone else gets
//! exactly `{"active":false}`, the answer §2.2 allows for a token the caller may not know about,
//! so a foreign token cannot be told apart from garbage. Refresh tokens are described only to
//! their own client. A new rule belongs in [`Client::may_introspect`](crate::model::Client::may_introspect).

use super::OAuthError;
use super::client_auth::{self, Presented};
use super::grant::refresh_token::describe_refresh_token;
use super::params::Params;
use super::subject;
use super::tokens::{self, OPAQUE_ACCESS_TOKEN_PREFIX};
use crate::jose;
use crate::model::USER_ID_PREFIX;
use crate::state::AppState;
use keycard_types::IntrospectionResponse;

/// An access token that is active now.
#[derive(Debug, Clone)]
pub struct ActiveToken {
    /// The client it was issued to.
    pub client_id: String,
    /// Subject as the token's client sees it: the user's public or pairwise `sub`
    /// ([`subject`](super::subject)), or the client id for client credentials.
    pub sub: String,
    /// The internal user id, for a token on behalf of a user (from its grant). Server-side
    /// only: never sent to a client.
    pub user_id: Option<String>,
    /// Granted scope.
    pub scope: Option<String>,
    /// Expiry.
    pub exp: i64,
    /// Issue time.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// Audience.
    pub aud: String,
    /// Grant id, for tokens issued on behalf of a user.
    pub gid: Option<String>,
    /// RFC 9449 §6: the DPoP key thumbprint the token is bound to.
    pub jkt: Option<String>,
}

/// Checks an access token (JWT or opaque) and every state that can end it early.
pub async fn active_access_token(state: &AppState, token: &str) -> Result<Option<ActiveToken>, OAuthError> {
    let now = state.clock.now();
    let mut t = if token.starts_with(OPAQUE_ACCESS_TOKEN_PREFIX) {
        let hash = jose::keyed_hash(&state.secrets.hash_key, token.as_bytes());
        let Some(t) = state.store.get_access_token(&hash).await? else { return Ok(None) };
        if t.revoked_at.is_some() || t.expires_at <= now {
            return Ok(None);
        }
        ActiveToken {
            client_id: t.client_id,
            // The row keeps the internal subject; mapped to the client's `sub` below.
            sub: t.subject,
            user_id: None,
            scope: (!t.scope.is_empty()).then_some(t.scope),
            exp: t.expires_at,
            iat: t.issued_at,
            jti: t.jti,
            aud: t.audience,
            gid: t.grant_id,
            jkt: t.dpop_jkt,
        }
    } else {
        let Some(c) = tokens::verify_jwt_access_token(state, token) else { return Ok(None) };
        if state.store.is_jti_revoked(&c.jti).await? {
            return Ok(None);
        }
        ActiveToken {
            client_id: c.client_id,
            sub: c.sub,
            user_id: None,
            scope: c.scope,
            exp: c.exp,
            iat: c.iat,
            jti: c.jti,
            aud: c.aud,
            gid: c.gid,
            jkt: c.cnf.map(|c| c.jkt),
        }
    };
    // A token older than its client belongs to a deleted client of the same id (issue 14).
    let Some(client) =
        state.clients.get(&state.store, &t.client_id).await?.filter(|c| !c.disabled && t.iat >= c.created_at)
    else {
        return Ok(None);
    };
    if let Some(gid) = &t.gid {
        let Some(g) = state.store.get_grant(gid).await?.filter(|g| g.revoked_at.is_none()) else { return Ok(None) };
        t.user_id = Some(g.user_id);
    } else if t.sub.starts_with(USER_ID_PREFIX) {
        t.user_id = Some(t.sub.clone());
    }
    if let Some(uid) = &t.user_id
        && state.store.get_user(uid).await?.is_none_or(|u| u.disabled)
    {
        return Ok(None);
    }
    // Never the internal id under pairwise subjects (issue 14, defect 7); a pairwise or client
    // `sub` passes unchanged.
    t.sub = subject::for_token(state, &t.sub, &client);
    Ok(Some(t))
}

/// RFC 7662 §2.1–2.2: authenticates the caller and describes the token.
pub async fn introspect(
    state: &AppState,
    authorization: Option<&[u8]>,
    ip: &str,
    params: &Params,
) -> Result<IntrospectionResponse, OAuthError> {
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented, ip).await?;
    if matches!(presented, Presented::IdOnly { .. }) || client.is_public() {
        return Err(OAuthError::invalid_client("introspection requires a confidential client")
            .with_basic_challenge(presented.is_basic()));
    }
    let token = params.require("token")?;
    if token.starts_with(super::grant::user_tokens::REFRESH_TOKEN_PREFIX) {
        // Refresh tokens are described only to the client that holds them.
        return describe_refresh_token(state, token, &client.id).await;
    }
    let Some(t) = active_access_token(state, token).await? else {
        return Ok(IntrospectionResponse::inactive());
    };
    if !client.may_introspect(&t.client_id, &t.aud) {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(describe_active(state, t))
}

/// Describes an active access token (the caller authenticated and may see it).
fn describe_active(state: &AppState, t: ActiveToken) -> IntrospectionResponse {
    IntrospectionResponse {
        active: true,
        scope: t.scope,
        client_id: Some(t.client_id),
        // RFC 9449 §6.2: a bound token is described as DPoP with its key.
        token_type: Some(super::dpop::token_type(t.jkt.as_deref()).into()),
        exp: Some(t.exp),
        iat: Some(t.iat),
        sub: Some(t.sub),
        aud: Some(t.aud),
        iss: Some(state.config.issuer.clone()),
        jti: Some(t.jti),
        cnf: t.jkt.map(|jkt| keycard_types::Confirmation { jkt }),
        ..Default::default()
    }
}
