//! One authorization code flow of flow_bench, step by step: `/authorize`, the login page and
//! POST, consent (first flow of an account only), the code at `/token`, then a refresh (RFC 6749
//! §4.1, §6; PKCE S256, RFC 7636). Every step runs through [`timed`], which reports it to an
//! [`Observer`] (the load's latencies, or the statement counter). Add a step: a constant and its
//! name in [`STEPS`], then its `timed(…)` block in [`one_flow`].

use crate::Args;
use crate::browser::{Browser, Res, form_field};
use base64::Engine as _;
use std::time::{Duration, Instant};

pub(crate) const STEPS: [&str; 7] =
    ["authorize", "login page", "login POST", "consent page", "consent POST", "token (code)", "refresh"];
pub(crate) const AUTHORIZE: usize = 0;
pub(crate) const LOGIN_PAGE: usize = 1;
pub(crate) const LOGIN_POST: usize = 2;
pub(crate) const CONSENT_PAGE: usize = 3;
pub(crate) const CONSENT_POST: usize = 4;
pub(crate) const TOKEN: usize = 5;
pub(crate) const REFRESH: usize = 6;

/// A failed step: which one and why.
pub(crate) struct StepError {
    pub(crate) step: usize,
    pub(crate) what: String,
}

pub(crate) fn fail<T>(step: usize, what: impl Into<String>) -> Result<T, StepError> {
    Err(StepError { step, what: what.into() })
}

/// PKCE (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let v = keycard::jose::random_token(32);
    let c = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes()).as_ref());
    (v, c)
}

// --------------------------------------------------------------------------------------- flow

/// Configuration shared by every virtual user.
pub(crate) struct Setup {
    pub(crate) args: Args,
    /// `Authorization` header of the client.
    pub(crate) auth: String,
}

/// Observes each step: `before(step)` is called just before its first request, `after(step,
/// elapsed)` once it succeeded.
pub(crate) trait Observer {
    fn before(&mut self, _step: usize) {}
    fn after(&mut self, step: usize, elapsed: Duration);
}

/// Runs one step: times `f` and reports it.
pub(crate) async fn timed<T, F>(obs: &mut impl Observer, step: usize, f: F) -> Result<T, StepError>
where
    F: std::future::Future<Output = Result<T, StepError>>,
{
    obs.before(step);
    let t0 = Instant::now();
    let out = f.await?;
    obs.after(step, t0.elapsed());
    Ok(out)
}

fn net(step: usize) -> impl Fn(String) -> StepError {
    move |what| StepError { step, what }
}

/// The code in a redirect to the client, after checking `state` and `iss`.
fn code_from(setup: &Setup, step: usize, res: &Res, state: &str) -> Result<String, StepError> {
    let loc = res.location.as_deref().unwrap_or("");
    if !loc.starts_with(&setup.args.redirect_uri) {
        return fail(step, format!("expected a redirect to the client, got {}", res.describe()));
    }
    let url = url::Url::parse(loc).map_err(|e| StepError { step, what: format!("bad Location {loc}: {e}") })?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    if let Some(e) = q.get("error") {
        return fail(
            step,
            format!("the client got error={e}: {}", q.get("error_description").cloned().unwrap_or_default()),
        );
    }
    if q.get("state").map(String::as_str) != Some(state) {
        return fail(step, format!("state not returned unchanged: {loc}"));
    }
    if q.get("iss").map(String::as_str) != Some(setup.args.base.as_str()) {
        return fail(step, format!("iss {:?} is not the base URL {}", q.get("iss"), setup.args.base));
    }
    q.get("code").cloned().ok_or_else(|| StepError { step, what: format!("no code in {loc}") })
}

/// A JSON token response with the expected members.
fn token_json(step: usize, res: &Res, want_id_token: bool) -> Result<serde_json::Value, StepError> {
    if res.status != 200 {
        return fail(step, res.describe());
    }
    let v: serde_json::Value = serde_json::from_str(&res.body)
        .map_err(|e| StepError { step, what: format!("not JSON ({e}): {}", res.describe()) })?;
    for m in ["access_token", "refresh_token"].iter().chain(want_id_token.then_some(&"id_token")) {
        if !v[*m].is_string() {
            return fail(step, format!("no {m} in {}", res.describe()));
        }
    }
    if v["token_type"].as_str().is_none_or(|t| !t.eq_ignore_ascii_case("bearer")) {
        return fail(step, format!("token_type is not Bearer: {}", res.describe()));
    }
    Ok(v)
}

