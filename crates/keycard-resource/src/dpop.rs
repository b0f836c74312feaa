//! DPoP proofs (RFC 9449): the one verifier of §4.3, used by the Keycard server (token endpoint,
//! UserInfo) and by resource servers through [`Validator::validate_dpop`](crate::Validator::validate_dpop)
//! and the axum extractor. Pure: no I/O, no clock (the caller passes `now`), no replay memory
//! (the caller records the returned `jti`, RFC 9449 §11.1).
//!
//! What [`verify_proof`] checks, in the order of §4.3: exactly one `DPoP` header (1); a compact
//! JWS (2); `typ` is `dpop+jwt` (4); `alg` asymmetric and supported, never `none` or HMAC (5);
//! a `jwk` header holding a public key only (7), which verifies the signature (6); `jti`, `htm`,
//! `htu` and `iat` present (3); `htm` equal to the request method (8); `htu` equal to the
//! request URL without query and fragment, scheme and host compared case-insensitively and
//! default ports dropped (9, RFC 3986 §6.2.2–6.2.3); the server nonce when one is required
//! (10, §8, §9); `iat` within the window (11); with an access token, `ath` equal to the
//! base64url SHA-256 of it (12, §4.2) and, when the token is bound, the proof key's RFC 7638
//! thumbprint equal to the bound `jkt` (§6.1, §7.1).
//!
//! Extending: a new check is one more step in [`verify_proof`] with a [`DpopError`] of its own
//! description (never echoing the proof); a new algorithm comes with
//! [`JwsAlg`].

use crate::jwk::{Jws, JwsAlg, PublicKey};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;

/// The `typ` of a DPoP proof (RFC 9449 §4.2).
pub const PROOF_TYP: &str = "dpop+jwt";

/// Longest `DPoP` header value looked at, in bytes (an RSA-4096 proof is about 1.5 KB).
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted (RFC 9449 §11.1: the server keeps it for the window).
pub const MAX_JTI_LEN: usize = 256;

/// The algorithms a proof may be signed with, as metadata lists them
/// (`dpop_signing_alg_values_supported`, RFC 9449 §5.1).
pub const SUPPORTED_ALGS: [JwsAlg; 4] = JwsAlg::ALL;

/// Why a proof was refused. The description is fixed text, safe to send as
/// `error_description`: it never contains any part of the proof or the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    /// RFC 9449 §7.1 / §5: the proof is missing, malformed, or fails a check
    /// (`invalid_dpop_proof`).
    #[error("invalid DPoP proof: {0}")]
    InvalidProof(&'static str),
    /// RFC 9449 §8 / §9: the server requires a nonce and the proof has none, or a stale one
    /// (`use_dpop_nonce`; answer with a fresh `DPoP-Nonce` header).
    #[error("DPoP nonce required: {0}")]
    UseNonce(&'static str),
}

impl DpopError {
    /// The public description.
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidProof(d) | Self::UseNonce(d) => d,
        }
    }

    /// The RFC 9449 error code: `invalid_dpop_proof` or `use_dpop_nonce`.
    pub fn code(&self) -> keycard_types::ErrorCode {
        match self {
            Self::InvalidProof(_) => keycard_types::ErrorCode::InvalidDpopProof,
            Self::UseNonce(_) => keycard_types::ErrorCode::UseDpopNonce,
        }
    }
}

fn bad(d: &'static str) -> DpopError {
    DpopError::InvalidProof(d)
}

/// What the proof must match: the request it came with and the server's policy.
#[derive(Debug, Clone, Copy)]
pub struct ProofCheck<'a> {
    /// The HTTP method of the request (`htm`, compared exactly).
    pub method: &'a str,
    /// The absolute URL of the request as the server knows itself (never built from a `Host`
    /// header it does not trust); its query and fragment are ignored.
    pub url: &'a str,
    /// Now, in seconds since the Unix epoch.
    pub now: i64,
    /// How old `iat` may be, in seconds.
    pub max_age_secs: i64,
    /// How far in the future `iat` may be (clock skew), in seconds.
    pub future_leeway_secs: i64,
    /// The nonces the server accepts now (RFC 9449 §8); empty: no nonce is required (one the
    /// proof carries anyway is ignored).
    pub nonces: &'a [&'a str],
    /// The access token presented with the proof (resource requests): `ath` is then required
    /// and must be its hash (§4.2).
    pub access_token: Option<&'a str>,
    /// The thumbprint the proof key must have (the token's `cnf.jkt`, a code's `dpop_jkt`, a
    /// refresh token's binding).
    pub jkt: Option<&'a str>,
}

