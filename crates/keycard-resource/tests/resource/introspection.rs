//! Opaque tokens: RFC 7662 introspection against the mock authorization server.

use crate::common::*;
use base64::Engine;
use keycard_resource::{Error, InvalidToken, Validator};
use serde_json::json;
use std::sync::atomic::Ordering;
use std::time::{Duration, UNIX_EPOCH};

const TOKEN: &str = "kc_at_Zm9vYmFyYmF6cXV4";

#[tokio::test]
async fn active_token_and_client_authentication() {
    let mock = MockAs::start().await;
    mock.set_introspection(TOKEN, mock.active("invoices:read"));
    let v = mock.validator();
    let claims = v.validate(TOKEN).await.unwrap();
    assert_eq!(claims.subject, "user-2");
    assert_eq!(claims.client_id, "web");
    assert_eq!(claims.scopes.to_string(), "invoices:read");
    assert_eq!(claims.audience, [AUDIENCE]);
    assert_eq!(claims.jwt_id.as_deref(), Some("jti-opaque"));
    assert_eq!(claims.raw["token_type"], "Bearer");

    // RFC 6749 §2.3.1: each of id and secret form-encoded, then base64.
    let auth = mock.state.last_authorization.lock().unwrap().clone().unwrap();
    let b64 = auth.strip_prefix("Basic ").expect("HTTP Basic");
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).unwrap()).unwrap();
    assert_eq!(decoded, "svc%3Abilling:s3cret%26%3D%2B");
    let form = mock.state.last_form.lock().unwrap().clone().unwrap();
    assert_eq!(form["token"], TOKEN);
    assert_eq!(form["token_type_hint"], "access_token");
}

#[tokio::test]
async fn answers_are_cached_and_revocation_seen_after_max_age() {
    let mock = MockAs::start().await;
    mock.set_introspection(TOKEN, mock.active("a"));
    let max_age = Duration::from_secs(1);
    let v = mock.builder().introspection_cache_max_age(max_age).build().unwrap();
    for _ in 0..5 {
        assert!(v.validate(TOKEN).await.is_ok());
    }
    assert_eq!(mock.introspection_calls(), 1, "cached");

    // Revoked: still accepted from the cache until max age, refused after.
    mock.set_introspection(TOKEN, json!({"active": false}));
    assert!(v.validate(TOKEN).await.is_ok());
    sleep_past(max_age).await;
    assert!(matches!(v.validate(TOKEN).await, Err(Error::InvalidToken(InvalidToken::Inactive))));
    assert_eq!(mock.introspection_calls(), 2);
    // The refusal is cached too (briefly).
    assert!(v.validate(TOKEN).await.is_err());
    assert_eq!(mock.introspection_calls(), 2);
}

#[tokio::test]
async fn max_age_zero_sees_revocation_at_once() {
    let mock = MockAs::start().await;
    mock.set_introspection(TOKEN, mock.active("a"));
    let v = mock.builder().introspection_cache_max_age(Duration::ZERO).build().unwrap();
    assert!(v.validate(TOKEN).await.is_ok());
    mock.set_introspection(TOKEN, json!({"active": false}));
    let err = v.validate(TOKEN).await.unwrap_err();
    assert!(matches!(err, Error::InvalidToken(InvalidToken::Inactive)));
    assert_eq!(err.status(), 401);
    assert_eq!(mock.introspection_calls(), 2);
}

#[tokio::test]
async fn cache_entry_never_outlives_the_token() {
    let mock = MockAs::start().await;
    let exp = now() + 300;
    let mut answer = mock.active("a");
    answer["exp"] = json!(exp);
    mock.set_introspection(TOKEN, answer);
    let v = mock.builder().leeway(Duration::ZERO).build().unwrap();
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(secs as u64);
    // One second before exp the answer is cached for one second, not for the 60 s max age.
    assert!(v.validate_at(TOKEN, at(exp - 1)).await.is_ok());
    assert!(v.validate_at(TOKEN, at(exp - 1)).await.is_ok());
    assert_eq!(mock.introspection_calls(), 1);
    sleep_past(Duration::from_secs(1)).await;
    assert!(v.validate_at(TOKEN, at(exp - 1)).await.is_ok());
    assert_eq!(mock.introspection_calls(), 2);
    // A cached answer is still checked against the clock.
    assert!(matches!(v.validate_at(TOKEN, at(exp + 1)).await, Err(Error::InvalidToken(InvalidToken::Expired))));
}

