//! RFC 8414 authorization server metadata (also served as OpenID Connect Discovery), derived
//! from the configuration so that it lists only what is implemented and switched on. The issuer
//! and every URL come from the configured issuer, never from request headers (SECURITY A7).

use crate::config::Config;
use keycard_types::ServerMetadata;

/// Builds the metadata document.
pub fn metadata(config: &Config) -> ServerMetadata {
    let base = config.issuer.trim_end_matches('/');
    let auth_methods: Vec<String> =
        ["client_secret_basic", "client_secret_post", "private_key_jwt", "client_secret_jwt"].map(String::from).into();
    let assertion_algs = super::client_assertion::supported_algs();
    let mut token_auth_methods = auth_methods.clone();
    token_auth_methods.push("none".into());
    let mut id_token_algs: Vec<String> = vec![config.oidc.id_token_alg.as_str().to_owned()];
    for a in &config.keys.algorithms {
        if !id_token_algs.iter().any(|x| x == a.as_str()) {
            id_token_algs.push(a.as_str().to_owned());
        }
    }
    ServerMetadata {
        issuer: config.issuer.clone(),
        authorization_endpoint: Some(format!("{base}/authorize")),
        token_endpoint: format!("{base}/token"),
        jwks_uri: format!("{base}/jwks.json"),
        scopes_supported: vec!["openid".into(), "profile".into(), "email".into(), "offline_access".into()],
        response_types_supported: if config.legacy.implicit_grant {
            ["code", "token", "id_token", "id_token token"].into_iter().map(String::from).collect()
        } else {
            vec!["code".into()]
        },
        response_modes_supported: if config.legacy.implicit_grant {
            vec!["query".into(), "fragment".into(), "form_post".into()]
        } else {
            vec!["query".into(), "form_post".into()]
        },
        grant_types_supported: [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ]
        .into_iter()
        .map(String::from)
        .chain(config.legacy.password_grant.then(|| "password".to_owned()))
        .chain(config.legacy.implicit_grant.then(|| "implicit".to_owned()))
        .collect(),
        token_endpoint_auth_methods_supported: token_auth_methods,
        token_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
        revocation_endpoint: Some(format!("{base}/revoke")),
        revocation_endpoint_auth_methods_supported: {
            let mut m = auth_methods.clone();
            m.push("none".into());
            m
        },
        introspection_endpoint: Some(format!("{base}/introspect")),
        introspection_endpoint_auth_methods_supported: auth_methods,
        introspection_endpoint_auth_signing_alg_values_supported: assertion_algs.clone(),
        revocation_endpoint_auth_signing_alg_values_supported: assertion_algs,
        code_challenge_methods_supported: vec!["S256".into()],
        authorization_response_iss_parameter_supported: Some(true),
        userinfo_endpoint: Some(format!("{base}/userinfo")),
        subject_types_supported: vec![match config.oidc.subject_type {
            crate::config::SubjectType::Public => "public".into(),
            crate::config::SubjectType::Pairwise => "pairwise".into(),
        }],
        id_token_signing_alg_values_supported: id_token_algs,
        claims_supported: [
            "sub",
            "iss",
            "aud",
            "exp",
            "iat",
            "auth_time",
            "nonce",
            "at_hash",
            "sid",
            "amr",
            "name",
            "preferred_username",
            "email",
            "email_verified",
            "updated_at",
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        end_session_endpoint: Some(format!("{base}/logout")),
        device_authorization_endpoint: Some(format!("{base}/device_authorization")),
        // RFC 9126 §5, RFC 9101 §10.5 (oauth/par.rs, oauth/jar.rs).
        pushed_authorization_request_endpoint: Some(format!("{base}/par")),
        require_pushed_authorization_requests: Some(config.par.require),
        request_parameter_supported: Some(true),
        request_uri_parameter_supported: Some(false),
        request_object_signing_alg_values_supported: crate::oauth::jar::REQUEST_OBJECT_ALGS
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        // RFC 9449 §5.1: DPoP is always on (a client opts in by sending proofs).
        dpop_signing_alg_values_supported: keycard_resource::dpop::SUPPORTED_ALGS
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
    }
}
