#![no_main]
//! JWS / JWT (RFC 7515, RFC 7519, RFC 8725): keycard-resource's `Jws::decode` (every JWS a
//! client sends: assertions, request objects, DPoP proofs) and Keycard's own verification of the
//! tokens it issued (`VerifyingKeys::verify`, `jose::verify_jwt`: ID token hints, its access
//! tokens). Inputs: arbitrary text; JSON header and payload under a garbage signature; and
//! tokens Keycard really signed (ES256 and EdDSA) over arbitrary claims, then edited once.
//! Asserts: a decoded JWS has an object payload; nothing unsigned verifies; a signed token with
//! an object payload verifies and gives back its claims and `kid`; any edit of it never verifies.

use arbitrary::Arbitrary;
use keycard::jose::{Alg, SigningKey, VerifyingKeys, verify_jwt};
use keycard_fuzz::{Edit, Json, unsigned_jws};
use keycard_resource::jwk::Jws;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

fn own() -> &'static (Vec<SigningKey>, VerifyingKeys) {
    static KEYS: OnceLock<(Vec<SigningKey>, VerifyingKeys)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = vec![
            SigningKey::generate(Alg::ES256, "k-es".into()).expect("ES256 key"),
            SigningKey::generate(Alg::EdDSA, "k-ed".into()).expect("EdDSA key"),
        ];
        let set = VerifyingKeys::new(&keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>()).expect("key set");
        (keys, set)
    })
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Parts { header: Json, claims: Json, sig: Vec<u8>, own_kid: bool },
    Signed { es256: bool, typ: String, claims: Json, edit: Option<Edit> },
}

fn check_decode(token: &str) {
    if let Ok(jws) = Jws::decode(token) {
        assert!(jws.claims().is_object(), "Jws::decode accepted a payload that is not an object");
        let _ = (jws.alg(), jws.kid(), jws.typ(), jws.header_str("alg"));
        let (input, _) = jws.signed_parts();
        assert!(token.as_bytes().starts_with(input), "signed_parts is not a prefix of the token");
    }
}

fuzz_target!(|input: Input| {
    let (keys, set) = own();
    let jwks: Vec<_> = keys.iter().map(SigningKey::public_jwk).collect();
    match input {
        Input::Text(t) => {
            check_decode(&t);
            assert!(set.verify(&t).is_err(), "arbitrary text verified");
        }
        Input::Parts { header, claims, sig, own_kid } => {
            let mut header = header.0;
            if own_kid && let Value::Object(m) = &mut header {
                m.insert("kid".into(), "k-es".into());
                m.insert("alg".into(), "ES256".into());
            }
            let t = unsigned_jws(&header, &claims.0, &sig);
            check_decode(&t);
            assert!(set.verify(&t).is_err(), "a JWS with a made-up signature verified");
            assert!(verify_jwt(&t, &jwks).is_err());
        }
        Input::Signed { es256, typ, claims, edit } => {
            let key = &keys[usize::from(!es256)];
            let token = key.sign_jwt(&typ, &claims.0).expect("signing");
            check_decode(&token);
            match set.verify(&token) {
                Ok(v) => {
                    assert_eq!(v.claims, keycard_fuzz::reparsed(&claims.0));
                    assert_eq!(v.header.kid, key.kid());
                    assert_eq!(v.header.typ.as_deref(), Some(typ.as_str()));
                }
                Err(e) => assert!(!claims.0.is_object(), "a token Keycard signed did not verify: {e}"),
            }
            if let Some(edited) = edit.and_then(|e| e.apply(&token)) {
                // An edit that leaves UTF-8 cannot be presented as a &str at all.
                if let Ok(t) = String::from_utf8(edited) {
                    check_decode(&t);
                    assert!(set.verify(&t).is_err(), "an edited token verified: {t}");
                    assert!(verify_jwt(&t, &jwks).is_err());
                }
            }
        }
    }
});
