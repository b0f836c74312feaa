//! SECURITY I5 (OAuth 2.1 §7.12): SQL-injection payloads in every parameter that reaches a
//! query — client_id (Basic and body), username, login_hint, scope, state, code, refresh token,
//! device code, token (introspection, revocation, UserInfo) — get an ordinary answer (4xx, or
//! the normal page/redirect), quickly (no `pg_sleep` effect), and leave the schema and data
//! unchanged (the clients still work afterwards); on SQLite and on PostgreSQL.

mod common;

use common::*;
use keycard::store::conformance::TestDb;
use std::time::{Duration, Instant};

const PAYLOADS: [&str; 6] =
    ["' OR '1'='1", "1;DROP TABLE clients--", "'; SELECT pg_sleep(5)--", "%27", "a\0b", "\")--"];

/// Well below the 5 s of `pg_sleep(5)`, above a debug-build argon2 sign-in on a loaded machine.
const QUICK: Duration = Duration::from_secs(3);

fn enc(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// RFC 6749 Appendix A: no parameter's syntax admits NUL, so a form body with one is malformed
/// (400 `invalid_request`) before any lookup; other payloads get the endpoint's own error.
fn assert_refused(r: &Res, payload: &str, status: u16, code: &str) {
    if payload.contains('\0') {
        r.assert_error(400, "invalid_request");
    } else {
        r.assert_error(status, code);
    }
}

async fn timed<F: std::future::Future<Output = Res>>(what: &str, f: F) -> Res {
    let started = Instant::now();
    let r = f.await;
    let took = started.elapsed();
    assert!(r.status < 500, "{what}: {} {}", r.status, r.body);
    assert!(took < QUICK, "{what}: took {took:?}");
    r
}

async fn run(s: TestServer) {
    let (web, web_secret) = code_flow_fixtures(&s).await;
    let (cc, cc_secret) = s.cc_client("svc", &[]).await;
    let clients_before = s.state.store.list_clients().await.unwrap().len();
    let token = s.url("/token");
    let web_auth = basic(&web, &web_secret);
    let (_, challenge) = pkce();
    for p in PAYLOADS {
        let e = enc(p);
        let r = timed(
            &format!("Basic client_id {p:?}"),
            post_form(&token, Some(&basic(p, "x")), "grant_type=client_credentials"),
        )
        .await;
        r.assert_error(401, "invalid_client");
        let r = timed(
            &format!("body client_id {p:?}"),
            post_form(&token, None, &format!("grant_type=client_credentials&client_id={e}&client_secret={e}")),
        )
        .await;
        assert_refused(&r, p, 401, "invalid_client");
        let r = timed(
            &format!("public client_id {p:?}"),
            post_form(
                &token,
                None,
                &format!("grant_type=authorization_code&client_id={e}&code=kc_ac_x&code_verifier=x"),
            ),
        )
        .await;
        assert_refused(&r, p, 401, "invalid_client");
        let r = timed(
            &format!("scope {p:?}"),
            post_form(&token, Some(&basic(&cc, &cc_secret)), &format!("grant_type=client_credentials&scope={e}")),
        )
        .await;
        assert!(matches!(r.status, 400), "{}", r.body);
        for body in [
            format!(
                "grant_type=authorization_code&code={e}&code_verifier={e}&redirect_uri=https%3A%2F%2Fweb.example%2Fcb"
            ),
            format!("grant_type=authorization_code&code=kc_ac_{e}&code_verifier=x"),
            format!("grant_type=refresh_token&refresh_token={e}"),
            format!("grant_type=refresh_token&refresh_token=kc_rt_{e}.1.{e}"),
            format!("grant_type=refresh_token&refresh_token=kc_rt_x.{e}.y"),
        ] {
            let r = timed(&body, post_form(&token, Some(&web_auth), &body)).await;
            assert_eq!(r.status, 400, "{body}: {}", r.body);
        }
        let r = timed(
            &format!("device_code {p:?}"),
            post_form(
                &token,
                None,
                &format!(
                    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=spa&device_code={e}"
                ),
            ),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        let r = timed("introspect", post_form(&s.url("/introspect"), Some(&web_auth), &format!("token={e}"))).await;
        if p.contains('\0') {
            r.assert_error(400, "invalid_request");
        } else {
            assert_eq!((r.status, r.json()["active"].clone()), (200, serde_json::json!(false)), "{}", r.body);
        }
        let r = timed("revoke", post_form(&s.url("/revoke"), Some(&web_auth), &format!("token={e}"))).await;
        assert_eq!(r.status, if p.contains('\0') { 400 } else { 200 }, "{}", r.body);
        if !p.contains(['\0', ' ']) {
            let r =
                timed("userinfo", send(http().get(s.url("/userinfo")).header("authorization", format!("Bearer {p}"))))
                    .await;
            assert!(matches!(r.status, 400 | 401), "{}", r.body);
        }
        // The authorization endpoint: unknown client (error page), and payloads in state,
        // login_hint, nonce and scope of a valid request (the ordinary flow or error redirect).
        let r = timed(
            "authorize client_id",
            send(http().get(s.url(&format!(
                "/authorize?response_type=code&client_id={e}&redirect_uri=https%3A%2F%2Fspa.example%2Fcb"
            )))),
        )
        .await;
        assert_eq!(r.status, 400, "{}", r.body);
        for extra in [format!("&state={e}&login_hint={e}&nonce={e}&scope=openid"), format!("&state=s&scope={e}")] {
            let r = timed(
                &extra,
                send(http().get(s.url(&format!(
                    "/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb\
                     &code_challenge={challenge}&code_challenge_method=S256{extra}"
                )))),
            )
            .await;
            assert!(matches!(r.status, 302 | 303 | 400), "{extra}: {} {}", r.status, r.body);
        }
        // The sign-in form: the payload as username (and as login_hint, which fills it in;
        // with a NUL the authorization request itself is malformed, tested above).
        let ua = UserAgent::new(&s.base);
        let hint = if p.contains('\0') { String::new() } else { format!("&login_hint={e}") };
        let first = ua
            .get(&format!(
                "/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=openid\
                 &state=s&code_challenge={challenge}&code_challenge_method=S256{hint}"
            ))
            .await;
        let page = ua.get(&first.location()).await;
        let fields = [
            ("request_id", page.field("request_id")),
            ("csrf_token", page.field("csrf_token")),
            ("username", p.to_owned()),
            ("password", p.to_owned()),
        ];
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = timed(&format!("login username {p:?}"), ua.post("/login", &fields)).await;
        assert!(!(r.status == 303 && r.location().starts_with("https://spa.example")), "signed in with {p:?}");
        let r = timed("device user_code", ua.get(&format!("/device?user_code={e}"))).await;
        assert!(r.status < 500);
    }
    // Nothing changed: the same clients, and they still work.
    assert_eq!(s.state.store.list_clients().await.unwrap().len(), clients_before);
    let r = cc_token(&s, &cc, &cc_secret, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ua = UserAgent::new(&s.base);
    let back = authorize_in(
        &ua,
        &format!(
            "/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=openid\
             &state=s&code_challenge={challenge}&code_challenge_method=S256"
        ),
        "alice",
        "alice-password-1",
    )
    .await;
    assert!(query_of(&back).contains_key("code"), "{back}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i5_sql_injection_payloads_are_ordinary_input_on_sqlite() {
    run(TestServer::start().await).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i5_sql_injection_payloads_are_ordinary_input_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    run(TestServer::start_with(TestOptions { db: Some(db), ..Default::default() }).await).await;
}