/// A proof that passed every check. The caller still has to refuse a `jti` it has seen
/// within the window (RFC 9449 §11.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// RFC 7638 thumbprint of the proof key (`cnf.jkt` of a token bound to it, §6.1).
    pub jkt: String,
    /// The proof's `jti`.
    pub jti: String,
    /// The proof's `iat`.
    pub iat: i64,
}

/// RFC 9449 §4.3 item 1: the one `DPoP` header of a request, from all its values. `Ok(None)`
/// when there is none; two or more are an invalid proof.
pub fn single_header<'a, I>(values: I) -> Result<Option<&'a [u8]>, DpopError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut it = values.into_iter();
    let first = it.next();
    if it.next().is_some() {
        return Err(bad("more than one DPoP header"));
    }
    Ok(first)
}

/// RFC 9449 §4.2: `ath`, the base64url SHA-256 of the access token.
pub fn access_token_hash(token: &str) -> String {
    B64.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// RFC 9449 §4.3 item 9: the URL without query and fragment, scheme and host in lower case,
/// the default port dropped (RFC 3986 §6.2.2 and §6.2.3). `None` for what is not an absolute
/// http(s) URL.
pub fn normalized_htu(url: &str) -> Option<String> {
    let mut u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "https" | "http") || u.host().is_none() || u.cannot_be_a_base() {
        return None;
    }
    u.set_query(None);
    u.set_fragment(None);
    // The parser already lower-cases scheme and host, drops a default port and gives an empty
    // path as `/`.
    Some(u.into())
}

fn same(a: &str, b: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a.as_bytes(), b.as_bytes()).is_ok()
}

/// RFC 9449 §4.3: verifies one proof (the value of the single `DPoP` header, see
/// [`single_header`]) against `check`.
pub fn verify_proof(proof: &[u8], check: &ProofCheck<'_>) -> Result<VerifiedProof, DpopError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(bad("the DPoP proof is too long"));
    }
    let proof = std::str::from_utf8(proof).map_err(|_| bad("the DPoP proof is not a JWT"))?;
    let jws = Jws::decode(proof.trim()).map_err(|_| bad("the DPoP proof is not a well-formed JWT"))?;
    if !jws.typ().is_some_and(|t| t.eq_ignore_ascii_case(PROOF_TYP)) {
        return Err(bad("the DPoP proof's typ must be dpop+jwt"));
    }
    let alg = jws.alg().map_err(|_| bad("the DPoP proof's alg is missing, none, symmetric or not supported"))?;
    let jwk = jws.header().get("jwk").ok_or(bad("the DPoP proof has no jwk header"))?;
    let key = PublicKey::from_jwk(jwk).map_err(|_| bad("the DPoP proof's jwk is not an acceptable public key"))?;
    if !key.allows(alg) {
        return Err(bad("the DPoP proof's alg does not fit its jwk"));
    }
    jws.verify_with(&key).map_err(|_| bad("the DPoP proof's signature does not verify with its jwk"))?;

    let claims = jws.claims();
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or(bad("the DPoP proof has no jti"))?;
    if jti.len() > MAX_JTI_LEN {
        return Err(bad("the DPoP proof's jti is too long"));
    }
    let htm = text("htm").ok_or(bad("the DPoP proof has no htm"))?;
    let htu = text("htu").ok_or(bad("the DPoP proof has no htu"))?;
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or(bad("the DPoP proof has no integer iat"))?;
    if htm != check.method {
        return Err(bad("the DPoP proof's htm does not match the request method"));
    }
    let expected = normalized_htu(check.url).ok_or(bad("the request URL cannot be compared with htu"))?;
    if normalized_htu(htu).is_none_or(|h| h != expected) {
        return Err(bad("the DPoP proof's htu does not match the request URL"));
    }
    if !check.nonces.is_empty() {
        match text("nonce") {
            None => return Err(DpopError::UseNonce("a DPoP nonce is required")),
            Some(n) => {
                if !check.nonces.iter().any(|v| same(v, n)) {
                    return Err(DpopError::UseNonce("the DPoP nonce is stale or unknown"));
                }
            }
        }
    }
    if iat < check.now.saturating_sub(check.max_age_secs) {
        return Err(bad("the DPoP proof is too old (iat)"));
    }
    if iat > check.now.saturating_add(check.future_leeway_secs) {
        return Err(bad("the DPoP proof is issued in the future (iat)"));
    }
    // Not required by RFC 9449, but a proof that limits itself is held to it.
    match claims.get("exp") {
        None => {}
        Some(v) if v.as_i64().is_some_and(|exp| exp > check.now.saturating_sub(check.future_leeway_secs)) => {}
        Some(_) => return Err(bad("the DPoP proof has expired (exp)")),
    }
    match claims.get("nbf") {
        None => {}
        Some(v) if v.as_i64().is_some_and(|nbf| nbf <= check.now.saturating_add(check.future_leeway_secs)) => {}
        Some(_) => return Err(bad("the DPoP proof is not valid yet (nbf)")),
    }
    if let Some(token) = check.access_token {
        let ath = text("ath").ok_or(bad("the DPoP proof has no ath for the access token"))?;
        if !same(ath, &access_token_hash(token)) {
            return Err(bad("the DPoP proof's ath does not match the access token"));
        }
    }
    let jkt = key.thumbprint();
    if let Some(want) = check.jkt
        && !same(want, &jkt)
    {
        return Err(bad("the DPoP proof key is not the key the token or grant is bound to"));
    }
    Ok(VerifiedProof { jkt, jti: jti.to_owned(), iat })
}

