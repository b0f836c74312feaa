//! Validate Keycard access tokens in a resource server (an API that accepts Keycard tokens).
//!
//! - **JWT access tokens** (RFC 9068) are verified locally against the authorization server's
//!   JWKS, which is cached, refreshed on key rotation and rate-limited against forged `kid`s.
//! - **Opaque access tokens** (`kc_at_…`) are checked by RFC 7662 introspection with this
//!   resource server's own client credentials, and the answers cached for a short while.
//!
//! The [`Validator`] is configured with the issuer (its RFC 8414 metadata gives the JWKS and
//! introspection URLs) and the audience this API expects. Share one per process in an `Arc`.
//!
//! # Quickstart without axum
//!
//! ```no_run
//! use keycard_resource::Validator;
//!
//! # async fn run() -> Result<(), keycard_resource::Error> {
//! let validator = Validator::builder("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .build()?;
//! let claims = validator.validate("eyJhbGciOiJFUzI1NiIs...").await?;
//! claims.require_scopes(["invoices:read"])?;
//! println!("{} via {} may read invoices", claims.subject, claims.client_id);
//! # Ok(()) }
//! ```
//!
//! Any framework: [`bearer_token`] reads the `Authorization` header, and [`Error::status`] and
//! [`Error::www_authenticate`] give the RFC 6750 §3 response.
//!
//! # Quickstart with axum (feature `axum`)
//!
//! ```no_run
//! # #[cfg(feature = "axum")] mod example {
//! use axum::{Router, routing::get};
//! use keycard_resource::{Validator, axum::{BearerClaims, require_scopes}};
//! use std::sync::Arc;
//!
//! async fn invoices(BearerClaims(claims): BearerClaims) -> String { claims.subject.clone() }
//!
//! # pub fn app() -> Result<Router, keycard_resource::Error> {
//! let validator = Arc::new(Validator::builder("https://auth.example.com").audience("https://api.example.com").build()?);
//! let app = Router::new()
//!     .route("/invoices", get(invoices).route_layer(require_scopes(validator.clone(), ["invoices:read"])))
//!     .with_state(validator);
//! # Ok(app) }
//! # }
//! ```
//!
//! Missing, bad or under-scoped tokens never reach the handler: they get 401/403/400 answers
//! with RFC 6750 `WWW-Authenticate` challenges. See the `axum` module.
//!
//! # What is checked
//!
//! JWT: `typ` is `at+jwt` (or `application/at+jwt`); the signature verifies with the JWKS key
//! named by `kid`; the algorithm is the *key's* (ES256 for EC P-256, RS256 for RSA, EdDSA for
//! Ed25519): `none` and HMAC are never accepted and a header `alg` that differs from the key's
//! is refused; `iss` equals the configured issuer exactly; `aud` (string or array) contains the
//! audience; `exp`, `nbf` and `iat` hold within the leeway; `sub`, `client_id` and `jti` exist.
//!
//! Opaque: introspection says `active`, with this audience and issuer, not expired.
//!
//! # DPoP-bound tokens (RFC 9449)
//!
//! A token with `cnf.jkt` is bound to the client's key: it must come as
//! `Authorization: DPoP <token>` with a `DPoP` proof header, and [`Validator::validate`] (the
//! `Bearer` scheme) refuses it with [`InvalidToken::DpopBound`]. Check it with
//! [`Validator::validate_dpop`] (token, proof headers, method, URL) or
//! [`Validator::validate_request`] (headers, method and URI of a request, either scheme: what
//! the axum extractor calls). The proof's `htu` is compared with
//! [`ValidatorBuilder::public_url`] joined with the request path. Each accepted proof's `jti` is
//! remembered in memory per validator (see the `resource_dpop` module notes in
//! docs/resource-servers.md: several instances each keep their own). An unbound token presented
//! as `DPoP` is refused ([`InvalidToken::NotDpopBound`]). The proof checks themselves are
//! [`dpop::verify_proof`], the same code the Keycard server runs.
//!
//! # Errors and HTTP
//!
//! See [`Error`]: 401 `invalid_token`, 403 `insufficient_scope`, 400 `invalid_request`, and
//! 503 when the authorization server is unreachable (never 401: the token may be fine).
//!
//! # Layout
//! - [`error`]: [`Error`] and [`InvalidToken`], their status codes and challenges.
//! - `bearer`: finding the token in a request ([`bearer_token`], [`access_token`]).
//! - [`dpop`]: the RFC 9449 §4.3 proof verifier shared with the server (pure, no I/O).
//! - `resource_dpop`: DPoP-bound tokens at a resource server, its in-memory `jti` cache.
//! - `jwt`: JWT parsing and claim checks.
//! - `jwks`: the JWKS cache.
//! - [`jwk`]: foreign public keys (client JWK Sets, DPoP proof keys), RFC 7638 thumbprints and
//!   compact JWS verification with them.
//! - `introspection`: RFC 7662 client and its cache.
//! - `upstream`: RFC 8414 metadata and bounded HTTP reads.
//! - `axum` (feature `axum`): extractor, scope layer, `IntoResponse`.
#![deny(missing_docs)]

