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

/// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~' | b'+' | b'/'))
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
    let value = value.to_str().map_err(|_| Error::InvalidRequest(MALFORMED_HEADER))?;
    let value = value.trim_matches(' ');
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme (Basic, DPoP, …): no bearer token was sent.
        return Err(Error::MissingToken);
    }
    let token = rest.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(Error::InvalidRequest(MALFORMED_HEADER));
    }
    Ok(token)
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
    fn reads_the_bearer_token() {
        assert_eq!(run(&["Bearer abc"], "/").unwrap(), "abc");
        assert_eq!(run(&["bEaReR  a.b-c_d~e+f/g=="], "/x?y=1").unwrap(), "a.b-c_d~e+f/g==");
    }

    #[test]
    fn missing_or_other_scheme() {
        assert!(matches!(run(&[], "/"), Err(Error::MissingToken)));
        assert!(matches!(run(&["Basic dXNlcjpwYXNz"], "/"), Err(Error::MissingToken)));
    }

    #[test]
    fn malformed() {
        for bad in ["Bearer", "Bearer ", "Bearer a b", "Bearer a\"b", "Bearer ==", "Bearer a=b"] {
            assert!(matches!(run(&[bad], "/"), Err(Error::InvalidRequest(MALFORMED_HEADER))), "{bad:?}");
        }
        assert!(matches!(run(&["Bearer a", "Bearer b"], "/"), Err(Error::InvalidRequest(TWO_HEADERS))));
        assert!(matches!(run(&["Bearer a"], "/x?access_token=a"), Err(Error::InvalidRequest(TOKEN_IN_QUERY))));
        assert!(matches!(run(&[], "/x?a=1&access%5Ftoken=a"), Err(Error::InvalidRequest(TOKEN_IN_QUERY))));
    }
}
