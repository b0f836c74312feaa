//! RFC 7662 token introspection. The caller must authenticate as a confidential client
//! (§2.1). Any failure to recognise the token — garbage, unknown, expired, revoked, signed by a
//! key that is not ours — is `{"active": false}` and never an error (§2.2); a database that is
//! down is a 503, never `active:false` for a valid token (SECURITY E6).

use super::OAuthError;
use super::client_auth::{self, Presented};
use super::params::Params;
use super::tokens::{self, OPAQUE_ACCESS_TOKEN_PREFIX};
use crate::app::AppState;
use crate::jose;
use keycard_types::IntrospectionResponse;

/// RFC 7662 §2.1–2.2: authenticates the caller and describes the token.
pub async fn introspect(
    state: &AppState,
    authorization: Option<&[u8]>,
    params: &Params,
) -> Result<IntrospectionResponse, OAuthError> {
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented).await?;
    if matches!(presented, Presented::IdOnly { .. }) || client.is_public() {
        return Err(
            OAuthError::invalid_client("introspection requires a confidential client")
                .with_basic_challenge(presented.is_basic()),
        );
    }
    let token = params.require("token")?;
    describe(state, token).await
}

/// Describes a token without authenticating anyone (the caller did).
pub async fn describe(state: &AppState, token: &str) -> Result<IntrospectionResponse, OAuthError> {
    let now = state.clock.now();
    if token.starts_with(OPAQUE_ACCESS_TOKEN_PREFIX) {
        let hash = jose::keyed_hash(&state.secrets.hash_key, token.as_bytes());
        let Some(t) = state.store.get_access_token(&hash).await? else {
            return Ok(IntrospectionResponse::inactive());
        };
        if t.revoked_at.is_some()
            || t.expires_at <= now
            || !client_active(state, &t.client_id).await?
        {
            return Ok(IntrospectionResponse::inactive());
        }
        return Ok(IntrospectionResponse {
            active: true,
            scope: (!t.scope.is_empty()).then_some(t.scope),
            client_id: Some(t.client_id),
            token_type: Some("Bearer".into()),
            exp: Some(t.expires_at),
            iat: Some(t.issued_at),
            sub: Some(t.subject),
            aud: Some(t.audience),
            iss: Some(state.config.issuer.clone()),
            jti: Some(t.jti),
            ..Default::default()
        });
    }
    let Some(claims) = tokens::verify_jwt_access_token(state, token) else {
        return Ok(IntrospectionResponse::inactive());
    };
    if state.store.is_jti_revoked(&claims.jti).await?
        || !client_active(state, &claims.client_id).await?
    {
        return Ok(IntrospectionResponse::inactive());
    }
    Ok(IntrospectionResponse {
        active: true,
        scope: claims.scope,
        client_id: Some(claims.client_id),
        token_type: Some("Bearer".into()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        nbf: claims.nbf,
        sub: Some(claims.sub),
        aud: Some(claims.aud),
        iss: Some(claims.iss),
        jti: Some(claims.jti),
        ..Default::default()
    })
}

/// Tokens of a deleted or disabled client are no longer active.
async fn client_active(state: &AppState, client_id: &str) -> Result<bool, OAuthError> {
    Ok(state
        .clients
        .get(&state.store, client_id)
        .await?
        .is_some_and(|c| !c.disabled))
}
