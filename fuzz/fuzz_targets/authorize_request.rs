#![no_main]
//! Authorization requests (RFC 6749 §4.1.1 and §4.1.2.1, RFC 7636 §4.3, OpenID Connect Core
//! §3.1.2.1): a query parsed with `Params::parse_keeping_repeats`, then
//! `oauth::authorize::validate_with` for a web client, a native public client, a disabled
//! client or an unknown one. Inputs: arbitrary query strings, and parameter sets over the
//! request's parameter names with near-valid values. Asserts (SECURITY A1/A2/A4): an error is
//! redirected only for a known, enabled client and only to a URI its registration matches, with
//! the request's own `state` (when single and bounded); an accepted request names that client,
//! a matching redirect URI, only scopes known and allowed, and a well-formed S256 challenge
//! (required of a public client), and holds no NUL.

use arbitrary::Arbitrary;
use keycard::model::{ApplicationType, AuthMethod, Client, ClientSettings, GrantType, TokenFormat};
use keycard::oauth::authorize::{
    AuthorizeError, MAX_PARAM_LEN, ResponseType, is_valid_pkce_value, redirect_uri_matches, validate_with,
};
use keycard::oauth::params::Params;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const NAMES: [&str; 16] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
    "nonce",
    "response_mode",
    "prompt",
    "max_age",
    "login_hint",
    "ui_locales",
    "dpop_jkt",
    "request",
    "resource",
];
const VALUES: [&str; 20] = [
    "web",
    "native",
    "off",
    "code",
    "token",
    "id_token",
    "code id_token",
    "https://client.example/cb",
    "http://127.0.0.1:4711/cb",
    "http://127.0.0.1/cb",
    "com.example.app:/cb",
    "openid profile",
    "openid api:read",
    "S256",
    "plain",
    "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    "form_post",
    "query",
    "none login",
    "0",
];

fn client(id: &str, public: bool, uris: &[&str], disabled: bool) -> Client {
    Client {
        id: id.into(),
        name: id.into(),
        secret_hash: (!public).then(|| "hash".into()),
        auth_method: if public { AuthMethod::None } else { AuthMethod::ClientSecretBasic },
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: ["openid", "profile", "api:read", "offline_access"].map(String::from).into(),
        redirect_uris: uris.iter().map(|u| (*u).to_owned()).collect(),
        access_token_ttl: 300,
        token_format: TokenFormat::Jwt,
        disabled,
        settings: ClientSettings {
            application_type: Some(if public { ApplicationType::Native } else { ApplicationType::Web }),
            ..Default::default()
        },
        created_at: 0,
        updated_at: 0,
    }
}

fn clients() -> &'static [Client; 3] {
    static C: OnceLock<[Client; 3]> = OnceLock::new();
    C.get_or_init(|| {
        [
            client("web", false, &["https://client.example/cb", "https://client.example/cb2"], false),
            client("native", true, &["http://127.0.0.1/cb", "com.example.app:/cb"], false),
            client("off", false, &["https://client.example/cb"], true),
        ]
    })
}

fn known(s: &str) -> bool {
    ["openid", "profile", "email", "api:read", "offline_access"].contains(&s)
}

#[derive(Debug, Arbitrary)]
enum Input {
    Query(bool, Vec<u8>),
    Pairs(Vec<(u8, Result<u8, String>)>, bool),
}

fn check(params: &Params, implicit: bool) {
    let client = params.get("client_id").and_then(|id| clients().iter().find(|c| c.id == id));
    let matches = |c: &Client, uri: &str| redirect_uri_matches(&c.redirect_uris, uri, c.application_type());
    match validate_with(params, client, &known, implicit) {
        Err(AuthorizeError::Page { .. }) => {}
        Err(AuthorizeError::Redirect { redirect_uri, state, .. }) => {
            let c = client.expect("an error redirected for an unknown client");
            assert!(!c.disabled, "an error redirected for a disabled client");
            assert!(matches(c, &redirect_uri), "an error redirected to {redirect_uri:?}, not registered");
            assert!(!params.is_repeated("client_id") && !params.is_repeated("redirect_uri"));
            if let Some(s) = &state {
                assert!(
                    s.len() <= MAX_PARAM_LEN && params.get("state") == Some(s.as_str()) && !params.is_repeated("state")
                );
            }
        }
        Ok(req) => {
            let c = client.expect("a request accepted for an unknown client");
            assert!(!c.disabled);
            assert_eq!(req.client_id, c.id);
            assert!(matches(c, &req.redirect_uri), "accepted redirect_uri {:?}", req.redirect_uri);
            if req.deferred_error.is_none() {
                for s in req.scope.iter() {
                    assert!(known(s) && c.scopes.iter().any(|a| a == s), "scope {s} granted");
                }
                match &req.code_challenge {
                    Some(ch) => assert!(is_valid_pkce_value(ch) && ch.len() == 43, "challenge {ch:?}"),
                    None => {
                        assert!(
                            !c.is_public() || req.response_type != ResponseType::Code,
                            "a public client without PKCE"
                        )
                    }
                }
            }
            let json = serde_json::to_string(&req).expect("serialises");
            assert!(!json.contains("\\u0000"), "a NUL in an accepted request");
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Query(implicit, q) => {
            if let Ok(p) = Params::parse_keeping_repeats(&q) {
                check(&p, implicit);
            }
        }
        Input::Pairs(pairs, implicit) => {
            let body = pairs
                .iter()
                .take(24)
                .map(|(n, v)| {
                    let v = match v {
                        Ok(i) => VALUES[usize::from(*i) % VALUES.len()],
                        Err(s) => s.as_str(),
                    };
                    let enc: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
                    format!("{}={enc}", NAMES[usize::from(*n) % NAMES.len()])
                })
                .collect::<Vec<_>>()
                .join("&");
            if let Ok(p) = Params::parse_keeping_repeats(body.as_bytes()) {
                check(&p, implicit);
            }
        }
    }
});
