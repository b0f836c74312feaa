//! The browser client of the demo, `demo-app` (a public client): `GET /` starts the
//! authorization code flow with PKCE (RFC 7636) and a `state` bound to the browser by a cookie;
//! `GET /callback` checks the answer (RFC 6749 §4.1.2, RFC 9207 `iss`), redeems the code
//! (§4.1.3), calls the API with the access token and shows what each of the four roles did. The
//! pages are built with `format!`; every value in them goes through `esc`.
//!
//! Adding a page: a handler here returning [`page`] (which sets `Cache-Control: no-store` and a
//! strict CSP) and its route in `serve_demo` (`dev/demo/mod.rs`).

use super::{APP_CLIENT_ID, APP_SCOPES, DEMO_USER, lock};
// The one HTML escape and JWT payload decoder of the dev tools, under this file's old names.
use crate::dev::html_escape as esc;
use crate::dev::jwt_claims as jwt_payload;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Binds the browser's sign-in to the pending PKCE verifier (the `state` value).
const STATE_COOKIE: &str = "kc_demo_state";
const MAX_PENDING: usize = 1000;
const PENDING_TTL: Duration = Duration::from_secs(600);

/// The web client `demo-app`: it starts the authorization code flow with PKCE (RFC 7636) and
/// finishes it server-side, holding each verifier under its `state`.
pub(super) struct Web {
    pub(super) issuer: String,
    /// The demo's base URL, e.g. `http://127.0.0.1:8081`.
    pub(super) base: String,
    pub(super) redirect_uri: String,
    pub(super) http: reqwest::Client,
    /// `state` → (PKCE verifier, created).
    pub(super) pending: Mutex<HashMap<String, (String, Instant)>>,
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Keycard demo</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.45;color:#1d2430}}\
         h1{{font-size:1.5rem}} h2{{font-size:1.1rem;margin:0 0 .4rem}}\
         section{{border:1px solid #d5dae3;border-radius:.5rem;padding:.8rem 1rem;margin:.8rem 0}}\
         pre{{background:#f4f6f9;padding:.6rem;overflow-x:auto;font-size:.85rem;white-space:pre-wrap;word-break:break-all}}\
         .ok{{color:#176b2c}} .no{{color:#a32020}} code{{background:#f4f6f9;padding:0 .2rem}}\
         </style></head><body><h1>{title}</h1>{body}</body></html>",
        title = esc(title)
    );
    let mut res = (status, Html(html)).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn error_page(status: StatusCode, what: &str) -> Response {
    page(status, "Sign-in did not complete", &format!("<p>{}</p><p><a href=\"/\">Start again</a></p>", esc(what)))
}

/// `GET /`: a new `state` and PKCE verifier, then a redirect to Keycard's authorization endpoint.
pub(super) async fn start_page(State(web): State<Arc<Web>>) -> Response {
    let state = crate::jose::random_token(16);
    let verifier = crate::jose::random_token(32);
    let challenge = B64.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()));
    {
        let mut pending = lock(&web.pending);
        pending.retain(|_, (_, at)| at.elapsed() < PENDING_TTL);
        if pending.len() >= MAX_PENDING {
            return error_page(StatusCode::SERVICE_UNAVAILABLE, "Too many sign-ins in progress; try again later.");
        }
        pending.insert(state.clone(), (verifier, Instant::now()));
    }
    let scope = APP_SCOPES.join(" ");
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", APP_CLIENT_ID)
        .append_pair("redirect_uri", &web.redirect_uri)
        .append_pair("scope", &scope)
        .append_pair("state", &state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let location = format!("{}/authorize?{query}", web.issuer);
    let mut res = StatusCode::SEE_OTHER.into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::try_from(location) {
        h.insert(header::LOCATION, v);
    }
    if let Ok(v) = HeaderValue::try_from(format!(
        "{STATE_COOKIE}={state}; Path=/callback; HttpOnly; SameSite=Lax; Max-Age={}",
        PENDING_TTL.as_secs()
    )) {
        h.insert(header::SET_COOKIE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn pretty(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| body.to_owned())
}

/// What a call to the API answered.
struct ApiCall {
    request: String,
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl ApiCall {
    async fn run(web: &Web, method: reqwest::Method, path: &str, token: &str) -> Result<ApiCall, reqwest::Error> {
        let res = web.http.request(method.clone(), format!("{}{path}", web.base)).bearer_auth(token).send().await?;
        let status = res.status().as_u16();
        let challenge = res.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = res.text().await?;
        Ok(ApiCall { request: format!("{method} {path}"), status, challenge, body })
    }

    fn html(&self) -> String {
        let class = if self.status < 300 { "ok" } else { "no" };
        let challenge = self
            .challenge
            .as_deref()
            .map(|c| format!("<br><code>WWW-Authenticate: {}</code>", esc(c)))
            .unwrap_or_default();
        format!(
            "<p><code>{}</code> → <strong class=\"{class}\">{}</strong>{challenge}</p><pre>{}</pre>",
            esc(&self.request),
            self.status,
            esc(&pretty(&self.body))
        )
    }
}

/// `GET /callback`: RFC 6749 §4.1.2 response. Checks `iss` (RFC 9207) and `state` (bound to
/// this browser by a cookie), redeems the code with the PKCE verifier (§4.1.3), then calls the
/// API with the access token and shows the four roles.
pub(super) async fn callback(State(web): State<Arc<Web>>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        params.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    let param = |k: &str| params.get(k).map(String::as_str);
    if param("iss").is_some_and(|iss| iss != web.issuer) {
        return error_page(StatusCode::BAD_REQUEST, "The response comes from another issuer (RFC 9207): refused.");
    }
    let Some(state) = param("state") else {
        return error_page(StatusCode::BAD_REQUEST, "The response has no state.");
    };
    if cookie(&headers, STATE_COOKIE) != Some(state) {
        return error_page(StatusCode::BAD_REQUEST, "This sign-in was not started in this browser (state mismatch).");
    }
    let Some((verifier, _)) = lock(&web.pending).remove(state).filter(|(_, at)| at.elapsed() < PENDING_TTL) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown or expired sign-in.");
    };
    if let Some(error) = param("error") {
        let description = param("error_description").unwrap_or("");
        return error_page(StatusCode::BAD_REQUEST, &format!("Keycard answered error={error}: {description}"));
    }
    let Some(code) = param("code") else {
        return error_page(StatusCode::BAD_REQUEST, "The response has neither a code nor an error.");
    };

    // The client role: redeem the code at the token endpoint (a public client: no secret, PKCE).
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", &web.redirect_uri),
        ("client_id", APP_CLIENT_ID),
        ("code_verifier", &verifier),
    ];
    let token_url = format!("{}/token", web.issuer);
    let tokens = match web.http.post(&token_url).form(&form).send().await {
        Ok(res) if res.status().is_success() => match res.json::<keycard_types::TokenResponse>().await {
            Ok(t) => t,
            Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Unreadable token response: {e}")),
        },
        Ok(res) => {
            let status = res.status();
            let body = res.text().await.unwrap_or_default();
            return error_page(StatusCode::BAD_GATEWAY, &format!("The token endpoint answered {status}: {body}"));
        }
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Cannot reach {token_url}: {e}")),
    };

    // The resource server role: the API validates the token (signature, issuer, audience,
    // expiry, scope) with keycard-resource.
    let at: &str = &tokens.access_token;
    let mut calls = Vec::new();
    for (method, path) in [(reqwest::Method::GET, "/api/profile"), (reqwest::Method::POST, "/api/invoices")] {
        match ApiCall::run(&web, method, path, at).await {
            Ok(c) => calls.push(c.html()),
            Err(e) => calls.push(format!("<p class=\"no\">{path}: {}</p>", esc(&e.to_string()))),
        }
    }
    let claims = jwt_payload(at).unwrap_or(Value::Null);
    let subject = claims["sub"].as_str().unwrap_or("?");
    let shown = |v: &Value| esc(&serde_json::to_string_pretty(v).unwrap_or_default());
    let id_token = tokens.id_token.as_deref().and_then(jwt_payload);
    let body = format!(
        "<p>The authorization code flow with PKCE just ran end to end. Here is who did what.</p>\
         <section><h2>1. Resource owner: you</h2><p>You signed in to Keycard as <code>{DEMO_USER}</code> \
         and allowed <code>{APP_CLIENT_ID}</code> the scopes <code>{scope}</code>. Keycard knows you as \
         <code>{subject}</code>.</p></section>\
         <section><h2>2. Client: {APP_CLIENT_ID}</h2><p>This page's server (a public client: no secret) \
         got the code at <code>{redirect}</code>, checked <code>state</code> and <code>iss</code>, and \
         redeemed it at <code>{token_url}</code> with its PKCE verifier. It received an access token \
         (expires in {expires}s){refresh}{idt}.</p></section>\
         <section><h2>3. Authorization server: Keycard at {issuer}</h2><p>Keycard issued a signed RFC 9068 \
         JWT access token for the audience <code>{base}</code>. Its claims (decoded for display only):</p>\
         <pre>{claims}</pre>{id_claims}</section>\
         <section><h2>4. Resource server: the demo API at {base}/api</h2><p>The API verified the token \
         against Keycard's JWKS with <code>keycard-resource</code> (signature, <code>typ</code>, \
         <code>iss</code>, <code>aud</code>, <code>exp</code>) and checked the scope each route needs:</p>\
         {calls}</section>\
         <section><h2>Try it yourself</h2><pre>curl -H \"Authorization: Bearer {at}\" {base}/api/invoices</pre>\
         <p><a href=\"/\">Sign in again</a> · <a href=\"{issuer}/logout\">Sign out of Keycard</a></p></section>",
        scope = esc(tokens.scope.as_deref().unwrap_or("")),
        subject = esc(subject),
        redirect = esc(&web.redirect_uri),
        token_url = esc(&token_url),
        expires = tokens.expires_in,
        refresh = if tokens.refresh_token.is_some() { ", a refresh token (offline_access)" } else { "" },
        idt = if tokens.id_token.is_some() { " and an OpenID Connect ID token" } else { "" },
        issuer = esc(&web.issuer),
        base = esc(&web.base),
        claims = shown(&claims),
        id_claims = id_token.map(|v| format!("<p>ID token claims:</p><pre>{}</pre>", shown(&v))).unwrap_or_default(),
        calls = calls.join(""),
        at = esc(at),
    );
    let mut res = page(StatusCode::OK, "All four OAuth roles, working", &body);
    if let Ok(v) = HeaderValue::try_from(format!("{STATE_COOKIE}=; Path=/callback; HttpOnly; SameSite=Lax; Max-Age=0"))
    {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, HeaderValue::from_static("a=1; kc_demo_state=xyz; b=2"));
        assert_eq!(cookie(&h, STATE_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
