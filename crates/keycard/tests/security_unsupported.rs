//! Features Keycard does not implement yet — DPoP (RFC 9449), fetched request URIs and token
//! exchange (RFC 8693) — must be refused safely, not half-honoured; and client assertions
//! (RFC 7523, built in tests/client_assertions.rs) never authenticate a client that is not
//! registered for them, nor one another way with the assertion ignored, and nothing their headers
//! name is fetched (SECURITY D4, D5). A DPoP proof never yields a token that claims to be
//! sender-constrained and metadata advertises none of it (SECURITY F1–F6), a `request_uri` is
//! never fetched (SECURITY A12; PAR itself is tests/par.rs), and the token-exchange grant is
//! `unsupported_grant_type` (SECURITY H4).
//! When one of these is built, its tests replace the ones here.

mod common;

use base64::Engine as _;
use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use serde_json::json;
use std::time::Duration;

const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

fn b64url(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// An unsigned or garbage-signed JWT with the given header and payload.
fn jwt(header: serde_json::Value, payload: serde_json::Value, sig: &str) -> String {
    format!("{}.{}.{sig}", b64url(&header), b64url(&payload))
}

/// A loopback TCP listener that counts connections (a `jku`/`x5u`/`request_uri` target).
async fn sink() -> (String, tokio::task::JoinHandle<usize>, tokio::sync::oneshot::Sender<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", l.local_addr().unwrap());
    let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut n = 0;
        loop {
            tokio::select! {
                r = l.accept() => { if r.is_ok() { n += 1; } }
                _ = &mut rx => return n,
            }
        }
    });
    (url, task, tx)
}

