//! Successful responses of the token endpoint (RFC 6749 §5.1) and of introspection (RFC 7662 §2.2).

use crate::SecretString;
use serde::{Deserialize, Serialize};

/// RFC 6749 §5.1 access token response. The tokens are [`SecretString`]s: `{:?}` of a response
/// never shows them (SECURITY I7), its JSON is the plain RFC 6749 §5.1 body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: SecretString,
    /// `Bearer` (RFC 6750), or `DPoP` for a DPoP-bound access token (RFC 9449 §5).
    pub token_type: String,
    /// Lifetime of the access token in seconds.
    pub expires_in: u64,
    /// The granted scope; RFC 6749 §5.1 requires it when it differs from the request, Keycard
    /// always sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A refresh token, when one is issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<SecretString>,
    /// An OpenID Connect ID token, when `openid` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<SecretString>,
}

/// RFC 7662 §2.2 introspection response. Every member but `active` is omitted for an inactive token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntrospectionResponse {
    /// Is the token currently active?
    pub active: bool,
    /// Granted scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// The client the token was issued to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Human-readable identifier of the resource owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `Bearer`, `DPoP` for a DPoP-bound token (RFC 9449 §6.2), or `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
    /// Expiry, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Not-before, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// Audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Issuer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Token identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// RFC 9449 §6.2: the key a DPoP-bound token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<crate::claims::Confirmation>,
}

impl IntrospectionResponse {
    /// The answer for every token that is not active: `{"active":false}` and nothing else.
    pub fn inactive() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14 defect 10: the tokens never reach `{:?}`; the JSON is unchanged.
    #[test]
    fn token_response_debug_hides_the_tokens_and_json_is_unchanged() {
        let r = TokenResponse {
            access_token: "at-secret-1".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
            scope: Some("openid".into()),
            refresh_token: Some("rt-secret-2".into()),
            id_token: Some("id-secret-3".into()),
        };
        let dbg = format!("{r:?} {r:#?}");
        for s in ["at-secret-1", "rt-secret-2", "id-secret-3"] {
            assert!(!dbg.contains(s), "{s} in {dbg}");
        }
        assert!(dbg.contains("Bearer") && dbg.contains("openid"), "{dbg}");
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"access_token":"at-secret-1","token_type":"Bearer","expires_in":60,"scope":"openid","refresh_token":"rt-secret-2","id_token":"id-secret-3"}"#
        );
        assert_eq!(serde_json::from_str::<TokenResponse>(&json).unwrap(), r);
        let bare = TokenResponse { refresh_token: None, id_token: None, scope: None, ..r };
        assert_eq!(
            serde_json::to_string(&bare).unwrap(),
            r#"{"access_token":"at-secret-1","token_type":"Bearer","expires_in":60}"#
        );
    }
}
