//! Reliability suite, database outage (issue 10 item 3; docs/reliability.md §3). While the
//! database is gone, every request that needs it is answered 503 `temporarily_unavailable` with
//! `Retry-After` (RFC 6749 §5.2 error body, `Cache-Control: no-store`) — never a 500, never a
//! wrong `active:true` (SECURITY E6), never a token that was not stored — and `/readyz` answers
//! 503; within 5 s of the database coming back every node serves again, without a restart.
//!
//! - PostgreSQL "stops" behind a loopback proxy that closes every connection and refuses new
//!   ones (`common::tcp_proxy`; the shared server itself is never stopped), under load.
//! - SQLite: another process holds the write lock (a backup, a stuck CLI); and a full disk, made
//!   with a file-size limit (`prlimit --fsize`) on a real `keycard serve` process.
//! - Start-up with the database down retries, then exits 1 with one line naming the database.
//! - A schema migrated by a newer Keycard is refused with one clear line (also §4).

mod common;

use common::process::NodeSpec;
use common::tcp_proxy::TcpProxy;
use common::*;
use keycard::config::Config;
use keycard::store::conformance::TestDb;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The issue's bound: service resumes within 5 s of the database's recovery.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);

/// Asserts a 503 `temporarily_unavailable` with `Retry-After`, as RFC 6749 §5.2 JSON.
fn assert_unavailable(r: &Res, what: &str) {
    assert_eq!(r.status, 503, "{what}: {}", r.body);
    r.assert_error(503, "temporarily_unavailable");
    let after: u64 = r.header("retry-after").unwrap_or_else(|| panic!("{what}: no Retry-After")).parse().unwrap();
    assert!((1..=60).contains(&after), "{what}: Retry-After {after}");
}

async fn readyz(base: &str) -> u16 {
    match http().get(format!("{base}/readyz")).timeout(Duration::from_secs(3)).send().await {
        Ok(r) => r.status().as_u16(),
        Err(_) => 0,
    }
}

/// Polls until `check` holds; returns how long it took, or panics after `bound`.
async fn within<F, Fut>(bound: Duration, what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}

/// Everything the load saw, for the checks after the outage.
#[derive(Default)]
struct Seen {
    /// Opaque access tokens answered with 200: each must have been stored.
    opaque: Vec<String>,
    /// Answers by status.
    statuses: std::collections::BTreeMap<u16, u64>,
    /// Anything that is neither a success nor a proper 503.
    wrong: Vec<String>,
}

/// Token and introspection load until `stop`: opaque client_credentials (a write per token) and
/// introspection of a revoked JWT (a read of the revocation list), which must never be active.
async fn load(base: String, auth: String, revoked_jwt: String, stop: Arc<AtomicBool>, seen: Arc<Mutex<Seen>>) {
    while !stop.load(Ordering::Relaxed) {
        let r =
            post_form(&format!("{base}/token"), Some(&auth), "grant_type=client_credentials&scope=api%3Aread").await;
        seen.lock().unwrap().record(&r, |s, r| match r.status {
            200 => s.opaque.push(r.json()["access_token"].as_str().unwrap().to_owned()),
            503 if r.header("retry-after").is_some() && r.json()["error"] == "temporarily_unavailable" => {}
            _ => s.wrong.push(format!("token: {} {}", r.status, r.body)),
        });
        let r = post_form(&format!("{base}/introspect"), Some(&auth), &format!("token={revoked_jwt}")).await;
        seen.lock().unwrap().record(&r, |s, r| match r.status {
            200 if r.json()["active"] == false => {}
            503 if r.header("retry-after").is_some() => {}
            _ => s.wrong.push(format!("introspect revoked: {} {}", r.status, r.body)),
        });
    }
}

