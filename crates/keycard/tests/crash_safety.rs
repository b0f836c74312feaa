//! Reliability suite, crash safety (issue 10 item 2): a real `keycard` binary is killed with
//! SIGKILL under mixed load, restarted on the same database, and checked, on SQLite (a file) and
//! on PostgreSQL (a fresh schema on 127.0.0.1:5432; the service itself is never touched).
//!
//! Each round: concurrent workers drive the server over HTTP (client_credentials with JWT and
//! opaque tokens, codes from alice's SSO session, code redemption, refresh-token rotation,
//! RFC 7009 revocation of access and refresh tokens, while the purge runs every second) and
//! record every acknowledged outcome and every request in flight (`crash/ledger.rs`); after a
//! random number of acknowledged operations the process gets `kill -9`, at once after an
//! acknowledged write or after a random delay; on SQLite the files left behind must pass
//! `PRAGMA integrity_check` and `PRAGMA foreign_key_check` (checked on a copy, so the restart
//! meets the crash's files untouched); in a third of the rounds the restart is itself killed
//! during start-up; the server restarts on the same database with no repair and must answer
//! `/readyz` 200 within 30 s; then `crash/verify.rs` checks that nothing acknowledged was lost,
//! no revocation undone, no code or refresh token usable twice. Before the first round, the very
//! first start on the empty database (secret generation, migrations, key creation, provisioning)
//! is killed three times at random points.
//!
//! `KEYCARD_CRASH_ROUNDS` sets the rounds per backend (default 5 for CI; the long soak is 50:
//! `bench/soak.sh --crash`), `KEYCARD_CRASH_SEED` replays a run's operation mix and kill points
//! (the seed is printed first; timing still varies), `KEYCARD_CRASH_REPORT=FILE` appends each
//! backend's figures as one JSON line. PostgreSQL is skipped with a message when unreachable,
//! unless KEYCARD_TEST_REQUIRE_POSTGRES=1.

mod common;
mod crash;

use common::process::{KeycardProcess, free_port, random_u64};
use common::{UserAgent, authorize_in};
use crash::ledger::{Counts, Kind, Ledger};
use crash::load::{Load, worker};
use crash::verify::Verifier;
use crash::{CB, ClientKind, PASSWORD, Rng, USER_SCOPE, enc};
use keycard::store::conformance::TestDb;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Concurrent load workers.
const WORKERS: usize = 6;
/// The kill point: once N operations (uniform in this range) were acknowledged, the next
/// acknowledgement of a kind drawn per round (any kind in half of the rounds, one of the writes
/// in the other half); the kill follows it at once in half of the rounds and after a random delay
/// (up to 25 ms) in the other half.
const KILL_AFTER_OPS: (u64, u64) = (30, 400);
const KILL_AFTER_WRITE: [Kind; 6] =
    [Kind::CcOpaque, Kind::Authorize, Kind::Redeem, Kind::Refresh, Kind::RevokeAccess, Kind::RevokeRefresh];
const KILL_JITTER_MS: (u64, u64) = (1, 25);
/// Kills of the very first start (empty database), and the range of their delays; later
/// rounds kill a third of their restarts within the previous start-up time.
const FRESH_START_KILLS: usize = 3;
const STARTUP_KILL_MS: (u64, u64) = (5, 700);
/// The bound on a restart: `/readyz` 200 within this.
const READY_WITHIN: Duration = Duration::from_secs(30);
/// A round whose load makes no progress for this long fails.
const LOAD_STALL: Duration = Duration::from_secs(60);

