//! A client's registered public keys (RFC 7591 §2 `jwks` / `jwks_uri`), used to verify what the
//! client signs: RFC 7523 §2.2 client assertions (`private_key_jwt`) and RFC 9101 request
//! objects. Inline `jwks` are parsed once per client version and cached here; `jwks_uri` is
//! fetched, cached, and refetched when a JWS names a `kid` the cached set lacks (at most once per
//! interval, so forged `kid`s cannot turn the server into a fetch loop).
//!
//! The one entry point is [`ClientKeys::verify`] (or [`ClientKeys::verify_jws`] for a JWS already
//! split): it finds the key by `kid` (or the single key fitting the `alg`), refuses `none`, HMAC
//! and any alg the key or the client's registration does not allow, and returns the verified
//! header and claims. Claim checks (iss, aud, exp, jti) are the caller's. Extending (e.g.
//! encrypted request objects): add a method here beside `verify`.
//!
//! # The `jwks_uri` fetcher and its SSRF stance
//! A `jwks_uri` is a URL chosen by whoever registers the client, fetched by Keycard: a
//! server-side request forgery vector. The rules today (`[client_auth]` in the config):
//! - **scheme**: `https` only, except `http` to a loopback host (127.0.0.0/8, `[::1]`,
//!   `localhost`) for development; no user-info in the URL;
//! - **no redirects** are followed (a 3xx is a failed fetch), and no proxy from the environment;
//! - **limits**: one connect-and-total timeout (`jwks_fetch_timeout_ms`), the body read chunk by
//!   chunk and refused as soon as it passes `jwks_max_bytes` (a `Content-Length` over it is
//!   refused before reading);
//! - **rate**: a set is used for `jwks_cache_secs`; an unknown `kid` or a failed fetch refetches
//!   at most once per `jwks_refetch_interval_secs`; concurrent fetches for one client wait on one
//!   per-client async lock and share its result; a failed fetch is [`ClientKeyError::BadKeys`]
//!   (`invalid_client`), never a 500, and no request waits longer than about one timeout. When a
//!   refetch of a set that aged out fails, the old set stays usable up to twice its cache age.
//!
//! A policy on private (RFC 1918, link-local, metadata-service) addresses is issue 12's; until
//! then, registering clients is an administrator's act, and the rules above bound what a bad
//! `jwks_uri` can do to timing and memory.
//!
//! HTTPS uses reqwest's rustls with the aws-lc-rs provider, enabled through `keycard-resource`'s
//! default `rustls` feature.

use crate::config::ClientAuthConfig;
use crate::model::Client;
use keycard_resource::jwk::{JwkError, Jws, JwsAlg, KeySet};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// Most clients whose parsed keys are kept; past this the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Why a client's JWS was not verified. The messages are safe to return to the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientKeyError {
    /// The client registered neither `jwks` nor `jwks_uri`.
    #[error("the client has no registered keys (jwks or jwks_uri)")]
    NoKeys,
    /// The registered keys could not be read or parsed (including a failed `jwks_uri` fetch).
    #[error("the client's registered keys are unusable: {0}")]
    BadKeys(String),
    /// The JWS is malformed, its alg is refused, or its signature does not verify.
    #[error("{0}")]
    Invalid(JwkError),
}

/// A verified JWS from a client.
#[derive(Debug, Clone)]
pub struct VerifiedJws {
    /// The `alg` it was verified under.
    pub alg: JwsAlg,
    /// The protected header.
    pub header: serde_json::Map<String, serde_json::Value>,
    /// The payload, a JSON object.
    pub claims: serde_json::Value,
}

/// One client's fetched `jwks_uri` set.
#[derive(Clone)]
struct Fetched {
    /// The client's `updated_at` and `jwks_uri` it was fetched for.
    version: i64,
    uri: String,
    /// The last set fetched successfully, and when.
    set: Option<(Arc<KeySet>, Instant)>,
    /// The last attempt (successful or not), and its error if it failed.
    attempted_at: Instant,
    error: Option<String>,
}

