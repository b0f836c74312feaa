//! Issue 9 item 8 (RFC 6749 §4.1.2.1, OAuth 2.1 §4.1.2.1, RFC 9207 §2, SECURITY A4/A10): once
//! `client_id` and `redirect_uri` are verified, every other bad parameter is an error REDIRECT to
//! that redirect URI with `error`, `error_description`, `state` (only a single valid one) and
//! `iss`, in the requested response mode; before that (unknown or repeated client, bad, repeated
//! or unregistered redirect URI) it is the error page. Run on SQLite and PostgreSQL.

mod common;

use common::browser::{AuthReq, assert_error_page, enc};
use common::*;
use keycard::store::conformance::TestDb;

const CB: &str = "https://spa.example/cb";
const STATE: &str = "st-Zq3_x.y~1";

/// alice, `spa` (public, first-party so errors redirect at once: SECURITY A5 defers them for
/// other clients until sign-in) and a known scope `admin` that `spa` may not request.
async fn setup(db: Option<TestDb>) -> TestServer {
    let s = TestServer::start_with(TestOptions { db, ..Default::default() }).await;
    code_flow_fixtures(&s).await;
    s.admin().upsert_scope("admin", "Administer everything").await.unwrap();
    edit_client(&s, "spa", |c| c.settings.first_party = true).await;
    s
}

/// An error redirect: 303 to the registered URI with `code`, a description, `state` as given,
/// `iss` (RFC 9207), and no code.
#[track_caller]
fn assert_error_redirect(s: &TestServer, r: &Res, code: &str, state: Option<&str>, what: &str) {
    assert_eq!(r.status, 303, "{what}: expected a redirect, got {}: {}", r.status, r.body);
    let loc = r.location();
    assert!(loc.starts_with(&format!("{CB}?error={code}&")), "{what}: {loc}");
    let q = query_of(&loc);
    assert!(q.get("error_description").is_some_and(|d| !d.is_empty()), "{what}: {loc}");
    assert_eq!(q.get("state").map(String::as_str), state, "{what}: {loc}");
    assert_eq!(q.get("iss").map(String::as_str), Some(s.base.as_str()), "{what}: {loc}");
    assert!(!q.contains_key("code"), "{what}: {loc}");
}

