#![no_main]
//! keycard-resource's reading of a request's credentials (RFC 6750 §2.1, RFC 9449 §7.1):
//! `bearer_token` and `access_token` over arbitrary `Authorization` headers and request URIs.
//! Asserts: a token is returned only from exactly one `Authorization` header, in the scheme
//! asked for (case-insensitive), when the query has no `access_token` (RFC 6750 §2.3 is not
//! supported: a token in a URL leaks), and it is an RFC 6750 `b64token` found in that header.

use arbitrary::Arbitrary;
use http::{HeaderMap, HeaderValue, Uri, header::AUTHORIZATION};
use keycard_resource::{Scheme, access_token, bearer_token};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Input {
    /// One `Authorization` header value as sent, to `/api`.
    Header(Vec<u8>),
    Full(Full),
}

#[derive(Debug, Arbitrary)]
struct Full {
    values: Vec<Vec<u8>>,
    scheme: u8,
    token: String,
    query: String,
}

fn b64token(t: &str) -> bool {
    let body = t.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

fuzz_target!(|input: Input| {
    let input = match input {
        Input::Header(h) => Full { values: vec![h], scheme: 4, token: String::new(), query: String::new() },
        Input::Full(f) => f,
    };
    let mut headers = HeaderMap::new();
    for v in input.values.iter().take(2) {
        if let Ok(v) = HeaderValue::from_bytes(v) {
            headers.append(AUTHORIZATION, v);
        }
    }
    let scheme = ["Bearer ", "bearer  ", "DPoP ", "Basic ", "", " Bearer "][usize::from(input.scheme) % 6];
    if let Ok(v) = HeaderValue::from_str(&format!("{scheme}{}", input.token))
        && !v.is_empty()
    {
        headers.append(AUTHORIZATION, v);
    }
    let Ok(uri) = format!("/api?{}", input.query).parse::<Uri>() else { return };
    let in_query = uri.query().is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "access_token"));
    let values: Vec<&[u8]> = headers.get_all(AUTHORIZATION).iter().map(HeaderValue::as_bytes).collect();
    for (want, got) in [
        (Some(Scheme::Bearer), bearer_token(&headers, &uri).map(|t| (Scheme::Bearer, t))),
        (None, access_token(&headers, &uri)),
    ] {
        let Ok((s, token)) = got else { continue };
        assert!(!in_query, "a token was read beside an access_token query parameter");
        assert_eq!(values.len(), 1, "a token was read from {} Authorization headers", values.len());
        assert!(want.is_none_or(|w| w == s));
        assert!(b64token(token), "{token:?} is not a b64token");
        let header = std::str::from_utf8(values[0]).expect("a token's header is ASCII").trim_matches(' ');
        let (name, rest) = header.split_once(' ').expect("scheme and token");
        let name_ok = match s {
            Scheme::Bearer => name.eq_ignore_ascii_case("bearer"),
            Scheme::Dpop => name.eq_ignore_ascii_case("dpop"),
        };
        assert!(name_ok, "{header:?} read as {s:?}");
        assert_eq!(rest.trim_matches(' '), token);
    }
});