async fn fixtures(s: &TestServer) -> (String, String) {
    s.create_client(ClientSpec {
        id: Some("pub".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        redirect_uris: vec!["https://pub.example/cb".into()],
        ..Default::default()
    })
    .await;
    s.cc_client("conf", &[]).await
}

/// SECURITY D4, D5: assertions aimed at a `client_secret_basic` client, a public client or no
/// client at all are refused, whatever their header says; `jku`/`x5u` are never fetched.
#[tokio::test(flavor = "multi_thread")]
async fn d4_d5_assertions_for_clients_not_registered_for_them_never_authenticate_and_nothing_is_fetched() {
    // Wrong assertions count as failures of `conf` (SECURITY D2); this test sends many on purpose.
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut keycard::config::Config| c.login.client_max_failures = 10_000),
        ..Default::default()
    })
    .await;
    let (conf, secret) = fixtures(&s).await;
    let (sink_url, sink_task, stop) = sink().await;
    let token_url = s.url("/token");
    let now = s.state.clock.now();
    let claims = |sub: &str| json!({"iss": sub, "sub": sub, "aud": token_url, "exp": now + 300, "iat": now, "jti": format!("j{now}")});
    let assertions = [
        ("alg none", jwt(json!({"alg": "none"}), claims(&conf), "")),
        ("alg none, typ JWT", jwt(json!({"alg": "none", "typ": "JWT"}), claims(&conf), "")),
        ("HS256 garbage", jwt(json!({"alg": "HS256"}), claims(&conf), "c2lnbmF0dXJl")),
        ("jku to a loopback sink", jwt(json!({"alg": "RS256", "jku": sink_url}), claims(&conf), "c2ln")),
        ("x5u to a loopback sink", jwt(json!({"alg": "RS256", "x5u": sink_url}), claims(&conf), "c2ln")),
        (
            "embedded jwk",
            jwt(
                json!({"alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
                claims(&conf),
                "c2ln",
            ),
        ),
        ("kid injection", jwt(json!({"alg": "RS256", "kid": "x' OR '1'='1"}), claims(&conf), "c2ln")),
        ("kid path", jwt(json!({"alg": "RS256", "kid": "../../../../dev/null"}), claims(&conf), "c2ln")),
        ("not a JWT", "not-a-jwt".to_owned()),
    ];
    for (name, a) in &assertions {
        for client_id in [Some(conf.as_str()), Some("pub"), None] {
            let id = client_id.map(|c| format!("&client_id={c}")).unwrap_or_default();
            for grant in ["client_credentials", "authorization_code&code=kc_ac_x&code_verifier=x"] {
                let body =
                    format!("grant_type={grant}{id}&client_assertion_type={ASSERTION_TYPE}&client_assertion={a}");
                let r = post_form(&token_url, None, &body).await;
                r.assert_error(401, "invalid_client");
                assert!(r.json().get("access_token").is_none(), "{name}");
            }
        }
        // The assertion type alone, or the assertion alone, is refused the same way.
        post_form(&token_url, None, &format!("grant_type=client_credentials&client_id=pub&client_assertion={a}"))
            .await
            .assert_error(401, "invalid_client");
    }
    post_form(
        &token_url,
        None,
        &format!("grant_type=client_credentials&client_id=pub&client_assertion_type={ASSERTION_TYPE}"),
    )
    .await
    .assert_error(401, "invalid_client");
    // The secret still works for the client, by its registered method, after all of that: an
    // assertion never replaced it nor was ignored in its favour.
    let r = post_form(
        &token_url,
        Some(&basic(&conf, &secret)),
        &format!("grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion=x"),
    )
    .await;
    r.assert_error(400, "invalid_request");
    assert_eq!(cc_token(&s, &conf, &secret, None).await.status, 200);
    // Metadata advertises JWT client authentication, with no `none` among its algs.
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    let methods: Vec<&str> =
        meta["token_endpoint_auth_methods_supported"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    assert!(methods.contains(&"private_key_jwt") && methods.contains(&"client_secret_jwt"), "{methods:?}");
    let algs = meta["token_endpoint_auth_signing_alg_values_supported"].to_string();
    assert!(!algs.contains("none"), "{algs}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    assert_eq!(sink_task.await.unwrap(), 0, "Keycard connected to a jku/x5u URL from an assertion");
    s.stop().await;
}

/// DPoP is supported now (tests/dpop.rs has every check); what this file kept asserting still
/// holds in its new form: a proof that does not verify never yields a token (bound or not), and
/// the DPoP scheme at UserInfo with an unbound token is refused with a DPoP challenge.
#[tokio::test(flavor = "multi_thread")]
async fn f1_f6_unverified_dpop_proofs_yield_no_token_and_unbound_tokens_refuse_the_dpop_scheme() {
    let s = TestServer::start().await;
    let (conf, secret) = fixtures(&s).await;
    let proof = jwt(
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}}),
        json!({"htm": "POST", "htu": s.url("/token"), "iat": 0, "jti": "x"}),
        "c2ln",
    );
    let r = send(
        http()
            .post(s.url("/token"))
            .header("authorization", basic(&conf, &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", &proof)
            .body("grant_type=client_credentials"),
    )
    .await;
    r.assert_error(400, "invalid_dpop_proof");
    assert!(r.json().get("access_token").is_none());
    let j = cc_token(&s, &conf, &secret, None).await.json();
    assert_eq!(j["token_type"], "Bearer");
    let at = j["access_token"].as_str().unwrap();
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert!(meta["dpop_signing_alg_values_supported"].as_array().is_some_and(|a| !a.is_empty()), "{meta}");
    // An unbound token in the DPoP scheme: there is no key to check a proof against.
    for scheme in ["DPoP", "dpop"] {
        let r = send(
            http().get(s.url("/userinfo")).header("authorization", format!("{scheme} {at}")).header("dpop", &proof),
        )
        .await;
        assert_eq!(r.status, 401, "{}", r.body);
        let www = r.header("www-authenticate").expect("WWW-Authenticate");
        assert!(www.starts_with("DPoP") && www.contains("invalid_token"), "{www}");
    }
    s.stop().await;
}

/// SECURITY A12 (the PAR endpoint itself is tested in tests/par.rs): a `request_uri` that is not
/// one of Keycard's pushed-request URNs is never dereferenced, and metadata says so.
#[tokio::test(flavor = "multi_thread")]
async fn a12_request_uri_is_not_fetched() {
    let s = TestServer::start().await;
    fixtures(&s).await;
    let meta = send(http().get(s.url("/.well-known/oauth-authorization-server"))).await.json();
    assert_eq!(meta["request_uri_parameter_supported"], false, "{meta}");
    // A request_uri pointing at a loopback sink is never dereferenced.
    let (sink_url, sink_task, stop) = sink().await;
    let (_, challenge) = pkce();
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    for extra in [
        format!("&request_uri={}", enc(&sink_url)),
        format!("&request_uri={}", enc("urn:ietf:params:oauth:request_uri:x")),
    ] {
        let r = send(http().get(s.url(&format!(
            "/authorize?response_type=code&client_id=pub&redirect_uri=https%3A%2F%2Fpub.example%2Fcb&state=s\
             &code_challenge={challenge}&code_challenge_method=S256{extra}"
        ))))
        .await;
        assert!(r.status < 500, "{} {}", r.status, r.body);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = stop.send(());
    assert_eq!(sink_task.await.unwrap(), 0, "Keycard fetched a request_uri");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn h4_token_exchange_is_unsupported_grant_type() {
    let s = TestServer::start().await;
    let (conf, secret) = fixtures(&s).await;
    let at = cc_token(&s, &conf, &secret, None).await.json()["access_token"].as_str().unwrap().to_owned();
    for (auth, id) in [(Some(basic(&conf, &secret)), ""), (None, "&client_id=pub")] {
        let r = post_form(
            &s.url("/token"),
            auth.as_deref(),
            &format!(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token={at}\
                 &subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token{id}"
            ),
        )
        .await;
        // With valid client credentials the grant type is what fails; a public client is refused
        // at the grant type too (it never gets a token for someone else's subject token).
        r.assert_error(400, "unsupported_grant_type");
    }
    let meta = send(http().get(s.url("/.well-known/oauth-authorization-server"))).await.json();
    let grants = meta["grant_types_supported"].as_array().unwrap();
    assert!(!grants.iter().any(|g| g.as_str().unwrap().contains("token-exchange")), "{grants:?}");
    s.stop().await;
}
