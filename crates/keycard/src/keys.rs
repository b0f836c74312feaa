//! The signing key ring: keys are created on first start (one active key per configured
//! algorithm), private keys are sealed at rest with AES-256-GCM under a key derived from the
//! server secret (the kid is the associated data), and rotation publishes the new key, signs with
//! it at once, and keeps the old public key in the JWKS until every token it signed has expired
//! (OpenID Connect Core §10.1.1).
//!
//! Every node holds a [`KeySnapshot`] in memory; a change made elsewhere (another node, the CLI)
//! bumps the `keys` epoch in the database and every node reloads within `cache.poll_interval_ms`.

use crate::clock::UnixTime;
use crate::jose::{self, Alg, Jwks, PublicJwk, SigningKey, VerifyingKeys};
use crate::model::StoredKey;
use crate::store::{Store, StoreError};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A key-ring failure.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be opened: most likely the server secret changed.
    #[error("signing key {kid} cannot be decrypted with this server secret (was the secret changed or lost?)")]
    Unseal {
        /// The key id.
        kid: String,
    },
    /// A stored key is malformed.
    #[error("signing key {kid} is corrupt: {why}")]
    Corrupt {
        /// The key id.
        kid: String,
        /// Why.
        why: String,
    },
    /// Crypto failure while generating a key.
    #[error("key generation failed: {0}")]
    Generate(String),
}

/// An immutable view of the keys, swapped whole on reload.
pub struct KeySnapshot {
    active: HashMap<Alg, Arc<SigningKey>>,
    /// Every published public key (active and recently retired).
    pub jwks: Jwks,
    /// The JWKS document, serialised once.
    pub jwks_json: Arc<str>,
    /// Published keys parsed for verification.
    pub verifying: VerifyingKeys,
}

impl KeySnapshot {
    /// The key that signs with `alg` now.
    pub fn signer(&self, alg: Alg) -> Option<&Arc<SigningKey>> {
        self.active.get(&alg)
    }
}

/// The key ring shared by all requests.
pub struct KeyRing {
    kek: [u8; 32],
    current: RwLock<Arc<KeySnapshot>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing")
    }
}

/// Seals a signing key for storage.
pub fn seal_key(kek: &[u8; 32], key: &SigningKey, now: UnixTime) -> Result<StoredKey, KeyError> {
    let der = key.to_pkcs8().map_err(|e| KeyError::Generate(e.to_string()))?;
    let sealed = jose::seal(kek, key.kid().as_bytes(), der.as_ref()).map_err(|e| KeyError::Generate(e.to_string()))?;
    Ok(StoredKey {
        kid: key.kid().to_owned(),
        alg: key.alg().as_str().to_owned(),
        private_key: STANDARD.encode(sealed),
        public_jwk: serde_json::to_string(&key.public_jwk()).map_err(|e| KeyError::Generate(e.to_string()))?,
        created_at: now,
        retired_at: None,
        publish_until: None,
    })
}

fn new_kid(alg: Alg, now: UnixTime) -> String {
    format!("{}-{}-{}", alg.as_str().to_lowercase(), now, jose::random_token(6))
}

/// Generates a new key of `alg` (RSA generation takes tens of milliseconds).
pub fn generate(alg: Alg, now: UnixTime) -> Result<SigningKey, KeyError> {
    SigningKey::generate(alg, new_kid(alg, now)).map_err(|e| KeyError::Generate(e.to_string()))
}

/// Is this stored key published at `now`?
pub fn is_published(k: &StoredKey, now: UnixTime) -> bool {
    k.retired_at.is_none() || k.publish_until.is_some_and(|u| u >= now)
}

fn unseal(kek: &[u8; 32], k: &StoredKey) -> Result<SigningKey, KeyError> {
    let corrupt = |why: &str| KeyError::Corrupt { kid: k.kid.clone(), why: why.to_owned() };
    let alg: Alg = k.alg.parse().map_err(|_| corrupt("unknown algorithm"))?;
    let sealed = STANDARD.decode(&k.private_key).map_err(|_| corrupt("bad base64"))?;
    let der = jose::open(kek, k.kid.as_bytes(), &sealed).map_err(|_| KeyError::Unseal { kid: k.kid.clone() })?;
    SigningKey::from_pkcs8(alg, k.kid.clone(), &der).map_err(|_| corrupt("bad PKCS#8"))
}

/// Builds a snapshot from stored keys: the newest unretired key per algorithm signs; every
/// published key verifies.
fn snapshot(kek: &[u8; 32], stored: &[StoredKey], now: UnixTime) -> Result<KeySnapshot, KeyError> {
    let mut active: HashMap<Alg, Arc<SigningKey>> = HashMap::new();
    let mut published: Vec<PublicJwk> = Vec::new();
    // `stored` is newest first.
    for k in stored.iter().filter(|k| is_published(k, now)) {
        let jwk: PublicJwk = serde_json::from_str(&k.public_jwk)
            .map_err(|_| KeyError::Corrupt { kid: k.kid.clone(), why: "bad public JWK".into() })?;
        if k.retired_at.is_none() && !active.contains_key(&jwk.alg()) {
            active.insert(jwk.alg(), Arc::new(unseal(kek, k)?));
        }
        published.push(jwk);
    }
    let verifying =
        VerifyingKeys::new(&published).map_err(|e| KeyError::Corrupt { kid: "(set)".into(), why: e.to_string() })?;
    let jwks = Jwks { keys: published };
    let jwks_json: Arc<str> = serde_json::to_string(&jwks).unwrap_or_else(|_| "{\"keys\":[]}".into()).into();
    Ok(KeySnapshot { active, jwks, jwks_json, verifying })
}

