//! DPoP-bound tokens (RFC 9449 §7) at a resource server, against a real Keycard on loopback:
//! the plain API (`Validator::validate_dpop`) and the axum extractor accept a bound token with
//! a right proof and refuse each failed check that applies to resources (SECURITY F1–F5):
//! bearer downgrade, unbound token in the DPoP scheme, no proof, two proofs, missing or wrong
//! `ath`, another key, wrong `htm`/`htu`, stale or future `iat`, replay, bad `typ`, `alg: none`,
//! a private `jwk`. Opaque tokens carry their `cnf.jkt` through introspection.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use keycard::admin::ClientSpec;
use keycard::model::{GrantType, TokenFormat};
use keycard::testing::TestServer;
use keycard_resource::{Error, InvalidToken, Validator};
use serde_json::{Value, json};

const API: &str = "https://api.example";
const URL: &str = "https://api.example/invoices";

#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

struct Key {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl Key {
    fn new() -> Key {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty":"EC","crv":"P-256","x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        Key { pair, jwk }
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn header(&self) -> Value {
        json!({"typ":"dpop+jwt","alg":"ES256","jwk":self.jwk})
    }

    fn claims(htm: &str, htu: &str, token: &str) -> Value {
        json!({"jti": keycard::jose::random_token(12), "htm": htm, "htu": htu, "iat": now(),
               "ath": keycard_resource::dpop::access_token_hash(token)})
    }

    fn proof(&self, htm: &str, htu: &str, token: &str) -> String {
        self.sign(&self.header(), &Self::claims(htm, htu, token))
    }
}

fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

async fn client(s: &TestServer, id: &str, format: TokenFormat) -> (String, String) {
    s.create_client(ClientSpec {
        id: Some(id.into()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["invoices:read".into()],
        token_format: Some(format),
        audience: Some(API.into()),
        ..Default::default()
    })
    .await
}

/// A client_credentials token, DPoP-bound to `key` when given.
async fn token(s: &TestServer, id: &str, secret: &str, key: Option<&Key>) -> String {
    let mut rb = reqwest::Client::new()
        .post(s.url("/token"))
        .header("authorization", basic(id, secret))
        .form(&[("grant_type", "client_credentials")]);
    if let Some(k) = key {
        let c = json!({"jti": keycard::jose::random_token(12), "htm": "POST", "htu": s.url("/token"), "iat": now()});
        rb = rb.header("dpop", k.sign(&k.header(), &c));
    }
    let res = rb.send().await.unwrap();
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["token_type"], if key.is_some() { "DPoP" } else { "Bearer" }, "{v}");
    v["access_token"].as_str().unwrap().to_owned()
}

fn proof_error(r: Result<keycard_resource::Claims, Error>, what: &str) {
    match r {
        Err(e @ Error::InvalidDpopProof(_)) => {
            assert_eq!(e.status(), 401, "{what}");
            let ch = e.www_authenticate(None).unwrap();
            assert!(ch.starts_with("DPoP algs=") && ch.contains("error=\"invalid_dpop_proof\""), "{what}: {ch}");
        }
        other => panic!("{what}: expected invalid_dpop_proof, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn f1_f5_plain_api_checks_every_proof() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc:dpop", TokenFormat::Jwt).await;
    let key = Key::new();
    let other = Key::new();
    let t = token(&s, &id, &secret, Some(&key)).await;
    let v = Validator::builder(&s.base).audience(API).build().unwrap();

    let p = key.proof("GET", URL, &t);
    let c = v.validate_dpop(&t, &[p.as_bytes()], "GET", URL).await.expect("bound token with its proof");
    assert_eq!(c.subject, id);
    assert_eq!(keycard_resource::dpop::bound_jkt(&c.raw).unwrap().len(), 43);
    // The query of the request URL is not part of htu.
    let p2 = key.proof("GET", URL, &t);
    v.validate_dpop(&t, &[p2.as_bytes()], "GET", &format!("{URL}?page=2")).await.unwrap();

    // F5: downgrade to Bearer.
    let e = v.validate(&t).await.unwrap_err();
    assert!(matches!(e, Error::InvalidToken(InvalidToken::DpopBound)), "{e:?}");
    assert!(e.www_authenticate(None).unwrap().starts_with("DPoP algs="), "{:?}", e.www_authenticate(None));
    // An unbound token in the DPoP scheme.
    let plain = token(&s, &id, &secret, None).await;
    let pp = key.proof("GET", URL, &plain);
    let e = v.validate_dpop(&plain, &[pp.as_bytes()], "GET", URL).await.unwrap_err();
    assert!(matches!(e, Error::InvalidToken(InvalidToken::NotDpopBound)), "{e:?}");

    let with = |k: &str, val: Value| {
        let mut c = Key::claims("GET", URL, &t);
        c[k] = val;
        key.sign(&key.header(), &c)
    };
    let mut no_ath = Key::claims("GET", URL, &t);
    no_ath.as_object_mut().unwrap().remove("ath");
    let mut private = key.jwk.clone();
    private["d"] = json!(B64.encode([1u8; 32]));
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"typ":"dpop+jwt","alg":"none","jwk":key.jwk}).to_string()),
        B64.encode(Key::claims("GET", URL, &t).to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        ("missing ath", key.sign(&key.header(), &no_ath)),
        ("ath of another token", key.proof("GET", URL, &plain)),
        ("proof from another key", other.proof("GET", URL, &t)),
        ("htm wrong", key.proof("POST", URL, &t)),
        ("htu other path", key.proof("GET", "https://api.example/other", &t)),
        ("htu other host", key.proof("GET", "https://evil.example/invoices", &t)),
        ("iat too old", with("iat", json!(now() - 3600))),
        ("iat in the future", with("iat", json!(now() + 3600))),
        ("typ wrong", key.sign(&json!({"typ":"jwt","alg":"ES256","jwk":key.jwk}), &Key::claims("GET", URL, &t))),
        ("alg none", none),
        ("jwk with d", key.sign(&json!({"typ":"dpop+jwt","alg":"ES256","jwk":private}), &Key::claims("GET", URL, &t))),
        ("not a JWT", "x.y.z".into()),
    ];
    for (what, proof) in &cases {
        proof_error(v.validate_dpop(&t, &[proof.as_bytes()], "GET", URL).await, what);
    }
    proof_error(v.validate_dpop(&t, &[], "GET", URL).await, "no proof");
    let (a, b) = (key.proof("GET", URL, &t), key.proof("GET", URL, &t));
    proof_error(v.validate_dpop(&t, &[a.as_bytes(), b.as_bytes()], "GET", URL).await, "two proofs");
    // Replay: the first good proof again.
    proof_error(v.validate_dpop(&t, &[p.as_bytes()], "GET", URL).await, "replayed proof");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f5_opaque_tokens_are_bound_through_introspection() {
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc:opaque", TokenFormat::Opaque).await;
    let (rs, rs_secret) = s
        .create_client(ClientSpec {
            id: Some("rs:api".into()),
            resource_audiences: vec![API.into()],
            ..Default::default()
        })
        .await;
    let key = Key::new();
    let t = token(&s, &id, &secret, Some(&key)).await;
    let v = Validator::builder(&s.base).audience(API).introspection_credentials(rs, rs_secret).build().unwrap();
    let p = key.proof("GET", URL, &t);
    v.validate_dpop(&t, &[p.as_bytes()], "GET", URL).await.expect("opaque bound token");
    let e = v.validate(&t).await.unwrap_err();
    assert!(matches!(e, Error::InvalidToken(InvalidToken::DpopBound)), "{e:?}");
    proof_error(v.validate_dpop(&t, &[Key::new().proof("GET", URL, &t).as_bytes()], "GET", URL).await, "other key");
    s.stop().await;
}

#[cfg(feature = "axum")]
#[tokio::test(flavor = "multi_thread")]
async fn f5_axum_extractor_takes_both_schemes() {
    use axum::routing::get;
    use keycard_resource::axum::{BearerClaims, require_scopes};
    use std::sync::Arc;

    async fn me(BearerClaims(c): BearerClaims) -> String {
        c.subject.clone()
    }
    let s = TestServer::start().await;
    let (id, secret) = client(&s, "svc:axum", TokenFormat::Jwt).await;
    // The API is reached on loopback here, but clients address it as https://api.example: the
    // proofs' htu is the public URL (the audience by default), never the Host header.
    let v = Arc::new(Validator::builder(&s.base).audience(API).build().unwrap());
    let app = axum::Router::new()
        .route("/invoices", get(me).route_layer(require_scopes(v.clone(), ["invoices:read"])))
        .route("/me", get(me))
        .with_state(v);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let key = Key::new();
    let t = token(&s, &id, &secret, Some(&key)).await;
    let call = |path: &str, auth: String, proofs: Vec<String>| {
        let mut rb = http.get(format!("{base}{path}")).header("authorization", auth);
        for p in proofs {
            rb = rb.header("dpop", p);
        }
        async move {
            let r = rb.send().await.unwrap();
            let ch = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            (r.status().as_u16(), ch, r.text().await.unwrap())
        }
    };
    for path in ["/invoices", "/me"] {
        let url = format!("{API}{path}");
        let (st, _, body) = call(path, format!("DPoP {t}"), vec![key.proof("GET", &url, &t)]).await;
        assert_eq!((st, body.as_str()), (200, id.as_str()), "{path}");
        // Twice, with a fresh proof each time (the cached path must still check the proof).
        let p = key.proof("GET", &url, &t);
        assert_eq!(call(path, format!("DPoP {t}"), vec![p.clone()]).await.0, 200, "{path}");
        let (st, ch, _) = call(path, format!("DPoP {t}"), vec![p]).await;
        assert_eq!(st, 401, "{path}: replay");
        assert!(ch.starts_with("DPoP ") && ch.contains("invalid_dpop_proof"), "{path}: {ch}");
        let (st, ch, _) = call(path, format!("Bearer {t}"), vec![]).await;
        assert_eq!(st, 401, "{path}: bearer downgrade");
        assert!(ch.starts_with("DPoP ") && ch.contains("error=\"invalid_token\""), "{path}: {ch}");
        let (st, ch, _) = call(path, format!("DPoP {t}"), vec![]).await;
        assert_eq!(st, 401, "{path}: no proof");
        assert!(ch.contains("invalid_dpop_proof"), "{path}: {ch}");
        let (st, _, _) = call(path, format!("DPoP {t}"), vec![key.proof("GET", &format!("{base}{path}"), &t)]).await;
        assert_eq!(st, 401, "{path}: htu of the loopback address, not the public URL");
    }
    // A plain bearer token still works as before.
    let plain = token(&s, &id, &secret, None).await;
    assert_eq!(call("/invoices", format!("Bearer {plain}"), vec![]).await.0, 200);
    s.stop().await;
}
