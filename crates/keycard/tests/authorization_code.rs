//! The authorization code flow end to end (RFC 6749 §4.1, RFC 7636, OpenID Connect Core §3.1),
//! driven by the `openidconnect` and `oauth2` crates as the client and a cookie-jar user agent
//! for the HTML pages. SECURITY items are cited in test names.

mod common;

use common::*;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

#[tokio::test(flavor = "multi_thread")]
async fn openidconnect_crate_full_flow_id_token_userinfo_refresh() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &oauth2_http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(meta, ClientId::new(web), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new("https://web.example/cb".into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    let ua = UserAgent::new(&s.base);
    let back = authorize_in(&ua, url.as_str(), "alice", "alice-password-1").await;
    assert!(back.starts_with("https://web.example/cb?"), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], *csrf.secret(), "state unchanged");
    assert_eq!(q["iss"], s.base, "RFC 9207 iss (A7)");
    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .expect("code exchange");
    let id_token = tokens.id_token().expect("id_token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &nonce).expect("id_token validates: signature, iss, aud, exp, nonce");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash), "at_hash (E1)");
    assert!(claims.auth_time().is_some());
    let (header, raw) = jwt_parts(&id_token.to_string());
    assert_eq!(header["alg"], "RS256", "ID tokens are RS256 by default");
    assert!(raw["sid"].as_str().is_some());
    assert!(raw["sub"].as_str().unwrap().starts_with("usr_"));
    // The access token is an RFC 9068 JWT for the user, bound to its grant.
    let (ah, ac) = jwt_parts(tokens.access_token().secret());
    assert_eq!(ah["typ"], "at+jwt");
    assert_eq!(ac["sub"], raw["sub"]);
    assert!(ac["gid"].as_str().is_some());
    assert_eq!(ac["scope"], "email offline_access openid profile");

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().to_owned(), None)
        .unwrap()
        .request_async(&oauth2_http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), raw["sub"].as_str().unwrap());
    assert_eq!(info.email().unwrap().as_str(), "alice@example.com");
    assert_eq!(info.preferred_username().unwrap().as_str(), "alice");

    let rt = tokens.refresh_token().expect("offline_access → refresh token").clone();
    let refreshed = client.exchange_refresh_token(&rt).unwrap().request_async(&oauth2_http).await.expect("refresh");
    let rt2 = refreshed.refresh_token().expect("rotated").clone();
    assert_ne!(rt2.secret(), rt.secret());
    // Replaying the rotated token is reuse: the whole family is revoked (C2).
    let replay = client.exchange_refresh_token(&rt).unwrap().request_async(&oauth2_http).await;
    assert!(replay.is_err());
    let after = client.exchange_refresh_token(&rt2).unwrap().request_async(&oauth2_http).await;
    assert!(after.is_err(), "the successor dies with the family");
    let r = post_form(&s.url("/introspect"), Some(&basic("web", client.client_id().as_str())), "").await;
    assert_eq!(r.status, 401);
    let events = s.state.store.recent_events("refresh_token_reuse", 5).await.unwrap();
    assert_eq!(events.len(), 1, "recorded as a security event");
    s.stop().await;
}

async fn code_for(
    s: &TestServer,
    ua: &UserAgent,
    client: &str,
    redirect: &str,
    scope: &str,
    extra: &str,
) -> (String, String) {
    let (v, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id={client}&redirect_uri={}&scope={}&state=xyz&code_challenge={c}&code_challenge_method=S256{extra}",
        form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>(),
        form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>(),
    );
    let back = authorize_in(ua, &url, "alice", "alice-password-1").await;
    let q = query_of(&back);
    assert_eq!(q.get("state").map(String::as_str), Some("xyz"), "{back}");
    let _ = s;
    (q.get("code").cloned().unwrap_or_else(|| panic!("no code: {back}")), v)
}

