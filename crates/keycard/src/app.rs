//! Application state, start-up and the HTTP server loop.
//!
//! [`start`] turns a [`Config`] into a ready [`AppState`]: server secret, database (with a
//! bounded retry), migrations, signing keys, provisioning. [`serve`] runs the HTTP server on an
//! already-bound listener until a shutdown future resolves, then lets in-flight requests finish;
//! tests start a real Keycard on `127.0.0.1:0` this way.

use crate::admin::Admin;
use crate::cache::ClientCache;
use crate::clock::Clock;
use crate::config::Config;
use crate::jose;
use crate::keys::KeyRing;
pub use crate::state::{AppState, Secrets};
use crate::store::{Store, StoreOptions};
use anyhow::{Context as _, bail};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// Reads the server secret: `secret`, else `secret_file`, else `data_dir/secret` (created with
/// 256 random bits on first start, with a warning to back it up).
pub fn load_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.secret {
        return Ok(s.0.as_bytes().to_vec());
    }
    let (path, generated_ok) = match &config.secret_file {
        Some(p) => (p.clone(), false),
        None => (config.data_dir.join("secret"), true),
    };
    if path.exists() {
        let s = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the server secret file {}", path.display()))?;
        let s = s.trim();
        if s.len() < 32 {
            bail!("the server secret in {} is shorter than 32 characters", path.display());
        }
        return Ok(s.as_bytes().to_vec());
    }
    if !generated_ok {
        bail!("secret_file {} does not exist", path.display());
    }
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create the data directory {}", config.data_dir.display()))?;
    let secret = jose::random_token(32);
    if !persist_new_secret(&path, &secret).with_context(|| format!("cannot write {}", path.display()))? {
        // Another process (a second node on this data dir, `keycard migrate`) created it first.
        return load_secret(config);
    }
    tracing::warn!(
        path = %path.display(),
        "generated a new server secret; BACK IT UP: without it the signing keys and client secrets in the database cannot be used"
    );
    Ok(secret.into_bytes())
}

/// Puts a new secret at `path`, readable by the owner only, all or nothing and durably: it is
/// written to a temporary file, flushed to disk, then linked into place (which, unlike a rename,
/// never replaces a secret another process created meanwhile: false then), and the directory
/// is flushed. A crash at any point leaves either no secret (the next start generates one) or
/// the whole secret on disk, never an empty or partial file (which used to stop every later
/// start, issue 10 item 2), and the signing keys the database seals with it are never durable
/// before the secret itself is (a power loss would otherwise leave them unusable).
fn persist_new_secret(path: &Path, contents: &str) -> std::io::Result<bool> {
    use std::io::Write as _;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("secret");
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // A leftover of this very process id (a crash of an earlier process that had it).
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    });
    let linked = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e),
    });
    let _ = std::fs::remove_file(&tmp);
    let linked = linked?;
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(linked)
}

/// The database URL with any password replaced, for messages.
pub use crate::config::redact_url;

/// Connects to the database, retrying for `database.startup_retry_secs`, then migrates.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    if let Some(path) = url.strip_prefix("sqlite://").map(|p| p.split('?').next().unwrap_or(p))
        && !path.is_empty()
        && !path.contains(":memory:")
        && let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the database directory {}", dir.display()))?;
    }
    let opts = StoreOptions {
        max_connections: config.database.max_connections,
        acquire_timeout: Duration::from_secs(config.database.acquire_timeout_secs),
        sqlite_full_sync: config.database.sqlite_synchronous == crate::config::SqliteSynchronous::Full,
    };
    let retry = Duration::from_secs(config.database.startup_retry_secs);
    let deadline = Instant::now() + retry;
    if !url.starts_with("sqlite:") {
        // Wait for the server with one plain connection per attempt, each bounded, so that the
        // last error says why (refused, unknown host, authentication) and the wait ends in time.
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_millis(100));
            let err =
                match tokio::time::timeout(left.min(Duration::from_secs(5)), crate::store::health::try_reach(&url))
                    .await
                {
                    Ok(Ok(())) => break,
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the connection attempt timed out".to_owned(),
                };
            if Instant::now() >= deadline {
                bail!("cannot reach the database at {} after {}s: {err}", redact_url(&url), retry.as_secs());
            }
            if attempt == 1 {
                tracing::warn!(
                    url = %redact_url(&url),
                    error = %err,
                    retry_secs = retry.as_secs(),
                    "database not reachable yet; retrying"
                );
            }
            tokio::time::sleep(Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now())))
                .await;
        }
    }
    let store = Store::connect(&url, &opts)
        .await
        .with_context(|| format!("cannot open the database at {}", redact_url(&url)))?;
    let applied = store.migrate().await.with_context(|| format!("migrating {} failed", redact_url(&url)))?;
    for m in applied {
        tracing::info!(migration = %m, "applied database migration");
    }
    Ok(store)
}

