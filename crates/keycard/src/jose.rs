//! JOSE and at-rest cryptography: signing keys, public JWKs, compact JWS sign/verify, AES-GCM
//! sealing of private keys, HKDF sub-keys, keyed hashes and random tokens. Pure functions, no I/O.
//!
//! To add a signing algorithm: add an [`Alg`] variant, a `Pair` variant in [`SigningKey`], a
//! `JwkParams` variant, and the matching arm in `VerifyingKeys::parse_jwk`; the compiler lists the
//! remaining `match`es. Error messages must never carry key material or token contents.

use std::{fmt, str::FromStr};

use aws_lc_rs::{
    aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey},
    encoding::{AsDer, Pkcs8V1Der},
    hkdf, hmac, pkcs8, rand,
    signature::{
        self, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey, RsaKeyPair,
        RsaPublicKeyComponents,
    },
};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD as B64};
use serde::{Deserialize, Serialize};

/// Longest compact JWS [`VerifyingKeys::verify`] will look at, in bytes.
pub const MAX_JWS_LEN: usize = 64 * 1024;
const SEAL_VERSION: u8 = 1;
const RSA_MIN_MODULUS_LEN: usize = 256;

/// Errors from this module; messages never include key material or token contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JoseError {
    /// RFC 7518 §3.1: the `alg` value is not one this server uses.
    #[error("unsupported algorithm; allowed values are ES256, RS256, EdDSA")]
    UnsupportedAlg,
    /// The key could not be generated.
    #[error("key generation failed")]
    KeyGeneration,
    /// A private or public key was rejected (wrong type for its `alg`, too small, malformed).
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    /// Signing or serializing the JWS failed.
    #[error("signing failed: {0}")]
    Signing(&'static str),
    /// The token is not a well-formed compact JWS (RFC 7515 §7.1).
    #[error("malformed JWS: {0}")]
    Malformed(&'static str),
    /// RFC 7515 §4.1.4: the header has no `kid`.
    #[error("JWS header has no kid")]
    MissingKid,
    /// No key in the set has the header's `kid`.
    #[error("unknown kid")]
    UnknownKid,
    /// RFC 8725 §3.1: the header `alg` is not the key's algorithm.
    #[error("JWS alg not allowed for this key")]
    AlgNotAllowed,
    /// RFC 7515 §4.1.11: a `crit` header is present and no extensions are understood.
    #[error("JWS crit header not supported")]
    CritUnsupported,
    /// RFC 7515 §5.2: the signature does not verify.
    #[error("bad JWS signature")]
    BadSignature,
    /// Encryption failed.
    #[error("seal failed")]
    Seal,
    /// Decryption failed: wrong key, wrong aad, corrupted or unknown-version input.
    #[error("open failed")]
    Open,
}

/// RFC 7518 §3.1 / RFC 8037 §3.1: a JWS signing algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Alg {
    /// RFC 7518 §3.4: ECDSA P-256 with SHA-256.
    ES256,
    /// RFC 7518 §3.3: RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RFC 8037 §3.1: EdDSA with Ed25519.
    EdDSA,
}

impl Alg {
    /// RFC 7518 §3.1: the `alg` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::ES256 => "ES256",
            Alg::RS256 => "RS256",
            Alg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = JoseError;
    fn from_str(s: &str) -> Result<Self, JoseError> {
        match s {
            "ES256" => Ok(Alg::ES256),
            "RS256" => Ok(Alg::RS256),
            "EdDSA" => Ok(Alg::EdDSA),
            _ => Err(JoseError::UnsupportedAlg),
        }
    }
}

enum Pair {
    Es256(EcdsaKeyPair),
    Rs256(RsaKeyPair),
    EdDsa(Ed25519KeyPair),
}

/// RFC 7515 §5.1: a parsed private signing key, ready to sign without re-parsing.
pub struct SigningKey {
    kid: String,
    alg: Alg,
    pair: Pair,
    jwk: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish()
    }
}

