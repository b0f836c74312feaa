//! Signed request objects (RFC 9101) at `/authorize` and inside a pushed request (RFC 9126 §3),
//! against a real Keycard on SQLite and PostgreSQL. The client signs with an ES256 key made
//! with aws-lc-rs and registers its public half as `jwks`; the code is redeemed with the
//! `oauth2` crate. Negative cases: alg none, HS256, a bad signature, wrong aud, wrong iss,
//! client_id mismatch, expired, too long-lived, not yet valid, outer parameters ignored, a
//! replayed jti, a nested request, and placement (page before the redirect URI is verified).

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use common::browser::{assert_error_page, enc, form};
use common::*;
use keycard::store::conformance::TestDb;
use serde_json::{Value, json};

const T0: i64 = 1_800_000_000;
const WEB_CB: &str = "https://web.example/cb";
const OUTER_STATE: &str = "outer-st";

fn b64(b: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A client's ES256 key: the signer and its public JWK.
struct ClientKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl ClientKey {
    fn new(kid: &str) -> ClientKey {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": b64(&pt[1..33]), "y": b64(&pt[33..65]), "kid": kid, "use": "sig", "alg": "ES256"});
        ClientKey { pair, jwk }
    }

    fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", b64(sig.as_ref()))
    }

    fn sign(&self, claims: &Value) -> String {
        let kid = self.jwk["kid"].as_str().unwrap();
        self.sign_with_header(&json!({"alg": "ES256", "typ": "oauth-authz-req+jwt", "kid": kid}), claims)
    }
}

/// A valid request object's claims for `web`, and the PKCE verifier.
fn claims(s: &TestServer, state: &str) -> (Value, String) {
    let (v, c) = pkce();
    let claims = json!({
        "iss": "web",
        "aud": s.base,
        "client_id": "web",
        "exp": T0 + 300,
        "iat": T0,
        "nbf": T0,
        "jti": keycard::jose::random_token(16),
        "response_type": "code",
        "redirect_uri": WEB_CB,
        "scope": "openid profile",
        "state": state,
        "nonce": "n-jar",
        "code_challenge": c,
        "code_challenge_method": "S256",
        "max_age": 3600,
    });
    (claims, v)
}

/// `web` (confidential, first-party so errors redirect at once) with `key` registered.
async fn setup(db: Option<TestDb>) -> (TestServer, String, ClientKey) {
    let s = TestServer::start_with(TestOptions { db, mock_time: Some(T0), ..Default::default() }).await;
    let (_, secret) = code_flow_fixtures(&s).await;
    let key = ClientKey::new("k1");
    let jwks = json!({"keys": [key.jwk.clone()]});
    edit_client(&s, "web", move |c| {
        c.settings.jwks = Some(jwks);
        c.settings.first_party = true;
    })
    .await;
    (s, secret, key)
}

/// `/authorize` with `request` and the outer parameters RFC 9101 §5 expects (`client_id`,
/// `response_type`), plus an outer redirect URI and state for placing errors.
fn outer_url(jwt: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("client_id", "web"),
        ("response_type", "code"),
        ("redirect_uri", WEB_CB),
        ("state", OUTER_STATE),
        ("request", jwt),
    ];
    pairs.extend_from_slice(extra);
    format!("/authorize?{}", form(&pairs))
}

/// An `invalid_request_object` error redirect to the outer redirect URI with state and iss.
#[track_caller]
fn assert_object_refused(s: &TestServer, r: &Res, what: &str) {
    assert_eq!(r.status, 303, "{what}: {}", r.body);
    let loc = r.location();
    assert!(loc.starts_with(&format!("{WEB_CB}?error=invalid_request_object")), "{what}: {loc}");
    let q = query_of(&loc);
    assert_eq!(q.get("state").map(String::as_str), Some(OUTER_STATE), "{what}: {loc}");
    assert_eq!(q["iss"], s.base, "{what}");
    assert!(!q.contains_key("code"));
}

