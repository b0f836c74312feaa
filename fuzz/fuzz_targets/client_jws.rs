#![no_main]
//! JWS signed by clients, with their claims checks: client assertions (RFC 7523 §3, RFC 7521
//! §4.2: `client_assertion::{Assertion::parse, verify_hmac, check_claims}` for private_key_jwt
//! and client_secret_jwt) and request objects (RFC 9101 §6: `jar::check_request_object`), with
//! the signature checked as the server does (`ClientKeys::verify` with the client's inline
//! `jwks`). Inputs: raw text, and JWS signed (ES256, EdDSA, HS256/384/512) over claims and
//! headers near a valid one, checked with arbitrary rules, optionally edited once after signing.
//! Asserts: an edited JWS never verifies; accepted assertion claims have `iss` = `sub` = the
//! client, an accepted `aud`, a live `exp` within the maximum lifetime and a `jti`; an accepted
//! request object's parameters are what the RFC says (no JWT claim among them, no NUL, which
//! PostgreSQL cannot store) and its `exp` and `jti` are within bounds.

use arbitrary::Arbitrary;
use aws_lc_rs::hmac;
use keycard::client_keys::ClientKeys;
use keycard::model::{AuthMethod, Client, ClientSettings, TokenFormat};
use keycard::oauth::client_assertion::{self, AUDIENCE_PATHS, Assertion};
use keycard::oauth::jar::{self, REQUEST_OBJECT_ALGS};
use keycard::oauth::params::Params;
use keycard_fuzz::{Edit, Edits, ISSUER, NOW, Signer, b64, runtime, time};
use keycard_types::ErrorCode;
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

const SECRET: &[u8] = b"client-secret-of-app-0123456789abcdef";

#[derive(Debug, Clone, Copy, Arbitrary)]
enum Key {
    Asym(Signer),
    Hmac(u8),
}

#[derive(Debug, Arbitrary)]
struct Rules {
    #[arbitrary(with = time)]
    now: i64,
    leeway: i16,
    max_lifetime: i16,
}

#[derive(Debug, Arbitrary)]
enum Input {
    Raw(String),
    Assertion {
        key: Key,
        header: Edits,
        claims: Edits,
        rules: Rules,
        registered: Option<u8>,
        edit: Option<Edit>,
    },
    RequestObject {
        signer: Signer,
        header: Edits,
        claims: Edits,
        outer: Vec<(u8, String)>,
        rules: Rules,
        edit: Option<Edit>,
    },
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

/// The client `app` with both test keys inline (kid `es` and `ed`).
fn client() -> &'static Client {
    static C: OnceLock<Client> = OnceLock::new();
    C.get_or_init(|| {
        let mut es = Signer::Es256.jwk().clone();
        es["kid"] = "es".into();
        let mut ed = Signer::EdDsa.jwk().clone();
        ed["kid"] = "ed".into();
        Client {
            id: "app".into(),
            name: "App".into(),
            secret_hash: None,
            auth_method: AuthMethod::PrivateKeyJwt,
            grant_types: Vec::new(),
            scopes: Vec::new(),
            redirect_uris: Vec::new(),
            access_token_ttl: 300,
            token_format: TokenFormat::Jwt,
            disabled: false,
            settings: ClientSettings { jwks: Some(json!({"keys": [es, ed]})), ..Default::default() },
            created_at: 0,
            updated_at: 0,
        }
    })
}

fn keys() -> &'static ClientKeys {
    static K: OnceLock<ClientKeys> = OnceLock::new();
    K.get_or_init(ClientKeys::default)
}

fn kid(s: Signer) -> &'static str {
    match s {
        Signer::Es256 => "es",
        Signer::EdDsa => "ed",
    }
}

fn hmac_alg(i: u8) -> (&'static str, hmac::Algorithm) {
    [("HS256", hmac::HMAC_SHA256), ("HS384", hmac::HMAC_SHA384), ("HS512", hmac::HMAC_SHA512)][usize::from(i) % 3]
}

