//! RFC 8628 endpoints: `POST /device_authorization` (JSON) and the verification page
//! `GET`/`POST /device` (HTML, same header set and CSRF rules as the other pages).

use super::ClientIp;
use super::error::no_store;
use super::extract::OAuthForm;
use super::pages::{browser, error_page, html, page_form, same_origin, see_other, server_error_page, with_cookies};
use crate::oauth::device::{self, CodeProblem};
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
    html(state, status, &Page::Device(DevicePage { csrf_token: csrf, user_code, error, step }), None)
}

async fn confirm_or_error(state: &AppState, b: &Browser, input: &str, signed_in: bool) -> Result<Response, OAuthError> {
    match device::lookup_user_code(state, input, b).await? {
        Err(CodeProblem::Invalid) => Ok(page(
            state,
            b,
            StatusCode::BAD_REQUEST,
            Some(input.chars().take(32).collect()),
            Some("That code is not valid or has expired. Check the code on your device.".into()),
            DeviceStep::EnterCode,
        )),
        Err(CodeProblem::Throttled { retry_after }) => {
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
            Ok(res)
        }
        Ok((code, dev, client)) => {
            if !signed_in {
                let id = flow::pending_device_login(state, &client, &code, b).await?;
                return Ok(see_other(&format!("/login?request={id}")));
            }
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
            Ok(page(
                state,
                b,
                StatusCode::OK,
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
    let session = match flow::load_session(&state, b.session_token.as_deref()).await {
        Ok(s) => s,
        Err(e) => return server_error_page(&state, e),
    };
    let res = match (code, session) {
        (Some(code), Some(_)) => match confirm_or_error(&state, &b, &code, true).await {
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
pub async fn device_submit(State(state): State<AppState>, req: Request) -> Response {
    let (b, _) = browser(&state, req.headers(), req.extensions().get::<ClientIp>());
    if !same_origin(&state, req.headers()) {
        return error_page(&state, 403, "Request refused", "This form must be sent from the device page.");
    }
    let form = match page_form(&state, req).await {
        Ok(f) => f,
        Err((status, msg)) => return error_page(&state, status, "Invalid form", msg),
    };
    let csrf = flow::csrf_token(&state, "device", "", &b.browser_token);
    if form
        .get("csrf_token")
        .is_none_or(|t| aws_lc_rs::constant_time::verify_slices_are_equal(t.as_bytes(), csrf.as_bytes()).is_err())
    {
        return error_page(&state, 403, "The form has expired", "Reload the page and try again.");
    }
    let session = match flow::load_session(&state, b.session_token.as_deref()).await {
        Ok(s) => s,
        Err(e) => return server_error_page(&state, e),
    };
    let code = form.get("user_code").unwrap_or("").to_owned();
    let result = match (form.get("decision"), session) {
        (Some(decision @ ("approve" | "deny")), Some((s, _))) => {
            let approve = decision == "approve";
            match device::decide(&state, &code, approve, &s).await {
                Ok(true) => Ok(page(&state, &b, StatusCode::OK, None, None, DeviceStep::Done { approved: approve })),
                Ok(false) => Ok(page(
                    &state,
                    &b,
                    StatusCode::BAD_REQUEST,
                    None,
                    Some("That code is no longer valid. Start again on your device.".into()),
                    DeviceStep::EnterCode,
                )),
                Err(e) => Err(e),
            }
        }
        (Some(_), _) => Ok(error_page(&state, 403, "You are not signed in", "Enter the code again to sign in.")),
        (None, session) => confirm_or_error(&state, &b, &code, session.is_some()).await,
    };
    match result {
        Ok(r) => r,
        Err(e) => server_error_page(&state, e),
    }
}
