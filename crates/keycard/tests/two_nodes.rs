//! Two Keycard nodes on one PostgreSQL database: they share clients and keys; a token minted by
//! node A is active at node B; a key rotated through the store (as `keycard keys rotate` does) is
//! in both nodes' JWKS, and signs on both, within the cache poll interval. Skipped (with a
//! message) when PostgreSQL is unreachable, unless KEYCARD_TEST_REQUIRE_POSTGRES=1.

mod common;

use common::*;
use keycard::config::Config;
use keycard::store::conformance::TestDb;
use std::time::{Duration, Instant};

async fn node(url: &str, secret: &str) -> TestServer {
    let (url, secret) = (url.to_owned(), secret.to_owned());
    let db = TestDb::external(&url);
    TestServer::start_with(TestOptions {
        db: Some(db),
        configure: Box::new(move |c: &mut Config| {
            c.database.url = Some(url);
            // Nodes of one cluster share the issuer (they sit behind one load balancer).
            c.issuer = "https://keycard.cluster.test".into();
            c.secret = Some(keycard::config::Secret(secret));
            c.cache.poll_interval_ms = 100;
        }),
        ..Default::default()
    })
    .await
}

async fn kids(s: &TestServer) -> Vec<String> {
    let j = send(http().get(s.url("/jwks.json"))).await.json();
    j["keys"].as_array().unwrap().iter().map(|k| k["kid"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_nodes_share_clients_tokens_and_keys() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let secret = "shared-cluster-secret-0123456789abcdef";
    let a = node(&pg.url, secret).await;
    let b = node(&pg.url, secret).await;
    assert_eq!(kids(&a).await, kids(&b).await, "one key set for the cluster");

    let (id, cs) = a.cc_client("svc:billing", &["x"]).await;
    // Created on A, usable on B at once (B's cache had no entry).
    let t = cc_token(&a, &id, &cs, None).await.json()["access_token"].as_str().unwrap().to_owned();
    let r = post_form(&b.url("/introspect"), Some(&basic(&id, &cs)), &format!("token={t}")).await;
    assert_eq!(r.json()["active"], true, "A's token is active at B: {}", r.body);
    assert_eq!(cc_token(&b, &id, &cs, None).await.status, 200);

    // Revoked at B → inactive at A.
    post_form(&b.url("/revoke"), Some(&basic(&id, &cs)), &format!("token={t}")).await;
    let r = post_form(&a.url("/introspect"), Some(&basic(&id, &cs)), &format!("token={t}")).await;
    assert_eq!(r.json()["active"], false);

    // Rotate the key in the store (what `keycard keys rotate` does on any machine).
    let old_kid = jwt_parts(&t).0["kid"].as_str().unwrap().to_owned();
    let new_kid =
        keycard::keys::rotate(&a.state.store, &a.state.secrets.kek, keycard::jose::Alg::ES256, 3600, 60, 1_900_000_000)
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let kb = kids(&b).await;
        let t2 = cc_token(&b, &id, &cs, None).await.json()["access_token"].as_str().unwrap().to_owned();
        if kb.contains(&new_kid) && jwt_parts(&t2).0["kid"] == new_kid.as_str() {
            assert!(kb.contains(&old_kid), "the old key stays published");
            break;
        }
        assert!(Instant::now() < deadline, "node B did not pick up the rotation within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Disable on A → refused on B within the poll interval.
    let admin = a.admin();
    let mut c = admin.client(&id).await.unwrap();
    c.disabled = true;
    admin.save_client(c).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while cc_token(&b, &id, &cs, None).await.status == 200 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cc_token(&b, &id, &cs, None).await.assert_error(401, "invalid_client");

    a.stop().await;
    b.stop().await;
    pg.cleanup().await;
}

/// SECURITY D2 across nodes: wrong client secrets are counted in the database, so a pair locked
/// at node A is refused by node B from B's first failure on (B then remembers the lock too).
#[tokio::test(flavor = "multi_thread")]
async fn a_client_lock_is_shared_through_the_database() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let secret = "shared-cluster-secret-0123456789abcdef";
    let a = node(&pg.url, secret).await;
    let b = node(&pg.url, secret).await;
    let (id, cs) = a.cc_client("svc:locked", &["x"]).await;
    let attacker = reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 5])).build().unwrap();
    let token = |s: &TestServer, secret: &str| {
        send(
            attacker
                .post(s.url("/token"))
                .header("authorization", basic(&id, secret))
                .form(&[("grant_type", "client_credentials")]),
        )
    };
    let limit = a.state.config.login.client_max_failures;
    for _ in 0..limit {
        token(&a, "wrong").await.assert_error(401, "invalid_client");
    }
    token(&a, "wrong").await.assert_error(429, "invalid_client");
    let r = token(&b, "wrong").await;
    r.assert_error(429, "invalid_client");
    assert!(r.header("retry-after").is_some());
    token(&b, &cs).await.assert_error(429, "invalid_client");
    // Another address is not affected on either node.
    assert_eq!(cc_token(&b, &id, &cs, None).await.status, 200);
    assert_eq!(cc_token(&a, &id, &cs, None).await.status, 200);
}
