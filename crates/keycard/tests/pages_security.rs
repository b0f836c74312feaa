//! Black-box security tests of the browser-facing authorization flow (`/authorize`, `/login`,
//! `/consent`, `/logout`) against a real Keycard on loopback. Each test name cites the
//! /work/shared/SECURITY.md items it covers (A1–A11, B1/B2, C7, G1–G9, K3).
//!
//! Conventions: "error page" = 400/403 `text/html` with the G6/G7 header set, no `Location`, no
//! meta refresh, no script, no link, and the attacker's URI not rendered. Every authorization
//! response (success or error) is checked for `iss` == issuer (byte for byte, RFC 9207) and an
//! unchanged `state`, and for the absence of any front-channel token (A6).

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use std::collections::HashMap;
use std::time::Instant;

const ALICE_PW: &str = "alice-password-1";
const BOB_PW: &str = "bob-password-1";
const STATE: &str = "st-Zq3_x.y~1";
const PUB_CB: &str = "https://client.example/cb";
const WEB_CB: &str = "https://web.example/cb";
const EVIL: &str = "https://evil.example/";

// ---- helpers --------------------------------------------------------------------------------

fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An authorization request under construction: by default a valid `code` request with an
/// S256 challenge and `state`.
#[derive(Clone, Debug)]
struct AuthReq {
    pairs: Vec<(String, String)>,
    verifier: String,
}

