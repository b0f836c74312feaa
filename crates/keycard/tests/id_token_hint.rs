//! `id_token_hint` end to end (issue 9 item 7; OpenID Connect Core §3.1.2.1, RP-Initiated
//! Logout 1.0 §2–4; SECURITY E2, E3, A11), on SQLite and on PostgreSQL:
//!
//! - an ID token obtained through a code flow driven by the `openidconnect` crate, sent back as
//!   the hint with `prompt=none`, yields a code for the same user — also after the token
//!   expired (mock clock), and with pairwise subjects;
//! - a forged (signature or payload changed), unsigned (`alg: none`), foreign-issuer,
//!   other-server, access-token or other-client hint is `invalid_request`, never a code;
//! - a hint for bob while alice is signed in: `login_required` with `prompt=none`, the login
//!   page without it, `login_required` again if alice signs in on it, a code only for bob;
//! - `/logout` with a valid (even expired) hint signs out and redirects; with a forged one it
//!   shows a 400 page, redirects nowhere and signs nobody out; a hint for another user is
//!   confirmed with a notice, never acted on silently.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::browser::*;
use common::*;
use keycard::config::SubjectType;
use keycard::jose::Alg;
use keycard::store::conformance::TestDb;
use keycard::testing::{TestOptions, TestServer};
use openidconnect::core::{CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl,
    TokenResponse,
};
use serde_json::json;

const T0: i64 = 1_800_000_000;
const BYE: &str = "https://web.example/bye";

async fn server(db: Option<TestDb>, pairwise: bool) -> (TestServer, String) {
    let s = TestServer::start_with(TestOptions {
        db,
        mock_time: Some(T0),
        configure: Box::new(move |c| {
            if pairwise {
                c.oidc.subject_type = SubjectType::Pairwise;
            }
        }),
    })
    .await;
    let secret = fixtures(&s).await;
    let admin = s.admin();
    let mut web = admin.client("web").await.unwrap();
    web.settings.post_logout_redirect_uris = vec![BYE.into()];
    admin.save_client(web).await.unwrap();
    s.sync_caches().await;
    (s, secret)
}

/// Signs `user` in through a whole code flow for `web` in `ua` and returns the ID token.
async fn id_token_for(s: &TestServer, ua: &UserAgent, secret: &str, user: &str, pw: &str) -> String {
    let req = AuthReq::new("web", WEB_CB, "openid profile").set("nonce", "n-1");
    let code = code_via(s, ua, &req, user, pw).await;
    tokens(s, &req, &code, Some(secret)).await["id_token"].as_str().unwrap().to_owned()
}

/// `prompt=none` for `web` with `hint` in `ua`: the redirect's query.
async fn silent(s: &TestServer, ua: &UserAgent, hint: &str) -> std::collections::HashMap<String, String> {
    let r = ua
        .get(&AuthReq::new("web", WEB_CB, "openid profile").set("prompt", "none").set("id_token_hint", hint).url())
        .await;
    client_redirect(&r, &format!("{WEB_CB}?"), Some(STATE), &s.base)
}

#[track_caller]
fn assert_error(q: &std::collections::HashMap<String, String>, code: &str, what: &str) {
    assert_eq!(q.get("error").map(String::as_str), Some(code), "{what}: {q:?}");
    assert!(!q.contains_key("code"), "{what}: no code");
}

/// The ID token's claims, unverified (the server verifies; this is for assertions).
fn claims_of(jwt: &str) -> serde_json::Value {
    jwt_parts(jwt).1
}

// ---- the happy path, with the openidconnect crate ---------------------------------------------