impl KeyRing {
    /// Loads the ring, first creating an active key for every algorithm in `algorithms` that has
    /// none. Returns the ring and the kids it created.
    pub async fn load_or_create(
        store: &Store,
        kek: [u8; 32],
        algorithms: &[Alg],
        now: UnixTime,
    ) -> Result<(KeyRing, Vec<String>), KeyError> {
        let stored = store.list_keys().await?;
        let mut created = Vec::new();
        for alg in algorithms {
            let has = stored.iter().any(|k| k.retired_at.is_none() && k.alg == alg.as_str());
            if !has {
                let key = tokio::task::block_in_place(|| generate(*alg, now))?;
                store.insert_key(&seal_key(&kek, &key, now)?).await?;
                created.push(key.kid().to_owned());
            }
        }
        let stored = if created.is_empty() { stored } else { store.list_keys().await? };
        let snap = snapshot(&kek, &stored, now)?;
        Ok((KeyRing { kek, current: RwLock::new(Arc::new(snap)) }, created))
    }

    /// Re-reads the keys from the store (after the `keys` epoch moved).
    pub async fn reload(&self, store: &Store, now: UnixTime) -> Result<(), KeyError> {
        let stored = store.list_keys().await?;
        let snap = snapshot(&self.kek, &stored, now)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snap);
        Ok(())
    }

    /// The current snapshot (cheap: one `Arc` clone under a read lock).
    pub fn snapshot(&self) -> Arc<KeySnapshot> {
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Rotates the key of `alg`: the new key becomes active at once, the old one stays published for
/// `max_token_ttl + leeway` seconds. Returns the new kid.
pub async fn rotate(
    store: &Store,
    kek: &[u8; 32],
    alg: Alg,
    max_token_ttl: i64,
    leeway: i64,
    now: UnixTime,
) -> Result<String, KeyError> {
    let key = generate(alg, now)?;
    let stored = seal_key(kek, &key, now)?;
    store.rotate_key(&stored, now, now + max_token_ttl + leeway).await?;
    Ok(stored.kid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance::TestDb;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn create_rotate_and_publish_window() {
        let db = TestDb::sqlite();
        let store = db.store().await;
        let kek = [7u8; 32];
        let (ring, created) = KeyRing::load_or_create(&store, kek, &[Alg::ES256, Alg::EdDSA], 1000).await.unwrap();
        assert_eq!(created.len(), 2);
        let snap = ring.snapshot();
        let old = snap.signer(Alg::ES256).unwrap().kid().to_owned();
        let token = snap.signer(Alg::ES256).unwrap().sign_jwt("at+jwt", &serde_json::json!({"a": 1})).unwrap();
        assert!(snap.verifying.verify(&token).is_ok());

        // A second start creates nothing.
        let (_, again) = KeyRing::load_or_create(&store, kek, &[Alg::ES256, Alg::EdDSA], 1001).await.unwrap();
        assert!(again.is_empty());

        let new = rotate(&store, &kek, Alg::ES256, 3600, 60, 2000).await.unwrap();
        ring.reload(&store, 2000).await.unwrap();
        let snap = ring.snapshot();
        assert_eq!(snap.signer(Alg::ES256).unwrap().kid(), new);
        let kids: Vec<_> = snap.jwks.keys.iter().map(|k| k.kid().to_owned()).collect();
        assert!(kids.contains(&old) && kids.contains(&new), "old key still published");
        assert!(snap.verifying.verify(&token).is_ok(), "tokens of the old key still verify");

        // After every token of the old key expired, it leaves the JWKS.
        ring.reload(&store, 2000 + 3600 + 61).await.unwrap();
        let kids: Vec<_> = ring.snapshot().jwks.keys.iter().map(|k| k.kid().to_owned()).collect();
        assert!(!kids.contains(&old));
        assert!(ring.snapshot().verifying.verify(&token).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn wrong_secret_is_a_clear_error() {
        let db = TestDb::sqlite();
        let store = db.store().await;
        KeyRing::load_or_create(&store, [1u8; 32], &[Alg::ES256], 10).await.unwrap();
        let err = KeyRing::load_or_create(&store, [2u8; 32], &[Alg::ES256], 10).await.unwrap_err();
        assert!(err.to_string().contains("cannot be decrypted"), "{err}");
    }

    #[test]
    fn private_keys_are_sealed_not_plain() {
        let kek = [3u8; 32];
        let key = generate(Alg::ES256, 5).unwrap();
        let stored = seal_key(&kek, &key, 5).unwrap();
        let der = key.to_pkcs8().unwrap();
        let raw = STANDARD.decode(&stored.private_key).unwrap();
        assert!(!raw.windows(der.as_ref().len()).any(|w| w == der.as_ref()));
        assert_eq!(unseal(&kek, &stored).unwrap().public_jwk(), key.public_jwk());
    }
}