impl AuthReq {
    fn new(client: &str, redirect_uri: &str, scope: &str) -> AuthReq {
        let (verifier, challenge) = pkce();
        let pairs = [
            ("response_type", "code"),
            ("client_id", client),
            ("redirect_uri", redirect_uri),
            ("scope", scope),
            ("state", STATE),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        AuthReq { pairs, verifier }
    }

    /// Replaces (or adds) a parameter.
    fn set(mut self, k: &str, v: &str) -> AuthReq {
        match self.pairs.iter_mut().find(|(n, _)| n == k) {
            Some(p) => p.1 = v.to_owned(),
            None => self.pairs.push((k.to_owned(), v.to_owned())),
        }
        self
    }

    fn without(mut self, k: &str) -> AuthReq {
        self.pairs.retain(|(n, _)| n != k);
        self
    }

    /// Appends a parameter even if it is already there (duplicates).
    fn also(mut self, k: &str, v: &str) -> AuthReq {
        self.pairs.push((k.to_owned(), v.to_owned()));
        self
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    fn url(&self) -> String {
        format!("/authorize?{}", self.query())
    }

    fn fields(&self) -> Vec<(&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

async fn public_client(s: &TestServer, id: &str, name: &str, redirect_uris: &[&str]) {
    s.create_client(ClientSpec {
        id: Some(id.into()),
        name: Some(name.into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "api:read"].map(String::from).to_vec(),
        redirect_uris: redirect_uris.iter().map(|u| u.to_string()).collect(),
        ..Default::default()
    })
    .await;
}

/// alice, bob, `spa` and `web` (see `code_flow_fixtures`), plus `pub` (public,
/// `https://client.example/cb`) and `native` (public, `http://127.0.0.1/cb` and
/// `http://[::1]/cb`). Returns the `web` client's secret.
async fn fixtures(s: &TestServer) -> String {
    let (_, secret) = code_flow_fixtures(s).await;
    public_client(s, "pub", "Public App", &[PUB_CB]).await;
    public_client(s, "native", "Native App", &["http://127.0.0.1/cb", "http://[::1]/cb"]).await;
    secret
}

fn short(body: &str) -> String {
    body.chars().take(400).collect()
}

/// G7: `src`/`href` only to this server (no third-party resources that would get a Referer).
#[track_caller]
fn assert_no_third_party_resources(body: &str, what: &str) {
    for attr in ["src=\"", "href=\""] {
        for (i, _) in body.match_indices(attr) {
            let v = &body[i + attr.len()..];
            let v = &v[..v.find('"').unwrap_or(v.len())];
            assert!(v.starts_with('/') && !v.starts_with("//") && !v.starts_with("/\\"), "G7 {what}: {attr}{v}");
        }
    }
}

/// G3/G6/G7: the header set of every HTML response.
#[track_caller]
fn assert_html_headers(r: &Res, what: &str) {
    let ctx = format!("{what}: {} {}", r.status, short(&r.body));
    assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"), "G3 {ctx}");
    let csp = r.header("content-security-policy").unwrap_or_else(|| panic!("G6 CSP missing: {ctx}"));
    assert!(csp.contains("frame-ancestors 'none'"), "G6 {what}: {csp}");
    assert!(csp.contains("default-src 'self'"), "G3 {what}: {csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "G3 {what}: {csp}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "G6 {ctx}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "G7 {ctx}");
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"), "G3 {ctx}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{ctx}");
    assert_no_third_party_resources(&r.body, what);
}

/// A4: an error page, never a redirect.
#[track_caller]
fn assert_error_page(r: &Res, what: &str) {
    assert!(
        matches!(r.status, 400 | 403),
        "{what}: expected an error page, got {} (Location {:?}) {}",
        r.status,
        r.header("location"),
        short(&r.body)
    );
    assert!(r.header("location").is_none(), "A4 {what}: no redirect");
    assert_html_headers(r, what);
    let lower = r.body.to_ascii_lowercase();
    assert!(!lower.contains("http-equiv"), "A4 {what}: no meta refresh");
    assert!(!lower.contains("<script"), "A4 {what}: no script");
    assert!(!lower.contains("<a "), "A4 {what}: no link");
    assert!(!lower.contains("evil"), "A4 {what}: the attacker's URI is not rendered: {}", short(&r.body));
    assert!(!r.body.contains("kc_ac_") && !lower.contains("access_token"), "{what}: no code or token");
}

/// A7/A6/A9: a 303 to the client (`Location` starting with `prefix`) carrying `iss` == issuer
/// and `state` unchanged, with no token in the front channel. Returns the query.
#[track_caller]
fn client_redirect(r: &Res, prefix: &str, state: Option<&str>, iss: &str) -> HashMap<String, String> {
    assert_eq!(r.status, 303, "A9: authorization responses are 303: {}", short(&r.body));
    let loc = r.header("location").expect("Location");
    assert!(loc.starts_with(prefix), "{loc} does not start with {prefix}");
    assert!(!loc.contains("access_token") && !loc.contains("id_token") && !loc.contains('#'), "A6: {loc}");
    assert!(!r.body.contains("access_token"), "A6");
    assert!(loc.contains(&format!("iss={}", enc(iss))), "A7: iss is the issuer exactly: {loc}");
    let q = query_of(loc);
    assert_eq!(q.get("iss").map(String::as_str), Some(iss), "A7 iss: {loc}");
    assert_eq!(q.get("state").map(String::as_str), state, "A7 state unchanged: {loc}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{loc}");
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "G7 {loc}");
    q
}

/// Follows `res` through the login and consent pages (approving) and returns the first
/// response that is not a redirect to one of them.
async fn drive_from(ua: &UserAgent, mut res: Res, user: &str, pw: &str) -> Res {
    for _ in 0..4 {
        let loc = match res.header("location") {
            Some(l) if matches!(res.status, 302 | 303) => l.to_owned(),
            _ => return res,
        };
        if loc.starts_with("/login") {
            let page = ua.get(&loc).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert_html_headers(&page, "login page");
            res = ua
                .post(
                    "/login",
                    &[
                        ("request_id", &page.field("request_id")),
                        ("csrf_token", &page.field("csrf_token")),
                        ("username", user),
                        ("password", pw),
                    ],
                )
                .await;
            assert!(matches!(res.status, 200 | 303), "A9: login POST answers 303 (or a page): {}", res.status);
        } else if loc.starts_with("/consent") {
            let page = ua.get(&loc).await;
            assert_eq!(page.status, 200, "{}", page.body);
            assert_html_headers(&page, "consent page");
            res = ua
                .post(
                    "/consent",
                    &[
                        ("request_id", &page.field("request_id")),
                        ("csrf_token", &page.field("csrf_token")),
                        ("decision", "approve"),
                    ],
                )
                .await;
            assert!(matches!(res.status, 200 | 303), "A9: consent POST answers 303 (or a page): {}", res.status);
        } else {
            return res;
        }
    }
    panic!("flow did not end: {} {}", res.status, short(&res.body));
}

async fn drive(ua: &UserAgent, url: &str, user: &str, pw: &str) -> Res {
    let res = ua.get(url).await;
    drive_from(ua, res, user, pw).await
}

/// Runs `req` to the end in `ua` and returns the code (checking `iss` and `state`).
async fn code_via(s: &TestServer, ua: &UserAgent, req: &AuthReq, user: &str, pw: &str) -> String {
    let res = drive(ua, &req.url(), user, pw).await;
    let prefix = format!("{}?code=", req.get("redirect_uri").unwrap());
    client_redirect(&res, &prefix, req.get("state"), &s.base)["code"].clone()
}

/// Redeems a code for `req` (public client when `secret` is `None`).
async fn redeem(s: &TestServer, req: &AuthReq, code: &str, secret: Option<&str>) -> Res {
    let client = req.get("client_id").unwrap();
    let mut fields = vec![("grant_type", "authorization_code"), ("code", code), ("code_verifier", &req.verifier)];
    if let Some(r) = req.get("redirect_uri") {
        fields.push(("redirect_uri", r));
    }
    let auth = match secret {
        Some(sec) => Some(basic(client, sec)),
        None => {
            fields.push(("client_id", client));
            None
        }
    };
    post_form(&s.url("/token"), auth.as_deref(), &form(&fields)).await
}

/// Redeems and returns the token response, asserting success.
async fn tokens(s: &TestServer, req: &AuthReq, code: &str, secret: Option<&str>) -> serde_json::Value {
    let r = redeem(s, req, code, secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

fn sub_of(tokens: &serde_json::Value) -> String {
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().expect("id_token"));
    claims["sub"].as_str().unwrap().to_owned()
}

fn set_cookies(r: &Res) -> Vec<String> {
    r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The value a response sets for cookie `name`.
fn new_cookie(r: &Res, name: &str) -> Option<String> {
    set_cookies(r).iter().find_map(|c| {
        let kv = c.split(';').next().unwrap_or("");
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A `Cookie` header with the given cookies of `ua`.
fn cookie_header(ua: &UserAgent, names: &[&str]) -> String {
    names.iter().filter_map(|n| ua.cookie(n).map(|v| format!("{n}={v}"))).collect::<Vec<_>>().join("; ")
}

fn jar(ua: &UserAgent) -> String {
    cookie_header(ua, &["kc_browser", "kc_session"])
}

/// A form POST with an explicit `Cookie` header and extra headers (`Origin` defaults to the
/// server's own); the response's cookies are NOT stored anywhere.
async fn post_raw(ua: &UserAgent, path: &str, cookies: &str, fields: &[(&str, &str)], headers: &[(&str, &str)]) -> Res {
    let mut rb = http()
        .post(format!("{}{path}", ua.base))
        .header("cookie", cookies)
        .header("content-type", "application/x-www-form-urlencoded");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("origin")) {
        rb = rb.header("origin", &ua.base);
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    send(rb.body(form(fields))).await
}

/// A browser that holds nothing but this session cookie.
fn browser_with_session(s: &TestServer, session: &str) -> UserAgent {
    let ua = UserAgent::new(&s.base);
    ua.set_cookie("kc_session", session);
    ua
}

/// G4: a session cookie value that does NOT sign in: `/authorize` sends the browser to login.
async fn assert_not_signed_in(s: &TestServer, session: &str, what: &str) {
    let r = browser_with_session(s, session).get(&AuthReq::new("pub", PUB_CB, "openid profile").url()).await;
    assert_eq!(r.status, 303, "{what}: {}", r.body);
    assert!(r.location().starts_with("/login?"), "{what}: {}", r.location());
}

/// GETs the login page a redirect points at; returns (request_id, csrf_token).
async fn login_form(ua: &UserAgent, redirect: &Res) -> (String, String) {
    let loc = redirect.location();
    assert!(loc.starts_with("/login?"), "{loc}");
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html_headers(&page, "login page");
    (page.field("request_id"), page.field("csrf_token"))
}

/// GETs the consent page a redirect points at; returns (request_id, csrf_token, page).
async fn consent_form(ua: &UserAgent, redirect: &Res) -> (String, String, Res) {
    let loc = redirect.location();
    assert!(loc.starts_with("/consent?"), "{loc}");
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html_headers(&page, "consent page");
    (page.field("request_id"), page.field("csrf_token"), page)
}

// ---- A: redirect URI, authorization endpoint, mix-up ------------------------------------------

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
    // Params refuses duplicates before the client is known → error page, nothing issued.
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
        let r = ua.get(&req.url()).await;
        assert_error_page(&r, &format!("duplicated {k}"));
        assert!(r.body.contains("repeated"), "the page says why: {}", r.body);
        let r = ua.post("/authorize", &req.fields()).await;
        assert_error_page(&r, &format!("POST duplicated {k}"));
    }
    // Empty = omitted: `response_type=` is a missing response_type → invalid_request redirect.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").set("response_type", "").url()).await;
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

// ---- B: PKCE at the authorization endpoint --------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn b1_b2_pkce_s256_required_at_the_authorization_endpoint() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let invalid_request = |r: &Res, what: &str, prefix: &str| {
        let q = client_redirect(r, &format!("{prefix}?error=invalid_request"), Some(STATE), &s.base);
        assert!(!q.contains_key("code"), "{what}");
    };
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
    let r = ua.get(&good.url()).await;
    assert!(r.location().starts_with("/login?"), "the valid request goes on");
    s.stop().await;
}

// ---- G: browser-facing HTML -------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn g1_login_csrf_token_browser_binding_origin_and_single_use() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua_a = UserAgent::new(&s.base);
    let r = ua_a.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua_a, &r).await;
    let fields =
        [("request_id", rid.as_str()), ("csrf_token", csrf.as_str()), ("username", "alice"), ("password", ALICE_PW)];
    let no_session = |r: &Res, what: &str| {
        assert!(new_cookie(r, "kc_session").is_none(), "G1 {what}: no session cookie: {:?}", set_cookies(r));
    };

    // Without the CSRF field, with an empty or a wrong one → 403, no session.
    let r = ua_a.post("/login", &fields.iter().copied().filter(|(k, _)| *k != "csrf_token").collect::<Vec<_>>()).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error_page(&r, "no csrf_token");
    no_session(&r, "no csrf_token");
    for bad in ["", "x", &csrf[..csrf.len() - 1], &format!("{csrf}x")] {
        let mut f = fields;
        f[1].1 = bad;
        let r = ua_a.post("/login", &f).await;
        assert_eq!(r.status, 403, "csrf {bad:?}");
        no_session(&r, "wrong csrf");
    }
    // Browser A's token with browser B's cookies → 403.
    let ua_b = UserAgent::new(&s.base);
    let r = ua_b.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid_b, csrf_b) = login_form(&ua_b, &r).await;
    let r = ua_b.post("/login", &fields).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error_page(&r, "A's form with B's cookies");
    no_session(&r, "A's form with B's cookies");
    // B's request id with A's token (and vice versa) → 403.
    let r = ua_b
        .post("/login", &[("request_id", &rid_b), ("csrf_token", &csrf), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    assert_eq!(r.status, 403);
    let r = ua_a
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf_b), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    assert_eq!(r.status, 403);
    // Without any cookie at all → 403.
    let r = post_raw(&ua_a, "/login", "", &fields, &[]).await;
    assert_eq!(r.status, 403);
    no_session(&r, "no cookies");
    // A valid token but a cross-site Origin / Sec-Fetch-Site → 403.
    for headers in [
        vec![("origin", "https://evil.example")],
        // `Origin: null` alone is accepted (browsers send it for Keycard's own forms under
        // `Referrer-Policy: no-referrer`); Fetch Metadata still tells a cross-site post apart.
        vec![("origin", "null"), ("sec-fetch-site", "cross-site")],
        vec![("origin", "http://127.0.0.1")],
        vec![("sec-fetch-site", "cross-site")],
        vec![("sec-fetch-site", "same-site")],
    ] {
        let r = post_raw(&ua_a, "/login", &jar(&ua_a), &fields, &headers).await;
        assert_eq!(r.status, 403, "{headers:?}: {}", r.body);
        assert_error_page(&r, &format!("{headers:?}"));
        no_session(&r, "cross-site");
    }
    // None of that burnt the request: the real POST works (303, new session) ...
    let r = ua_a.post("/login", &fields).await;
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(r.location().starts_with("/consent?"));
    assert!(new_cookie(&r, "kc_session").is_some());
    // ... once: the same POST replayed → 400 (the request was used), no new session.
    let replay = ua_a.post("/login", &fields).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_error_page(&replay, "replayed login");
    no_session(&replay, "replay");
    // Also after the flow finished.
    let (crid, ccsrf, _) = consent_form(&ua_a, &r).await;
    let done = ua_a.post("/consent", &[("request_id", &crid), ("csrf_token", &ccsrf), ("decision", "approve")]).await;
    client_redirect(&done, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    let replay = ua_a.post("/login", &fields).await;
    assert_eq!(replay.status, 400);
    no_session(&replay, "replay after completion");
    let replay = ua_a.post("/consent", &[("request_id", &crid), ("csrf_token", &ccsrf), ("decision", "approve")]).await;
    assert_eq!(replay.status, 400, "consent replay: {}", replay.body);
    assert!(replay.header("location").is_none(), "no second code");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g2_consent_is_bound_to_its_request_browser_and_session() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    // Browser A: alice signs in for R1 (pub) and, with her session, starts R2 (spa).
    let ua_a = UserAgent::new(&s.base);
    let req1 = AuthReq::new("pub", PUB_CB, "openid profile");
    let r = ua_a.get(&req1.url()).await;
    let (rid, csrf) = login_form(&ua_a, &r).await;
    let r = ua_a
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    let (r1, csrf1, page) = consent_form(&ua_a, &r).await;
    assert!(page.body.contains("Alice Liddell"), "consent shows who is signed in");
    let r = ua_a.get(&AuthReq::new("spa", "https://spa.example/cb", "openid").url()).await;
    let (r2, csrf2, _) = consent_form(&ua_a, &r).await;
    assert_ne!(r1, r2);
    assert_ne!(csrf1, csrf2);

    // R1's token for R2 and vice versa → 403.
    for (id, token) in [(r2.as_str(), csrf1.as_str()), (r1.as_str(), csrf2.as_str()), (r1.as_str(), "")] {
        let r = ua_a.post("/consent", &[("request_id", id), ("csrf_token", token), ("decision", "approve")]).await;
        assert_eq!(r.status, 403, "{id}/{token}: {}", r.body);
        assert_error_page(&r, "consent csrf of another request");
    }

    // Browser B: bob is signed in (at his own consent page).
    let ua_b = UserAgent::new(&s.base);
    let r = ua_b.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua_b, &r).await;
    let r = ua_b
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "bob"), ("password", BOB_PW)])
        .await;
    let _ = consent_form(&ua_b, &r).await;
    let alice_approval = [("request_id", r1.as_str()), ("csrf_token", csrf1.as_str()), ("decision", "approve")];
    // R1's id and token from B's browser (B's cookies): the browser binding refuses.
    let r = ua_b.post("/consent", &alice_approval).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error_page(&r, "bob's browser approves alice's request");
    let r = ua_b.get(&format!("/consent?request={r1}")).await;
    assert_eq!(r.status, 403, "bob's browser cannot even see alice's consent page");
    // Even with A's browser cookie copied next to bob's session, the session check refuses.
    let cookies =
        format!("kc_browser={}; kc_session={}", ua_a.cookie("kc_browser").unwrap(), ua_b.cookie("kc_session").unwrap());
    let r = post_raw(&ua_b, "/consent", &cookies, &alice_approval, &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error_page(&r, "bob's session approves alice's request");
    let r = send(http().get(s.url(&format!("/consent?request={r1}"))).header("cookie", &cookies)).await;
    assert!(!(r.status == 200 && r.body.contains("Allow")), "no consent page for bob's session: {}", r.body);
    // No session at all with A's browser cookie → 403.
    let r = post_raw(
        &ua_a,
        "/consent",
        &format!("kc_browser={}", ua_a.cookie("kc_browser").unwrap()),
        &alice_approval,
        &[],
    )
    .await;
    assert_eq!(r.status, 403);

    // R1 still works for alice; a scope added to the consent form is ignored.
    let mut f = alice_approval.to_vec();
    f.push(("scope", "openid profile email api:read"));
    let r = ua_a.post("/consent", &f).await;
    let code = client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    let t = tokens(&s, &req1, &code, None).await;
    assert_eq!(t["scope"], "openid profile", "the consent form cannot widen the request");
    s.stop().await;
}

const XSS: [&str; 8] = [
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "</textarea><svg/onload=alert(1)>",
    "'\"><",
    "javascript:alert(1)",
    "{{7*7}}",
    "${7*7}",
    "a\u{2028}b",
];

/// G3: `payload` never appears raw when it contains markup characters.
#[track_caller]
fn assert_escaped(body: &str, payload: &str, what: &str) {
    if payload.contains(['<', '>', '"', '\'']) {
        assert!(!body.contains(payload), "G3 {what}: {payload:?} unescaped");
    }
    for raw in ["<script>alert", "<img src=x", "<svg", "onerror=alert(1)>", "href=\"javascript", "src=\"javascript"] {
        assert!(!body.contains(raw), "G3 {what}: {raw:?} in {}", short(body));
    }
    assert!(body.matches("<script").count() <= 1, "G3 {what}: a second script element");
}

#[tokio::test(flavor = "multi_thread")]
async fn g3_xss_payloads_are_escaped_on_every_page() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let hash = keycard::admin::hash_password(&s.state.config, "mallory-password-1").unwrap();
    s.admin().create_user("mallory", None, Some(XSS[1]), Some(hash)).await.unwrap();
    public_client(&s, "xss", XSS[0], &["https://xss.example/cb"]).await;
    let admin = s.admin();
    let mut c = admin.client("xss").await.unwrap();
    c.settings.logo_uri = Some("javascript:alert(1)".into());
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;

    for p in XSS {
        let ua = UserAgent::new(&s.base);
        let req = AuthReq::new("xss", "https://xss.example/cb", "openid profile")
            .set("state", p)
            .set("nonce", p)
            .set("login_hint", p)
            .set("ui_locales", p)
            .set("prompt", "consent")
            .set("response_mode", "form_post");
        let r = ua.get(&req.url()).await;
        assert_eq!(r.status, 303, "{p:?}: {}", r.body);
        let login = ua.get(&r.location()).await;
        assert_eq!(login.status, 200);
        assert_html_headers(&login, "login");
        assert_escaped(&login.body, p, "login page");
        assert_escaped(&login.body, XSS[0], "login page client name");
        assert!(login.body.contains("&lt;script&gt;alert(1)"), "the client name is shown escaped");
        assert_eq!(login.field("username"), p, "login_hint round-trips through escaping (no template evaluation)");
        assert!(login.body.contains("<html lang=\"en\">"), "ui_locales is not pasted into lang");
        let r = ua
            .post(
                "/login",
                &[
                    ("request_id", &login.field("request_id")),
                    ("csrf_token", &login.field("csrf_token")),
                    ("username", "mallory"),
                    ("password", "mallory-password-1"),
                ],
            )
            .await;
        let (rid, csrf, consent) = consent_form(&ua, &r).await;
        assert_escaped(&consent.body, XSS[0], "consent page client name");
        assert_escaped(&consent.body, XSS[1], "consent page user display name");
        assert!(!consent.body.contains("javascript:"), "a non-https logo is dropped");
        assert!(consent.body.contains("&lt;script&gt;alert(1)") && consent.body.contains("&quot;&gt;&lt;img"));
        let r = ua.post("/consent", &[("request_id", &rid), ("csrf_token", &csrf), ("decision", "approve")]).await;
        assert_eq!(r.status, 200, "form_post page");
        assert_html_headers(&r, "form_post");
        assert_escaped(&r.body, p, "form_post state");
        assert_eq!(r.field("state"), p, "state round-trips");
        let t = tokens(&s, &req, &r.field("code"), None).await;
        assert_eq!(jwt_parts(t["id_token"].as_str().unwrap()).1["nonce"], p, "nonce round-trips");

        // Error pages: a repeated parameter whose NAME is the payload is named escaped.
        let q = format!("/authorize?{}={}&{}=2&client_id=pub", enc(p), enc(p), enc(p));
        let r = ua.get(&q).await;
        assert_eq!(r.status, 400, "{p:?}");
        assert_html_headers(&r, "error page");
        assert!(r.header("location").is_none());
        assert_escaped(&r.body, p, "error page");
        // Logout confirmation: carried fields are escaped and round-trip.
        let r =
            ua.get(&format!("/logout?state={}&post_logout_redirect_uri={}&client_id={}", enc(p), enc(p), enc(p))).await;
        assert_eq!(r.status, 200);
        assert_html_headers(&r, "logout");
        assert_escaped(&r.body, p, "logout page");
        assert_eq!(r.field("state"), p);
        assert_eq!(r.field("post_logout_redirect_uri"), p);
        // An unknown client named by the payload: the page does not echo it.
        let r = ua.get(&AuthReq::new(p, PUB_CB, "openid").url()).await;
        assert_html_headers(&r, "unknown client");
        assert_escaped(&r.body, p, "unknown client page");
    }
    // A duplicated `<script>` parameter name: escaped in the message.
    let r = UserAgent::new(&s.base)
        .get("/authorize?%3Cscript%3Ealert(1)%3C%2Fscript%3E=1&%3Cscript%3Ealert(1)%3C%2Fscript%3E=2")
        .await;
    assert_eq!(r.status, 400);
    assert_escaped(&r.body, XSS[0], "duplicate-parameter page");
    assert!(r.body.contains("&lt;script&gt;alert(1)"), "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g4_session_fixation_new_session_at_every_login_and_logout_kills_it() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    // A client-chosen (fixated) session cookie is not a session and is not adopted.
    let fixated = "attacker-chosen-session-0123456789";
    ua.set_cookie("kc_session", fixated);
    let req = AuthReq::new("pub", PUB_CB, "openid profile");
    let r = ua.get(&req.url()).await;
    assert!(r.location().starts_with("/login?"), "a fixated cookie is nobody");
    let browser = ua.cookie("kc_browser").expect("browser cookie");
    let res = drive_from(&ua, r, "alice", ALICE_PW).await;
    let code = client_redirect(&res, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    let alice_sub = sub_of(&tokens(&s, &req, &code, None).await);
    let alice_session = ua.cookie("kc_session").unwrap();
    assert_ne!(alice_session, fixated, "G4: the fixated value is not adopted");
    assert_ne!(alice_session, browser, "G4: a new value, not any cookie from before");
    assert!(alice_session.len() >= 43, "≥256-bit session ids");
    assert!(alice_session.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "opaque");
    // Before-login values stay anonymous.
    assert_not_signed_in(&s, fixated, "fixated value").await;
    assert_not_signed_in(&s, &browser, "the browser cookie as a session").await;
    // Alice's value is her session (SSO: straight to the client).
    let r = browser_with_session(&s, &alice_session).get(&AuthReq::new("pub", PUB_CB, "openid profile").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);

    // prompt=login as bob in alice's browser: a NEW session for bob; alice's ends.
    let req2 = AuthReq::new("pub", PUB_CB, "openid profile").set("prompt", "login");
    let r = ua.get(&req2.url()).await;
    assert!(r.location().starts_with("/login?"));
    let res = drive_from(&ua, r, "bob", BOB_PW).await;
    let code = client_redirect(&res, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    let bob_sub = sub_of(&tokens(&s, &req2, &code, None).await);
    assert_ne!(bob_sub, alice_sub, "the code after signing in as bob is bob's");
    let bob_session = ua.cookie("kc_session").unwrap();
    assert_ne!(bob_session, alice_session, "G4: new session id");
    assert_not_signed_in(&s, &alice_session, "alice's old cookie after bob signed in").await;
    // bob's session is bob's, not an upgraded alice session.
    let req3 = AuthReq::new("pub", PUB_CB, "openid profile");
    let r = browser_with_session(&s, &bob_session).get(&req3.url()).await;
    let code = client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    assert_eq!(sub_of(&tokens(&s, &req3, &code, None).await), bob_sub);

    // Logout: the old value is rejected server-side (not just deleted from the browser).
    let page = ua.get("/logout").await;
    let r = ua.post("/logout", &[("csrf_token", &page.field("csrf_token")), ("decision", "logout")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(set_cookies(&r).iter().any(|c| c.starts_with("kc_session=;") && c.contains("Max-Age=0")));
    assert_not_signed_in(&s, &bob_session, "bob's cookie after logout").await;
    s.stop().await;
}

/// G5: `HttpOnly`, `SameSite=Lax|Strict`, `Path=/`, no `Domain`, `Secure` as given; opaque value.
#[track_caller]
fn assert_cookie_attributes(sc: &str, secure: bool) {
    let parts: Vec<&str> = sc.split(';').map(str::trim).collect();
    let has = |a: &str| parts.iter().any(|p| p.eq_ignore_ascii_case(a));
    assert!(has("HttpOnly"), "G5 HttpOnly: {sc}");
    assert!(has("SameSite=Lax") || has("SameSite=Strict"), "G5 SameSite: {sc}");
    assert!(parts.contains(&"Path=/"), "G5 Path=/: {sc}");
    assert!(!parts.iter().any(|p| p.to_ascii_lowercase().starts_with("domain")), "G5 no Domain: {sc}");
    assert_eq!(has("Secure"), secure, "G5 Secure: {sc}");
    let value = parts[0].split_once('=').unwrap().1;
    assert!(value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "opaque value: {sc}");
    assert!(value.is_empty() || value.len() >= 43, "random value: {sc}");
}

#[tokio::test(flavor = "multi_thread")]
async fn g5_cookie_attributes_on_the_loopback_dev_issuer() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("kc_browser="));
    assert_cookie_attributes(&cookies[0], false);
    assert!(!cookies[0].contains("client.example") && !cookies[0].contains(STATE), "no request parameters in cookies");
    let (rid, csrf) = login_form(&ua, &r).await;
    let r = ua
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("kc_session="));
    assert_cookie_attributes(&cookies[0], false);
    let page = ua.get("/logout").await;
    assert!(set_cookies(&page).is_empty(), "the browser cookie is kept");
    let r = ua.post("/logout", &[("csrf_token", &page.field("csrf_token")), ("decision", "logout")]).await;
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("kc_session=;") && cookies[0].contains("Max-Age=0"));
    assert_cookie_attributes(&cookies[0], false);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g5_https_issuer_cookies_are_host_prefixed_and_secure() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.issuer = "https://keycard.test".into()),
        ..Default::default()
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("pub", PUB_CB, "openid");
    let r = ua.get(&req.url()).await;
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("__Host-kc_browser="), "{}", cookies[0]);
    assert_cookie_attributes(&cookies[0], true);
    let page = ua.get(&r.location()).await;
    assert_eq!(page.status, 200, "the __Host- cookie is read back: {}", page.body);
    let fields = [
        ("request_id", page.field("request_id")),
        ("csrf_token", page.field("csrf_token")),
        ("username", "alice".to_owned()),
        ("password", ALICE_PW.to_owned()),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // An un-prefixed cookie is not the browser cookie of an https issuer.
    let browser = ua.cookie("__Host-kc_browser").unwrap();
    let r =
        post_raw(&ua, "/login", &format!("kc_browser={browser}"), &fields, &[("origin", "https://keycard.test")]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The http origin is not the issuer's origin (G1).
    let r = ua.post("/login", &fields).await;
    assert_eq!(r.status, 403);
    let jar = format!("__Host-kc_browser={browser}");
    let r = post_raw(&ua, "/login", &jar, &fields, &[("origin", "https://keycard.test")]).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let cookies = set_cookies(&r);
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    assert!(cookies[0].starts_with("__Host-kc_session="), "{}", cookies[0]);
    assert_cookie_attributes(&cookies[0], true);
    // The authorization response names the https issuer (A7).
    let session = new_cookie(&r, "__Host-kc_session").unwrap();
    let jar = format!("{jar}; __Host-kc_session={session}");
    let consent = send(http().get(s.url(&r.location())).header("cookie", &jar)).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let r = post_raw(
        &ua,
        "/consent",
        &jar,
        &[
            ("request_id", &consent.field("request_id")),
            ("csrf_token", &consent.field("csrf_token")),
            ("decision", "approve"),
        ],
        &[("origin", "https://keycard.test")],
    )
    .await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), "https://keycard.test");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g6_g7_every_html_response_has_the_security_headers() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let mut pages: Vec<(&str, Res)> = Vec::new();
    pages.push(("unknown client", ua.get(&AuthReq::new("nope", EVIL, "openid").url()).await));
    pages.push(("bad encoding", ua.get("/authorize?client_id=%zz").await));
    pages.push(("invalid UTF-8", ua.get("/authorize?client_id=%ff").await));
    pages.push(("duplicate", ua.get("/authorize?client_id=a&client_id=b").await));
    let wrong_type = send(http().post(s.url("/authorize")).header("content-type", "text/plain").body("x")).await;
    pages.push(("POST /authorize text/plain", wrong_type));
    pages.push(("unknown request (login)", ua.get("/login?request=bogus").await));
    pages.push(("no request (login)", ua.get("/login").await));
    pages.push(("unknown request (consent)", ua.get("/consent?request=bogus").await));
    pages.push(("login POST unknown request", ua.post("/login", &[("request_id", "bogus")]).await));
    pages.push(("consent POST unknown request", ua.post("/consent", &[("request_id", "bogus")]).await));

