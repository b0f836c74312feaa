//! What operators do to users and clients after sign-in: revoke a consent (CLI → refresh tokens
//! stop, consent asked again), pairwise subjects, per-client ID token algorithms, and argon2
//! parameter upgrades at the next sign-in.

mod common;

use common::*;
use keycard::config::{Config, SubjectType};
use keycard::jose::Alg;

#[tokio::test(flavor = "multi_thread")]
async fn revoking_consent_stops_refresh_and_asks_again() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let t = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap();
    let admin = s.admin();
    let alice = admin.user("alice").await.unwrap();
    assert_eq!(admin.revoke_consent(&alice, &web).await.unwrap(), 1);
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    r.assert_error(400, "invalid_grant");
    let r = post_form(
        &s.url("/introspect"),
        Some(&basic(&web, &secret)),
        &format!("token={}", t["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(r.json()["active"], false, "access tokens of the revoked grant are inactive");
    // The consent page comes back for the next authorization.
    let (_, c) = pkce();
    let res = ua
        .get(&format!("/authorize?response_type=code&client_id={web}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"))
        .await;
    assert!(res.location().starts_with("/consent"), "{}", res.location());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pairwise_subjects_differ_per_sector_and_match_userinfo() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.oidc.subject_type = SubjectType::Pairwise),
        ..Default::default()
    })
    .await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let (other, other_secret) = s
        .create_client(keycard::admin::ClientSpec {
            id: Some("other".into()),
            grant_types: vec![keycard::model::GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            redirect_uris: vec!["https://other.example/cb".into()],
            ..Default::default()
        })
        .await;
    let ua = UserAgent::new(&s.base);
    let a = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid").await;
    let b = code_flow_tokens(&s, &ua, &other, &other_secret, "https://other.example/cb", "openid").await;
    let sub_a = jwt_parts(a["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
    let sub_b = jwt_parts(b["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
    assert!(sub_a.starts_with("pw_") && sub_b.starts_with("pw_"));
    assert_ne!(sub_a, sub_b, "two sectors cannot correlate the user");
    let info = send(http().get(s.url("/userinfo")).bearer_auth(a["access_token"].as_str().unwrap())).await;
    assert_eq!(info.json()["sub"], sub_a.as_str(), "userinfo sub equals the ID token sub");
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert_eq!(meta["subject_types_supported"], serde_json::json!(["pairwise"]));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn per_client_id_token_algorithm() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.keys.algorithms = vec![Alg::ES256, Alg::RS256, Alg::EdDSA]),
        ..Default::default()
    })
    .await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let admin = s.admin();
    let mut c = admin.client(&web).await.unwrap();
    c.settings.id_token_signed_response_alg = Some(Alg::EdDSA);
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    let ua = UserAgent::new(&s.base);
    let t = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid").await;
    let id = t["id_token"].as_str().unwrap();
    let (h, claims) = jwt_parts(id);
    assert_eq!(h["alg"], "EdDSA");
    assert_eq!(h["typ"], "JWT");
    assert_eq!(claims["nonce"], "n");
    let jwks: keycard::jose::Jwks = http().get(s.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    keycard::jose::verify_jwt(id, &jwks.keys).expect("verifies with the published EdDSA key");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn outdated_password_hashes_are_upgraded_at_sign_in() {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    let admin = s.admin();
    let mut alice = admin.user("alice").await.unwrap();
    // A hash made with weaker, older parameters.
    let mut old = Config::default();
    old.login.argon2_memory_kib = 8 * 1024;
    old.login.argon2_iterations = 1;
    alice.password_hash = Some(keycard::admin::hash_password(&old, "alice-password-1").unwrap());
    admin.save_user(alice).await.unwrap();
    let ua = UserAgent::new(&s.base);
    let (_, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"
    );
    authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let upgraded = s.admin().user("alice").await.unwrap().password_hash.unwrap();
    assert!(upgraded.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{upgraded}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_retry_after_tells_the_truth() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (_, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"
    );
    let login = ua.get(&ua.get(&url).await.location()).await;
    let (rid, csrf) = (login.field("request_id"), login.field("csrf_token"));
    let attempt = |pw: &'static str| {
        let (ua, rid, csrf) = (&ua, rid.clone(), csrf.clone());
        async move {
            ua.post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "alice"), ("password", pw)])
                .await
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong").await.status, 200);
    }
    let locked = attempt("alice-password-1").await;
    assert_eq!(locked.status, 429);
    let wait: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    s.clock.as_ref().unwrap().advance(wait);
    let ok = attempt("alice-password-1").await;
    assert_eq!(ok.status, 303, "after Retry-After seconds the right password works: {}", ok.body);
    s.stop().await;
}

/// A code for `web` without redeeming it: (code, verifier).
async fn code_only(ua: &UserAgent, scope: &str) -> (String, String) {
    let (v, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=web&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope={}&state=s&code_challenge={c}&code_challenge_method=S256",
        form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
    );
    let back = authorize_in(ua, &url, "alice", "alice-password-1").await;
    (query_of(&back)["code"].clone(), v)
}

async fn redeem_web(s: &TestServer, secret: &str, code: &str, verifier: &str) -> Res {
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&code_verifier={verifier}"
    );
    post_form(&s.url("/token"), Some(&basic("web", secret)), &body).await
}

