//! Validations per second on one core with a warm JWKS cache.
//!
//! `cargo bench -p keycard-resource --bench validate` (release profile). Plain `std::time` loop:
//! each case runs for about two seconds on a current-thread runtime after a warm-up.
//!
//! - "full": every validation verifies the signature (the verified-token cache turned off), i.e.
//!   the first request with a given token;
//! - "cached": the same token again (the usual case: a client reuses its access token until it
//!   expires), which skips the signature but re-checks `exp`/`nbf`; `validate_shared`, as the axum
//!   integration calls it (`validate` adds one copy of the claims);
//! - "per request": what the axum layer does for each request: find the token in the headers
//!   (`bearer_token`) and validate it, cached;
//! - the bare ES256 signature check, as the baseline of the "full" figure;
//! - with `--features axum`: the demo API of `keycard serve --demo` called in process (no network),
//!   `GET /api/invoices` (the `require_scopes` layer and the `BearerClaims` extractor) against
//!   `GET /api/invoices-unprotected` (the same handler work, no validation), both with the same
//!   `Authorization` header: the share of a request that validation costs, without the noise of
//!   sockets and a load generator sharing the cores.

#[allow(dead_code)]
#[path = "../tests/resource/common.rs"]
mod common;

use common::*;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// `cargo bench -p keycard-resource --bench validate -- WORD`: only the cases whose name
/// contains WORD (e.g. `cached`, `demo`).
fn selected(name: &str) -> bool {
    std::env::args().skip(1).filter(|a| !a.starts_with("--")).all(|w| name.contains(&w))
}

/// Runs `f` for about two seconds after 200 warm-up calls; prints calls/s and µs per call.
async fn measure<F, Fut>(name: &str, unit: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if !selected(name) {
        return;
    }
    for _ in 0..200 {
        f().await;
    }
    let budget = Duration::from_secs(2);
    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f().await;
        }
        n += 100;
    }
    let secs = start.elapsed().as_secs_f64();
    let per = secs * 1e6 / n as f64;
    let per = if per < 10.0 { format!("{:.2} µs", per) } else { format!("{:.1} µs", per) };
    println!("{name:<42} {:>11.0} {unit}/s  ({per} each, one core)", n as f64 / secs);
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mock = MockAs::start().await;
        let (es, rs, ed) = (TestKey::es256(), TestKey::rs256(), TestKey::eddsa());
        mock.set_keys(&[(&es, "es"), (&rs, "rs"), (&ed, "ed")]);
        let cached = mock.validator();
        let full = mock.builder().verified_cache_capacity(0).build().unwrap();
        cached.warm_up().await.unwrap();
        full.warm_up().await.unwrap();
        let opaque = "kc_at_benchmarktoken";
        mock.set_introspection(opaque, mock.active("invoices:read"));

        let c = claims(&mock.issuer);
        let cases = [("ES256", jwt(&es, "es", &c)), ("RS256", jwt(&rs, "rs", &c)), ("EdDSA", jwt(&ed, "ed", &c))];
        for (alg, token) in &cases {
            full.validate(token).await.expect(alg);
            measure(&format!("{alg} JWT, full (signature verified)"), "validations", || async {
                black_box(full.validate(black_box(token)).await.unwrap());
            })
            .await;
        }
        for (alg, token) in &cases {
            cached.validate(token).await.expect(alg);
            measure(&format!("{alg} JWT, cached (same token again)"), "validations", || async {
                black_box(cached.validate_shared(black_box(token)).await.unwrap());
            })
            .await;
        }
        cached.validate(opaque).await.unwrap();
        measure("opaque, cached introspection", "validations", || async {
            black_box(cached.validate(black_box(opaque)).await.unwrap());
        })
        .await;

        // What the axum layer does per request: header → token → cached validation.
        let token = &cases[0].1;
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        let uri: http::Uri = "/api/invoices".parse().unwrap();
        measure("ES256 per request: bearer_token only", "extractions", || async {
            black_box(keycard_resource::bearer_token(black_box(&headers), black_box(&uri)).unwrap());
        })
        .await;
        measure("ES256 per request: bearer_token + cached", "requests", || async {
            let t = keycard_resource::bearer_token(black_box(&headers), black_box(&uri)).unwrap();
            black_box(cached.validate_shared(t).await.unwrap());
        })
        .await;
        #[cfg(feature = "axum")]
        if selected("demo API in process") {
            demo_api_in_process(std::sync::Arc::new(mock.validator()), &cases[0].1).await;
        }
        #[cfg(not(feature = "axum"))]
        println!("(the demo API comparison needs --features axum)");

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
        measure("bare ES256 signature check (baseline)", "verifications", || async {
            key.verify_sig(black_box(input.as_bytes()), black_box(&sig)).unwrap();
        })
        .await;
    });
}

/// The demo API in process, validation on vs. off, interleaved rounds; prints the share.
#[cfg(feature = "axum")]
async fn demo_api_in_process(validator: std::sync::Arc<keycard_resource::Validator>, token: &str) {
    use tower::ServiceExt;
    let app = keycard::demo::router(validator);
    let auth: http::HeaderValue = format!("Bearer {token}").parse().unwrap();
    let call = |path: &'static str| {
        let (app, auth) = (app.clone(), auth.clone());
        async move {
            let req =
                http::Request::get(path).header(http::header::AUTHORIZATION, auth).body(axum::body::Body::empty());
            let resp = app.oneshot(req.unwrap()).await.unwrap();
            assert_eq!(resp.status(), http::StatusCode::OK, "{path}");
            black_box(resp);
        }
    };
    let time = |path: &'static str| {
        let call = &call;
        async move {
            let start = Instant::now();
            for _ in 0..20_000 {
                call(path).await;
            }
            start.elapsed().as_secs_f64() / 20_000.0
        }
    };
    for _ in 0..2 {
        time("/api/invoices").await;
        time("/api/invoices-unprotected").await;
    }
    let (mut on, mut off) = (Vec::new(), Vec::new());
    for _ in 0..15 {
        on.push(time("/api/invoices").await);
        off.push(time("/api/invoices-unprotected").await);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (on, off) = (median(&mut on), median(&mut off));
    println!("{:<42} {:>11.0} requests/s  ({:.2} µs each)", "demo API in process, validation on", 1.0 / on, on * 1e6);
    println!(
        "{:<42} {:>11.0} requests/s  ({:.2} µs each)",
        "demo API in process, validation off",
        1.0 / off,
        off * 1e6
    );
    println!(
        "  validation costs {:.2} µs = {:.1}% of a request (median of 15 interleaved rounds of 20,000)",
        (on - off) * 1e6,
        (on - off) / on * 100.0
    );
}
