//! RFC 6749 §2.3.1 client authentication (OAuth 2.1 §2.4.1): `client_secret_basic`
//! (HTTP Basic with the id and secret each form-urlencoded before base64) and
//! `client_secret_post` (`client_id` + `client_secret` in the body); public clients identify
//! with `client_id` alone. One method per request (OAuth 2.1 §2.4), and only the one the client
//! registered (RFC 7591 §2 `token_endpoint_auth_method`): a `client_secret_basic` client cannot
//! send its secret in the body, nor a `client_secret_post` client in a Basic header. Secrets are
//! compared as keyed hashes in constant time, and an unknown client costs the same hash as a
//! known one. Wrong secrets are throttled per client and address
//! ([`client_throttle`](super::client_throttle)).
//!
//! JWT assertions (RFC 7521 §4.2, RFC 7523 §2.2; OIDC Core §9 `private_key_jwt` and
//! `client_secret_jwt`) arrive as `client_assertion_type` + `client_assertion`; the client is
//! the assertion's `sub`, and the checks are [`client_assertion`](super::client_assertion)'s.
//! Wrong assertions are throttled like wrong secrets; every `jti` is spent in the cross-node
//! replay cache (`Store::consume_once`).
//!
//! Every endpoint that authenticates clients (token, introspection, revocation, device
//! authorization, PAR) goes through [`presented`] then [`authenticate`]; a new method (e.g.
//! `tls_client_auth`) adds a [`Presented`] variant, its check in [`authenticate`], and its
//! [`AuthMethod`] in [`Presented::method`].

use super::client_assertion::{self, Assertion};
use super::params::{Params, decode_component};
use super::{OAuthError, client_throttle};
use crate::jose;
use crate::model::{AuthMethod, Client};
use crate::state::AppState;
use base64::Engine as _;
use std::fmt;
use std::sync::Arc;

/// The stand-in client id (not a valid one: it has spaces) under which wrong secrets for
/// unknown client ids are counted, so they cost the same write as a known client's.
const UNKNOWN_CLIENT: &str = "<unknown client>";

/// What the client presented.
pub enum Presented {
    /// `Authorization: Basic`.
    Basic {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// `client_id` and `client_secret` in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// RFC 7523 §2.2: `client_assertion_type` = jwt-bearer and a `client_assertion` (not yet
    /// verified; its `sub` names the client).
    Assertion(Box<Assertion>),
    /// Only `client_id` (a public client).
    IdOnly {
        /// Client id.
        id: String,
    },
    /// Nothing at all.
    Nothing,
}

impl fmt::Debug for Presented {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(f, "Basic({id:?}, <secret>)"),
            Self::Post { id, .. } => write!(f, "Post({id:?}, <secret>)"),
            Self::Assertion(a) => write!(f, "{a:?}"),
            Self::IdOnly { id } => write!(f, "IdOnly({id:?})"),
            Self::Nothing => f.write_str("Nothing"),
        }
    }
}

impl Presented {
    /// Did the client try HTTP Basic?
    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }

    /// The RFC 7591 authentication method this presentation uses (`None` when nothing was sent).
    pub fn method(&self) -> Option<AuthMethod> {
        match self {
            Self::Basic { .. } => Some(AuthMethod::ClientSecretBasic),
            Self::Post { .. } => Some(AuthMethod::ClientSecretPost),
            Self::Assertion(a) => Some(a.method()),
            Self::IdOnly { .. } => Some(AuthMethod::None),
            Self::Nothing => None,
        }
    }
}

fn basic_error(d: &'static str) -> OAuthError {
    OAuthError::invalid_client(d).with_basic_challenge(true)
}

