//! Deleting a client ends everything it held (issue 14 item 4): re-creating the same id — as
//! re-provisioning does — must not bring back refresh tokens, remembered consent, unredeemed
//! codes, pending authorization requests or live access tokens of the old incarnation.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

const CB: &str = "https://web.example/cb";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn web_spec() -> ClientSpec {
    ClientSpec {
        id: Some("web".into()),
        name: Some("Web App".into()),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "offline_access", "api:read"].iter().map(|s| s.to_string()).collect(),
        redirect_uris: vec![CB.into(), "https://web.example/cb2".into()],
        ..Default::default()
    }
}

fn authorize_url(challenge: &str, scope: &str) -> String {
    format!(
        "/authorize?response_type=code&client_id=web&redirect_uri={}&scope={}&state=s&code_challenge={challenge}&code_challenge_method=S256",
        enc(CB),
        enc(scope)
    )
}

async fn redeem(s: &TestServer, secret: &str, code: &str, verifier: &str) -> Res {
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}", enc(CB));
    post_form(&s.url("/token"), Some(&basic("web", secret)), &body).await
}

async fn active(s: &TestServer, id: &str, secret: &str, token: &str) -> bool {
    let r = post_form(&s.url("/introspect"), Some(&basic(id, secret)), &format!("token={}", enc(token))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["active"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_client_ends_its_state_and_recreating_it_brings_none_back() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    assert_eq!(web, "web");
    let clock = s.clock.clone().unwrap();
    let ua = UserAgent::new(&s.base);
    // A full flow: consent remembered, refresh family and a JWT access token.
    let (v, c) = pkce();
    let back = authorize_in(&ua, &authorize_url(&c, "openid offline_access"), "alice", "alice-password-1").await;
    let t = redeem(&s, &secret, &query_of(&back)["code"], &v).await;
    assert_eq!(t.status, 200, "{}", t.body);
    let (at, rt) =
        (t.json()["access_token"].as_str().unwrap().to_owned(), t.json()["refresh_token"].as_str().unwrap().to_owned());
    // A code not redeemed yet (consent is remembered: no page this time).
    let (v2, c2) = pkce();
    let back = authorize_in(&ua, &authorize_url(&c2, "openid offline_access"), "alice", "alice-password-1").await;
    let unredeemed = query_of(&back)["code"].clone();
    // A pending request waiting on the consent page (a scope not consented yet).
    let (_, c3) = pkce();
    let res = ua.get(&authorize_url(&c3, "openid api:read")).await;
    let consent = ua.get(&res.location()).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let (request_id, csrf) = (consent.field("request_id"), consent.field("csrf_token"));
    // A client_credentials JWT of another client that is deleted and re-created as well.
    let (svc, svc_secret) = s.cc_client("svc", &["api:read"]).await;
    let cc = cc_token(&s, &svc, &svc_secret, None).await;
    assert_eq!(cc.status, 200, "{}", cc.body);
    let cc_at = cc.json()["access_token"].as_str().unwrap().to_owned();
    assert!(active(&s, &svc, &svc_secret, &cc_at).await, "its own client sees it (RFC 7662 §4, issue 14 item 3)");

    clock.advance(2);
    s.admin().delete_client("web").await.unwrap();
    s.admin().delete_client("svc").await.unwrap();
    clock.advance(2);
    let (_, secret) = s.create_client(web_spec()).await;
    let (_, svc_secret) = s.cc_client("svc", &["api:read"]).await;
    s.sync_caches().await;

    let r = post_form(
        &s.url("/token"),
        Some(&basic("web", &secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    r.assert_error(400, "invalid_grant");
    assert!(!active(&s, "web", &secret, &at).await, "the old incarnation's access token is inactive");
    assert!(!active(&s, "svc", &svc_secret, &cc_at).await, "so is a client_credentials token of the old svc");
    redeem(&s, &secret, &unredeemed, &v2).await.assert_error(400, "invalid_grant");
    // The pending request is gone: approving it issues nothing.
    let done =
        ua.post("/consent", &[("request_id", &request_id), ("csrf_token", &csrf), ("decision", "approve")]).await;
    assert!(
        !done.header("location").unwrap_or("").starts_with(CB),
        "a pending request of the deleted client must not complete: {:?}",
        done.header("location")
    );
    // Consent is asked again.
    let (_, c4) = pkce();
    let res = ua.get(&authorize_url(&c4, "openid offline_access")).await;
    assert!(res.location().starts_with("/consent"), "{}", res.location());
    s.stop().await;
}