async fn redeem_with_oauth2(s: &TestServer, secret: &str, code: &str, verifier: String) -> Vec<String> {
    use oauth2::basic::BasicClient;
    use oauth2::{AuthUrl, TokenResponse as _, TokenUrl};
    let client = BasicClient::new(oauth2::ClientId::new("web".into()))
        .set_client_secret(oauth2::ClientSecret::new(secret.into()))
        .set_auth_uri(AuthUrl::new(s.url("/authorize")).unwrap())
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap())
        .set_redirect_uri(oauth2::RedirectUrl::new(WEB_CB.into()).unwrap());
    let tok = client
        .exchange_code(oauth2::AuthorizationCode::new(code.into()))
        .set_pkce_verifier(oauth2::PkceCodeVerifier::new(verifier))
        .request_async(&oauth2_http)
        .await
        .expect("the code of a request-object request redeems");
    tok.scopes().expect("scope").iter().map(|s| s.to_string()).collect()
}

/// RFC 9101 §5–§6.3: a signed request object at /authorize and inside a push; outer parameters
/// other than client_id are ignored; jti single use.
async fn request_objects_end_to_end(db: Option<TestDb>) {
    let (s, secret, key) = setup(db).await;
    let ua = UserAgent::new(&s.base);

    // At /authorize: the object's scope and state win over the outer ones.
    let (c, verifier) = claims(&s, "inner-st");
    let jwt = key.sign(&c);
    let back = authorize_in(&ua, &outer_url(&jwt, &[("scope", "openid email")]), "alice", "alice-password-1").await;
    assert!(back.starts_with(&format!("{WEB_CB}?code=")), "{back}");
    let q = query_of(&back);
    assert_eq!(q["state"], "inner-st", "the object's state, not the outer one");
    assert_eq!(q["iss"], s.base);
    let scopes = redeem_with_oauth2(&s, &secret, &q["code"], verifier).await;
    assert!(scopes.contains(&"profile".to_owned()) && !scopes.contains(&"email".to_owned()), "{scopes:?}");

    // The same object again: its jti was used (replay cache, all nodes).
    assert_object_refused(&s, &ua.get(&outer_url(&jwt, &[])).await, "replayed jti");

    // Inside a pushed request (RFC 9126 §3): only client_id and request in the body.
    let (c, verifier) = claims(&s, "pushed-st");
    let jwt = key.sign(&c);
    let r = post_form(&s.url("/par"), Some(&basic("web", &secret)), &form(&[("client_id", "web"), ("request", &jwt)]))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let uri = r.json()["request_uri"].as_str().unwrap().to_owned();
    let back =
        authorize_in(&ua, &format!("/authorize?client_id=web&request_uri={}", enc(&uri)), "alice", "alice-password-1")
            .await;
    let q = query_of(&back);
    assert_eq!(q["state"], "pushed-st", "{back}");
    redeem_with_oauth2(&s, &secret, &q["code"], verifier).await;
    // Its jti was consumed at the push: the same object cannot be used at /authorize.
    assert_object_refused(&s, &ua.get(&outer_url(&jwt, &[])).await, "jti replayed after a push");
    // Nor pushed twice.
    let r = post_form(&s.url("/par"), Some(&basic("web", &secret)), &form(&[("request", &jwt)])).await;
    r.assert_error(400, "invalid_request_object");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_objects_end_to_end_on_sqlite() {
    request_objects_end_to_end(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn request_objects_end_to_end_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    request_objects_end_to_end(Some(db)).await;
}

/// Every claim and signature check, at /authorize (redirected) and at /par (400 JSON).
#[tokio::test(flavor = "multi_thread")]
async fn bad_request_objects_are_refused() {
    let (s, secret, key) = setup(None).await;
    let ua = UserAgent::new(&s.base);
    let other = ClientKey::new("k1");
    let (good, _) = claims(&s, "st");
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c["jti"] = json!(keycard::jose::random_token(16));
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v;
        }
        c
    };
    let unsigned =
        |header: &Value, c: &Value, sig: &str| format!("{}.{}.{sig}", b64(header.to_string()), b64(c.to_string()));
    let hs256 = {
        let c = with("jti", json!("hs"));
        let input = format!("{}.{}", b64(json!({"alg": "HS256", "kid": "k1"}).to_string()), b64(c.to_string()));
        let tag = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"shared"),
            input.as_bytes(),
        );
        format!("{input}.{}", b64(tag.as_ref()))
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&json!({"alg": "none"}), &with("jti", json!("n1")), "")),
        (
            "alg none with a signature",
            unsigned(&json!({"alg": "none", "kid": "k1"}), &with("jti", json!("n2")), "c2ln"),
        ),
        ("HS256", hs256),
        ("signed by another key", other.sign(&with("jti", json!("o1")))),
        ("tampered payload", {
            let t = key.sign(&with("jti", json!("t1")));
            let parts: Vec<&str> = t.split('.').collect();
            format!("{}.{}.{}", parts[0], b64(with("scope", json!("openid email")).to_string()), parts[2])
        }),
        ("not a JWS", "not-a-jwt".to_owned()),
        (
            "wrong typ",
            key.sign_with_header(&json!({"alg": "ES256", "kid": "k1", "typ": "dpop+jwt"}), &with("jti", json!("y1"))),
        ),
        ("wrong aud", key.sign(&with("aud", json!("https://other.example")))),
        ("aud missing", key.sign(&with("aud", Value::Null))),
        ("wrong iss", key.sign(&with("iss", json!("spa")))),
        ("iss missing", key.sign(&with("iss", Value::Null))),
        ("client_id mismatch", key.sign(&with("client_id", json!("spa")))),
        ("client_id missing", key.sign(&with("client_id", Value::Null))),
        ("expired", key.sign(&with("exp", json!(T0 - 31)))),
        ("exp missing", key.sign(&with("exp", Value::Null))),
        ("exp not a number", key.sign(&with("exp", json!("soon")))),
        ("exp too far ahead", key.sign(&with("exp", json!(T0 + 7200)))),
        ("nbf in the future", key.sign(&with("nbf", json!(T0 + 120)))),
        ("iat in the future", key.sign(&with("iat", json!(T0 + 120)))),
        ("empty jti", key.sign(&with("jti", json!("")))),
        ("inner response_type differs from the outer", key.sign(&with("response_type", json!("token")))),
    ];
    for (what, jwt) in &cases {
        assert_object_refused(&s, &ua.get(&outer_url(jwt, &[])).await, what);
    }
    // The same at the pushed request endpoint: 400 invalid_request_object, no-store.
    for (what, jwt) in &cases[..cases.len() - 1] {
        let r = post_form(&s.url("/par"), Some(&basic("web", &secret)), &form(&[("request", jwt)])).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        r.assert_error(400, "invalid_request_object");
    }
    // RFC 9101 §4: a request object cannot carry request or request_uri (seen once it is verified,
    // so the error goes with the object's own state).
    for (name, code) in [("request", "invalid_request_object"), ("request_uri", "request_uri_not_supported")] {
        let r = ua.get(&outer_url(&key.sign(&with(name, json!("urn:ietf:params:oauth:request_uri:x"))), &[])).await;
        let loc = r.location();
        assert!(loc.starts_with(&format!("{WEB_CB}?error={code}")), "nested {name}: {loc}");
        assert_eq!(query_of(&loc)["state"], "st");
    }
    // Within the leeway: an exp 10 s past still passes.
    let r = ua.get(&outer_url(&key.sign(&with("exp", json!(T0 - 10))), &[])).await;
    assert!(r.location().starts_with("/login?request="), "{}", r.location());
    // Valid object, invalid authorization parameters inside: the validator's error, redirected.
    let r = ua.get(&outer_url(&key.sign(&with("scope", json!("openid bogus"))), &[])).await;
    assert!(r.location().starts_with(&format!("{WEB_CB}?error=invalid_scope")), "{}", r.location());
    // A client without registered keys: refused.
    let (c, _) = claims(&s, "st");
    let mut c = c;
    c["iss"] = json!("spa");
    c["client_id"] = json!("spa");
    c["redirect_uri"] = json!("https://spa.example/cb");
    let url = format!(
        "/authorize?{}",
        form(&[
            ("client_id", "spa"),
            ("redirect_uri", "https://spa.example/cb"),
            ("state", "x"),
            ("request", &key.sign(&c))
        ])
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    assert!(back.starts_with("https://spa.example/cb?error=invalid_request_object"), "{back}");

    // Before the client and redirect URI are verified: an error page, never a redirect (A4).
    let jwt = key.sign(&with("jti", json!("p1")));
    let r = ua.get(&outer_url(&jwt, &[]).replace("client_id=web", "client_id=nope")).await;
    assert_error_page(&r, "request object with an unknown client");
    let r = ua.get(&outer_url(&jwt, &[]).replace(&enc(WEB_CB), &enc("https://evil.example/cb"))).await;
    assert_error_page(&r, "request object with a wrong outer redirect URI");

    // RFC 9101 §5: the outer request may carry only client_id and request (web has two
    // redirect URIs, so the URI comes from the object). A bad object then has nowhere verified
    // to go: an error page.
    let (c, _) = claims(&s, "st");
    let r = ua.get(&format!("/authorize?{}", form(&[("client_id", "web"), ("request", &key.sign(&c))]))).await;
    assert!(r.location().starts_with(&format!("{WEB_CB}?code=")), "alice is signed in: {}", r.location());
    let r = ua.get(&format!("/authorize?{}", form(&[("client_id", "web"), ("request", &other.sign(&c))]))).await;
    assert_error_page(&r, "bad request object without an outer redirect URI");
    assert!(r.body.contains("invalid_request_object"), "{}", r.body);

    // Metadata: asymmetric algs only.
    let meta = send(http().get(s.url("/.well-known/openid-configuration"))).await.json();
    assert_eq!(meta["request_parameter_supported"], true);
    assert_eq!(meta["request_object_signing_alg_values_supported"], json!(["ES256", "PS256", "RS256", "EdDSA"]));
    s.stop().await;
}

