//! The axum extractor and scope layer, served on loopback and driven with reqwest.

use crate::common::*;
use axum::Router;
use axum::routing::{get, post};
use keycard_resource::Validator;
use keycard_resource::axum::{BearerClaims, require_scopes};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CACHE_CONTROL, WWW_AUTHENTICATE};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

struct Api {
    base: String,
    mock: MockAs,
    key: TestKey,
    http: reqwest::Client,
}

async fn me(BearerClaims(c): BearerClaims) -> String {
    c.subject.clone()
}

async fn maybe(claims: Option<BearerClaims>) -> String {
    claims.map_or("anonymous".into(), |BearerClaims(c)| c.subject.clone())
}

async fn write(BearerClaims(c): BearerClaims) -> Result<&'static str, keycard_resource::Error> {
    c.require_scopes(["invoices:write"])?;
    Ok("written")
}

impl Api {
    async fn start() -> Self {
        let mock = MockAs::start().await;
        let key = TestKey::es256();
        mock.set_keys(&[(&key, "k")]);
        let v: Arc<Validator> = Arc::new(mock.builder().introspection_cache_max_age(Duration::ZERO).build().unwrap());
        let app = Router::new()
            .route("/me", get(me).post(me))
            .route("/maybe", get(maybe))
            .route("/invoices", get(me).route_layer(require_scopes(v.clone(), ["invoices:read"])))
            .route("/admin", get(me).route_layer(require_scopes(v.clone(), ["admin", "invoices:read"])))
            .route("/write", post(write))
            .with_state(v);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { base, mock, key, http: reqwest::Client::new() }
    }

    fn token(&self) -> String {
        jwt(&self.key, "k", &claims(&self.mock.issuer))
    }

    async fn get(&self, path: &str, auth: &[&str]) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        for a in auth {
            req = req.header(AUTHORIZATION, *a);
        }
        req.send().await.unwrap()
    }
}

/// Status, WWW-Authenticate, and the JSON body (Null when empty); checks `no-store`.
async fn answer(resp: reqwest::Response) -> (StatusCode, Option<String>, Value) {
    let status = resp.status();
    let challenge = resp.headers().get(WWW_AUTHENTICATE).map(|v| v.to_str().unwrap().to_owned());
    if !status.is_success() {
        assert_eq!(resp.headers().get(CACHE_CONTROL).unwrap(), "no-store");
    }
    let body = resp.bytes().await.unwrap();
    let json = if body.is_empty() { Value::Null } else { serde_json::from_slice(&body).unwrap_or(Value::Null) };
    (status, challenge, json)
}

#[tokio::test]
async fn valid_token() {
    let api = Api::start().await;
    let t = api.token();
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let resp = api.get("/me", &[&format!("{scheme} {t}")]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.text().await.unwrap(), "user-1");
    }
    let resp = api.get("/invoices", &[&format!("Bearer {t}")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "user-1");
}

