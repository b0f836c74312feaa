#![no_main]
//! DPoP proofs (RFC 9449 §4.3): keycard-resource's `verify_proof` (the one verifier of the
//! token endpoint, `/userinfo` and resource servers), `single_header`, `normalized_htu`, and
//! Keycard's `dpop_jkt` parameter (`oauth::dpop::parse_dpop_jkt`, RFC 9449 §10). Inputs: raw
//! header bytes; proofs signed (ES256, EdDSA) with the key in their own `jwk` header over
//! arbitrary header members and claims near a valid proof, checked with arbitrary policy
//! (nonces, max age, leeway, access token, bound key); and a valid proof edited once.
//! Asserts: what verifies has `typ` dpop+jwt, the request's `htm`, an `htu` equal to the
//! request URL (normalised), an `iat` inside the window, the nonce and `ath` asked for, the
//! bound `jkt`, and reports the proof key's thumbprint and `jti`; an edited proof never verifies.

use arbitrary::Arbitrary;
use keycard_fuzz::{Edit, Edits, NOW, Signer, time};
use keycard_resource::dpop::{ProofCheck, access_token_hash, normalized_htu, single_header, verify_proof};
use keycard_resource::jwk::PublicKey;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

const URL: &str = "https://as.example/token";

#[derive(Debug, Arbitrary)]
struct Policy {
    method: bool,
    url: u8,
    #[arbitrary(with = time)]
    now: i64,
    max_age: i16,
    leeway: i16,
    nonce: bool,
    token: bool,
    jkt: Option<bool>,
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// One `DPoP` header value, checked for a POST to the token endpoint with a wide window.
    Proof(Vec<u8>),
    Raw(Vec<Vec<u8>>, Policy),
    Signed {
        signer: Signer,
        header: Edits,
        claims: Edits,
        policy: Policy,
    },
    Edited {
        signer: Signer,
        edit: Edit,
    },
}

fn valid_claims() -> serde_json::Map<String, Value> {
    let c =
        json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW, "ath": access_token_hash("at-1"), "nonce": "n-1"});
    c.as_object().cloned().expect("object")
}

fn valid_header(signer: Signer) -> serde_json::Map<String, Value> {
    let h = json!({"typ": "dpop+jwt", "alg": signer.alg(), "jwk": signer.jwk()});
    h.as_object().cloned().expect("object")
}

fn run(proof: &[u8], p: &Policy, signer: Option<Signer>) {
    let url = [
        "https://as.example/token",
        "HTTPS://AS.EXAMPLE:443/token?x#y",
        "http://as.example/token",
        "https://as.example/token/",
        "not a url",
    ][usize::from(p.url) % 5];
    let nonces: &[&str] = if p.nonce { &["n-0", "n-1"] } else { &[] };
    let jkt_of = |s: Signer| PublicKey::from_jwk(s.jwk()).expect("key").thumbprint();
    let jkt = p.jkt.map(|own| if own { signer.map(jkt_of).unwrap_or_default() } else { "x".repeat(43) });
    let check = ProofCheck {
        method: if p.method { "POST" } else { "GET" },
        url,
        now: p.now,
        max_age_secs: i64::from(p.max_age),
        future_leeway_secs: i64::from(p.leeway),
        nonces,
        access_token: p.token.then_some("at-1"),
        jkt: jkt.as_deref(),
    };
    let Ok(v) = verify_proof(proof, &check) else { return };
    let text = std::str::from_utf8(proof).expect("a verified proof is UTF-8");
    let jws = keycard_resource::jwk::Jws::decode(text.trim()).expect("a verified proof decodes");
    let claims = jws.claims();
    assert!(jws.typ().is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt")));
    assert_eq!(claims["htm"], check.method);
    let htu = claims["htu"].as_str().expect("htu");
    assert_eq!(normalized_htu(htu), normalized_htu(url), "htu {htu} accepted for {url}");
    assert!(normalized_htu(url).is_some());
    assert_eq!(claims["jti"].as_str(), Some(v.jti.as_str()));
    assert!(!v.jti.is_empty());
    assert_eq!(claims["iat"].as_i64(), Some(v.iat));
    assert!(
        v.iat >= check.now.saturating_sub(check.max_age_secs)
            && v.iat <= check.now.saturating_add(check.future_leeway_secs)
    );
    if p.nonce {
        assert!(claims["nonce"].as_str().is_some_and(|n| nonces.contains(&n)), "nonce not checked");
    }
    if p.token {
        assert_eq!(claims["ath"].as_str(), Some(access_token_hash("at-1").as_str()), "ath not checked");
    }
    let key = PublicKey::from_jwk(&jws.header()["jwk"]).expect("proof key");
    assert_eq!(v.jkt, key.thumbprint());
    if let Some(want) = &jkt {
        assert_eq!(&v.jkt, want, "a proof by another key was accepted for a bound token");
    }
    if let Some(s) = signer {
        assert_eq!(v.jkt, jkt_of(s), "verified with a key other than the signer's");
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Proof(p) => {
            let policy = Policy {
                method: true,
                url: 0,
                now: NOW,
                max_age: i16::MAX,
                leeway: i16::MAX,
                nonce: false,
                token: false,
                jkt: None,
            };
            run(&p, &policy, None);
        }
        Input::Raw(values, policy) => {
            let _ = single_header(values.iter().map(Vec::as_slice));
            for v in &values {
                run(v, &policy, None);
                if let Ok(s) = std::str::from_utf8(v) {
                    if let Some(n) = normalized_htu(s) {
                        assert_eq!(normalized_htu(&n).as_deref(), Some(n.as_str()), "normalized_htu is not idempotent");
                    }
                    if let Ok(Some(j)) = keycard::oauth::dpop::parse_dpop_jkt(Some(s)) {
                        assert_eq!(j.len(), 43);
                    }
                }
            }
        }
        Input::Signed { signer, header, claims, policy } => {
            let h = Value::Object(header.apply(valid_header(signer)));
            let c = Value::Object(claims.apply(valid_claims()));
            run(signer.sign(&h, &c).as_bytes(), &policy, Some(signer));
        }
        Input::Edited { signer, edit } => {
            let proof = signer.sign(&Value::Object(valid_header(signer)), &Value::Object(valid_claims()));
            let check = ProofCheck {
                method: "POST",
                url: URL,
                now: NOW,
                max_age_secs: 60,
                future_leeway_secs: 5,
                nonces: &["n-1"],
                access_token: Some("at-1"),
                jkt: None,
            };
            assert!(verify_proof(proof.as_bytes(), &check).is_ok(), "the valid proof did not verify");
            if let Some(edited) = edit.apply(&proof)
                && std::str::from_utf8(&edited).map_or(true, |e| e.trim() != proof)
            {
                assert!(verify_proof(&edited, &check).is_err(), "an edited proof verified");
            }
        }
    }
});
