//! The HTTP side of Keycard's HTML pages, shared by every browser-facing handler
//! (`http/interaction.rs`, `http/device.rs`): the browser and session cookies, form bodies and
//! the same-origin check, and turning a rendered [`Page`] or a flow [`Outcome`] into a response.
//! Rendering itself (templates, page contexts) is `crate::pages`.
//!
//! Every HTML response carries the strict header set of SECURITY G6/G7: a Content-Security-
//! Policy (`default-src 'self'`, `frame-ancestors 'none'`, `form-action` limited to Keycard and
//! the client's redirect origin, a script hash only on the form-post page), `X-Frame-Options:
//! DENY`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`. Redirects after a form POST
//! are 303 (RFC 9700 §4.12). Cookies are `HttpOnly; SameSite=Lax; Path=/`, with `Secure` and
//! the `__Host-` prefix whenever the issuer is https; the browser-binding cookie is minted and
//! MACed by the server (SECURITY G1/G4), a value it did not mint is replaced.
//!
//! To add a page handler: parse with [`page_form`] / [`query_params`], check [`same_origin`] on
//! every POST, call the protocol function with [`browser`], and answer through [`html`] or
//! [`render_outcome`] so the header set is never forgotten.

use super::ClientIp;
use crate::oauth::OAuthError;
use crate::oauth::authorize::AuthorizationResponse;
use crate::oauth::flow::{self, Browser, Outcome};
use crate::oauth::params::Params;
use crate::pages::{self, ConsentPage, ErrorPage, FormPostPage, LoginPage, Page, ScopeView};
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Cookie names: `__Host-` prefixed when the issuer is https (SECURITY G5).
pub struct CookieNames {
    /// Browser-binding cookie (ties pending requests and CSRF tokens to one browser).
    pub browser: &'static str,
    /// Session cookie.
    pub session: &'static str,
    /// `; Secure` or nothing.
    pub secure: &'static str,
}

/// The cookie names for this issuer.
pub fn cookie_names(state: &AppState) -> CookieNames {
    if state.config.issuer.starts_with("https://") {
        CookieNames { browser: "__Host-kc_browser", session: "__Host-kc_session", secure: "; Secure" }
    } else {
        CookieNames { browser: "kc_browser", session: "kc_session", secure: "" }
    }
}

/// The value of cookie `name` from the request's `Cookie` headers (RFC 6265 §5.4), only when it
/// looks like a value this server mints (1-128 of `[A-Za-z0-9_-]`); public for the fuzz tests
/// (tests/fuzz_parsers.rs, fuzz/fuzz_targets/cookie.rs).
///
/// The header is read as bytes: another cookie of the site may hold bytes outside ASCII
/// (browsers send what a page stored, UTF-8 included), and that must not hide Keycard's own.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .filter_map(|kv| {
            let kv = kv.trim_ascii();
            let eq = kv.iter().position(|b| *b == b'=')?;
            Some((&kv[..eq], &kv[eq + 1..]))
        })
        .find(|(k, _)| *k == name.as_bytes())
        .map(|(_, v)| v)
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
        })
        .map(|v| v.iter().map(|b| char::from(*b)).collect())
}

/// The browser's cookies; a new browser cookie when it has none or one this server did not
/// mint (SECURITY G1/G4: a client-chosen value is never adopted).
pub(crate) fn browser(state: &AppState, headers: &HeaderMap, ip: Option<&ClientIp>) -> (Browser, Option<String>) {
    let names = cookie_names(state);
    let (browser_token, new) = match cookie(headers, names.browser).filter(|b| flow::browser_token_valid(state, b)) {
        Some(b) => (b, None),
        None => {
            let b = flow::mint_browser_token(state);
            let set = format!("{}={b}; Path=/; HttpOnly; SameSite=Lax{}", names.browser, names.secure);
            (b, Some(set))
        }
    };
    let ip = ip.map(|c| c.0.to_string()).unwrap_or_else(|| "unknown".into());
    let session_token = cookie(headers, names.session).map(Into::into);
    (Browser { browser_token: browser_token.into(), session_token, ip }, new)
}

/// The origin a `form-action` source must allow for a redirect URI.
fn form_action_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    match u.scheme() {
        "http" | "https" => Some(u.origin().ascii_serialization()),
        s => Some(format!("{s}:")),
    }
}

fn csp(redirect_uri: Option<&str>, script_hash: Option<&str>) -> String {
    let mut form_action = "'self'".to_owned();
    if let Some(src) = redirect_uri.and_then(form_action_source) {
        form_action.push(' ');
        form_action.push_str(&src);
    }
    let script = script_hash.map(|h| format!("script-src {h}; ")).unwrap_or_default();
    format!(
        "default-src 'self'; {script}img-src 'self' https:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action {form_action}"
    )
}

pub(crate) fn html(state: &AppState, status: StatusCode, page: &Page, redirect_uri: Option<&str>) -> Response {
    let script = matches!(page, Page::FormPost(_)).then(pages::form_post_script_csp_hash);
    let body = match state.pages.render(page) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            let mut res = (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response();
            secure_headers(&mut res, &csp(None, None));
            return res;
        }
    };
    let mut res = (status, body).into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    secure_headers(&mut res, &csp(redirect_uri, script.as_deref()));
    res
}

fn secure_headers(res: &mut Response, csp: &str) {
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

pub(crate) fn see_other(location: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    secure_headers(&mut res, &csp(None, None));
    res
}

pub(crate) fn error_page(state: &AppState, status: u16, title: &str, message: &str) -> Response {
    let page = Page::Error(ErrorPage { title: title.into(), message: message.into(), reference: None });
    html(state, StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST), &page, None)
}

