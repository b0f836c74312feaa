//! Account mails end to end against a real Keycard on loopback and a real SMTP server process
//! (`common::smtp`, spoken to by lettre as to any relay): password reset by link, invitations,
//! e-mail verification, the signed-in password change, and their negative cases (link reuse and
//! expiry, account enumeration, CSRF on every new form). See docs/security.md, "Account mails".

mod common;

use common::browser::*;
use common::smtp::{Received, SmtpSink};
use common::*;
use keycard::config::{Config, MailSender, SmtpTls};
use keycard::people::links::LinkPurpose;
use keycard::people::verify::Mailing;

/// `[mail]` pointed at the sink on `port` (SMTP without TLS: a loopback test server).
fn mail_to(c: &mut Config, port: u16) {
    c.mail.sender = MailSender::Smtp;
    c.mail.from = "Keycard <id@keycard.test>".into();
    c.mail.smtp.host = "127.0.0.1".into();
    c.mail.smtp.port = port;
    c.mail.smtp.tls = SmtpTls::None;
    c.mail.smtp.timeout_secs = 5;
}

/// A server mailing through `sink`, on a mock clock (links expire when the test says), with
/// `extra` changes to its configuration.
async fn server_with(sink: &SmtpSink, extra: fn(&mut Config)) -> TestServer {
    let port = sink.port;
    TestServer::start_with(TestOptions {
        mock_time: Some(1_900_000_000),
        configure: Box::new(move |c: &mut Config| {
            mail_to(c, port);
            extra(c);
        }),
        ..Default::default()
    })
    .await
}

async fn server(sink: &SmtpSink) -> TestServer {
    server_with(sink, |_| {}).await
}

