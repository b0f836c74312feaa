//! Client authentication with JWT assertions (RFC 7523 §2.2 and §3, OpenID Connect Core §9:
//! `private_key_jwt`, `client_secret_jwt`) end to end with the `oauth2` crate as the client, at
//! /token (client_credentials, authorization code, refresh, device code), /introspect, /revoke
//! and /device_authorization, on SQLite and PostgreSQL; one negative test per check (SECURITY
//! D4, D5); and the `jwks_uri` fetcher against a local server (rotation, size limit, timeout,
//! redirect, garbage).

mod assertion_support;
mod common;

use assertion_support::*;
use common::*;
use keycard::config::Config;
use keycard::model::AuthMethod;
use keycard::store::conformance::TestDb;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthorizationCode, ClientId, DeviceAuthorizationUrl, IntrospectionUrl, PkceCodeVerifier, RedirectUrl,
    RevocationUrl, Scope, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

async fn server(db: Option<TestDb>, configure: impl FnOnce(&mut Config) + Send + 'static) -> TestServer {
    TestServer::start_with(TestOptions {
        db,
        configure: Box::new(move |c: &mut Config| {
            // The negative tests send many wrong assertions from one address; the throttle has
            // its own test below.
            c.login.client_max_failures = 10_000;
            configure(c);
        }),
        ..Default::default()
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// End to end with the oauth2 crate.

async fn end_to_end(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    code_flow_fixtures(&s).await;
    let es = Signer::es256("es-1");
    register(&s, "pk-es", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    let rsa = Signer::rsa("rsa-1");
    let rsa_keys = Keys { jwks: Some(rsa.jwks()), alg: Some("PS256".into()), ..Default::default() };
    register(&s, "pk-rsa", AuthMethod::PrivateKeyJwt, rsa_keys).await;
    let secret = register(&s, "csj", AuthMethod::ClientSecretJwt, Keys::default()).await;
    let ed = Signer::ed25519("ed-1");
    register(&s, "pk-ed", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(ed.jwks()), ..Default::default() }).await;

    let oauth = |id: &str| {
        BasicClient::new(ClientId::new(id.into()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(CB.into()).unwrap())
            .set_introspection_url(IntrospectionUrl::new(s.url("/introspect")).unwrap())
            .set_revocation_url(RevocationUrl::new(s.url("/revoke")).unwrap())
            .set_device_authorization_url(DeviceAuthorizationUrl::new(s.url("/device_authorization")).unwrap())
    };
    let token_url = s.url("/token");

    // client_credentials: ES256 (aud = token endpoint), PS256 (aud = issuer), EdDSA, HS256, HS512.
    let cases = [
        ("pk-es", es.sign("ES256", &claims(&s, "pk-es", &token_url))),
        ("pk-rsa", rsa.sign("PS256", &claims(&s, "pk-rsa", &s.base))),
        ("pk-ed", ed.sign("EdDSA", &claims(&s, "pk-ed", &token_url))),
        ("csj", hmac_jws("HS256", secret.as_bytes(), json!({}), &claims(&s, "csj", &token_url))),
        ("csj", hmac_jws("HS512", secret.as_bytes(), json!({}), &claims(&s, "csj", &s.base))),
    ];
    for (id, a) in cases {
        let tok = oauth(id)
            .exchange_client_credentials()
            .add_scope(Scope::new("api:read".into()))
            .add_extra_param("client_assertion_type", JWT_BEARER)
            .add_extra_param("client_assertion", a)
            .request_async(&oauth2_http)
            .await
            .unwrap_or_else(|e| panic!("{id}: {e:?}"));
        let (_, at) = jwt_parts(tok.access_token().secret());
        assert_eq!(at["client_id"], id);
    }

    // Authorization code with PKCE, the code redeemed with an assertion.
    let ua = UserAgent::new(&s.base);
    let (verifier, challenge) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=pk-es&redirect_uri={}&scope=openid%20api%3Aread%20offline_access&state=st&nonce=n&code_challenge={challenge}&code_challenge_method=S256",
        form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let client = oauth("pk-es");
    let tok = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", es.sign("ES256", &claims(&s, "pk-es", &token_url)))
        .request_async(&oauth2_http)
        .await
        .expect("code redeemed with private_key_jwt");
    let rt = tok.refresh_token().expect("offline_access gives a refresh token").clone();
    let at = tok.access_token().clone();

    // Introspection, aud = the introspection endpoint.
    let intro = client
        .introspect(&at)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", es.sign("ES256", &claims(&s, "pk-es", &s.url("/introspect"))))
        .request_async(&oauth2_http)
        .await
        .expect("introspection with private_key_jwt");
    assert!(intro.active());

    // Refresh, then revocation of the refresh token (aud = the revocation endpoint).
    let refreshed = client
        .exchange_refresh_token(&rt)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", es.sign("ES256", &claims(&s, "pk-es", &token_url)))
        .request_async(&oauth2_http)
        .await
        .expect("refresh with private_key_jwt");
    let rt2 = refreshed.refresh_token().cloned().unwrap_or(rt);
    // (The oauth2 crate refuses to revoke over plain http, so this one is a raw RFC 7009 request.)
    let a = es.sign("ES256", &claims(&s, "pk-es", &s.url("/revoke")));
    let body = format!(
        "token={}&token_type_hint=refresh_token&client_id=pk-es&client_assertion_type={JWT_BEARER_ENC}&client_assertion={a}",
        rt2.secret()
    );
    let r = post_form(&s.url("/revoke"), None, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // A replayed assertion at /revoke is refused (the same replay cache as /token).
    post_form(&s.url("/revoke"), None, &body).await.assert_error(401, "invalid_client");
    let r = client
        .exchange_refresh_token(&rt2)
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", es.sign("ES256", &claims(&s, "pk-es", &token_url)))
        .request_async(&oauth2_http)
        .await;
    assert!(r.is_err(), "the revoked refresh token no longer works");

    // PAR (RFC 9126 §2): the push authenticated with an assertion (aud = the PAR endpoint), the
    // request_uri used at /authorize, the code redeemed with another assertion.
    let (verifier, challenge) = pkce();
    let a = es.sign("ES256", &claims(&s, "pk-es", &s.url("/par")));
    let body = format!(
        "response_type=code&client_id=pk-es&redirect_uri={}&scope=openid%20api%3Aread&state=par&code_challenge={challenge}&code_challenge_method=S256&client_assertion_type={JWT_BEARER_ENC}&client_assertion={a}",
        form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let r = post_form(&s.url("/par"), None, &body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let request_uri = r.json()["request_uri"].as_str().unwrap().to_owned();
    // The same assertion again is a replay, at /par as everywhere.
    post_form(&s.url("/par"), None, &body).await.assert_error(401, "invalid_client");
    let url = format!(
        "/authorize?client_id=pk-es&request_uri={}",
        form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>()
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    assert_eq!(query_of(&back)["state"], "par");
    let code = query_of(&back)["code"].clone();
    client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param("client_assertion", es.sign("ES256", &claims(&s, "pk-es", &token_url)))
        .request_async(&oauth2_http)
        .await
        .expect("pushed request's code redeemed with private_key_jwt");

    // Device authorization (aud = the device authorization endpoint), then the device_code grant.
    let details: oauth2::StandardDeviceAuthorizationResponse = oauth("csj")
        .exchange_device_code()
        .add_scope(Scope::new("api:read".into()))
        .add_extra_param("client_assertion_type", JWT_BEARER)
        .add_extra_param(
            "client_assertion",
            hmac_jws("HS256", secret.as_bytes(), json!({}), &claims(&s, "csj", &s.url("/device_authorization"))),
        )
        .request_async(&oauth2_http)
        .await
        .expect("device authorization with client_secret_jwt");
    let device_ua = UserAgent::new(&s.base);
    let (_, done) = device_user_acts(&device_ua, details.user_code().secret(), "Client csj", "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let a = hmac_jws("HS256", secret.as_bytes(), json!({}), &claims(&s, "csj", &token_url));
    let body = format!(
        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code={}&client_assertion_type={JWT_BEARER_ENC}&client_assertion={a}",
        details.device_code().secret()
    );
    let r = post_form(&token_url, None, &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d4_assertions_work_at_every_endpoint_with_the_oauth2_crate_on_sqlite() {
    end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d4_assertions_work_at_every_endpoint_with_the_oauth2_crate_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    end_to_end(Some(db)).await;
}

// ---------------------------------------------------------------------------------------------
// One negative test per check.

/// Sends `body` to /token and asserts a 401 invalid_client without a token or a challenge.
async fn refused(s: &TestServer, what: &str, body: &str) -> Res {
    let r = post_form(&s.url("/token"), None, body).await;
    assert_eq!(r.status, 401, "{what}: {}", r.body);
    r.assert_error(401, "invalid_client");
    assert!(r.json().get("access_token").is_none(), "{what}");
    assert!(r.header("www-authenticate").is_none(), "{what}: no Basic challenge when Basic was not used");
    r
}

async fn negatives(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    let es = Signer::es256("es-1");
    let pk_secret =
        register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    let rsa = Signer::rsa("rsa-1");
    let rsa_keys = Keys { jwks: Some(rsa.jwks()), alg: Some("PS256".into()), ..Default::default() };
    register(&s, "pk-ps", AuthMethod::PrivateKeyJwt, rsa_keys).await;
    // A secret the admin API may have generated for an assertion client never authenticates it.
    if !pk_secret.is_empty() {
        let r = cc_token(&s, "pk", &pk_secret, None).await;
        r.assert_error(401, "invalid_client");
        let body = format!("grant_type=client_credentials&client_id=pk&client_secret={pk_secret}");
        post_form(&s.url("/token"), None, &body).await.assert_error(401, "invalid_client");
    }
    let secret = register(&s, "csj", AuthMethod::ClientSecretJwt, Keys::default()).await;
    // A client_secret_basic client that also has keys registered (e.g. for request objects).
    let basic_secret =
        register(&s, "basic", AuthMethod::ClientSecretBasic, Keys { jwks: Some(es.jwks()), ..Default::default() })
            .await;
    let token_url = s.url("/token");
    let good = |id: &str| claims(&s, id, &token_url);
    let now = s.state.clock.now();
    let with = |k: &str, v: serde_json::Value| {
        let mut c = good("pk");
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };

    // Replay: the same assertion is accepted once.
    let a = es.sign("ES256", &good("pk"));
    let r = post_form(&token_url, None, &cc_body(&a)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = refused(&s, "replayed jti", &cc_body(&a)).await;
    assert!(r.json()["error_description"].as_str().unwrap().contains("jti"), "{}", r.body);

    let cases = [
        ("missing jti", es.sign("ES256", &with("jti", serde_json::Value::Null))),
        ("wrong aud", es.sign("ES256", &with("aud", json!("https://other.example/token")))),
        ("aud of a non-authenticating endpoint", es.sign("ES256", &with("aud", json!(s.url("/userinfo"))))),
        ("missing aud", es.sign("ES256", &with("aud", serde_json::Value::Null))),
        ("wrong iss", es.sign("ES256", &with("iss", json!("https://attacker.example")))),
        ("missing iss", es.sign("ES256", &with("iss", serde_json::Value::Null))),
        ("missing sub", es.sign("ES256", &with("sub", serde_json::Value::Null))),
        ("sub != iss", {
            let mut c = good("csj");
            c["sub"] = json!("pk");
            es.sign("ES256", &c)
        }),
        ("expired", es.sign("ES256", &with("exp", json!(now - 300)))),
        ("missing exp", es.sign("ES256", &with("exp", serde_json::Value::Null))),
        ("exp too far ahead", es.sign("ES256", &with("exp", json!(now + 3600)))),
        ("nbf in the future", es.sign("ES256", &with("nbf", json!(now + 120)))),
        ("iat in the future", es.sign("ES256", &with("iat", json!(now + 120)))),
        ("alg none", unsigned(&good("pk"))),
        (
            "HS256 keyed with the public JWK (alg confusion)",
            hmac_jws("HS256", es.jwk.to_string().as_bytes(), json!({"kid": "es-1"}), &good("pk")),
        ),
        (
            "HS256 keyed with the public key's x coordinate",
            hmac_jws("HS256", es.jwk["x"].as_str().unwrap().as_bytes(), json!({}), &good("pk")),
        ),
        ("valid signature by an unregistered key", Signer::es256("es-1").sign("ES256", &good("pk"))),
        ("unknown kid", Signer::es256("other-kid").sign("ES256", &good("pk"))),
        ("embedded jwk header", {
            let attacker = Signer::es256("x");
            attacker.sign_with_header(&json!({"alg": "ES256", "jwk": attacker.jwk}), &good("pk"))
        }),
        ("unregistered alg (RS256 for a PS256 client)", rsa.sign("RS256", &good("pk-ps"))),
        ("right assertion from a client_secret_basic client", es.sign("ES256", &good("basic"))),
        ("client_secret_jwt with the wrong secret", hmac_jws("HS256", b"not-the-secret", json!({}), &good("csj"))),
        ("ES256 assertion for a client_secret_jwt client", es.sign("ES256", &good("csj"))),
        (
            "client_secret_jwt assertion for a private_key_jwt client",
            hmac_jws("HS256", secret.as_bytes(), json!({}), &good("pk")),
        ),
        ("unknown client", es.sign("ES256", &good("nobody"))),
    ];
    for (what, a) in &cases {
        refused(&s, what, &cc_body(a)).await;
    }
    // Header tricks: injected kids, another client's kid, and jku/x5u pointing at a sink that
    // must never be contacted (the registered keys are the only keys).
    let (sink_url, sink_task, stop_sink) = sink().await;
    let attacker = Signer::es256("es-1");
    let header_cases = [
        json!({"alg": "ES256", "kid": "../../../../dev/null"}),
        json!({"alg": "ES256", "kid": "x' OR '1'='1"}),
        json!({"alg": "ES256", "kid": "rsa-1"}),
        json!({"alg": "ES256", "kid": "es-1", "jku": sink_url}),
        json!({"alg": "ES256", "kid": "es-1", "x5u": sink_url}),
        json!({"alg": "ES256", "jku": sink_url}),
    ];
    for h in &header_cases {
        refused(&s, &h.to_string(), &cc_body(&attacker.sign_with_header(h, &good("pk")))).await;
    }
    // Within the leeway and with an audience array (OIDC Core §9 / RFC 7523 §3): accepted, also
    // with the jku header ignored.
    let accepted = [
        with("nbf", json!(now + 8)),
        with("iat", json!(now + 8)),
        with("aud", json!(["https://other.example", s.base.clone()])),
        with("aud", json!(s.url("/par"))),
    ];
    for c in &accepted {
        let r = post_form(&token_url, None, &cc_body(&es.sign("ES256", c))).await;
        assert_eq!(r.status, 200, "{c}: {}", r.body);
    }
    let h = json!({"alg": "ES256", "kid": "es-1", "jku": sink_url});
    let r = post_form(&token_url, None, &cc_body(&es.sign_with_header(&h, &good("pk")))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let _ = stop_sink.send(());
    assert_eq!(sink_task.await.unwrap(), 0, "Keycard connected to a jku/x5u URL from an assertion");
    // The right method check comes after the signature, and says so.
    let r = refused(&s, "basic", &cc_body(&es.sign("ES256", &good("basic")))).await;
    assert!(r.json()["error_description"].as_str().unwrap().contains("client_secret_basic"), "{}", r.body);
    // The PS256 client with PS256 works (so the RS256 refusal above is the alg rule).
    let r = post_form(&token_url, None, &cc_body(&rsa.sign("PS256", &good("pk-ps")))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // The basic client still authenticates with its secret.
    assert_eq!(cc_token(&s, "basic", &basic_secret, None).await.status, 200);

    // client_id in the body naming another client.
    refused(&s, "client_id differs from sub", &format!("{}&client_id=csj", cc_body(&es.sign("ES256", &good("pk")))))
        .await;
    // Assertion + Basic, assertion + client_secret: more than one method.
    let a = es.sign("ES256", &good("pk"));
    let r = post_form(&token_url, Some(&basic("basic", &basic_secret)), &cc_body(&a)).await;
    r.assert_error(400, "invalid_request");
    let r = post_form(&token_url, None, &format!("{}&client_id=pk&client_secret=x", cc_body(&a))).await;
    r.assert_error(400, "invalid_request");
    // Wrong or missing client_assertion_type.
    for ty in ["urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Asaml2-bearer", "jwt", ""] {
        let body = format!("grant_type=client_credentials&client_assertion_type={ty}&client_assertion={a}");
        refused(&s, "wrong client_assertion_type", &body).await;
    }
    refused(&s, "no client_assertion_type", &format!("grant_type=client_credentials&client_assertion={a}")).await;
    refused(
        &s,
        "no client_assertion",
        &format!("grant_type=client_credentials&client_assertion_type={JWT_BEARER_ENC}"),
    )
    .await;
    // Malformed JWS: never a 500.
    let long = format!("{0}.{0}.{0}", "a".repeat(5_000));
    for garbage in ["", "x", "a.b", "a.b.c", "a.b.c.d", "%2E%2E", "eyJhbGciOiJFUzI1NiJ9.e30.", long.as_str()] {
        refused(&s, "malformed", &cc_body(garbage)).await;
    }
    // A disabled client.
    let mut c = s.state.store.get_client("pk").await.unwrap().unwrap();
    c.disabled = true;
    c.updated_at += 1;
    s.state.store.update_client(&c).await.unwrap();
    s.sync_caches().await;
    refused(&s, "disabled client", &cc_body(&es.sign("ES256", &good("pk")))).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d4_d5_each_assertion_check_refuses_on_sqlite() {
    negatives(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d4_d5_each_assertion_check_refuses_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    negatives(Some(db)).await;
}

/// A loopback TCP listener that counts connections (a `jku`/`x5u` target).
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

/// SECURITY D5 (node-oidc-provider 7.11.0, "jwt replay detection takes clockTolerance into
/// account"): the `jti` is remembered while the assertion could still pass its `exp` check.
#[tokio::test(flavor = "multi_thread")]
async fn d5_a_jti_is_remembered_until_exp_plus_the_leeway() {
    let s = TestServer::start_with(TestOptions {
        mock_time: Some(1_900_000_000),
        configure: Box::new(|c: &mut Config| c.login.client_max_failures = 10_000),
        ..Default::default()
    })
    .await;
    let es = Signer::es256("es-1");
    register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    let mut c = claims(&s, "pk", &s.url("/token"));
    c["exp"] = json!(s.state.clock.now() + 60);
    let a = es.sign("ES256", &c);
    assert_eq!(post_form(&s.url("/token"), None, &cc_body(&a)).await.status, 200);
    let leeway = s.state.config.client_auth.clock_leeway_secs;
    let clock = s.clock.clone().unwrap();
    clock.advance(60 + leeway - 1);
    let r = refused(&s, "replay inside the leeway", &cc_body(&a)).await;
    assert!(r.json()["error_description"].as_str().unwrap().contains("jti"), "{}", r.body);
    clock.advance(1);
    let r = refused(&s, "expired", &cc_body(&a)).await;
    assert!(r.json()["error_description"].as_str().unwrap().contains("expired"), "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d2_wrong_assertions_are_throttled_like_wrong_secrets() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.login.client_max_failures = 3),
        ..Default::default()
    })
    .await;
    let es = Signer::es256("es-1");
    register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    let forger = Signer::es256("es-1");
    let mut statuses = vec![];
    for _ in 0..5 {
        let a = forger.sign("ES256", &claims(&s, "pk", &s.url("/token")));
        statuses.push(post_form(&s.url("/token"), None, &cc_body(&a)).await.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429], "locked after client_max_failures");
    // Locked means locked: even the right assertion gets 429 from this address.
    let r = post_form(&s.url("/token"), None, &cc_body(&es.sign("ES256", &claims(&s, "pk", &s.url("/token"))))).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    s.stop().await;
}

// ---------------------------------------------------------------------------------------------
// jwks_uri.

#[derive(Clone)]
struct KeyServer {
    jwks: Arc<std::sync::Mutex<serde_json::Value>>,
    hits: Arc<AtomicUsize>,
}

/// A local JWK Set server: `/jwks` (the current set, counted), `/big` (a JSON body past the
/// limit), `/slow` (answers after 10 s), `/redirect` (302 to /jwks), `/html` (not JSON),
/// `/empty` (`{}`). Plus a raw endpoint that streams chunks forever without a Content-Length.
async fn key_server(initial: serde_json::Value) -> (String, KeyServer, String) {
    use axum::routing::get;
    let ks = KeyServer { jwks: Arc::new(std::sync::Mutex::new(initial)), hits: Arc::default() };
    let st = ks.clone();
    let app = axum::Router::new()
        .route(
            "/jwks",
            get(move || {
                let st = st.clone();
                async move {
                    st.hits.fetch_add(1, Ordering::SeqCst);
                    axum::Json(st.jwks.lock().unwrap().clone())
                }
            }),
        )
        .route("/big", get(|| async { format!(r#"{{"keys":[],"pad":"{}"}}"#, "x".repeat(200_000)) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(10)).await;
                r#"{"keys":[]}"#
            }),
        )
        .route("/redirect", get(|| async { (axum::http::StatusCode::FOUND, [("location", "/jwks")]) }))
        .route("/html", get(|| async { "<html>not json</html>" }))
        .route("/empty", get(|| async { "{}" }));
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    // Endless chunked body: the limit must be enforced while reading.
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endless = format!("http://{}/endless", raw.local_addr().unwrap());
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut sock, _)) = raw.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("4000\r\n{}\r\n", " ".repeat(0x4000));
                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    (base, ks, endless)
}

/// SECURITY D4, I6: jwks_uri keys are fetched once for concurrent requests, cached, refetched
/// for a new kid (rotation), and a retired key stops working.
#[tokio::test(flavor = "multi_thread")]
async fn d4_i6_jwks_uri_is_fetched_cached_refetched_for_a_new_kid_and_coalesced() {
    let k1 = Signer::es256("k1");
    let k2 = Signer::rsa("k2");
    let (base, ks, _) = key_server(k1.jwks()).await;
    // Refetch interval 0: an unknown kid refetches at once (rotation without waiting).
    let s = server(None, |c| c.client_auth.jwks_refetch_interval_secs = 0).await;
    let keys = Keys { jwks_uri: Some(format!("{base}/jwks")), ..Default::default() };
    register(&s, "rot", AuthMethod::PrivateKeyJwt, keys).await;
    let token = |a: String| {
        let url = s.url("/token");
        async move { post_form(&url, None, &cc_body(&a)).await }
    };
    let aud = s.url("/token");
    // Concurrent first requests share one fetch.
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let f = token(k1.sign("ES256", &claims(&s, "rot", &aud)));
        set.spawn(f);
    }
    for r in set.join_all().await {
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(ks.hits.load(Ordering::SeqCst), 1, "one fetch for concurrent requests, then the cache");
    assert_eq!(token(k1.sign("ES256", &claims(&s, "rot", &aud))).await.status, 200);
    assert_eq!(ks.hits.load(Ordering::SeqCst), 1, "cached");
    // Rotation: the client publishes k2; an assertion naming k2 makes Keycard refetch.
    *ks.jwks.lock().unwrap() = json!({"keys": [k1.jwk.clone(), k2.jwk.clone()]});
    let r = token(k2.sign("RS256", &claims(&s, "rot", &aud))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(ks.hits.load(Ordering::SeqCst), 2);
    // k1 retired: a kid the new set lacks refetches and is refused.
    *ks.jwks.lock().unwrap() = k2.jwks();
    let r = token(Signer::es256("k9").sign("ES256", &claims(&s, "rot", &aud))).await;
    r.assert_error(401, "invalid_client");
    assert_eq!(ks.hits.load(Ordering::SeqCst), 3);
    refused(&s, "retired key", &cc_body(&k1.sign("ES256", &claims(&s, "rot", &aud)))).await;
    s.stop().await;
}

/// SECURITY I6: a JWS naming unknown `kid`s refetches at most once per refetch interval.
#[tokio::test(flavor = "multi_thread")]
async fn i6_forged_kids_do_not_make_keycard_fetch_in_a_loop() {
    let k1 = Signer::es256("k1");
    let (base, ks, _) = key_server(k1.jwks()).await;
    let s = server(None, |_| {}).await;
    register(
        &s,
        "rot",
        AuthMethod::PrivateKeyJwt,
        Keys { jwks_uri: Some(format!("{base}/jwks")), ..Default::default() },
    )
    .await;
    let aud = s.url("/token");
    assert_eq!(post_form(&aud, None, &cc_body(&k1.sign("ES256", &claims(&s, "rot", &aud)))).await.status, 200);
    for i in 0..10 {
        let a = Signer::es256(&format!("forged-{i}")).sign("ES256", &claims(&s, "rot", &aud));
        refused(&s, "forged kid", &cc_body(&a)).await;
    }
    assert!(ks.hits.load(Ordering::SeqCst) <= 2, "at most one refetch per jwks_refetch_interval_secs");
    s.stop().await;
}

/// SECURITY I6: the jwks_uri fetcher's limits (size while reading, timeout, no redirects, https
/// only outside loopback) each end in 401 invalid_client, never a 500 or a hang.
#[tokio::test(flavor = "multi_thread")]
async fn i6_bad_jwks_uris_refuse_cleanly() {
    let k1 = Signer::es256("k1");
    let (base, _, endless) = key_server(k1.jwks()).await;
    let s = server(None, |c| c.client_auth.jwks_fetch_timeout_ms = 500).await;
    let aud = s.url("/token");
    let cases = [
        ("over the size limit", format!("{base}/big")),
        ("endless body without Content-Length", endless),
        ("slower than the timeout", format!("{base}/slow")),
        ("a redirect", format!("{base}/redirect")),
        ("not JSON", format!("{base}/html")),
        ("not a JWK Set", format!("{base}/empty")),
        ("nothing listening", "http://127.0.0.1:9/jwks".into()),
        ("plain http outside loopback", "http://keys.invalid/jwks".into()),
    ];
    for (i, (what, uri)) in cases.into_iter().enumerate() {
        let id = format!("uri-{i}");
        if uri.starts_with("http://keys.invalid") {
            // Registration refuses it (tests/client_model.rs); a row written another way (an older
            // version, the database by hand) is still never fetched.
            let ok = format!("{base}/jwks");
            register(&s, &id, AuthMethod::PrivateKeyJwt, Keys { jwks_uri: Some(ok), ..Default::default() }).await;
            let mut c = s.state.store.get_client(&id).await.unwrap().unwrap();
            c.settings.jwks_uri = Some(uri);
            c.updated_at += 1;
            assert!(s.state.store.update_client(&c).await.unwrap());
            s.sync_caches().await;
        } else {
            register(&s, &id, AuthMethod::PrivateKeyJwt, Keys { jwks_uri: Some(uri), ..Default::default() }).await;
        }
        let r = refused(&s, what, &cc_body(&k1.sign("ES256", &claims(&s, &id, &aud)))).await;
        assert!(r.json()["error_description"].as_str().unwrap().contains("keys"), "{what}: {}", r.body);
        // A second try within the refetch interval fails at once from the remembered failure.
        refused(&s, what, &cc_body(&k1.sign("ES256", &claims(&s, &id, &aud)))).await;
    }
    s.stop().await;
}
