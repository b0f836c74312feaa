//! RFC 9449 DPoP end to end, on SQLite and PostgreSQL (SECURITY F1–F6): DPoP client_credentials
//! through the `oauth2` crate (it has no DPoP support: the proof header is added in its HTTP
//! client hook), `cnf.jkt` in JWTs and in introspection, a public client's code flow with
//! `dpop_jkt` and a bound refresh token, `/userinfo` in the DPoP scheme, server nonces, and a
//! negative test for every proof check. One proof raced over two nodes (accepted exactly once)
//! is in the reliability suite, tests/exactly_once/jti.rs.

mod common;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use keycard::admin::ClientSpec;
use keycard::config::Config;
use keycard::model::{GrantType, TokenFormat};
use keycard::store::conformance::TestDb;
use oauth2::basic::BasicClient;
use oauth2::{ClientId, ClientSecret, TokenResponse, TokenUrl};
use serde_json::{Value, json};

/// The wall clock (the servers here run on it).
#[allow(clippy::disallowed_methods)]
fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// A client's DPoP key (ES256).
struct DpopKey {
    pair: EcdsaKeyPair,
    jwk: Value,
}

impl DpopKey {
    fn new() -> DpopKey {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty":"EC","crv":"P-256","x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        DpopKey { pair, jwk }
    }

