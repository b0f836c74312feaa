//! HTTP limits at their boundaries (issue 9 item 9; SECURITY I1, I2), over raw TCP so that the
//! exact bytes are known:
//!
//! - `http.max_header_bytes` (default 16 KiB) counts every header field line as sent
//!   (`name: value` + CRLF = name + value + 4 bytes): exactly the limit is served, one byte more is
//!   431 with a short body and `Connection: close` (RFC 6585 §5); a configured lower or higher
//!   limit is the one that decides (not the HTTP parser's own buffer).
//! - A `Content-Length` over `http.body_limit_bytes` is 413 before the body is read, and a client
//!   that keeps sending its body still reads that 413 (the server drains before closing instead
//!   of resetting the connection, RFC 9112 §9.6); a chunked body that grows past the limit is 413.
//! - A request line over 8 KiB is 414 (RFC 9110 §15.5.15).
//! - None of it is ever a 5xx, and the server keeps serving.

mod common;

use common::*;
use keycard::testing::{TestOptions, TestServer};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Header section bytes as Keycard counts them.
fn counted(fields: &[(&str, String)]) -> usize {
    fields.iter().map(|(n, v)| n.len() + v.len() + 4).sum()
}

/// `GET path` whose header fields total exactly `total` counted bytes (Host, Connection and one
/// filler field).
fn request_with_header_bytes(path: &str, total: usize) -> Vec<u8> {
    let mut fields = vec![("host", "x".to_owned()), ("connection", "close".to_owned())];
    let fixed = counted(&fields) + "x-fill".len() + 4;
    fields.push(("x-fill", "a".repeat(total - fixed)));
    assert_eq!(counted(&fields), total);
    let mut req = format!("GET {path} HTTP/1.1\r\n");
    for (n, v) in &fields {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

fn addr(s: &TestServer) -> String {
    s.base.trim_start_matches("http://").to_owned()
}

/// Sends `bytes` and reads the whole answer (the server closes after it: the requests say
/// `Connection: close`, the refusals close anyway). No half-close: hyper drops a connection
/// whose client half-closes before its request was parsed.
async fn exchange(s: &TestServer, bytes: Vec<u8>) -> String {
    let addr = addr(s);
    tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(&bytes).unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).expect("the answer is readable (no reset)");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {response:.300}"))
}

fn header_of<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    let head = &response[..response.find("\r\n\r\n").unwrap_or(response.len())];
    head.lines().skip(1).find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn body_of(response: &str) -> &str {
    response.find("\r\n\r\n").map_or("", |i| &response[i + 4..])
}

#[track_caller]
fn assert_431(res: &str, what: &str) {
    assert_eq!(status_of(res), 431, "{what}: {res:.300}");
    assert_eq!(header_of(res, "connection"), Some("close"), "{what}: {res:.300}");
    let body: serde_json::Value = serde_json::from_str(body_of(res)).unwrap_or_else(|_| panic!("{what}: {res:.300}"));
    assert_eq!(body["error"], "invalid_request", "{what}");
    assert!(body_of(res).len() < 200, "a short body");
}

#[tokio::test(flavor = "multi_thread")]
async fn i2_headers_at_the_default_limit_are_served_one_byte_more_is_431() {
    let s = TestServer::start().await;
    assert_eq!(s.state.config.http.max_header_bytes, 16 * 1024, "the default");
    let res = exchange(&s, request_with_header_bytes("/healthz", 16 * 1024)).await;
    assert_eq!(status_of(&res), 200, "exactly at the limit: {res:.300}");
    let res = exchange(&s, request_with_header_bytes("/healthz", 16 * 1024 - 1)).await;
    assert_eq!(status_of(&res), 200, "just under: {res:.300}");
    let res = exchange(&s, request_with_header_bytes("/healthz", 16 * 1024 + 1)).await;
    assert_431(&res, "one byte over");
    // Through a client library too: a 12 KiB cookie is fine, a 20 KiB one is not.
    let ok = send(http().get(s.url("/healthz")).header("cookie", format!("a={}", "b".repeat(12 * 1024)))).await;
    assert_eq!(ok.status, 200);
    let big = send(http().get(s.url("/healthz")).header("cookie", format!("a={}", "b".repeat(20 * 1024)))).await;
    assert_eq!(big.status, 431);
    assert_eq!(big.json()["error"], "invalid_request");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i2_a_configured_lower_limit_applies() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.http.max_header_bytes = 4096),
        ..Default::default()
    })
    .await;
    let res = exchange(&s, request_with_header_bytes("/healthz", 4096)).await;
    assert_eq!(status_of(&res), 200, "{res:.300}");
    let res = exchange(&s, request_with_header_bytes("/healthz", 4097)).await;
    assert_431(&res, "over a 4 KiB limit");
    let res = exchange(&s, request_with_header_bytes("/healthz", 8 * 1024)).await;
    assert_431(&res, "8 KiB, fine by default, over a 4 KiB limit");
    s.stop().await;
}

