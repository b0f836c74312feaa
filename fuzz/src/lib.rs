//! Support for Keycard's coverage-guided fuzz targets (issue 10 item 7): structured inputs built
//! with `arbitrary` (JSON values biased towards the claims and JWK members the parsers look at,
//! times near [`NOW`], single-character edits) and signing keys made once per process, so a
//! target can sign what the fuzzer chose and reach the checks that come after a signature.
//!
//! One target per parser family lives in `fuzz_targets/` (see `fuzz/run.sh` and
//! docs/security.md, "Fuzzing"). To add one: a file in `fuzz_targets/` calling a public entry
//! point of the parser (and asserting what the parser promises, not just "no panic"), a
//! `[[bin]]` in `fuzz/Cargo.toml`, a seed corpus in `fuzz/corpus/<target>/`, and its name in
//! `TARGETS` of `fuzz/run.sh`.

use arbitrary::{Arbitrary, Result, Unstructured};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use std::sync::OnceLock;

/// "Now" for every time check in the targets (Unix seconds, 2027-01-15).
pub const NOW: i64 = 1_800_000_000;

/// The issuer the targets check against.
pub const ISSUER: &str = "https://as.example";

/// Base64url without padding (RFC 7515 §2).
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Words the parsers compare against: JOSE names, claim values, URLs.
const WORDS: &[&str] = &[
    "EC",
    "RSA",
    "OKP",
    "oct",
    "P-256",
    "P-384",
    "Ed25519",
    "X25519",
    "ES256",
    "RS256",
    "PS256",
    "EdDSA",
    "HS256",
    "HS384",
    "HS512",
    "none",
    "sig",
    "enc",
    "JWT",
    "at+jwt",
    "application/at+jwt",
    "dpop+jwt",
    "oauth-authz-req+jwt",
    "POST",
    "GET",
    "code",
    "token",
    "app",
    "client",
    "api",
    "openid profile",
    "https://as.example",
    "https://as.example/token",
    "https://as.example/par",
    "https://as.example/",
    "https://client.example/cb",
    "http://127.0.0.1:8080/cb",
    "AQAB",
    "",
];

/// Member names the parsers look up: JWT claims, JOSE header and JWK members.
const KEYS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "htm",
    "htu",
    "ath",
    "nonce",
    "cnf",
    "jkt",
    "client_id",
    "scope",
    "response_type",
    "redirect_uri",
    "request",
    "request_uri",
    "state",
    "kty",
    "crv",
    "x",
    "y",
    "n",
    "e",
    "d",
    "alg",
    "kid",
    "typ",
    "jwk",
    "crit",
    "use",
    "key_ops",
    "keys",
];

/// A time near [`NOW`] (the edges of every leeway), or anything.
pub fn time(u: &mut Unstructured<'_>) -> Result<i64> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => NOW + i64::from(u.int_in_range(-400i16..=400)?),
        1 => NOW + i64::from(u.arbitrary::<i32>()?),
        2 => *u.choose(&[0, -1, 1, i64::MIN, i64::MAX, i64::MIN + 1, i64::MAX - 1])?,
        3 => NOW + 60 * i64::from(u.int_in_range(-70i8..=70)?),
        _ => u.arbitrary()?,
    })
}

/// A string: from the vocabulary, or arbitrary.
pub fn word(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(2, 3)? { Ok((*u.choose(WORDS)?).to_owned()) } else { u.arbitrary() }
}

/// An object member name: from the vocabulary, or arbitrary.
pub fn key(u: &mut Unstructured<'_>) -> Result<String> {
    if u.ratio(3, 4)? { Ok((*u.choose(KEYS)?).to_owned()) } else { u.arbitrary() }
}

/// Arbitrary JSON at most `depth` levels deep, biased towards the vocabulary.
pub fn json(u: &mut Unstructured<'_>, depth: u8) -> Result<Value> {
    let kinds = if depth == 0 { 6 } else { 8 };
    Ok(match u.int_in_range(0..=kinds)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::from(time(u)?),
        3 => Value::from(u.arbitrary::<f64>()?),
        4 => Value::from(u.arbitrary::<u64>()?),
        5 | 6 => Value::String(word(u)?),
        7 => {
            let n = u.int_in_range(0..=4u8)?;
            Value::Array((0..n).map(|_| json(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => Value::Object(object(u, depth - 1)?),
    })
}

/// An arbitrary JSON object (up to 8 members) whose values are at most `depth` deep.
pub fn object(u: &mut Unstructured<'_>, depth: u8) -> Result<Map<String, Value>> {
    let n = u.int_in_range(0..=8u8)?;
    let mut m = Map::new();
    for _ in 0..n {
        m.insert(key(u)?, json(u, depth)?);
    }
    Ok(m)
}

/// A JSON value for a target's input (`Arbitrary`), three levels deep.
#[derive(Debug, Clone)]
pub struct Json(pub Value);

impl<'a> Arbitrary<'a> for Json {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        json(u, 3).map(Json)
    }
}

/// A JSON object for a target's input: `base` members overridden, added or removed by the
/// fuzzer, so near-valid claims are the common case.
#[derive(Debug, Clone)]
pub struct Edits(Vec<(String, Option<Value>)>);

impl<'a> Arbitrary<'a> for Edits {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let n = u.int_in_range(0..=4u8)?;
        let mut edits = Vec::new();
        for _ in 0..n {
            let k = key(u)?;
            let v = if u.ratio(1, 5)? {
                None
            } else if u.ratio(1, 2)? {
                Some(Value::from(time(u)?))
            } else {
                Some(json(u, 2)?)
            };
            edits.push((k, v));
        }
        Ok(Edits(edits))
    }
}

impl Edits {
    /// `base` with the edits applied (`None` removes the member).
    pub fn apply(&self, mut base: Map<String, Value>) -> Map<String, Value> {
        for (k, v) in &self.0 {
            match v {
                Some(v) => base.insert(k.clone(), v.clone()),
                None => base.remove(k),
            };
        }
        base
    }
}

/// One single-character edit of a string: replace, insert or delete at a position.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub struct Edit {
    /// Where (modulo the length).
    pub at: u16,
    /// 0 replace, 1 insert, 2 delete, 3 flip one bit of a byte.
    pub op: u8,
    /// The character written (replace, insert) or the bit flipped (low 3 bits).
    pub c: char,
}

