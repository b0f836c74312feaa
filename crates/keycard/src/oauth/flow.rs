//! The interactive authorization flow without HTTP: `/authorize` → login → consent → code
//! (RP-initiated logout, which shares its sessions and CSRF tokens, is `oauth/logout.rs`).
//! Handlers in `http/interaction.rs` turn an [`Outcome`] into a response.
//!
//! A validated request is stored server-side ([`PendingRequest`]) under a random id, bound to
//! the browser that started it (keyed hash of its browser cookie); the pages carry only the id
//! and a CSRF token derived from id and browser cookie. Everything after validation works from
//! the stored request, never from form fields, so a replayed or edited form cannot change it
//! (SECURITY A6, G2). A request completes once: the code or error goes out a single time.

use super::OAuthError;
use super::authorize::{self, AuthorizationRequest, AuthorizationResponse, AuthorizeError, Decision, SessionView};
use super::browser::browser_hash;
pub use super::browser::{Browser, browser_token_valid, mint_browser_token};
use super::login::{self, LoginError};
use super::params::Params;
use crate::jose;
use crate::model::{AuthCode, Client, PendingRequest, Session, User};
use crate::secret::Redacted;
use crate::state::AppState;
use keycard_types::{ErrorCode, Scope};
use std::sync::Arc;

/// What the HTTP layer should do next.
#[derive(Debug)]
pub enum Outcome {
    /// Send the user agent back to the client (success or error), via redirect or form post.
    Respond(AuthorizationResponse),
    /// Show an error page and never redirect.
    ErrorPage {
        /// HTTP status.
        status: u16,
        /// Title.
        title: String,
        /// Message.
        message: String,
    },
    /// Redirect (303) to a Keycard page, e.g. `/login?request=…`.
    Goto(String),
    /// Render the login page.
    Login(LoginView),
    /// Render the consent page.
    Consent(ConsentView),
}

/// Data of the login page.
#[derive(Debug)]
pub struct LoginView {
    /// Pending request id.
    pub request_id: String,
    /// CSRF token.
    pub csrf_token: String,
    /// Client display name.
    pub client_name: String,
    /// Pre-filled login.
    pub login_hint: Option<String>,
    /// Error to show.
    pub error: Option<String>,
    /// HTTP status (200, or 429 when locked).
    pub status: u16,
    /// Retry-After seconds when locked.
    pub retry_after: Option<i64>,
    /// First UI locale.
    pub locale: Option<String>,
    /// The client's redirect URI (the CSP must allow the form to lead there).
    pub redirect_uri: String,
}

/// Data of the consent page.
#[derive(Debug)]
pub struct ConsentView {
    /// Pending request id.
    pub request_id: String,
    /// CSRF token.
    pub csrf_token: String,
    /// Client display name.
    pub client_name: String,
    /// Client logo.
    pub client_logo_uri: Option<String>,
    /// Who is signed in.
    pub user_display: String,
    /// Requested scopes with descriptions.
    pub scopes: Vec<(String, String)>,
    /// First UI locale.
    pub locale: Option<String>,
    /// The client's redirect URI.
    pub redirect_uri: String,
}

pub(super) fn error_page(status: u16, title: &str, message: &str) -> Outcome {
    Outcome::ErrorPage { status, title: title.into(), message: message.into() }
}

fn expired_request() -> Outcome {
    error_page(
        400,
        "This sign-in link has expired",
        "The sign-in request is unknown, expired or already finished. Go back to the application and start again.",
    )
}

/// CSRF token for `purpose` bound to `id` and the browser cookie (SECURITY G1/G2).
pub fn csrf_token(state: &AppState, purpose: &str, id: &str, browser_token: &str) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("csrf\0{purpose}\0{id}\0{browser_token}").as_bytes())
}

pub(super) fn csrf_ok(state: &AppState, purpose: &str, id: &str, browser_token: &str, presented: Option<&str>) -> bool {
    let want = csrf_token(state, purpose, id, browser_token);
    presented.is_some_and(|p| aws_lc_rs::constant_time::verify_slices_are_equal(p.as_bytes(), want.as_bytes()).is_ok())
}

/// The hash under which a session cookie is stored.
pub fn session_hash(state: &AppState, token: &str) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("session\0{token}").as_bytes())
}

