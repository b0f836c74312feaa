//! HTML pages: black-box security tests against a real Keycard on loopback: escaping of hostile
//! input on every page, cookie attributes, the security header set of every HTML response (G3, G5,
//! G6, G7). Each test name cites the checklist items it covers (see docs/security.md).
//!
//! Conventions: "error page" = 400/403 `text/html` with the G6/G7 header set, no `Location`, no
//! meta refresh, no script, no link, and the attacker's URI not rendered. Every authorization
//! response (success or error) is checked for `iss` == issuer (byte for byte, RFC 9207) and an
//! unchanged `state`, and for the absence of any front-channel token (A6).

mod common;

use common::browser::*;
use common::*;

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
    // Registration refuses such a logo (A3); written past it, the pages must still not run it.
    assert!(admin.save_client(c.clone()).await.is_err(), "A3: a javascript: logo is refused");
    assert!(s.state.store.update_client(&c).await.unwrap());
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

        // A repeated parameter whose NAME is the payload: once the redirect URI is verified it
        // is an error redirect (issue 9 item 8) whose Location carries the name encoded; before,
        // an error page that does not render it unescaped.
        let q = format!("/authorize?{}={}&{}=2&client_id=pub", enc(p), enc(p), enc(p));
        let r = ua.get(&q).await;
        assert_eq!(r.status, 303, "{p:?}");
        let loc = r.location();
        assert!(loc.starts_with("https://client.example/cb?error=invalid_request&"), "{loc}");
        assert!(!loc.contains(['<', '>', '"', '\'', ' ']), "{loc}");
        let q = format!("/authorize?{}={}&{}=2&client_id=nope", enc(p), enc(p), enc(p));
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
    // A duplicated `<script>` parameter name without a client: an error page that does not
    // render it unescaped.
    let r = UserAgent::new(&s.base)
        .get("/authorize?%3Cscript%3Ealert(1)%3C%2Fscript%3E=1&%3Cscript%3Ealert(1)%3C%2Fscript%3E=2")
        .await;
    assert_eq!(r.status, 400);
    assert_escaped(&r.body, XSS[0], "duplicate-parameter page");
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
