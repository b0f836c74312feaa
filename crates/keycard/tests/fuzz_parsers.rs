//! Property-based fuzzing of every parser of untrusted input (issue 10 item 7, its proptest
//! part): form bodies, Basic credentials, JWS/JWT (Keycard's own key set and foreign JWKs),
//! DPoP proofs, redirect URI matching and registration rules, scope strings, cookies and config
//! files. Each target gets arbitrary bytes/strings and near-valid inputs built from a valid shape
//! with mutations, and checks that the parser never panics, refuses with the documented error
//! (never a `server_error`), and that valid input round-trips / a mutated signed input never
//! verifies.
//!
//! The normal `cargo test` runs a bounded number of cases per target (a few seconds in a debug
//! build), so CI runs them on every push. A long session:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release -p keycard --test fuzz_parsers
//! ```
//!
//! A failing input is shrunk and kept by proptest in
//! `crates/keycard/proptest-regressions/fuzz_parsers.txt` (replayed first on every later run):
//! that directory is the committed corpus of failures. A defect found here is fixed with the
//! failing case also kept as a regular test. The coverage-guided layer (libFuzzer, one target
//! per parser family, committed corpora) is `fuzz/`; docs/security.md, "Fuzzing", has both.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use keycard::jose::{Alg, SigningKey, VerifyingKeys};
use keycard::model::ApplicationType;
use keycard::oauth::authorize::redirect_uri_matches;
use keycard::oauth::client_auth::{Presented, presented};
use keycard::oauth::params::Params;
use keycard_resource::dpop::{ProofCheck, verify_proof};
use keycard_resource::jwk::{Jws, PublicKey};
use keycard_types::{ErrorCode, Scope};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{Value, json};
use std::sync::OnceLock;

/// `cases` per target, or `PROPTEST_CASES` when set (long sessions).
fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(cases);
    ProptestConfig {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/fuzz_parsers.txt"))),
        ..ProptestConfig::default()
    }
}

/// Bytes biased towards what the parsers split on.
fn tricky_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let alphabet: Vec<u8> = b"ab=&%+;:.,/?#\\\"' \t\r\n0189AFfz_-~[]{}\x00\x7f\xc3\xa9\xff".to_vec();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max),
        proptest::collection::vec(proptest::sample::select(alphabet), 0..max),
    ]
}

/// Arbitrary JSON, a few levels deep.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
        proptest::sample::select(vec!["EC", "RSA", "OKP", "oct", "P-256", "Ed25519", "ES256", "RS256", "none", "sig"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,4}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// One single-character edit of `s` (replace, insert or delete) at a char boundary index in
/// `allowed`; `None` when it leaves `s` unchanged.
fn mutate(s: &str, index: usize, op: u8, c: char) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = chars.clone();
    match op % 3 {
        0 if index < out.len() => out[index] = c,
        1 if index <= out.len() => out.insert(index, c),
        2 if index < out.len() => {
            out.remove(index);
        }
        _ => return None,
    }
    let out: String = out.into_iter().collect();
    (out != s).then_some(out)
}

// ---- 1. form bodies ----------------------------------------------------------------------

