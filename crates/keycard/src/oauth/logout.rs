//! OpenID Connect RP-Initiated Logout 1.0 without HTTP: `GET /logout` (the end-session
//! endpoint, §2) asks the signed-in user to confirm (CSRF-protected, like the other pages of
//! [`super::flow`]); `POST /logout` ends the session and sends the user back to the client (§3)
//! when that is safe. Handlers in `http/interaction.rs` render the [`LogoutOutcome`].
//!
//! The rules (SECURITY A11, E2):
//! - An `id_token_hint`, when sent, must be an ID token of this server
//!   ([`super::id_token_hint::validate`]; expired is fine, §4). One that is forged, unsigned,
//!   foreign or not an ID token makes the whole request invalid: a 400 error page at `GET` and
//!   `POST`, no confirmation, no sign-out, and never a redirect (§4: "MUST NOT perform
//!   post-logout redirection").
//! - `client_id`, when sent with a hint, must be one of the hint's audience (§2), else the same
//!   400.
//! - The post-logout redirect goes only to a URI the client registered, compared exactly, and
//!   only when a valid hint identifies the client (never an open redirector, A11).
//! - A hint naming another user than the signed-in one is not acted on silently: the
//!   confirmation page (every sign-out is confirmed) says that the application asked to sign
//!   out a different account; confirming signs out the browser's current session, as the user
//!   chose on that page.
//!
//! Extending: a new logout parameter is read in [`check`], and what it changes goes into
//! [`LogoutRequest`]; back-channel or front-channel logout would hang off [`end_session`].

use super::OAuthError;
use super::flow::{Browser, Outcome, csrf_ok, csrf_token, error_page, load_session};
use super::id_token_hint::{self, IdTokenHint};
use super::params::Params;
use crate::clock::UnixTime;
use crate::model::{Client, Session, User};
use crate::state::AppState;
use std::sync::Arc;

/// Data of the logout confirmation page.
#[derive(Debug)]
pub struct LogoutView {
    /// CSRF token.
    pub csrf_token: String,
    /// The client asking, when known.
    pub client_name: Option<String>,
    /// Fields carried to the POST.
    pub hidden: Vec<(String, String)>,
    /// The `id_token_hint` names another user than the signed-in one.
    pub other_user: bool,
}

/// What logout ends with.
#[derive(Debug)]
pub enum LogoutOutcome {
    /// Ask the user to confirm.
    Confirm(LogoutView),
    /// Redirect to the client's post-logout URI.
    Redirect(String),
    /// Show "signed out".
    Done,
    /// Show an error page.
    Error(Outcome),
}

/// A logout request that passed [`check`].
struct LogoutRequest {
    /// The validated post-logout redirect (with `state`), if any.
    target: Option<String>,
    /// The client named by `client_id` or the hint's audience.
    client: Option<Arc<Client>>,
    /// The valid `id_token_hint`, if one was sent.
    hint: Option<IdTokenHint>,
}

impl LogoutRequest {
    /// The hint names another user than the signed-in one (compared as the hint's client sees
    /// users; without the client, as public subjects).
    fn names_other_user(&self, state: &AppState, session: Option<&(Session, User)>) -> bool {
        match (&self.hint, &self.client, session) {
            (Some(h), Some(c), Some((s, _))) => !h.names_user(state, &s.user_id, c),
            (Some(h), None, Some((s, _))) => h.sub != s.user_id,
            _ => false,
        }
    }
}

fn invalid_request() -> LogoutOutcome {
    LogoutOutcome::Error(error_page(
        400,
        "Invalid sign-out request",
        "The application sent a sign-out request that this server cannot verify, so nothing was changed. \
         Sign out from the application again, or close this window.",
    ))
}

/// RP-Initiated Logout §2–4: validates the hint and `client_id` (`None`: the request is
/// invalid) and works out the post-logout redirect (SECURITY A11).
async fn check(state: &AppState, params: &Params) -> Result<Option<LogoutRequest>, OAuthError> {
    let hint = match params.get("id_token_hint").map(|h| id_token_hint::validate(state, h)) {
        None => None,
        Some(Ok(h)) => Some(h),
        Some(Err(_)) => return Ok(None),
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(c), Some(h)) if !h.issued_to(c) => return Ok(None),
        (Some(c), _) => Some(c.to_owned()),
        (None, Some(h)) if h.aud.len() == 1 => Some(h.aud[0].clone()),
        (None, _) => None,
    };
    let client = match &client_id {
        Some(id) if id.len() <= 255 => state.clients.get(&state.store, id).await?.filter(|c| !c.disabled),
        _ => None,
    };
    let target = match (params.get("post_logout_redirect_uri"), &client, hint.is_some()) {
        (Some(uri), Some(c), true) if c.settings.post_logout_redirect_uris.iter().any(|r| r == uri) => {
            let mut u = uri.to_owned();
            if let Some(st) = params.get("state") {
                let sep = if u.contains('?') { '&' } else { '?' };
                u.push(sep);
                u.push_str(&form_urlencoded::Serializer::new(String::new()).append_pair("state", st).finish());
            }
            Some(u)
        }
        _ => None,
    };
    Ok(Some(LogoutRequest { target, client, hint }))
}

/// RP-Initiated Logout §2: `GET /logout` (end_session_endpoint) asks for confirmation
/// (CSRF-protected), or shows the error page of an invalid request.
pub async fn logout_start(state: &AppState, params: &Params, browser: &Browser) -> Result<LogoutOutcome, OAuthError> {
    let Some(req) = check(state, params).await? else { return Ok(invalid_request()) };
    let session = load_session(state, browser.session()).await?;
    let mut hidden = Vec::new();
    for k in ["id_token_hint", "post_logout_redirect_uri", "state", "client_id"] {
        if let Some(v) = params.get(k) {
            hidden.push((k.to_owned(), v.to_owned()));
        }
    }
    Ok(LogoutOutcome::Confirm(LogoutView {
        csrf_token: csrf_token(state, "logout", "", &browser.browser_token),
        client_name: req.client.as_ref().map(|c| c.name.clone()),
        hidden,
        other_user: req.names_other_user(state, session.as_ref()),
    }))
}

/// RP-Initiated Logout §2–3: `POST /logout` ends the session (and its grants that are not
/// `offline_access`), then redirects to a validated post-logout URI or shows "signed out". An
/// invalid request changes nothing.
pub async fn logout_submit(state: &AppState, form: &Params, browser: &Browser) -> Result<LogoutOutcome, OAuthError> {
    if !csrf_ok(state, "logout", "", &browser.browser_token, form.get("csrf_token")) {
        return Ok(LogoutOutcome::Error(error_page(403, "The form has expired", "Reload the page and try again.")));
    }
    let Some(req) = check(state, form).await? else { return Ok(invalid_request()) };
    let confirmed = form.get("decision") == Some("logout");
    if confirmed && let Some((s, _)) = load_session(state, browser.session()).await? {
        end_session(state, &s, state.clock.now()).await?;
    }
    Ok(match req.target {
        Some(t) if confirmed => LogoutOutcome::Redirect(t),
        _ => LogoutOutcome::Done,
    })
}

/// Ends a session and revokes the grants that were tied to it without `offline_access`
/// (SECURITY C7: online refresh tokens stop at logout).
pub async fn end_session(state: &AppState, s: &Session, now: UnixTime) -> Result<(), OAuthError> {
    state.store.revoke_session(&s.sid, now).await?;
    state.store.revoke_session_grants(&s.sid, "logout", now).await?;
    Ok(())
}