impl Seen {
    fn record(&mut self, r: &Res, check: impl FnOnce(&mut Seen, &Res)) {
        *self.statuses.entry(r.status).or_default() += 1;
        check(self, r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_outage_is_503_with_retry_after_and_service_resumes_without_a_restart() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let upstream: std::net::SocketAddr = {
        let u = url::Url::parse(&pg.url).unwrap();
        format!("{}:{}", u.host_str().unwrap().replace("localhost", "127.0.0.1"), u.port().unwrap_or(5432))
            .parse()
            .unwrap()
    };
    let proxy = TcpProxy::start(upstream).await;
    let url = proxy.postgres_url(&pg.url);
    let db_url = url.clone();
    let s = TestServer::start_with(TestOptions {
        db: Some(TestDb::external(&url)),
        configure: Box::new(move |c: &mut Config| {
            c.database.url = Some(db_url);
            c.database.health_interval_ms = 100;
            c.database.acquire_timeout_secs = 2;
            c.login.client_max_failures = 1_000_000;
        }),
        ..Default::default()
    })
    .await;
    let (web, web_secret) = code_flow_fixtures(&s).await;
    let (jwt_id, jwt_secret) = s.cc_client("svc-jwt", &["api:read"]).await;
    let (op_id, op_secret) = s
        .create_client(keycard::admin::ClientSpec {
            id: Some("svc-opaque".into()),
            grant_types: vec![keycard::model::GrantType::ClientCredentials],
            scopes: vec!["api:read".into()],
            token_format: Some(keycard::model::TokenFormat::Opaque),
            ..Default::default()
        })
        .await;
    let jwt_auth = basic(&jwt_id, &jwt_secret);
    let op_auth = basic(&op_id, &op_secret);
    // Before: a refresh token, a JWT revoked (on the revocation list), a live JWT, an opaque token.
    let ua = UserAgent::new(&s.base);
    let tokens = code_flow_tokens(&s, &ua, &web, &web_secret, "https://web.example/cb", "openid offline_access").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let cc = |auth: String| {
        let url = s.url("/token");
        async move {
            let r = post_form(&url, Some(&auth), "grant_type=client_credentials&scope=api%3Aread").await;
            assert_eq!(r.status, 200, "{}", r.body);
            r.json()["access_token"].as_str().unwrap().to_owned()
        }
    };
    let revoked = cc(jwt_auth.clone()).await;
    assert_eq!(post_form(&s.url("/revoke"), Some(&jwt_auth), &format!("token={revoked}")).await.status, 200);
    let live_jwt = cc(jwt_auth.clone()).await;
    let opaque_before = cc(op_auth.clone()).await;
    assert_eq!(readyz(&s.base).await, 200);

    // Load on two workers through the whole outage.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..2 {
        workers.spawn(load(s.base.clone(), op_auth.clone(), revoked.clone(), stop.clone(), seen.clone()));
    }
    let jwt_intro = |token: String| {
        let url = s.url("/introspect");
        let auth = jwt_auth.clone();
        async move { post_form(&url, Some(&auth), &format!("token={token}")).await }
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // PostgreSQL stops.
    proxy.cut();
    let detected = within(Duration::from_secs(10), "readiness off", || async { readyz(&s.base).await == 503 }).await;
    let r = send(http().get(s.url("/readyz"))).await;
    assert_eq!(r.status, 503);
    assert!(r.header("retry-after").is_some());
    assert_eq!(r.json()["status"], "database unavailable");
    assert_eq!(send(http().get(s.url("/healthz"))).await.status, 200, "liveness is not readiness");
    // Every endpoint that needs the database: 503 with Retry-After, at once.
    let t = Instant::now();
    let r = post_form(&s.url("/token"), Some(&op_auth), "grant_type=client_credentials").await;
    assert_unavailable(&r, "opaque client_credentials (a token must be stored)");
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh)),
    )
    .await;
    assert_unavailable(&r, "refresh");
    assert_unavailable(&jwt_intro(revoked.clone()).await, "introspection of a revoked JWT: never active:true");
    assert_unavailable(&jwt_intro(live_jwt.clone()).await, "introspection of a live JWT: not knowable");
    let r = post_form(&s.url("/introspect"), Some(&op_auth), &format!("token={opaque_before}")).await;
    assert_unavailable(&r, "introspection of an opaque token");
    let r = post_form(&s.url("/revoke"), Some(&jwt_auth), &format!("token={live_jwt}")).await;
    assert_unavailable(&r, "revocation (RFC 7009 §2.2.1: 503 when it could not be done)");
    let r = send(http().get(s.url("/userinfo")).bearer_auth(&live_jwt)).await;
    assert_eq!(r.status, 503, "userinfo: {}", r.body);
    // A sign-in page: a 503 page with Retry-After, not a 500.
    let (_, challenge) = pkce();
    let r = ua
        .get(&format!(
            "/authorize?response_type=code&client_id={web}&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}&code_challenge_method=S256",
            enc("https://web.example/cb")
        ))
        .await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.header("retry-after").is_some());
    let fail_fast = t.elapsed();
    // A JWT for a cached client needs no database: still served (it is not stored anywhere).
    let r = post_form(&s.url("/token"), Some(&jwt_auth), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "JWT client_credentials needs no database: {}", r.body);
    let minted_during_outage = r.json()["access_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // PostgreSQL is back.
    // The load, too, gets its 503s (requests already waiting for a connection at the cut wait
    // at most `database.acquire_timeout_secs`).
    within(Duration::from_secs(10), "the load answered 503", || async {
        seen.lock().unwrap().statuses.get(&503).copied().unwrap_or(0) >= 10
    })
    .await;
    proxy.restore().await;
    let back = Instant::now();
    let recovered = within(RECOVERY_BOUND, "opaque tokens again", || {
        let (url, auth) = (s.url("/token"), op_auth.clone());
        async move { post_form(&url, Some(&auth), "grant_type=client_credentials").await.status == 200 }
    })
    .await;
    within(RECOVERY_BOUND.saturating_sub(back.elapsed()), "readiness on", || async { readyz(&s.base).await == 200 })
        .await;
    let ready_again = back.elapsed();
    stop.store(true, Ordering::Relaxed);
    workers.join_all().await;

    // Nothing wrong was ever answered, and every token acknowledged was stored.
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    assert!(seen.wrong.is_empty(), "wrong answers under the outage: {:?}", seen.wrong);
    assert!(seen.statuses.get(&503).copied().unwrap_or(0) > 0, "the load saw the outage: {:?}", seen.statuses);
    let acknowledged: HashSet<_> = seen.opaque.iter().cloned().collect();
    for t in acknowledged.iter().chain([&opaque_before]) {
        let r = post_form(&s.url("/introspect"), Some(&op_auth), &format!("token={t}")).await;
        assert_eq!(r.json()["active"], true, "an acknowledged opaque token was stored: {}", r.body);
    }
    assert_eq!(jwt_intro(revoked).await.json()["active"], false);
    assert_eq!(jwt_intro(live_jwt).await.json()["active"], true, "the refused revocation did not happen");
    assert_eq!(jwt_intro(minted_during_outage).await.json()["active"], true);
    let r = post_form(
        &s.url("/token"),
        Some(&basic(&web, &web_secret)),
        &format!("grant_type=refresh_token&refresh_token={}", enc(&refresh)),
    )
    .await;
    assert_eq!(r.status, 200, "the refresh refused during the outage still works once: {}", r.body);
    eprintln!(
        "postgres outage: readiness off {detected:?} after the cut; 8 refusals in {fail_fast:?}; opaque tokens again {recovered:?} and ready {ready_again:?} after recovery; load answers {:?}, {} opaque tokens checked",
        seen.statuses,
        acknowledged.len()
    );
    s.stop().await;
    drop(proxy);
    pg.cleanup().await;
}