fn assert_form_error(r: Result<Params, keycard::oauth::OAuthError>) {
    if let Err(e) = r {
        assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.description);
    }
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn form_body_parse_never_panics(body in tricky_bytes(300)) {
        assert_form_error(Params::parse(&body));
        assert_form_error(Params::parse_keeping_repeats(&body));
    }

    #[test]
    fn form_body_round_trips(pairs in proptest::collection::vec(("[a-c]{1,2}|resource|[^\\x00]{0,6}", "[^\\x00]{0,12}"), 0..70)) {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs.iter()).finish();
        let repeats = pairs.iter().enumerate().any(|(i, (k, _))| k != "resource" && pairs[..i].iter().any(|(n, _)| n == k));
        let strict = Params::parse(body.as_bytes());
        if repeats || pairs.len() > 64 {
            let e = strict.unwrap_err();
            prop_assert_eq!(e.code, ErrorCode::InvalidRequest);
            prop_assert!(e.description.contains("repeated") || e.description.contains("too many"), "{}", e.description);
        } else {
            let got: Vec<(String, String)> = strict.unwrap().pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            prop_assert_eq!(&got, &pairs);
        }
        // The authorization endpoint's parse keeps the first value and records the repeats.
        // At most 64 pairs kept: any part after the 64th kept one is "too many parameters".
        let mut first: Vec<(String, String)> = Vec::new();
        let mut repeated: Vec<String> = Vec::new();
        let mut too_many = false;
        for (k, v) in &pairs {
            if first.len() >= 64 {
                too_many = true;
            } else if k != "resource" && first.iter().any(|(n, _)| n == k) {
                if !repeated.contains(k) {
                    repeated.push(k.clone());
                }
            } else {
                first.push((k.clone(), v.clone()));
            }
        }
        match Params::parse_keeping_repeats(body.as_bytes()) {
            Ok(p) => {
                prop_assert!(!too_many);
                let got: Vec<(String, String)> = p.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                prop_assert_eq!(&got, &first);
                prop_assert_eq!(p.repeated(), &repeated[..]);
            }
            Err(e) => prop_assert!(too_many, "{}", e.description),
        }
    }

    #[test]
    fn form_body_with_nul_is_refused(prefix in "[a-z]{1,4}=[a-z]{0,4}", enc in proptest::sample::select(vec!["%00", "\0"])) {
        let body = format!("{prefix}{enc}");
        assert!(Params::parse(body.as_bytes()).is_err());
        assert!(Params::parse_keeping_repeats(body.as_bytes()).is_err());
    }
}

// ---- 2. Basic credentials ----------------------------------------------------------------

fn credential_params() -> impl Strategy<Value = Params> {
    let names = vec!["client_id", "client_secret", "client_assertion", "client_assertion_type", "grant_type"];
    let value = prop_oneof![
        "[^\\x00]{0,16}",
        Just("urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned()),
        "eyJ[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_.-]{0,60}",
    ];
    proptest::collection::btree_map(proptest::sample::select(names), value, 0..5)
        .prop_map(|m| Params::from_pairs(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).unwrap())
}

fn authorization_header() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        tricky_bytes(120),
        (proptest::sample::select(vec!["Basic", "basic", "BASIC", "Bearer", "Basic  ", ""]), tricky_bytes(60))
            .prop_map(|(s, raw)| format!("{s} {}", STANDARD.encode(raw)).into_bytes()),
        ("[^\\x00]{0,10}", "[^\\x00]{0,10}").prop_map(|(id, secret)| format!(
            "Basic {}",
            STANDARD.encode(format!("{id}:{secret}"))
        )
        .into_bytes()),
    ]
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn basic_credentials_never_panic(header in proptest::option::of(authorization_header()), params in credential_params()) {
        if let Err(e) = presented(header.as_deref(), &params) {
            prop_assert!(matches!(e.code, ErrorCode::InvalidRequest | ErrorCode::InvalidClient), "{:?}", e.code);
        }
    }

    #[test]
    fn basic_credentials_round_trip(id in "[^\\x00]{1,20}", secret in "[^\\x00]{0,20}") {
        // RFC 6749 §2.3.1: each part form-urlencoded, then base64 of `id:secret`.
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
        match presented(Some(header.as_bytes()), &Params::default()) {
            Ok(Presented::Basic { id: got_id, secret: got_secret }) => {
                prop_assert_eq!(got_id, id);
                prop_assert_eq!(got_secret, secret);
            }
            other => prop_assert!(false, "not Basic: {:?}", other.map(|p| p.method())),
        }
    }
}

// ---- 3. JWS / JWT / DPoP -----------------------------------------------------------------

