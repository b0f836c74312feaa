//! The authorization endpoint's protocol logic (RFC 6749 §4.1.1–4.1.2.1, OAuth 2.1 §4.1,
//! RFC 7636, RFC 8252 §7.3, RFC 9207, OpenID Connect Core §3.1.2, OAuth 2.0 Form Post Response
//! Mode), as pure functions: data in, data out, no HTTP, no store, no clock — except
//! [`check_request`], which adds the policies that need the node's state (SECURITY A5, B9).
//!
//! The handler's path through this module:
//! 0. `oauth::par::resolve` first replaces the query by a pushed request (RFC 9126 §4) or a
//!    verified request object (RFC 9101 §6.3); its own errors go through [`defer_error`].
//! 1. [`check_request`] (which calls [`validate`]) the query (GET) or form body (POST) into an
//!    [`AuthorizationRequest`]. Failures before the client and redirect URI are verified are
//!    [`AuthorizeError::Page`] (render, never redirect: SECURITY A4); later ones are
//!    [`AuthorizeError::Redirect`] (build with [`error_response`]).
//! 2. Store the request server-side (it is serde) and call [`decide`] on every page view; it says
//!    whether to show the login page, the consent page, or to issue a code.
//! 3. Send the code with [`authorization_response`]; `iss` (RFC 9207) is always added.
//!
//! Files, one concept each (everything is re-exported here, so paths are `authorize::X`):
//! - this file: the request and error types ([`AuthorizationRequest`], [`ResponseMode`],
//!   [`ResponseType`], [`Prompt`], [`AuthorizeError`]);
//! - `validate`: request parsing and validation, client and redirect URI first;
//! - `redirect_uri`: redirect URI comparison (exact, RFC 8252 §7.3 loopback ports);
//! - `pkce`: RFC 7636 value syntax and S256 verification;
//! - `policy`: [`check_request`], the policies that need state (A5 deferral, B9 detection);
//! - `decide`: what happens next — login, consent or a code (OpenID Connect Core §3.1.2.3);
//! - `response`: the authorization response (query, fragment, form_post; RFC 9207 `iss`).
//!
//! Extending: a new request parameter gets a field on [`AuthorizationRequest`] (with
//! `#[serde(default)]` so stored requests still load), its check in [`validate`] after the
//! redirect URI is verified (so its errors are redirected), and a test. A new response mode gets
//! a [`ResponseMode`] variant and an arm in [`authorization_response`]. Redirect URIs are only
//! ever compared by [`redirect_uri_matches`]; do not add normalisation there (SECURITY A1/A2).

mod decide;
mod pkce;
mod policy;
mod redirect_uri;
mod response;
#[cfg(test)]
mod test_support;
mod validate;

pub use decide::{Decision, LoginReason, SessionView, decide};
pub use pkce::{is_valid_pkce_value, verify_pkce};
pub use policy::{check_request, defer_error};
pub use redirect_uri::redirect_uri_matches;
pub use response::{AuthorizationResponse, authorization_response, error_response};
pub use validate::{ErrorTarget, parse_error_page, validate, validate_with, verify_target};

use super::OAuthError;
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
    /// RFC 9449 §10: the DPoP key thumbprint the code is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
    /// OpenID Connect Core §3.1.2.1 `prompt`: a set, no duplicates; `none` is always alone.
    pub prompt: Vec<Prompt>,
    /// OpenID Connect Core §3.1.2.1 `max_age` in seconds.
    pub max_age: Option<i64>,
    /// OpenID Connect Core §3.1.2.1 `login_hint` (untrusted: escape when shown).
    pub login_hint: Option<String>,
    /// OpenID Connect Core §3.1.2.1 `ui_locales` (untrusted: escape when shown).
    pub ui_locales: Option<String>,
    /// OpenID Connect Core §3.1.2.1: the `sub` of a valid `id_token_hint`, as this client sees
    /// the user (see [`crate::oauth::id_token_hint`]); [`decide`] never issues a code for a
    /// signed-in user it does not name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hinted_subject: Option<String>,
    /// SECURITY A5 (RFC 9700 §4.11.2): the request was invalid, but the client is not trusted
    /// to receive an automatic error redirect; the error goes out once the user has signed in
    /// ([`decide`]). Only `client_id`, `redirect_uri`, `response_mode` and `state` are set then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deferred_error: Option<DeferredError>,
}

/// An authorization error held back until the user has signed in (SECURITY A5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeferredError {
    /// The error code.
    pub error: ErrorCode,
    /// Its description (never request input).
    pub description: String,
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
