//! Shared helpers of the integration tests: an HTTP client that never follows redirects, an
//! adapter so the `oauth2` crate (a real client library) talks through it, and response checks.
#![allow(dead_code)]

use base64::Engine as _;
use serde_json::Value;

#[allow(unused_imports)]
pub use keycard::testing::{TestOptions, TestServer};

/// A reqwest client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The `oauth2` crate's HTTP client interface, implemented over reqwest 0.13.
pub async fn oauth2_http(req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, std::io::Error> {
    let (parts, body) = req.into_parts();
    let client = http();
    let mut rb = client.request(parts.method, parts.uri.to_string()).body(body);
    for (k, v) in parts.headers.iter() {
        rb = rb.header(k, v);
    }
    let res = rb.send().await.map_err(std::io::Error::other)?;
    let mut out = http::Response::builder().status(res.status());
    for (k, v) in res.headers() {
        out = out.header(k, v);
    }
    let bytes = res.bytes().await.map_err(std::io::Error::other)?;
    out.body(bytes.to_vec()).map_err(std::io::Error::other)
}

/// HTTP Basic header value with RFC 6749 §2.3.1 form-encoding of id and secret.
pub fn basic(id: &str, secret: &str) -> String {
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret))))
}

/// A captured response.
#[derive(Debug)]
pub struct Res {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Res {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 6749 §5.2 error: status, code, JSON, no-store.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "status for {code}: {}", self.body);
        assert_eq!(self.json()["error"], code, "{}", self.body);
        assert!(self.header("content-type").unwrap_or("").starts_with("application/json"));
        assert_eq!(self.header("cache-control"), Some("no-store"), "Cache-Control: no-store on errors");
    }
}

/// Sends a request and captures the response.
pub async fn send(rb: reqwest::RequestBuilder) -> Res {
    let r = rb.send().await.expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.text().await.unwrap_or_default();
    Res { status, headers, body }
}

/// POSTs a raw form body with optional Basic credentials.
pub async fn post_form(url: &str, auth: Option<&str>, body: &str) -> Res {
    let mut rb = http().post(url).header("content-type", "application/x-www-form-urlencoded").body(body.to_owned());
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    send(rb).await
}

/// Decodes a JWT's header and payload without verifying.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let dec = |s: &str| -> Value {
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("b64")).expect("json")
    };
    (dec(it.next().unwrap()), dec(it.next().unwrap()))
}

/// Gets a client_credentials token (raw response).
pub async fn cc_token(s: &TestServer, id: &str, secret: &str, scope: Option<&str>) -> Res {
    let body = match scope {
        Some(sc) => format!(
            "grant_type=client_credentials&scope={}",
            form_urlencoded::byte_serialize(sc.as_bytes()).collect::<String>()
        ),
        None => "grant_type=client_credentials".into(),
    };
    post_form(&s.url("/token"), Some(&basic(id, secret)), &body).await
}

/// A user agent for the HTML flow: a cookie jar, no redirect following, forms posted with the
/// `Origin` a browser would send.
pub struct UserAgent {
    pub base: String,
    /// The `Origin` sent with form posts: the issuer's origin (a browser sees Keycard there).
    pub origin: String,
    jar: std::sync::Mutex<Vec<(String, String)>>,
}

impl UserAgent {
    pub fn new(base: &str) -> UserAgent {
        UserAgent { base: base.to_owned(), origin: base.to_owned(), jar: Default::default() }
    }

    /// A user agent talking to `base` for a server whose issuer is `issuer` (behind a proxy).
    pub fn behind_proxy(base: &str, issuer: &str) -> UserAgent {
        UserAgent { base: base.to_owned(), origin: issuer.to_owned(), jar: Default::default() }
    }

    fn abs(&self, url: &str) -> String {
        if url.starts_with('/') { format!("{}{}", self.base, url) } else { url.to_owned() }
    }

    fn cookie_header(&self) -> String {
        self.jar.lock().unwrap().iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    fn store(&self, res: &Res) {
        for sc in res.headers.get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let (kv, attrs) = sc.split_once(';').unwrap_or((sc, ""));
            let (k, v) = kv.split_once('=').unwrap();
            let mut jar = self.jar.lock().unwrap();
            jar.retain(|(n, _)| n != k);
            if !attrs.contains("Max-Age=0") {
                jar.push((k.to_owned(), v.to_owned()));
            }
        }
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        let mut jar = self.jar.lock().unwrap();
        jar.retain(|(n, _)| n != name);
        jar.push((name.to_owned(), value.to_owned()));
    }

