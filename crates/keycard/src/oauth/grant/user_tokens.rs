//! Token responses on behalf of a user, shared by the authorization code and refresh token
//! grants: an access token bound to the grant (`gid`), an ID token when `openid` was granted,
//! and the refresh token chosen by the caller.

use crate::model::{Client, Grant};
use crate::oauth::OAuthError;
use crate::oauth::oidc::{self, IdTokenSpec};
use crate::oauth::tokens::{self, AccessTokenSpec};
use crate::state::AppState;
use keycard_types::{Scope, TokenResponse};

/// Prefix of refresh tokens. The token is `kc_rt_<grant id>.<generation>.<random>`: the grant id
/// and generation find the family in one read and tell a rotated token from the current one;
/// only a keyed hash of the whole token is stored.
pub const REFRESH_TOKEN_PREFIX: &str = "kc_rt_";

/// The highest generation a refresh token may carry: far beyond any real family, and far from
/// `i64::MAX`, so a presented generation plus one never overflows.
pub const MAX_GENERATION: i64 = u32::MAX as i64;

/// A new refresh token for `grant_id` at `generation`.
pub fn new_refresh_token(grant_id: &str, generation: i64) -> String {
    format!("{REFRESH_TOKEN_PREFIX}{grant_id}.{generation}.{}", crate::jose::random_token(32))
}

/// Splits a refresh token into (grant id, generation); `None` for anything malformed, and for
/// any form [`new_refresh_token`] never issues (a generation with a sign or a leading zero), so
/// such a token costs no store lookup.
pub fn parse_refresh_token(token: &str) -> Option<(&str, i64)> {
    let rest = token.strip_prefix(REFRESH_TOKEN_PREFIX)?;
    let mut it = rest.split('.');
    let (gid, generation, random) = (it.next()?, it.next()?, it.next()?);
    if it.next().is_some() || gid.is_empty() || random.len() < 43 || gid.len() > 64 {
        return None;
    }
    let canonical =
        generation == "0" || (!generation.starts_with('0') && generation.bytes().all(|b| b.is_ascii_digit()));
    if !canonical {
        return None;
    }
    let generation: i64 = generation.parse().ok().filter(|g| (0..=MAX_GENERATION).contains(g))?;
    Some((gid, generation))
}

/// What a new grant is for.
pub struct NewGrant<'a> {
    /// Grant id (the code's grant id, or a fresh one).
    pub id: String,
    /// The client.
    pub client: &'a Client,
    /// The user.
    pub user_id: &'a str,
    /// The session it came from.
    pub session_sid: Option<&'a str>,
    /// Granted scope.
    pub scope: &'a Scope,
    /// When the user authenticated.
    pub auth_time: crate::clock::UnixTime,
}

/// Should a user grant carry a refresh token? When the client may refresh and, for OpenID
/// requests, `offline_access` was granted or the client is configured to always get one.
pub fn wants_refresh(client: &Client, scope: &Scope) -> bool {
    client.allows_grant(crate::model::GrantType::RefreshToken)
        && (!scope.contains("openid") || scope.contains("offline_access") || client.settings.always_issue_refresh_token)
}

/// A new grant row, with its first refresh token when `with_refresh` (idle and absolute
/// lifetimes from the config; browser apps get the shorter absolute lifetime).
pub fn new_grant(state: &AppState, g: NewGrant<'_>, with_refresh: bool) -> (Grant, Option<String>) {
    let now = state.clock.now();
    let t = &state.config.tokens;
    let absolute = if g.client.is_public() && !g.client.settings.web_origins.is_empty() {
        t.browser_refresh_token_absolute_ttl_secs
    } else {
        t.refresh_token_absolute_ttl_secs
    };
    let family_end = now + absolute;
    let refresh = with_refresh.then(|| new_refresh_token(&g.id, 0));
    let grant = Grant {
        client_id: g.client.id.clone(),
        user_id: g.user_id.to_owned(),
        session_sid: g.session_sid.map(str::to_owned),
        scope: g.scope.to_string(),
        auth_time: g.auth_time,
        refresh_hash: refresh.as_ref().map(|r| crate::jose::keyed_hash(&state.secrets.hash_key, r.as_bytes())),
        prev_refresh_hash: None,
        generation: 0,
        refresh_idle_expires_at: refresh.as_ref().map(|_| (now + t.refresh_token_idle_ttl_secs).min(family_end)),
        refresh_expires_at: refresh.as_ref().map(|_| family_end),
        rotated_at: None,
        replay_response: None,
        replay_count: 0,
        created_at: now,
        expires_at: if refresh.is_some() { family_end } else { now + g.client.access_token_ttl },
        revoked_at: None,
        revoked_reason: None,
        dpop_jkt: None,
        id: g.id,
    };
    (grant, refresh)
}

/// Builds the token response for a grant; with `jkt` the access token is DPoP-bound (RFC 9449 §5).
pub async fn respond(
    state: &AppState,
    client: &Client,
    grant: &Grant,
    scope: &Scope,
    refresh_token: Option<String>,
    nonce: Option<&str>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let at = tokens::mint_access_token(
        state,
        AccessTokenSpec {
            client,
            subject: &grant.user_id,
            scope,
            auth_time: Some(grant.auth_time),
            grant_id: Some(&grant.id),
            jkt,
        },
    )
    .await?;
    let id_token = if scope.contains("openid") {
        Some(oidc::mint_id_token(
            state,
            IdTokenSpec {
                client,
                user_id: &grant.user_id,
                nonce,
                auth_time: grant.auth_time,
                sid: grant.session_sid.as_deref(),
                access_token: Some(&at.token),
            },
        )?)
    } else {
        None
    };
    Ok(TokenResponse {
        access_token: at.token.into_inner().into(),
        token_type: crate::oauth::dpop::token_type(jkt).into(),
        expires_in: at.expires_in.max(0) as u64,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token: refresh_token.map(Into::into),
        id_token: id_token.map(Into::into),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_token_format() {
        let t = new_refresh_token("abc", 3);
        assert_eq!(parse_refresh_token(&t), Some(("abc", 3)));
        for bad in [
            "",
            "kc_rt_",
            "kc_rt_abc.1",
            "kc_rt_abc.x.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "kc_rt_.1.y",
            "kc_rt_a.-1.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "kc_rt_a.9223372036854775807.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "kc_rt_a.4294967296.yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
            "kc_at_abc.1.x",
        ] {
            assert_eq!(parse_refresh_token(bad), None, "{bad}");
        }
    }

    /// Found by the fuzz target `small_tokens` (issue 10 item 7): `"0123"` and `"+5"` parsed
    /// as generations 123 and 5, so tokens Keycard never issues were read and looked up. Only
    /// the decimal form `new_refresh_token` writes is read.
    #[test]
    fn refresh_tokens_are_read_only_in_the_issued_form() {
        let random = "0123456789012345678901234567890123456789abc";
        for generation in ["0123", "+5", "00", "-0", " 5", "5 ", "0x5", "５"] {
            let t = format!("{REFRESH_TOKEN_PREFIX}g.{generation}.{random}");
            assert_eq!(parse_refresh_token(&t), None, "{t}");
        }
        for generation in [0, 5, 123, MAX_GENERATION] {
            let t = format!("{REFRESH_TOKEN_PREFIX}g.{generation}.{random}");
            assert_eq!(parse_refresh_token(&t), Some(("g", generation)), "{t}");
        }
    }
}