/// The active session of the browser and its enabled user.
pub async fn load_session(state: &AppState, token: Option<&str>) -> Result<Option<(Session, User)>, OAuthError> {
    let Some(token) = token.filter(|t| t.len() <= 128) else { return Ok(None) };
    let now = state.clock.now();
    let hash = session_hash(state, token);
    let Some(s) = state.store.get_session(&hash).await? else { return Ok(None) };
    if !s.is_active(now) {
        return Ok(None);
    }
    let Some(user) = state.store.get_user(&s.user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
    if now - s.last_seen_at >= 60 {
        let idle = (now + state.config.sessions.idle_ttl_secs).min(s.expires_at);
        state.store.touch_session(&hash, now, idle).await?;
    }
    Ok(Some((s, user)))
}

/// Creates a new session for `user` (login); returns the cookie value and the session. A new
/// value at every login: no session fixation (SECURITY G4).
pub async fn create_session(state: &AppState, user: &User) -> Result<(String, Session), OAuthError> {
    let now = state.clock.now();
    let token = jose::random_token(32);
    let c = &state.config.sessions;
    let s = Session {
        token_hash: session_hash(state, &token),
        sid: jose::random_token(16),
        user_id: user.id.clone(),
        auth_time: now,
        amr: "pwd".into(),
        created_at: now,
        last_seen_at: now,
        idle_expires_at: now + c.idle_ttl_secs,
        expires_at: now + c.absolute_ttl_secs,
        revoked_at: None,
    };
    state.store.insert_session(&s).await?;
    Ok((token, s))
}

async fn known_scope_set(state: &AppState) -> Result<Vec<crate::model::ScopeDef>, OAuthError> {
    Ok(state.store.list_scopes().await?)
}

fn finish_error(state: &AppState, req: &AuthorizationRequest, e: &OAuthError) -> Outcome {
    Outcome::Respond(authorize::error_response(
        &req.redirect_uri,
        req.response_mode,
        req.state.as_deref(),
        &state.config.issuer,
        e,
    ))
}

/// RFC 6749 §4.1.1: handles `GET`/`POST /authorize` with the parsed parameters.
pub async fn authorize(state: &AppState, params: &Params, browser: &Browser) -> Result<Outcome, OAuthError> {
    let client = match params.get("client_id") {
        Some(id) if id.len() <= 255 => state.clients.get(&state.store, id).await?,
        _ => None,
    };
    let scopes = known_scope_set(state).await?;
    let known = |s: &str| scopes.iter().any(|d| d.name == s);
    // RFC 9126 §4 / RFC 9101 §6.3: a pushed request or a request object replaces the query.
    let checked = match super::par::resolve(state, params, client.as_deref()).await? {
        Ok(effective) => authorize::check_request(state, &effective, client.as_deref(), &known),
        Err(e) => authorize::defer_error(e, client.as_deref(), params),
    };
    let req = match checked {
        Ok(r) => r,
        Err(AuthorizeError::Page { title, message }) => return Ok(error_page(400, &title, &message)),
        Err(AuthorizeError::Redirect { redirect_uri, response_mode, state: st, error }) => {
            return Ok(Outcome::Respond(authorize::error_response(
                &redirect_uri,
                response_mode,
                st.as_deref(),
                &state.config.issuer,
                &error,
            )));
        }
    };
    let Some(client) = client else { return Ok(expired_request()) };
    let session = load_session(state, browser.session()).await?;
    let now = state.clock.now();
    let pending = PendingRequest {
        id: jose::random_token(16),
        client_id: client.id.clone(),
        request: serde_json::to_string(&req).map_err(OAuthError::server_error)?,
        browser_hash: browser_hash(state, &browser.browser_token),
        session_sid: session.as_ref().map(|(s, _)| s.sid.clone()),
        login_done: false,
        consent_done: false,
        completed_at: None,
        created_at: now,
        expires_at: now + state.config.authorization.request_ttl_secs,
    };
    proceed(state, &client, &req, pending, session, true).await
}

/// Decides and acts: issue, ask for login or consent, or answer with an error.
async fn proceed(
    state: &AppState,
    client: &Arc<Client>,
    req: &AuthorizationRequest,
    pending: PendingRequest,
    session: Option<(Session, User)>,
    fresh: bool,
) -> Result<Outcome, OAuthError> {
    let now = state.clock.now();
    // A session only counts for this request if it is the one that signed in for it, or (for a
    // fresh request) the browser's current one.
    let view = session.as_ref().map(|(s, _)| SessionView {
        user_id: s.user_id.clone(),
        auth_time: s.auth_time,
        subject: super::subject::for_user(state, &s.user_id, client),
    });
    let granted = match &session {
        Some((_, u)) => state.store.get_consent(&u.id, &client.id).await?.map(|s| Scope::parse(&s).unwrap_or_default()),
        None => None,
    };
    let decision = authorize::decide(
        req,
        view.as_ref(),
        pending.login_done,
        pending.consent_done,
        granted.as_ref(),
        client.settings.first_party,
        now,
    );
    match decision {
        Err(e) => {
            if !fresh && !state.store.complete_auth_request(&pending.id, now).await? {
                return Ok(expired_request());
            }
            Ok(finish_error(state, req, &e))
        }
        Ok(Decision::Issue) => {
            let Some((s, _)) = session else { return Ok(expired_request()) };
            if !fresh && !state.store.complete_auth_request(&pending.id, now).await? {
                return Ok(expired_request());
            }
            if req.response_type != authorize::ResponseType::Code {
                return issue_implicit(state, client, req, &s).await;
            }
            let code = issue_code(state, client, req, &s).await?;
            Ok(Outcome::Respond(authorize::authorization_response(
                &req.redirect_uri,
                req.response_mode,
                &[("code", &code)],
                req.state.as_deref(),
                &state.config.issuer,
            )))
        }
        Ok(Decision::Login(_)) => {
            if fresh {
                state.store.insert_auth_request(&pending).await?;
            }
            Ok(Outcome::Goto(format!("/login?request={}", pending.id)))
        }
        Ok(Decision::Consent { .. }) => {
            if fresh {
                state.store.insert_auth_request(&pending).await?;
            }
            Ok(Outcome::Goto(format!("/consent?request={}", pending.id)))
        }
    }
}

/// RFC 6749 §4.2.2 / OIDC Core §3.2.2.5 (legacy, off by default): tokens in the fragment —
/// a short-lived access token, never a refresh token, an ID token with the nonce (and `at_hash`).
async fn issue_implicit(
    state: &AppState,
    client: &Arc<Client>,
    req: &AuthorizationRequest,
    s: &Session,
) -> Result<Outcome, OAuthError> {
    use super::oidc::{self, IdTokenSpec};
    use super::tokens::{self, AccessTokenSpec};
    use authorize::ResponseType;
    let ttl = state.config.legacy.implicit_access_token_ttl_secs.min(client.access_token_ttl);
    let (grant, _) = super::grant::user_tokens::new_grant(
        state,
        super::grant::user_tokens::NewGrant {
            id: jose::random_token(16),
            client,
            user_id: &s.user_id,
            session_sid: Some(&s.sid),
            scope: &req.scope,
            auth_time: s.auth_time,
        },
        false,
    );
    state.store.create_grant(&grant).await?;
    let short = Client { access_token_ttl: ttl, ..(**client).clone() };
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut at = None;
    if matches!(req.response_type, ResponseType::Token | ResponseType::IdTokenToken) {
        let minted = tokens::mint_access_token(
            state,
            AccessTokenSpec {
                client: &short,
                subject: &s.user_id,
                scope: &req.scope,
                auth_time: Some(s.auth_time),
                grant_id: Some(&grant.id),
                jkt: None,
            },
        )
        .await?;
        fields.push(("access_token".into(), minted.token.expose().clone()));
        fields.push(("token_type".into(), "Bearer".into()));
        fields.push(("expires_in".into(), minted.expires_in.to_string()));
        fields.push(("scope".into(), req.scope.to_string()));
        at = Some(minted.token.into_inner());
    }
    if matches!(req.response_type, ResponseType::IdToken | ResponseType::IdTokenToken) {
        let id = oidc::mint_id_token(
            state,
            IdTokenSpec {
                client,
                user_id: &s.user_id,
                nonce: req.nonce.as_deref(),
                auth_time: s.auth_time,
                sid: Some(&s.sid),
                access_token: at.as_deref(),
            },
        )?;
        fields.push(("id_token".into(), id));
    }
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    Ok(Outcome::Respond(authorize::authorization_response(
        &req.redirect_uri,
        req.response_mode,
        &pairs,
        req.state.as_deref(),
        &state.config.issuer,
    )))
}

/// RFC 6749 §4.1.2: a new code (256 random bits, stored hashed, single use, short-lived) bound
/// to client, redirect URI, PKCE challenge, nonce, scope and session.
async fn issue_code(
    state: &AppState,
    client: &Client,
    req: &AuthorizationRequest,
    s: &Session,
) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let code = format!("{}{}", super::grant::authorization_code::CODE_PREFIX, jose::random_token(32));
    state
        .store
        .insert_code(&AuthCode {
            code_hash: jose::keyed_hash(&state.secrets.hash_key, code.as_bytes()),
            grant_id: jose::random_token(16),
            client_id: client.id.clone(),
            user_id: s.user_id.clone(),
            session_sid: s.sid.clone(),
            redirect_uri: req.redirect_uri.clone(),
            redirect_uri_given: req.redirect_uri_given,
            scope: req.scope.to_string(),
            nonce: req.nonce.clone(),
            code_challenge: req.code_challenge.clone(),
            dpop_jkt: req.dpop_jkt.clone(),
            auth_time: s.auth_time,
            created_at: now,
            expires_at: now + state.config.authorization.code_ttl_secs,
        })
        .await?;
    Ok(code)
}

