//! Refresh-token families (RFC 6749 §6, RFC 9700 §4.14.2): only a token Keycard really issued
//! for a family can revoke it (a forged one is a plain `invalid_grant`), generations are parsed
//! with bounds, and a family ends after its idle and absolute lifetimes (SECURITY C2, C8).

mod common;

use common::*;
use keycard::config::Config;

const CB: &str = "https://spa.example/cb";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Runs the code flow for `client` (public when `secret` is `None`) and returns the tokens.
async fn tokens(s: &TestServer, client: &str, secret: Option<&str>, cb: &str, scope: &str) -> serde_json::Value {
    let ua = UserAgent::new(&s.base);
    let (v, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id={client}&redirect_uri={}&scope={}&state=s&code_challenge={c}&code_challenge_method=S256",
        enc(cb),
        enc(scope)
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let mut body = format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={v}", enc(cb));
    let auth = match secret {
        Some(sec) => Some(basic(client, sec)),
        None => {
            body.push_str(&format!("&client_id={client}"));
            None
        }
    };
    let r = post_form(&s.url("/token"), auth.as_deref(), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

async fn refresh(s: &TestServer, client: &str, secret: Option<&str>, rt: &str) -> Res {
    let mut body = format!("grant_type=refresh_token&refresh_token={}", enc(rt));
    let auth = match secret {
        Some(sec) => Some(basic(client, sec)),
        None => {
            body.push_str(&format!("&client_id={client}"));
            None
        }
    };
    post_form(&s.url("/token"), auth.as_deref(), &body).await
}

fn rt_of(r: &Res) -> String {
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["refresh_token"].as_str().expect("a rotated refresh token").to_owned()
}

/// The grant id every JWT access token carries (`gid`): public knowledge for anyone who saw one.
fn gid_of(at: &str) -> String {
    jwt_parts(at).1["gid"].as_str().expect("gid").to_owned()
}

async fn active(s: &TestServer, web: &str, secret: &str, token: &str) -> bool {
    let r = post_form(&s.url("/introspect"), Some(&basic(web, secret)), &format!("token={}", enc(token))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["active"].as_bool().unwrap()
}

/// SECURITY C2 (negative): a token that was never issued, with a real `gid` and an old
/// generation, is `invalid_grant` and revokes nothing; the user's current token keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn c2_forged_old_generation_does_not_revoke_the_family() {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    let t = tokens(&s, "spa", None, CB, "api:read").await;
    let gid = gid_of(t["access_token"].as_str().unwrap());
    let rt1 = rt_of(&refresh(&s, "spa", None, t["refresh_token"].as_str().unwrap()).await);
    let rt2 = rt_of(&refresh(&s, "spa", None, &rt1).await);
    // Generation 0 (two behind) and 1 (the previous one), both forged.
    for generation in [0, 1] {
        let forged = format!("kc_rt_{gid}.{generation}.{}", keycard::jose::random_token(32));
        refresh(&s, "spa", None, &forged).await.assert_error(400, "invalid_grant");
    }
    let g = s.state.store.get_grant(&gid).await.unwrap().unwrap();
    assert_eq!(g.revoked_at, None, "a forged token revokes nothing: {:?}", g.revoked_reason);
    let rt3 = rt_of(&refresh(&s, "spa", None, &rt2).await);
    assert!(rt3.starts_with("kc_rt_"));
    assert!(s.state.store.recent_events("refresh_token_reuse", 5).await.unwrap().is_empty());
    s.stop().await;
}

/// SECURITY C2: real reuse of a token two generations old still revokes the whole family, its
/// current refresh token and its access tokens.
#[tokio::test(flavor = "multi_thread")]
async fn c2_real_reuse_of_an_old_generation_revokes_the_family() {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    // spa's tokens go to an API whose resource server may introspect them (issue 14 item 3:
    // no other client may).
    let mut spa = s.admin().client("spa").await.unwrap();
    spa.settings.audience = Some("https://api.example".into());
    s.admin().save_client(spa).await.unwrap();
    let (web, secret) = s
        .create_client(keycard::admin::ClientSpec {
            id: Some("rs".into()),
            resource_audiences: vec!["https://api.example".into()],
            ..Default::default()
        })
        .await;
    s.sync_caches().await;
    let t = tokens(&s, "spa", None, CB, "api:read").await;
    let rt0 = t["refresh_token"].as_str().unwrap().to_owned();
    let rt1 = rt_of(&refresh(&s, "spa", None, &rt0).await);
    let r2 = refresh(&s, "spa", None, &rt1).await;
    let rt2 = rt_of(&r2);
    let at2 = r2.json()["access_token"].as_str().unwrap().to_owned();
    assert!(active(&s, &web, &secret, &at2).await);
    // rt0 is two generations old (no longer the "previous" token): it was issued, so this is reuse.
    refresh(&s, "spa", None, &rt0).await.assert_error(400, "invalid_grant");
    refresh(&s, "spa", None, &rt2).await.assert_error(400, "invalid_grant");
    assert!(!active(&s, &web, &secret, &at2).await, "the family's access tokens are inactive");
    assert_eq!(s.state.store.recent_events("refresh_token_reuse", 5).await.unwrap().len(), 1);
    // The previous generation counts as issued too.
    let t = tokens(&s, "spa", None, CB, "api:read").await;
    let rt0 = t["refresh_token"].as_str().unwrap().to_owned();
    let rt1 = rt_of(&refresh(&s, "spa", None, &rt0).await);
    refresh(&s, "spa", None, &rt0).await.assert_error(400, "invalid_grant");
    refresh(&s, "spa", None, &rt1).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

/// Generations are parsed with bounds: `i64::MAX` (whose successor overflows) and other huge or
/// negative generations are `invalid_grant`, never a panic or a 500, and revoke nothing.
#[tokio::test(flavor = "multi_thread")]
async fn huge_generation_is_invalid_grant_without_panic() {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    let t = tokens(&s, "spa", None, CB, "api:read").await;
    let gid = gid_of(t["access_token"].as_str().unwrap());
    for generation in [i64::MAX.to_string(), (i64::MAX - 1).to_string(), u64::MAX.to_string(), "-1".into()] {
        let forged = format!("kc_rt_{gid}.{generation}.{}", keycard::jose::random_token(32));
        refresh(&s, "spa", None, &forged).await.assert_error(400, "invalid_grant");
    }
    rt_of(&refresh(&s, "spa", None, t["refresh_token"].as_str().unwrap()).await);
    s.stop().await;
}

fn short_refresh_lifetimes() -> TestOptions {
    TestOptions {
        mock_time: Some(1_800_000_000),
        configure: Box::new(|c: &mut Config| {
            c.tokens.refresh_token_idle_ttl_secs = 100;
            c.tokens.refresh_token_absolute_ttl_secs = 250;
        }),
        ..Default::default()
    }
}

/// SECURITY C8: a refresh token unused for longer than `tokens.refresh_token_idle_ttl_secs` is
/// `invalid_grant`; one used within it extends the idle period.
#[tokio::test(flavor = "multi_thread")]
async fn c8_idle_expiry() {
    let s = TestServer::start_with(short_refresh_lifetimes()).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let clock = s.clock.clone().unwrap();
    let t = tokens(&s, &web, Some(&secret), "https://web.example/cb", "openid offline_access").await;
    clock.advance(99);
    let rt1 = rt_of(&refresh(&s, &web, Some(&secret), t["refresh_token"].as_str().unwrap()).await);
    clock.advance(99);
    let rt2 = rt_of(&refresh(&s, &web, Some(&secret), &rt1).await);
    clock.advance(101);
    refresh(&s, &web, Some(&secret), &rt2).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

/// SECURITY C8: the family ends at `tokens.refresh_token_absolute_ttl_secs` however often it is used.
#[tokio::test(flavor = "multi_thread")]
async fn c8_absolute_expiry() {
    let s = TestServer::start_with(short_refresh_lifetimes()).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let clock = s.clock.clone().unwrap();
    let t = tokens(&s, &web, Some(&secret), "https://web.example/cb", "openid offline_access").await;
    let mut rt = t["refresh_token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        clock.advance(80);
        rt = rt_of(&refresh(&s, &web, Some(&secret), &rt).await);
    }
    // 240 s in: still inside both lifetimes; at 251 s the family has ended.
    clock.advance(11);
    refresh(&s, &web, Some(&secret), &rt).await.assert_error(400, "invalid_grant");
    s.stop().await;
}
