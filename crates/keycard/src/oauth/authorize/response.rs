//! The authorization response (RFC 6749 §4.1.2 / §4.1.2.1, RFC 9207 §2 `iss`, OAuth 2.0
//! Multiple Response Type Encoding Practices §2.1 (query, fragment), OAuth 2.0 Form Post
//! Response Mode §2). A new response mode is a [`ResponseMode`] variant and an arm in
//! [`authorization_response`].

use super::ResponseMode;
use crate::oauth::OAuthError;

/// An authorization response, ready for the HTTP layer (RFC 6749 §4.1.2 / §4.1.2.1, Form Post
/// Response Mode §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizationResponse {
    /// A 302/303 to this full URL.
    Redirect(String),
    /// An auto-submitting form: POST `fields` to `action` (every value must be HTML-escaped).
    FormPost {
        /// The redirect URI, unchanged.
        action: String,
        /// Name/value pairs, in order.
        fields: Vec<(String, String)>,
    },
}

/// RFC 6749 §4.1.2 / §4.1.2.1 + RFC 9207 §2 + Form Post Response Mode §2: the authorization
/// response. `params` are e.g. `[("code", …)]` or the error pair; this adds `state` (when present,
/// unchanged) and `iss` (exactly `issuer`). In query mode the parameters are
/// `application/x-www-form-urlencoded` and appended to the redirect URI's query with `&` (or `?`
/// when it has none), before any fragment, so a registered query is kept as is (RFC 6749 §3.1.2,
/// SECURITY A1).
pub fn authorization_response(
    redirect_uri: &str,
    mode: ResponseMode,
    params: &[(&str, &str)],
    state: Option<&str>,
    issuer: &str,
) -> AuthorizationResponse {
    let all = params.iter().copied().chain(state.map(|s| ("state", s))).chain(std::iter::once(("iss", issuer)));
    match mode {
        ResponseMode::Query => {
            let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
            let (base, fragment) = match redirect_uri.find('#') {
                Some(i) => redirect_uri.split_at(i),
                None => (redirect_uri, ""),
            };
            let sep = match base.find('?') {
                None => "?",
                Some(_) if base.ends_with(['?', '&']) => "",
                Some(_) => "&",
            };
            AuthorizationResponse::Redirect(format!("{base}{sep}{encoded}{fragment}"))
        }
        ResponseMode::Fragment => {
            let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
            let base = redirect_uri.split('#').next().unwrap_or(redirect_uri);
            AuthorizationResponse::Redirect(format!("{base}#{encoded}"))
        }
        ResponseMode::FormPost => AuthorizationResponse::FormPost {
            action: redirect_uri.to_owned(),
            fields: all.map(|(k, v)| (k.to_owned(), v.to_owned())).collect(),
        },
    }
}

