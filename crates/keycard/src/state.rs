//! The services protocol logic runs on: the store, the key ring, the client cache, the derived
//! secrets, password hashing, the in-memory throttle locks, the HTML renderer, the clock and the
//! validated configuration.
//!
//! This module sits below `oauth/` and `http/` and names neither: `app.rs` builds an
//! [`AppState`] at start-up and hands it to `http::router`; every protocol function takes
//! `&AppState`. To add a service (a replay cache, a mailer), add a field here, build it in
//! `app::start` (and `testing`), and keep its type in a module below this one.
//!
//! Floors, lowest first: keycard-types → model → store/config → state → oauth → http → app →
//! cli/main. `.ci/import_cycles.py` fails CI on any import circle between source files.

use crate::cache::ClientCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::jose;
use crate::keys::KeyRing;
use crate::store::Store;
use std::sync::Arc;

/// Keys derived from the server secret.
pub struct Secrets {
    /// HMAC key for client secrets and opaque tokens at rest.
    pub hash_key: [u8; 32],
    /// AES-256-GCM key sealing the private signing keys.
    pub kek: [u8; 32],
}

impl Secrets {
    /// Derives the sub-keys from the server secret (HKDF-SHA256, one label per use).
    pub fn derive(secret: &[u8]) -> Secrets {
        Secrets {
            hash_key: jose::derive_key(secret, b"keycard token-hash v1"),
            kek: jose::derive_key(secret, b"keycard key-encryption v1"),
        }
    }
}

/// Everything a request needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The effective configuration.
    pub config: Arc<Config>,
    /// The database.
    pub store: Store,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Signing keys.
    pub keys: Arc<KeyRing>,
    /// Client cache.
    pub clients: Arc<ClientCache>,
    /// Derived secrets.
    pub secrets: Arc<Secrets>,
    /// The metadata document, serialised once.
    pub metadata_json: Arc<str>,
    /// Password hashing (argon2id behind a concurrency limit).
    pub hashing: Arc<crate::password::PasswordHashing>,
    /// The HTML pages.
    pub pages: Arc<crate::pages::Pages>,
    /// Locks of (client, address) pairs after repeated wrong client secrets, known to this node.
    pub client_locks: Arc<crate::client_locks::ClientLocks>,
    /// PKCE challenges and nonces each client sent recently, known to this node (SECURITY B9).
    pub constant_values: Arc<crate::constant_values::ConstantValues>,
    /// Clients' registered public keys (`jwks`, `jwks_uri`), parsed and cached.
    pub client_keys: Arc<crate::client_keys::ClientKeys>,
    /// Account mails: the sender and its bounded queue (`crate::mail`).
    pub mail: Arc<crate::mail::Outbox>,
    /// Set when a shutdown began: `/readyz` answers 503 while in-flight requests drain
    /// (docs/reliability.md §4).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
}