async fn refresh_web(s: &TestServer, secret: &str, rt: &str) -> Res {
    post_form(&s.url("/token"), Some(&basic("web", secret)), &format!("grant_type=refresh_token&refresh_token={rt}"))
        .await
}

/// SECURITY C7: a password change (what `keycard user set-password` does through the admin API)
/// ends the user's sessions and revokes their refresh families, offline ones included.
#[tokio::test(flavor = "multi_thread")]
async fn c7_password_change_ends_sessions_and_refresh_families() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let t = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid offline_access").await;
    let admin = s.admin();
    // Saving the user without a password change ends nothing.
    let mut alice = admin.user("alice").await.unwrap();
    alice.name = Some("Alice".into());
    admin.save_user(alice).await.unwrap();
    let r = refresh_web(&s, &secret, t["refresh_token"].as_str().unwrap()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    // A new password ends the sessions and the (offline) refresh family.
    let mut alice = admin.user("alice").await.unwrap();
    alice.password_hash = Some(keycard::admin::hash_password(&s.state.config, "a-new-password-2").unwrap());
    admin.save_user(alice).await.unwrap();
    refresh_web(&s, &secret, &rt).await.assert_error(400, "invalid_grant");
    let (_, c) = pkce();
    let res = ua
        .get(&format!("/authorize?response_type=code&client_id={web}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&scope=openid&state=s&code_challenge={c}&code_challenge_method=S256"))
        .await;
    assert!(res.location().starts_with("/login"), "the old browser session must sign in again: {}", res.location());
    s.stop().await;
}

/// SECURITY C7: disabling a user revokes their refresh families, so enabling them again does not
/// bring the old refresh tokens back (`keycard user disable` / `enable`).
#[tokio::test(flavor = "multi_thread")]
async fn c7_disable_then_enable_keeps_old_refresh_tokens_dead() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let t = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid offline_access").await;
    let admin = s.admin();
    let alice = admin.set_user_disabled(admin.user("alice").await.unwrap(), true).await.unwrap();
    admin.set_user_disabled(alice, false).await.unwrap();
    refresh_web(&s, &secret, t["refresh_token"].as_str().unwrap()).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

/// SECURITY C7: a code issued before a logout cannot be redeemed after it.
#[tokio::test(flavor = "multi_thread")]
async fn c7_code_issued_before_logout_is_invalid_grant() {
    let s = TestServer::start().await;
    let (_, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (code, verifier) = code_only(&ua, "openid offline_access").await;
    let page = ua.get("/logout").await;
    let r = ua.post("/logout", &[("csrf_token", &page.field("csrf_token")), ("decision", "logout")]).await;
    assert!(r.status < 400, "{}", r.body);
    redeem_web(&s, &secret, &code, &verifier).await.assert_error(400, "invalid_grant");
    // Control: a code of a live session redeems.
    let (code, verifier) = code_only(&ua, "openid").await;
    assert_eq!(redeem_web(&s, &secret, &code, &verifier).await.status, 200);
    s.stop().await;
}

/// SECURITY C7: a code issued before the consent was revoked cannot be redeemed after it.
#[tokio::test(flavor = "multi_thread")]
async fn c7_code_issued_before_consent_revocation_is_invalid_grant() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (code, verifier) = code_only(&ua, "openid").await;
    let admin = s.admin();
    admin.revoke_consent(&admin.user("alice").await.unwrap(), &web).await.unwrap();
    redeem_web(&s, &secret, &code, &verifier).await.assert_error(400, "invalid_grant");
    s.stop().await;
}
