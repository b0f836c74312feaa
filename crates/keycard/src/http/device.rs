//! RFC 8628 endpoints: `POST /device_authorization` (JSON) and the verification page
//! `GET`/`POST /device` (HTML, same header set and CSRF rules as the other pages).

use super::ClientIp;
use super::error::no_store;
use super::extract::OAuthForm;
use super::html::{browser, error_page, html, page_form, same_origin, see_other, server_error_page, with_cookies};
use crate::model::Session;
use crate::oauth::device::{self, CodeProblem, Decided};
use crate::oauth::flow::{self, Browser};
use crate::oauth::{OAuthError, params::Params};
use crate::pages::{DevicePage, DeviceStep, Page, ScopeView};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// RFC 8628 §3.1–3.2: `POST /device_authorization`.
pub async fn device_authorization(State(state): State<AppState>, form: OAuthForm) -> Result<Response, OAuthError> {
    let res = device::device_authorization(&state, form.authorization.as_deref(), &form.ip, &form.params).await?;
    let mut res = Json(res).into_response();
    no_store(&mut res);
    Ok(res)
}

fn page(
    state: &AppState,
    b: &Browser,
    status: StatusCode,
    user_code: Option<String>,
    error: Option<String>,
    step: DeviceStep,
) -> Response {
    let csrf = flow::csrf_token(state, "device", "", &b.browser_token);
    page_with_token(state, status, csrf, user_code, error, step)
}

fn page_with_token(
    state: &AppState,
    status: StatusCode,
    csrf_token: String,
    user_code: Option<String>,
    error: Option<String>,
    step: DeviceStep,
) -> Response {
    html(state, status, &Page::Device(DevicePage { csrf_token, user_code, error, step }), None)
}

fn throttled(state: &AppState, b: &Browser, retry_after: i64) -> Response {
    let mut res = page(
        state,
        b,
        StatusCode::TOO_MANY_REQUESTS,
        None,
        Some("Too many attempts. Wait a minute and try again.".into()),
        DeviceStep::EnterCode,
    );
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

async fn confirm_or_error(
    state: &AppState,
    b: &Browser,
    input: &str,
    session: Option<&Session>,
) -> Result<Response, OAuthError> {
    match device::lookup_user_code(state, input, b).await? {
        Err(CodeProblem::Invalid) => Ok(page(
            state,
            b,
            StatusCode::BAD_REQUEST,
            Some(input.chars().take(32).collect()),
            Some("That code is not valid or has expired. Check the code on your device.".into()),
            DeviceStep::EnterCode,
        )),
        Err(CodeProblem::Throttled { retry_after }) => Ok(throttled(state, b, retry_after)),
        Ok((code, dev, client)) => {
            let Some(session) = session else {
                let id = flow::pending_device_login(state, &client, &code, b).await?;
                return Ok(see_other(&format!("/login?request={id}")));
            };
            let defs = state.store.list_scopes().await?;
            let scopes = dev
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| ScopeView {
                    name: s.to_owned(),
                    description: defs.iter().find(|d| d.name == s).map(|d| d.description.clone()).unwrap_or_default(),
                })
                .collect();
            // The confirmation form carries the decision token instead of the page's CSRF token:
            // only this browser, having looked this code up, can decide on it.
            Ok(page_with_token(
                state,
                StatusCode::OK,
                device::decision_token(state, &dev, b, session),
                Some(code),
                None,
                DeviceStep::Confirm { client_name: client.name.clone(), scopes },
            ))
        }
    }
}

/// RFC 8628 §3.3: `GET /device[?user_code=…]`. With a code and a session it shows the
/// confirmation (never approves by itself); otherwise the code form.
pub async fn device_page(State(state): State<AppState>, req: Request) -> Response {
    let (b, new_cookie) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    let params = Params::parse(req.uri().query().unwrap_or("").as_bytes()).unwrap_or_default();
    let code = params.get("user_code").map(str::to_owned);
    let session = match flow::load_session(&state, b.session()).await {
        Ok(s) => s,
        Err(e) => return server_error_page(&state, e),
    };
    let res = match (code, session) {
        (Some(code), Some((s, _))) => match confirm_or_error(&state, &b, &code, Some(&s)).await {
            Ok(r) => r,
            Err(e) => server_error_page(&state, e),
        },
        (code, _) => {
            page(&state, &b, StatusCode::OK, code.map(|c| c.chars().take(32).collect()), None, DeviceStep::EnterCode)
        }
    };
    with_cookies(res, new_cookie)
}

/// `POST /device`: a typed code (→ sign in or confirm), or a decision on a confirmed code.
/// A decision needs the token of the confirmation page this browser got for that code; without
/// it the attempt counts as a wrong code (RFC 8628 §5.1, SECURITY H3).
pub async fn device_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(&state, req.headers()) {
        return error_page(&state, 403, "Request refused", "This form must be sent from the device page.");
    }
    let form = match page_form(&state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return error_page(&state, status, "Invalid form", msg),
    };
    let session = match flow::load_session(&state, b.session()).await {
        Ok(s) => s,
        Err(e) => return server_error_page(&state, e),
    };
    let code = form.get("user_code").unwrap_or("").to_owned();
    let result = match form.get("decision") {
        Some(decision @ ("approve" | "deny")) => {
            let approve = decision == "approve";
            let s = session.as_ref().map(|(s, _)| s);
            match device::decide(&state, &code, form.get("csrf_token"), approve, &b, s).await {
                Ok(Decided::Done) => {
                    Ok(page(&state, &b, StatusCode::OK, None, None, DeviceStep::Done { approved: approve }))
                }
                Ok(Decided::NoLongerPending) => Ok(page(
                    &state,
                    &b,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some("That code is no longer valid. Start again on your device.".into()),
                    DeviceStep::EnterCode,
                )),
                Ok(Decided::Throttled { retry_after }) => Ok(throttled(&state, &b, retry_after)),
                Ok(Decided::Refused) if s.is_none() => {
                    Ok(error_page(&state, 403, "You are not signed in", "Enter the code again to sign in."))
                }
                Ok(Decided::Refused) => Ok(error_page(
                    &state,
                    403,
                    "The form has expired",
                    "Enter the code shown on your device again to confirm it.",
                )),
                Err(e) => Err(e),
            }
        }
        Some(_) => Ok(error_page(&state, 400, "Invalid form", "Choose Allow or Deny.")),
        None => {
            let csrf = flow::csrf_token(&state, "device", "", &b.browser_token);
            if form.get("csrf_token").is_none_or(|t| {
                aws_lc_rs::constant_time::verify_slices_are_equal(t.as_bytes(), csrf.as_bytes()).is_err()
            }) {
                return error_page(&state, 403, "The form has expired", "Reload the page and try again.");
            }
            confirm_or_error(&state, &b, &code, session.as_ref().map(|(s, _)| s)).await
        }
    };
    match result {
        Ok(r) => r,
        Err(e) => server_error_page(&state, e),
    }
}
