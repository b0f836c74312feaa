//! DPoP (RFC 9449) policy of the server; the proof checks themselves (§4.3) are the one
//! verifier in [`keycard_resource::dpop`], shared with resource servers.
//!
//! - Token endpoint (§5): a request with a `DPoP` header gets DPoP-bound tokens (`cnf.jkt` in a
//!   JWT, the thumbprint on an opaque token's row, `token_type: DPoP`); a client registered with
//!   `dpop_bound_access_tokens` must send one. [`token_proof`].
//! - Replay (§11.1): every accepted proof's `jti` is consumed once in the database (namespace
//!   `dpop:<jkt>`, a keyed hash of the `jti`, kept until the proof's `iat` leaves the window),
//!   so a proof is accepted once across all nodes.
//! - Code binding (§10): `dpop_jkt` at /authorize is kept on the code; redeeming it needs a
//!   proof by that key ([`check_code_binding`]).
//! - Refresh binding (§5): a public client's refresh tokens are bound to the key of the proof
//!   they were first issued with ([`refresh_binding`], [`check_refresh_binding`]); a
//!   confidential client's are not, but each new access token is bound to the proof sent.
//! - Resources (§7): UserInfo checks `ath` and the token's key ([`resource_proof`]).
//! - Nonces (§8, `dpop.require_nonce`, off by default): stateless, a keyed hash of the time slot
//!   under the server secret, valid in its slot and the next ([`fresh_nonce`]).
//!
//! Extending: a new endpoint that takes proofs calls [`verify`] with its method and path.

use super::OAuthError;
use crate::jose;
use crate::model::Client;
use crate::state::AppState;
use keycard_resource::dpop::{self as proof, DpopError, ProofCheck, VerifiedProof};
use keycard_types::ErrorCode;

/// The response header carrying a server nonce (RFC 9449 §8.1).
pub const NONCE_HEADER: &str = "DPoP-Nonce";

/// `token_type` of a DPoP-bound access token (RFC 9449 §5), or `Bearer`.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// A refused proof as an [`OAuthError`] (`invalid_dpop_proof` or `use_dpop_nonce`).
pub fn proof_error(e: DpopError) -> OAuthError {
    OAuthError::new(e.code(), e.description())
}

fn invalid_proof(d: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, d)
}

fn nonce_for_slot(state: &AppState, slot: i64) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("keycard dpop-nonce v1 {slot}").as_bytes())
}

fn slot(state: &AppState) -> i64 {
    state.clock.now().div_euclid(state.config.dpop.nonce_slot_secs.max(1))
}

/// RFC 9449 §8: the nonce to send in `DPoP-Nonce` now, when nonces are required.
pub fn fresh_nonce(state: &AppState) -> Option<String> {
    state.config.dpop.require_nonce.then(|| nonce_for_slot(state, slot(state)))
}

/// The absolute URL of one of Keycard's endpoints, from the configured issuer (never from a
/// request header), for `htu`.
pub fn endpoint_url(state: &AppState, path: &str) -> String {
    format!("{}{path}", state.config.issuer.trim_end_matches('/'))
}

/// RFC 9449 §4.3 + §11.1: verifies the single proof among `headers` for `method` on Keycard's
/// `path`, and consumes its `jti`. `Ok(None)` when there is no `DPoP` header.
pub async fn verify(
    state: &AppState,
    headers: &[&[u8]],
    method: &str,
    path: &str,
    access_token: Option<&str>,
    jkt: Option<&str>,
) -> Result<Option<VerifiedProof>, OAuthError> {
    let Some(value) = proof::single_header(headers.iter().copied()).map_err(proof_error)? else {
        return Ok(None);
    };
    let cfg = &state.config.dpop;
    let now = state.clock.now();
    let nonces = if cfg.require_nonce {
        let s = slot(state);
        vec![nonce_for_slot(state, s), nonce_for_slot(state, s - 1)]
    } else {
        Vec::new()
    };
    let nonce_refs: Vec<&str> = nonces.iter().map(String::as_str).collect();
    let url = endpoint_url(state, path);
    let check = ProofCheck {
        method,
        url: &url,
        now,
        max_age_secs: cfg.proof_max_age_secs,
        future_leeway_secs: cfg.clock_leeway_secs,
        nonces: &nonce_refs,
        access_token,
        jkt,
    };
    let verified = proof::verify_proof(value, &check).map_err(proof_error)?;
    let ns = format!("dpop:{}", verified.jkt);
    let jti_hash = jose::keyed_hash(&state.secrets.hash_key, verified.jti.as_bytes());
    // A proof is acceptable until its iat leaves the window; remember its jti that long.
    let until = verified.iat.max(now) + cfg.proof_max_age_secs + 1;
    if !state.store.consume_once(&ns, &jti_hash, until, now).await? {
        return Err(invalid_proof("the DPoP proof was already used (jti replay)"));
    }
    Ok(Some(verified))
}

