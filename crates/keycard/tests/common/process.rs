//! A real `keycard serve` process, as an operator runs it, for the reliability tests that need
//! to kill, restart or signal the server (issue 10): the binary is started with a config file,
//! its log goes to a file, readiness is `/readyz` answering 200, and `kill -9` is a real
//! SIGKILL. In-process servers (`keycard::testing::TestServer`) cannot be killed this way.
//!
//! Ports: the binary cannot report the port it bound (`http.listen = 127.0.0.1:0` would be
//! unreachable), so [`free_port`] picks a random port BELOW the kernel's ephemeral range (where
//! outgoing connections of other tests never land) and checks that it binds; when the server
//! still loses the race for it ("already in use"), [`KeycardProcess::start`] retries on another
//! port. The caller decides whether a restart may move: a server whose issuer is fixed in its
//! config keeps working on another port (clients must then use [`KeycardProcess::base`]).
//!
//! [`NodeSpec`] writes the config file of a node the way the outage and shutdown tests want it
//! (database, shared secret, issuer, provisioning, `KEYCARD_*` overrides, SIGXFSZ ignored for a
//! simulated full disk) and starts it as a [`KeycardProcess`].
//!
//! Extending: a new way to stop the server (SIGSTOP) is a method beside
//! [`KeycardProcess::kill9`] and [`KeycardProcess::signal`]; keep the child's environment free of
//! the runner's `KEYCARD_*` (a spec's own overrides are added after that).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How many other ports a start tries when its port is taken.
const PORT_RETRIES: usize = 8;

/// How to launch the binary beyond its config file.
#[derive(Clone, Default)]
pub struct Launch {
    /// `KEYCARD_*` overrides (e.g. `KEYCARD_DATABASE__HEALTH_INTERVAL_MS`).
    pub env: Vec<(String, String)>,
    /// Start it from a shell that ignores SIGXFSZ, so that a file-size limit set with `prlimit`
    /// fails its writes (as a full disk does) instead of killing it.
    pub ignore_sigxfsz: bool,
}

/// A running (or killed) `keycard serve`.
pub struct KeycardProcess {
    child: Child,
    /// The port it listens on.
    pub port: u16,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its log (stdout and stderr).
    pub log: PathBuf,
    /// Time from spawn to the first `/readyz` 200.
    pub ready_after: Duration,
    /// Where it came from, for [`NodeSpec::restart`].
    spec: Option<NodeSpec>,
}

/// A port below the ephemeral range that nothing listens on right now, chosen at random.
pub fn free_port() -> u16 {
    let (low, _) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32768, 60999));
    let (from, to) = (10_000u16, low.max(11_000));
    for _ in 0..200 {
        let port = from + (random_u64() % u64::from(to - from)) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    // A crowded machine: let the kernel choose (in the ephemeral range).
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// 64 random bits from the standard library's per-process random hash keys (tests have no
/// `rand`; the server's clippy rules forbid the wall clock as a seed).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

impl KeycardProcess {
    /// Starts `keycard --config CONFIG serve` listening on `port` (a fresh one when `None` or
    /// when it is taken), logging to `log_dir/<name>.log`, and waits up to `ready_within` for
    /// `/readyz` to answer 200. Panics with the log's tail when the server exits or is not
    /// ready in time.
    pub async fn start(
        config: &Path,
        log_dir: &Path,
        name: &str,
        port: Option<u16>,
        ready_within: Duration,
    ) -> KeycardProcess {
        let mut port = port.unwrap_or_else(free_port);
        for attempt in 0..=PORT_RETRIES {
            let log = log_dir.join(format!("{name}-{attempt}.log"));
            match Self::try_start(config, &log, port, ready_within, &Launch::default()).await {
                Ok(p) => return p,
                Err(tail) if tail.contains("already in use") && attempt < PORT_RETRIES => port = free_port(),
                Err(tail) => panic!("keycard serve did not become ready on port {port}:\n{tail}"),
            }
        }
        unreachable!("the last attempt panics or returns")
    }

    /// Starts the server like [`KeycardProcess::start`] and `kill -9`s it after `after`, ready
    /// or not (a crash during start-up: migrations, key creation, provisioning). Returns whether
    /// it was still starting (true) or had already exited on its own (false, with the log).
    pub async fn start_and_kill(
        config: &Path,
        log_dir: &Path,
        name: &str,
        port: u16,
        after: Duration,
    ) -> Result<bool, String> {
        let log = log_dir.join(format!("{name}.log"));
        let mut child = command(config, &log, port, &Launch::default()).spawn().expect("spawn keycard");
        tokio::time::sleep(after).await;
        if let Ok(Some(status)) = child.try_wait() {
            let tail = tail(&log);
            // Losing the port to someone else is not the server's fault.
            return if tail.contains("already in use") {
                Ok(false)
            } else {
                Err(format!("exited with {status}\n{tail}"))
            };
        }
        let _ = child.kill();
        child.wait().expect("reap keycard");
        Ok(true)
    }

    async fn try_start(
        config: &Path,
        log: &Path,
        port: u16,
        ready_within: Duration,
        launch: &Launch,
    ) -> Result<KeycardProcess, String> {
        let started = Instant::now();
        let mut child = command(config, log, port, launch).spawn().expect("spawn keycard");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().expect("client");
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("exited with {status}\n{}", tail(log)));
            }
            if let Ok(r) = http.get(format!("{base}/readyz")).send().await
                && r.status() == 200
            {
                return Ok(KeycardProcess {
                    child,
                    port,
                    base,
                    log: log.to_owned(),
                    ready_after: started.elapsed(),
                    spec: None,
                });
            }
            if started.elapsed() > ready_within {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("not ready after {ready_within:?}\n{}", tail(log)));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// `kill -9`: SIGKILL, then reaps the process. Returns its exit status (killed by signal 9).
    pub fn kill9(&mut self) -> ExitStatus {
        let _ = self.child.kill();
        self.child.wait().expect("reap keycard")
    }

    /// Is the process still running?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }

    /// Its whole log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (`TERM`, `INT`, …) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg("-s").arg(sig).arg(self.pid().to_string()).status().expect("kill(1)");
        assert!(ok.success(), "kill -s {sig} {}", self.pid());
    }

    /// Waits for the process to exit, at most `timeout`; kills it and panics after that.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("keycard did not exit within {timeout:?}\n{}", self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the same node again (same spec, same port) after it exited.
    pub async fn restart(&self) -> KeycardProcess {
        let spec = self.spec.as_ref().expect("a process started from a NodeSpec");
        spec.start(Some(self.port)).await
    }
}

