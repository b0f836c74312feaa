//! The client model of issue 9 in a provisioning file (RFC 7591 §2 names, `keycard.example.toml`):
//! applied at start-up and again on SQLite and PostgreSQL (as the bench provisions its
//! private_key_jwt + DPoP client), and each bad value failing `keycard config check` with one
//! line that names the key. The same fields through the admin operations and the CLI:
//! `client_model.rs`.

mod common;

use common::cli::*;
use common::jwk::*;
use common::*;
use keycard::client_keys::open_client_secret;
use keycard::model::{ApplicationType, AuthMethod};
use keycard::store::conformance::TestDb;
use serde_json::json;

/// The provisioning entries of the new keys, as an operator (and the bench) writes them.
fn provision_toml() -> String {
    let ec = ec_jwk("bench-1");
    format!(
        r#"
[[provision.clients]]
id = "bench:pkjwt"
auth_method = "private_key_jwt"
grant_types = ["client_credentials"]
scopes = ["api:read"]
dpop_bound_access_tokens = true
token_endpoint_auth_signing_alg = "ES256"
jwks = {{ keys = [ {{ kty = "EC", crv = "P-256", kid = "bench-1", x = "{x}", y = "{y}" }} ] }}

[[provision.clients]]
id = "desktop"
token_endpoint_auth_method = "none"
application_type = "native"
grant_types = ["authorization_code"]
redirect_uris = ["http://127.0.0.1/callback"]
require_pushed_authorization_requests = true

[[provision.clients]]
id = "mac"
token_endpoint_auth_method = "client_secret_jwt"
secret = "mac-provisioned-secret-0123456789"
token_endpoint_auth_signing_alg = "HS256"
grant_types = ["client_credentials"]

[[provision.clients]]
id = "tv"
auth_method = "none"
grant_types = ["device_code"]
device_code_ttl_secs = 90

[[provision.clients]]
id = "by-uri"
auth_method = "private_key_jwt"
jwks_uri = "https://keys.example/jwks.json"
application_type = "web"
resource_audiences = ["https://api.example"]
"#,
        x = ec["x"].as_str().unwrap(),
        y = ec["y"].as_str().unwrap()
    )
}