/// What a pending request continues to after sign-in.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceContinuation {
    /// The user code the user typed on the verification page (RFC 8628 §3.3).
    pub device_user_code: Redacted<String>,
}

/// The two kinds of pending request.
#[derive(Debug)]
pub enum PendingKind {
    /// An authorization request (`/authorize`).
    Authorize(Box<AuthorizationRequest>),
    /// A device verification waiting for sign-in (`/device`).
    Device(DeviceContinuation),
}

/// A pending request that this browser may act on, with its client and parsed request.
async fn pending_for(
    state: &AppState,
    id: Option<&str>,
    browser: &Browser,
) -> Result<Result<(PendingRequest, Arc<Client>, PendingKind), Outcome>, OAuthError> {
    let Some(id) = id.filter(|i| i.len() <= 64) else { return Ok(Err(expired_request())) };
    let now = state.clock.now();
    let Some(p) = state.store.get_auth_request(id).await? else { return Ok(Err(expired_request())) };
    if p.completed_at.is_some() || p.expires_at <= now {
        return Ok(Err(expired_request()));
    }
    let bh = browser_hash(state, &browser.browser_token);
    if aws_lc_rs::constant_time::verify_slices_are_equal(bh.as_bytes(), p.browser_hash.as_bytes()).is_err() {
        return Ok(Err(error_page(
            403,
            "This request belongs to another browser",
            "Start again from the application in this browser.",
        )));
    }
    let Some(client) = state.clients.get(&state.store, &p.client_id).await?.filter(|c| !c.disabled) else {
        return Ok(Err(expired_request()));
    };
    let kind = match serde_json::from_str::<DeviceContinuation>(&p.request) {
        Ok(d) => PendingKind::Device(d),
        Err(_) => PendingKind::Authorize(Box::new(serde_json::from_str(&p.request).map_err(OAuthError::server_error)?)),
    };
    Ok(Ok((p, client, kind)))
}

