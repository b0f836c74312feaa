//! Public keys that arrive from outside (RFC 7517): a client's registered JWK Set (RFC 7591
//! `jwks`/`jwks_uri`, for RFC 7523 assertions and RFC 9101 request objects) and the key embedded
//! in a DPoP proof (RFC 9449 §4.2), with the RFC 7638 thumbprint that binds tokens to it, and
//! compact JWS verification with them (RFC 7515 §5.2).
//!
//! The rules every caller gets for free: only asymmetric keys (`oct` and any private member such
//! as `d` are refused, so a public key can never become an HMAC secret, RFC 8725 §3.1); a key's
//! algorithm family is fixed by its `kty`/`crv` (EC P-256 → ES256, RSA ≥ 2048 bits → RS256/PS256,
//! OKP Ed25519 → EdDSA) and narrowed by its `alg` when present; `use` other than `sig` is refused.
//!
//! Adding an algorithm: a [`JwsAlg`] variant, its family in [`PublicKey::allows`], its aws-lc-rs
//! verification in `JwsAlg::verification`.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Map, Value};
use std::fmt;

/// Longest compact JWS looked at, in bytes.
pub const MAX_JWS_LEN: usize = 64 * 1024;

/// Why a key or a JWS was refused. Messages never carry key material or token contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct JwkError(pub &'static str);

/// An asymmetric JWS algorithm (RFC 7518 §3.1, RFC 8037 §3.1). `none` and HMAC have no variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlg {
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// Ed25519.
    EdDSA,
}

impl JwsAlg {
    /// Every variant, in the order metadata lists them.
    pub const ALL: [JwsAlg; 4] = [JwsAlg::ES256, JwsAlg::PS256, JwsAlg::RS256, JwsAlg::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ES256 => "ES256",
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name; `None` for `none`, HMAC and anything unknown.
    pub fn parse(s: &str) -> Option<JwsAlg> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    fn verification(self) -> &'static dyn sig::VerificationAlgorithm {
        match self {
            Self::ES256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::RS256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
            Self::EdDSA => &sig::ED25519,
        }
    }
}

impl fmt::Display for JwsAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Family {
    Ec,
    Rsa,
    Okp,
}

/// A parsed public JWK.
#[derive(Clone)]
pub struct PublicKey {
    kid: Option<String>,
    alg: Option<JwsAlg>,
    family: Family,
    /// The RFC 7638 required members, in lexicographic order, as the thumbprint input.
    canonical: String,
    /// Raw key for aws-lc-rs: an uncompressed EC point, PKCS#1 DER-free RSA components, or the
    /// Ed25519 key.
    raw: Raw,
    /// The key parsed once for its registered (or family's default) alg: verifying with it costs
    /// no parsing (the other RSA alg is parsed on demand).
    parsed: ParsedPublicKey,
}

#[derive(Clone)]
enum Raw {
    Point(Vec<u8>),
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

fn default_alg(family: Family) -> JwsAlg {
    match family {
        Family::Ec => JwsAlg::ES256,
        Family::Rsa => JwsAlg::RS256,
        Family::Okp => JwsAlg::EdDSA,
    }
}

fn family_allows(family: Family, alg: JwsAlg) -> bool {
    matches!(
        (family, alg),
        (Family::Ec, JwsAlg::ES256) | (Family::Rsa, JwsAlg::RS256 | JwsAlg::PS256) | (Family::Okp, JwsAlg::EdDSA)
    )
}

fn parse(raw: &Raw, alg: JwsAlg) -> Result<ParsedPublicKey, JwkError> {
    let rejected = |_| JwkError("the public key was rejected");
    match raw {
        Raw::Point(p) => ParsedPublicKey::new(alg.verification(), p.clone()).map_err(rejected),
        Raw::Rsa { n, e } => {
            let params = match alg {
                JwsAlg::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
                _ => &sig::RSA_PKCS1_2048_8192_SHA256,
            };
            RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.to_parsed_public_key(params).map_err(rejected)
        }
    }
}

const PRIVATE_MEMBERS: [&str; 7] = ["d", "p", "q", "dp", "dq", "qi", "k"];

fn str_member<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, JwkError> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(JwkError("a JWK member is not a string")),
    }
}

