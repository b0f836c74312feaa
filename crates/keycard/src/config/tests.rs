//! Loading and validation: every error names its key; the example file documents every key.

use super::*;
use std::path::Path;

fn load_str(toml: &str) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("k.toml");
    std::fs::write(&p, toml).unwrap();
    Config::load(Some(&p))
}

/// `Config::load_toml` (what the config fuzz target calls) is `Config::load` without the file:
/// the same configuration for a valid document, the same error for an invalid one.
#[test]
fn load_toml_matches_load_of_a_file() {
    let docs = [
        "issuer = \"https://auth.example\"\n[tokens]\naccess_token_ttl_secs = 600\n",
        "[http]\nlistne = 3\n",
        "[tokens]\naccess_token_ttl_secs = \"long\"\n",
        "issuer = \"ftp://x\"\n",
        "[[provision.clients]]\nid = \"svc\"\ngrant_types = [\"client_credentials\"]\n",
    ];
    let without_source = |e: &ConfigError| e.0.split(" (from").next().unwrap_or_default().to_owned();
    for doc in docs {
        match (load_str(doc), Config::load_toml(doc)) {
            (Ok(a), Ok(b)) => {
                assert_eq!((a.issuer, a.tokens.access_token_ttl_secs), (b.issuer, b.tokens.access_token_ttl_secs));
                assert_eq!(a.provision.clients.len(), b.provision.clients.len());
            }
            (Err(a), Err(b)) => assert_eq!(without_source(&a), without_source(&b), "{doc:?}"),
            (a, b) => panic!("{doc:?}: from a file {:?}, from text {:?}", a.err(), b.err()),
        }
    }
}

/// Found by the fuzz target `config` (issue 10 item 7): a TOML syntax error was a five-line
/// message (the parser quotes the source with a caret), where every configuration error is one
/// line naming the key or the place (load.rs).
#[test]
fn a_toml_syntax_error_is_one_line() {
    for doc in ["[", "a = ", "[http]\nlisten = \"x\"\n[http]\n", "a = \"\n\""] {
        let e = Config::load_toml(doc).unwrap_err();
        assert!(!e.0.contains('\n'), "{doc:?}: {e}");
        assert!(e.0.contains("TOML parse error at line"), "{doc:?}: {e}");
    }
    let e = Config::load_toml("[").unwrap_err();
    assert!(e.0.contains("line 1, column 1: invalid table header"), "{e}");
}

#[test]
fn defaults_need_no_file() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(c.issuer, "http://127.0.0.1:8080");
    assert_eq!(c.database_url(), "sqlite://data/keycard.db");
    assert!(!c.insecure_issuer());
}

#[test]
fn unknown_key_is_named() {
    let e = load_str("[http]\nlisten = \"127.0.0.1:1\"\nlistne = 3\n").unwrap_err();
    assert!(e.0.contains("listne"), "{e}");
}

#[test]
fn bad_value_is_named() {
    let e = load_str("[http]\nbody_limit_bytes = \"lots\"\n").unwrap_err();
    assert!(e.0.contains("http.body_limit_bytes"), "{e}");
    let e = load_str("issuer = \"ftp://x\"\n").unwrap_err();
    assert!(e.0.contains("`issuer`"), "{e}");
    let e = load_str("[keys]\naccess_token_alg = \"HS256\"\n").unwrap_err();
    assert!(e.0.contains("keys.access_token_alg"), "{e}");
    let e = load_str("[http]\ntrusted_proxies = [\"10.0.0.1/8\"]\n").unwrap_err();
    assert!(e.0.contains("http.trusted_proxies") && e.0.contains("10.0.0.0/8"), "{e}");
    for bad in [0, 4095, 256 * 1024 + 1] {
        let e = load_str(&format!("[http]\nmax_header_bytes = {bad}\n")).unwrap_err();
        assert!(e.0.contains("http.max_header_bytes") && e.0.contains("4096"), "{e}");
    }
    assert_eq!(load_str("[http]\nmax_header_bytes = 4096\n").unwrap().http.max_header_bytes, 4096);
    assert_eq!(load_str("").unwrap().http.max_header_bytes, 16 * 1024, "16 KiB by default");
    let e = load_str("[database]\nsqlite_synchronous = \"sometimes\"\n").unwrap_err();
    assert!(e.0.contains("database.sqlite_synchronous"), "{e}");
    assert_eq!(
        load_str("[database]\nsqlite_synchronous = \"full\"\n").unwrap().database.sqlite_synchronous,
        super::SqliteSynchronous::Full
    );
    let e = load_str("[login]\nclient_max_failures = 0\n").unwrap_err();
    assert!(e.0.contains("login.client_max_failures"), "{e}");
    assert_eq!(
        load_str("[http]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1\"]\n").unwrap().http.trusted_proxies.len(),
        2
    );
}

#[test]
fn missing_file_is_an_error() {
    assert!(Config::load(Some(Path::new("/nonexistent/keycard.toml"))).is_err());
}

#[test]
fn example_config_parses_and_documents_every_key() {
    let text = include_str!("../../../../keycard.example.toml");
    // Every line is commented out in the example; uncomment the assignments and parse them.
    let uncommented: String = text
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .filter(|l| (l.contains(" = ") || l.starts_with('[')) && !l.starts_with("provision_file"))
                .unwrap_or("")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let c = load_str(&uncommented).unwrap();
    c.validate().unwrap();
    let dumped = toml_keys(&serde_json::to_value(Config::default()).unwrap(), "");
    for key in dumped {
        let leaf = key.rsplit('.').next().unwrap();
        assert!(text.contains(&format!("{leaf} =")), "keycard.example.toml lacks `{key}`");
    }
}

