//! SECURITY I7 for client assertions: with every event of every crate captured at TRACE level
//! (`keycard::testing::capture_logs`), accepted, replayed, forged and unverifiable assertions
//! (inline keys, a client_secret_jwt secret, a failing `jwks_uri`) leave no trace of the
//! assertion, its signature or payload, its `jti`, or the secret it was MACed with.
//! This binary holds only this test: the capture is process-global.

mod assertion_support;
mod common;

use assertion_support::*;
use common::*;
use keycard::model::AuthMethod;
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn i7_assertions_and_their_secrets_never_reach_a_log_line() {
    let logs = keycard::testing::capture_logs();
    let s = TestServer::start().await;
    let es = Signer::es256("es-1");
    register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    let secret = register(&s, "csj", AuthMethod::ClientSecretJwt, Keys::default()).await;
    let keys = Keys { jwks_uri: Some("http://127.0.0.1:9/jwks".into()), ..Default::default() };
    register(&s, "uri", AuthMethod::PrivateKeyJwt, keys).await;
    let aud = s.url("/token");
    let mut sent = vec![];
    let good = es.sign("ES256", &claims(&s, "pk", &aud));
    let hs = hmac_jws("HS256", secret.as_bytes(), json!({}), &claims(&s, "csj", &aud));
    let forged = Signer::es256("es-1").sign("ES256", &claims(&s, "pk", &aud));
    let wrong_secret = hmac_jws("HS256", b"wrong-secret-0123456789", json!({}), &claims(&s, "csj", &aud));
    let unverifiable = es.sign("ES256", &claims(&s, "uri", &aud));
    for (a, want) in
        [(&good, 200), (&good, 401), (&hs, 200), (&forged, 401), (&wrong_secret, 401), (&unverifiable, 401)]
    {
        let r = post_form(&aud, None, &cc_body(a)).await;
        assert_eq!(r.status, want, "{}", r.body);
        sent.push(a.clone());
    }
    s.stop().await;
    let text = logs.contents();
    assert!(text.contains("jwks_uri"), "the failed fetch is logged (by client id)");
    let mut needles = vec![("client_secret_jwt secret".to_owned(), secret.clone())];
    for a in &sent {
        let parts: Vec<&str> = a.split('.').collect();
        needles.push(("assertion".into(), a.clone()));
        needles.push(("assertion payload".into(), parts[1].to_owned()));
        needles.push(("assertion signature".into(), parts[2].to_owned()));
        let (_, c) = jwt_parts(a);
        needles.push(("jti".into(), c["jti"].as_str().unwrap().to_owned()));
    }
    for (what, n) in needles {
        assert!(!text.contains(&n), "a {what} reached the logs");
    }
}
