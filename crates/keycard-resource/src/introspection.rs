//! Opaque access tokens (`kc_at_…`): RFC 7662 introspection with the resource server's own client
//! credentials, and a bounded cache of the answers.
//!
//! The cache is keyed by the SHA-256 of the token, never the token itself, so a memory dump of
//! a resource server holds no usable token. An active answer is kept for
//! min(token `exp` − now, `introspection_cache_max_age`): a revoked token is therefore accepted
//! for at most that long. A refusal (inactive, wrong audience, …) is kept for
//! min(`introspection_cache_max_age`, [`REJECTED_MAX_AGE`]) in a smaller table, so floods of
//! garbage tokens neither reach the server twice in a row nor push the good entries out.
//! A max age of zero turns caching off.

use crate::error::InvalidToken;
use crate::upstream::{self, Upstream, lock};
use crate::{Claims, Error};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use keycard_types::{IntrospectionResponse, Scope};
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use serde::Deserialize;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Longest time a refused token's answer is cached.
pub const REJECTED_MAX_AGE: Duration = Duration::from_secs(10);

type TokenHash = [u8; 32];

fn hash(token: &str) -> TokenHash {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// A bounded map whose entries expire; when full it drops expired entries first, then the one
/// closest to expiry.
struct ExpiringMap<K, V> {
    map: HashMap<K, (Instant, V)>,
    capacity: usize,
}

impl<K: Hash + Eq + Clone, V: Clone> ExpiringMap<K, V> {
    fn new(capacity: usize) -> Self {
        Self { map: HashMap::new(), capacity }
    }

    fn get(&mut self, k: &K, now: Instant) -> Option<V> {
        match self.map.get(k) {
            Some((until, v)) if *until > now => Some(v.clone()),
            Some(_) => {
                self.map.remove(k);
                None
            }
            None => None,
        }
    }

    fn insert(&mut self, k: K, v: V, until: Instant, now: Instant) {
        if self.capacity == 0 || until <= now {
            return;
        }
        if self.map.len() >= self.capacity && !self.map.contains_key(&k) {
            self.map.retain(|_, (t, _)| *t > now);
            if self.map.len() >= self.capacity
                && let Some(victim) = self.map.iter().min_by_key(|(_, (t, _))| *t).map(|(k, _)| k.clone())
            {
                self.map.remove(&victim);
            }
        }
        self.map.insert(k, (until, v));
    }

    fn remove(&mut self, k: &K) {
        self.map.remove(k);
    }
}

struct Cache {
    active: ExpiringMap<TokenHash, Arc<Claims>>,
    rejected: ExpiringMap<TokenHash, InvalidToken>,
}

/// The resource server's introspection client.
pub(crate) struct Introspector {
    /// `Basic base64(urlencode(id) ":" urlencode(secret))`, marked sensitive.
    authorization: HeaderValue,
    client_id: String,
    max_age: Duration,
    cache: Mutex<Cache>,
}

impl std::fmt::Debug for Introspector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Introspector")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

/// RFC 6749 §2.3.1: id and secret are each `application/x-www-form-urlencoded` before they are
/// joined with `:` and base64-encoded, so ids such as `svc:billing` survive.
pub(crate) fn basic_authorization(client_id: &str, client_secret: &str) -> Result<HeaderValue, Error> {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let creds = STANDARD.encode(format!("{}:{}", enc(client_id), enc(client_secret)));
    let mut v = HeaderValue::try_from(format!("Basic {creds}"))
        .map_err(|_| Error::Configuration("introspection credentials do not fit a header".into()))?;
    v.set_sensitive(true);
    Ok(v)
}

/// What the leeway-based time checks need.
pub(crate) struct TimeCheck {
    pub(crate) now: i64,
    pub(crate) leeway: i64,
}

impl TimeCheck {
    /// RFC 7519 §4.1.4/§4.1.5/§4.1.6 with the leeway: `exp` passed, `nbf` ahead, `iat` ahead.
    pub(crate) fn check(&self, exp: i64, nbf: Option<i64>, iat: Option<i64>) -> Result<(), InvalidToken> {
        if self.now >= exp.saturating_add(self.leeway) {
            return Err(InvalidToken::Expired);
        }
        if nbf.is_some_and(|nbf| nbf > self.now.saturating_add(self.leeway)) {
            return Err(InvalidToken::NotYetValid);
        }
        if iat.is_some_and(|iat| iat > self.now.saturating_add(self.leeway)) {
            return Err(InvalidToken::IssuedInFuture);
        }
        Ok(())
    }
}

impl Introspector {
    pub(crate) fn new(client_id: &str, client_secret: &str, max_age: Duration, capacity: usize) -> Result<Self, Error> {
        Ok(Self {
            authorization: basic_authorization(client_id, client_secret)?,
            client_id: client_id.to_owned(),
            max_age,
            cache: Mutex::new(Cache {
                active: ExpiringMap::new(capacity),
                rejected: ExpiringMap::new((capacity / 4).max(usize::from(capacity > 0))),
            }),
        })
    }

    /// Validates an opaque token: from the cache, or by asking the server.
    pub(crate) async fn validate(
        &self,
        token: &str,
        upstream: &Upstream,
        audience: &str,
        time: &TimeCheck,
    ) -> Result<Claims, Error> {
        let key = hash(token);
        let cached_at = Instant::now();
        {
            let mut cache = lock(&self.cache);
            if let Some(claims) = cache.active.get(&key, cached_at) {
                // The entry never outlives `exp`, but the leeway-free clock may still differ.
                time.check(claims.expires_at, None, None)?;
                return Ok((*claims).clone());
            }
            if let Some(reason) = cache.rejected.get(&key, cached_at) {
                return Err(reason.into());
            }
        }

        let (answer, raw) = self.introspect(token, upstream).await?;
        let result = check_answer(answer, raw, &upstream.issuer, audience, time);

        let now = Instant::now();
        let mut cache = lock(&self.cache);
        match &result {
            Ok(claims) => {
                let left = u64::try_from(claims.expires_at.saturating_sub(time.now)).unwrap_or(0);
                let ttl = self.max_age.min(Duration::from_secs(left));
                cache.rejected.remove(&key);
                cache.active.insert(key, Arc::new(claims.clone()), now + ttl, now);
            }
            Err(reason) => {
                let ttl = self.max_age.min(REJECTED_MAX_AGE);
                cache.active.remove(&key);
                cache.rejected.insert(key, *reason, now + ttl, now);
            }
        }
        result.map_err(Error::InvalidToken)
    }

    /// RFC 7662 §2.1: POST `token=…&token_type_hint=access_token` with HTTP Basic client auth.
    async fn introspect(
        &self,
        token: &str,
        upstream: &Upstream,
    ) -> Result<(IntrospectionResponse, serde_json::Value), Error> {
        let url = upstream.introspection_endpoint().await?;
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("token", token)
            .append_pair("token_type_hint", "access_token")
            .finish();
        let resp = upstream
            .http
            .post(url)
            .header(AUTHORIZATION, self.authorization.clone())
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"))
            .body(body)
            .send()
            .await
            // reqwest's error names the URL, never the body, so the token stays out of it.
            .map_err(|e| Error::unavailable("introspection", e.without_url()))?;
        match resp.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(Error::Configuration(format!(
                    "the authorization server refused this resource server's introspection \
                     credentials (client_id {:?}, HTTP {})",
                    self.client_id,
                    resp.status()
                )));
            }
            s => {
                return Err(Error::unavailable("introspection", format!("HTTP status {s}")));
            }
        }
        let body = upstream::read_body(resp, "introspection").await?;
        let raw: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| Error::unavailable("introspection", format!("malformed response: {e}")))?;
        let answer = IntrospectionResponse::deserialize(&raw)
            .map_err(|e| Error::unavailable("introspection", format!("malformed response: {e}")))?;
        Ok((answer, raw))
    }
}