/// Found by the fuzz target `client_jws` (issue 10 item 7): a request object's string claims
/// became parameters without the NUL check every form body gets (SECURITY I5), so a `nonce`
/// with a NUL reached the authorization code's row: PostgreSQL refuses NUL in text, and the
/// sign-in ended in a 500. Refused as `invalid_request_object` at `/authorize` and at `/par`.
async fn nul_in_a_request_object(db: Option<TestDb>) {
    let (s, secret, key) = setup(db).await;
    let ua = UserAgent::new(&s.base);
    for (name, value) in [("nonce", "n\u{0}x"), ("state", "\u{0}"), ("login_hint", "alice\u{0}")] {
        let (mut c, _) = claims(&s, "st");
        c[name] = json!(value);
        let jwt = key.sign(&c);
        let r = ua.get(&outer_url(&jwt, &[])).await;
        assert_object_refused(&s, &r, &format!("a NUL in {name}"));
        let (mut c, _) = claims(&s, "st");
        c[name] = json!(value);
        let r = post_form(&s.url("/par"), Some(&basic("web", &secret)), &form(&[("request", &key.sign(&c))])).await;
        r.assert_error(400, "invalid_request_object");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_in_a_request_object_is_refused_on_sqlite() {
    nul_in_a_request_object(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nul_in_a_request_object_is_refused_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    nul_in_a_request_object(Some(db)).await;
}
