#![no_main]
//! The `Cookie` request header (RFC 6265 §5.4): `http::html::cookie`, which reads Keycard's
//! browser and session cookies from every `Cookie` header of a request. Inputs: arbitrary
//! header values and names, and headers that hold a minted value among arbitrary other cookies.
//! Asserts: what is returned looks like a value Keycard mints (1-128 of `[A-Za-z0-9_-]`, so a
//! client-chosen value is never adopted, SECURITY G1/G4) and was present under that name; a
//! minted value is always found.

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue, header::COOKIE};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    /// One `Cookie` header value as sent.
    Header(Vec<u8>),
    Full(Full),
}

#[derive(Debug, Arbitrary)]
struct Full {
    values: Vec<Vec<u8>>,
    name: String,
    minted: Option<Minted>,
}

/// A `kc_session` value among other cookies, joined with `;` or `; `.
#[derive(Debug, Arbitrary)]
struct Minted {
    others: Vec<(String, String)>,
    value: String,
    space: bool,
}

fuzz_target!(|input: Input| {
    let input = match input {
        Input::Header(h) => Full { values: vec![h], name: String::new(), minted: None },
        Input::Full(f) => f,
    };
    let mut headers = HeaderMap::new();
    for v in input.values.iter().take(4) {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(COOKIE, v);
        }
    }
    let names = ["kc_session", "kc_browser", "__Host-kc_session", input.name.as_str()];
    for name in names {
        if let Some(v) = keycard::http::html::cookie(&headers, name) {
            assert!(!v.is_empty() && v.len() <= 128, "{v:?}");
            assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{v:?}");
            let raw: Vec<&[u8]> = headers.get_all(COOKIE).iter().map(HeaderValue::as_bytes).collect();
            let pair = format!("{name}={v}");
            assert!(
                raw.iter().any(|r| r.windows(pair.len()).any(|w| w == pair.as_bytes())),
                "{pair:?} was not in the header"
            );
        }
    }
    // A minted value among other cookies (whose names are not `kc_session`) is found.
    if let Some(Minted { others, value, space }) = input.minted {
        let value: String =
            value.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').take(128).collect();
        if value.is_empty() {
            return;
        }
        let mut parts: Vec<String> = others
            .iter()
            .take(6)
            .filter(|(k, v)| {
                // Names are RFC 6265 tokens; values hold no `;` (the pair separator).
                !k.is_empty()
                    && k.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b'=')
                    && k != "kc_session"
                    && !v.contains(';')
            })
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let at = parts.len() / 2;
        parts.insert(at, format!("kc_session={value}"));
        let Ok(h) = HeaderValue::from_str(&parts.join(if space { "; " } else { ";" })) else { return };
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, h);
        assert_eq!(keycard::http::html::cookie(&headers, "kc_session"), Some(value), "{:?}", headers.get(COOKIE));
    }
});
