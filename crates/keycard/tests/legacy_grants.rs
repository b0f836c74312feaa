//! The legacy implicit (RFC 6749 §4.2) and password (§4.3) grants: off by default with the
//! exact RFC errors (SECURITY H1, A6), working only when enabled server-wide AND on the client,
//! with the login page's throttling, short-lived front-channel tokens and no refresh tokens.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::config::Config;
use keycard::model::GrantType;

async fn legacy_client(s: &TestServer) -> (String, String) {
    s.create_client(ClientSpec {
        id: Some("legacy".into()),
        grant_types: vec![
            GrantType::Password,
            GrantType::Implicit,
            GrantType::RefreshToken,
            GrantType::AuthorizationCode,
        ],
        scopes: vec!["openid".into(), "profile".into(), "api:read".into()],
        redirect_uris: vec!["https://legacy.example/cb".into()],
        ..Default::default()
    })
    .await
}

fn enabled() -> TestOptions {
    TestOptions {
        configure: Box::new(|c: &mut Config| {
            c.legacy.implicit_grant = true;
            c.legacy.password_grant = true;
        }),
        ..Default::default()
    }
}

async fn password(s: &TestServer, id: &str, secret: &str, user: &str, pw: &str) -> Res {
    post_form(
        &s.url("/token"),
        Some(&basic(id, secret)),
        &format!("grant_type=password&username={user}&password={pw}&scope=openid+api%3Aread"),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn h1_a6_off_by_default() {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    let (id, secret) = legacy_client(&s).await;
    // No password is checked at all: ten right passwords neither work nor count as attempts.
    for _ in 0..10 {
        password(&s, &id, &secret, "alice", "alice-password-1").await.assert_error(400, "unsupported_grant_type");
    }
    let ua = UserAgent::new(&s.base);
    let (_, c) = pkce();
    let back = authorize_in(&ua, &format!("/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"), "alice", "alice-password-1").await;
    assert!(back.contains("code="), "alice is not locked out: {back}");
    // Implicit: an error redirect, never a token.
    for rt in ["token", "id_token", "id_token%20token"] {
        let r = ua.get(&format!("/authorize?response_type={rt}&client_id=legacy&redirect_uri=https%3A%2F%2Flegacy.example%2Fcb&scope=openid&state=s&nonce=n")).await;
        let loc = r.location();
        assert!(loc.starts_with("https://legacy.example/cb?"), "{loc}");
        let q = query_of(&loc);
        assert_eq!(q["error"], "unsupported_response_type");
        assert_eq!(q["state"], "s");
        assert_eq!(q["iss"], s.base);
        assert!(!loc.contains("access_token") && !r.body.contains("access_token"));
    }
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert!(!meta["grant_types_supported"].to_string().contains("password"));
    assert_eq!(meta["response_types_supported"], serde_json::json!(["code"]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn enabled_server_wide_but_not_for_this_client() {
    let s = TestServer::start_with(enabled()).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    password(&s, &web, &secret, "alice", "alice-password-1").await.assert_error(400, "unauthorized_client");
    let ua = UserAgent::new(&s.base);
    // `web` is not first-party: the error redirect comes after sign-in (SECURITY A5).
    let loc = authorize_in(
        &ua,
        "/authorize?response_type=token&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s",
        "alice",
        "alice-password-1",
    )
    .await;
    assert!(loc.contains("#") || loc.contains("?"), "{loc}");
    assert!(loc.contains("error=unauthorized_client"), "{loc}");
    assert!(!loc.contains("access_token"));
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert!(meta["grant_types_supported"].to_string().contains("password"));
    assert!(meta["response_types_supported"].to_string().contains("id_token token"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn password_grant_when_enabled_shares_the_login_throttle() {
    let s = TestServer::start_with(enabled()).await;
    code_flow_fixtures(&s).await;
    let (id, secret) = legacy_client(&s).await;
    let r = password(&s, &id, &secret, "alice", "alice-password-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert!(t["access_token"].is_string() && t["refresh_token"].is_string() && t["id_token"].is_string());
    // Unknown user and wrong password: the same answer.
    let a = password(&s, &id, &secret, "nobody", "x").await;
    let b = password(&s, &id, &secret, "bob", "wrong").await;
    a.assert_error(400, "invalid_grant");
    assert_eq!(a.body, b.body);
    // Throttled like the login page: after 5 attempts even the right password is refused.
    for _ in 0..5 {
        password(&s, &id, &secret, "alice", "wrong").await.assert_error(400, "invalid_grant");
    }
    let r = password(&s, &id, &secret, "alice", "alice-password-1").await;
    r.assert_error(400, "invalid_grant");
    assert!(r.body.contains("locked"), "{}", r.body);
    // Disabled users are refused.
    let admin = s.admin();
    let bob = admin.user("bob").await.unwrap();
    admin.set_user_disabled(bob, true).await.unwrap();
    password(&s, &id, &secret, "bob", "bob-password-1").await.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn implicit_when_enabled_puts_short_tokens_in_the_fragment() {
    let s = TestServer::start_with(enabled()).await;
    code_flow_fixtures(&s).await;
    legacy_client(&s).await;
    let ua = UserAgent::new(&s.base);
    let cb = "https%3A%2F%2Flegacy.example%2Fcb";
    // id_token responses need a nonce (`legacy` is not first-party: the error redirect comes after
    // sign-in, SECURITY A5).
    let loc = authorize_in(
        &ua,
        &format!("/authorize?response_type=id_token&client_id=legacy&redirect_uri={cb}&scope=openid&state=s"),
        "alice",
        "alice-password-1",
    )
    .await;
    assert!(loc.contains("error=invalid_request"), "{loc}");
    let back = authorize_in(
        &ua,
        &format!("/authorize?response_type=id_token%20token&client_id=legacy&redirect_uri={cb}&scope=openid%20api%3Aread&state=s&nonce=n-123"),
        "alice",
        "alice-password-1",
    )
    .await;
    let (base, fragment) = back.split_once('#').expect("tokens in the fragment");
    assert_eq!(base, "https://legacy.example/cb", "nothing in the query");
    let f: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(fragment.as_bytes()).into_owned().collect();
    assert_eq!(f["state"], "s");
    assert_eq!(f["iss"], s.base);
    assert_eq!(f["token_type"], "Bearer");
    assert!(f["expires_in"].parse::<i64>().unwrap() <= 300, "short-lived");
    assert!(!f.contains_key("refresh_token"), "never a refresh token");
    let (_, id) = jwt_parts(&f["id_token"]);
    assert_eq!(id["nonce"], "n-123");
    assert!(id["at_hash"].is_string());
    let info = send(http().get(s.url("/userinfo")).bearer_auth(&f["access_token"])).await;
    assert_eq!(info.status, 200, "{}", info.body);
    s.stop().await;
}