/// RFC 5208 §5: PKCS#8 DER of a private key; zeroed when dropped.
pub struct PrivateKeyDer(PrivateDerInner);

enum PrivateDerInner {
    Document(pkcs8::Document),
    Der(Pkcs8V1Der<'static>),
}

impl AsRef<[u8]> for PrivateKeyDer {
    fn as_ref(&self) -> &[u8] {
        match &self.0 {
            PrivateDerInner::Document(d) => d.as_ref(),
            PrivateDerInner::Der(d) => d.as_ref(),
        }
    }
}

impl fmt::Debug for PrivateKeyDer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKeyDer(<redacted>)")
    }
}

impl SigningKey {
    /// RFC 7518 §3.3/§3.4, RFC 8037 §3.1: a fresh key (P-256, RSA-2048 or Ed25519).
    pub fn generate(alg: Alg, kid: String) -> Result<Self, JoseError> {
        let pair = match alg {
            Alg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map(Pair::Es256),
            Alg::RS256 => RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map(Pair::Rs256),
            Alg::EdDSA => Ed25519KeyPair::generate().map(Pair::EdDsa),
        }
        .map_err(|_| JoseError::KeyGeneration)?;
        Self::new(alg, kid, pair)
    }

    /// RFC 5208 §5: parse a PKCS#8 private key, which must match `alg`.
    pub fn from_pkcs8(alg: Alg, kid: String, der: &[u8]) -> Result<Self, JoseError> {
        let bad = |_| JoseError::InvalidKey("PKCS#8 does not hold a key for this alg");
        let pair = match alg {
            Alg::ES256 => Pair::Es256(EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der).map_err(bad)?),
            Alg::RS256 => Pair::Rs256(RsaKeyPair::from_pkcs8(der).map_err(bad)?),
            Alg::EdDSA => Pair::EdDsa(Ed25519KeyPair::from_pkcs8(der).map_err(bad)?),
        };
        Self::new(alg, kid, pair)
    }

    fn new(alg: Alg, kid: String, pair: Pair) -> Result<Self, JoseError> {
        let params = match &pair {
            Pair::Es256(p) => match p.public_key().as_ref() {
                [4, xy @ ..] if xy.len() == 64 => {
                    JwkParams::Ec { crv: "P-256".into(), x: B64.encode(&xy[..32]), y: B64.encode(&xy[32..]) }
                }
                _ => return Err(JoseError::InvalidKey("unexpected EC point encoding")),
            },
            Pair::Rs256(p) => {
                if p.public_modulus_len() < RSA_MIN_MODULUS_LEN {
                    return Err(JoseError::InvalidKey("RSA modulus shorter than 2048 bits"));
                }
                let c = RsaPublicKeyComponents::<Vec<u8>>::from(p.public_key());
                JwkParams::Rsa { n: B64.encode(&c.n), e: B64.encode(&c.e) }
            }
            Pair::EdDsa(p) => JwkParams::Okp { crv: "Ed25519".into(), x: B64.encode(p.public_key().as_ref()) },
        };
        let jwk = PublicJwk { params, kid: kid.clone(), key_use: KeyUse::Sig, alg };
        Ok(SigningKey { kid, alg, pair, jwk })
    }

    /// RFC 5208 §5: PKCS#8 v1 DER of the private key (zeroed on drop).
    pub fn to_pkcs8(&self) -> Result<PrivateKeyDer, JoseError> {
        let inner = match &self.pair {
            Pair::Es256(p) => p.to_pkcs8v1().map(PrivateDerInner::Document),
            Pair::Rs256(p) => AsDer::<Pkcs8V1Der>::as_der(p).map(PrivateDerInner::Der),
            Pair::EdDsa(p) => p.to_pkcs8v1().map(PrivateDerInner::Document),
        }
        .map_err(|_| JoseError::InvalidKey("PKCS#8 export failed"))?;
        Ok(PrivateKeyDer(inner))
    }

    /// RFC 7517 §4.5: the key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// RFC 7517 §4.4: the key's algorithm.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// RFC 7517 §4: the public half as a JWK.
    pub fn public_jwk(&self) -> PublicJwk {
        self.jwk.clone()
    }

    /// RFC 7515 §7.1 + RFC 7519 §7.1: sign `claims` as a compact JWS with header {alg, typ, kid}.
    pub fn sign_jwt(&self, typ: &str, claims: &impl Serialize) -> Result<String, JoseError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: Alg,
            typ: &'a str,
            kid: &'a str,
        }
        let ser = |_| JoseError::Signing("serialization failed");
        let header = serde_json::to_vec(&Header { alg: self.alg, typ, kid: &self.kid }).map_err(ser)?;
        let payload = serde_json::to_vec(claims).map_err(ser)?;
        let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 360);
        B64.encode_string(&header, &mut out);
        out.push('.');
        B64.encode_string(&payload, &mut out);
        let msg = out.as_bytes();
        let sig_err = |_| JoseError::Signing("signature operation failed");
        let rng = rand::SystemRandom::new();
        let sig: Vec<u8> = match &self.pair {
            Pair::Es256(p) => p.sign(&rng, msg).map_err(sig_err)?.as_ref().to_vec(),
            Pair::Rs256(p) => {
                let mut sig = vec![0; p.public_modulus_len()];
                p.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig).map_err(sig_err)?;
                sig
            }
            Pair::EdDsa(p) => p.try_sign(msg).map_err(sig_err)?.as_ref().to_vec(),
        };
        out.push('.');
        B64.encode_string(&sig, &mut out);
        Ok(out)
    }
}

