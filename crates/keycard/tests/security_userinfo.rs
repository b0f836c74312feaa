//! SECURITY E2 / E3 at Keycard's own resource, `/userinfo` (OpenID Connect Core §5.3): every
//! JWT presented back is validated strictly (RFC 8725 §3.1–3.2, §3.8–3.11; RFC 9068 §4) and a
//! refusal is 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3, §3.1):
//! `alg: none`, a stripped signature, a modified payload, an unknown `kid`, tokens signed with
//! Keycard's own key but expired, without `exp`, for another issuer or audience, or of another
//! type (an ID token used as a bearer token, E3), and a token sent in the query string
//! (OAuth 2.1 §5.1; SECURITY I7).

mod common;

use base64::Engine as _;
use common::*;
use keycard::jose::Alg;
use serde_json::{Value, json};

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// A fresh user access token and ID token for alice through the public `spa` client.
async fn user_tokens(s: &TestServer) -> (String, String) {
    code_flow_fixtures(s).await;
    let ua = UserAgent::new(&s.base);
    let (verifier, challenge) = pkce();
    let back = authorize_in(
        &ua,
        &format!(
            "/authorize?response_type=code&client_id=spa&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&scope=openid+profile\
             &state=s&nonce=n&code_challenge={challenge}&code_challenge_method=S256"
        ),
        "alice",
        "alice-password-1",
    )
    .await;
    let code = query_of(&back)["code"].clone();
    let r = post_form(
        &s.url("/token"),
        None,
        &format!(
            "grant_type=authorization_code&client_id=spa&code={code}&redirect_uri=https%3A%2F%2Fspa.example%2Fcb&code_verifier={verifier}"
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    (j["access_token"].as_str().unwrap().to_owned(), j["id_token"].as_str().unwrap().to_owned())
}

async fn userinfo(s: &TestServer, token: &str) -> Res {
    send(http().get(s.url("/userinfo")).header("authorization", format!("Bearer {token}"))).await
}

fn assert_invalid_token(r: &Res, what: &str) {
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    let www = r.header("www-authenticate").unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    assert!(www.starts_with("Bearer ") && www.contains("error=\"invalid_token\""), "{what}: {www}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
}

/// Re-signs `claims` with the server's own active key for `alg`, with header `typ`.
fn sign(s: &TestServer, alg: Alg, typ: &str, claims: &Value) -> String {
    s.state.keys.snapshot().signer(alg).expect("active key").sign_jwt(typ, claims).expect("sign")
}

#[tokio::test(flavor = "multi_thread")]
async fn e2_tampered_and_forged_jwts_are_invalid_token() {
    let s = TestServer::start().await;
    let (at, _) = user_tokens(&s).await;
    assert_eq!(userinfo(&s, &at).await.status, 200, "the genuine token works");
    let (header, claims) = jwt_parts(&at);
    let parts: Vec<&str> = at.split('.').collect();
    let enc = |v: &Value| b64(v.to_string().as_bytes());
    let with_header = |f: &dyn Fn(&mut Value)| {
        let mut h = header.clone();
        f(&mut h);
        format!("{}.{}.{}", enc(&h), parts[1], parts[2])
    };
    let with_claims = |f: &dyn Fn(&mut Value)| {
        let mut c = claims.clone();
        f(&mut c);
        c
    };
    let now = s.state.clock.now();
    let alg: Alg = serde_json::from_value(header["alg"].clone()).unwrap();
    let typ = header["typ"].as_str().unwrap();
    let cases: Vec<(&str, String)> = vec![
        ("alg none, no signature", format!("{}.{}.", enc(&json!({"alg": "none", "typ": typ})), parts[1])),
        (
            "alg none with the kid",
            with_header(&|h| h["alg"] = json!("none")).rsplit_once('.').unwrap().0.to_owned() + ".",
        ),
        ("alg switched to HS256", with_header(&|h| h["alg"] = json!("HS256"))),
        ("stripped signature", format!("{}.{}.", parts[0], parts[1])),
        ("two segments", format!("{}.{}", parts[0], parts[1])),
        (
            "modified payload (scope)",
            format!("{}.{}.{}", parts[0], enc(&with_claims(&|c| c["scope"] = json!("openid profile email"))), parts[2]),
        ),
        (
            "modified payload (sub)",
            format!("{}.{}.{}", parts[0], enc(&with_claims(&|c| c["sub"] = json!("usr_someone_else"))), parts[2]),
        ),
        ("unknown kid", with_header(&|h| h["kid"] = json!("es256-0-nope"))),
        ("no kid", with_header(&|h| _ = h.as_object_mut().unwrap().remove("kid"))),
        ("injected kid", with_header(&|h| h["kid"] = json!("x' OR '1'='1"))),
        ("unknown crit header", with_header(&|h| h["crit"] = json!(["exp"]))),
        ("expired (signed by Keycard)", sign(&s, alg, typ, &with_claims(&|c| c["exp"] = json!(now - 1)))),
        (
            "no exp (signed by Keycard)",
            sign(&s, alg, typ, &with_claims(&|c| _ = c.as_object_mut().unwrap().remove("exp"))),
        ),
        (
            "wrong iss (signed by Keycard)",
            sign(&s, alg, typ, &with_claims(&|c| c["iss"] = json!("https://evil.example"))),
        ),
        (
            "wrong aud (signed by Keycard)",
            sign(&s, alg, typ, &with_claims(&|c| c["aud"] = json!("https://evil.example"))),
        ),
        ("typ JWT (signed by Keycard)", sign(&s, alg, "JWT", &claims)),
        ("not base64", "!!!.???.***".to_owned()),
    ];
    for (what, token) in &cases {
        assert_invalid_token(&userinfo(&s, token).await, what);
    }
    // POST /userinfo is checked the same way.
    let r =
        send(http().post(s.url("/userinfo")).header("authorization", format!("Bearer {}", cases[0].1)).body("")).await;
    assert_invalid_token(&r, "POST alg none");
    assert_eq!(userinfo(&s, &at).await.status, 200, "the genuine token still works");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn e3_id_token_is_not_a_bearer_token() {
    let s = TestServer::start().await;
    let (_, id_token) = user_tokens(&s).await;
    let (h, _) = jwt_parts(&id_token);
    assert_ne!(h["typ"], "at+jwt");
    assert_invalid_token(&userinfo(&s, &id_token).await, "ID token as bearer");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i7_e2_access_token_in_query_is_refused() {
    let s = TestServer::start().await;
    let (at, _) = user_tokens(&s).await;
    let r = send(http().get(s.url(&format!("/userinfo?access_token={at}")))).await;
    assert_invalid_token(&r, "query access_token");
    assert!(!r.body.contains(&at[..20]), "the token is not echoed");
    let r = send(http().post(s.url(&format!("/userinfo?access_token={at}"))).body("")).await;
    assert_invalid_token(&r, "query access_token (POST)");
    s.stop().await;
}