/// Reads the credentials from the `Authorization` header value (if any) and the body.
pub fn presented(authorization: Option<&[u8]>, params: &Params) -> Result<Presented, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    // RFC 7521 §4.2 / RFC 7523 §2.2: a client assertion. It is the one method of the request
    // (OAuth 2.1 §2.4); a wrong type or a malformed assertion is invalid_client (RFC 7521
    // §4.2.1), never authenticated another way with the assertion ignored (SECURITY D4).
    let assertion = params.get("client_assertion");
    let assertion_type = params.get("client_assertion_type");
    if assertion.is_some() || assertion_type.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method (a client assertion and a secret)",
            ));
        }
        if assertion_type != Some(client_assertion::JWT_BEARER) {
            return Err(OAuthError::invalid_client(
                "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer (RFC 7523 section 2.2)",
            ));
        }
        let Some(assertion) = assertion else {
            return Err(OAuthError::invalid_client("client_assertion_type without client_assertion"));
        };
        let a = Assertion::parse(assertion)
            .map_err(|e| OAuthError::invalid_client(format!("the client assertion is malformed: {e}")))?;
        if body_id.is_some_and(|b| b != a.client_id) {
            return Err(OAuthError::invalid_client("client_id differs from the client assertion's sub"));
        }
        return Ok(Presented::Assertion(Box::new(a)));
    }
    if let Some(h) = authorization {
        let h = std::str::from_utf8(h).map_err(|_| basic_error("malformed Authorization header"))?;
        let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(basic_error("unsupported authentication scheme; use Basic"));
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .map_err(|_| basic_error("Basic credentials are not valid base64"))?;
        let raw = String::from_utf8(raw).map_err(|_| basic_error("Basic credentials are not valid UTF-8"))?;
        let (id, secret) =
            raw.split_once(':').ok_or_else(|| basic_error("Basic credentials lack the ':' separator"))?;
        // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
        let (Some(id), Some(secret)) = (decode_component(id.as_bytes()), decode_component(secret.as_bytes())) else {
            return Err(basic_error("Basic credentials are not correctly form-urlencoded (RFC 6749 section 2.3.1)"));
        };
        if id.is_empty() {
            return Err(basic_error("Basic credentials have an empty client id"));
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "the client used more than one authentication method (Basic and client_secret)",
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
        }
        return Ok(Presented::Basic { id, secret });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Presented::Post { id: id.to_owned(), secret: secret.to_owned() }),
        (Some(id), None) => Ok(Presented::IdOnly { id: id.to_owned() }),
        (None, Some(_)) => Err(OAuthError::invalid_request("client_secret without client_id")),
        (None, None) => Ok(Presented::Nothing),
    }
}

/// Authenticates the presented credentials, sent from address `ip`: the client must exist, be
/// enabled, and prove its secret when it has one; public clients may not present a secret. Every
/// failure is `invalid_client` with the same description, so the answer reveals nothing about
/// which check failed. A (client, address) pair locked after repeated wrong secrets is refused
/// with 429 before any check (SECURITY D2). A right secret sent by a method other than the
/// registered `token_endpoint_auth_method` is `invalid_client` too (RFC 6749 §5.2, with
/// `WWW-Authenticate: Basic` when Basic was tried); it is checked after the secret, so it tells
/// nothing to whoever does not know the secret, and it is not counted as a wrong secret.
pub async fn authenticate(state: &AppState, presented: &Presented, ip: &str) -> Result<Arc<Client>, OAuthError> {
    let basic = presented.is_basic();
    let fail = || OAuthError::invalid_client("client authentication failed").with_basic_challenge(basic);
    let (id, secret) = match presented {
        Presented::Assertion(a) => return authenticate_assertion(state, a, ip).await,
        Presented::Basic { id, secret } | Presented::Post { id, secret } => (id.as_str(), Some(secret.as_str())),
        Presented::IdOnly { id } => (id.as_str(), None),
        Presented::Nothing => {
            return Err(OAuthError::invalid_client("client authentication is required").with_basic_challenge(true));
        }
    };
    let now = state.clock.now();
    if secret.is_some()
        && let Some(retry_after) = state.client_locks.retry_after(id, ip, now)
    {
        return Err(client_throttle::locked(retry_after));
    }
    let client = state.clients.get(&state.store, id).await?;
    let hash_key = &state.secrets.hash_key;
    match (client, secret) {
        (Some(c), Some(s)) if !c.disabled && !c.is_public() => {
            let ok = c.secret_hash.as_deref().is_some_and(|h| jose::keyed_hash_matches(hash_key, s.as_bytes(), h));
            if ok {
                if presented.method() != Some(c.auth_method) {
                    return Err(OAuthError::invalid_client(format!(
                        "this client is registered for {}, not {} (RFC 7591 token_endpoint_auth_method)",
                        c.auth_method.as_str(),
                        presented.method().map_or("none", AuthMethod::as_str)
                    ))
                    .with_basic_challenge(basic));
                }
                return Ok(c);
            }
            // Only clients that exist are counted by id: random ids would only fill the table.
            match client_throttle::record_failure(state, id, ip, now).await? {
                Some(retry_after) => Err(client_throttle::locked(retry_after)),
                None => Err(fail()),
            }
        }
        (Some(c), None) if !c.disabled && c.is_public() => Ok(c),
        (_, Some(s)) => {
            // Same work as a wrong secret of a known client — the hash and a failure-counter
            // write — so the time does not tell whether the client exists (SECURITY D1). The
            // count goes to one row per address (random ids cannot fill the table) and is never
            // answered with 429.
            let _ = jose::keyed_hash_matches(hash_key, s.as_bytes(), "");
            let key = crate::client_locks::key(UNKNOWN_CLIENT, ip);
            let l = &state.config.login;
            state.store.count_login_attempt(&key, now, l.window_secs, l.client_max_failures).await?;
            Err(fail())
        }
        _ => Err(fail()),
    }
}

