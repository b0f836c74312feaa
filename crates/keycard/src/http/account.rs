//! Handlers of the account pages (logic in `crate::people`): `GET`/`POST /password/forgot`,
//! `GET`/`POST /password/reset` (from a mailed reset or invitation link), `GET /email/verify`
//! (a mailed verification link) and `GET`/`POST /account/password` (a signed-in user). None of
//! them is an OAuth endpoint; they follow the rules of Keycard's other pages: RFC 9700 §4.2.4 (no
//! referrer: the reset link's token is in the URL), SECURITY G1 (CSRF), G6/G7 (headers), G8
//! (enumeration) and G9 (the current-password check shares the sign-in counters).
//!
//! Every form carries a CSRF token bound to the browser cookie (`flow::csrf_token`; for the
//! account page also to the session), every POST must pass [`same_origin`], and every answer goes
//! through [`html`], so the page header set (CSP, frame and referrer policies, no-store) is
//! always there. A wrong or missing token is a 403 page, before any other work.

use super::ClientIp;
use super::html::{browser, error_page, html, page_form, query_params, same_origin, server_error_page, with_cookies};
use crate::model::{Session, User};
use crate::oauth::flow::{self, Browser};
use crate::oauth::params::Params;
use crate::pages::{AccountPasswordPage, ForgotPasswordPage, ForgotStep, Page, ResetPasswordPage};
use crate::people::password::{self, ChangeOutcome, ForgotOutcome, MIN_PASSWORD_CHARS, ResetOutcome};
use crate::people::verify;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

const FORGOT: &str = "password-forgot";
const RESET: &str = "password-reset";
const ACCOUNT: &str = "account-password";

fn csrf_ok(state: &AppState, purpose: &str, id: &str, b: &Browser, form: &Params) -> bool {
    let want = flow::csrf_token(state, purpose, id, &b.browser_token);
    form.get("csrf_token")
        .is_some_and(|p| aws_lc_rs::constant_time::verify_slices_are_equal(p.as_bytes(), want.as_bytes()).is_ok())
}

/// A form POST that passed every check of the module doc, in order: same origin, a well-formed
/// body, the signed-in session (for the account forms) and the CSRF token of `purpose` (bound to
/// the browser, and to the session when there is one). Anything else is the page to answer with.
struct CheckedForm {
    browser: Browser,
    form: Params,
    signed_in: Option<(Session, User)>,
}