fn required<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<&'a str, JwkError> {
    str_member(jwk, name)?.ok_or(JwkError("a required JWK member is missing"))
}

fn b64(s: &str) -> Result<Vec<u8>, JwkError> {
    B64.decode(s).map_err(|_| JwkError("a JWK member is not base64url"))
}

impl PublicKey {
    /// RFC 7517 §4: parses one public JWK (a JSON object).
    pub fn from_jwk(value: &Value) -> Result<PublicKey, JwkError> {
        let jwk = value.as_object().ok_or(JwkError("a JWK is not a JSON object"))?;
        if PRIVATE_MEMBERS.iter().any(|m| jwk.contains_key(*m)) {
            return Err(JwkError("the JWK holds private key material; register only public keys"));
        }
        if str_member(jwk, "use")?.is_some_and(|u| u != "sig") {
            return Err(JwkError("the JWK's use is not sig"));
        }
        let kid = str_member(jwk, "kid")?.map(str::to_owned);
        let alg = match str_member(jwk, "alg")? {
            None => None,
            Some(a) => Some(JwsAlg::parse(a).ok_or(JwkError("the JWK's alg is not an asymmetric JWS algorithm"))?),
        };
        let (family, canonical, raw) = match required(jwk, "kty")? {
            "EC" => {
                let (crv, x, y) = (required(jwk, "crv")?, required(jwk, "x")?, required(jwk, "y")?);
                if crv != "P-256" {
                    return Err(JwkError("only the EC curve P-256 is supported"));
                }
                let (xb, yb) = (b64(x)?, b64(y)?);
                if xb.len() != 32 || yb.len() != 32 {
                    return Err(JwkError("an EC coordinate has the wrong length"));
                }
                let mut point = vec![4];
                point.extend_from_slice(&xb);
                point.extend_from_slice(&yb);
                let c = format!(r#"{{"crv":"{crv}","kty":"EC","x":"{x}","y":"{y}"}}"#);
                (Family::Ec, c, Raw::Point(point))
            }
            "RSA" => {
                let (n, e) = (required(jwk, "n")?, required(jwk, "e")?);
                let (nb, eb) = (b64(n)?, b64(e)?);
                let bits = nb.iter().position(|b| *b != 0).map_or(0, |i| (nb.len() - i) * 8);
                if bits < 2048 {
                    return Err(JwkError("RSA keys must be at least 2048 bits"));
                }
                let c = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
                (Family::Rsa, c, Raw::Rsa { n: nb, e: eb })
            }
            "OKP" => {
                let (crv, x) = (required(jwk, "crv")?, required(jwk, "x")?);
                if crv != "Ed25519" {
                    return Err(JwkError("only the OKP curve Ed25519 is supported"));
                }
                let xb = b64(x)?;
                if xb.len() != 32 {
                    return Err(JwkError("an Ed25519 key has the wrong length"));
                }
                let c = format!(r#"{{"crv":"{crv}","kty":"OKP","x":"{x}"}}"#);
                (Family::Okp, c, Raw::Point(xb))
            }
            "oct" => return Err(JwkError("symmetric (oct) keys are not accepted")),
            _ => return Err(JwkError("unsupported kty")),
        };
        if let Some(a) = alg
            && !family_allows(family, a)
        {
            return Err(JwkError("the JWK's alg does not fit its kty/crv"));
        }
        // Parsed once, here: a key aws-lc-rs refuses is refused at registration, not at use.
        let parsed = parse(&raw, alg.unwrap_or(default_alg(family)))?;
        Ok(PublicKey { kid, alg, family, canonical, raw, parsed })
    }

    fn default_alg(&self) -> JwsAlg {
        default_alg(self.family)
    }

    fn family_allows(&self, alg: JwsAlg) -> bool {
        family_allows(self.family, alg)
    }

    /// May this key verify `alg`? Its family must fit, and its registered `alg` (if any) match.
    pub fn allows(&self, alg: JwsAlg) -> bool {
        self.family_allows(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// RFC 7517 §4.5: the key id, if the JWK has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// RFC 7638 §3: the base64url SHA-256 thumbprint (DPoP `jkt`, RFC 9449 §6.1).
    pub fn thumbprint(&self) -> String {
        B64.encode(digest::digest(&digest::SHA256, self.canonical.as_bytes()))
    }

    /// Verifies a signature made with `alg` (which this key must [allow](Self::allows)).
    pub fn verify(&self, alg: JwsAlg, signing_input: &[u8], signature: &[u8]) -> Result<(), JwkError> {
        if !self.allows(alg) {
            return Err(JwkError("the JWS alg is not allowed for this key"));
        }
        let bad = |_| JwkError("bad JWS signature");
        if alg == self.alg.unwrap_or(self.default_alg()) {
            self.parsed.verify_sig(signing_input, signature).map_err(bad)
        } else {
            parse(&self.raw, alg)?.verify_sig(signing_input, signature).map_err(bad)
        }
    }
}

/// RFC 7517 §5: a JWK Set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<PublicKey>,
}

impl KeySet {
    /// Parses `{"keys": [...]}`; every key must be valid, and `kid`s unique.
    pub fn from_jwks(value: &Value) -> Result<KeySet, JwkError> {
        let keys = value
            .get("keys")
            .and_then(Value::as_array)
            .ok_or(JwkError("a JWK Set is an object with a \"keys\" array"))?;
        let keys = keys.iter().map(PublicKey::from_jwk).collect::<Result<Vec<_>, _>>()?;
        for (i, k) in keys.iter().enumerate() {
            if k.kid.is_some() && keys[..i].iter().any(|o| o.kid == k.kid) {
                return Err(JwkError("two keys in the JWK Set share a kid"));
            }
        }
        Ok(KeySet { keys })
    }

    /// The keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.keys
    }

    /// Has the set a key with this `kid`?
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verifies `jws` with the key its header names (`kid`), or, without a `kid`, with the one key
    /// that allows its `alg` (several such keys without a `kid` is ambiguous and refused).
    pub fn verify(&self, jws: &Jws) -> Result<(), JwkError> {
        let alg = jws.alg()?;
        let key = match jws.kid() {
            Some(kid) => self.keys.iter().find(|k| k.kid.as_deref() == Some(kid)).ok_or(JwkError("unknown kid"))?,
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.allows(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(k), None) => k,
                    (None, _) => return Err(JwkError("no registered key fits the JWS alg")),
                    (Some(_), Some(_)) => return Err(JwkError("the JWS has no kid and several keys fit")),
                }
            }
        };
        jws.verify_with(key)
    }
}

