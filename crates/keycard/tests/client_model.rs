//! The client model of issue 9 against a real Keycard, on SQLite and PostgreSQL: every new
//! RFC 7591 §2 field (`application_type`, `jwks`, `jwks_uri`, `token_endpoint_auth_signing_alg`,
//! `dpop_bound_access_tokens`, `require_pushed_authorization_requests`, `device_code_ttl_secs`)
//! through the admin operations, the `keycard client` commands and a provisioning file, each
//! registration refusal, the sealed secret of `client_secret_jwt` clients, RFC 8252 §7.3
//! any-port loopback matching for native clients only (SECURITY A2), a resource server without
//! grants at /introspect, and per-client device-code lifetimes (RFC 8628 §3.2). The same fields
//! in a provisioning file: `client_provisioning.rs`.

mod common;

use common::browser::*;
use common::cli::*;
use common::jwk::*;
use common::*;
use keycard::admin::{AdminError, ClientSpec};
use keycard::client_keys::open_client_secret;
use keycard::model::{ApplicationType, AuthMethod, GrantType};
use keycard::store::conformance::TestDb;
use serde_json::{Value, json};

async fn server(db: Option<TestDb>) -> TestServer {
    TestServer::start_with(TestOptions { db, ..Default::default() }).await
}

fn pkjwt_spec(id: &str) -> ClientSpec {
    ClientSpec {
        id: Some(id.into()),
        auth_method: Some(AuthMethod::PrivateKeyJwt),
        grant_types: vec![GrantType::ClientCredentials],
        scopes: vec!["api:read".into()],
        jwks: Some(jwk_set(&[ec_jwk("ec1")])),
        ..Default::default()
    }
}

// ---- admin: every field round-trips, secrets are sealed and dropped as the method says ---------

