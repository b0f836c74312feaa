#![no_main]
//! Token requests (RFC 6749 §4.1.3, §4.3.2, §4.4.2, §6, RFC 8628 §3.4): a form body parsed with
//! `Params::parse`, then `GrantRequest::parse` with the password grant on and off. Inputs:
//! arbitrary bodies, and parameter sets built from the grant parameters' names and values.
//! Asserts: a refusal is `invalid_request`, `invalid_scope` or `unsupported_grant_type` (never
//! `server_error`); `unsupported_grant_type` exactly for unknown grant types (and `password`
//! while it is off, SECURITY H1); an accepted request's grant type is the `grant_type` sent and
//! its scope is the `scope` sent.

use arbitrary::Arbitrary;
use keycard::model::GrantType;
use keycard::oauth::grant::GrantRequest;
use keycard::oauth::params::Params;
use keycard_types::{ErrorCode, Scope};
use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 11] = [
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "scope",
    "device_code",
    "username",
    "password",
    "resource",
    "client_id",
];
const GRANTS: [&str; 7] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "implicit",
    "",
];

const SECRETS: [&str; 5] = ["code", "code_verifier", "refresh_token", "device_code", "password"];

#[derive(Debug, Arbitrary)]
enum Input {
    Body(Vec<u8>),
    Pairs(Vec<(u8, Result<u8, String>)>),
}

fn check(params: &Params) {
    let grant = params.get("grant_type");
    for password in [false, true] {
        match GrantRequest::parse(params, password) {
            Err(e) => {
                assert!(
                    matches!(
                        e.code,
                        ErrorCode::InvalidRequest | ErrorCode::InvalidScope | ErrorCode::UnsupportedGrantType
                    ),
                    "{:?}",
                    e.code
                );
                let known = matches!(
                    grant,
                    Some(
                        "authorization_code"
                            | "refresh_token"
                            | "client_credentials"
                            | "urn:ietf:params:oauth:grant-type:device_code"
                    )
                ) || (password && grant == Some("password"));
                assert_eq!(
                    e.code == ErrorCode::UnsupportedGrantType,
                    grant.is_some() && !known,
                    "{grant:?}: {}",
                    e.description
                );
            }
            Ok((t, req)) => {
                let want = match t {
                    GrantType::AuthorizationCode => "authorization_code",
                    GrantType::RefreshToken => "refresh_token",
                    GrantType::ClientCredentials => "client_credentials",
                    GrantType::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
                    GrantType::Password => {
                        assert!(password, "the password grant parsed while it is off");
                        "password"
                    }
                    other => panic!("grant type {other:?} parsed"),
                };
                assert_eq!(grant, Some(want));
                let scope = match &req {
                    GrantRequest::ClientCredentials { scope }
                    | GrantRequest::Password { scope, .. }
                    | GrantRequest::RefreshToken { scope, .. } => scope.as_ref(),
                    _ => None,
                };
                if let Some(s) = scope {
                    assert_eq!(
                        Some(s),
                        params.get("scope").map(|v| Scope::parse(v).expect("sent scope parses")).as_ref()
                    );
                }
                // Secrets never show in Debug (SECURITY I7): compared with the Debug of the same
                // request whose secrets are all "x", a secret's value must not appear.
                let masked: Vec<(String, String)> = params
                    .pairs()
                    .map(|(k, v)| {
                        (k.to_owned(), if SECRETS.contains(&k) && !v.is_empty() { "x".into() } else { v.to_owned() })
                    })
                    .collect();
                let masked = Params::from_pairs(masked).expect("same names");
                let baseline = format!("{:?}", GrantRequest::parse(&masked, password).expect("same shape").1);
                let shown = format!("{req:?}");
                for secret in SECRETS {
                    if let Some(v) = params.get(secret).filter(|v| !baseline.contains(*v)) {
                        assert!(!shown.contains(v), "{secret} shown in Debug: {shown}");
                    }
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    match input {
        Input::Body(b) => {
            if let Ok(p) = Params::parse(&b) {
                check(&p);
            }
        }
        Input::Pairs(pairs) => {
            let mut out: Vec<(String, String)> = Vec::new();
            for (n, v) in pairs {
                let n = NAMES[usize::from(n) % NAMES.len()];
                let v = match v {
                    Ok(i) => GRANTS[usize::from(i) % GRANTS.len()].to_owned(),
                    Err(s) => s,
                };
                if !out.iter().any(|(k, _)| k == n) && !v.contains('\0') {
                    out.push((n.to_owned(), v));
                }
            }
            check(&Params::from_pairs(out).expect("distinct names"));
        }
    }
});
