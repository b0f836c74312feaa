//! Pushed authorization requests (RFC 9126, SECURITY A12) against a real Keycard on SQLite and
//! PostgreSQL: the `oauth2` crate builds the request and redeems the code, reqwest pushes it
//! with `client_secret_basic`, the browser helper runs `/authorize` with the `request_uri`.
//! Negative cases: reuse, another client's URI, expiry (mock clock), `request_uri` inside a push,
//! invalid parameters refused at the push, no client authentication, PAR required per client
//! and server-wide, and the metadata.

mod common;

use common::browser::{assert_error_page, enc, form};
use common::*;
use keycard::store::conformance::TestDb;

const T0: i64 = 1_800_000_000;
const WEB_CB: &str = "https://web.example/cb";
const PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

async fn server(
    db: Option<TestDb>,
    configure: impl FnOnce(&mut keycard::config::Config) + Send + 'static,
) -> TestServer {
    TestServer::start_with(TestOptions { db, mock_time: Some(T0), configure: Box::new(configure) }).await
}

/// Pushes `pairs` as `web` (Basic); the raw answer.
async fn push(s: &TestServer, secret: &str, pairs: &[(&str, &str)]) -> Res {
    post_form(&s.url("/par"), Some(&basic("web", secret)), &form(pairs)).await
}

/// A valid pushed request for `web`: (pairs, verifier).
fn web_request(state: &str) -> (Vec<(String, String)>, String) {
    let (v, c) = pkce();
    let pairs = [
        ("response_type", "code"),
        ("client_id", "web"),
        ("redirect_uri", WEB_CB),
        ("scope", "openid profile"),
        ("state", state),
        ("nonce", "n-1"),
        ("code_challenge", &c),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    (pairs, v)
}

fn refs(p: &[(String, String)]) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A successful push: 201, a PAR URN with ≥128 random bits, `expires_in`, no-store.
#[track_caller]
fn request_uri_of(r: &Res, ttl: i64) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert!(r.header("content-type").unwrap_or("").starts_with("application/json"));
    let j = r.json();
    assert_eq!(j["expires_in"], ttl, "{j}");
    let uri = j["request_uri"].as_str().expect("request_uri").to_owned();
    let random = uri.strip_prefix(PREFIX).unwrap_or_else(|| panic!("not a PAR URN: {uri}"));
    assert!(random.len() >= 22, "at least 128 bits of base64url: {uri}");
    uri
}

fn authorize_url(client: &str, request_uri: &str) -> String {
    format!("/authorize?client_id={client}&request_uri={}", enc(request_uri))
}

