//! The example clients of the CLI against a real Keycard: `keycard device-login` (RFC 8628) with
//! the test playing the user on the verification page, and `keycard login` (RFC 8252) with the
//! test playing the browser that comes back to the CLI's loopback listener. The `keycard` binary
//! runs as a child process; every wait is bounded and the child is killed if a test fails.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use std::io::BufRead as _;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `keycard` child process whose stdout and stderr lines are collected; killed on drop.
struct Cli {
    child: std::process::Child,
    lines: Arc<Mutex<Vec<(Stream, String)>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stream {
    Out,
    Err,
}

/// How the child ended.
#[derive(Debug)]
struct Exit {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Cli {
    fn spawn(args: &[&str]) -> Cli {
        let mut child = Command::new(env!("CARGO_BIN_EXE_keycard"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start keycard");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for (stream, pipe) in
            [(Stream::Out, Box::new(stdout) as Box<dyn std::io::Read + Send>), (Stream::Err, Box::new(stderr))]
        {
            let lines = lines.clone();
            readers.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    lines.lock().unwrap().push((stream, line));
                }
            }));
        }
        Cli { child, lines, readers }
    }

    fn text(&self, stream: Stream) -> String {
        let lines = self.lines.lock().unwrap();
        lines.iter().filter(|(s, _)| *s == stream).map(|(_, l)| format!("{l}\n")).collect()
    }

    /// Waits (bounded) for a line on either stream that satisfies `pred`.
    async fn wait_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> (Stream, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(found) = self.lines.lock().unwrap().iter().find(|(_, l)| pred(l)).cloned() {
                return found;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers drain the pipes, then look once more.
                tokio::time::sleep(Duration::from_millis(200)).await;
                if let Some(found) = self.lines.lock().unwrap().iter().find(|(_, l)| pred(l)).cloned() {
                    return found;
                }
                panic!(
                    "keycard exited ({status}) before printing {what}\nstdout:\n{}\nstderr:\n{}",
                    self.text(Stream::Out),
                    self.text(Stream::Err)
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within 30 s\nstdout:\n{}\nstderr:\n{}",
                self.text(Stream::Out),
                self.text(Stream::Err)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (bounded) for the child to exit and returns its code and output.
    async fn wait_exit(&mut self) -> Exit {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "keycard did not exit within 30 s\nstdout:\n{}\nstderr:\n{}",
                self.text(Stream::Out),
                self.text(Stream::Err)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Exit { code: status.code(), stdout: self.text(Stream::Out), stderr: self.text(Stream::Err) }
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn device_server() -> TestServer {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.device.poll_interval_secs = 1),
        ..Default::default()
    })
    .await;
    code_flow_fixtures(&s).await;
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![GrantType::DeviceCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into(), "api:read".into()],
        ..Default::default()
    })
    .await;
    s
}

/// The user code from the CLI's `User code: XXXX-XXXX` line.
fn user_code_of(line: &str) -> String {
    let after = line.split_once("User code: ").expect("User code line").1;
    after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect()
}