/// Stores a pending device verification for a browser that must sign in first; returns its id.
pub async fn pending_device_login(
    state: &AppState,
    client: &Client,
    user_code: &str,
    browser: &Browser,
) -> Result<String, OAuthError> {
    let now = state.clock.now();
    let p = PendingRequest {
        id: jose::random_token(16),
        client_id: client.id.clone(),
        request: serde_json::to_string(&DeviceContinuation { device_user_code: user_code.to_owned().into() })
            .map_err(OAuthError::server_error)?,
        browser_hash: browser_hash(state, &browser.browser_token),
        session_sid: None,
        login_done: false,
        consent_done: false,
        completed_at: None,
        created_at: now,
        expires_at: now + state.config.authorization.request_ttl_secs,
    };
    state.store.insert_auth_request(&p).await?;
    Ok(p.id)
}

fn first_locale(req: &AuthorizationRequest) -> Option<String> {
    req.ui_locales.as_deref().and_then(|l| l.split(' ').next()).map(str::to_owned)
}

fn login_view(
    state: &AppState,
    p: &PendingRequest,
    client: &Client,
    kind: &PendingKind,
    browser: &Browser,
) -> LoginView {
    let req = match kind {
        PendingKind::Authorize(r) => Some(&**r),
        PendingKind::Device(_) => None,
    };
    LoginView {
        request_id: p.id.clone(),
        csrf_token: csrf_token(state, "login", &p.id, &browser.browser_token),
        client_name: client.name.clone(),
        login_hint: req.and_then(|r| r.login_hint.clone()),
        error: None,
        status: 200,
        retry_after: None,
        locale: req.and_then(first_locale),
        redirect_uri: req.map(|r| r.redirect_uri.clone()).unwrap_or_else(|| state.config.issuer.clone()),
    }
}

