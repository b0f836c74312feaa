//! RFC 6749 §4.4 (OAuth 2.1 §4.2): the client credentials grant. Confidential clients only;
//! no refresh token (§4.4.3). The requested scope must lie within the client's allowed scopes;
//! without a `scope` parameter the client gets all of its allowed scopes (RFC 6749 §3.3 lets the
//! server apply a pre-defined default).

use crate::model::Client;
use crate::oauth::OAuthError;
use crate::oauth::tokens::{self, AccessTokenSpec};
use crate::state::AppState;
use keycard_types::{Scope, TokenResponse};

/// Decides the granted scope: the request within the allowed set, or the whole allowed set.
pub fn granted_scope(client: &Client, requested: Option<Scope>) -> Result<Scope, OAuthError> {
    let allowed = Scope::from_tokens(client.scopes.iter().cloned());
    match requested {
        None => Ok(allowed),
        Some(req) => {
            let extra = req.difference(&allowed);
            if extra.is_empty() {
                Ok(req)
            } else {
                Err(OAuthError::invalid_scope(format!(
                    "the client may not request: {}",
                    extra.iter().take(10).collect::<Vec<_>>().join(" ")
                )))
            }
        }
    }
}

/// RFC 6749 §4.4.2–4.4.3: issues an access token for the client itself.
/// With a DPoP proof (`jkt`, RFC 9449 §5) the token is bound to its key.
pub async fn issue(
    state: &AppState,
    client: &Client,
    requested: Option<Scope>,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    let scope = granted_scope(client, requested)?;
    let minted = tokens::mint_access_token(
        state,
        AccessTokenSpec { client, subject: &client.id, scope: &scope, auth_time: None, grant_id: None, jkt },
    )
    .await?;
    Ok(TokenResponse {
        access_token: minted.token.into_inner().into(),
        token_type: crate::oauth::dpop::token_type(jkt).into(),
        expires_in: minted.expires_in.max(0) as u64,
        scope: (!scope.is_empty()).then(|| scope.to_string()),
        refresh_token: None,
        id_token: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use keycard_types::ErrorCode;

    fn client() -> Client {
        Client {
            id: "c".into(),
            name: "c".into(),
            secret_hash: None,
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["a".into(), "b".into()],
            redirect_uris: vec![],
            access_token_ttl: 60,
            token_format: TokenFormat::Jwt,
            disabled: false,
            settings: Default::default(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn scope_rules() {
        let c = client();
        assert_eq!(granted_scope(&c, None).unwrap().to_string(), "a b");
        assert_eq!(granted_scope(&c, Some(Scope::parse("b").unwrap())).unwrap().to_string(), "b");
        let e = granted_scope(&c, Some(Scope::parse("a admin").unwrap())).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidScope);
        assert!(e.description.contains("admin"));
    }
}
