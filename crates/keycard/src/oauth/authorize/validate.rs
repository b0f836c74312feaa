//! Validation of an authorization request (RFC 6749 §4.1.1 + §4.1.2.1, OAuth 2.1 §4.1.1,
//! RFC 7636 §4.3, OpenID Connect Core §3.1.2.1–2, §6): the client and the redirect URI first
//! (failures are error pages, never redirects: SECURITY A4), then every other parameter (failures
//! are redirected to the verified URI). A new parameter's check goes after the redirect URI
//! step, with its test below.

use super::{
    AuthorizationRequest, AuthorizeError, MAX_MAX_AGE, MAX_PARAM_LEN, Prompt, ResponseMode, ResponseType,
    is_valid_pkce_value, redirect_uri_matches,
};
use crate::model::{Client, GrantType};
use crate::oauth::OAuthError;
use crate::oauth::params::Params;
use keycard_types::{ErrorCode, Scope};

fn page(title: &str, message: &str) -> AuthorizeError {
    AuthorizeError::Page { title: title.to_owned(), message: message.to_owned() }
}

/// RFC 6749 §3.1 / §4.1.2.1 (SECURITY A10): a request whose parameters could not be parsed
/// (duplicated parameter, bad encoding) cannot be trusted to name the client or redirect URI, so
/// [`Params::parse`]'s error becomes an error page, never a redirect.
pub fn parse_error_page(e: OAuthError) -> AuthorizeError {
    AuthorizeError::Page {
        title: "Invalid authorization request".to_owned(),
        message: format!("The application sent an invalid request: {}.", e.description),
    }
}

/// RFC 6749 §4.1.1 + §4.1.2.1, OAuth 2.1 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1–2:
/// validates an authorization request. `params` come from the query (GET) or the form body
/// (POST): both behave the same. `client` is the client looked up by the request's `client_id`
/// (`None` when unknown); `known_scopes` says whether the server knows a scope.
///
/// Checks, in order: client (page), redirect URI (page; both also when repeated: see
/// [`verify_target`]), then, redirecting errors to the verified URI: `response_mode`, any
/// repeated parameter (issue 9 item 8), a leftover `request`/`request_uri`, `resource`,
/// `response_type` (+ client may use the code grant), PKCE
/// (S256 only), `scope`, `prompt`, `max_age`, lengths of `state`/`nonce`/`login_hint`/
/// `ui_locales`. Unknown parameters are ignored.
pub fn validate(
    params: &Params,
    client: Option<&Client>,
    known_scopes: &dyn Fn(&str) -> bool,
) -> Result<AuthorizationRequest, AuthorizeError> {
    validate_with(params, client, known_scopes, false)
}

/// Where the errors of a request go once its client and redirect URI are verified (RFC 6749
/// §4.1.2.1): the verified redirect URI and the `state` to echo (only a single, bounded one).
#[derive(Debug, Clone)]
pub struct ErrorTarget {
    /// The effective redirect URI (given and matching, or the single registered one).
    pub redirect_uri: String,
    /// `redirect_uri` was in the request.
    pub redirect_uri_given: bool,
    /// The `state` to echo: present once and at most [`MAX_PARAM_LEN`] bytes.
    pub state: Option<String>,
}

impl ErrorTarget {
    /// The redirected error.
    pub fn fail(&self, response_mode: ResponseMode, error: OAuthError) -> AuthorizeError {
        AuthorizeError::Redirect {
            redirect_uri: self.redirect_uri.clone(),
            response_mode,
            state: self.state.clone(),
            error,
        }
    }

    /// The response mode errors use before the request's own is validated: the one asked for
    /// when it is `query` or `form_post` (given once), else `query`.
    pub fn early_mode(params: &Params) -> ResponseMode {
        match params.get("response_mode") {
            Some("form_post") if !params.is_repeated("response_mode") => ResponseMode::FormPost,
            _ => ResponseMode::Query,
        }
    }
}

