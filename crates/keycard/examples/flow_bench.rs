//! Load generator for the full authorization code flow (bench/run.sh --flow; bench/README.md).
//!
//! Each virtual user is a browser with its own cookie jar (written here: reqwest's cookie
//! feature is not enabled) and no redirect following, talking over keep-alive HTTP to a running
//! Keycard. It loops until the time is up:
//!
//! 1. `GET /authorize` (code, PKCE S256 with a fresh verifier, `openid offline_access`) → 303
//!    to `/login?request=…`;
//! 2. `GET /login?request=…` (hidden `request_id` and `csrf_token`), then `POST /login` with
//!    `Origin: <base>` → 303. The first flow of an account leads to `/consent` (`GET`, then
//!    `POST decision=approve`); consent is remembered, so later flows go straight to the client's
//!    redirect URI with the code;
//! 3. `POST /token` `grant_type=authorization_code` (client_secret_basic, PKCE verifier);
//! 4. `POST /token` `grant_type=refresh_token` with the refresh token just received.
//!
//! The session cookie (not the browser cookie) is dropped at the start of every flow, so every
//! flow signs in: the login POST, whose cost is one argon2id verification by design, is measured
//! in every flow. Any unexpected status or answer counts as an error and ends that flow.
//!
//! Before the load, N argon2id hashes with the server's default parameters are timed in-process
//! (`keycard::admin::hash_password`), which gives the per-hash cost and the implied upper bound
//! of sign-ins per second on this machine.
//!
//! `--count-statements --server-log FILE` instead runs two flows of one account one step at a
//! time against a server that logs `sqlx::query=debug` as JSON into FILE (`--log-format json`)
//! and prints the SQL statements each step ran, by kind; the code redemption and the refresh
//! must each change state with at most one statement.
//!
//! ```sh
//! cargo run --release -p keycard --example flow_bench -- --base http://127.0.0.1:8080 \
//!     --concurrency 32 --duration 10 --users 32
//! ```

use base64::Engine as _;
use clap::Parser;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Full authorization code flow load generator for Keycard.
#[derive(Parser, Debug, Clone)]
#[command(name = "flow_bench")]
struct Args {
    /// Keycard's base URL, which must also be its issuer (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    base: String,
    /// Virtual users (browsers) running flows at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds during which new flows are started (flows in progress then finish).
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Accounts `<user-prefix>0` … `<user-prefix>N-1` (default: one per virtual user).
    #[arg(long)]
    users: Option<usize>,
    /// Account name prefix.
    #[arg(long, default_value = "bench-user-")]
    user_prefix: String,
    /// Password of every account.
    #[arg(long, default_value = "bench-password-0123456789")]
    password: String,
    /// Confidential client (authorization_code + refresh_token, client_secret_basic).
    #[arg(long, default_value = "bench-web")]
    client_id: String,
    /// Its secret.
    #[arg(long, default_value = "bench-secret-0123456789abcdef0123456789abcdef")]
    client_secret: String,
    /// Its registered redirect URI (never called: the code is read from the Location header).
    #[arg(long, default_value = "http://127.0.0.1:9/cb")]
    redirect_uri: String,
    /// argon2id hashes timed in-process before the load (0: none).
    #[arg(long, default_value_t = 8)]
    hash_samples: usize,
    /// Seconds allowed for one HTTP request.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// A label for the report (e.g. the backend).
    #[arg(long, default_value = "")]
    label: String,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    summary_json: Option<PathBuf>,
    /// Instead of the load: run two flows of `--count-user` step by step and count the SQL
    /// statements of each step in `--server-log`.
    #[arg(long)]
    count_statements: bool,
    /// The server's log: JSON lines (`--log-format json`) with `sqlx::query=debug`.
    #[arg(long)]
    server_log: Option<PathBuf>,
    /// Account used by --count-statements (a fresh one, so that its first flow asks for consent).
    #[arg(long, default_value = "bench-count")]
    count_user: String,
    /// The server's pid: its CPU use during the load is reported (Linux `/proc`).
    #[arg(long)]
    server_pid: Option<u32>,
}

// ------------------------------------------------------------------------------------- steps

const STEPS: [&str; 7] =
    ["authorize", "login page", "login POST", "consent page", "consent POST", "token (code)", "refresh"];
const AUTHORIZE: usize = 0;
const LOGIN_PAGE: usize = 1;
const LOGIN_POST: usize = 2;
const CONSENT_PAGE: usize = 3;
const CONSENT_POST: usize = 4;
const TOKEN: usize = 5;
const REFRESH: usize = 6;