/// The user: signs in as alice on the verification page and decides.
async fn user_acts(ua: &UserAgent, user_code: &str, decision: &str) -> Res {
    device_user_acts(ua, user_code, "Living Room TV", decision).await.1
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_prints_the_tokens_after_approval() {
    let s = device_server().await;
    let mut cli = Cli::spawn(&[
        "device-login",
        "--issuer",
        &s.base,
        "--client-id",
        "tv",
        "--scope",
        "openid offline_access api:read",
    ]);
    let (stream, line) = cli.wait_line("the user code", |l| l.contains("User code: ")).await;
    assert_eq!(stream, Stream::Out, "human output goes to stdout");
    let user_code = user_code_of(&line);
    assert_eq!(user_code.len(), 9, "{line}");
    // The verification URI, its direct link and a QR code in half blocks are shown too.
    cli.wait_line("the end of the instructions", |l| l.starts_with("The code expires in")).await;
    let shown = cli.text(Stream::Out);
    assert!(shown.contains(&s.url("/device")), "{shown}");
    assert!(shown.contains(&format!("Direct link: {}", s.url(&format!("/device?user_code={user_code}")))), "{shown}");
    assert!(shown.contains('▀') || shown.contains('▄'), "a QR code: {shown}");

    let ua = UserAgent::new(&s.base);
    let done = user_acts(&ua, &user_code, "approve").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Device connected"), "{}", done.body);

    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(0), "{exit:?}");
    let out = &exit.stdout;
    assert!(out.contains("Approved."), "{out}");
    assert!(out.contains("access_token:  ey"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("scope:") && l.contains("api:read")), "{out}");
    assert!(out.contains("refresh_token: issued"), "{out}");
    assert!(out.contains("id_token claims (decoded, signature NOT verified):"), "{out}");
    assert!(out.contains(&format!("\"iss\": \"{}\"", s.base)), "{out}");
    assert!(out.contains("\"aud\": \"tv\""), "{out}");
    assert!(!out.contains("kc_rt_"), "the refresh token itself is not printed without --json: {out}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_denied_exits_1_with_one_line() {
    let s = device_server().await;
    let mut cli =
        Cli::spawn(&["device-login", "--issuer", &s.base, "--client-id", "tv", "--scope", "openid", "--json"]);
    let (stream, line) = cli.wait_line("the user code", |l| l.contains("User code: ")).await;
    assert_eq!(stream, Stream::Err, "with --json the instructions go to stderr");
    let ua = UserAgent::new(&s.base);
    let done = user_acts(&ua, &user_code_of(&line), "deny").await;
    assert!(done.body.contains("Access denied"), "{}", done.body);

    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(1), "{exit:?}");
    assert!(exit.stdout.is_empty(), "no tokens: {exit:?}");
    let last = exit.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: access denied"), "{exit:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn device_login_json_prints_the_raw_token_response() {
    let s = device_server().await;
    let mut cli = Cli::spawn(&[
        "device-login",
        "--issuer",
        &format!("{}/", s.base),
        "--client-id",
        "tv",
        "--scope",
        "openid",
        "--scope",
        "offline_access",
        "--json",
        "--no-qr",
    ]);
    let (_, line) = cli.wait_line("the user code", |l| l.contains("User code: ")).await;
    let ua = UserAgent::new(&s.base);
    user_acts(&ua, &user_code_of(&line), "approve").await;
    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(0), "{exit:?}");
    assert!(!exit.stderr.contains('▀') && !exit.stderr.contains('▄'), "--no-qr: {}", exit.stderr);
    let t: serde_json::Value = serde_json::from_str(&exit.stdout).expect("stdout is the JSON token response");
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["refresh_token"].as_str().unwrap().starts_with("kc_rt_"), "{t}");
    assert_eq!(jwt_parts(t["access_token"].as_str().unwrap()).1["client_id"], "tv");
    s.stop().await;
}

async fn login_server() -> TestServer {
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await;
    s.create_client(ClientSpec {
        id: Some("desktop".into()),
        name: Some("Desktop App".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "profile".into(), "offline_access".into(), "api:read".into()],
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        ..Default::default()
    })
    .await;
    s
}