/// Steps 1 and 2 of [`validate`] (RFC 6749 §4.1.2.1, SECURITY A1/A2/A4/A10): the client and the
/// redirect URI. Every failure is an error page (never a redirect): no, unknown, disabled or
/// repeated `client_id`; repeated, unregistered or (when required) missing `redirect_uri`. Used
/// on its own where errors must be placed before the rest of the request is read (a request
/// object, RFC 9101; a required pushed request, RFC 9126 §5).
pub fn verify_target<'c>(
    params: &Params,
    client: Option<&'c Client>,
) -> Result<(&'c Client, ErrorTarget), AuthorizeError> {
    // 1. The client: never redirect before it is known (SECURITY A4).
    if params.is_repeated("client_id") {
        return Err(page(
            "Invalid authorization request",
            "The application sent an invalid request: parameter `client_id` is repeated (RFC 6749 section 3.1).",
        ));
    }
    let Some(client_id) = params.get("client_id") else {
        return Err(page(
            "Invalid authorization request",
            "The request does not say which application it comes from (client_id is missing).",
        ));
    };
    let client = match client {
        Some(c) if c.id == client_id => c,
        _ => {
            return Err(page(
                "Unknown application",
                "The application that sent you here is not registered with this server.",
            ));
        }
    };
    if client.disabled {
        return Err(page("Application disabled", "The application that sent you here has been disabled."));
    }

    // 2. The redirect URI (SECURITY A1, A2, A4). The page never shows the requested URI.
    if params.is_repeated("redirect_uri") {
        return Err(page(
            "Invalid authorization request",
            "The application sent an invalid request: parameter `redirect_uri` is repeated (RFC 6749 section 3.1).",
        ));
    }
    let requested_openid = params.get("scope").is_some_and(|s| s.split(' ').any(|t| t == "openid"));
    let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
        Some(given) if redirect_uri_matches(&client.redirect_uris, given, client.application_type()) => {
            (given.to_owned(), true)
        }
        Some(_) => {
            return Err(page(
                "Invalid redirect address",
                "The address this application asked to be sent back to is not registered for it, \
                 so you were not sent there.",
            ));
        }
        None if requested_openid => {
            return Err(page(
                "Invalid authorization request",
                "The application did not say where to send you back (redirect_uri is required \
                 for OpenID Connect requests).",
            ));
        }
        None => match client.redirect_uris.as_slice() {
            [only] => (only.clone(), false),
            _ => {
                return Err(page(
                    "Invalid authorization request",
                    "The application did not say where to send you back (redirect_uri is \
                     missing and the application has more than one).",
                ));
            }
        },
    };
    let state =
        params.get("state").filter(|s| s.len() <= MAX_PARAM_LEN && !params.is_repeated("state")).map(str::to_owned);
    Ok((client, ErrorTarget { redirect_uri, redirect_uri_given, state }))
}

