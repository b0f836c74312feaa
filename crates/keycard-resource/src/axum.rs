//! axum 0.8 integration (feature `axum`): the [`BearerClaims`] extractor, the
//! [`require_scopes`] layer, and [`IntoResponse`] for [`Error`].
//!
//! Both schemes are accepted: `Authorization: Bearer` (RFC 6750) and `Authorization: DPoP` with
//! a `DPoP` proof header for DPoP-bound tokens (RFC 9449 §7.1; the proof's `htu` is the
//! validator's [`public_url`](crate::ValidatorBuilder::public_url) with the request path). A
//! DPoP-bound token sent as `Bearer`, a bad proof, or an unbound token sent as `DPoP` is a 401
//! with a `DPoP` challenge.
//!
//! Responses follow RFC 6750 §3: 401 with `WWW-Authenticate: Bearer` alone when no token was
//! sent; 401 `invalid_token`, 403 `insufficient_scope` (with the needed `scope`) and
//! 400 `invalid_request` with `error` and `error_description` both in the challenge and in a
//! JSON body; 503/500 when the authorization server is unavailable or the validator
//! misconfigured. Every one carries `Cache-Control: no-store`.
//!
//! The layer and the extractor share their work: the layer stores the verified claims in the
//! request extensions and the extractor takes them from there, so a token is validated once per
//! request however many layers and extractors look at it.
//!
//! ```no_run
//! use axum::{Router, routing::{get, post}};
//! use keycard_resource::{Validator, axum::{BearerClaims, require_scopes}};
//! use std::sync::Arc;
//!
//! async fn list(BearerClaims(claims): BearerClaims) -> String { claims.subject.clone() }
//!
//! // A scope check inside the handler instead of a layer; `Error` is a response.
//! async fn create(BearerClaims(claims): BearerClaims) -> Result<&'static str, keycard_resource::Error> {
//!     claims.require_scopes(["invoices:write"])?;
//!     Ok("created")
//! }
//!
//! # fn app(validator: Arc<Validator>) -> Router {
//! Router::new()
//!     .route("/invoices", get(list).route_layer(require_scopes(validator.clone(), ["invoices:read"])))
//!     .route("/invoices/new", post(create))
//!     .with_state(validator)
//! # }
//! ```

use crate::bearer::{Scheme, credential_bytes};
use crate::{Claims, Error, Scope, Validator};
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use keycard_types::ErrorBody;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// Claims verified for this request, with the validator that verified them (a request that
/// passes through two validators with different audiences is checked by both).
#[derive(Clone)]
struct Verified {
    validator: Arc<Validator>,
    claims: Arc<Claims>,
}

/// Finds, validates and records the request's access token: `Bearer`, or `DPoP` with its proof
/// (RFC 9449 §7.1, [`Validator::validate_request`]).
async fn authenticate(parts: &mut Parts, validator: &Arc<Validator>) -> Result<Arc<Claims>, Error> {
    if let Some(done) = authenticate_now(parts, validator) {
        return done;
    }
    // Boxed so that the extractor's future, part of every handler's, stays small.
    let claims = Box::pin(validator.validate_request(&parts.headers, &parts.method, &parts.uri)).await?;
    parts.extensions.insert(Verified { validator: validator.clone(), claims: claims.clone() });
    Ok(claims)
}

/// [`authenticate`] without waiting: the answer when it needs no I/O (the request was already
/// checked by this validator, the token was verified before, or the header alone is wrong),
/// `None` when the token has to be verified or introspected.
fn authenticate_now(parts: &mut Parts, validator: &Arc<Validator>) -> Option<Result<Arc<Claims>, Error>> {
    if let Some(v) = parts.extensions.get::<Verified>()
        && Arc::ptr_eq(&v.validator, validator)
    {
        return Some(Ok(v.claims.clone()));
    }
    let token = match credential_bytes(&parts.headers, &parts.uri) {
        Ok((Scheme::Bearer, token)) => token,
        // Each DPoP request has a fresh proof to check (and remember).
        Ok((Scheme::Dpop, _)) => return None,
        Err(e) => return Some(Err(e)),
    };
    // A token verified before needs no character check: it passed a stricter one then.
    let claims = validator.cached(token)?;
    if crate::dpop::bound_jkt(&claims.raw).is_some() {
        // RFC 9449 §7.2: a DPoP-bound token is no bearer token.
        return Some(Err(crate::InvalidToken::DpopBound.into()));
    }
    parts.extensions.insert(Verified { validator: validator.clone(), claims: claims.clone() });
    Some(Ok(claims))
}

/// Extractor of the verified claims of the request's bearer token (RFC 6750 §2.1 header only).
/// The `Arc<Validator>` comes from the router state through [`FromRef`].
///
/// The claims are shared, not copied: the same `Arc` the [`require_scopes`] layer and the
/// validator's cache hold (it derefs to [`Claims`], so `claims.subject` reads as usual).
///
/// Rejects with [`Error`], which answers per RFC 6750 §3. As `Option<BearerClaims>` it yields
/// `None` when the request has no bearer token, and still rejects a bad one.
#[derive(Debug, Clone)]
pub struct BearerClaims(pub Arc<Claims>);

impl std::ops::Deref for BearerClaims {
    type Target = Claims;

    fn deref(&self) -> &Claims {
        &self.0
    }
}

impl<S> FromRequestParts<S> for BearerClaims
where
    Arc<Validator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let validator = Arc::<Validator>::from_ref(state);
        authenticate(parts, &validator).await.map(Self)
    }
}

