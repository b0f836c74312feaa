//! DPoP-bound access tokens at a resource server (RFC 9449 §7): the [`Validator`] side of
//! [`crate::dpop`]. The token is validated as usual (JWT or introspection), then the proof is
//! checked with [`verify_proof`](crate::dpop::verify_proof): `htm`/`htu` of this request, `ath`
//! of this token, the proof key equal to the token's `cnf.jkt` (§6.1 JWT, §6.2 introspection),
//! `iat` within [`dpop_proof_max_age`](crate::ValidatorBuilder::dpop_proof_max_age) (and the
//! leeway ahead), and a `jti` not seen before.
//!
//! Decisions (RFC 9449 §7.1, §7.2): a bound token presented as `Bearer` is refused
//! ([`InvalidToken::DpopBound`]), and so is an unbound token presented as `DPoP`
//! ([`InvalidToken::NotDpopBound`]): §7.1 has the resource check the proof key against the key
//! the token is bound to, and an unbound token has none. Server nonces (§9) are not issued.
//!
//! Replay (§11.1): each validator keeps the `jti`s it accepted in memory, bounded, until their
//! proof's `iat` leaves the window. Several instances of a resource server each keep their own,
//! so a proof replayed to another instance within the window (60 s by default, plus the leeway)
//! is accepted there once more; the window bounds that exposure, and the proof still only works
//! for the same method, URL and token. When the cache is full of live entries new proofs are
//! refused rather than old ones forgotten.
//!
//! Extending: another check goes after `verify_proof` in [`Validator::validate_dpop_at`], with
//! its own [`Error::InvalidDpopProof`] text.

use crate::bearer::{Scheme, credential_bytes, well_formed};
use crate::dpop::{self, ProofCheck};
use crate::{Claims, Error, InvalidToken, Validator, unix_seconds};
use http::{HeaderMap, Method, Uri};
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

/// The `jti`s of accepted proofs, keyed by a keyed hash of (`jkt`, `jti`), with the time each
/// may be forgotten.
pub(crate) struct ReplayCache {
    map: Mutex<HashMap<u64, i64>>,
    hasher: std::hash::RandomState,
    capacity: usize,
}

impl std::fmt::Debug for ReplayCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayCache").field("capacity", &self.capacity).finish()
    }
}

impl ReplayCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { map: Mutex::new(HashMap::new()), hasher: std::hash::RandomState::new(), capacity: capacity.max(1) }
    }

    /// Records the proof; `Err` for a replay or a full cache.
    fn first_use(&self, jkt: &str, jti: &str, until: i64, now: i64) -> Result<(), Error> {
        let key = self.hasher.hash_one((jkt, jti));
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|t| *t > now) {
            return Err(Error::InvalidDpopProof("the DPoP proof was already used (jti replay)"));
        }
        if map.len() >= self.capacity {
            map.retain(|_, t| *t > now);
            if map.len() >= self.capacity {
                return Err(Error::InvalidDpopProof("too many recent DPoP proofs: retry later"));
            }
        }
        map.insert(key, until);
        Ok(())
    }
}

impl Validator {
    /// RFC 9449 §7.1: validates a DPoP-bound access token presented as
    /// `Authorization: DPoP <token>` with its proof, now. `proofs` are the values of every
    /// `DPoP` header (exactly one is allowed), `method` the request method, `url` the request's
    /// absolute URL as clients address it (see
    /// [`public_url`](crate::ValidatorBuilder::public_url); its query is ignored).
    #[allow(clippy::disallowed_methods)]
    pub async fn validate_dpop(&self, token: &str, proofs: &[&[u8]], method: &str, url: &str) -> Result<Claims, Error> {
        self.validate_dpop_at(token, proofs, method, url, SystemTime::now()).await.map(Arc::unwrap_or_clone)
    }

    /// [`Validator::validate_dpop`] as of `now`, sharing the claims with the cache.
    pub async fn validate_dpop_at(
        &self,
        token: &str,
        proofs: &[&[u8]],
        method: &str,
        url: &str,
        now: SystemTime,
    ) -> Result<Arc<Claims>, Error> {
        let claims = self.validate_token_at(token, now).await?;
        let jkt = dpop::bound_jkt(&claims.raw).ok_or(InvalidToken::NotDpopBound)?;
        let proof = dpop::single_header(proofs.iter().copied())
            .map_err(|e| Error::InvalidDpopProof(e.description()))?
            .ok_or(Error::InvalidDpopProof("a DPoP proof is required with the DPoP authorization scheme"))?;
        let now = unix_seconds(now);
        let check = ProofCheck {
            method,
            url,
            now,
            max_age_secs: self.dpop.max_age_secs,
            future_leeway_secs: self.time_check(now).leeway,
            nonces: &[],
            access_token: Some(token),
            jkt: Some(jkt),
        };
        let verified = dpop::verify_proof(proof, &check).map_err(|e| Error::InvalidDpopProof(e.description()))?;
        let until = verified.iat.max(now) + self.dpop.max_age_secs + 1;
        self.dpop.replay.first_use(&verified.jkt, &verified.jti, until, now)?;
        Ok(claims)
    }

    /// Validates the access token of a request, in either scheme, now: `Authorization: Bearer`
    /// (a DPoP-bound token is refused, RFC 9449 §7.2) or `Authorization: DPoP` with its `DPoP`
    /// proof header ([`Validator::validate_dpop`]; the URL is the
    /// [`public_url`](crate::ValidatorBuilder::public_url) joined with the request's path).
    /// What the axum extractor calls; for other frameworks, pass the request's parts.
    #[allow(clippy::disallowed_methods)]
    pub async fn validate_request(
        &self,
        headers: &HeaderMap,
        method: &Method,
        uri: &Uri,
    ) -> Result<Arc<Claims>, Error> {
        let (scheme, token) = credential_bytes(headers, uri)?;
        let token = well_formed(token)?;
        match scheme {
            Scheme::Bearer => self.validate_shared(token).await,
            Scheme::Dpop => {
                let proofs: Vec<&[u8]> = headers.get_all("dpop").iter().map(|v| v.as_bytes()).collect();
                let url = self.dpop_url(uri)?;
                self.validate_dpop_at(token, &proofs, method.as_str(), &url, SystemTime::now()).await
            }
        }
    }

    /// The `htu` a proof for this request must carry: the public URL's origin and base path
    /// with the request's path.
    pub fn dpop_url(&self, uri: &Uri) -> Result<String, Error> {
        let base = self.dpop.public_url.as_deref().ok_or_else(|| {
            Error::Configuration("DPoP needs the resource server's public URL (ValidatorBuilder::public_url)".into())
        })?;
        Ok(format!("{}{}", base.trim_end_matches('/'), uri.path()))
    }
}

/// The DPoP settings of a [`Validator`].
#[derive(Debug)]
pub(crate) struct DpopSettings {
    pub(crate) public_url: Option<String>,
    pub(crate) max_age_secs: i64,
    pub(crate) replay: ReplayCache,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_cache_refuses_a_second_use_and_bounds_itself() {
        let c = ReplayCache::new(2);
        c.first_use("k", "a", 100, 10).unwrap();
        assert!(c.first_use("k", "a", 100, 50).is_err(), "replay within the window");
        c.first_use("k2", "a", 100, 50).unwrap();
        assert!(c.first_use("k", "b", 100, 50).is_err(), "full of live entries");
        c.first_use("k", "b", 300, 150).unwrap();
        c.first_use("k", "a", 300, 150).unwrap();
    }
}