/// RFC 7662 §4: the resource server checks what the answer says against its own expectations.
fn check_answer(
    a: IntrospectionResponse,
    raw: serde_json::Value,
    issuer: &str,
    audience: &str,
    time: &TimeCheck,
) -> Result<Claims, InvalidToken> {
    if !a.active {
        return Err(InvalidToken::Inactive);
    }
    // `DPoP` (RFC 9449 §6.2): a bound access token; its `cnf.jkt` is checked by the caller.
    if a.token_type.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("bearer") && !t.eq_ignore_ascii_case("dpop")) {
        return Err(InvalidToken::NotAnAccessToken);
    }
    if a.iss.as_deref().is_some_and(|iss| iss != issuer) {
        return Err(InvalidToken::WrongIssuer);
    }
    if a.aud.as_deref() != Some(audience) {
        return Err(InvalidToken::WrongAudience);
    }
    let exp = a.exp.ok_or(InvalidToken::MissingClaim("exp"))?;
    time.check(exp, a.nbf, a.iat)?;
    let scopes = Scope::parse(a.scope.as_deref().unwrap_or("")).map_err(|_| InvalidToken::InvalidScope)?;
    crate::dpop::check_confirmation(&raw)?;
    Ok(Claims {
        subject: a.sub.ok_or(InvalidToken::MissingClaim("sub"))?,
        client_id: a.client_id.ok_or(InvalidToken::MissingClaim("client_id"))?,
        scopes,
        expires_at: exp,
        audience: vec![audience.to_owned()],
        jwt_id: a.jti,
        raw: raw.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_form_encoded_before_base64() {
        let h = basic_authorization("svc:billing", "p@ss word/é").unwrap();
        let b64 = h.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert_eq!(decoded, "svc%3Abilling:p%40ss+word%2F%C3%A9");
        assert!(h.is_sensitive());
    }

    #[test]
    fn expiring_map_is_bounded() {
        let now = Instant::now();
        let mut m = ExpiringMap::new(2);
        m.insert(1, "a", now + Duration::from_secs(5), now);
        m.insert(2, "b", now + Duration::from_secs(1), now);
        m.insert(3, "c", now + Duration::from_secs(9), now);
        assert_eq!(m.map.len(), 2);
        assert_eq!(m.get(&2, now), None, "the entry closest to expiry goes first");
        assert_eq!(m.get(&1, now), Some("a"));
        assert_eq!(m.get(&1, now + Duration::from_secs(6)), None, "expired");
        let mut off = ExpiringMap::new(0);
        off.insert(1, "a", now + Duration::from_secs(5), now);
        assert_eq!(off.get(&1, now), None);
    }

    #[test]
    fn time_checks_use_the_leeway() {
        let t = TimeCheck { now: 1000, leeway: 30 };
        assert_eq!(t.check(1029, None, None), Ok(()));
        assert_eq!(t.check(970, None, None), Err(InvalidToken::Expired));
        assert_eq!(t.check(2000, Some(1030), Some(1000)), Ok(()));
        assert_eq!(t.check(2000, Some(1031), None), Err(InvalidToken::NotYetValid));
        assert_eq!(t.check(2000, None, Some(1031)), Err(InvalidToken::IssuedInFuture));
    }
}
