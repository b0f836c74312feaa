//! RFC 7009 token revocation. The client authenticates (public clients identify with
//! `client_id`, §2.1); a client can revoke only its own tokens; an unknown, foreign or garbage
//! token gets 200 like a revoked one (§2.2); a database failure is 503 (§2.2.1), never 200.
//! A revoked JWT access token goes on the revocation list (by `jti`) until it expires, so
//! introspection reports it inactive.

use super::OAuthError;
use super::client_auth;
use super::params::Params;
use super::tokens::{self, OPAQUE_ACCESS_TOKEN_PREFIX};
use crate::jose;
use crate::state::AppState;

/// RFC 7009 §2.1: revokes `token` if it belongs to the authenticated client.
pub async fn revoke(
    state: &AppState,
    authorization: Option<&[u8]>,
    origin: Option<&str>,
    ip: &str,
    params: &Params,
) -> Result<(), OAuthError> {
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented, ip).await?;
    client_auth::check_origin(&client, origin)?;
    let token = params.require("token")?;
    // token_type_hint is optional and only an optimisation (§2.1); unknown hints are ignored.
    let now = state.clock.now();
    if token.starts_with(OPAQUE_ACCESS_TOKEN_PREFIX) {
        let hash = jose::keyed_hash(&state.secrets.hash_key, token.as_bytes());
        state.store.revoke_access_token(&hash, &client.id, now).await?;
        return Ok(());
    }
    if let Some((gid, _)) = super::grant::user_tokens::parse_refresh_token(token) {
        // RFC 7009 §2.1: revoking a refresh token revokes its grant (family and access tokens).
        if let Some(g) = state.store.get_grant(gid).await?
            && g.client_id == client.id
            && g.refresh_hash.as_deref() == Some(jose::keyed_hash(&state.secrets.hash_key, token.as_bytes()).as_str())
        {
            state.store.revoke_grant(gid, "revoked_by_client", now).await?;
        }
        return Ok(());
    }
    if let Some(claims) = tokens::verify_jwt_access_token(state, token)
        && claims.client_id == client.id
    {
        state.store.revoke_jti(&claims.jti, claims.exp).await?;
    }
    Ok(())
}