/// SQLite with its write lock held by another process: writes are 503 (after the busy timeout,
/// then at once once the probe noticed), reads keep working, and the node recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_write_lock_held_elsewhere_is_503_and_reads_keep_working() {
    let db = TestDb::sqlite();
    let url = db.url.clone();
    let s = TestServer::start_with(TestOptions {
        db: Some(db),
        configure: Box::new(|c: &mut Config| {
            c.database.health_interval_ms = 100;
        }),
        ..Default::default()
    })
    .await;
    let (op_id, op_secret) = s
        .create_client(keycard::admin::ClientSpec {
            id: Some("svc-opaque".into()),
            grant_types: vec![keycard::model::GrantType::ClientCredentials],
            scopes: vec!["api:read".into()],
            token_format: Some(keycard::model::TokenFormat::Opaque),
            ..Default::default()
        })
        .await;
    let auth = basic(&op_id, &op_secret);
    let token = post_form(&s.url("/token"), Some(&auth), "grant_type=client_credentials").await.json()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    // Another process takes the write lock and keeps it.
    let mut other = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
    sqlx::raw_sql("BEGIN IMMEDIATE").execute(&mut other).await.unwrap();
    let detected = within(Duration::from_secs(10), "readiness off", || async { readyz(&s.base).await == 503 }).await;
    let t = Instant::now();
    let r = post_form(&s.url("/token"), Some(&auth), "grant_type=client_credentials").await;
    assert_unavailable(&r, "a token that must be written");
    let refused_in = t.elapsed();
    let r = post_form(&s.url("/introspect"), Some(&auth), &format!("token={token}")).await;
    assert_eq!(r.json()["active"], true, "reads are not refused while only writes are blocked: {}", r.body);

    sqlx::raw_sql("ROLLBACK").execute(&mut other).await.unwrap();
    drop(other);
    let recovered = within(RECOVERY_BOUND, "tokens again", || {
        let (url, auth) = (s.url("/token"), auth.clone());
        async move { post_form(&url, Some(&auth), "grant_type=client_credentials").await.status == 200 }
    })
    .await;
    within(RECOVERY_BOUND, "readiness on", || async { readyz(&s.base).await == 200 }).await;
    eprintln!(
        "sqlite write lock: readiness off after {detected:?}; a write refused in {refused_in:?}; back {recovered:?} after release"
    );
    s.stop().await;
}

