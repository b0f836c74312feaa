//! The sign-in lockout as docs/security.md promises it (SECURITY G9, RFC 6819 §4.4.3.6): one
//! counter per account whatever the user types to name it (username or e-mail, in any letter
//! case, on SQLite and on PostgreSQL alike), and a lock that expires starts over at
//! `login.lockout_secs` instead of doubling on. Driven through `oauth::login::password_login`,
//! the function every password-consuming path (login page, device page, password grant) calls.

mod common;

use keycard::oauth::login::{LoginError, password_login};
use keycard::store::conformance::TestDb;
use keycard::testing::{TestOptions, TestServer};

const T0: i64 = 1_800_000_000;
const IP: &str = "192.0.2.10";

/// A server with a mock clock and cheap argon2 parameters (the lockout, not hashing, is tested).
async fn server(db: Option<TestDb>) -> TestServer {
    TestServer::start_with(TestOptions {
        db,
        mock_time: Some(T0),
        configure: Box::new(|c| {
            c.login.argon2_memory_kib = 64;
            c.login.argon2_iterations = 1;
        }),
    })
    .await
}

async fn add_user(s: &TestServer, username: &str, email: &str, password: &str) -> String {
    let a = s.admin();
    let hash = keycard::admin::hash_password(&s.state.config, password).unwrap();
    a.create_user(username, Some(email), None, Some(hash)).await.unwrap().id
}

/// `Ok(user id)`, `Err(None)` for "invalid", `Err(Some(retry_after))` for "locked".
async fn attempt(s: &TestServer, login: &str, password: &str) -> Result<String, Option<i64>> {
    match password_login(&s.state, login, password, IP).await {
        Ok(u) => Ok(u.id),
        Err(LoginError::Invalid) => Err(None),
        Err(LoginError::Locked { retry_after }) => Err(Some(retry_after)),
        Err(e) => panic!("unexpected sign-in failure: {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_username_and_email_share_one_counter() {
    let s = server(None).await;
    add_user(&s, "alice", "alice@example.com", "alice-password-1").await;
    let max = s.state.config.login.max_attempts;
    for i in 1..=max {
        assert_eq!(attempt(&s, "alice", "wrong").await, Err(None), "attempt {i} by username");
    }
    // SECURITY G9: the next guess, by e-mail this time, is the same account's sixth attempt.
    let base = s.state.config.login.lockout_secs;
    assert_eq!(attempt(&s, "alice@example.com", "wrong").await, Err(Some(base)), "locked by e-mail too");
    assert_eq!(
        attempt(&s, "Alice@Example.COM", "alice-password-1").await,
        Err(Some(2 * base)),
        "the right password too"
    );
    // Another account is not affected; an unknown login is counted by what was typed.
    add_user(&s, "bob", "bob@example.com", "bob-password-1").await;
    assert!(attempt(&s, "bob", "bob-password-1").await.is_ok());
    for _ in 1..=max {
        assert_eq!(attempt(&s, "ghost", "wrong").await, Err(None));
    }
    assert_eq!(attempt(&s, "GHOST", "wrong").await, Err(Some(base)), "unknown logins fold their case too");
    s.stop().await;
}

async fn an_expired_lock_starts_over_at_the_base_lock(db: Option<TestDb>) {
    let s = server(db).await;
    add_user(&s, "alice", "alice@example.com", "alice-password-1").await;
    let (max, base, window) =
        (s.state.config.login.max_attempts, s.state.config.login.lockout_secs, s.state.config.login.window_secs);
    let clock = s.clock.clone().unwrap();
    for _ in 1..=max {
        assert_eq!(attempt(&s, "alice", "wrong").await, Err(None));
    }
    // Guessing on while locked doubles the lock: base, 2×, 4×.
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(Some(base)));
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(Some(2 * base)));
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(Some(4 * base)));
    // The lock expires (still inside the counting window): one attempt is let through...
    clock.advance(4 * base);
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(None), "the first attempt after the lock is let through");
    // ...and a wrong one locks again for the base time, not for 8×.
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(Some(base)), "lock back at base after expiry");

    // A lock that outlasts the counting window: guess on until the lock is longer than it.
    let mut lock = base;
    while lock <= window {
        lock = attempt(&s, "alice", "wrong").await.unwrap_err().expect("still locked");
    }
    clock.advance(lock);
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(None), "one attempt after the long lock");
    // SECURITY G9: that expiry resets the count to the limit, not to zero (which would give the
    // guesser a whole new budget of max_attempts), and the next lock is the base one.
    assert_eq!(attempt(&s, "alice", "wrong").await, Err(Some(base)), "no fresh budget after a long lock");
    clock.advance(base);
    assert!(attempt(&s, "alice", "alice-password-1").await.is_ok(), "the right password after the lock");
    // A success forgets the failures: a whole budget again.
    for _ in 1..=max {
        assert_eq!(attempt(&s, "alice", "wrong").await, Err(None));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_an_expired_lock_starts_over_at_the_base_lock_on_sqlite() {
    an_expired_lock_starts_over_at_the_base_lock(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_an_expired_lock_starts_over_at_the_base_lock_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    an_expired_lock_starts_over_at_the_base_lock(Some(db)).await;
}

/// Logins are matched with Unicode lower-casing on both stores (SQLite's `lower()` is ASCII
/// only, PostgreSQL's follows the database locale), so one account is one account everywhere.
async fn unicode_logins_resolve_alike(db: Option<TestDb>) {
    let s = server(db).await;
    let alice = add_user(&s, "ÄLICE", "Ärger@Exämple.com", "alice-password-1").await;
    let strasse = add_user(&s, "Straße", "strasse@example.com", "strasse-password-1").await;
    for login in ["ÄLICE", "älice", "Älice", "äLICE", "ärger@exämple.com", "ÄRGER@EXÄMPLE.COM"] {
        assert_eq!(attempt(&s, login, "alice-password-1").await, Ok(alice.clone()), "{login}");
    }
    for login in ["Straße", "straße", "STRAßE", "STRAẞE"] {
        assert_eq!(attempt(&s, login, "strasse-password-1").await, Ok(strasse.clone()), "{login}");
    }
    // One counter for every spelling (SECURITY G9).
    let (max, base) = (s.state.config.login.max_attempts, s.state.config.login.lockout_secs);
    for i in 1..=max {
        let login = if i % 2 == 0 { "ÄLICE" } else { "älice" };
        assert_eq!(attempt(&s, login, "wrong").await, Err(None), "{login}");
    }
    assert_eq!(attempt(&s, "Ärger@Exämple.com", "wrong").await, Err(Some(base)));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_unicode_logins_resolve_alike_on_sqlite() {
    unicode_logins_resolve_alike(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn g9_unicode_logins_resolve_alike_on_postgres() {
    let Some(db) = TestDb::postgres().await else { return };
    unicode_logins_resolve_alike(Some(db)).await;
}
