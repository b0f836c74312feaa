//! The login and consent pages in a real browser (docs/architecture.md, "Pages"): headless
//! Chromium, driven over WebDriver by `fantoccini` through a `chromedriver` this test starts,
//! runs the authorization code flow against a real Keycard on SQLite and lands on a loopback
//! callback server of the test. Covered: the login page (title, labels, autofocus, no console
//! errors), a wrong password (alert, still on the login page), consent (client name, scope
//! descriptions), Allow → code + state + iss at the callback → token exchange with PKCE, then
//! SSO for a second client (no login page again) and Deny → `error=access_denied`.
//!
//! Needs the Debian packages `chromium` and `chromium-driver` (`.ci/run` installs them). When
//! they are missing the test prints `SKIPPED browser test: …` and passes, unless
//! `KEYCARD_TEST_REQUIRE_BROWSER=1` (set by `.ci/run`), which makes it fail. `KEYCARD_CHROMIUM`
//! and `KEYCARD_CHROMEDRIVER` override the binaries; `KEYCARD_TEST_SCREENSHOTS=<dir>` keeps the
//! screenshots (otherwise they go to the test's temporary directory).
//!
//! Robustness rules: every wait is bounded ([`WAIT`]); chromedriver listens on a port it picks
//! itself (`--port=0`); Chromium gets a fresh profile directory; chromedriver and the Chromium it
//! starts run in their own process group, which [`Driver`]'s `Drop` kills, also on panic, and a
//! [`WATCHDOG`] kills when the test process dies without unwinding.

mod common;

use common::*;
use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use keycard::admin::ClientSpec;
use keycard::model::GrantType;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bound of every wait for the browser or chromedriver.
const WAIT: Duration = Duration::from_secs(10);

/// Chromium's switches: headless, no sandbox (CI runs as root), and nothing that talks to the
/// network on its own (the test machine only allows loopback).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=Translate,MediaRouter,OptimizationHints,AutofillServerCommunication",
    "--password-store=basic",
    "--window-size=1024,800",
];

/// True when the page's stylesheet loaded and has rules.
const STYLESHEET_LOADED: &str = "return [...document.styleSheets]
    .some(s => s.href && s.href.endsWith('/assets/keycard.css') && s.cssRules.length > 0)";