/// A failed step: which one and why.
struct StepError {
    step: usize,
    what: String,
}

fn fail<T>(step: usize, what: impl Into<String>) -> Result<T, StepError> {
    Err(StepError { step, what: what.into() })
}

// ------------------------------------------------------------------------------------ browser

/// A captured response.
struct Res {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Res {
    /// Short description for error reports: status, Location, and the page's heading and alert
    /// (HTML) or the body (JSON).
    fn describe(&self) -> String {
        let mut s = format!("HTTP {}", self.status);
        if let Some(l) = &self.location {
            s.push_str(&format!(" Location: {}", truncate(l, 200)));
        }
        let b = self.body.trim();
        if b.starts_with('{') {
            s.push_str(&format!(" body: {}", truncate(b, 300)));
        } else {
            let mut parts = Vec::new();
            for (open, close) in [("<h1>", "</h1>"), ("role=\"alert\">", "</p>")] {
                if let Some(i) = b.find(open) {
                    let rest = &b[i + open.len()..];
                    parts.push(rest[..rest.find(close).unwrap_or(rest.len().min(200))].trim().to_owned());
                }
            }
            if parts.is_empty() && !b.is_empty() {
                parts.push(truncate(b, 200));
            }
            if !parts.is_empty() {
                s.push_str(&format!(" page: {}", parts.join(" / ")));
            }
        }
        s
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// One browser: a cookie jar over a shared keep-alive client that never follows redirects.
struct Browser {
    http: reqwest::Client,
    base: String,
    jar: Vec<(String, String)>,
}

impl Browser {
    fn new(http: reqwest::Client, base: &str) -> Browser {
        Browser { http, base: base.to_owned(), jar: Vec::new() }
    }

    fn abs(&self, url: &str) -> String {
        if url.starts_with('/') { format!("{}{}", self.base, url) } else { url.to_owned() }
    }

    fn cookie_header(&self) -> String {
        self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    /// Drops the sign-in session cookie (both spellings), keeping the browser cookie.
    fn clear_session(&mut self) {
        self.jar.retain(|(k, _)| k != "kc_session" && k != "__Host-kc_session");
    }

    fn store_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for sc in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(sc) = sc.to_str() else { continue };
            let (kv, attrs) = sc.split_once(';').unwrap_or((sc, ""));
            let Some((k, v)) = kv.split_once('=') else { continue };
            let (k, v) = (k.trim(), v.trim());
            self.jar.retain(|(n, _)| n != k);
            let expired = attrs.split(';').any(|a| a.trim().eq_ignore_ascii_case("max-age=0"));
            if !expired && !v.is_empty() {
                self.jar.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    async fn send(&mut self, rb: reqwest::RequestBuilder) -> Result<Res, String> {
        let rb = if self.jar.is_empty() { rb } else { rb.header(reqwest::header::COOKIE, self.cookie_header()) };
        let r = rb.send().await.map_err(|e| format!("request failed: {e}"))?;
        self.store_cookies(r.headers());
        let status = r.status().as_u16();
        let location = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let body = r.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
        Ok(Res { status, location, body })
    }

    async fn get(&mut self, url: &str) -> Result<Res, String> {
        let rb = self.http.get(self.abs(url));
        self.send(rb).await
    }

    async fn post_form(&mut self, url: &str, fields: &[(&str, &str)]) -> Result<Res, String> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let rb = self
            .http
            .post(self.abs(url))
            .header(reqwest::header::ORIGIN, self.base.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        self.send(rb).await
    }
}

/// Finds `name="NAME" value="VALUE"` in HTML and unescapes the value (as the tests do).
fn form_field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')? + start;
    Some(
        html[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// HTTP Basic with RFC 6749 §2.3.1 form-encoding of id and secret.
fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// PKCE (verifier, S256 challenge).
fn pkce() -> (String, String) {
    let v = keycard::jose::random_token(32);
    let c = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes()).as_ref());
    (v, c)
}

// --------------------------------------------------------------------------------------- flow

/// Configuration shared by every virtual user.
struct Setup {
    args: Args,
    /// `Authorization` header of the client.
    auth: String,
}

/// Observes each step: `before(step)` is called just before its first request, `after(step,
/// elapsed)` once it succeeded.
trait Observer {
    fn before(&mut self, _step: usize) {}
    fn after(&mut self, step: usize, elapsed: Duration);
}

/// Runs one step: times `f` and reports it.
async fn timed<T, F>(obs: &mut impl Observer, step: usize, f: F) -> Result<T, StepError>
where
    F: std::future::Future<Output = Result<T, StepError>>,
{
    obs.before(step);
    let t0 = Instant::now();
    let out = f.await?;
    obs.after(step, t0.elapsed());
    Ok(out)
}

fn net(step: usize) -> impl Fn(String) -> StepError {
    move |what| StepError { step, what }
}

/// The code in a redirect to the client, after checking `state` and `iss`.
fn code_from(setup: &Setup, step: usize, res: &Res, state: &str) -> Result<String, StepError> {
    let loc = res.location.as_deref().unwrap_or("");
    if !loc.starts_with(&setup.args.redirect_uri) {
        return fail(step, format!("expected a redirect to the client, got {}", res.describe()));
    }
    let url = url::Url::parse(loc).map_err(|e| StepError { step, what: format!("bad Location {loc}: {e}") })?;
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    if let Some(e) = q.get("error") {
        return fail(
            step,
            format!("the client got error={e}: {}", q.get("error_description").cloned().unwrap_or_default()),
        );
    }
    if q.get("state").map(String::as_str) != Some(state) {
        return fail(step, format!("state not returned unchanged: {loc}"));
    }
    if q.get("iss").map(String::as_str) != Some(setup.args.base.as_str()) {
        return fail(step, format!("iss {:?} is not the base URL {}", q.get("iss"), setup.args.base));
    }
    q.get("code").cloned().ok_or_else(|| StepError { step, what: format!("no code in {loc}") })
}

/// A JSON token response with the expected members.
fn token_json(step: usize, res: &Res, want_id_token: bool) -> Result<serde_json::Value, StepError> {
    if res.status != 200 {
        return fail(step, res.describe());
    }
    let v: serde_json::Value = serde_json::from_str(&res.body)
        .map_err(|e| StepError { step, what: format!("not JSON ({e}): {}", res.describe()) })?;
    for m in ["access_token", "refresh_token"].iter().chain(want_id_token.then_some(&"id_token")) {
        if !v[*m].is_string() {
            return fail(step, format!("no {m} in {}", res.describe()));
        }
    }
    if v["token_type"].as_str().is_none_or(|t| !t.eq_ignore_ascii_case("bearer")) {
        return fail(step, format!("token_type is not Bearer: {}", res.describe()));
    }
    Ok(v)
}

/// One full flow in `b` for `username`.
async fn one_flow(setup: &Setup, b: &mut Browser, username: &str, obs: &mut impl Observer) -> Result<(), StepError> {
    let a = &setup.args;
    b.clear_session();
    let (verifier, challenge) = pkce();
    let state = keycard::jose::random_token(16);
    let authorize_url = format!(
        "/authorize?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &a.client_id)
            .append_pair("redirect_uri", &a.redirect_uri)
            .append_pair("scope", "openid offline_access")
            .append_pair("state", &state)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256")
            .finish()
    );

    // 1. /authorize → /login
    let login_url = timed(obs, AUTHORIZE, async {
        let res = b.get(&authorize_url).await.map_err(net(AUTHORIZE))?;
        match &res.location {
            Some(l) if res.status == 303 && l.starts_with("/login?request=") => Ok(l.clone()),
            _ => fail(AUTHORIZE, format!("expected 303 to /login, got {}", res.describe())),
        }
    })
    .await?;

    // 2. login page, login POST
    let (request_id, csrf) = timed(obs, LOGIN_PAGE, async {
        let res = b.get(&login_url).await.map_err(net(LOGIN_PAGE))?;
        match (res.status, form_field(&res.body, "request_id"), form_field(&res.body, "csrf_token")) {
            (200, Some(r), Some(c)) => Ok((r, c)),
            _ => fail(LOGIN_PAGE, format!("expected the login form, got {}", res.describe())),
        }
    })
    .await?;
    let after_login = timed(obs, LOGIN_POST, async {
        let fields = [
            ("request_id", request_id.as_str()),
            ("csrf_token", csrf.as_str()),
            ("username", username),
            ("password", a.password.as_str()),
        ];
        let res = b.post_form("/login", &fields).await.map_err(net(LOGIN_POST))?;
        if res.status != 303 || res.location.is_none() {
            return fail(LOGIN_POST, format!("expected 303, got {}", res.describe()));
        }
        Ok(res)
    })
    .await?;

    // 2b. consent, on the first flow of an account only
    let (final_redirect, last_step) = match after_login.location.as_deref() {
        Some(l) if l.starts_with("/consent?request=") => {
            let consent_url = l.to_owned();
            let (request_id, csrf) = timed(obs, CONSENT_PAGE, async {
                let res = b.get(&consent_url).await.map_err(net(CONSENT_PAGE))?;
                match (res.status, form_field(&res.body, "request_id"), form_field(&res.body, "csrf_token")) {
                    (200, Some(r), Some(c)) => Ok((r, c)),
                    _ => fail(CONSENT_PAGE, format!("expected the consent form, got {}", res.describe())),
                }
            })
            .await?;
            let res = timed(obs, CONSENT_POST, async {
                let fields =
                    [("request_id", request_id.as_str()), ("csrf_token", csrf.as_str()), ("decision", "approve")];
                let res = b.post_form("/consent", &fields).await.map_err(net(CONSENT_POST))?;
                if res.status != 303 {
                    return fail(CONSENT_POST, format!("expected 303, got {}", res.describe()));
                }
                Ok(res)
            })
            .await?;
            (res, CONSENT_POST)
        }
        _ => (after_login, LOGIN_POST),
    };
    let code = code_from(setup, last_step, &final_redirect, &state)?;

    // 3. code → tokens
    let refresh_token = timed(obs, TOKEN, async {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &a.redirect_uri)
            .append_pair("code_verifier", &verifier)
            .finish();
        let res = token_request(setup, b, body).await.map_err(net(TOKEN))?;
        let v = token_json(TOKEN, &res, true)?;
        Ok(v["refresh_token"].as_str().unwrap_or_default().to_owned())
    })
    .await?;

    // 4. refresh (rotation)
    timed(obs, REFRESH, async {
        let body = form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "refresh_token")
            .append_pair("refresh_token", &refresh_token)
            .finish();
        let res = token_request(setup, b, body).await.map_err(net(REFRESH))?;
        let v = token_json(REFRESH, &res, false)?;
        if v["refresh_token"].as_str() == Some(refresh_token.as_str()) {
            return fail(REFRESH, "the refresh token was not rotated");
        }
        Ok(())
    })
    .await
}

/// A back-channel token request (no cookies: the client's server talks to Keycard).
async fn token_request(setup: &Setup, b: &Browser, body: String) -> Result<Res, String> {
    let r = b
        .http
        .post(format!("{}/token", b.base))
        .header(reqwest::header::AUTHORIZATION, &setup.auth)
        .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = r.status().as_u16();
    let location = r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let body = r.text().await.map_err(|e| format!("reading the body failed: {e}"))?;
    Ok(Res { status, location, body })
}

// -------------------------------------------------------------------------------------- load

/// Latencies (µs) per step and errors, per virtual user, merged at the end.
#[derive(Default)]
struct Stats {
    lat: [Vec<u32>; STEPS.len()],
    flows: u64,
    errors: [u64; STEPS.len()],
    samples: Vec<String>,
}

impl Observer for Stats {
    fn after(&mut self, step: usize, elapsed: Duration) {
        self.lat[step].push(elapsed.as_micros().min(u32::MAX as u128) as u32);
    }
}

impl Stats {
    fn merge(&mut self, o: Stats) {
        for (a, b) in self.lat.iter_mut().zip(o.lat) {
            a.extend(b);
        }
        self.flows += o.flows;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        for s in o.samples {
            if self.samples.len() < 5 {
                self.samples.push(s);
            }
        }
    }
}

async fn virtual_user(setup: Arc<Setup>, http: reqwest::Client, idx: usize, deadline: Instant) -> Stats {
    let users = setup.args.users.unwrap_or(setup.args.concurrency).max(1);
    let username = format!("{}{}", setup.args.user_prefix, idx % users);
    let mut b = Browser::new(http, &setup.args.base);
    let mut st = Stats::default();
    while Instant::now() < deadline {
        match one_flow(&setup, &mut b, &username, &mut st).await {
            Ok(()) => st.flows += 1,
            Err(e) => {
                st.errors[e.step] += 1;
                if st.samples.len() < 5 {
                    st.samples.push(format!("{} ({username}): {}", STEPS[e.step], e.what));
                }
                // A failing server should not be hammered in a tight loop.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    st
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn ms(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v < 10.0 {
        format!("{v:.2}ms")
    } else if v < 100.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.0}ms")
    }
}

/// CPU time of the calling thread in ns (Linux: `/proc/thread-self/schedstat`), if available.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok()?.split_whitespace().next()?.parse().ok()
}

/// One argon2id hash timed: (wall ms, CPU ms of this thread when known).
struct HashTime {
    wall_ms: f64,
    cpu_ms: Option<f64>,
}

/// Times `n` argon2id hashes with the server's default parameters, one after the other on one
/// thread, after one untimed hash (the first one also pays for faulting in fresh memory). The CPU
/// time is what a hash costs; the wall time also holds whatever else the machine was doing.
async fn time_hashes(n: usize) -> Vec<HashTime> {
    if n == 0 {
        return Vec::new();
    }
    tokio::task::spawn_blocking(move || {
        let config = keycard::config::Config::default();
        let _ = keycard::admin::hash_password(&config, "bench-warm-up");
        (0..n)
            .map(|i| {
                let (c0, t0) = (thread_cpu_ns(), Instant::now());
                let h = keycard::admin::hash_password(&config, &format!("bench-password-{i}"));
                let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
                assert!(h.is_ok(), "hashing failed: {h:?}");
                let cpu_ms = c0.zip(thread_cpu_ns()).map(|(a, b)| b.saturating_sub(a) as f64 / 1e6);
                HashTime { wall_ms, cpu_ms }
            })
            .collect()
    })
    .await
    .unwrap_or_default()
}

/// CPU ticks used by process `pid` (utime + stime), from `/proc/PID/stat`.
fn proc_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// (busy, total) CPU ticks of the whole machine, from `/proc/stat`.
fn host_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let v: Vec<u64> = stat.lines().next()?.split_whitespace().skip(1).take(8).filter_map(|x| x.parse().ok()).collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    let total: u64 = v.iter().sum();
    Some((total - idle, total))
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn load(args: Args) -> i32 {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let users = args.users.unwrap_or(args.concurrency).max(1);
    let login = keycard::config::Config::default().login;
    let label = if args.label.is_empty() { String::new() } else { format!(" [{}]", args.label) };
    println!(
        "flow_bench{label}: {} concurrency {} for {} s, {users} accounts ({}0..{}), client {}, scope \"openid offline_access\"",
        args.base,
        args.concurrency,
        args.duration,
        args.user_prefix,
        users - 1,
        args.client_id
    );

    // argon2id in-process, with the server's default parameters, before the load.
    let hashes = time_hashes(args.hash_samples).await;
    let walls: Vec<f64> = hashes.iter().map(|h| h.wall_ms).collect();
    let cpu = hashes.iter().map(|h| h.cpu_ms).collect::<Option<Vec<f64>>>();
    // The cost of a hash: the least disturbed sample (a shared machine only ever adds to it), by
    // CPU time when the kernel tells it, else by wall time.
    let costs = cpu.clone().unwrap_or_else(|| walls.clone());
    let hash_ms = costs.iter().copied().fold(f64::NAN, f64::min);
    if !hashes.is_empty() {
        let unit = if cpu.is_some() { "CPU" } else { "wall" };
        println!(
            "argon2id in-process (m={} KiB, t={}, p={}), {} hashes one after the other: {hash_ms:.1} ms {unit} per \
             hash (fastest; {unit} median {:.1} ms; wall median {:.1} ms, max {:.1} ms)",
            login.argon2_memory_kib,
            login.argon2_iterations,
            login.argon2_parallelism,
            hashes.len(),
            median(costs.clone()),
            median(walls.clone()),
            walls.iter().copied().fold(0.0, f64::max),
        );
        let permits = login.max_concurrent_hashes.min(cores);
        println!(
            "  => at most {:.0} sign-ins/s on this machine's {cores} cores doing nothing else; at most {:.0}/s with \
             the server's {} concurrent hashes ([login] max_concurrent_hashes)",
            cores as f64 * 1000.0 / hash_ms,
            permits as f64 * 1000.0 / hash_ms,
            login.max_concurrent_hashes
        );
    }

    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency.max(1))
        .timeout(Duration::from_secs(args.timeout))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flow_bench: cannot build the HTTP client: {e}");
            return 2;
        }
    };
    let setup = Arc::new(Setup { auth: basic(&args.client_id, &args.client_secret), args: args.clone() });
    let cpu0 = (args.server_pid.and_then(proc_ticks), host_ticks(), proc_ticks(std::process::id()));
    let start = Instant::now();
    let deadline = start + Duration::from_secs(args.duration);
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| tokio::spawn(virtual_user(setup.clone(), http.clone(), i, deadline)))
        .collect();
    let mut st = Stats::default();
    for t in tasks {
        match t.await {
            Ok(s) => st.merge(s),
            Err(e) => {
                st.errors[AUTHORIZE] += 1;
                st.samples.push(format!("a virtual user panicked: {e}"));
            }
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu1 = (args.server_pid.and_then(proc_ticks), host_ticks(), proc_ticks(std::process::id()));
    let errors: u64 = st.errors.iter().sum();
    let flows_per_s = st.flows as f64 / elapsed;

    println!(
        "flows: {} completed in {:.1} s (new flows started for {} s, then the ones in progress finished) \
         = {:.1} flows/s; errors: {errors}",
        st.flows, elapsed, args.duration, flows_per_s
    );
    println!("{:<14}{:>7}{:>10}{:>10}{:>10}{:>10}{:>8}", "step", "count", "mean", "p50", "p99", "max", "errors");
    let mut steps_json = Vec::new();
    let mut total_us: u128 = 0;
    let mut sums = [0u128; STEPS.len()];
    for (i, lat) in st.lat.iter_mut().enumerate() {
        lat.sort_unstable();
        sums[i] = lat.iter().map(|&v| v as u128).sum();
        total_us += sums[i];
        let mean = if lat.is_empty() { f64::NAN } else { sums[i] as f64 / lat.len() as f64 / 1000.0 };
        let (p50, p99) = (percentile(lat, 0.50), percentile(lat, 0.99));
        let max = lat.last().map_or(f64::NAN, |&v| v as f64 / 1000.0);
        println!(
            "{:<14}{:>7}{:>10}{:>10}{:>10}{:>10}{:>8}",
            STEPS[i],
            lat.len(),
            ms(mean),
            ms(p50),
            ms(p99),
            ms(max),
            st.errors[i]
        );
        steps_json.push(serde_json::json!({
            "step": STEPS[i], "count": lat.len(), "errors": st.errors[i],
            "mean_ms": finite(mean), "p50_ms": finite(p50), "p99_ms": finite(p99), "max_ms": finite(max),
        }));
    }
    let share = if total_us > 0 { sums[LOGIN_POST] as f64 / total_us as f64 } else { f64::NAN };
    let per_flow = if st.flows > 0 { total_us as f64 / 1000.0 / st.flows as f64 } else { f64::NAN };
    println!(
        "login POST share of flow time: {:.1}% (summed login POST latency / summed latency of every step; \
         {} per flow on average, login POST {} of it)",
        share * 100.0,
        ms(per_flow),
        ms(if st.lat[LOGIN_POST].is_empty() {
            f64::NAN
        } else {
            sums[LOGIN_POST] as f64 / 1000.0 / st.lat[LOGIN_POST].len() as f64
        })
    );
    let logins_per_s = st.lat[LOGIN_POST].len() as f64 / elapsed;
    if !hash_ms.is_nan() {
        let bound = login.max_concurrent_hashes.min(cores) as f64 * 1000.0 / hash_ms;
        println!(
            "sign-ins: {logins_per_s:.1}/s = {:.0}% of the argon2 bound ({bound:.0}/s); password hashing alone \
             used at least {:.2} cores ({logins_per_s:.1}/s x {hash_ms:.1} ms)",
            logins_per_s / bound * 100.0,
            logins_per_s * hash_ms / 1000.0,
        );
    }
    // Linux USER_HZ is 100 ticks per second.
    let server_cores = cpu0.0.zip(cpu1.0).map(|(a, b)| b.saturating_sub(a) as f64 / 100.0 / elapsed);
    let host_busy = cpu0.1.zip(cpu1.1).map(|((b0, t0), (b1, t1))| {
        (b1.saturating_sub(b0)) as f64 / (t1.saturating_sub(t0)).max(1) as f64 * cores as f64
    });
    let own_cores = cpu0.2.zip(cpu1.2).map(|(a, b)| b.saturating_sub(a) as f64 / 100.0 / elapsed);
    if server_cores.is_some() || host_busy.is_some() {
        let f = |v: Option<f64>| v.map_or("?".into(), |c| format!("{c:.2}"));
        println!(
            "CPU during the load: server {} cores, flow_bench {} cores, whole machine busy {} of {cores} cores \
             (also the database server, if local, and anything else running)",
            f(server_cores),
            f(own_cores),
            f(host_busy),
        );
    }
    if !st.samples.is_empty() {
        println!("first errors:");
        for s in &st.samples {
            println!("  {s}");
        }
    }
    if let Some(path) = &args.summary_json {
        let j = serde_json::json!({
            "label": args.label, "base": args.base, "concurrency": args.concurrency, "duration_s": args.duration,
            "elapsed_s": elapsed, "users": users, "flows": st.flows, "flows_per_s": flows_per_s, "errors": errors,
            "login_post_share": finite(share), "ms_per_flow": finite(per_flow), "logins_per_s": logins_per_s,
            "argon2_ms": finite(hash_ms), "argon2_cpu_time": cpu.is_some(),
            "argon2_median_ms": finite(median(costs)), "argon2_wall_median_ms": finite(median(walls)),
            "cores": cores, "server_cores": server_cores, "flow_bench_cores": own_cores,
            "host_busy_cores": host_busy,
            "max_concurrent_hashes": login.max_concurrent_hashes, "steps": steps_json, "first_errors": st.samples,
        });
        if let Err(e) = std::fs::write(path, format!("{j:#}\n")) {
            eprintln!("flow_bench: cannot write {}: {e}", path.display());
        }
    }
    if errors > 0 || st.flows == 0 { 1 } else { 0 }
}

fn finite(v: f64) -> serde_json::Value {
    if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null }
}

// -------------------------------------------------------------------------- statement counts

/// One SQL statement from the server's log.
struct Stmt {
    kind: String,
    table: String,
    rows_affected: u64,
    returning: bool,
}

impl Stmt {
    fn describe(&self) -> String {
        // sqlx counts rows_affected only for statements that return no rows.
        if self.returning {
            format!("{} {} (RETURNING)", self.kind, self.table)
        } else {
            format!(
                "{} {} ({} row{})",
                self.kind,
                self.table,
                self.rows_affected,
                if self.rows_affected == 1 { "" } else { "s" }
            )
        }
    }
}

/// Reads what the server logged since `offset` and keeps the statements.
struct LogTail {
    path: PathBuf,
    offset: u64,
}

impl LogTail {
    fn new(path: PathBuf) -> std::io::Result<LogTail> {
        let offset = std::fs::metadata(&path)?.len();
        Ok(LogTail { path, offset })
    }