/// RFC 7517 §4.2: public key use; only "sig" is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum KeyUse {
    #[serde(rename = "sig")]
    Sig,
}

/// RFC 7518 §6.2.1, §6.3.1 and RFC 8037 §2: key-type specific public parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kty")]
enum JwkParams {
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
    #[serde(rename = "OKP")]
    Okp { crv: String, x: String },
}

/// RFC 7517 §4 / RFC 7518 §6 / RFC 8037 §2: a public signing JWK with kid, alg and use="sig".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicJwk {
    #[serde(flatten)]
    params: JwkParams,
    kid: String,
    #[serde(rename = "use")]
    key_use: KeyUse,
    alg: Alg,
}

impl PublicJwk {
    /// RFC 7517 §4.5: the key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// RFC 7517 §4.4: the algorithm the key is used with.
    pub fn alg(&self) -> Alg {
        self.alg
    }
}

/// RFC 7517 §5: a JWK Set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    /// RFC 7517 §5.1: the keys.
    pub keys: Vec<PublicJwk>,
}

/// RFC 7515 §4.1: the JOSE header parameters of a verified JWS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsHeader {
    /// RFC 7515 §4.1.1: always the verifying key's algorithm.
    pub alg: Alg,
    /// RFC 7515 §4.1.4: the key id.
    pub kid: String,
    /// RFC 7515 §4.1.9: media type, e.g. "at+jwt".
    pub typ: Option<String>,
}

/// RFC 7515 §5.2: the result of a successful verification.
#[derive(Debug, Clone)]
pub struct Verified {
    /// RFC 7515 §4: the protected header.
    pub header: JwsHeader,
    /// RFC 7519 §4: the payload, always a JSON object.
    pub claims: serde_json::Value,
}

/// RFC 7515 §5.2: public keys parsed once, for cheap repeated verification.
pub struct VerifyingKeys {
    keys: Vec<(String, Alg, ParsedPublicKey)>,
}

impl fmt::Debug for VerifyingKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter().map(|(kid, alg, _)| (kid, alg))).finish()
    }
}