/// A full disk under a real `keycard serve` on SQLite: the process's file-size limit is set to
/// the size its files have (`prlimit --fsize`), so no file can grow. Writes are 503, reads and
/// JWTs work, readiness turns off; once the limit is lifted the node serves again by itself, and
/// the database file passes `PRAGMA integrity_check`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_full_disk_is_503_then_recovers_and_the_file_stays_sound() {
    if std::process::Command::new("prlimit").arg("--version").output().is_err() {
        assert!(std::env::var("CI").is_err(), "prlimit (util-linux) is needed for the full-disk test in CI");
        eprintln!("SKIPPED: no prlimit");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("data").join("keycard.db");
    let mut spec = NodeSpec::new(dir.path(), &format!("sqlite://{}", db_path.display()))
        .env("KEYCARD_DATABASE__HEALTH_INTERVAL_MS", "100");
    spec.launch.ignore_sigxfsz = true;
    spec.extra = r#"
[[provision.clients]]
id = "svc-opaque"
secret = "svc-opaque-secret-0123456789abcdef"
grant_types = ["client_credentials"]
scopes = ["api:read"]
token_format = "opaque"

[[provision.clients]]
id = "svc-jwt"
secret = "svc-jwt-secret-0123456789abcdef01"
grant_types = ["client_credentials"]
scopes = ["api:read"]
"#
    .into();
    let mut node = spec.start(None).await;
    let op = basic("svc-opaque", "svc-opaque-secret-0123456789abcdef");
    let jwt = basic("svc-jwt", "svc-jwt-secret-0123456789abcdef01");
    let token_url = node.url("/token");
    let token = |auth: String| {
        let url = token_url.clone();
        async move { post_form(&url, Some(&auth), "grant_type=client_credentials").await }
    };
    let before = token(op.clone()).await.json()["access_token"].as_str().unwrap().to_owned();

    // Empty the WAL into the database file, so that the next write must grow a file.
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (busy, _, _): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)").fetch_one(&mut c).await.unwrap();
        if busy == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "could not truncate the WAL");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(c);
    let pid = node.pid();
    let limit = |v: &str| {
        let ok = std::process::Command::new("prlimit")
            .arg("--pid")
            .arg(pid.to_string())
            .arg(format!("--fsize={v}"))
            .status()
            .unwrap();
        assert!(ok.success(), "prlimit --fsize={v}");
    };
    limit("0:unlimited");
    let detected = within(Duration::from_secs(10), "readiness off", || async { readyz(&node.base).await == 503 }).await;
    assert_unavailable(&token(op.clone()).await, "opaque token on a full disk");
    assert_eq!(token(jwt.clone()).await.status, 200, "a JWT needs no write");
    let r = post_form(&node.url("/introspect"), Some(&op), &format!("token={before}")).await;
    assert_eq!(r.json()["active"], true, "reads work on a full disk: {}", r.body);
    assert!(node.running(), "the process survives a full disk");

    limit("unlimited:unlimited");
    let recovered = within(RECOVERY_BOUND, "tokens again", || async { token(op.clone()).await.status == 200 }).await;
    within(RECOVERY_BOUND, "readiness on", || async { readyz(&node.base).await == 200 }).await;
    node.signal("TERM");
    assert!(node.wait_exit(Duration::from_secs(20)).await.success());
    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&format!("sqlite://{}", db_path.display()))
        .await
        .unwrap();
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&mut c).await.unwrap();
    assert_eq!(check, "ok");
    // The log goes to a file on the same "full disk": the outage's lines are lost (and must cost
    // nothing: a failed log write once made every logged request die unanswered), the recovery
    // is written.
    let log = node.log_text();
    assert!(log.contains("database available again"), "the recovery is logged: {log}");
    eprintln!("sqlite full disk: readiness off after {detected:?}; back {recovered:?} after the limit was lifted");
}