mod bearer;
pub mod dpop;
pub mod error;
mod introspection;
pub mod jwk;
mod jwks;
mod jwt;
mod resource_dpop;
mod upstream;

#[cfg(feature = "axum")]
pub mod axum;

pub use bearer::{Scheme, access_token, bearer_token};
pub use error::{Error, InvalidToken};
pub use introspection::REJECTED_MAX_AGE;
pub use keycard_types::Scope;

use introspection::{Introspector, TimeCheck};
use jwks::{JwksCache, JwksTiming};
use reqwest::Url;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use upstream::Upstream;

/// Prefix of Keycard's opaque access tokens.
pub const OPAQUE_TOKEN_PREFIX: &str = "kc_at_";

/// Longest token accepted; anything longer is refused before any work.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// The verified facts of an access token.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims {
    /// `sub`: the user, or for the client-credentials grant the client (RFC 9068 §2.2).
    pub subject: String,
    /// `client_id`: the client the token was issued to.
    pub client_id: String,
    /// `scope`: the granted scopes (empty when the token has none).
    pub scopes: Scope,
    /// `exp`, in seconds since the Unix epoch.
    pub expires_at: i64,
    /// `aud`: every audience of the token (it contains the configured one).
    pub audience: Vec<String>,
    /// `jti`: always present for JWTs; for opaque tokens when introspection returns it.
    pub jwt_id: Option<String>,
    /// Every claim as received: the JWT payload, or the introspection response.
    pub raw: std::sync::Arc<serde_json::Value>,
}

impl Claims {
    /// Does the token grant `scope`?
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    /// RFC 6750 §3.1: succeeds when the token grants every scope in `required`, otherwise
    /// [`Error::InsufficientScope`] (403) naming all of `required`.
    ///
    /// ```
    /// # use keycard_resource::{Claims, Scope, Error};
    /// # let claims = Claims { subject: "u".into(), client_id: "c".into(),
    /// #     scopes: Scope::parse("invoices:read").unwrap(), expires_at: 0, audience: vec![],
    /// #     jwt_id: None, raw: serde_json::Value::Null.into() };
    /// assert!(claims.require_scopes(["invoices:read"]).is_ok());
    /// assert!(matches!(
    ///     claims.require_scopes(&["invoices:read", "invoices:write"]),
    ///     Err(Error::InsufficientScope { .. })
    /// ));
    /// ```
    pub fn require_scopes<I, S>(&self, required: I) -> Result<(), Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.require_scope_set(&Scope::from_tokens(required.into_iter().map(|s| s.as_ref().to_owned())))
    }

    /// [`Claims::require_scopes`] with the set already built (the layer's per-request check
    /// allocates nothing when the token passes).
    pub fn require_scope_set(&self, required: &Scope) -> Result<(), Error> {
        if required.is_subset(&self.scopes) {
            Ok(())
        } else {
            Err(Error::InsufficientScope { required: required.clone() })
        }
    }
}

/// Validates Keycard access tokens; see the [crate documentation](crate). Build one with
/// [`Validator::builder`] and share it (`Arc<Validator>`): it holds the caches.
#[derive(Debug)]
pub struct Validator {
    upstream: Upstream,
    audience: String,
    leeway: Duration,
    jwks: JwksCache,
    introspector: Option<Introspector>,
    verified: VerifiedCache,
    dpop: resource_dpop::DpopSettings,
}

