//! HTTP: the only module that names axum. Handlers extract, call [`crate::oauth`], respond.
//!
//! - [`error`]: `OAuthError` → RFC 6749 §5.2 JSON response with the right status and headers.
//! - [`extract`]: the form-body extractor (content type, size, strict parsing).
//! - [`oauth`]: token, introspection, revocation, metadata and JWKS handlers.
//! - [`oidc`]: UserInfo (OpenID Connect Core §5.3, Bearer per RFC 6750 §2.1 and §3).
//! - [`client_ip`]: the client address behind trusted proxies (SECURITY I8).
//! - [`interaction`]: the browser endpoints of the authorization flow (authorize, login,
//!   consent, logout); [`device`]: RFC 8628 device authorization and verification page;
//!   [`account`]: the account pages (forgot and reset password, e-mail verification, change
//!   password; logic in `crate::people`).
//! - [`html`]: what those share: cookies, page forms, the HTML header set, rendering an outcome
//!   (the templates themselves are `crate::pages`).
//! - [`linger`]: the connection I/O that drains before closing, so an early 413/431 is read.
//! - [`router`] also applies the request-head limits (`head_limits`: 414, 431, 413).
//!
//! Adding an endpoint: write the protocol function in `oauth/`, a thin handler in a file here,
//! and a line in [`router`].

pub mod account;
pub mod client_ip;
pub mod device;
pub mod error;
pub mod extract;
pub mod html;
pub mod interaction;
pub mod linger;
pub mod oauth;
pub mod oidc;

use crate::state::AppState;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use keycard_types::ErrorCode;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The peer address of the connection (inserted by the server loop).
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub SocketAddr);

/// The client's IP address: the peer's, or behind a trusted proxy the one it forwarded
/// ([`client_ip`]). Inserted by the server loop; the throttles key on it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub std::net::IpAddr);

/// The request id header, set on every response.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route table.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.http.request_timeout_secs);
    // CORS (RFC 9700 §2.6, SECURITY A8): public documents for any origin; the endpoints browser
    // apps call only for origins registered on a client, never with credentials; nothing on
    // /authorize or the HTML pages.
    let public_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([Method::GET])
        .max_age(Duration::from_secs(3600));
    let registry = state.clients.clone();
    let client_cors = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| registry.origin_registered(o))
        }))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("dpop")])
        // RFC 9449 §8: browser apps must read the server nonce and the DPoP challenge.
        .expose_headers([HeaderName::from_static("dpop-nonce"), header::WWW_AUTHENTICATE])
        .max_age(Duration::from_secs(600));
    let public = Router::new()
        .route("/.well-known/oauth-authorization-server", get(oauth::metadata))
        .route("/.well-known/openid-configuration", get(oauth::metadata))
        .route("/jwks.json", get(oauth::jwks))
        // Set before the layer so the CORS layer also wraps it (preflights reach it).
        .method_not_allowed_fallback(method_not_allowed)
        .layer(public_cors);
    let browser_apps = Router::new()
        .route("/token", post(oauth::token))
        .route("/revoke", post(oauth::revoke))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(client_cors);
    Router::new()
        .merge(public)
        .merge(browser_apps)
        .route("/introspect", post(oauth::introspect))
        .route("/par", post(oauth::par))
        .route("/authorize", get(interaction::authorize).post(interaction::authorize))
        .route("/login", get(interaction::login_page).post(interaction::login_submit))
        .route("/consent", get(interaction::consent_page).post(interaction::consent_submit))
        .route("/logout", get(interaction::logout_page).post(interaction::logout_submit))
        .route("/device_authorization", post(device::device_authorization))
        .route("/device", get(device::device_page).post(device::device_submit))
        .route("/password/forgot", get(account::forgot_form).post(account::forgot_submit))
        .route("/password/reset", get(account::reset_form).post(account::reset_submit))
        .route("/email/verify", get(account::verify_email).post(account::resend_verification))
        .route("/account/password", get(account::account_password_form).post(account::account_password_submit))
        .route("/assets/keycard.css", get(interaction::stylesheet))
        .route("/healthz", get(oauth::healthz))
        .route("/readyz", get(oauth::readyz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(HeadLimits::of(&state.config.http), head_limits))
        .layer(middleware::from_fn_with_state(state.draining.clone(), common))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .with_state(state)
}