/// Start-up with the database down: retries for `database.startup_retry_secs`, then exits 1
/// with one line that names the database (password redacted) and says how long it tried.
#[tokio::test(flavor = "multi_thread")]
async fn startup_with_the_database_down_retries_then_exits_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, connections are refused.
    let spec = NodeSpec::new(dir.path(), "postgres://keycard:hunter2-password@127.0.0.1:1/keycard")
        .env("KEYCARD_DATABASE__STARTUP_RETRY_SECS", "2");
    let started = Instant::now();
    let out = spec.command(0, &["serve"]).output().unwrap();
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "one final error line: {stderr}");
    let line = errors[0];
    assert!(
        line.contains("cannot reach the database at postgres://keycard:***@127.0.0.1:1/keycard after 2s"),
        "{line}"
    );
    assert!(!stderr.contains("hunter2"), "the password never appears: {stderr}");
    assert!(took >= Duration::from_secs(2), "it retried for the configured time: {took:?}");
    assert!(stderr.contains("retrying"), "the first failure says it retries: {stderr}");
}

/// A database migrated by a newer Keycard (a schema version this binary does not know) is
/// refused at start-up and by `keycard migrate`: exit 1, one line, nothing changed.
#[tokio::test(flavor = "multi_thread")]
async fn a_schema_newer_than_this_binary_is_refused_cleanly() {
    let sqlite = TestDb::sqlite();
    let pg = TestDb::postgres().await;
    for db in std::iter::once(&sqlite).chain(pg.as_ref()) {
        db.store().await.close().await;
        sqlx::any::install_default_drivers();
        let mut c = <sqlx::AnyConnection as sqlx::Connection>::connect(&db.url).await.unwrap();
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'from_the_future', 0)")
            .execute(&mut c)
            .await
            .unwrap();
        drop(c);
        let dir = tempfile::tempdir().unwrap();
        let spec = NodeSpec::new(dir.path(), &db.url);
        for args in [&["serve"][..], &["migrate"][..]] {
            let out = spec.command(0, args).output().unwrap();
            assert_eq!(out.status.code(), Some(1), "{args:?}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
            assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
            assert!(
                errors[0].contains("the database schema is at version 999, newer than this Keycard knows"),
                "{args:?}: {}",
                errors[0]
            );
        }
    }
    if let Some(pg) = pg {
        pg.cleanup().await;
    }
}
