//! JWT access tokens (RFC 9068): compact JWS parsing, the algorithm-from-the-key rule,
//! signature verification, then the claim checks.
//!
//! Order matters: nothing in the payload is parsed before the signature verifies, and the
//! header is trusted only for `kid` (which key) and `alg` (which must equal that key's own
//! algorithm; a header can never pick the algorithm).

use crate::error::InvalidToken;
use crate::introspection::TimeCheck;
use crate::jwks::JwksCache;
use crate::upstream::Upstream;
use crate::{Claims, Error};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use keycard_types::Scope;
use serde::Deserialize;

/// The JOSE header members looked at (RFC 7515 §4.1).
#[derive(Deserialize)]
struct Header {
    alg: String,
    typ: Option<String>,
    kid: Option<String>,
    /// Whether the header has a `crit` member, whatever its value (`null` included).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
}

/// `true` for a member that is there, whatever its value.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

/// `aud` is a string or an array of strings (RFC 7519 §4.1.3).
#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// A NumericDate (RFC 7519 §2): seconds, possibly with a fraction.
#[derive(Deserialize)]
#[serde(untagged)]
enum NumericDate {
    Int(i64),
    Float(f64),
}

impl NumericDate {
    fn secs(&self) -> i64 {
        match self {
            Self::Int(i) => *i,
            // Saturating float-to-int conversion; NaN becomes 0.
            Self::Float(f) => f.floor() as i64,
        }
    }
}

/// The RFC 9068 §2.2 claims read. This is the accepting side's shape: unlike
/// `keycard_types::AccessTokenClaims` (what Keycard issues) it takes `aud` as an array too and
/// lets missing claims be reported by name.
#[derive(Deserialize)]
struct Payload {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<NumericDate>,
    nbf: Option<NumericDate>,
    iat: Option<NumericDate>,
    jti: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
}

/// RFC 9068 §2.1: `at+jwt`, or the full media type, compared case-insensitively.
fn is_access_token_typ(typ: &str) -> bool {
    typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt")
}

fn b64(part: &str) -> Result<Vec<u8>, InvalidToken> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| InvalidToken::Malformed)
}

/// Is `alg` one this crate ever verifies? Anything else (`none`, `HS*`, …) is refused before a
/// key is even looked up.
fn is_supported_alg(alg: &str) -> bool {
    matches!(alg, "ES256" | "RS256" | "EdDSA")
}

/// Validates a compact-serialised JWT access token.
pub(crate) async fn validate(
    token: &str,
    jwks: &JwksCache,
    upstream: &Upstream,
    audience: &str,
    time: &TimeCheck,
) -> Result<Claims, Error> {
    let mut parts = token.split('.');
    let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(InvalidToken::Malformed.into());
    };
    let header: Header = serde_json::from_slice(&b64(h64)?).map_err(|_| InvalidToken::Malformed)?;
    if !is_supported_alg(&header.alg) {
        return Err(InvalidToken::AlgorithmNotAllowed.into());
    }
    if !header.typ.as_deref().is_some_and(is_access_token_typ) {
        return Err(InvalidToken::WrongType.into());
    }
    if header.crit {
        return Err(InvalidToken::UnsupportedCriticalHeader.into());
    }
    let kid = header.kid.as_deref().ok_or(InvalidToken::MissingKeyId)?;
    let signature = b64(s64)?;

    let key = jwks.key(kid, upstream).await?;
    // The key decides the algorithm; a header naming another one is refused, not obeyed.
    if key.alg.as_str() != header.alg {
        return Err(InvalidToken::AlgorithmNotAllowed.into());
    }
    let signed = &token[..h64.len() + 1 + p64.len()];
    if !key.verify(signed.as_bytes(), &signature) {
        return Err(InvalidToken::BadSignature.into());
    }

    let raw: serde_json::Value = serde_json::from_slice(&b64(p64)?).map_err(|_| InvalidToken::Malformed)?;
    let claims = Payload::deserialize(&raw).map_err(|_| InvalidToken::Malformed)?;
    check_claims(claims, raw, &upstream.issuer, audience, time).map_err(Error::InvalidToken)
}

