//! Security tests of the authorization endpoint and of redirect URI registration, against a real
//! Keycard on loopback. Each test names the `docs/security.md` item or issue it covers:
//! unsupported request objects and resource indicators (OpenID Connect Core §6, RFC 8707 §2),
//! constant PKCE challenge / nonce detection (SECURITY B9, RFC 9700 §2.1.1), no automatic error
//! redirect to an untrusted client before the user signed in (SECURITY A5, RFC 9700 §4.11.2) and
//! the registration rules of redirect URIs (SECURITY A3, OAuth 2.1 §2.3.1).

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;

const STATE: &str = "st-Zq3_x.y~1";
const FP_CB: &str = "https://fp.example/cb";
const PUB_CB: &str = "https://client.example/cb";

/// A valid code request for `client` at `redirect_uri` with `extra` parameters appended.
fn authorize_url(client: &str, redirect_uri: &str, scope: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", redirect_uri),
        ("scope", scope),
        ("state", STATE),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish())
}

/// A public code-flow client; `first_party` clients are trusted (no consent, errors redirect
/// at once).
async fn public_client(s: &TestServer, id: &str, redirect_uri: &str, first_party: bool) {
    s.create_client(ClientSpec {
        id: Some(id.into()),
        name: Some(format!("App {id}")),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "api:read"].map(String::from).to_vec(),
        redirect_uris: vec![redirect_uri.to_owned()],
        ..Default::default()
    })
    .await;
    if first_party {
        let admin = s.admin();
        let mut c = admin.client(id).await.unwrap();
        c.settings.first_party = true;
        admin.save_client(c).await.unwrap();
        s.sync_caches().await;
    }
}

/// alice and bob (see `code_flow_fixtures`), `fp` (first-party, [`FP_CB`]) and `pub`
/// (third-party, [`PUB_CB`]).
async fn fixtures(s: &TestServer) {
    code_flow_fixtures(s).await;
    public_client(s, "fp", FP_CB, true).await;
    public_client(s, "pub", PUB_CB, false).await;
}

/// An authorization response: a 303 to `prefix…` with `state` and `iss` (RFC 9207) exactly.
#[track_caller]
fn assert_client_redirect(r: &Res, prefix: &str, iss: &str) -> std::collections::HashMap<String, String> {
    assert_eq!(r.status, 303, "a redirect to the client: {}", r.body);
    let loc = r.header("location").expect("Location");
    assert!(loc.starts_with(prefix), "{loc} does not start with {prefix}");
    let q = query_of(loc);
    assert_eq!(q.get("state").map(String::as_str), Some(STATE), "{loc}");
    assert_eq!(q.get("iss").map(String::as_str), Some(iss), "RFC 9207: {loc}");
    assert!(!q.contains_key("code"), "{loc}");
    q
}

/// SECURITY A4: an error page, never a redirect.
#[track_caller]
fn assert_error_page(r: &Res, what: &str) {
    assert_eq!(r.status, 400, "{what}: {}", r.body);
    assert!(r.header("location").is_none(), "{what}: no redirect");
    assert!(r.header("content-type").unwrap_or("").starts_with("text/html"), "{what}");
}

// ---- issue 14 item 12: request, request_uri, resource -------------------------------------

