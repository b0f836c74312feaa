//! RFC 8414 metadata, the JWKS, health endpoints and operational headers. The issuer and every
//! URL come from the configuration, never from request headers (SECURITY A7).

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn metadata_lists_only_what_is_implemented() {
    let s = TestServer::start().await;
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
        let r = send(http().get(s.url(path))).await;
        assert_eq!(r.status, 200);
        assert!(r.header("content-type").unwrap().starts_with("application/json"));
        let m = r.json();
        assert_eq!(m["issuer"], s.base, "issuer is byte-for-byte the configured one");
        assert_eq!(m["token_endpoint"], s.url("/token"));
        assert_eq!(m["jwks_uri"], s.url("/jwks.json"));
        assert_eq!(m["introspection_endpoint"], s.url("/introspect"));
        assert_eq!(m["revocation_endpoint"], s.url("/revoke"));
        assert_eq!(
            m["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "urn:ietf:params:oauth:grant-type:device_code"
            ])
        );
        assert_eq!(
            m["token_endpoint_auth_methods_supported"],
            serde_json::json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
                "client_secret_jwt",
                "none"
            ])
        );
        assert_eq!(
            m["token_endpoint_auth_signing_alg_values_supported"],
            serde_json::json!(["ES256", "PS256", "RS256", "EdDSA", "HS256", "HS384", "HS512"]),
            "only what client assertions are verified with; never none"
        );
        let grants = m["grant_types_supported"].to_string();
        assert!(!grants.contains("password") && !grants.contains("implicit"), "legacy grants are off (H1, K1)");
        assert_eq!(m["authorization_endpoint"], s.url("/authorize"));
        assert_eq!(m["userinfo_endpoint"], s.url("/userinfo"));
        assert_eq!(m["end_session_endpoint"], s.url("/logout"));
        assert_eq!(m["response_types_supported"], serde_json::json!(["code"]), "K1: code only");
        assert_eq!(m["response_modes_supported"], serde_json::json!(["query", "form_post"]));
        assert_eq!(m["code_challenge_methods_supported"], serde_json::json!(["S256"]), "B2: S256 only");
        assert_eq!(m["authorization_response_iss_parameter_supported"], true, "A7 / RFC 9207");
        assert_eq!(m["subject_types_supported"], serde_json::json!(["public"]));
        let algs = m["id_token_signing_alg_values_supported"].as_array().unwrap();
        assert_eq!(algs[0], "RS256", "OIDC §15.1: RS256 first");
        assert!(!algs.iter().any(|a| a == "none"));
        assert!(m["scopes_supported"].as_array().unwrap().iter().any(|s| s == "openid"));
        // The document parses as the shared wire type.
        let _: keycard_types::ServerMetadata = serde_json::from_value(m).unwrap();
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_host_headers_do_not_change_the_issuer() {
    let s = TestServer::start().await;
    let r = send(
        http()
            .get(s.url("/.well-known/oauth-authorization-server"))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("evil.example"));
    assert_eq!(r.json()["issuer"], s.base);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn jwks_publishes_public_keys_only() {
    let s = TestServer::start().await;
    let r = send(http().get(s.url("/jwks.json"))).await;
    assert_eq!(r.status, 200);
    let j = r.json();
    let keys = j["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "ES256 for access tokens, RS256 for ID tokens");
    let k = keys.iter().find(|k| k["alg"] == "ES256").unwrap();
    assert_eq!(k["alg"], "ES256");
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["use"], "sig");
    assert!(k.get("d").is_none(), "no private part");
    assert!(r.header("cache-control").unwrap().contains("max-age"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_readiness_and_request_ids() {
    let s = TestServer::start().await;
    let r = send(http().get(s.url("/healthz"))).await;
    assert_eq!(r.status, 200);
    let r = send(http().get(s.url("/readyz"))).await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-request-id").is_some_and(|v| v.len() >= 16));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let r = send(http().get(s.url("/healthz")).header("x-request-id", "trace-123")).await;
    assert_eq!(r.header("x-request-id"), Some("trace-123"), "a sane caller id is kept");
    let r = send(http().get(s.url("/healthz")).header("x-request-id", "bad id with spaces")).await;
    assert_ne!(r.header("x-request-id"), Some("bad id with spaces"));
    // With the database gone, readiness fails (once the health probe saw it) but liveness does not.
    s.state.store.close().await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let r = loop {
        let r = send(http().get(s.url("/readyz"))).await;
        if r.status != 200 || std::time::Instant::now() > deadline {
            break r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    let r = send(http().get(s.url("/healthz"))).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn database_outage_is_503_never_a_protocol_answer() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    // Warm the client cache, then take the database away.
    assert_eq!(cc_token(&s, &id, &secret, None).await.status, 200);
    let t = cc_token(&s, &id, &secret, None).await.json()["access_token"].as_str().unwrap().to_owned();
    s.state.store.close().await;
    // A JWT access token needs no database: issuance keeps working from the cache.
    assert_eq!(cc_token(&s, &id, &secret, None).await.status, 200);
    // Introspection needs the revocation list: 503, never active:false for a valid token (E6).
    let r = post_form(&s.url("/introspect"), Some(&basic(&id, &secret)), &format!("token={t}")).await;
    r.assert_error(503, "temporarily_unavailable");
    // Revocation must not claim success (RFC 7009 §2.2.1, SECURITY C6).
    let r = post_form(&s.url("/revoke"), Some(&basic(&id, &secret)), &format!("token={t}")).await;
    r.assert_error(503, "temporarily_unavailable");
}