#[tokio::test]
async fn active_answers_are_still_checked() {
    let mock = MockAs::start().await;
    let v = mock.builder().introspection_cache_max_age(Duration::ZERO).build().unwrap();
    let cases = [
        ("aud", json!("https://other.example"), InvalidToken::WrongAudience),
        ("iss", json!("https://evil.example"), InvalidToken::WrongIssuer),
        ("token_type", json!("refresh_token"), InvalidToken::NotAnAccessToken),
        ("exp", json!(now() - 3600), InvalidToken::Expired),
        ("scope", json!("bad\"scope"), InvalidToken::InvalidScope),
    ];
    for (claim, value, expected) in cases {
        let mut answer = mock.active("a");
        answer[claim] = value;
        mock.set_introspection(TOKEN, answer);
        match v.validate(TOKEN).await {
            Err(Error::InvalidToken(r)) => assert_eq!(r, expected, "{claim}"),
            other => panic!("{claim}: {other:?}"),
        }
    }
    let mut answer = mock.active("a");
    answer.as_object_mut().unwrap().remove("aud");
    mock.set_introspection(TOKEN, answer);
    assert!(matches!(v.validate(TOKEN).await, Err(Error::InvalidToken(InvalidToken::WrongAudience))));
}

#[tokio::test]
async fn opaque_tokens_need_credentials() {
    let mock = MockAs::start().await;
    mock.set_introspection(TOKEN, mock.active("a"));
    let v = Validator::builder(&mock.issuer).audience(AUDIENCE).build().unwrap();
    assert!(matches!(v.validate(TOKEN).await, Err(Error::InvalidToken(InvalidToken::OpaqueNotAccepted))));
    assert_eq!(mock.introspection_calls(), 0);
}

#[tokio::test]
async fn refused_credentials_are_a_configuration_error() {
    let mock = MockAs::start().await;
    mock.state.refuse_client.store(true, Ordering::SeqCst);
    let v = mock.validator();
    let err = v.validate(TOKEN).await.unwrap_err();
    assert!(matches!(err, Error::Configuration(_)), "{err:?}");
    assert_eq!(err.status(), 500);
    assert!(!format!("{err} {err:?}").contains(TOKEN));
}

#[tokio::test]
async fn server_down_is_unavailable() {
    let mock = MockAs::start().await;
    mock.set_introspection(TOKEN, mock.active("a"));
    let v = mock.builder().introspection_endpoint(format!("{}/introspect", mock.issuer)).build().unwrap();
    mock.state.down.store(true, Ordering::SeqCst);
    let err = v.validate(TOKEN).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { endpoint: "introspection", .. }), "{err:?}");
    assert_eq!(err.status(), 503);
    assert!(!format!("{err} {err:?}").contains(TOKEN));
    // A failure is not cached: the next request after recovery succeeds.
    mock.state.down.store(false, Ordering::SeqCst);
    assert!(v.validate(TOKEN).await.is_ok());
    assert_eq!(mock.state.metadata_fetches.load(Ordering::SeqCst), 0, "explicit endpoint, no discovery");
}

#[tokio::test]
async fn cache_is_bounded() {
    let mock = MockAs::start().await;
    let v = mock.builder().introspection_cache_capacity(4).build().unwrap();
    for i in 0..10 {
        let t = format!("kc_at_token{i}");
        mock.set_introspection(&t, mock.active("a"));
        assert!(v.validate(&t).await.is_ok());
    }
    assert_eq!(mock.introspection_calls(), 10);
    // The most recent ones are cached; the early ones were evicted and are introspected again.
    let before = mock.introspection_calls();
    for i in 0..10 {
        assert!(v.validate(&format!("kc_at_token{i}")).await.is_ok());
    }
    let again = mock.introspection_calls() - before;
    assert!(again >= 6, "only 4 entries fit; {again} re-introspections");
}
