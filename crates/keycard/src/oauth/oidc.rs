//! OpenID Connect Core 1.0: ID tokens (§2, §3.1.3.6 `at_hash`), subject identifiers (§8,
//! public or pairwise) and UserInfo claims (§5.3–5.4). ID tokens sent back as hints are
//! checked by [`super::id_token_hint`].

use super::OAuthError;
use crate::clock::UnixTime;
use crate::jose::Alg;
use crate::model::{Client, User};
use crate::state::AppState;
use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keycard_types::Scope;
use serde_json::{Map, Value, json};

/// OIDC Core §8: the `sub` a client sees for a user (see [`super::subject`]).
pub use super::subject::for_user as subject_for;

/// OIDC Core §3.1.3.6 / §3.2.2.9: base64url of the left half of the hash of `value`, the hash
/// being the one of the signing algorithm (SHA-256 for ES256/RS256, SHA-512 for Ed25519).
pub fn half_hash(alg: Alg, value: &str) -> String {
    let d = match alg {
        Alg::EdDSA => digest::digest(&digest::SHA512, value.as_bytes()),
        Alg::ES256 | Alg::RS256 => digest::digest(&digest::SHA256, value.as_bytes()),
    };
    let bytes = d.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// What an ID token says.
pub struct IdTokenSpec<'a> {
    /// The client (audience).
    pub client: &'a Client,
    /// The user.
    pub user_id: &'a str,
    /// `nonce` from the authorization request.
    pub nonce: Option<&'a str>,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// The session id (`sid`).
    pub sid: Option<&'a str>,
    /// The access token issued alongside (for `at_hash`).
    pub access_token: Option<&'a str>,
}

/// OIDC Core §2 + §3.1.3.7: mints a signed ID token (`typ: JWT`; RS256 unless the client or
/// the server configures another algorithm).
pub fn mint_id_token(state: &AppState, spec: IdTokenSpec<'_>) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let alg = spec.client.settings.id_token_signed_response_alg.unwrap_or(state.config.oidc.id_token_alg);
    let keys = state.keys.snapshot();
    let signer = keys.signer(alg).ok_or_else(|| {
        OAuthError::server_error(std::io::Error::other(format!(
            "no active {alg} key for ID tokens (add it to keys.algorithms)"
        )))
    })?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.config.issuer));
    claims.insert("sub".into(), json!(subject_for(state, spec.user_id, spec.client)));
    claims.insert("aud".into(), json!(spec.client.id));
    claims.insert("exp".into(), json!(now + state.config.tokens.id_token_ttl_secs));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(spec.auth_time));
    claims.insert("amr".into(), json!(["pwd"]));
    if let Some(n) = spec.nonce {
        claims.insert("nonce".into(), json!(n));
    }
    if let Some(sid) = spec.sid {
        claims.insert("sid".into(), json!(sid));
    }
    if let Some(at) = spec.access_token {
        claims.insert("at_hash".into(), json!(half_hash(alg, at)));
    }
    signer.sign_jwt("JWT", &Value::Object(claims)).map_err(OAuthError::server_error)
}

/// OIDC Core §5.4: the claims the granted scope allows.
pub fn userinfo_claims(state: &AppState, user: &User, client: &Client, scope: &Scope) -> Value {
    let mut m = Map::new();
    m.insert("sub".into(), json!(subject_for(state, &user.id, client)));
    if scope.contains("profile") {
        m.insert("preferred_username".into(), json!(user.username));
        if let Some(n) = &user.name {
            m.insert("name".into(), json!(n));
        }
        m.insert("updated_at".into(), json!(user.updated_at));
    }
    if scope.contains("email")
        && let Some(e) = &user.email
    {
        m.insert("email".into(), json!(e));
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_matches_the_oidc_example() {
        // OIDC Core A.3: at_hash of "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y" (RS256) = 77QmUPtjPfzWtF2AnpK9RQ
        assert_eq!(half_hash(Alg::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
    }
}