/// JWTs that already passed every check: presenting the same token again (the usual case: a
/// client reuses its access token until it expires) skips the signature verification, by far the
/// most expensive step, but every time-based check (`exp`, `nbf`, with the leeway) still runs on
/// each use. An entry lives at most `max_age` (so a key withdrawn from the JWKS stops being
/// honoured within that time); the map is bounded and starts over when full.
///
/// The map is keyed by a keyed hash (SipHash with a random per-process key) of the token's
/// signature segment, and an entry keeps the signing input (header and claims, which are not
/// secret: the claims are cached anyway) but never the signature. So, as for introspection, a
/// memory dump of a resource server holds no usable token: the signature cannot be recovered from
/// 64 bits of hash. A hit needs the signature's hash and the whole signing input, compared in
/// constant time, to match: a forged token that reuses a real token's header and claims under
/// another signature matches only if its signature collides under a key the sender does not know
/// (one chance in 2^64 per try, and every miss costs the sender a full verification), and a token
/// that reuses a real signature under other claims is a miss. Either way the token is then fully
/// verified and refused. Only verified tokens are inserted, so no client can fill the map with
/// chosen keys. SHA-256 would do the same at 3 to 4 times the cost per request.
struct VerifiedCache {
    map: std::sync::RwLock<std::collections::HashMap<u64, Verified>>,
    hasher: std::hash::RandomState,
    capacity: usize,
    max_age: i64,
}

/// A cache entry: the token's signing input, its claims and the times every use re-checks.
struct Verified {
    signing_input: Box<[u8]>,
    claims: std::sync::Arc<Claims>,
    nbf: Option<i64>,
    iat: Option<i64>,
    stored_at: i64,
}

impl std::fmt::Debug for VerifiedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedCache").field("capacity", &self.capacity).field("max_age", &self.max_age).finish()
    }
}

impl VerifiedCache {
    /// The signing input (up to the last `.`) and the keyed hash of the signature (after it).
    fn split<'t>(&self, token: &'t [u8]) -> Option<(&'t [u8], u64)> {
        use std::hash::BuildHasher;
        let dot = token.iter().rposition(|&b| b == b'.')?;
        Some((&token[..dot], self.hasher.hash_one(&token[dot + 1..])))
    }

    fn get(&self, token: &[u8], time: &TimeCheck) -> Option<std::sync::Arc<Claims>> {
        if self.capacity == 0 {
            return None;
        }
        let (signing_input, key) = self.split(token)?;
        let map = self.map.read().unwrap_or_else(|e| e.into_inner());
        let v = map.get(&key)?;
        (same_bytes(&v.signing_input, signing_input)
            && time.now - v.stored_at < self.max_age
            && time.check(v.claims.expires_at, v.nbf, v.iat).is_ok())
        .then(|| v.claims.clone())
    }

    fn insert(&self, token: &str, claims: &std::sync::Arc<Claims>, now: i64) {
        if self.capacity == 0 {
            return;
        }
        let Some((signing_input, key)) = self.split(token.as_bytes()) else {
            return;
        };
        let time = |name: &str| claims.raw.get(name).and_then(|v| v.as_f64()).map(|f| f as i64);
        let (nbf, iat) = (time("nbf"), time("iat"));
        let entry = Verified { signing_input: signing_input.into(), claims: claims.clone(), nbf, iat, stored_at: now };
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= self.capacity {
            map.clear();
        }
        map.insert(key, entry);
    }
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// How many `.` in `s`. Counted in `u8` lanes per 255-byte chunk: a plain `filter().count()`
/// widens every byte to 64 bits and was a quarter of the cost of a cached validation.
fn count_dots(s: &[u8]) -> usize {
    s.chunks(255).map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == b'.')))).sum()
}

/// `a == b` in time that depends on the lengths only: an OR of XORs over 8-byte words, with no
/// early exit, which the compiler vectorises (a byte-at-a-time `CRYPTO_memcmp` costs about a
/// cycle per byte). Lengths are not secret.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or_default());
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = wa.remainder().iter().zip(wb.remainder()).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    let diff = wa.zip(wb).fold(0u64, |acc, (x, y)| acc | (word(x) ^ word(y)));
    std::hint::black_box(diff | u64::from(tail)) == 0
}