    let req = AuthReq::new("pub", PUB_CB, "openid profile").set("response_mode", "form_post");
    let r = ua.get(&req.url()).await;
    assert_eq!(r.status, 303);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("referrer-policy"), Some("no-referrer"));
    let login = ua.get(&r.location()).await;
    let (rid, csrf) = (login.field("request_id"), login.field("csrf_token"));
    pages.push(("login", login));
    let creds = |pw: &'static str, token: &str| {
        vec![
            ("request_id", rid.clone()),
            ("csrf_token", token.to_owned()),
            ("username", "alice".into()),
            ("password", pw.into()),
        ]
    };
    let post = |f: Vec<(&'static str, String)>| {
        let ua = &ua;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ua.post("/login", &f).await
        }
    };
    pages.push(("login csrf failure", post(creds(ALICE_PW, "wrong")).await));
    pages.push(("wrong password", post(creds("wrong", &csrf)).await));
    let r = post(creds(ALICE_PW, &csrf)).await;
    assert_eq!(r.status, 303);
    let consent = ua.get(&r.location()).await;
    let (crid, ccsrf) = (consent.field("request_id"), consent.field("csrf_token"));
    pages.push(("consent", consent));
    pages.push((
        "consent without decision",
        ua.post("/consent", &[("request_id", &crid), ("csrf_token", &ccsrf)]).await,
    ));
    pages.push((
        "consent bad csrf",
        ua.post("/consent", &[("request_id", &crid), ("csrf_token", "x"), ("decision", "approve")]).await,
    ));
    let r = ua.post("/consent", &[("request_id", &crid), ("csrf_token", &ccsrf), ("decision", "approve")]).await;
    let code = r.field("code");
    pages.push(("form_post", r));
    tokens(&s, &req, &code, None).await;
    pages.push(("logout confirmation", ua.get("/logout").await));
    pages.push(("logout with bad encoding", ua.get("/logout?state=%zz").await));
    pages.push(("logout csrf failure", ua.post("/logout", &[("decision", "logout")]).await));
    let page = ua.get("/logout").await;
    pages.push((
        "logged out",
        ua.post("/logout", &[("csrf_token", &page.field("csrf_token")), ("decision", "logout")]).await,
    ));
    let expected_status = |what: &str| match what {
        "login" | "wrong password" | "consent" | "form_post" | "logout confirmation" | "logged out" => 200,
        "login csrf failure" | "consent bad csrf" | "logout csrf failure" => 403,
        _ => 400,
    };
    for (what, r) in &pages {
        assert_eq!(r.status, expected_status(what), "{what}: {}", short(&r.body));
        assert!(r.header("location").is_none(), "{what}");
        assert_html_headers(r, what);
    }
    s.stop().await;
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// A login failure response with the per-request values and the username removed.
fn normalised(r: &Res, rid: &str, csrf: &str, user: &str) -> (u16, Vec<(String, String)>, String, usize) {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "x-request-id" | "content-length"))
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    headers.sort();
    let body = r.body.replace(rid, "RID").replace(csrf, "CSRF").replace(&format!("value=\"{user}\""), "value=\"USER\"");
    (r.status, headers, body, set_cookies(r).len())
}