/// `GET /login?request=…`.
pub async fn login_page(state: &AppState, request_id: Option<&str>, browser: &Browser) -> Result<Outcome, OAuthError> {
    let (p, client, kind) = match pending_for(state, request_id, browser).await? {
        Ok(x) => x,
        Err(o) => return Ok(o),
    };
    let mut view = login_view(state, &p, &client, &kind, browser);
    // OIDC Core §3.1.2.1: the id_token_hint names another user than the signed-in one.
    if let PendingKind::Authorize(r) = &kind
        && let Some(hinted) = &r.hinted_subject
        && let Some((s, _)) = load_session(state, browser.session()).await?
        && super::subject::for_user(state, &s.user_id, &client) != *hinted
    {
        view.error =
            Some("The application asks you to sign in with a different account than the one signed in now.".into());
    }
    Ok(Outcome::Login(view))
}

/// `POST /login`: CSRF, throttling, password; on success a NEW session and the next step.
/// Returns the outcome and, after a successful sign-in, the new session cookie value.
pub async fn login_submit(
    state: &AppState,
    form: &Params,
    browser: &Browser,
) -> Result<(Outcome, Option<String>), OAuthError> {
    let (p, client, kind) = match pending_for(state, form.get("request_id"), browser).await? {
        Ok(x) => x,
        Err(o) => return Ok((o, None)),
    };
    if !csrf_ok(state, "login", &p.id, &browser.browser_token, form.get("csrf_token")) {
        return Ok((error_page(403, "The form has expired", "Reload the page and try again."), None));
    }
    if p.login_done {
        return Ok((expired_request(), None));
    }
    let username = form.get("username").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let mut view = login_view(state, &p, &client, &kind, browser);
    view.login_hint = Some(username.to_owned()).filter(|u| !u.is_empty() && u.len() <= 256);
    let user = match login::password_login(state, username, password, &browser.ip).await {
        Ok(u) => u,
        Err(LoginError::Invalid) => {
            view.error = Some("The username or password is not correct.".into());
            return Ok((Outcome::Login(view), None));
        }
        Err(LoginError::Locked { retry_after }) => {
            view.error =
                Some(format!("Too many sign-in attempts. Try again in {} minute(s).", (retry_after + 59) / 60));
            view.status = 429;
            view.retry_after = Some(retry_after);
            return Ok((Outcome::Login(view), None));
        }
        Err(LoginError::Overloaded { retry_after }) => {
            view.error = Some("Many people are signing in right now. Please try again in a few seconds.".into());
            view.status = 503;
            view.retry_after = Some(retry_after);
            return Ok((Outcome::Login(view), None));
        }
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(LoginError::Internal(e)) => return Err(OAuthError::server_error(std::io::Error::other(e))),
    };
    // The previous session of this browser (if any) ends: one browser, one signed-in user.
    if let Some((old, _)) = load_session(state, browser.session()).await? {
        state.store.revoke_session(&old.sid, state.clock.now()).await?;
    }
    let (token, session) = create_session(state, &user).await?;
    if !state.store.auth_request_logged_in(&p.id, &session.sid).await? {
        return Ok((expired_request(), Some(token)));
    }
    let req = match kind {
        PendingKind::Authorize(req) => *req,
        PendingKind::Device(d) => {
            state.store.complete_auth_request(&p.id, state.clock.now()).await?;
            let q = form_urlencoded::Serializer::new(String::new())
                .append_pair("user_code", d.device_user_code.expose())
                .finish();
            return Ok((Outcome::Goto(format!("/device?{q}")), Some(token)));
        }
    };
    let p = PendingRequest { session_sid: Some(session.sid.clone()), login_done: true, ..p };
    let out = proceed(state, &client, &req, p, Some((session, user)), false).await?;
    Ok((out, Some(token)))
}