/// What to do with a cached entry.
enum Decision {
    Use(Arc<KeySet>),
    Fail(String),
    Fetch,
}

/// The cache of parsed client keys, keyed by client id and the client's `updated_at` (so a
/// change of the registration is seen with the client cache).
pub struct ClientKeys {
    inline: RwLock<HashMap<String, (i64, Arc<KeySet>)>>,
    remote: RwLock<HashMap<String, Fetched>>,
    fetch_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// `None` when the HTTP client could not be built (then every fetch fails cleanly).
    http: Option<reqwest::Client>,
    timeout: Duration,
    max_bytes: usize,
    cache_for: Duration,
    refetch_after: Duration,
}

impl std::fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKeys").finish_non_exhaustive()
    }
}

impl Default for ClientKeys {
    fn default() -> Self {
        Self::new(&ClientAuthConfig::default())
    }
}

impl ClientKeys {
    /// A cache whose `jwks_uri` fetcher follows `config` (see the module doc).
    pub fn new(config: &ClientAuthConfig) -> ClientKeys {
        let timeout = Duration::from_millis(config.jwks_fetch_timeout_ms);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("keycard/", env!("CARGO_PKG_VERSION"), " (jwks_uri)"))
            .build();
        if let Err(e) = &http {
            tracing::error!(error = %e, "the jwks_uri fetcher could not start; jwks_uri clients cannot authenticate");
        }
        ClientKeys {
            inline: RwLock::default(),
            remote: RwLock::default(),
            fetch_locks: Mutex::default(),
            http: http.ok(),
            timeout,
            max_bytes: config.jwks_max_bytes,
            cache_for: Duration::from_secs(config.jwks_cache_secs.max(0) as u64),
            refetch_after: Duration::from_secs(config.jwks_refetch_interval_secs.max(0) as u64),
        }
    }

    /// Verifies the compact JWS `token` with `client`'s registered keys. `allowed` narrows the
    /// algs (e.g. the client's `token_endpoint_auth_signing_alg`); empty allows every asymmetric
    /// alg the key fits.
    pub async fn verify(
        &self,
        client: &Client,
        token: &str,
        allowed: &[JwsAlg],
    ) -> Result<VerifiedJws, ClientKeyError> {
        let jws = Jws::decode(token).map_err(ClientKeyError::Invalid)?;
        self.verify_jws(client, &jws, allowed).await
    }

    /// [`verify`](Self::verify) for a JWS already split with [`Jws::decode`].
    pub async fn verify_jws(
        &self,
        client: &Client,
        jws: &Jws,
        allowed: &[JwsAlg],
    ) -> Result<VerifiedJws, ClientKeyError> {
        let alg = self.verify_signature(client, jws, allowed).await?;
        Ok(VerifiedJws { alg, header: jws.header().clone(), claims: jws.claims().clone() })
    }

    /// [`verify_jws`](Self::verify_jws) without copying the header and claims out (the client
    /// authentication hot path reads them from `jws`): the alg the signature verified under.
    pub async fn verify_signature(
        &self,
        client: &Client,
        jws: &Jws,
        allowed: &[JwsAlg],
    ) -> Result<JwsAlg, ClientKeyError> {
        let alg = jws.alg().map_err(ClientKeyError::Invalid)?;
        if !allowed.is_empty() && !allowed.contains(&alg) {
            return Err(ClientKeyError::Invalid(JwkError("the JWS alg is not the one registered for this client")));
        }
        let keys = self.keys_for(client, jws.kid()).await?;
        keys.verify(jws).map_err(ClientKeyError::Invalid)?;
        Ok(alg)
    }

    /// The client's key set; `kid` is the one the JWS names (a `jwks_uri` set lacking it is
    /// refetched, at most once per refetch interval).
    async fn keys_for(&self, client: &Client, kid: Option<&str>) -> Result<Arc<KeySet>, ClientKeyError> {
        if let Some(jwks) = &client.settings.jwks {
            if let Some((v, set)) = self.inline.read().unwrap_or_else(|e| e.into_inner()).get(&client.id)
                && *v == client.updated_at
            {
                return Ok(set.clone());
            }
            let set = Arc::new(KeySet::from_jwks(jwks).map_err(|e| ClientKeyError::BadKeys(e.to_string()))?);
            let mut map = self.inline.write().unwrap_or_else(|e| e.into_inner());
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(client.id.clone(), (client.updated_at, set.clone()));
            return Ok(set);
        }
        if let Some(uri) = &client.settings.jwks_uri {
            return self.remote_keys(client, uri, kid).await;
        }
        Err(ClientKeyError::NoKeys)
    }

    fn decide(&self, client: &Client, uri: &str, kid: Option<&str>, waited_since: Option<Instant>) -> Decision {
        let map = self.remote.read().unwrap_or_else(|e| e.into_inner());
        let Some(e) = map.get(&client.id).filter(|e| e.version == client.updated_at && e.uri == uri) else {
            return Decision::Fetch;
        };
        // Someone fetched while this request waited for the lock: share that result.
        let fetched_meanwhile = waited_since.is_some_and(|w| e.attempted_at >= w);
        let may_refetch = !fetched_meanwhile && e.attempted_at.elapsed() >= self.refetch_after;
        match &e.set {
            Some((set, at)) => {
                let fresh = at.elapsed() < self.cache_for;
                let has_kid = kid.is_none_or(|k| set.has_kid(k));
                if fresh && (has_kid || !may_refetch) {
                    Decision::Use(set.clone())
                } else if may_refetch {
                    Decision::Fetch
                } else if at.elapsed() < self.cache_for * 2 {
                    // Aged out and the refetch just failed (or just happened): the old set a while longer.
                    Decision::Use(set.clone())
                } else {
                    Decision::Fail(e.error.clone().unwrap_or_else(|| "the fetched JWK Set has expired".into()))
                }
            }
            None if may_refetch => Decision::Fetch,
            None => Decision::Fail(e.error.clone().unwrap_or_else(|| "the jwks_uri fetch failed".into())),
        }
    }

    async fn remote_keys(&self, client: &Client, uri: &str, kid: Option<&str>) -> Result<Arc<KeySet>, ClientKeyError> {
        match self.decide(client, uri, kid, None) {
            Decision::Use(set) => return Ok(set),
            Decision::Fail(e) => return Err(ClientKeyError::BadKeys(e)),
            Decision::Fetch => {}
        }
        let lock = self.fetch_lock(&client.id);
        let waited_since = Instant::now();
        let _guard = lock.lock().await;
        match self.decide(client, uri, kid, Some(waited_since)) {
            Decision::Use(set) => return Ok(set),
            Decision::Fail(e) => return Err(ClientKeyError::BadKeys(e)),
            Decision::Fetch => {}
        }
        let result = self.fetch(uri).await.map(Arc::new);
        let now = Instant::now();
        let mut map = self.remote.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        let old = map.remove(&client.id).filter(|e| e.version == client.updated_at && e.uri == uri);
        let (set, error, answer) = match result {
            Ok(set) => (Some((set.clone(), now)), None, Ok(set)),
            Err(e) => {
                tracing::warn!(client_id = %client.id, error = %e, "fetching the client's jwks_uri failed");
                // A set that aged out stays usable a while when its refetch fails.
                let old = old.and_then(|o| o.set).filter(|(_, at)| at.elapsed() < self.cache_for * 2);
                let answer = old.as_ref().map(|(s, _)| s.clone()).ok_or_else(|| ClientKeyError::BadKeys(e.clone()));
                (old, Some(e), answer)
            }
        };
        map.insert(
            client.id.clone(),
            Fetched { version: client.updated_at, uri: uri.to_owned(), set, attempted_at: now, error },
        );
        answer
    }

    fn fetch_lock(&self, client_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.fetch_locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() >= MAX_ENTRIES {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(client_id.to_owned()).or_default().clone()
    }

    /// One fetch of `uri` under the module's rules; the error is safe to show the client.
    async fn fetch(&self, uri: &str) -> Result<KeySet, String> {
        let url = fetchable_url(uri)?;
        let http = self.http.as_ref().ok_or("the jwks_uri fetcher is not available")?;
        let max = self.max_bytes;
        let read = async {
            let mut res = http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = res.status();
            if status.is_redirection() {
                return Err(format!(
                    "the jwks_uri answered a redirect (HTTP {}), which is not followed",
                    status.as_u16()
                ));
            }
            if status != reqwest::StatusCode::OK {
                return Err(format!("the jwks_uri answered HTTP {}", status.as_u16()));
            }
            let too_large = || format!("the jwks_uri response is larger than {max} bytes (client_auth.jwks_max_bytes)");
            if res.content_length().is_some_and(|l| l > max as u64) {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = res.chunk().await.map_err(|e| describe(&e))? {
                if body.len() + chunk.len() > max {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            let value: serde_json::Value =
                serde_json::from_slice(&body).map_err(|_| "the jwks_uri response is not JSON".to_owned())?;
            KeySet::from_jwks(&value).map_err(|e| format!("the jwks_uri JWK Set is not usable: {e}"))
        };
        match tokio::time::timeout(self.timeout, read).await {
            Ok(r) => r,
            Err(_) => Err("fetching the jwks_uri timed out".into()),
        }
    }
}

/// A reqwest error in words that name no URL.
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "fetching the jwks_uri timed out".into()
    } else if e.is_connect() {
        "could not connect to the jwks_uri".into()
    } else {
        "fetching the jwks_uri failed".into()
    }
}

/// The scheme rule of the module doc: https, or http to a loopback host; no user-info.
pub fn fetchable_url(uri: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(uri).map_err(|_| "the jwks_uri is not an absolute URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the jwks_uri must not carry credentials".into());
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Ok(url),
        "http" if loopback => Ok(url),
        _ => Err("the jwks_uri must be an https URL (http only on loopback)".into()),
    }
}

