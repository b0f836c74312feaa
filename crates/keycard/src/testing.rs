//! Test support: a real Keycard on `127.0.0.1:<random port>` with a throw-away database, for
//! this crate's integration tests and for other crates' tests (e.g. `keycard-resource`).
//! Not for production use.

use crate::admin::{Admin, ClientSpec};
use crate::app;
use crate::clock::{Clock, MockClock, SystemClock};
use crate::config::Config;
use crate::jose::Alg;
use crate::state::AppState;
use crate::store::conformance::TestDb;
use std::sync::Arc;

/// A running test server.
pub struct TestServer {
    /// Base URL (= issuer), e.g. `http://127.0.0.1:41234`.
    pub base: String,
    /// The server's state (store, keys, config).
    pub state: AppState,
    /// The mock clock, when the server was started with one.
    pub clock: Option<Arc<MockClock>>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    background: tokio::task::JoinHandle<()>,
    db: Option<TestDb>,
}

/// How to start a test server.
pub struct TestOptions {
    /// The database (default: a fresh SQLite file).
    pub db: Option<TestDb>,
    /// Use a mock clock starting at this time instead of the system clock.
    pub mock_time: Option<i64>,
    /// Change the configuration before start (issuer and listen address are set already).
    pub configure: Box<dyn FnOnce(&mut Config) + Send>,
}

impl Default for TestOptions {
    fn default() -> Self {
        Self { db: None, mock_time: None, configure: Box::new(|_| {}) }
    }
}

impl TestServer {
    /// A server on a fresh SQLite database with ES256 and RS256 keys.
    pub async fn start() -> TestServer {
        Self::start_with(TestOptions::default()).await
    }

    /// A server with options. Needs a multi-threaded Tokio runtime.
    pub async fn start_with(opts: TestOptions) -> TestServer {
        let db = opts.db.unwrap_or_else(TestDb::sqlite);
        let listener = app::bind("127.0.0.1:0".parse().expect("addr")).await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let base = format!("http://{addr}");
        let mut config = Config {
            issuer: base.clone(),
            data_dir: std::env::temp_dir().join("keycard-test-unused"),
            secret: Some(crate::config::Secret(format!("test-secret-{}", crate::jose::random_token(24)))),
            ..Config::default()
        };
        config.http.listen = addr;
        config.database.url = Some(db.url.clone());
        config.database.startup_retry_secs = 2;
        config.keys.algorithms = vec![Alg::ES256, Alg::RS256];
        config.cache.poll_interval_ms = 100;
        config.http.shutdown_grace_secs = 2;
        (opts.configure)(&mut config);
        config.validate().expect("test config is valid");
        let mock = opts.mock_time.map(|t| Arc::new(MockClock::new(t)));
        let clock: Arc<dyn Clock> = match &mock {
            Some(m) => m.clone(),
            None => Arc::new(SystemClock),
        };
        let state = app::start(config, clock).await.expect("start test server");
        let background = app::spawn_background(state.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = state.clone();
        let task = tokio::spawn(async move {
            let _ = app::serve(
                listener,
                s,
                async {
                    let _ = rx.await;
                },
                std::future::pending(),
            )
            .await;
        });
        TestServer { base, state, clock: mock, shutdown: Some(tx), task: Some(task), background, db: Some(db) }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Admin operations on this server's store.
    pub fn admin(&self) -> Admin<'_> {
        Admin {
            store: &self.state.store,
            config: &self.state.config,
            hash_key: &self.state.secrets.hash_key,
            kek: &self.state.secrets.kek,
            now: self.state.clock.now(),
        }
    }

    /// Applies client and key changes made through the store to this node now, as its background
    /// poll would within `cache.poll_interval_ms`: for tests about behaviour under a changed
    /// client, which should not depend on how quickly a loaded machine runs the poll. (Tests of
    /// the propagation itself wait for it instead.)
    pub async fn sync_caches(&self) {
        self.state.clients.clear();
        self.state.clients.reload_origins(&self.state.store).await.expect("reload web origins");
        self.state.keys.reload(&self.state.store, self.state.clock.now()).await.expect("reload keys");
    }

    /// Creates a confidential client_credentials client allowed `scopes`; returns (id, secret).
    pub async fn cc_client(&self, id: &str, scopes: &[&str]) -> (String, String) {
        let spec = ClientSpec {
            id: Some(id.to_owned()),
            name: Some(id.to_owned()),
            grant_types: vec![crate::model::GrantType::ClientCredentials],
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        self.create_client(spec).await
    }

    /// Creates a client from a spec; returns (id, secret or empty for public clients).
    pub async fn create_client(&self, spec: ClientSpec) -> (String, String) {
        let (c, s) = self.admin().create_client(&spec).await.expect("create client");
        (c.id, s.map(|s| s.0).unwrap_or_default())
    }

    /// Stops the server, letting in-flight requests finish; cleans the database up.
    pub async fn stop(mut self) {
        self.stop_inner().await;
    }

    async fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        self.background.abort();
        self.state.store.close().await;
        if let Some(db) = self.db.take() {
            db.cleanup().await;
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.background.abort();
    }
}

/// Every log line of this process, captured for tests that check what Keycard logs
/// (SECURITY I7: no secret in any log line). See [`capture_logs`].
#[derive(Clone)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    /// Everything logged so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogCapture {
    type Writer = LogCapture;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs, once per process, a global subscriber that records every event of every crate at
/// TRACE level (with span fields) in text and JSON form, and returns the capture. Call it before
/// starting servers; the test binary should contain only tests that want it, since it is global.
pub fn capture_logs() -> LogCapture {
    use tracing_subscriber::layer::SubscriberExt as _;
    static CAPTURE: std::sync::OnceLock<LogCapture> = std::sync::OnceLock::new();
    CAPTURE
        .get_or_init(|| {
            let capture = LogCapture(Arc::default());
            let subscriber = tracing_subscriber::registry()
                .with(tracing_subscriber::filter::LevelFilter::TRACE)
                .with(tracing_subscriber::fmt::layer().with_ansi(false).with_writer(capture.clone()))
                .with(tracing_subscriber::fmt::layer().json().with_writer(capture.clone()));
            tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in this test");
            capture
        })
        .clone()
}
