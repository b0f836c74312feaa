//! Finding the bearer token of a request (RFC 6750 §2.1, OAuth 2.1 §5.1), with no web framework.
//!
//! Only the `Authorization` header is read. A token in the query string is refused outright
//! (OAuth 2.1 §5.1 removed that method: it leaks into logs and `Referer`), and the request body
//! is never looked at, so a form-encoded `access_token` is simply ignored.

use crate::Error;
use http::{HeaderMap, Uri, header::AUTHORIZATION};

pub(crate) const MALFORMED_HEADER: &str = "the Authorization header is malformed";
pub(crate) const TWO_HEADERS: &str = "the request has more than one Authorization header";
pub(crate) const TOKEN_IN_QUERY: &str = "access tokens are not accepted in the query string";

/// RFC 6750 §2.1 `b64token` characters (before the trailing `=`s):
/// `ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/"`. A table, so the check is one load per byte
/// (it runs on every request, over a token of several hundred bytes).
static B64TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        c += 1;
    }
    t
};

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &[u8]) -> bool {
    let body_len = s.len() - s.iter().rev().take_while(|&&c| c == b'=').count();
    // `fold` rather than `all`: no early exit, so the loop has no branch per byte.
    body_len > 0 && s[..body_len].iter().fold(true, |ok, &c| ok & B64TOKEN[c as usize])
}

/// The bearer token of a request: RFC 6750 §2.1 `Authorization: Bearer <token>`, the scheme
/// matched case-insensitively.
///
/// - no `Authorization` header, or one with another scheme (e.g. `Basic`): [`Error::MissingToken`]
/// - two `Authorization` headers, a `Bearer` header without a well-formed token, or an
///   `access_token` query parameter: [`Error::InvalidRequest`]
///
/// Use it to build an integration for a framework other than axum; the token then goes to
/// [`Validator::validate`](crate::Validator::validate).
///
/// ```
/// use http::{HeaderMap, HeaderValue, Uri};
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("bearer abc.def.ghi"));
/// let uri: Uri = "/invoices".parse().unwrap();
/// assert_eq!(keycard_resource::bearer_token(&headers, &uri).unwrap(), "abc.def.ghi");
/// ```
pub fn bearer_token<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<&'a str, Error> {
    well_formed(bearer_bytes(headers, uri)?)
}

/// [`bearer_token`] up to, not including, the check of the token's characters: the query, the
/// number of headers, the scheme. What is returned is a token only after [`well_formed`]; the
/// axum integration first looks these bytes up among the tokens already verified (which were
/// well formed, or their signature could not have been checked) and checks the rest on a miss.
pub(crate) fn bearer_bytes<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<&'a [u8], Error> {
    match credential_bytes(headers, uri)? {
        (Scheme::Bearer, token) => Ok(token),
        // A DPoP-scheme request carries no bearer token.
        (Scheme::Dpop, _) => Err(Error::MissingToken),
    }
}

/// The authorization scheme an access token was presented in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    Bearer,
    /// `Authorization: DPoP` with a `DPoP` proof header (RFC 9449 §7.1).
    Dpop,
}

/// The access token of a request and its scheme, `Bearer` or `DPoP` (RFC 9449 §7.1), with the
/// same rules as [`bearer_token`]; any other scheme is [`Error::MissingToken`].
///
/// ```
/// use http::{HeaderMap, HeaderValue, Uri};
/// use keycard_resource::Scheme;
/// let mut headers = HeaderMap::new();
/// headers.insert("authorization", HeaderValue::from_static("DPoP abc.def.ghi"));
/// let uri: Uri = "/invoices".parse().unwrap();
/// assert_eq!(keycard_resource::access_token(&headers, &uri).unwrap(), (Scheme::Dpop, "abc.def.ghi"));
/// ```
pub fn access_token<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<(Scheme, &'a str), Error> {
    let (scheme, token) = credential_bytes(headers, uri)?;
    Ok((scheme, well_formed(token)?))
}