/// Builds the application state from a configuration: secret, store, keys, provisioning.
pub async fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    if config.insecure_issuer() {
        tracing::warn!(
            issuer = %config.issuer,
            "!!! INSECURE: the issuer is plain http on a non-loopback address; tokens and passwords travel unencrypted. Use https in production. !!!"
        );
    }
    let secret = load_secret(&config)?;
    let secrets = Secrets::derive(&secret);
    let store = open_store(&config).await?;
    let now = clock.now();
    let (keys, created) = KeyRing::load_or_create(&store, secrets.kek, &config.keys.algorithms, now).await?;
    for kid in created {
        tracing::info!(%kid, "created signing key");
    }
    let admin = Admin { store: &store, config: &config, hash_key: &secrets.hash_key, kek: &secrets.kek, now };
    for c in &config.provision.clients {
        if c.secret.is_some() {
            tracing::warn!(client_id = %c.id, "provisioned client has a plain-text secret in the config: use secret_hash outside development");
        }
    }
    for line in admin.provision(&config.provision).await.context("provisioning failed")? {
        tracing::info!("provision: {line}");
    }
    // Legacy grants: name every client that has one (issue 4).
    for c in store.list_clients().await? {
        for (grant, on) in [
            (crate::model::GrantType::Implicit, config.legacy.implicit_grant),
            (crate::model::GrantType::Password, config.legacy.password_grant),
        ] {
            if c.allows_grant(grant) {
                tracing::warn!(
                    client_id = %c.id,
                    grant = grant.as_str(),
                    enabled_server_wide = on,
                    "client has a legacy grant (discouraged by RFC 9700, omitted from OAuth 2.1)"
                );
            }
        }
    }
    let metadata_json: Arc<str> = serde_json::to_string(&crate::oauth::discovery::metadata(&config))?.into();
    let l = &config.login;
    let hashing = crate::password::PasswordHashing::new(
        l.argon2_memory_kib,
        l.argon2_iterations,
        l.argon2_parallelism,
        l.max_concurrent_hashes,
        l.max_queued_hashes,
        l.hash_thread_nice,
    )
    .map_err(anyhow::Error::msg)?;
    let pages = crate::pages::Pages::with_options(
        &config.ui,
        crate::pages::PageOptions { password_reset: config.mail.enabled() },
    )?;
    let mailer =
        crate::mail::Mailer::from_config(&config.mail, &config.data_dir, &config.issuer).map_err(anyhow::Error::msg)?;
    let mail = crate::mail::Outbox::start(mailer, config.mail.queue_size, config.mail.attempts);
    let clients = ClientCache::default();
    clients.reload_origins(&store).await?;
    let client_keys = crate::client_keys::ClientKeys::new(&config.client_auth);
    Ok(AppState {
        config: Arc::new(config),
        store,
        clock,
        keys: Arc::new(keys),
        clients: Arc::new(clients),
        secrets: Arc::new(secrets),
        metadata_json,
        hashing: Arc::new(hashing),
        pages: Arc::new(pages),
        client_locks: Arc::default(),
        constant_values: Arc::default(),
        client_keys: Arc::new(client_keys),
        mail: Arc::new(mail),
        draining: Arc::default(),
    })
}

