//! Reliability suite, exactly once across nodes (issue 10 item 1): two Keycard nodes on one
//! PostgreSQL database (one issuer, one server secret, as behind a load balancer), and every
//! single-use value raced by [`CONCURRENCY`] concurrent requests spread over both nodes and
//! released together. Per round, each kind gets a fresh value:
//!
//! | kind | module | exactly once means |
//! |---|---|---|
//! | authorization code (RFC 6749 §4.1.2, SECURITY B7) | [`codes`] | one 200, every other answer `invalid_grant` |
//! | refresh token, no replay window (RFC 9700 §4.14.2, SECURITY C3) | [`codes`] | one 200, every other answer `invalid_grant` |
//! | refresh token with a replay window | [`refresh_window`] | one successor pair is issued: every 200 carries the same pair, at most `1 + refresh_replay_max` answers are 200 (exactly that many when more requests race), the rest `invalid_grant`; within the budget the family stays live and the successor rotates once; beyond it the family is revoked |
//! | device code (RFC 8628 §3.4–3.5) | [`device`] | one 200, every other answer `invalid_grant` |
//! | PAR `request_uri` (RFC 9126 §2.2, §4) | [`par`] | one `/authorize` proceeds (a redirect, whose flow then ends in a code that redeems), every other one is the `invalid_request_uri` error page (400) |
//! | client assertion `jti` (RFC 7523 §3, SECURITY D5) | [`jti`] | one 200, every other answer `invalid_client` |
//! | DPoP proof `jti` (RFC 9449 §11.1, SECURITY F4) | [`jti`] | one 200, every other answer `invalid_dpop_proof` |
//! | mailed link (e-mail verification; reset and invitation links share the statement) | [`mail_links`] | one 200 "confirmed", every other answer the invalid-link page (400) |
//!
//! Every answer of every round is checked: no 5xx, ever. `KEYCARD_EXACTLY_ONCE_ROUNDS` sets the
//! rounds (default [`DEFAULT_ROUNDS`], to keep CI within a minute in a debug build); the long
//! run is `KEYCARD_EXACTLY_ONCE_ROUNDS=1000 cargo test --release -p keycard --test exactly_once`
//! (its figures are in docs/reliability.md §1). Skipped (with a message) when PostgreSQL is
//! unreachable, unless KEYCARD_TEST_REQUIRE_POSTGRES=1. The single-node SQLite check of the
//! assertion replay cache is here too ([`jti`]).
//!
//! Adding a kind: a module with `setup(&Cluster)` (clients, users) and `round(&Cluster, n)`
//! (a fresh value, [`race`], [`Tally`] asserting what exactly once means for it), called from
//! [`single_use_values_are_used_exactly_once_across_two_nodes`], and a row above.

#[path = "../assertion_support/mod.rs"]
mod assertion_support;
#[path = "../common/mod.rs"]
mod common;

mod codes;
mod device;
mod jti;
mod mail_links;
mod par;
mod refresh_window;

use common::*;
use keycard::config::Config;
use keycard::store::conformance::TestDb;
use std::sync::Arc;

/// Concurrent requests per race, spread evenly over the two nodes.
pub const CONCURRENCY: usize = 64;
/// Rounds when `KEYCARD_EXACTLY_ONCE_ROUNDS` is not set.
pub const DEFAULT_ROUNDS: usize = 5;
/// The cluster's issuer: both nodes answer for it (a load balancer would sit there).
pub const ISSUER: &str = "https://keycard.cluster.test";
/// The web client's redirect URI (tests/common `code_flow_fixtures`).
pub const CB: &str = "https://web.example/cb";

/// Two nodes on one PostgreSQL schema, and alice signed in (and consented) on node A.
pub struct Cluster {
    pub a: TestServer,
    pub b: TestServer,
    /// The `web` client's secret.
    pub web_secret: String,
    /// alice's browser.
    pub ua: UserAgent,
}

impl Cluster {
    pub fn nodes(&self) -> [&TestServer; 2] {
        [&self.a, &self.b]
    }
}

async fn node(url: &str) -> TestServer {
    let url = url.to_owned();
    TestServer::start_with(TestOptions {
        db: Some(TestDb::external(&url)),
        configure: Box::new(move |c: &mut Config| {
            c.database.url = Some(url);
            c.issuer = ISSUER.into();
            c.secret = Some(keycard::config::Secret("shared-cluster-secret-0123456789abcdef".into()));
            // The losers of every round are refused grants, assertions and proofs from one
            // address, and alice types a user code every round: neither is an attack here.
            c.login.client_max_failures = 1_000_000;
            c.device.max_code_attempts_per_browser = 1_000_000;
            c.device.max_code_attempts_per_ip = 1_000_000;
            c.device.max_authorizations_per_client_ip = 1_000_000;
        }),
        ..Default::default()
    })
    .await
}

