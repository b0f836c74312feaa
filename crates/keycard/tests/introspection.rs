//! RFC 7662 introspection and RFC 7009 revocation semantics for JWT access tokens: expiry,
//! revocation by jti, foreign tokens, other clients' tokens.

mod common;

use common::*;
use keycard::jose::{Alg, SigningKey};

async fn token(s: &TestServer, id: &str, secret: &str) -> String {
    cc_token(s, id, secret, None).await.json()["access_token"].as_str().unwrap().to_owned()
}

async fn active(s: &TestServer, auth: &str, token: &str) -> bool {
    let r = post_form(&s.url("/introspect"), Some(auth), &format!("token={token}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["active"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_jwt_is_inactive_and_revocation_is_idempotent() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &auth, &t).await);
    for _ in 0..2 {
        let r = post_form(&s.url("/revoke"), Some(&auth), &format!("token={t}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert!(!active(&s, &auth, &t).await, "revocation list by jti");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cannot_revoke_another_clients_token() {
    let s = TestServer::start().await;
    let (a, a_secret) = s.cc_client("a", &["x"]).await;
    let (b, b_secret) = s.cc_client("b", &["x"]).await;
    let t = token(&s, &a, &a_secret).await;
    let r = post_form(&s.url("/revoke"), Some(&basic(&b, &b_secret)), &format!("token={t}")).await;
    assert_eq!(r.status, 200, "RFC 7009 §2.2: 200 even though nothing happened");
    assert!(active(&s, &basic(&a, &a_secret), &t).await, "still active");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tokens_are_inactive() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &auth, &t).await);
    s.clock.as_ref().unwrap().advance(3601);
    assert!(!active(&s, &auth, &t).await);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_and_forged_jwts_are_inactive() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let real = token(&s, &id, &secret).await;
    let (header, claims) = jwt_parts(&real);
    // Same kid and claims, signed by a key that is not ours.
    let foreign = SigningKey::generate(Alg::ES256, header["kid"].as_str().unwrap().to_owned()).unwrap();
    let forged = foreign.sign_jwt("at+jwt", &claims).unwrap();
    assert!(!active(&s, &auth, &forged).await);
    // Tampered payload with the real signature.
    let parts: Vec<&str> = real.split('.').collect();
    let mut c2 = claims.clone();
    c2["scope"] = "admin".into();
    let payload =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(&c2).unwrap());
    assert!(!active(&s, &auth, &format!("{}.{}.{}", parts[0], payload, parts[2])).await);
    // alg none.
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    assert!(!active(&s, &auth, &none).await);
    // A token from another Keycard (other issuer and keys).
    let other = TestServer::start().await;
    let (oid, osecret) = other.cc_client("a", &["x"]).await;
    let other_token = token(&other, &oid, &osecret).await;
    assert!(!active(&s, &auth, &other_token).await);
    other.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_client_deactivates_its_tokens() {
    let s = TestServer::start().await;
    let (rs, rs_secret) = s.cc_client("rs", &["x"]).await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &basic(&rs, &rs_secret), &t).await);
    s.admin().delete_client(&id).await.unwrap();
    s.sync_caches().await;
    assert!(!active(&s, &basic(&rs, &rs_secret), &t).await);
    s.stop().await;
}
