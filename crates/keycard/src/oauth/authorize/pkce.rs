//! PKCE (RFC 7636 §4.1, §4.6; OAuth 2.1 §4.1.1): the syntax of verifiers and challenges and
//! the S256 check, used by the authorization endpoint and the token endpoint. Only S256 exists
//! (SECURITY B2); a new method would be an enum here, never `plain`.

use aws_lc_rs::{constant_time, digest};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};

/// RFC 7636 §4.1 ABNF `43*128unreserved` (OAuth 2.1 §4.1.1): is `s` a well-formed
/// `code_verifier` or S256 `code_challenge`?
pub fn is_valid_pkce_value(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: `BASE64URL(SHA256(verifier)) == challenge`, compared in constant time; a
/// verifier that is not 43-128 unreserved characters never matches.
pub fn verify_pkce(challenge: &str, verifier: &str) -> bool {
    if !is_valid_pkce_value(verifier) {
        return false;
    }
    let hash = digest::digest(&digest::SHA256, verifier.as_bytes());
    let computed = URL_SAFE_NO_PAD.encode(hash.as_ref());
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::test_support::*;

    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert!(verify_pkce(CHALLENGE, VERIFIER));
        let mut wrong = VERIFIER.to_owned();
        wrong.replace_range(0..1, "e");
        assert!(!verify_pkce(CHALLENGE, &wrong));
        assert!(!verify_pkce(CHALLENGE, &VERIFIER[..42]), "42 characters");
        assert!(!verify_pkce(CHALLENGE, ""));
        assert!(!verify_pkce(VERIFIER, VERIFIER), "plain is not accepted");
        assert!(!verify_pkce("", VERIFIER));
        assert!(is_valid_pkce_value(VERIFIER));
        assert!(!is_valid_pkce_value(&"a".repeat(129)));
        assert!(!is_valid_pkce_value(&format!("{}é", "a".repeat(42))));
    }
}