pub fn rounds() -> usize {
    std::env::var("KEYCARD_EXACTLY_ONCE_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_ROUNDS)
}

pub fn enc(x: &str) -> String {
    form_urlencoded::byte_serialize(x.as_bytes()).collect()
}

/// Sends [`CONCURRENCY`] requests, request `i` built by `make(node, i)` for node `i % 2`, all
/// released at once by a barrier; returns every answer.
pub async fn race<F>(c: &Cluster, make: F) -> Vec<Res>
where
    F: Fn(&TestServer, usize) -> reqwest::RequestBuilder,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(CONCURRENCY));
    let mut set = tokio::task::JoinSet::new();
    for i in 0..CONCURRENCY {
        let rb = make(c.nodes()[i % 2], i);
        let barrier = barrier.clone();
        set.spawn(async move {
            barrier.wait().await;
            (i, send(rb).await)
        });
    }
    let mut out = set.join_all().await;
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

/// The answers of one race, sorted into winners and the expected refusal.
pub struct Tally {
    /// The successful answers (their index in the race, the answer).
    pub won: Vec<(usize, Res)>,
}

impl Tally {
    /// Sorts `answers`: status `ok` is a win; every other answer must have status `lost` and an
    /// RFC 6749 error body with `error` = `code`, or (`code` = None) be any `lost` answer. No
    /// answer may be a 5xx.
    pub fn of(answers: Vec<Res>, ok: fn(u16) -> bool, lost: u16, code: Option<&str>, what: &str) -> Tally {
        let mut won = Vec::new();
        for (i, r) in answers.into_iter().enumerate() {
            assert!(r.status < 500, "{what}: a {} answer: {}", r.status, r.body);
            if ok(r.status) {
                won.push((i, r));
                continue;
            }
            assert_eq!(r.status, lost, "{what}: {}", r.body);
            if let Some(code) = code {
                assert_eq!(r.json()["error"], code, "{what}: {}", r.body);
            }
        }
        Tally { won }
    }

    /// Exactly one winner; its answer.
    pub fn one(mut self, what: &str) -> Res {
        assert_eq!(self.won.len(), 1, "{what}: {} successes, not one", self.won.len());
        self.won.pop().expect("one").1
    }
}

pub fn is_200(s: u16) -> bool {
    s == 200
}

/// A form POST with optional Basic credentials.
pub fn form(url: String, auth: Option<&str>, body: &str) -> reqwest::RequestBuilder {
    let rb = http().post(url).header("content-type", "application/x-www-form-urlencoded").body(body.to_owned());
    match auth {
        Some(a) => rb.header("authorization", a),
        None => rb,
    }
}

/// SECURITY B7 (codes), C3 (refresh tokens), D5 (assertion jti) and F4 (DPoP jti) across two
/// nodes, with device codes, PAR request URIs, mailed links and the refresh replay window: every
/// kind of the module table, [`rounds`] rounds.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_use_values_are_used_exactly_once_across_two_nodes() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let started = std::time::Instant::now();
    let a = node(&pg.url).await;
    let b = node(&pg.url).await;
    let web_secret = code_flow_fixtures(&a).await.1;
    let c = Cluster { ua: UserAgent::behind_proxy(&a.base, ISSUER), a, b, web_secret };
    device::setup(&c).await;
    jti::setup(&c).await;
    refresh_window::setup(&c).await;
    c.b.sync_caches().await;
    let n = rounds();
    for round in 0..n {
        codes::round(&c, round).await;
        refresh_window::round(&c, round).await;
        device::round(&c, round).await;
        par::round(&c, round).await;
        jti::round(&c, round).await;
        mail_links::round(&c, round).await;
        if (round + 1) % 50 == 0 {
            eprintln!("exactly_once: {} of {n} rounds in {:.0} s", round + 1, started.elapsed().as_secs_f64());
        }
    }
    eprintln!(
        "exactly_once: {n} rounds x 9 kinds x {CONCURRENCY} concurrent requests over 2 nodes in {:.1} s, every one exactly once",
        started.elapsed().as_secs_f64()
    );
    c.a.stop().await;
    c.b.stop().await;
    pg.cleanup().await;
}
