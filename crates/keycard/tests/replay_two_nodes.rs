//! SECURITY D5: a client assertion's `jti` is accepted once across the cluster. Two Keycard nodes
//! on one PostgreSQL schema get the same fresh assertion concurrently, several requests per node,
//! for 50 rounds: exactly one 200 per round. And the same on SQLite with one node and concurrent
//! requests. The PostgreSQL test is skipped (with a message) when PostgreSQL is unreachable,
//! unless KEYCARD_TEST_REQUIRE_POSTGRES=1.

mod assertion_support;
mod common;

use assertion_support::*;
use common::*;
use keycard::config::Config;
use keycard::model::AuthMethod;
use keycard::store::conformance::TestDb;

const ROUNDS: usize = 50;
const PER_NODE: usize = 4;

async fn node(db: TestDb, shared: Option<(String, String)>) -> TestServer {
    TestServer::start_with(TestOptions {
        db: Some(db),
        configure: Box::new(move |c: &mut Config| {
            if let Some((url, secret)) = shared {
                c.database.url = Some(url);
                // Nodes of one cluster share the issuer and the server secret.
                c.issuer = "https://keycard.cluster.test".into();
                c.secret = Some(keycard::config::Secret(secret));
            }
            // Every refused replay is a counted failure (SECURITY D2); this test makes hundreds.
            c.login.client_max_failures = 1_000_000;
        }),
        ..Default::default()
    })
    .await
}

/// Sends `assertion` `PER_NODE` times to each node at once; returns how many got a token.
async fn race(nodes: &[&TestServer], assertion: &str) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for n in nodes {
        for _ in 0..PER_NODE {
            let (url, body) = (n.url("/token"), cc_body(assertion));
            set.spawn(async move { post_form(&url, None, &body).await });
        }
    }
    let mut ok = 0;
    for r in set.join_all().await {
        match r.status {
            200 => ok += 1,
            401 => assert_eq!(r.json()["error"], "invalid_client", "{}", r.body),
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    ok
}

#[tokio::test(flavor = "multi_thread")]
async fn d5_one_assertion_is_accepted_exactly_once_across_two_nodes_on_postgres() {
    let Some(pg) = TestDb::postgres().await else { return };
    let secret = "shared-cluster-secret-0123456789abcdef".to_owned();
    let url = pg.url.clone();
    let a = node(pg, Some((url.clone(), secret.clone()))).await;
    let b = node(TestDb::external(&url), Some((url, secret))).await;
    let es = Signer::es256("k1");
    register(&a, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    b.sync_caches().await;
    let aud = a.url("/token");
    let aud = aud.replace(&a.base, "https://keycard.cluster.test");
    for round in 0..ROUNDS {
        let assertion = es.sign("ES256", &claims(&a, "pk", &aud));
        assert_eq!(race(&[&a, &b], &assertion).await, 1, "round {round}: exactly one 200");
    }
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn d5_one_assertion_is_accepted_exactly_once_on_sqlite() {
    let s = node(TestDb::sqlite(), None).await;
    let es = Signer::es256("k1");
    register(&s, "pk", AuthMethod::PrivateKeyJwt, Keys { jwks: Some(es.jwks()), ..Default::default() }).await;
    for round in 0..5 {
        let assertion = es.sign("ES256", &claims(&s, "pk", &s.url("/token")));
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (url, body) = (s.url("/token"), cc_body(&assertion));
            set.spawn(async move { post_form(&url, None, &body).await.status });
        }
        let statuses = set.join_all().await;
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert!(statuses.iter().all(|s| matches!(s, 200 | 401)), "{statuses:?}");
    }
    s.stop().await;
}