#[tokio::test(flavor = "multi_thread")]
async fn login_and_consent_pages_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else { return };
    let started = Instant::now();
    let s = TestServer::start().await;
    code_flow_fixtures(&s).await; // alice / alice-password-1
    let cb = Callback::start().await;
    let (first, _) = s.create_client(loopback_client("browser-app", "Browser App", &cb)).await;
    let (second, _) = s.create_client(loopback_client("second-app", "Second App", &cb)).await;
    let descriptions: HashMap<String, String> =
        s.state.store.list_scopes().await.unwrap().into_iter().map(|d| (d.name, d.description)).collect();

    let b = Browser::start(&chromium, &chromedriver).await;
    eprintln!("browser up after {:?}", started.elapsed());

    // 1. /authorize → the login page.
    let (verifier, challenge) = pkce();
    b.goto(&authorize_url(&s, &first, &cb, "state-allow", &challenge)).await;
    let username = b.wait_css("input#username", "the login page").await;
    let url = b.url().await;
    assert_eq!(url.path(), "/login", "{url}");
    assert!(url.query().is_some_and(|q| q.starts_with("request=")), "{url}");
    let title = b.client.title().await.unwrap();
    assert_eq!(title, "Sign in – Keycard");
    assert_eq!(b.text("h1").await, "Sign in");
    assert!(b.text("main").await.contains("to continue to Browser App"), "client name on the login page");
    assert_eq!(b.text("label[for=username]").await, "Username or e-mail");
    assert_eq!(b.text("label[for=password]").await, "Password");
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("username"), "the username field has focus");
    assert_eq!(
        b.client.find(Locator::Css("input#password")).await.unwrap().attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    assert!(b.script_bool(STYLESHEET_LOADED).await, "the stylesheet loaded (CSP allows it)");
    b.shot("login").await;
    b.assert_no_console_errors("login page").await;

    // 2. A wrong password: an alert on the login page, nothing else.
    username.send_keys("alice").await.unwrap();
    b.find("input#password").await.send_keys("not-the-password").await.unwrap();
    b.click_button("Sign in").await;
    let alert = b.wait_css("[role=alert]", "the wrong-password message").await;
    let message = alert.text().await.unwrap();
    assert!(!message.trim().is_empty(), "the alert says something");
    assert_eq!(b.url().await.path(), "/login", "still on the login page");
    assert_eq!(b.find("input#password").await.prop("value").await.unwrap().as_deref(), Some(""));
    assert!(cb.hits().is_empty(), "nothing reached the client");
    b.shot("login-error").await;
    b.assert_no_console_errors("login page with error").await;
    eprintln!("wrong password → {message:?}");

    // 3. The right password → the consent page.
    let username = b.find("input#username").await;
    username.clear().await.unwrap();
    username.send_keys("alice").await.unwrap();
    b.find("input#password").await.send_keys("alice-password-1").await.unwrap();
    b.click_button("Sign in").await;
    b.wait_css("button[name=decision][value=approve]", "the consent page").await;
    assert_eq!(b.url().await.path(), "/consent");
    assert_eq!(b.client.title().await.unwrap(), "Allow access – Keycard");
    assert_eq!(b.text("h1").await, "Browser App wants to access your account");
    assert!(b.text("main").await.contains("Signed in as Alice Liddell"));
    let shown = b.texts("ul.kc-scopes li").await;
    assert_eq!(shown, [descriptions["openid"].clone(), descriptions["profile"].clone()], "scope descriptions");
    b.shot("consent").await;
    b.assert_no_console_errors("consent page").await;

    // 4. Allow → the browser lands on the client's redirect URI with code, state and iss.
    b.click_button("Allow").await;
    let back = b.wait_callback(&cb, "the callback after Allow").await;
    let q = query_map(&back);
    assert_eq!(q.get("state").map(String::as_str), Some("state-allow"), "{back}");
    assert_eq!(q.get("iss"), Some(&s.base), "RFC 9207 iss: {back}");
    assert!(!q.contains_key("error"), "{back}");
    let code = q.get("code").unwrap_or_else(|| panic!("no code in {back}")).clone();
    assert_eq!(b.text("body").await, "done", "the callback page rendered");
    assert_eq!(cb.hits(), [back.query().unwrap().to_owned()], "the callback server saw exactly this request");
    b.assert_no_console_errors("callback").await;

    let tok = post_form(
        &s.url("/token"),
        None,
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &cb.redirect_uri())
            .append_pair("code_verifier", &verifier)
            .append_pair("client_id", &first)
            .finish(),
    )
    .await;
    assert_eq!(tok.status, 200, "{}", tok.body);
    let tok = tok.json();
    assert!(tok["access_token"].as_str().is_some_and(|t| !t.is_empty()), "{tok}");
    let id_token = tok["id_token"].as_str().unwrap_or_else(|| panic!("no id_token: {tok}"));
    let (_, claims) = jwt_parts(id_token);
    assert_eq!(claims["iss"], s.base.as_str());
    assert_eq!(claims["aud"], first.as_str());
    eprintln!("code flow done after {:?}", started.elapsed());

    // 5. Another client in the same browser: signed in already (SSO), so straight to consent.
    let (_, challenge) = pkce();
    let before = cb.hits().len();
    b.goto(&authorize_url(&s, &second, &cb, "state-deny", &challenge)).await;
    b.wait_css("button[name=decision][value=deny]", "the consent page of the second client").await;
    assert_eq!(b.url().await.path(), "/consent", "SSO: no login page for the second client");
    assert!(b.client.find(Locator::Css("input#password")).await.is_err(), "no password field");
    assert_eq!(b.text("h1").await, "Second App wants to access your account");
    b.assert_no_console_errors("second consent page").await;

    // 6. Deny → the callback with error=access_denied, state and iss, and no code.
    b.click_button("Deny").await;
    let back = b.wait_callback(&cb, "the callback after Deny").await;
    let q = query_map(&back);
    assert_eq!(q.get("error").map(String::as_str), Some("access_denied"), "{back}");
    assert_eq!(q.get("state").map(String::as_str), Some("state-deny"), "{back}");
    assert_eq!(q.get("iss"), Some(&s.base), "{back}");
    assert!(!q.contains_key("code"), "{back}");
    assert_eq!(cb.hits().len(), before + 1);

    // 7. The device verification page (RFC 8628 §3.3), once, in the real browser: the user opens
    // verification_uri_complete, is already signed in, sees the device and its scopes, allows.
    s.create_client(ClientSpec {
        id: Some("tv".into()),
        name: Some("Living Room TV".into()),
        public: true,
        grant_types: vec![keycard::model::GrantType::DeviceCode],
        scopes: vec!["openid".into(), "profile".into()],
        ..Default::default()
    })
    .await;
    let d = post_form(&s.url("/device_authorization"), None, "client_id=tv&scope=openid+profile").await.json();
    b.goto(d["verification_uri_complete"].as_str().unwrap()).await;
    b.wait_css("button[name=decision][value=approve]", "the device confirmation page").await;
    assert_eq!(b.text("h1").await, "Living Room TV wants to access your account");
    b.assert_no_console_errors("device page").await;
    b.shot("device").await;
    b.click_button("Allow").await;
    b.wait_css("main h1", "the device result page").await;
    let deadline = Instant::now() + WAIT;
    while b.text("h1").await != "Device connected" {
        assert!(Instant::now() < deadline, "device page did not confirm");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = post_form(
        &s.url("/token"),
        None,
        &format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=tv&device_code={}",
            d["device_code"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(t.status, 200, "the device gets its tokens: {}", t.body);

    b.close().await;
    s.stop().await;
    eprintln!("browser test passed in {:?}", started.elapsed());
}

/// A public client whose redirect URI is the test's loopback callback.
/// The password reset pages in headless Chromium: the login page's "Forgot your password?" link,
/// the forgot form, the mailed link (a real SMTP sink on loopback), the new-password form at
/// 375 px wide (nothing wider than the screen), then sign-in with the new password.
#[tokio::test(flavor = "multi_thread")]
async fn password_reset_pages_in_headless_chromium() {
    let Some((chromium, chromedriver)) = browser_binaries() else { return };
    let sink = common::smtp::SmtpSink::start().await;
    let port = sink.port;
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(move |c: &mut keycard::config::Config| {
            c.mail.sender = keycard::config::MailSender::Smtp;
            c.mail.smtp.host = "127.0.0.1".into();
            c.mail.smtp.port = port;
            c.mail.smtp.tls = keycard::config::SmtpTls::None;
        }),
        ..Default::default()
    })
    .await;
    code_flow_fixtures(&s).await;
    let cb = Callback::start().await;
    let (client, _) = s.create_client(loopback_client("browser-app", "Browser App", &cb)).await;
    let b = Browser::start(&chromium, &chromedriver).await;
    let (_, challenge) = pkce();
    b.goto(&authorize_url(&s, &client, &cb, "state-reset", &challenge)).await;
    b.wait_css("input#username", "the login page").await;
    b.find("a[href='/password/forgot']").await.click().await.expect("follow the link");
    let login = b.wait_css("input#login", "the forgot form").await;
    assert_eq!(b.client.title().await.unwrap(), "Reset your password – Keycard");
    assert_eq!(b.text("label[for=login]").await, "Username or e-mail");
    b.assert_no_console_errors("forgot page").await;
    login.send_keys("alice@example.com").await.unwrap();
    b.click_button("Send link").await;
    let h1 = "//h1[normalize-space(.)='Check your mail']";
    if b.client.wait().at_most(WAIT).for_element(Locator::XPath(h1)).await.is_err() {
        b.fail("waiting for the sent page").await;
    }
    let mail = sink.next().await;
    let link = mail.link(&s.url("/password/reset?token=")).expect("a reset link in the mail");

    b.client.set_window_size(375, 740).await.expect("a 375 px window");
    b.goto(&link).await;
    let pw = b.wait_css("input#new_password", "the new-password form").await;
    assert_eq!(b.text("h1").await, "Choose a new password");
    assert!(b.script_bool(STYLESHEET_LOADED).await, "the stylesheet loaded (CSP allows it)");
    assert!(
        b.script_bool("return document.documentElement.scrollWidth <= window.innerWidth").await,
        "usable at 375 px: nothing wider than the screen"
    );
    b.shot("reset-375px").await;
    b.assert_no_console_errors("reset page").await;
    pw.send_keys("brand-new-password").await.unwrap();
    b.find("input#new_password2").await.send_keys("brand-new-password").await.unwrap();
    b.click_button("Save password").await;
    let done = "//h1[normalize-space(.)='Your password was changed']";
    if b.client.wait().at_most(WAIT).for_element(Locator::XPath(done)).await.is_err() {
        b.fail("waiting for the done page").await;
    }
    b.assert_no_console_errors("done page").await;

    // The new password signs in through the client's flow.
    b.client.set_window_size(1024, 800).await.expect("window size");
    b.goto(&authorize_url(&s, &client, &cb, "state-after", &challenge)).await;
    b.wait_css("input#username", "the login page").await.send_keys("alice").await.unwrap();
    b.find("input#password").await.send_keys("brand-new-password").await.unwrap();
    b.click_button("Sign in").await;
    b.wait_css("button[name=decision][value=approve]", "the consent page").await;
    b.click_button("Allow").await;
    let back = b.wait_callback(&cb, "the callback after sign-in").await;
    assert!(query_map(&back).contains_key("code"), "{back}");
    b.close().await;
    s.stop().await;
}

