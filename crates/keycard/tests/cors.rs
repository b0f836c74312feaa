//! CORS for browser apps (RFC 9700 §2.6, SECURITY A8): metadata and JWKS for any origin; token,
//! revocation and userinfo only for origins registered on a client, never with credentials;
//! nothing on /authorize or the HTML pages.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

const APP: &str = "https://app.example";

async fn spa(s: &TestServer) {
    s.create_client(ClientSpec {
        id: Some("spa".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into()],
        redirect_uris: vec![format!("{APP}/cb")],
        web_origins: vec![APP.into()],
        ..Default::default()
    })
    .await;
    // The origin registry follows client changes within the poll interval (100 ms in tests);
    // wait for it rather than for a fixed time, which a loaded machine can overrun.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !s.state.clients.origin_registered(APP) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn preflight(s: &TestServer, path: &str, origin: &str) -> Res {
    send(
        http()
            .request(reqwest::Method::OPTIONS, s.url(path))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn registered_origin_preflight_and_request() {
    let s = TestServer::start().await;
    spa(&s).await;
    let c = s.admin().client("spa").await.unwrap();
    assert_eq!(c.settings.web_origins, vec![APP.to_owned()]);
    assert!(s.state.clients.origin_registered(APP), "registry reloaded");
    for path in ["/token", "/revoke", "/userinfo"] {
        let r = preflight(&s, path, APP).await;
        assert!(r.status < 300, "{path}: {}", r.status);
        assert_eq!(r.header("access-control-allow-origin"), Some(APP), "{path}: {:?}", r.headers);
        assert!(r.header("access-control-allow-credentials").is_none(), "never credentials");
        let methods = r.header("access-control-allow-methods").unwrap_or("");
        assert!(methods.contains("POST"), "{methods}");
    }
    // The real request from the registered origin carries the header too.
    let r = send(
        http()
            .post(s.url("/token"))
            .header("origin", APP)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=authorization_code&code=kc_ac_nope&client_id=spa&code_verifier=x"),
    )
    .await;
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    r.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_origins_get_no_cors_and_no_tokens() {
    let s = TestServer::start().await;
    spa(&s).await;
    let r = preflight(&s, "/token", "https://evil.example").await;
    assert!(r.header("access-control-allow-origin").is_none());
    // A form POST is a simple request that needs no preflight: the token endpoint itself
    // refuses an origin the client did not register.
    let r = send(
        http()
            .post(s.url("/token"))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body("grant_type=authorization_code&code=kc_ac_nope&client_id=spa&code_verifier=x"),
    )
    .await;
    r.assert_error(401, "invalid_client");
    assert!(r.header("access-control-allow-origin").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a8_no_cors_on_authorize_and_pages_but_metadata_is_public() {
    let s = TestServer::start().await;
    spa(&s).await;
    for path in ["/authorize", "/login", "/consent", "/device", "/introspect"] {
        let r = preflight(&s, path, APP).await;
        assert!(r.header("access-control-allow-origin").is_none(), "{path}");
        let r = send(http().get(s.url(path)).header("origin", "https://evil.example")).await;
        assert!(r.header("access-control-allow-origin").is_none(), "{path}");
    }
    for path in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration", "/jwks.json"] {
        let r = send(http().get(s.url(path)).header("origin", "https://anyone.example")).await;
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn web_origins_are_validated() {
    let s = TestServer::start().await;
    for bad in ["https://app.example/", "https://app.example/path", "http://app.example", "*", "null"] {
        let r = s
            .admin()
            .create_client(&ClientSpec {
                public: true,
                grant_types: vec![GrantType::AuthorizationCode],
                redirect_uris: vec!["https://app.example/cb".into()],
                web_origins: vec![bad.into()],
                ..Default::default()
            })
            .await;
        assert!(r.is_err(), "{bad}");
    }
    s.stop().await;
}