impl Edit {
    /// `s` edited as bytes; `None` when the edit leaves it unchanged.
    pub fn apply(&self, s: &str) -> Option<Vec<u8>> {
        let mut b = s.as_bytes().to_vec();
        let mut buf = [0u8; 4];
        let c = self.c.encode_utf8(&mut buf).as_bytes();
        match self.op % 4 {
            0 if !b.is_empty() => {
                let i = usize::from(self.at) % b.len();
                b.splice(i..=i, c.iter().copied());
            }
            1 => {
                let i = usize::from(self.at) % (b.len() + 1);
                b.splice(i..i, c.iter().copied());
            }
            2 if !b.is_empty() => {
                b.remove(usize::from(self.at) % b.len());
            }
            3 if !b.is_empty() => {
                let i = usize::from(self.at) % b.len();
                b[i] ^= 1 << (u32::from(self.c) % 8);
            }
            _ => return None,
        }
        (b != s.as_bytes()).then_some(b)
    }
}

/// An ES256 key (P-256) made once, and its public JWK.
pub fn es256() -> &'static (EcdsaKeyPair, Value) {
    static KEY: OnceLock<(EcdsaKeyPair, Value)> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key");
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = serde_json::json!({"kty": "EC", "crv": "P-256", "x": b64(&pt[1..33]), "y": b64(&pt[33..65])});
        (pair, jwk)
    })
}

/// An Ed25519 key from a fixed seed (deterministic signatures: a crash input reproduces), and
/// its public JWK.
pub fn ed25519() -> &'static (Ed25519KeyPair, Value) {
    static KEY: OnceLock<(Ed25519KeyPair, Value)> = OnceLock::new();
    KEY.get_or_init(|| {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("Ed25519 key");
        let jwk = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())});
        (pair, jwk)
    })
}

/// Which key signs a JWS built by a target.
#[derive(Debug, Clone, Copy, Arbitrary)]
pub enum Signer {
    /// ES256 with [`es256`].
    Es256,
    /// EdDSA with [`ed25519`].
    EdDsa,
}

impl Signer {
    /// The JOSE `alg`.
    pub fn alg(self) -> &'static str {
        match self {
            Signer::Es256 => "ES256",
            Signer::EdDsa => "EdDSA",
        }
    }

    /// The public JWK.
    pub fn jwk(self) -> &'static Value {
        match self {
            Signer::Es256 => &es256().1,
            Signer::EdDsa => &ed25519().1,
        }
    }

    /// A compact JWS of `header` and `claims` (any JSON, serialised as given) signed with this
    /// key, whatever `alg` the header names.
    pub fn sign(self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = match self {
            Signer::Es256 => {
                let rng = aws_lc_rs::rand::SystemRandom::new();
                es256().0.sign(&rng, input.as_bytes()).expect("ES256 signature").as_ref().to_vec()
            }
            Signer::EdDsa => ed25519().0.sign(input.as_bytes()).as_ref().to_vec(),
        };
        format!("{input}.{}", b64(sig))
    }
}

/// `v` as it reads back from its JSON text: what a parser gives for a value the target
/// serialised (serde_json does not promise that every float round-trips exactly).
pub fn reparsed(v: &Value) -> Value {
    serde_json::from_str(&v.to_string()).expect("JSON text parses")
}

/// A compact JWS (RFC 7515 §7.1) whose header and payload are the given JSON and whose
/// signature is `sig`.
pub fn unsigned_jws(header: &Value, claims: &Value, sig: &[u8]) -> String {
    format!("{}.{}.{}", b64(header.to_string()), b64(claims.to_string()), b64(sig))
}

/// A single-threaded tokio runtime, made once, for the async entry points.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"))
}