fn env_num(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

fn rounds() -> usize {
    env_num("KEYCARD_CRASH_ROUNDS").unwrap_or(5) as usize
}

/// What one backend's run measured.
#[derive(Default)]
struct Report {
    rounds: usize,
    counts: Counts,
    checked: usize,
    resolved: usize,
    restarts: Vec<Duration>,
    startup_kills: usize,
    integrity_runs: usize,
    integrity_ok: usize,
    failures: Vec<String>,
}

impl Report {
    /// On SQLite, checks the files a kill left.
    async fn integrity(&mut self, sqlite_file: Option<&Path>, dir: &Path, round: usize, failures: &mut Vec<String>) {
        let Some(db) = sqlite_file else { return };
        self.integrity_runs += 1;
        match sqlite_integrity(db, &dir.join("integrity")).await {
            Ok(()) => self.integrity_ok += 1,
            Err(e) => failures.push(format!("round {round}: after the kill: {e}")),
        }
    }

    fn restart_ms(&self) -> (u128, u128) {
        let mut v: Vec<u128> = self.restarts.iter().map(Duration::as_millis).collect();
        v.sort_unstable();
        (v.get(v.len() / 2).copied().unwrap_or(0), v.last().copied().unwrap_or(0))
    }

    fn print(&self, backend: &str, seed: u64, elapsed: Duration) {
        let (median, max) = self.restart_ms();
        let integrity = if backend == "sqlite" {
            format!("; integrity_check ok {}/{}", self.integrity_ok, self.integrity_runs)
        } else {
            String::new()
        };
        eprintln!(
            "crash_safety[{backend}]: {} rounds in {:.0} s (seed {seed:#x}): {} acknowledged operations ({}), \
             {} checks of acknowledged outcomes, {} in flight at the kill ({} resolved), {} not sent, {} failures; \
             {} kills during start-up; restart to /readyz 200: median {median} ms, max {max} ms{integrity}",
            self.rounds,
            elapsed.as_secs_f64(),
            self.counts.acked_total(),
            self.counts.by_kind(),
            self.checked,
            self.counts.in_flight_total(),
            self.resolved,
            self.counts.not_sent,
            self.failures.len(),
            self.startup_kills,
        );
        if let Ok(path) = std::env::var("KEYCARD_CRASH_REPORT") {
            let line = serde_json::json!({
                "backend": backend, "rounds": self.rounds, "seed": format!("{seed:#x}"),
                "seconds": elapsed.as_secs_f64(), "acked": self.counts.acked_total(),
                "checked": self.checked, "in_flight": self.counts.in_flight_total(), "resolved": self.resolved,
                "not_sent": self.counts.not_sent, "failures": self.failures.len(),
                "restart_median_ms": median, "restart_max_ms": max, "startup_kills": self.startup_kills,
                "integrity_ok": (backend == "sqlite").then_some(self.integrity_ok),
                "integrity_runs": (backend == "sqlite").then_some(self.integrity_runs),
            });
            use std::io::Write as _;
            let mut f =
                std::fs::OpenOptions::new().create(true).append(true).open(&path).expect("open KEYCARD_CRASH_REPORT");
            writeln!(f, "{line}").expect("write KEYCARD_CRASH_REPORT");
        }
    }
}

/// The config file: a fixed issuer (the first port), the database, the provisioned clients.
/// The listen address comes from the environment at each start, so a restart may move port
/// when its port was taken meanwhile (the issuer, and so every token, stays valid).
fn write_config(dir: &Path, port: u16, db_url: &str) -> PathBuf {
    let hash = keycard::admin::hash_password(&keycard::config::Config::default(), PASSWORD).expect("hash");
    let path = dir.join("keycard.toml");
    let text = format!(
        "issuer = \"http://127.0.0.1:{port}\"\n# No `secret`: the first start generates data_dir/secret.\n\
         data_dir = {:?}\n\n[database]\nurl = {db_url:?}\n\n[http]\nshutdown_grace_secs = 1\n\n\
         [authorization]\n# Codes issued before a crash are redeemed after the restart.\ncode_ttl_secs = 600\n\n\
         [cleanup]\n# The purge runs during the load (it keeps everything checked: retention 1 h).\ninterval_secs = 1\n\n\
         [login]\n# Verification's refusals are expected answers, not a brute force.\nclient_max_failures = 1000000\n\n{}",
        dir.join("data").display().to_string(),
        crash::provision_toml(&hash)
    );
    std::fs::write(&path, text).expect("write config");
    path
}

/// alice signs in once through the HTML forms and consents for both code-flow clients; returns
/// her browser's cookies, with which `/authorize` answers from the SSO session.
async fn sign_in(base: &str, issuer: &str) -> String {
    let ua = UserAgent::behind_proxy(base, issuer);
    for client in [ClientKind::WebJwt, ClientKind::WebOpaque] {
        let (_, challenge) = common::pkce();
        let url = format!(
            "/authorize?response_type=code&client_id={}&redirect_uri={}&scope={}&state=setup&code_challenge={challenge}&code_challenge_method=S256",
            client.id(),
            enc(CB),
            enc(USER_SCOPE)
        );
        let back = authorize_in(&ua, &url, "alice", PASSWORD).await;
        assert!(back.starts_with(CB) && back.contains("code="), "sign-in ends at the client: {back}");
    }
    ua.cookies().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
}

/// `PRAGMA integrity_check` and `PRAGMA foreign_key_check` on a copy of the files the crash
/// left (database, WAL, shared memory), so that the restart meets them untouched.
async fn sqlite_integrity(db: &Path, scratch: &Path) -> Result<(), String> {
    use sqlx::Connection as _;
    let _ = std::fs::remove_dir_all(scratch);
    std::fs::create_dir_all(scratch).map_err(|e| e.to_string())?;
    let copy = scratch.join("keycard.db");
    for suffix in ["", "-wal", "-shm"] {
        let src = PathBuf::from(format!("{}{suffix}", db.display()));
        if src.exists() {
            std::fs::copy(&src, format!("{}{suffix}", copy.display())).map_err(|e| format!("copy {suffix}: {e}"))?;
        }
    }
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(&copy);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&opts).await.map_err(|e| e.to_string())?;
    let integrity: Vec<String> =
        sqlx::query_scalar("PRAGMA integrity_check").fetch_all(&mut conn).await.map_err(|e| e.to_string())?;
    let fk = sqlx::query("PRAGMA foreign_key_check").fetch_all(&mut conn).await.map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    let _ = std::fs::remove_dir_all(scratch);
    if integrity != ["ok"] {
        return Err(format!("PRAGMA integrity_check: {integrity:?}"));
    }
    if !fk.is_empty() {
        return Err(format!("PRAGMA foreign_key_check: {} violations", fk.len()));
    }
    Ok(())
}