async fn admin_round_trip(db: Option<TestDb>) {
    let s = server(db).await;
    let admin = s.admin();
    let spec = ClientSpec {
        application_type: Some(ApplicationType::Native),
        jwks: Some(jwk_set(&[ec_jwk("ec1"), rsa_jwk("rsa1")])),
        token_endpoint_auth_signing_alg: Some("RS256".into()),
        dpop_bound_access_tokens: true,
        require_pushed_authorization_requests: true,
        grant_types: vec![GrantType::ClientCredentials, GrantType::DeviceCode],
        device_code_ttl_secs: Some(120),
        ..pkjwt_spec("pkj")
    };
    let (created, secret) = admin.create_client(&spec).await.unwrap();
    assert!(secret.is_none(), "private_key_jwt: no secret at all");
    let stored = admin.client("pkj").await.unwrap();
    assert_eq!(stored, created);
    assert_eq!(stored.auth_method, AuthMethod::PrivateKeyJwt);
    assert!(stored.secret_hash.is_none() && stored.settings.sealed_secret.is_none());
    let st = &stored.settings;
    assert_eq!(st.application_type, Some(ApplicationType::Native));
    assert_eq!(st.jwks, spec.jwks);
    assert_eq!(st.jwks_uri, None);
    assert_eq!(st.token_endpoint_auth_signing_alg.as_deref(), Some("RS256"));
    assert!(st.dpop_bound_access_tokens && st.require_pushed_authorization_requests);
    assert_eq!(st.device_code_ttl_secs, Some(120));

    // jwks_uri instead of jwks; a resource server needs no grant type at all.
    let (rs, _) = admin
        .create_client(&ClientSpec {
            id: Some("rs:keys".into()),
            auth_method: Some(AuthMethod::PrivateKeyJwt),
            jwks_uri: Some("https://rs.example/jwks.json".into()),
            token_endpoint_auth_signing_alg: Some("PS256".into()),
            resource_audiences: vec!["https://api.example".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(rs.grant_types.is_empty() && rs.secret_hash.is_none());
    assert_eq!(
        admin.client("rs:keys").await.unwrap().settings.jwks_uri.as_deref(),
        Some("https://rs.example/jwks.json")
    );

    // client_secret_jwt: the secret is hashed like any other AND sealed under the KEK.
    let kek = &s.state.secrets.kek;
    let (mac, secret) = admin
        .create_client(&ClientSpec {
            id: Some("mac".into()),
            auth_method: Some(AuthMethod::ClientSecretJwt),
            token_endpoint_auth_signing_alg: Some("HS256".into()),
            grant_types: vec![GrantType::ClientCredentials],
            ..Default::default()
        })
        .await
        .unwrap();
    let secret = secret.expect("client_secret_jwt has a secret, shown once").0;
    assert!(keycard::jose::keyed_hash_matches(
        &s.state.secrets.hash_key,
        secret.as_bytes(),
        mac.secret_hash.as_ref().unwrap()
    ));
    let sealed = mac.settings.sealed_secret.clone().expect("sealed");
    assert!(!sealed.contains(&secret));
    assert_eq!(open_client_secret(kek, "mac", &sealed).unwrap().expose(), &secret);
    assert!(open_client_secret(kek, "pkj", &sealed).is_none(), "bound to the client id");
    // Rotation re-seals.
    let rotated = admin.rotate_client_secret("mac").await.unwrap().0;
    let mac = admin.client("mac").await.unwrap();
    let opened = open_client_secret(kek, "mac", mac.settings.sealed_secret.as_ref().unwrap()).unwrap();
    assert_eq!(opened.expose(), &rotated);
    assert_ne!(rotated, secret);
    // Away from client_secret_jwt: the sealed copy goes, the hash stays (basic uses it).
    let mut basic = mac.clone();
    basic.auth_method = AuthMethod::ClientSecretBasic;
    basic.settings.token_endpoint_auth_signing_alg = None;
    let (basic, new_secret) = admin.update_client(basic).await.unwrap();
    assert!(new_secret.is_none() && basic.settings.sealed_secret.is_none() && basic.secret_hash.is_some());
    assert!(admin.client("mac").await.unwrap().settings.sealed_secret.is_none());
    // Back to client_secret_jwt: nothing to seal from a hash, so a new secret is made and sealed.
    let mut again = basic.clone();
    again.auth_method = AuthMethod::ClientSecretJwt;
    let (again, new_secret) = admin.update_client(again).await.unwrap();
    let new_secret = new_secret.expect("a new secret for the new method").0;
    assert_eq!(
        open_client_secret(kek, "mac", again.settings.sealed_secret.as_ref().unwrap()).unwrap().expose(),
        &new_secret
    );
    // save_client alone refuses what it cannot seal.
    let mut bare = again.clone();
    bare.settings.sealed_secret = None;
    assert!(matches!(admin.save_client(bare).await, Err(AdminError::Invalid(m)) if m.contains("rotate-secret")));
    // To private_key_jwt: the secret is dropped entirely.
    let mut pk = again;
    pk.auth_method = AuthMethod::PrivateKeyJwt;
    pk.settings.jwks = Some(jwk_set(&[ec_jwk("k")]));
    let (pk, none) = admin.update_client(pk).await.unwrap();
    assert!(none.is_none() && pk.secret_hash.is_none() && pk.settings.sealed_secret.is_none());
    // A public client's secret-less rotation is refused, as is a private_key_jwt one's.
    assert!(admin.rotate_client_secret("pkj").await.is_err());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_round_trip_on_sqlite() {
    admin_round_trip(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_round_trip_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    admin_round_trip(Some(db)).await;
}

// ---- every registration refusal names its field ------------------------------------------------

async fn registration_refusals(db: Option<TestDb>) {
    let s = server(db).await;
    let admin = s.admin();
    let mut private = ec_jwk("p");
    private["d"] = EC_D.into();
    let cases: Vec<(&str, ClientSpec, &[&str])> = vec![
        (
            "jwks and jwks_uri together",
            ClientSpec { jwks_uri: Some("https://c.example/jwks".into()), ..pkjwt_spec("c") },
            &["jwks", "jwks_uri", "both"],
        ),
        (
            "private key in jwks",
            ClientSpec { jwks: Some(jwk_set(&[private])), ..pkjwt_spec("c") },
            &["jwks", "private"],
        ),
        (
            "oct key",
            ClientSpec { jwks: Some(jwk_set(&[json!({"kty": "oct", "k": "c2VjcmV0LXNlY3JldA"})])), ..pkjwt_spec("c") },
            &["jwks", "oct"],
        ),
        ("empty JWK Set", ClientSpec { jwks: Some(jwk_set(&[])), ..pkjwt_spec("c") }, &["jwks", "no keys"]),
        ("not a JWK Set", ClientSpec { jwks: Some(json!([ec_jwk("x")])), ..pkjwt_spec("c") }, &["jwks", "keys"]),
        (
            "http jwks_uri on a public host",
            ClientSpec { jwks: None, jwks_uri: Some("http://keys.example/jwks".into()), ..pkjwt_spec("c") },
            &["jwks_uri", "https"],
        ),
        (
            "jwks_uri with a fragment",
            ClientSpec { jwks: None, jwks_uri: Some("https://keys.example/jwks#k".into()), ..pkjwt_spec("c") },
            &["jwks_uri", "fragment"],
        ),
        ("private_key_jwt without keys", ClientSpec { jwks: None, ..pkjwt_spec("c") }, &["private_key_jwt", "jwks"]),
        (
            "alg none",
            ClientSpec { token_endpoint_auth_signing_alg: Some("none".into()), ..pkjwt_spec("c") },
            &["token_endpoint_auth_signing_alg", "none"],
        ),
        (
            "alg that no key allows",
            ClientSpec { token_endpoint_auth_signing_alg: Some("RS256".into()), ..pkjwt_spec("c") },
            &["token_endpoint_auth_signing_alg", "no key", "RS256"],
        ),
        (
            "HMAC alg for private_key_jwt",
            ClientSpec { token_endpoint_auth_signing_alg: Some("HS256".into()), ..pkjwt_spec("c") },
            &["token_endpoint_auth_signing_alg", "private_key_jwt"],
        ),
        (
            "asymmetric alg for client_secret_jwt",
            ClientSpec {
                auth_method: Some(AuthMethod::ClientSecretJwt),
                jwks: None,
                token_endpoint_auth_signing_alg: Some("ES256".into()),
                ..pkjwt_spec("c")
            },
            &["token_endpoint_auth_signing_alg", "HS256"],
        ),
        (
            "signing alg on a client_secret_basic client",
            ClientSpec {
                auth_method: Some(AuthMethod::ClientSecretBasic),
                jwks: None,
                token_endpoint_auth_signing_alg: Some("ES256".into()),
                ..pkjwt_spec("c")
            },
            &["token_endpoint_auth_signing_alg", "client_secret_basic"],
        ),
        (
            "device TTL too short",
            ClientSpec { grant_types: vec![GrantType::DeviceCode], device_code_ttl_secs: Some(59), ..pkjwt_spec("c") },
            &["device_code_ttl_secs", "60", "3600"],
        ),
        (
            "device TTL too long",
            ClientSpec {
                grant_types: vec![GrantType::DeviceCode],
                device_code_ttl_secs: Some(3601),
                ..pkjwt_spec("c")
            },
            &["device_code_ttl_secs", "3600"],
        ),
        (
            "device TTL without the device grant",
            ClientSpec { device_code_ttl_secs: Some(600), ..pkjwt_spec("c") },
            &["device_code_ttl_secs", "device_code grant"],
        ),
        ("a public client with a private_key_jwt method", ClientSpec { public: true, ..pkjwt_spec("c") }, &["public"]),
    ];
    for (what, spec, words) in cases {
        match admin.create_client(&spec).await {
            Err(AdminError::Invalid(m)) => {
                for w in words {
                    assert!(m.contains(w), "{what}: {m:?} should mention {w:?}");
                }
                assert!(!m.contains(EC_D), "{what}: no key material in the error");
                assert_eq!(m.lines().count(), 1, "{what}: one line");
            }
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
        assert!(s.state.store.get_client("c").await.unwrap().is_none(), "{what}: nothing stored");
    }
    // The same rules on update.
    let (c, _) = admin.create_client(&pkjwt_spec("ok")).await.unwrap();
    let mut bad = c.clone();
    bad.settings.jwks_uri = Some("https://c.example/jwks".into());
    assert!(admin.save_client(bad).await.is_err(), "jwks + jwks_uri on update");
    let mut bad = c.clone();
    bad.settings.token_endpoint_auth_signing_alg = Some("none".into());
    assert!(admin.save_client(bad).await.is_err(), "alg none on update");
    assert_eq!(admin.client("ok").await.unwrap(), c, "unchanged");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_refusals_on_sqlite() {
    registration_refusals(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn registration_refusals_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    registration_refusals(Some(db)).await;
}

// ---- the CLI: create, show (human and JSON), update, list -------------------------------------

/// A config file for the CLI on `db`'s database.
fn cli_config(d: &Dir, db: &TestDb) -> std::path::PathBuf {
    d.config(&format!("secret = \"client-model-test-secret-0123456789abcdef\"\n[database]\nurl = {:?}\n", db.url))
}

async fn cli_round_trip(db: Option<TestDb>) {
    let db = db.unwrap_or_else(TestDb::sqlite);
    let d = Dir::new();
    let cfg = cli_config(&d, &db);
    let jwks_file = d.path().join("jwks.json");
    std::fs::write(&jwks_file, jwk_set(&[ec_jwk("ec1"), rsa_jwk("rsa1")]).to_string()).unwrap();
    let jwks_path = jwks_file.to_str().unwrap();

    let created = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "Signing service",
            "--id",
            "svc",
            "--grant",
            "client_credentials",
            "--grant",
            "device_code",
            "--scope",
            "api:read",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            jwks_path,
            "--token-endpoint-auth-signing-alg",
            "RS256",
            "--application-type",
            "web",
            "--dpop-bound-access-tokens",
            "--require-pushed-authorization-requests",
            "--device-code-ttl",
            "300",
            "--json",
        ],
    ));
    assert_eq!(created["client_secret"], Value::Null, "private_key_jwt: no secret printed or made");
    let shown = ok_json(&keycard(&cfg, &["client", "show", "svc", "--json"]));
    for v in [&created, &shown] {
        assert_eq!(v["token_endpoint_auth_method"], "private_key_jwt");
        assert_eq!(v["application_type"], "web");
        assert_eq!(v["application_type_inferred"], false);
        assert_eq!(v["token_endpoint_auth_signing_alg"], "RS256");
        assert_eq!(v["dpop_bound_access_tokens"], true);
        assert_eq!(v["require_pushed_authorization_requests"], true);
        assert_eq!(v["device_code_ttl_secs"], 300);
        assert_eq!(v["jwks_uri"], Value::Null);
        assert_eq!(v["jwks"]["key_count"], 2);
        let keys = v["jwks"]["keys"].as_array().unwrap();
        assert_eq!(keys[0]["kid"], "ec1");
        assert_eq!(keys[1]["kid"], "rsa1");
        assert_eq!(keys[1]["kty"], "RSA");
        assert_eq!(keys[1]["thumbprint"], RSA_THUMBPRINT, "RFC 7638 §3.1");
    }
    let human = keycard(&cfg, &["client", "show", "svc"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(human.status.success(), "{}", stderr(&human));
    for want in [
        "private_key_jwt",
        "app type:      web",
        "2 key(s)",
        "kid rsa1 (RSA)",
        RSA_THUMBPRINT,
        "RS256",
        "DPoP",
        "PAR",
        "300s",
    ] {
        assert!(text.contains(want), "client show prints {want:?}: {text}");
    }

    // Update: the booleans off, the TTL back to the server default, keys by URI instead.
    let updated = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "update",
            "svc",
            "--no-dpop-bound-access-tokens",
            "--no-require-pushed-authorization-requests",
            "--device-code-ttl",
            "0",
            "--jwks-uri",
            "https://svc.example/jwks.json",
            "--application-type",
            "native",
            "--token-endpoint-auth-signing-alg",
            "PS256",
            "--json",
        ],
    ));
    assert_eq!(updated["dpop_bound_access_tokens"], false);
    assert_eq!(updated["require_pushed_authorization_requests"], false);
    assert_eq!(updated["device_code_ttl_secs"], Value::Null);
    assert_eq!(updated["jwks"], Value::Null, "--jwks-uri replaces the inline keys");
    assert_eq!(updated["jwks_uri"], "https://svc.example/jwks.json");
    assert_eq!(updated["application_type"], "native");
    assert_eq!(updated["token_endpoint_auth_signing_alg"], "PS256");
    let on = ok_json(&keycard(&cfg, &["client", "update", "svc", "--dpop-bound-access-tokens", "--json"]));
    assert_eq!(on["dpop_bound_access_tokens"], true);
    assert_eq!(on["jwks_uri"], "https://svc.example/jwks.json", "other fields stay");

    // client_secret_jwt: the secret is printed once at creation, and never by show.
    let mac = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "MAC",
            "--id",
            "mac",
            "--grant",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
            "--token-endpoint-auth-signing-alg",
            "HS256",
            "--json",
        ],
    ));
    let secret = mac["client_secret"].as_str().expect("secret printed once").to_owned();
    assert!(secret.starts_with("kc_cs_"));
    let human = keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "MAC 2",
            "--id",
            "mac2",
            "--grant",
            "client_credentials",
            "--auth-method",
            "client_secret_jwt",
        ],
    );
    assert!(String::from_utf8_lossy(&human.stdout).contains("client_secret: kc_cs_"), "{}", stderr(&human));
    for args in [&["client", "show", "mac", "--json"][..], &["client", "show", "mac"], &["client", "list", "--json"]] {
        let o = keycard(&cfg, args);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success());
        assert!(!out.contains(&secret) && !out.contains("sealed"), "{args:?} never shows the secret: {out}");
    }
    // Rotating re-seals; the new one is printed once.
    let rotated = ok_json(&keycard(&cfg, &["client", "rotate-secret", "mac", "--json"]));
    assert!(rotated["client_secret"].as_str().is_some_and(|s| s != secret));

    // --jwks - reads stdin; a switch of method on update.
    let o = keycard_stdin(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "Stdin",
            "--id",
            "stdin",
            "--grant",
            "client_credentials",
            "--auth-method",
            "private_key_jwt",
            "--jwks",
            "-",
            "--json",
        ],
        &jwk_set(&[ec_jwk("from-stdin")]).to_string(),
    );
    assert_eq!(ok_json(&o)["jwks"]["keys"][0]["kid"], "from-stdin");
    let switched =
        ok_json(&keycard(&cfg, &["client", "update", "stdin", "--auth-method", "client_secret_basic", "--json"]));
    assert_eq!(switched["token_endpoint_auth_method"], "client_secret_basic");
    assert!(
        switched["client_secret"].as_str().is_some_and(|s| s.starts_with("kc_cs_")),
        "the new method needs a secret: printed once"
    );

    // The list names each client's application type and method.
    let list = keycard(&cfg, &["client", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("APP") && text.contains("AUTH"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("svc ") && l.contains("native") && l.contains("private_key_jwt")),
        "{text}"
    );

    // Refusals: one line on stderr naming the field, exit code 1, nothing created.
    let mut private = ec_jwk("p");
    private["d"] = EC_D.into();
    let bad_file = d.path().join("private.json");
    std::fs::write(&bad_file, jwk_set(&[private]).to_string()).unwrap();
    let bad = bad_file.to_str().unwrap();
    for (args, word) in [
        (vec!["--auth-method", "private_key_jwt", "--jwks", bad], "private"),
        (vec!["--auth-method", "private_key_jwt", "--jwks-uri", "http://keys.example/jwks"], "jwks_uri"),
        (
            vec!["--auth-method", "private_key_jwt", "--jwks", jwks_path, "--token-endpoint-auth-signing-alg", "none"],
            "none",
        ),
        (vec!["--token-endpoint-auth-signing-alg", "ES256"], "client_secret_basic"),
        (vec!["--auth-method", "private_key_jwt", "--jwks", jwks_path, "--jwks-uri", "https://k.example/j"], "jwks"),
        (vec!["--application-type", "desktop"], "application"),
        (vec!["--grant", "device_code", "--device-code-ttl", "5"], "device_code_ttl_secs"),
    ] {
        let mut full = vec!["client", "create", "--name", "Bad", "--id", "bad", "--grant", "client_credentials"];
        full.extend(args.iter().copied());
        let o = keycard(&cfg, &full);
        let e = stderr(&o);
        assert!(!o.status.success(), "{args:?} refused");
        assert!(e.contains(word), "{args:?}: {e}");
        assert!(!e.contains(EC_D), "no key material: {e}");
    }
    let o = keycard(&cfg, &["client", "show", "bad"]);
    assert!(!o.status.success(), "nothing was created");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_round_trip_on_sqlite() {
    cli_round_trip(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_round_trip_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    cli_round_trip(Some(db)).await;
}

// ---- SECURITY A2: loopback ports for native clients only ---------------------------------------

/// SECURITY A2 (RFC 8252 §7.3, issue 9): a web client's loopback redirect URI (a local dev server)
/// matches exactly, port included, at /authorize; native clients (explicit, or public loopback
/// clients registered before `application_type` existed) match on any port.
async fn a2_loopback_ports_by_application_type(db: Option<TestDb>) {
    let s = server(db).await;
    fixtures(&s).await;
    let loopback = |id: &str, public: bool, app: Option<ApplicationType>| ClientSpec {
        id: Some(id.into()),
        public,
        application_type: app,
        grant_types: vec![GrantType::AuthorizationCode],
        scopes: vec!["openid".into()],
        redirect_uris: vec!["http://127.0.0.1:3000/cb".into()],
        ..Default::default()
    };
    let (_, web_secret) = s.create_client(loopback("devweb", false, Some(ApplicationType::Web))).await;
    s.create_client(loopback("devweb-inferred", false, None)).await;
    s.create_client(loopback("spa-local", true, Some(ApplicationType::Web))).await;
    s.create_client(loopback("app-native", false, Some(ApplicationType::Native))).await;
    s.create_client(loopback("app-public", true, Some(ApplicationType::Native))).await;
    s.create_client(loopback("app-old", true, None)).await;
    assert_eq!(s.admin().client("app-old").await.unwrap().application_type(), ApplicationType::Native);
    assert_eq!(s.admin().client("devweb-inferred").await.unwrap().application_type(), ApplicationType::Web);

    let ua = UserAgent::new(&s.base);
    for web in ["devweb", "devweb-inferred", "spa-local"] {
        for other in ["http://127.0.0.1:3001/cb", "http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"] {
            let r = ua.get(&AuthReq::new(web, other, "openid").url()).await;
            assert_error_page(&r, &format!("A2 web client {web} at {other}"));
        }
        let r = UserAgent::new(&s.base).get(&AuthReq::new(web, "http://127.0.0.1:3000/cb", "openid").url()).await;
        assert!(r.location().starts_with("/login?"), "{web}: the registered port is accepted: {}", r.location());
    }
    for native in ["app-native", "app-public", "app-old"] {
        for port in
            ["http://127.0.0.1:3000/cb", "http://127.0.0.1:3001/cb", "http://127.0.0.1/cb", "http://127.0.0.1:51004/cb"]
        {
            let r = UserAgent::new(&s.base).get(&AuthReq::new(native, port, "openid").url()).await;
            assert!(r.location().starts_with("/login?"), "{native} at {port}: {}", r.location());
        }
        // Port flexibility, nothing else (the rest of the A2 matrix is in authorize_endpoint.rs).
        let r = ua.get(&AuthReq::new(native, "http://127.0.0.1:3001/cb2", "openid").url()).await;
        assert_error_page(&r, &format!("A2 {native} path"));
    }
    // End to end: the web client's code at its registered port, and the native one's at another.
    let req = AuthReq::new("devweb", "http://127.0.0.1:3000/cb", "openid");
    let code = code_via(&s, &UserAgent::new(&s.base), &req, "alice", ALICE_PW).await;
    assert!(tokens(&s, &req, &code, Some(&web_secret)).await["access_token"].is_string());
    let req = AuthReq::new("app-public", "http://127.0.0.1:43117/cb", "openid");
    let code = code_via(&s, &UserAgent::new(&s.base), &req, "alice", ALICE_PW).await;
    assert!(tokens(&s, &req, &code, None).await["access_token"].is_string());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a2_loopback_ports_by_application_type_on_sqlite() {
    a2_loopback_ports_by_application_type(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a2_loopback_ports_by_application_type_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    a2_loopback_ports_by_application_type(Some(db)).await;
}

// ---- a resource server without grants introspects ---------------------------------------------

async fn resource_server_without_grants(db: Option<TestDb>) {
    let s = server(db).await;
    let (rs, rs_secret) = s
        .create_client(ClientSpec {
            id: Some("rs:api".into()),
            resource_audiences: vec!["https://api.example".into()],
            ..Default::default()
        })
        .await;
    assert!(s.admin().client(&rs).await.unwrap().grant_types.is_empty());
    let (cc, cc_secret) = s
        .create_client(ClientSpec {
            id: Some("svc".into()),
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["api:read".into()],
            audience: Some("https://api.example".into()),
            ..Default::default()
        })
        .await;
    let t = cc_token(&s, &cc, &cc_secret, Some("api:read")).await;
    let token = t.json()["access_token"].as_str().unwrap().to_owned();
    let r = post_form(&s.url("/introspect"), Some(&basic(&rs, &rs_secret)), &format!("token={token}")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["active"], true, "{}", r.body);
    assert_eq!(r.json()["client_id"], "svc");
    // It authenticates, but may not get tokens itself.
    let r = post_form(&s.url("/token"), Some(&basic(&rs, &rs_secret)), "grant_type=client_credentials").await;
    r.assert_error(400, "unauthorized_client");
    // And a wrong secret is still refused at /introspect.
    let r = post_form(&s.url("/introspect"), Some(&basic(&rs, "wrong-secret")), &format!("token={token}")).await;
    r.assert_error(401, "invalid_client");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_server_without_grants_on_sqlite() {
    resource_server_without_grants(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn resource_server_without_grants_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    resource_server_without_grants(Some(db)).await;
}

// ---- per-client device-code lifetime -----------------------------------------------------------

async fn device_code_ttl_per_client(db: Option<TestDb>) {
    let s = server(db).await;
    let tv = |id: &str, ttl: Option<i64>| ClientSpec {
        id: Some(id.into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode],
        scopes: vec!["openid".into()],
        device_code_ttl_secs: ttl,
        ..Default::default()
    };
    s.create_client(tv("tv-short", Some(120))).await;
    s.create_client(tv("tv-default", None)).await;
    for (id, want) in [("tv-short", 120), ("tv-default", s.state.config.device.code_ttl_secs)] {
        let r = post_form(&s.url("/device_authorization"), None, &format!("client_id={id}&scope=openid")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = r.json();
        assert_eq!(v["expires_in"], want, "{id}: RFC 8628 §3.2 expires_in");
        let code = v["device_code"].as_str().unwrap();
        let hash = keycard::jose::keyed_hash(&s.state.secrets.hash_key, code.as_bytes());
        let row = s.state.store.get_device(&hash).await.unwrap().expect("stored");
        assert_eq!(row.expires_at - row.created_at, want, "{id}: the stored expiry");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_ttl_per_client_on_sqlite() {
    device_code_ttl_per_client(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_ttl_per_client_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    device_code_ttl_per_client(Some(db)).await;
}