/// Background work of every node: follow cache epochs (client and key changes made elsewhere)
/// and purge expired rows in small batches. Several nodes may run it at once safely.
pub fn spawn_background(state: AppState) -> tokio::task::JoinHandle<()> {
    let health = watch_database(state.clone());
    tokio::spawn(async move {
        tokio::join!(health, checkpoints(state.clone()), caches_and_purge(state));
    })
}

/// SQLite: checkpoints the WAL every `wal::CHECKPOINT_INTERVAL` so that commits never do it
/// (`store::wal`); returns at once on PostgreSQL.
async fn checkpoints(state: AppState) {
    if state.store.backend() != crate::store::Backend::Sqlite {
        return;
    }
    let mut failing = false;
    loop {
        tokio::time::sleep(crate::store::wal::CHECKPOINT_INTERVAL).await;
        match state.store.checkpoint_wal().await {
            Ok(_) => failing = false,
            // An outage is reported by `watch_database`; a failure is logged once per streak.
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "WAL checkpoint failed");
            }
            Err(_) => {}
        }
    }
}

/// Probes the database every `database.health_interval_ms` (`store::health`): readiness and the
/// fail-fast of requests follow the probe; every change is logged once.
async fn watch_database(state: AppState) {
    use crate::store::health::HealthChange;
    let interval = Duration::from_millis(state.config.database.health_interval_ms);
    let mut down_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(interval).await;
        match state.store.probe_health().await {
            HealthChange::Same => {}
            HealthChange::WentDown(reason) => {
                down_since = Some(Instant::now());
                tracing::error!(
                    reason = %reason,
                    "database unavailable: readiness is off and requests that need the database get 503 until it is back"
                );
            }
            HealthChange::CameBack => {
                let secs = down_since.take().map_or(0.0, |t| t.elapsed().as_secs_f64());
                tracing::warn!(down_secs = secs, "database available again: serving normally");
            }
        }
    }
}

/// Follows cache epochs and purges expired rows (the loop of [`spawn_background`]).
async fn caches_and_purge(state: AppState) {
    {
        // Not the epochs of now: a change made between loading the caches (in `build`) and this
        // task's first read would then never be seen. Starting from zero costs one reload of
        // the caches at the first poll when anything ever changed, and misses nothing.
        let mut epochs = crate::store::Epochs::default();
        let interval = Duration::from_millis(state.config.cache.poll_interval_ms);
        let mut last_purge = Instant::now();
        loop {
            tokio::time::sleep(interval).await;
            match state.store.epochs().await {
                Ok(e) => {
                    if e.clients != epochs.clients {
                        state.clients.clear();
                        if let Err(err) = state.clients.reload_origins(&state.store).await {
                            tracing::warn!(error = %err, "reloading web origins failed");
                        }
                    }
                    if e.keys != epochs.keys {
                        match state.keys.reload(&state.store, state.clock.now()).await {
                            Ok(()) => tracing::info!("signing keys reloaded"),
                            Err(err) => {
                                tracing::error!(error = %err, "reloading signing keys failed")
                            }
                        }
                    }
                    epochs = e;
                }
                Err(e) => tracing::warn!(error = %e, "cannot poll cache epochs"),
            }
            if last_purge.elapsed() >= Duration::from_secs(state.config.cleanup.interval_secs) {
                last_purge = Instant::now();
                let now = state.clock.now();
                let c = &state.config.cleanup;
                let mut total = 0;
                // Batches until a batch comes back short, yielding in between so token issuance
                // never waits behind the janitor.
                for _ in 0..1000 {
                    let r = async {
                        Ok::<u64, crate::store::StoreError>(
                            state.store.purge_expired(now - c.retention_secs, c.batch_size).await?
                                + state.store.purge_user_flows(now, c.retention_secs, c.batch_size).await?,
                        )
                    }
                    .await;
                    match r {
                        Ok(n) => {
                            total += n;
                            if n < c.batch_size as u64 {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "purge failed");
                            break;
                        }
                    }
                    tokio::task::yield_now().await;
                }
                if let Ok(n) = state.store.purge_keys(now).await {
                    total += n;
                }
                if total > 0 {
                    tracing::info!(rows = total, "purged expired rows");
                }
                // Retired keys that left the publication window must also leave the JWKS.
                if let Err(e) = state.keys.reload(&state.store, now).await {
                    tracing::warn!(error = %e, "key reload failed");
                }
            }
        }
    }
}

