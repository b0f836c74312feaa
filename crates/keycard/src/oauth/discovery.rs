//! RFC 8414 authorization server metadata (also served as OpenID Connect Discovery), derived
//! from the configuration so that it lists only what is implemented and switched on. The issuer
//! and every URL come from the configured issuer, never from request headers (SECURITY A7).

use crate::config::Config;
use keycard_types::ServerMetadata;

/// Builds the metadata document.
pub fn metadata(config: &Config) -> ServerMetadata {
    let base = config.issuer.trim_end_matches('/');
    let auth_methods = vec![
        "client_secret_basic".to_owned(),
        "client_secret_post".to_owned(),
    ];
    ServerMetadata {
        issuer: config.issuer.clone(),
        authorization_endpoint: None,
        token_endpoint: format!("{base}/token"),
        jwks_uri: format!("{base}/jwks.json"),
        scopes_supported: vec![],
        response_types_supported: vec![],
        response_modes_supported: vec![],
        grant_types_supported: vec!["client_credentials".into()],
        token_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint: Some(format!("{base}/revoke")),
        revocation_endpoint_auth_methods_supported: {
            let mut m = auth_methods.clone();
            m.push("none".into());
            m
        },
        introspection_endpoint: Some(format!("{base}/introspect")),
        introspection_endpoint_auth_methods_supported: auth_methods,
        code_challenge_methods_supported: vec![],
        authorization_response_iss_parameter_supported: None,
        userinfo_endpoint: None,
        subject_types_supported: vec![],
        id_token_signing_alg_values_supported: vec![],
        claims_supported: vec![],
        end_session_endpoint: None,
        device_authorization_endpoint: None,
    }
}
