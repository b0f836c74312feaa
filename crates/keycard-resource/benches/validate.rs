//! Validations per second on one core with a warm JWKS cache.
//!
//! `cargo bench -p keycard-resource --bench validate` (release profile). Plain `std::time` loop:
//! each algorithm runs for about two seconds on a current-thread runtime after a warm-up.

#[allow(dead_code)]
#[path = "../tests/resource/common.rs"]
mod common;

use common::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mock = MockAs::start().await;
        let (es, rs, ed) = (TestKey::es256(), TestKey::rs256(), TestKey::eddsa());
        mock.set_keys(&[(&es, "es"), (&rs, "rs"), (&ed, "ed")]);
        let v = mock.validator();
        v.warm_up().await.unwrap();
        let opaque = "kc_at_benchmarktoken";
        mock.set_introspection(opaque, mock.active("invoices:read"));

        let c = claims(&mock.issuer);
        let cases = [
            ("ES256 JWT", jwt(&es, "es", &c)),
            ("RS256 JWT", jwt(&rs, "rs", &c)),
            ("EdDSA JWT", jwt(&ed, "ed", &c)),
            ("opaque, cached introspection", opaque.to_owned()),
        ];
        for (name, token) in &cases {
            v.validate(token).await.expect(name);
            for _ in 0..200 {
                black_box(v.validate(token).await.unwrap());
            }
            let budget = Duration::from_secs(2);
            let start = Instant::now();
            let mut n: u64 = 0;
            while start.elapsed() < budget {
                for _ in 0..100 {
                    black_box(v.validate(black_box(token)).await.unwrap());
                }
                n += 100;
            }
            let secs = start.elapsed().as_secs_f64();
            println!(
                "{name:<30} {:>10.0} validations/s  ({:.1} µs each, one core)",
                n as f64 / secs,
                secs * 1e6 / n as f64
            );
        }
        assert_eq!(mock.jwks_fetches(), 1, "the JWKS cache stayed warm");

        // Baseline: the bare ES256 signature check, to show what the rest costs.
        let token = &cases[0].1;
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig).unwrap();
        let jwk = es.jwk("es");
        let coord = |k: &str| {
            base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, jwk[k].as_str().unwrap()).unwrap()
        };
        let point = [vec![4u8], coord("x"), coord("y")].concat();
        let key =
            aws_lc_rs::signature::ParsedPublicKey::new(&aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED, point).unwrap();
        let start = Instant::now();
        let mut n: u64 = 0;
        while start.elapsed() < Duration::from_secs(2) {
            for _ in 0..100 {
                key.verify_sig(black_box(input.as_bytes()), black_box(&sig)).unwrap();
            }
            n += 100;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:<30} {:>10.0} verifications/s  ({:.1} µs each)",
            "bare ES256 verify (baseline)",
            n as f64 / secs,
            secs * 1e6 / n as f64
        );
    });
}