    fn jkt(&self) -> String {
        keycard_resource::jwk::PublicKey::from_jwk(&self.jwk).unwrap().thumbprint()
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn header(&self) -> Value {
        json!({"typ":"dpop+jwt","alg":"ES256","jwk":self.jwk})
    }

    fn claims(htm: &str, htu: &str) -> Value {
        json!({"jti": keycard::jose::random_token(12), "htm": htm, "htu": htu, "iat": now()})
    }

    /// A fresh proof for `htm` `htu`.
    fn proof(&self, htm: &str, htu: &str) -> String {
        self.sign(&self.header(), &Self::claims(htm, htu))
    }

    /// A fresh proof for a resource request with `token` (`ath`) and an optional nonce.
    fn proof_for(&self, htm: &str, htu: &str, token: &str, nonce: Option<&str>) -> String {
        let mut c = Self::claims(htm, htu);
        c["ath"] = json!(keycard_resource::dpop::access_token_hash(token));
        if let Some(n) = nonce {
            c["nonce"] = json!(n);
        }
        self.sign(&self.header(), &c)
    }
}

async fn server(db: Option<TestDb>, configure: impl FnOnce(&mut Config) + Send + 'static) -> TestServer {
    TestServer::start_with(TestOptions { db, configure: Box::new(configure), ..Default::default() }).await
}

async fn cc_client(s: &TestServer, id: &str, format: TokenFormat) -> (String, String) {
    s.create_client(ClientSpec {
        id: Some(id.into()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["api:read".into()],
        token_format: Some(format),
        audience: Some("https://api.example".into()),
        resource_audiences: vec!["https://api.example".into()],
        ..Default::default()
    })
    .await
}

/// A client_credentials token request with the given DPoP header values.
async fn cc_dpop(s: &TestServer, id: &str, secret: &str, proofs: &[&str]) -> Res {
    let mut rb = http()
        .post(s.url("/token"))
        .header("authorization", basic(id, secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("grant_type=client_credentials");
    for p in proofs {
        rb = rb.header("dpop", *p);
    }
    send(rb).await
}

async fn introspect(s: &TestServer, id: &str, secret: &str, token: &str) -> Value {
    post_form(&s.url("/introspect"), Some(&basic(id, secret)), &format!("token={token}")).await.json()
}

// ---- client_credentials ------------------------------------------------------------------------

async fn client_credentials_are_bound(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    let (id, secret) = cc_client(&s, "svc:dpop", TokenFormat::Jwt).await;
    let key = DpopKey::new();

    // The oauth2 crate has no DPoP support; the proof goes in through its HTTP client hook.
    let token_url = s.url("/token");
    let proof = key.proof("POST", &token_url);
    let with_dpop = |mut req: oauth2::HttpRequest| {
        req.headers_mut().insert("dpop", proof.parse().unwrap());
        oauth2_http(req)
    };
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret.clone()))
        .set_token_uri(TokenUrl::new(token_url.clone()).unwrap());
    let tok = client.exchange_client_credentials().request_async(&with_dpop).await.expect("DPoP token");
    assert!(tok.token_type().as_ref().eq_ignore_ascii_case("dpop"), "{:?}", tok.token_type());
    let at = tok.access_token().secret().clone();
    let (_, claims) = jwt_parts(&at);
    assert_eq!(claims["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.1 cnf.jkt");
    let i = introspect(&s, &id, &secret, &at).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["token_type"], "DPoP");
    assert_eq!(i["cnf"]["jkt"], key.jkt(), "RFC 9449 §6.2");

    // The same proof again: refused (jti replay, §11.1).
    let again = client.exchange_client_credentials().request_async(&with_dpop).await;
    assert!(again.is_err(), "a replayed proof must be refused");
    cc_dpop(&s, &id, &secret, &[&proof]).await.assert_error(400, "invalid_dpop_proof");

    // Without a proof: a bearer token, no cnf.
    let r = cc_token(&s, &id, &secret, None).await;
    assert_eq!(r.json()["token_type"], "Bearer");
    assert!(jwt_parts(r.json()["access_token"].as_str().unwrap()).1.get("cnf").is_none());

    // Opaque tokens: the thumbprint is stored and introspection shows it.
    let (oid, osecret) = cc_client(&s, "svc:opaque", TokenFormat::Opaque).await;
    let r = cc_dpop(&s, &oid, &osecret, &[&key.proof("POST", &token_url)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_type"], "DPoP");
    let i = introspect(&s, &oid, &osecret, r.json()["access_token"].as_str().unwrap()).await;
    assert_eq!((i["token_type"].as_str(), i["cnf"]["jkt"].as_str()), (Some("DPoP"), Some(key.jkt().as_str())));

    // A client registered with dpop_bound_access_tokens must send a proof.
    let admin = s.admin();
    let mut c = admin.client(&id).await.unwrap();
    c.settings.dpop_bound_access_tokens = true;
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    cc_token(&s, &id, &secret, None).await.assert_error(400, "invalid_dpop_proof");
    assert_eq!(cc_dpop(&s, &id, &secret, &[&key.proof("POST", &token_url)]).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f4_f5_client_credentials_are_dpop_bound_on_sqlite() {
    client_credentials_are_bound(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f4_f5_client_credentials_are_dpop_bound_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    client_credentials_are_bound(Some(db)).await;
}

// ---- F1/F3/F4: every proof check at /token ---------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn f1_f2_f3_f4_token_endpoint_refuses_each_bad_proof() {
    let s = server(None, |_| {}).await;
    let (id, secret) = cc_client(&s, "svc:neg", TokenFormat::Jwt).await;
    let key = DpopKey::new();
    let other = DpopKey::new();
    let url = s.url("/token");
    let good = || DpopKey::claims("POST", &url);
    let with = |k: &str, v: Value| {
        let mut c = good();
        c[k] = v;
        c
    };
    let mut private = key.jwk.clone();
    private["d"] = json!(B64.encode([7u8; 32]));
    let hs256 = {
        // HMAC over the proof with the public key's bytes as the "secret": never accepted.
        let h = json!({"typ":"dpop+jwt","alg":"HS256","jwk":key.jwk});
        let input = format!("{}.{}", B64.encode(h.to_string()), B64.encode(good().to_string()));
        let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, key.jwk["x"].as_str().unwrap().as_bytes());
        format!("{input}.{}", B64.encode(aws_lc_rs::hmac::sign(&k, input.as_bytes()).as_ref()))
    };
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"typ":"dpop+jwt","alg":"none","jwk":key.jwk}).to_string()),
        B64.encode(good().to_string())
    );
    let cases: Vec<(&str, String)> = vec![
        ("typ wrong", key.sign(&json!({"typ":"JWT","alg":"ES256","jwk":key.jwk}), &good())),
        ("typ missing", key.sign(&json!({"alg":"ES256","jwk":key.jwk}), &good())),
        ("alg none", none),
        ("HS256", hs256),
        ("jwk missing", key.sign(&json!({"typ":"dpop+jwt","alg":"ES256"}), &good())),
        ("jwk with d", key.sign(&json!({"typ":"dpop+jwt","alg":"ES256","jwk":private}), &good())),
        ("signed by another key", other.sign(&key.header(), &good())),
        ("htm wrong", key.sign(&key.header(), &with("htm", json!("GET")))),
        ("htu other path", key.sign(&key.header(), &with("htu", json!(s.url("/introspect"))))),
        ("htu other host", key.sign(&key.header(), &with("htu", json!("https://evil.example/token")))),
        ("iat too old", key.sign(&key.header(), &with("iat", json!(now() - 3600)))),
        ("iat in the future", key.sign(&key.header(), &with("iat", json!(now() + 3600)))),
        ("jti missing", key.sign(&key.header(), &json!({"htm":"POST","htu":url,"iat":now()}))),
        ("htm missing", key.sign(&key.header(), &json!({"jti":"j1","htu":url,"iat":now()}))),
        ("htu missing", key.sign(&key.header(), &json!({"jti":"j2","htm":"POST","iat":now()}))),
        ("iat missing", key.sign(&key.header(), &json!({"jti":"j3","htm":"POST","htu":url}))),
        ("htm PUT", key.sign(&key.header(), &with("htm", json!("PUT")))),
        ("htu not a string", key.sign(&key.header(), &with("htu", json!(42)))),
        ("exp in the past", key.sign(&key.header(), &with("exp", json!(now() - 120)))),
        ("alg missing", key.sign(&json!({"typ":"dpop+jwt","jwk":key.jwk}), &good())),
        ("not a JWT", "garbage".into()),
    ];
    for (what, proof) in &cases {
        let r = cc_dpop(&s, &id, &secret, &[proof]).await;
        assert_eq!(r.status, 400, "{what}: {}", r.body);
        assert_eq!(r.json()["error"], "invalid_dpop_proof", "{what}: {}", r.body);
        assert!(!r.body.contains(proof.as_str()) || proof.len() < 10, "{what}: the proof is never echoed");
    }
    // Two DPoP headers (§4.3 item 1), even two good ones.
    let r = cc_dpop(&s, &id, &secret, &[&key.proof("POST", &url), &key.proof("POST", &url)]).await;
    r.assert_error(400, "invalid_dpop_proof");
    // The query is not part of htu (§4.3 item 9), nor the case of scheme and host, nor a default port.
    let r = cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &with("htu", json!(format!("{url}?x=1"))))]).await;
    assert_eq!(r.status, 200, "htu with a query: {}", r.body);
    let upper = url.replace("http://", "HTTP://");
    assert_eq!(cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &with("htu", json!(upper)))]).await.status, 200);
    // Within the window (F3: ±10 s accepted with the defaults).
    for iat in [now() - 10, now() + 9] {
        let r = cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &with("iat", json!(iat)))]).await;
        assert_eq!(r.status, 200, "iat {iat}: {}", r.body);
    }
    let frag = key.sign(&key.header(), &with("htu", json!(format!("{url}#frag"))));
    assert_eq!(cc_dpop(&s, &id, &secret, &[&frag]).await.status, 200, "fragment in htu is ignored");
    let r = cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &with("iat", json!(now() - 30)))]).await;
    assert_eq!(r.status, 200, "a proof made 30 s ago (pre-generated): {}", r.body);
    s.stop().await;
}