async fn redeem(s: &TestServer, client: &str, secret: Option<&str>, code: &str, redirect: &str, verifier: &str) -> Res {
    let mut body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
        form_urlencoded::byte_serialize(redirect.as_bytes()).collect::<String>()
    );
    let auth = match secret {
        Some(sec) => Some(basic(client, sec)),
        None => {
            body.push_str(&format!("&client_id={client}"));
            None
        }
    };
    post_form(&s.url("/token"), auth.as_deref(), &body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn public_client_with_oauth2_crate_pkce_and_rotation() {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthUrl, TokenUrl};
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    let client = BasicClient::new(oauth2::ClientId::new("spa".into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new("https://spa.example/cb".into()).unwrap());
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, state) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("api:read".into()))
        .set_pkce_challenge(challenge)
        .url();
    let ua = UserAgent::new(&s.base);
    let back = authorize_in(&ua, url.as_str(), "alice", "alice-password-1").await;
    let q = query_of(&back);
    assert_eq!(&q["state"], state.secret());
    let tok = client
        .exchange_code(oauth2::AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .expect("public client redeems with PKCE");
    use oauth2::TokenResponse as _;
    assert!(tok.extra_fields().eq(&oauth2::EmptyExtraTokenFields {}));
    let rt1 = tok.refresh_token().expect("refresh token for a non-OIDC request when the client may refresh").clone();
    let t2 = client.exchange_refresh_token(&rt1).request_async(&oauth2_http).await.expect("refresh 1");
    let rt2 = t2.refresh_token().expect("public clients always rotate (C1)").clone();
    assert_ne!(rt1.secret(), rt2.secret());
    let t3 = client.exchange_refresh_token(&rt2).request_async(&oauth2_http).await.expect("refresh 2");
    assert!(t3.refresh_token().is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b3_b4_b5_b6_code_binding_single_use_and_revocation() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let cb = "https://web.example/cb";
    let (code, verifier) = code_for(&s, &ua, &web, cb, "openid offline_access", "").await;
    // B3: wrong or missing verifier → invalid_grant, and the code survives.
    redeem(&s, &web, Some(&secret), &code, cb, &"A".repeat(43)).await.assert_error(400, "invalid_grant");
    let no_verifier = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}",
        form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
    );
    post_form(&s.url("/token"), Some(&basic(&web, &secret)), &no_verifier).await.assert_error(400, "invalid_grant");
    // B5: another redirect_uri, another client.
    redeem(&s, &web, Some(&secret), &code, "https://web.example/cb2", &verifier)
        .await
        .assert_error(400, "invalid_grant");
    redeem(&s, "spa", None, &code, cb, &verifier).await.assert_error(400, "invalid_grant");
    // Now it works.
    let ok = redeem(&s, &web, Some(&secret), &code, cb, &verifier).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.header("cache-control"), Some("no-store"));
    let at = ok.json()["access_token"].as_str().unwrap().to_owned();
    let rt = ok.json()["refresh_token"].as_str().unwrap().to_owned();
    let intro = |t: String| {
        let (s, w, sec) = (&s, web.clone(), secret.clone());
        async move {
            post_form(&s.url("/introspect"), Some(&basic(&w, &sec)), &format!("token={t}")).await.json()["active"]
                .as_bool()
                .unwrap()
        }
    };
    assert!(intro(at.clone()).await);
    assert!(intro(rt.clone()).await, "refresh tokens introspect to their own client");
    // B6: a second valid redemption fails and revokes what the first issued.
    redeem(&s, &web, Some(&secret), &code, cb, &verifier).await.assert_error(400, "invalid_grant");
    assert!(!intro(at).await, "access token from the reused code is inactive");
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    r.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b4_verifier_without_challenge_and_b8_expiry() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let cb = "https://web.example/cb";
    let (code, verifier) = code_for(&s, &ua, &web, cb, "openid", "").await;
    s.clock.as_ref().unwrap().advance(61);
    redeem(&s, &web, Some(&secret), &code, cb, &verifier).await.assert_error(400, "invalid_grant");
    // A client allowed to skip PKCE gets a code without a challenge; a verifier then is a downgrade.
    let admin = s.admin();
    let mut c = admin.client(&web).await.unwrap();
    c.settings.pkce_optional = true;
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    let url = format!(
        "/authorize?response_type=code&client_id={web}&redirect_uri={}&scope=openid&state=xyz",
        form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    redeem(&s, &web, Some(&secret), &code, cb, &"B".repeat(43)).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b7_concurrent_redemption_exactly_one_wins() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let cb = "https://web.example/cb";
    for _ in 0..5 {
        let (code, verifier) = code_for(&s, &ua, &web, cb, "openid", "").await;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (b, url, auth) = (barrier.clone(), s.url("/token"), basic(&web, &secret));
            let body = format!(
                "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}",
                form_urlencoded::byte_serialize(cb.as_bytes()).collect::<String>()
            );
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                post_form(&url, Some(&auth), &body).await.status
            }));
        }
        let mut ok = 0;
        for t in tasks {
            let st = t.await.unwrap();
            assert!(st == 200 || st == 400, "{st}");
            ok += usize::from(st == 200);
        }
        assert_eq!(ok, 1, "exactly one redemption wins");
    }
    s.stop().await;
}

