//! A client's registered public keys (RFC 7591 §2 `jwks` / `jwks_uri`), used to verify what the
//! client signs: RFC 7523 §2.2 client assertions (`private_key_jwt`) and RFC 9101 request
//! objects. Inline `jwks` are parsed once per client version and cached here; `jwks_uri` is
//! fetched (timeout, size limit, https only outside loopback), cached, and refetched when a JWS
//! names a `kid` the cached set lacks (at most once per interval, so forged `kid`s cannot turn
//! the server into a fetch loop).
//!
//! The one entry point is [`ClientKeys::verify`]: it finds the key by `kid` (or the single key
//! fitting the `alg`), refuses `none`, HMAC and any alg the key or the client's registration does
//! not allow, and returns the verified header and claims. Claim checks (iss, aud, exp, jti) are
//! the caller's. Extending (e.g. encrypted request objects): add a method here beside `verify`.

use crate::model::Client;
use keycard_resource::jwk::{JwkError, Jws, JwsAlg, KeySet};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most clients whose parsed keys are kept; past this the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// Why a client's JWS was not verified. The messages are safe to return to the client.
#[derive(Debug, thiserror::Error)]
pub enum ClientKeyError {
    /// The client registered neither `jwks` nor `jwks_uri`.
    #[error("the client has no registered keys (jwks or jwks_uri)")]
    NoKeys,
    /// The registered keys could not be read or parsed.
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

/// The cache of parsed client keys, keyed by client id and the client's `updated_at` (so a
/// change of the registration is seen with the client cache).
#[derive(Debug, Default)]
pub struct ClientKeys {
    inline: RwLock<HashMap<String, (i64, Arc<KeySet>)>>,
}

impl ClientKeys {
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
        let alg = jws.alg().map_err(ClientKeyError::Invalid)?;
        if !allowed.is_empty() && !allowed.contains(&alg) {
            return Err(ClientKeyError::Invalid(JwkError("the JWS alg is not the one registered for this client")));
        }
        let keys = self.keys_for(client, jws.kid()).await?;
        keys.verify(&jws).map_err(ClientKeyError::Invalid)?;
        Ok(VerifiedJws { alg, header: jws.header().clone(), claims: jws.claims().clone() })
    }

    /// The client's key set; `kid` is the one the JWS names (a `jwks_uri` set lacking it is
    /// refetched).
    async fn keys_for(&self, client: &Client, _kid: Option<&str>) -> Result<Arc<KeySet>, ClientKeyError> {
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
        if client.settings.jwks_uri.is_some() {
            // Filled in by the jwks_uri fetcher (issue 9, item 1).
            return Err(ClientKeyError::BadKeys("jwks_uri is not fetched yet".into()));
        }
        Err(ClientKeyError::NoKeys)
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
    fn sealed_secrets_open_only_for_their_client() {
        let kek = [7u8; 32];
        let s = seal_client_secret(&kek, "app", "s3cret").unwrap();
        assert_eq!(open_client_secret(&kek, "app", &s).unwrap().expose(), "s3cret");
        assert!(open_client_secret(&kek, "other", &s).is_none());
        assert!(open_client_secret(&[8u8; 32], "app", &s).is_none());
    }
}