impl<S> OptionalFromRequestParts<S> for BearerClaims
where
    Arc<Validator>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, Self::Rejection> {
        let validator = Arc::<Validator>::from_ref(state);
        match authenticate(parts, &validator).await {
            Ok(claims) => Ok(Some(Self(claims))),
            Err(Error::MissingToken) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        match &self {
            Error::Unavailable { .. } => {
                tracing::warn!(error = %crate::upstream::error_chain(&self), "cannot validate an access token")
            }
            Error::Configuration(_) => {
                tracing::error!(error = %self, "cannot validate an access token")
            }
            _ => {}
        }
        let body = match (self.error_code(), self.description()) {
            (Some(error), description) => {
                serde_json::to_vec(&ErrorBody { error, error_description: description.map(str::to_owned) })
                    .unwrap_or_default()
            }
            // RFC 6750 §3.1: no token, no error information.
            (None, _) => Vec::new(),
        };
        let mut resp = (self.status(), body).into_response();
        let headers = resp.headers_mut();
        if let Some(challenge) = self.www_authenticate(None)
            && let Ok(v) = HeaderValue::try_from(challenge)
        {
            headers.insert(WWW_AUTHENTICATE, v);
        }
        if self.error_code().is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        } else {
            headers.remove(CONTENT_TYPE);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// A layer that lets a request through only with a valid bearer token granting every scope in
/// `scopes`; otherwise it answers 401/403/400 per RFC 6750 §3 and the handler never runs.
/// Handlers behind it get the claims with [`BearerClaims`] at no extra cost.
///
/// Use it with `route_layer` (so unmatched paths still give 404) or on a single method router.
pub fn require_scopes<I, S>(validator: Arc<Validator>, scopes: I) -> RequireScopeLayer
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    RequireScopeLayer {
        validator,
        required: Arc::new(Scope::from_tokens(scopes.into_iter().map(|s| s.as_ref().to_owned()))),
    }
}

/// The layer made by [`require_scopes`].
#[derive(Debug, Clone)]
pub struct RequireScopeLayer {
    validator: Arc<Validator>,
    required: Arc<Scope>,
}

impl<Svc> tower_layer::Layer<Svc> for RequireScopeLayer {
    type Service = RequireScope<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        RequireScope { inner, validator: self.validator.clone(), required: self.required.clone() }
    }
}

/// The service made by [`RequireScopeLayer`].
#[derive(Debug, Clone)]
pub struct RequireScope<Svc> {
    inner: Svc,
    validator: Arc<Validator>,
    required: Arc<Scope>,
}

impl<Svc, B> tower_service::Service<Request<B>> for RequireScope<Svc>
where
    Svc: tower_service::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    Svc::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = Svc::Error;
    type Future = RequireScopeFuture<Svc::Future, Svc::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let (mut parts, body) = req.into_parts();
        // The usual case, a token seen before: decided here, and the inner service (polled
        // ready) called directly, with no clone of it and no boxed future.
        if let Some(done) = authenticate_now(&mut parts, &self.validator) {
            return match done.and_then(|claims| claims.require_scope_set(&self.required)) {
                Ok(()) => RequireScopeFuture::Inner { future: self.inner.call(Request::from_parts(parts, body)) },
                Err(e) => RequireScopeFuture::Answer { response: Some(e.into_response()) },
            };
        }
        // A token to verify or introspect: take the service that was polled ready, leave a
        // fresh clone behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let validator = self.validator.clone();
        let required = self.required.clone();
        RequireScopeFuture::Verify {
            future: Box::pin(async move {
                let checked = match authenticate(&mut parts, &validator).await {
                    Ok(claims) => claims.require_scope_set(&required),
                    Err(e) => Err(e),
                };
                match checked {
                    Ok(()) => inner.call(Request::from_parts(parts, body)).await,
                    Err(e) => Ok(e.into_response()),
                }
            }),
        }
    }
}

pub use future::RequireScopeFuture;
use future::RequireScopeProj;

mod future {
    // The projection types pin-project-lite generates carry no docs.
    #![allow(missing_docs)]
    use axum::response::Response;
    use std::future::Future;
    use std::pin::Pin;

    pin_project_lite::pin_project! {
        /// The future of [`RequireScope`](super::RequireScope): the inner service's, an
        /// immediate refusal, or the verification of a token not seen before followed by the
        /// inner service.
        #[project = RequireScopeProj]
        pub enum RequireScopeFuture<F, E> {
            /// Token already verified: the inner service's own future.
            Inner { #[pin] future: F },
            /// Refused before the inner service ran (401/403/400).
            Answer { response: Option<Response> },
            /// Token being verified or introspected.
            Verify { future: Pin<Box<dyn Future<Output = Result<Response, E>> + Send + 'static>> },
        }
    }
}

impl<F, E> Future for RequireScopeFuture<F, E>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            RequireScopeProj::Inner { future } => future.poll(cx),
            RequireScopeProj::Answer { response } => {
                // Polled again after completion (a caller's bug): a 500 rather than a panic.
                Poll::Ready(Ok(response.take().unwrap_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())))
            }
            RequireScopeProj::Verify { future } => future.as_mut().poll(cx),
        }
    }
}

impl<F, E> std::fmt::Debug for RequireScopeFuture<F, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Inner { .. } => "RequireScopeFuture::Inner",
            Self::Answer { .. } => "RequireScopeFuture::Answer",
            Self::Verify { .. } => "RequireScopeFuture::Verify",
        })
    }
}
