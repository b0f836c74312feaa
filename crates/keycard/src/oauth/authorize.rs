//! The authorization endpoint's protocol logic (RFC 6749 §4.1.1–4.1.2.1, OAuth 2.1 §4.1,
//! RFC 7636, RFC 8252 §7.3, RFC 9207, OpenID Connect Core §3.1.2, OAuth 2.0 Form Post Response
//! Mode), as pure functions: data in, data out, no HTTP, no store, no clock.
//!
//! The handler's path through this module:
//! 1. [`validate`] the query (GET) or form body (POST) into an [`AuthorizationRequest`]. Failures
//!    before the client and redirect URI are verified are [`AuthorizeError::Page`] (render, never
//!    redirect: SECURITY A4); later ones are [`AuthorizeError::Redirect`] (build with
//!    [`error_response`]).
//! 2. Store the request server-side (it is serde) and call [`decide`] on every page view; it says
//!    whether to show the login page, the consent page, or to issue a code.
//! 3. Send the code with [`authorization_response`]; `iss` (RFC 9207) is always added.
//!
//! Extending: a new request parameter gets a field on [`AuthorizationRequest`] (with
//! `#[serde(default)]` so stored requests still load), its check in [`validate`] after the
//! redirect URI is verified (so its errors are redirected), and a test. A new response mode gets
//! a [`ResponseMode`] variant and an arm in [`authorization_response`]. Redirect URIs are only
//! ever compared by [`redirect_uri_matches`]; do not add normalisation there (SECURITY A1/A2).

use super::OAuthError;
use super::params::Params;
use crate::clock::UnixTime;
use crate::model::{Client, GrantType};
use aws_lc_rs::{constant_time, digest};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use keycard_types::{ErrorCode, Scope};
use serde::{Deserialize, Serialize};

/// Longest accepted `state`, `nonce`, `login_hint` and `ui_locales`, in bytes.
pub const MAX_PARAM_LEN: usize = 2048;

/// Largest accepted `max_age` (OpenID Connect Core §3.1.2.1): ten years of seconds.
pub const MAX_MAX_AGE: i64 = 10 * 365 * 24 * 60 * 60;

/// How the authorization response is delivered (OAuth 2.0 Multiple Response Type Encoding
/// Practices §2.1, OAuth 2.0 Form Post Response Mode §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// RFC 6749 §4.1.2: parameters in the redirect URI's query (the default for `code`).
    Query,
    /// Form Post Response Mode §2: an auto-submitting HTML form POSTed to the redirect URI.
    FormPost,
    /// RFC 6749 §4.2.2: parameters in the fragment (legacy implicit grant only).
    Fragment,
}

/// What the client asks for (RFC 6749 §3.1.1, OpenID Connect Core §3.2.2.1). Everything but
/// `code` is the legacy implicit grant: off by default, only when enabled server-wide AND on
/// the client (SECURITY "Keycard decisions", A6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResponseType {
    /// `code`.
    #[default]
    Code,
    /// `token` (RFC 6749 §4.2).
    Token,
    /// `id_token` (OIDC §3.2).
    IdToken,
    /// `id_token token` (OIDC §3.2).
    IdTokenToken,
}

impl ResponseMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::FormPost => "form_post",
            Self::Fragment => "fragment",
        }
    }
}

/// One value of the `prompt` parameter (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prompt {
    /// No page at all: fail with `login_required` / `consent_required` instead.
    None,
    /// Re-authenticate even with a session.
    Login,
    /// Ask for consent even when it was given before.
    Consent,
    /// Let the user choose (or change) the account: Keycard shows the login page.
    SelectAccount,
}

impl Prompt {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "login" => Some(Self::Login),
            "consent" => Some(Self::Consent),
            "select_account" => Some(Self::SelectAccount),
            _ => None,
        }
    }
}