    fn skip_to_end(&mut self) {
        if let Ok(m) = std::fs::metadata(&self.path) {
            self.offset = m.len();
        }
    }

    fn read_new(&mut self) -> std::io::Result<Vec<Stmt>> {
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.offset))?;
        let mut buf = String::new();
        f.read_to_string(&mut buf)?;
        // Only whole lines: a partial last line is read next time.
        let whole = buf.rfind('\n').map_or(0, |i| i + 1);
        self.offset += whole as u64;
        Ok(buf[..whole].lines().filter_map(parse_stmt).collect())
    }
}

fn parse_stmt(line: &str) -> Option<Stmt> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    if v["target"] != "sqlx::query" {
        return None;
    }
    let f = &v["fields"];
    let full = f["db.statement"].as_str().map(str::trim).filter(|s| !s.is_empty());
    let sql = full.or_else(|| f["summary"].as_str())?.trim().to_owned();
    // The cache's background poll for changes made elsewhere is not part of any request.
    if sql.contains("FROM meta WHERE key LIKE 'epoch:%'") {
        return None;
    }
    let words: Vec<&str> = sql.split_whitespace().collect();
    let kind = words.first().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let after = |kw: &str| {
        words
            .iter()
            .position(|w| w.eq_ignore_ascii_case(kw))
            .and_then(|i| words.get(i + 1))
            .map(|t| t.trim_matches(|c: char| !(c.is_alphanumeric() || c == '_')).to_owned())
    };
    let table = match kind.as_str() {
        "SELECT" | "DELETE" => after("FROM"),
        "INSERT" => after("INTO"),
        "UPDATE" => words.get(1).map(|s| (*s).to_owned()),
        _ => None,
    }
    .unwrap_or_else(|| truncate(&sql, 40));
    let rows_affected = f["rows_affected"].as_u64().unwrap_or(0);
    let returning = words.iter().any(|w| w.eq_ignore_ascii_case("RETURNING"));
    Some(Stmt { kind, table, rows_affected, returning })
}