/// The `cnf.jkt` of a token's claims (RFC 9449 §6.1 for JWTs, §6.2 for introspection).
pub fn bound_jkt(claims: &Value) -> Option<&str> {
    claims.get("cnf").and_then(|c| c.get("jkt")).and_then(Value::as_str)
}

/// RFC 7800 §3.1: a token with a `cnf` claim is bound to a key, and only a `jkt` (RFC 9449 §6)
/// is a confirmation this crate can check. A `cnf` without a string `jkt` (another method, such
/// as mTLS `x5t#S256`, RFC 8705 §3.1, or a malformed one) makes the token unusable here: it is
/// refused rather than taken for a bearer token.
pub(crate) fn check_confirmation(claims: &Value) -> Result<(), crate::InvalidToken> {
    match claims.get("cnf") {
        Some(_) if bound_jkt(claims).is_none() => Err(crate::InvalidToken::MissingClaim("cnf.jkt")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::tests::{es256, sign};
    use serde_json::json;

    const URL: &str = "https://as.example/token";

    fn check<'a>() -> ProofCheck<'a> {
        ProofCheck {
            method: "POST",
            url: URL,
            now: 1000,
            max_age_secs: 60,
            future_leeway_secs: 5,
            nonces: &[],
            access_token: None,
            jkt: None,
        }
    }

    fn claims() -> Value {
        json!({"jti":"j1","htm":"POST","htu":URL,"iat":1000})
    }

    fn err(r: Result<VerifiedProof, DpopError>) -> &'static str {
        r.unwrap_err().description()
    }

    #[test]
    fn accepts_a_good_proof_and_returns_the_thumbprint() {
        let (pair, jwk) = es256();
        let p = sign(&pair, &json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk}), &claims());
        let v = verify_proof(p.as_bytes(), &check()).unwrap();
        assert_eq!(v.jkt, PublicKey::from_jwk(&jwk).unwrap().thumbprint());
        assert_eq!((v.jti.as_str(), v.iat), ("j1", 1000));
        // htu: case of scheme and host, default port and the query are not significant.
        let c = ProofCheck { url: "HTTPS://AS.example:443/token?x=1#f", ..check() };
        verify_proof(p.as_bytes(), &c).unwrap();
    }

    #[test]
    fn refuses_each_failed_check() {
        let (pair, jwk) = es256();
        let (other, other_jwk) = es256();
        let h = json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk});
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            c
        };
        let cases: Vec<(String, &str)> = vec![
            (sign(&pair, &json!({"typ":"jwt","alg":"ES256","jwk":jwk}), &claims()), "typ"),
            (sign(&pair, &json!({"alg":"ES256","jwk":jwk}), &claims()), "typ"),
            (sign(&pair, &json!({"typ":"dpop+jwt","alg":"none","jwk":jwk}), &claims()), "alg"),
            (sign(&pair, &json!({"typ":"dpop+jwt","alg":"HS256","jwk":jwk}), &claims()), "alg"),
            (sign(&pair, &json!({"typ":"dpop+jwt","alg":"ES256"}), &claims()), "no jwk"),
            (
                sign(&pair, &json!({"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"oct","k":"c2VjcmV0"}}), &claims()),
                "jwk",
            ),
            (sign(&pair, &json!({"typ":"dpop+jwt","alg":"ES256","jwk":{"d":"AAAA"}}), &claims()), "jwk"),
            (sign(&other, &h, &claims()), "signature"),
            (sign(&pair, &json!({"typ":"dpop+jwt","alg":"ES256","jwk":other_jwk}), &claims()), "signature"),
            (sign(&pair, &h, &json!({"htm":"POST","htu":URL,"iat":1000})), "jti"),
            (sign(&pair, &h, &json!({"jti":"j","htu":URL,"iat":1000})), "htm"),
            (sign(&pair, &h, &json!({"jti":"j","htm":"POST","iat":1000})), "htu"),
            (sign(&pair, &h, &json!({"jti":"j","htm":"POST","htu":URL})), "iat"),
            (sign(&pair, &h, &with("htm", json!("GET"))), "htm"),
            (sign(&pair, &h, &with("htm", json!("post"))), "htm"),
            (sign(&pair, &h, &with("htu", json!("https://as.example/other"))), "htu"),
            (sign(&pair, &h, &with("htu", json!("https://evil.example/token"))), "htu"),
            (sign(&pair, &h, &with("htu", json!("http://as.example/token"))), "htu"),
            (sign(&pair, &h, &with("iat", json!(1000 - 61))), "too old"),
            (sign(&pair, &h, &with("iat", json!(1000 + 6))), "future"),
            (sign(&pair, &h, &with("iat", json!("1000"))), "iat"),
            (sign(&pair, &h, &with("htu", json!(123))), "htu"),
            (sign(&pair, &h, &with("htm", json!(["POST"]))), "htm"),
            (sign(&pair, &h, &with("exp", json!(900))), "exp"),
            (sign(&pair, &h, &with("exp", json!("later"))), "exp"),
            (sign(&pair, &h, &with("nbf", json!(2000))), "nbf"),
            (sign(&pair, &h, &with("jti", json!("x".repeat(MAX_JTI_LEN + 1)))), "jti"),
            ("not.a.jwt".into(), "JWT"),
            ("".into(), "JWT"),
        ];
        for (proof, want) in cases {
            let got = err(verify_proof(proof.as_bytes(), &check()));
            assert!(got.contains(want), "want {want:?}, got {got:?}");
        }
        // A query or fragment in htu, or a future exp and a past nbf, are fine.
        verify_proof(sign(&pair, &h, &with("htu", json!(format!("{URL}?a=1#f")))).as_bytes(), &check()).unwrap();
        verify_proof(sign(&pair, &h, &with("exp", json!(1060))).as_bytes(), &check()).unwrap();
        verify_proof(sign(&pair, &h, &with("nbf", json!(990))).as_bytes(), &check()).unwrap();
        // The window's edges are inside it.
        verify_proof(sign(&pair, &h, &with("iat", json!(940))).as_bytes(), &check()).unwrap();
        verify_proof(sign(&pair, &h, &with("iat", json!(1005))).as_bytes(), &check()).unwrap();
    }

    #[test]
    fn access_token_binding_and_nonces() {
        let (pair, jwk) = es256();
        let h = json!({"typ":"dpop+jwt","alg":"ES256","jwk":jwk});
        let jkt = PublicKey::from_jwk(&jwk).unwrap().thumbprint();
        let mut c = claims();
        c["ath"] = json!(access_token_hash("tok"));
        let p = sign(&pair, &h, &c);
        let at = ProofCheck { access_token: Some("tok"), jkt: Some(&jkt), ..check() };
        verify_proof(p.as_bytes(), &at).unwrap();
        let other_token = ProofCheck { access_token: Some("tok2"), ..at };
        assert!(err(verify_proof(p.as_bytes(), &other_token)).contains("ath"));
        let other_key = ProofCheck { jkt: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"), ..at };
        assert!(err(verify_proof(p.as_bytes(), &other_key)).contains("bound"));
        let no_ath = sign(&pair, &h, &claims());
        assert!(err(verify_proof(no_ath.as_bytes(), &at)).contains("no ath"));

        let nonces = ["n1", "n0"];
        let nc = ProofCheck { nonces: &nonces, ..check() };
        assert!(matches!(verify_proof(no_ath.as_bytes(), &nc), Err(DpopError::UseNonce(_))));
        let mut c = claims();
        c["nonce"] = json!("stale");
        assert!(matches!(verify_proof(sign(&pair, &h, &c).as_bytes(), &nc), Err(DpopError::UseNonce(_))));
        c["nonce"] = json!("n0");
        verify_proof(sign(&pair, &h, &c).as_bytes(), &nc).unwrap();
    }

    #[test]
    fn one_header_only() {
        assert_eq!(single_header([]).unwrap(), None);
        assert_eq!(single_header([&b"a"[..]]).unwrap(), Some(&b"a"[..]));
        assert!(single_header([&b"a"[..], &b"b"[..]]).is_err());
    }

    #[test]
    fn htu_normalisation() {
        assert_eq!(normalized_htu("HTTPS://Example.COM:443/a?b#c").as_deref(), Some("https://example.com/a"));
        assert_eq!(normalized_htu("http://example.com:80").as_deref(), Some("http://example.com/"));
        assert_eq!(normalized_htu("http://example.com:8080/x").as_deref(), Some("http://example.com:8080/x"));
        assert_eq!(normalized_htu("ftp://example.com/"), None);
        assert_eq!(normalized_htu("/token"), None);
    }
}
