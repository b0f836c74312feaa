//! Reliability suite, exactly once across nodes (issue 10 item 1, first part): two Keycard nodes
//! on one PostgreSQL database behind a "load balancer" that spreads 64 concurrent requests over
//! both. Each round, one authorization code is redeemed by all 64 at once (RFC 6749 §4.1.2: used
//! once; SECURITY B7) and, separately, one refresh token is presented by all 64 at once (RFC 9700
//! §4.14.2 rotation; SECURITY C3): exactly one request succeeds, every other one is
//! `invalid_grant`, never a 5xx. `KEYCARD_EXACTLY_ONCE_ROUNDS` sets the rounds (default 30, so
//! that CI stays fast; the documented long run is 1000:
//! `KEYCARD_EXACTLY_ONCE_ROUNDS=1000 cargo test -p keycard --test exactly_once`). The assertion
//! and DPoP `jti` caches have the same proof in tests/replay_two_nodes.rs and tests/dpop.rs, PAR
//! request URIs in store/par.rs and tests/par.rs. Skipped (with a message) when PostgreSQL is
//! unreachable, unless KEYCARD_TEST_REQUIRE_POSTGRES=1.

mod common;

use common::*;
use keycard::config::Config;
use keycard::store::conformance::TestDb;

const CONCURRENCY: usize = 64;
const CB: &str = "https://web.example/cb";

async fn node(url: &str, secret: &str) -> TestServer {
    let (url, secret) = (url.to_owned(), secret.to_owned());
    TestServer::start_with(TestOptions {
        db: Some(TestDb::external(&url)),
        configure: Box::new(move |c: &mut Config| {
            c.database.url = Some(url);
            // Each node keeps its own loopback issuer: the browser flow runs on node A, whose
            // pages check the origin; the token requests go to both.
            c.secret = Some(keycard::config::Secret(secret));
            // The losers of every round are wrong grants from one address: not a brute force.
            c.login.client_max_failures = 1_000_000;
        }),
        ..Default::default()
    })
    .await
}

fn rounds() -> usize {
    std::env::var("KEYCARD_EXACTLY_ONCE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(30)
}

fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}

/// Sends `body` to /token `CONCURRENCY` times at once, alternating the nodes; returns the
/// successful answers and checks that every other one is `invalid_grant`.
async fn race(nodes: &[&TestServer; 2], auth: &str, body: &str, what: &str) -> Vec<serde_json::Value> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..CONCURRENCY {
        let (url, auth, body) = (nodes[i % 2].url("/token"), auth.to_owned(), body.to_owned());
        set.spawn(async move { post_form(&url, Some(&auth), &body).await });
    }
    let mut won = Vec::new();
    for r in set.join_all().await {
        match r.status {
            200 => won.push(r.json()),
            400 => assert_eq!(r.json()["error"], "invalid_grant", "{what}: {}", r.body),
            s => panic!("{what}: unexpected {s}: {}", r.body),
        }
    }
    won
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn codes_and_refresh_tokens_are_redeemed_exactly_once_across_two_nodes() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let secret = "shared-cluster-secret-0123456789abcdef";
    let a = node(&pg.url, secret).await;
    let b = node(&pg.url, secret).await;
    let (client, client_secret) = ("web", code_flow_fixtures(&a).await.1);
    b.sync_caches().await;
    let auth = basic(client, &client_secret);
    let ua = UserAgent::new(&a.base);
    let nodes = [&a, &b];
    let n = rounds();
    for round in 0..n {
        // A fresh code (the first round signs in and consents, the others reuse the session).
        let (verifier, challenge) = pkce();
        let url = format!(
            "/authorize?response_type=code&client_id={client}&redirect_uri={}&scope={}&state=s{round}&code_challenge={challenge}&code_challenge_method=S256",
            enc(CB),
            enc("openid offline_access api:read")
        );
        let back = authorize_in(&ua, &url, "alice", "alice-password-1").await;
        let code = query_of(&back)["code"].clone();
        let body =
            format!("grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}", enc(CB));
        let won = race(&nodes, &auth, &body, &format!("code, round {round}")).await;
        assert_eq!(won.len(), 1, "code round {round}: {} successes", won.len());

        // A fresh refresh token, redeemed once alone, then raced (the losers' replays of the
        // code above revoked that grant, SECURITY B6, so it gets its own grant).
        let tokens = code_flow_tokens(&a, &ua, client, &client_secret, CB, "openid offline_access api:read").await;
        let rt = tokens["refresh_token"].as_str().expect("a refresh token").to_owned();
        let body = format!("grant_type=refresh_token&refresh_token={}", enc(&rt));
        let won = race(&nodes, &auth, &body, &format!("refresh, round {round}")).await;
        assert_eq!(won.len(), 1, "refresh round {round}: {} successes", won.len());
    }
    eprintln!("exactly_once: {n} rounds x {CONCURRENCY} concurrent requests over 2 nodes, codes and refresh tokens");
    a.stop().await;
    b.stop().await;
    pg.cleanup().await;
}