#[tokio::test]
async fn no_token() {
    let api = Api::start().await;
    for path in ["/me", "/invoices"] {
        let (status, challenge, body) = answer(api.get(path, &[]).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(challenge.as_deref(), Some("Bearer"));
        assert_eq!(body, Value::Null, "RFC 6750 §3.1: no error information");
    }
    // Another scheme is "no bearer token" too.
    let (status, challenge, _) = answer(api.get("/me", &["Basic dXNlcjpwYXNz"]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    // Optional extraction.
    assert_eq!(api.get("/maybe", &[]).await.text().await.unwrap(), "anonymous");
    let t = api.token();
    assert_eq!(api.get("/maybe", &[&format!("Bearer {t}")]).await.text().await.unwrap(), "user-1");
    assert_eq!(api.get("/maybe", &["Bearer a.b.c"]).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_and_expired_tokens() {
    let api = Api::start().await;
    let (status, challenge, body) = answer(api.get("/me", &["Bearer not.a.jwt"]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(r#"Bearer error="invalid_token", error_description="the access token is malformed""#)
    );
    assert_eq!(body, json!({"error": "invalid_token", "error_description": "the access token is malformed"}));

    let mut c = claims(&api.mock.issuer);
    c["exp"] = json!(now() - 3600);
    let expired = jwt(&api.key, "k", &c);
    for path in ["/me", "/invoices"] {
        let (status, challenge, body) = answer(api.get(path, &[&format!("Bearer {expired}")]).await).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.as_deref(),
            Some(r#"Bearer error="invalid_token", error_description="the access token has expired""#)
        );
        assert_eq!(body["error"], "invalid_token");
        assert!(!body.to_string().contains(&expired));
    }

    // A revoked opaque token.
    let (status, challenge, _) = answer(api.get("/me", &["Bearer kc_at_revoked"]).await).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
}

#[tokio::test]
async fn malformed_requests() {
    let api = Api::start().await;
    let t = api.token();
    let bearer = format!("Bearer {t}");
    // The token is verified (and so cached) first: no check below may be skipped for it.
    assert_eq!(api.get("/invoices", &[&bearer]).await.status(), StatusCode::OK);
    let (extra, comma, quote) = (format!("{bearer} x"), format!("{bearer},"), format!("{bearer}\""));
    for auth in [
        vec!["Bearer"],
        vec!["Bearer a b"],
        vec!["Bearer a,b"],
        vec![bearer.as_str(), bearer.as_str()],
        vec![extra.as_str()],
        vec![comma.as_str()],
        vec![quote.as_str()],
    ] {
        let (status, challenge, body) = answer(api.get("/me", &auth).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{auth:?}");
        assert!(challenge.unwrap().starts_with("Bearer error=\"invalid_request\""));
        assert_eq!(body["error"], "invalid_request");
    }
    // A token in the query string is refused, with or without a header.
    for auth in [vec![], vec![bearer.as_str()]] {
        for path in [format!("/me?access_token={t}"), format!("/invoices?x=1&access_token={t}")] {
            let (status, _, body) = answer(api.get(&path, &auth).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(body["error"], "invalid_request");
            assert_eq!(body["error_description"], "access tokens are not accepted in the query string");
        }
    }
    // A token in a form body is not looked at: this request simply has no token.
    let resp = api
        .http
        .post(format!("{}/me", api.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("access_token={t}"))
        .send()
        .await
        .unwrap();
    let (status, challenge, _) = answer(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn insufficient_scope() {
    let api = Api::start().await;
    let t = api.token();
    let (status, challenge, body) = answer(api.get("/admin", &[&format!("Bearer {t}")]).await).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let challenge = challenge.unwrap();
    assert!(challenge.starts_with("Bearer error=\"insufficient_scope\""), "{challenge}");
    assert!(challenge.ends_with("scope=\"admin invoices:read\""), "{challenge}");
    assert_eq!(body["error"], "insufficient_scope");

    // The same from a handler that checks scopes itself.
    let resp = api.http.post(format!("{}/write", api.base)).bearer_auth(&t).send().await.unwrap();
    let (status, challenge, _) = answer(resp).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(challenge.unwrap().ends_with("scope=\"invoices:write\""));
}

#[tokio::test]
async fn layer_and_extractor_validate_once() {
    let api = Api::start().await;
    let token = "kc_at_once";
    api.mock.set_introspection(token, api.mock.active("invoices:read"));
    // Cache max age is zero here, so each validation is one introspection call.
    let resp = api.get("/invoices", &[&format!("Bearer {token}")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "user-2");
    assert_eq!(api.mock.introspection_calls(), 1);
}

#[tokio::test]
async fn authorization_server_down_is_503() {
    let api = Api::start().await;
    api.mock.state.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, challenge, body) = answer(api.get("/me", &[&format!("Bearer {}", api.token())]).await).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(challenge, None);
    assert_eq!(body["error"], "temporarily_unavailable");
}