async fn valid_and_expired_hints_round_trip(db: Option<TestDb>, pairwise: bool) {
    let (s, secret) = server(db, pairwise).await;
    let meta = CoreProviderMetadata::discover_async(IssuerUrl::new(s.base.clone()).unwrap(), &oauth2_http)
        .await
        .expect("discovery");
    let client = CoreClient::from_provider_metadata(meta, ClientId::new("web".into()), Some(ClientSecret::new(secret)))
        .set_redirect_uri(RedirectUrl::new(WEB_CB.into()).unwrap());
    let ua = UserAgent::new(&s.base);

    // 1. An ordinary sign-in gives the ID token that later serves as the hint.
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, _, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge)
        .url();
    let back = authorize_in(&ua, url.as_str(), "alice", ALICE_PW).await;
    let t = client
        .exchange_code(AuthorizationCode::new(query_of(&back)["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .expect("code exchange");
    let id_token = t.id_token().expect("id_token");
    let sub = id_token.claims(&client.id_token_verifier(), &nonce).expect("valid ID token").subject().to_string();
    assert_eq!(sub.starts_with("pw_"), pairwise, "{sub}");
    let hint = id_token.to_string();

    // 2. The hint with prompt=none, built by the client library: a code for the same user.
    for round in ["fresh", "expired"] {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, csrf, nonce) = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .add_prompt(CoreAuthPrompt::None)
            .add_extra_param("id_token_hint", hint.clone())
            .set_pkce_challenge(challenge)
            .url();
        let r = ua.get(url.as_str()).await;
        let q = client_redirect(&r, &format!("{WEB_CB}?code="), Some(csrf.secret()), &s.base);
        let t = client
            .exchange_code(AuthorizationCode::new(q["code"].clone()))
            .unwrap()
            .set_pkce_verifier(verifier)
            .request_async(&oauth2_http)
            .await
            .expect("code exchange");
        let raw = t.id_token().expect("id_token").to_string();
        assert_eq!(claims_of(&raw)["sub"], sub.as_str(), "{round}: the hinted user");
        assert_eq!(claims_of(&raw)["nonce"], nonce.secret().as_str(), "{round}");
        // Expire the hint (the session lives on: 8 h idle).
        let exp = claims_of(&hint)["exp"].as_i64().unwrap();
        s.clock.as_ref().unwrap().advance(exp - T0 + 60);
        assert!(exp < s.state.clock.now(), "the hint has expired");
    }

    // 3. RP-initiated logout with the (expired) hint: confirmed, signed out, sent back.
    let session = ua.cookie("kc_session").unwrap();
    let page = ua.get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye", enc(BYE))).await;
    assert_eq!(page.status, 200, "{}", short(&page.body));
    assert!(!page.body.contains("a different account"), "the hint names the signed-in user");
    let fields: Vec<(String, String)> = ["csrf_token", "id_token_hint", "post_logout_redirect_uri", "state"]
        .iter()
        .map(|k| (k.to_string(), page.field(k)))
        .chain([("decision".to_owned(), "logout".to_owned())])
        .collect();
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = ua.post("/logout", &f).await;
    assert_eq!(r.status, 303, "{}", short(&r.body));
    assert_eq!(r.location(), format!("{BYE}?state=bye"));
    assert_not_signed_in(&s, &session, "after logout").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_a11_valid_and_expired_hints_round_trip_on_sqlite() {
    valid_and_expired_hints_round_trip(None, false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_a11_valid_and_expired_hints_round_trip_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    valid_and_expired_hints_round_trip(Some(db), false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_pairwise_hints_round_trip_on_sqlite() {
    valid_and_expired_hints_round_trip(None, true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_pairwise_hints_round_trip_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    valid_and_expired_hints_round_trip(Some(db), true).await;
}

// ---- hints that are not ours ------------------------------------------------------------------

async fn bad_hints_are_invalid_request(db: Option<TestDb>) {
    let (s, secret) = server(db, false).await;
    let ua = UserAgent::new(&s.base);
    let hint = id_token_for(&s, &ua, &secret, "alice", ALICE_PW).await;
    let parts: Vec<&str> = hint.split('.').collect();
    let claims = claims_of(&hint);

    let mut sig = B64.decode(parts[2]).unwrap();
    let last = sig.len() - 1;
    sig[last] ^= 1;
    let bad_signature = format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig));
    let mut other = claims.clone();
    other["sub"] = json!("usr_someone_else");
    let bad_payload = format!("{}.{}.{}", parts[0], B64.encode(other.to_string()), parts[2]);
    let none_header = B64.encode(json!({"alg": "none", "typ": "JWT"}).to_string());
    let alg_none = format!("{none_header}.{}.", parts[1]);
    let kid = jwt_parts(&hint).0["kid"].as_str().unwrap().to_owned();
    let none_with_kid = format!("{}.{}.", B64.encode(json!({"alg": "none", "kid": kid}).to_string()), parts[1]);
    // Signed with this server's own key, but naming another issuer.
    let mut foreign = claims.clone();
    foreign["iss"] = json!("https://evil.example");
    let foreign_iss = s.state.keys.snapshot().signer(Alg::RS256).unwrap().sign_jwt("JWT", &foreign).unwrap();
    // A real ID token of another Keycard (another issuer, other keys).
    let other_server = {
        let (o, o_secret) = server(None, false).await;
        let o_ua = UserAgent::new(&o.base);
        let t = id_token_for(&o, &o_ua, &o_secret, "alice", ALICE_PW).await;
        o.stop().await;
        t
    };
    // An access token of this server for the same user (SECURITY E3).
    let req = AuthReq::new("web", WEB_CB, "openid");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let access_token = tokens(&s, &req, &code, Some(&secret)).await["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_parts(&access_token).0["typ"], "at+jwt");
    // A valid ID token of this server, issued to another client.
    let spa = AuthReq::new("spa", "https://spa.example/cb", "openid").set("nonce", "n-2");
    let code = code_via(&s, &ua, &spa, "alice", ALICE_PW).await;
    let for_spa = tokens(&s, &spa, &code, None).await["id_token"].as_str().unwrap().to_owned();

    assert!(silent(&s, &ua, &hint).await.contains_key("code"), "the genuine hint works");
    for (what, h) in [
        ("signature changed", bad_signature.as_str()),
        ("payload changed", bad_payload.as_str()),
        ("alg none", alg_none.as_str()),
        ("alg none with our kid", none_with_kid.as_str()),
        ("another issuer, our key", foreign_iss.as_str()),
        ("another server's ID token", other_server.as_str()),
        ("an access token", access_token.as_str()),
        ("issued to another client", for_spa.as_str()),
        ("garbage", "not-a-jwt"),
    ] {
        assert_error(&silent(&s, &ua, h).await, "invalid_request", what);
        // Without prompt=none, alice being signed in: the same answer at once, never a code.
        let r = ua.get(&AuthReq::new("web", WEB_CB, "openid").set("id_token_hint", h).url()).await;
        assert_error(&client_redirect(&r, &format!("{WEB_CB}?"), Some(STATE), &s.base), "invalid_request", what);
        // At /logout (sent by `web`): an error page, no redirect, nobody signed out.
        let page =
            ua.get(&format!("/logout?id_token_hint={h}&client_id=web&post_logout_redirect_uri={}", enc(BYE))).await;
        assert_error_page(&page, what);
    }
    // spa's own hint, without client_id, is a valid logout request of spa's.
    let page = ua.get(&format!("/logout?id_token_hint={for_spa}")).await;
    assert_eq!(page.status, 200, "{}", short(&page.body));
    assert!(page.body.contains("Single Page App"));
    // Nobody signed in, no prompt=none, a client that is not first-party: the error waits for
    // the sign-in (SECURITY A5), then it is the answer, never a code.
    let fresh = UserAgent::new(&s.base);
    let req = AuthReq::new("web", WEB_CB, "openid").set("id_token_hint", &bad_signature);
    let r = fresh.get(&req.url()).await;
    assert!(r.location().starts_with("/login"), "{}", r.location());
    let r = drive_from(&fresh, r, "alice", ALICE_PW).await;
    assert_error(&client_redirect(&r, &format!("{WEB_CB}?"), Some(STATE), &s.base), "invalid_request", "after sign-in");
    assert_error(&silent(&s, &fresh, &bad_signature).await, "invalid_request", "prompt=none, signed in");
    // Signed out? No: the genuine hint still gets a code silently.
    assert!(silent(&s, &ua, &hint).await.contains_key("code"), "alice is still signed in");
    // A forged hint POSTed to /logout with a valid CSRF token: 400, still signed in.
    let csrf = ua.get("/logout").await.field("csrf_token");
    let r = ua
        .post(
            "/logout",
            &[
                ("csrf_token", &csrf),
                ("decision", "logout"),
                ("id_token_hint", &bad_signature),
                ("post_logout_redirect_uri", BYE),
            ],
        )
        .await;
    assert_error_page(&r, "forged hint at POST /logout");
    assert!(set_cookies(&r).is_empty(), "the session cookie stays");
    assert!(silent(&s, &ua, &hint).await.contains_key("code"), "alice is still signed in");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_e3_a11_forged_unsigned_and_foreign_hints_are_invalid_request_on_sqlite() {
    bad_hints_are_invalid_request(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_e3_a11_forged_unsigned_and_foreign_hints_are_invalid_request_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    bad_hints_are_invalid_request(Some(db)).await;
}

// ---- a hint for another user ------------------------------------------------------------------

async fn hint_for_another_user(db: Option<TestDb>) {
    let (s, secret) = server(db, false).await;
    let bob_ua = UserAgent::new(&s.base);
    let bob_hint = id_token_for(&s, &bob_ua, &secret, "bob", BOB_PW).await;
    let bob_sub = claims_of(&bob_hint)["sub"].as_str().unwrap().to_owned();
    let ua = UserAgent::new(&s.base);
    let alice_hint = id_token_for(&s, &ua, &secret, "alice", ALICE_PW).await;
    assert_ne!(claims_of(&alice_hint)["sub"], bob_sub.as_str());

    // prompt=none: login_required, never a code for alice.
    assert_error(&silent(&s, &ua, &bob_hint).await, "login_required", "bob's hint, alice signed in");
    assert!(silent(&s, &ua, &alice_hint).await.contains_key("code"), "alice's own hint");

    // Interactive: the login page. Signing in as alice there is still not bob: login_required.
    let req = AuthReq::new("web", WEB_CB, "openid").set("id_token_hint", &bob_hint);
    let r = ua.get(&req.url()).await;
    assert!(r.location().starts_with("/login"), "{}", r.location());
    let page = ua.get(&r.location()).await;
    assert!(page.body.contains("a different account than the one signed in"), "{}", short(&page.body));
    let r = drive_from(&ua, r, "alice", ALICE_PW).await;
    assert_error(&client_redirect(&r, &format!("{WEB_CB}?"), Some(STATE), &s.base), "login_required", "alice again");
    // Signing in as bob there: a code, for bob.
    let r = drive(&ua, &req.url(), "bob", BOB_PW).await;
    let q = client_redirect(&r, &format!("{WEB_CB}?code="), Some(STATE), &s.base);
    let t = tokens(&s, &req, &q["code"], Some(&secret)).await;
    assert_eq!(sub_of(&t), bob_sub, "the code is bob's");

    // Logout of alice's browser with bob's hint: confirmed with a notice, not silent.
    let alice_ua = UserAgent::new(&s.base);
    id_token_for(&s, &alice_ua, &secret, "alice", ALICE_PW).await;
    let page = alice_ua.get(&format!("/logout?id_token_hint={bob_hint}&post_logout_redirect_uri={}", enc(BYE))).await;
    assert_eq!(page.status, 200, "{}", short(&page.body));
    assert!(page.body.contains("a different account"), "{}", short(&page.body));
    assert!(page.header("location").is_none());
    assert!(silent(&s, &alice_ua, &alice_hint).await.contains_key("code"), "alice is still signed in");
    let page = alice_ua.get(&format!("/logout?id_token_hint={alice_hint}")).await;
    assert!(!page.body.contains("a different account"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_k3_hint_for_another_user_never_yields_a_code_on_sqlite() {
    hint_for_another_user(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_k3_hint_for_another_user_never_yields_a_code_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    hint_for_another_user(Some(db)).await;
}
