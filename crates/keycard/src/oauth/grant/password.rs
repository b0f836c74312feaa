//! RFC 6749 §4.3: the resource owner password credentials grant — legacy, OFF by default
//! (RFC 9700 §2.4, omitted from OAuth 2.1). It exists only when `legacy.password_grant` is on AND
//! the client has the `password` grant. It shares the login page's sign-in function, so the same
//! per-account and per-IP throttling, lockout and unknown-user timing apply (SECURITY G8/G9, H1).

use super::user_tokens::{self, new_refresh_token};
use crate::app::AppState;
use crate::jose;
use crate::model::{Client, Grant, GrantType};
use crate::oauth::OAuthError;
use crate::oauth::login::{self, LoginError};
use keycard_types::Scope;

/// RFC 6749 §4.3.2–4.3.3.
pub async fn issue(
    state: &AppState,
    client: &Client,
    username: &str,
    password: &str,
    requested: Option<Scope>,
    ip: &str,
) -> Result<keycard_types::TokenResponse, OAuthError> {
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    let scope = requested.unwrap_or_else(|| allowed.clone());
    if !scope.is_subset(&allowed) {
        return Err(OAuthError::invalid_scope("the client may not request this scope"));
    }
    let user = match login::password_login(state, username, password, ip).await {
        Ok(u) => u,
        Err(LoginError::Invalid) => return Err(OAuthError::invalid_grant("the username or password is not correct")),
        Err(LoginError::Locked { .. }) => {
            return Err(OAuthError::invalid_grant("too many sign-in attempts: the account is temporarily locked"));
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(LoginError::Internal(e)) => return Err(OAuthError::server_error(std::io::Error::other(e))),
    };
    let now = state.clock.now();
    let grant_id = jose::random_token(16);
    let refresh = client.allows_grant(GrantType::RefreshToken).then(|| new_refresh_token(&grant_id, 0));
    let t = &state.config.tokens;
    let family_end = now + t.refresh_token_absolute_ttl_secs;
    let grant = Grant {
        id: grant_id,
        client_id: client.id.clone(),
        user_id: user.id.clone(),
        session_sid: None,
        scope: scope.to_string(),
        auth_time: now,
        refresh_hash: refresh.as_ref().map(|r| jose::keyed_hash(&state.secrets.hash_key, r.as_bytes())),
        prev_refresh_hash: None,
        generation: 0,
        refresh_idle_expires_at: refresh.as_ref().map(|_| (now + t.refresh_token_idle_ttl_secs).min(family_end)),
        refresh_expires_at: refresh.as_ref().map(|_| family_end),
        rotated_at: None,
        replay_response: None,
        replay_count: 0,
        created_at: now,
        expires_at: if refresh.is_some() { family_end } else { now + client.access_token_ttl },
        revoked_at: None,
        revoked_reason: None,
    };
    state.store.create_grant(&grant).await?;
    user_tokens::respond(state, client, &grant, &scope, refresh, None).await
}