/// [`bearer_bytes`] for both schemes.
pub(crate) fn credential_bytes<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<(Scheme, &'a [u8]), Error> {
    if let Some(query) = uri.query()
        && form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "access_token")
    {
        return Err(Error::InvalidRequest(TOKEN_IN_QUERY));
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Err(Error::MissingToken);
    };
    if values.next().is_some() {
        return Err(Error::InvalidRequest(TWO_HEADERS));
    }
    let value = trim_spaces(value.as_bytes());
    let (scheme, rest) = match value.iter().position(|&c| c == b' ') {
        Some(i) => (&value[..i], &value[i + 1..]),
        None => (value, &b""[..]),
    };
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        // Another scheme (Basic, …): no access token was sent; a header that is not even
        // visible ASCII is still malformed.
        return if value.iter().all(|&c| c == b'\t' || (0x20..0x7f).contains(&c)) {
            Err(Error::MissingToken)
        } else {
            Err(Error::InvalidRequest(MALFORMED_HEADER))
        };
    };
    Ok((scheme, trim_spaces(rest)))
}

/// The RFC 6750 §2.1 `b64token` check of a token from [`bearer_bytes`].
pub(crate) fn well_formed(token: &[u8]) -> Result<&str, Error> {
    if !is_b64token(token) {
        return Err(Error::InvalidRequest(MALFORMED_HEADER));
    }
    // Every byte is ASCII (the b64token check), so this cannot fail.
    std::str::from_utf8(token).map_err(|_| Error::InvalidRequest(MALFORMED_HEADER))
}

fn trim_spaces(mut s: &[u8]) -> &[u8] {
    while let [b' ', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' '] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn run(values: &[&str], uri: &str) -> Result<String, Error> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        bearer_token(&headers, &uri.parse().unwrap()).map(str::to_owned)
    }

    #[test]
    fn b64token_alphabet() {
        for c in 0..=255u8 {
            let want = c.is_ascii_alphanumeric() || b"-._~+/".contains(&c);
            assert_eq!(B64TOKEN[c as usize], want, "{c:#04x}");
        }
    }

    #[test]
    fn reads_the_bearer_token() {
        assert_eq!(run(&["Bearer abc"], "/").unwrap(), "abc");
        assert_eq!(run(&["bEaReR  a.b-c_d~e+f/g=="], "/x?y=1").unwrap(), "a.b-c_d~e+f/g==");
    }

    #[test]
    fn missing_or_other_scheme() {
        assert!(matches!(run(&[], "/"), Err(Error::MissingToken)));
        assert!(matches!(run(&["Basic dXNlcjpwYXNz"], "/"), Err(Error::MissingToken)));
        assert!(matches!(run(&["  DPoP  abc  "], "/"), Err(Error::MissingToken)));
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(b"Basic \xff").unwrap());
        let err = bearer_token(&headers, &"/".parse().unwrap());
        assert!(matches!(err, Err(Error::InvalidRequest(MALFORMED_HEADER))), "obs-text is malformed");
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(b"Bearer abc\xff").unwrap());
        let err = bearer_token(&headers, &"/".parse().unwrap());
        assert!(matches!(err, Err(Error::InvalidRequest(MALFORMED_HEADER))));
    }

    #[test]
    fn malformed() {
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer ==", "Bearer a=b", "Bearer a\tb"] {
            assert!(matches!(run(&[bad], "/"), Err(Error::InvalidRequest(MALFORMED_HEADER))), "{bad:?}");
        }
        assert!(matches!(run(&["Bearer a", "Bearer b"], "/"), Err(Error::InvalidRequest(TWO_HEADERS))));
        assert!(matches!(run(&["Bearer a"], "/x?access_token=a"), Err(Error::InvalidRequest(TOKEN_IN_QUERY))));
        assert!(matches!(run(&[], "/x?a=1&access%5Ftoken=a"), Err(Error::InvalidRequest(TOKEN_IN_QUERY))));
    }
}
