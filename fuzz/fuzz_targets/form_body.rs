#![no_main]
//! Form bodies (RFC 6749 Appendix B): `Params::parse` (the token, introspection, revocation and
//! PAR endpoints), `Params::parse_keeping_repeats` (the authorization endpoint) and
//! `decode_component`. Asserts: a refusal is `invalid_request`; what is accepted has no NUL
//! (SECURITY I5), at most 64 pairs, no repeat in the strict parse; `encode()` (how a pushed
//! request is stored) parses back to the same pairs.

use keycard::oauth::params::{Params, decode_component};
use keycard_types::ErrorCode;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    for (strict, parsed) in [(true, Params::parse(body)), (false, Params::parse_keeping_repeats(body))] {
        let p = match parsed {
            Err(e) => {
                assert_eq!(e.code, ErrorCode::InvalidRequest, "{}", e.description);
                continue;
            }
            Ok(p) => p,
        };
        let pairs: Vec<(&str, &str)> = p.pairs().collect();
        assert!(pairs.len() <= 64, "{} pairs accepted", pairs.len());
        assert!(pairs.iter().all(|(k, v)| !k.contains('\0') && !v.contains('\0')), "a NUL passed the form parser");
        if strict {
            assert!(p.repeated().is_empty());
            for (i, (k, _)) in pairs.iter().enumerate() {
                assert!(*k == "resource" || !pairs[..i].iter().any(|(n, _)| n == k), "{k:?} repeated");
            }
        }
        let again = Params::parse_keeping_repeats(p.encode().as_bytes()).expect("encode() output parses");
        assert_eq!(again.pairs().collect::<Vec<_>>(), pairs, "encode() does not round-trip");
    }
    if let Some(s) = decode_component(body) {
        assert!(!s.contains('\0'));
    }
});
