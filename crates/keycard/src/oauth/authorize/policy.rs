//! The authorization endpoint's policies that need the node's state, on top of the pure
//! [`validate_with`]: RFC 9700 §4.11.2 / OAuth 2.1 §7.13.2 (SECURITY A5: no automatic error
//! redirect to an untrusted client before the user signed in) and RFC 9700 §2.1.1 (SECURITY
//! B9: constant PKCE challenges and nonces). A new stateful check goes into [`check_request`];
//! tested end to end in `tests/authorize_security.rs`.

use super::{AuthorizationRequest, AuthorizeError, DeferredError, ResponseType, validate_with};
use crate::model::Client;
use crate::oauth::OAuthError;
use crate::oauth::params::Params;
use crate::state::AppState;
use keycard_types::Scope;

/// The authorization endpoint's entry point: [`validate_with`] (with the server's implicit-grant
/// switch), then two policies that need the node's state:
///
/// - SECURITY B9 (RFC 9700 §2.1.1): a client sending the same `code_challenge` or `nonce` in more
///   than [`crate::constant_values::MAX_USES`] requests within
///   [`crate::constant_values::WINDOW_SECS`] is logged (a warning naming the client and the
///   parameter, never the value) and, with `authorization.reject_constant_challenges`, refused
///   with `invalid_request`. Counted per node, in bounded memory (see `constant_values`).
/// - SECURITY A5 (RFC 9700 §4.11.2, OAuth 2.1 §7.13.2): an error that would be redirected to a
///   client that is not first-party is deferred ([`AuthorizationRequest::deferred_error`]) so
///   the user signs in before being sent there; `prompt=none` keeps its immediate answer (the
///   silent-authentication exception), and a user already signed in is redirected at once.
pub fn check_request(
    state: &AppState,
    params: &Params,
    client: Option<&Client>,
    known_scopes: &dyn Fn(&str) -> bool,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let checked = validate_with(params, client, known_scopes, state.config.legacy.implicit_grant)
        .and_then(|req| refuse_constant_values(state, req));
    match (checked, client) {
        (Err(e @ AuthorizeError::Redirect { .. }), Some(c)) => defer_until_signed_in(e, c, params),
        (r, _) => r,
    }
}

/// SECURITY B9: counts the request's challenge and nonce; see [`check_request`].
fn refuse_constant_values(state: &AppState, req: AuthorizationRequest) -> Result<AuthorizationRequest, AuthorizeError> {
    use crate::constant_values::{MAX_USES, WINDOW_SECS};
    let now = state.clock.now();
    for (kind, value) in [("code_challenge", req.code_challenge.as_deref()), ("nonce", req.nonce.as_deref())] {
        let Some(value) = value else { continue };
        if !state.constant_values.too_often(kind, &req.client_id, value, now) {
            continue;
        }
        tracing::warn!(
            client_id = %req.client_id,
            parameter = kind,
            max_uses = MAX_USES,
            window_secs = WINDOW_SECS,
            refused = state.config.authorization.reject_constant_challenges,
            "constant PKCE challenge or nonce: a client reused one value too often (RFC 9700 section 2.1.1)"
        );
        if state.config.authorization.reject_constant_challenges {
            return Err(AuthorizeError::Redirect {
                redirect_uri: req.redirect_uri.clone(),
                response_mode: req.response_mode,
                state: req.state.clone(),
                error: OAuthError::invalid_request(format!(
                    "this {kind} was used too often: send a fresh random value with every request"
                )),
            });
        }
    }
    Ok(req)
}

/// SECURITY A5: turns a redirected error for a client that is not first-party into a request
/// that shows the login page first; see [`check_request`].
fn defer_until_signed_in(
    e: AuthorizeError,
    client: &Client,
    params: &Params,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let silent = params.get("prompt").is_some_and(|p| p.split(' ').any(|v| v == "none"));
    match e {
        AuthorizeError::Redirect { redirect_uri, response_mode, state, error }
            if !client.settings.first_party && !silent =>
        {
            Ok(AuthorizationRequest {
                client_id: client.id.clone(),
                redirect_uri,
                redirect_uri_given: false,
                response_mode,
                response_type: ResponseType::Code,
                scope: Scope::default(),
                state,
                nonce: None,
                code_challenge: None,
                dpop_jkt: None,
                prompt: Vec::new(),
                max_age: None,
                login_hint: None,
                ui_locales: None,
                deferred_error: Some(DeferredError { error: error.code, description: error.description.into_owned() }),
            })
        }
        e => Err(e),
    }
}