/// A compact JWS split and decoded but NOT yet verified (RFC 7515 §7.1): look at the header to
/// choose the key, then [`verify_with`](Self::verify_with) or [`KeySet::verify`] before trusting
/// the claims.
pub struct Jws {
    header: Map<String, Value>,
    claims: Value,
    signing_input_len: usize,
    token: String,
    signature: Vec<u8>,
}

impl fmt::Debug for Jws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jws").field("alg", &self.header.get("alg")).finish_non_exhaustive()
    }
}

impl Jws {
    /// Splits and decodes a compact JWS: three base64url segments, a JSON-object header without
    /// `crit` (RFC 7515 §4.1.11), a JSON-object payload.
    pub fn decode(token: &str) -> Result<Jws, JwkError> {
        if token.len() > MAX_JWS_LEN {
            return Err(JwkError("the JWS is too long"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwkError("a compact JWS has three segments"));
        };
        let dec = |seg: &str| B64.decode(seg).map_err(|_| JwkError("a JWS segment is not base64url"));
        let header: Map<String, Value> =
            serde_json::from_slice(&dec(h)?).map_err(|_| JwkError("the JWS header is not a JSON object"))?;
        if header.contains_key("crit") {
            return Err(JwkError("the JWS crit header is not supported"));
        }
        let claims: Value = serde_json::from_slice(&dec(p)?).map_err(|_| JwkError("the JWS payload is not JSON"))?;
        if !claims.is_object() {
            return Err(JwkError("the JWS payload is not a JSON object"));
        }
        let signature = dec(s)?;
        Ok(Jws { header, claims, signing_input_len: h.len() + 1 + p.len(), token: token.to_owned(), signature })
    }

    /// The protected header.
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// A string header parameter.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// RFC 7515 §4.1.1: the `alg`, which must be an asymmetric one (never `none` or HMAC).
    pub fn alg(&self) -> Result<JwsAlg, JwkError> {
        self.header_str("alg").and_then(JwsAlg::parse).ok_or(JwkError("the JWS alg is missing, none, or not supported"))
    }

    /// RFC 7515 §4.1.4: the `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.header_str("kid")
    }