/// Keycard's own signing keys (ES256 and EdDSA) and their verifying set, made once.
fn own_keys() -> &'static (Vec<SigningKey>, VerifyingKeys) {
    static KEYS: OnceLock<(Vec<SigningKey>, VerifyingKeys)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let keys = vec![
            SigningKey::generate(Alg::ES256, "k-es".into()).unwrap(),
            SigningKey::generate(Alg::EdDSA, "k-ed".into()).unwrap(),
        ];
        let set = VerifyingKeys::new(&keys.iter().map(SigningKey::public_jwk).collect::<Vec<_>>()).unwrap();
        (keys, set)
    })
}

fn compact_jws() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9_.=+/-]{0,120}",
        (json_value(), json_value(), proptest::collection::vec(any::<u8>(), 0..80)).prop_map(|(h, p, s)| {
            format!("{}.{}.{}", B64.encode(h.to_string()), B64.encode(p.to_string()), B64.encode(s))
        }),
        (json_value(), json_value()).prop_map(|(h, p)| {
            let mut h = h;
            if let Value::Object(m) = &mut h {
                m.insert("alg".into(), json!("ES256"));
                m.insert("kid".into(), json!("k-es"));
            }
            format!("{}.{}.{}", B64.encode(h.to_string()), B64.encode(p.to_string()), B64.encode([7u8; 64]))
        }),
    ]
}

/// A near-valid JWK: the right members with wrong, short or odd values.
fn near_jwk() -> impl Strategy<Value = Value> {
    let s = |v: Vec<&'static str>| proptest::option::of(proptest::sample::select(v));
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        Just(vec![0u8; 32]),
        Just(vec![0xffu8; 32]),
        proptest::collection::vec(any::<u8>(), 250..260)
    ];
    (
        s(vec!["EC", "RSA", "OKP", "oct", "ec", ""]),
        s(vec!["P-256", "P-384", "Ed25519", "X25519"]),
        s(vec!["ES256", "RS256", "PS256", "EdDSA", "HS256", "none"]),
        s(vec!["sig", "enc"]),
        proptest::option::of(bytes.clone()),
        proptest::option::of(bytes),
        any::<bool>(),
    )
        .prop_map(|(kty, crv, alg, use_, x, y, private)| {
            let mut m = serde_json::Map::new();
            let mut put = |k: &str, v: Option<Value>| {
                if let Some(v) = v {
                    m.insert(k.into(), v);
                }
            };
            put("kty", kty.map(Value::from));
            put("crv", crv.map(Value::from));
            put("alg", alg.map(Value::from));
            put("use", use_.map(Value::from));
            let x = x.map(|b| B64.encode(b));
            let y = y.map(|b| B64.encode(b));
            put("x", x.clone().map(Value::from));
            put("y", y.clone().map(Value::from));
            put("n", x.map(Value::from));
            put("e", y.map(Value::from));
            if private {
                put("d", Some(json!("AAAA")));
            }
            Value::Object(m)
        })
}

/// An ES256 DPoP proof key (RFC 9449 §4.2) and its public JWK, made once.
fn dpop_key() -> &'static (aws_lc_rs::signature::EcdsaKeyPair, Value) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    static KEY: OnceLock<(EcdsaKeyPair, Value)> = OnceLock::new();
    KEY.get_or_init(|| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let pt = pair.public_key().as_ref().to_vec();
        let jwk = json!({"kty":"EC","crv":"P-256","x":B64.encode(&pt[1..33]),"y":B64.encode(&pt[33..65])});
        (pair, jwk)
    })
}

fn sign_proof(header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(claims.to_string()));
    let sig = dpop_key().0.sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

const HTU: &str = "https://as.example/token";

fn valid_proof() -> &'static String {
    static P: OnceLock<String> = OnceLock::new();
    P.get_or_init(|| {
        let h = json!({"typ":"dpop+jwt","alg":"ES256","jwk":dpop_key().1});
        sign_proof(&h, &json!({"jti":"j1","htm":"POST","htu":HTU,"iat":1000,"ath":keycard_resource::dpop::access_token_hash("at")}))
    })
}

fn proof_check(now: i64) -> ProofCheck<'static> {
    ProofCheck {
        method: "POST",
        url: HTU,
        now,
        max_age_secs: 60,
        future_leeway_secs: 5,
        nonces: &[],
        access_token: Some("at"),
        jkt: None,
    }
}

