//! Reliability suite, rolling restart and graceful shutdown (issue 10 item 4;
//! docs/reliability.md §4). Real `keycard serve` processes, stopped with SIGTERM under load:
//!
//! - two nodes on one PostgreSQL database behind a load balancer that checks `/readyz` every
//!   100 ms and retries a request on another node when its connection is refused (what HAProxy,
//!   Envoy or a Kubernetes Service do); each node is stopped and started again in turn, twice,
//!   while client_credentials (JWT and opaque), introspection and refresh-token rotation run
//!   through the balancer: 0 failed requests, every refresh chain unbroken;
//! - one SQLite node stopped while sign-ins wait for the hashing thread and clients ask for
//!   tokens: every request in flight at the signal is answered, later ones are answered or find
//!   the listener closed (never an error status), the process exits 0, its next start serves.
//!
//! `http.shutdown_delay_secs` is what makes the first work: readiness turns off at once, the
//! node keeps serving while the balancer moves away, then the listener closes and in-flight
//! requests finish (`app::serve`).

mod common;

use common::process::{KeycardProcess, NodeSpec};
use common::*;
use keycard::store::conformance::TestDb;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ISSUER: &str = "https://keycard.cluster.test";
const WEB_SECRET: &str = "web-secret-0123456789abcdef0123456789";
const SVC_SECRET: &str = "svc-secret-0123456789abcdef0123456789";

const PROVISION: &str = r#"
[[provision.scopes]]
name = "api:read"
description = "Read"

[[provision.users]]
username = "alice"
password = "alice-password-1"

[[provision.clients]]
id = "web"
secret = "web-secret-0123456789abcdef0123456789"
grant_types = ["authorization_code", "refresh_token"]
scopes = ["openid", "offline_access", "api:read"]
redirect_uris = ["https://web.example/cb"]

[[provision.clients]]
id = "svc-jwt"
secret = "svc-secret-0123456789abcdef0123456789"
grant_types = ["client_credentials"]
scopes = ["api:read"]

[[provision.clients]]
id = "svc-opaque"
secret = "svc-secret-0123456789abcdef0123456789"
grant_types = ["client_credentials"]
scopes = ["api:read"]
token_format = "opaque"
"#;

/// A load balancer in the test: round robin over the nodes whose `/readyz` answered 200 at the
/// last check (every 100 ms); a refused connection marks the node down and the request goes to
/// the next one. Nothing else is retried: any other failure counts.
struct Balancer {
    bases: Vec<String>,
    ready: Vec<AtomicBool>,
    next: AtomicUsize,
    client: reqwest::Client,
    stop: AtomicBool,
    retried: AtomicU64,
}