/// One full flow in `b` for `username`.
pub(crate) async fn one_flow(
    setup: &Setup,
    b: &mut Browser,
    username: &str,
    obs: &mut impl Observer,
) -> Result<(), StepError> {
    let a = &setup.args;
    b.clear_session();
    let (verifier, challenge) = pkce();
    let state = keycard::jose::random_token(16);
    let authorize_url = format!(
        "/authorize?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &a.client_id)
            .append_pair("redirect_uri", &a.redirect_uri)
            .append_pair("scope", "openid offline_access")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish()
    );

    // 1. /authorize → /login
    let login_url = timed(obs, AUTHORIZE, async {
        let res = b.get(&authorize_url).await.map_err(net(AUTHORIZE))?;
        match &res.location {
            Some(l) if res.status == 303 && l.starts_with("/login?request=") => Ok(l.clone()),
            _ => fail(AUTHORIZE, format!("expected 303 to /login, got {}", res.describe())),
        }
    })
    .await?;

    // 2. login page, login POST
    let (request_id, csrf) = timed(obs, LOGIN_PAGE, async {
        let res = b.get(&login_url).await.map_err(net(LOGIN_PAGE))?;
        match (res.status, form_field(&res.body, "request_id"), form_field(&res.body, "csrf_token")) {
            (200, Some(r), Some(c)) => Ok((r, c)),
            _ => fail(LOGIN_PAGE, format!("expected the login form, got {}", res.describe())),
        }
    })
    .await?;
    let after_login = timed(obs, LOGIN_POST, async {
        let fields = [
            ("request_id", request_id.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", a.password.as_str()),
        ];
        let res = b.post_form("/login", &fields).await.map_err(net(LOGIN_POST))?;
        if res.status != 303 || res.location.is_none() {
            return fail(LOGIN_POST, format!("expected 303, got {}", res.describe()));
        }
        Ok(res)
    })
    .await?;

    // 2b. consent, on the first flow of an account only
    let (final_redirect, last_step) = match after_login.location.as_deref() {
        Some(l) if l.starts_with("/consent?request=") => {
            let consent_url = l.to_owned();
            let (request_id, csrf) = timed(obs, CONSENT_PAGE, async {
                let res = b.get(&consent_url).await.map_err(net(CONSENT_PAGE))?;
                match (res.status, form_field(&res.body, "request_id"), form_field(&res.body, "csrf_token")) {
                    (200, Some(r), Some(c)) => Ok((r, c)),
                    _ => fail(CONSENT_PAGE, format!("expected the consent form, got {}", res.describe())),
                }
            })
            .await?;
            let res = timed(obs, CONSENT_POST, async {
                let fields =
                    [("request_id", request_id.as_str()), ("csrf_token", csrf.as_str()), ("decision", "approve")];
                let res = b.post_form("/consent", &fields).await.map_err(net(CONSENT_POST))?;
                if res.status != 303 {
                    return fail(CONSENT_POST, format!("expected 303, got {}", res.describe()));
                }
                Ok(res)
            })
            .await?;
            (res, CONSENT_POST)
        }
        _ => (after_login, LOGIN_POST),
    };
    let code = code_from(setup, last_step, &final_redirect, &state)?;

    // 3. code → tokens
    let refresh_token = timed(obs, TOKEN, async {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &a.redirect_uri)
            .append_pair("code_verifier", &verifier)
            .finish();
        let res = token_request(setup, b, body).await.map_err(net(TOKEN))?;
        let v = token_json(TOKEN, &res, true)?;
        Ok(v["refresh_token"].as_str().unwrap_or_default().to_owned())
    })
    .await?;

    // 4. refresh (rotation)
    timed(obs, REFRESH, async {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &refresh_token)
            .finish();
        let res = token_request(setup, b, body).await.map_err(net(REFRESH))?;
        let v = token_json(REFRESH, &res, false)?;
        if v["refresh_token"].as_str() == Some(refresh_token.as_str()) {
            return fail(REFRESH, "the refresh token was not rotated");
        }
        Ok(())
    })
    .await
}

/// A back-channel token request (no cookies: the client's server talks to Keycard).
async fn token_request(setup: &Setup, b: &Browser, body: String) -> Result<Res, String> {
    let r = b
        .http
        .post(format!("{}/token", b.base))
        .header(reqwest::header::AUTHORIZATION, &setup.auth)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status().as_u16();
    let location = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = r.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Res { status, location, body })
}
