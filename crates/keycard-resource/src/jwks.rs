//! The JWKS cache: the authorization server's public signing keys, parsed once into
//! verification keys that each carry the one algorithm they may be used with.
//!
//! When keys are fetched:
//! - the first time a token needs a key (or at [`Validator::warm_up`](crate::Validator::warm_up));
//! - when the set is older than `jwks_max_age`: the first request to notice refreshes it while
//!   concurrent ones keep using the cached keys; if the refresh fails the old keys stay;
//! - when a token names an unknown `kid` (key rotation): at most once per
//!   `jwks_refetch_interval`, so forged `kid`s cannot make this cache hammer the server. Such a
//!   refetch right after a scheduled one is still allowed: the interval counts only
//!   unknown-`kid` refetches;
//! - never within `failure_backoff` of a failed fetch.
//!
//! Concurrent refreshes coalesce: fetches run under one async mutex, and a caller that waited on
//! it uses the result of the fetch it waited for (the `generation` counter tells) instead of
//! fetching again.
//!
//! Supporting a new algorithm: add a variant to [`Alg`], its JWK shape in [`parse_jwk`] and its
//! aws-lc-rs verification algorithm in [`Alg::verification`].

use crate::Error;
use crate::error::InvalidToken;
use crate::upstream::{self, Upstream};
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Signature algorithms accepted, one per key. HMAC and `none` have no variant, so no JWK can
/// ever authorise them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alg {
    /// ECDSA P-256 with SHA-256 (RFC 7518 §3.4), signature `r || s`.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), 2048 to 8192 bit keys.
    Rs256,
    /// Ed25519 (RFC 8037 §3.1).
    EdDsa,
}

impl Alg {
    /// The JOSE name, as in a JWS header's `alg`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
            Self::EdDsa => "EdDSA",
        }
    }

    fn verification(self) -> &'static dyn sig::VerificationAlgorithm {
        match self {
            Self::Es256 => &sig::ECDSA_P256_SHA256_FIXED,
            Self::Rs256 => &sig::RSA_PKCS1_2048_8192_SHA256,
            Self::EdDsa => &sig::ED25519,
        }
    }
}

/// One verification key of the JWKS.
pub(crate) struct Key {
    /// The only algorithm this key verifies.
    pub(crate) alg: Alg,
    public: ParsedPublicKey,
}

impl Key {
    /// Checks `signature` over `message` with this key's algorithm.
    pub(crate) fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.public.verify_sig(message, signature).is_ok()
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key").field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// The JWK members this crate reads (RFC 7517 §4, RFC 7518 §6); others are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// base64url, tolerating padding some servers add.
fn b64(s: &Option<String>) -> Result<Vec<u8>, String> {
    let s = s.as_deref().ok_or("missing key parameter")?;
    URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).map_err(|e| format!("bad base64url: {e}"))
}

/// Turns one JWK into a key. The algorithm comes from the key: `alg` when present, and it must
/// agree with `kty`/`crv`; from `kty`/`crv` otherwise (`RSA` alone means RS256, the only RSA
/// algorithm Keycard signs with).
fn parse_jwk(jwk: &RawJwk) -> Result<Key, String> {
    if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
        return Err("not a signing key (use)".into());
    }
    if jwk.key_ops.as_ref().is_some_and(|ops| !ops.iter().any(|o| o == "verify")) {
        return Err("not a verification key (key_ops)".into());
    }
    let alg = match (jwk.kty.as_str(), jwk.crv.as_deref(), jwk.alg.as_deref()) {
        ("EC", Some("P-256"), None | Some("ES256")) => Alg::Es256,
        ("RSA", None, None | Some("RS256")) => Alg::Rs256,
        ("OKP", Some("Ed25519"), None | Some("EdDSA" | "Ed25519")) => Alg::EdDsa,
        (kty, crv, alg) => {
            return Err(format!("unsupported key: kty {kty:?}, crv {crv:?}, alg {alg:?}"));
        }
    };
    let public = match alg {
        Alg::Es256 => {
            let (x, y) = (b64(&jwk.x)?, b64(&jwk.y)?);
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates must be 32 bytes".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            ParsedPublicKey::new(alg.verification(), point).map_err(|e| format!("bad EC key: {e}"))?
        }
        Alg::Rs256 => {
            let (n, e) = (b64(&jwk.n)?, b64(&jwk.e)?);
            let strip = |v: &[u8]| v.iter().position(|&b| b != 0).map_or(Vec::new(), |i| v[i..].to_vec());
            let (n, e) = (strip(&n), strip(&e));
            if n.len() < 256 {
                return Err("RSA keys must have at least 2048 bits".into());
            }
            RsaPublicKeyComponents { n: &n, e: &e }
                .to_parsed_public_key(&sig::RSA_PKCS1_2048_8192_SHA256)
                .map_err(|e| format!("bad RSA key: {e}"))?
        }
        Alg::EdDsa => {
            let x = b64(&jwk.x)?;
            if x.len() != 32 {
                return Err("Ed25519 keys must be 32 bytes".into());
            }
            ParsedPublicKey::new(alg.verification(), x).map_err(|e| format!("bad Ed25519 key: {e}"))?
        }
    };
    Ok(Key { alg, public })
}

