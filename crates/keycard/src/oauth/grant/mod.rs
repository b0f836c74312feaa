//! The token endpoint (RFC 6749 §3.2): parse the grant type, authenticate the client, dispatch
//! to one file per grant. Adding a grant: add a variant to [`GrantRequest`], parse its
//! parameters in [`GrantRequest::parse`], write `grant/<name>.rs` with an `issue` function, and
//! add the arm to [`token`]'s `match`; advertise it in `discovery.rs`.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod password;
pub mod refresh_token;
pub mod user_tokens;

use super::OAuthError;
use super::client_auth::{self, Presented};
use super::params::Params;
use crate::model::GrantType;
use crate::secret::Redacted;
use crate::state::AppState;
use keycard_types::{ErrorCode, Scope, TokenResponse};

/// A token request, parsed into its grant. Every secret field is [`Redacted`], so `{:?}` never
/// prints a code, token, verifier or password (SECURITY I7).
#[derive(Debug)]
pub enum GrantRequest {
    /// RFC 6749 §4.4.2.
    ClientCredentials {
        /// Requested scope (`None`: the client's allowed scopes).
        scope: Option<Scope>,
    },
    /// RFC 6749 §4.1.3.
    AuthorizationCode(authorization_code::CodeRequest),
    /// RFC 6749 §4.3 (legacy, off by default).
    Password {
        /// Username or e-mail.
        username: String,
        /// Password (never logged).
        password: Redacted<String>,
        /// Requested scope.
        scope: Option<Scope>,
    },
    /// RFC 8628 §3.4.
    DeviceCode {
        /// The device code.
        device_code: Redacted<String>,
    },
    /// RFC 6749 §6.
    RefreshToken {
        /// The refresh token.
        refresh_token: Redacted<String>,
        /// Requested (narrower) scope.
        scope: Option<Scope>,
    },
}

fn parse_scope(params: &Params) -> Result<Option<Scope>, OAuthError> {
    params.get("scope").map(|s| Scope::parse(s).map_err(|e| OAuthError::invalid_scope(e.to_string()))).transpose()
}

impl GrantRequest {
    /// Parses `grant_type` and the parameters of that grant. Unknown grant types →
    /// `unsupported_grant_type`; grants this server does not offer yet are unknown too.
    pub fn parse(params: &Params, password_enabled: bool) -> Result<(GrantType, GrantRequest), OAuthError> {
        let grant_type = params.require("grant_type")?;
        match grant_type {
            "client_credentials" => {
                Ok((GrantType::ClientCredentials, GrantRequest::ClientCredentials { scope: parse_scope(params)? }))
            }
            "authorization_code" => Ok((
                GrantType::AuthorizationCode,
                GrantRequest::AuthorizationCode(authorization_code::CodeRequest {
                    code: params.require("code")?.to_owned().into(),
                    redirect_uri: params.get("redirect_uri").map(str::to_owned),
                    code_verifier: params.get("code_verifier").map(|v| v.to_owned().into()),
                }),
            )),
            // H1: with the legacy switch off the password grant is unknown; nothing is verified.
            "password" if password_enabled => Ok((
                GrantType::Password,
                GrantRequest::Password {
                    username: params.require("username")?.to_owned(),
                    password: params.require("password")?.to_owned().into(),
                    scope: parse_scope(params)?,
                },
            )),
            "urn:ietf:params:oauth:grant-type:device_code" => Ok((
                GrantType::DeviceCode,
                GrantRequest::DeviceCode { device_code: params.require("device_code")?.to_owned().into() },
            )),
            "refresh_token" => Ok((
                GrantType::RefreshToken,
                GrantRequest::RefreshToken {
                    refresh_token: params.require("refresh_token")?.to_owned().into(),
                    scope: parse_scope(params)?,
                },
            )),
            _ => {
                Err(OAuthError::new(ErrorCode::UnsupportedGrantType, "the grant type is not supported by this server"))
            }
        }
    }
}

/// Facts about the HTTP request the grants need.
#[derive(Debug, Clone, Copy)]
pub struct RequestMeta<'a> {
    /// `Origin` of a browser request.
    pub origin: Option<&'a str>,
    /// The client's IP address.
    pub ip: &'a str,
    /// Every `DPoP` header value (RFC 9449 §4.1; more than one is refused).
    pub dpop: &'a [&'a [u8]],
}

/// RFC 6749 §3.2 + §5: handles one token request.
pub async fn token(
    state: &AppState,
    authorization: Option<&[u8]>,
    meta: &RequestMeta<'_>,
    params: &Params,
) -> Result<TokenResponse, OAuthError> {
    let origin = meta.origin;
    // grant_type is checked for presence first so that a missing one is invalid_request, then
    // the client authenticates before anything grant-specific is revealed.
    params.require("grant_type")?;
    let presented = client_auth::presented(authorization, params)?;
    let client = client_auth::authenticate(state, &presented, meta.ip).await?;
    client_auth::check_origin(&client, origin)?;
    let (grant_type, request) = GrantRequest::parse(params, state.config.legacy.password_grant)?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::new(ErrorCode::UnauthorizedClient, "the client is not allowed to use this grant type"));
    }
    // RFC 9449 §5: checked once the client is known (its registration may require a proof).
    let jkt = super::dpop::token_proof(state, &client, meta.dpop).await?;
    let jkt = jkt.as_deref();
    match request {
        GrantRequest::ClientCredentials { scope } => {
            if matches!(presented, Presented::IdOnly { .. }) {
                return Err(OAuthError::new(
                    ErrorCode::UnauthorizedClient,
                    "client_credentials is for confidential clients only",
                ));
            }
            client_credentials::issue(state, &client, scope, jkt).await
        }
        GrantRequest::AuthorizationCode(req) => authorization_code::issue(state, &client, req, jkt).await,
        GrantRequest::DeviceCode { device_code } => device_code::issue(state, &client, device_code.as_str(), jkt).await,
        GrantRequest::Password { username, password, scope } => {
            password::issue(state, &client, &username, password.as_str(), scope, meta.ip, jkt).await
        }
        GrantRequest::RefreshToken { refresh_token, scope } => {
            refresh_token::issue(state, &client, refresh_token.as_str(), scope, jkt).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SECURITY I7 (issue 14 item 10): `{:?}` of a token request never shows its secrets.
    #[test]
    fn debug_redacts_every_secret() {
        let requests = [
            GrantRequest::AuthorizationCode(authorization_code::CodeRequest {
                code: "kc_ac_SECRET-code".to_string().into(),
                redirect_uri: Some("https://app.example/cb".into()),
                code_verifier: Some("SECRET-verifier".to_string().into()),
            }),
            GrantRequest::Password {
                username: "alice".into(),
                password: "SECRET-password".to_string().into(),
                scope: None,
            },
            GrantRequest::DeviceCode { device_code: "kc_dc_SECRET-device".to_string().into() },
            GrantRequest::RefreshToken { refresh_token: "kc_rt_g.0.SECRET-refresh".to_string().into(), scope: None },
        ];
        for r in &requests {
            let s = format!("{r:?} {r:#?}");
            assert!(!s.contains("SECRET"), "{s}");
        }
        let s = format!("{:?}", requests[1]);
        assert!(s.contains("alice"), "non-secret fields stay visible: {s}");
    }
}