/// Waits until the outbox has finished every job queued so far (sent, given up or nothing to send).
async fn outbox_idle(s: &TestServer) {
    for _ in 0..6000 {
        if s.state.mail.pending() == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the outbox did not finish");
}

/// Asks for a reset link for `login` in `ua`; returns the answer.
async fn forgot(ua: &UserAgent, login: &str) -> Res {
    let page = ua.get("/password/forgot").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_html_headers(&page, "forgot form");
    ua.post("/password/forgot", &[("csrf_token", &page.field("csrf_token")), ("login", login)]).await
}

fn reset_link(s: &TestServer, m: &Received) -> String {
    let link = m.link(&s.url("/password/reset?token=")).unwrap_or_else(|| panic!("no link in {}", m.text()));
    link.strip_prefix(&s.base).unwrap().to_owned()
}

/// Sets a password from the link's form in `ua`.
async fn set_password(ua: &UserAgent, link: &str, new: &str) -> Res {
    let form = ua.get(link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_html_headers(&form, "reset form");
    ua.post(
        "/password/reset",
        &[
            ("csrf_token", &form.field("csrf_token")),
            ("token", &form.field("token")),
            ("new_password", new),
            ("new_password2", new),
        ],
    )
    .await
}

/// Signs in through the login page and the code flow of the confidential client `web`;
/// returns the token response.
async fn sign_in(s: &TestServer, secret: &str, user: &str, pw: &str, scope: &str) -> serde_json::Value {
    let ua = UserAgent::new(&s.base);
    let req = AuthReq::new("web", WEB_CB, scope);
    let code = code_via(s, &ua, &req, user, pw).await;
    tokens(s, &req, &code, Some(secret)).await
}

/// The login page's answer to `user`/`pw` for a fresh request (200 with the error, or 303).
async fn try_password(s: &TestServer, user: &str, pw: &str) -> Res {
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&AuthReq::new("web", WEB_CB, "openid").url()).await;
    let (rid, csrf) = login_form(&ua, &r).await;
    ua.post("/login", &[("request_id", &rid), ("csrf_token", &csrf), ("username", user), ("password", pw)]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn password_reset_by_mail_end_to_end_single_use_and_sessions_end() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    let secret = fixtures(&s).await;
    // alice is signed in somewhere before the reset.
    let before = UserAgent::new(&s.base);
    let _ = drive(&before, &AuthReq::new("pub", PUB_CB, "openid").url(), "alice", ALICE_PW).await;
    assert_eq!(before.get("/account/password").await.status, 200, "signed in");
    let rt = sign_in(&s, &secret, "alice", ALICE_PW, "openid offline_access").await["refresh_token"].clone();

    // The login page offers the reset; the form asks; the answer is the generic one.
    let login = try_password(&s, "alice", "not-her-password").await;
    assert!(login.body.contains("href=\"/password/forgot\""), "{}", login.body);
    let ua = UserAgent::new(&s.base);
    let r = forgot(&ua, "ALICE@example.com").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("If an account exists"), "{}", r.body);

    let m = sink.next().await;
    assert_eq!(m.to, vec!["alice@example.com".to_owned()]);
    assert_eq!(m.from, "id@keycard.test");
    assert!(m.header("subject").unwrap().contains("Reset your Keycard password"), "{:?}", m.header("subject"));
    assert!(m.header("content-type").unwrap().contains("multipart/alternative"));
    let link = reset_link(&s, &m);
    assert!(m.text().contains("30 minutes"), "the lifetime is in the mail");

    // Mismatched and short passwords: the form again, the link still works.
    let form = ua.get(&link).await;
    assert!(form.body.contains("Choose a new password") && form.body.contains("alice"), "{}", form.body);
    let fields = |a: &str, b: &str| {
        vec![
            ("csrf_token".to_owned(), form.field("csrf_token")),
            ("token".to_owned(), form.field("token")),
            ("new_password".to_owned(), a.to_owned()),
            ("new_password2".to_owned(), b.to_owned()),
        ]
    };
    let post = |f: Vec<(String, String)>| {
        let ua = &ua;
        async move { ua.post("/password/reset", &f.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect::<Vec<_>>()).await }
    };
    let r = post(fields("new-password-1", "new-password-2")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("The two passwords differ."), "{}", r.body);
    let r = post(fields("short", "short")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("at least 8 characters"), "{}", r.body);
    let r = post(fields("new-password-1", "new-password-1")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your password was changed"), "{}", r.body);

    // The old password is refused, the new one signs in through a real code flow.
    let r = try_password(&s, "alice", ALICE_PW).await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("not correct"), "old password refused: {}", r.body);
    let t = sign_in(&s, &secret, "alice", "new-password-1", "openid").await;
    assert!(t["id_token"].is_string());

    // Every earlier session ended, and so did the refresh tokens (a reset means the old password
    // may be known to someone else).
    assert_eq!(before.get("/account/password").await.status, 403, "earlier session ended");
    let r = post_form(
        &s.url("/token"),
        Some(&basic("web", &secret)),
        &format!("grant_type=refresh_token&refresh_token={}", rt.as_str().unwrap()),
    )
    .await;
    r.assert_error(400, "invalid_grant");

    // The link works once: GET and POST afterwards are the invalid-link page.
    let again = ua.get(&link).await;
    assert_error_page(&again, "used link");
    assert!(again.body.contains("This link is not valid"), "{}", again.body);
    let r = post(fields("new-password-3", "new-password-3")).await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("This link is not valid"), "{}", r.body);
    assert!(try_password(&s, "alice", "new-password-3").await.body.contains("not correct"));

    // A forged or mangled token is the same page, before any lookup.
    for bad in ["kc_pr_x", "", "kc_pr_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "../../etc/passwd"] {
        let r = ua.get(&format!("/password/reset?token={}", enc(bad))).await;
        assert_error_page(&r, bad);
    }
    // Audited: the request (real users only) and the reset; no secret in the detail.
    let store = &s.state.store;
    assert_eq!(store.recent_events("password_reset_requested", 10).await.unwrap().len(), 1);
    let done = store.recent_events("password_reset", 10).await.unwrap();
    assert_eq!(done.len(), 1);
    assert!(!done[0].1.contains("kc_pr_"), "{done:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reset_link_expires_and_a_newer_link_retires_the_older() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    forgot(&ua, "alice").await;
    let first = reset_link(&s, &sink.next().await);
    forgot(&ua, "alice").await;
    let second = reset_link(&s, &sink.next().await);
    assert_ne!(first, second);
    assert_error_page(&ua.get(&first).await, "the older link is retired by the newer");
    assert_eq!(ua.get(&second).await.status, 200);

    // 30 minutes later the link is dead, for GET and for a form opened before.
    let form = ua.get(&second).await;
    s.clock.as_ref().unwrap().advance(30 * 60);
    assert_error_page(&ua.get(&second).await, "expired link");
    let r = ua
        .post(
            "/password/reset",
            &[
                ("csrf_token", &form.field("csrf_token")),
                ("token", &form.field("token")),
                ("new_password", "new-password-1"),
                ("new_password2", "new-password-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("This link is not valid"), "{}", r.body);
    assert!(try_password(&s, "alice", "new-password-1").await.body.contains("not correct"));
    s.stop().await;
}

/// SECURITY G8: unknown, disabled and address-less accounts get exactly the answer a real one
/// gets (status, headers that matter, body) and no mail; the request path does the same work
/// for all (it queues a job either way), measured and printed below.
#[tokio::test(flavor = "multi_thread")]
async fn g8_forgot_answers_the_same_for_every_address_and_mails_only_real_users() {
    let sink = SmtpSink::start().await;
    let s = server_with(&sink, |c| {
        // The timing samples below ask many times; the throttles have their own test.
        c.mail.forgot_max_per_address = 1000;
        c.mail.forgot_max_per_ip = 1000;
    })
    .await;
    fixtures(&s).await;
    let admin = s.admin();
    let bob = admin.user("bob").await.unwrap();
    admin.set_user_disabled(bob, true).await.unwrap();
    admin.create_user("noaddress", None, None, None).await.unwrap();

    let ua = UserAgent::new(&s.base);
    let mut answers = Vec::new();
    for login in ["nobody@example.com", "bob", "noaddress", "alice"] {
        let r = forgot(&ua, login).await;
        answers.push((login, r.status, r.header("content-type").map(str::to_owned), r.body));
    }
    for (login, status, ct, body) in &answers[..3] {
        assert_eq!((status, ct, body), (&answers[3].1, &answers[3].2, &answers[3].3), "{login} vs alice");
    }
    // Only alice's mail comes; the outbox handles jobs in order, so once it is idle the others
    // were handled too, and sent nothing.
    let m = sink.next().await;
    assert_eq!(m.to, vec!["alice@example.com".to_owned()]);
    outbox_idle(&s).await;
    assert!(sink.try_next().await.is_none(), "no mail for unknown, disabled or address-less users");
    assert_eq!(s.state.store.recent_events("password_reset_requested", 10).await.unwrap().len(), 1);

    // Time class: answer times of a known and an unknown login, interleaved (printed, not
    // asserted: timing on a shared machine is noise; the request path does the same statements
    // for both by construction, and the lookup, link and mail happen in the outbox task).
    let ua = UserAgent::new(&s.base);
    let csrf = ua.get("/password/forgot").await.field("csrf_token");
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..15 {
        for (login, into) in [("alice", &mut known), ("nobody-else", &mut unknown)] {
            let t = std::time::Instant::now();
            let r = ua.post("/password/forgot", &[("csrf_token", &csrf), ("login", login)]).await;
            into.push(t.elapsed().as_micros());
            assert_eq!(r.status, 200, "request {i} for {login}");
        }
        sink.next().await; // alice's mail; the next pair starts with an idle outbox
        outbox_idle(&s).await;
    }
    known.sort();
    unknown.sort();
    eprintln!(
        "forgot answer time over 15 interleaved requests each: known median {} µs (p90 {}), unknown median {} µs (p90 {})",
        known[7], known[13], unknown[7], unknown[13]
    );
    s.stop().await;
}

/// The per-login throttle sends nothing more (same answer); the per-IP one answers 429.
#[tokio::test(flavor = "multi_thread")]
async fn forgot_requests_are_throttled_per_login_and_per_address() {
    let sink = SmtpSink::start().await;
    let s = server_with(&sink, |c| {
        c.mail.forgot_max_per_address = 2;
        c.mail.forgot_max_per_ip = 4;
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    for _ in 0..3 {
        let r = forgot(&ua, "alice").await;
        assert_eq!(r.status, 200);
        assert!(r.body.contains("If an account exists"));
    }
    sink.next().await;
    sink.next().await;
    outbox_idle(&s).await;
    assert!(sink.try_next().await.is_none(), "the third request sent nothing");
    let r = forgot(&ua, "bob").await;
    assert_eq!(r.status, 200, "4th from this address");
    let r = forgot(&ua, "bob").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    assert_html_headers(&r, "throttled forgot");
    s.stop().await;
}

/// SECURITY G1: every new form refuses a missing or wrong CSRF token, another browser's token
/// and a cross-site post with 403, and nothing happens.
#[tokio::test(flavor = "multi_thread")]
async fn g1_csrf_on_every_new_form() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    let secret = fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let other = UserAgent::new(&s.base);
    let _ = other.get("/password/forgot").await;

    // /password/forgot
    let page = ua.get("/password/forgot").await;
    let csrf = page.field("csrf_token");
    for fields in [vec![("login", "alice")], vec![("csrf_token", "x"), ("login", "alice")]] {
        let r = ua.post("/password/forgot", &fields).await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert_error_page(&r, "forgot without csrf");
    }
    let r = post_raw(&other, "/password/forgot", &jar(&other), &[("csrf_token", &csrf), ("login", "alice")], &[]).await;
    assert_eq!(r.status, 403, "another browser's token");
    let r = post_raw(
        &ua,
        "/password/forgot",
        &jar(&ua),
        &[("csrf_token", &csrf), ("login", "alice")],
        &[("origin", "https://evil.example")],
    )
    .await;
    assert_eq!(r.status, 403, "cross-site");
    outbox_idle(&s).await;
    assert!(sink.try_next().await.is_none(), "no refused request sent a mail");

    // /password/reset
    forgot(&ua, "alice").await;
    let link = reset_link(&s, &sink.next().await);
    let form = ua.get(&link).await;
    let token = form.field("token");
    let f = |csrf: &str| {
        vec![
            ("csrf_token".to_owned(), csrf.to_owned()),
            ("token".to_owned(), token.clone()),
            ("new_password".to_owned(), "new-password-1".to_owned()),
            ("new_password2".to_owned(), "new-password-1".to_owned()),
        ]
    };
    for csrf in ["", "x"] {
        let fields = f(csrf);
        let fields: Vec<_> =
            fields.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = ua.post("/password/reset", &fields).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let fields = f(&form.field("csrf_token"));
    let fields: Vec<_> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post_raw(&other, "/password/reset", &jar(&other), &fields, &[]).await;
    assert_eq!(r.status, 403, "another browser's token");
    let r = post_raw(&ua, "/password/reset", &jar(&ua), &fields, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(r.status, 403, "cross-site");
    assert_eq!(ua.get(&link).await.status, 200, "the refused posts did not use the link");

    // /account/password (bound to the session as well)
    let signed = UserAgent::new(&s.base);
    let _ = drive(&signed, &AuthReq::new("pub", PUB_CB, "openid").url(), "bob", BOB_PW).await;
    let page = signed.get("/account/password").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let good = [
        ("csrf_token", page.field("csrf_token")),
        ("current_password", BOB_PW.to_owned()),
        ("new_password", "bob-new-password".to_owned()),
        ("new_password2", "bob-new-password".to_owned()),
    ];
    let as_refs = |skip_csrf: bool, csrf: Option<&str>| -> Vec<(String, String)> {
        good.iter()
            .filter(|(k, _)| !(skip_csrf && *k == "csrf_token"))
            .map(|(k, v)| (k.to_string(), if *k == "csrf_token" { csrf.unwrap_or(v).to_owned() } else { v.clone() }))
            .collect()
    };
    for (skip, csrf) in [(true, None), (false, Some("x"))] {
        let fields = as_refs(skip, csrf);
        let fields: Vec<_> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let r = signed.post("/account/password", &fields).await;
        assert_eq!(r.status, 403, "{}", r.body);
    }
    let fields = as_refs(false, None);
    let fields: Vec<_> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let r = post_raw(&signed, "/account/password", &jar(&signed), &fields, &[("origin", "https://evil.example")]).await;
    assert_eq!(r.status, 403, "cross-site");
    // Without a session there is no form to post.
    let r = post_raw(&other, "/account/password", &jar(&other), &fields, &[]).await;
    assert_eq!(r.status, 403);
    assert!(try_password(&s, "bob", "bob-new-password").await.body.contains("not correct"), "nothing changed");
    let t = sign_in(&s, &secret, "bob", BOB_PW, "openid").await;
    assert!(t["access_token"].is_string());
    s.stop().await;
}

/// `/account/password`: the current password is checked, the other sessions end, this one and
/// the refresh tokens stay.
#[tokio::test(flavor = "multi_thread")]
async fn signed_in_password_change_ends_other_sessions_only() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    let secret = fixtures(&s).await;
    let here = UserAgent::new(&s.base);
    let elsewhere = UserAgent::new(&s.base);
    for ua in [&here, &elsewhere] {
        let _ = drive(ua, &AuthReq::new("pub", PUB_CB, "openid").url(), "alice", ALICE_PW).await;
    }
    let rt = sign_in(&s, &secret, "alice", ALICE_PW, "openid offline_access").await["refresh_token"].clone();
    let page = here.get("/account/password").await;
    assert_eq!(page.status, 200);
    assert_html_headers(&page, "account page");
    assert!(page.body.contains("Alice Liddell"), "{}", page.body);
    let change = |current: &str, new: &str, again: &str| {
        let (csrf, current, new, again) =
            (page.field("csrf_token"), current.to_owned(), new.to_owned(), again.to_owned());
        let here = &here;
        async move {
            here.post(
                "/account/password",
                &[
                    ("csrf_token", &csrf),
                    ("current_password", &current),
                    ("new_password", &new),
                    ("new_password2", &again),
                ],
            )
            .await
        }
    };
    let r = change("wrong-password", "alice-new-pw", "alice-new-pw").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("The current password is not correct."), "{}", r.body);
    let r = change(ALICE_PW, "alice-new-pw", "alice-new-px").await;
    assert!(r.body.contains("The two passwords differ."), "{}", r.body);
    let r = change(ALICE_PW, "alice-new-pw", "alice-new-pw").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your password was changed"));

    assert_eq!(here.get("/account/password").await.status, 200, "this session stays");
    assert_eq!(elsewhere.get("/account/password").await.status, 403, "the other session ended");
    let r = post_form(
        &s.url("/token"),
        Some(&basic("web", &secret)),
        &format!("grant_type=refresh_token&refresh_token={}", rt.as_str().unwrap()),
    )
    .await;
    assert_eq!(r.status, 200, "refresh tokens are kept: {}", r.body);
    assert!(try_password(&s, "alice", ALICE_PW).await.body.contains("not correct"));
    sign_in(&s, &secret, "alice", "alice-new-pw", "openid").await;
    assert_eq!(s.state.store.recent_events("password_changed", 10).await.unwrap().len(), 1);
    s.stop().await;
}

fn mailing(s: &TestServer) -> Mailing<'_> {
    Mailing {
        store: &s.state.store,
        hash_key: &s.state.secrets.hash_key,
        config: &s.state.config,
        pages: &s.state.pages,
        mailer: s.state.mail.mailer(),
        now: s.state.clock.now(),
    }
}

/// `keycard user invite`'s path: a user without a password cannot sign in; the mailed link sets
/// the first password (and verifies the address); then the user signs in.
#[tokio::test(flavor = "multi_thread")]
async fn invitation_mail_sets_the_first_password_then_sign_in() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    let secret = fixtures(&s).await;
    let carol = s.admin().create_user("carol", Some("carol@example.com"), Some("Carol"), None).await.unwrap();
    assert!(try_password(&s, "carol", "anything-at-all").await.body.contains("not correct"), "no password yet");
    let (_, mailed) = mailing(&s).send(&carol, LinkPurpose::Invite).await.unwrap().unwrap();
    assert!(mailed);
    let m = sink.next().await;
    assert_eq!(m.to, vec!["carol@example.com".to_owned()]);
    assert!(m.header("subject").unwrap().contains("Your Keycard account"));
    assert!(m.text().contains("7 days"));
    let link = reset_link(&s, &m);
    assert!(link.contains("token=kc_iv_"), "{link}");
    let ua = UserAgent::new(&s.base);
    assert!(ua.get(&link).await.body.contains("Choose your password"));
    let r = set_password(&ua, &link, "carol-password-1").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Your password is set"));
    assert_error_page(&ua.get(&link).await, "used invitation");
    let t = sign_in(&s, &secret, "carol", "carol-password-1", "openid email").await;
    let at = t["access_token"].as_str().unwrap();
    let info = send(http().get(s.url("/userinfo")).bearer_auth(at)).await.json();
    assert_eq!(info["email_verified"], true, "the invitation reached the address: {info}");
    assert_eq!(s.state.store.recent_events("user_invited", 10).await.unwrap().len(), 1);
    assert_eq!(s.state.store.recent_events("invitation_accepted", 10).await.unwrap().len(), 1);
    s.stop().await;
}

/// OIDC Core §5.1: the verification link flips `email_verified` in UserInfo (§5.3),
/// once; a link for an address the user no longer has verifies nothing.
#[tokio::test(flavor = "multi_thread")]
async fn verification_link_sets_email_verified_in_userinfo() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    let secret = fixtures(&s).await;
    let hash = keycard::admin::hash_password(&s.state.config, "dave-password-1").unwrap();
    let dave = s.admin().create_user("dave", Some("dave@example.com"), None, Some(hash)).await.unwrap();
    let userinfo = |t: serde_json::Value| {
        let at = t["access_token"].as_str().unwrap().to_owned();
        let url = s.url("/userinfo");
        async move { send(http().get(url).bearer_auth(at)).await.json() }
    };
    let t = sign_in(&s, &secret, "dave", "dave-password-1", "openid email").await;
    assert_eq!(userinfo(t).await["email_verified"], false);

    mailing(&s).send(&dave, LinkPurpose::VerifyEmail).await.unwrap();
    let m = sink.next().await;
    assert!(m.header("subject").unwrap().contains("Confirm your e-mail address"));
    let link = m.link(&s.url("/email/verify?token=")).expect("a verification link");
    let link = link.strip_prefix(&s.base).unwrap().to_owned();
    let ua = UserAgent::new(&s.base);
    let r = ua.get(&link).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_html_headers(&r, "verified page");
    assert!(r.body.contains("Your e-mail address is confirmed"));
    assert_error_page(&ua.get(&link).await, "verification link reused");
    let t = sign_in(&s, &secret, "dave", "dave-password-1", "openid email").await;
    assert_eq!(userinfo(t).await["email_verified"], true);

    // A new address is unverified again, and a link mailed to the old one does not verify it.
    mailing(&s).send(&dave, LinkPurpose::VerifyEmail).await.unwrap();
    let old_link = sink.next().await.link(&s.url("/email/verify?token=")).unwrap();
    let mut d = s.admin().user("dave").await.unwrap();
    d.email = Some("dave@new.example".into());
    let d = s.admin().save_user(d).await.unwrap();
    assert!(!d.email_verified);
    assert_error_page(&ua.get(old_link.strip_prefix(&s.base).unwrap()).await, "link for the old address");
    assert!(!s.admin().user("dave").await.unwrap().email_verified);
    s.stop().await;
}

/// A relay that refuses at first (451) gets the mail on a later attempt; no page waited for it.
#[tokio::test(flavor = "multi_thread")]
async fn a_temporary_smtp_failure_is_retried() {
    let sink = SmtpSink::start_failing(1).await;
    let s = server(&sink).await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    assert_eq!(forgot(&ua, "alice").await.status, 200);
    let m = sink.next().await;
    assert_eq!(m.to, vec!["alice@example.com".to_owned()]);
    assert_eq!(sink.answered.load(std::sync::atomic::Ordering::SeqCst), 2, "one refusal, one delivery");
    s.stop().await;
}

/// `sender = "file"` writes the message as an .eml file (development), with a working link.
#[tokio::test(flavor = "multi_thread")]
async fn file_sender_writes_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("mail");
    let o = out.clone();
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(move |c: &mut Config| {
            c.mail.sender = MailSender::File;
            c.mail.dir = Some(o);
        }),
        ..Default::default()
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    assert_eq!(forgot(&ua, "alice").await.status, 200);
    outbox_idle(&s).await;
    let files: Vec<_> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let data = std::fs::read_to_string(&files[0]).unwrap().replace('\n', "\r\n").replace("\r\r\n", "\r\n");
    let m = Received { from: String::new(), to: Vec::new(), data };
    let link = reset_link(&s, &m);
    assert_eq!(ua.get(&link).await.status, 200, "the link in the file works");
    s.stop().await;
}

/// With mail off there is no reset link on the login page and the form says so.
#[tokio::test(flavor = "multi_thread")]
async fn with_mail_off_password_reset_is_not_offered() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let login = try_password(&s, "alice", "x").await;
    assert!(!login.body.contains("/password/forgot"));
    let ua = UserAgent::new(&s.base);
    let page = ua.get("/password/forgot").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("not available"), "{}", page.body);
    assert!(!page.body.contains("<form"));
    s.stop().await;
}

