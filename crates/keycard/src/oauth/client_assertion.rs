//! JWT client assertions (RFC 7521 §4.2, RFC 7523 §2.2 and §3, OpenID Connect Core §9):
//! `private_key_jwt` (signed with one of the client's registered public keys) and
//! `client_secret_jwt` (HMAC with the client secret). The checks are plain functions over a split
//! JWS and its claims, with no HTTP and no store; [`super::client_auth`] finds the client,
//! verifies the signature (`crate::client_keys` for public keys, [`verify_hmac`] for secrets),
//! calls [`check_claims`], and spends the `jti` in the replay cache.
//!
//! The rules (SECURITY D4, D5):
//! - `client_assertion_type` is exactly [`JWT_BEARER`];
//! - `alg` is never `none`; `private_key_jwt` takes only asymmetric algs (ES256, PS256, RS256,
//!   EdDSA) and `client_secret_jwt` only HMAC ([`HmacAlg`]), narrowed by the client's
//!   `token_endpoint_auth_signing_alg` (RFC 8725 §3.1);
//! - `iss` = `sub` = the client id (RFC 7523 §3 points 1–2);
//! - `aud` (a string or an array) names the issuer or one of the endpoints that accept client
//!   authentication (RFC 7523 §3 point 3 allows the token endpoint URL, OIDC Core §9 asks for it,
//!   FAPI 2.0 asks for the issuer): every one of them is accepted at every endpoint;
//! - `exp` is required, not past (beyond the leeway) and at most `assertion_max_lifetime_secs`
//!   ahead (plus the leeway); `nbf` and `iat`, when present, are not in the future beyond the
//!   leeway (RFC 7523 §3 points 4–6);
//! - `jti` is required and single use across nodes until `exp` + leeway (RFC 7523 §3 point 7).
//!
//! Extending (e.g. a new HMAC alg, or the rfc7523bis `typ`): add the check here and its negative
//! test in `tests/client_assertions.rs`.

use crate::model::AuthMethod;
use aws_lc_rs::hmac;
use keycard_resource::jwk::{JwkError, Jws, JwsAlg};
use serde_json::Value;
use std::fmt;

/// RFC 7523 §2.2: the one `client_assertion_type` accepted.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The endpoints (paths under the issuer) whose URL an assertion's `aud` may name: those that
/// authenticate clients.
pub const AUDIENCE_PATHS: [&str; 5] = ["/token", "/introspect", "/revoke", "/device_authorization", "/par"];

/// An HMAC JWS algorithm (RFC 7518 §3.2), for `client_secret_jwt` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HmacAlg {
    /// HMAC SHA-256.
    HS256,
    /// HMAC SHA-384.
    HS384,
    /// HMAC SHA-512.
    HS512,
}

impl HmacAlg {
    /// Every variant, in the order metadata lists them.
    pub const ALL: [HmacAlg; 3] = [HmacAlg::HS256, HmacAlg::HS384, HmacAlg::HS512];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
        }
    }

    /// Parses a JOSE name.
    pub fn parse(s: &str) -> Option<HmacAlg> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn algorithm(self) -> hmac::Algorithm {
        match self {
            Self::HS256 => hmac::HMAC_SHA256,
            Self::HS384 => hmac::HMAC_SHA384,
            Self::HS512 => hmac::HMAC_SHA512,
        }
    }
}

/// The JWS `alg` values Keycard verifies in client assertions, for metadata
/// (`token_endpoint_auth_signing_alg_values_supported`).
pub fn supported_algs() -> Vec<String> {
    JwsAlg::ALL.iter().map(|a| a.as_str()).chain(HmacAlg::ALL.iter().map(|a| a.as_str())).map(String::from).collect()
}

/// A client assertion split from a request but NOT verified: only its `sub` is read, to find the
/// client. Its `Debug` shows the client id, never the token.
pub struct Assertion {
    /// The client it claims to be (`sub`, unverified).
    pub client_id: String,
    jws: Jws,
}

impl fmt::Debug for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Assertion({:?}, <jwt>)", self.client_id)
    }
}

impl Assertion {
    /// Splits a compact JWS and reads its `sub`; the reason for a refusal is safe to send.
    pub fn parse(token: &str) -> Result<Assertion, &'static str> {
        let jws = Jws::decode(token).map_err(|JwkError(e)| e)?;
        let client_id = match jws.claims().get("sub") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err("the client assertion has no sub (the client_id)"),
        };
        Ok(Assertion { client_id, jws })
    }

    /// The split JWS.
    pub fn jws(&self) -> &Jws {
        &self.jws
    }

    /// The method the assertion's `alg` implies: HMAC is `client_secret_jwt`, anything else
    /// (including algs that will fail verification) `private_key_jwt`.
    pub fn method(&self) -> AuthMethod {
        match self.jws.header_str("alg").and_then(HmacAlg::parse) {
            Some(_) => AuthMethod::ClientSecretJwt,
            None => AuthMethod::PrivateKeyJwt,
        }
    }
}