    pub async fn get(&self, url: &str) -> Res {
        let res = send(http().get(self.abs(url)).header("cookie", self.cookie_header())).await;
        self.store(&res);
        res
    }

    pub async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Res {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let res = send(
            http()
                .post(self.abs(url))
                .header("cookie", self.cookie_header())
                .header("origin", &self.origin)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body),
        )
        .await;
        self.store(&res);
        res
    }
}

impl Res {
    /// The `Location` of a redirect.
    pub fn location(&self) -> String {
        assert!(matches!(self.status, 302 | 303), "expected a redirect, got {}: {}", self.status, self.body);
        self.header("location").unwrap().to_owned()
    }

    /// The value of a hidden form field in an HTML page.
    pub fn field(&self, name: &str) -> String {
        form_field(&self.body, name).unwrap_or_else(|| panic!("no field {name} in {}", self.body))
    }
}

/// Finds the `value` of the input named `name` in HTML and unescapes it.
pub fn form_field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\"");
    let at = html.find(&needle)?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    let start = tag.find("value=\"")? + "value=\"".len();
    let end = tag[start..].find('"')? + start;
    Some(
        tag[start..end]
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#x2f;", "/")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&"),
    )
}

/// Query parameters of a URL.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Registers alice (password `alice-password-1`) and a public SPA client and a confidential web
/// client for the code flow. Returns (web client id, web secret).
pub async fn code_flow_fixtures(s: &TestServer) -> (String, String) {
    use keycard::admin::ClientSpec;
    use keycard::model::GrantType;
    let hash = keycard::admin::hash_password(&s.state.config, "alice-password-1").unwrap();
    let admin = s.admin();
    let mut alice =
        admin.create_user("alice", Some("alice@example.com"), Some("Alice Liddell"), Some(hash)).await.unwrap();
    alice.email_verified = true;
    admin.save_user(alice).await.unwrap();
    let hash = keycard::admin::hash_password(&s.state.config, "bob-password-1").unwrap();
    admin.create_user("bob", Some("bob@example.com"), None, Some(hash)).await.unwrap();
    let scopes: Vec<String> =
        ["openid", "profile", "email", "offline_access", "api:read"].iter().map(|s| s.to_string()).collect();
    s.admin().upsert_scope("api:read", "Read your data").await.unwrap();
    s.create_client(ClientSpec {
        id: Some("spa".into()),
        name: Some("Single Page App".into()),
        public: true,
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: scopes.clone(),
        redirect_uris: vec!["https://spa.example/cb".into()],
        ..Default::default()
    })
    .await;
    s.create_client(ClientSpec {
        id: Some("web".into()),
        name: Some("Web App".into()),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes,
        redirect_uris: vec!["https://web.example/cb".into(), "https://web.example/cb2".into()],
        ..Default::default()
    })
    .await
}

/// PKCE pair (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let v = keycard::jose::random_token(32);
    let c = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, v.as_bytes()).as_ref());
    (v, c)
}

/// Runs /authorize → login (if asked) → consent (if asked) in `ua` and returns the final
/// redirect to the client.
pub async fn authorize_in(ua: &UserAgent, authorize_url: &str, user: &str, password: &str) -> String {
    let res = ua.get(authorize_url).await;
    finish_authorization(ua, res, user, password).await
}

/// Follows `res`, the answer to an `/authorize` request sent by `ua`, through login (if asked)
/// and consent (if asked) and returns the final redirect to the client.
pub async fn finish_authorization(ua: &UserAgent, mut res: Res, user: &str, password: &str) -> String {
    for _ in 0..4 {
        let loc = res.location();
        if loc.starts_with("/login") {
            let page = ua.get(&loc).await;
            assert_eq!(page.status, 200, "{}", page.body);
            res = ua
                .post(
                    "/login",
                    &[
                        ("request_id", &page.field("request_id")),
                        ("csrf_token", &page.field("csrf_token")),
                        ("username", user),
                        ("password", password),
                    ],
                )
                .await;
        } else if loc.starts_with("/consent") {
            let page = ua.get(&loc).await;
            assert_eq!(page.status, 200, "{}", page.body);
            res = ua
                .post(
                    "/consent",
                    &[
                        ("request_id", &page.field("request_id")),
                        ("csrf_token", &page.field("csrf_token")),
                        ("decision", "approve"),
                    ],
                )
                .await;
        } else {
            return loc;
        }
    }
    panic!("flow did not end: {}", res.body);
}