/// The largest allowed limit (256 KiB) is Keycard's decision, not the parser's: just under is
/// served, just over is Keycard's 431 (with its JSON body; the parser's own 431 has none).
#[tokio::test(flavor = "multi_thread")]
async fn i2_a_configured_higher_limit_is_what_decides() {
    let max = keycard::config::MAX_HEADER_BYTES;
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(move |c| c.http.max_header_bytes = max),
        ..Default::default()
    })
    .await;
    let res = exchange(&s, request_with_header_bytes("/healthz", max)).await;
    assert_eq!(status_of(&res), 200, "{res:.300}");
    let res = exchange(&s, request_with_header_bytes("/healthz", max + 1)).await;
    assert_431(&res, "over 256 KiB");
    s.stop().await;
}

/// Writes a request head announcing `Content-Length: len` (or chunked when `None`), then keeps
/// writing body bytes — `body_bytes` of them, in 64 KiB writes, as a client that does not look at
/// the answer before it has sent everything — then reads. Every write must succeed (the server
/// drains instead of resetting) and the answer must be readable.
async fn keep_sending_then_read(s: &TestServer, head: String, body_bytes: usize, chunked: bool) -> String {
    let addr = addr(s);
    tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(head.as_bytes()).unwrap();
        let block = vec![b'a'; 64 * 1024];
        let chunk = [format!("{:x}\r\n", block.len()).into_bytes(), block.clone(), b"\r\n".to_vec()].concat();
        let mut sent = 0;
        while sent < body_bytes {
            let r = if chunked { c.write_all(&chunk) } else { c.write_all(&block) };
            r.unwrap_or_else(|e| panic!("write failed after {sent} body bytes (the server reset?): {e}"));
            sent += block.len();
        }
        let mut out = Vec::new();
        c.read_to_end(&mut out).unwrap_or_else(|e| panic!("the answer was lost ({e}); read so far: {out:?}"));
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn i1_content_length_over_the_limit_is_413_for_a_client_that_keeps_sending() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc", &[]).await;
    let auth = basic(&id, &secret);
    let limit = s.state.config.http.body_limit_bytes;
    // The token endpoint, a page form and an endpoint that reads no body at all: the same 413.
    for (path, extra) in [("/token", format!("Authorization: {auth}\r\n")), ("/login", String::new())] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Type: application/x-www-form-urlencoded\r\n\
             Content-Length: {}\r\n\r\n",
            100 * 1024 * 1024
        );
        let res = keep_sending_then_read(&s, head, 4 * 1024 * 1024, false).await;
        assert_eq!(status_of(&res), 413, "{path}: {res:.300}");
        assert!(res.starts_with("HTTP/1.1 413"), "{res:.300}");
        assert_eq!(header_of(&res, "connection"), Some("close"), "{path}: {res:.300}");
        assert_eq!(serde_json::from_str::<serde_json::Value>(body_of(&res)).unwrap()["error"], "invalid_request");
    }
    let head = format!("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", limit + 1);
    let res = keep_sending_then_read(&s, head, 2 * 1024 * 1024, false).await;
    assert_eq!(status_of(&res), 413, "any endpoint: {res:.300}");
    // Just at the limit the body is read and the request served (here: a token).
    let body = format!("grant_type=client_credentials&pad={}", "a".repeat(limit - 34));
    assert_eq!(body.len(), limit);
    let r = post_form(&s.url("/token"), Some(&auth), &body).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Malformed lengths are 400, never 5xx.
    for len in ["-1", "abc", "18446744073709551616", "1, 2"] {
        let res = exchange(
            &s,
            format!("POST /token HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n")
                .into_bytes(),
        )
        .await;
        let st = status_of(&res);
        assert!((400..500).contains(&st), "Content-Length {len}: {res:.300}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i1_chunked_body_over_the_limit_is_413_for_a_client_that_keeps_sending() {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc", &[]).await;
    for path in ["/token", "/login"] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n",
            basic(&id, &secret)
        );
        let res = keep_sending_then_read(&s, head, 4 * 1024 * 1024, true).await;
        assert_eq!(status_of(&res), 413, "{path}: {res:.300}");
    }
    assert_eq!(send(http().get(s.url("/healthz"))).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i2_long_request_line_is_414() {
    let s = TestServer::start().await;
    for kib in [9, 100] {
        let url = format!("/authorize?client_id=x&state={}", "a".repeat(kib * 1024));
        let res =
            exchange(&s, format!("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()).await;
        assert_eq!(status_of(&res), 414, "{kib} KiB: {res:.300}");
    }
    let url = format!("/authorize?client_id=x&state={}", "a".repeat(7 * 1024));
    let res = exchange(&s, format!("GET {url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes()).await;
    assert_eq!(status_of(&res), 400, "under 8 KiB: the ordinary unknown-client page: {res:.300}");
    s.stop().await;
}