impl Balancer {
    fn new(bases: Vec<String>) -> Arc<Balancer> {
        let lb = Arc::new(Balancer {
            ready: bases.iter().map(|_| AtomicBool::new(true)).collect(),
            bases,
            next: AtomicUsize::new(0),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            stop: AtomicBool::new(false),
            retried: AtomicU64::new(0),
        });
        let checker = lb.clone();
        tokio::spawn(async move {
            let probe = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
            while !checker.stop.load(Ordering::Relaxed) {
                for (i, base) in checker.bases.iter().enumerate() {
                    let ok = matches!(probe.get(format!("{base}/readyz")).send().await, Ok(r) if r.status() == 200);
                    checker.ready[i].store(ok, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        lb
    }

    async fn post(&self, path: &str, auth: &str, body: &str) -> Result<Res, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = self.bases.len();
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(i) = (0..n).map(|k| (start + k) % n).find(|i| self.ready[*i].load(Ordering::Relaxed)) else {
                if Instant::now() > deadline {
                    return Err("no node ready for 20 s".into());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let sent = self
                .client
                .post(format!("{}{path}", self.bases[i]))
                .header("authorization", auth)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned())
                .send()
                .await;
            match sent {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let headers = r.headers().clone();
                    let body = r.text().await.map_err(|e| format!("{path} on node {i}: body: {e}"))?;
                    return Ok(Res { status, headers, body });
                }
                Err(e) if e.is_connect() => {
                    self.ready[i].store(false, Ordering::Relaxed);
                    self.retried.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => return Err(format!("{path} on node {i}: {e:?}")),
            }
        }
    }
}

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failures: std::sync::Mutex<Vec<String>>,
}

impl Tally {
    fn check(&self, what: &str, r: Result<Res, String>) -> Option<serde_json::Value> {
        match r {
            Ok(r) if r.status == 200 => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                Some(r.json())
            }
            Ok(r) => {
                self.failures.lock().unwrap().push(format!("{what}: {} {}", r.status, r.body));
                None
            }
            Err(e) => {
                self.failures.lock().unwrap().push(format!("{what}: {e}"));
                None
            }
        }
    }
}

fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}

/// A refresh token for alice and `web`, through the whole browser flow on `node`.
async fn refresh_token(node: &KeycardProcess) -> String {
    let ua = UserAgent::behind_proxy(&node.base, ISSUER);
    let (v, c) = pkce();
    let url = format!(
        "/authorize?response_type=code&client_id=web&redirect_uri={}&scope={}&state=s&code_challenge={c}&code_challenge_method=S256",
        enc("https://web.example/cb"),
        enc("openid offline_access api:read")
    );
    let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let body = format!(
        "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={v}",
        enc("https://web.example/cb")
    );
    let r = post_form(&node.url("/token"), Some(&basic("web", WEB_SECRET)), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["refresh_token"].as_str().unwrap().to_owned()
}

async fn worker(lb: Arc<Balancer>, tally: Arc<Tally>, stop: Arc<AtomicBool>, mut refresh: String) {
    let web = basic("web", WEB_SECRET);
    let jwt = basic("svc-jwt", SVC_SECRET);
    let opaque = basic("svc-opaque", SVC_SECRET);
    while !stop.load(Ordering::Relaxed) {
        tally.check("jwt token", lb.post("/token", &jwt, "grant_type=client_credentials").await);
        if let Some(t) = tally.check("opaque token", lb.post("/token", &opaque, "grant_type=client_credentials").await)
        {
            let token = t["access_token"].as_str().unwrap().to_owned();
            if let Some(i) = tally.check("introspect", lb.post("/introspect", &opaque, &format!("token={token}")).await)
                && i["active"] != true
            {
                tally.failures.lock().unwrap().push(format!("a fresh opaque token is inactive: {i}"));
            }
        }
        let body = format!("grant_type=refresh_token&refresh_token={}", enc(&refresh));
        match tally.check("refresh", lb.post("/token", &web, &body).await) {
            Some(t) => refresh = t["refresh_token"].as_str().unwrap().to_owned(),
            // The chain is broken: every later refresh would fail too; stop counting this one.
            None => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rolling_restart_of_two_nodes_loses_no_request() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = |name: &str| {
        let mut s = NodeSpec::new(&dir.path().join(name), &pg.url)
            .env("KEYCARD_HTTP__SHUTDOWN_DELAY_SECS", "1")
            .env("KEYCARD_HTTP__SHUTDOWN_GRACE_SECS", "10")
            .env("KEYCARD_LOGIN__CLIENT_MAX_FAILURES", "1000000");
        s.issuer = Some(ISSUER.into());
        s.extra = PROVISION.into();
        s
    };
    let a = spec("a").start(None).await;
    let b = spec("b").start(None).await;
    let mut nodes = [a, b];
    let lb = Balancer::new(nodes.iter().map(|n| n.base.clone()).collect());
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = tokio::task::JoinSet::new();
    for i in 0..4 {
        let rt = refresh_token(&nodes[i % 2]).await;
        workers.spawn(worker(lb.clone(), tally.clone(), stop.clone(), rt));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut stops = Vec::new();
    for round in 0..2 {
        for (i, node) in nodes.iter_mut().enumerate() {
            let before = tally.ok.load(Ordering::Relaxed);
            let t = Instant::now();
            node.signal("TERM");
            let status = node.wait_exit(Duration::from_secs(20)).await;
            assert!(status.success(), "round {round}, node {i}: exit {status}\n{}", node.log_text());
            stops.push(t.elapsed());
            let log = node.log_text();
            assert!(log.contains("readiness is off"), "{log}");
            assert!(log.contains("stopped"), "{log}");
            *node = node.restart().await;
            // Load kept flowing through the other node meanwhile.
            assert!(tally.ok.load(Ordering::Relaxed) > before, "round {round}, node {i}: no request served");
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    workers.join_all().await;
    lb.stop.store(true, Ordering::Relaxed);
    let failures = tally.failures.lock().unwrap().clone();
    assert!(failures.is_empty(), "{} failed requests: {:?}", failures.len(), &failures[..failures.len().min(10)]);
    let ok = tally.ok.load(Ordering::Relaxed);
    assert!(ok > 100, "enough load: {ok}");
    eprintln!(
        "rolling restart: 4 node restarts, {ok} requests answered 200, 0 failed, {} refused connections retried by the balancer; SIGTERM to exit: {:?}",
        lb.retried.load(Ordering::Relaxed),
        stops
    );
    for n in &mut nodes {
        n.signal("TERM");
        n.wait_exit(Duration::from_secs(20)).await;
    }
    pg.cleanup().await;
}

/// SIGTERM on one SQLite node (no delay) while work is in flight: ten password sign-ins queued
/// behind one argon2 thread (each takes a while), plus keep-alive clients asking for tokens.
/// Every request sent before the signal is answered 200 while the node drains; requests after it
/// are answered or find the listener closed, never an error status; the process exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_drains_in_flight_requests_then_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("data").join("keycard.db").display());
    let mut spec = NodeSpec::new(dir.path(), &db)
        .env("KEYCARD_LOGIN__MAX_CONCURRENT_HASHES", "1")
        // Ten sign-ins of one account at once are not a guessing attack here.
        .env("KEYCARD_LOGIN__MAX_ATTEMPTS", "1000")
        .env("KEYCARD_LOGIN__IP_MAX_ATTEMPTS", "1000")
        .env("KEYCARD_LEGACY__PASSWORD_GRANT", "true");
    spec.extra = format!(
        "{PROVISION}\n[[provision.clients]]\nid = \"legacy\"\nsecret = {SVC_SECRET:?}\ngrant_types = [\"password\"]\nscopes = [\"openid\"]\n"
    );
    let mut node = spec.start(None).await;
    let (token_url, legacy, opaque) =
        (node.url("/token"), basic("legacy", SVC_SECRET), basic("svc-opaque", SVC_SECRET));
    // In flight at the signal: sign-ins waiting for the one hashing thread. Each is written
    // whole on its own connection before the signal (so the server holds it, accepted or queued
    // in the kernel), and read after it.
    let mut before = Vec::new();
    for _ in 0..10 {
        let body = "grant_type=password&username=alice&password=alice-password-1&scope=openid";
        let request = format!(
            "POST /token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {legacy}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", node.port)).await.expect("connect");
        tokio::io::AsyncWriteExt::write_all(&mut conn, request.as_bytes()).await.expect("send");
        before.push(tokio::spawn(async move {
            let mut answer = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut conn, &mut answer)
                .await
                .map(|_| String::from_utf8_lossy(&answer).into_owned())
        }));
    }
    // And keep-alive clients, before and after the signal.
    let stop = Arc::new(AtomicBool::new(false));
    let mut after = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (url, auth, stop) = (token_url.clone(), opaque.clone(), stop.clone());
        after.spawn(async move {
            let client = reqwest::Client::new();
            let (mut ok, mut closed, mut bad) = (0u32, 0u32, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                let r = client
                    .post(&url)
                    .header("authorization", &auth)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body("grant_type=client_credentials")
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => ok += 1,
                    Ok(r) => bad.push(format!("status {}", r.status())),
                    // Refused, or reset in the instant the listener closed: never answered wrongly.
                    Err(e) if e.is_connect() || e.is_request() => {
                        closed += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => bad.push(format!("{e:?}")),
                }
            }
            (ok, closed, bad)
        });
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let t = Instant::now();
    node.signal("TERM");
    let mut answered = 0;
    for r in before {
        let answer = r.await.unwrap().expect("the answer is read, not reset");
        assert!(answer.starts_with("HTTP/1.1 200 "), "a sign-in in flight at SIGTERM is answered: {answer}");
        answered += 1;
    }
    let status = node.wait_exit(Duration::from_secs(20)).await;
    let took = t.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut closed) = (0, 0);
    for (o, c, bad) in after.join_all().await {
        assert!(bad.is_empty(), "{bad:?}");
        ok += o;
        closed += c;
    }
    assert!(status.success(), "exit {status}: {}", node.log_tail());
    eprintln!(
        "sigterm while draining: {answered} sign-ins in flight all answered; token clients: {ok} answered, {closed} found the listener closed; exit 0 after {took:?}"
    );
    // The next start serves again.
    let node = node.restart().await;
    let r = post_form(&node.url("/token"), Some(&opaque), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.body);
}