/// Runs the load of one round until the kill; returns the ledger once the process is dead and
/// every worker has booked its last answer.
async fn load_and_kill(
    server: &mut KeycardProcess,
    cookie: &str,
    ledger: Ledger,
    round: usize,
    rng: &mut Rng,
) -> (Ledger, Result<(), String>) {
    let ledger = Arc::new(Mutex::new(ledger));
    let load = Arc::new(Load {
        base: server.base.clone(),
        http: crash::http_client(),
        cookie: cookie.to_owned(),
        ledger: ledger.clone(),
        stop: Arc::new(AtomicBool::new(false)),
        acked: Arc::new(AtomicUsize::new(0)),
        kill_at: rng.range(KILL_AFTER_OPS.0, KILL_AFTER_OPS.1) as usize,
        kill_after: rng.one_in(2).then(|| KILL_AFTER_WRITE[rng.index(KILL_AFTER_WRITE.len())]),
        kill_fired: AtomicBool::new(false),
        kill_now: Arc::new(tokio::sync::Notify::new()),
        round,
    });
    let jitter = if rng.one_in(2) { 0 } else { rng.range(KILL_JITTER_MS.0, KILL_JITTER_MS.1) };
    let workers: Vec<_> = (0..WORKERS).map(|w| tokio::spawn(worker(load.clone(), rng.fork(w as u64)))).collect();
    let mut stalled = None;
    let mut last = 0;
    loop {
        tokio::select! {
            () = load.kill_now.notified() => break,
            () = tokio::time::sleep(LOAD_STALL) => {
                let done = load.acked.load(Ordering::SeqCst);
                if done == last {
                    stalled = Some(format!("round {round}: the load made no progress for {LOAD_STALL:?} at {done} operations"));
                    break;
                }
                last = done;
            }
        }
    }
    if jitter > 0 {
        tokio::time::sleep(Duration::from_millis(jitter)).await;
    }
    load.stop.store(true, Ordering::SeqCst);
    let status = server.kill9();
    let mut result = stalled.map_or(Ok(()), Err);
    for w in workers {
        if let Err(e) = w.await {
            result = Err(format!("round {round}: a load worker panicked: {e}"));
        }
    }
    use std::os::unix::process::ExitStatusExt as _;
    if status.signal() != Some(9) {
        result = Err(format!("round {round}: the server was not killed by SIGKILL but ended with {status}"));
    }
    drop(load);
    let ledger = Arc::try_unwrap(ledger).map(|m| m.into_inner().unwrap_or_else(|e| e.into_inner()));
    (ledger.unwrap_or_else(|_| panic!("round {round}: a load worker outlived the round")), result)
}