#[tokio::test(flavor = "multi_thread")]
async fn g8_unknown_user_wrong_password_and_disabled_user_look_the_same() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| {
            c.login.max_attempts = 10_000;
            c.login.ip_max_attempts = 10_000;
        }),
        ..Default::default()
    })
    .await;
    fixtures(&s).await;
    let hash = keycard::admin::hash_password(&s.state.config, "carol-password-1").unwrap();
    let admin = s.admin();
    let mut carol = admin.create_user("carol", None, None, Some(hash)).await.unwrap();
    carol.disabled = true;
    admin.save_user(carol).await.unwrap();

    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    let attempt = |user: &'static str, pw: &'static str| {
        let (ua, rid, csrf) = (&ua, rid.clone(), csrf.clone());
        async move {
            let started = Instant::now();
            let r = ua
                .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", user), ("password", pw)])
                .await;
            (r, started.elapsed().as_secs_f64() * 1000.0)
        }
    };
    let (unknown, _) = attempt("ghost", "wrong-password-1").await;
    let (wrong, _) = attempt("alice", "wrong-password-1").await;
    let (disabled, _) = attempt("carol", "carol-password-1").await;
    assert_eq!(wrong.status, 200, "{}", wrong.body);
    assert!(wrong.body.contains("The username or password is not correct."));
    let reference = normalised(&wrong, &rid, &csrf, "alice");
    assert_eq!(normalised(&unknown, &rid, &csrf, "ghost"), reference, "G8: unknown user = wrong password");
    assert_eq!(normalised(&disabled, &rid, &csrf, "carol"), reference, "G8: disabled user = wrong password");
    assert_eq!(set_cookies(&wrong).len(), 0);

    // Timing: the unknown user pays a (dummy) password hash too.
    let (mut t_unknown, mut t_wrong) = (Vec::new(), Vec::new());
    let _ = attempt("ghost", "warm-up").await;
    for i in 0..20 {
        let order: [(&'static str, bool); 2] =
            if i % 2 == 0 { [("ghost", true), ("alice", false)] } else { [("alice", false), ("ghost", true)] };
        for (user, is_unknown) in order {
            let (r, ms) = attempt(user, "wrong-password-1").await;
            assert_eq!(r.status, 200);
            if is_unknown { t_unknown.push(ms) } else { t_wrong.push(ms) }
        }
    }
    let (mu, mw) = (median(&mut t_unknown), median(&mut t_wrong));
    eprintln!("G8 median latency: unknown user {mu:.1} ms, wrong password {mw:.1} ms");
    assert!((mu - mw).abs() < 25.0, "G8 timing: median unknown {mu:.1} ms vs wrong password {mw:.1} ms");
    // Both really hash (argon2id): neither answers in "no work" time compared with the other.
    assert!(mu > 0.3 * mw && mw > 0.3 * mu, "{mu:.1} / {mw:.1}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_login_lockout_retry_after_other_users_and_forwarded_headers() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    fixtures(&s).await;
    let clock = s.clock.as_ref().unwrap();
    let (max, window) = (s.state.config.login.max_attempts, s.state.config.login.window_secs);
    assert_eq!(max, 5, "default threshold");
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    let attempt = |user: &'static str, pw: &'static str| {
        let (ua, rid, csrf) = (&ua, rid.clone(), csrf.clone());
        async move {
            ua.post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", user), ("password", pw)])
                .await
        }
    };
    let mut statuses = Vec::new();
    let mut retry_after = 0;
    for i in 1..=8 {
        let r = attempt("alice", "wrong-password").await;
        statuses.push(r.status);
        assert_html_headers(&r, "login attempt");
        assert!(new_cookie(&r, "kc_session").is_none());
        if i <= max {
            assert_eq!(r.status, 200, "attempt {i}");
            assert!(r.body.contains("The username or password is not correct."));
        } else {
            assert_eq!(r.status, 429, "attempt {i}: {}", short(&r.body));
            assert!(r.body.contains("Too many sign-in attempts"), "{}", r.body);
            retry_after = r.header("retry-after").expect("Retry-After").parse::<i64>().unwrap();
            assert!(retry_after > 0);
        }
    }
    // The right password is refused while locked, also behind a forged client address.
    let r = attempt("alice", ALICE_PW).await;
    assert_eq!(r.status, 429, "locked: {}", short(&r.body));
    assert!(new_cookie(&r, "kc_session").is_none());
    let fields =
        [("request_id", rid.as_str()), ("csrf_token", csrf.as_str()), ("username", "alice"), ("password", ALICE_PW)];
    for h in ["x-forwarded-for", "x-real-ip", "forwarded"] {
        let v = if h == "forwarded" { "for=198.51.100.7" } else { "198.51.100.7" };
        let r = post_raw(&ua, "/login", &jar(&ua), &fields, &[(h, v)]).await;
        assert_eq!(r.status, 429, "{h} does not change the throttle key");
        retry_after = r.header("retry-after").unwrap().parse().unwrap();
    }
    // bob is not affected.
    let ua_b = UserAgent::new(&s.base);
    let r = ua_b.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (brid, bcsrf) = login_form(&ua_b, &r).await;
    let r = ua_b
        .post("/login", &[("request_id", &brid), ("csrf_token", &bcsrf), ("username", "bob"), ("password", BOB_PW)])
        .await;
    assert_eq!(r.status, 303, "bob signs in: {}", short(&r.body));
    // G8: an unknown account is throttled exactly like a real one.
    let mut ghost = Vec::new();
    for _ in 1..=8 {
        ghost.push(attempt("ghost", "wrong-password").await.status);
    }
    assert_eq!(ghost, statuses, "G8: lockout does not reveal which accounts exist");

    // The lock ends after lockout + window: alice signs in again.
    clock.advance(retry_after + window + 1);
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    let r = ua
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    assert_eq!(r.status, 303, "alice signs in after the lock: {}", short(&r.body));
    assert!(new_cookie(&r, "kc_session").is_some());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_forwarded_for_does_not_change_the_ip_throttle_key() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| {
            c.login.max_attempts = 3;
            c.login.ip_max_attempts = 4;
        }),
        ..Default::default()
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    // Credential stuffing: distinct usernames from one peer, each with a different forged
    // X-Forwarded-For; the peer address is what is counted.
    let mut statuses = Vec::new();
    for i in 0..6 {
        let user = format!("stuffed-user-{i}");
        let ip = format!("203.0.113.{i}");
        let r = post_raw(
            &ua,
            "/login",
            &jar(&ua),
            &[("request_id", &rid), ("csrf_token", &csrf), ("username", &user), ("password", "guess")],
            &[("x-forwarded-for", &ip)],
        )
        .await;
        statuses.push(r.status);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429], "G9: IP throttle key ignores X-Forwarded-For");
    s.stop().await;
}