/// Starts `keycard login` and returns it with the authorization URL it printed.
async fn start_login(s: &TestServer, scope: &str) -> (Cli, String) {
    let mut cli = Cli::spawn(&[
        "login",
        "--issuer",
        &s.base,
        "--client-id",
        "desktop",
        "--scope",
        scope,
        "--no-browser",
        "--json",
        "--timeout",
        "60",
    ]);
    let prefix = s.url("/authorize?");
    let (stream, line) = cli.wait_line("the authorization URL", |l| l.trim().starts_with(&prefix)).await;
    assert_eq!(stream, Stream::Err, "with --json the instructions go to stderr");
    // The listener is up before the URL is printed.
    (cli, line.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread")]
async fn login_completes_code_flow_with_pkce_on_a_loopback_port() {
    let s = login_server().await;
    let (mut cli, url) = start_login(&s, "openid offline_access api:read").await;
    let q = query_of(&url);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "desktop");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 22, "a random state");
    assert!(q.contains_key("nonce"), "a nonce with openid");
    let redirect = q["redirect_uri"].clone();
    assert!(redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/callback"), "{redirect}");

    let ua = UserAgent::new(&s.base);
    let callback = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    assert!(callback.starts_with(&format!("{redirect}?")), "{callback}");
    let cq = query_of(&callback);
    assert_eq!(cq["state"], q["state"]);
    assert_eq!(cq["iss"], s.base);
    assert!(cq.contains_key("code"));

    // The browser comes back to the CLI.
    let page = send(http().get(&callback)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("You can close this window"), "{}", page.body);
    assert!(page.header("content-type").unwrap_or("").starts_with("text/html"));

    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(0), "{exit:?}");
    let t: serde_json::Value = serde_json::from_str(&exit.stdout).expect("stdout is the JSON token response");
    assert!(t["access_token"].is_string(), "{t}");
    assert!(t["refresh_token"].is_string(), "{t}");
    let id = jwt_parts(t["id_token"].as_str().expect("id_token")).1;
    assert_eq!(id["aud"], "desktop");
    assert_eq!(id["iss"], s.base);
    assert_eq!(id["nonce"], q["nonce"]);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_refuses_a_callback_with_the_wrong_state() {
    let s = login_server().await;
    let (mut cli, url) = start_login(&s, "openid").await;
    let ua = UserAgent::new(&s.base);
    let callback = authorize_in(&ua, &url, "alice", "alice-password-1").await;
    let mut forged = url::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" { "forged".to_owned() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    forged.query_pairs_mut().clear().extend_pairs(pairs);

    let page = send(http().get(forged.as_str())).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.body.contains("state"), "{}", page.body);
    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(1), "{exit:?}");
    assert!(exit.stdout.is_empty(), "{exit:?}");
    let last = exit.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: ") && last.contains("state"), "{exit:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn login_reports_an_error_answer_and_ignores_other_paths() {
    let s = login_server().await;
    let (mut cli, url) = start_login(&s, "openid").await;
    let q = query_of(&url);
    let redirect = &q["redirect_uri"];
    // A stray request (a favicon) is not the answer.
    let r = send(http().get(redirect.replace("/callback", "/favicon.ico"))).await;
    assert_eq!(r.status, 404);
    // The user said no: RFC 6749 §4.1.2.1 error with state and iss.
    let answer = format!(
        "{redirect}?error=access_denied&error_description=the+user+declined&state={}&iss={}",
        q["state"],
        form_urlencoded::byte_serialize(s.base.as_bytes()).collect::<String>()
    );
    let page = send(http().get(&answer)).await;
    assert_eq!(page.status, 400);
    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(1), "{exit:?}");
    let last = exit.stderr.lines().last().unwrap_or_default();
    assert_eq!(last, "error: the authorization server answered access_denied: the user declined", "{exit:?}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_issuer_is_one_line_and_help_teaches() {
    let mut cli = Cli::spawn(&["device-login", "--issuer", "http://127.0.0.1:1", "--client-id", "tv"]);
    let exit = cli.wait_exit().await;
    assert_eq!(exit.code, Some(1), "{exit:?}");
    assert_eq!(exit.stderr.lines().count(), 1, "{exit:?}");
    assert!(exit.stderr.starts_with("error: cannot reach the issuer http://127.0.0.1:1"), "{exit:?}");

    for (cmd, example) in [("login", "keycard login --client-id desktop"), ("device-login", "keycard device-login")] {
        let mut cli = Cli::spawn(&[cmd, "--help"]);
        let exit = cli.wait_exit().await;
        assert_eq!(exit.code, Some(0));
        assert!(exit.stdout.contains("Examples:") && exit.stdout.contains(example), "{}", exit.stdout);
        assert!(exit.stdout.contains("--client-secret-stdin"), "{}", exit.stdout);
    }
}