/// RFC 9126 §2–§4 + PKCE end to end with the `oauth2` crate as the client.
async fn par_with_pkce_end_to_end(db: Option<TestDb>) {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthUrl, TokenResponse as _, TokenUrl};
    let s = server(db, |_| {}).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let client = BasicClient::new(oauth2::ClientId::new(web.clone()))
        .set_client_secret(oauth2::ClientSecret::new(secret.clone()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new(WEB_CB.into()).unwrap());
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(oauth2::CsrfToken::new_random)
        .add_scope(oauth2::Scope::new("openid".into()))
        .add_scope(oauth2::Scope::new("profile".into()))
        .add_extra_param("nonce", "n-0S6")
        .set_pkce_challenge(challenge)
        .url();
    // The parameters the library would put in the URL are pushed instead (RFC 9126 §2.1).
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let r = push(&s, &secret, &refs(&pairs)).await;
    let request_uri = request_uri_of(&r, 60);

    // RFC 9126 §4: only client_id and request_uri travel through the browser; parameters
    // outside the request_uri are ignored (a different scope and state here).
    let ua = UserAgent::new(&s.base);
    let outer = format!(
        "{}&scope=email&state=outer&redirect_uri={}",
        authorize_url(&web, &request_uri),
        enc("https://web.example/cb2")
    );
    let back = authorize_in(&ua, &outer, "alice", "alice-password-1").await;
    assert!(back.starts_with(&format!("{WEB_CB}?code=")), "the pushed redirect_uri: {back}");
    let q = query_of(&back);
    assert_eq!(&q["state"], csrf.secret(), "the pushed state, not the outer one");
    assert_eq!(q["iss"], s.base);
    let tok = client
        .exchange_code(oauth2::AuthorizationCode::new(q["code"].clone()))
        .set_pkce_verifier(verifier)
        .request_async(&oauth2_http)
        .await
        .expect("the code of a pushed request redeems with PKCE");
    let scopes: Vec<String> = tok.scopes().expect("scope").iter().map(|s| s.to_string()).collect();
    assert!(scopes.contains(&"profile".to_owned()) && !scopes.contains(&"email".to_owned()), "{scopes:?}");

    // A12: single use — a second /authorize with the same request_uri is an error page.
    let r = ua.get(&authorize_url(&web, &request_uri)).await;
    assert_error_page(&r, "reused request_uri");
    assert!(r.body.contains("invalid_request_uri"), "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a12_par_with_pkce_end_to_end_on_sqlite() {
    par_with_pkce_end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a12_par_with_pkce_end_to_end_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    par_with_pkce_end_to_end(Some(db)).await;
}

/// A12: bound to the pushing client, expiring, single use even under concurrent use.
async fn request_uri_binding(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    let (_, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);

    // Pushed by web, presented with client_id=spa: refused, and not burnt for web.
    let (pairs, _) = web_request("s1");
    let uri = request_uri_of(&push(&s, &secret, &refs(&pairs)).await, 60);
    let r = ua.get(&authorize_url("spa", &uri)).await;
    assert_error_page(&r, "another client's request_uri");
    assert!(r.body.contains("invalid_request_uri"), "{}", r.body);
    for bad in ["nope", ""] {
        let r = ua.get(&authorize_url(bad, &uri)).await;
        assert_error_page(&r, "request_uri with an unknown or missing client_id");
    }
    let r = ua.get(&authorize_url("web", &uri)).await;
    assert!(r.location().starts_with("/login?request="), "still valid for its own client: {}", r.location());

    // Unknown URNs, and garbage after the prefix.
    for fake in [format!("{PREFIX}{}", keycard::jose::random_token(32)), format!("{PREFIX}x"), PREFIX.to_owned()] {
        assert_error_page(&ua.get(&authorize_url("web", &fake)).await, "unknown request_uri");
    }

    // Expiry (RFC 9126 §2.2): usable until expires_in, not after.
    let clock = s.clock.clone().expect("mock clock");
    let (pairs, _) = web_request("s2");
    let uri = request_uri_of(&push(&s, &secret, &refs(&pairs)).await, 60);
    let (pairs, _) = web_request("s3");
    let fresh = request_uri_of(&push(&s, &secret, &refs(&pairs)).await, 60);
    clock.advance(59);
    assert!(ua.get(&authorize_url("web", &fresh)).await.location().starts_with("/login?request="));
    clock.advance(1);
    let r = ua.get(&authorize_url("web", &uri)).await;
    assert_error_page(&r, "expired request_uri");
    assert!(r.body.contains("invalid_request_uri"), "{}", r.body);

    // Two browsers use one request_uri at once: exactly one gets the flow.
    let (pairs, _) = web_request("s4");
    let uri = request_uri_of(&push(&s, &secret, &refs(&pairs)).await, 60);
    let url = s.url(&authorize_url("web", &uri));
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let url = url.clone();
        set.spawn(async move { send(http().get(url)).await.status });
    }
    let statuses = set.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 303).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 400).count(), 7, "{statuses:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a12_request_uri_is_single_use_bound_and_expiring_on_sqlite() {
    request_uri_binding(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a12_request_uri_is_single_use_bound_and_expiring_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    request_uri_binding(Some(db)).await;
}