// ---- K3 / prompt, SSO and consent memory ---------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn k3_prompt_none_login_consent_max_age_and_login_hint() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let base = || AuthReq::new("pub", PUB_CB, "openid profile");
    // prompt=none without a session → login_required (redirected: the silent-auth exception).
    let r = ua.get(&base().set("prompt", "none").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=login_required"), Some(STATE), &s.base);
    // Sign in, stop at the consent page.
    let r = ua.get(&base().url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    let r = ua
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "alice"), ("password", ALICE_PW)])
        .await;
    let (crid, ccsrf, _) = consent_form(&ua, &r).await;
    // prompt=none with a session but no consent → consent_required.
    let r = ua.get(&base().set("prompt", "none").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=consent_required"), Some(STATE), &s.base);
    // Approve the pending request; now prompt=none issues silently.
    let r = ua.post("/consent", &[("request_id", &crid), ("csrf_token", &ccsrf), ("decision", "approve")]).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    let r = ua.get(&base().set("prompt", "none").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    // A scope not consented yet with prompt=none → consent_required.
    let r = ua.get(&AuthReq::new("pub", PUB_CB, "openid email").set("prompt", "none").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=consent_required"), Some(STATE), &s.base);
    // prompt=login / select_account / max_age=0 with a session → the login page again.
    for (k, v) in [("prompt", "login"), ("prompt", "select_account"), ("max_age", "0")] {
        let r = ua.get(&base().set(k, v).url()).await;
        assert!(r.location().starts_with("/login?"), "{k}={v}: {}", r.location());
    }
    // prompt=none with max_age=0 → login_required, never a silent code.
    let r = ua.get(&base().set("prompt", "none").set("max_age", "0").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?error=login_required"), Some(STATE), &s.base);
    // A generous max_age is satisfied by the session.
    let r = ua.get(&base().set("max_age", "3600").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    // prompt=consent asks again even though consent exists.
    let r = ua.get(&base().set("prompt", "consent").url()).await;
    assert!(r.location().starts_with("/consent?"), "{}", r.location());
    // login_hint pre-fills the username (escaped).
    let r = ua.get(&base().set("prompt", "login").set("login_hint", "alice@example.com").url()).await;
    let page = ua.get(&r.location()).await;
    assert_eq!(page.field("username"), "alice@example.com");
    let hint = "a\"><b>x";
    let r = UserAgent::new(&s.base).get(&base().set("login_hint", hint).url()).await;
    let page = UserAgent::new(&s.base).get(&r.location()).await;
    assert_eq!(page.status, 403, "the login page belongs to the browser that started the request");
    let ua2 = UserAgent::new(&s.base);
    let r = ua2.get(&base().set("login_hint", hint).url()).await;
    let page = ua2.get(&r.location()).await;
    assert_eq!(page.field("username"), hint);
    assert!(!page.body.contains(hint) && !page.body.contains("<b>"));
    // A max_age re-authentication ends with a fresh auth_time.
    let req = base().set("max_age", "0");
    let res = drive(&ua, &req.url(), "alice", ALICE_PW).await;
    let code = client_redirect(&res, &format!("{PUB_CB}?code="), Some(STATE), &s.base)["code"].clone();
    let t = tokens(&s, &req, &code, None).await;
    assert!(jwt_parts(t["id_token"].as_str().unwrap()).1["auth_time"].is_i64(), "auth_time with max_age");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sso_and_consent_memory_first_party_and_second_client() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let scoped = |scope: &str| AuthReq::new("pub", PUB_CB, scope);
    code_via(&s, &ua, &scoped("openid profile"), "alice", ALICE_PW).await;
    // Same client, same (or narrower) scope, same browser: a code at once, no pages.
    for scope in ["openid profile", "openid", "profile"] {
        let r = ua.get(&scoped(scope).url()).await;
        client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    }
    // A new scope: the consent page again (no login page).
    let r = ua.get(&scoped("openid profile email").url()).await;
    let (_, _, page) = consent_form(&ua, &r).await;
    assert!(page.body.contains("Public App"));
    let res = drive_from(&ua, r, "unused", "unused").await;
    client_redirect(&res, &format!("{PUB_CB}?code="), Some(STATE), &s.base);
    let r = ua.get(&scoped("openid profile email").url()).await;
    client_redirect(&r, &format!("{PUB_CB}?code="), Some(STATE), &s.base);

    // A second client in the same browser: no login page, but its own consent.
    let r = ua.get(&AuthReq::new("web", WEB_CB, "openid").url()).await;
    assert!(r.location().starts_with("/consent?"), "SSO skips the login page: {}", r.location());

    // A first-party client never shows consent.
    let admin = s.admin();
    let mut spa = admin.client("spa").await.unwrap();
    spa.settings.first_party = true;
    admin.save_client(spa).await.unwrap();
    s.sync_caches().await;
    let spa_req = || AuthReq::new("spa", "https://spa.example/cb", "openid profile email");
    let r = ua.get(&spa_req().url()).await;
    client_redirect(&r, "https://spa.example/cb?code=", Some(STATE), &s.base);
    let ua2 = UserAgent::new(&s.base);
    let r = ua2.get(&spa_req().url()).await;
    let (rid, csrf) = login_form(&ua2, &r).await;
    let r = ua2
        .post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", "bob"), ("password", BOB_PW)])
        .await;
    client_redirect(&r, "https://spa.example/cb?code=", Some(STATE), &s.base);
    s.stop().await;
}

// ---- A11 / C7: logout -----------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn a11_c7_logout_confirmation_redirect_rules_and_session_revocation() {
    let s = TestServer::start().await;
    let secret = fixtures(&s).await;
    let bye = "https://web.example/bye";
    let admin = s.admin();
    let mut web = admin.client("web").await.unwrap();
    web.settings.post_logout_redirect_uris = vec![bye.into()];
    admin.save_client(web).await.unwrap();
    s.sync_caches().await;
    let sec = Some(secret.as_str());
    let refresh = |rt: String| {
        let (s, secret) = (&s, secret.clone());
        async move {
            post_form(
                &s.url("/token"),
                Some(&basic("web", &secret)),
                &format!("grant_type=refresh_token&refresh_token={rt}"),
            )
            .await
        }
    };

    // One session, two grants: one offline_access (with an ID token), one online.
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("web", WEB_CB, "openid offline_access");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let t = tokens(&s, &req, &code, sec).await;
    let id_token = t["id_token"].as_str().unwrap().to_owned();
    let access_token = t["access_token"].as_str().unwrap().to_owned();
    let rt_offline = t["refresh_token"].as_str().unwrap().to_owned();
    let req = AuthReq::new("web", WEB_CB, "profile api:read");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let rt_online = tokens(&s, &req, &code, sec).await["refresh_token"].as_str().unwrap().to_owned();
    let session = ua.cookie("kc_session").unwrap();

    // GET /logout: a confirmation page with a CSRF token, never a redirect, whatever the URI.
    for uri in [bye, EVIL] {
        let r = ua
            .get(&format!("/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye-state", enc(uri)))
            .await;
        assert_eq!(r.status, 200);
        assert!(r.header("location").is_none());
        assert_html_headers(&r, "logout confirmation");
        assert!(!r.field("csrf_token").is_empty());
        assert!(r.body.contains("Web App"), "names the client");
    }
    let page = ua.get("/logout").await;
    let csrf = page.field("csrf_token");
    let logout = |fields: Vec<(&'static str, String)>| {
        let ua = &ua;
        async move {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ua.post("/logout", &f).await
        }
    };
    let with = |uri: &str, hint: Option<&str>| {
        let mut f = vec![
            ("csrf_token", csrf.clone()),
            ("decision", "logout".to_owned()),
            ("post_logout_redirect_uri", uri.to_owned()),
            ("state", "bye-state".to_owned()),
        ];
        if let Some(h) = hint {
            f.push(("id_token_hint", h.to_owned()));
        }
        f
    };
    // Without the CSRF token or cross-site: 403 and the session lives on.
    let mut no_csrf = with(bye, Some(&id_token));
    no_csrf.remove(0);
    let r = logout(no_csrf).await;
    assert_eq!(r.status, 403);
    let f = with(bye, Some(&id_token));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = post_raw(&ua, "/logout", &jar(&ua), &f, &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status, 403);
    // "Cancel" keeps the session and does not claim a sign-out.
    let mut cancel = with(bye, Some(&id_token));
    cancel[1].1 = "cancel".to_owned();
    let r = logout(cancel).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("location").is_none(), "no redirect on cancel");
    assert!(set_cookies(&r).is_empty(), "the session cookie stays");
    assert!(!r.body.contains("signed out") && r.body.contains("still signed in"), "{}", short(&r.body));
    assert_html_headers(&r, "logout cancelled");
    let r = ua.get(&AuthReq::new("web", WEB_CB, "openid offline_access").url()).await;
    client_redirect(&r, &format!("{WEB_CB}?code="), Some(STATE), &s.base);
    // Both refresh tokens work while signed in (use the rotated successors from here on).
    let mut live = Vec::new();
    for rt in [rt_online, rt_offline] {
        let r = refresh(rt.clone()).await;
        assert_eq!(r.status, 200, "still signed in: {}", r.body);
        live.push(r.json()["refresh_token"].as_str().map(str::to_owned).unwrap_or(rt));
    }
    let (rt_online, rt_offline) = (live[0].clone(), live[1].clone());

    // The registered URI WITHOUT an id_token_hint: signed out, but no redirect.
    let r = logout(with(bye, None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("location").is_none(), "A11: no redirect without a hint");
    assert_html_headers(&r, "logged out");
    assert!(r.body.contains("signed out"));
    // C7: the session is over server-side; online refresh tokens die, offline ones live.
    assert_not_signed_in(&s, &session, "session after logout").await;
    refresh(rt_online).await.assert_error(400, "invalid_grant");
    assert_eq!(refresh(rt_offline).await.status, 200, "offline_access survives logout");

    // Unregistered or look-alike URIs, even with a valid hint: no redirect.
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("web", WEB_CB, "openid");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let hint = tokens(&s, &req, &code, sec).await["id_token"].as_str().unwrap().to_owned();
    let csrf = ua.get("/logout").await.field("csrf_token");
    let post = |uri: &str, hint: Option<&str>, extra: Option<(&'static str, &str)>| {
        let mut f = vec![
            ("csrf_token", csrf.clone()),
            ("decision", "logout".to_owned()),
            ("post_logout_redirect_uri", uri.to_owned()),
            ("state", "bye-state".to_owned()),
        ];
        if let Some(h) = hint {
            f.push(("id_token_hint", h.to_owned()));
        }
        if let Some((k, v)) = extra {
            f.push((k, v.to_owned()));
        }
        let ua = &ua;
        async move {
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ua.post("/logout", &f).await
        }
    };
    for uri in [
        EVIL,
        "https://web.example\\evil.example",
        "/\\evil.example",
        "https://web.example/bye/",
        "https://WEB.example/bye",
        "https://web.example/bye?x=1",
        "https://web.example/bye#x",
        "https://web.example.evil.example/bye",
    ] {
        let r = post(uri, Some(&hint), None).await;
        assert_eq!(r.status, 200, "{uri}");
        assert!(r.header("location").is_none(), "A11: no redirect to {uri}");
        assert!(!r.body.to_ascii_lowercase().contains("evil"), "{uri}");
    }
    // The registered URI with a forged hint, an access token as hint, or another client_id.
    let forged = {
        let mut parts: Vec<&str> = hint.split('.').collect();
        let payload = "eyJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZSJ9";
        parts[1] = payload;
        parts.join(".")
    };
    for (what, h, extra) in [
        ("forged hint", forged.as_str(), None),
        ("access token as hint (E3)", access_token.as_str(), None),
        ("another client_id", hint.as_str(), Some(("client_id", "spa"))),
        ("garbage hint", "x.y.z", None),
    ] {
        let r = post(bye, Some(h), extra).await;
        assert_eq!(r.status, 200, "{what}");
        assert!(r.header("location").is_none(), "A11 {what}: no redirect");
    }

    // The registered URI with a valid hint → 303 there with state, and the session ends.
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("web", WEB_CB, "openid");
    let code = code_via(&s, &ua, &req, "alice", ALICE_PW).await;
    let hint = tokens(&s, &req, &code, sec).await["id_token"].as_str().unwrap().to_owned();
    let session = ua.cookie("kc_session").unwrap();
    let page =
        ua.get(&format!("/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=bye-state", enc(bye))).await;
    let fields: Vec<(String, String)> = ["csrf_token", "id_token_hint", "post_logout_redirect_uri", "state"]
        .iter()
        .map(|k| (k.to_string(), page.field(k)))
        .chain([("decision".to_owned(), "logout".to_owned())])
        .collect();
    let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = ua.post("/logout", &f).await;
    assert_eq!(r.status, 303, "A9/A11: {}", r.body);
    assert_eq!(r.location(), format!("{bye}?state=bye-state"));
    assert!(set_cookies(&r).iter().any(|c| c.starts_with("kc_session=;")));
    assert_not_signed_in(&s, &session, "session after the redirecting logout").await;
    s.stop().await;
}

/// G1/G4 (issue 14 item 11): the browser-binding cookie is minted and MACed by the server. A
/// value chosen by someone who can set cookies (plain-http mode, a sibling subdomain) is never
/// adopted: every page that sees it sets a fresh value, and a CSRF token computed for the chosen
/// value is refused.
#[tokio::test(flavor = "multi_thread")]
async fn g1_g4_a_client_chosen_browser_cookie_is_never_adopted() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    const CHOSEN: &str = "attacker-chosen-browser-cookie-value-0123456789abcdefghijklmnopqrstuvw";
    let chosen = format!("kc_browser={CHOSEN}");
    let get = |path: String| send(http().get(format!("{}{path}", s.base)).header("cookie", &chosen));
    let r = get(AuthReq::new("pub", PUB_CB, "openid").url()).await;
    assert_eq!(r.status, 303, "{}", r.body);
    let minted = new_cookie(&r, "kc_browser").expect("G4: a chosen browser cookie is replaced");
    assert_ne!(minted, CHOSEN);
    let loc = r.location();
    let rid = loc.strip_prefix("/login?request=").expect("to the login page").to_owned();
    let page = get(loc.clone()).await;
    let again = new_cookie(&page, "kc_browser").expect("a cookie that fails the MAC is replaced on every page");
    assert_ne!(again, CHOSEN);
    assert_ne!(again, minted, "each replacement is fresh");
    // What an attacker sharing the chosen value would have read off the login page.
    let csrf = keycard::oauth::flow::csrf_token(&s.state, "login", &rid, CHOSEN);
    let ua = UserAgent::new(&s.base);
    let fields = [("request_id", rid.as_str()), ("csrf_token", &csrf), ("username", "bob"), ("password", BOB_PW)];
    let r = post_raw(&ua, "/login", &chosen, &fields, &[]).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_error_page(&r, "CSRF token for a client-chosen cookie");
    assert!(new_cookie(&r, "kc_session").is_none(), "no session: {:?}", set_cookies(&r));
    // The server-minted value is kept and works.
    ua.set_cookie("kc_browser", &minted);
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(new_cookie(&page, "kc_browser").is_none(), "a valid cookie is kept: {:?}", set_cookies(&page));
    let r = ua
        .post(
            "/login",
            &[
                ("request_id", &page.field("request_id")),
                ("csrf_token", &page.field("csrf_token")),
                ("username", "bob"),
                ("password", BOB_PW),
            ],
        )
        .await;
    assert_eq!(r.status, 303, "{}", r.body);
    s.stop().await;
}