impl Validator {
    /// Starts configuring a validator for tokens issued by `issuer` (compared exactly with the
    /// tokens' `iss`, so write it as Keycard's metadata does, usually without a trailing `/`).
    pub fn builder(issuer: impl Into<String>) -> ValidatorBuilder {
        ValidatorBuilder::new(issuer.into())
    }

    /// The configured issuer.
    pub fn issuer(&self) -> &str {
        &self.upstream.issuer
    }

    /// The configured audience.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Validates an access token now. See [`Validator::validate_at`].
    // The crate's one read of the wall clock; everything below takes the time as an input.
    #[allow(clippy::disallowed_methods)]
    pub async fn validate(&self, token: &str) -> Result<Claims, Error> {
        self.validate_at(token, SystemTime::now()).await
    }

    /// [`Validator::validate`] without copying the claims: they are shared with the validator's
    /// cache. What a framework integration calls on every request (the axum one does).
    #[allow(clippy::disallowed_methods)]
    pub async fn validate_shared(&self, token: &str) -> Result<std::sync::Arc<Claims>, Error> {
        self.validate_shared_at(token, SystemTime::now()).await
    }

    /// Validates an access token as of `now` (for tests; [`Validator::validate`] passes the
    /// system clock). A JWT is verified locally; a `kc_at_` token is introspected; anything
    /// else is [`InvalidToken::Malformed`]. Scopes are not checked here: see
    /// [`Claims::require_scopes`].
    pub async fn validate_at(&self, token: &str, now: SystemTime) -> Result<Claims, Error> {
        self.validate_shared_at(token, now).await.map(std::sync::Arc::unwrap_or_clone)
    }

    /// The bearer-scheme validation: a DPoP-bound token is refused (RFC 9449 §7.2).
    async fn validate_shared_at(&self, token: &str, now: SystemTime) -> Result<std::sync::Arc<Claims>, Error> {
        let claims = self.validate_token_at(token, now).await?;
        if dpop::bound_jkt(&claims.raw).is_some() {
            return Err(InvalidToken::DpopBound.into());
        }
        Ok(claims)
    }

    /// The token's own checks, whatever the scheme.
    async fn validate_token_at(&self, token: &str, now: SystemTime) -> Result<std::sync::Arc<Claims>, Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
            return Err(InvalidToken::Malformed.into());
        }
        let now = unix_seconds(now);
        let time = self.time_check(now);
        if token.starts_with(OPAQUE_TOKEN_PREFIX) {
            let Some(introspector) = &self.introspector else {
                return Err(InvalidToken::OpaqueNotAccepted.into());
            };
            // Boxed, as below.
            let answer = Box::pin(introspector.validate(token, &self.upstream, &self.audience, &time)).await;
            return answer.map(std::sync::Arc::new);
        }
        if count_dots(token.as_bytes()) == 2 {
            if let Some(claims) = self.verified.get(token.as_bytes(), &time) {
                return Ok(claims);
            }
            // Boxed: verification may fetch the JWKS, and that future is large (over 1 KB). Held
            // inline it would make every caller's future (an axum handler's, say) that large,
            // allocated and moved at that size on every request, cache hits included: that was
            // most of what validation cost the demo API.
            let verified = Box::pin(jwt::validate(token, &self.jwks, &self.upstream, &self.audience, &time)).await;
            let claims = std::sync::Arc::new(verified?);
            self.verified.insert(token, &claims, now);
            return Ok(claims);
        }
        Err(InvalidToken::Malformed.into())
    }

    /// The claims of `token` if it was verified before and its time checks pass now: the
    /// per-request fast path of the axum integration. `None` says nothing about the token.
    #[cfg(feature = "axum")]
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn cached(&self, token: &[u8]) -> Option<std::sync::Arc<Claims>> {
        self.verified.get(token, &self.time_check(unix_seconds(SystemTime::now())))
    }

    fn time_check(&self, now: i64) -> TimeCheck {
        TimeCheck { now, leeway: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX) }
    }

    /// Fetches the metadata (when used) and the JWKS now instead of at the first request, so a
    /// misconfiguration shows at start-up. Optional.
    pub async fn warm_up(&self) -> Result<(), Error> {
        self.jwks.ensure_loaded(&self.upstream).await?;
        if self.introspector.is_some() {
            self.upstream.introspection_endpoint().await?;
        }
        Ok(())
    }
}