/// RFC 6749 §4.1.2.1 + RFC 9207 §2: the error response: `error`, `error_description` (when not
/// empty, limited to the characters RFC 6749 allows there), `state`, `iss`.
pub fn error_response(
    redirect_uri: &str,
    mode: ResponseMode,
    state: Option<&str>,
    issuer: &str,
    error: &OAuthError,
) -> AuthorizationResponse {
    // RFC 6749 §4.1.2.1: error_description is %x20-21 / %x23-5B / %x5D-7E.
    let description: String = error
        .description
        .chars()
        .filter(|&c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E'))
        .collect();
    let mut params = vec![("error", error.code.as_str())];
    if !description.is_empty() {
        params.push(("error_description", description.as_str()));
    }
    authorization_response(redirect_uri, mode, &params, state, issuer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::test_support::*;

    // ---- authorization_response (RFC 6749 §4.1.2, RFC 9207, Form Post) ------------------------

    #[test]
    fn response_encoding_round_trips() {
        let state = "a&b=c d+e%20f/é✓?#";
        let AuthorizationResponse::Redirect(url) = authorization_response(
            "https://client.example/cb",
            ResponseMode::Query,
            &[("code", "kc_ac_123")],
            Some(state),
            ISS,
        ) else {
            panic!()
        };
        assert!(url.starts_with("https://client.example/cb?code=kc_ac_123&state="));
        assert!(!url.contains(' ') && !url.contains('é') && !url.contains('#'));
        let q = query_of(&url);
        assert_eq!(q.len(), 3);
        assert_eq!(q["code"], "kc_ac_123");
        assert_eq!(q["state"], state);
        assert_eq!(q["iss"], ISS);
        assert!(url.ends_with("&iss=https%3A%2F%2Fid.example"));
    }

    #[test]
    fn response_without_state_has_iss() {
        let AuthorizationResponse::Redirect(url) = authorization_response(
            "http://127.0.0.1:51004/cb",
            ResponseMode::Query,
            &[("code", "c")],
            None,
            "http://127.0.0.1:8080/tenant",
        ) else {
            panic!()
        };
        assert_eq!(url, "http://127.0.0.1:51004/cb?code=c&iss=http%3A%2F%2F127.0.0.1%3A8080%2Ftenant");
    }

    #[test]
    fn response_keeps_registered_query() {
        let AuthorizationResponse::Redirect(url) = authorization_response(
            "https://client.example/cb?b=2&a=1",
            ResponseMode::Query,
            &[("code", "c")],
            Some("s"),
            ISS,
        ) else {
            panic!()
        };
        assert!(url.starts_with("https://client.example/cb?b=2&a=1&code=c&state=s&iss="));
        let pairs: Vec<(String, String)> = url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
        let names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "code", "state", "iss"]);
        for (uri, want) in [
            ("https://client.example/cb?", "https://client.example/cb?code=c"),
            ("https://client.example/cb?a=1&", "https://client.example/cb?a=1&code=c"),
        ] {
            let AuthorizationResponse::Redirect(url) =
                authorization_response(uri, ResponseMode::Query, &[("code", "c")], None, ISS)
            else {
                panic!()
            };
            assert!(url.starts_with(want), "{url}");
        }
    }

    #[test]
    fn form_post_fields() {
        let resp = authorization_response(
            "https://client.example/cb?a=1",
            ResponseMode::FormPost,
            &[("code", "c")],
            Some("<\"s\"&>"),
            ISS,
        );
        assert_eq!(
            resp,
            AuthorizationResponse::FormPost {
                action: "https://client.example/cb?a=1".to_owned(),
                fields: vec![
                    ("code".to_owned(), "c".to_owned()),
                    ("state".to_owned(), "<\"s\"&>".to_owned()),
                    ("iss".to_owned(), ISS.to_owned()),
                ],
            }
        );
    }

    #[test]
    fn error_responses() {
        let e = OAuthError::new(ErrorCode::AccessDenied, "the user said \"no\" \\ é");
        let AuthorizationResponse::Redirect(url) =
            error_response("https://client.example/cb", ResponseMode::Query, Some("s t"), ISS, &e)
        else {
            panic!()
        };
        let q = query_of(&url);
        assert_eq!(q["error"], "access_denied");
        assert_eq!(q["error_description"], "the user said no  ");
        assert_eq!(q["state"], "s t");
        assert_eq!(q["iss"], ISS);

        let AuthorizationResponse::FormPost { fields, .. } = error_response(
            "https://client.example/cb",
            ResponseMode::FormPost,
            Some("s"),
            ISS,
            &OAuthError::new(ErrorCode::LoginRequired, ""),
        ) else {
            panic!()
        };
        let names: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["error", "state", "iss"]);
    }

    #[test]
    fn b1_error_redirect_end_to_end() {
        let r = run(&pub_client(), &[("code_challenge", ""), ("code_challenge_method", "")]);
        let Err(AuthorizeError::Redirect { redirect_uri, response_mode, state, error }) = r else { panic!("{r:?}") };
        let AuthorizationResponse::Redirect(url) =
            error_response(&redirect_uri, response_mode, state.as_deref(), ISS, &error)
        else {
            panic!()
        };
        assert!(url.starts_with("https://client.example/cb?error=invalid_request&"));
        let q = query_of(&url);
        assert_eq!(q["state"], "s");
        assert_eq!(q["iss"], ISS);
    }
}
