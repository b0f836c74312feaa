//! SECURITY D1 (OpenID Connect Core §16.12, OAuth 2.1 §2.4.1): client secrets are compared as
//! fixed-length keyed digests in constant time, and an unknown client id costs the same work as
//! a known one with a wrong secret, so neither the secret's bytes nor a client's existence can
//! be read from response times.
//!
//! The white-box half checks the comparator on digests; the black-box half is a coarse timing
//! check over loopback — medians of interleaved samples with a generous bound, so it holds on
//! a loaded 2-core machine; a dudect-style test with 20 000 samples belongs to a benchmark run.

mod common;

use common::*;
use keycard::jose;
use std::time::{Duration, Instant};

#[test]
fn d1_secret_comparison_is_over_fixed_length_digests_in_constant_time() {
    let key = jose::random_bytes::<32>();
    let secret = b"kc_cs_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";
    let stored = jose::keyed_hash(&key, secret);
    assert!(jose::keyed_hash_matches(&key, secret, &stored));
    // Digests are one length whatever the secret's length: the comparison never depends on it.
    for s in [&b""[..], b"x", &[b'y'; 10_000][..]] {
        assert_eq!(jose::keyed_hash(&key, s).len(), stored.len());
        assert!(!jose::keyed_hash_matches(&key, s, &stored));
    }
    // Every single-bit change of the stored digest is a mismatch, wherever it is.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let raw = b64.decode(&stored).expect("digests are base64url");
    assert_eq!(raw.len(), 32, "HMAC-SHA-256");
    for i in 0..raw.len() {
        for bit in 0..8 {
            let mut d = raw.clone();
            d[i] ^= 1 << bit;
            assert!(!jose::keyed_hash_matches(&key, secret, &b64.encode(&d)), "byte {i} bit {bit}");
        }
    }
    // Truncated, extended and malformed digests never match (and never panic).
    for bad in [&stored[..stored.len() - 1], &format!("{stored}A"), "", "%%%", &stored[..22]] {
        assert!(!jose::keyed_hash_matches(&key, secret, bad), "{bad:?}");
    }
    // The comparator is aws-lc-rs `hmac::verify` (constant-time tag comparison), not `==` on
    // strings or bytes: pin it, so a refactoring cannot swap it silently.
    let src = include_str!("../src/jose.rs");
    let body = src.split("pub fn keyed_hash_matches").nth(1).expect("keyed_hash_matches exists");
    let body = &body[..body.find("\n}\n").expect("end of fn")];
    assert!(body.contains("hmac::verify("), "{body}");
    assert!(!body.contains("==") && !body.contains(".eq("), "no short-circuit comparison: {body}");
    // And client authentication uses it for known and unknown clients alike.
    let auth = include_str!("../src/oauth/client_auth.rs");
    assert!(auth.matches("keyed_hash_matches(").count() >= 2, "unknown clients pay the same HMAC");
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread")]
async fn d1_unknown_client_and_wrong_secret_take_comparable_time() {
    let s = TestServer::start_with(TestOptions {
        // Keep the known client below its lock for the whole sample (D2 has its own tests).
        configure: Box::new(|c| c.login.client_max_failures = 1_000_000),
        ..Default::default()
    })
    .await;
    let (id, secret) = s.cc_client("svc-timing", &[]).await;
    let url = s.url("/token");
    let client = http();
    let wrong_last = format!("{}X", &secret[..secret.len() - 1]);
    let wrong_first = format!("X{}", &secret[1..]);
    let cases = [
        ("known client, last byte wrong", id.clone(), wrong_last),
        ("known client, first byte wrong", id.clone(), wrong_first),
        ("known client, short secret", id.clone(), "x".to_owned()),
        ("unknown client", "svc-timing-nobody".to_owned(), secret.clone()),
        ("fresh unknown client ids", String::new(), secret.clone()),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    const ROUNDS: usize = 200;
    for round in 0..ROUNDS + 10 {
        // Interleaved, in a rotating order, so load swings hit every case alike.
        for k in 0..cases.len() {
            let i = (k + round) % cases.len();
            let (name, cid, sec) = &cases[i];
            let cid = if cid.is_empty() { format!("svc-timing-{round}") } else { cid.clone() };
            let rb = client
                .post(&url)
                .header("authorization", basic(&cid, sec))
                .header("content-type", "application/x-www-form-urlencoded")
                .body("grant_type=client_credentials");
            let started = Instant::now();
            let r = rb.send().await.expect("send");
            let status = r.status().as_u16();
            let _ = r.bytes().await;
            let took = started.elapsed();
            assert_eq!(status, 401, "{name}");
            // The first rounds warm caches and connections up.
            if round >= 10 {
                times[i].push(took);
            }
        }
    }
    let medians: Vec<Duration> = times.iter().map(|t| median(&mut t.clone())).collect();
    for (c, m) in cases.iter().zip(&medians) {
        eprintln!("{:35} median {:?}", c.0, m);
    }
    // The cases an attacker can compare directly: ids seen before, so cached alike (a fresh id
    // also costs a client lookup, whether it exists or not, and is only printed). Paired by
    // round, so load swings cancel out; the median of the paired differences must be small.
    // The work on every path is one HMAC and one failure-counter write: a path that skips one
    // (e.g. no counter write for unknown ids) shows up as a consistent difference of a write.
    let unknown = &times[3];
    let baseline = medians[3];
    for (k, case) in cases.iter().enumerate().take(3) {
        let mut diffs: Vec<f64> =
            times[k].iter().zip(unknown).map(|(a, b)| a.as_secs_f64() - b.as_secs_f64()).collect();
        diffs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let d = diffs[diffs.len() / 2];
        let bound = (baseline.as_secs_f64() / 4.0).max(300e-6);
        eprintln!(
            "{:35} vs unknown client: median paired difference {:.0} µs (bound {:.0} µs)",
            case.0,
            d * 1e6,
            bound * 1e6
        );
        assert!(d.abs() <= bound, "{}: median paired difference {:.0} µs > {:.0} µs", case.0, d * 1e6, bound * 1e6);
    }
    s.stop().await;
}