/// Why an assertion was refused.
enum Refusal {
    /// A check failed (counted by the throttle); the reason is safe to send.
    Failed(String),
    /// Verified, but by a method other than the registered one (not counted).
    WrongMethod(AuthMethod),
}

impl From<&'static str> for Refusal {
    fn from(s: &'static str) -> Self {
        Refusal::Failed(s.to_owned())
    }
}

/// RFC 7523 §3 + OIDC Core §9: authenticates a client assertion from address `ip`. The client
/// must exist, be enabled and be registered for the assertion's method; the signature is checked
/// first (with the client's public keys, or the HMAC of its sealed secret), then the claims, then
/// the `jti` is spent. A failure after the client is found is counted like a wrong secret.
async fn authenticate_assertion(state: &AppState, a: &Assertion, ip: &str) -> Result<Arc<Client>, OAuthError> {
    let id = a.client_id.as_str();
    let now = state.clock.now();
    if let Some(retry_after) = state.client_locks.retry_after(id, ip, now) {
        return Err(client_throttle::locked(retry_after));
    }
    let Some(client) = state.clients.get(&state.store, id).await?.filter(|c| !c.disabled) else {
        // Counted per address like a wrong secret for an unknown client (see `authenticate`).
        let key = crate::client_locks::key(UNKNOWN_CLIENT, ip);
        let l = &state.config.login;
        state.store.count_login_attempt(&key, now, l.window_secs, l.client_max_failures).await?;
        return Err(OAuthError::invalid_client("client authentication failed"));
    };
    match verify_assertion(state, &client, a, now).await? {
        Ok(()) => Ok(client),
        Err(Refusal::WrongMethod(used)) => Err(OAuthError::invalid_client(format!(
            "this client is registered for {}, not {} (RFC 7591 token_endpoint_auth_method)",
            client.auth_method.as_str(),
            used.as_str()
        ))),
        Err(Refusal::Failed(reason)) => match client_throttle::record_failure(state, id, ip, now).await? {
            Some(retry_after) => Err(client_throttle::locked(retry_after)),
            None => Err(OAuthError::invalid_client(format!("client authentication failed: {reason}"))),
        },
    }
}

/// The checks of [`authenticate_assertion`] once the client is known. The outer error is the
/// store's; the inner one the refusal.
async fn verify_assertion(
    state: &AppState,
    client: &Client,
    a: &Assertion,
    now: i64,
) -> Result<Result<(), Refusal>, OAuthError> {
    let method = a.method();
    let registered_alg = client.settings.token_endpoint_auth_signing_alg.as_deref();
    // The registered alg narrows only the registered method's algs.
    let narrow = if method == client.auth_method { registered_alg } else { None };
    let verified = match method {
        AuthMethod::ClientSecretJwt => {
            let Some(secret) = client
                .settings
                .sealed_secret
                .as_deref()
                .and_then(|s| crate::client_keys::open_client_secret(&state.secrets.kek, &client.id, s))
            else {
                return Ok(Err("the client has no secret usable for client_secret_jwt".into()));
            };
            client_assertion::verify_hmac(a.jws(), secret.expose().as_bytes(), narrow).map_err(Refusal::from)
        }
        _ => match client_assertion::asymmetric_algs(narrow) {
            Err(e) => Err(e.into()),
            Ok(allowed) => state
                .client_keys
                .verify_signature(client, a.jws(), &allowed)
                .await
                .map(|_| ())
                .map_err(|e| Refusal::Failed(e.to_string())),
        },
    };
    if let Err(r) = verified {
        return Ok(Err(r));
    }
    if method != client.auth_method {
        return Ok(Err(Refusal::WrongMethod(method)));
    }
    let c = &state.config.client_auth;
    let rules = client_assertion::Rules {
        issuer: state.config.issuer.trim_end_matches('/'),
        now,
        leeway: c.clock_leeway_secs,
        max_lifetime: c.assertion_max_lifetime_secs,
    };
    let checked = match client_assertion::check_claims(a.jws().claims(), &client.id, &rules) {
        Ok(checked) => checked,
        Err(e) => return Ok(Err(e.into())),
    };
    // RFC 7523 §3 point 7: single use, across nodes, until the assertion can no longer be valid.
    let ns = format!("assertion:{}", client.id);
    let hash = jose::keyed_hash(&state.secrets.hash_key, checked.jti.as_bytes());
    if !state.store.consume_once(&ns, &hash, checked.exp.saturating_add(c.clock_leeway_secs), now).await? {
        return Ok(Err("the assertion's jti was already used".into()));
    }
    Ok(Ok(()))
}

