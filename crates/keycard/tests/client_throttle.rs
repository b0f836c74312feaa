//! SECURITY D2 / OAuth 2.1 §2.4.1: wrong client secrets are throttled per client and address.
//! Past `login.client_max_failures` the pair gets 429 with `Retry-After` (even with the right
//! secret) on every endpoint that authenticates clients; the same client from another address
//! and other clients from the same address are not affected; correct secrets are never counted;
//! the lock runs out. The two-node case (a lock seen by the other node at its first failure)
//! is in `two_nodes.rs`.

mod common;

use common::*;
use std::net::IpAddr;

/// A client whose requests come from `ip` (any 127.0.0.0/8 address is loopback on Linux).
fn from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::from(ip)).build().unwrap()
}

async fn token(http: &reqwest::Client, s: &TestServer, id: &str, secret: &str) -> Res {
    send(
        http.post(s.url("/token"))
            .header("authorization", basic(id, secret))
            .form(&[("grant_type", "client_credentials")]),
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_client_secrets_lock_the_client_for_that_address_only() {
    let s = TestServer::start_with(TestOptions {
        mock_time: Some(1_800_000_000),
        configure: Box::new(|c| {
            c.login.client_max_failures = 5;
            c.login.lockout_secs = 60;
        }),
        ..Default::default()
    })
    .await;
    let (id, secret) = s.cc_client("svc:billing", &["invoices:read"]).await;
    let (other, other_secret) = s.cc_client("svc:other", &["invoices:read"]).await;
    let (attacker, legit) = (from([127, 0, 0, 2]), from([127, 0, 0, 3]));

    // Correct secrets are never counted.
    for _ in 0..20 {
        assert_eq!(token(&attacker, &s, &id, &secret).await.status, 200);
    }
    for _ in 0..5 {
        let r = token(&attacker, &s, &id, "wrong-secret").await;
        r.assert_error(401, "invalid_client");
        assert!(r.header("www-authenticate").unwrap().starts_with("Basic"), "RFC 6749 §5.2");
        assert!(r.header("retry-after").is_none());
    }
    let r = token(&attacker, &s, &id, "wrong-secret").await;
    r.assert_error(429, "invalid_client");
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(!r.body.contains("wrong-secret"));

    // Locked: the right secret from that address is refused too, by Basic or in the body, and at
    // every endpoint that authenticates the client.
    token(&attacker, &s, &id, &secret).await.assert_error(429, "invalid_client");
    let body = [("grant_type", "client_credentials"), ("client_id", id.as_str()), ("client_secret", secret.as_str())];
    send(attacker.post(s.url("/token")).form(&body)).await.assert_error(429, "invalid_client");
    let creds = basic(&id, &secret);
    for path in ["/introspect", "/revoke"] {
        let r = send(attacker.post(s.url(path)).header("authorization", &creds).form(&[("token", "x")])).await;
        r.assert_error(429, "invalid_client");
        assert_eq!(r.header("retry-after"), Some("60"), "{path}");
    }

    // The same client from another address, and another client from the same address, work.
    assert_eq!(token(&legit, &s, &id, &secret).await.status, 200);
    assert_eq!(token(&attacker, &s, &other, &other_secret).await.status, 200);
    // Unknown client ids are never counted (nothing to guess; random ids would fill the table).
    for _ in 0..8 {
        token(&attacker, &s, "no-such-client", "x").await.assert_error(401, "invalid_client");
    }

    // The lock runs out; the right secret works again, and one more wrong one is let through
    // (as attempt number `client_max_failures`) before the pair locks again.
    let clock = s.clock.clone().unwrap();
    clock.advance(59);
    token(&attacker, &s, &id, &secret).await.assert_error(429, "invalid_client");
    clock.advance(1);
    assert_eq!(token(&attacker, &s, &id, &secret).await.status, 200);
    token(&attacker, &s, &id, "wrong-secret").await.assert_error(401, "invalid_client");
    let r = token(&attacker, &s, &id, "wrong-secret").await;
    r.assert_error(429, "invalid_client");
    assert_eq!(r.header("retry-after"), Some("60"));
    token(&attacker, &s, &id, "wrong-secret").await.assert_error(429, "invalid_client");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_limit_is_configuration() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| c.login.client_max_failures = 1),
        ..Default::default()
    })
    .await;
    let (id, _) = s.cc_client("svc:x", &["a"]).await;
    let http = from([127, 0, 0, 4]);
    token(&http, &s, &id, "wrong").await.assert_error(401, "invalid_client");
    token(&http, &s, &id, "wrong").await.assert_error(429, "invalid_client");
}

/// SECURITY I8 / G9: `X-Forwarded-For` moves the throttle key only when the TCP peer is a
/// configured trusted proxy; from anyone else it is ignored.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let s = TestServer::start_with(TestOptions {
        configure: Box::new(|c| {
            c.login.client_max_failures = 2;
            c.http.trusted_proxies = vec!["127.0.0.2".into()];
        }),
        ..Default::default()
    })
    .await;
    let (id, secret) = s.cc_client("svc:proxied", &["a"]).await;
    let (proxy, direct) = (from([127, 0, 0, 2]), from([127, 0, 0, 6]));
    let via = |http: &reqwest::Client, xff: &str, secret: &str| {
        send(
            http.post(s.url("/token"))
                .header("authorization", basic(&id, secret))
                .header("x-forwarded-for", xff)
                .form(&[("grant_type", "client_credentials")]),
        )
    };
    // Through the proxy, 203.0.113.7 locks itself out.
    for _ in 0..2 {
        via(&proxy, "203.0.113.7", "wrong").await.assert_error(401, "invalid_client");
    }
    via(&proxy, "203.0.113.7", "wrong").await.assert_error(429, "invalid_client");
    via(&proxy, "203.0.113.7", &secret).await.assert_error(429, "invalid_client");
    // A forged left-most entry does not help: the proxy appended the real address.
    via(&proxy, "198.51.100.1, 203.0.113.7", &secret).await.assert_error(429, "invalid_client");
    // Other clients behind the same proxy, and the proxy's own address, are not locked.
    assert_eq!(via(&proxy, "203.0.113.8", &secret).await.status, 200);
    assert_eq!(token(&proxy, &s, &id, &secret).await.status, 200);
    // From a peer that is not a trusted proxy the header is ignored both ways: claiming the
    // locked address does not lock it, claiming another does not escape a lock of its own.
    assert_eq!(via(&direct, "203.0.113.7", &secret).await.status, 200);
    for _ in 0..2 {
        via(&direct, &format!("198.51.100.{}", rand_octet()), "wrong").await.assert_error(401, "invalid_client");
    }
    via(&direct, "198.51.100.200", "wrong").await.assert_error(429, "invalid_client");
    via(&direct, "198.51.100.201", &secret).await.assert_error(429, "invalid_client");
}

fn rand_octet() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static N: AtomicU8 = AtomicU8::new(1);
    N.fetch_add(1, Ordering::Relaxed)
}
