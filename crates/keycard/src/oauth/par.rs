//! Pushed authorization requests (RFC 9126) and how `/authorize` finds the request it works
//! from (RFC 9126 §4, RFC 9101 §5–§6).
//!
//! [`push`] is `POST /par` (RFC 9126 §2): the client authenticates exactly as at the token
//! endpoint (`client_auth::presented` + `authenticate`; a public client identifies with its
//! `client_id`), a `request_uri` in the body is `invalid_request` (§2.1), a `request` object is
//! verified and replaces the body (RFC 9126 §3, [`super::jar`]), and the parameters go through
//! the same validator as `/authorize` (`authorize::validate_with`), so an invalid push fails
//! here with the RFC 6749 §5.2 JSON error (§2.3) and a valid one is answered 201 with
//! `request_uri = urn:ietf:params:oauth:request_uri:<256 random bits>` and `expires_in`
//! (`par.request_uri_ttl_secs`, §2.2). Only a keyed hash of the random part is stored, with the
//! client id and the validated parameters (client credentials removed); expired rows are purged
//! with the other user-flow rows.
//!
//! [`resolve`] runs first at `/authorize` and returns the parameters the rest of the endpoint
//! validates (`authorize::check_request`):
//! - `request_uri` with the PAR prefix: the pushed parameters, and nothing from the query but
//!   `client_id` (§4). The URI must be unexpired, unused and pushed by that `client_id`; the
//!   first `/authorize` that presents it consumes it (one conditional statement, safe across
//!   nodes: RFC 9126 §7.3, SECURITY A12). **Choice**: any failure (unknown, expired, used,
//!   another client's, unknown client) is an error page naming `invalid_request_uri` (RFC 9101
//!   §6.2), never a redirect: the redirect URI is known only from the pushed request, which is
//!   exactly what could not be loaded, and the query's `redirect_uri` is ignored by §4 (RFC 6749
//!   §4.1.2.1, SECURITY A4). A consumed URI is not given back when the flow later fails: the
//!   client pushes again.
//! - a `request_uri` of any other form is left to the validator, which answers
//!   `request_uri_not_supported` (redirected once the redirect URI is verified): Keycard never
//!   dereferences a URI (`request_uri_parameter_supported: false`).
//! - a client that must push (`require_pushed_authorization_requests` on the client, or
//!   `par.require` server-wide, RFC 9126 §5) and did not: `invalid_request`, redirected once
//!   client and redirect URI are verified.
//! - `request` (RFC 9101): verified with the client's keys; its errors are
//!   `invalid_request_object`, redirected to the redirect URI verified from the query (the
//!   object's own cannot be trusted before its signature is), or an error page when the query
//!   has none (RFC 9101 §5 lets it carry only `client_id` and `request`; a present but wrong one
//!   is an error page at once); on success its claims are the parameters (§6.3).
//!
//! Extending: a new way of passing a request (e.g. encrypted request objects) is a branch in
//! [`resolve`] and, for pushes, in [`push`]; a PAR-only rule (e.g. a per-client lifetime) goes
//! into [`push`], with its test in `tests/par.rs`.

use super::authorize::{self, AuthorizeError, ErrorTarget};
use super::params::Params;
use super::{OAuthError, client_auth, jar};
use crate::jose;
use crate::model::Client;
use crate::state::AppState;
use crate::store::PushedRequest;
use serde::Serialize;
use std::borrow::Cow;

/// RFC 9126 §2.2: the URN prefix of every `request_uri` Keycard issues.
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Random bytes in a `request_uri` (RFC 9126 §2.2, RFC 6819 §5.1.4.2.2: 256 bits).
const REQUEST_URI_BYTES: usize = 32;

/// Client-authentication parameters: never stored with a pushed request.
const CLIENT_AUTH_PARAMS: &[&str] = &["client_secret", "client_assertion", "client_assertion_type"];

/// RFC 9126 §2.2: the pushed authorization response (201).
#[derive(Debug, Serialize)]
pub struct PushResponse {
    /// `urn:ietf:params:oauth:request_uri:<random>`, single use.
    pub request_uri: String,
    /// Its lifetime in seconds.
    pub expires_in: i64,
}

fn uri_hash(state: &AppState, random: &str) -> String {
    jose::keyed_hash(&state.secrets.hash_key, format!("par\0{random}").as_bytes())
}