/// A browser request (`Origin` present) is accepted only from an origin registered on the
/// client (issue 4: CORS for browser apps; a form POST is a "simple" request that a foreign page
/// can send without a preflight).
pub fn check_origin(client: &Client, origin: Option<&str>) -> Result<(), OAuthError> {
    match origin {
        Some(o) if !client.settings.web_origins.iter().any(|w| w == o) => Err(OAuthError::invalid_client(
            "requests from this browser origin are not allowed for this client (register it as a web origin)",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use keycard_types::ErrorCode;

    fn basic(raw: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(raw)).into_bytes()
    }

    fn empty() -> Params {
        Params::parse(b"").unwrap()
    }

    #[test]
    fn basic_is_form_decoded() {
        let p = presented(Some(&basic("svc%3Abilling:s%2Bx+y")), &empty()).unwrap();
        match p {
            Presented::Basic { id, secret } => {
                assert_eq!(id, "svc:billing");
                assert_eq!(secret, "s+x y");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        for h in [&b"Basic !!!notbase64"[..], &basic("nocolon"), &basic("a%zz:b"), &basic(":secret"), b"Bearer abc"] {
            let e = presented(Some(h), &empty()).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidClient, "{h:?}");
            assert!(e.basic_challenge);
        }
    }

    #[test]
    fn two_methods_are_refused() {
        let p = Params::parse(b"client_secret=x&client_id=a").unwrap();
        let e = presented(Some(&basic("a:b")), &p).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        let p = Params::parse(b"client_id=other").unwrap();
        assert_eq!(presented(Some(&basic("a:b")), &p).unwrap_err().code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn assertions_are_one_method_of_the_right_type() {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
        let jwt = format!("{}.{}.c2ln", B64.encode(r#"{"alg":"ES256"}"#), B64.encode(r#"{"sub":"app","iss":"app"}"#));
        let ty = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";
        let p = Params::parse(format!("client_assertion_type={ty}&client_assertion={jwt}").as_bytes()).unwrap();
        match presented(None, &p).unwrap() {
            Presented::Assertion(a) => assert_eq!(a.client_id, "app"),
            other => panic!("{other:?}"),
        }
        let p = Params::parse(format!("client_assertion_type={ty}&client_assertion={jwt}&client_id=app").as_bytes());
        assert_eq!(presented(None, &p.unwrap()).unwrap().method(), Some(AuthMethod::PrivateKeyJwt));
        let code = |body: String, auth: Option<&[u8]>| {
            presented(auth, &Params::parse(body.as_bytes()).unwrap()).unwrap_err().code
        };
        assert_eq!(
            code(format!("client_assertion_type={ty}&client_assertion={jwt}"), Some(&basic("app:s"))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(format!("client_assertion_type={ty}&client_assertion={jwt}&client_id=app&client_secret=s"), None),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code(format!("client_assertion_type=urn%3Aother&client_assertion={jwt}"), None),
            ErrorCode::InvalidClient
        );
        assert_eq!(code(format!("client_assertion={jwt}"), None), ErrorCode::InvalidClient);
        assert_eq!(code(format!("client_assertion_type={ty}"), None), ErrorCode::InvalidClient);
        assert_eq!(
            code(format!("client_assertion_type={ty}&client_assertion=garbage"), None),
            ErrorCode::InvalidClient
        );
        assert_eq!(
            code(format!("client_assertion_type={ty}&client_assertion={jwt}&client_id=other"), None),
            ErrorCode::InvalidClient
        );
    }

    #[test]
    fn body_credentials() {
        let p = Params::parse(b"client_id=a&client_secret=b").unwrap();
        assert!(matches!(presented(None, &p).unwrap(), Presented::Post { .. }));
        let p = Params::parse(b"client_id=a").unwrap();
        assert!(matches!(presented(None, &p).unwrap(), Presented::IdOnly { .. }));
        assert!(matches!(presented(None, &empty()).unwrap(), Presented::Nothing));
        let p = Params::parse(b"client_secret=b").unwrap();
        assert!(presented(None, &p).is_err());
    }
}