fn sign(key: Key, header: &Value, claims: &Value) -> String {
    match key {
        Key::Asym(s) => s.sign(header, claims),
        Key::Hmac(i) => {
            let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
            let tag = hmac::sign(&hmac::Key::new(hmac_alg(i).1, SECRET), input.as_bytes());
            format!("{input}.{}", b64(tag.as_ref()))
        }
    }
}

/// Does the JWS verify as the server checks it for `key`'s kind of client, whose registered
/// `token_endpoint_auth_signing_alg` is `registered`?
fn verifies(key: Key, token: &str, registered: Option<&str>) -> bool {
    match key {
        // The server reads the assertion (its `sub`) before it looks for the client's keys.
        Key::Asym(_) => match (Assertion::parse(token), client_assertion::asymmetric_algs(registered)) {
            (Ok(_), Ok(allowed)) => runtime().block_on(keys().verify(client(), token, &allowed)).is_ok(),
            _ => false,
        },
        Key::Hmac(_) => {
            Assertion::parse(token).is_ok_and(|a| client_assertion::verify_hmac(a.jws(), SECRET, registered).is_ok())
        }
    }
}

fn assertion(key: Key, header: Edits, claims: Edits, rules: Rules, registered: Option<u8>, edit: Option<Edit>) {
    let alg = match key {
        Key::Asym(s) => s.alg(),
        Key::Hmac(i) => hmac_alg(i).0,
    };
    let mut h = obj(json!({"alg": alg, "typ": "JWT"}));
    if let Key::Asym(s) = key {
        h.insert("kid".into(), kid(s).into());
    }
    let h = Value::Object(header.apply(h));
    let aud = format!("{ISSUER}{}", AUDIENCE_PATHS[0]);
    let c = obj(json!({"iss": "app", "sub": "app", "aud": aud, "exp": NOW + 60, "iat": NOW, "jti": "j-1"}));
    let c = Value::Object(claims.apply(c));
    let token = sign(key, &h, &c);
    let registered =
        registered.map(|r| ["ES256", "EdDSA", "PS256", "HS256", "HS384", "HS512", "none"][usize::from(r) % 7]);
    let ok = verifies(key, &token, registered);
    if ok {
        let a = Assertion::parse(&token).expect("a verified assertion parses");
        assert_eq!(Some(a.client_id.as_str()), c["sub"].as_str());
        let used = h["alg"].as_str().expect("alg");
        assert_eq!(used, alg, "verified under an alg other than the signer's");
        assert!(registered.is_none_or(|r| r == used), "the registered alg was not enforced");
        assert_eq!(a.method() == AuthMethod::ClientSecretJwt, matches!(key, Key::Hmac(_)));
    }
    if let Some(edited) = edit.and_then(|e| e.apply(&token))
        && let Ok(t) = String::from_utf8(edited)
    {
        assert!(!verifies(key, &t, registered), "an edited assertion verified");
    }
    let r = client_assertion::Rules {
        issuer: ISSUER,
        now: rules.now,
        leeway: i64::from(rules.leeway),
        max_lifetime: i64::from(rules.max_lifetime),
    };
    if let Ok(checked) = client_assertion::check_claims(&c, "app", &r) {
        assert_eq!((c["iss"].as_str(), c["sub"].as_str()), (Some("app"), Some("app")));
        let aud_ok = |a: &Value| {
            a.as_str().is_some_and(|a| a == ISSUER || AUDIENCE_PATHS.iter().any(|p| a == format!("{ISSUER}{p}")))
        };
        assert!(
            aud_ok(&c["aud"]) || c["aud"].as_array().is_some_and(|l| l.iter().any(aud_ok)),
            "aud {} accepted",
            c["aud"]
        );
        assert!(r.now < checked.exp.saturating_add(r.leeway), "an expired assertion was accepted");
        assert!(checked.exp <= r.now.saturating_add(r.max_lifetime).saturating_add(r.leeway));
        assert!(!checked.jti.is_empty() && checked.jti.len() <= 1024);
        assert_eq!(c["jti"].as_str(), Some(checked.jti.as_str()));
    }
}