/// A validated authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1), stored
/// server-side as JSON between the login and consent pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    /// The verified client.
    pub client_id: String,
    /// The effective redirect URI: the one given (it matched a registered one), or the single
    /// registered one. Responses go here.
    pub redirect_uri: String,
    /// RFC 6749 §4.1.3: `redirect_uri` was in the request, so the token request must repeat it.
    pub redirect_uri_given: bool,
    /// Where the response goes.
    pub response_mode: ResponseMode,
    /// `code`, or a legacy implicit response type.
    #[serde(default)]
    pub response_type: ResponseType,
    /// Requested scope; every token is known and allowed for the client. May be empty.
    pub scope: Scope,
    /// Opaque client value, returned unchanged (RFC 6749 §4.1.2).
    pub state: Option<String>,
    /// OpenID Connect Core §3.1.2.1: copied into the ID token.
    pub nonce: Option<String>,
    /// RFC 7636 §4.3: the S256 challenge (the only method accepted).
    pub code_challenge: Option<String>,
    /// OpenID Connect Core §3.1.2.1 `prompt`: a set, no duplicates; `none` is always alone.
    pub prompt: Vec<Prompt>,
    /// OpenID Connect Core §3.1.2.1 `max_age` in seconds.
    pub max_age: Option<i64>,
    /// OpenID Connect Core §3.1.2.1 `login_hint` (untrusted: escape when shown).
    pub login_hint: Option<String>,
    /// OpenID Connect Core §3.1.2.1 `ui_locales` (untrusted: escape when shown).
    pub ui_locales: Option<String>,
}

impl AuthorizationRequest {
    /// OpenID Connect Core §3.1.2.1: the request is an OpenID Connect request when its scope
    /// contains `openid` (an ID token will be issued).
    pub fn is_openid(&self) -> bool {
        self.scope.contains("openid")
    }

    /// OpenID Connect Core §3.1.2.1: does `prompt` contain `p`?
    pub fn has_prompt(&self, p: Prompt) -> bool {
        self.prompt.contains(&p)
    }
}

/// Where a [`validate`] failure goes (RFC 6749 §4.1.2.1).
#[derive(Debug)]
pub enum AuthorizeError {
    /// Shown on an error page, NEVER redirected: unknown, disabled or missing client, missing,
    /// unregistered or mismatching redirect URI, malformed or duplicated parameters (RFC 6749
    /// §4.1.2.1, OAuth 2.1 §4.1.2.1, SECURITY A4/A10). Neither string contains request input.
    Page {
        /// Page heading.
        title: String,
        /// Explanation for the user.
        message: String,
    },
    /// Redirected to the verified redirect URI with `error`, `error_description`, `state` and
    /// `iss` (RFC 6749 §4.1.2.1, RFC 9207 §2): build the response with [`error_response`].
    Redirect {
        /// The verified redirect URI.
        redirect_uri: String,
        /// The request's response mode when valid, else [`ResponseMode::Query`].
        response_mode: ResponseMode,
        /// The request's `state` (omitted when longer than [`MAX_PARAM_LEN`]).
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
}

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
/// Checks, in order: client (page), redirect URI (page), then, redirecting errors to the
/// verified URI: `response_mode`, `response_type` (+ client may use the code grant), PKCE
/// (S256 only), `scope`, `prompt`, `max_age`, lengths of `state`/`nonce`/`login_hint`/
/// `ui_locales`. Unknown parameters are ignored.
pub fn validate(
    params: &Params,
    client: Option<&Client>,
    known_scopes: &dyn Fn(&str) -> bool,
) -> Result<AuthorizationRequest, AuthorizeError> {
    validate_with(params, client, known_scopes, false)
}

/// [`validate`], with the server-wide switch of the legacy implicit grant.
pub fn validate_with(
    params: &Params,
    client: Option<&Client>,
    known_scopes: &dyn Fn(&str) -> bool,
    implicit_enabled: bool,
) -> Result<AuthorizationRequest, AuthorizeError> {
    // 1. The client: never redirect before it is known (SECURITY A4).
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
    let requested_openid = params.get("scope").is_some_and(|s| s.split(' ').any(|t| t == "openid"));
    let (redirect_uri, redirect_uri_given) = match params.get("redirect_uri") {
        Some(given) if redirect_uri_matches(&client.redirect_uris, given) => (given.to_owned(), true),
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

    // From here on errors are redirected to the verified URI.
    let state_for_errors = params.get("state").filter(|s| s.len() <= MAX_PARAM_LEN).map(str::to_owned);
    let fail = |mode: ResponseMode, error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.clone(),
        response_mode: mode,
        state: state_for_errors.clone(),
        error,
    };

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
        prompt,
        max_age,
        login_hint,
        ui_locales,
    })
}

