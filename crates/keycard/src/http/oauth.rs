//! Handlers of the OAuth endpoints: thin wrappers around [`crate::oauth`].

use super::error::no_store;
use super::extract::OAuthForm;
use crate::oauth::{OAuthError, grant, introspect as intro, par as pushed, revoke as rev};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

fn json_no_store<T: serde::Serialize>(body: T) -> Response {
    let mut res = Json(body).into_response();
    no_store(&mut res);
    res
}

/// RFC 6749 §3.2 / §5.1 (OAuth 2.1 §3.2.3): `POST /token`. A `resource` parameter is
/// `invalid_target` (RFC 8707 §2) until resource indicators are supported. `DPoP` headers go
/// to the grant (RFC 9449 §5); with server nonces on, every answer carries a fresh
/// `DPoP-Nonce` (§8).
pub async fn token(State(state): State<AppState>, headers: HeaderMap, form: OAuthForm) -> Response {
    let dpop: Vec<&[u8]> = headers.get_all(&DPOP).iter().map(HeaderValue::as_bytes).collect();
    let result = async {
        form.params.refuse_resource()?;
        let meta = grant::RequestMeta { origin: form.origin.as_deref(), ip: &form.ip, dpop: &dpop };
        grant::token(&state, form.authorization.as_deref(), &meta, &form.params).await
    }
    .await;
    let mut res = match result {
        Ok(body) => json_no_store(body),
        Err(e) => e.into_response(),
    };
    add_dpop_nonce(&state, &mut res);
    res
}

/// The `DPoP` request header (RFC 9449 §4.1).
pub static DPOP: HeaderName = HeaderName::from_static("dpop");

/// RFC 9449 §8.1: a fresh `DPoP-Nonce` on the response, when server nonces are on.
pub fn add_dpop_nonce(state: &AppState, res: &mut Response) {
    if let Some(n) = crate::oauth::dpop::fresh_nonce(state)
        && let Ok(v) = HeaderValue::from_str(&n)
    {
        res.headers_mut().insert(HeaderName::from_static("dpop-nonce"), v);
    }
}

/// RFC 9126 §2: `POST /par`; 201 with `request_uri` and `expires_in` (§2.2), no-store.
pub async fn par(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    let res = pushed::push(&state, form.authorization.as_deref(), &form.ip, &form.params).await?;
    let mut res = json_no_store(res);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

/// RFC 7662 §2: `POST /introspect`.
pub async fn introspect(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    let res = intro::introspect(&state, form.authorization.as_deref(), &form.ip, &form.params).await?;
    Ok(json_no_store(res))
}

/// RFC 7009 §2: `POST /revoke`; 200 with an empty body on success (§2.2).
pub async fn revoke(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    rev::revoke(&state, form.authorization.as_deref(), form.origin.as_deref(), &form.ip, &form.params).await?;
    let mut res = StatusCode::OK.into_response();
    no_store(&mut res);
    Ok(res)
}

fn json_text(body: &str, cache: &'static str) -> Response {
    let mut res = body.to_owned().into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    res
}

/// RFC 8414 §3 / OpenID Connect Discovery §4: the metadata document.
pub async fn metadata(State(state): State<AppState>) -> Response {
    json_text(&state.metadata_json, "public, max-age=300")
}

/// RFC 7517 §5: the published signing keys (short cache so rotations propagate).
pub async fn jwks(State(state): State<AppState>) -> Response {
    let snap = state.keys.snapshot();
    json_text(&snap.jwks_json, "public, max-age=60")
}

/// Liveness: the process is up.
pub async fn healthz() -> Response {
    json_text("{\"status\":\"ok\"}", "no-store")
}

/// Readiness: 200 while this node can serve; 503 with `Retry-After` while the database is
/// unavailable (as the node's health probe last saw it, `store::health`) or a shutdown drains
/// the node. Answered from memory: a readiness check never waits for the database.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let status = if state.draining.load(std::sync::atomic::Ordering::Relaxed) {
        "shutting down"
    } else if !state.store.health().is_up() {
        "database unavailable"
    } else {
        return json_text("{\"status\":\"ready\"}", "no-store");
    };
    let mut res = json_text(&serde_json::json!({ "status": status }).to_string(), "no-store");
    *res.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(crate::oauth::error::UNAVAILABLE_RETRY_AFTER_SECS),
    );
    res
}