async fn checked_form(state: &AppState, req: Request, purpose: &str, signed_in: bool) -> Result<CheckedForm, Response> {
    let (browser, _) = super::html::browser(state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(state, req.headers()) {
        return Err(cross_site(state));
    }
    let form = match page_form(state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return Err(error_page(state, status, "Invalid form", msg)),
    };
    let session = if signed_in {
        match flow::load_session(state, browser.session()).await {
            Ok(Some(x)) => Some(x),
            Ok(None) => return Err(not_signed_in(state)),
            Err(e) => return Err(server_error_page(state, e)),
        }
    } else {
        None
    };
    let id = session.as_ref().map_or("", |(s, _)| s.sid.as_str());
    if !csrf_ok(state, purpose, id, &browser, &form) {
        return Err(refused(state));
    }
    Ok(CheckedForm { browser, form, signed_in: session })
}

fn refused(state: &AppState) -> Response {
    error_page(state, 403, "The form has expired", "Reload the page and try again.")
}

fn cross_site(state: &AppState) -> Response {
    error_page(state, 403, "Request refused", "This form must be sent from Keycard's own page.")
}

fn with_retry_after(mut res: Response, secs: i64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

fn invalid_link(state: &AppState) -> Response {
    error_page(
        state,
        400,
        "This link is not valid",
        "The link is unknown, was already used or has expired. Ask for a new one.",
    )
}

fn forgot_page(state: &AppState, b: &Browser, status: StatusCode, step: ForgotStep, error: Option<String>) -> Response {
    let csrf_token =
        if step == ForgotStep::Form { flow::csrf_token(state, FORGOT, "", &b.browser_token) } else { String::new() };
    html(state, status, &Page::ForgotPassword(ForgotPasswordPage { csrf_token, step, error }), None)
}

/// `GET /password/forgot`: asks for a username or e-mail address.
pub async fn forgot_form(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let step = if state.mail.mailer().enabled() { ForgotStep::Form } else { ForgotStep::Unavailable };
    with_cookies(forgot_page(&state, &b, StatusCode::OK, step, None), new_cookie)
}

/// `POST /password/forgot`: the same page for every address (SECURITY G8).
pub async fn forgot_submit(State(state): State<AppState>, req: Request) -> Response {
    let CheckedForm { browser: b, form, .. } = match checked_form(&state, req, FORGOT, false).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    match password::forgot(&state, form.get("login").unwrap_or(""), &b.ip).await {
        Ok(ForgotOutcome::Sent) => forgot_page(&state, &b, StatusCode::OK, ForgotStep::Sent, None),
        Ok(ForgotOutcome::Unavailable) => forgot_page(&state, &b, StatusCode::OK, ForgotStep::Unavailable, None),
        Ok(ForgotOutcome::Throttled { retry_after }) => with_retry_after(
            forgot_page(
                &state,
                &b,
                StatusCode::TOO_MANY_REQUESTS,
                ForgotStep::Form,
                Some("Too many requests from your network. Try again later.".into()),
            ),
            retry_after,
        ),
        Err(e) => server_error_page(&state, e.into()),
    }
}

fn reset_page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    token: &str,
    username: String,
    invite: bool,
    error: Option<String>,
) -> Response {
    let page = Page::ResetPassword(ResetPasswordPage {
        csrf_token: flow::csrf_token(state, RESET, "", &b.browser_token),
        token: token.to_owned().into(),
        username,
        invite,
        error,
        min_length: MIN_PASSWORD_CHARS,
    });
    html(state, status, &page, None)
}

/// `GET /password/reset?token=…`: the new-password form, if the link works.
pub async fn reset_form(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let token = query_params(&req).ok().and_then(|p| p.get("token").map(str::to_owned)).unwrap_or_default();
    let res = match password::reset_link(&state, &token).await {
        Ok(Some((user, purpose))) => reset_page(
            &state,
            &b,
            StatusCode::OK,
            &token,
            user.username,
            purpose == crate::people::links::LinkPurpose::Invite,
            None,
        ),
        Ok(None) => invalid_link(&state),
        Err(e) => server_error_page(&state, e.into()),
    };
    with_cookies(res, new_cookie)
}

/// `POST /password/reset`: sets the password and uses the link.
pub async fn reset_submit(State(state): State<AppState>, req: Request) -> Response {
    let CheckedForm { browser: b, form, .. } = match checked_form(&state, req, RESET, false).await {
        Ok(c) => c,
        Err(res) => return res,
    };
    let token = form.get("token").unwrap_or("");
    let (new, repeated) = (form.get("new_password").unwrap_or(""), form.get("new_password2").unwrap_or(""));
    match password::reset_submit(&state, token, new, repeated).await {
        Ok(ResetOutcome::Done { invite }) => error_page(
            &state,
            200,
            if invite { "Your password is set" } else { "Your password was changed" },
            "You can now sign in with it. Go back to the application you were using.",
        ),
        Ok(ResetOutcome::Retry { username, invite, error }) => {
            reset_page(&state, &b, StatusCode::BAD_REQUEST, token, username, invite, Some(error))
        }
        Ok(ResetOutcome::Invalid) => invalid_link(&state),
        Err(e) => server_error_page(&state, e),
    }
}

/// `POST /email/verify` (from the account page): mails the signed-in user a new verification link.
pub async fn resend_verification(State(state): State<AppState>, req: Request) -> Response {
    let user = match checked_form(&state, req, ACCOUNT, true).await {
        Ok(CheckedForm { signed_in: Some((_, user)), .. }) => user,
        Ok(_) => return not_signed_in(&state),
        Err(res) => return res,
    };
    match verify::resend_verification(&state, &user).await {
        Ok(true) => error_page(
            &state,
            200,
            "Check your mail",
            "We sent a link to confirm your e-mail address. It works once and for a limited time.",
        ),
        Ok(false) => {
            error_page(&state, 400, "Nothing to confirm", "Your address is confirmed already, or mail is off.")
        }
        Err(e) => server_error_page(&state, e.into()),
    }
}

/// `GET /email/verify?token=…`: uses a verification link.
pub async fn verify_email(State(state): State<AppState>, req: Request) -> Response {
    let token = query_params(&req).ok().and_then(|p| p.get("token").map(str::to_owned)).unwrap_or_default();
    match verify::verify_email(&state, &token).await {
        Ok(true) => {
            error_page(&state, 200, "Your e-mail address is confirmed", "Thank you. You can close this window.")
        }
        Ok(false) => invalid_link(&state),
        Err(e) => server_error_page(&state, e.into()),
    }
}

fn account_page(
    state: &AppState,
    b: &Browser,
    sid: &str,
    user: &User,
    status: StatusCode,
    error: Option<String>,
) -> Response {
    let page = Page::AccountPassword(AccountPasswordPage {
        csrf_token: flow::csrf_token(state, ACCOUNT, sid, &b.browser_token),
        username: user.username.clone(),
        user_display: user.name.clone().unwrap_or_else(|| user.username.clone()),
        error,
        min_length: MIN_PASSWORD_CHARS,
        unverified_email: user.email.clone().filter(|_| !user.email_verified && state.mail.mailer().enabled()),
    });
    html(state, status, &page, None)
}

fn not_signed_in(state: &AppState) -> Response {
    error_page(
        state,
        403,
        "You are not signed in",
        "Sign in through an application first, then come back to this page.",
    )
}

/// `GET /account/password`: the change-password form of the signed-in user.
pub async fn account_password_form(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let res = match flow::load_session(&state, b.session()).await {
        Ok(Some((s, u))) => account_page(&state, &b, &s.sid, &u, StatusCode::OK, None),
        Ok(None) => not_signed_in(&state),
        Err(e) => server_error_page(&state, e),
    };
    with_cookies(res, new_cookie)
}

/// `POST /account/password`: current password, new password twice; ends the other sessions.
pub async fn account_password_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, form, (session, user)) = match checked_form(&state, req, ACCOUNT, true).await {
        Ok(CheckedForm { browser, form, signed_in: Some(s) }) => (browser, form, s),
        Ok(_) => return not_signed_in(&state),
        Err(res) => return res,
    };
    let field = |k: &str| form.get(k).unwrap_or("");
    let outcome = password::change_password(
        &state,
        &session,
        &user,
        field("current_password"),
        field("new_password"),
        field("new_password2"),
        &b.ip,
    )
    .await;
    match outcome {
        Ok(ChangeOutcome::Done) => error_page(
            &state,
            200,
            "Your password was changed",
            "Other browsers signed in to your account were signed out.",
        ),
        Ok(ChangeOutcome::Retry(msg)) => {
            account_page(&state, &b, &session.sid, &user, StatusCode::BAD_REQUEST, Some(msg))
        }
        Ok(ChangeOutcome::Locked { retry_after }) => with_retry_after(
            account_page(
                &state,
                &b,
                &session.sid,
                &user,
                StatusCode::TOO_MANY_REQUESTS,
                Some(format!("Too many attempts. Try again in {} minute(s).", (retry_after + 59) / 60)),
            ),
            retry_after,
        ),
        Ok(ChangeOutcome::Overloaded { retry_after }) => with_retry_after(
            account_page(
                &state,
                &b,
                &session.sid,
                &user,
                StatusCode::SERVICE_UNAVAILABLE,
                Some("Many people are signing in right now. Please try again in a few seconds.".into()),
            ),
            retry_after,
        ),
        Err(e) => server_error_page(&state, e),
    }
}
