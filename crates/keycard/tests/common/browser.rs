//! Helpers of the browser-flow tests (`authorize_endpoint.rs`, `login.rs`, `consent.rs`,
//! `logout.rs`, `html_pages.rs`): an authorization request builder, the fixtures, the checks of
//! an HTML error page and of an authorization response, and cookie plumbing. The checklist
//! items they cite are listed in docs/security.md.

use super::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use std::collections::HashMap;

pub const ALICE_PW: &str = "alice-password-1";
pub const BOB_PW: &str = "bob-password-1";
pub const STATE: &str = "st-Zq3_x.y~1";
pub const PUB_CB: &str = "https://client.example/cb";
pub const WEB_CB: &str = "https://web.example/cb";
pub const EVIL: &str = "https://evil.example/";

pub fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// An authorization request under construction: by default a valid `code` request with an
/// S256 challenge and `state`.
#[derive(Clone, Debug)]
pub struct AuthReq {
    pub pairs: Vec<(String, String)>,
    pub verifier: String,
}

impl AuthReq {
    pub fn new(client: &str, redirect_uri: &str, scope: &str) -> AuthReq {
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
    pub fn set(mut self, k: &str, v: &str) -> AuthReq {
        match self.pairs.iter_mut().find(|(n, _)| n == k) {
            Some(p) => p.1 = v.to_owned(),
            None => self.pairs.push((k.to_owned(), v.to_owned())),
        }
        self
    }

    pub fn without(mut self, k: &str) -> AuthReq {
        self.pairs.retain(|(n, _)| n != k);
        self
    }

    /// Appends a parameter even if it is already there (duplicates).
    pub fn also(mut self, k: &str, v: &str) -> AuthReq {
        self.pairs.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn get(&self, k: &str) -> Option<&str> {
        self.pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    pub fn query(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(&self.pairs).finish()
    }

    pub fn url(&self) -> String {
        format!("/authorize?{}", self.query())
    }

    pub fn fields(&self) -> Vec<(&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }
}

pub async fn public_client(s: &TestServer, id: &str, name: &str, redirect_uris: &[&str]) {
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
pub async fn fixtures(s: &TestServer) -> String {
    let (_, secret) = code_flow_fixtures(s).await;
    public_client(s, "pub", "Public App", &[PUB_CB]).await;
    public_client(s, "native", "Native App", &["http://127.0.0.1/cb", "http://[::1]/cb"]).await;
    secret
}

pub fn short(body: &str) -> String {
    body.chars().take(400).collect()
}

/// G7: `src`/`href` only to this server (no third-party resources that would get a Referer).
#[track_caller]
pub fn assert_no_third_party_resources(body: &str, what: &str) {
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
pub fn assert_html_headers(r: &Res, what: &str) {
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
pub fn assert_error_page(r: &Res, what: &str) {
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
pub fn client_redirect(r: &Res, prefix: &str, state: Option<&str>, iss: &str) -> HashMap<String, String> {
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
pub async fn drive_from(ua: &UserAgent, mut res: Res, user: &str, pw: &str) -> Res {
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

pub async fn drive(ua: &UserAgent, url: &str, user: &str, pw: &str) -> Res {
    let res = ua.get(url).await;
    drive_from(ua, res, user, pw).await
}

/// Runs `req` to the end in `ua` and returns the code (checking `iss` and `state`).
pub async fn code_via(s: &TestServer, ua: &UserAgent, req: &AuthReq, user: &str, pw: &str) -> String {
    let res = drive(ua, &req.url(), user, pw).await;
    let prefix = format!("{}?code=", req.get("redirect_uri").unwrap());
    client_redirect(&res, &prefix, req.get("state"), &s.base)["code"].clone()
}

/// Redeems a code for `req` (public client when `secret` is `None`).
pub async fn redeem(s: &TestServer, req: &AuthReq, code: &str, secret: Option<&str>) -> Res {
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
pub async fn tokens(s: &TestServer, req: &AuthReq, code: &str, secret: Option<&str>) -> serde_json::Value {
    let r = redeem(s, req, code, secret).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

pub fn sub_of(tokens: &serde_json::Value) -> String {
    let (_, claims) = jwt_parts(tokens["id_token"].as_str().expect("id_token"));
    claims["sub"].as_str().unwrap().to_owned()
}

pub fn set_cookies(r: &Res) -> Vec<String> {
    r.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect()
}

/// The value a response sets for cookie `name`.
pub fn new_cookie(r: &Res, name: &str) -> Option<String> {
    set_cookies(r).iter().find_map(|c| {
        let kv = c.split(';').next().unwrap_or("");
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| v.to_owned())
    })
}

/// A `Cookie` header with the given cookies of `ua`.
pub fn cookie_header(ua: &UserAgent, names: &[&str]) -> String {
    names.iter().filter_map(|n| ua.cookie(n).map(|v| format!("{n}={v}"))).collect::<Vec<_>>().join("; ")
}

pub fn jar(ua: &UserAgent) -> String {
    cookie_header(ua, &["kc_browser", "kc_session"])
}

/// A form POST with an explicit `Cookie` header and extra headers (`Origin` defaults to the
/// server's own); the response's cookies are NOT stored anywhere.
pub async fn post_raw(
    ua: &UserAgent,
    path: &str,
    cookies: &str,
    fields: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Res {
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
pub fn browser_with_session(s: &TestServer, session: &str) -> UserAgent {
    let ua = UserAgent::new(&s.base);
    ua.set_cookie("kc_session", session);
    ua
}

/// G4: a session cookie value that does NOT sign in: `/authorize` sends the browser to login.
pub async fn assert_not_signed_in(s: &TestServer, session: &str, what: &str) {
    let r = browser_with_session(s, session).get(&AuthReq::new("pub", PUB_CB, "openid profile").url()).await;
    assert_eq!(r.status, 303, "{what}: {}", r.body);
    assert!(r.location().starts_with("/login?"), "{what}: {}", r.location());
}

/// GETs the login page a redirect points at; returns (request_id, csrf_token).
pub async fn login_form(ua: &UserAgent, redirect: &Res) -> (String, String) {
    let loc = redirect.location();
    assert!(loc.starts_with("/login?"), "{loc}");
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html_headers(&page, "login page");
    (page.field("request_id"), page.field("csrf_token"))
}

/// GETs the consent page a redirect points at; returns (request_id, csrf_token, page).
pub async fn consent_form(ua: &UserAgent, redirect: &Res) -> (String, String, Res) {
    let loc = redirect.location();
    assert!(loc.starts_with("/consent?"), "{loc}");
    let page = ua.get(&loc).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html_headers(&page, "consent page");
    (page.field("request_id"), page.field("csrf_token"), page)
}