/// Configures a [`Validator`]; from [`Validator::builder`].
///
/// ```
/// use std::time::Duration;
/// let validator = keycard_resource::Validator::builder("https://auth.example.com")
///     .audience("https://api.example.com")
///     .leeway(Duration::from_secs(10))
///     .introspection_credentials("svc:billing", "s3cret")
///     .build()
///     .unwrap();
/// # drop(validator);
/// ```
#[must_use]
pub struct ValidatorBuilder {
    issuer: String,
    audience: Option<String>,
    metadata_url: Option<String>,
    jwks_uri: Option<String>,
    introspection_endpoint: Option<String>,
    credentials: Option<(String, String)>,
    leeway: Duration,
    jwks_max_age: Duration,
    jwks_refetch_interval: Duration,
    introspection_cache_max_age: Duration,
    introspection_cache_capacity: usize,
    verified_cache_capacity: usize,
    http: Option<reqwest::Client>,
    allow_http: bool,
    public_url: Option<String>,
    dpop_proof_max_age: Duration,
    dpop_replay_capacity: usize,
}

impl std::fmt::Debug for ValidatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorBuilder")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("client_id", &self.credentials.as_ref().map(|c| &c.0))
            .finish_non_exhaustive()
    }
}

impl ValidatorBuilder {
    /// Default clock-skew allowance for `exp`, `nbf` and `iat`.
    pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
    /// Largest leeway [`build`](Self::build) accepts.
    pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
    /// Default age after which the JWKS is refetched.
    pub const DEFAULT_JWKS_MAX_AGE: Duration = Duration::from_secs(600);
    /// Default minimum time between two JWKS refetches caused by an unknown `kid`.
    pub const DEFAULT_JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
    /// Default lifetime of a cached introspection answer.
    pub const DEFAULT_INTROSPECTION_CACHE_MAX_AGE: Duration = Duration::from_secs(60);
    /// Default number of cached active introspection answers (refusals get a quarter of it).
    pub const DEFAULT_INTROSPECTION_CACHE_CAPACITY: usize = 10_000;
    /// Default for [`ValidatorBuilder::verified_cache_capacity`].
    pub const DEFAULT_VERIFIED_CACHE_CAPACITY: usize = 10_000;
    /// Timeout of the default HTTP client.
    pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
    /// Default for [`ValidatorBuilder::dpop_proof_max_age`].
    pub const DEFAULT_DPOP_PROOF_MAX_AGE: Duration = Duration::from_secs(60);
    /// Default for [`ValidatorBuilder::dpop_replay_capacity`].
    pub const DEFAULT_DPOP_REPLAY_CAPACITY: usize = 100_000;

    fn new(issuer: String) -> Self {
        Self {
            issuer,
            audience: None,
            metadata_url: None,
            jwks_uri: None,
            introspection_endpoint: None,
            credentials: None,
            leeway: Self::DEFAULT_LEEWAY,
            jwks_max_age: Self::DEFAULT_JWKS_MAX_AGE,
            jwks_refetch_interval: Self::DEFAULT_JWKS_REFETCH_INTERVAL,
            introspection_cache_max_age: Self::DEFAULT_INTROSPECTION_CACHE_MAX_AGE,
            introspection_cache_capacity: Self::DEFAULT_INTROSPECTION_CACHE_CAPACITY,
            verified_cache_capacity: Self::DEFAULT_VERIFIED_CACHE_CAPACITY,
            http: None,
            allow_http: false,
            public_url: None,
            dpop_proof_max_age: Self::DEFAULT_DPOP_PROOF_MAX_AGE,
            dpop_replay_capacity: Self::DEFAULT_DPOP_REPLAY_CAPACITY,
        }
    }

    /// RFC 9449 §4.3: this resource server's public base URL (scheme, host, port and any path
    /// prefix, as clients address it, e.g. `https://api.example.com`): a DPoP proof's `htu`
    /// must be it joined with the request's path. Default: the audience, when it is an
    /// `http(s)` URL. Never taken from the request's `Host` header.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// How old a DPoP proof's `iat` may be (default 60 s, at most 10 min); the leeway applies
    /// to an `iat` ahead of the clock. Also how long each proof's `jti` is remembered.
    pub fn dpop_proof_max_age(mut self, max_age: Duration) -> Self {
        self.dpop_proof_max_age = max_age;
        self
    }

