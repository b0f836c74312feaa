//! Reliability suite, overload (issue 10 item 5; docs/reliability.md §5): far more concurrent
//! sign-ins than argon2id can serve. The hashing queue is bounded (`login.max_concurrent_hashes`
//! running, `login.max_queued_hashes` waiting); the excess is refused at once — the login page
//! with 503, `Retry-After` and a "try again in a few seconds" message that keeps the form; the
//! legacy password grant with 503 `temporarily_unavailable` (RFC 6749 §5.2 JSON, no-store) — and a
//! refused sign-in is not counted as an attempt against the account. The figures (token p99 while
//! sign-ins are flooded, peak RSS) come from `bench/overload.sh`.

mod common;

use common::*;
use keycard::admin::ClientSpec;
use keycard::config::Config;
use keycard::model::GrantType;

/// One running hash, one waiting, and a deliberately slow hash, so that a burst overflows.
fn tight_queue() -> TestOptions {
    TestOptions {
        configure: Box::new(|c: &mut Config| {
            c.login.max_concurrent_hashes = 1;
            c.login.max_queued_hashes = 1;
            c.login.argon2_memory_kib = 64 * 1024;
            c.login.argon2_iterations = 3;
            c.legacy.password_grant = true;
        }),
        ..Default::default()
    }
}

const BURST: usize = 12;

fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_sign_ins_gets_fast_503_pages_and_costs_no_attempts() {
    let s = TestServer::start_with(tight_queue()).await;
    code_flow_fixtures(&s).await;
    // Each browser opens the sign-in page first; then all submit at once.
    let mut forms = Vec::new();
    for i in 0..BURST {
        let ua = UserAgent::new(&s.base);
        let (_, challenge) = pkce();
        let r = ua
            .get(&format!(
                "/authorize?response_type=code&client_id=web&redirect_uri={}&scope=openid&state=s{i}&code_challenge={challenge}&code_challenge_method=S256",
                enc("https://web.example/cb")
            ))
            .await;
        let page = ua.get(&r.location()).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (id, csrf) = (page.field("request_id"), page.field("csrf_token"));
        forms.push((ua, id, csrf));
    }
    let mut set = tokio::task::JoinSet::new();
    for (ua, id, csrf) in forms {
        set.spawn(async move {
            let r = ua
                .post(
                    "/login",
                    &[
                        ("request_id", &id),
                        ("csrf_token", &csrf),
                        ("username", "alice"),
                        ("password", "wrong-password"),
                    ],
                )
                .await;
            (r, ua, id, csrf)
        });
    }
    let (mut refused, mut checked) = (0, 0);
    let mut retry = None;
    for (r, ua, id, csrf) in set.join_all().await {
        match r.status {
            503 => {
                refused += 1;
                assert_eq!(r.header("retry-after"), Some("1"), "Retry-After on a refused sign-in");
                assert!(r.header("content-type").unwrap_or("").starts_with("text/html"));
                assert_eq!(r.header("cache-control"), Some("no-store"));
                assert!(r.body.contains("Many people are signing in right now"), "{}", r.body);
                // The page is the form again, ready for the retry.
                assert_eq!(r.field("request_id"), id);
                retry.get_or_insert((ua, id, csrf));
            }
            200 => {
                checked += 1;
                assert!(r.body.contains("not correct"), "{}", r.body);
            }
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert!(refused >= 1, "the queue overflowed: {refused} refused, {checked} checked");
    assert!(checked >= 1, "the queue served: {refused} refused, {checked} checked");
    // Refused sign-ins cost no attempt: with fewer than `login.max_attempts` (5) checked, the
    // account is not locked, and the retry of a refused form with the right password works.
    if checked < 5 {
        let (ua, id, csrf) = retry.expect("a refused form");
        let r = ua
            .post(
                "/login",
                &[("request_id", &id), ("csrf_token", &csrf), ("username", "alice"), ("password", "alice-password-1")],
            )
            .await;
        assert_eq!(r.status, 303, "a retry after the flood signs in: {}", r.body);
    }
    eprintln!("login flood: {BURST} at once → {checked} checked, {refused} refused at once with 503");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_password_grants_gets_503_temporarily_unavailable() {
    let s = TestServer::start_with(tight_queue()).await;
    code_flow_fixtures(&s).await;
    let (id, secret) = s
        .create_client(ClientSpec {
            id: Some("legacy".into()),
            grant_types: vec![GrantType::Password],
            scopes: vec!["openid".into()],
            ..Default::default()
        })
        .await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (url, auth) = (s.url("/token"), basic(&id, &secret));
        set.spawn(async move {
            post_form(&url, Some(&auth), "grant_type=password&username=alice&password=alice-password-1&scope=openid")
                .await
        });
    }
    let (mut refused, mut served) = (0, 0);
    for r in set.join_all().await {
        match r.status {
            503 => {
                refused += 1;
                r.assert_error(503, "temporarily_unavailable");
                assert_eq!(r.header("retry-after"), Some("1"));
            }
            200 => served += 1,
            s => panic!("unexpected {s}: {}", r.body),
        }
    }
    assert!(refused >= 1 && served >= 1, "{served} served, {refused} refused");
    s.stop().await;
}
