//! Consent: black-box security tests against a real Keycard on loopback: consent bound to its
//! request, browser and session; single sign-on and remembered consent (G2). Each test name cites
//! the checklist items it covers (see docs/security.md).
//!
//! Conventions: "error page" = 400/403 `text/html` with the G6/G7 header set, no `Location`, no
//! meta refresh, no script, no link, and the attacker's URI not rendered. Every authorization
//! response (success or error) is checked for `iss` == issuer (byte for byte, RFC 9207) and an
//! unchanged `state`, and for the absence of any front-channel token (A6).

mod common;

use common::browser::*;
use common::*;

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