fn check_claims(
    c: Payload,
    raw: serde_json::Value,
    issuer: &str,
    audience: &str,
    time: &TimeCheck,
) -> Result<Claims, InvalidToken> {
    let iss = c.iss.ok_or(InvalidToken::MissingClaim("iss"))?;
    if iss != issuer {
        return Err(InvalidToken::WrongIssuer);
    }
    let audiences = match c.aud.ok_or(InvalidToken::MissingClaim("aud"))? {
        Audience::One(a) => vec![a],
        Audience::Many(many) => many,
    };
    if !audiences.iter().any(|a| a == audience) {
        return Err(InvalidToken::WrongAudience);
    }
    let exp = c.exp.ok_or(InvalidToken::MissingClaim("exp"))?.secs();
    let iat = c.iat.ok_or(InvalidToken::MissingClaim("iat"))?.secs();
    time.check(exp, c.nbf.map(|n| n.secs()), Some(iat))?;
    let scopes = Scope::parse(c.scope.as_deref().unwrap_or("")).map_err(|_| InvalidToken::InvalidScope)?;
    crate::dpop::check_confirmation(&raw)?;
    Ok(Claims {
        subject: c.sub.ok_or(InvalidToken::MissingClaim("sub"))?,
        client_id: c.client_id.ok_or(InvalidToken::MissingClaim("client_id"))?,
        scopes,
        expires_at: exp,
        audience: audiences,
        jwt_id: Some(c.jti.ok_or(InvalidToken::MissingClaim("jti"))?),
        raw: raw.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(v: serde_json::Value) -> Result<Claims, InvalidToken> {
        let p = Payload::deserialize(&v).map_err(|_| InvalidToken::Malformed)?;
        check_claims(p, v, "https://as.example", "api", &TimeCheck { now: 1000, leeway: 30 })
    }

    fn base() -> serde_json::Value {
        json!({"iss":"https://as.example","sub":"u1","aud":"api","exp":2000,"iat":1000,
               "jti":"j1","client_id":"c1","scope":"b a"})
    }

    #[test]
    fn accepts_and_maps_claims() {
        let c = check(base()).unwrap();
        assert_eq!(c.subject, "u1");
        assert_eq!(c.scopes.to_string(), "a b");
        assert_eq!(c.audience, ["api"]);
        assert_eq!(c.jwt_id.as_deref(), Some("j1"));
    }

    #[test]
    fn audience_array_and_fractional_dates() {
        let mut v = base();
        v["aud"] = json!(["other", "api"]);
        v["exp"] = json!(2000.5);
        assert_eq!(check(v).unwrap().expires_at, 2000);
        let mut v = base();
        v["aud"] = json!(["other"]);
        assert_eq!(check(v).err(), Some(InvalidToken::WrongAudience));
    }

    #[test]
    fn missing_or_mistyped_claims() {
        for claim in ["iss", "sub", "aud", "exp", "iat", "jti", "client_id"] {
            let mut v = base();
            v.as_object_mut().unwrap().remove(claim);
            assert_eq!(check(v).err(), Some(InvalidToken::MissingClaim(claim)), "{claim}");
        }
        let mut v = base();
        v["exp"] = json!("2000");
        assert_eq!(check(v).err(), Some(InvalidToken::Malformed));
        let mut v = base();
        v["scope"] = json!("a\"b");
        assert_eq!(check(v).err(), Some(InvalidToken::InvalidScope));
        let mut v = base();
        v["iss"] = json!("https://as.example/");
        assert_eq!(check(v).err(), Some(InvalidToken::WrongIssuer), "issuer compared exactly");
    }

    /// Found by the fuzz target `resource_validate` (issue 10 item 7): a token whose `cnf` held
    /// no string `jkt` (`{"jkt": 5}`, or an mTLS `x5t#S256`) was taken for a bearer token.
    #[test]
    fn a_confirmation_other_than_jkt_is_refused() {
        for cnf in [
            json!({"jkt": 5}),
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
            json!("jkt"),
            json!(null),
        ] {
            let mut v = base();
            v["cnf"] = cnf.clone();
            assert_eq!(check(v).err(), Some(InvalidToken::MissingClaim("cnf.jkt")), "{cnf}");
        }
        let mut v = base();
        v["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"});
        assert!(check(v).is_ok(), "a DPoP-bound token passes the claim checks (the scheme is checked later)");
    }

    #[test]
    fn typ_values() {
        for ok in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT"] {
            assert!(is_access_token_typ(ok));
        }
        for bad in ["JWT", "jwt", "at+jwt ", "application/jwt", ""] {
            assert!(!is_access_token_typ(bad));
        }
    }
}