/// RFC 9126 §2.1 / §2.3: the push is validated like /authorize and answered with JSON errors.
#[tokio::test(flavor = "multi_thread")]
async fn a12_invalid_pushes_are_refused_at_the_par_endpoint() {
    let s = server(None, |_| {}).await;
    let (_, secret) = code_flow_fixtures(&s).await;
    let (good, _) = web_request("s");
    let with = |k: &str, v: &str| {
        let mut p = good.clone();
        p.retain(|(n, _)| n != k);
        if !v.is_empty() {
            p.push((k.to_owned(), v.to_owned()));
        }
        p
    };
    for (k, v, code) in [
        ("request_uri", "urn:ietf:params:oauth:request_uri:abc", "invalid_request"),
        ("scope", "openid bogus", "invalid_scope"),
        ("code_challenge", "", "invalid_request"),
        ("code_challenge_method", "plain", "invalid_request"),
        ("redirect_uri", "https://evil.example/cb", "invalid_request"),
        ("response_type", "token", "unsupported_response_type"),
        ("response_type", "", "invalid_request"),
        ("prompt", "none login", "invalid_request"),
        ("resource", "https://api.example/", "invalid_target"),
        ("client_id", "spa", "invalid_request"),
    ] {
        let r = push(&s, &secret, &refs(&with(k, v))).await;
        r.assert_error(400, code);
        assert!(!r.body.contains("evil"), "{}", r.body);
    }
    // Repeated parameters at the push are invalid_request (RFC 9126 §2.1, RFC 6749 §3.1).
    let body = format!("{}&state=again", form(&refs(&good)));
    post_form(&s.url("/par"), Some(&basic("web", &secret)), &body).await.assert_error(400, "invalid_request");
    // A client that may not use the code grant: unauthorized_client.
    let (cc, cc_secret) = s.cc_client("svc", &["api:read"]).await;
    let mut p = with("client_id", &cc);
    p.retain(|(k, _)| k != "redirect_uri");
    let r = post_form(&s.url("/par"), Some(&basic(&cc, &cc_secret)), &form(&refs(&p))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(matches!(r.json()["error"].as_str(), Some("unauthorized_client" | "invalid_request")), "{}", r.body);

    // Client authentication as at the token endpoint (RFC 9126 §2.1): none, wrong, or unknown.
    post_form(&s.url("/par"), None, &form(&refs(&good))).await.assert_error(401, "invalid_client");
    post_form(&s.url("/par"), Some(&basic("web", "wrong")), &form(&refs(&good)))
        .await
        .assert_error(401, "invalid_client");
    post_form(&s.url("/par"), None, "response_type=code").await.assert_error(401, "invalid_client");
    // client_secret_post for a client_secret_basic client is refused too.
    let mut posted = good.clone();
    posted.push(("client_secret".into(), secret.clone()));
    post_form(&s.url("/par"), None, &form(&refs(&posted))).await.assert_error(401, "invalid_client");
    // Only POST with a form body.
    let r = send(http().get(s.url("/par"))).await;
    assert_eq!(r.status, 405, "{}", r.body);
    let r = send(http().post(s.url("/par")).header("authorization", basic("web", &secret)).body("{}")).await;
    r.assert_error(400, "invalid_request");
    // A public client pushes with its client_id alone (it has no credentials).
    let (spa, _) = web_request("s");
    let mut spa: Vec<(String, String)> =
        spa.into_iter().filter(|(k, _)| k != "client_id" && k != "redirect_uri").collect();
    spa.push(("client_id".into(), "spa".into()));
    spa.push(("redirect_uri".into(), "https://spa.example/cb".into()));
    request_uri_of(&post_form(&s.url("/par"), None, &form(&refs(&spa))).await, 60);
    s.stop().await;
}

/// RFC 9126 §5: `require_pushed_authorization_requests` per client, and `par.require`
/// server-wide; metadata lists the endpoint and the flag.
#[tokio::test(flavor = "multi_thread")]
async fn a12_required_par_per_client_and_server_wide() {
    let s = server(None, |_| {}).await;
    let (_, secret) = code_flow_fixtures(&s).await;
    let meta = send(http().get(s.url("/.well-known/oauth-authorization-server"))).await.json();
    assert_eq!(meta["pushed_authorization_request_endpoint"], s.url("/par"), "{meta}");
    assert_eq!(meta["require_pushed_authorization_requests"], false);
    assert_eq!(meta["request_parameter_supported"], true);
    assert_eq!(meta["request_uri_parameter_supported"], false);
    let oidc = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert_eq!(oidc["pushed_authorization_request_endpoint"], s.url("/par"));

    edit_client(&s, "web", |c| c.settings.require_pushed_authorization_requests = true).await;
    let (pairs, _) = web_request("st");
    let plain = format!("/authorize?{}", form(&refs(&pairs)));
    // web is not first-party: the error goes out after sign-in (SECURITY A5).
    let ua = UserAgent::new(&s.base);
    let back = authorize_in(&ua, &plain, "alice", "alice-password-1").await;
    assert!(back.starts_with(&format!("{WEB_CB}?error=invalid_request")), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], "st");
    assert_eq!(q["iss"], s.base);
    assert!(!q.contains_key("code"));
    // Pushed, the same request works.
    let uri = request_uri_of(&push(&s, &secret, &refs(&pairs)).await, 60);
    let back = authorize_in(&ua, &authorize_url("web", &uri), "alice", "alice-password-1").await;
    assert!(back.starts_with(&format!("{WEB_CB}?code=")), "{back}");
    // Other clients are not affected.
    let (_, c) = pkce();
    let spa = format!(
        "/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=x&code_challenge={c}&code_challenge_method=S256",
        enc("https://spa.example/cb")
    );
    let back = authorize_in(&ua, &spa, "alice", "alice-password-1").await;
    assert!(back.starts_with("https://spa.example/cb?code="), "{back}");
    s.stop().await;

    let s = server(None, |c| c.par.require = true).await;
    code_flow_fixtures(&s).await;
    let meta = send(http().get(s.url("/.well-known/oauth-authorization-server"))).await.json();
    assert_eq!(meta["require_pushed_authorization_requests"], true);
    let ua = UserAgent::new(&s.base);
    let back = authorize_in(&ua, &spa, "alice", "alice-password-1").await;
    assert!(back.starts_with("https://spa.example/cb?error=invalid_request"), "{back}");
    // Before the client and redirect URI are verified it is still the error page (A4).
    let r = ua.get(&spa.replace("spa.example%2Fcb", "evil.example%2Fcb")).await;
    assert_error_page(&r, "required PAR with a wrong redirect URI");
    s.stop().await;
}