/// RFC 9101, RFC 9126 §4, OpenID Connect Core §3.1.2.6 and RFC 8707 §2: an unsigned request
/// object (`invalid_request_object`), a `request_uri` that is not one of Keycard's pushed-request
/// URNs (`request_uri_not_supported`: never fetched) and `resource` are answered, never
/// ignored, once client and redirect URI are verified: redirected with `state` and `iss`, for
/// GET and POST alike. Before that (unknown client, wrong redirect URI) they are an error page
/// (SECURITY A4). An unknown pushed-request URN is an error page (`invalid_request_uri`: its
/// redirect URI would come from the pushed request; see tests/par.rs).
#[tokio::test(flavor = "multi_thread")]
async fn request_objects_and_resource_indicators_are_refused_not_ignored() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (_, challenge) = pkce();
    let cases = [
        ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "invalid_request_object"),
        ("request_uri", "https://fp.example/request.jwt", "request_uri_not_supported"),
        ("resource", "https://api.example/", "invalid_target"),
    ];
    for (name, value, code) in cases {
        let url = authorize_url("fp", FP_CB, "openid", &challenge, &[(name, value)]);
        let r = ua.get(&url).await;
        assert_client_redirect(&r, &format!("{FP_CB}?error={code}"), &s.base);
        let body = url.trim_start_matches("/authorize?");
        let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = ua.post("/authorize", &fields).await;
        assert_client_redirect(&r, &format!("{FP_CB}?error={code}"), &s.base);

        // Never before the redirect URI is trusted.
        let r = ua.get(&authorize_url("nope", FP_CB, "openid", &challenge, &[(name, value)])).await;
        assert_error_page(&r, &format!("{name} with an unknown client"));
        let r = ua.get(&authorize_url("fp", "https://evil.example/cb", "openid", &challenge, &[(name, value)])).await;
        assert_error_page(&r, &format!("{name} with a wrong redirect URI"));
    }
    // A pushed-request URN this server did not issue: an error page, not a redirect.
    let urn = authorize_url(
        "fp",
        FP_CB,
        "openid",
        &challenge,
        &[("request_uri", "urn:ietf:params:oauth:request_uri:6esc_11ACC5bwc014ltc14eY22c")],
    );
    let r = ua.get(&urn).await;
    assert_error_page(&r, "unknown pushed request URN");
    assert!(r.body.contains("invalid_request_uri"), "{}", r.body);
    // Two resource indicators: refused as well.
    let url = authorize_url(
        "fp",
        FP_CB,
        "openid",
        &challenge,
        &[("resource", "https://a.example/"), ("resource", "https://b.example/")],
    );
    assert_client_redirect(&ua.get(&url).await, &format!("{FP_CB}?error=invalid_target"), &s.base);
    // Without them the same request works.
    let r = ua.get(&authorize_url("fp", FP_CB, "openid", &challenge, &[])).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/login?request="), "{}", r.location());
    s.stop().await;
}

/// RFC 8707 §2: a `resource` parameter at the token endpoint is `invalid_target` (400, JSON,
/// no-store) until resource indicators are supported, for every grant type.
#[tokio::test(flavor = "multi_thread")]
async fn resource_at_the_token_endpoint_is_invalid_target() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc", &["api:read"]).await;
    let auth = basic(&id, &secret);
    let url = s.url("/token");
    post_form(&url, Some(&auth), "grant_type=client_credentials&resource=https%3A%2F%2Fapi.example%2F")
        .await
        .assert_error(400, "invalid_target");
    post_form(&url, Some(&auth), "grant_type=client_credentials&resource=https%3A%2F%2Fa.example&resource=b")
        .await
        .assert_error(400, "invalid_target");
    post_form(&url, Some(&auth), "grant_type=refresh_token&refresh_token=x&resource=https%3A%2F%2Fapi.example")
        .await
        .assert_error(400, "invalid_target");
    // Without it: a token.
    let r = post_form(&url, Some(&auth), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}

// ---- SECURITY B9: constant PKCE challenges and nonces ---------------------------------------

/// SECURITY B9 (RFC 9700 §2.1.1), default mode: a client reusing one `code_challenge` or `nonce`
/// is only reported (a warning event naming the client), its requests still succeed.
#[tokio::test(flavor = "multi_thread")]
async fn b9_constant_challenge_is_only_reported_by_default() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (_, challenge) = pkce();
    for i in 0..6 {
        let r = ua.get(&authorize_url("fp", FP_CB, "openid", &challenge, &[("nonce", "constant-nonce")])).await;
        assert_eq!(r.status, 303, "request {i}: {}", r.body);
        assert!(r.location().starts_with("/login?request="), "request {i}: {}", r.location());
    }
    s.stop().await;
}