proptest! {
    #![proptest_config(config(1000))]

    #[test]
    fn jws_decode_never_panics(token in compact_jws()) {
        if let Ok(jws) = Jws::decode(&token) {
            prop_assert!(jws.claims().is_object());
            let _ = (jws.alg(), jws.kid(), jws.typ(), jws.signed_parts());
        }
    }

    #[test]
    fn jwk_from_jwk_never_panics(jwk in prop_oneof![json_value(), near_jwk()]) {
        if let Ok(key) = PublicKey::from_jwk(&jwk) {
            prop_assert!(!key.thumbprint().is_empty());
            prop_assert!(jwk.get("d").is_none(), "a private JWK was accepted");
        }
    }

    #[test]
    fn own_jwt_verify_refuses_arbitrary_tokens(token in compact_jws()) {
        prop_assert!(own_keys().1.verify(&token).is_err());
    }

    #[test]
    fn own_jwt_verify_refuses_any_bit_flip(which in 0usize..2, claims in json_value(), pos in any::<proptest::sample::Index>(), bit in 0u8..8) {
        let (keys, set) = own_keys();
        let claims = match claims { Value::Object(m) => Value::Object(m), v => json!({ "v": v }) };
        let token = keys[which].sign_jwt("at+jwt", &claims).unwrap();
        prop_assert!(set.verify(&token).is_ok());
        let mut bytes = token.into_bytes();
        let i = pos.index(bytes.len());
        bytes[i] ^= 1 << bit;
        // A flip that leaves UTF-8 cannot even be presented as a &str.
        if let Ok(t) = String::from_utf8(bytes) {
            prop_assert!(set.verify(&t).is_err(), "a token with a flipped bit verified");
        }
    }

    #[test]
    fn dpop_verify_proof_never_panics(proof in prop_oneof![tricky_bytes(200), compact_jws().prop_map(String::into_bytes)],
                                      now in any::<i64>(), max_age in any::<i64>(), leeway in any::<i64>()) {
        let check = ProofCheck { max_age_secs: max_age, future_leeway_secs: leeway, ..proof_check(now) };
        prop_assert!(verify_proof(&proof, &check).is_err());
    }

    #[test]
    fn dpop_verify_proof_of_signed_odd_claims_never_panics(header in json_value(), claims in json_value(),
                                                           iat in any::<i64>(), now in any::<i64>(), leeway in any::<i64>()) {
        // Signed with the key in its own header: every check after the signature gets odd input.
        let mut h = json!({"typ":"dpop+jwt","alg":"ES256","jwk":dpop_key().1});
        if let (Value::Object(extra), Value::Object(m)) = (header, &mut h) {
            for (k, v) in extra {
                m.entry(k).or_insert(v);
            }
        }
        let mut c = json!({"jti":"j","htm":"POST","htu":HTU,"iat":iat,"exp":claims.clone(),"nbf":claims.clone()});
        if let (Value::Object(extra), Value::Object(m)) = (claims, &mut c) {
            m.extend(extra);
        }
        let check = ProofCheck { max_age_secs: i64::MAX, future_leeway_secs: leeway, ..proof_check(now) };
        let _ = verify_proof(sign_proof(&h, &c).as_bytes(), &check);
    }

    #[test]
    fn dpop_verify_proof_refuses_any_mutation(pos in any::<proptest::sample::Index>(), bit in 0u8..8, op in 0u8..4, c in any::<char>()) {
        let proof = valid_proof();
        prop_assert!(verify_proof(proof.as_bytes(), &proof_check(1000)).is_ok());
        let mutated = if op == 3 {
            let mut bytes = proof.clone().into_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= 1 << bit;
            bytes
        } else {
            match mutate(proof, pos.index(proof.len() + 1), op, c) {
                Some(m) => m.into_bytes(),
                None => return Ok(()),
            }
        };
        // Surrounding whitespace is not part of the proof (the header value is trimmed).
        if std::str::from_utf8(&mutated).is_ok_and(|m| m.trim() == proof.as_str()) {
            return Ok(());
        }
        prop_assert!(verify_proof(&mutated, &proof_check(1000)).is_err(), "a mutated proof verified");
    }
}