fn loopback_client(id: &str, name: &str, cb: &Callback) -> ClientSpec {
    ClientSpec {
        id: Some(id.into()),
        name: Some(name.into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "profile".into()],
        redirect_uris: vec![cb.redirect_uri()],
        ..Default::default()
    }
}

fn authorize_url(s: &TestServer, client: &str, cb: &Callback, state: &str, challenge: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client)
        .append_pair("redirect_uri", &cb.redirect_uri())
        .append_pair("scope", "openid profile")
        .append_pair("state", state)
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    s.url(&format!("/authorize?{query}"))
}

fn query_map(url: &url::Url) -> HashMap<String, String> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// The client's redirect URI: a loopback HTTP server that records each query of `/cb` and
/// answers "done".
struct Callback {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    async fn start() -> Callback {
        use axum::extract::RawQuery;
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = hits.clone();
        let app = axum::Router::new().route(
            "/cb",
            axum::routing::get(move |RawQuery(q): RawQuery| {
                seen.lock().unwrap().push(q.unwrap_or_default());
                async { ([("content-type", "text/plain; charset=utf-8")], "done") }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind callback server");
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Callback { port, hits, task }
    }

    fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}/cb", self.port)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Chromium and chromedriver, or `None` (after printing why) when the test is skipped.
fn browser_binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = binary("KEYCARD_CHROMIUM", &["chromium", "chromium-browser"]);
    let chromedriver = binary("KEYCARD_CHROMEDRIVER", &["chromedriver"]);
    let missing: Vec<&str> = [("chromium", chromium.is_none()), ("chromedriver", chromedriver.is_none())]
        .into_iter()
        .filter_map(|(n, m)| m.then_some(n))
        .collect();
    if missing.is_empty() {
        return chromium.zip(chromedriver);
    }
    let why = format!(
        "{} not found (install the Debian packages `chromium` and `chromium-driver`, \
         or set KEYCARD_CHROMIUM / KEYCARD_CHROMEDRIVER)",
        missing.join(" and ")
    );
    let required = std::env::var("KEYCARD_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    assert!(!required, "KEYCARD_TEST_REQUIRE_BROWSER=1 but {why}");
    eprintln!("SKIPPED browser test: {why}; set KEYCARD_TEST_REQUIRE_BROWSER=1 to fail instead");
    None
}

/// `$var` if set, else the first of `names` on `PATH`.
fn binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(var) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    names.iter().flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n))).find(|p| p.is_file())
}