/// A node as the outage and shutdown tests configure it: a config file in `dir` (issuer,
/// data dir, secret, listener, database, `extra` TOML) and its [`Launch`] options.
#[derive(Clone)]
pub struct NodeSpec {
    /// Holds the config, the logs and (for SQLite) the data.
    pub dir: PathBuf,
    /// `database.url`.
    pub db_url: String,
    /// The server secret (nodes of one cluster share it).
    pub secret: String,
    /// TOML appended to the config (provisioning, sections the spec does not write).
    pub extra: String,
    /// The issuer; default `http://127.0.0.1:<port>` (nodes of a cluster share one).
    pub issuer: Option<String>,
    /// Environment and SIGXFSZ.
    pub launch: Launch,
}

impl NodeSpec {
    pub fn new(dir: &Path, db_url: &str) -> NodeSpec {
        NodeSpec {
            dir: dir.to_owned(),
            db_url: db_url.to_owned(),
            secret: "reliability-suite-secret-0123456789abcdef".into(),
            extra: String::new(),
            issuer: None,
            launch: Launch::default(),
        }
    }

    /// Adds a `KEYCARD_*` override.
    pub fn env(mut self, key: &str, value: &str) -> NodeSpec {
        self.launch.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes the config file for `port`; returns its path.
    pub fn write_config(&self, port: u16) -> PathBuf {
        std::fs::create_dir_all(&self.dir).expect("node dir");
        let config = self.dir.join("keycard.toml");
        let issuer = self.issuer.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
        let data = self.dir.join("data").display().to_string();
        let text = format!(
            "issuer = {issuer:?}\ndata_dir = {data:?}\nsecret = {:?}\n\n[database]\nurl = {:?}\n\n[log]\nlevel = \"info\"\n\n{}\n",
            self.secret, self.db_url, self.extra
        );
        std::fs::write(&config, text).expect("write the config");
        config
    }

    /// `keycard --config … ARGS` for `port` (a one-shot command such as `migrate`, or a `serve`
    /// expected to fail), with this spec's environment; stdout and stderr for the caller.
    pub fn command(&self, port: u16, args: &[&str]) -> Command {
        let config = self.write_config(port);
        let mut cmd = base_command(&self.launch);
        cmd.arg("--config").arg(&config).args(args).env("KEYCARD_HTTP__LISTEN", format!("127.0.0.1:{port}"));
        cmd
    }

    /// Starts the node on `port` (a free one when `None`, another one if it is taken meanwhile)
    /// and waits up to 30 s for `/readyz` 200.
    pub async fn start(&self, port: Option<u16>) -> KeycardProcess {
        let mut port = port.unwrap_or_else(free_port);
        for attempt in 0..=PORT_RETRIES {
            let config = self.write_config(port);
            let log = self.dir.join(format!("keycard-{port}-{}.log", random_u64() % 100_000));
            match KeycardProcess::try_start(&config, &log, port, Duration::from_secs(30), &self.launch).await {
                Ok(mut p) => {
                    p.spec = Some(self.clone());
                    return p;
                }
                Err(tail) if tail.contains("already in use") && attempt < PORT_RETRIES => port = free_port(),
                Err(tail) => panic!("keycard serve did not become ready on port {port}:\n{tail}"),
            }
        }
        unreachable!("the last attempt panics or returns")
    }
}

impl Drop for KeycardProcess {
    fn drop(&mut self) {
        if self.running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The binary without the runner's `KEYCARD_*` variables (a `KEYCARD_DATABASE__URL` of the shell
/// must not redirect the test), then `launch`'s own.
fn base_command(launch: &Launch) -> Command {
    let mut cmd = if launch.ignore_sigxfsz {
        let mut c = Command::new("bash");
        c.arg("-c").arg("trap '' XFSZ; exec \"$0\" \"$@\"").arg(super::cli::BIN);
        c
    } else {
        Command::new(super::cli::BIN)
    };
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("KEYCARD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env_remove("RUST_LOG").env("NO_COLOR", "1");
    for (k, v) in &launch.env {
        cmd.env(k, v);
    }
    cmd
}

/// `keycard --config CONFIG serve` on `port`, logging to `log`.
fn command(config: &Path, log: &Path, port: u16, launch: &Launch) -> Command {
    let out = File::create(log).expect("create the server log");
    let mut cmd = base_command(launch);
    cmd.arg("--config")
        .arg(config)
        .arg("serve")
        .env("KEYCARD_HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().expect("clone the log file")))
        .stderr(Stdio::from(out));
    cmd
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}