// ---- 4. redirect URIs ----------------------------------------------------------------------

fn app_type() -> impl Strategy<Value = ApplicationType> {
    prop_oneof![Just(ApplicationType::Web), Just(ApplicationType::Native)]
}

fn port() -> impl Strategy<Value = u16> {
    1u16..=65535
}

/// Registered-looking redirect URIs: https, private-use schemes and loopback, with ports.
fn redirect_uri() -> impl Strategy<Value = String> {
    let path = "(/[a-z0-9._%-]{0,6}){0,3}(\\?[a-z]{1,3}=[a-z0-9]{0,3})?";
    prop_oneof![
        (
            proptest::sample::select(vec!["https://client.example", "https://a.b.example:8443", "com.example.app:"]),
            path
        )
            .prop_map(|(a, p)| format!("{a}{p}")),
        (proptest::sample::select(vec!["http://127.0.0.1", "http://[::1]"]), proptest::option::of(port()), path)
            .prop_map(|(h, port, p)| format!("{h}{}{p}", port.map(|p| format!(":{p}")).unwrap_or_default())),
    ]
}

/// Where the loopback port of `uri` sits (from the end of the host to the start of the path),
/// `None` for a URI that is not a loopback IP literal.
fn loopback_port_span(uri: &str) -> Option<(usize, usize)> {
    let host_end = ["http://127.0.0.1", "http://[::1]"].into_iter().find(|p| uri.starts_with(p))?.len();
    let rest = uri[host_end..].find(['/', '?', '#']).map_or(uri.len(), |i| host_end + i);
    Some((host_end, rest))
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn redirect_uri_matching_never_panics(registered in proptest::collection::vec(prop_oneof![".{0,30}", redirect_uri()], 0..4),
                                          requested in prop_oneof![".{0,40}", redirect_uri()], app in app_type()) {
        let _ = redirect_uri_matches(&registered, &requested, app);
    }

    #[test]
    fn redirect_uri_registration_rules_never_panic(uri in prop_oneof![".{0,60}", redirect_uri(), "[ -~]{0,60}"]) {
        use keycard::validate::*;
        let ok = validate_redirect_uri(&uri).is_ok();
        let _ = validate_post_logout_redirect_uri(&uri);
        let _ = validate_https_uri("logo_uri", &uri);
        let _ = validate_web_origin(&uri);
        let _ = validate_jwks_uri(&uri);
        let _ = validate_client_id(&uri);
        let _ = validate_scope_name(&uri);
        if ok {
            // A registered URI always matches itself, whatever the client type.
            prop_assert!(redirect_uri_matches(std::slice::from_ref(&uri), &uri, ApplicationType::Web));
            prop_assert!(redirect_uri_matches(std::slice::from_ref(&uri), &uri, ApplicationType::Native));
        }
    }

    #[test]
    fn redirect_uri_exact_always_matches_itself(uri in redirect_uri(), others in proptest::collection::vec(redirect_uri(), 0..3), app in app_type()) {
        let mut registered = others;
        registered.push(uri.clone());
        prop_assert!(redirect_uri_matches(&registered, &uri, app));
    }

    #[test]
    fn redirect_uri_web_loopback_other_port_never_matches(host in proptest::sample::select(vec!["http://127.0.0.1", "http://[::1]"]),
                                                          reg in proptest::option::of(port()), req in proptest::option::of(port()),
                                                          path in "(/[a-z]{0,4}){0,2}") {
        if reg == req {
            return Ok(());
        }
        let with = |p: Option<u16>| format!("{host}{}{path}", p.map(|p| format!(":{p}")).unwrap_or_default());
        prop_assert!(!redirect_uri_matches(&[with(reg)], &with(req), ApplicationType::Web));
        // A native client may use any port on a loopback literal (RFC 8252 §7.3).
        prop_assert!(redirect_uri_matches(&[with(reg)], &with(req), ApplicationType::Native));
    }

    #[test]
    fn redirect_uri_one_byte_off_never_matches(uri in redirect_uri(), pos in any::<proptest::sample::Index>(), op in 0u8..3,
                                               c in prop_oneof![any::<char>(), proptest::sample::select(vec!['/', ':', '1', '0', '.', '%', '?', '#', 'A'])],
                                               app in app_type()) {
        let len = uri.chars().count();
        let i = pos.index(len + 1);
        let Some(m) = mutate(&uri, i, op, c) else { return Ok(()) };
        if app == ApplicationType::Native
            && let Some((from, to)) = loopback_port_span(&uri)
            && (from..=to).contains(&i)
        {
            // The native loopback port (and what touches it) is the one allowed difference.
            return Ok(());
        }
        prop_assert!(!redirect_uri_matches(std::slice::from_ref(&uri), &m, app), "{:?} matched {:?}", m, uri);
    }
}

