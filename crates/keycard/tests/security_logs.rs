//! SECURITY I7 (RFC 6819 §4.6.7, OAuth 2.1 §7.1.3.7): no secret ever reaches a log line. With
//! every event of every crate captured at TRACE level (text and JSON, through
//! `keycard::testing::capture_logs`), a run of sign-in with a password (including a wrong one),
//! the code flow, refresh (with reuse), client credentials, the device flow, introspection,
//! revocation, UserInfo and a password reset by mail (through the `log` mail sender) must leave
//! no trace of any secret it saw or sent: passwords, client secrets and their Basic header, codes,
//! PKCE verifiers, access, refresh and ID tokens, device and user codes, session, browser and
//! CSRF values, mailed links — nor any 16-character piece of one.
//! This binary holds only this test: the capture is process-global.

mod common;

use base64::Engine as _;
use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use std::collections::HashSet;

const DEVICE_GRANT: &str = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";

#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    /// A refresh token `kc_rt_<grant id>.<generation>.<random>`: the grant id is an identifier
    /// (it is in every access token as `gid` and in log lines about the grant), so only the
    /// whole token and its random part are secret.
    fn add_refresh_token(&mut self, what: &str, value: &str) {
        let random = value.rsplit('.').next().unwrap();
        assert!(random.len() >= 22, "{value}");
        self.add(&format!("{what} (random part)"), random);
        self.0.push((format!("{what} (whole)"), format!("\0{value}")));
    }

    fn add(&mut self, what: &str, value: &str) {
        assert!(!value.is_empty(), "{what} is empty");
        self.0.push((what.to_owned(), value.to_owned()));
        let enc: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
        if enc != value {
            self.0.push((format!("{what} (form-encoded)"), enc));
        }
        self.0.push((format!("{what} (base64)"), base64::engine::general_purpose::STANDARD.encode(value)));
    }

    /// Every secret (and its encodings) that appears whole, or by any 16-byte window, in `log`.
    fn leaks(&self, log: &str) -> Vec<String> {
        const W: usize = 16;
        let mut windows: std::collections::HashMap<&[u8], &str> = Default::default();
        let mut found = Vec::new();
        for (what, v) in &self.0 {
            if let Some(whole) = v.strip_prefix('\0') {
                if log.contains(whole) {
                    found.push(format!("{what} appears whole"));
                }
                continue;
            }
            if v.len() < W {
                if log.contains(v.as_str()) {
                    found.push(format!("{what} appears whole"));
                }
                continue;
            }
            for w in v.as_bytes().windows(W) {
                windows.insert(w, what);
            }
        }
        let mut hit: HashSet<&str> = HashSet::new();
        for (i, w) in log.as_bytes().windows(W).enumerate() {
            if let Some(what) = windows.get(w)
                && hit.insert(what)
            {
                let line_start = log[..i].rfind('\n').map_or(0, |p| p + 1);
                let line_end = log[i..].find('\n').map_or(log.len(), |p| i + p);
                found.push(format!("{what}: {:.400}", &log[line_start..line_end]));
            }
        }
        found
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn i7_no_secret_in_trace_logs_for_login_code_refresh_device_flows() {
    let logs = keycard::testing::capture_logs();
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut keycard::config::Config| c.mail.sender = keycard::config::MailSender::Log),
        ..Default::default()
    })
    .await;
    let (web, web_secret) = code_flow_fixtures(&s).await;
    let (cc, cc_secret) = s.cc_client("svc-logs", &[]).await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "offline_access".into()],
        ..Default::default()
    })
    .await;
    let mut secrets = Secrets::default();
    secrets.add("alice's password", "alice-password-1");
    secrets.add("web client secret", &web_secret);
    secrets.add("cc client secret", &cc_secret);
    secrets.add("web Basic credentials", &basic(&web, &web_secret));
    secrets.add("cc Basic credentials", &basic(&cc, &cc_secret));

    // A wrong password first (the failure path logs too), then the code flow.
    let ua = UserAgent::new(&s.base);
    let (verifier, challenge) = pkce();
    secrets.add("PKCE verifier", &verifier);
    let authorize = format!(
        "/authorize?response_type=code&client_id={web}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
         &scope=openid+profile+offline_access&state=st4te-value&nonce=n0nce-value&code_challenge={challenge}&code_challenge_method=S256"
    );
    let first = ua.get(&authorize).await;
    let login = ua.get(&first.location()).await;
    secrets.add("login CSRF token", &login.field("csrf_token"));
    let wrong_password = "wrong-password-Zq8xP3vT";
    secrets.add("wrong password", wrong_password);
    let r = ua
        .post(
            "/login",
            &[
                ("request_id", &login.field("request_id")),
                ("csrf_token", &login.field("csrf_token")),
                ("username", "alice"),
                ("password", wrong_password),
            ],
        )
        .await;
    assert!(r.status < 500, "{}", r.body);
    let back = authorize_in(&ua, &authorize, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    secrets.add("authorization code", &code);
    // `web` is registered for client_secret_basic, the only method it may use (issue 14 item 9).
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!(
            "grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb\
             &code_verifier={verifier}"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let (at, rt, id_token) = (
        j["access_token"].as_str().unwrap().to_owned(),
        j["refresh_token"].as_str().unwrap().to_owned(),
        j["id_token"].as_str().unwrap().to_owned(),
    );
    secrets.add("access token", &at);
    secrets.add_refresh_token("refresh token", &rt);
    secrets.add("ID token", &id_token);
    for (name, value) in ua.cookies() {
        secrets.add(&format!("cookie {name}"), &value);
    }

    // UserInfo, introspection, refresh rotation and reuse, revocation.
    let r = send(http().get(s.url("/userinfo")).header("authorization", format!("Bearer {at}"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_form(&s.url("/introspect"), Some(&basic(&web, &web_secret)), &format!("token={at}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    let rt2 = j["refresh_token"].as_str().unwrap().to_owned();
    secrets.add_refresh_token("rotated refresh token", &rt2);
    secrets.add("refreshed access token", j["access_token"].as_str().unwrap());
    if let Some(id2) = j["id_token"].as_str() {
        secrets.add("refreshed ID token", id2);
    }
    // Reuse of the first refresh token revokes the family (and is logged as an incident).
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    assert_eq!(r.status, 400);
    let r = post_form(&s.url("/revoke"), Some(&basic(&web, &web_secret)), &format!("token={rt2}")).await;
    assert_eq!(r.status, 200);
    // The code again: a replay, logged as an incident (it revokes what the code gave).
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!("grant_type=authorization_code&code={code}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb&code_verifier={verifier}"),
    )
    .await;
    assert_eq!(r.status, 400);
    // A wrong client secret.
    let wrong_secret = "kc_cs_wrongwrongwrongwrongwrong";
    secrets.add("wrong client secret", wrong_secret);
    assert_eq!(cc_token(&s, &cc, wrong_secret, None).await.status, 401);
    let r = cc_token(&s, &cc, &cc_secret, None).await;
    assert_eq!(r.status, 200);
    secrets.add("client credentials token", r.json()["access_token"].as_str().unwrap());

    // The device flow: authorization, a pending poll, the user's approval, the redemption.
    let r = post_form(&s.url("/device_authorization"), None, "client_id=tv&scope=openid+offline_access").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let d = r.json();
    let device_code = d["device_code"].as_str().unwrap().to_owned();
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    secrets.add("device code", &device_code);
    secrets.add("user code", &user_code);
    secrets.add("user code (no dash)", &user_code.replace('-', ""));
    let token_url = s.url("/token");
    let poll_body = format!("grant_type={DEVICE_GRANT}&device_code={device_code}&client_id=tv");
    let poll = || post_form(&token_url, None, &poll_body);
    assert_eq!(poll().await.status, 400);
    let ua2 = UserAgent::new(&s.base);
    let (_, done) = device_user_acts(&ua2, &user_code, "Living Room TV", "approve").await;
    assert!(done.status < 400, "{}", done.body);
    for (name, value) in ua2.cookies() {
        secrets.add(&format!("device browser cookie {name}"), &value);
    }
    let r = poll().await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    secrets.add("device access token", j["access_token"].as_str().unwrap());
    if let Some(t) = j["refresh_token"].as_str() {
        secrets.add_refresh_token("device refresh token", t);
    }
    // Account mails: a reset asked for on the page (the log sender logs that a mail went out,
    // never its link), then a link issued and "mailed" the same way, used to set a new password.
    let ua3 = UserAgent::new(&s.base);
    let page = ua3.get("/password/forgot").await;
    let r = ua3.post("/password/forgot", &[("csrf_token", &page.field("csrf_token")), ("login", "alice")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    while s.state.mail.pending() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let alice = s.admin().user("alice").await.unwrap();
    let mailing = keycard::people::verify::Mailing {
        store: &s.state.store,
        hash_key: &s.state.secrets.hash_key,
        config: &s.state.config,
        pages: &s.state.pages,
        mailer: s.state.mail.mailer(),
        now: s.state.clock.now(),
    };
    let (link, mailed) =
        mailing.send(&alice, keycard::people::links::LinkPurpose::ResetPassword).await.unwrap().unwrap();
    assert!(mailed);
    let token = link.url.split("token=").nth(1).unwrap().to_owned();
    secrets.add("reset link token", &token);
    let form = ua3.get(&format!("/password/reset?token={token}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    secrets.add("reset form csrf", &form.field("csrf_token"));
    let new_pw = "alice-new-secret-password";
    secrets.add("alice's new password", new_pw);
    let r = ua3
        .post(
            "/password/reset",
            &[
                ("csrf_token", &form.field("csrf_token")),
                ("token", &token),
                ("new_password", new_pw),
                ("new_password2", new_pw),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(logs.contents().contains("mail sent"), "the log sender logged the mails");

    // Sign-out (the session cookie is presented once more).
    let _ = ua.get("/logout").await;

    s.stop().await;
    let log = logs.contents();
    assert!(log.len() > 1000, "the capture works: {} bytes logged", log.len());
    assert!(log.contains("request"), "request log lines are captured");
    // The detector finds a 16-character piece of a secret, and a whole refresh token.
    assert!(!secrets.leaks(&format!("x={} y", &at[40..56])).is_empty());
    assert!(!secrets.leaks(&format!("x={rt2} y")).is_empty());
    let leaks = secrets.leaks(&log);
    assert!(leaks.is_empty(), "secrets in the logs:\n{}", leaks.join("\n"));
}