/// The admin CLI: `user invite` refuses to create a user it cannot reach when mail is off (unless
/// `--print-link`), prints the link with `--print-link`, and mails it (here: the file sender);
/// `user create --email` mails a verification link.
#[test]
fn cli_invite_and_create_mail_or_print_their_links() {
    use common::cli::*;
    let dir = Dir::new();
    let cfg = dir.config("");
    let o = keycard(&cfg, &["user", "invite", "bob", "--email", "bob@example.com"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--print-link"), "{}", stderr(&o));
    assert!(!keycard(&cfg, &["user", "show", "bob"]).status.success(), "nobody was created");
    let o = keycard(&cfg, &["user", "invite", "bob", "--email", "bob@example.com", "--print-link"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("http://127.0.0.1:8080/password/reset?token=kc_iv_"), "{out}");
    assert_eq!(ok_json(&keycard(&cfg, &["user", "show", "bob", "--json"]))["email_verified"], false);

    let maildir = dir.path().join("outbox");
    let cfg = dir.config(&format!("[mail]\nsender = \"file\"\ndir = {:?}\n", maildir.display().to_string()));
    let o = keycard(&cfg, &["user", "invite", "carol", "--email", "carol@example.com", "--name", "Carol"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("invitation mailed to carol@example.com"));
    let o = keycard_stdin(
        &cfg,
        &["user", "create", "--username", "dan", "--email", "dan@example.com", "--password-stdin"],
        "dan-password-1\n",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // An address change: unverified, and a confirmation link goes to the new address.
    let o = keycard_stdin(&cfg, &["user", "set-email", "dan", "dan@new.example"], "");
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = ok_json(&keycard(&cfg, &["user", "show", "dan", "--json"]));
    assert_eq!(
        (shown["email"].as_str(), &shown["email_verified"]),
        (Some("dan@new.example"), &serde_json::json!(false))
    );
    assert!(!keycard(&cfg, &["user", "set-email", "dan", "not-an-address"]).status.success());
    let mails: Vec<String> = std::fs::read_dir(&maildir)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap().replace("=\r\n", "").replace("=\n", ""))
        .collect();
    assert_eq!(mails.len(), 3);
    assert!(mails.iter().any(|m| m.contains("To: carol@example.com") && m.contains("kc_iv_")), "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("To: dan@example.com") && m.contains("kc_ev_")), "{mails:?}");
    assert!(mails.iter().any(|m| m.contains("To: dan@new.example") && m.contains("kc_ev_")), "{mails:?}");
    // The 8-character rule is the one the pages use.
    let o = keycard_stdin(&cfg, &["user", "create", "--username", "eve", "--password-stdin"], "short\n");
    assert!(stderr(&o).contains("at least 8 characters"), "{}", stderr(&o));
}

/// A signed-in user with an unconfirmed address asks for a new link from the account page
/// (CSRF-protected like every form); the link confirms it and the offer goes away.
#[tokio::test(flavor = "multi_thread")]
async fn signed_in_user_resends_the_verification_link() {
    let sink = SmtpSink::start().await;
    let s = server(&sink).await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let _ = drive(&ua, &AuthReq::new("pub", PUB_CB, "openid").url(), "bob", BOB_PW).await;
    let page = ua.get("/account/password").await;
    assert!(page.body.contains("is not confirmed yet") && page.body.contains("bob@example.com"), "{}", page.body);
    assert!(page.body.contains("action=\"/email/verify\""));
    let r = ua.post("/email/verify", &[("csrf_token", "x")]).await;
    assert_eq!(r.status, 403, "G1: {}", r.body);
    let r = post_raw(
        &ua,
        "/email/verify",
        &jar(&ua),
        &[("csrf_token", &page.field("csrf_token"))],
        &[("origin", EVIL.trim_end_matches('/'))],
    )
    .await;
    assert_eq!(r.status, 403, "G1 cross-site");
    let r = ua.post("/email/verify", &[("csrf_token", &page.field("csrf_token"))]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Check your mail"));
    let m = sink.next().await;
    assert_eq!(m.to, vec!["bob@example.com".to_owned()]);
    let link = m.link(&s.url("/email/verify?token=")).unwrap();
    assert_eq!(ua.get(link.strip_prefix(&s.base).unwrap()).await.status, 200);
    assert!(s.admin().user("bob").await.unwrap().email_verified);
    assert!(!ua.get("/account/password").await.body.contains("is not confirmed yet"));
    s.stop().await;
}

/// `tls = "starttls"` requires STARTTLS (RFC 3207 §4): against a relay that does not offer it,
/// nothing is sent in clear; the mail is given up and logged, and the page answered as usual.
#[tokio::test(flavor = "multi_thread")]
async fn starttls_is_required_never_downgraded() {
    let sink = SmtpSink::start().await;
    let s = server_with(&sink, |c| {
        c.mail.smtp.tls = SmtpTls::Starttls;
        c.mail.attempts = 1;
    })
    .await;
    fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    assert_eq!(forgot(&ua, "alice").await.status, 200);
    outbox_idle(&s).await;
    assert!(sink.try_next().await.is_none(), "no mail over a connection without TLS");
    assert_eq!(sink.answered.load(std::sync::atomic::Ordering::SeqCst), 0, "no DATA was sent");
    s.stop().await;
}