// ---- 5. scope strings ----------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn scope_parse_never_panics_and_display_is_idempotent(s in prop_oneof![".{0,80}", "[ !#-\\[\\]-~\"\\\\]{0,80}", "([a-z:]{1,4} {1,2}){0,120}"]) {
        if let Ok(scope) = Scope::parse(&s) {
            let shown = scope.to_string();
            let again = Scope::parse(&shown).unwrap();
            prop_assert_eq!(&again, &scope);
            prop_assert_eq!(again.to_string(), shown);
            prop_assert!(scope.len() <= Scope::MAX_TOKENS);
        }
    }
}

// ---- 6. cookies ----------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn cookie_header_never_panics(values in proptest::collection::vec(tricky_bytes(120), 0..3), name in "kc_session|kc_browser|[a-z=; ]{0,6}") {
        let mut headers = http::HeaderMap::new();
        for v in values {
            if let Ok(v) = http::HeaderValue::from_bytes(&v) {
                headers.append(http::header::COOKIE, v);
            }
        }
        if let Some(v) = keycard::http::html::cookie(&headers, &name) {
            prop_assert!(!v.is_empty() && v.len() <= 128);
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
    }

    #[test]
    fn cookie_header_finds_a_minted_value(value in "[A-Za-z0-9_-]{1,128}", before in proptest::collection::vec(("[a-j]{1,5}", "[ -:<-~]{0,8}"), 0..4),
                                          after in proptest::collection::vec(("[a-j]{1,5}", "[ -:<-~]{0,8}"), 0..4), sep in "; ?") {
        let mut parts: Vec<String> = before.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.push(format!("kc_session={value}"));
        parts.extend(after.iter().map(|(k, v)| format!("{k}={v}")));
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::COOKIE, http::HeaderValue::from_str(&parts.join(&sep)).unwrap());
        prop_assert_eq!(keycard::http::html::cookie(&headers, "kc_session"), Some(value));
    }
}

// ---- 7. config files -----------------------------------------------------------------------

fn load_config(toml: &str) -> Result<keycard::config::Config, keycard::config::ConfigError> {
    // The same path as `Config::load` of a file, without writing one per case.
    keycard::config::Config::load_toml(toml)
}