/// Loopback IP literals that get port flexibility (RFC 8252 §7.3); `localhost` does not (§8.3).
const LOOPBACK_PREFIXES: [&str; 2] = ["http://127.0.0.1", "http://[::1]"];

/// Splits a loopback redirect URI into (prefix, port, rest) when it is `http://127.0.0.1` or
/// `http://[::1]`, optionally followed by `:port` (a valid port, see [`parse_port`]), followed by
/// the end, `/`, `?` or `#`. Anything else (another host, userinfo, a bad port) is `None`.
fn split_loopback(uri: &str) -> Option<(&'static str, Option<u16>, &str)> {
    let prefix = LOOPBACK_PREFIXES.into_iter().find(|p| uri.starts_with(p))?;
    let after = &uri[prefix.len()..];
    let (port, rest) = match after.strip_prefix(':') {
        Some(p) => {
            let end = p.find(['/', '?', '#']).unwrap_or(p.len());
            (Some(parse_port(&p[..end])?), &p[end..])
        }
        None => (None, after),
    };
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) { Some((prefix, port, rest)) } else { None }
}

/// A TCP port 1-65535 written in decimal without sign or leading zeros.
fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || s.len() > 5 || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u16>().ok().filter(|&p| p != 0)
}

/// RFC 6749 §3.1.2.3, RFC 9700 §4.1.3, OAuth 2.1 §4.1.1, OpenID Connect Core §3.1.2.1 (SECURITY
/// A1): simple string comparison, byte for byte, no normalisation of any kind. The one exception
/// is RFC 8252 §7.3 (SECURITY A2): for a registered `http://127.0.0.1…` or `http://[::1]…` URI the
/// requested URI may carry any port (1-65535 in plain decimal), or none, and must otherwise be
/// byte-identical (scheme, host literal, path, query). `localhost` gets no port flexibility
/// (RFC 8252 §8.3). A registered loopback URI that itself names a port is treated the same way.
pub fn redirect_uri_matches(registered: &[String], requested: &str) -> bool {
    registered.iter().any(|r| {
        if r == requested {
            return true;
        }
        match (split_loopback(r), split_loopback(requested)) {
            (Some((rp, _, rrest)), Some((qp, _, qrest))) => rp == qp && rrest == qrest,
            _ => false,
        }
    })
}

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

/// The signed-in state [`decide`] needs (OpenID Connect Core §3.1.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The signed-in user.
    pub user_id: String,
    /// When the user last actively authenticated (the ID token's `auth_time`).
    pub auth_time: UnixTime,
}

/// Why the login page is shown (OpenID Connect Core §3.1.2.1, §3.1.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginReason {
    /// Nobody is signed in.
    NoSession,
    /// `prompt=login`.
    PromptLogin,
    /// The session is older than `max_age`.
    MaxAgeExceeded,
    /// `prompt=select_account`.
    SelectAccount,
}

/// What the authorization endpoint does next (OpenID Connect Core §3.1.2.3–3.1.2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Show the login page.
    Login(LoginReason),
    /// Show the consent page. `missing` are the requested scopes not yet granted (all of them
    /// when the user never consented to this client; possibly empty when only `prompt=consent`
    /// forces the page).
    Consent {
        /// Requested but not yet granted scopes.
        missing: Scope,
    },
    /// Issue the code.
    Issue,
}