/// SECURITY B9 (RFC 9700 §2.1.1) with `authorization.reject_constant_challenges`: the 4th
/// request of one client within 10 minutes with the same `code_challenge` (or `nonce`) is
/// `invalid_request`, redirected with `state` and `iss`; the description never echoes the
/// value. Other values, other clients and the same value after the window are not affected.
#[tokio::test(flavor = "multi_thread")]
async fn b9_constant_challenge_or_nonce_is_refused_when_configured() {
    let s = TestServer::start_with(TestOptions {
        mock_time: Some(1_800_000_000),
        configure: Box::new(|c| c.authorization.reject_constant_challenges = true),
        ..Default::default()
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let (_, challenge) = pkce();
    let to_login = |r: &Res, what: &str| {
        assert_eq!(r.status, 303, "{what}: {}", r.body);
        assert!(r.location().starts_with("/login?request="), "{what}: {}", r.location());
    };
    for i in 0..3 {
        to_login(&ua.get(&authorize_url("fp", FP_CB, "openid", &challenge, &[])).await, &format!("use {i}"));
    }
    let r = ua.get(&authorize_url("fp", FP_CB, "openid", &challenge, &[])).await;
    let q = assert_client_redirect(&r, &format!("{FP_CB}?error=invalid_request"), &s.base);
    assert!(!q.get("error_description").is_some_and(|d| d.contains(&challenge)), "{q:?}");
    // A fresh challenge, or the same one by another client, is fine.
    let (_, other) = pkce();
    to_login(&ua.get(&authorize_url("fp", FP_CB, "openid", &other, &[])).await, "another challenge");
    public_client(&s, "fp2", "https://fp2.example/cb", true).await;
    to_login(&ua.get(&authorize_url("fp2", "https://fp2.example/cb", "openid", &challenge, &[])).await, "fp2");
    // After ten minutes the count starts again.
    s.clock.as_ref().unwrap().advance(600);
    to_login(&ua.get(&authorize_url("fp", FP_CB, "openid", &challenge, &[])).await, "after the window");

    // The same for a constant nonce (with fresh challenges).
    for i in 0..3 {
        let (_, c) = pkce();
        let r = ua.get(&authorize_url("fp", FP_CB, "openid", &c, &[("nonce", "n-constant")])).await;
        to_login(&r, &format!("nonce use {i}"));
    }
    let (_, c) = pkce();
    let r = ua.get(&authorize_url("fp", FP_CB, "openid", &c, &[("nonce", "n-constant")])).await;
    let q = assert_client_redirect(&r, &format!("{FP_CB}?error=invalid_request"), &s.base);
    assert!(!q.get("error_description").is_some_and(|d| d.contains("n-constant")), "{q:?}");
    s.stop().await;
}

// ---- SECURITY A5: no open redirector through an untrusted client ----------------------------

/// Signs in as alice on the login page `r` redirected to and returns the answer to the POST.
async fn sign_in(ua: &UserAgent, r: &Res) -> Res {
    let loc = r.location();
    assert!(loc.starts_with("/login?request="), "the login page first: {loc}");
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    ua.post(
        "/login",
        &[
            ("request_id", &page.field("request_id")),
            ("csrf_token", &page.field("csrf_token")),
            ("username", "alice"),
            ("password", "alice-password-1"),
        ],
    )
    .await
}

/// SECURITY A5 (RFC 9700 §4.11.2, OAuth 2.1 §7.13.2): for a client that is not first-party, an
/// invalid request (here: an unknown scope, an unsupported response type, a `resource`) from a
/// browser without a session shows the login page, not an error redirect to the client; after
/// sign-in the error redirect (with `state` and `iss`) is allowed. `prompt=none` keeps the
/// silent-authentication exception; first-party clients and signed-in users get the redirect
/// at once.
#[tokio::test(flavor = "multi_thread")]
async fn a5_untrusted_client_errors_wait_for_sign_in() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let (_, challenge) = pkce();
    for (what, url, code) in [
        ("unknown scope", authorize_url("pub", PUB_CB, "openid bogus", &challenge, &[]), "invalid_scope"),
        (
            "unsupported response_type",
            authorize_url("pub", PUB_CB, "openid", &challenge, &[])
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            "resource",
            authorize_url("pub", PUB_CB, "openid", &challenge, &[("resource", "https://a.example/")]),
            "invalid_target",
        ),
    ] {
        let ua = UserAgent::new(&s.base);
        let r = ua.get(&url).await;
        assert_eq!(r.status, 303, "{what}: {}", r.body);
        assert!(!r.location().starts_with(PUB_CB), "A5 {what}: no redirect to the client before sign-in");
        let r = sign_in(&ua, &r).await;
        let q = assert_client_redirect(&r, &format!("{PUB_CB}?error={code}"), &s.base);
        assert!(!q.contains_key("code"), "{what}");
        // Signed in now: the next invalid request redirects at once.
        assert_client_redirect(&ua.get(&url).await, &format!("{PUB_CB}?error={code}"), &s.base);
    }

    // prompt=none without a session: login_required straight away (silent authentication).
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&authorize_url("pub", PUB_CB, "openid", &challenge, &[("prompt", "none")])).await;
    assert_client_redirect(&r, &format!("{PUB_CB}?error=login_required"), &s.base);
    // A first-party (trusted) client's errors redirect at once.
    let r = ua.get(&authorize_url("fp", FP_CB, "openid bogus", &challenge, &[])).await;
    assert_client_redirect(&r, &format!("{FP_CB}?error=invalid_scope"), &s.base);
    // Never a code: the deferred request cannot be turned into a grant by consenting.
    let r = ua.get(&authorize_url("pub", PUB_CB, "openid bogus", &challenge, &[])).await;
    let r = sign_in(&ua, &r).await;
    assert!(!r.header("location").unwrap_or("").contains("code="), "{:?}", r.header("location"));
    s.stop().await;
}

// ---- SECURITY A3: redirect URI registration ------------------------------------------------

