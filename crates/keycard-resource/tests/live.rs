//! keycard-resource against a real Keycard on loopback (`keycard::testing::TestServer`), not a
//! mock: good and bad JWT access tokens of every kind, opaque tokens through introspection and
//! revocation, scopes (also through the axum layer), and a key rotation under load.
//!
//! The validator is configured with the issuer alone (RFC 8414 metadata gives it the JWKS and
//! introspection URLs), as a resource server would be.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use keycard::admin::ClientSpec;
use keycard::jose::Alg;
use keycard::model::{GrantType, TokenFormat};
use keycard::testing::{TestOptions, TestServer};
use keycard_resource::{Claims, Error, InvalidToken, Validator};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The audience of the resource server under test.
const API: &str = "https://api.example";

fn validator(s: &TestServer) -> Validator {
    Validator::builder(&s.base).audience(API).build().expect("validator")
}

/// A confidential client_credentials client; `f` adjusts the spec (audience API by default).
async fn client(s: &TestServer, id: &str, scopes: &[&str], f: impl FnOnce(&mut ClientSpec)) -> (String, String) {
    let mut spec = ClientSpec {
        id: Some(id.to_owned()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        audience: Some(API.to_owned()),
        ..Default::default()
    };
    f(&mut spec);
    s.create_client(spec).await
}

/// RFC 6749 §2.3.1 HTTP Basic.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

async fn post_form(url: &str, auth: &str, form: &[(&str, &str)]) -> (u16, String) {
    let res = reqwest::Client::new()
        .post(url)
        .header("authorization", auth)
        .form(form)
        .send()
        .await
        .expect("request to Keycard");
    (res.status().as_u16(), res.text().await.unwrap_or_default())
}

/// A client_credentials access token (RFC 6749 §4.4).
async fn token(s: &TestServer, id: &str, secret: &str, scope: Option<&str>) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    if let Some(sc) = scope {
        form.push(("scope", sc));
    }
    let (status, body) = post_form(&s.url("/token"), &basic(id, secret), &form).await;
    assert_eq!(status, 200, "token request: {body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

fn decode(part: &str) -> Value {
    serde_json::from_slice(&B64.decode(part).unwrap()).unwrap()
}

/// (header, payload, signature part) of a compact JWS.
fn parts(token: &str) -> (Value, Value, String) {
    let mut it = token.split('.');
    let (h, p, s) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    (decode(h), decode(p), s.to_owned())
}

fn encode(v: &Value) -> String {
    B64.encode(serde_json::to_vec(v).unwrap())
}

fn at(secs: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap())
}

/// The `InvalidToken` reason of a refusal; anything else fails the test.
fn refused(r: Result<Claims, Error>) -> InvalidToken {
    match r {
        Err(Error::InvalidToken(reason)) => reason,
        other => panic!("expected invalid_token, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn valid_jwt_with_the_issuer_alone() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc:billing", &["invoices:read", "invoices:write"], |_| {}).await;
    let t = token(&s, &id, &secret, Some("invoices:read")).await;
    let v = validator(&s);
    v.warm_up().await.expect("metadata and JWKS from the issuer");

    let c = v.validate(&t).await.expect("valid token");
    assert_eq!(c.subject, id, "client credentials: the client is the subject");
    assert_eq!(c.client_id, id);
    assert_eq!(c.scopes.to_string(), "invoices:read");
    assert_eq!(c.audience, [API]);
    assert!(c.jwt_id.is_some());
    assert_eq!(c.raw["iss"], s.base.as_str());
    assert_eq!(parts(&t).0["typ"], "at+jwt");
    c.require_scopes(["invoices:read"]).unwrap();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_jwt_on_the_servers_clock() {
    let start = 1_700_000_000;
    let s = TestServer::start_with(TestOptions { mock_time: Some(start), ..Default::default() }).await;
    let (id, secret) = client(&s, "short", &["invoices:read"], |c| c.access_token_ttl = Some(60)).await;
    let t = token(&s, &id, &secret, None).await;
    let v = validator(&s);
    let clock = s.clock.clone().unwrap();
    let now = || at(s.state.clock.now());

    assert_eq!(v.validate_at(&t, now()).await.unwrap().expires_at, start + 60);
    clock.advance(60);
    assert!(v.validate_at(&t, now()).await.is_ok(), "expired for 0 s: within the 30 s leeway");
    clock.advance(31);
    assert_eq!(refused(v.validate_at(&t, now()).await), InvalidToken::Expired);
    // Issued in the future (a clock far behind the server's) is refused too.
    assert_eq!(refused(v.validate_at(&t, at(start - 120)).await), InvalidToken::IssuedInFuture);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_for_another_audience() {
    let s = TestServer::start().await;
    let (id, secret) =
        client(&s, "other", &["invoices:read"], |c| c.audience = Some("https://other.example".into())).await;
    let v = validator(&s);
    assert_eq!(refused(v.validate(&token(&s, &id, &secret, None).await).await), InvalidToken::WrongAudience);
    // Without a client audience Keycard's default is the issuer itself: not this API either.
    let (id, secret) = client(&s, "no-aud", &["invoices:read"], |c| c.audience = None).await;
    assert_eq!(refused(v.validate(&token(&s, &id, &secret, None).await).await), InvalidToken::WrongAudience);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_signed_by_an_unknown_key() {
    let s = TestServer::start().await;
    // A second Keycard with the SAME issuer and audience but its own keys: only the key differs.
    let issuer = s.base.clone();
    let impostor =
        TestServer::start_with(TestOptions { configure: Box::new(move |c| c.issuer = issuer), ..Default::default() })
            .await;
    let (id, secret) = client(&impostor, "svc", &["invoices:read"], |_| {}).await;
    let t = token(&impostor, &id, &secret, None).await;
    assert_eq!(parts(&t).1["iss"], s.base.as_str());

    let v = validator(&s);
    assert_eq!(refused(v.validate(&t).await), InvalidToken::UnknownKey);
    // Control: with the impostor's JWKS the very same token passes, so the key was the reason.
    let with_its_keys = Validator::builder(&s.base).audience(API).jwks_uri(impostor.url("/jwks.json")).build().unwrap();
    assert!(with_its_keys.validate(&t).await.is_ok());

    // The impostor's token relabelled with the kid of the real server's ES256 key: bad signature.
    let (real_id, real_secret) = client(&s, "real", &["invoices:read"], |_| {}).await;
    let real_kid = parts(&token(&s, &real_id, &real_secret, None).await).0["kid"].clone();
    let (mut h, p, sig) = parts(&t);
    h["kid"] = real_kid;
    let relabelled = format!("{}.{}.{sig}", encode(&h), encode(&p));
    assert_eq!(refused(v.validate(&relabelled).await), InvalidToken::BadSignature);
    impostor.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn alg_none_tampering_and_key_confusion_are_refused() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read", "invoices:write"], |_| {}).await;
    let t = token(&s, &id, &secret, Some("invoices:read")).await;
    let v = validator(&s);
    assert!(v.validate(&t).await.is_ok());
    let (header, payload, sig) = parts(&t);

    // alg: none, with and without the original signature, in any spelling.
    for alg in ["none", "None", "NONE"] {
        let mut h = header.clone();
        h["alg"] = json!(alg);
        let unsigned = format!("{}.{}.", encode(&h), encode(&payload));
        assert_eq!(refused(v.validate(&unsigned).await), InvalidToken::AlgorithmNotAllowed, "{alg}");
        let resigned = format!("{}.{}.{sig}", encode(&h), encode(&payload));
        assert_eq!(refused(v.validate(&resigned).await), InvalidToken::AlgorithmNotAllowed, "{alg}");
    }

    // A tampered payload: more scope, another subject. The signature no longer matches.
    let mut p = payload.clone();
    p["scope"] = json!("invoices:read invoices:write");
    let tampered = format!("{}.{}.{sig}", t.split('.').next().unwrap(), encode(&p));
    assert_eq!(refused(v.validate(&tampered).await), InvalidToken::BadSignature);
    let mut p = payload.clone();
    p["sub"] = json!("usr_someone_else");
    let tampered = format!("{}.{}.{sig}", t.split('.').next().unwrap(), encode(&p));
    assert_eq!(refused(v.validate(&tampered).await), InvalidToken::BadSignature);

    // HS256 with the server's public key as the HMAC secret (the classic key-confusion attack),
    // for every published key and several encodings of it.
    let jwks: Value = reqwest::get(s.url("/jwks.json")).await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert!(keys.len() >= 2, "ES256 and RS256 keys: {jwks}");
    for jwk in keys {
        let kid = jwk["kid"].as_str().unwrap();
        let mut secrets = vec![serde_json::to_vec(jwk).unwrap()];
        for member in ["x", "n"] {
            if let Some(m) = jwk[member].as_str() {
                secrets.push(m.as_bytes().to_vec());
                secrets.push(B64.decode(m).unwrap());
            }
        }
        for secret in secrets {
            let h = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
            let input = format!("{}.{}", encode(&h), encode(&payload));
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret);
            let mac = aws_lc_rs::hmac::sign(&key, input.as_bytes());
            let forged = format!("{input}.{}", B64.encode(mac.as_ref()));
            assert_eq!(refused(v.validate(&forged).await), InvalidToken::AlgorithmNotAllowed, "kid {kid}");
        }
    }

    // A header naming another published key (RS256) over an ES256 signature: the key decides the
    // algorithm, the header cannot.
    let rs_kid = keys.iter().find(|k| k["kty"] == "RSA").unwrap()["kid"].as_str().unwrap();
    let mut h = header.clone();
    h["kid"] = json!(rs_kid);
    let confused = format!("{}.{}.{sig}", encode(&h), encode(&payload));
    assert_eq!(refused(v.validate(&confused).await), InvalidToken::AlgorithmNotAllowed);
    // ... and the same key named with its own algorithm: the signature does not verify.
    h["alg"] = json!("RS256");
    let confused = format!("{}.{}.{sig}", encode(&h), encode(&payload));
    assert_eq!(refused(v.validate(&confused).await), InvalidToken::BadSignature);

    // A token that is not an access token (typ JWT, e.g. an ID token's header) is refused.
    let mut h = header.clone();
    h["typ"] = json!("JWT");
    assert_eq!(
        refused(v.validate(&format!("{}.{}.{sig}", encode(&h), encode(&payload))).await),
        InvalidToken::WrongType
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn opaque_token_introspected_then_revoked() {
    let s = TestServer::start().await;
    // The resource server's own credentials, for introspection only.
    // A resource server for API (RFC 7662 §4, SECURITY E4): it introspects API's tokens only.
    let (rs_id, rs_secret) = client(&s, "rs:invoices-api", &[], |c| {
        c.audience = None;
        c.grant_types.clear();
        c.resource_audiences = vec![API.to_owned()];
    })
    .await;
    let (id, secret) =
        client(&s, "svc:opaque", &["invoices:read"], |c| c.token_format = Some(TokenFormat::Opaque)).await;
    let t = token(&s, &id, &secret, Some("invoices:read")).await;
    assert!(t.starts_with(keycard_resource::OPAQUE_TOKEN_PREFIX), "{t}");

    let v = Validator::builder(&s.base)
        .audience(API)
        .introspection_credentials(&rs_id, &rs_secret)
        .introspection_cache_max_age(Duration::ZERO)
        .build()
        .unwrap();
    let c = v.validate(&t).await.expect("active");
    assert_eq!((c.subject.as_str(), c.client_id.as_str()), (id.as_str(), id.as_str()));
    assert!(c.has_scope("invoices:read"));
    assert_eq!(c.audience, [API]);
    assert_eq!(c.raw["active"], true);

    // RFC 7009 revocation by the client that holds the token; with no cache it shows at once.
    let (status, body) = post_form(&s.url("/revoke"), &basic(&id, &secret), &[("token", &t)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(refused(v.validate(&t).await), InvalidToken::Inactive);
    assert_eq!(refused(v.validate("kc_at_never-issued").await), InvalidToken::Inactive);

    // Without introspection credentials opaque tokens are refused outright.
    assert_eq!(refused(validator(&s).validate(&t).await), InvalidToken::OpaqueNotAccepted);
    // With wrong ones the resource server is misconfigured: 500, not the caller's fault.
    let wrong = Validator::builder(&s.base).audience(API).introspection_credentials(&rs_id, "nope").build().unwrap();
    let t2 = token(&s, &id, &secret, None).await;
    assert!(matches!(wrong.validate(&t2).await, Err(Error::Configuration(_))));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_and_insufficient_scopes() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read", "invoices:write", "profile"], |_| {}).await;
    let v = validator(&s);
    let read = v.validate(&token(&s, &id, &secret, Some("invoices:read")).await).await.unwrap();
    read.require_scopes(["invoices:read"]).unwrap();
    // Missing: the token grants none of the scopes required.
    let profile = v.validate(&token(&s, &id, &secret, Some("profile")).await).await.unwrap();
    match profile.require_scopes(["invoices:read"]) {
        Err(e @ Error::InsufficientScope { .. }) => {
            assert_eq!(e.status(), 403);
            assert!(e.www_authenticate(None).unwrap().contains("scope=\"invoices:read\""));
        }
        other => panic!("{other:?}"),
    }
    // Insufficient: some but not all; the challenge names everything the resource needs.
    match read.require_scopes(["invoices:read", "invoices:write"]) {
        Err(Error::InsufficientScope { required }) => assert_eq!(required.to_string(), "invoices:read invoices:write"),
        other => panic!("{other:?}"),
    }
    s.stop().await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread")]
async fn axum_layer_against_a_live_keycard() {
    use axum::routing::get;
    use keycard_resource::axum::{BearerClaims, require_scopes};

    async fn me(BearerClaims(c): BearerClaims) -> String {
        c.subject.clone()
    }
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read", "invoices:write", "profile"], |_| {}).await;
    let v = Arc::new(validator(&s));
    let app = axum::Router::new()
        .route("/invoices", get(me).route_layer(require_scopes(v.clone(), ["invoices:read"])))
        .route("/admin", get(me).route_layer(require_scopes(v.clone(), ["invoices:read", "invoices:write"])))
        .with_state(v);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut rb = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send()
    };
    let challenge = |r: &reqwest::Response| r.headers()["www-authenticate"].to_str().unwrap().to_owned();

    let read = token(&s, &id, &secret, Some("invoices:read")).await;
    let r = get("/invoices", Some(&read)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), id);

    let r = get("/invoices", None).await.unwrap();
    assert_eq!((r.status().as_u16(), challenge(&r)), (401, "Bearer".to_owned()), "no token: no error code");

    let profile = token(&s, &id, &secret, Some("profile")).await;
    let r = get("/invoices", Some(&profile)).await.unwrap();
    assert_eq!(r.status(), 403, "missing scope");
    assert!(
        challenge(&r).contains("error=\"insufficient_scope\"") && challenge(&r).contains("scope=\"invoices:read\"")
    );

    let r = get("/admin", Some(&read)).await.unwrap();
    assert_eq!(r.status(), 403, "insufficient scope");
    assert!(challenge(&r).contains("scope=\"invoices:read invoices:write\""), "{}", challenge(&r));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    let mut p = parts(&read).1;
    p["scope"] = json!("invoices:read invoices:write");
    let mut it = read.split('.');
    let forged = format!("{}.{}.{}", it.next().unwrap(), encode(&p), it.nth(1).unwrap());
    let r = get("/admin", Some(&forged)).await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(challenge(&r).starts_with("Bearer error=\"invalid_token\""));

    let r = http.get(format!("{base}/invoices?access_token={read}")).send().await.unwrap();
    assert_eq!(r.status(), 400, "tokens in the query string are refused (OAuth 2.1)");
    s.stop().await;
}

/// The framework-free example of docs/resource-servers.md.
#[allow(dead_code)]
#[path = "docs/plain.rs"]
mod plain;

#[tokio::test(flavor = "multi_thread")]
async fn the_documented_plain_example_works() {
    let doc = include_str!("../../../docs/resource-servers.md");
    assert!(
        doc.contains(include_str!("docs/plain.rs")),
        "docs/resource-servers.md must show tests/docs/plain.rs verbatim"
    );
    assert!(plain::validator().is_ok());
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read", "profile"], |_| {}).await;
    let v = validator(&s);
    let c = plain::authorize(&v, &token(&s, &id, &secret, Some("invoices:read")).await).await.unwrap();
    assert_eq!(c.subject, "svc");
    let profile = token(&s, &id, &secret, Some("profile")).await;
    assert!(matches!(plain::authorize(&v, &profile).await, Err(Error::InsufficientScope { .. })));
    s.stop().await;
}

/// The example of docs/resource-servers.md, compiled here and run against a live Keycard.
#[cfg(feature = "axum")]
#[allow(dead_code)]
#[path = "docs/example.rs"]
mod example;

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread")]
async fn the_documented_axum_example_works() {
    let doc = include_str!("../../../docs/resource-servers.md");
    assert!(
        doc.contains(include_str!("docs/example.rs")),
        "docs/resource-servers.md must show tests/docs/example.rs verbatim"
    );
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read", "invoices:write"], |_| {}).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/invoices", listener.local_addr().unwrap());
    let app = example::app(Arc::new(validator(&s)));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let read = token(&s, &id, &secret, Some("invoices:read")).await;
    let write = token(&s, &id, &secret, Some("invoices:write")).await;

    let r = http.get(&url).bearer_auth(&read).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "invoices of svc (client svc, scopes invoices:read)");
    assert_eq!(http.post(&url).bearer_auth(&read).send().await.unwrap().status(), 403);
    assert_eq!(http.post(&url).bearer_auth(&write).send().await.unwrap().status(), 200);
    assert_eq!(http.get(&url).bearer_auth(&write).send().await.unwrap().status(), 403);
    assert_eq!(http.get(&url).send().await.unwrap().status(), 401);
    s.stop().await;
}

/// SECURITY K2.
/// Keys rotate while requests flow: tokens signed by the old key and by the new one are
/// validated continuously from several tasks, and not one validation fails. The validator
/// refetches the JWKS when it meets the new `kid`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn key_rotation_under_load_fails_no_request() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc", &["invoices:read"], |_| {}).await;
    let old = token(&s, &id, &secret, None).await;
    let old_kid = parts(&old).0["kid"].as_str().unwrap().to_owned();
    let v = Arc::new(validator(&s));
    v.validate(&old).await.unwrap();

    let s = Arc::new(s);
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let kids = Arc::new(Mutex::new(HashSet::<String>::new()));
    let latest = Arc::new(Mutex::new(old.clone()));
    let mut tasks = Vec::new();
    // Two clients keep fetching tokens; the latest one is what the validators check.
    for _ in 0..2 {
        let (s, stop, kids, latest) = (s.clone(), stop.clone(), kids.clone(), latest.clone());
        let (id, secret) = (id.clone(), secret.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let fresh = token(&s, &id, &secret, None).await;
                kids.lock().unwrap().insert(parts(&fresh).0["kid"].as_str().unwrap().to_owned());
                *latest.lock().unwrap() = fresh;
            }
        }));
    }
    // Four resource-server tasks validate the latest token and the first one, continuously.
    for _ in 0..4 {
        let (v, stop, ok, failures, latest) = (v.clone(), stop.clone(), ok.clone(), failures.clone(), latest.clone());
        let old = old.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let fresh = latest.lock().unwrap().clone();
                for (what, t) in [("latest", &fresh), ("old", &old)] {
                    match v.validate(t).await {
                        Ok(_) => {
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => {
                            let kid = parts(t).0["kid"].clone();
                            failures.lock().unwrap().push(format!("{what} token (kid {kid}): {e}"));
                        }
                    }
                }
                // A cached-key validation never waits: yield, or these loops starve the server.
                tokio::task::yield_now().await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = ok.load(Ordering::Relaxed);
    let now = s.state.clock.now();
    let new_kid = keycard::keys::rotate(&s.state.store, &s.state.secrets.kek, Alg::ES256, 3600, 60, now).await.unwrap();
    assert_ne!(new_kid, old_kid);
    // The server picks the new key up within its poll interval (100 ms in tests).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !kids.lock().unwrap().contains(&new_kid) {
        assert!(Instant::now() < deadline, "the server never signed with the new key");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_switch = ok.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} failed validations: {failures:?}", failures.len());
    let total = ok.load(Ordering::Relaxed);
    println!("{before} validations before the rotation, {at_switch} when the new key appeared, {total} in all");
    assert!(before > 20 && total > at_switch + 20, "load kept flowing: {before} before, {total} in all");
    assert!(kids.lock().unwrap().contains(&old_kid), "tokens of both keys were validated");
    // The old key stays published: its token is still good after the rotation.
    v.validate(&old).await.unwrap();
    Arc::try_unwrap(s).ok().expect("workers done").stop().await;
}
