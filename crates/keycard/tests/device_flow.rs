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

/// Signs `ua` in as `user` through an ordinary code flow, so it holds a session cookie.
async fn sign_in(ua: &UserAgent, user: &str, password: &str) {
    let (_, c) = pkce();
    authorize_in(ua, &format!("/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"), user, password).await;
}

/// SECURITY H3 (RFC 8628 §5.1): a decision names a user code that this browser looked up
/// itself. A signed-in attacker who only has the page's CSRF token (or a confirmation for a code
/// of their own) can neither bind a victim's device to their account nor cancel it; the device
/// stays pending and its real user can still approve it.
#[tokio::test(flavor = "multi_thread")]
async fn h3_decision_needs_a_code_this_browser_looked_up() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    fixtures(&s).await;
    let victim = start_device(&s, "openid api:read").await;
    let victim_code = victim["user_code"].as_str().unwrap().to_owned();
    let device_code = victim["device_code"].as_str().unwrap().to_owned();

    let attacker = UserAgent::new(&s.base);
    sign_in(&attacker, "bob", "bob-password-1").await;
    let csrf = attacker.get("/device").await.field("csrf_token");
    // The attacker's own device gives them a genuine confirmation page, for another code.
    let own = start_device(&s, "openid").await;
    let own_confirm = attacker.get(&format!("/device?user_code={}", own["user_code"].as_str().unwrap())).await;
    assert!(own_confirm.body.contains("Allow"), "{}", own_confirm.body);
    let own_token = own_confirm.field("csrf_token");
    for decision in ["approve", "deny"] {
        for token in [&csrf, &own_token] {
            let r = attacker
                .post("/device", &[("csrf_token", token), ("user_code", &victim_code), ("decision", decision)])
                .await;
            assert_eq!(r.status, 403, "{decision}: {}", r.body);
            assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
            assert!(!r.body.contains("Device connected") && !r.body.contains("Access denied"), "{}", r.body);
        }
    }
    poll(&s, &device_code).await.assert_error(400, "authorization_pending");

    // The real user still connects the device, and the tokens are theirs.
    let ua = UserAgent::new(&s.base);
    let done = user_acts(&ua, victim["verification_uri_complete"].as_str().unwrap(), "approve").await;
    assert!(done.body.contains("Device connected"), "{}", done.body);
    s.clock.as_ref().unwrap().advance(30);
    let t = poll(&s, &device_code).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let claims = jwt_parts(t.json()["access_token"].as_str().unwrap()).1;
    let alice = s.state.store.find_user("alice").await.unwrap().unwrap();
    assert_eq!(claims["sub"], alice.id.as_str(), "{claims}");
    s.stop().await;
}

/// SECURITY H3: wrong codes sent straight to the decision form count against the same
/// per-browser throttle as typed codes: after 5 the form answers 429 with `Retry-After`, and
/// the lookup path of that browser is throttled too.
#[tokio::test(flavor = "multi_thread")]
async fn h3_wrong_codes_through_the_decision_form_are_throttled() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let d = start_device(&s, "openid").await;
    let attacker = UserAgent::new(&s.base);
    sign_in(&attacker, "bob", "bob-password-1").await;
    let csrf = attacker.get("/device").await.field("csrf_token");
    let mut statuses = Vec::new();
    for last in ["K", "L", "M", "N", "P", "Q", "R", "S"] {
        let r = attacker
            .post(
                "/device",
                &[("csrf_token", &csrf), ("user_code", &format!("BCDF-GHJ{last}")), ("decision", "approve")],
            )
            .await;
        if r.status == 429 {
            assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0)));
        }
        statuses.push(r.status);
    }
    assert!(statuses[..5].iter().all(|s| *s == 403), "{statuses:?}");
    assert!(statuses[5..].iter().all(|s| *s == 429), "throttled after 5 wrong codes per minute: {statuses:?}");
    let r = attacker.post("/device", &[("csrf_token", &csrf), ("user_code", d["user_code"].as_str().unwrap())]).await;
    assert_eq!(r.status, 429, "the lookup path shares the counter: {}", r.body);
    s.stop().await;
}

/// SECURITY H3 / RFC 6749 §5.2-style answer: `/device_authorization` is rate limited per
/// (client, address): one address hammering one client gets 429 `slow_down` with `Retry-After`
/// and `Cache-Control: no-store`, while another address still gets codes.
#[tokio::test(flavor = "multi_thread")]
async fn h3_device_authorization_is_rate_limited_per_client_and_ip() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let from =
        |last: u8| reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, last])).build().unwrap();
    let (hammer, other) = (from(5), from(6));
    let ask = |c: &reqwest::Client| send(c.post(s.url("/device_authorization")).form(&[("client_id", "tv")]));
    let mut limited = None;
    for i in 0..100 {
        let r = ask(&hammer).await;
        if r.status != 200 {
            limited = Some((i, r));
            break;
        }
    }
    let (n, r) = limited.expect("never rate limited after 100 device authorizations from one address");
    assert!(n >= 5, "a few requests must pass: limited after {n}");
    r.assert_error(429, "slow_down");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("retry-after").is_some_and(|v| v.parse::<u64>().is_ok_and(|n| n > 0)), "{:?}", r.headers);
    ask(&hammer).await.assert_error(429, "slow_down");
    let r = ask(&other).await;
    assert_eq!(r.status, 200, "another address is not affected: {}", r.body);
    s.stop().await;
}