async fn errors_after_validation_are_redirected(db: Option<TestDb>) {
    let s = setup(db).await;
    let ua = UserAgent::new(&s.base);
    let ok = || AuthReq::new("spa", CB, "openid profile").set("nonce", "n");
    let long = "x".repeat(2049);
    let c42 = "a".repeat(42);
    let cases: Vec<(&str, AuthReq, &str, Option<&str>)> = vec![
        ("repeated state", ok().also("state", "other"), "invalid_request", None),
        ("repeated identical state", ok().also("state", STATE), "invalid_request", None),
        ("repeated scope", ok().also("scope", "openid"), "invalid_request", Some(STATE)),
        ("repeated response_type", ok().also("response_type", "code"), "invalid_request", Some(STATE)),
        ("repeated nonce", ok().also("nonce", "m"), "invalid_request", Some(STATE)),
        ("repeated code_challenge", ok().also("code_challenge", &c42), "invalid_request", Some(STATE)),
        ("repeated prompt", ok().set("prompt", "login").also("prompt", "consent"), "invalid_request", Some(STATE)),
        (
            "repeated response_mode",
            ok().set("response_mode", "query").also("response_mode", "form_post"),
            "invalid_request",
            Some(STATE),
        ),
        (
            "unsupported response_type",
            ok().set("response_type", "code token"),
            "unsupported_response_type",
            Some(STATE),
        ),
        ("implicit response_type (off)", ok().set("response_type", "token"), "unsupported_response_type", Some(STATE)),
        ("missing response_type", ok().without("response_type"), "invalid_request", Some(STATE)),
        ("unsupported response_mode", ok().set("response_mode", "jwt"), "invalid_request", Some(STATE)),
        (
            "missing code_challenge",
            ok().without("code_challenge").without("code_challenge_method"),
            "invalid_request",
            Some(STATE),
        ),
        ("plain PKCE", ok().set("code_challenge_method", "plain"), "invalid_request", Some(STATE)),
        ("short code_challenge", ok().set("code_challenge", &c42), "invalid_request", Some(STATE)),
        ("unknown scope", ok().set("scope", "openid bogus"), "invalid_scope", Some(STATE)),
        ("scope not allowed", ok().set("scope", "openid admin"), "invalid_scope", Some(STATE)),
        ("malformed scope", ok().set("scope", "openid a\"b"), "invalid_scope", Some(STATE)),
        ("bad prompt", ok().set("prompt", "none login"), "invalid_request", Some(STATE)),
        ("bad max_age", ok().set("max_age", "-1"), "invalid_request", Some(STATE)),
        ("oversized nonce", ok().set("nonce", &long), "invalid_request", Some(STATE)),
        ("oversized state", ok().set("state", &long), "invalid_request", None),
        ("bad request object", ok().set("request", "eyJhbGciOiJub25lIn0.e30."), "invalid_request_object", Some(STATE)),
        (
            "fetched request_uri",
            ok().set("request_uri", "https://spa.example/req"),
            "request_uri_not_supported",
            Some(STATE),
        ),
        ("resource indicator", ok().set("resource", "https://api.example/"), "invalid_target", Some(STATE)),
    ];
    for (what, req, code, state) in &cases {
        assert_error_redirect(&s, &ua.get(&req.url()).await, code, *state, what);
        assert_error_redirect(&s, &ua.post("/authorize", &req.fields()).await, code, *state, &format!("POST {what}"));
    }

    // response_mode=form_post: the error goes back in the auto-submitted form, with state and iss.
    for (what, req, code) in [
        ("repeated scope", ok().set("response_mode", "form_post").also("scope", "openid"), "invalid_request"),
        ("unknown scope", ok().set("response_mode", "form_post").set("scope", "bogus"), "invalid_scope"),
        ("bad PKCE", ok().set("response_mode", "form_post").set("code_challenge_method", "plain"), "invalid_request"),
    ] {
        let r = ua.get(&req.url()).await;
        assert_eq!(r.status, 200, "{what}: {}", r.body);
        let body = r.body.replace("&#x2f;", "/");
        assert!(body.contains(&format!("action=\"{CB}\"")), "{what}: {}", r.body);
        assert_eq!(r.field("error"), code, "{what}");
        assert_eq!(r.field("state"), STATE, "{what}");
        assert_eq!(r.field("iss"), s.base, "{what}");
        assert!(form_field(&r.body, "code").is_none(), "{what}");
    }

    // Before client and redirect URI are verified: the error page, whatever else is wrong.
    let bad = |r: AuthReq| r.set("scope", "bogus").also("state", "again");
    let pages: Vec<(&str, String)> = vec![
        ("unknown client", bad(ok().set("client_id", "nope")).url()),
        ("missing client_id", bad(ok().without("client_id")).url()),
        ("repeated client_id", bad(ok().also("client_id", "spa")).url()),
        ("repeated redirect_uri", bad(ok().also("redirect_uri", CB)).url()),
        ("unregistered redirect_uri", bad(ok().set("redirect_uri", "https://evil.example/cb")).url()),
        ("missing redirect_uri (OpenID)", ok().without("redirect_uri").also("state", "again").url()),
        ("bad encoding", format!("/authorize?client_id=spa&redirect_uri={}&scope=%zz", enc(CB))),
    ];
    for (what, url) in &pages {
        assert_error_page(&ua.get(url).await, what);
    }
    // A client that is not first-party gets the login page first (SECURITY A5), then the error.
    let req = AuthReq::new("web", "https://web.example/cb", "openid").also("scope", "openid");
    let back = authorize_in(&ua, &req.url(), "alice", "alice-password-1").await;
    assert!(back.starts_with("https://web.example/cb?error=invalid_request&"), "{back}");
    assert_eq!(query_of(&back)["iss"], s.base);

    // The same request without the bad parameter goes on to sign-in.
    let r = ua.get(&ok().url()).await;
    assert!(r.location().starts_with("/login?request=") || r.location().starts_with(CB), "{}", r.location());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a10_errors_after_validation_are_redirected_on_sqlite() {
    errors_after_validation_are_redirected(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a10_errors_after_validation_are_redirected_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    errors_after_validation_are_redirected(Some(db)).await;
}