fn toml_keys(v: &serde_json::Value, prefix: &str) -> Vec<String> {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(k, _)| k.as_str() != "provision")
            .flat_map(|(k, v)| {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match v {
                    serde_json::Value::Object(_) => toml_keys(v, &p),
                    _ => vec![p],
                }
            })
            .collect(),
        _ => vec![],
    }
}

#[test]
fn retention_shorter_than_the_login_window_is_an_error() {
    // SECURITY G9: purging throttle rows before their window ends would reset the counters.
    let e = load_str("[cleanup]\nretention_secs = 899\n").unwrap_err();
    assert!(e.0.contains("cleanup.retention_secs") && e.0.contains("login.window_secs"), "{e}");
    let e = load_str("[login]\nwindow_secs = 7200\n").unwrap_err();
    assert!(e.0.contains("cleanup.retention_secs"), "{e}");
    load_str("[cleanup]\nretention_secs = 900\n").unwrap();
    load_str("[login]\nwindow_secs = 60\n[cleanup]\nretention_secs = 60\n").unwrap();
}

#[test]
fn plain_http_issuer_off_loopback_needs_the_development_switch() {
    for issuer in ["http://auth.example", "http://10.0.0.5:8080", "http://[2001:db8::1]"] {
        let e = load_str(&format!("issuer = \"{issuer}\"\n")).unwrap_err();
        assert!(e.0.contains("`issuer`") && e.0.contains("insecure_http"), "{issuer}: {e}");
        let c = load_str(&format!("issuer = \"{issuer}\"\ninsecure_http = true\n")).unwrap();
        assert!(c.insecure_http && c.insecure_issuer(), "{issuer}");
    }
    for issuer in ["http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:9000", "http://localhost:8080"] {
        let c = load_str(&format!("issuer = \"{issuer}\"\n")).unwrap();
        assert!(!c.insecure_issuer(), "{issuer}");
    }
    load_str("issuer = \"https://auth.example\"\n").unwrap();
}

#[test]
fn dump_redacts_the_database_password() {
    let c = Config {
        database: DatabaseConfig {
            url: Some("postgres://kc:hunter2-secret@db.internal:5432/kc".into()),
            ..DatabaseConfig::default()
        },
        ..Config::default()
    };
    let mut c = c;
    c.provision.users.push(ProvisionUser {
        username: "alice".into(),
        email: None,
        name: None,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        password: Some(Secret("dev-only-password".into())),
        disabled: false,
    });
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["database"]["url"], "postgres://kc:***@db.internal:5432/kc");
    let user = &v["provision"]["users"][0];
    assert_eq!((&user["password_hash"], &user["password"]), (&"<redacted>".into(), &"<redacted>".into()));
    assert!(!format!("{c:?}").contains("hunter2"), "Debug redacts it too");
    assert_eq!(c.database_url(), "postgres://kc:hunter2-secret@db.internal:5432/kc", "the real URL connects");
}

#[test]
fn insecure_issuer_detected() {
    let c = Config { issuer: "http://auth.example".into(), ..Config::default() };
    assert!(c.insecure_issuer());
    let c = Config { issuer: "https://auth.example".into(), ..Config::default() };
    assert!(!c.insecure_issuer());
}

/// `[mail]`: a bad sender, relay or lifetime names its key; the SMTP password never shows.
#[test]
fn mail_settings_are_checked_and_the_password_redacted() {
    let e = load_str("[mail]\nsender = \"carrier-pigeon\"\n").unwrap_err();
    assert!(e.0.contains("mail.sender"), "{e}");
    let e = load_str("[mail]\nsender = \"smtp\"\n").unwrap_err();
    assert!(e.0.contains("mail.smtp.host"), "{e}");
    let e = load_str("[mail]\nfrom = \"not an address\"\n").unwrap_err();
    assert!(e.0.contains("mail.from"), "{e}");
    let e = load_str("[mail]\nreset_ttl_secs = 5\n").unwrap_err();
    assert!(e.0.contains("mail.reset_ttl_secs"), "{e}");
    let e = load_str("[mail]\nsender = \"smtp\"\n[mail.smtp]\nhost = \"smtp.example.com\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n")
        .unwrap_err();
    assert!(e.0.contains("mail.smtp.tls"), "{e}");
    let e = load_str("[mail.smtp]\ntls = \"ssl3\"\n").unwrap_err();
    assert!(e.0.contains("mail.smtp.tls"), "{e}");
    let c = load_str(
        "[mail]\nsender = \"smtp\"\nfrom = \"Keycard <id@example.com>\"\n[mail.smtp]\nhost = \"smtp.example.com\"\nusername = \"u\"\npassword = \"smtp-secret-value\"\n",
    )
    .unwrap();
    assert_eq!(c.mail.sender, MailSender::Smtp);
    assert!(!format!("{c:?}").contains("smtp-secret-value"), "Debug redacts the SMTP password");
    assert!(!serde_json::to_string(&c).unwrap().contains("smtp-secret-value"), "config dump redacts it");
    // A relay on loopback may take a password without TLS (a local relay or a test sink).
    load_str("[mail]\nsender = \"smtp\"\n[mail.smtp]\nhost = \"127.0.0.1\"\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n")
        .unwrap();
}