/// Parses a JWKS document. Keys this crate cannot use (HMAC, encryption, unknown curves,
/// malformed, no `kid`) are skipped, so one odd key never hides the others.
pub(crate) fn parse_jwks(body: &[u8]) -> Result<HashMap<String, Arc<Key>>, String> {
    let raw: RawJwks = serde_json::from_slice(body).map_err(|e| format!("malformed JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for value in raw.keys {
        let jwk = match RawJwk::deserialize(&value) {
            Ok(jwk) => jwk,
            Err(e) => {
                tracing::debug!(error = %e, "skipping a malformed JWK");
                continue;
            }
        };
        let Some(kid) = jwk.kid.clone() else {
            tracing::debug!("skipping a JWK without kid");
            continue;
        };
        match parse_jwk(&jwk) {
            Ok(key) => match keys.entry(kid) {
                Entry::Occupied(e) => {
                    tracing::warn!(kid = e.key(), "two JWKs share a kid; keeping the first")
                }
                Entry::Vacant(e) => {
                    e.insert(Arc::new(key));
                }
            },
            Err(reason) => tracing::debug!(kid, reason, "skipping a JWK"),
        }
    }
    Ok(keys)
}

/// Why a fetch is considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reason {
    Initial,
    Stale,
    UnknownKid,
}

#[derive(Default)]
struct State {
    keys: Arc<HashMap<String, Arc<Key>>>,
    /// Last successful fetch.
    fetched_at: Option<Instant>,
    /// Last failed fetch, cleared by a success, and why it failed.
    failed: Option<(Instant, String)>,
    /// Last fetch triggered by an unknown `kid`.
    forced_at: Option<Instant>,
    /// Bumped by every fetch, good or bad, so waiters know one happened while they waited.
    generation: u64,
}

/// Timing knobs of [`JwksCache`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct JwksTiming {
    pub(crate) max_age: Duration,
    pub(crate) refetch_interval: Duration,
    pub(crate) failure_backoff: Duration,
}

/// See the module documentation.
pub(crate) struct JwksCache {
    state: RwLock<State>,
    refresh: tokio::sync::Mutex<()>,
    timing: JwksTiming,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.read();
        f.debug_struct("JwksCache")
            .field("kids", &st.keys.keys().collect::<Vec<_>>())
            .field("timing", &self.timing)
            .finish_non_exhaustive()
    }
}

impl State {
    fn may_fetch(&self, reason: Reason, now: Instant, t: &JwksTiming) -> bool {
        if let Some((at, _)) = &self.failed
            && now.duration_since(*at) < t.failure_backoff
        {
            return false;
        }
        match reason {
            Reason::Initial | Reason::Stale => true,
            Reason::UnknownKid => self.forced_at.is_none_or(|at| now.duration_since(at) >= t.refetch_interval),
        }
    }

    fn is_stale(&self, now: Instant, max_age: Duration) -> bool {
        self.fetched_at.is_some_and(|at| now.duration_since(at) >= max_age)
    }

    /// The answer for a `kid` that is not in the set and will not be fetched now: the server
    /// being down is not the token's fault.
    fn unknown_kid(&self) -> Error {
        match (&self.failed, self.fetched_at) {
            (Some((_, why)), _) => Error::unavailable("jwks", why.clone()),
            (None, None) => Error::unavailable("jwks", "the JWKS has not been fetched yet"),
            (None, Some(_)) => Error::InvalidToken(InvalidToken::UnknownKey),
        }
    }
}