/// RFC 9449 §5: the proof of a token request, if any; its thumbprint binds the tokens issued.
/// A client registered with `dpop_bound_access_tokens` must send one.
pub async fn token_proof(state: &AppState, client: &Client, headers: &[&[u8]]) -> Result<Option<String>, OAuthError> {
    match verify(state, headers, "POST", "/token", None, None).await? {
        Some(v) => Ok(Some(v.jkt)),
        None if client.settings.dpop_bound_access_tokens => {
            Err(invalid_proof("this client must send a DPoP proof (dpop_bound_access_tokens)"))
        }
        None => Ok(None),
    }
}

/// RFC 9449 §10: the `dpop_jkt` authorization request parameter, a JWK SHA-256 thumbprint
/// (43 base64url characters).
pub fn parse_dpop_jkt(value: Option<&str>) -> Result<Option<String>, OAuthError> {
    match value {
        None => Ok(None),
        Some(j) if j.len() == 43 && j.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
            Ok(Some(j.to_owned()))
        }
        Some(_) => Err(OAuthError::invalid_request("dpop_jkt must be a JWK SHA-256 thumbprint (RFC 9449 section 10)")),
    }
}

/// RFC 9449 §10.1: a code issued for a `dpop_jkt` is redeemed only with a proof by that key.
pub fn check_code_binding(code_jkt: Option<&str>, proof_jkt: Option<&str>) -> Result<(), OAuthError> {
    match (code_jkt, proof_jkt) {
        (None, _) => Ok(()),
        (Some(want), Some(got)) if jose_eq(want, got) => Ok(()),
        (Some(_), _) => {
            Err(OAuthError::invalid_grant("the authorization code is bound to another DPoP key (dpop_jkt)"))
        }
    }
}

/// RFC 9449 §5: the key a new grant's refresh tokens are bound to: the proof's, for a public
/// client; confidential clients' refresh tokens are not bound (they authenticate instead).
pub fn refresh_binding(client: &Client, proof_jkt: Option<&str>) -> Option<String> {
    if client.is_public() { proof_jkt.map(str::to_owned) } else { None }
}

/// RFC 9449 §5: a bound refresh token needs a proof by its key: none is `invalid_dpop_proof`,
/// another key `invalid_grant`.
pub fn check_refresh_binding(grant_jkt: Option<&str>, proof_jkt: Option<&str>) -> Result<(), OAuthError> {
    match (grant_jkt, proof_jkt) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(invalid_proof("this refresh token is DPoP-bound: send a DPoP proof by its key")),
        (Some(want), Some(got)) if jose_eq(want, got) => Ok(()),
        (Some(_), Some(_)) => Err(OAuthError::invalid_grant("the refresh token is bound to another DPoP key")),
    }
}

/// RFC 9449 §7.1: the proof of a resource request with a bound token: `ath` of `token` and the
/// key `jkt`, for `method` on Keycard's `path`. A missing proof is `invalid_dpop_proof`.
pub async fn resource_proof(
    state: &AppState,
    headers: &[&[u8]],
    method: &str,
    path: &str,
    token: &str,
    jkt: &str,
) -> Result<VerifiedProof, OAuthError> {
    verify(state, headers, method, path, Some(token), Some(jkt))
        .await?
        .ok_or_else(|| invalid_proof("a DPoP proof is required with the DPoP authorization scheme"))
}

fn jose_eq(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings() {
        assert!(check_code_binding(None, None).is_ok());
        assert!(check_code_binding(None, Some("k")).is_ok());
        assert!(check_code_binding(Some("k"), Some("k")).is_ok());
        assert_eq!(check_code_binding(Some("k"), None).unwrap_err().code, ErrorCode::InvalidGrant);
        assert_eq!(check_code_binding(Some("k"), Some("j")).unwrap_err().code, ErrorCode::InvalidGrant);
        assert!(check_refresh_binding(None, None).is_ok());
        assert!(check_refresh_binding(Some("k"), Some("k")).is_ok());
        assert_eq!(check_refresh_binding(Some("k"), None).unwrap_err().code, ErrorCode::InvalidDpopProof);
        assert_eq!(check_refresh_binding(Some("k"), Some("j")).unwrap_err().code, ErrorCode::InvalidGrant);
        assert_eq!(token_type(Some("k")), "DPoP");
        assert_eq!(token_type(None), "Bearer");
        let jkt = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
        assert_eq!(parse_dpop_jkt(Some(jkt)).unwrap().as_deref(), Some(jkt));
        assert_eq!(parse_dpop_jkt(None).unwrap(), None);
        for bad in ["", "short", &format!("{jkt}A"), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9X="] {
            assert_eq!(parse_dpop_jkt(Some(bad)).unwrap_err().code, ErrorCode::InvalidRequest, "{bad}");
        }
    }
}
