//! RFC 8628 device authorization grant end to end: a test plays the device (polling /token) and
//! the user (the /device page with a cookie jar): pending, slow_down, approval delivered exactly
//! once, deny, expiry, binding to the client, and user-code throttling (SECURITY H3).

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

const GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

async fn fixtures(s: &TestServer) {
    code_flow_fixtures(s).await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into(), "api:read".into()],
        ..Default::default()
    })
    .await;
}

async fn start_device(s: &TestServer, scope: &str) -> serde_json::Value {
    let r = post_form(
        &s.url("/device_authorization"),
        None,
        &format!("client_id=tv&scope={}", form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.json()
}

async fn poll(s: &TestServer, device_code: &str) -> Res {
    post_form(&s.url("/token"), None, &format!("grant_type={GRANT}&device_code={device_code}&client_id=tv")).await
}

/// The user: opens verification_uri_complete, signs in if needed, and decides.
async fn user_acts(ua: &UserAgent, complete: &str, decision: &str) -> Res {
    let code = query_of(complete)["user_code"].clone();
    let (confirm, done) = device_user_acts(ua, &code, "Living Room TV", decision).await;
    assert!(confirm.body.contains("Read your data"), "and the scopes");
    done
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_pending_slow_down_approve_exactly_once() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    fixtures(&s).await;
    let d = start_device(&s, "openid offline_access api:read").await;
    let user_code = d["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9);
    assert!(user_code.chars().enumerate().all(|(i, c)| if i == 4 {
        c == '-'
    } else {
        "BCDFGHJKLMNPQRSTVWXZ".contains(c)
    }));
    assert_eq!(d["verification_uri"], s.url("/device"));
    assert_eq!(d["interval"], 5);
    assert_eq!(d["expires_in"], 600);
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    assert!(device_code.len() >= 6 + 43, "256-bit device code");
    let clock = s.clock.as_ref().unwrap();

    poll(&s, &device_code).await.assert_error(400, "authorization_pending");
    poll(&s, &device_code).await.assert_error(400, "slow_down");
    clock.advance(6);
    // The interval grew to 10 s: 6 s is still too fast.
    poll(&s, &device_code).await.assert_error(400, "slow_down");
    clock.advance(16);
    poll(&s, &device_code).await.assert_error(400, "authorization_pending");

    // Another client cannot redeem the device code (Keycloak CVE-2023-2585).
    let r =
        post_form(&s.url("/token"), None, &format!("grant_type={GRANT}&device_code={device_code}&client_id=spa")).await;
    assert!(r.json()["error"] == "invalid_grant" || r.json()["error"] == "unauthorized_client", "{}", r.body);

    let ua = UserAgent::new(&s.base);
    let done = user_acts(&ua, d["verification_uri_complete"].as_str().unwrap(), "approve").await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("Device connected"));
    clock.advance(30);
    let t = poll(&s, &device_code).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let t = t.json();
    assert!(t["access_token"].is_string() && t["refresh_token"].is_string() && t["id_token"].is_string());
    assert_eq!(jwt_parts(t["access_token"].as_str().unwrap()).1["client_id"], "tv");
    clock.advance(30);
    poll(&s, &device_code).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_flow_deny_and_expiry() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    fixtures(&s).await;
    let d = start_device(&s, "openid api:read").await;
    let ua = UserAgent::new(&s.base);
    let done = user_acts(&ua, d["verification_uri_complete"].as_str().unwrap(), "deny").await;
    assert!(done.body.contains("Access denied"));
    poll(&s, d["device_code"].as_str().unwrap()).await.assert_error(400, "access_denied");

    let d = start_device(&s, "openid").await;
    s.clock.as_ref().unwrap().advance(601);
    poll(&s, d["device_code"].as_str().unwrap()).await.assert_error(400, "expired_token");
    // An expired user code is refused on the page.
    let page = ua.get("/device").await;
    let r = ua
        .post("/device", &[("csrf_token", &page.field("csrf_token")), ("user_code", d["user_code"].as_str().unwrap())])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not valid"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn h3_wrong_codes_are_throttled_and_links_never_auto_approve() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let d = start_device(&s, "openid").await;
    let ua = UserAgent::new(&s.base);
    // Signed in already: opening verification_uri_complete shows the confirmation, and nothing
    // is approved until the user clicks.
    let (_, c) = pkce();
    authorize_in(&ua, &format!("/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"), "alice", "alice-password-1").await;
    let path = format!("/device?user_code={}", d["user_code"].as_str().unwrap());
    let page = ua.get(&path).await;
    assert!(page.body.contains("Allow"), "{}", page.body);
    poll(&s, d["device_code"].as_str().unwrap()).await.assert_error(400, "authorization_pending");
    // Lower case without the dash is the same code.
    let lower = d["user_code"].as_str().unwrap().replace('-', "").to_lowercase();
    let r = ua.get(&format!("/device?user_code={lower}")).await;
    assert!(r.body.contains("Living Room TV"));

    let attacker = UserAgent::new(&s.base);
    let page = attacker.get("/device").await;
    let csrf = page.field("csrf_token");
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = attacker
            .post(
                "/device",
                &[
                    ("csrf_token", &csrf),
                    ("user_code", &format!("BCDF-GHJ{}", ["K", "L", "M", "N", "P", "Q", "R", "S"][i])),
                ],
            )
            .await;
        statuses.push(r.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == 400), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "throttled after 5 wrong codes per minute: {statuses:?}");
    // Without the CSRF token: refused.
    let r = attacker.post("/device", &[("user_code", d["user_code"].as_str().unwrap())]).await;
    assert_eq!(r.status, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_authorization_errors() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    // A client without the device grant.
    post_form(&s.url("/device_authorization"), None, "client_id=spa").await.assert_error(400, "unauthorized_client");
    post_form(&s.url("/device_authorization"), None, "client_id=tv&scope=admin")
        .await
        .assert_error(400, "invalid_scope");
    post_form(&s.url("/device_authorization"), None, "client_id=nobody").await.assert_error(401, "invalid_client");
    post_form(&s.url("/token"), None, &format!("grant_type={GRANT}&device_code=kc_dc_nope&client_id=tv"))
        .await
        .assert_error(400, "invalid_grant");
    post_form(&s.url("/token"), None, &format!("grant_type={GRANT}&client_id=tv"))
        .await
        .assert_error(400, "invalid_request");
    let meta = send(http().get(s.url("/.well-known/oauth-authorization-server"))).await.json();
    assert_eq!(meta["device_authorization_endpoint"], s.url("/device_authorization"));
    s.stop().await;
}