/// Every round on one backend; panics with the seed, the failures and the server log's tail.
async fn crash_rounds(backend: &str, db_url: &str, sqlite_file: Option<&Path>, dir: &Path) {
    let seed = env_num("KEYCARD_CRASH_SEED").unwrap_or_else(random_u64);
    eprintln!(
        "crash_safety[{backend}]: seed {seed:#x} (replay the mix and kill points with KEYCARD_CRASH_SEED={seed:#x})"
    );
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let port = free_port();
    let config = write_config(dir, port, db_url);
    let issuer = format!("http://127.0.0.1:{port}");
    let mut report = Report::default();
    // The first start on the empty database (secret generation, migrations, key creation,
    // provisioning) is itself killed a few times at random points.
    for i in 0..FRESH_START_KILLS {
        let after = Duration::from_millis(rng.range(STARTUP_KILL_MS.0, STARTUP_KILL_MS.1));
        match KeycardProcess::start_and_kill(&config, dir, &format!("fresh-kill-{i}"), port, after).await {
            Ok(killed) => report.startup_kills += usize::from(killed),
            Err(log) => panic!(
                "crash_safety[{backend}]: a fresh start killed after {after:?} left a database that does not start again:\n{log}"
            ),
        }
    }
    let mut server = KeycardProcess::start(&config, dir, "start", Some(port), READY_WITHIN).await;
    let cookie = sign_in(&server.base, &issuer).await;
    let mut l = Ledger::default();
    for round in 0..rounds() {
        let mut failures = Vec::new();
        let (ledger, result) = load_and_kill(&mut server, &cookie, std::mem::take(&mut l), round, &mut rng).await;
        l = ledger;
        if let Err(e) = result {
            failures.push(e);
        }
        failures.append(&mut l.anomalies);
        report.integrity(sqlite_file, dir, round, &mut failures).await;
        // In some rounds the restart itself is killed during start-up first.
        if rng.one_in(3) {
            let slowest = server.ready_after.as_millis() as u64;
            let after = Duration::from_millis(rng.range(STARTUP_KILL_MS.0, slowest.max(STARTUP_KILL_MS.0 + 1)));
            match KeycardProcess::start_and_kill(&config, dir, &format!("startup-kill-{round}"), server.port, after)
                .await
            {
                Ok(killed) => report.startup_kills += usize::from(killed),
                Err(log) => {
                    failures.push(format!("round {round}: a start killed after {after:?} ended on its own:\n{log}"))
                }
            }
            report.integrity(sqlite_file, dir, round, &mut failures).await;
        }
        server =
            KeycardProcess::start(&config, dir, &format!("restart-{round}"), Some(server.port), READY_WITHIN).await;
        report.restarts.push(server.ready_after);
        let mut v = Verifier::new(&server.base, round);
        v.run(&mut l, &mut rng).await;
        failures.append(&mut v.failures);
        report.rounds += 1;
        report.checked += v.checked;
        report.resolved += v.resolved;
        let counts = std::mem::take(&mut l.counts);
        report.counts.add(&counts);
        eprintln!(
            "crash_safety[{backend}] round {round}: {} acknowledged ({}), {} in flight, {} checks, restart {} ms",
            counts.acked_total(),
            counts.by_kind(),
            counts.in_flight_total(),
            v.checked,
            server.ready_after.as_millis()
        );
        if !failures.is_empty() {
            report.failures = failures;
            break;
        }
    }
    report.print(backend, seed, started.elapsed());
    assert!(
        report.failures.is_empty(),
        "crash_safety[{backend}] failed (seed {seed:#x}, replay with KEYCARD_CRASH_SEED={seed:#x}):\n{}\n--- server log (tail) ---\n{}",
        report.failures.join("\n"),
        server.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_keeps_every_acknowledged_write_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keycard.db");
    let url = format!("sqlite://{}", db.display());
    crash_rounds("sqlite", &url, Some(&db), dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_keeps_every_acknowledged_write_across_kill_9() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    crash_rounds("postgres", &pg.url, None, dir.path()).await;
    pg.cleanup().await;
}