/// Runs chromedriver (`$1`) in the background and kills its own process group (the shell,
/// chromedriver, Chromium) once the test process (`$2`) is gone: no orphans even when the test
/// is killed by a signal and no `Drop` runs (e.g. Ctrl-C, which does not reach another group).
const WATCHDOG: &str = r#""$1" --port=0 &
while kill -0 "$2" 2>/dev/null; do sleep 1; done
kill -KILL 0"#;

/// chromedriver in its own process group, under [`WATCHDOG`]; Chromium and its helpers inherit
/// the group. Dropping it kills the whole group, then removes the profile directory.
struct Driver {
    child: Child,
    output: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a port of its choosing and returns it with its WebDriver URL.
    fn start(chromedriver: &Path) -> (Driver, String) {
        let dir = tempfile::Builder::new().prefix("keycard-browser-").tempdir().expect("temp dir");
        // `--port=0`: a free port, reported on stdout; loopback only (no `--allowed-ips`, which
        // would listen on all interfaces).
        let mut child = Command::new("sh")
            .args(["-c", WATCHDOG, "sh"])
            .arg(chromedriver)
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start sh for chromedriver {}: {e}", chromedriver.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let (port_tx, port_rx) = std::sync::mpsc::channel::<u16>();
        let stdout = child.stdout.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(port) = line
                    .strip_prefix("ChromeDriver was started successfully on port ")
                    .and_then(|p| p.trim_end_matches('.').parse().ok())
                {
                    let _ = port_tx.send(port);
                }
                out.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        let mut stderr = child.stderr.take().unwrap();
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stderr.read(&mut buf) {
                out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let driver = Driver { child, output, dir };
        match port_rx.recv_timeout(WAIT) {
            Ok(port) => (driver, format!("http://127.0.0.1:{port}")),
            Err(_) => panic!("chromedriver did not report its port within {WAIT:?}; output:\n{}", driver.output()),
        }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group id is the watchdog shell's pid (`process_group(0)`). `kill` is the
        // procps/util-linux binary (unsafe code is forbidden here).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session in headless Chromium.
struct Browser {
    client: Client,
    screenshots: PathBuf,
    driver: Driver,
}

impl Browser {
    async fn start(chromium: &Path, chromedriver: &Path) -> Browser {
        let (driver, webdriver_url) = Driver::start(chromedriver);
        let profile = driver.dir.path().join("profile");
        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let caps = serde_json::json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "pageLoad": WAIT.as_millis() as u64, "script": WAIT.as_millis() as u64, "implicit": 0 },
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": chromium,
                "args": args,
                "prefs": { "credentials_enable_service": false, "profile.password_manager_enabled": false },
            },
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        // Plain HTTP: chromedriver is on loopback, so no TLS stack (the `hyper-util` connector
        // is the one fantoccini itself depends on).
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let mut builder = ClientBuilder::new(connector);
        let connect = builder.capabilities(caps).connect(&webdriver_url);
        let client = match tokio::time::timeout(WAIT * 3, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => panic!("no WebDriver session: {e}\nchromedriver output:\n{}", driver.output()),
            Err(_) => panic!("no WebDriver session within {:?}\nchromedriver output:\n{}", WAIT * 3, driver.output()),
        };
        let screenshots = match std::env::var_os("KEYCARD_TEST_SCREENSHOTS") {
            Some(d) => PathBuf::from(d),
            None => driver.dir.path().join("screenshots"),
        };
        std::fs::create_dir_all(&screenshots).expect("screenshot dir");
        Browser { client, screenshots, driver }
    }

    async fn goto(&self, url: &str) {
        if let Err(e) = self.client.goto(url).await {
            self.fail(&format!("navigating to {url}: {e}")).await;
        }
    }

    async fn url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("no {css}: {e}")).await,
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text").trim().to_owned()
    }

    async fn texts(&self, css: &str) -> Vec<String> {
        let mut out = Vec::new();
        for e in self.client.find_all(Locator::Css(css)).await.expect("find_all") {
            out.push(e.text().await.expect("element text").trim().to_owned());
        }
        out
    }

    async fn script_bool(&self, js: &str) -> bool {
        self.client.execute(js, vec![]).await.expect("script").as_bool().expect("boolean result")
    }

    /// Clicks the button with this visible text.
    async fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space(.)='{label}']");
        let button = match self.client.find(Locator::XPath(&xpath)).await {
            Ok(b) => b,
            Err(e) => self.fail(&format!("no button {label:?}: {e}")).await,
        };
        if let Err(e) = button.click().await {
            self.fail(&format!("clicking {label:?}: {e}")).await;
        }
    }

    /// Waits (bounded) for an element of the next page.
    async fn wait_css(&self, css: &str, what: &str) -> Element {
        match self.client.wait().at_most(WAIT).every(Duration::from_millis(50)).for_element(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => self.fail(&format!("waiting for {what} ({css}): {e}")).await,
        }
    }

    /// Waits (bounded) until the browser is at the callback; returns the URL it landed on.
    async fn wait_callback(&self, cb: &Callback, what: &str) -> url::Url {
        let prefix = format!("{}?", cb.redirect_uri());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(u) = self.client.current_url().await
                && u.as_str().starts_with(&prefix)
            {
                return u;
            }
            if Instant::now() > deadline {
                self.fail(&format!("waiting for {what} ({prefix}…)")).await;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG screenshot of the page as `<name>.png`.
    async fn shot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        eprintln!("screenshot: {}", path.display());
        path
    }

    /// The browser console since the last call (chromedriver's log endpoint clears it).
    async fn console(&self) -> Vec<serde_json::Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(serde_json::Value::Array(entries)) => entries,
            other => panic!("reading the browser console: {other:?}"),
        }
    }

    /// No console errors (a CSP violation, a failed load, a script error) on this page. The
    /// browser's own `/favicon.ico` request is not the page's: Keycard serves none (404).
    async fn assert_no_console_errors(&self, page: &str) {
        let errors: Vec<_> = self
            .console()
            .await
            .into_iter()
            .filter(|e| e["level"] == "SEVERE")
            .filter(|e| {
                !(e["source"] == "network" && e["message"].as_str().is_some_and(|m| m.contains("/favicon.ico ")))
            })
            .collect();
        assert!(errors.is_empty(), "console errors on the {page}: {errors:#?}");
    }

    /// Panics with what the browser shows (URL, title, source, console, a screenshot) and
    /// chromedriver's output.
    async fn fail(&self, what: &str) -> ! {
        let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| format!("({e})"));
        let title = self.client.title().await.unwrap_or_default();
        let mut source = self.client.source().await.unwrap_or_default();
        source.truncate(source.floor_char_boundary(4000));
        let console = self.client.issue_cmd(BrowserLog).await.unwrap_or_default();
        let shot = match self.client.screenshot().await {
            Ok(png) => {
                let p = self.screenshots.join("failure.png");
                let kept = std::env::var_os("KEYCARD_TEST_SCREENSHOTS").is_some();
                let hint =
                    if kept { "" } else { " (deleted with the temp dir; set KEYCARD_TEST_SCREENSHOTS=<dir> to keep)" };
                std::fs::write(&p, png).map(|_| format!("{}{hint}", p.display())).unwrap_or_default()
            }
            Err(e) => format!("({e})"),
        };
        panic!(
            "{what}\nbrowser at {url} ({title:?})\nscreenshot: {shot}\nconsole: {console:#}\n\
             page source:\n{source}\nchromedriver output:\n{}",
            self.driver.output()
        );
    }

    /// Ends the session (chromedriver quits Chromium); the `Driver` guard then kills what is left.
    async fn close(self) {
        let Browser { client, driver, .. } = self;
        let _ = tokio::time::timeout(WAIT, client.close()).await;
        drop(driver);
    }
}

/// chromedriver's `POST /session/{id}/se/log` with `{"type":"browser"}`: the console messages
/// since the last call (needs the `goog:loggingPrefs` capability).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}