/// Collects the statements of each step.
struct Counter {
    tail: LogTail,
    flow: usize,
    rows: Vec<(usize, usize, Vec<Stmt>)>,
    failed: Option<String>,
}

impl Observer for Counter {
    fn before(&mut self, _step: usize) {
        // Anything logged between steps (there should be nothing) is not attributed.
        std::thread::sleep(Duration::from_millis(100));
        if let Err(e) = self.tail.read_new() {
            self.failed = Some(format!("cannot read the server log: {e}"));
        }
    }

    fn after(&mut self, step: usize, _elapsed: Duration) {
        // The response is sent after the statements ran; give the log writer a moment anyway.
        std::thread::sleep(Duration::from_millis(100));
        match self.tail.read_new() {
            Ok(s) => self.rows.push((self.flow, step, s)),
            Err(e) => self.failed = Some(format!("cannot read the server log: {e}")),
        }
    }
}

fn is_write(kind: &str) -> bool {
    matches!(kind, "INSERT" | "UPDATE" | "DELETE" | "REPLACE")
}

async fn count_statements(args: Args) -> i32 {
    let Some(path) = args.server_log.clone() else {
        eprintln!("flow_bench: --count-statements needs --server-log FILE");
        return 2;
    };
    let mut tail = match LogTail::new(path.clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("flow_bench: cannot open the server log {}: {e}", path.display());
            return 2;
        }
    };
    tail.skip_to_end();
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(args.timeout))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("flow_bench: cannot build the HTTP client: {e}");
            return 2;
        }
    };
    let setup = Setup { auth: basic(&args.client_id, &args.client_secret), args: args.clone() };
    let mut b = Browser::new(http, &args.base);
    let mut c = Counter { tail, flow: 0, rows: Vec::new(), failed: None };
    for flow in 1..=2 {
        c.flow = flow;
        if let Err(e) = one_flow(&setup, &mut b, &args.count_user, &mut c).await {
            eprintln!("flow_bench: flow {flow} failed at {}: {}", STEPS[e.step], e.what);
            return 1;
        }
    }
    if let Some(e) = c.failed {
        eprintln!("flow_bench: {e}");
        return 1;
    }
    let label = if args.label.is_empty() { String::new() } else { format!(" [{}]", args.label) };
    println!(
        "SQL statements per step{label} (server log at sqlx::query=debug; account {}; flow 1 asks for consent, \
         flow 2 has it remembered; both sign in)",
        args.count_user
    );
    println!(
        "{:<14}{:>5}{:>7}{:>7}{:>7}{:>7}{:>6}  writes (rows affected); [other]",
        "step", "flow", "SELECT", "INSERT", "UPDATE", "DELETE", "other"
    );
    let total: usize = c.rows.iter().map(|(_, _, s)| s.len()).sum();
    for (flow, step, stmts) in &c.rows {
        let n = |k: &str| stmts.iter().filter(|s| s.kind == k).count();
        let other =
            stmts.iter().filter(|s| !matches!(s.kind.as_str(), "SELECT" | "INSERT" | "UPDATE" | "DELETE")).count();
        let writes: Vec<String> = stmts
            .iter()
            .filter(|s| s.kind != "SELECT")
            .map(|s| if is_write(&s.kind) { s.describe() } else { format!("[{}]", s.table) })
            .collect();
        println!(
            "{:<14}{:>5}{:>7}{:>7}{:>7}{:>7}{:>6}  {}",
            STEPS[*step],
            flow,
            n("SELECT"),
            n("INSERT"),
            n("UPDATE"),
            n("DELETE"),
            other,
            if writes.is_empty() { "-".to_owned() } else { writes.join(", ") }
        );
    }
    if total == 0 {
        println!("no statements found in {}: is the server logging sqlx::query=debug as JSON?", path.display());
        return 1;
    }
    let mut ok = true;
    for (step, what) in [(TOKEN, "code redemption"), (REFRESH, "refresh rotation")] {
        for (flow, s, stmts) in &c.rows {
            if *s != step {
                continue;
            }
            let writes: Vec<&Stmt> = stmts.iter().filter(|s| is_write(&s.kind)).collect();
            let good = writes.len() <= 1;
            ok &= good;
            println!(
                "  {} {what} (flow {flow}): {} state-changing statement(s){}, {} read(s)",
                if good { "✓" } else { "✗" },
                writes.len(),
                writes.first().map(|w| format!(": {} {}", w.kind, w.table)).unwrap_or_default(),
                stmts.iter().filter(|s| s.kind == "SELECT").count()
            );
        }
    }
    if ok { 0 } else { 1 }
}

#[tokio::main]
async fn main() {
    let mut args = Args::parse();
    while args.base.ends_with('/') {
        args.base.pop();
    }
    let rc = if args.count_statements { count_statements(args).await } else { load(args).await };
    std::process::exit(rc);
}
