#![no_main]
//! keycard-resource's validation of JWT access tokens (RFC 9068 §4, RFC 8725):
//! `Validator::validate_at`, against a JWKS served on a loopback port by this process (an ES256
//! and an EdDSA key). Inputs: arbitrary text, and tokens signed with those keys over headers and
//! claims near a valid access token, optionally edited once after signing. Asserts: what is
//! accepted was signed by the key its `kid` names under that key's alg, has `typ` at+jwt, the
//! configured issuer and audience, a live `exp` (with the leeway), an `iat` and no `nbf` in the
//! future, every required claim, and no `cnf` (a bound token is not a bearer token);
//! the claims given back are the token's; an edited token is refused; asking twice (the second
//! answer may come from the verified-token cache) gives the same answer.

use arbitrary::Arbitrary;
use keycard_fuzz::{Edit, Edits, ISSUER, NOW, Signer, runtime};
use keycard_resource::Validator;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

const AUDIENCE: &str = "https://api.example";
const LEEWAY: i64 = 30;

/// Serves the JWKS to every request on a loopback port; returns its URL.
fn jwks_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("address"));
    let mut es = Signer::Es256.jwk().clone();
    es["kid"] = "es".into();
    es["alg"] = "ES256".into();
    let mut ed = Signer::EdDsa.jwk().clone();
    ed["kid"] = "ed".into();
    ed["alg"] = "EdDSA".into();
    let body = json!({"keys": [es, ed]}).to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let mut seen = Vec::new();
            while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes()));
        }
    });
    url
}

fn validator() -> &'static Validator {
    static V: OnceLock<Validator> = OnceLock::new();
    V.get_or_init(|| {
        Validator::builder(ISSUER)
            .audience(AUDIENCE)
            .jwks_uri(jwks_server())
            .allow_http(true)
            .leeway(Duration::from_secs(LEEWAY as u64))
            .jwks_refetch_interval(Duration::from_secs(3600))
            .build()
            .expect("validator")
    })
}

#[derive(Debug, Arbitrary)]
enum Input {
    Text(String),
    Signed { signer: Signer, header: Edits, claims: Edits, edit: Option<Edit> },
}

fn validate(token: &str) -> Result<keycard_resource::Claims, String> {
    let now = UNIX_EPOCH + Duration::from_secs(NOW as u64);
    let first = runtime().block_on(validator().validate_at(token, now)).map_err(|e| e.to_string());
    let again = runtime().block_on(validator().validate_at(token, now)).map_err(|e| e.to_string());
    match (&first, &again) {
        (Ok(a), Ok(b)) => {
            assert!(a.subject == b.subject && a.raw == b.raw && a.scopes == b.scopes, "the cache answered differently")
        }
        (Err(_), Err(_)) => {}
        _ => panic!("the second answer differs from the first: {first:?} then {again:?}"),
    }
    first
}

fn when(v: &Value) -> Option<i64> {
    v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64))
}

fuzz_target!(|input: Input| {
    match input {
        Input::Text(t) => assert!(validate(&t).is_err(), "arbitrary text was accepted as an access token"),
        Input::Signed { signer, header, claims, edit } => {
            let kid = match signer {
                Signer::Es256 => "es",
                Signer::EdDsa => "ed",
            };
            let h = json!({"alg": signer.alg(), "typ": "at+jwt", "kid": kid});
            let h = Value::Object(header.apply(h.as_object().cloned().expect("object")));
            let c = json!({"iss": ISSUER, "sub": "usr_1", "aud": AUDIENCE, "exp": NOW + 60, "iat": NOW, "jti": "j-1", "client_id": "app", "scope": "openid api:read"});
            let c = Value::Object(claims.apply(c.as_object().cloned().expect("object")));
            let token = signer.sign(&h, &c);
            if let Ok(got) = validate(&token) {
                assert_eq!(h["kid"], kid, "verified with a key the kid does not name");
                assert_eq!(h["alg"], signer.alg());
                assert!(
                    h["typ"].as_str().is_some_and(
                        |t| t.eq_ignore_ascii_case("at+jwt") || t.eq_ignore_ascii_case("application/at+jwt")
                    )
                );
                assert!(h.get("crit").is_none());
                assert_eq!(c["iss"], ISSUER);
                assert!(
                    c["aud"] == AUDIENCE || c["aud"].as_array().is_some_and(|l| l.iter().any(|a| a == AUDIENCE)),
                    "aud {}",
                    c["aud"]
                );
                let exp = when(&c["exp"]).expect("exp");
                assert!(exp.saturating_add(LEEWAY) > NOW, "an expired token was accepted");
                assert!(when(&c["iat"]).is_some_and(|iat| iat <= NOW + LEEWAY), "iat {}", c["iat"]);
                if let Some(nbf) = c.get("nbf").filter(|n| !n.is_null()) {
                    assert!(when(nbf).is_some_and(|n| n <= NOW + LEEWAY), "nbf {nbf}");
                }
                assert!(c.get("cnf").is_none(), "a bound token (cnf) was accepted as a bearer token");
                assert_eq!(Some(got.subject.as_str()), c["sub"].as_str());
                assert_eq!(Some(got.client_id.as_str()), c["client_id"].as_str());
                assert_eq!(got.jwt_id.as_deref(), c["jti"].as_str());
                assert_eq!(got.expires_at, exp);
                assert_eq!(*got.raw, keycard_fuzz::reparsed(&c));
            }
            if let Some(edited) = edit.and_then(|e| e.apply(&token))
                && let Ok(t) = String::from_utf8(edited)
            {
                assert!(validate(&t).is_err(), "an edited token was accepted");
            }
        }
    }
});