/// RFC 7523 §2.2 `client_secret_jwt`: seals a client secret for [`open_client_secret`] (AES-256-GCM
/// under the key-encryption key, bound to the client id), base64 for the settings JSON.
pub fn seal_client_secret(kek: &[u8; 32], client_id: &str, secret: &str) -> Result<String, crate::jose::JoseError> {
    use base64::Engine as _;
    let sealed = crate::jose::seal(kek, &secret_aad(client_id), secret.as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}

/// The secret sealed by [`seal_client_secret`] for this client, or `None` when it cannot be opened
/// (another client's value, a changed server secret, corruption).
pub fn open_client_secret(kek: &[u8; 32], client_id: &str, sealed: &str) -> Option<crate::secret::Redacted<String>> {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD.decode(sealed).ok()?;
    let plain = crate::jose::open(kek, &secret_aad(client_id), &raw).ok()?;
    String::from_utf8(plain).ok().map(crate::secret::Redacted)
}

fn secret_aad(client_id: &str) -> Vec<u8> {
    format!("keycard client secret v1:{client_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_fetched() {
        for ok in ["https://keys.example/jwks.json", "http://127.0.0.1:9000/j", "http://[::1]/j", "http://localhost/j"]
        {
            assert!(fetchable_url(ok).is_ok(), "{ok}");
        }
        for bad in
            ["http://keys.example/j", "ftp://127.0.0.1/j", "file:///etc/passwd", "https://u:p@keys.example/j", "/j"]
        {
            assert!(fetchable_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn sealed_secrets_open_only_for_their_client() {
        let kek = [7u8; 32];
        let s = seal_client_secret(&kek, "app", "s3cret").unwrap();
        assert_eq!(open_client_secret(&kek, "app", &s).unwrap().expose(), "s3cret");
        assert!(open_client_secret(&kek, "other", &s).is_none());
        assert!(open_client_secret(&[8u8; 32], "app", &s).is_none());
    }
}
