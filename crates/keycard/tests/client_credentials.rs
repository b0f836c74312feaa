//! RFC 6749 §4.4 client credentials end to end, with the `oauth2` crate as the client, and the
//! RFC 9068 shape of the JWT access tokens; the registered `token_endpoint_auth_method` at every
//! endpoint that authenticates clients; secrets kept out of `Debug`.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::config::{Config, SubjectType};
use keycard::model::{AuthMethod, GrantType, TokenFormat};
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse, TokenUrl};

#[tokio::test(flavor = "multi_thread")]
async fn oauth2_crate_gets_a_token_with_basic_auth_and_it_is_an_rfc9068_jwt() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc:billing", &["invoices:read", "invoices:write"]).await;
    let client = BasicClient::new(ClientId::new(id.clone()))
        .set_client_secret(ClientSecret::new(secret))
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap());
    let tok = client
        .exchange_client_credentials()
        .add_scope(Scope::new("invoices:read".into()))
        .request_async(&oauth2_http)
        .await
        .expect("token");
    assert_eq!(tok.token_type().as_ref(), "bearer");
    assert!(tok.refresh_token().is_none(), "RFC 6749 §4.4.3: no refresh token");
    assert_eq!(tok.scopes().unwrap()[0].as_str(), "invoices:read");
    let exp = tok.expires_in().unwrap().as_secs();
    assert!((3590..=3600).contains(&exp));

    let jwt = tok.access_token().secret();
    let (header, claims) = jwt_parts(jwt);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "ES256");
    // The signature verifies against the published JWKS.
    let jwks: keycard::jose::Jwks = http().get(s.url("/jwks.json")).send().await.unwrap().json().await.unwrap();
    let v = keycard::jose::verify_jwt(jwt, &jwks.keys).expect("verifies with the JWKS");
    assert_eq!(v.header.kid, header["kid"].as_str().unwrap());
    assert_eq!(claims["iss"], s.base);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["aud"], s.base, "default audience is the issuer");
    assert_eq!(claims["scope"], "invoices:read");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 3600);
    assert!(claims["jti"].as_str().unwrap().len() >= 22);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn client_secret_post_and_default_scope() {
    let s = TestServer::start().await;
    let spec = ClientSpec {
        id: Some("poster".into()),
        auth_method: Some(AuthMethod::ClientSecretPost),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["a".into(), "b".into()],
        audience: Some("https://api.example".into()),
        access_token_ttl: Some(120),
        ..Default::default()
    };
    let (id, secret) = s.create_client(spec).await;
    let client = BasicClient::new(ClientId::new(id))
        .set_client_secret(ClientSecret::new(secret))
        .set_auth_type(AuthType::RequestBody)
        .set_token_uri(TokenUrl::new(s.url("/token")).unwrap());
    let tok = client.exchange_client_credentials().request_async(&oauth2_http).await.expect("token");
    let (_, claims) = jwt_parts(tok.access_token().secret());
    assert_eq!(claims["scope"], "a b", "no scope parameter: all allowed scopes");
    assert_eq!(claims["aud"], "https://api.example");
    assert_eq!(tok.expires_in().unwrap().as_secs(), 120);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn token_response_headers_and_empty_scope_means_default() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("c1", &["x"]).await;
    let r = post_form(&s.url("/token"), Some(&basic(&id, &secret)), "grant_type=client_credentials&scope=").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    assert!(r.header("x-request-id").is_some());
    assert_eq!(r.json()["scope"], "x", "RFC 6749 §3.1: an empty parameter is an omitted one");
    assert_eq!(r.json()["token_type"], "Bearer");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn opaque_tokens_introspect_and_revoke() {
    let s = TestServer::start().await;
    let spec = ClientSpec {
        id: Some("opaque".into()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["r".into()],
        token_format: Some(TokenFormat::Opaque),
        ..Default::default()
    };
    let (id, secret) = s.create_client(spec).await;
    let tok = cc_token(&s, &id, &secret, Some("r")).await.json()["access_token"].as_str().unwrap().to_owned();
    assert!(tok.starts_with("kc_at_") && tok.len() >= 6 + 43, "256-bit random opaque token");
    let intro = post_form(&s.url("/introspect"), Some(&basic(&id, &secret)), &format!("token={tok}")).await;
    assert_eq!(intro.status, 200);
    let j = intro.json();
    assert_eq!(j["active"], true);
    assert_eq!(j["client_id"], "opaque");
    assert_eq!(j["scope"], "r");
    assert_eq!(j["iss"], s.base);
    // The store holds only a hash of the token.
    let stored = s
        .state
        .store
        .get_access_token(&keycard::jose::keyed_hash(&s.state.secrets.hash_key, tok.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert_ne!(stored.token_hash, tok);
    let r =
        post_form(&s.url("/revoke"), Some(&basic(&id, &secret)), &format!("token={tok}&token_type_hint=access_token"))
            .await;
    assert_eq!(r.status, 200);
    let intro = post_form(&s.url("/introspect"), Some(&basic(&id, &secret)), &format!("token={tok}")).await;
    assert_eq!(intro.json(), serde_json::json!({"active": false}));
    s.stop().await;
}

/// Defect 9 of issue 14 (RFC 7591 §2 `token_endpoint_auth_method`, OAuth 2.1 §2.4.1, SECURITY
/// D3): a client uses the method it registered, at /token, /introspect, /revoke and
/// /device_authorization; the other method is 401 `invalid_client`, with `WWW-Authenticate: Basic`
/// when Basic was tried (RFC 6749 §5.2).
#[tokio::test(flavor = "multi_thread")]
async fn registered_auth_method_is_enforced_everywhere() {
    let s = TestServer::start().await;
    let spec = |id: &str, m: AuthMethod| ClientSpec {
        id: Some(id.into()),
        auth_method: Some(m),
        grant_types: vec![GrantType::ClientCredentials, GrantType::DeviceCode],
        scopes: vec!["x".into()],
        ..Default::default()
    };
    let (b, b_secret) = s.create_client(spec("basic-only", AuthMethod::ClientSecretBasic)).await;
    let (p, p_secret) = s.create_client(spec("post-only", AuthMethod::ClientSecretPost)).await;
    let in_body = |id: &str, secret: &str| {
        let enc = |x: &str| form_urlencoded::byte_serialize(x.as_bytes()).collect::<String>();
        format!("client_id={}&client_secret={}", enc(id), enc(secret))
    };
    for (path, params) in [
        ("/token", "grant_type=client_credentials"),
        ("/introspect", "token=x"),
        ("/revoke", "token=x"),
        ("/device_authorization", "scope=x"),
    ] {
        // The registered method works.
        let r = post_form(&s.url(path), Some(&basic(&b, &b_secret)), params).await;
        assert_eq!(r.status, 200, "{path} basic-only with Basic: {}", r.body);
        let r = post_form(&s.url(path), None, &format!("{params}&{}", in_body(&p, &p_secret))).await;
        assert_eq!(r.status, 200, "{path} post-only in the body: {}", r.body);
        // The other method, with the right secret, does not.
        let r = post_form(&s.url(path), None, &format!("{params}&{}", in_body(&b, &b_secret))).await;
        r.assert_error(401, "invalid_client");
        assert!(r.header("www-authenticate").is_none_or(|h| h.starts_with("Basic")), "{path}");
        let r = post_form(&s.url(path), Some(&basic(&p, &p_secret)), params).await;
        r.assert_error(401, "invalid_client");
        let h = r.header("www-authenticate").unwrap_or_else(|| panic!("{path}: WWW-Authenticate after Basic"));
        assert!(h.starts_with("Basic"), "{path}: {h}");
        assert!(!r.body.contains(&p_secret));
    }
    s.stop().await;
}

/// SECURITY E4 (RFC 9700 §4.15.1, RFC 9068 §2.2): a client-credentials access token carries
/// `client_id`, and its `sub` is the client id, which can never equal a user's `sub`: user
/// subjects start with `usr_` (public) or `pw_` (pairwise) and client ids may start with neither.
#[tokio::test(flavor = "multi_thread")]
async fn e4_client_credentials_subject_never_equals_a_user_subject() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.oidc.subject_type = SubjectType::Pairwise),
        ..Default::default()
    })
    .await;
    for (id, format) in [("svc:jwt", TokenFormat::Jwt), ("svc:opaque", TokenFormat::Opaque)] {
        let (id, secret) = s
            .create_client(ClientSpec {
                id: Some(id.into()),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: vec!["x".into()],
                token_format: Some(format),
                ..Default::default()
            })
            .await;
        let t = cc_token(&s, &id, &secret, None).await.json()["access_token"].as_str().unwrap().to_owned();
        let j = post_form(&s.url("/introspect"), Some(&basic(&id, &secret)), &format!("token={t}")).await.json();
        let mut seen = vec![j];
        if format == TokenFormat::Jwt {
            seen.push(jwt_parts(&t).1);
        }
        for c in seen {
            assert_eq!(c["client_id"], id.as_str(), "{c}");
            assert_eq!(c["sub"], id.as_str(), "{c}");
            let sub = c["sub"].as_str().unwrap();
            assert!(!sub.starts_with("usr_") && !sub.starts_with("pw_"), "{sub}");
        }
    }
    // The prefixes of user subjects are reserved: no client can be named like a user.
    for reserved in ["usr_abc", "pw_abc"] {
        let spec = ClientSpec {
            id: Some(reserved.into()),
            grant_types: vec![GrantType::ClientCredentials],
            ..Default::default()
        };
        assert!(s.admin().create_client(&spec).await.is_err(), "{reserved} must be refused");
    }
    s.stop().await;
}