/// keycard.example.toml with its assignments uncommented (as in the config unit tests): a full,
/// valid configuration.
fn example_config() -> String {
    include_str!("../../../keycard.example.toml")
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|l| (l.contains(" = ") || l.starts_with('[')) && !l.starts_with("provision_file"))
                .unwrap_or("")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn config_example_loads() {
    load_config(&example_config()).unwrap();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn config_load_never_panics(doc in prop_oneof![
        ".{0,200}",
        proptest::collection::vec(("[a-z_.]{1,12}", prop_oneof![".{0,10}", "-?[0-9]{1,20}", Just("true".to_owned()), Just("[1, \"a\"]".to_owned()), Just("{ a = 1 }".to_owned())]), 0..6)
            .prop_map(|kv| kv.iter().map(|(k, v)| format!("{k} = {v}\n")).collect()),
    ]) {
        if let Err(e) = load_config(&doc) {
            prop_assert!(!e.0.is_empty());
        }
    }

    #[test]
    fn config_load_of_a_mutated_example_never_panics(line in any::<proptest::sample::Index>(), op in 0u8..4, pos in any::<proptest::sample::Index>(),
                                                       c in prop_oneof![any::<char>(), proptest::sample::select(vec!['=', '"', '[', ']', '#', '\n', '0', '-', '.'])]) {
        // The example file (a valid configuration) with one line removed, doubled or edited.
        let mut lines: Vec<String> = example_config().lines().filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let i = line.index(lines.len());
        match op {
            0 => { lines.remove(i); }
            1 => { let l = lines[i].clone(); lines.insert(i, l); }
            _ => {
                let l = &lines[i];
                if let Some(m) = mutate(l, pos.index(l.chars().count() + 1), op, c) {
                    lines[i] = m;
                }
            }
        }
        if let Err(e) = load_config(&lines.join("\n")) {
            prop_assert!(!e.0.is_empty());
        }
    }
}

// ---- 8. the other small parsers of request input ------------------------------------------

fn grant_params() -> impl Strategy<Value = Params> {
    let names = vec![
        "grant_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "device_code",
        "username",
        "password",
        "resource",
    ];
    let value = prop_oneof![
        proptest::sample::select(vec![
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "password",
            "urn:ietf:params:oauth:grant-type:device_code",
            "rt_abc.1.xyz",
        ])
        .prop_map(str::to_owned),
        "[^\\x00]{0,20}",
        "[ -~]{0,50}",
    ];
    proptest::collection::btree_map(proptest::sample::select(names), value, 0..6)
        .prop_map(|m| Params::from_pairs(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()).unwrap())
}

proptest! {
    #![proptest_config(config(2000))]

    #[test]
    fn grant_request_parse_never_panics(params in grant_params(), password in any::<bool>()) {
        if let Err(e) = keycard::oauth::grant::GrantRequest::parse(&params, password) {
            prop_assert!(e.code != ErrorCode::ServerError, "{}", e.description);
        }
    }

    #[test]
    fn small_token_parsers_never_panic(s in prop_oneof![".{0,80}", "rt_[a-z0-9._-]{0,40}", "[A-Za-z0-9 _-]{0,50}"]) {
        let _ = keycard::oauth::grant::user_tokens::parse_refresh_token(&s);
        if let Err(e) = keycard::oauth::dpop::parse_dpop_jkt(Some(&s)) {
            prop_assert!(e.code != ErrorCode::ServerError);
        }
        if let Some(code) = keycard::oauth::device::normalize_user_code(&s) {
            prop_assert_eq!(keycard::oauth::device::normalize_user_code(&code), Some(code.clone()));
        }
        let _ = keycard::oauth::client_assertion::Assertion::parse(&s);
        let _ = keycard_resource::dpop::normalized_htu(&s);
    }

    #[test]
    fn resource_bearer_token_never_panics(values in proptest::collection::vec(tricky_bytes(100), 0..3),
                                          scheme in proptest::sample::select(vec!["Bearer ", "bearer ", "DPoP ", "Basic ", ""]),
                                          token in "[ -~]{0,40}", query in "(access_token=[a-z]{0,4}&?)?[a-z=&%]{0,10}") {
        let mut headers = http::HeaderMap::new();
        for v in values {
            if let Ok(v) = http::HeaderValue::from_bytes(&v) {
                headers.append(http::header::AUTHORIZATION, v);
            }
        }
        if let Ok(v) = http::HeaderValue::from_str(&format!("{scheme}{token}")) {
            headers.append(http::header::AUTHORIZATION, v);
        }
        if let Ok(uri) = format!("/api?{query}").parse::<http::Uri>() {
            let _ = keycard_resource::bearer_token(&headers, &uri);
        }
    }
}