fn b64_exact<const N: usize>(s: &str) -> Result<[u8; N], JoseError> {
    let v = B64.decode(s).map_err(|_| JoseError::InvalidKey("bad base64url coordinate"))?;
    v.try_into().map_err(|_| JoseError::InvalidKey("coordinate has the wrong length"))
}

impl VerifyingKeys {
    /// RFC 7517 §5: parse a JWK set; fails on any invalid key or duplicate kid.
    pub fn new(jwks: &[PublicJwk]) -> Result<Self, JoseError> {
        let mut keys: Vec<(String, Alg, ParsedPublicKey)> = Vec::with_capacity(jwks.len());
        for jwk in jwks {
            if keys.iter().any(|(kid, _, _)| *kid == jwk.kid) {
                return Err(JoseError::InvalidKey("duplicate kid in key set"));
            }
            keys.push((jwk.kid.clone(), jwk.alg, Self::parse_jwk(jwk)?));
        }
        Ok(VerifyingKeys { keys })
    }

    fn parse_jwk(jwk: &PublicJwk) -> Result<ParsedPublicKey, JoseError> {
        let rejected = |_| JoseError::InvalidKey("public key rejected");
        match (&jwk.params, jwk.alg) {
            (JwkParams::Ec { crv, x, y }, Alg::ES256) if crv == "P-256" => {
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&b64_exact::<32>(x)?);
                point.extend_from_slice(&b64_exact::<32>(y)?);
                ParsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).map_err(rejected)
            }
            (JwkParams::Rsa { n, e }, Alg::RS256) => {
                let bad = |_| JoseError::InvalidKey("bad base64url RSA parameter");
                let n = B64.decode(n).map_err(bad)?;
                let e = B64.decode(e).map_err(bad)?;
                if n.len() < RSA_MIN_MODULUS_LEN {
                    return Err(JoseError::InvalidKey("RSA modulus shorter than 2048 bits"));
                }
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&signature::RSA_PKCS1_2048_8192_SHA256)
                    .map_err(rejected)
            }
            (JwkParams::Okp { crv, x }, Alg::EdDSA) if crv == "Ed25519" => {
                ParsedPublicKey::new(&signature::ED25519, b64_exact::<32>(x)?).map_err(rejected)
            }
            _ => Err(JoseError::InvalidKey("kty/crv do not match alg")),
        }
    }

    /// RFC 7515 §5.2 + RFC 8725 §3.1: verify a compact JWS; the key (by kid) fixes the algorithm.
    pub fn verify(&self, token: &str) -> Result<Verified, JoseError> {
        if token.len() > MAX_JWS_LEN {
            return Err(JoseError::Malformed("longer than MAX_JWS_LEN"));
        }
        let mut parts = token.split('.');
        let (Some(h64), Some(p64), Some(s64), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JoseError::Malformed("expected three segments"));
        };
        let decode = |seg: &str| B64.decode(seg).map_err(|_| JoseError::Malformed("bad base64url"));
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&decode(h64)?).map_err(|_| JoseError::Malformed("header is not a JSON object"))?;
        if header.contains_key("crit") {
            return Err(JoseError::CritUnsupported);
        }
        let param = |name: &str| match header.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(v)) => Ok(Some(v)),
            Some(_) => Err(JoseError::Malformed("header parameter is not a string")),
        };
        let kid = param("kid")?.ok_or(JoseError::MissingKid)?;
        let (kid, alg, key) = self.keys.iter().find(|(k, _, _)| k == kid).ok_or(JoseError::UnknownKid)?;
        if param("alg").ok().flatten().map(String::as_str) != Some(alg.as_str()) {
            return Err(JoseError::AlgNotAllowed);
        }
        let typ = param("typ")?.cloned();
        let signing_input = &token.as_bytes()[..h64.len() + 1 + p64.len()];
        key.verify_sig(signing_input, &decode(s64)?).map_err(|_| JoseError::BadSignature)?;
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(p64)?).map_err(|_| JoseError::Malformed("payload is not JSON"))?;
        if !claims.is_object() {
            return Err(JoseError::Malformed("payload is not a JSON object"));
        }
        let header = JwsHeader { alg: *alg, kid: kid.clone(), typ };
        Ok(Verified { header, claims })
    }
}