async fn provisioning_applies_the_new_keys(db: Option<TestDb>) {
    let d = Dir::new();
    let file = d.config(&provision_toml());
    let check = keycard(&file, &["config", "check"]);
    assert!(check.status.success(), "config check: {}", stderr(&check));
    let cfg = keycard::config::Config::load(Some(&file)).expect("the provisioning file loads");
    let provision = cfg.provision.clone();
    let s = TestServer::start_with(TestOptions {
        db,
        configure: Box::new(move |c| c.provision = provision),
        ..Default::default()
    })
    .await;
    let admin = s.admin();
    let bench = admin.client("bench:pkjwt").await.unwrap();
    assert_eq!(bench.auth_method, AuthMethod::PrivateKeyJwt);
    assert!(bench.secret_hash.is_none());
    assert!(bench.settings.dpop_bound_access_tokens);
    assert_eq!(
        bench.settings.jwks,
        Some(jwk_set(&[
            json!({"kty": "EC", "crv": "P-256", "kid": "bench-1", "x": ec_jwk("").get("x"), "y": ec_jwk("").get("y")})
        ]))
    );
    assert_eq!(bench.settings.token_endpoint_auth_signing_alg.as_deref(), Some("ES256"));
    let desktop = admin.client("desktop").await.unwrap();
    assert!(desktop.is_public());
    assert_eq!(desktop.settings.application_type, Some(ApplicationType::Native));
    assert!(desktop.settings.require_pushed_authorization_requests);
    let mac = admin.client("mac").await.unwrap();
    assert_eq!(mac.auth_method, AuthMethod::ClientSecretJwt);
    let sealed = mac.settings.sealed_secret.clone().expect("sealed");
    let kek = &s.state.secrets.kek;
    assert_eq!(open_client_secret(kek, "mac", &sealed).unwrap().expose(), "mac-provisioned-secret-0123456789");
    assert_eq!(admin.client("tv").await.unwrap().settings.device_code_ttl_secs, Some(90));
    let by_uri = admin.client("by-uri").await.unwrap();
    assert_eq!(by_uri.settings.jwks_uri.as_deref(), Some("https://keys.example/jwks.json"));
    assert!(by_uri.grant_types.is_empty());

    // Applied again (every start): the same, the sealed secret kept while the secret is unchanged.
    let lines = admin.provision(&cfg.provision).await.unwrap();
    assert!(lines.iter().any(|l| l.contains("\"mac\" updated")), "{lines:?}");
    let again = admin.client("mac").await.unwrap();
    assert_eq!(again.settings.sealed_secret.as_deref(), Some(sealed.as_str()));
    assert_eq!(admin.client("bench:pkjwt").await.unwrap().settings, bench.settings);
    // A changed provisioning entry changes the client (the DPoP flag off, another TTL).
    let mut changed = cfg.provision.clone();
    changed.clients[0].dpop_bound_access_tokens = false;
    changed.clients[3].device_code_ttl_secs = Some(300);
    admin.provision(&changed).await.unwrap();
    assert!(!admin.client("bench:pkjwt").await.unwrap().settings.dpop_bound_access_tokens);
    assert_eq!(admin.client("tv").await.unwrap().settings.device_code_ttl_secs, Some(300));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_applies_the_new_keys_on_sqlite() {
    provisioning_applies_the_new_keys(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioning_applies_the_new_keys_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    provisioning_applies_the_new_keys(Some(db)).await;
}

/// A bad value in a provisioned client fails `config check` (exit 1, one line) and names the key.
#[test]
fn provisioning_refusals_name_the_key() {
    let ec = ec_jwk("k");
    let (x, y) = (ec["x"].as_str().unwrap(), ec["y"].as_str().unwrap());
    let client =
        |body: &str| format!("[[provision.clients]]\nid = \"c\"\ngrant_types = [\"client_credentials\"]\n{body}\n");
    let jwks = format!("jwks = {{ keys = [ {{ kty = \"EC\", crv = \"P-256\", x = \"{x}\", y = \"{y}\" }} ] }}");
    let cases = [
        (
            client(&format!("auth_method = \"private_key_jwt\"\njwks = {{ keys = [ {{ kty = \"EC\", crv = \"P-256\", x = \"{x}\", y = \"{y}\", d = \"{EC_D}\" }} ] }}")),
            "provision.clients[0].jwks",
        ),
        (client("auth_method = \"private_key_jwt\"\njwks = { keys = [ { kty = \"oct\", k = \"c2VjcmV0\" } ] }"), "provision.clients[0].jwks"),
        (client("auth_method = \"private_key_jwt\"\njwks_uri = \"http://keys.example/jwks\""), "provision.clients[0].jwks_uri"),
        (client(&format!("auth_method = \"private_key_jwt\"\n{jwks}\njwks_uri = \"https://keys.example/jwks\"")), "provision.clients[0].jwks"),
        (client(&format!("auth_method = \"private_key_jwt\"\n{jwks}\ntoken_endpoint_auth_signing_alg = \"none\"")), "provision.clients[0].token_endpoint_auth_signing_alg"),
        (client(&format!("auth_method = \"private_key_jwt\"\n{jwks}\ntoken_endpoint_auth_signing_alg = \"RS256\"")), "provision.clients[0].token_endpoint_auth_signing_alg"),
        (client("secret = \"s-0123456789\"\ntoken_endpoint_auth_signing_alg = \"ES256\""), "provision.clients[0].token_endpoint_auth_signing_alg"),
        (client("auth_method = \"private_key_jwt\""), "provision.clients[0].jwks"),
        (client(&format!("auth_method = \"private_key_jwt\"\n{jwks}\nsecret = \"s-0123456789\"")), "provision.clients[0].secret"),
        (client("auth_method = \"client_secret_jwt\"\nsecret_hash = \"abc\""), "provision.clients[0].secret"),
        (client("secret = \"s-0123456789\"\ndevice_code_ttl_secs = 600"), "provision.clients[0].device_code_ttl_secs"),
        (
            "[[provision.clients]]\nid = \"c\"\nauth_method = \"none\"\ngrant_types = [\"urn:ietf:params:oauth:grant-type:device_code\"]\ndevice_code_ttl_secs = 30\n".into(),
            "provision.clients[0].device_code_ttl_secs",
        ),
        (client("secret = \"s-0123456789\"\napplication_type = \"desktop\""), "application_type"),
        (client("secret = \"s-0123456789\"\nauth_method = \"client_secret_basic\"\ntoken_endpoint_auth_method = \"client_secret_post\""), "auth_method"),
    ];
    let d = Dir::new();
    for (toml, key) in cases {
        let file = d.config(&toml);
        let o = keycard(&file, &["config", "check"]);
        let e = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{toml}\n{e}");
        assert!(e.contains(key), "{toml}\nnames {key}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "one line: {e}");
        assert!(!e.contains(EC_D), "no key material: {e}");
    }
}
