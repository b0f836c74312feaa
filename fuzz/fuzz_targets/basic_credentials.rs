#![no_main]
//! Client credentials as presented (RFC 6749 §2.3.1, RFC 7523 §2.2): `client_auth::presented`
//! over an arbitrary `Authorization` header and body parameters, and the RFC 6749 §2.3.1
//! encoding (form-urlencode each part, then base64 of `id:secret`) round-tripped for any id and
//! secret. Asserts: a refusal is `invalid_request` or `invalid_client`, never another code.

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use keycard::oauth::client_auth::{Presented, presented};
use keycard::oauth::params::Params;
use keycard_types::ErrorCode;
use libfuzzer_sys::fuzz_target;

struct Full {
    header: Header,
    body: Vec<(u8, String)>,
}

const NAMES: [&str; 5] = ["client_id", "client_secret", "client_assertion", "client_assertion_type", "grant_type"];

#[derive(Debug, Arbitrary)]
enum Header {
    None,
    Raw(Vec<u8>),
    /// `<scheme> <base64 of raw>`.
    Scheme(u8, Vec<u8>),
    /// A well-formed Basic header for `id:secret` (each part form-urlencoded).
    Basic(String, String),
}

#[derive(Debug, Arbitrary)]
enum Input {
    /// An `Authorization` header value as sent, and no body.
    Raw(Vec<u8>),
    Full {
        header: Header,
        body: Vec<(u8, String)>,
    },
}

fuzz_target!(|input: Input| {
    let input = match input {
        Input::Raw(raw) => Full { header: Header::Raw(raw), body: Vec::new() },
        Input::Full { header, body } => Full { header, body },
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for (name, value) in input.body {
        let name = NAMES[usize::from(name) % NAMES.len()];
        // A body never holds a NUL (the form parser refuses it).
        if !pairs.iter().any(|(n, _)| n == name) && !value.contains('\0') {
            let value =
                if value == "jwt-bearer" { keycard::oauth::client_assertion::JWT_BEARER.to_owned() } else { value };
            pairs.push((name.to_owned(), value));
        }
    }
    let params = Params::from_pairs(pairs).expect("at most five distinct names");
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let header = match &input.header {
        Header::None => None,
        Header::Raw(raw) => Some(raw.clone()),
        Header::Scheme(s, raw) => {
            let scheme = ["Basic", "basic", "BASIC", "Bearer", "Basic ", ""][usize::from(*s) % 6];
            Some(format!("{scheme} {}", STANDARD.encode(raw)).into_bytes())
        }
        Header::Basic(id, secret) => {
            Some(format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret)))).into_bytes())
        }
    };
    match presented(header.as_deref(), &params) {
        Err(e) => assert!(
            matches!(e.code, ErrorCode::InvalidRequest | ErrorCode::InvalidClient),
            "{:?}: {}",
            e.code,
            e.description
        ),
        Ok(Presented::Basic { id, secret }) => {
            assert!(!id.is_empty());
            if let Header::Basic(want_id, want_secret) = &input.header {
                assert_eq!((&id, &secret), (want_id, want_secret), "Basic credentials did not round-trip");
            }
        }
        Ok(_) => {}
    }
    // A well-formed Basic header with no body is always read back exactly (or refused for an
    // empty id or a NUL, which the form decoding refuses).
    if let Header::Basic(id, secret) = &input.header {
        let h = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(id), enc(secret))));
        match presented(Some(h.as_bytes()), &Params::default()) {
            Ok(Presented::Basic { id: got_id, secret: got_secret }) => {
                assert_eq!((&got_id, &got_secret), (id, secret));
            }
            Ok(other) => panic!("not Basic: {:?}", other.method()),
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidClient);
                assert!(id.is_empty() || id.contains('\0') || secret.contains('\0'), "{}", e.description);
            }
        }
    }
});
