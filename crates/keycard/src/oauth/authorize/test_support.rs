//! Fixtures shared by the unit tests of the authorization endpoint's modules: clients, a
//! valid request with overrides, and assertions on where a failure goes (page or redirect).

pub(super) use super::*;
pub(super) use crate::clock::UnixTime;
pub(super) use crate::model::{AuthMethod, Client, ClientSettings, GrantType, TokenFormat};
pub(super) use crate::oauth::OAuthError;
pub(super) use crate::oauth::params::Params;
pub(super) use keycard_types::{ErrorCode, Scope};
pub(super) use std::collections::HashMap;

pub(super) const ISS: &str = "https://id.example";
/// RFC 7636 Appendix B.
pub(super) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub(super) const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(super) fn client(id: &str, public: bool, redirect_uris: &[&str]) -> Client {
    Client {
        id: id.to_owned(),
        name: id.to_owned(),
        secret_hash: (!public).then(|| "hash".to_owned()),
        auth_method: if public { AuthMethod::None } else { AuthMethod::ClientSecretBasic },
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "email", "api:read"].map(String::from).to_vec(),
        redirect_uris: redirect_uris.iter().map(|s| s.to_string()).collect(),
        access_token_ttl: 300,
        token_format: TokenFormat::Jwt,
        disabled: false,
        settings: ClientSettings::default(),
        created_at: 0,
        updated_at: 0,
    }
}

pub(super) fn pub_client() -> Client {
    client("pub", true, &["https://client.example/cb"])
}

pub(super) fn known(s: &str) -> bool {
    ["openid", "profile", "email", "api:read", "admin"].contains(&s)
}

/// Form-encodes `pairs` and parses them as the handler would.
pub(super) fn params(pairs: &[(&str, &str)]) -> Params {
    let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    Params::parse(body.as_bytes()).expect("parse")
}

/// A valid request for `pub`, with `overrides` replacing or adding values ("" removes one).
pub(super) fn request(overrides: &[(&str, &str)]) -> Params {
    let mut map: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", "pub"),
        ("redirect_uri", "https://client.example/cb"),
        ("state", "s"),
        ("scope", "openid profile"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for &(k, v) in overrides {
        map.retain(|(n, _)| *n != k);
        if !v.is_empty() {
            map.push((k, v));
        }
    }
    params(&map)
}

pub(super) fn run(c: &Client, overrides: &[(&str, &str)]) -> Result<AuthorizationRequest, AuthorizeError> {
    validate(&request(overrides), Some(c), &known)
}

#[track_caller]
pub(super) fn assert_page(r: Result<AuthorizationRequest, AuthorizeError>) {
    match r {
        Err(AuthorizeError::Page { title, message }) => {
            assert!(!title.is_empty() && !message.is_empty());
            assert!(!message.contains("evil"), "{message}");
        }
        other => panic!("expected an error page, got {other:?}"),
    }
}

/// Asserts a redirected error with `code`, to the registered URI, with state `s`.
#[track_caller]
pub(super) fn assert_redirect(r: Result<AuthorizationRequest, AuthorizeError>, code: ErrorCode) {
    match r {
        Err(AuthorizeError::Redirect { redirect_uri, state, error, .. }) => {
            assert_eq!(error.code, code, "{error:?}");
            assert_eq!(redirect_uri, "https://client.example/cb");
            assert_eq!(state.as_deref(), Some("s"));
        }
        other => panic!("expected a redirected {code}, got {other:?}"),
    }
}

pub(super) fn query_of(url: &str) -> HashMap<String, String> {
    url::Url::parse(url).expect("url").query_pairs().into_owned().collect()
}

// ---- decide() -------------------------------------------------------------------------

pub(super) const NOW: UnixTime = 1_000_000;

pub(super) fn req_with(overrides: &[(&str, &str)]) -> AuthorizationRequest {
    run(&pub_client(), overrides).unwrap()
}

pub(super) fn session(age: i64) -> SessionView {
    SessionView { user_id: "alice".to_owned(), auth_time: NOW - age, subject: "alice".to_owned() }
}

pub(super) fn scope(s: &str) -> Scope {
    Scope::parse(s).unwrap()
}

pub(super) fn code_of(r: Result<Decision, OAuthError>) -> ErrorCode {
    r.expect_err("an error").code
}