/// The user's side of the device flow (RFC 8628 §3.3): opens `/device?user_code=…`, signs in as
/// alice when asked, checks the confirmation page names `client_name`, and sends `decision`.
/// Returns the confirmation page and the answer to the decision.
pub async fn device_user_acts(ua: &UserAgent, user_code: &str, client_name: &str, decision: &str) -> (Res, Res) {
    let page = ua.get(&format!("/device?user_code={user_code}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let code = page.field("user_code");
    let mut res = ua.post("/device", &[("csrf_token", &page.field("csrf_token")), ("user_code", &code)]).await;
    if res.status == 303 {
        let loc = res.location();
        assert!(loc.starts_with("/login"), "{loc}");
        let login = ua.get(&loc).await;
        let back = ua
            .post(
                "/login",
                &[
                    ("request_id", &login.field("request_id")),
                    ("csrf_token", &login.field("csrf_token")),
                    ("username", "alice"),
                    ("password", "alice-password-1"),
                ],
            )
            .await;
        res = ua.get(&back.location()).await;
    }
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(res.body.contains(client_name), "the confirm page names the client: {}", res.body);
    let done = ua
        .post(
            "/device",
            &[("csrf_token", &res.field("csrf_token")), ("user_code", &res.field("user_code")), ("decision", decision)],
        )
        .await;
    (res, done)
}

impl UserAgent {
    /// Every cookie in the jar (name, value).
    pub fn cookies(&self) -> Vec<(String, String)> {
        self.jar.lock().unwrap().clone()
    }
}

/// Helpers of the browser-flow tests (authorize endpoint, login, consent, logout, HTML pages).
pub mod browser;

/// Running the `keycard` binary with a config file (admin commands, `config check`).
pub mod cli;

/// Public JWKs from the RFC examples (client key registration).
pub mod jwk;

/// A real `keycard serve` process that can be killed, signalled and restarted, and the node
/// configs of the outage and shutdown tests (reliability tests).
pub mod process;

/// A whole authorization code flow as alice (PKCE S256, `client_secret_basic`) for `scope`;
/// returns the token response.
pub async fn code_flow_tokens(
    s: &TestServer,
    ua: &UserAgent,
    client: &str,
    secret: &str,
    cb: &str,
    scope: &str,
) -> serde_json::Value {
    let (v, c) = pkce();
    let enc = |x: &str| form_urlencoded::byte_serialize(x.as_bytes()).collect::<String>();
    let url = format!(
        "/authorize?response_type=code&client_id={client}&redirect_uri={}&scope={}&state=s&nonce=n&code_challenge={c}&code_challenge_method=S256",
        enc(cb),
        enc(scope)
    );
    let back = authorize_in(ua, &url, "alice", "alice-password-1").await;
    let code = query_of(&back)["code"].clone();
    let body = format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={v}", enc(cb));
    let r = post_form(&s.url("/token"), Some(&basic(client, secret)), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

/// Changes a stored client's registration (settings the `ClientSpec` of this branch cannot set
/// yet, e.g. `jwks`, `first_party`, `require_pushed_authorization_requests`) and applies it to
/// this node's caches at once. The one place tests edit clients directly.
pub async fn edit_client(s: &TestServer, id: &str, edit: impl FnOnce(&mut keycard::model::Client)) {
    let admin = s.admin();
    let mut c = admin.client(id).await.expect("client exists");
    edit(&mut c);
    admin.save_client(c).await.expect("save client");
    s.sync_caches().await;
}

/// A loopback TCP proxy a test can cut and restore (a database outage).
pub mod tcp_proxy;

/// A real SMTP server on a loopback port that hands received mails to the test (account mails).
pub mod smtp;