/// The asymmetric algs a `private_key_jwt` client may use: its registered
/// `token_endpoint_auth_signing_alg`, else all. A registered alg that is not asymmetric allows none.
pub fn asymmetric_algs(registered: Option<&str>) -> Result<Vec<JwsAlg>, &'static str> {
    match registered {
        None => Ok(JwsAlg::ALL.to_vec()),
        Some(a) => JwsAlg::parse(a)
            .map(|a| vec![a])
            .ok_or("the client's token_endpoint_auth_signing_alg is not an asymmetric algorithm"),
    }
}

/// RFC 7518 §3.2: verifies a `client_secret_jwt` HMAC in constant time (aws-lc-rs
/// `hmac::verify`), with an alg from the registered `token_endpoint_auth_signing_alg` if any.
pub fn verify_hmac(jws: &Jws, secret: &[u8], registered: Option<&str>) -> Result<(), &'static str> {
    let alg = jws.header_str("alg").and_then(HmacAlg::parse).ok_or("the assertion's alg is not HMAC")?;
    if registered.is_some_and(|r| r != alg.as_str()) {
        return Err("the assertion's alg is not the one registered for this client");
    }
    let (input, sig) = jws.signed_parts();
    hmac::verify(&hmac::Key::new(alg.algorithm(), secret), input, sig).map_err(|_| "bad assertion signature")
}

/// The context the claims of a JWT signed by a client are checked in (client assertions here,
/// request objects in [`super::jar`]).
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    /// The issuer identifier (no trailing slash).
    pub issuer: &'a str,
    /// Now (Unix seconds).
    pub now: i64,
    /// Clock leeway in seconds (`client_auth.clock_leeway_secs`, `par.request_object_leeway_secs`).
    pub leeway: i64,
    /// The longest accepted lifetime in seconds (`client_auth.assertion_max_lifetime_secs`,
    /// `par.request_object_max_lifetime_secs`).
    pub max_lifetime: i64,
}

/// What the replay cache needs from checked claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The `jti`.
    pub jti: String,
    /// The `exp`.
    pub exp: i64,
}

fn numeric(claims: &Value, name: &str) -> Result<Option<i64>, &'static str> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite() && f.abs() < 1e15).map(|f| f as i64))
            .map(Some)
            .ok_or("a time claim of the assertion is not a number"),
    }
}

/// Does `aud` name this server: the issuer or one of [`AUDIENCE_PATHS`] under it?
fn audience_ok(aud: &str, issuer: &str) -> bool {
    aud == issuer || aud.strip_prefix(issuer).is_some_and(|p| AUDIENCE_PATHS.contains(&p))
}

