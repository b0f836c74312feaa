//! The `keycard` binary as a user runs it: admin commands, config checking, one-line errors,
//! `serve` from one provisioning config file, graceful shutdown on SIGTERM, a clear error for a
//! taken port or an unreachable database, and no secret in any log line.

mod common;

use common::*;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cli::*;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn help_teaches() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    for word in ["serve", "client", "user", "scope", "keys", "Examples:", "KEYCARD_"] {
        assert!(out.contains(word), "--help mentions {word}");
    }
}

#[test]
fn config_check_names_the_bad_key_and_exits_non_zero() {
    let d = Dir::new();
    let cfg = d.config("[http]\nlisten = \"127.0.0.1:8080\"\nbody_limt = 5\n");
    let o = keycard(&cfg, &["config", "check"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("body_limt"), "{e}");
    assert_eq!(e.trim().lines().count(), 1, "one line: {e}");

    let cfg = d.config("[database]\nmax_connections = \"many\"\n");
    let e = stderr(&keycard(&cfg, &["config", "check"]));
    assert!(e.contains("database.max_connections"), "{e}");

    let cfg = d.config("issuer = \"https://auth.example/\"\n");
    let e = stderr(&keycard(&cfg, &["serve"]));
    assert!(e.contains("issuer"), "serve refuses a bad config too: {e}");

    let cfg = d.config("issuer = \"https://auth.example\"\n");
    let o = keycard(&cfg, &["config", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let dump = String::from_utf8(
        keycard(&d.config("secret = \"a-very-long-secret-value-0123456789\"\n"), &["config", "dump"]).stdout,
    )
    .unwrap();
    assert!(dump.contains("<redacted>") && !dump.contains("a-very-long-secret-value"), "{dump}");
}

#[test]
fn config_dump_redacts_the_database_password_and_check_refuses_unsafe_settings() {
    let d = Dir::new();
    // SECURITY I7: `config dump` is pasted into tickets; the database password is not in it.
    let cfg = d.config(
        "secret = \"a-very-long-secret-value-0123456789\"\n[database]\nurl = \"postgres://kc:hunter2-pw@127.0.0.1:1/kc\"\n",
    );
    let o = keycard(&cfg, &["config", "dump"]);
    let dump = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!dump.contains("hunter2-pw") && !dump.contains("a-very-long-secret-value"), "{dump}");
    assert!(dump.contains("postgres://kc:***@127.0.0.1:1/kc"), "the rest of the URL stays: {dump}");

    // A plain-http issuer off loopback is refused unless the development switch is set.
    let o = keycard(&d.config("issuer = \"http://auth.example\"\n"), &["config", "check"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("issuer") && e.contains("insecure_http"), "{e}");
    let o = keycard(&d.config("issuer = \"http://auth.example\"\ninsecure_http = true\n"), &["config", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // Throttle rows purged before their window ends would reset the sign-in counters (G9).
    let o = keycard(&d.config("[cleanup]\nretention_secs = 60\n"), &["config", "check"]);
    let e = stderr(&o);
    assert!(!o.status.success() && e.contains("cleanup.retention_secs") && e.contains("login.window_secs"), "{e}");
}

#[test]
fn environment_overrides_the_file() {
    let d = Dir::new();
    let cfg = d.config("[http]\nlisten = \"127.0.0.1:8080\"\n");
    let o = Command::new(BIN)
        .args(["--config"])
        .arg(&cfg)
        .args(["config", "check"])
        .env("KEYCARD_HTTP__LISTEN", "127.0.0.1:9999")
        .env("KEYCARD_ISSUER", "https://env.example")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("127.0.0.1:9999") && out.contains("https://env.example"), "{out}");
    let o = Command::new(BIN)
        .arg("--config")
        .arg(&cfg)
        .args(["config", "check"])
        .env("KEYCARD_HTTP__LISTEN", "nonsense")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("http.listen"), "{}", stderr(&o));
}

#[test]
fn admin_commands_round_trip() {
    let d = Dir::new();
    let cfg = d.config("");
    let c = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "billing",
            "--grant",
            "client_credentials",
            "--scope",
            "invoices:read",
            "--json",
        ],
    ));
    let id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kc_cs_") && secret.len() >= 6 + 43);
    // Text output shows the secret once, with a warning.
    let o = keycard(&cfg, &["client", "create", "--name", "web", "--id", "svc:web", "--grant", "client_credentials"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("client_secret:") && out.contains("shown only now"), "{out}");
    // show/list never print a secret or its hash.
    let shown = keycard(&cfg, &["client", "show", &id, "--json"]);
    let s = String::from_utf8_lossy(&shown.stdout);
    assert!(!s.contains(&secret) && !s.contains("secret_hash"), "{s}");
    let list = ok_json(&keycard(&cfg, &["client", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2);
    let up = ok_json(&keycard(
        &cfg,
        &["client", "update", &id, "--add-scope", "invoices:write", "--token-format", "opaque", "--json"],
    ));
    assert_eq!(up["scopes"], serde_json::json!(["invoices:read", "invoices:write"]));
    assert_eq!(up["token_format"], "opaque");
    let rot = ok_json(&keycard(&cfg, &["client", "rotate-secret", &id, "--json"]));
    assert_ne!(rot["client_secret"], secret.as_str());
    // Bad input: one clear line, exit 1.
    let o = keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "x",
            "--grant",
            "client_credentials",
            "--redirect-uri",
            "http://evil.example/cb",
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("loopback"), "{}", stderr(&o));
    let o = keycard(&cfg, &["client", "create", "--name", "x", "--grant", "telepathy"]);
    assert_eq!(o.status.code(), Some(2), "clap usage error");
    let o = keycard(&cfg, &["client", "show", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not found"));
    assert!(keycard(&cfg, &["client", "delete", "svc:web"]).status.success());

    // Users: password from stdin, never argv.
    let u = keycard_stdin(
        &cfg,
        &["user", "create", "--username", "alice", "--email", "alice@example.com", "--password-stdin", "--json"],
        "correct horse battery\n",
    );
    let u = ok_json(&u);
    assert!(u["id"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(u["has_password"], true);
    let dup = keycard_stdin(&cfg, &["user", "create", "--username", "ALICE", "--password-stdin"], "another password\n");
    assert_eq!(dup.status.code(), Some(1));
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));
    let short = keycard_stdin(&cfg, &["user", "create", "--username", "bob", "--password-stdin"], "short\n");
    assert!(stderr(&short).contains("at least 8"));
    let o = keycard(&cfg, &["user", "create", "--username", "bob"]);
    assert!(stderr(&o).contains("--password-stdin"), "no terminal: says what to do: {}", stderr(&o));
    assert!(keycard(&cfg, &["user", "disable", "alice@example.com"]).status.success());
    let show = ok_json(&keycard(&cfg, &["user", "show", "alice", "--json"]));
    assert_eq!(show["disabled"], true);
    assert!(keycard(&cfg, &["user", "enable", "alice"]).status.success());
    assert!(
        keycard_stdin(&cfg, &["user", "set-password", "alice", "--password-stdin"], "a new long password\n")
            .status
            .success()
    );
    let users = ok_json(&keycard(&cfg, &["user", "list", "--json"]));
    assert_eq!(users.as_array().unwrap().len(), 1);
    assert!(keycard(&cfg, &["user", "delete", "alice"]).status.success());

    // Scopes.
    assert!(keycard(&cfg, &["scope", "create", "reports:read", "--description", "Read reports"]).status.success());
    let scopes = ok_json(&keycard(&cfg, &["scope", "list", "--json"]));
    assert!(
        scopes.as_array().unwrap().iter().any(|s| s["name"] == "reports:read" && s["description"] == "Read reports")
    );
    assert!(keycard(&cfg, &["scope", "delete", "reports:read"]).status.success());
    assert_eq!(keycard(&cfg, &["scope", "delete", "reports:read"]).status.code(), Some(1));

    // Keys.
    let keys = ok_json(&keycard(&cfg, &["keys", "list", "--json"]));
    assert_eq!(keys.as_array().unwrap().len(), 3, "ES256, RS256 and EdDSA by default");
    assert!(keycard(&cfg, &["keys", "rotate"]).status.success());
    let keys = ok_json(&keycard(&cfg, &["keys", "list", "--json"]));
    let es: Vec<_> = keys.as_array().unwrap().iter().filter(|k| k["alg"] == "ES256").collect();
    assert_eq!(es.len(), 2);
    assert!(
        es.iter().any(|k| k["state"] == "active")
            && es.iter().any(|k| k["state"].as_str().unwrap().starts_with("retired"))
    );
}

#[test]
fn unreachable_database_is_one_line_and_non_zero() {
    let d = Dir::new();
    let cfg = d.config("[database]\nurl = \"postgres://postgres@127.0.0.1:1/nothing\"\nstartup_retry_secs = 1\n");
    let started = Instant::now();
    let o = keycard(&cfg, &["migrate"]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("cannot reach the database"), "{e}");
    assert!(!e.contains("panicked") && !e.contains("RUST_BACKTRACE"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(15), "bounded retry");
}

struct Server {
    child: std::process::Child,
    base: String,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(cfg: &Path, port: u16, envs: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(cfg).arg("serve").stdout(Stdio::piped()).stderr(Stdio::piped());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        for pipe in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&(line + "\n"));
                }
            });
        }
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
                && log.lock().unwrap().contains("Keycard is ready")
            {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("server exited with {status}: {}", log.lock().unwrap());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", log.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { child, base, log }
    }

    fn term(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(15);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        std::thread::sleep(Duration::from_millis(100));
        let log = self.log.lock().unwrap().clone();
        (status, log)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_from_one_provisioning_file_and_leak_no_secret() {
    let d = Dir::new();
    let port = free_port();
    let client_secret = "provisioned-secret-0123456789abcdef";
    let password = "alice-password-never-logged";
    let cfg = d.config(&format!(
        r#"issuer = "http://127.0.0.1:{port}"
[http]
listen = "127.0.0.1:{port}"
[log]
format = "json"
level = "trace"
[[provision.scopes]]
name = "invoices:read"
description = "Read invoices"
[[provision.clients]]
id = "svc:billing"
name = "Billing"
secret = "{client_secret}"
grant_types = ["client_credentials"]
scopes = ["invoices:read"]
token_format = "opaque"
[[provision.users]]
username = "alice"
email = "alice@example.com"
password = "{password}"
"#
    ));
    let server = Server::start(&cfg, port, &[]);
    let token_url = format!("{}/token", server.base);
    let r = post_form(
        &token_url,
        Some(&basic("svc:billing", client_secret)),
        "grant_type=client_credentials&scope=invoices%3Aread",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let at = r.json()["access_token"].as_str().unwrap().to_owned();
    let r = post_form(
        &format!("{}/introspect", server.base),
        Some(&basic("svc:billing", client_secret)),
        &format!("token={at}"),
    )
    .await;
    assert_eq!(r.json()["active"], true);
    let r =
        post_form(&token_url, Some(&basic("svc:billing", "wrong-secret-value-xyz")), "grant_type=client_credentials")
            .await;
    assert_eq!(r.status, 401);
    post_form(&token_url, Some("Basic !!garbage!!"), "grant_type=client_credentials&client_secret=abc").await;
    // The users are there too.
    let (status, log) = server.term();
    assert!(status.success(), "graceful exit on SIGTERM: {status} {log}");
    assert!(log.contains("shutting down"), "{log}");
    for secret in [client_secret, password, at.as_str(), &at[6..30], "wrong-secret-value-xyz"] {
        assert!(!log.contains(secret), "a secret leaked into the log: {secret}\n{log}");
    }
    // Every log line is JSON with --log-format json.
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        assert!(serde_json::from_str::<serde_json::Value>(line).is_ok(), "not JSON: {line}");
    }
    // Restart: provisioning is idempotent (updates, no duplicates).
    let server = Server::start(&cfg, port, &[]);
    let r = post_form(&token_url, Some(&basic("svc:billing", client_secret)), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200);
    let users = Command::new(BIN).arg("--config").arg(&cfg).args(["user", "list", "--json"]).output().unwrap();
    let users: serde_json::Value = serde_json::from_slice(&users.stdout).unwrap();
    assert_eq!(users.as_array().unwrap().len(), 1);
    server.term();
}

#[tokio::test(flavor = "multi_thread")]
async fn taken_port_is_a_clear_error_and_in_flight_requests_finish() {
    let d = Dir::new();
    let port = free_port();
    let cfg = d.config(&format!("issuer = \"http://127.0.0.1:{port}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n"));
    let server = Server::start(&cfg, port, &[]);
    let o = Command::new(BIN).arg("--config").arg(&cfg).arg("serve").output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already in use"), "{}", stderr(&o));
    // A request whose body is still arriving when SIGTERM comes is answered, not cut.
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let body = "grant_type=client_credentials";
    write!(conn, "POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{}", body.len(), &body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id();
    Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(&body.as_bytes()[5..]).unwrap();
    let mut resp = String::new();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = conn.read_to_string(&mut resp);
    assert!(resp.starts_with("HTTP/1.1 401"), "in-flight request answered during shutdown: {resp:?}");
    let (status, _) = server.term();
    assert!(status.success());
}

/// Issue 14 defect 3 (SECURITY E4): a resource server is created, shown and updated from the CLI
/// with `--resource-audience`, needs no `--grant`, and a public client cannot be one.
#[test]
fn resource_server_role_from_the_cli() {
    let d = Dir::new();
    let cfg = d.config("");
    let c = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "create",
            "--name",
            "api",
            "--id",
            "rs:api",
            "--resource-audience",
            "https://api.example",
            "--json",
        ],
    ));
    assert_eq!(c["resource_audiences"], serde_json::json!(["https://api.example"]));
    assert_eq!(c["grant_types"], serde_json::json!([]));
    assert!(c["client_secret"].as_str().unwrap().starts_with("kc_cs_"));
    let up = ok_json(&keycard(
        &cfg,
        &[
            "client",
            "update",
            "rs:api",
            "--resource-audience",
            "https://a.example",
            "--resource-audience",
            "https://b.example",
            "--json",
        ],
    ));
    assert_eq!(up["resource_audiences"], serde_json::json!(["https://a.example", "https://b.example"]));
    let shown = keycard(&cfg, &["client", "show", "rs:api"]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("resource server for: https://a.example https://b.example")
    );
    let o =
        keycard(&cfg, &["client", "create", "--name", "x", "--public", "--resource-audience", "https://api.example"]);
    assert_eq!(o.status.code(), Some(1), "a public client cannot introspect");
    let o = keycard(&cfg, &["client", "create", "--name", "x"]);
    assert_ne!(o.status.code(), Some(0), "a client needs a grant type or a resource audience");
}
