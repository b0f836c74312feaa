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