    /// How many recently accepted DPoP proofs are remembered for replay detection (default
    /// 100 000, about 40 bytes each). When it is full of live entries new proofs are refused.
    pub fn dpop_replay_capacity(mut self, capacity: usize) -> Self {
        self.dpop_replay_capacity = capacity;
        self
    }

    /// The audience this resource server expects in `aud` (required), e.g. its base URL.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Where to read RFC 8414 metadata, instead of the URL derived from the issuer
    /// (`{issuer}/.well-known/oauth-authorization-server`, with RFC 8414 §3.1 path insertion
    /// for an issuer that has a path).
    pub fn metadata_url(mut self, url: impl Into<String>) -> Self {
        self.metadata_url = Some(url.into());
        self
    }

    /// The JWKS URL, instead of `jwks_uri` from the metadata.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The RFC 7662 introspection URL, instead of `introspection_endpoint` from the metadata.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        self.introspection_endpoint = Some(url.into());
        self
    }

    /// This resource server's own client credentials for introspection (HTTP Basic, RFC 6749
    /// §2.3.1). Without them opaque tokens are refused with
    /// [`InvalidToken::OpaqueNotAccepted`].
    pub fn introspection_credentials(mut self, client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        self.credentials = Some((client_id.into(), client_secret.into()));
        self
    }

    /// Clock-skew allowance for `exp`, `nbf` and `iat` (default 30 s, at most 5 min).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Age after which the JWKS is refetched (default 10 min).
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Minimum time between two JWKS refetches caused by an unknown `kid` (default 30 s): this
    /// bounds the load forged `kid`s can cause. Also the longest wait (capped at 5 s) before a
    /// failed fetch is retried.
    pub fn jwks_refetch_interval(mut self, interval: Duration) -> Self {
        self.jwks_refetch_interval = interval;
        self
    }

    /// How long an introspection answer is reused (default 60 s; zero turns the cache off).
    /// This is how long a revoked opaque token may still be accepted.
    pub fn introspection_cache_max_age(mut self, max_age: Duration) -> Self {
        self.introspection_cache_max_age = max_age;
        self
    }

    /// How many active introspection answers are kept (default 10 000).
    pub fn introspection_cache_capacity(mut self, capacity: usize) -> Self {
        self.introspection_cache_capacity = capacity;
        self
    }

    /// How many verified JWTs to remember so that a token presented again skips its signature
    /// check (time checks still run every time); 0 turns the cache off. Default 10 000. An entry
    /// holds the token's header and claims (never its signature), about 1–2 KB.
    pub fn verified_cache_capacity(mut self, capacity: usize) -> Self {
        self.verified_cache_capacity = capacity;
        self
    }

    /// The HTTP client for metadata, JWKS and introspection. The default one has a 10 s
    /// timeout and follows no redirects; one of yours should have a timeout too.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Allows plain `http` URLs to non-loopback hosts (default: only `https`, and `http` to
    /// `localhost`/`127.0.0.0/8`/`::1`). Only for a network you trust.
    pub fn allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Checks the configuration and builds the validator. Nothing is fetched yet (see
    /// [`Validator::warm_up`]). Fails with [`Error::Configuration`].
    pub fn build(self) -> Result<Validator, Error> {
        let config = |m: String| Error::Configuration(m);
        let audience = self.audience.filter(|a| !a.is_empty()).ok_or_else(|| config("audience is required".into()))?;
        if self.leeway > Self::MAX_LEEWAY {
            return Err(config(format!("leeway {:?} exceeds {:?}", self.leeway, Self::MAX_LEEWAY)));
        }
        let url = |what: &str, s: &str| -> Result<Url, Error> {
            let u = Url::parse(s).map_err(|e| config(format!("{what} {s:?} is not a URL: {e}")))?;
            upstream::check_scheme(&u, self.allow_http).map_err(|m| config(format!("{what}: {m}")))?;
            Ok(u)
        };
        let issuer_url = url("issuer", &self.issuer)?;
        let metadata_url = match &self.metadata_url {
            Some(s) => url("metadata_url", s)?,
            None => upstream::metadata_url(&issuer_url),
        };
        let jwks_uri = self.jwks_uri.as_deref().map(|s| url("jwks_uri", s)).transpose()?;
        if self.dpop_proof_max_age > Duration::from_secs(600) {
            return Err(config("dpop_proof_max_age exceeds 10 minutes".into()));
        }
        let public_url = match self.public_url {
            Some(u) => {
                if dpop::normalized_htu(&u).is_none() {
                    return Err(config(format!("public_url {u:?} is not an absolute http(s) URL")));
                }
                Some(u)
            }
            None => dpop::normalized_htu(&audience).is_some().then(|| audience.clone()),
        };
        let introspection_endpoint =
            self.introspection_endpoint.as_deref().map(|s| url("introspection_endpoint", s)).transpose()?;
        let http = match self.http {
            Some(c) => c,
            None => reqwest::Client::builder()
                .timeout(Self::HTTP_TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?,
        };
        let failure_backoff = self.jwks_refetch_interval.min(Duration::from_secs(5));
        let introspector = self
            .credentials
            .map(|(id, secret)| {
                Introspector::new(&id, &secret, self.introspection_cache_max_age, self.introspection_cache_capacity)
            })
            .transpose()?;
        Ok(Validator {
            upstream: Upstream::new(
                http,
                self.issuer,
                metadata_url,
                self.allow_http,
                jwks_uri,
                introspection_endpoint,
                failure_backoff,
            ),
            audience,
            leeway: self.leeway,
            jwks: JwksCache::new(JwksTiming {
                max_age: self.jwks_max_age,
                refetch_interval: self.jwks_refetch_interval,
                failure_backoff,
            }),
            introspector,
            verified: VerifiedCache {
                map: Default::default(),
                hasher: std::hash::RandomState::new(),
                capacity: self.verified_cache_capacity,
                max_age: i64::try_from(self.jwks_max_age.as_secs()).unwrap_or(i64::MAX).min(300),
            },
            dpop: resource_dpop::DpopSettings {
                public_url,
                max_age_secs: i64::try_from(self.dpop_proof_max_age.as_secs()).unwrap_or(600),
                replay: resource_dpop::ReplayCache::new(self.dpop_replay_capacity),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_dots() {
        assert_eq!(count_dots(b""), 0);
        assert_eq!(count_dots(b"a.b.c"), 2);
        assert_eq!(count_dots(&[b'.'; 255]), 255);
        assert_eq!(count_dots(&[b'.'; 1000]), 1000);
        let mut t = vec![b'x'; 700];
        t[254] = b'.';
        t[255] = b'.';
        t[699] = b'.';
        assert_eq!(count_dots(&t), 3);
    }

    #[test]
    fn same_bytes_compares_every_byte() {
        let a: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        for len in [0, 1, 7, 8, 9, 63, 64, 65, 441, 1000] {
            assert!(same_bytes(&a[..len], &a[..len]));
            for i in 0..len {
                let mut b = a[..len].to_vec();
                b[i] ^= 0x01;
                assert!(!same_bytes(&a[..len], &b), "len {len}, byte {i}");
            }
            if len > 0 {
                assert!(!same_bytes(&a[..len], &a[..len - 1]));
            }
        }
    }

    #[test]
    fn builder_checks_configuration() {
        let b = || Validator::builder("https://as.example");
        assert!(matches!(b().build(), Err(Error::Configuration(_))), "audience required");
        assert!(b().audience("api").build().is_ok());
        assert!(b().audience("api").leeway(Duration::from_secs(301)).build().is_err());
        assert!(Validator::builder("not a url").audience("api").build().is_err());
        assert!(Validator::builder("http://as.example").audience("api").build().is_err());
        assert!(Validator::builder("http://as.example").audience("api").allow_http(true).build().is_ok());
        assert!(b().audience("api").jwks_uri("http://evil.example/jwks").build().is_err());
    }

    #[tokio::test]
    async fn refuses_garbage_before_any_fetch() {
        // Port 9 (discard) on loopback: any fetch would fail with "unavailable", not "invalid".
        let v = Validator::builder("http://127.0.0.1:9").audience("api").build().unwrap();
        for t in ["", "abc", "a.b", "a.b.c.d.e", &"x".repeat(MAX_TOKEN_LEN + 1), "é.b.c"] {
            assert!(matches!(v.validate(t).await, Err(Error::InvalidToken(InvalidToken::Malformed))), "{t:?}");
        }
        assert!(matches!(v.validate("kc_at_abc").await, Err(Error::InvalidToken(InvalidToken::OpaqueNotAccepted))));
    }
}
