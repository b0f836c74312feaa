//! The authorization endpoint's policies that need the node's state, on top of the pure
//! [`validate_with`]: RFC 9700 §4.11.2 / OAuth 2.1 §7.13.2 (SECURITY A5: no automatic error
//! redirect to an untrusted client before the user signed in), RFC 9700 §2.1.1 (SECURITY
//! B9: constant PKCE challenges and nonces) and OIDC Core §3.1.2.1 (SECURITY E2: a valid
//! `id_token_hint`). A new stateful check goes into [`check_request`];
//! tested end to end in `tests/authorize_security.rs`.

use super::{AuthorizationRequest, AuthorizeError, DeferredError, ResponseType, validate_with};
use crate::model::Client;
use crate::oauth::OAuthError;
use crate::oauth::id_token_hint;
use crate::oauth::params::Params;
use crate::state::AppState;
use keycard_types::Scope;

/// The authorization endpoint's entry point: [`validate_with`] (with the server's implicit-grant
/// switch), then the policies that need the node's state:
///
/// - SECURITY B9 (RFC 9700 §2.1.1): a client sending the same `code_challenge` or `nonce` in more
///   than [`crate::constant_values::MAX_USES`] requests within
///   [`crate::constant_values::WINDOW_SECS`] is logged (a warning naming the client and the
///   parameter, never the value) and, with `authorization.reject_constant_challenges`, refused
///   with `invalid_request`. Counted per node, in bounded memory (see `constant_values`).
/// - SECURITY E2 (OIDC Core §3.1.2.1): an `id_token_hint` is checked against the node's keys
///   ([`check_id_token_hint`]).
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
        .and_then(|req| refuse_constant_values(state, req))
        .and_then(|req| check_id_token_hint(state, params, req));
    match (checked, client) {
        (Err(e @ AuthorizeError::Redirect { .. }), Some(c)) => defer_until_signed_in(e, c, params),
        (r, _) => r,
    }
}

/// OpenID Connect Core §3.1.2.1 `id_token_hint` (SECURITY E2): a hint must be an ID token of
/// this server ([`id_token_hint::validate`]: our keys, our issuer, expired is fine) issued to
/// this client; else `invalid_request`, redirected (the redirect URI is verified by now; A5
/// still holds it back until sign-in for clients that are not first-party). Its `sub` goes into
/// the request, for [`decide`](super::decide) to compare with the signed-in user.
fn check_id_token_hint(
    state: &AppState,
    params: &Params,
    mut req: AuthorizationRequest,
) -> Result<AuthorizationRequest, AuthorizeError> {
    let Some(raw) = params.get("id_token_hint") else { return Ok(req) };
    let why = match id_token_hint::validate(state, raw) {
        Ok(h) if h.issued_to(&req.client_id) => {
            req.hinted_subject = Some(h.sub);
            return Ok(req);
        }
        Ok(_) => "the ID token hint was not issued to this client",
        Err(_) => "the ID token hint is not a valid ID token issued by this server",
    };
    Err(AuthorizeError::Redirect {
        redirect_uri: req.redirect_uri,
        response_mode: req.response_mode,
        state: req.state,
        error: OAuthError::invalid_request(why),
    })
}

/// SECURITY A5 for an error found before [`check_request`] ran (a bad request object, a
/// required pushed request: `oauth::par::resolve`): the same deferral as there.
pub fn defer_error(
    e: AuthorizeError,
    client: Option<&Client>,
    params: &Params,
) -> Result<AuthorizationRequest, AuthorizeError> {
    match (e, client) {
        (e @ AuthorizeError::Redirect { .. }, Some(c)) => defer_until_signed_in(e, c, params),
        (e, _) => Err(e),
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
                hinted_subject: None,
                deferred_error: Some(DeferredError { error: error.code, description: error.description.into_owned() }),
            })
        }
        e => Err(e),
    }
}