/// DESIGN §2, OpenID Connect Core §3.1.2.1 (`prompt`, `max_age`) and §3.1.2.3–3.1.2.4: the pure
/// authorization decision (node-oidc-provider's interaction policy).
///
/// - `session`: the signed-in user, if any.
/// - `login_done_in_this_request`: the user authenticated for THIS request, so `prompt=login`,
///   `prompt=select_account` and `max_age` are satisfied (no loop).
/// - `consent_done_in_this_request`: the user approved the consent page of THIS request, which
///   showed the whole requested scope: consent is satisfied (no loop, even if `granted` was not
///   yet updated).
/// - `granted`: scopes this user already granted this client; `None` when there is no consent
///   record at all (then even an empty or `openid`-only request asks once).
/// - `first_party`: the client skips consent.
///
/// `max_age` is exceeded when `now - auth_time >= max_age` (whole seconds; so `max_age=0` acts as
/// `prompt=login`, as Core §3.1.2.1 says). With `prompt=none` a needed login is
/// `Err(login_required)` and a needed consent `Err(consent_required)` (Core §3.1.2.6); the
/// caller redirects these with [`error_response`].
pub fn decide(
    req: &AuthorizationRequest,
    session: Option<&SessionView>,
    login_done_in_this_request: bool,
    consent_done_in_this_request: bool,
    granted: Option<&Scope>,
    first_party: bool,
    now: UnixTime,
) -> Result<Decision, OAuthError> {
    let silent = req.has_prompt(Prompt::None);

    let login = match session {
        None => Some(LoginReason::NoSession),
        Some(_) if login_done_in_this_request => None,
        Some(_) if req.has_prompt(Prompt::Login) => Some(LoginReason::PromptLogin),
        Some(_) if req.has_prompt(Prompt::SelectAccount) => Some(LoginReason::SelectAccount),
        Some(s) if req.max_age.is_some_and(|m| now.saturating_sub(s.auth_time) >= m) => {
            Some(LoginReason::MaxAgeExceeded)
        }
        Some(_) => None,
    };
    if let Some(reason) = login {
        return if silent {
            Err(OAuthError::new(ErrorCode::LoginRequired, "the user must sign in"))
        } else {
            Ok(Decision::Login(reason))
        };
    }

    if first_party || consent_done_in_this_request {
        return Ok(Decision::Issue);
    }
    let missing = match granted {
        Some(g) => req.scope.difference(g),
        None => req.scope.clone(),
    };
    if granted.is_none() || !missing.is_empty() || req.has_prompt(Prompt::Consent) {
        return if silent {
            Err(OAuthError::new(ErrorCode::ConsentRequired, "the user must approve this request"))
        } else {
            Ok(Decision::Consent { missing })
        };
    }
    Ok(Decision::Issue)
}

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
    use crate::model::{AuthMethod, ClientSettings, TokenFormat};
    use std::collections::HashMap;

    const ISS: &str = "https://id.example";
    /// RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn client(id: &str, public: bool, redirect_uris: &[&str]) -> Client {
        Client {
            id: id.to_owned(),
            name: id.to_owned(),
            secret_hash: (!public).then(|| "hash".to_owned()),
            auth_method: if public { AuthMethod::None } else { AuthMethod::ClientSecretBasic },
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: ["openid", "profile", "email", "api:read"].map(String::from).to_vec(),
            redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
            access_token_ttl: 300,
            token_format: TokenFormat::Jwt,
            disabled: false,
            settings: ClientSettings::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn pub_client() -> Client {
        client("pub", true, &["https://client.example/cb"])
    }

    fn known(s: &str) -> bool {
        ["openid", "profile", "email", "api:read", "admin"].contains(&s)
    }

    /// Form-encodes `pairs` and parses them as the handler would.
    fn params(pairs: &[(&str, &str)]) -> Params {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
        Params::parse(body.as_bytes()).expect("parse")
    }

    /// A valid request for `pub`, with `overrides` replacing or adding values ("" removes one).
    fn request(overrides: &[(&str, &str)]) -> Params {
        let mut map: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", "pub"),
            ("redirect_uri", "https://client.example/cb"),
            ("state", "s"),
            ("scope", "openid profile"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for &(k, v) in overrides {
            map.retain(|(n, _)| *n != k);
            if !v.is_empty() {
                map.push((k, v));
            }
        }
        params(&map)
    }

    fn run(c: &Client, overrides: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
        validate(&request(overrides), Some(c), &known)
    }

    #[track_caller]
    fn assert_page(r: Result<AuthorizationRequest, AuthorizeError>) {
        match r {
            Err(AuthorizeError::Page { title, message }) => {
                assert!(!title.is_empty() && !message.is_empty());
                assert!(!message.contains("evil"), "{message}");
            }
            other => panic!("expected an error page, got {other:?}"),
        }
    }

    /// Asserts a redirected error with `code`, to the registered URI, with state `s`.
    #[track_caller]
    fn assert_redirect(r: Result<AuthorizationRequest, AuthorizeError>, code: ErrorCode) {
        match r {
            Err(AuthorizeError::Redirect { redirect_uri, state, error, .. }) => {
                assert_eq!(error.code, code, "{error:?}");
                assert_eq!(redirect_uri, "https://client.example/cb");
                assert_eq!(state.as_deref(), Some("s"));
            }
            other => panic!("expected a redirected {code}, got {other:?}"),
        }
    }

    fn query_of(url: &str) -> HashMap<String, String> {
        url::Url::parse(url).expect("url").query_pairs().into_owned().collect()
    }

    // ---- SECURITY A1: exact matching --------------------------------------------------------

    #[test]
    fn a1_exact_redirect_uri_matching() {
        let reg = vec!["https://client.example/cb".to_owned()];
        assert!(redirect_uri_matches(&reg, "https://client.example/cb"));
        let variants = [
            "https://client.example/cb/",
            "https://client.example/CB",
            "https://CLIENT.example/cb",
            "https://client.example:443/cb",
            "https://client.example/cb?x=1",
            "https://client.example/cb#f",
            "https://client.example/cb/../cb",
            "https://client.example/cb%2F..%2Fevil",
            "https://client.example/cb/../evil",
            "https://client.example/c%62",
            "https://client.example.evil.example/cb",
            "https://client.example@evil.example/cb",
            "https://evil.example\\@client.example/cb",
            "http://client.example/cb",
            "https://client.example/cb%00",
            "https://client.example/cb\0",
            "%20https://client.example/cb",
            " https://client.example/cb",
            "https://client.example/cb ",
            "",
        ];
        for v in variants {
            assert!(!redirect_uri_matches(&reg, v), "{v:?} must not match");
            if v.contains('\0') {
                // The parser already refuses a NUL (SECURITY I5); that error is an error page.
                let body = url::form_urlencoded::Serializer::new(String::new()).append_pair("redirect_uri", v).finish();
                assert!(Params::parse(body.as_bytes()).is_err(), "{v:?}");
                continue;
            }
            assert_page(run(&pub_client(), &[("redirect_uri", v)]));
        }
        assert!(run(&pub_client(), &[]).is_ok());
    }

    #[test]
    fn a1_registered_with_query() {
        let reg = vec!["https://client.example/cb?a=1".to_owned()];
        assert!(redirect_uri_matches(&reg, "https://client.example/cb?a=1"));
        for v in [
            "https://client.example/cb?a=2",
            "https://client.example/cb?a=1&b=2",
            "https://client.example/cb",
            "https://client.example/cb?",
        ] {
            assert!(!redirect_uri_matches(&reg, v), "{v:?}");
        }
        let c = client("pub", true, &["https://client.example/cb?a=1"]);
        let req = run(&c, &[("redirect_uri", "https://client.example/cb?a=1")]).unwrap();
        assert_eq!(req.redirect_uri, "https://client.example/cb?a=1");
        assert_page(run(&c, &[("redirect_uri", "https://client.example/cb?a=1&b=2")]));
    }

    // ---- SECURITY A2: loopback port flexibility -----------------------------------------------

    fn a2_matrix(host: &str) {
        let reg = vec![format!("http://{host}/cb")];
        let ok = |s: &str| redirect_uri_matches(&reg, s);
        assert!(ok(&format!("http://{host}/cb")));
        assert!(ok(&format!("http://{host}:51004/cb")));
        assert!(ok(&format!("http://{host}:1/cb")));
        assert!(ok(&format!("http://{host}:65535/cb")));
        for bad in [
            format!("http://{host}:51004/cb2"),
            format!("http://{host}:51004/cb?x=1"),
            format!("http://{host}:51004/cb/"),
            format!("http://{host}:51004/CB"),
            "http://127.0.0.2:51004/cb".to_owned(),
            format!("http://{host}:51004@evil.example/cb"),
            format!("http://{host}@evil.example/cb"),
            format!("http://user@{host}:51004/cb"),
            format!("http://{host}.evil.example:51004/cb"),
            format!("https://{host}:51004/cb"),
            format!("HTTP://{host}:51004/cb"),
            "http://localhost:51004/cb".to_owned(),
            "http://localhost/cb".to_owned(),
            format!("http://{host}:0/cb"),
            format!("http://{host}:65536/cb"),
            format!("http://{host}:99999999999999999999/cb"),
            format!("http://{host}:-1/cb"),
            format!("http://{host}:+80/cb"),
            format!("http://{host}:0x50/cb"),
            format!("http://{host}:080/cb"),
            format!("http://{host}:/cb"),
            format!("http://{host}: 80/cb"),
            format!("http://{host}:51004:51005/cb"),
            format!("http://{host}:51004"),
        ] {
            assert!(!ok(&bad), "{bad:?} must not match");
        }
        // End to end: accepted, and the response goes to the requested port.
        let native = client("native", true, &[&format!("http://{host}/cb")]);
        let wanted = format!("http://{host}:51004/cb");
        let req =
            validate(&request(&[("client_id", "native"), ("redirect_uri", &wanted)]), Some(&native), &known).unwrap();
        assert_eq!(req.redirect_uri, wanted);
        assert!(req.redirect_uri_given);
        assert_page(validate(
            &request(&[("client_id", "native"), ("redirect_uri", &format!("http://{host}:51004@evil.example/cb"))]),
            Some(&native),
            &known,
        ));
    }

    #[test]
    fn a2_loopback_matrix_ipv4() {
        a2_matrix("127.0.0.1");
    }

    #[test]
    fn a2_loopback_matrix_ipv6() {
        a2_matrix("[::1]");
        let reg = vec!["http://[::1]/cb".to_owned()];
        assert!(!redirect_uri_matches(&reg, "http://[0:0:0:0:0:0:0:1]:51004/cb"));
        assert!(!redirect_uri_matches(&reg, "http://127.0.0.1:51004/cb"));
    }

    #[test]
    fn a2_registered_loopback_with_port_and_query() {
        let reg = vec!["http://127.0.0.1:8080/cb?a=1".to_owned()];
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1:8080/cb?a=1"));
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1:51004/cb?a=1"));
        assert!(!redirect_uri_matches(&reg, "http://127.0.0.1:51004/cb?a=2"));
        assert!(!redirect_uri_matches(&reg, "http://127.0.0.1:51004/cb"));
    }

    #[test]
    fn a2_no_port_flexibility_elsewhere() {
        let reg = vec!["https://client.example/cb".to_owned()];
        assert!(!redirect_uri_matches(&reg, "https://client.example:8443/cb"));
        let reg = vec!["http://localhost/cb".to_owned()];
        assert!(redirect_uri_matches(&reg, "http://localhost/cb"));
        assert!(!redirect_uri_matches(&reg, "http://localhost:51004/cb"));
        let reg = vec!["https://127.0.0.1/cb".to_owned()];
        assert!(!redirect_uri_matches(&reg, "https://127.0.0.1:51004/cb"));
    }

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

    // ---- scope, prompt, max_age, lengths ------------------------------------------------------

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

    // ---- decide() -------------------------------------------------------------------------

    const NOW: UnixTime = 1_000_000;

    fn req_with(overrides: &[(&str, &str)]) -> AuthorizationRequest {
        run(&pub_client(), overrides).unwrap()
    }

    fn session(age: i64) -> SessionView {
        SessionView { user_id: "alice".to_owned(), auth_time: NOW - age }
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    fn code_of(r: Result<Decision, OAuthError>) -> ErrorCode {
        r.expect_err("an error").code
    }

    #[test]
    fn decide_login() {
        let r = req_with(&[]);
        let all = scope("openid profile");
        let s = session(10);
        assert_eq!(
            decide(&r, None, false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::NoSession)
        );
        assert_eq!(decide(&r, Some(&s), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);

        let login = req_with(&[("prompt", "login")]);
        assert_eq!(
            decide(&login, Some(&s), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::PromptLogin)
        );
        assert_eq!(
            decide(&login, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(),
            Decision::Issue,
            "no loop after logging in for this request"
        );

        let select = req_with(&[("prompt", "select_account")]);
        assert_eq!(
            decide(&select, Some(&s), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::SelectAccount)
        );
        assert_eq!(decide(&select, Some(&s), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);

        let max_age = req_with(&[("max_age", "60")]);
        assert_eq!(
            decide(&max_age, Some(&session(59)), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Issue
        );
        for age in [60, 3600] {
            assert_eq!(
                decide(&max_age, Some(&session(age)), false, false, Some(&all), false, NOW).unwrap(),
                Decision::Login(LoginReason::MaxAgeExceeded)
            );
        }
        assert_eq!(decide(&max_age, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        // max_age=0 behaves like prompt=login (OpenID Connect Core §3.1.2.1).
        let zero = req_with(&[("max_age", "0")]);
        assert_eq!(
            decide(&zero, Some(&session(0)), false, false, Some(&all), false, NOW).unwrap(),
            Decision::Login(LoginReason::MaxAgeExceeded)
        );
        assert_eq!(decide(&zero, Some(&session(0)), true, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
    }

    #[test]
    fn decide_prompt_none() {
        let none = req_with(&[("prompt", "none")]);
        let all = scope("openid profile");
        assert_eq!(code_of(decide(&none, None, false, false, Some(&all), false, NOW)), ErrorCode::LoginRequired);
        assert_eq!(code_of(decide(&none, None, false, false, Some(&all), true, NOW)), ErrorCode::LoginRequired);
        let s = session(10);
        assert_eq!(
            code_of(decide(&none, Some(&s), false, false, Some(&scope("openid")), false, NOW)),
            ErrorCode::ConsentRequired
        );
        assert_eq!(code_of(decide(&none, Some(&s), false, false, None, false, NOW)), ErrorCode::ConsentRequired);
        assert_eq!(decide(&none, Some(&s), false, false, Some(&all), false, NOW).unwrap(), Decision::Issue);
        assert_eq!(
            decide(&none, Some(&s), false, false, None, true, NOW).unwrap(),
            Decision::Issue,
            "first-party clients need no consent"
        );
        let old = req_with(&[("prompt", "none"), ("max_age", "60")]);
        assert_eq!(
            code_of(decide(&old, Some(&session(61)), false, false, Some(&all), false, NOW)),
            ErrorCode::LoginRequired
        );
    }

    #[test]
    fn decide_consent() {
        let s = session(10);
        let r = req_with(&[("scope", "openid profile")]);
        // Never consented: everything is missing.
        assert_eq!(
            decide(&r, Some(&s), false, false, None, false, NOW).unwrap(),
            Decision::Consent { missing: scope("openid profile") }
        );
        // openid alone still asks the first time.
        let oidc_only = req_with(&[("scope", "openid")]);
        assert_eq!(
            decide(&oidc_only, Some(&s), false, false, None, false, NOW).unwrap(),
            Decision::Consent { missing: scope("openid") }
        );
        // First-party clients skip consent.
        assert_eq!(decide(&r, Some(&s), false, false, None, true, NOW).unwrap(), Decision::Issue);
        // A new scope asks again, for the new scope only.
        assert_eq!(
            decide(&r, Some(&s), false, false, Some(&scope("openid")), false, NOW).unwrap(),
            Decision::Consent { missing: scope("profile") }
        );
        // All consented.
        let granted = scope("openid profile email");
        assert_eq!(decide(&r, Some(&s), false, false, Some(&granted), false, NOW).unwrap(), Decision::Issue);
        // prompt=consent asks even then, once per request.
        let again = req_with(&[("prompt", "consent")]);
        assert_eq!(
            decide(&again, Some(&s), false, false, Some(&granted), false, NOW).unwrap(),
            Decision::Consent { missing: Scope::default() }
        );
        assert_eq!(decide(&again, Some(&s), false, true, Some(&granted), false, NOW).unwrap(), Decision::Issue);
        // Consent given in this request issues even if `granted` is not updated yet.
        assert_eq!(decide(&r, Some(&s), false, true, None, false, NOW).unwrap(), Decision::Issue);
        // An empty scope needs a consent record once, then issues.
        let empty = req_with(&[("scope", "")]);
        assert!(matches!(decide(&empty, Some(&s), false, false, None, false, NOW).unwrap(), Decision::Consent { .. }));
        assert_eq!(
            decide(&empty, Some(&s), false, false, Some(&Scope::default()), false, NOW).unwrap(),
            Decision::Issue
        );
        // Login comes before consent.
        assert_eq!(decide(&r, None, false, false, None, false, NOW).unwrap(), Decision::Login(LoginReason::NoSession));
    }

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
