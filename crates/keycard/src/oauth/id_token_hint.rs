//! `id_token_hint`: an ID token Keycard issued earlier, sent back by a client as a hint about
//! the user (OpenID Connect Core 1.0 §3.1.2.1 at the authorization endpoint; OpenID Connect
//! RP-Initiated Logout 1.0 §2 and §4 at the end-session endpoint). Plain functions, no HTTP.
//!
//! A hint is believed only when [`validate`] accepts it (SECURITY E2, E3):
//! - a compact JWS signed by one of Keycard's own published keys (the key ring's current keys
//!   and the retired ones still in the JWKS), with the header `alg` of that key — so `alg: none`,
//!   HMAC and foreign keys are refused;
//! - `typ` absent or `JWT` (ID tokens; an `at+jwt` access token is no hint);
//! - `iss` exactly Keycard's issuer, a non-empty string `sub`, an `aud` naming at least one
//!   client;
//! - `exp` is NOT checked: Core §3.1.2.1 and RP-Initiated Logout §4 expect expired ID tokens as
//!   hints (a hint asserts nothing by itself; it only narrows whom the request is about).
//!
//! The `sub` is the one the client saw (public: the user id; pairwise: a per-sector hash, see
//! [`super::subject`]), so a hint is compared with a user in the client's space:
//! [`IdTokenHint::names_user`]. Callers decide what a mismatch means (`authorize::decide`:
//! `login_required` or the login page; logout: a confirmation that says so).
//!
//! Extending: a new check of the hint goes into [`validate`] with its [`HintError`] variant
//! and a test below; what a caller does with the result stays with the caller.

use crate::jose::{JoseError, VerifyingKeys};
use crate::model::Client;
use crate::state::AppState;
use serde_json::Value;

/// A validated `id_token_hint`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTokenHint {
    /// The subject as the audience client saw it (OIDC Core §8).
    pub sub: String,
    /// The clients it was issued to (`aud`, a string or an array of strings, OIDC Core §2).
    pub aud: Vec<String>,
    /// The session it was issued in (`sid`, RP-Initiated Logout §2), when present.
    pub sid: Option<String>,
}

/// Why a hint was refused. Never shown to the user or the client in detail (the error says
/// only that the hint is invalid); logged at debug level by callers at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HintError {
    /// Not a compact JWS Keycard could parse.
    #[error("not a well-formed JWT")]
    Malformed,
    /// Not signed by one of Keycard's published keys with that key's algorithm (forged,
    /// unsigned `alg: none`, unknown `kid`, altered payload).
    #[error("signature not verified by this server's keys")]
    Signature,
    /// A Keycard JWT that is not an ID token (e.g. an `at+jwt` access token, SECURITY E3).
    #[error("not an ID token")]
    NotAnIdToken,
    /// `iss` is not this server.
    #[error("issued by another issuer")]
    ForeignIssuer,
    /// `sub` or `aud` missing or not strings.
    #[error("sub or aud missing")]
    MissingClaims,
}

impl IdTokenHint {
    /// Was the hint issued to `client_id` (`aud` contains it)?
    pub fn issued_to(&self, client_id: &str) -> bool {
        self.aud.iter().any(|a| a == client_id)
    }

    /// Does the hint name `user_id`, as `client` (one of the hint's audience) sees that user?
    pub fn names_user(&self, state: &AppState, user_id: &str, client: &Client) -> bool {
        let sub = super::subject::for_user(state, user_id, client);
        aws_lc_rs::constant_time::verify_slices_are_equal(sub.as_bytes(), self.sub.as_bytes()).is_ok()
    }
}

/// OIDC Core §3.1.2.1 / RP-Initiated Logout §4: validates `hint` against the node's published
/// keys and issuer (see the module doc). Expired hints are accepted.
pub fn validate(state: &AppState, hint: &str) -> Result<IdTokenHint, HintError> {
    check(&state.keys.snapshot().verifying, &state.config.issuer, hint)
}

