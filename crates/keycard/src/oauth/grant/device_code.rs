//! RFC 8628 §3.4–3.5: the device polls the token endpoint with its device code. Answers:
//! `authorization_pending` until the user acts, `slow_down` (and the interval grows by 5 s) when
//! it polls too fast, `access_denied` after a deny, `expired_token` after expiry, and tokens
//! once approved — exactly once (one conditional UPDATE takes the approval).

use super::user_tokens::{self, NewGrant};
use crate::jose;
use crate::model::{Client, DeviceStatus};
use crate::oauth::OAuthError;
use crate::oauth::device::DEVICE_CODE_PREFIX;
use crate::state::AppState;
use keycard_types::{ErrorCode, Scope, TokenResponse};

/// RFC 8628 §3.4: handles one poll; with a DPoP proof (`jkt`) the tokens are bound to its key.
pub async fn issue(
    state: &AppState,
    client: &Client,
    device_code: &str,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    if !device_code.starts_with(DEVICE_CODE_PREFIX) || device_code.len() > 128 {
        return Err(OAuthError::invalid_grant("the device code is invalid"));
    }
    let hash = jose::keyed_hash(&state.secrets.hash_key, device_code.as_bytes());
    let Some(d) = state.store.get_device(&hash).await? else {
        return Err(OAuthError::invalid_grant("the device code is invalid"));
    };
    if d.client_id != client.id {
        // Keycloak CVE-2023-2585: a device code is bound to its client.
        return Err(OAuthError::invalid_grant("the device code was issued to another client"));
    }
    if d.expires_at <= now {
        return Err(OAuthError::new(ErrorCode::ExpiredToken, "the device code has expired"));
    }
    let too_fast = d.last_polled_at.is_some_and(|t| now - t < d.poll_interval);
    let interval = if too_fast { d.poll_interval + 5 } else { d.poll_interval };
    state.store.device_polled(&hash, now, interval).await?;
    if too_fast && matches!(d.status, DeviceStatus::Pending) {
        return Err(OAuthError::new(ErrorCode::SlowDown, "polling too fast: wait 5 seconds more between requests"));
    }
    match d.status {
        DeviceStatus::Pending => {
            return Err(OAuthError::new(ErrorCode::AuthorizationPending, "the user has not yet approved the request"));
        }
        DeviceStatus::Denied => return Err(OAuthError::new(ErrorCode::AccessDenied, "the user denied the request")),
        DeviceStatus::Consumed => return Err(OAuthError::invalid_grant("the device code has already been used")),
        DeviceStatus::Approved => {}
    }
    if !state.store.consume_device(&hash).await? {
        return Err(OAuthError::invalid_grant("the device code has already been used"));
    }
    let (Some(user_id), Some(auth_time)) = (d.user_id.clone(), d.auth_time) else {
        return Err(OAuthError::invalid_grant("the device request is incomplete"));
    };
    if state.store.get_user(&user_id).await?.is_none_or(|u| u.disabled) {
        return Err(OAuthError::invalid_grant("the user is no longer active"));
    }
    let scope = Scope::parse(&d.scope).unwrap_or_default();
    let (mut grant, refresh) = user_tokens::new_grant(
        state,
        NewGrant {
            id: jose::random_token(16),
            client,
            user_id: &user_id,
            session_sid: d.session_sid.as_deref(),
            scope: &scope,
            auth_time,
        },
        user_tokens::wants_refresh(client, &scope),
    );
    grant.dpop_jkt = crate::oauth::dpop::refresh_binding(client, jkt);
    state.store.create_grant(&grant).await?;
    user_tokens::respond(state, client, &grant, &scope, refresh, None, jkt).await
}
