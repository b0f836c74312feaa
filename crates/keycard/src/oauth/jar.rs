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
use serde_json::{Map, Value};

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
    let cfg = &state.config.par;
    let rules = Rules {
        issuer: &state.config.issuer,
        now: state.clock.now(),
        leeway: cfg.request_object_leeway_secs,
        max_lifetime: cfg.request_object_max_lifetime_secs,
    };
    let checked = check_request_object(&verified.header, verified.claims, &client.id, outer, &rules)?;
    if let Some(jti) = &checked.jti {
        let hash = jose::keyed_hash(&state.secrets.hash_key, format!("jar\0{jti}").as_bytes());
        let ns = format!("jar:{}", client.id);
        if !state.store.consume_once(&ns, &hash, checked.exp.saturating_add(rules.leeway), rules.now).await? {
            return Err(bad("the request object was already used (its jti was seen before)"));
        }
    }
    Ok(checked.params)
}

/// The context a request object's claims are checked in, as for client assertions: the issuer
/// (the one accepted `aud`), now, `par.request_object_leeway_secs` and
/// `par.request_object_max_lifetime_secs`.
pub use super::client_assertion::Rules;

/// A request object whose claims passed [`check_request_object`].
#[derive(Debug)]
pub struct CheckedObject {
    /// The authorization request parameters it carries.
    pub params: Params,
    /// Its `jti`, when it has one: the caller spends it in the replay cache.
    pub jti: Option<String>,
    /// Its `exp`.
    pub exp: i64,
}

/// RFC 9101 §5, §6.3, §10.1, §10.8: the checks of a request object whose signature verified
/// (`header` its protected header, `claims` its payload) for `client_id`, except the replay of
/// its `jti` (the caller's, with the store). Pure: no clock, no store, so it is unit-tested and
/// fuzzed (`fuzz/fuzz_targets/client_jws.rs`) directly.
pub fn check_request_object(
    header: &Map<String, Value>,
    claims: Value,
    client_id: &str,
    outer: &Params,
    r: &Rules<'_>,
) -> Result<CheckedObject, OAuthError> {
    if let Some(typ) = header.get("typ") {
        let ok = typ
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("oauth-authz-req+jwt") || t.eq_ignore_ascii_case("jwt"));
        if !ok {
            return Err(bad("the request object's typ must be oauth-authz-req+jwt (RFC 9101 section 10.8)"));
        }
    }
    let Value::Object(claims) = claims else {
        return Err(bad("the request object's payload is not a JSON object"));
    };
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if str_claim("iss") != Some(client_id) {
        return Err(bad("the request object's iss must be the client_id (RFC 9101 section 6.3)"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == r.issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(r.issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("the request object's aud must be this server's issuer (RFC 9101 section 10.1)"));
    }
    if str_claim("client_id") != Some(client_id) || outer.get("client_id").is_some_and(|c| c != client_id) {
        return Err(bad("the request object's client_id must equal the request's client_id (RFC 9101 section 5)"));
    }
    if let Some(rt) = outer.get("response_type")
        && str_claim("response_type") != Some(rt)
    {
        return Err(bad("response_type outside the request object differs from the one inside"));
    }

    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return Err(bad("the request object must have an integer exp"));
    };
    if exp.saturating_add(r.leeway) <= r.now {
        return Err(bad("the request object has expired"));
    }
    if exp > r.now.saturating_add(r.max_lifetime) {
        return Err(bad("the request object's exp is too far in the future"));
    }
    for name in ["nbf", "iat"] {
        match claims.get(name) {
            None => {}
            Some(v) => match v.as_i64() {
                Some(t) if t <= r.now.saturating_add(r.leeway) => {}
                Some(_) => return Err(bad("the request object is not valid yet (nbf or iat in the future)")),
                None => return Err(bad("the request object's nbf and iat must be integers")),
            },
        }
    }
    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(jti)) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Some(jti.clone()),
        Some(_) => return Err(bad("the request object's jti must be a non-empty string of at most 256 bytes")),
    };

    let mut pairs = Vec::with_capacity(claims.len());
    for (name, value) in claims {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        let v = match value {
            Value::Null => continue,
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        pairs.push((name, v));
    }
    let params = Params::from_pairs(pairs).map_err(|e| {
        OAuthError::new(ErrorCode::InvalidRequestObject, format!("the request object's parameters: {}", e.description))
    })?;
    Ok(CheckedObject { params, jti, exp })
}