/// RFC 7515 §5.2: one-shot verification; prefer a long-lived [`VerifyingKeys`] on hot paths.
pub fn verify_jwt(token: &str, keys: &[PublicJwk]) -> Result<Verified, JoseError> {
    VerifyingKeys::new(keys)?.verify(token)
}

/// NIST SP 800-38D (AES-256-GCM, RFC 5116 §5.2): seal as version || 96-bit nonce || ciphertext+tag.
pub fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, JoseError> {
    let k = RandomizedNonceKey::new(&AES_256_GCM, key).map_err(|_| JoseError::Seal)?;
    let mut ct = plaintext.to_vec();
    let nonce = k.seal_in_place_append_tag(Aad::from(aad), &mut ct).map_err(|_| JoseError::Seal)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(SEAL_VERSION);
    let nonce: &[u8; NONCE_LEN] = nonce.as_ref();
    out.extend_from_slice(nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// RFC 5116 §2.2: open the output of [`seal`]; fails on wrong key, wrong aad or any altered byte.
pub fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, JoseError> {
    let Some((&SEAL_VERSION, rest)) = sealed.split_first() else {
        return Err(JoseError::Open);
    };
    if rest.len() < NONCE_LEN + AES_256_GCM.tag_len() {
        return Err(JoseError::Open);
    }
    let (nonce, ct) = rest.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| JoseError::Open)?;
    let k = RandomizedNonceKey::new(&AES_256_GCM, key).map_err(|_| JoseError::Open)?;
    let mut buf = ct.to_vec();
    let len = k.open_in_place(nonce, Aad::from(aad), &mut buf).map_err(|_| JoseError::Open)?.len();
    buf.truncate(len);
    Ok(buf)
}

/// RFC 5869 §2 (HKDF-SHA256, no salt): a 32-byte sub-key of `secret` for the purpose `info`.
pub fn derive_key(secret: &[u8], info: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    hkdf::Salt::new(hkdf::HKDF_SHA256, &[])
        .extract(secret)
        .expand(&[info], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out))
        .expect("HKDF-SHA256 expand to 32 bytes cannot fail");
    out
}

/// RFC 2104 (HMAC-SHA-256): keyed hash of a secret, as base64url without padding.
pub fn keyed_hash(key: &[u8; 32], value: &[u8]) -> String {
    B64.encode(hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), value))
}

/// RFC 2104: does `stored` equal [`keyed_hash`] of `value`? Constant time over the digests.
pub fn keyed_hash_matches(key: &[u8; 32], value: &[u8], stored: &str) -> bool {
    let Ok(tag) = B64.decode(stored) else {
        return false;
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, key), value, &tag).is_ok()
}

/// RFC 4086 §7: `N` cryptographically random bytes from the system CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::fill(&mut out).expect("system CSPRNG failed");
    out
}