/// Binds the listener with a clear error when the port is taken.
pub async fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!(
            "cannot listen on {addr}: the address is already in use (is another Keycard running? change http.listen or --listen)"
        ),
        _ => anyhow::anyhow!("cannot listen on {addr}: {e}"),
    })
}

/// Serves HTTP/1.1 on `listener` until `shutdown` resolves, then stops in order
/// (docs/reliability.md §4):
/// 1. `/readyz` answers 503 at once ([`AppState::draining`]); for `http.shutdown_delay_secs`
///    the node keeps serving normally, so a load balancer that checks readiness moves traffic
///    away before anything is refused;
/// 2. the connections the kernel has already accepted are taken (a request sent to them is
///    answered, not reset), then the listener closes: new connections are refused, which a
///    load balancer retries elsewhere;
/// 3. in-flight requests finish (each connection closes after its current response; idle
///    keep-alive connections close at once) for up to `http.shutdown_grace_secs`.
///
/// `hurry` (a second Ctrl-C or SIGTERM) cuts the delay and the grace period short.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()>,
    hurry: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::server::graceful::GracefulShutdown;

    let conns = Connections::new(&state);
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let delay = Duration::from_secs(state.config.http.shutdown_delay_secs);
    let limit = Arc::new(tokio::sync::Semaphore::new(state.config.http.max_connections));
    let graceful = GracefulShutdown::new();
    let (hurried_tx, hurried) = tokio::sync::watch::channel(false);
    let hurry_task = tokio::spawn(async move {
        hurry.await;
        let _ = hurried_tx.send(true);
    });
    let hurried_now = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|h| *h).await;
    };
    let stop = async {
        shutdown.await;
        state.draining.store(true, std::sync::atomic::Ordering::Relaxed);
        if !delay.is_zero() {
            tracing::info!(
                delay_secs = delay.as_secs(),
                "shutting down: readiness is off; still serving while load balancers move traffic away"
            );
            tokio::select! {
                () = tokio::time::sleep(delay) => {},
                () = hurried_now(hurried.clone()) => tracing::info!("second signal: not waiting any longer"),
            }
        }
    };
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            p = limit.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = &mut stop => break,
        };
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => conns.spawn(stream, peer, &graceful, Some(permit)),
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut stop => break,
        }
    }
    // Connections the kernel completed before the listener closes would be reset by the close:
    // take every one already queued, then close.
    let mut taken = 0u32;
    loop {
        tokio::select! {
            biased;
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    conns.spawn(stream, peer, &graceful, limit.clone().try_acquire_owned().ok());
                    taken += 1;
                }
                Err(_) => break,
            },
            () = std::future::ready(()) => break,
        }
    }
    drop(listener);
    tracing::info!(queued_connections_taken = taken, "shutting down: listener closed, waiting for in-flight requests");
    // Responses now carry `Connection: close`: a client busy on a keep-alive connection sends its
    // next request there, gets the answer and reconnects elsewhere. Give them a moment before
    // the connections still idle are closed (a close the client could race with a request).
    let linger = grace.min(KEEP_ALIVE_LINGER);
    let lingered = async {
        let until = tokio::time::Instant::now() + linger;
        while graceful.count() > 0 && tokio::time::Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::select! {
        () = lingered => {},
        () = hurried_now(hurried.clone()) => {},
    }
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all in-flight requests finished"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
        () = hurried_now(hurried.clone()) => tracing::warn!("second signal: closing remaining connections"),
    }
    hurry_task.abort();
    Ok(())
}

