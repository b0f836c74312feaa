//! The real `keycard serve` process, for the reliability tests that signal, starve or restart it
//! (docs/reliability.md): a config file in a temp dir, a free loopback port, the log in a file,
//! readiness polling, signals and a bounded wait for the exit.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_keycard");

/// How a node is started.
#[derive(Clone)]
pub struct NodeSpec {
    /// Holds the config, the log and (for SQLite) the data.
    pub dir: PathBuf,
    /// `database.url`.
    pub db_url: String,
    /// The server secret (nodes of one cluster share it).
    pub secret: String,
    /// TOML appended to the generated config (sections and provisioning).
    pub extra: String,
    /// Keep the port of an earlier start (a restarted node).
    pub port: Option<u16>,
    /// Make the process ignore SIGXFSZ, so that a file-size limit set with `prlimit` fails its
    /// writes (a full disk) instead of killing it.
    pub ignore_sigxfsz: bool,
    /// Extra environment (`KEYCARD_*` overrides, e.g. `KEYCARD_DATABASE__HEALTH_INTERVAL_MS`).
    pub env: Vec<(String, String)>,
    /// The issuer; default `http://127.0.0.1:<port>` (nodes of a cluster share one).
    pub issuer: Option<String>,
}

impl NodeSpec {
    pub fn new(dir: &Path, db_url: &str) -> NodeSpec {
        NodeSpec {
            dir: dir.to_owned(),
            db_url: db_url.to_owned(),
            secret: "reliability-suite-secret-0123456789abcdef".into(),
            extra: String::new(),
            port: None,
            ignore_sigxfsz: false,
            env: Vec::new(),
            issuer: None,
        }
    }

    /// Adds an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> NodeSpec {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Writes the config file for `port`; returns its path.
    pub fn write_config(&self, port: u16) -> PathBuf {
        std::fs::create_dir_all(&self.dir).unwrap();
        let config = self.dir.join("keycard.toml");
        let data = self.dir.join("data");
        std::fs::write(
            &config,
            format!(
                "issuer = {issuer:?}\ndata_dir = {data:?}\nsecret = {secret:?}\n\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n[database]\nurl = {url:?}\n\n[log]\nlevel = \"info\"\n\n{extra}\n",
                issuer = self.issuer.clone().unwrap_or_else(|| format!("http://127.0.0.1:{port}")),
                data = data.display().to_string(),
                secret = self.secret,
                url = self.db_url,
                extra = self.extra,
            ),
        )
        .unwrap();
        config
    }

    /// `keycard --config … ARGS` for `port`, with this spec's environment.
    pub fn command(&self, port: u16, args: &[&str]) -> Command {
        let config = self.write_config(port);
        let mut cmd = if self.ignore_sigxfsz {
            let mut c = Command::new("bash");
            c.arg("-c").arg("trap '' XFSZ; exec \"$0\" \"$@\"").arg(BIN);
            c
        } else {
            Command::new(BIN)
        };
        cmd.arg("--config").arg(&config).args(args).env_remove("RUST_LOG").env("NO_COLOR", "1");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }
}

/// A running `keycard serve`.
pub struct Node {
    pub child: Child,
    pub port: u16,
    pub base: String,
    pub log: PathBuf,
    pub spec: NodeSpec,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Node {
    /// Starts a node and waits until `/readyz` answers 200 (30 s at most). A port taken between
    /// choosing and binding it is retried with another one (unless the spec fixes the port).
    pub async fn start(spec: NodeSpec) -> Node {
        for attempt in 0..5 {
            let port = spec.port.unwrap_or_else(free_port);
            let mut node = Node::spawn(&spec, port);
            match node.wait_ready(Duration::from_secs(30)).await {
                Ok(()) => return node,
                Err(e) if attempt < 4 && spec.port.is_none() && node.log_text().contains("already in use") => {
                    eprintln!("port {port} taken, retrying: {e}");
                }
                Err(e) => {
                    let _ = node.child.kill();
                    panic!("keycard did not become ready: {e}\n--- log ---\n{}", node.log_text());
                }
            }
        }
        unreachable!()
    }

    /// Spawns without waiting for readiness.
    pub fn spawn(spec: &NodeSpec, port: u16) -> Node {
        let log = spec.dir.join(format!("keycard-{port}.log"));
        std::fs::create_dir_all(&spec.dir).unwrap();
        let out = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let child = spec
            .command(port, &["serve"])
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn keycard");
        Node { child, port, base: format!("http://127.0.0.1:{port}"), log, spec: spec.clone() }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("keycard exited with {status}"));
            }
            if let Ok(r) = client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("not ready after {timeout:?}"));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Sends a signal (`TERM`, `KILL`, `INT`) with kill(1).
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill").arg("-s").arg(sig).arg(self.pid().to_string()).status().unwrap();
        assert!(ok.success(), "kill -s {sig} {}", self.pid());
    }

    /// Waits for the process to exit, at most `timeout`; kills it and panics after that.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("keycard did not exit within {timeout:?}\n--- log ---\n{}", self.log_text());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the same node again (same dir, database and port) after it exited.
    pub async fn restart(&self) -> Node {
        Node::start(NodeSpec { port: Some(self.port), ..self.spec.clone() }).await
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
