//! Minting access tokens. JWT access tokens follow RFC 9068 (`typ: at+jwt`; iss, sub, aud,
//! exp, iat, jti, client_id, scope), are signed with the active key of `keys.access_token_alg`,
//! and need no database write. Opaque tokens are random (256 bits, prefix `kc_at_`) and stored
//! only as a keyed hash. The `sub` a client sees comes from [`subject`] (OIDC Core §8).

use super::{OAuthError, subject};
use crate::clock::UnixTime;
use crate::jose;
use crate::model::{Client, StoredAccessToken, TokenFormat};
use crate::state::AppState;
use keycard_types::claims::ACCESS_TOKEN_JWT_TYP;
use keycard_types::{AccessTokenClaims, Scope};

/// Prefix of opaque access tokens, so garbage is told apart before any lookup.
pub const OPAQUE_ACCESS_TOKEN_PREFIX: &str = "kc_at_";

/// An access token just minted. `Debug` never shows the token (SECURITY I7).
#[derive(Debug)]
pub struct MintedAccessToken {
    /// The token itself (secret: never log it).
    pub token: crate::secret::Redacted<String>,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Token id.
    pub jti: String,
}

/// Who and what the token is for.
pub struct AccessTokenSpec<'a> {
    /// The client.
    pub client: &'a Client,
    /// The internal subject: the user id, or the client id for client credentials. A JWT
    /// carries the `sub` the client sees ([`subject::for_token`]: pairwise when so configured);
    /// an opaque token's row keeps the internal value, which introspection maps the same way.
    pub subject: &'a str,
    /// Granted scope.
    pub scope: &'a Scope,
    /// Time of user authentication, when a user is involved.
    pub auth_time: Option<UnixTime>,
    /// Grant this token descends from (code / refresh family), for revocation.
    pub grant_id: Option<&'a str>,
    /// RFC 9449 §6: the DPoP key thumbprint the token is bound to (`cnf.jkt`).
    pub jkt: Option<&'a str>,
}

/// Mints an access token in the client's format.
pub async fn mint_access_token(state: &AppState, spec: AccessTokenSpec<'_>) -> Result<MintedAccessToken, OAuthError> {
    let now = state.clock.now();
    let ttl = spec.client.access_token_ttl;
    let jti = jose::random_token(16);
    let audience = spec.client.settings.audience.clone().unwrap_or_else(|| state.config.default_audience().to_owned());
    let scope = (!spec.scope.is_empty()).then(|| spec.scope.to_string());
    match spec.client.token_format {
        TokenFormat::Jwt => {
            let claims = AccessTokenClaims {
                iss: state.config.issuer.clone(),
                sub: subject::for_token(state, spec.subject, spec.client),
                aud: audience,
                exp: now + ttl,
                iat: now,
                nbf: None,
                jti: jti.clone(),
                client_id: spec.client.id.clone(),
                scope,
                auth_time: spec.auth_time,
                gid: spec.grant_id.map(str::to_owned),
                cnf: spec.jkt.map(|jkt| keycard_types::Confirmation { jkt: jkt.to_owned() }),
            };
            let keys = state.keys.snapshot();
            let alg = state.config.keys.access_token_alg;
            let signer = keys.signer(alg).ok_or_else(|| {
                OAuthError::server_error(std::io::Error::other(format!("no active {alg} signing key")))
            })?;
            let token = signer.sign_jwt(ACCESS_TOKEN_JWT_TYP, &claims).map_err(OAuthError::server_error)?;
            Ok(MintedAccessToken { token: token.into(), expires_in: ttl, jti })
        }
        TokenFormat::Opaque => {
            let token = format!("{OPAQUE_ACCESS_TOKEN_PREFIX}{}", jose::random_token(32));
            state
                .store
                .insert_access_token(&StoredAccessToken {
                    token_hash: jose::keyed_hash(&state.secrets.hash_key, token.as_bytes()),
                    jti: jti.clone(),
                    client_id: spec.client.id.clone(),
                    subject: spec.subject.to_owned(),
                    scope: scope.unwrap_or_default(),
                    audience,
                    grant_id: spec.grant_id.map(str::to_owned),
                    issued_at: now,
                    expires_at: now + ttl,
                    revoked_at: None,
                    dpop_jkt: spec.jkt.map(str::to_owned),
                })
                .await?;
            Ok(MintedAccessToken { token: token.into(), expires_in: ttl, jti })
        }
    }
}

/// Does this string have the shape of a compact JWS (three base64url segments)?
pub fn looks_like_jwt(token: &str) -> bool {
    token.len() <= jose::MAX_JWS_LEN
        && token.split('.').count() == 3
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// A Keycard JWT access token that verified: signature by a published key, `typ` `at+jwt`,
/// our issuer, not expired.
pub fn verify_jwt_access_token(state: &AppState, token: &str) -> Option<AccessTokenClaims> {
    if !looks_like_jwt(token) {
        return None;
    }
    let keys = state.keys.snapshot();
    let verified = keys.verifying.verify(token).ok()?;
    if !verified.header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_JWT_TYP)) {
        return None;
    }
    let claims: AccessTokenClaims = serde_json::from_value(verified.claims).ok()?;
    let now = state.clock.now();
    (claims.iss == state.config.issuer && claims.exp > now).then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 defect 10 (SECURITY I7): `{:?}` of a minted token never shows the token.
    #[test]
    fn minted_access_token_debug_is_redacted() {
        let m = MintedAccessToken { token: "kc_at_secret-value".to_owned().into(), expires_in: 60, jti: "j1".into() };
        let dbg = format!("{m:?} {m:#?}");
        assert!(!dbg.contains("secret-value"), "{dbg}");
        assert!(dbg.contains("j1") && dbg.contains("60"), "{dbg}");
    }
}