/// How long, at shutdown, keep-alive connections may still bring a request (answered with
/// `Connection: close`) before the idle ones are closed.
const KEEP_ALIVE_LINGER: Duration = Duration::from_millis(500);

/// What every connection of [`serve`] shares: the router, the trusted proxies, the limits.
struct Connections {
    router: axum::Router,
    trusted: Arc<[crate::http::client_ip::Cidr]>,
    header_timeout: Duration,
    parser_buffer: usize,
}

impl Connections {
    fn new(state: &AppState) -> Self {
        Connections {
            router: crate::http::router(state.clone()),
            // Validated with the configuration; an entry that does not parse cannot get here.
            trusted: state.config.http.trusted_proxies.iter().filter_map(|c| c.parse().ok()).collect(),
            header_timeout: Duration::from_secs(state.config.http.header_read_timeout_secs),
            parser_buffer: crate::http::HeadLimits::of(&state.config.http).parser_buffer_bytes(),
        }
    }

    /// Serves one accepted connection on its own task, watched by `graceful`.
    fn spawn(
        &self,
        stream: tokio::net::TcpStream,
        peer: std::net::SocketAddr,
        graceful: &hyper_util::server::graceful::GracefulShutdown,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    ) {
        use crate::http::linger::{LingerFlag, LingerIo, TrackedBody};
        use hyper_util::rt::{TokioIo, TokioTimer};

        let _ = stream.set_nodelay(true);
        let router = self.router.clone();
        let trusted = self.trusted.clone();
        // An answer given before the request was read to its end (413, 431) must reach a client
        // that keeps sending: the connection drains before it closes (SECURITY I1).
        let linger = LingerFlag::default();
        let flag = linger.clone();
        let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let ip = crate::http::client_ip::client_ip(peer.ip(), req.headers(), &trusted);
            req.extensions_mut().insert(crate::http::PeerAddr(peer));
            req.extensions_mut().insert(crate::http::ClientIp(ip));
            let req = req.map(|b| axum::body::Body::new(TrackedBody::new(b, flag.clone())));
            tower::ServiceExt::oneshot(router.clone(), req)
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_timeout)
            .max_buf_size(self.parser_buffer)
            .serve_connection(TokioIo::new(LingerIo::new(stream, linger)), svc);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("keycard-secret-{}", jose::random_token(9)));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Issue 10 item 2: the generated secret is whole, private, kept, and leaves no temporary
    /// file behind; a leftover temporary file of a crashed start does not get in the way.
    #[test]
    fn generated_secret_is_written_whole_and_durably() {
        let dir = temp_dir();
        let config = Config { data_dir: dir.join("data"), ..Config::default() };
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let stale = config.data_dir.join(format!(".secret.{}.tmp", std::process::id()));
        std::fs::write(&stale, "half").unwrap();
        let first = load_secret(&config).unwrap();
        assert_eq!(first.len(), 43, "256 bits, base64url");
        let path = config.data_dir.join("secret");
        assert_eq!(std::fs::read(&path).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let left: Vec<_> = std::fs::read_dir(&config.data_dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, vec![std::ffi::OsString::from("secret")], "no temporary file is left");
        assert_eq!(load_secret(&config).unwrap(), first, "the next start reads the same secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A secret another process created meanwhile is never replaced: the loser adopts it.
    #[test]
    fn a_secret_created_meanwhile_is_never_replaced() {
        let dir = temp_dir();
        let path = dir.join("secret");
        assert!(persist_new_secret(&path, "first-secret-0123456789abcdef0123456789").unwrap());
        assert!(!persist_new_secret(&path, "second-secret-0123456789abcdef012345678").unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "first-secret-0123456789abcdef0123456789");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
