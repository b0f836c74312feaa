//! Handlers of the browser-facing endpoints of the authorization flow: `/authorize` (RFC 6749
//! §4.1.1, GET and POST behave the same), `/login`, `/consent`, `/logout` (OIDC RP-Initiated
//! Logout 1.0) and the stylesheet. They parse, call [`crate::oauth::flow`], and answer through
//! `http/html.rs` (header set, cookies, rendering of an [`Outcome`](crate::oauth::flow::Outcome)).
//!
//! To add an endpoint: a handler here (or a file of its own for a new flow, as `device.rs`),
//! its route in `http/mod.rs`, the protocol logic in `oauth/`, the page in `crate::pages`.

use super::ClientIp;
use super::html::{
    browser, cookie_names, error_page, html, page_form, page_form_with, query_params, render_outcome, same_origin,
    see_other, server_error_page, with_cookies,
};
use crate::oauth::authorize;
use crate::oauth::flow;
use crate::oauth::logout::{self, LogoutOutcome};
use crate::oauth::params::Params;
use crate::pages::{LoggedOutPage, LogoutPage, Page};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// RFC 6749 §4.1.1 / OIDC Core §3.1.2.1: `GET` and `POST /authorize`.
pub async fn authorize(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    // Repeated parameters are kept for the validator (RFC 6749 §4.1.2.1, issue 9 item 8).
    let params = if req.method() == Method::POST {
        match page_form_with(&state, req, Params::parse_keeping_repeats).await {
            Ok(p) => p,
            Err((status, msg)) => return error_page(&state, status, "Invalid authorization request", msg),
        }
    } else {
        match Params::parse_keeping_repeats(req.uri().query().unwrap_or("").as_bytes()) {
            Ok(p) => p,
            Err(e) => {
                let authorize::AuthorizeError::Page { title, message } = authorize::parse_error_page(e) else {
                    return error_page(&state, 400, "Invalid authorization request", "");
                };
                return error_page(&state, 400, &title, &message);
            }
        }
    };
    let res = match flow::authorize(&state, &params, &b).await {
        Ok(out) => render_outcome(&state, out),
        Err(e) => server_error_page(&state, e),
    };
    with_cookies(res, new_cookie)
}

fn request_id(req: &Request) -> Option<String> {
    query_params(req).ok().and_then(|p| p.get("request").map(str::to_owned))
}

/// `GET /login?request=…`: the sign-in page.
pub async fn login_page(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let res = match flow::login_page(&state, request_id(&req).as_deref(), &b).await {
        Ok(out) => render_outcome(&state, out),
        Err(e) => server_error_page(&state, e),
    };
    with_cookies(res, new_cookie)
}

/// `POST /login`: checks the CSRF token and the password; sets a NEW session cookie on success.
pub async fn login_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(&state, req.headers()) {
        return error_page(&state, 403, "Request refused", "This form must be sent from the sign-in page.");
    }
    let form = match page_form(&state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return error_page(&state, status, "Invalid form", msg),
    };
    match flow::login_submit(&state, &form, &b).await {
        Ok((out, session)) => {
            let names = cookie_names(&state);
            let cookie = session.map(|t| {
                format!(
                    "{}={t}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
                    names.session, state.config.sessions.absolute_ttl_secs, names.secure
                )
            });
            with_cookies(render_outcome(&state, out), cookie)
        }
        Err(e) => server_error_page(&state, e),
    }
}

/// `GET /consent?request=…`: the consent page.
pub async fn consent_page(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    match flow::consent_page(&state, request_id(&req).as_deref(), &b).await {
        Ok(out) => render_outcome(&state, out),
        Err(e) => server_error_page(&state, e),
    }
}

/// `POST /consent`: approve or deny.
pub async fn consent_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(&state, req.headers()) {
        return error_page(&state, 403, "Request refused", "This form must be sent from the consent page.");
    }
    let form = match page_form(&state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return error_page(&state, status, "Invalid form", msg),
    };
    match flow::consent_submit(&state, &form, &b).await {
        Ok(out) => render_outcome(&state, out),
        Err(e) => server_error_page(&state, e),
    }
}

fn render_logout(state: &AppState, out: LogoutOutcome, clear_session: bool) -> Response {
    let res = match out {
        LogoutOutcome::Confirm(v) => {
            let page = Page::Logout(LogoutPage {
                csrf_token: v.csrf_token,
                client_name: v.client_name,
                hidden: v.hidden,
                other_user: v.other_user,
            });
            html(state, StatusCode::OK, &page, None)
        }
        LogoutOutcome::Redirect(url) => see_other(&url),
        LogoutOutcome::Done => html(state, StatusCode::OK, &Page::LoggedOut(LoggedOutPage {}), None),
        LogoutOutcome::Error(out) => render_outcome(state, out),
    };
    if clear_session {
        let names = cookie_names(state);
        with_cookies(res, [format!("{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}", names.session, names.secure)])
    } else {
        res
    }
}

/// OIDC RP-Initiated Logout §2: `GET /logout` asks the user to confirm.
pub async fn logout_page(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let params = match query_params(&req) {
        Ok(p) => p,
        Err(_) => {
            return error_page(
                &state,
                400,
                "Invalid logout request",
                "The request has repeated or badly encoded parameters.",
            );
        }
    };
    let res = match logout::logout_start(&state, &params, &b).await {
        Ok(out) => render_logout(&state, out, false),
        Err(e) => server_error_page(&state, e),
    };
    with_cookies(res, new_cookie)
}

/// `POST /logout`: ends the session and redirects to a validated post-logout URI.
pub async fn logout_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(&state, req.headers()) {
        return error_page(&state, 403, "Request refused", "This form must be sent from the sign-out page.");
    }
    let form = match page_form(&state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return error_page(&state, status, "Invalid form", msg),
    };
    let logout = form.get("decision") == Some("logout");
    match logout::logout_submit(&state, &form, &b).await {
        // "Cancel" keeps the session: never tell the user they are signed out.
        Ok(LogoutOutcome::Done) if !logout => {
            error_page(&state, 200, "You are still signed in", "You chose not to sign out. You can close this window.")
        }
        Ok(out) => {
            let clear = logout && !matches!(out, LogoutOutcome::Error(_));
            render_logout(&state, out, clear)
        }
        Err(e) => server_error_page(&state, e),
    }
}

/// `GET /assets/keycard.css`.
pub async fn stylesheet(State(state): State<AppState>) -> Response {
    let mut res = state.pages.stylesheet().to_owned().into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    res
}