impl JwksCache {
    pub(crate) fn new(timing: JwksTiming) -> Self {
        Self { state: RwLock::new(State::default()), refresh: tokio::sync::Mutex::new(()), timing }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key named `kid`, fetching or refreshing the set as the module documentation says.
    pub(crate) async fn key(&self, kid: &str, upstream: &Upstream) -> Result<Arc<Key>, Error> {
        let now = Instant::now();
        let (found, generation, stale) = {
            let st = self.read();
            (st.keys.get(kid).cloned(), st.generation, st.is_stale(now, self.timing.max_age))
        };
        if let Some(key) = found {
            if !stale {
                return Ok(key);
            }
            // One caller refreshes; the others carry on with the cached keys meanwhile.
            let Ok(_guard) = self.refresh.try_lock() else {
                return Ok(key);
            };
            let go = {
                let st = self.read();
                st.generation == generation && st.may_fetch(Reason::Stale, now, &self.timing)
            };
            if go && let Err(e) = self.fetch(upstream, Reason::Stale).await {
                tracing::warn!(error = %upstream::error_chain(&e), "JWKS refresh failed; keeping the cached keys");
            }
            // A successful refresh may have dropped the key (retired or compromised).
            let st = self.read();
            return st.keys.get(kid).cloned().ok_or(Error::InvalidToken(InvalidToken::UnknownKey));
        }

        // Unknown kid: wait for any fetch in progress, then fetch ourselves only if nobody did.
        let _guard = self.refresh.lock().await;
        let now = Instant::now();
        let reason = {
            let st = self.read();
            if st.generation != generation {
                return st.keys.get(kid).cloned().ok_or_else(|| st.unknown_kid());
            }
            let reason = if st.fetched_at.is_none() { Reason::Initial } else { Reason::UnknownKid };
            if !st.may_fetch(reason, now, &self.timing) {
                return Err(st.unknown_kid());
            }
            reason
        };
        self.fetch(upstream, reason).await?;
        let st = self.read();
        st.keys.get(kid).cloned().ok_or_else(|| st.unknown_kid())
    }

    /// Fetches the set unless it was fetched already (for `warm_up`).
    pub(crate) async fn ensure_loaded(&self, upstream: &Upstream) -> Result<(), Error> {
        let _guard = self.refresh.lock().await;
        if self.read().fetched_at.is_some() {
            return Ok(());
        }
        self.fetch(upstream, Reason::Initial).await
    }

    /// One fetch; the caller holds `self.refresh`.
    async fn fetch(&self, upstream: &Upstream, reason: Reason) -> Result<(), Error> {
        let started = Instant::now();
        if reason == Reason::UnknownKid {
            self.write().forced_at = Some(started);
        }
        let result = async {
            let url = upstream.jwks_uri().await?;
            let body = upstream::get(&upstream.http, url, "jwks").await?;
            parse_jwks(&body).map_err(|m| Error::unavailable("jwks", m))
        }
        .await;
        let mut st = self.write();
        st.generation += 1;
        match result {
            Ok(keys) => {
                if keys.is_empty() {
                    tracing::warn!("the JWKS has no usable signing key");
                }
                st.keys = Arc::new(keys);
                st.fetched_at = Some(started);
                st.failed = None;
                Ok(())
            }
            Err(e) => {
                st.failed = Some((started, upstream::error_chain(&e)));
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_unusable_keys() {
        let jwks = serde_json::json!({"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"},
            {"kty": "EC", "kid": "bad", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": "AQAB", "e": "AQAB"},
            {"kty": "OKP", "kid": "x448", "crv": "X448", "x": "AA"},
            {"kty": "EC", "crv": "P-256"},
            "not an object",
        ]});
        let keys = parse_jwks(jwks.to_string().as_bytes()).unwrap();
        assert!(keys.is_empty());
        assert!(parse_jwks(b"{}").is_err());
    }

    #[test]
    fn alg_must_match_the_key_type() {
        let jwk = |v: serde_json::Value| RawJwk::deserialize(&v).unwrap();
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        // An EC key claiming RS256, an OKP key claiming ES256.
        assert!(parse_jwk(&jwk(serde_json::json!({"kty":"EC","crv":"P-256","alg":"RS256","x":x,"y":x}))).is_err());
        assert!(parse_jwk(&jwk(serde_json::json!({"kty":"OKP","crv":"Ed25519","alg":"ES256","x":x}))).is_err());
        assert!(parse_jwk(&jwk(serde_json::json!({"kty":"OKP","crv":"Ed25519","alg":"none","x":x}))).is_err());
    }
}
