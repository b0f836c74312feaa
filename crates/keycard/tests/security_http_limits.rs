//! HTTP-level resource limits, driven over raw TCP where a well-behaved client library would not
//! send the request: SECURITY I1 (body size: a lying `Content-Length`, chunked bodies over the
//! limit, a 10 MiB body → 413, quickly, never 5xx), I2 (a 32 KiB header or very many headers →
//! 431, a 100 KiB URL → 414; RFC 6585 §5, RFC 9110 §15.5.15) and I3 (slowloris: headers sent
//! byte by byte are cut at `http.header_read_timeout_secs`; a slow body is cut at
//! `http.request_timeout_secs`).

mod common;

use common::*;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(s.base.trim_start_matches("http://")).await.expect("connect")
}

/// Reads until the peer closes or `limit` passes; returns what was read.
async fn read_all(stream: &mut (impl tokio::io::AsyncRead + Unpin), limit: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                out.extend_from_slice(&buf[..n]);
                // One response is enough: stop once its head and (short) body are in.
                if let Some(end) = find(&out, b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
                    let len = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
                    if len.is_some_and(|len| out.len() >= end + 4 + len) {
                        break;
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status line: {response:?}"))
}

async fn cc_server() -> (TestServer, String) {
    let s = TestServer::start().await;
    let (id, secret) = s.cc_client("svc", &[]).await;
    let auth = basic(&id, &secret);
    (s, auth)
}

#[tokio::test(flavor = "multi_thread")]
async fn i1_lying_content_length_is_413_at_once() {
    let (s, auth) = cc_server().await;
    for len in ["1000000000000", "18446744073709551616", "99999999999999999999999"] {
        let mut c = connect(&s).await;
        let started = Instant::now();
        c.write_all(
            format!(
                "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len}\r\n\r\ngrant_type=client_credentials"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let res = read_all(&mut c, Duration::from_secs(5)).await;
        let status = status_of(&res);
        assert!(matches!(status, 413 | 400), "Content-Length {len}: {res}");
        assert!(started.elapsed() < Duration::from_secs(2), "answered without waiting for the body");
    }
    // A Content-Length larger than the body (within the limit): the server waits for the body,
    // and the client's EOF ends it with a 4xx, never a 5xx.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 5000\r\n\r\ngrant_type=client_credentials"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    c.shutdown().await.unwrap();
    let res = read_all(&mut c, Duration::from_secs(5)).await;
    if !res.is_empty() {
        let st = status_of(&res);
        assert!((400..500).contains(&st), "{res}");
    }
    // The server is fine afterwards.
    let r = post_form(&s.url("/token"), Some(&auth), "grant_type=client_credentials").await;
    assert_eq!(r.status, 200, "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i1_chunked_body_over_the_limit_is_413() {
    let (s, auth) = cc_server().await;
    let limit = s.state.config.http.body_limit_bytes;
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let chunk = format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192));
    let started = Instant::now();
    // Up to 4× the limit; the server may answer (and close) before all of it is sent.
    for _ in 0..(4 * limit / 8192) {
        if c.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = c.write_all(b"0\r\n\r\n").await;
    let res = read_all(&mut c, Duration::from_secs(5)).await;
    assert_eq!(status_of(&res), 413, "{res}");
    assert!(started.elapsed() < Duration::from_secs(3));
    // A chunk size that does not fit in 64 bits is a 400, not a 5xx.
    let mut c = connect(&s).await;
    c.write_all(
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\naaaa"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let res = read_all(&mut c, Duration::from_secs(5)).await;
    if !res.is_empty() {
        let st = status_of(&res);
        assert!((400..500).contains(&st), "{res}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i1_ten_mib_body_is_413_quickly() {
    let (s, auth) = cc_server().await;
    // Raw TCP with the body written concurrently: the server answers (and closes) before the
    // body is sent, which a client library reports as a broken pipe instead of the answer.
    let (mut rd, mut wr) = connect(&s).await.into_split();
    let started = Instant::now();
    let size = 10 * 1024 * 1024;
    let writer = tokio::spawn(async move {
        let head = format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {size}\r\n\r\n"
        );
        if wr.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'a'; 64 * 1024];
        for _ in 0..size / chunk.len() {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let res = read_all(&mut rd, Duration::from_secs(5)).await;
    assert_eq!(status_of(&res), 413, "{res:.300}");
    assert!(res.contains("invalid_request"), "{res}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    writer.abort();
    // Through a client library with a body just over the limit, the answer is the same.
    let limit = s.state.config.http.body_limit_bytes;
    let body = format!("grant_type=client_credentials&x={}", "a".repeat(limit));
    let r = http()
        .post(s.url("/token"))
        .header("authorization", basic("svc", "x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 413);
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i2_huge_header_and_many_headers_are_431() {
    let s = TestServer::start().await;
    // One 32 KiB header.
    let r = send(http().get(s.url("/healthz")).header("x-big", "a".repeat(32 * 1024))).await;
    assert_eq!(r.status, 431, "{}", r.body);
    // A 32 KiB cookie (the header browsers grow).
    let r = send(http().get(s.url("/authorize")).header("cookie", format!("a={}", "b".repeat(32 * 1024)))).await;
    assert_eq!(r.status, 431, "{}", r.body);
    // Very many small headers.
    let mut c = connect(&s).await;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..2000 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let _ = c.write_all(req.as_bytes()).await;
    let res = read_all(&mut c, Duration::from_secs(5)).await;
    assert_eq!(status_of(&res), 431, "{res:.300}");
    // 1 MiB of headers.
    let mut c = connect(&s).await;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..64 {
        req.push_str(&format!("x-h{i}: {}\r\n", "v".repeat(16 * 1024)));
    }
    req.push_str("\r\n");
    let _ = c.write_all(req.as_bytes()).await;
    let res = read_all(&mut c, Duration::from_secs(5)).await;
    assert_eq!(status_of(&res), 431, "{res:.300}");
    // Ordinary requests still work.
    assert_eq!(send(http().get(s.url("/healthz"))).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i2_100_kib_authorize_url_is_414() {
    let s = TestServer::start().await;
    // 100 KiB (hyper refuses it while parsing) and 20 KiB (Keycard's own limit): raw TCP, since
    // a client library may see the connection reset before it reads the answer.
    for kib in [100, 20] {
        let mut c = connect(&s).await;
        let req = format!(
            "GET /authorize?response_type=code&client_id=x&state={} HTTP/1.1\r\nHost: x\r\n\r\n",
            "a".repeat(kib * 1024)
        );
        let _ = c.write_all(req.as_bytes()).await;
        let res = read_all(&mut c, Duration::from_secs(5)).await;
        assert_eq!(status_of(&res), 414, "{kib} KiB: {res:.300}");
    }
    let url = s.url(&format!("/authorize?response_type=code&client_id=x&state={}", "a".repeat(20 * 1024)));
    let r = send(http().get(&url)).await;
    assert_eq!(r.status, 414, "{}", r.body);
    assert_eq!(r.json()["error"], "invalid_request");
    // Just below the limit an ordinary error page (unknown client) is served.
    let url = s.url(&format!("/authorize?response_type=code&client_id=x&state={}", "a".repeat(4 * 1024)));
    let r = send(http().get(&url)).await;
    assert_eq!(r.status, 400, "{}", r.body);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i3_slowloris_headers_are_cut_at_the_header_read_timeout() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.http.header_read_timeout_secs = 1),
        ..Default::default()
    })
    .await;
    let mut c = connect(&s).await;
    let started = Instant::now();
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut closed = false;
    for i in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if c.write_all(format!("x-slow-{i}: v\r\n").as_bytes()).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match tokio::time::timeout(Duration::from_millis(1), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {
                // A 408 before closing is fine too.
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(closed, "a connection trickling headers was kept open for {took:?}");
    assert!(took < Duration::from_secs(4), "closed only after {took:?} (header timeout 1 s)");
    assert_eq!(send(http().get(s.url("/healthz"))).await.status, 200);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn i3_slow_body_is_cut_at_the_request_timeout() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.http.request_timeout_secs = 2),
        ..Default::default()
    })
    .await;
    let (id, secret) = s.cc_client("svc", &[]).await;
    let mut c = connect(&s).await;
    let started = Instant::now();
    c.write_all(
        format!(
            "POST /token HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\n",
            basic(&id, &secret)
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    for _ in 0..40 {
        if c.write_all(b"a").await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(250), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                break;
            }
            Err(_) => {}
        }
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "slow body kept for {took:?} (request timeout 2 s)");
    assert!(took >= Duration::from_millis(1500), "cut before the timeout: {took:?}");
    if !answer.is_empty() {
        assert_eq!(status_of(&answer), 408, "{answer}");
    }
    s.stop().await;
}