/// Largest request target (path and query) in bytes; longer → 414 (RFC 9110 §15.5.15). Long
/// authorization requests belong in a POST body or a pushed request. (hyper itself answers 414
/// past 64 KiB.)
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// The request-head limits of [`head_limits`], from `[http]`.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits {
    /// `http.max_header_bytes`.
    pub max_header_bytes: usize,
    /// `http.body_limit_bytes`.
    pub body_limit_bytes: usize,
}

impl HeadLimits {
    /// The limits of `config`.
    pub fn of(config: &crate::config::HttpConfig) -> Self {
        HeadLimits { max_header_bytes: config.max_header_bytes, body_limit_bytes: config.body_limit_bytes }
    }

    /// The read buffer the HTTP/1 parser needs so that `http.max_header_bytes` decides, not the
    /// parser: the whole head (request line up to hyper's own 64 KiB URI limit, the header
    /// lines with any extra whitespace) must fit. Never below hyper's default (~408 KiB).
    pub fn parser_buffer_bytes(&self) -> usize {
        (2 * self.max_header_bytes + 64 * 1024).max(8192 + 4096 * 100)
    }
}

/// The size of the header section as Keycard counts it against `http.max_header_bytes`: every
/// field line as sent, `name: value` and its CRLF (name + value + 4 bytes). hyper has already
/// trimmed optional whitespace, so padding around values does not count (it is bounded by the
/// parser's buffer, [`HeadLimits::parser_buffer_bytes`]).
pub fn header_section_bytes(headers: &axum::http::HeaderMap) -> usize {
    headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum()
}

/// An answer to a request that is refused before it was read to its end: the connection closes
/// after it (RFC 9112 §9.6), so the unread rest of the request is never parsed as a next one.
fn refuse_and_close(status: StatusCode, description: &str) -> Response {
    let mut res = error::json_error(status, ErrorCode::InvalidRequest, description);
    res.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// SECURITY I1/I2: oversized requests are refused before any handler runs and before any body
/// byte is read: a request line over [`MAX_URI_BYTES`] → 414 (RFC 9110 §15.5.15), header fields
/// over `http.max_header_bytes` → 431 (RFC 6585 §5), a `Content-Length` over
/// `http.body_limit_bytes` → 413 (RFC 9110 §15.5.14). Each closes the connection; the client
/// still reads the answer while it keeps sending ([`linger`]). hyper answers 400 itself for a
/// malformed or repeated `Content-Length`, and 431 for more than 100 header fields. A chunked
/// body is limited while it is read (the form extractors: 413).
async fn head_limits(State(limits): State<HeadLimits>, req: Request, next: Next) -> Response {
    if req.uri().path_and_query().map_or(0, |pq| pq.as_str().len()) > MAX_URI_BYTES {
        return refuse_and_close(StatusCode::URI_TOO_LONG, "the request URL is too long");
    }
    if header_section_bytes(req.headers()) > limits.max_header_bytes {
        return refuse_and_close(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "the request header fields are too large",
        );
    }
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limits.body_limit_bytes as u64) {
        return refuse_and_close(StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large");
    }
    next.run(req).await
}

async fn not_found() -> Response {
    error::json_error(StatusCode::NOT_FOUND, ErrorCode::InvalidRequest, "no such endpoint")
}

async fn method_not_allowed() -> Response {
    error::json_error(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::InvalidRequest, "method not allowed on this endpoint")
}

/// Per-request plumbing: a request id (the caller's, if sane, else a new one) on the response,
/// `X-Content-Type-Options: nosniff` on everything, `Connection: close` while the node shuts
/// down (the client opens its next connection elsewhere instead of racing the close of an idle
/// one, RFC 9112 §9.6), and one log line (path only: query strings may carry secrets and are
/// never logged).
async fn common(
    State(draining): State<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    req: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| crate::jose::random_token(12));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut res = next.run(req).await;
    let status = res.status();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(REQUEST_ID.clone(), v);
    }
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if draining.load(std::sync::atomic::Ordering::Relaxed) {
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_server_error() {
        tracing::error!(request_id = %id, %method, path = %crate::http::extract::loggable_path(&path), status = status.as_u16(), ms, "request failed");
    } else {
        tracing::debug!(request_id = %id, %method, path = %crate::http::extract::loggable_path(&path), status = status.as_u16(), ms, "request");
    }
    res
}

/// Converts anything into a response (used by tests of the error mapping).
pub fn into_response(r: impl IntoResponse) -> Response {
    r.into_response()
}