/// [`validate`], with the server-wide switch of the legacy implicit grant.
pub fn validate_with(
    params: &Params,
    client: Option<&Client>,
    known_scopes: &dyn Fn(&str) -> bool,
    implicit_enabled: bool,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let (client, target) = verify_target(params, client)?;
    let (redirect_uri, redirect_uri_given) = (target.redirect_uri.clone(), target.redirect_uri_given);

    // From here on errors are redirected to the verified URI.
    let fail = |mode: ResponseMode, error: OAuthError| target.fail(mode, error);

    // 3. response_mode (Multiple Response Types §2.1, Form Post §2).
    let implicit_type = match params.get("response_type") {
        Some("token") => Some(ResponseType::Token),
        Some("id_token") => Some(ResponseType::IdToken),
        Some("id_token token") | Some("token id_token") => Some(ResponseType::IdTokenToken),
        _ => None,
    };
    let response_mode = match params.get("response_mode") {
        None if implicit_type.is_some() => ResponseMode::Fragment,
        None | Some("query") => ResponseMode::Query,
        Some("form_post") => ResponseMode::FormPost,
        Some("fragment") if implicit_type.is_some() => ResponseMode::Fragment,
        Some(_) => {
            return Err(fail(
                ResponseMode::Query,
                OAuthError::invalid_request("unsupported response_mode: use query or form_post"),
            ));
        }
    };

    // 3a. RFC 6749 §3.1 (issue 9 item 8): a repeated parameter is `invalid_request`, redirected
    // now that the redirect URI is known (its `state` is not echoed when `state` is the one repeated).
    if let Some(name) = params.repeated().first() {
        let mode = if params.is_repeated("response_mode") { ResponseMode::Query } else { response_mode };
        let name: String = name.chars().filter(|c| c.is_ascii_graphic()).take(40).collect();
        return Err(fail(
            mode,
            OAuthError::invalid_request(format!("parameter `{name}` is repeated (RFC 6749 section 3.1)")),
        ));
    }

    // 3b. Request objects (RFC 9101) and pushed requests (RFC 9126) are resolved by the caller
    // before this runs (`oauth::par::resolve`): one left here was nested in a request object
    // (RFC 9101 §4: MUST NOT), or names a request_uri that is not a pushed request's.
    // Resource indicators (RFC 8707 §2) are not supported yet. Answered, never ignored.
    if params.get("request").is_some() {
        return Err(fail(
            response_mode,
            OAuthError::new(ErrorCode::InvalidRequestObject, "a request object cannot contain a request parameter"),
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(fail(
            response_mode,
            OAuthError::new(
                ErrorCode::RequestUriNotSupported,
                "only request_uri values issued by the pushed authorization request endpoint are accepted",
            ),
        ));
    }
    params.refuse_resource().map_err(|e| fail(response_mode, e))?;

    // 4. response_type: `code` only (OAuth 2.1 §4.1.1, SECURITY A6). The value is not echoed.
    let response_type = match (params.get("response_type"), implicit_type) {
        (Some("code"), _) => ResponseType::Code,
        // Tokens never travel in a query string (RFC 9700 §2.1.2, OAuth 2.1 §5.1).
        (_, Some(_)) if response_mode == ResponseMode::Query => {
            return Err(fail(
                ResponseMode::Fragment,
                OAuthError::invalid_request("response_mode=query is not allowed for tokens"),
            ));
        }
        (_, Some(t)) if implicit_enabled && client.allows_grant(GrantType::Implicit) => t,
        (_, Some(_)) if implicit_enabled => {
            return Err(fail(
                response_mode,
                OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the implicit grant"),
            ));
        }
        (None, _) => {
            return Err(fail(response_mode, OAuthError::invalid_request("missing required parameter `response_type`")));
        }
        (Some(_), _) => {
            return Err(fail(
                if response_mode == ResponseMode::Fragment { ResponseMode::Query } else { response_mode },
                OAuthError::new(ErrorCode::UnsupportedResponseType, "only response_type=code is supported"),
            ));
        }
    };
    let implicit = response_type != ResponseType::Code;
    if implicit && response_type != ResponseType::Token && params.get("nonce").is_none() {
        return Err(fail(response_mode, OAuthError::invalid_request("nonce is required for id_token responses")));
    }
    if !implicit && !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(fail(
            response_mode,
            OAuthError::new(ErrorCode::UnauthorizedClient, "this client may not use the authorization code grant"),
        ));
    }

    // 5. PKCE, S256 only (RFC 7636 §4.3, OAuth 2.1 §4.1.1, SECURITY B1/B2).
    let pkce_may_skip = implicit || (client.settings.pkce_optional && !client.is_public());
    let code_challenge = match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (None, None) if pkce_may_skip => None,
        (None, None) => {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request("code_challenge is required (PKCE with code_challenge_method=S256)"),
            ));
        }
        (None, Some(_)) => {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request("code_challenge_method given without code_challenge"),
            ));
        }
        (Some(_), None) => {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request(
                    "code_challenge_method is required and must be S256 (plain is not supported)",
                ),
            ));
        }
        (Some(_), Some(m)) if m != "S256" => {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request("unsupported code_challenge_method: only S256 is supported"),
            ));
        }
        (Some(c), Some(_)) if !is_valid_pkce_value(c) => {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request("code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~"),
            ));
        }
        (Some(c), Some(_)) => Some(c.to_owned()),
    };

    // 6. scope (RFC 6749 §3.3): known to the server and allowed for the client. Not echoed.
    let scope = Scope::parse(params.get("scope").unwrap_or(""))
        .map_err(|e| fail(response_mode, OAuthError::invalid_scope(e.to_string())))?;
    if !scope.iter().all(known_scopes) {
        return Err(fail(response_mode, OAuthError::invalid_scope("the request contains an unknown scope")));
    }
    if !scope.iter().all(|t| client.scopes.iter().any(|a| a == t)) {
        return Err(fail(
            response_mode,
            OAuthError::invalid_scope("the request contains a scope this client may not request"),
        ));
    }

    // 7. prompt (OpenID Connect Core §3.1.2.1).
    let mut prompt = Vec::new();
    for value in params.get("prompt").unwrap_or("").split(' ') {
        if value.is_empty() {
            continue;
        }
        let Some(p) = Prompt::parse(value) else {
            return Err(fail(
                response_mode,
                OAuthError::invalid_request("unsupported prompt value: use none, login, consent or select_account"),
            ));
        };
        if !prompt.contains(&p) {
            prompt.push(p);
        }
    }
    if prompt.contains(&Prompt::None) && prompt.len() > 1 {
        return Err(fail(
            response_mode,
            OAuthError::invalid_request("prompt=none cannot be combined with other values"),
        ));
    }

    // 8. max_age (OpenID Connect Core §3.1.2.1): decimal digits only, no sign.
    let max_age = match params.get("max_age") {
        None => None,
        Some(s) => match s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse::<i64>()) {
            Some(Ok(n)) if n <= MAX_MAX_AGE => Some(n),
            _ => {
                return Err(fail(
                    response_mode,
                    OAuthError::invalid_request("max_age must be a non-negative integer of seconds, at most ten years"),
                ));
            }
        },
    };

    // 9. Free-form values, taken as given but bounded (the pages escape them, SECURITY G3).
    let bounded = |name: &'static str| match params.get(name) {
        Some(v) if v.len() > MAX_PARAM_LEN => Err(fail(
            response_mode,
            OAuthError::invalid_request(format!("parameter `{name}` is longer than {MAX_PARAM_LEN} bytes")),
        )),
        v => Ok(v.map(str::to_owned)),
    };
    let state = bounded("state")?;
    let nonce = bounded("nonce")?;
    let login_hint = bounded("login_hint")?;
    let ui_locales = bounded("ui_locales")?;
    // RFC 9449 §10.
    let dpop_jkt = crate::oauth::dpop::parse_dpop_jkt(params.get("dpop_jkt")).map_err(|e| fail(response_mode, e))?;

    Ok(AuthorizationRequest {
        response_type,
        client_id: client.id.clone(),
        redirect_uri,
        redirect_uri_given,
        response_mode,
        scope,
        state,
        nonce,
        code_challenge,
        dpop_jkt,
        prompt,
        max_age,
        login_hint,
        ui_locales,
        hinted_subject: None,
        deferred_error: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::authorize::test_support::*;

    // ---- SECURITY A4: error pages, never redirects ---------------------------------------------

    #[test]
    fn a4_unknown_or_missing_client_is_a_page() {
        let evil = [("redirect_uri", "https://evil.example/")];
        assert_page(validate(&request(&[("client_id", "nope")]), None, &known));
        assert_page(validate(&request(&evil), None, &known));
        assert_page(validate(&request(&[("client_id", "")]), Some(&pub_client()), &known));
        // The looked-up client must be the one named.
        assert_page(validate(&request(&[("client_id", "conf")]), Some(&pub_client()), &known));
        let mut disabled = pub_client();
        disabled.disabled = true;
        assert_page(run(&disabled, &[]));
    }

    #[test]
    fn a4_bad_redirect_uri_is_a_page() {
        let c = pub_client();
        assert_page(run(&c, &[("redirect_uri", "https://evil.example/")]));
        assert_page(run(&c, &[("redirect_uri", "https://client.example/other")]));
        // Errors that would otherwise redirect still go to the page when the URI is bad.
        assert_page(run(&c, &[("redirect_uri", "https://evil.example/"), ("response_type", "token")]));
        let two = client("pub", true, &["https://client.example/cb", "https://client.example/cb2"]);
        assert_page(run(&two, &[("redirect_uri", ""), ("scope", "profile")]));
        // OpenID Connect requires redirect_uri even with one registered URI.
        assert_page(run(&c, &[("redirect_uri", ""), ("scope", "openid")]));
        let none = client("pub", true, &[]);
        assert_page(run(&none, &[("redirect_uri", ""), ("scope", "profile")]));
        assert_page(run(&none, &[("redirect_uri", "https://client.example/cb")]));
    }

    #[test]
    fn a4_single_registered_uri_may_be_omitted_for_plain_oauth() {
        let req = run(&pub_client(), &[("redirect_uri", ""), ("scope", "profile")]).unwrap();
        assert_eq!(req.redirect_uri, "https://client.example/cb");
        assert!(!req.redirect_uri_given);
    }

    #[test]
    fn a10_parse_errors_become_pages() {
        let e = Params::parse(b"client_id=pub&client_id=conf").unwrap_err();
        let AuthorizeError::Page { message, .. } = parse_error_page(e) else {
            panic!("page expected");
        };
        assert!(message.contains("client_id"));
    }

    /// RFC 9101 §4, RFC 9126 §4, RFC 8707 §2: a `request` or `request_uri` still here (nested in
    /// a request object, or not a pushed request's URN) and `resource` are answered once the
    /// redirect URI is verified, an error page before.
    #[test]
    fn leftover_request_objects_and_resource_are_refused() {
        for (name, code) in [
            ("request", ErrorCode::InvalidRequestObject),
            ("request_uri", ErrorCode::RequestUriNotSupported),
            ("resource", ErrorCode::InvalidTarget),
        ] {
            assert_redirect(run(&pub_client(), &[(name, "x")]), code);
            assert_page(run(&pub_client(), &[(name, "x"), ("redirect_uri", "https://evil.example/")]));
            assert_page(validate(&request(&[(name, "x")]), None, &known));
        }
    }

    /// Issue 9 item 8, RFC 6749 §3.1 / §4.1.2.1: a repeated `client_id` or `redirect_uri` is a
    /// page; any other repeated parameter is redirected, without `state` when `state` repeats.
    #[test]
    fn a10_repeated_parameters() {
        let with = |extra: &str| {
            let body = format!("{}&{extra}", request(&[]).encode());
            validate(&Params::parse_keeping_repeats(body.as_bytes()).unwrap(), Some(&pub_client()), &known)
        };
        assert_page(with("client_id=pub"));
        assert_page(with("redirect_uri=https%3A%2F%2Fclient.example%2Fcb"));
        for extra in [
            "scope=openid",
            "response_type=code",
            "nonce=n&nonce=m",
            "code_challenge_method=S256",
            "prompt=none&prompt=login",
        ] {
            assert_redirect(with(extra), ErrorCode::InvalidRequest);
        }
        match with("state=other") {
            Err(AuthorizeError::Redirect { state, error, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert_eq!(state, None, "a repeated state is not echoed");
            }
            other => panic!("{other:?}"),
        }
        match with("response_mode=form_post&response_mode=query") {
            Err(AuthorizeError::Redirect { response_mode, .. }) => assert_eq!(response_mode, ResponseMode::Query),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_parameters_are_ignored() {
        assert!(run(&pub_client(), &[("frobnicate", "yes"), ("display", "popup")]).is_ok());
    }

    // ---- response_mode, response_type (SECURITY A6) -------------------------------------------

    #[test]
    fn response_mode() {
        assert_eq!(run(&pub_client(), &[]).unwrap().response_mode, ResponseMode::Query);
        let q = run(&pub_client(), &[("response_mode", "query")]).unwrap();
        assert_eq!(q.response_mode, ResponseMode::Query);
        let f = run(&pub_client(), &[("response_mode", "form_post")]).unwrap();
        assert_eq!(f.response_mode, ResponseMode::FormPost);
        for bad in ["fragment", "jwt", "FORM_POST", "query.jwt"] {
            assert_redirect(run(&pub_client(), &[("response_mode", bad)]), ErrorCode::InvalidRequest);
        }
        // Later errors use the requested mode.
        match run(&pub_client(), &[("response_mode", "form_post"), ("scope", "nope")]) {
            Err(AuthorizeError::Redirect { response_mode, .. }) => {
                assert_eq!(response_mode, ResponseMode::FormPost)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a6_only_response_type_code() {
        assert_redirect(run(&pub_client(), &[("response_type", "")]), ErrorCode::InvalidRequest);
        for rt in [
            "token",
            "id_token",
            "id_token token",
            "code token",
            "code id_token",
            "code id_token token",
            "none",
            "CODE",
            "code ",
        ] {
            let r = run(&pub_client(), &[("response_type", rt)]);
            let Err(AuthorizeError::Redirect { redirect_uri, response_mode, state, error }) = r else {
                panic!("{rt:?}: {r:?}");
            };
            assert_eq!(error.code, ErrorCode::UnsupportedResponseType, "{rt:?}");
            for resp in [
                error_response(&redirect_uri, response_mode, state.as_deref(), ISS, &error),
                error_response(&redirect_uri, ResponseMode::FormPost, state.as_deref(), ISS, &error),
            ] {
                let text = format!("{resp:?}");
                assert!(!text.contains("access_token"), "{text}");
                assert!(!text.contains("id_token"), "{text}");
            }
            let AuthorizationResponse::Redirect(url) =
                error_response(&redirect_uri, response_mode, state.as_deref(), ISS, &error)
            else {
                panic!()
            };
            let q = query_of(&url);
            assert_eq!(q["error"], "unsupported_response_type");
            assert_eq!(q["state"], "s");
            assert_eq!(q["iss"], ISS);
        }
    }

    #[test]
    fn client_must_allow_the_code_grant() {
        let mut c = pub_client();
        c.grant_types = vec![GrantType::ClientCredentials];
        assert_redirect(run(&c, &[]), ErrorCode::UnauthorizedClient);
    }

    // ---- SECURITY B1/B2: PKCE --------------------------------------------------------------

    #[test]
    fn b1_pkce_required() {
        let no_pkce = [("code_challenge", ""), ("code_challenge_method", "")];
        assert_redirect(run(&pub_client(), &no_pkce), ErrorCode::InvalidRequest);
        let conf = client("conf", false, &["https://client.example/cb"]);
        let conf_req = |o: &[(&str, &str)]| {
            let mut all = vec![("client_id", "conf")];
            all.extend_from_slice(o);
            validate(&request(&all), Some(&conf), &known)
        };
        assert_redirect(conf_req(&no_pkce), ErrorCode::InvalidRequest);

        // The admin flag relaxes it for confidential clients only.
        let mut relaxed = conf.clone();
        relaxed.settings.pkce_optional = true;
        let req = validate(
            &request(&[("client_id", "conf"), ("code_challenge", ""), ("code_challenge_method", "")]),
            Some(&relaxed),
            &known,
        )
        .unwrap();
        assert_eq!(req.code_challenge, None);
        let mut public_relaxed = pub_client();
        public_relaxed.settings.pkce_optional = true;
        assert_redirect(run(&public_relaxed, &no_pkce), ErrorCode::InvalidRequest);
        // A method without a challenge is malformed even when PKCE is optional.
        assert!(matches!(
            validate(&request(&[("client_id", "conf"), ("code_challenge", "")]), Some(&relaxed), &known,),
            Err(AuthorizeError::Redirect { .. })
        ));
        // With PKCE the challenge is kept.
        assert_eq!(run(&pub_client(), &[]).unwrap().code_challenge.as_deref(), Some(CHALLENGE));
    }

    #[test]
    fn b2_s256_only_and_well_formed() {
        for method in ["plain", "S512", "s256", "", "S256 "] {
            assert_redirect(run(&pub_client(), &[("code_challenge_method", method)]), ErrorCode::InvalidRequest);
        }
        let c42 = "a".repeat(42);
        let c129 = "a".repeat(129);
        let plus = format!("{}+", "a".repeat(42));
        let eq = format!("{}=", "a".repeat(42));
        let slash = format!("{}/", "a".repeat(42));
        let space = format!("{} a", "a".repeat(42));
        for challenge in [&c42, &c129, &plus, &eq, &slash, &space] {
            assert_redirect(run(&pub_client(), &[("code_challenge", challenge)]), ErrorCode::InvalidRequest);
        }
        let c43 = "a".repeat(43);
        let c128 = "-._~".repeat(32);
        for challenge in [&c43, &c128] {
            assert!(run(&pub_client(), &[("code_challenge", challenge)]).is_ok());
        }
    }

    // ---- scope, prompt, max_age, lengths ------------------------------------------------------

    /// SECURITY G10: a scope the client is not allowed is `invalid_scope`, never shown or granted.
    #[test]
    fn scopes() {
        let req = run(&pub_client(), &[("scope", "profile openid  profile")]).unwrap();
        assert_eq!(req.scope.to_string(), "openid profile");
        assert!(req.is_openid());
        let empty = run(&pub_client(), &[("scope", "")]).unwrap();
        assert!(empty.scope.is_empty());
        assert!(!empty.is_openid());
        // Unknown to the server.
        assert_redirect(run(&pub_client(), &[("scope", "openid bogus")]), ErrorCode::InvalidScope);
        // Known but not allowed for this client.
        assert_redirect(run(&pub_client(), &[("scope", "openid admin")]), ErrorCode::InvalidScope);
        // Malformed.
        assert_redirect(run(&pub_client(), &[("scope", "openid a\"b")]), ErrorCode::InvalidScope);
        // Too many (SECURITY I2).
        let many: Vec<String> = (0..1000).map(|i| format!("s{i}")).collect();
        assert_redirect(run(&pub_client(), &[("scope", &many.join(" "))]), ErrorCode::InvalidScope);
    }

    #[test]
    fn prompt_combinations() {
        let p = |v: &str| run(&pub_client(), &[("prompt", v)]);
        assert!(p("").unwrap().prompt.is_empty());
        assert_eq!(p("none").unwrap().prompt, [Prompt::None]);
        assert_eq!(p("login consent").unwrap().prompt, [Prompt::Login, Prompt::Consent]);
        assert_eq!(p("consent  login consent").unwrap().prompt.len(), 2);
        let r = p("select_account").unwrap();
        assert!(r.has_prompt(Prompt::SelectAccount) && !r.has_prompt(Prompt::Login));
        for bad in ["none login", "consent none", "bogus", "login bogus", "Login", "none none x"] {
            assert_redirect(p(bad), ErrorCode::InvalidRequest);
        }
        assert_eq!(p("none none").unwrap().prompt, [Prompt::None]);
    }

    #[test]
    fn max_age_values() {
        let m = |v: &str| run(&pub_client(), &[("max_age", v)]);
        assert_eq!(m("0").unwrap().max_age, Some(0));
        assert_eq!(m("3600").unwrap().max_age, Some(3600));
        assert_eq!(m(&MAX_MAX_AGE.to_string()).unwrap().max_age, Some(MAX_MAX_AGE));
        for bad in
            ["-1", "+1", "1.5", "1e3", "abc", " 1", "0x10", "99999999999999999999999", &(MAX_MAX_AGE + 1).to_string()]
        {
            assert_redirect(m(bad), ErrorCode::InvalidRequest);
        }
    }

    #[test]
    fn free_form_values_are_kept_and_bounded() {
        let req = run(
            &pub_client(),
            &[
                ("state", "<script>&x=1"),
                ("nonce", "n-0S6_WzA2Mj"),
                ("login_hint", "alice@example.com"),
                ("ui_locales", "fr-CA en"),
            ],
        )
        .unwrap();
        assert_eq!(req.state.as_deref(), Some("<script>&x=1"));
        assert_eq!(req.nonce.as_deref(), Some("n-0S6_WzA2Mj"));
        assert_eq!(req.login_hint.as_deref(), Some("alice@example.com"));
        assert_eq!(req.ui_locales.as_deref(), Some("fr-CA en"));
        let long = "x".repeat(MAX_PARAM_LEN + 1);
        for name in ["nonce", "login_hint", "ui_locales"] {
            assert_redirect(run(&pub_client(), &[(name, &long)]), ErrorCode::InvalidRequest);
        }
        // An oversized state is refused and not echoed back.
        match run(&pub_client(), &[("state", &long)]) {
            Err(AuthorizeError::Redirect { state, error, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert_eq!(state, None);
            }
            other => panic!("{other:?}"),
        }
        let edge = "x".repeat(MAX_PARAM_LEN);
        assert!(run(&pub_client(), &[("state", &edge)]).is_ok());
    }

    #[test]
    fn stored_request_round_trips_as_json() {
        let req = run(&pub_client(), &[("prompt", "login consent"), ("max_age", "60"), ("response_mode", "form_post")])
            .unwrap();
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains("\"form_post\"") && json.contains("\"openid profile\""));
        let back: AuthorizationRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, req);
    }
}