/// RFC 4648 §5: `n_bytes` random bytes as base64url without padding (ids, secrets, jti).
pub fn random_token(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    rand::fill(&mut buf).expect("system CSPRNG failed");
    B64.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const ALGS: [Alg; 3] = [Alg::ES256, Alg::RS256, Alg::EdDSA];

    macro_rules! refuses {
        ($keys:expr, $t:expr, $p:pat) => {
            let r = $keys.verify(&$t);
            assert!(matches!(r, Err($p)), "{r:?}");
        };
    }

    fn key(alg: Alg) -> SigningKey {
        SigningKey::generate(alg, format!("k-{alg}")).unwrap()
    }

    fn b64json(v: &Value) -> String {
        B64.encode(serde_json::to_vec(v).unwrap())
    }

    fn field(j: &Value, name: &str) -> String {
        j[name].as_str().unwrap_or_default().to_string()
    }

    /// Signs arbitrary `header.payload` with `k`, to forge tokens with hostile headers.
    fn sign_raw(k: &SigningKey, header: Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64json(&header), b64json(claims));
        let rng = rand::SystemRandom::new();
        let sig = match &k.pair {
            Pair::Es256(p) => p.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Pair::Rs256(p) => {
                let mut s = vec![0; p.public_modulus_len()];
                let enc = &signature::RSA_PKCS1_SHA256;
                p.sign(enc, &rng, input.as_bytes(), &mut s).unwrap();
                s
            }
            Pair::EdDsa(p) => p.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", B64.encode(sig))
    }

    #[test]
    fn sign_verify_round_trip_each_alg() {
        for alg in ALGS {
            let k = key(alg);
            let claims = json!({"sub": "alice", "n": 1});
            let t = k.sign_jwt("at+jwt", &claims).unwrap();
            let v = verify_jwt(&t, &[k.public_jwk()]).unwrap();
            assert_eq!(v.claims, claims);
            let typ = Some("at+jwt".to_string());
            assert_eq!(v.header, JwsHeader { alg, kid: k.kid().into(), typ });
            let raw = B64.decode(t.split('.').next().unwrap()).unwrap();
            let raw: Value = serde_json::from_slice(&raw).unwrap();
            assert_eq!(raw, json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": k.kid()}));
        }
    }

    #[test]
    fn pkcs8_round_trip_and_jwk_shapes() {
        for alg in ALGS {
            let k = key(alg);
            let der = k.to_pkcs8().unwrap();
            let k2 = SigningKey::from_pkcs8(alg, k.kid().into(), der.as_ref()).unwrap();
            assert_eq!(k.public_jwk(), k2.public_jwk());
            let t = k2.sign_jwt("JWT", &json!({})).unwrap();
            verify_jwt(&t, &[k.public_jwk()]).unwrap();
            let j = serde_json::to_value(k.public_jwk()).unwrap();
            let len = |f: &str| B64.decode(field(&j, f)).unwrap().len();
            let (kty, crv, alg_s) = (field(&j, "kty"), field(&j, "crv"), field(&j, "alg"));
            assert_eq!((field(&j, "use").as_str(), alg_s.as_str()), ("sig", alg.as_str()));
            match alg {
                Alg::ES256 => {
                    assert_eq!((&*kty, &*crv, len("x"), len("y")), ("EC", "P-256", 32, 32))
                }
                Alg::RS256 => assert_eq!((&*kty, len("n"), &*field(&j, "e")), ("RSA", 256, "AQAB")),
                Alg::EdDSA => assert_eq!((&*kty, &*crv, len("x")), ("OKP", "Ed25519", 32)),
            }
            assert_eq!(serde_json::from_value::<PublicJwk>(j).unwrap(), k.public_jwk());
            let other = if alg == Alg::ES256 { Alg::EdDSA } else { Alg::ES256 };
            assert!(SigningKey::from_pkcs8(other, "x".into(), der.as_ref()).is_err());
        }
    }

    #[test]
    fn es256_signature_is_fixed_r_s() {
        let k = key(Alg::ES256);
        let t = k.sign_jwt("JWT", &json!({"a": 1})).unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let sig = B64.decode(sig).unwrap();
        assert_eq!(sig.len(), 64);
        let j = serde_json::to_value(k.public_jwk()).unwrap();
        let mut point = vec![4u8];
        point.extend(B64.decode(field(&j, "x")).unwrap());
        point.extend(B64.decode(field(&j, "y")).unwrap());
        let pk = signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &point);
        pk.verify(input.as_bytes(), &sig).unwrap();
    }

    #[test]
    fn tampering_and_bad_headers_are_refused() {
        for alg in ALGS {
            let (k, a) = (key(alg), alg.as_str());
            let keys = VerifyingKeys::new(&[k.public_jwk()]).unwrap();
            let claims = json!({"sub": "alice"});
            let t = k.sign_jwt("JWT", &claims).unwrap();
            let p: Vec<&str> = t.split('.').collect();
            let forged = b64json(&json!({"sub": "mallory"}));
            refuses!(keys, format!("{}.{forged}.{}", p[0], p[2]), JoseError::BadSignature);
            let mut sig = B64.decode(p[2]).unwrap();
            sig[10] ^= 1;
            let bad_sig = format!("{}.{}.{}", p[0], p[1], B64.encode(&sig));
            refuses!(keys, bad_sig, JoseError::BadSignature);
            let kid = k.kid();
            let none = format!("{}.{}.", b64json(&json!({"alg": "none", "kid": kid})), p[1]);
            refuses!(keys, none, JoseError::AlgNotAllowed);
            // HS256 with the public key as the HMAC secret.
            let input = format!("{}.{}", b64json(&json!({"alg": "HS256", "kid": kid})), p[1]);
            let secret = serde_json::to_vec(&k.public_jwk()).unwrap();
            let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), input.as_bytes());
            refuses!(keys, format!("{input}.{}", B64.encode(mac)), JoseError::AlgNotAllowed);
            // Validly signed, but the header alg is not the key's.
            let other = if alg == Alg::RS256 { "ES256" } else { "RS256" };
            let t = sign_raw(&k, json!({"alg": other, "kid": kid}), &claims);
            refuses!(keys, t, JoseError::AlgNotAllowed);
            let t = sign_raw(&k, json!({"alg": a, "kid": "nope"}), &claims);
            refuses!(keys, t, JoseError::UnknownKid);
            refuses!(keys, sign_raw(&k, json!({"alg": a}), &claims), JoseError::MissingKid);
            let h = json!({"alg": a, "kid": kid, "crit": ["exp"], "exp": 1});
            refuses!(keys, sign_raw(&k, h, &claims), JoseError::CritUnsupported);
            let t = sign_raw(&k, json!({"alg": a, "kid": kid}), &json!([1]));
            refuses!(keys, t, JoseError::Malformed(_));
            let t = sign_raw(&k, json!({"alg": a, "kid": kid}), &claims);
            assert!(keys.verify(&t).is_ok());
            let same_kid = SigningKey::generate(alg, kid.into()).unwrap();
            assert!(verify_jwt(&t, &[same_kid.public_jwk()]).is_err());
        }
    }

    #[test]
    fn key_sets_reject_inconsistent_jwks() {
        let k = key(Alg::ES256);
        assert!(VerifyingKeys::new(&[k.public_jwk(), k.public_jwk()]).is_err());
        let mut j = k.public_jwk();
        j.alg = Alg::EdDSA;
        assert!(VerifyingKeys::new(&[j]).is_err());
        let mut j = serde_json::to_value(k.public_jwk()).unwrap();
        j["x"] = json!(B64.encode([1u8; 32]));
        let j: PublicJwk = serde_json::from_value(j).unwrap();
        assert!(VerifyingKeys::new(&[j]).is_err(), "point not on curve");
        let j = json!({"kty": "OKP", "crv": "Ed25519", "x": "AA", "kid": "a", "use": "enc", "alg": "EdDSA"});
        assert!(serde_json::from_value::<PublicJwk>(j).is_err());
        let err = "HS256".parse::<Alg>().unwrap_err();
        assert!(err.to_string().contains("ES256, RS256, EdDSA"));
        assert_eq!("EdDSA".parse::<Alg>().unwrap(), Alg::EdDSA);
    }

    #[test]
    fn garbage_never_panics() {
        let keys = VerifyingKeys::new(&ALGS.map(|a| key(a).public_jwk())).unwrap();
        let big = "A".repeat(MAX_JWS_LEN / 2);
        let bad_utf8 = B64.encode([0xff, 0xfe, 0x80]);
        let deep = B64.encode("[".repeat(10_000));
        let hdr = |a: &str| b64json(&json!({"alg": a, "kid": format!("k-{a}")}));
        let mut inputs: Vec<String> = "|.|..|...|a.b|a.b.c|a.b.c.d|%%.%%.%%|eyJ9.e30.|e30.e30.\
            |bnVsbA.e30.|W10.e30.AAAA|eyJhbGciOiJFUzI1NiJ9..|é.ü.ß"
            .split('|')
            .map(String::from)
            .collect();
        inputs.extend([
            format!("{big}.{big}.{big}"),
            format!("{big}{big}{big}.e30.e30"),
            format!("{bad_utf8}.{bad_utf8}.{bad_utf8}"),
            format!("{deep}.e30.AA"),
            format!("{}.{bad_utf8}.AA", hdr("ES256")),
            format!("{}.e30.{big}", hdr("RS256")),
            format!("{}.e30.=", hdr("EdDSA")),
            format!("{}.e30.AA", b64json(&json!({"alg": 7, "kid": ["k-ES256"], "typ": 1}))),
        ]);
        for t in &inputs {
            assert!(keys.verify(t).is_err(), "accepted garbage");
            assert!(verify_jwt(t, &[]).is_err());
        }
        for s in [&b""[..], &[1u8][..], &[1u8; 28][..], &[0u8; 100][..]] {
            assert!(open(&[0; 32], b"", s).is_err());
        }
        assert!(!keyed_hash_matches(&[0; 32], b"x", "%%%"));
        assert!(!keyed_hash_matches(&[0; 32], b"x", ""));
    }

    #[test]
    fn seal_open() {
        let (key, msg) = (random_bytes::<32>(), b"private key bytes");
        let sealed = seal(&key, b"kid-1", msg).unwrap();
        assert_eq!((sealed[0], sealed.len()), (SEAL_VERSION, 1 + 12 + msg.len() + 16));
        assert_eq!(open(&key, b"kid-1", &sealed).unwrap(), msg);
        assert_ne!(seal(&key, b"kid-1", msg).unwrap(), sealed, "fresh nonce");
        assert!(matches!(open(&random_bytes(), b"kid-1", &sealed), Err(JoseError::Open)));
        assert!(open(&key, b"kid-2", &sealed).is_err());
        for i in 0..sealed.len() {
            let mut s = sealed.clone();
            s[i] ^= 0x01;
            assert!(open(&key, b"kid-1", &s).is_err(), "bit flip at {i}");
        }
        assert!(open(&key, b"", &seal(&key, b"", b"").unwrap()).unwrap().is_empty());
    }

    #[test]
    fn derive_hash_random() {
        let a = derive_key(b"secret", b"keycard key-encryption v1");
        assert_eq!(a, derive_key(b"secret", b"keycard key-encryption v1"));
        assert_ne!(a, derive_key(b"secret", b"keycard token-hash v1"));
        assert_ne!(a, derive_key(b"secret2", b"keycard key-encryption v1"));
        let h = keyed_hash(&a, b"client-secret");
        assert_eq!(h.len(), 43);
        assert!(keyed_hash_matches(&a, b"client-secret", &h));
        assert!(!keyed_hash_matches(&a, b"client-secreT", &h));
        assert!(!keyed_hash_matches(&[0; 32], b"client-secret", &h));
        assert!(!keyed_hash_matches(&a, b"client-secret", &h[..42]));
        assert_ne!(random_bytes::<16>(), random_bytes::<16>());
        let t = random_token(32);
        assert_eq!(t.len(), 43);
        assert!(B64.decode(&t).is_ok_and(|b| b.len() == 32));
        let k = key(Alg::EdDSA);
        let dbg = format!("{k:?} {:?}", k.to_pkcs8().unwrap());
        assert!(dbg.contains("redacted") && !dbg.contains("pair"));
    }
}
