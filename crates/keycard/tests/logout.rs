//! RP-initiated logout: black-box security tests against a real Keycard on loopback: confirmation,
//! post-logout redirect rules and session revocation (A11, C7). Each test name cites the checklist
//! items it covers (see docs/security.md).
//!
//! Conventions: "error page" = 400/403 `text/html` with the G6/G7 header set, no `Location`, no
//! meta refresh, no script, no link, and the attacker's URI not rendered. Every authorization
//! response (success or error) is checked for `iss` == issuer (byte for byte, RFC 9207) and an
//! unchanged `state`, and for the absence of any front-channel token (A6).

mod common;

use common::browser::*;
use common::*;

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
    // The registered URI with a forged hint, an access token as hint, or another client_id:
    // the request is invalid (RP-Initiated Logout §4, SECURITY E2): a 400 error page, no
    // redirect, and the session is NOT ended by a request that could not be verified.
    let session = ua.cookie("kc_session").unwrap();
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
        assert_error_page(&r, what);
        assert!(set_cookies(&r).is_empty(), "{what}: the session cookie stays");
        let also = extra.map(|(k, v)| format!("&{k}={v}")).unwrap_or_default();
        let page = ua.get(&format!("/logout?id_token_hint={h}&post_logout_redirect_uri={}{also}", enc(bye))).await;
        assert_error_page(&page, what);
        assert!(form_field(&page.body, "csrf_token").is_none(), "{what}: no confirmation form");
    }
    let still = browser_with_session(&s, &session);
    let r = still.get(&AuthReq::new("web", WEB_CB, "openid").set("prompt", "none").url()).await;
    client_redirect(&r, &format!("{WEB_CB}?code="), Some(STATE), &s.base);

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