/// Defect 10 of issue 14 (SECURITY I7): `{:?}` of a minted access token or a token response
/// never shows a token, while the JSON of the token response is exactly the RFC 6749 §5.1 body.
#[test]
fn i7_token_types_never_debug_print_secrets() {
    let r = keycard_types::TokenResponse {
        access_token: "at-secret-1111".into(),
        token_type: "Bearer".into(),
        expires_in: 60,
        scope: Some("x".into()),
        refresh_token: Some("rt-secret-2222".into()),
        id_token: Some("id-secret-3333".into()),
    };
    let m = keycard::oauth::tokens::MintedAccessToken {
        token: "at-secret-4444".into(),
        expires_in: 60,
        jti: "jti-1".into(),
    };
    let dbg = format!("{r:?} {r:#?} {m:?} {m:#?}");
    for secret in ["at-secret-1111", "rt-secret-2222", "id-secret-3333", "at-secret-4444"] {
        assert!(!dbg.contains(secret), "{secret} in {dbg}");
    }
    assert!(dbg.contains("Bearer") && dbg.contains("jti-1"), "non-secret fields still shown: {dbg}");
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(
        json,
        r#"{"access_token":"at-secret-1111","token_type":"Bearer","expires_in":60,"scope":"x","refresh_token":"rt-secret-2222","id_token":"id-secret-3333"}"#
    );
    assert_eq!(serde_json::from_str::<keycard_types::TokenResponse>(&json).unwrap(), r);
}
