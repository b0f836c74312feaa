//! Protocol logic, free of HTTP and SQL: this module never names axum or sqlx (CI greps for
//! it). Handlers in [`crate::http`] extract the request, call one function here and render
//! the result; functions here decide, using the store through [`crate::store::Store`] methods.
//!
//! - [`error`]: the one error type, carrying an RFC error code.
//! - [`params`]: strict `application/x-www-form-urlencoded` parsing (duplicates, UTF-8).
//! - [`authorize`]: the authorization endpoint's validation, decision and response (RFC 6749 §4.1).
//! - [`client_auth`]: RFC 6749 §2.3.1 client authentication, the registered method only.
//! - [`client_assertion`]: JWT client assertions (RFC 7523 §2.2, §3; OIDC Core §9).
//! - [`client_throttle`]: brute force of client secrets (OAuth 2.1 §2.4.1, SECURITY D2).
//! - [`login`]: password sign-in with per-account and per-address lockout (SECURITY G8/G9).
//! - [`flow`]: the sign-in and consent interactions behind the authorization endpoint.
//! - [`logout`]: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0).
//! - [`device`]: the device authorization grant's user side (RFC 8628 §3.1–3.3, §5.1).
//! - [`oidc`], [`userinfo`]: ID tokens and UserInfo (OpenID Connect Core §2, §5.3).
//! - [`id_token_hint`]: validating an `id_token_hint` (OIDC Core §3.1.2.1, RP-Initiated Logout §4).
//! - [`browser`]: one browser's cookies, the server-minted browser-binding cookie (G1/G4).
//! - [`grant`]: the token endpoint: one file per grant behind one `match`.
//! - [`tokens`]: minting access tokens (RFC 9068 JWT or opaque).
//! - [`dpop`]: DPoP policy (RFC 9449): bound tokens, replay, code and refresh binding, nonces.
//! - [`subject`]: the `sub` a client sees (public or pairwise, OIDC Core §8).
//! - [`introspect`], [`revoke`]: RFC 7662 and RFC 7009.
//! - [`discovery`]: RFC 8414 metadata derived from the configuration.
//! - [`par`], [`jar`]: pushed authorization requests (RFC 9126) and request objects (RFC 9101).
//!
//! A new endpoint: its protocol function goes in a new module here taking `&AppState` and plain
//! inputs, returning a typed result or [`OAuthError`]; the axum handler in `http/` only extracts
//! and renders. A new grant: see [`grant`].

pub mod authorize;
pub mod browser;
pub mod client_assertion;
pub mod client_auth;
pub mod client_throttle;
pub mod device;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod flow;
pub mod grant;
pub mod id_token_hint;
pub mod introspect;
pub mod jar;
pub mod login;
pub mod logout;
pub mod oidc;
pub mod par;
pub mod params;
pub mod revoke;
pub mod subject;
pub mod tokens;
pub mod userinfo;

pub use error::OAuthError;
