//! The authorization endpoint: black-box security tests against a real Keycard on loopback: unknown
//! clients and redirect URIs (error page, never a redirect), loopback redirects, refused token
//! response types, `iss` and `state` on every authorization response, no CORS, duplicate and
//! unknown parameters, PKCE S256 (A1–A10, B1/B2). Each test name cites the checklist items it
//! covers (see docs/security.md).
//!
//! Conventions: "error page" = 400/403 `text/html` with the G6/G7 header set, no `Location`, no
//! meta refresh, no script, no link, and the attacker's URI not rendered. Every authorization
//! response (success or error) is checked for `iss` == issuer (byte for byte, RFC 9207) and an
//! unchanged `state`, and for the absence of any front-channel token (A6).

mod common;

use common::browser::*;
use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn a1_a4_a10_unknown_client_or_unregistered_redirect_is_an_error_page() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    public_client(&s, "pubq", "Query App", &["https://client.example/cb?a=1"]).await;
    let ua = UserAgent::new(&s.base);

    // A4: unknown, missing or empty client_id.
    let r = ua.get(&AuthReq::new("nope", EVIL, "openid").url()).await;
    assert_error_page(&r, "unknown client_id");
    assert!(r.body.contains("not registered"), "the user is told why: {}", r.body);
    assert_error_page(&ua.get(&AuthReq::new("nope", EVIL, "openid").without("client_id").url()).await, "no client_id");
    assert_error_page(&ua.get(&AuthReq::new("", EVIL, "openid").url()).await, "empty client_id");
    assert_error_page(&ua.get(&AuthReq::new(&"x".repeat(300), EVIL, "openid").url()).await, "overlong client_id");
    assert_error_page(&ua.get(&AuthReq::new("pub", EVIL, "openid").url()).await, "unregistered redirect_uri");
    // POST behaves the same.
    let r = ua.post("/authorize", &AuthReq::new("nope", EVIL, "openid").fields()).await;
    assert_error_page(&r, "POST unknown client");
    let r = ua.post("/authorize", &AuthReq::new("pub", EVIL, "openid").fields()).await;
    assert_error_page(&r, "POST unregistered redirect_uri");

    // A4: a client with two registered URIs and none given; an OpenID request without one.
    assert_error_page(
        &ua.get(&AuthReq::new("web", WEB_CB, "profile").without("redirect_uri").url()).await,
        "web, none",
    );
    let r = ua.get(&AuthReq::new("spa", "x", "openid").without("redirect_uri").url()).await;
    assert_error_page(&r, "OpenID request without redirect_uri");

    // A1: byte-exact matching, no normalisation.
    for v in [
        "https://client.example/cb/",
        "https://client.example/CB",
        "https://CLIENT.example/cb",
        "https://client.example:443/cb",
        "https://client.example:8443/cb",
        "https://client.example/cb?x=1",
        "https://client.example/cb?",
        "https://client.example/cb#f",
        "https://client.example/cb/../cb",
        "https://client.example/cb/%2e%2e/cb",
        "https://client.example/cb%2F..%2Fevil",
        "https://client.example/c%62",
        "https://client.example.evil.example/cb",
        "https://client.example@evil.example/cb",
        "https://evil.example\\@client.example/cb",
        "https://evil.example/https://client.example/cb",
        "http://client.example/cb",
        "https://client.example/cb%00",
        "https://client.example/cb\0",
        " https://client.example/cb",
        "https://client.example/cb ",
        "%20https://client.example/cb",
        "//client.example/cb",
        "/cb",
        "javascript:alert(1)//https://client.example/cb",
        EVIL,
    ] {
        let r = ua.get(&AuthReq::new("pub", v, "openid").url()).await;
        assert_error_page(&r, &format!("A1 variant {v:?}"));
        assert!(!r.body.contains("client.example"), "the requested URI is never echoed: {v:?}");
    }

    // A1: a registered URI with a query matches only itself.
    let r = ua.get(&AuthReq::new("pubq", "https://client.example/cb?a=1", "openid").url()).await;
    assert!(r.location().starts_with("/login?request="), "registered query accepted");
    for v in [
        "https://client.example/cb?a=2",
        "https://client.example/cb?a=1&b=2",
        "https://client.example/cb?a=1&",
        "https://client.example/cb",
    ] {
        assert_error_page(&ua.get(&AuthReq::new("pubq", v, "openid").url()).await, &format!("A1 query {v:?}"));
    }

    // A10: duplicated client_id / redirect_uri → page, whatever the values.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").also("client_id", "web").url()).await;
    assert_error_page(&r, "duplicated client_id");
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").also("client_id", "pub").url()).await;
    assert_error_page(&r, "duplicated identical client_id");
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").also("redirect_uri", EVIL).url()).await;
    assert_error_page(&r, "duplicated redirect_uri");
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").also("redirect_uri", PUB_CB).url()).await;
    assert_error_page(&r, "duplicated identical redirect_uri");

    // The exact registered URI → 303 to the login page (not to the client).
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    assert_eq!(r.status, 303);
    assert!(r.location().starts_with("/login?request="), "{}", r.location());
    // A public client with one registered URI may omit it for a non-OpenID request.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "profile").without("redirect_uri").url()).await;
    assert!(r.location().starts_with("/login?request="), "{}", r.location());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a2_loopback_redirect_any_port_and_nothing_else() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    // Any port for a registered loopback IP literal; the response goes to the requested port.
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("native", "http://127.0.0.1:51004/cb", "openid");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let t = tokens(&s, &req, &code, None).await;
    assert!(t["access_token"].is_string());
    // The token request must repeat the exact URI of the authorization request (B5).
    let other = req.clone().set("redirect_uri", "http://127.0.0.1:51005/cb");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    redeem(&s, &other, &code, None).await.assert_error(400, "invalid_grant");

    for ok in ["http://[::1]:51004/cb", "http://127.0.0.1/cb", "http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb"] {
        let r = UserAgent::new(&s.base).get(&AuthReq::new("native", ok, "openid").url()).await;
        assert!(r.location().starts_with("/login?"), "{ok} accepted: {}", r.location());
    }
    for bad in [
        "http://127.0.0.1:51004/cb2",
        "http://127.0.0.1:51004/cb/",
        "http://127.0.0.1:51004/cb?x=1",
        "http://127.0.0.1:51004/cb#x",
        "http://127.0.0.2:51004/cb",
        "http://127.0.0.1:51004@evil.example/cb",
        "http://127.0.0.1.evil.example:51004/cb",
        "http://127.0.0.1:51004.evil.example/cb",
        "https://127.0.0.1:51004/cb",
        "http://localhost:51004/cb",
        "http://localhost/cb",
        "http://127.0.0.1:0/cb",
        "http://127.0.0.1:65536/cb",
        "http://127.0.0.1:-1/cb",
        "http://127.0.0.1:0x50/cb",
        "http://127.0.0.1:051004/cb",
        "http://127.0.0.1:/cb",
        "http://127.0.0.1:80:80/cb",
        "http://[::1]:51004/cb2",
        "http://[::1]:51004@evil.example/cb",
        "http://[::2]:51004/cb",
        "http://[0:0:0:0:0:0:0:1]:51004/cb",
        "https://[::1]:51004/cb",
        "http://[::1]:65536/cb",
    ] {
        let r = ua.get(&AuthReq::new("native", bad, "openid").url()).await;
        assert!(r.status < 500, "never 500: {bad}");
        assert_error_page(&r, &format!("A2 {bad}"));
    }
    // No port flexibility for non-loopback URIs.
    let r = ua.get(&AuthReq::new("pub", "https://client.example:8443/cb", "openid").url()).await;
    assert_error_page(&r, "A2 non-loopback port");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a6_token_response_types_are_refused_with_no_token_in_the_front_channel() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    // `pub` is not first-party: its error redirects come at once only to a signed-in user (A5).
    code_via(&s, &ua, &AuthReq::new("pub", PUB_CB, "openid profile"), "alice", ALICE_PW).await;
    for rt in ["token", "id_token token", "code token", "code id_token token", "id_token", "code id_token", "none"] {
        let req = AuthReq::new("pub", PUB_CB, "openid profile").set("response_type", rt);
        for r in [ua.get(&req.url()).await, ua.post("/authorize", &req.fields()).await] {
            let q = client_redirect(&r, &format!("{PUB_CB}?error=unsupported_response_type"), Some(STATE), &s.base);
            assert!(!q.contains_key("code") && !q.contains_key("access_token"), "{rt}: {q:?}");
            assert!(!r.body.contains("access_token"), "{rt}");
        }
    }
    // Even with a session and consent in place: still refused, no token.
    let code = code_via(&s, &ua, &AuthReq::new("pub", PUB_CB, "openid profile"), "alice", ALICE_PW).await;
    assert!(code.starts_with("kc_ac_"));
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid profile").set("response_type", "code token").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=unsupported_response_type"), Some(STATE), &s.base);

    // Tamper: the login and consent POSTs carry a changed response_type / redirect_uri → ignored,
    // the stored request is what counts.
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("pub", PUB_CB, "openid email");
    let r = ua.get(&req.url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    let r = ua
        .post(
            "/login",
            &[
                ("request_id", &rid),
                ("csrf_token", &csrf),
                ("username", "alice"),
                ("password", ALICE_PW),
                ("response_type", "token"),
                ("response_mode", "fragment"),
                ("redirect_uri", EVIL),
            ],
        )
        .await;
    let (rid, csrf, _) = consent_form(&ua, &r).await;
    let r = ua
        .post(
            "/consent",
            &[
                ("request_id", &rid),
                ("csrf_token", &csrf),
                ("decision", "approve"),
                ("response_type", "token"),
                ("redirect_uri", EVIL),
                ("state", "forged"),
            ],
        )
        .await;
    let q = client_redirect(&r, &format!("{PUB_CB}?code=kc_ac_"), Some(STATE), &s.base);
    assert!(!q.contains_key("access_token"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a7_a9_every_authorization_response_has_iss_and_state_consent_denied_and_form_post() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let tricky = "a b&c=d+e%20f/é✓?#=";
    // Success (query).
    let req = AuthReq::new("pub", PUB_CB, "openid profile").set("state", tricky);
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let t = tokens(&s, &req, &code, None).await;
    assert_eq!(jwt_parts(t["id_token"].as_str().unwrap()).1["iss"], s.base.as_str(), "ID token iss is the same string");
    // Errors after the redirect URI is verified: iss and state too.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid bogus").set("state", tricky).url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=invalid_scope"), Some(tricky), &s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").set("prompt", "bogus").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=invalid_request"), Some(STATE), &s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").set("response_mode", "fragment").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=invalid_request"), Some(STATE), &s.base);
    // Without state: no state, still iss.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid bogus").without("state").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=invalid_scope"), None, &s.base);

    // Consent denied → access_denied with state and iss (A7); the POSTs are 303 (A9).
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid profile").set("prompt", "consent").url()).await;
    assert_eq!(r.status, 303);
    let (rid, csrf, _) = consent_form(&ua, &r).await;
    let r = ua.post("/consent", &[("request_id", &rid), ("csrf_token", &csrf), ("decision", "deny")]).await;
    client_redirect(&r, &format!("{PUB_CB}?error=access_denied"), Some(STATE), &s.base);
    // The denied request is finished: approving it afterwards is refused.
    let r = ua.post("/consent", &[("request_id", &rid), ("csrf_token", &csrf), ("decision", "approve")]).await;
    assert_error_page(&r, "approve after deny");

    // A9 in a fresh browser: login POST and consent POST are 303, never 307/308.
    let ua2 = UserAgent::new(&s.base);
    let r = ua2.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    assert_eq!(r.status, 303);
    let (rid, csrf) = login_form(&ua2, &r).await;
    let r = ua2
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "bob"), ("password", BOB_PW)])
        .await;
    assert_eq!(r.status, 303, "A9: login POST → 303");
    let (rid, csrf, _) = consent_form(&ua2, &r).await;
    let r = ua2.post("/consent", &[("request_id", &rid), ("csrf_token", &csrf), ("decision", "approve")]).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);

    // form_post: a 200 page with hidden code/state/iss, posting to the redirect URI; the CSP
    // allows exactly the one script (by hash) and the form to go to the client's origin.
    let req = AuthReq::new("pub", PUB_CB, "openid profile").set("state", tricky).set("response_mode", "form_post");
    let r = ua.get(&req.url()).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("location").is_none());
    assert_html_headers(&r, "form_post");
    assert!(r.body.contains(&format!("action=\"{PUB_CB}\"")) || r.body.contains("action=\"https:&#x2f;&#x2f;"));
    assert!(form_field(&r.body, "code").unwrap().starts_with("kc_ac_"));
    assert_eq!(r.field("state"), tricky);
    assert_eq!(r.field("iss"), s.base);
    let csp = r.header("content-security-policy").unwrap();
    assert!(csp.contains(&format!("script-src {}", keycard::pages::form_post_script_csp_hash())), "{csp}");
    assert!(csp.contains("form-action 'self' https://client.example"), "{csp}");
    assert_eq!(r.body.matches("<script").count(), 1, "only the form-post script");
    let code = r.field("code");
    assert_eq!(tokens(&s, &req, &code, None).await["token_type"], "Bearer");
    // form_post errors carry error, state and iss too.
    let r = UserAgent::new(&s.base).get(&req.clone().set("prompt", "none").url()).await;
    assert_eq!(r.status, 200);
    assert_html_headers(&r, "form_post error");
    assert_eq!(r.field("error"), "login_required");
    assert_eq!(r.field("state"), tricky);
    assert_eq!(r.field("iss"), s.base);
    assert!(form_field(&r.body, "code").is_none());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a8_no_cors_on_the_authorization_endpoint() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let url = s.url(&AuthReq::new("pub", PUB_CB, "openid").url());
    let no_cors = |r: &Res, what: &str| {
        assert!(r.status < 500, "{what}");
        assert!(r.header("access-control-allow-origin").is_none(), "A8 {what}: {:?}", r.headers);
        assert!(r.header("access-control-allow-credentials").is_none(), "A8 {what}");
        assert!(r.header("access-control-allow-methods").is_none(), "A8 {what}");
    };
    let preflight = send(
        http()
            .request(reqwest::Method::OPTIONS, &url)
            .header("origin", "https://evil.example")
            .header("access-control-request-method", "GET"),
    )
    .await;
    no_cors(&preflight, "OPTIONS");
    assert!(!(200..300).contains(&preflight.status), "no successful preflight: {}", preflight.status);
    let get = send(http().get(&url).header("origin", "https://evil.example")).await;
    no_cors(&get, "GET");
    assert!(get.location().starts_with("/login?"));
    let post = send(
        http()
            .post(s.url("/authorize"))
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(AuthReq::new("pub", PUB_CB, "openid").query()),
    )
    .await;
    no_cors(&post, "POST");
    let login = send(http().get(s.url("/login?request=x")).header("origin", "https://evil.example")).await;
    no_cors(&login, "GET /login");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a10_duplicates_empty_values_post_and_unknown_parameters() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    // Issue 9 item 8 (RFC 6749 §4.1.2.1): a repeated parameter other than client_id and
    // redirect_uri is an invalid_request redirect once the redirect URI is verified — at once
    // to a signed-in user (`pub` is not first-party, A5) — echoing `state` only when it was
    // sent once. Nothing is issued.
    let signed_in = UserAgent::new(&s.base);
    code_via(&s, &signed_in, &AuthReq::new("pub", PUB_CB, "openid"), "alice", ALICE_PW).await;
    for (k, v) in [
        ("state", "other"),
        ("state", STATE),
        ("scope", "openid"),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
        ("code_challenge_method", "S256"),
        ("response_type", "token"),
        ("nonce", "n"),
        ("prompt", "none"),
        ("response_mode", "query"),
    ] {
        let req = AuthReq::new("pub", PUB_CB, "openid").set("nonce", "n").set("prompt", "login");
        let req = req.set("response_mode", "query").also(k, v);
        let state = (k != "state").then_some(STATE);
        let r = signed_in.get(&req.url()).await;
        let q = client_redirect(&r, &format!("{PUB_CB}?error=invalid_request"), state, &s.base);
        assert!(q["error_description"].contains("repeated"), "the client is told why: {q:?}");
        assert!(!q.contains_key("code"));
        let r = signed_in.post("/authorize", &req.fields()).await;
        client_redirect(&r, &format!("{PUB_CB}?error=invalid_request"), state, &s.base);
        // Not signed in: the login page first (A5), never a code.
        let r = ua.get(&req.url()).await;
        assert!(r.location().starts_with("/login?request="), "{k}: {}", r.location());
    }
    // Empty = omitted: `response_type=` is a missing response_type → invalid_request redirect
    // (at once to a signed-in user: `pub` is not first-party, A5).
    let r = signed_in.get(&AuthReq::new("pub", PUB_CB, "openid").set("response_type", "").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=invalid_request"), Some(STATE), &s.base);
    // POST /authorize behaves exactly like GET, through to a redeemable code.
    let req = AuthReq::new("pub", PUB_CB, "openid profile");
    let r = ua.post("/authorize", &req.fields()).await;
    assert!(r.location().starts_with("/login?request="), "{}", r.location());
    let res = drive_from(&ua, r, "alice", ALICE_PW).await;
    let code = client_redirect(&res, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    tokens(&s, &req, &code, None).await;
    // POST /authorize must be a form.
    let r = send(http().post(s.url("/authorize")).header("content-type", "application/json").body("{}")).await;
    assert_error_page(&r, "POST /authorize JSON");
    // Unknown parameters are ignored (GET and POST).
    let req = AuthReq::new("pub", PUB_CB, "openid profile")
        .also("foo", "bar")
        .also("display", "page")
        .also("claims_locales", "de")
        .also("acr_values", "urn:x")
        .also("x-custom", "<b>");
    let r = ua.get(&req.url()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    let r = ua.post("/authorize", &req.fields()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    // An empty state is no state.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid profile").set("state", "").url()).await;
    let q = client_redirect(&r, &format!("{PUB_CB}?code="), None, &s.base);
    assert!(!q.contains_key("state"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn b1_b2_pkce_s256_required_at_the_authorization_endpoint() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let invalid_request = |r: &Res, what: &str, prefix: &str| {
        let q = client_redirect(r, &format!("{prefix}?error=invalid_request"), Some(STATE), &s.base);
        assert!(!q.contains_key("code"), "{what}");
    };
    // `pub` and `web` are not first-party: error redirects come at once only to a signed-in
    // user (A5).
    code_via(&s, &ua, &AuthReq::new("pub", PUB_CB, "openid"), "alice", ALICE_PW).await;
    // B1: no challenge, public and confidential clients alike.
    let r = ua
        .get(&AuthReq::new("pub", PUB_CB, "openid").without("code_challenge").without("code_challenge_method").url())
        .await;
    invalid_request(&r, "pub without PKCE", PUB_CB);
    let r = ua
        .get(&AuthReq::new("web", WEB_CB, "openid").without("code_challenge").without("code_challenge_method").url())
        .await;
    invalid_request(&r, "web without PKCE", WEB_CB);
    // B2: S256 only, well-formed challenges only.
    let good = AuthReq::new("pub", PUB_CB, "openid");
    let challenge = good.get("code_challenge").unwrap().to_owned();
    for (what, req) in [
        ("plain", good.clone().set("code_challenge_method", "plain")),
        (
            "plain with verifier-like challenge",
            good.clone().set("code_challenge_method", "plain").set("code_challenge", &"a".repeat(43)),
        ),
        ("S512", good.clone().set("code_challenge_method", "S512")),
        ("s256 lower case", good.clone().set("code_challenge_method", "s256")),
        ("method omitted (RFC 7636 default plain)", good.clone().without("code_challenge_method")),
        ("method without challenge", good.clone().without("code_challenge")),
        ("42 chars", good.clone().set("code_challenge", &challenge[..42])),
        ("129 chars", good.clone().set("code_challenge", &"a".repeat(129))),
        ("with +", good.clone().set("code_challenge", &format!("{}+", &challenge[..42]))),
        ("with =", good.clone().set("code_challenge", &format!("{challenge}="))),
        ("with /", good.clone().set("code_challenge", &format!("{}/", &challenge[..42]))),
    ] {
        let r = ua.get(&req.url()).await;
        invalid_request(&r, what, PUB_CB);
    }
    let r = UserAgent::new(&s.base).get(&good.url()).await;
    assert!(r.location().starts_with("/login?"), "the valid request goes on");
    s.stop().await;
}
