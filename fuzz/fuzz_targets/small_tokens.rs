#![no_main]
//! The small parsers of request input that guard a store lookup: refresh tokens
//! (`user_tokens::parse_refresh_token`, `kc_rt_<grant>.<generation>.<random>`), user codes
//! (RFC 8628 §6.1: `device::normalize_user_code`), PKCE values (RFC 7636 §4.1:
//! `is_valid_pkce_value`, `verify_pkce`). Asserts: a refresh token is read only in the one
//! form Keycard issues (a canonical decimal generation within bounds, a grant id and a random
//! part of the issued shape), and what `new_refresh_token` issues parses back; a user code
//! normalises to 8 characters of the RFC 8628 alphabet, idempotently, and its formatted form
//! normalises back; a PKCE value is 43-128 unreserved characters and a challenge is verified
//! only by its verifier.

use keycard::oauth::authorize::{is_valid_pkce_value, verify_pkce};
use keycard::oauth::device::{USER_CODE_ALPHABET, format_user_code, normalize_user_code};
use keycard::oauth::grant::user_tokens::{
    MAX_GENERATION, REFRESH_TOKEN_PREFIX, new_refresh_token, parse_refresh_token,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some((gid, generation)) = parse_refresh_token(s) {
        assert!((0..=MAX_GENERATION).contains(&generation));
        assert!(!gid.is_empty() && gid.len() <= 64 && !gid.contains('.'));
        let rest = &s[REFRESH_TOKEN_PREFIX.len() + gid.len() + 1..];
        let (digits, random) = rest.split_once('.').expect("three parts");
        assert_eq!(digits, generation.to_string(), "a non-canonical generation was read: {s:?}");
        assert!(random.len() >= 43 && !random.contains('.'));
    }
    // The text's letters and digits as a grant id, its length as a generation.
    let gid: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).take(64).collect();
    if !gid.is_empty() {
        let generation = (s.len() as i64 * 65_537).rem_euclid(MAX_GENERATION + 1);
        let t = new_refresh_token(&gid, generation);
        assert_eq!(parse_refresh_token(&t), Some((gid.as_str(), generation)), "an issued token does not parse");
    }

    if let Some(code) = normalize_user_code(s) {
        assert_eq!(code.len(), 8);
        assert!(code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{code:?}");
        assert_eq!(normalize_user_code(&code).as_deref(), Some(code.as_str()));
        assert_eq!(normalize_user_code(&format_user_code(&code)).as_deref(), Some(code.as_str()));
    }

    if is_valid_pkce_value(s) {
        assert!((43..=128).contains(&s.len()));
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)), "{s:?}");
        let challenge = keycard_fuzz::b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes()));
        assert!(verify_pkce(&challenge, s), "a verifier does not verify its own S256 challenge");
        assert!(!verify_pkce(s, s) || challenge == s);
    }
    // Split in two: a challenge is verified only by its own verifier.
    let mid = (0..=s.len() / 2).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
    let (challenge, verifier) = s.split_at(mid);
    if verify_pkce(challenge, verifier) {
        let want = keycard_fuzz::b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
        assert_eq!(challenge, want, "a challenge was verified by another verifier");
    }
});
