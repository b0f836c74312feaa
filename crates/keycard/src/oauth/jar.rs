//! JWT-Secured Authorization Requests (RFC 9101): the `request` parameter at `/authorize` and
//! inside a pushed request (RFC 9126 §3). A request object is a JWS signed with one of the
//! client's registered keys (`jwks`, `jwks_uri`; [`crate::client_keys`]); `alg: none` and HMAC
//! are refused (RFC 9101 §10.2, RFC 8725 §3.1), as is any alg outside
//! [`REQUEST_OBJECT_ALGS`]. Unsigned-but-encrypted and encrypted objects are not supported.
//!
//! Checks, in order ([`request_object_params`]): signature; `typ` when present is
//! `oauth-authz-req+jwt` or `JWT` (RFC 9101 §10.8); `iss` is the client id and `aud` the issuer
//! (§6.3, §10.1); `client_id` is present and equal to the outer `client_id` (§5); `exp` present,
//! not past and at most `par.request_object_max_lifetime_secs` ahead; `nbf` and `iat` not in the
//! future (all with `par.request_object_leeway_secs`); an outer `response_type`, when given,
//! equals the object's (§5, OpenID Connect Core §6.1); a `jti`, when present, is used once
//! across all nodes (replay cache, namespace `jar:<client_id>`). Every failure is
//! `invalid_request_object` (§6.2) naming the check, never a claim value.
//!
//! The authorization request's parameters then come ONLY from the object (§6.3): the outer
//! query is ignored except for `client_id`. The JWT registered claims (`iss`, `aud`, `exp`,
//! `nbf`, `iat`, `jti`, `sub`) are not authorization parameters and are dropped; other values
//! become parameters (strings as they are, numbers and booleans in decimal, objects such as
//! `claims` as JSON). The result goes through the same validator as any request
//! (`oauth::authorize::validate`), which refuses a nested `request` or `request_uri` (§4).
//!
//! Extending: a per-client `require_signed_request_object` would be checked by the caller
//! (`oauth::par::resolve`), a new claim check goes into [`request_object_params`] with a test in
//! `tests/jar.rs`.

use super::OAuthError;
use super::params::Params;
use crate::jose;
use crate::model::Client;
use crate::state::AppState;
use keycard_resource::jwk::JwsAlg;
use keycard_types::ErrorCode;
use serde_json::Value;

/// RFC 9101 §10.5 `request_object_signing_alg_values_supported`: asymmetric algs only.
pub const REQUEST_OBJECT_ALGS: [JwsAlg; 4] = [JwsAlg::ES256, JwsAlg::PS256, JwsAlg::RS256, JwsAlg::EdDSA];

/// JWT claims that describe the object, not the authorization request.
const JWT_CLAIMS: &[&str] = &["iss", "aud", "exp", "nbf", "iat", "jti", "sub"];

/// Longest accepted `jti`, in bytes.
const MAX_JTI_LEN: usize = 256;

fn bad(d: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRequestObject, d)
}

/// RFC 9101 §6.1–§6.3: verifies the request object `jwt` sent by `client` (already identified
/// by the outer `client_id`, or authenticated at the pushed request endpoint) and returns the
/// authorization request parameters it carries. `outer` are the parameters it came with.
pub async fn request_object_params(
    state: &AppState,
    client: &Client,
    jwt: &str,
    outer: &Params,
) -> Result<Params, OAuthError> {
    let verified = state
        .client_keys
        .verify(client, jwt, &REQUEST_OBJECT_ALGS)
        .await
        .map_err(|e| OAuthError::new(ErrorCode::InvalidRequestObject, format!("request object refused: {e}")))?;
    if let Some(typ) = verified.header.get("typ") {
        let ok = typ
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("oauth-authz-req+jwt") || t.eq_ignore_ascii_case("jwt"));
        if !ok {
            return Err(bad("the request object's typ must be oauth-authz-req+jwt (RFC 9101 section 10.8)"));
        }
    }
    let Value::Object(claims) = verified.claims else {
        return Err(bad("the request object's payload is not a JSON object"));
    };
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(client.id.as_str()) {
        return Err(bad("the request object's iss must be the client_id (RFC 9101 section 6.3)"));
    }
    let issuer = state.config.issuer.as_str();
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("the request object's aud must be this server's issuer (RFC 9101 section 10.1)"));
    }
    if str_claim("client_id") != Some(client.id.as_str()) || outer.get("client_id").is_some_and(|c| c != client.id) {
        return Err(bad("the request object's client_id must equal the request's client_id (RFC 9101 section 5)"));
    }
    if let Some(rt) = outer.get("response_type")
        && str_claim("response_type") != Some(rt)
    {
        return Err(bad("response_type outside the request object differs from the one inside"));
    }

    let now = state.clock.now();
    let cfg = &state.config.par;
    let leeway = cfg.request_object_leeway_secs;
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(bad("the request object must have an integer exp"));
    };
    if exp.saturating_add(leeway) <= now {
        return Err(bad("the request object has expired"));
    }
    if exp > now.saturating_add(cfg.request_object_max_lifetime_secs) {
        return Err(bad("the request object's exp is too far in the future"));
    }
    for name in ["nbf", "iat"] {
        match claims.get(name) {
            None => {}
            Some(v) => match v.as_i64() {
                Some(t) if t <= now.saturating_add(leeway) => {}
                Some(_) => return Err(bad("the request object is not valid yet (nbf or iat in the future)")),
                None => return Err(bad("the request object's nbf and iat must be integers")),
            },
        }
    }
    match claims.get("jti") {
        None => {}
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => {
            let hash = jose::keyed_hash(&state.secrets.hash_key, format!("jar\0{jti}").as_bytes());
            let ns = format!("jar:{}", client.id);
            if !state.store.consume_once(&ns, &hash, exp.saturating_add(leeway), now).await? {
                return Err(bad("the request object was already used (its jti was seen before)"));
            }
        }
        Some(_) => return Err(bad("the request object's jti must be a non-empty string of at most 256 bytes")),
    }

    let mut pairs = Vec::with_capacity(claims.len());
    for (name, value) in &claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let v = match value {
            Value::Null => continue,
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        pairs.push((name.clone(), v));
    }
    Params::from_pairs(pairs).map_err(|_| bad("the request object has too many parameters"))
}
