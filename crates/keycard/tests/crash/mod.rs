//! The crash-safety harness of `tests/crash_safety.rs` (issue 10 item 2): the clients it
//! provisions, a seeded random generator, one HTTP call that tells an acknowledged answer from a
//! request lost to the crash, and the three phases of a round: [`load`] (concurrent workers
//! recording every outcome in a [`ledger`]), the kill, and [`verify`] (what must hold after the
//! restart).
//!
//! Extending with a new operation: a [`ledger::Kind`] variant, its request in `load.rs` (record
//! the acknowledged outcome AND the in-flight case), and what must hold after a crash in
//! `verify.rs`.

pub mod ledger;
pub mod load;
pub mod verify;

use crate::common::basic;
use std::time::Duration;

/// The redirect URI of the code-flow clients.
pub const CB: &str = "https://web.example/cb";
/// The scope of the code flow (a refresh token needs `offline_access` with `openid`).
pub const USER_SCOPE: &str = "openid offline_access api:read";
/// alice's password (her hash is provisioned, so restarts compute no argon2).
pub const PASSWORD: &str = "alice-crash-password-1";
/// Every request gives up after this long: a server that hangs fails the test, never stalls it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// The four provisioned clients: client credentials and code flow, each with JWT and with opaque
/// access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// client_credentials, JWT access tokens.
    SvcJwt,
    /// client_credentials, opaque access tokens (one row per token).
    SvcOpaque,
    /// authorization_code + refresh_token, JWT access tokens.
    WebJwt,
    /// authorization_code + refresh_token, opaque access tokens.
    WebOpaque,
}

impl ClientKind {
    /// Every client.
    pub const ALL: [ClientKind; 4] =
        [ClientKind::SvcJwt, ClientKind::SvcOpaque, ClientKind::WebJwt, ClientKind::WebOpaque];

    /// Its client id.
    pub fn id(self) -> &'static str {
        match self {
            ClientKind::SvcJwt => "svc-jwt",
            ClientKind::SvcOpaque => "svc-opaque",
            ClientKind::WebJwt => "web-jwt",
            ClientKind::WebOpaque => "web-opaque",
        }
    }

    /// Its client secret.
    pub fn secret(self) -> String {
        format!("{}-crash-secret-0123456789abcdef", self.id())
    }

    /// Its HTTP Basic header.
    pub fn auth(self) -> String {
        basic(self.id(), &self.secret())
    }

    /// Does it get opaque access tokens?
    pub fn opaque(self) -> bool {
        matches!(self, ClientKind::SvcOpaque | ClientKind::WebOpaque)
    }

    /// Is it a code-flow client?
    pub fn web(self) -> bool {
        matches!(self, ClientKind::WebJwt | ClientKind::WebOpaque)
    }
}

/// The `[[provision.*]]` part of the config: the clients above, the `api:read` scope and alice
/// (with a precomputed argon2id hash).
pub fn provision_toml(alice_hash: &str) -> String {
    let mut s = format!(
        "[[provision.scopes]]\nname = \"api:read\"\ndescription = \"Read\"\n\n\
         [[provision.users]]\nusername = \"alice\"\nemail = \"alice@example.com\"\npassword_hash = {alice_hash:?}\n"
    );
    for c in ClientKind::ALL {
        let (grants, scopes, uris) = if c.web() {
            (
                r#"["authorization_code", "refresh_token"]"#,
                r#"["openid", "offline_access", "api:read"]"#,
                format!("[{CB:?}]"),
            )
        } else {
            (r#"["client_credentials"]"#, r#"["api:read"]"#, "[]".to_owned())
        };
        s.push_str(&format!(
            "\n[[provision.clients]]\nid = {:?}\nsecret = {:?}\ngrant_types = {grants}\nscopes = {scopes}\n\
             redirect_uris = {uris}\ntoken_format = {:?}\naccess_token_ttl_secs = 86400\n",
            c.id(),
            c.secret(),
            if c.opaque() { "opaque" } else { "jwt" },
        ));
    }
    s
}

/// SplitMix64: a small seeded generator, so that a failing run's operation mix and kill points
/// can be replayed from its printed seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo { lo } else { lo + self.next_u64() % (hi - lo) }
    }

    /// True once in `n` draws on average.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64().is_multiple_of(n)
    }

    /// An index below `n` (n > 0).
    pub fn index(&mut self, n: usize) -> usize {
        self.range(0, n as u64) as usize
    }

    /// A derived generator (per worker, per round).
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng(self.next_u64() ^ salt.wrapping_mul(0xd6e8_feb8_6659_fd93))
    }
}

/// What became of one request.
#[derive(Debug)]
pub enum Answer {
    /// A complete response: status, `Location` and the whole body.
    Complete { status: u16, location: Option<String>, body: String },
    /// The connection was refused: the request never reached a server.
    NotSent,
    /// Anything else (reset, closed mid-response, timeout): sent, outcome unknown.
    Lost(String),
}

impl Answer {
    /// The JSON body of a complete 200, else `None`.
    pub fn ok_json(&self) -> Option<serde_json::Value> {
        match self {
            Answer::Complete { status: 200, body, .. } => serde_json::from_str(body).ok(),
            _ => None,
        }
    }

    /// Short description for failure messages (the body is an RFC 6749 error or a page; it
    /// never holds a token).
    pub fn describe(&self) -> String {
        match self {
            Answer::Complete { status, location, body } => {
                let to = location
                    .as_deref()
                    .map(|l| format!(" to {}", l.split('?').next().unwrap_or(l)))
                    .unwrap_or_default();
                format!("{status}{to} {}", body.chars().take(300).collect::<String>())
            }
            Answer::NotSent => "connection refused".into(),
            Answer::Lost(e) => format!("lost: {e}"),
        }
    }
}

/// Sends a request; a response counts as complete only once its body has been read to its end.
pub async fn call(rb: reqwest::RequestBuilder) -> Answer {
    let res = match rb.send().await {
        Ok(r) => r,
        Err(e) if e.is_connect() => return Answer::NotSent,
        Err(e) => return Answer::Lost(e.to_string()),
    };
    let status = res.status().as_u16();
    let location = res.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_owned);
    match res.text().await {
        Ok(body) => Answer::Complete { status, location, body },
        Err(e) => Answer::Lost(e.to_string()),
    }
}

/// POSTs a form with HTTP Basic credentials.
pub async fn post(http: &reqwest::Client, url: &str, auth: &str, body: String) -> Answer {
    call(
        http.post(url)
            .header("authorization", auth)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

/// A client for load or checks: keep-alive, no redirects, the request timeout.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .build()
        .expect("http client")
}

/// Form-encodes one value.
pub fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}