/// RFC 7523 §3: checks the claims of an assertion whose signature verified. The reason for a
/// refusal names the rule in general terms, never a claim's value.
pub fn check_claims(claims: &Value, client_id: &str, r: &Rules<'_>) -> Result<Checked, &'static str> {
    if claims.get("iss").and_then(Value::as_str) != Some(client_id) {
        return Err("the assertion's iss must be the client_id");
    }
    if claims.get("sub").and_then(Value::as_str) != Some(client_id) {
        return Err("the assertion's sub must equal its iss (the client_id)");
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => audience_ok(a, r.issuer),
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str().is_some_and(|a| audience_ok(a, r.issuer))),
        _ => false,
    };
    if !aud_ok {
        return Err("the assertion's aud must be this server's issuer or the URL of the endpoint");
    }
    let exp = numeric(claims, "exp")?.ok_or("the assertion has no exp")?;
    if r.now >= exp.saturating_add(r.leeway) {
        return Err("the assertion has expired");
    }
    if exp > r.now.saturating_add(r.max_lifetime).saturating_add(r.leeway) {
        return Err("the assertion's exp is too far in the future (client_auth.assertion_max_lifetime_secs)");
    }
    if numeric(claims, "nbf")?.is_some_and(|nbf| nbf > r.now.saturating_add(r.leeway)) {
        return Err("the assertion is not valid yet (nbf)");
    }
    if numeric(claims, "iat")?.is_some_and(|iat| iat > r.now.saturating_add(r.leeway)) {
        return Err("the assertion was issued in the future (iat)");
    }
    let jti = match claims.get("jti") {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= 1024 => j.clone(),
        _ => return Err("the assertion has no jti"),
    };
    Ok(Checked { jti, exp })
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use serde_json::json;

    const ISS: &str = "https://auth.example";

    fn rules() -> Rules<'static> {
        Rules { issuer: ISS, now: 1_000_000, leeway: 30, max_lifetime: 300 }
    }

    fn good() -> Value {
        json!({"iss": "app", "sub": "app", "aud": ISS, "exp": 1_000_100, "iat": 1_000_000, "jti": "j1"})
    }

    fn with(k: &str, v: Value) -> Value {
        let mut c = good();
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    }

    #[test]
    fn good_claims_pass_with_every_accepted_audience() {
        assert_eq!(check_claims(&good(), "app", &rules()).unwrap(), Checked { jti: "j1".into(), exp: 1_000_100 });
        for p in AUDIENCE_PATHS {
            check_claims(&with("aud", json!(format!("{ISS}{p}"))), "app", &rules()).unwrap();
        }
        check_claims(&with("aud", json!(["https://other.example", format!("{ISS}/token")])), "app", &rules()).unwrap();
        // Inside the leeway.
        check_claims(&with("exp", json!(999_990)), "app", &rules()).unwrap();
        check_claims(&with("nbf", json!(1_000_020)), "app", &rules()).unwrap();
        check_claims(&with("exp", json!(1_000_320)), "app", &rules()).unwrap();
    }

    #[test]
    fn each_rule_refuses() {
        let cases = [
            ("iss", json!("other")),
            ("iss", Value::Null),
            ("sub", json!("other")),
            ("aud", json!("https://other.example")),
            ("aud", json!(format!("{ISS}/userinfo"))),
            ("aud", json!(format!("{ISS}/token/x"))),
            ("aud", json!([])),
            ("aud", json!(7)),
            ("aud", Value::Null),
            ("exp", Value::Null),
            ("exp", json!("soon")),
            ("exp", json!(999_970)),
            ("exp", json!(1_000_331)),
            ("nbf", json!(1_000_031)),
            ("iat", json!(1_000_031)),
            ("jti", Value::Null),
            ("jti", json!("")),
            ("jti", json!(5)),
        ];
        for (k, v) in cases {
            assert!(check_claims(&with(k, v.clone()), "app", &rules()).is_err(), "{k}={v}");
        }
        assert!(check_claims(&good(), "other", &rules()).is_err());
    }

    fn jws(header: Value, claims: &Value, key: &[u8], alg: hmac::Algorithm) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let tag = hmac::sign(&hmac::Key::new(alg, key), input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    #[test]
    fn hmac_verifies_with_the_secret_only() {
        let t = jws(json!({"alg": "HS256"}), &good(), b"the-secret", hmac::HMAC_SHA256);
        let a = Assertion::parse(&t).unwrap();
        assert_eq!(a.client_id, "app");
        assert_eq!(a.method(), AuthMethod::ClientSecretJwt);
        verify_hmac(a.jws(), b"the-secret", None).unwrap();
        verify_hmac(a.jws(), b"the-secret", Some("HS256")).unwrap();
        assert!(verify_hmac(a.jws(), b"other-secret", None).is_err());
        assert!(verify_hmac(a.jws(), b"the-secret", Some("HS512")).is_err(), "registered alg narrows");
        let t = jws(json!({"alg": "HS512"}), &good(), b"the-secret", hmac::HMAC_SHA512);
        verify_hmac(Assertion::parse(&t).unwrap().jws(), b"the-secret", None).unwrap();
        let t = jws(json!({"alg": "none"}), &good(), b"the-secret", hmac::HMAC_SHA256);
        let a = Assertion::parse(&t).unwrap();
        assert_eq!(a.method(), AuthMethod::PrivateKeyJwt);
        assert!(verify_hmac(a.jws(), b"the-secret", None).is_err());
        assert!(format!("{a:?}").contains("<jwt>") && !format!("{a:?}").contains(&t));
    }

    #[test]
    fn malformed_assertions_are_refused_by_parse() {
        for t in ["", "a.b", "a.b.c.d", "!!.!!.!!", &format!("{}.{}.", B64.encode("{}"), B64.encode("{}"))] {
            assert!(Assertion::parse(t).is_err(), "{t}");
        }
        assert!(asymmetric_algs(Some("HS256")).is_err());
        assert_eq!(asymmetric_algs(Some("ES256")).unwrap(), vec![JwsAlg::ES256]);
    }
}