/// RFC 9126 §2.1–§2.3: `POST /par`. See the module doc.
pub async fn push(
    state: &AppState,
    authorization: Option<&[u8]>,
    ip: &str,
    params: &Params,
) -> Result<PushResponse, OAuthError> {
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented, ip).await?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request("request_uri cannot be pushed (RFC 9126 section 2.1)"));
    }
    let body = params.without(CLIENT_AUTH_PARAMS);
    let pushed = match body.get("request") {
        Some(jwt) => jar::request_object_params(state, &client, jwt, &body).await?,
        None => body,
    };
    // The client id is the authenticated one (Basic credentials may leave it out of the body).
    let pushed = match pushed.get("client_id") {
        Some(id) if id == client.id => pushed,
        Some(_) => return Err(OAuthError::invalid_request("client_id differs from the authenticated client")),
        None => {
            let mut pairs: Vec<(String, String)> =
                pushed.pairs().map(|(k, v)| (k.to_owned(), v.to_owned())).filter(|(k, _)| k != "client_id").collect();
            pairs.push(("client_id".into(), client.id.clone()));
            Params::from_pairs(pairs)?
        }
    };
    let scopes = state.store.list_scopes().await?;
    let known = |s: &str| scopes.iter().any(|d| d.name == s);
    authorize::validate_with(&pushed, Some(&client), &known, state.config.legacy.implicit_grant).map_err(
        |e| match e {
            AuthorizeError::Page { message, .. } => OAuthError::invalid_request(message),
            AuthorizeError::Redirect { error, .. } => error,
        },
    )?;

    let now = state.clock.now();
    let ttl = state.config.par.request_uri_ttl_secs;
    let random = jose::random_token(REQUEST_URI_BYTES);
    state
        .store
        .insert_pushed_request(&PushedRequest {
            uri_hash: uri_hash(state, &random),
            client_id: client.id.clone(),
            params: pushed.encode(),
            created_at: now,
            expires_at: now + ttl,
        })
        .await?;
    Ok(PushResponse { request_uri: format!("{REQUEST_URI_PREFIX}{random}"), expires_in: ttl })
}

fn invalid_request_uri() -> AuthorizeError {
    AuthorizeError::Page {
        title: "This sign-in link is not valid".to_owned(),
        message: "The application's pushed authorization request is unknown, expired, already used or not \
                  its own (invalid_request_uri). Go back to the application and start again."
            .to_owned(),
    }
}

/// RFC 9126 §4, §5 and RFC 9101 §5–§6.3: the parameters `/authorize` works from; see the
/// module doc. `client` is the client looked up by the query's `client_id`. The inner error is
/// where the answer goes (page or redirect); the outer one a store failure.
pub async fn resolve<'p>(
    state: &AppState,
    params: &'p Params,
    client: Option<&Client>,
) -> Result<Result<Cow<'p, Params>, AuthorizeError>, OAuthError> {
    if let Some(uri) = params.get("request_uri")
        && let Some(random) = uri.strip_prefix(REQUEST_URI_PREFIX)
    {
        if params.is_repeated("request_uri") || params.is_repeated("client_id") {
            return Ok(Err(invalid_request_uri()));
        }
        let client = match (client, params.get("client_id")) {
            (Some(c), Some(id)) if c.id == id && !c.disabled => c,
            _ => return Ok(Err(invalid_request_uri())),
        };
        if random.is_empty() || random.len() > 128 {
            return Ok(Err(invalid_request_uri()));
        }
        let now = state.clock.now();
        let Some(form) = state.store.consume_pushed_request(&uri_hash(state, random), &client.id, now).await? else {
            return Ok(Err(invalid_request_uri()));
        };
        return Ok(Params::parse(form.as_bytes()).map(Cow::Owned).map_err(|_| invalid_request_uri()));
    }
    let must_push =
        state.config.par.require || client.is_some_and(|c| c.settings.require_pushed_authorization_requests);
    if !must_push && params.get("request").is_none() {
        return Ok(Ok(Cow::Borrowed(params)));
    }
    // The outer request must name a known client; its redirect URI only places errors. RFC 9101
    // §5 lets it carry nothing but client_id and request, so a missing one is no error while
    // the object may still be valid (a present but wrong one is, SECURITY A4).
    let outer_without_uri = params.get("redirect_uri").is_none() && !params.is_repeated("redirect_uri");
    let (client, target) = match authorize::verify_target(params, client) {
        Ok((c, t)) => (c, Ok(t)),
        Err(e) => match client {
            Some(c)
                if !must_push
                    && outer_without_uri
                    && params.get("client_id") == Some(c.id.as_str())
                    && !params.is_repeated("client_id")
                    && !c.disabled =>
            {
                (c, Err(e))
            }
            _ => return Ok(Err(e)),
        },
    };
    let mode = ErrorTarget::early_mode(params);
    let fail = |e: OAuthError| match &target {
        Ok(t) => t.fail(mode, e),
        // No verified redirect URI to send the error to: an error page (SECURITY A4).
        Err(_) => AuthorizeError::Page {
            title: "Invalid authorization request".to_owned(),
            message: format!("The application sent an invalid signed request ({}).", e.code),
        },
    };
    if must_push {
        return Ok(Err(fail(OAuthError::invalid_request(
            "this client must send its authorization requests through the pushed authorization \
             request endpoint (RFC 9126 section 5)",
        ))));
    }
    if params.is_repeated("request") {
        return Ok(Err(fail(OAuthError::invalid_request("parameter `request` is repeated"))));
    }
    let jwt = params.get("request").unwrap_or_default();
    match jar::request_object_params(state, client, jwt, params).await {
        Ok(p) => Ok(Ok(Cow::Owned(p))),
        Err(e) if e.code == keycard_types::ErrorCode::ServerError => Err(e),
        Err(e) => Ok(Err(fail(e))),
    }
}