/// A `request_uri` that is not a pushed request's URN is never fetched and is answered
/// `request_uri_not_supported` once the redirect URI is verified (SECURITY A12, A4).
#[tokio::test(flavor = "multi_thread")]
async fn a12_other_request_uris_are_refused_not_fetched() {
    let s = server(None, |_| {}).await;
    code_flow_fixtures(&s).await;
    edit_client(&s, "spa", |c| c.settings.first_party = true).await;
    let (_, c) = pkce();
    let ua = UserAgent::new(&s.base);
    let base = format!(
        "/authorize?response_type=code&client_id=spa&redirect_uri={}&scope=openid&state=st&code_challenge={c}&code_challenge_method=S256",
        enc("https://spa.example/cb")
    );
    for uri in ["https://spa.example/request.jwt", "http://127.0.0.1:9/x", "urn:example:other"] {
        let r = ua.get(&format!("{base}&request_uri={}", enc(uri))).await;
        let loc = r.location();
        assert!(loc.starts_with("https://spa.example/cb?error=request_uri_not_supported"), "{loc}");
        let q = query_of(&loc);
        assert_eq!(q["state"], "st");
        assert_eq!(q["iss"], s.base);
        let r = ua.get(&format!("{}&request_uri={}", base.replace("client_id=spa", "client_id=nope"), enc(uri))).await;
        assert_error_page(&r, "request_uri with an unknown client");
    }
    s.stop().await;
}