fn request_object(
    signer: Signer,
    header: Edits,
    claims: Edits,
    outer: Vec<(u8, String)>,
    rules: Rules,
    edit: Option<Edit>,
) {
    let h = Value::Object(
        header.apply(obj(json!({"alg": signer.alg(), "kid": kid(signer), "typ": "oauth-authz-req+jwt"}))),
    );
    let c = obj(json!({
        "iss": "app", "aud": ISSUER, "client_id": "app", "response_type": "code", "scope": "openid",
        "redirect_uri": "https://client.example/cb", "state": "s-1", "exp": NOW + 60, "iat": NOW, "jti": "j-1"
    }));
    let c = Value::Object(claims.apply(c));
    let token = signer.sign(&h, &c);
    let verified = runtime().block_on(keys().verify(client(), &token, &REQUEST_OBJECT_ALGS));
    if let Some(edited) = edit.and_then(|e| e.apply(&token))
        && let Ok(t) = String::from_utf8(edited)
    {
        assert!(
            runtime().block_on(keys().verify(client(), &t, &REQUEST_OBJECT_ALGS)).is_err(),
            "an edited request object verified"
        );
    }
    let Ok(verified) = verified else { return };
    let names = ["client_id", "response_type", "request", "request_uri", "scope"];
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (n, v) in outer {
        let n = names[usize::from(n) % names.len()];
        if !pairs.iter().any(|(k, _)| k == n) && !v.contains('\0') {
            pairs.push((n.to_owned(), v));
        }
    }
    let outer = Params::from_pairs(pairs).expect("distinct names");
    let r = jar::Rules {
        issuer: ISSUER,
        now: rules.now,
        leeway: i64::from(rules.leeway.clamp(0, 300)),
        max_lifetime: i64::from(rules.max_lifetime.clamp(1, 3600)),
    };
    match jar::check_request_object(&verified.header, verified.claims.clone(), "app", &outer, &r) {
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidRequestObject, "{}", e.description),
        Ok(checked) => {
            assert_eq!(c["iss"], "app");
            assert_eq!(c["client_id"], "app");
            assert!(c["aud"] == ISSUER || c["aud"].as_array().is_some_and(|l| l.iter().any(|a| a == ISSUER)));
            assert!(
                checked.exp.saturating_add(r.leeway) > r.now && checked.exp <= r.now.saturating_add(r.max_lifetime)
            );
            assert!(checked.jti.as_ref().is_none_or(|j| !j.is_empty() && j.len() <= 256));
            for (k, v) in checked.params.pairs() {
                assert!(
                    !["iss", "aud", "exp", "nbf", "iat", "jti", "sub"].contains(&k),
                    "JWT claim {k} became a parameter"
                );
                assert!(!k.contains('\0') && !v.contains('\0'), "a NUL in a request object became a parameter");
            }
            if let Some(rt) = outer.get("response_type") {
                assert_eq!(checked.params.get("response_type"), Some(rt));
            }
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Raw(t) => {
            if let Ok(a) = Assertion::parse(&t) {
                assert!(!a.client_id.is_empty());
                let _ = a.method();
                assert!(client_assertion::verify_hmac(a.jws(), SECRET, None).is_err(), "arbitrary text verified");
            }
        }
        Input::Assertion { key, header, claims, rules, registered, edit } => {
            assertion(key, header, claims, rules, registered, edit)
        }
        Input::RequestObject { signer, header, claims, outer, rules, edit } => {
            request_object(signer, header, claims, outer, rules, edit)
        }
    }
});