    /// RFC 7515 §4.1.9: the `typ`.
    pub fn typ(&self) -> Option<&str> {
        self.header_str("typ")
    }

    /// The payload (unverified until a `verify` call succeeded).
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// The signing input (`header.payload`) and the signature, for HMAC checks done elsewhere.
    pub fn signed_parts(&self) -> (&[u8], &[u8]) {
        (&self.token.as_bytes()[..self.signing_input_len], &self.signature)
    }

    /// Verifies the signature with `key` under the header's `alg`.
    pub fn verify_with(&self, key: &PublicKey) -> Result<(), JwkError> {
        let (input, sig) = self.signed_parts();
        key.verify(self.alg()?, input, sig)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    /// A fresh P-256 key pair and its public JWK (also used by the `dpop` tests).
    pub(crate) fn es256() -> (EcdsaKeyPair, Value) {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty":"EC","crv":"P-256","x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        (pair, jwk)
    }

    /// A compact ES256 JWS of `header` and `claims`.
    pub(crate) fn sign(pair: &EcdsaKeyPair, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    #[test]
    fn rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = json!({"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"});
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap().thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn verifies_and_refuses() {
        let (pair, jwk) = es256();
        let key = PublicKey::from_jwk(&jwk).unwrap();
        let t = sign(&pair, &json!({"alg":"ES256","typ":"dpop+jwt"}), &json!({"a":1}));
        let jws = Jws::decode(&t).unwrap();
        jws.verify_with(&key).unwrap();
        assert_eq!(jws.typ(), Some("dpop+jwt"));
        // alg none, HMAC, an RSA alg on an EC key.
        for alg in ["none", "HS256", "RS256"] {
            let t = sign(&pair, &json!({"alg":alg}), &json!({"a":1}));
            assert!(Jws::decode(&t).unwrap().verify_with(&key).is_err(), "{alg}");
        }
        // Tampered payload.
        let mut parts: Vec<&str> = t.split('.').collect();
        let other = B64.encode(r#"{"a":2}"#);
        parts[1] = &other;
        assert!(Jws::decode(&parts.join(".")).unwrap().verify_with(&key).is_err());
    }

    #[test]
    fn refuses_private_symmetric_and_mismatched_keys() {
        let (_, mut jwk) = es256();
        jwk["d"] = json!("AAAA");
        assert!(PublicKey::from_jwk(&jwk).is_err());
        assert!(PublicKey::from_jwk(&json!({"kty":"oct","k":"c2VjcmV0"})).is_err());
        let (_, mut jwk) = es256();
        jwk["alg"] = json!("RS256");
        assert!(PublicKey::from_jwk(&jwk).is_err());
        let (_, mut jwk) = es256();
        jwk["use"] = json!("enc");
        assert!(PublicKey::from_jwk(&jwk).is_err());
    }

    #[test]
    fn key_sets_choose_by_kid_or_single_fit() {
        let (p1, mut j1) = es256();
        let (p2, mut j2) = es256();
        j1["kid"] = json!("one");
        j2["kid"] = json!("two");
        let set = KeySet::from_jwks(&json!({"keys":[j1.clone(), j2]})).unwrap();
        let t = sign(&p2, &json!({"alg":"ES256","kid":"two"}), &json!({}));
        set.verify(&Jws::decode(&t).unwrap()).unwrap();
        let t = sign(&p1, &json!({"alg":"ES256","kid":"two"}), &json!({}));
        assert!(set.verify(&Jws::decode(&t).unwrap()).is_err());
        let t = sign(&p1, &json!({"alg":"ES256"}), &json!({}));
        assert!(set.verify(&Jws::decode(&t).unwrap()).is_err(), "ambiguous without kid");
        let single = KeySet::from_jwks(&json!({"keys":[j1]})).unwrap();
        single.verify(&Jws::decode(&t).unwrap()).unwrap();
        assert!(KeySet::from_jwks(&json!({"keys":[{"kty":"EC"}]})).is_err());
    }
}
