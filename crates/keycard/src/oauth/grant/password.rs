//! RFC 6749 §4.3: the resource owner password credentials grant — legacy, OFF by default
//! (RFC 9700 §2.4, omitted from OAuth 2.1). It exists only when `legacy.password_grant` is on AND
//! the client has the `password` grant. It shares the login page's sign-in function, so the same
//! per-account and per-IP throttling, lockout and unknown-user timing apply (SECURITY G8/G9, H1).

use super::user_tokens::{self, NewGrant};
use crate::jose;
use crate::model::{Client, GrantType};
use crate::oauth::OAuthError;
use crate::oauth::login::{self, LoginError};
use crate::state::AppState;
use keycard_types::Scope;

/// RFC 6749 §4.3.2–4.3.3.
pub async fn issue(
    state: &AppState,
    client: &Client,
    username: &str,
    password: &str,
    requested: Option<Scope>,
    ip: &str,
    jkt: Option<&str>,
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
        Err(LoginError::Overloaded { retry_after }) => {
            return Err(OAuthError::new(
                keycard_types::ErrorCode::TemporarilyUnavailable,
                "too many sign-ins at once: try again in a moment",
            )
            .with_retry_after(retry_after));
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(LoginError::Internal(e)) => return Err(OAuthError::server_error(std::io::Error::other(e))),
    };
    let (mut grant, refresh) = user_tokens::new_grant(
        state,
        NewGrant {
            id: jose::random_token(16),
            client,
            user_id: &user.id,
            session_sid: None,
            scope: &scope,
            auth_time: state.clock.now(),
        },
        client.allows_grant(GrantType::RefreshToken),
    );
    grant.dpop_jkt = crate::oauth::dpop::refresh_binding(client, jkt);
    state.store.create_grant(&grant).await?;
    user_tokens::respond(state, client, &grant, &scope, refresh, None, jkt).await
}