/// SECURITY A3 (OAuth 2.1 §2.3.1, RFC 9700 §2.1/§2.6, RFC 6749 §3.1.2): creating a client through
/// the admin operations (what `keycard client create` and provisioning use) refuses fragments,
/// plain http off loopback, script schemes, private-use schemes without a dot, relative URIs,
/// wildcards, userinfo and whitespace or control characters; it accepts a reverse-domain
/// private-use scheme, http on a loopback IP literal and an https URI with a query.
#[tokio::test(flavor = "multi_thread")]
async fn a3_redirect_uri_registration_rules() {
    let s = TestServer::start().await;
    let spec = |id: &str, uri: &str| ClientSpec {
        id: Some(id.to_owned()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into()],
        redirect_uris: vec![uri.to_owned()],
        ..Default::default()
    };
    let refused = [
        "https://c.example/cb#x",
        "https://c.example/cb#",
        "http://c.example/cb",
        "http://localhost/cb",
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,x",
        "vbscript:msgbox(1)",
        "myapp:/cb",
        "/relative",
        "cb",
        "https://*.c.example/cb",
        "https://c.example/*",
        "https://user:pw@c.example/cb",
        "https://c.example@evil.example/cb",
        "https://c.example/cb ",
        " https://c.example/cb",
        "https://c.example/c b",
        "https://c.example/cb\n",
        "https://c.example/cb\u{0}",
        "https://c.example/caf\u{e9}",
        "",
    ];
    for (i, uri) in refused.iter().enumerate() {
        let r = s.admin().create_client(&spec(&format!("bad{i}"), uri)).await;
        assert!(
            matches!(r, Err(keycard::admin::AdminError::Invalid(_))),
            "A3: {uri:?} must be refused, got {:?}",
            r.map(|(c, _)| c.redirect_uris)
        );
        assert!(keycard::validate::validate_post_logout_redirect_uri(uri).is_err(), "post-logout {uri:?}");
    }
    for (i, uri) in ["com.example.app:/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "https://c.example/cb?a=1"]
        .iter()
        .enumerate()
    {
        let (c, _) = s.admin().create_client(&spec(&format!("good{i}"), uri)).await.expect(uri);
        assert_eq!(c.redirect_uris, [uri.to_string()], "stored byte for byte");
        assert!(keycard::validate::validate_post_logout_redirect_uri(uri).is_ok(), "post-logout {uri:?}");
    }
    // Logo, policy and terms-of-service URIs: https only.
    for ok in ["https://c.example/logo.png", "https://c.example/tos?lang=en"] {
        assert!(keycard::validate::validate_https_uri("logo_uri", ok).is_ok(), "{ok}");
    }
    for bad in [
        "http://c.example/logo.png",
        "http://127.0.0.1/logo.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/logo.png",
        "https://u@c.example/logo.png",
        "https://c.example/logo.png#x",
        "https://c.example/a b",
    ] {
        let e = keycard::validate::validate_https_uri("policy_uri", bad).unwrap_err();
        assert!(e.contains("policy_uri"), "the message names the field: {e}");
    }
    s.stop().await;
}

/// SECURITY A3: post-logout redirect URIs follow the redirect-URI rules and a logo URI must be
/// https, whoever saves the client (the admin path the CLI and provisioning use).
#[tokio::test(flavor = "multi_thread")]
async fn a3_post_logout_redirect_and_logo_uris_follow_the_registration_rules() {
    let s = TestServer::start().await;
    let spec = ClientSpec {
        id: Some("rp".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into()],
        redirect_uris: vec!["https://rp.example/cb".into()],
        ..Default::default()
    };
    s.create_client(spec).await;
    let admin = s.admin();
    for bad in ["javascript:alert(1)", "http://rp.example/bye", "https://rp.example/bye#x", "https://u@rp.example/bye"]
    {
        let mut c = admin.client("rp").await.unwrap();
        c.settings.post_logout_redirect_uris = vec![bad.into()];
        assert!(admin.save_client(c).await.is_err(), "post-logout {bad:?} must be refused");
    }
    for bad in ["http://rp.example/logo.png", "javascript:alert(1)", "data:image/png;base64,AA"] {
        let mut c = admin.client("rp").await.unwrap();
        c.settings.logo_uri = Some(bad.into());
        let e = admin.save_client(c).await.unwrap_err().to_string();
        assert!(e.contains("logo_uri"), "logo {bad:?}: {e}");
    }
    let mut c = admin.client("rp").await.unwrap();
    c.settings.post_logout_redirect_uris = vec!["https://rp.example/bye".into(), "http://127.0.0.1/bye".into()];
    c.settings.logo_uri = Some("https://rp.example/logo.png".into());
    admin.save_client(c).await.unwrap();
    s.stop().await;
}
