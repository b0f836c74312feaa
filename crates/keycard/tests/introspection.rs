//! RFC 7662 introspection and RFC 7009 revocation semantics for JWT access tokens: expiry,
//! revocation by jti, foreign tokens, other clients' tokens; who may introspect what (the
//! resource-server role, SECURITY E4) and pairwise subjects (OIDC Core §8) wherever a client
//! can see a `sub`.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::config::{Config, SubjectType};
use keycard::jose::{Alg, SigningKey};
use keycard::model::{GrantType, TokenFormat};

async fn token(s: &TestServer, id: &str, secret: &str) -> String {
    cc_token(s, id, secret, None).await.json()["access_token"].as_str().unwrap().to_owned()
}

async fn active(s: &TestServer, auth: &str, token: &str) -> bool {
    let r = post_form(&s.url("/introspect"), Some(auth), &format!("token={token}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["active"].as_bool().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn revoked_jwt_is_inactive_and_revocation_is_idempotent() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &auth, &t).await);
    for _ in 0..2 {
        let r = post_form(&s.url("/revoke"), Some(&auth), &format!("token={t}")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    assert!(!active(&s, &auth, &t).await, "revocation list by jti");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_cannot_revoke_another_clients_token() {
    let s = TestServer::start().await;
    let (a, a_secret) = s.cc_client("a", &["x"]).await;
    let (b, b_secret) = s.cc_client("b", &["x"]).await;
    let t = token(&s, &a, &a_secret).await;
    let r = post_form(&s.url("/revoke"), Some(&basic(&b, &b_secret)), &format!("token={t}")).await;
    assert_eq!(r.status, 200, "RFC 7009 §2.2: 200 even though nothing happened");
    assert!(active(&s, &basic(&a, &a_secret), &t).await, "still active");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_tokens_are_inactive() {
    let s = TestServer::start_with(TestOptions { mock_time: Some(1_800_000_000), ..Default::default() }).await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &auth, &t).await);
    s.clock.as_ref().unwrap().advance(3601);
    assert!(!active(&s, &auth, &t).await);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn foreign_and_forged_jwts_are_inactive() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("a", &["x"]).await;
    let auth = basic(&id, &secret);
    let real = token(&s, &id, &secret).await;
    let (header, claims) = jwt_parts(&real);
    // Same kid and claims, signed by a key that is not ours.
    let foreign = SigningKey::generate(Alg::ES256, header["kid"].as_str().unwrap().to_owned()).unwrap();
    let forged = foreign.sign_jwt("at+jwt", &claims).unwrap();
    assert!(!active(&s, &auth, &forged).await);
    // Tampered payload with the real signature.
    let parts: Vec<&str> = real.split('.').collect();
    let mut c2 = claims.clone();
    c2["scope"] = "admin".into();
    let payload =
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, serde_json::to_vec(&c2).unwrap());
    assert!(!active(&s, &auth, &format!("{}.{}.{}", parts[0], payload, parts[2])).await);
    // alg none.
    let none = format!(
        "{}.{}.",
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, br#"{"alg":"none","typ":"at+jwt"}"#),
        parts[1]
    );
    assert!(!active(&s, &auth, &none).await);
    // A token from another Keycard (other issuer and keys).
    let other = TestServer::start().await;
    let (oid, osecret) = other.cc_client("a", &["x"]).await;
    let other_token = token(&other, &oid, &osecret).await;
    assert!(!active(&s, &auth, &other_token).await);
    other.stop().await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_client_deactivates_its_tokens() {
    let s = TestServer::start().await;
    // A resource server for the token's audience: the one caller left once `a` is gone (before
    // issue 14 any client could introspect any token).
    let (rs, rs_secret) = s
        .create_client(ClientSpec {
            id: Some("rs".into()),
            resource_audiences: vec!["https://api.example".into()],
            ..Default::default()
        })
        .await;
    let (id, secret) = s
        .create_client(ClientSpec {
            id: Some("a".into()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["x".into()],
            audience: Some("https://api.example".into()),
            ..Default::default()
        })
        .await;
    let t = token(&s, &id, &secret).await;
    assert!(active(&s, &basic(&rs, &rs_secret), &t).await);
    s.admin().delete_client(&id).await.unwrap();
    s.sync_caches().await;
    assert!(!active(&s, &basic(&rs, &rs_secret), &t).await);
    s.stop().await;
}

/// Introspects `token` as `auth` and checks the RFC 7662 §2.2 envelope (200, JSON, no-store).
async fn introspect(s: &TestServer, auth: &str, token: &str) -> serde_json::Value {
    let r = post_form(&s.url("/introspect"), Some(auth), &format!("token={token}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("no-store"), "RFC 7662 §2.2 / RFC 6749 §5.1");
    r.json()
}

/// SECURITY E4 (RFC 7662 §2.2 and §4: the server MAY answer differently to different protected
/// resources): client B learns nothing about client A's token, JWT or opaque, not even that it
/// exists; A itself still sees its token.
#[tokio::test(flavor = "multi_thread")]
async fn e4_a_client_cannot_introspect_another_clients_token() {
    let s = TestServer::start().await;
    let (a, a_secret) = s.cc_client("a", &["x"]).await;
    let (b, b_secret) = s.cc_client("b", &["x"]).await;
    let (o, o_secret) = s
        .create_client(ClientSpec {
            id: Some("a-opaque".into()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["x".into()],
            token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        })
        .await;
    for (id, secret) in [(&a, &a_secret), (&o, &o_secret)] {
        let t = token(&s, id, secret).await;
        let own = introspect(&s, &basic(id, secret), &t).await;
        assert_eq!(own["active"], true, "{own}");
        assert_eq!(own["client_id"], id.as_str());
        let foreign = introspect(&s, &basic(&b, &b_secret), &t).await;
        assert_eq!(foreign, serde_json::json!({"active": false}), "another client's token ({id})");
    }
    s.stop().await;
}

/// SECURITY E4: a registered resource server introspects tokens whose `aud` it represents, and
/// nothing else; a client that only introspects needs no grant type.
#[tokio::test(flavor = "multi_thread")]
async fn e4_resource_server_sees_only_tokens_for_its_audiences() {
    let s = TestServer::start().await;
    let cc = |id: &str, aud: &str, format: TokenFormat| ClientSpec {
        id: Some(id.into()),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["x".into()],
        audience: Some(aud.into()),
        token_format: Some(format),
        ..Default::default()
    };
    let (rs, rs_secret) = s
        .create_client(ClientSpec {
            id: Some("rs:invoices".into()),
            resource_audiences: vec!["https://invoices.example".into()],
            ..Default::default()
        })
        .await;
    let rs_auth = basic(&rs, &rs_secret);
    for format in [TokenFormat::Jwt, TokenFormat::Opaque] {
        let (mine, mine_secret) =
            s.create_client(cc(&format!("svc-{}", format.as_str()), "https://invoices.example", format)).await;
        let (other, other_secret) =
            s.create_client(cc(&format!("elsewhere-{}", format.as_str()), "https://mail.example", format)).await;
        let t = token(&s, &mine, &mine_secret).await;
        let j = introspect(&s, &rs_auth, &t).await;
        assert_eq!(j["active"], true, "{j}");
        assert_eq!(j["aud"], "https://invoices.example");
        assert_eq!(j["client_id"], mine.as_str());
        let t = token(&s, &other, &other_secret).await;
        assert_eq!(introspect(&s, &rs_auth, &t).await, serde_json::json!({"active": false}), "another audience");
        assert_eq!(introspect(&s, &basic(&other, &other_secret), &t).await["active"], true, "its own client");
    }
    // The introspection-only client cannot get tokens.
    cc_token(&s, &rs, &rs_secret, None).await.assert_error(400, "unauthorized_client");
    s.stop().await;
}

/// Defect 7 of issue 14 (OIDC Core §8): with pairwise subjects, the ID token, the access token
/// (JWT `sub`), introspection and UserInfo all show the same pairwise value, never the internal
/// user id, for JWT and opaque access tokens; two sectors see two values.
#[tokio::test(flavor = "multi_thread")]
async fn pairwise_subject_everywhere_a_client_can_see_it() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c: &mut Config| c.oidc.subject_type = SubjectType::Pairwise),
        ..Default::default()
    })
    .await;
    let (web, web_secret) = code_flow_fixtures(&s).await;
    let (other, other_secret) = s
        .create_client(ClientSpec {
            id: Some("other".into()),
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            redirect_uris: vec!["https://other.example/cb".into()],
            token_format: Some(TokenFormat::Opaque),
            ..Default::default()
        })
        .await;
    let internal = s.admin().user("alice").await.unwrap().id;
    let ua = UserAgent::new(&s.base);
    let mut subs = Vec::new();
    for (client, secret, cb) in
        [(&web, &web_secret, "https://web.example/cb"), (&other, &other_secret, "https://other.example/cb")]
    {
        let t = code_flow_tokens(&s, &ua, client, secret, cb, "openid").await;
        let at = t["access_token"].as_str().unwrap();
        let sub = jwt_parts(t["id_token"].as_str().unwrap()).1["sub"].as_str().unwrap().to_owned();
        assert_ne!(sub, internal, "ID token");
        if !at.starts_with("kc_at_") {
            assert_eq!(jwt_parts(at).1["sub"], sub.as_str(), "JWT access token sub == ID token sub");
        }
        let j = introspect(&s, &basic(client, secret), at).await;
        assert_eq!(j["active"], true, "{j}");
        assert_eq!(j["sub"], sub.as_str(), "introspection sub == ID token sub ({client})");
        let info = send(http().get(s.url("/userinfo")).bearer_auth(at)).await;
        assert_eq!(info.status, 200, "{}", info.body);
        assert_eq!(info.json()["sub"], sub.as_str(), "userinfo sub == ID token sub ({client})");
        assert!(!info.body.contains(&internal) && !j.to_string().contains(&internal), "internal id leaked");
        subs.push(sub);
    }
    assert_ne!(subs[0], subs[1], "two sectors cannot correlate the user");
    s.stop().await;
}

/// Issue 14 defect 3: a resource server can be provisioned declaratively with only
/// `resource_audiences` (no grant type), re-provisioning keeps the role, and it then introspects
/// a token for its audience.
#[tokio::test(flavor = "multi_thread")]
async fn e4_resource_server_from_provisioning() {
    use keycard::config::{Provision, ProvisionClient, Secret};
    let s = TestServer::start().await;
    let rs = |audiences: Vec<String>| ProvisionClient {
        id: "rs:provisioned".into(),
        secret: Some(Secret("rs-provisioned-secret-0123456789".into())),
        resource_audiences: audiences,
        ..Default::default()
    };
    let admin = s.admin();
    let p = Provision { clients: vec![rs(vec!["https://api.example".into()])], ..Default::default() };
    admin.provision(&p).await.unwrap();
    admin.provision(&p).await.unwrap();
    assert_eq!(admin.client("rs:provisioned").await.unwrap().settings.resource_audiences, ["https://api.example"]);
    s.sync_caches().await;
    let (id, secret) = s
        .create_client(ClientSpec {
            id: Some("svc".into()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["x".into()],
            audience: Some("https://api.example".into()),
            ..Default::default()
        })
        .await;
    let t = token(&s, &id, &secret).await;
    let auth = basic("rs:provisioned", "rs-provisioned-secret-0123456789");
    assert_eq!(introspect(&s, &auth, &t).await["active"], true);
    // Neither a grant type nor a resource audience: not a client at all.
    admin.provision(&Provision { clients: vec![rs(vec![])], ..Default::default() }).await.unwrap_err();
    // Another audience: the same token is now none of its business.
    let mut c = admin.client("rs:provisioned").await.unwrap();
    c.settings.resource_audiences = vec!["https://other.example".into()];
    admin.save_client(c).await.unwrap();
    s.sync_caches().await;
    assert_eq!(introspect(&s, &auth, &t).await, serde_json::json!({"active": false}));
    // The issuer is no resource audience: it is the default audience of every token.
    let bad = Provision { clients: vec![rs(vec![s.base.clone()])], ..Default::default() };
    assert!(admin.provision(&bad).await.is_err());
    s.stop().await;
}
