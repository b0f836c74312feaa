#![no_main]
//! JWK and JWK Set parsing (RFC 7517, RFC 7638): keycard-resource's `PublicKey::from_jwk` and
//! `KeySet::from_jwks` (client keys, DPoP proof keys, a resource server's JWKS), Keycard's
//! registration rules (`validate::validate_jwks`, `validate_key_registration`) and its own
//! `PublicJwk` + `VerifyingKeys::new` (its key set). Inputs: raw JSON text, arbitrary JSON, and
//! the RFC 7517 Appendix A.1 keys (and Keycard's test keys) with members edited, added or
//! removed. Asserts: no key with private members or of another family is accepted; an accepted
//! key's thumbprint is the RFC 7638 §3 hash computed independently here; registration accepts
//! only sets of 1 to 32 keys with unique `kid`s.

use arbitrary::Arbitrary;
use aws_lc_rs::digest;
use keycard::model::AuthMethod;
use keycard::validate::{KeyRegistration, MAX_JWKS_KEYS, validate_jwks, validate_key_registration};
use keycard_fuzz::{Edits, Json, b64};
use keycard_resource::jwk::{JwsAlg, KeySet, PublicKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};

fn base(i: u8) -> Map<String, Value> {
    let v = match i % 4 {
        0 => json!({"kty": "EC", "crv": "P-256", "kid": "1", "use": "sig",
            "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4", "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}),
        1 => json!({"kty": "RSA", "kid": "2011-04-29", "e": "AQAB",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}),
        2 => keycard_fuzz::ed25519().1.clone(),
        _ => keycard_fuzz::es256().1.clone(),
    };
    v.as_object().cloned().expect("an object")
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Any(Json),
    Near { keys: Vec<(u8, Edits)>, method: u8, alg: Option<String>, jwks_uri: Option<String> },
}

/// RFC 7638 §3.2–3.3, written independently of the parser: the required members of the key
/// type, in lexicographic order, as compact JSON, then SHA-256.
fn rfc7638(jwk: &Map<String, Value>) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        other => panic!("accepted a key of kty {other:?}"),
    };
    let canonical: std::collections::BTreeMap<&str, &Value> = members.iter().map(|m| (*m, &jwk[*m])).collect();
    let text = serde_json::to_string(&canonical).expect("JSON");
    b64(digest::digest(&digest::SHA256, text.as_bytes()))
}

fn check_key(v: &Value) {
    let Ok(key) = PublicKey::from_jwk(v) else { return };
    let jwk = v.as_object().expect("an accepted JWK is an object");
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(!jwk.contains_key(private), "a JWK with private member {private} was accepted");
    }
    assert_eq!(key.thumbprint(), rfc7638(jwk), "thumbprint is not RFC 7638");
    assert_eq!(key.kid(), jwk.get("kid").and_then(Value::as_str));
    assert!(JwsAlg::ALL.iter().any(|a| key.allows(*a)), "an accepted key allows no alg");
    if let Some(alg) = jwk.get("alg").and_then(Value::as_str) {
        assert!(JwsAlg::ALL.iter().all(|a| key.allows(*a) == (a.as_str() == alg)), "alg {alg} not honoured");
    }
}

fn check_set(v: &Value) {
    if let Ok(set) = KeySet::from_jwks(v) {
        let keys = v["keys"].as_array().expect("keys");
        assert_eq!(set.keys().len(), keys.len());
        keys.iter().for_each(check_key);
        for (i, k) in set.keys().iter().enumerate() {
            assert!(k.kid().is_none() || !set.keys()[..i].iter().any(|o| o.kid() == k.kid()), "duplicate kid accepted");
        }
    }
    if let Ok(set) = validate_jwks(v) {
        assert!((1..=MAX_JWKS_KEYS).contains(&set.keys().len()));
    }
    // Keycard's own key type, as read from its key table.
    if let Ok(jwks) = serde_json::from_value::<keycard::jose::Jwks>(v.clone()) {
        let _ = keycard::jose::VerifyingKeys::new(&jwks.keys);
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(t) => {
            if let Ok(v) = serde_json::from_str::<Value>(&t) {
                check_key(&v);
                check_set(&v);
            }
        }
        Input::Any(Json(v)) => {
            check_key(&v);
            check_set(&v);
            check_set(&json!({"keys": [v]}));
        }
        Input::Near { keys, method, alg, jwks_uri } => {
            let keys: Vec<Value> = keys.iter().take(40).map(|(i, e)| Value::Object(e.apply(base(*i)))).collect();
            keys.iter().for_each(check_key);
            let set = json!({ "keys": keys });
            check_set(&set);
            let methods = [
                AuthMethod::PrivateKeyJwt,
                AuthMethod::ClientSecretJwt,
                AuthMethod::ClientSecretBasic,
                AuthMethod::None,
            ];
            let auth_method = methods[usize::from(method) % methods.len()];
            let with_jwks = method & 0x10 == 0;
            let r = KeyRegistration {
                auth_method,
                jwks: with_jwks.then_some(&set),
                jwks_uri: jwks_uri.as_deref(),
                signing_alg: alg.as_deref(),
            };
            if validate_key_registration(&r).is_ok() {
                assert!(!(r.jwks.is_some() && r.jwks_uri.is_some()), "jwks and jwks_uri together");
                if auth_method == AuthMethod::PrivateKeyJwt {
                    assert!(r.jwks.is_some() || r.jwks_uri.is_some(), "private_key_jwt without keys");
                }
                if let Some(a) = r.signing_alg {
                    assert!(!a.eq_ignore_ascii_case("none"));
                }
            }
        }
    }
});