/// The session that may act on a pending request: the browser's current session, which must
/// be the one recorded for the request (SECURITY G2: bob's session cannot approve alice's).
async fn session_for(
    state: &AppState,
    p: &PendingRequest,
    browser: &Browser,
) -> Result<Option<(Session, User)>, OAuthError> {
    let s = load_session(state, browser.session()).await?;
    Ok(s.filter(|(s, _)| p.session_sid.as_deref() == Some(s.sid.as_str())))
}

async fn consent_view(
    state: &AppState,
    p: &PendingRequest,
    client: &Client,
    req: &AuthorizationRequest,
    user: &User,
    browser: &Browser,
) -> Result<ConsentView, OAuthError> {
    let defs = state.store.list_scopes().await?;
    let scopes = req
        .scope
        .iter()
        .map(|s| (s.to_owned(), defs.iter().find(|d| d.name == s).map(|d| d.description.clone()).unwrap_or_default()))
        .collect();
    Ok(ConsentView {
        request_id: p.id.clone(),
        csrf_token: csrf_token(state, "consent", &p.id, &browser.browser_token),
        client_name: client.name.clone(),
        client_logo_uri: client.settings.logo_uri.clone(),
        user_display: user.name.clone().unwrap_or_else(|| user.username.clone()),
        scopes,
        locale: first_locale(req),
        redirect_uri: req.redirect_uri.clone(),
    })
}

/// `GET /consent?request=…`.
pub async fn consent_page(
    state: &AppState,
    request_id: Option<&str>,
    browser: &Browser,
) -> Result<Outcome, OAuthError> {
    let (p, client, req) = match pending_for(state, request_id, browser).await? {
        Ok((p, c, PendingKind::Authorize(r))) => (p, c, *r),
        Ok(_) => return Ok(expired_request()),
        Err(o) => return Ok(o),
    };
    let Some((_, user)) = session_for(state, &p, browser).await? else {
        return Ok(Outcome::Goto(format!("/login?request={}", p.id)));
    };
    Ok(Outcome::Consent(consent_view(state, &p, &client, &req, &user, browser).await?))
}

/// `POST /consent`: approve (remember the consent, issue) or deny (`access_denied`).
pub async fn consent_submit(state: &AppState, form: &Params, browser: &Browser) -> Result<Outcome, OAuthError> {
    let (p, client, req) = match pending_for(state, form.get("request_id"), browser).await? {
        Ok((p, c, PendingKind::Authorize(r))) => (p, c, *r),
        Ok(_) => return Ok(expired_request()),
        Err(o) => return Ok(o),
    };
    if !csrf_ok(state, "consent", &p.id, &browser.browser_token, form.get("csrf_token")) {
        return Ok(error_page(403, "The form has expired", "Reload the page and try again."));
    }
    let Some((session, user)) = session_for(state, &p, browser).await? else {
        return Ok(error_page(403, "You are not signed in for this request", "Start again from the application."));
    };
    let now = state.clock.now();
    match form.get("decision") {
        Some("approve") => {
            let previous = state.store.get_consent(&user.id, &client.id).await?;
            let mut merged: Vec<String> = previous.iter().flat_map(|s| s.split(' ').map(str::to_owned)).collect();
            merged.extend(req.scope.iter().map(str::to_owned));
            let merged = Scope::from_tokens(merged.into_iter().filter(|s| !s.is_empty()));
            state.store.upsert_consent(&user.id, &client.id, &merged.to_string(), now).await?;
            if !state.store.auth_request_consented(&p.id).await? {
                return Ok(expired_request());
            }
            let p = PendingRequest { consent_done: true, ..p };
            proceed(state, &client, &req, p, Some((session, user)), false).await
        }
        Some("deny") => {
            if !state.store.complete_auth_request(&p.id, now).await? {
                return Ok(expired_request());
            }
            let e = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
            Ok(finish_error(state, &req, &e))
        }
        _ => Ok(error_page(400, "Invalid form", "Choose Allow or Deny.")),
    }
}