pub(crate) fn server_error_page(state: &AppState, e: OAuthError) -> Response {
    let status = crate::http::error::status_for(e.code);
    if let Some(cause) = &e.cause {
        tracing::error!(error = %e.code, cause = %cause, "page request failed");
    }
    let mut res = error_page(
        state,
        status.as_u16().max(500),
        "Something went wrong",
        "Keycard could not complete this step. Try again in a moment.",
    );
    if let Some(v) = e.retry_after.and_then(|s| HeaderValue::from_str(&s.to_string()).ok()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

pub(crate) fn render_outcome(state: &AppState, out: Outcome) -> Response {
    match out {
        Outcome::Respond(AuthorizationResponse::Redirect(url)) => see_other(&url),
        Outcome::Respond(AuthorizationResponse::FormPost { action, fields }) => {
            let page = Page::FormPost(FormPostPage { action: action.clone(), fields });
            html(state, StatusCode::OK, &page, Some(&action))
        }
        Outcome::ErrorPage { status, title, message } => error_page(state, status, &title, &message),
        Outcome::Goto(path) => see_other(&path),
        Outcome::Login(v) => {
            let status = StatusCode::from_u16(v.status).unwrap_or(StatusCode::OK);
            let retry = v.retry_after;
            let redirect = v.redirect_uri.clone();
            let page = Page::Login(LoginPage {
                request_id: v.request_id,
                csrf_token: v.csrf_token,
                client_name: v.client_name,
                login_hint: v.login_hint,
                error: v.error,
                locale: v.locale,
            });
            let mut res = html(state, status, &page, Some(&redirect));
            if let Some(r) = retry
                && let Ok(v) = HeaderValue::from_str(&r.to_string())
            {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        Outcome::Consent(v) => {
            let redirect = v.redirect_uri.clone();
            let page = Page::Consent(ConsentPage {
                request_id: v.request_id,
                csrf_token: v.csrf_token,
                client_name: v.client_name,
                client_logo_uri: v.client_logo_uri,
                user_display: v.user_display,
                scopes: v.scopes.into_iter().map(|(name, description)| ScopeView { name, description }).collect(),
                locale: v.locale,
            });
            html(state, StatusCode::OK, &page, Some(&redirect))
        }
    }
}

pub(crate) fn with_cookies(mut res: Response, cookies: impl IntoIterator<Item = String>) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Reads a form body for a page: `application/x-www-form-urlencoded`, size-limited, strict.
pub(crate) async fn page_form(state: &AppState, req: Request) -> Result<Params, (u16, &'static str)> {
    page_form_with(state, req, Params::parse).await
}

/// [`page_form`] with another parser (`/authorize` keeps repeated parameters for the validator).
pub(crate) async fn page_form_with(
    state: &AppState,
    req: Request,
    parse: fn(&[u8]) -> Result<Params, OAuthError>,
) -> Result<Params, (u16, &'static str)> {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err((400, "The form was not sent as application/x-www-form-urlencoded."));
    }
    let body = axum::body::to_bytes(req.into_body(), state.config.http.body_limit_bytes)
        .await
        .map_err(|_| (413, "The form is too large."))?;
    parse(&body).map_err(|_| (400, "The form is malformed (repeated or badly encoded fields)."))
}

/// SECURITY G1: a state-changing form POST must come from Keycard's own pages.
pub(crate) fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    // Browsers that send Fetch Metadata tell us directly.
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    // Otherwise the Origin, when a real one is sent. Our pages use `Referrer-Policy: no-referrer`,
    // under which browsers send `Origin: null` for their own form posts; the CSRF token (bound
    // to the pending request and the browser cookie) remains the actual defence.
    match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None | Some("null") => true,
        Some(origin) => url::Url::parse(&state.config.issuer).is_ok_and(|u| u.origin().ascii_serialization() == origin),
    }
}

pub(crate) fn query_params(req: &Request) -> Result<Params, OAuthError> {
    Params::parse(req.uri().query().unwrap_or("").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzz target `cookie` (issue 10 item 7): one cookie of the site with a byte
    /// outside ASCII (a page stored `é`) made the whole `Cookie` header unreadable, so Keycard
    /// lost its browser and session cookies and the user could not sign in.
    #[test]
    fn own_cookies_are_found_beside_non_ascii_ones() {
        let mut headers = HeaderMap::new();
        let value =
            header::HeaderValue::from_bytes("theme=caf\u{e9}; kc_session=abc-_1; x=\u{1f600}".as_bytes()).unwrap();
        headers.insert(header::COOKIE, value);
        assert_eq!(cookie(&headers, "kc_session").as_deref(), Some("abc-_1"));
        assert_eq!(cookie(&headers, "theme"), None, "not a value Keycard mints");
        headers.append(header::COOKIE, header::HeaderValue::from_static("kc_browser=b1"));
        assert_eq!(cookie(&headers, "kc_browser").as_deref(), Some("b1"));
        assert_eq!(cookie(&headers, "kc_other"), None);
    }

    #[test]
    fn form_action_sources() {
        assert_eq!(form_action_source("https://app.example/cb?x=1").as_deref(), Some("https://app.example"));
        assert_eq!(form_action_source("http://127.0.0.1:5123/cb").as_deref(), Some("http://127.0.0.1:5123"));
        assert_eq!(form_action_source("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        let c = csp(Some("https://app.example/cb"), None);
        assert!(c.contains("frame-ancestors 'none'") && c.contains("form-action 'self' https://app.example"));
        assert!(!c.contains("script-src"));
    }
}