/// [`validate`] with explicit keys (every published key: current and retired-but-published)
/// and issuer.
pub fn check(keys: &VerifyingKeys, issuer: &str, hint: &str) -> Result<IdTokenHint, HintError> {
    if !super::tokens::looks_like_jwt(hint) {
        return Err(HintError::Malformed);
    }
    let verified = keys.verify(hint).map_err(|e| match e {
        JoseError::Malformed(_) => HintError::Malformed,
        _ => HintError::Signature,
    })?;
    if verified.header.typ.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("JWT")) {
        return Err(HintError::NotAnIdToken);
    }
    let c = &verified.claims;
    if c["iss"].as_str() != Some(issuer) {
        return Err(HintError::ForeignIssuer);
    }
    let sub = c["sub"].as_str().filter(|s| !s.is_empty()).ok_or(HintError::MissingClaims)?.to_owned();
    let aud: Vec<String> = match &c["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(list) => list.iter().filter_map(|a| a.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    if aud.is_empty() {
        return Err(HintError::MissingClaims);
    }
    Ok(IdTokenHint { sub, aud, sid: c["sid"].as_str().map(str::to_owned) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jose::{Alg, SigningKey};
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    const ISS: &str = "https://kc.example";

    fn keys() -> (SigningKey, SigningKey, VerifyingKeys) {
        let es = SigningKey::generate(Alg::ES256, "es-1".into()).unwrap();
        let rs = SigningKey::generate(Alg::RS256, "rs-1".into()).unwrap();
        let v = VerifyingKeys::new(&[es.public_jwk(), rs.public_jwk()]).unwrap();
        (es, rs, v)
    }

    fn claims() -> Value {
        json!({"iss": ISS, "sub": "usr_1", "aud": "web", "exp": 1, "iat": 0, "sid": "s1"})
    }

    /// SECURITY E2: expired hints of our keys are accepted.
    #[test]
    fn valid_and_expired_hints_are_accepted() {
        let (es, rs, v) = keys();
        for k in [&es, &rs] {
            // exp = 1: expired for decades.
            let h = check(&v, ISS, &k.sign_jwt("JWT", &claims()).unwrap()).expect("valid");
            assert_eq!(h, IdTokenHint { sub: "usr_1".into(), aud: vec!["web".into()], sid: Some("s1".into()) });
            assert!(h.issued_to("web") && !h.issued_to("spa"));
        }
        let mut c = claims();
        c["aud"] = json!(["web", "spa"]);
        assert!(check(&v, ISS, &es.sign_jwt("JWT", &c).unwrap()).unwrap().issued_to("spa"));
        c.as_object_mut().unwrap().remove("exp");
        assert!(check(&v, ISS, &es.sign_jwt("JWT", &c).unwrap()).is_ok(), "exp is not needed either");
    }

    /// SECURITY E2, E3: forged, unsigned, foreign, malformed hints and access tokens are refused.
    #[test]
    fn forged_unsigned_foreign_and_malformed_hints_are_refused() {
        let (es, _, v) = keys();
        let good = es.sign_jwt("JWT", &claims()).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        // Payload changed, signature kept.
        let mut c = claims();
        c["sub"] = json!("usr_2");
        let forged = format!("{}.{}.{}", parts[0], B64.encode(c.to_string()), parts[2]);
        assert_eq!(check(&v, ISS, &forged), Err(HintError::Signature));
        // Signature changed.
        let mut sig = B64.decode(parts[2]).unwrap();
        sig[0] ^= 1;
        let t = format!("{}.{}.{}", parts[0], parts[1], B64.encode(sig));
        assert_eq!(check(&v, ISS, &t), Err(HintError::Signature));
        // alg none / HS256 with a known kid, with an empty and with the original signature.
        for header in
            [json!({"alg": "none", "kid": "es-1"}), json!({"alg": "none"}), json!({"alg": "HS256", "kid": "es-1"})]
        {
            let h = B64.encode(header.to_string());
            assert!(check(&v, ISS, &format!("{h}.{}.", parts[1])).is_err(), "{header}");
            assert_eq!(
                check(&v, ISS, &format!("{h}.{}.{}", parts[1], parts[2])),
                Err(HintError::Signature),
                "{header}"
            );
        }
        // A key that is not ours, with our kid.
        let other = SigningKey::generate(Alg::ES256, "es-1".into()).unwrap();
        assert_eq!(check(&v, ISS, &other.sign_jwt("JWT", &claims()).unwrap()), Err(HintError::Signature));
        // Another issuer.
        let mut c = claims();
        c["iss"] = json!("https://evil.example");
        assert_eq!(check(&v, ISS, &es.sign_jwt("JWT", &c).unwrap()), Err(HintError::ForeignIssuer));
        assert_eq!(check(&v, "https://kc.example/", &good), Err(HintError::ForeignIssuer), "exact match");
        // An access token is no hint (SECURITY E3).
        assert_eq!(check(&v, ISS, &es.sign_jwt("at+jwt", &claims()).unwrap()), Err(HintError::NotAnIdToken));
        // No sub, an empty sub, no aud, a non-string aud.
        for (k, val) in [("sub", None), ("sub", Some(json!(""))), ("aud", None), ("aud", Some(json!([1])))] {
            let mut c = claims();
            match val {
                Some(x) => c[k] = x,
                None => drop(c.as_object_mut().unwrap().remove(k)),
            }
            assert_eq!(check(&v, ISS, &es.sign_jwt("JWT", &c).unwrap()), Err(HintError::MissingClaims), "{k}");
        }
        for garbage in ["", "x", "x.y.z", "a.b", "..", "a.b.c.d", &"a".repeat(70 * 1024)] {
            assert!(check(&v, ISS, garbage).is_err(), "{garbage:.20}");
        }
    }

    /// SECURITY E2, K2: the key set is whatever is published: a hint of a retired key verifies while that key is
    /// in the set, and not after it left it.
    #[test]
    fn hints_verify_with_any_published_key() {
        let (es, rs, _) = keys();
        let old = es.sign_jwt("JWT", &claims()).unwrap();
        let new = SigningKey::generate(Alg::ES256, "es-2".into()).unwrap();
        let both = VerifyingKeys::new(&[new.public_jwk(), es.public_jwk(), rs.public_jwk()]).unwrap();
        assert!(check(&both, ISS, &old).is_ok(), "retired, still published");
        let after = VerifyingKeys::new(&[new.public_jwk(), rs.public_jwk()]).unwrap();
        assert_eq!(check(&after, ISS, &old), Err(HintError::Signature), "no longer published");
    }
}