// ---- F5/F6: public code flow, dpop_jkt, bound refresh, /userinfo -----------------------------

async fn public_code_flow(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let key = DpopKey::new();
    let other = DpopKey::new();
    let token_url = s.url("/token");
    let cb = "https://spa.example/cb";
    let enc = |x: &str| form_urlencoded::byte_serialize(x.as_bytes()).collect::<String>();
    let (v, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=spa&redirect_uri={}&scope={}&state=s&nonce=n&code_challenge={c}&code_challenge_method=S256&dpop_jkt={}",
        enc(cb),
        enc("openid offline_access"),
        key.jkt()
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let body =
        format!("grant_type=authorization_code&client_id=spa&code={code}&redirect_uri={}&code_verifier={v}", enc(cb));
    let token = |proof: Option<String>, body: String| {
        let mut rb = http().post(&token_url).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(p) = proof {
            rb = rb.header("dpop", p);
        }
        send(rb)
    };
    // §10: the code is bound to dpop_jkt: no proof, or another key's, is invalid_grant (and
    // the code survives the failed attempt).
    token(None, body.clone()).await.assert_error(400, "invalid_grant");
    token(Some(other.proof("POST", &token_url)), body.clone()).await.assert_error(400, "invalid_grant");
    let r = token(Some(key.proof("POST", &token_url)), body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = r.json();
    assert_eq!(t["token_type"], "DPoP");
    let at = t["access_token"].as_str().unwrap().to_owned();
    assert_eq!(jwt_parts(&at).1["cnf"]["jkt"], key.jkt());
    let rt = t["refresh_token"].as_str().unwrap().to_owned();

    // §5: the public client's refresh token is bound to the key.
    let refresh = |rt: &str| format!("grant_type=refresh_token&client_id=spa&refresh_token={rt}");
    token(None, refresh(&rt)).await.assert_error(400, "invalid_dpop_proof");
    token(Some(other.proof("POST", &token_url)), refresh(&rt)).await.assert_error(400, "invalid_grant");
    let r = token(Some(key.proof("POST", &token_url)), refresh(&rt)).await;
    assert_eq!(r.status, 200, "refresh with the same key: {}", r.body);
    assert_eq!(r.json()["token_type"], "DPoP");
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(token(Some(key.proof("POST", &token_url)), refresh(&rt2)).await.status, 200, "still bound and working");

    // /userinfo in the DPoP scheme (§7.1).
    let ui = s.url("/userinfo");
    let get = |scheme: &str, token: &str, proofs: Vec<String>| {
        let mut rb = http().get(&ui).header("authorization", format!("{scheme} {token}"));
        for p in proofs {
            rb = rb.header("dpop", p);
        }
        send(rb)
    };
    let r = get("DPoP", &at, vec![key.proof_for("GET", &ui, &at, None)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["sub"].is_string());
    let challenge = |r: &Res| r.header("www-authenticate").unwrap_or("").to_owned();
    // F5: the bound token as a bearer token.
    let r = get("Bearer", &at, vec![]).await;
    assert_eq!(r.status, 401);
    let ch = challenge(&r);
    assert!(ch.starts_with("DPoP ") && ch.contains("error=\"invalid_token\"") && ch.contains("ES256"), "{ch}");
    let refused = |r: Res, what: &str| {
        assert_eq!(r.status, 401, "{what}: {}", r.body);
        let ch = challenge(&r);
        assert!(ch.starts_with("DPoP ") && ch.contains("error=\"invalid_dpop_proof\""), "{what}: {ch}");
    };
    refused(get("DPoP", &at, vec![]).await, "no proof");
    refused(get("DPoP", &at, vec![key.proof("GET", &ui)]).await, "missing ath");
    refused(get("DPoP", &at, vec![key.proof_for("GET", &ui, "another-token", None)]).await, "ath of another token");
    refused(get("DPoP", &at, vec![other.proof_for("GET", &ui, &at, None)]).await, "proof from another key");
    refused(get("DPoP", &at, vec![key.proof_for("POST", &ui, &at, None)]).await, "htm wrong");
    let mut c = DpopKey::claims("GET", &ui);
    c["ath"] = json!(keycard_resource::dpop::access_token_hash(&at));
    refused(get("DPoP", &at, vec![key.sign(&json!({"typ":"JWT","alg":"ES256","jwk":key.jwk}), &c)]).await, "typ");
    refused(
        get("DPoP", &at, vec![key.sign(&json!({"typ":"dpop+jwt","alg":"HS256","jwk":key.jwk}), &c)]).await,
        "HS256",
    );
    refused(get("DPoP", &at, vec!["not-a-jwt".into()]).await, "not a JWT");
    // F5: the scheme is case-insensitive.
    assert_eq!(get("dpop", &at, vec![key.proof_for("GET", &ui, &at, None)]).await.status, 200, "lower-case scheme");
    let r = send(
        http()
            .post(&ui)
            .header("authorization", format!("DPoP {at}"))
            .header("dpop", key.proof_for("POST", &ui, &at, None)),
    )
    .await;
    assert_eq!(r.status, 200, "POST /userinfo with a POST proof: {}", r.body);
    refused(get("DPoP", &at, vec![key.proof_for("GET", &token_url, &at, None)]).await, "htu wrong");
    let p = key.proof_for("GET", &ui, &at, None);
    assert_eq!(get("DPoP", &at, vec![p.clone()]).await.status, 200);
    refused(get("DPoP", &at, vec![p.clone()]).await, "replayed proof");
    refused(get("DPoP", &at, vec![key.proof_for("GET", &ui, &at, None), p]).await, "two DPoP headers");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f5_f6_public_code_flow_with_bound_refresh_on_sqlite() {
    public_code_flow(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f5_f6_public_code_flow_with_bound_refresh_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    public_code_flow(Some(db)).await;
}

/// §5: a confidential client's refresh token is not bound; each new access token is bound to
/// the proof sent with its refresh (or is a bearer token without one).
#[tokio::test(flavor = "multi_thread")]
async fn f6_confidential_refresh_tokens_are_not_bound() {
    let s = server(None, |_| {}).await;
    let (web, secret) = code_flow_fixtures(&s).await;
    let ua = UserAgent::new(&s.base);
    let t = code_flow_tokens(&s, &ua, &web, &secret, "https://web.example/cb", "openid offline_access").await;
    assert_eq!(t["token_type"], "Bearer");
    let rt = t["refresh_token"].as_str().unwrap();
    let key = DpopKey::new();
    let r = send(
        http()
            .post(s.url("/token"))
            .header("authorization", basic(&web, &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", key.proof("POST", &s.url("/token")))
            .body(format!("grant_type=refresh_token&refresh_token={rt}")),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(jwt_parts(r.json()["access_token"].as_str().unwrap()).1["cnf"]["jkt"], key.jkt());
    let rt2 = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &secret)),
        &format!("grant_type=refresh_token&refresh_token={rt2}"),
    )
    .await;
    assert_eq!(r.status, 200, "no proof needed: {}", r.body);
    assert_eq!(r.json()["token_type"], "Bearer");
    s.stop().await;
}

// ---- F4: server nonces -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn f4_server_nonces_when_required() {
    let s = server(None, |c| c.dpop.require_nonce = true).await;
    let (id, secret) = cc_client(&s, "svc:nonce", TokenFormat::Jwt).await;
    let key = DpopKey::new();
    let url = s.url("/token");
    let r = cc_dpop(&s, &id, &secret, &[&key.proof("POST", &url)]).await;
    r.assert_error(400, "use_dpop_nonce");
    let nonce = r.header("dpop-nonce").expect("DPoP-Nonce with use_dpop_nonce").to_owned();
    let mut c = DpopKey::claims("POST", &url);
    c["nonce"] = json!("stale-or-made-up");
    cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &c)]).await.assert_error(400, "use_dpop_nonce");
    c["nonce"] = json!(nonce);
    c["jti"] = json!("another-jti");
    let r = cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &c)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("dpop-nonce").is_some(), "a fresh nonce on success");
    assert!(
        send(http().get(s.url("/.well-known/openid-configuration"))).await.json()["dpop_signing_alg_values_supported"]
            .as_array()
            .is_some_and(|a| a.iter().any(|v| v == "ES256"))
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f4_userinfo_asks_for_a_nonce() {
    let s = server(None, |c| c.dpop.require_nonce = true).await;
    let key = DpopKey::new();
    let (id, secret) = cc_client(&s, "svc:n", TokenFormat::Jwt).await;
    let url = s.url("/token");
    let nonce = cc_dpop(&s, &id, &secret, &[&key.proof("POST", &url)]).await.header("dpop-nonce").unwrap().to_owned();
    let mut claims = DpopKey::claims("POST", &url);
    claims["nonce"] = json!(nonce);
    let r = cc_dpop(&s, &id, &secret, &[&key.sign(&key.header(), &claims)]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r.json()["access_token"].as_str().unwrap().to_owned();
    // The proof is checked before anything about the token's user: a nonce is asked for first.
    let ui = s.url("/userinfo");
    let get = |proof: String| send(http().get(&ui).header("authorization", format!("DPoP {at}")).header("dpop", proof));
    let r = get(key.proof_for("GET", &ui, &at, None)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let ch = r.header("www-authenticate").unwrap_or("").to_owned();
    assert!(ch.starts_with("DPoP ") && ch.contains("error=\"use_dpop_nonce\""), "{ch}");
    let nonce = r.header("dpop-nonce").expect("the nonce comes with the challenge").to_owned();
    // With the nonce the proof passes; the client-credentials token has no user: invalid_token.
    let r = get(key.proof_for("GET", &ui, &at, Some(&nonce))).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").unwrap_or("").contains("error=\"invalid_token\""), "{:?}", r.headers);
    s.stop().await;
}

/// RFC 8628 device code + RFC 9449 §5: a TV (public client) binds its tokens and its refresh
/// token to its key with the poll that redeems the approval.
async fn device_flow_is_bound(db: Option<TestDb>) {
    let s = server(db, |_| {}).await;
    code_flow_fixtures(&s).await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "offline_access".into(), "api:read".into()],
        ..Default::default()
    })
    .await;
    let d = post_form(&s.url("/device_authorization"), None, "client_id=tv&scope=openid+offline_access+api%3Aread")
        .await
        .json();
    let ua = UserAgent::new(&s.base);
    let (_, done) = device_user_acts(&ua, d["user_code"].as_str().unwrap(), "Living Room TV", "approve").await;
    assert!(done.status < 400, "{}", done.body);
    let key = DpopKey::new();
    let url = s.url("/token");
    let post = |body: String, proof: Option<String>| {
        let mut rb = http().post(&url).header("content-type", "application/x-www-form-urlencoded").body(body);
        if let Some(p) = proof {
            rb = rb.header("dpop", p);
        }
        send(rb)
    };
    let grant = "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code";
    let r = post(
        format!("grant_type={grant}&client_id=tv&device_code={}", d["device_code"].as_str().unwrap()),
        Some(key.proof("POST", &url)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(jwt_parts(r.json()["access_token"].as_str().unwrap()).1["cnf"]["jkt"], key.jkt());
    let rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let refresh = format!("grant_type=refresh_token&client_id=tv&refresh_token={rt}");
    post(refresh.clone(), Some(DpopKey::new().proof("POST", &url))).await.assert_error(400, "invalid_grant");
    assert_eq!(post(refresh, Some(key.proof("POST", &url))).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f6_device_flow_is_dpop_bound_on_sqlite() {
    device_flow_is_bound(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn f6_device_flow_is_dpop_bound_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    device_flow_is_bound(Some(db)).await;
}

/// The legacy password grant, when enabled, binds its tokens too (RFC 9449 §5 covers every
/// grant); its confidential client's refresh token is not bound.
#[tokio::test(flavor = "multi_thread")]
async fn f5_password_grant_is_dpop_bound_when_enabled() {
    let s = server(None, |c| c.legacy.password_grant = true).await;
    code_flow_fixtures(&s).await;
    let (id, secret) = s
        .create_client(ClientSpec {
            id: Some("legacy".into()),
            grant_types: vec![GrantType::Password, GrantType::RefreshToken],
            scopes: vec!["openid".into(), "api:read".into()],
            ..Default::default()
        })
        .await;
    let key = DpopKey::new();
    let r = send(
        http()
            .post(s.url("/token"))
            .header("authorization", basic(&id, &secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", key.proof("POST", &s.url("/token")))
            .body("grant_type=password&username=alice&password=alice-password-1&scope=api%3Aread"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["token_type"], "DPoP");
    assert_eq!(jwt_parts(r.json()["access_token"].as_str().unwrap()).1["cnf"]["jkt"], key.jkt());
    let rt = r.json()["refresh_token"].as_str().unwrap().to_owned();
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&id, &secret)),
        &format!("grant_type=refresh_token&refresh_token={rt}"),
    )
    .await;
    assert_eq!((r.status, r.json()["token_type"].as_str()), (200, Some("Bearer")), "{}", r.body);
    s.stop().await;
}

// ---- CORS for browser apps ---------------------------------------------------------------------

/// Browser apps send `DPoP` and read `DPoP-Nonce` and `WWW-Authenticate` (RFC 9449 §8, §7.1).
#[tokio::test(flavor = "multi_thread")]
async fn dpop_headers_pass_cors_for_registered_origins() {
    let s = server(None, |c| c.dpop.require_nonce = true).await;
    const APP: &str = "https://app.example";
    s.create_client(ClientSpec {
        id: Some("spa".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into()],
        redirect_uris: vec![format!("{APP}/cb")],
        web_origins: vec![APP.into()],
        ..Default::default()
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !s.state.clients.origin_registered(APP) && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for path in ["/token", "/userinfo"] {
        let r = send(
            http()
                .request(reqwest::Method::OPTIONS, s.url(path))
                .header("origin", APP)
                .header("access-control-request-method", "POST")
                .header("access-control-request-headers", "dpop, content-type"),
        )
        .await;
        assert!(r.status < 300, "{path}: {}", r.status);
        let allowed = r.header("access-control-allow-headers").unwrap_or("").to_ascii_lowercase();
        assert!(allowed.contains("dpop"), "{path}: {allowed}");
    }
    let r = send(
        http()
            .post(s.url("/token"))
            .header("origin", APP)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("dpop", DpopKey::new().proof("POST", &s.url("/token")))
            .body("grant_type=refresh_token&client_id=spa&refresh_token=kc_rt_x"),
    )
    .await;
    r.assert_error(400, "use_dpop_nonce");
    let exposed = r.header("access-control-expose-headers").unwrap_or("").to_ascii_lowercase();
    assert!(exposed.contains("dpop-nonce") && exposed.contains("www-authenticate"), "{exposed}");
    assert!(r.header("dpop-nonce").is_some());
    s.stop().await;
}