async fn refresh(s: &TestServer, client: &str, secret: &str, rt: &str, scope: Option<&str>) -> Res {
    let mut body = format!("grant_type=refresh_token&refresh_token={rt}");
    if let Some(sc) = scope {
        body.push_str(&format!("&scope={}", form_urlencoded::byte_serialize(sc.as_bytes()).collect::<String>()));
    }
    post_form(&s.url("/token"), Some(&basic(client, secret)), &body).await
}

async fn tokens_for(s: &TestServer, web: &str, secret: &str, scope: &str) -> serde_json::Value {
    let ua = UserAgent::new(&s.base);
    let cb = "https://web.example/cb";
    let (code, verifier) = code_for(s, &ua, web, cb, scope, "").await;
    let r = redeem(s, web, Some(secret), &code, cb, &verifier).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread")]
async fn c3_concurrent_refresh_exactly_one_wins_and_losers_revoke() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    for _ in 0..5 {
        let t = tokens_for(&s, &web, &secret, "openid offline_access").await;
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(20));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (b, url, auth, body) = (
                barrier.clone(),
                s.url("/token"),
                basic(&web, &secret),
                format!("grant_type=refresh_token&refresh_token={rt}"),
            );
            tasks.push(tokio::spawn(async move {
                b.wait().await;
                post_form(&url, Some(&auth), &body).await
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let r = t.await.unwrap();
            if r.status == 200 {
                winners.push(r.json()["refresh_token"].as_str().unwrap().to_owned());
            } else {
                r.assert_error(400, "invalid_grant");
            }
        }
        assert_eq!(winners.len(), 1, "exactly one concurrent refresh succeeds");
        // The losers presented a rotated token: with no replay window the family is revoked.
        refresh(&s, &web, &secret, &winners[0], None).await.assert_error(400, "invalid_grant");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c5_scope_narrowing_and_c7_disabled_user() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let t = tokens_for(&s, &web, &secret, "openid profile offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap();
    refresh(&s, &web, &secret, rt, Some("openid profile offline_access api:read"))
        .await
        .assert_error(400, "invalid_scope");
    let r = refresh(&s, &web, &secret, rt, Some("openid")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["scope"], "openid");
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let r = refresh(&s, &web, &secret, &rt2, None).await;
    assert_eq!(r.json()["scope"], "offline_access openid profile", "the family keeps the original scope");
    let rt3 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    // C4: another client cannot use it; a confidential client must authenticate.
    let r =
        post_form(&s.url("/token"), None, &format!("grant_type=refresh_token&refresh_token={rt3}&client_id=spa")).await;
    r.assert_error(400, "invalid_grant");
    let r = post_form(&s.url("/token"), None, &format!("grant_type=refresh_token&refresh_token={rt3}&client_id={web}"))
        .await;
    r.assert_error(401, "invalid_client");
    // C7: a disabled user's refresh tokens stop working.
    let admin = s.admin();
    let mut alice = admin.user("alice").await.unwrap();
    alice.disabled = true;
    admin.save_user(alice).await.unwrap();
    refresh(&s, &web, &secret, &rt3, None).await.assert_error(400, "invalid_grant");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_window_returns_the_same_pair_and_older_generations_still_revoke() {
    let s = TestServer::start().await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let admin = s.admin();
    let mut c = admin.client(&web).await.unwrap();
    c.settings.refresh_replay_window_secs = 30;
    c.settings.refresh_replay_max = 3;
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    let t = tokens_for(&s, &web, &secret, "openid offline_access").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let a = refresh(&s, &web, &secret, &rt1, None).await.json();
    // A lost response: the same token again gets the SAME successor pair.
    let b = refresh(&s, &web, &secret, &rt1, None).await.json();
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    assert_eq!(a["access_token"], b["access_token"]);
    let rt2 = a["refresh_token"].as_str().unwrap().to_owned();
    let c3 = refresh(&s, &web, &secret, &rt2, None).await.json();
    assert!(c3["refresh_token"].is_string());
    // rt1 is now two generations old: reuse → the family is revoked.
    refresh(&s, &web, &secret, &rt1, None).await.assert_error(400, "invalid_grant");
    refresh(&s, &web, &secret, c3["refresh_token"].as_str().unwrap(), None).await.assert_error(400, "invalid_grant");
    s.stop().await;
}
