//! The store conformance suite: every test runs on SQLite (a temp file) AND on PostgreSQL (a
//! fresh schema per test in the database named by `KEYCARD_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`). When PostgreSQL cannot be reached the PostgreSQL
//! half is skipped with a message, unless `KEYCARD_TEST_REQUIRE_POSTGRES=1` (set by `.ci/run`),
//! in which case it fails: CI never skips silently.
//!
//! Adding a test: write `async fn name(s: Store)` below and add `name` to the `conformance!` list.

use super::{Store, StoreOptions};
use std::path::PathBuf;

/// Default PostgreSQL URL for tests.
pub const DEFAULT_TEST_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A throw-away store location for tests: a SQLite file in a temp dir, or a fresh PostgreSQL
/// schema. Dropping it removes the temp dir (the PostgreSQL schema is dropped by
/// [`TestDb::cleanup`]).
pub struct TestDb {
    /// The database URL to hand to [`Store::connect`] or to a Keycard config.
    pub url: String,
    schema: Option<(String, String)>,
    _dir: Option<tempdir::TempDir>,
}

mod tempdir {
    //! A minimal temp dir (the crate has no tempfile dependency outside tests).
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<Self> {
            let p = std::env::temp_dir().join(format!("keycard-test-{}", crate::jose::random_token(9)));
            std::fs::create_dir_all(&p)?;
            Ok(Self(p))
        }
        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl TestDb {
    /// A SQLite database in a new temp dir.
    pub fn sqlite() -> TestDb {
        let dir = tempdir::TempDir::new().expect("temp dir");
        let path: PathBuf = dir.path().join("keycard.db");
        TestDb { url: format!("sqlite://{}", path.display()), schema: None, _dir: Some(dir) }
    }

    /// A database owned by someone else (no cleanup), e.g. a second node on the same schema.
    pub fn external(url: &str) -> TestDb {
        TestDb { url: url.to_owned(), schema: None, _dir: None }
    }

    /// A fresh schema in the test PostgreSQL, or `None` (with a message) when it is not
    /// reachable and not required.
    pub async fn postgres() -> Option<TestDb> {
        let base = std::env::var("KEYCARD_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_TEST_POSTGRES_URL.to_owned());
        let required = std::env::var("KEYCARD_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        let admin = match Store::connect(&base, &StoreOptions { max_connections: 1, ..Default::default() }).await {
            Ok(s) => s,
            Err(e) => {
                assert!(!required, "PostgreSQL required for tests but unreachable at {base}: {e}");
                eprintln!(
                    "SKIPPED PostgreSQL half: {base} unreachable ({e}); set KEYCARD_TEST_REQUIRE_POSTGRES=1 to fail instead"
                );
                return None;
            }
        };
        let schema = format!("kc_test_{}", crate::jose::random_token(9).to_lowercase().replace('-', "_"));
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .execute(&admin.pool)
            .await
            .expect("create test schema");
        admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Some(TestDb {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema: Some((base, schema)),
            _dir: None,
        })
    }

    /// Connects and migrates.
    pub async fn store(&self) -> Store {
        let s = Store::connect(&self.url, &StoreOptions::default()).await.expect("connect test store");
        s.migrate().await.expect("migrate test store");
        s
    }

    /// Drops the PostgreSQL schema (no-op for SQLite).
    pub async fn cleanup(&self) {
        if let Some((base, schema)) = &self.schema
            && let Ok(admin) = Store::connect(base, &StoreOptions { max_connections: 1, ..Default::default() }).await
        {
            let _ =
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE"))).execute(&admin.pool).await;
            admin.close().await;
        }
    }
}

/// Runs a store check on SQLite and, when reachable, PostgreSQL (for checks kept beside their
/// aggregate instead of in the list below).
#[cfg(test)]
pub(crate) async fn on_both<F, Fut>(check: F)
where
    F: Fn(Store) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let db = TestDb::sqlite();
    check(db.store().await).await;
    if let Some(db) = TestDb::postgres().await {
        let store = db.store().await;
        check(store.clone()).await;
        store.close().await;
        db.cleanup().await;
    }
}

#[cfg(test)]
mod tests {
    use super::TestDb;
    use crate::model::*;
    use crate::store::{Store, StoreError};

    macro_rules! conformance {
        ($($name:ident),* $(,)?) => {
            mod sqlite {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let db = super::TestDb::sqlite();
                        super::$name(db.store().await).await;
                    }
                )*
            }
            mod postgres {
                $(
                    #[tokio::test]
                    async fn $name() {
                        let Some(db) = super::TestDb::postgres().await else { return };
                        let store = db.store().await;
                        super::$name(store.clone()).await;
                        store.close().await;
                        db.cleanup().await;
                    }
                )*
            }
        };
    }

    conformance!(
        migrations_are_idempotent,
        clients_round_trip,
        users_round_trip_and_case_insensitive_uniqueness,
        scopes_seeded_and_managed,
        keys_rotate_atomically,
        opaque_tokens_and_revocation,
        revoked_jtis,
        purge_removes_only_expired,
        epochs_bump_on_change,
        audit_events,
        auth_requests_are_single_use,
        sessions_and_consents,
        code_redemption_is_atomic,
        refresh_rotation_is_atomic_and_replay_is_bounded,
        grants_revoke_per_user_and_client,
        login_attempts_are_counted_atomically,
        purge_user_flows,
        retired_refresh_tokens_belong_to_their_family,
        consent_record_starts_anew_after_withdrawal,
        deleting_a_client_removes_all_its_state,
        deleting_a_user_removes_all_their_state,
        device_requests_are_decided_and_consumed_once,
    );

    fn client(id: &str) -> Client {
        Client {
            id: id.into(),
            name: "Billing".into(),
            secret_hash: Some("hash".into()),
            auth_method: AuthMethod::ClientSecretBasic,
            grant_types: vec![GrantType::ClientCredentials, GrantType::RefreshToken],
            scopes: vec!["invoices:read".into(), "invoices:write".into()],
            redirect_uris: vec!["https://app.example/cb".into()],
            access_token_ttl: 600,
            token_format: TokenFormat::Opaque,
            disabled: false,
            settings: ClientSettings { audience: Some("https://api.example".into()), ..Default::default() },
            created_at: 10,
            updated_at: 10,
        }
    }

    fn user(id: &str, username: &str, email: Option<&str>) -> User {
        User {
            id: id.into(),
            username: username.into(),
            email: email.map(Into::into),
            email_verified: true,
            name: Some("Alice Liddell".into()),
            password_hash: Some("$argon2id$v=19$...".into()),
            disabled: false,
            created_at: 1,
            updated_at: 1,
        }
    }

    async fn migrations_are_idempotent(s: Store) {
        assert!(s.migrate().await.unwrap().is_empty(), "second run applies nothing");
        s.ping().await.unwrap();
    }

    async fn clients_round_trip(s: Store) {
        let mut c = client("svc:billing");
        s.create_client(&c).await.unwrap();
        assert_eq!(s.get_client("svc:billing").await.unwrap(), Some(c.clone()));
        assert!(matches!(s.create_client(&c).await, Err(StoreError::Conflict(_))));
        c.name = "Billing v2".into();
        c.disabled = true;
        c.grant_types = vec![GrantType::DeviceCode];
        c.settings.first_party = true;
        assert!(s.update_client(&c).await.unwrap());
        assert_eq!(s.get_client("svc:billing").await.unwrap(), Some(c.clone()));
        s.create_client(&client("another")).await.unwrap();
        let ids: Vec<_> = s.list_clients().await.unwrap().into_iter().map(|c| c.id).collect();
        assert_eq!(ids, ["another", "svc:billing"]);
        assert_eq!(s.max_access_token_ttl().await.unwrap(), 600);
        assert!(s.delete_client("svc:billing").await.unwrap());
        assert!(!s.delete_client("svc:billing").await.unwrap());
        assert_eq!(s.get_client("svc:billing").await.unwrap(), None);
        // injection-shaped ids are plain data
        assert_eq!(s.get_client("' OR '1'='1").await.unwrap(), None);
    }

    async fn users_round_trip_and_case_insensitive_uniqueness(s: Store) {
        let mut u = user("usr_1", "Alice", Some("Alice@Example.com"));
        s.create_user(&u).await.unwrap();
        assert_eq!(s.find_user("alice").await.unwrap(), Some(u.clone()));
        assert_eq!(s.find_user("alice@example.COM").await.unwrap(), Some(u.clone()));
        assert!(matches!(s.create_user(&user("usr_2", "ALICE", None)).await, Err(StoreError::Conflict(_))));
        assert!(matches!(
            s.create_user(&user("usr_3", "bob", Some("alice@example.com"))).await,
            Err(StoreError::Conflict(_))
        ));
        s.create_user(&user("usr_4", "bob", None)).await.unwrap();
        s.create_user(&user("usr_5", "carol", None)).await.unwrap();
        u.disabled = true;
        u.password_hash = None;
        assert!(s.update_user(&u).await.unwrap());
        assert_eq!(s.get_user("usr_1").await.unwrap(), Some(u));
        let names: Vec<_> = s.list_users().await.unwrap().into_iter().map(|u| u.username).collect();
        assert_eq!(names, ["Alice", "bob", "carol"]);
        assert!(s.delete_user("usr_4").await.unwrap());
        assert_eq!(s.find_user("bob").await.unwrap(), None);
    }

    async fn scopes_seeded_and_managed(s: Store) {
        let names: Vec<_> = s.list_scopes().await.unwrap().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["email", "offline_access", "openid", "profile"]);
        let def = ScopeDef { name: "invoices:read".into(), description: "Read invoices".into() };
        s.upsert_scope(&def, 5).await.unwrap();
        s.ensure_scope("invoices:read", 6).await.unwrap();
        let got = s.list_scopes().await.unwrap();
        assert!(got.contains(&def), "ensure_scope keeps the description");
        s.upsert_scope(&ScopeDef { name: "invoices:read".into(), description: "Read".into() }, 7).await.unwrap();
        assert!(s.list_scopes().await.unwrap().iter().any(|d| d.description == "Read"));
        assert!(s.delete_scope("invoices:read").await.unwrap());
        assert!(!s.delete_scope("invoices:read").await.unwrap());
    }

    fn key(kid: &str, alg: &str, created: i64) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: alg.into(),
            private_key: "sealed".into(),
            public_jwk: "{}".into(),
            created_at: created,
            retired_at: None,
            publish_until: None,
        }
    }

    async fn keys_rotate_atomically(s: Store) {
        s.insert_key(&key("k1", "ES256", 1)).await.unwrap();
        s.insert_key(&key("r1", "RS256", 1)).await.unwrap();
        s.rotate_key(&key("k2", "ES256", 5), 5, 100).await.unwrap();
        let keys = s.list_keys().await.unwrap();
        let k1 = keys.iter().find(|k| k.kid == "k1").unwrap();
        assert_eq!((k1.retired_at, k1.publish_until), (Some(5), Some(100)));
        let k2 = keys.iter().find(|k| k.kid == "k2").unwrap();
        assert_eq!(k2.retired_at, None);
        let r1 = keys.iter().find(|k| k.kid == "r1").unwrap();
        assert_eq!(r1.retired_at, None, "other algorithms are untouched");
        assert_eq!(s.purge_keys(100).await.unwrap(), 0);
        assert_eq!(s.purge_keys(101).await.unwrap(), 1);
        assert_eq!(s.list_keys().await.unwrap().len(), 2);
    }

    async fn opaque_tokens_and_revocation(s: Store) {
        let t = StoredAccessToken {
            token_hash: "h1".into(),
            jti: "j1".into(),
            client_id: "c1".into(),
            subject: "c1".into(),
            scope: "a b".into(),
            audience: "https://api.example".into(),
            grant_id: None,
            issued_at: 10,
            expires_at: 20,
            revoked_at: None,
            dpop_jkt: Some("jkt-at".into()),
        };
        s.insert_access_token(&t).await.unwrap();
        assert_eq!(s.get_access_token("h1").await.unwrap(), Some(t.clone()));
        assert_eq!(s.get_access_token("nope").await.unwrap(), None);
        assert!(!s.revoke_access_token("h1", "other-client", 15).await.unwrap(), "only the owner revokes");
        assert!(s.revoke_access_token("h1", "c1", 15).await.unwrap());
        assert!(!s.revoke_access_token("h1", "c1", 16).await.unwrap(), "second revocation is a no-op");
        assert_eq!(s.get_access_token("h1").await.unwrap().unwrap().revoked_at, Some(15));
    }

    async fn revoked_jtis(s: Store) {
        assert!(!s.is_jti_revoked("j").await.unwrap());
        s.revoke_jti("j", 100).await.unwrap();
        s.revoke_jti("j", 100).await.unwrap();
        assert!(s.is_jti_revoked("j").await.unwrap());
    }

    async fn purge_removes_only_expired(s: Store) {
        for (i, exp) in [(1, 5), (2, 50), (3, 6)] {
            s.revoke_jti(&format!("j{i}"), exp).await.unwrap();
        }
        assert_eq!(s.purge_expired(10, 1).await.unwrap(), 1, "batch bound respected");
        assert_eq!(s.purge_expired(10, 100).await.unwrap(), 1);
        assert!(s.is_jti_revoked("j2").await.unwrap());
    }

    async fn epochs_bump_on_change(s: Store) {
        let e0 = s.epochs().await.unwrap();
        s.create_client(&client("c")).await.unwrap();
        let e1 = s.epochs().await.unwrap();
        assert!(e1.clients > e0.clients);
        assert_eq!(e1.keys, e0.keys);
        s.insert_key(&key("k", "ES256", 1)).await.unwrap();
        assert!(s.epochs().await.unwrap().keys > e1.keys);
    }

    async fn audit_events(s: Store) {
        let d = serde_json::json!({"reason": "test"});
        s.record_event(5, "refresh_token_reuse", Some("c"), None, &d).await.unwrap();
        let ev = s.recent_events("refresh_token_reuse", 10).await.unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].0, 5);
    }

    fn grant(id: &str, refresh: Option<&str>) -> Grant {
        Grant {
            id: id.into(),
            client_id: "c".into(),
            user_id: "usr_1".into(),
            session_sid: Some("sid".into()),
            scope: "openid".into(),
            auth_time: 1,
            refresh_hash: refresh.map(Into::into),
            prev_refresh_hash: None,
            generation: 0,
            refresh_idle_expires_at: Some(1000),
            refresh_expires_at: Some(5000),
            rotated_at: None,
            replay_response: None,
            replay_count: 0,
            created_at: 1,
            expires_at: 5000,
            revoked_at: None,
            revoked_reason: None,
            dpop_jkt: Some("jkt-grant".into()),
        }
    }

    async fn auth_requests_are_single_use(s: Store) {
        let r = PendingRequest {
            id: "r1".into(),
            client_id: "c".into(),
            request: "{}".into(),
            browser_hash: "b".into(),
            session_sid: None,
            login_done: false,
            consent_done: false,
            completed_at: None,
            created_at: 1,
            expires_at: 100,
        };
        s.insert_auth_request(&r).await.unwrap();
        assert!(s.auth_request_logged_in("r1", "sid1").await.unwrap());
        assert!(s.auth_request_consented("r1").await.unwrap());
        let got = s.get_auth_request("r1").await.unwrap().unwrap();
        assert_eq!((got.session_sid.as_deref(), got.login_done, got.consent_done), (Some("sid1"), true, true));
        assert!(s.complete_auth_request("r1", 5).await.unwrap());
        assert!(!s.complete_auth_request("r1", 6).await.unwrap(), "single use");
        assert!(!s.auth_request_logged_in("r1", "sid2").await.unwrap(), "completed requests do not change");
        assert_eq!(s.get_auth_request("nope").await.unwrap(), None);
    }

    async fn sessions_and_consents(s: Store) {
        let sess = Session {
            token_hash: "h".into(),
            sid: "sid".into(),
            user_id: "usr_1".into(),
            auth_time: 10,
            amr: "pwd".into(),
            created_at: 10,
            last_seen_at: 10,
            idle_expires_at: 100,
            expires_at: 1000,
            revoked_at: None,
        };
        s.insert_session(&sess).await.unwrap();
        assert_eq!(s.get_session("h").await.unwrap(), Some(sess.clone()));
        s.touch_session("h", 50, 150).await.unwrap();
        let got = s.get_session_by_sid("sid").await.unwrap().unwrap();
        assert_eq!((got.last_seen_at, got.idle_expires_at), (50, 150));
        assert!(got.is_active(149) && !got.is_active(150));
        assert!(s.revoke_session("sid", 60).await.unwrap());
        assert!(!s.revoke_session("sid", 61).await.unwrap());
        assert!(!s.get_session("h").await.unwrap().unwrap().is_active(61));
        let mut other = sess.clone();
        other.token_hash = "h2".into();
        other.sid = "sid2".into();
        s.insert_session(&other).await.unwrap();
        assert_eq!(s.revoke_user_sessions("usr_1", 70).await.unwrap(), 1);

        assert_eq!(s.get_consent("usr_1", "c").await.unwrap(), None);
        s.upsert_consent("usr_1", "c", "openid", 1).await.unwrap();
        s.upsert_consent("usr_1", "c", "openid profile", 2).await.unwrap();
        assert_eq!(s.get_consent("usr_1", "c").await.unwrap().as_deref(), Some("openid profile"));
        assert_eq!(s.list_consents("usr_1").await.unwrap(), vec![("c".to_owned(), "openid profile".to_owned())]);
        assert!(s.delete_consent("usr_1", "c").await.unwrap());
        assert!(!s.delete_consent("usr_1", "c").await.unwrap());
    }

    async fn code_redemption_is_atomic(s: Store) {
        let code = AuthCode {
            code_hash: "ch".into(),
            grant_id: "g1".into(),
            client_id: "c".into(),
            user_id: "usr_1".into(),
            session_sid: "sid".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_given: true,
            scope: "openid".into(),
            nonce: Some("n".into()),
            code_challenge: Some("x".repeat(43)),
            auth_time: 1,
            created_at: 1,
            expires_at: 61,
            dpop_jkt: Some("jkt-code".into()),
        };
        s.insert_code(&code).await.unwrap();
        assert_eq!(s.get_code("ch").await.unwrap(), Some(code));
        // 20 concurrent redemptions: exactly one creates the grant.
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.create_grant(&grant("g1", Some("rt0"))).await.unwrap() }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1);
        assert_eq!(s.get_grant("g1").await.unwrap(), Some(grant("g1", Some("rt0"))));
    }

    async fn refresh_rotation_is_atomic_and_replay_is_bounded(s: Store) {
        s.create_grant(&grant("g", Some("rt0"))).await.unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.rotate_refresh("g", 0, "rt0", &format!("rt1-{i}"), 10, 500, Some("sealed")).await.unwrap()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1, "exactly one concurrent rotation wins");
        let g = s.get_grant("g").await.unwrap().unwrap();
        assert_eq!((g.generation, g.prev_refresh_hash.as_deref(), g.rotated_at), (1, Some("rt0"), Some(10)));
        let current = g.refresh_hash.unwrap();
        // Replays of the previous token: within the window, at most twice.
        assert_eq!(s.replay_refresh("g", "rt0", 5, 2).await.unwrap().as_deref(), Some("sealed"));
        assert_eq!(s.replay_refresh("g", "rt0", 5, 2).await.unwrap().as_deref(), Some("sealed"));
        assert_eq!(s.replay_refresh("g", "rt0", 5, 2).await.unwrap(), None, "count bound");
        assert_eq!(s.replay_refresh("g", "rt0", 11, 9).await.unwrap(), None, "time bound");
        assert_eq!(s.replay_refresh("g", "other", 5, 9).await.unwrap(), None, "only the previous token");
        // The next rotation needs the current token and generation.
        assert!(!s.rotate_refresh("g", 0, "rt0", "x", 20, 600, None).await.unwrap());
        assert!(s.rotate_refresh("g", 1, &current, "rt2", 20, 600, None).await.unwrap());
        assert!(s.touch_refresh("g", "rt2", 700).await.unwrap());
        assert!(s.revoke_grant("g", "refresh_token_reuse", 30).await.unwrap());
        assert!(!s.revoke_grant("g", "again", 31).await.unwrap());
        assert!(
            !s.rotate_refresh("g", 2, "rt2", "rt3", 40, 700, None).await.unwrap(),
            "revoked families do not rotate"
        );
        assert!(!s.touch_refresh("g", "rt2", 800).await.unwrap());
        let g = s.get_grant("g").await.unwrap().unwrap();
        assert_eq!((g.revoked_at, g.revoked_reason.as_deref()), (Some(30), Some("refresh_token_reuse")));
    }

    async fn grants_revoke_per_user_and_client(s: Store) {
        s.create_grant(&grant("a", None)).await.unwrap();
        let mut b = grant("b", None);
        b.client_id = "other".into();
        s.create_grant(&b).await.unwrap();
        assert_eq!(s.revoke_user_grants("usr_1", Some("c"), "consent_revoked", 5).await.unwrap(), 1);
        assert!(s.get_grant("b").await.unwrap().unwrap().revoked_at.is_none());
        assert_eq!(s.revoke_user_grants("usr_1", None, "user_disabled", 6).await.unwrap(), 1);
    }

    async fn login_attempts_are_counted_atomically(s: Store) {
        let mut tasks = Vec::new();
        for _ in 0..30 {
            let s = s.clone();
            tasks.push(tokio::spawn(
                async move { s.count_login_attempt("u:alice", 100, 900, 5).await.unwrap().attempts },
            ));
        }
        let mut seen = Vec::new();
        for t in tasks {
            seen.push(t.await.unwrap());
        }
        seen.sort();
        assert_eq!(seen, (1..=30).collect::<Vec<_>>(), "every attempt gets its own number");
        s.lock_login("u:alice", 500).await.unwrap();
        let a = s.count_login_attempt("u:alice", 200, 900, 5).await.unwrap();
        assert_eq!((a.attempts, a.locked_until), (31, Some(500)));
        // The lock ran out inside the window: one more try, as attempt number `limit`.
        let a = s.count_login_attempt("u:alice", 500, 900, 5).await.unwrap();
        assert_eq!((a.attempts, a.locked_until), (5, None));
        let a = s.count_login_attempt("u:alice", 501, 900, 5).await.unwrap();
        assert_eq!(a.attempts, 6, "the next one is over the limit again");
        // After the window, counting starts over.
        let a = s.count_login_attempt("u:alice", 2000, 900, 5).await.unwrap();
        assert_eq!(a.attempts, 1);
        s.reset_login("u:alice").await.unwrap();
        assert_eq!(s.count_login_attempt("u:alice", 2001, 900, 5).await.unwrap().attempts, 1);
    }

    async fn purge_user_flows(s: Store) {
        let mut g = grant("old", None);
        g.expires_at = 10;
        s.create_grant(&g).await.unwrap();
        s.create_grant(&grant("new", None)).await.unwrap();
        s.count_login_attempt("ip:1", 5, 900, 5).await.unwrap();
        assert_eq!(s.purge_user_flows(1000, 100, 100).await.unwrap(), 2);
        assert!(s.get_grant("old").await.unwrap().is_none());
        assert!(s.get_grant("new").await.unwrap().is_some());
    }

    async fn retired_refresh_tokens_belong_to_their_family(s: Store) {
        s.create_grant(&grant("g", Some("rt0"))).await.unwrap();
        s.create_grant(&grant("h", Some("other0"))).await.unwrap();
        assert!(!s.is_retired_refresh("g", "rt0").await.unwrap(), "the current token is not retired");
        assert!(s.rotate_refresh("g", 0, "rt0", "rt1", 10, 500, None).await.unwrap());
        assert!(!s.rotate_refresh("g", 0, "rt0", "rt1b", 10, 500, None).await.unwrap(), "a lost race retires nothing");
        assert!(s.rotate_refresh("g", 1, "rt1", "rt2", 11, 500, None).await.unwrap());
        assert!(s.is_retired_refresh("g", "rt0").await.unwrap());
        assert!(s.is_retired_refresh("g", "rt1").await.unwrap());
        assert!(!s.is_retired_refresh("g", "rt2").await.unwrap());
        assert!(!s.is_retired_refresh("g", "forged").await.unwrap());
        assert!(!s.is_retired_refresh("h", "rt0").await.unwrap(), "only for its own family");
        // The purge takes them with their family.
        assert!(s.revoke_grant("g", "test", 20).await.unwrap());
        s.purge_user_flows(1000, 100, 100).await.unwrap();
        assert!(s.get_grant("g").await.unwrap().is_none());
        assert!(!s.is_retired_refresh("g", "rt0").await.unwrap());
        assert!(s.get_grant("h").await.unwrap().is_some());
    }

    async fn consent_record_starts_anew_after_withdrawal(s: Store) {
        assert_eq!(s.get_consent_record("usr_1", "c").await.unwrap(), None);
        s.upsert_consent("usr_1", "c", "openid", 5).await.unwrap();
        s.upsert_consent("usr_1", "c", "openid profile", 9).await.unwrap();
        assert_eq!(s.get_consent_record("usr_1", "c").await.unwrap(), Some(("openid profile".into(), 5)));
        s.delete_consent("usr_1", "c").await.unwrap();
        s.upsert_consent("usr_1", "c", "openid", 12).await.unwrap();
        assert_eq!(s.get_consent_record("usr_1", "c").await.unwrap(), Some(("openid".into(), 12)));
    }

    fn device(hash: &str, client_id: &str) -> DeviceRequest {
        DeviceRequest {
            device_hash: hash.into(),
            user_code_hash: format!("u-{hash}"),
            client_id: client_id.into(),
            scope: "openid".into(),
            status: DeviceStatus::Pending,
            user_id: None,
            session_sid: None,
            auth_time: None,
            poll_interval: 5,
            last_polled_at: None,
            created_at: 1,
            expires_at: 600,
        }
    }

    /// Issue 14 item 4: a deleted client leaves nothing behind (one transaction), and another
    /// client's state is untouched.
    async fn deleting_a_client_removes_all_its_state(s: Store) {
        for id in ["c", "other"] {
            s.create_client(&client(id)).await.unwrap();
            let mut g = grant(&format!("g-{id}"), Some(&format!("rt0-{id}")));
            g.client_id = id.into();
            s.create_grant(&g).await.unwrap();
            assert!(
                s.rotate_refresh(&g.id, 0, &format!("rt0-{id}"), &format!("rt1-{id}"), 5, 500, None).await.unwrap()
            );
            s.upsert_consent("usr_1", id, "openid", 2).await.unwrap();
            s.insert_code(&AuthCode {
                code_hash: format!("code-{id}"),
                grant_id: format!("cg-{id}"),
                client_id: id.into(),
                user_id: "usr_1".into(),
                session_sid: "sid".into(),
                redirect_uri: "https://app.example/cb".into(),
                redirect_uri_given: true,
                scope: "openid".into(),
                nonce: None,
                code_challenge: None,
                auth_time: 1,
                created_at: 1,
                expires_at: 61,
                dpop_jkt: None,
            })
            .await
            .unwrap();
            s.insert_auth_request(&PendingRequest {
                id: format!("req-{id}"),
                client_id: id.into(),
                request: "{}".into(),
                browser_hash: "b".into(),
                session_sid: None,
                login_done: false,
                consent_done: false,
                completed_at: None,
                created_at: 1,
                expires_at: 100,
            })
            .await
            .unwrap();
            s.insert_device(&device(&format!("dev-{id}"), id)).await.unwrap();
            s.insert_access_token(&StoredAccessToken {
                token_hash: format!("at-{id}"),
                jti: format!("j-{id}"),
                client_id: id.into(),
                subject: "usr_1".into(),
                scope: "openid".into(),
                audience: "https://api.example".into(),
                grant_id: Some(g.id.clone()),
                issued_at: 1,
                expires_at: 600,
                revoked_at: None,
                dpop_jkt: None,
            })
            .await
            .unwrap();
        }
        let before = s.epochs().await.unwrap().clients;
        assert!(s.delete_client("c").await.unwrap());
        assert!(!s.delete_client("c").await.unwrap());
        assert!(s.epochs().await.unwrap().clients > before, "caches learn of the deletion");
        assert_eq!(s.get_client("c").await.unwrap(), None);
        assert_eq!(s.get_grant("g-c").await.unwrap(), None);
        assert!(!s.is_retired_refresh("g-c", "rt0-c").await.unwrap());
        assert_eq!(s.get_consent("usr_1", "c").await.unwrap(), None);
        assert_eq!(s.get_code("code-c").await.unwrap(), None);
        assert_eq!(s.get_auth_request("req-c").await.unwrap(), None);
        assert_eq!(s.get_device("dev-c").await.unwrap(), None);
        assert_eq!(s.get_access_token("at-c").await.unwrap(), None);
        // Re-creating the id brings none of it back.
        s.create_client(&client("c")).await.unwrap();
        assert_eq!(s.get_grant("g-c").await.unwrap(), None);
        assert_eq!(s.get_consent("usr_1", "c").await.unwrap(), None);
        // The other client keeps everything.
        assert!(s.get_grant("g-other").await.unwrap().is_some());
        assert!(s.is_retired_refresh("g-other", "rt0-other").await.unwrap());
        assert!(s.get_consent("usr_1", "other").await.unwrap().is_some());
        assert!(s.get_code("code-other").await.unwrap().is_some());
        assert!(s.get_auth_request("req-other").await.unwrap().is_some());
        assert!(s.get_device("dev-other").await.unwrap().is_some());
        assert!(s.get_access_token("at-other").await.unwrap().is_some());
    }

    /// Deleting a user removes what was derived from them, in one transaction; other users
    /// keep theirs.
    async fn deleting_a_user_removes_all_their_state(s: Store) {
        s.create_client(&client("c")).await.unwrap();
        for (uid, name) in [("usr_1", "alice"), ("usr_2", "bob")] {
            s.create_user(&user(uid, name, None)).await.unwrap();
            let g = Grant { user_id: uid.into(), ..grant(&format!("g-{uid}"), Some(&format!("rt0-{uid}"))) };
            s.create_grant(&g).await.unwrap();
            assert!(
                s.rotate_refresh(&g.id, 0, &format!("rt0-{uid}"), &format!("rt1-{uid}"), 5, 500, None).await.unwrap()
            );
            s.upsert_consent(uid, "c", "openid", 2).await.unwrap();
            let sess = Session {
                token_hash: format!("sh-{uid}"),
                sid: format!("sid-{uid}"),
                user_id: uid.into(),
                auth_time: 10,
                amr: "pwd".into(),
                created_at: 10,
                last_seen_at: 10,
                idle_expires_at: 100,
                expires_at: 1000,
                revoked_at: None,
            };
            s.insert_session(&sess).await.unwrap();
            s.insert_device(&DeviceRequest { user_id: Some(uid.into()), ..device(&format!("dev-{uid}"), "c") })
                .await
                .unwrap();
        }
        assert!(s.delete_user("usr_1").await.unwrap());
        assert_eq!(s.get_grant("g-usr_1").await.unwrap(), None);
        assert!(!s.is_retired_refresh("g-usr_1", "rt0-usr_1").await.unwrap());
        assert_eq!(s.get_consent("usr_1", "c").await.unwrap(), None);
        assert_eq!(s.get_session("sh-usr_1").await.unwrap(), None);
        assert_eq!(s.get_device("dev-usr_1").await.unwrap(), None);
        assert!(s.get_grant("g-usr_2").await.unwrap().is_some());
        assert!(s.get_consent("usr_2", "c").await.unwrap().is_some());
        assert!(s.get_session("sh-usr_2").await.unwrap().is_some());
        assert!(s.get_device("dev-usr_2").await.unwrap().is_some());
    }

    /// RFC 8628 §3.4–3.5 storage: found by either hash, decided once while pending and unexpired,
    /// polled, delivered (consumed) exactly once, purged after expiry.
    async fn device_requests_are_decided_and_consumed_once(s: Store) {
        let d = device("dh", "c");
        s.insert_device(&d).await.unwrap();
        assert!(
            matches!(
                s.insert_device(&DeviceRequest { device_hash: "dh2".into(), ..d.clone() }).await,
                Err(StoreError::Conflict(_))
            ),
            "a colliding user code is a conflict"
        );
        assert_eq!(s.get_device("dh").await.unwrap(), Some(d.clone()));
        assert_eq!(s.get_device_by_user_code("u-dh").await.unwrap(), Some(d.clone()));
        assert_eq!(s.get_device("nope").await.unwrap(), None);
        assert!(!s.consume_device("dh").await.unwrap(), "a pending request is not delivered");
        assert!(!s.decide_device("u-dh", true, "usr_1", "sid", 7, 600).await.unwrap(), "not after expiry");
        assert!(s.decide_device("u-dh", true, "usr_1", "sid", 7, 10).await.unwrap());
        assert!(!s.decide_device("u-dh", false, "usr_2", "sid2", 8, 11).await.unwrap(), "decided once");
        s.device_polled("dh", 12, 10).await.unwrap();
        let got = s.get_device("dh").await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.user_id.as_deref(), got.session_sid.as_deref(), got.auth_time),
            (DeviceStatus::Approved, Some("usr_1"), Some("sid"), Some(7))
        );
        assert_eq!((got.last_polled_at, got.poll_interval), (Some(12), 10));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move { s.consume_device("dh").await.unwrap() }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.unwrap());
        }
        assert_eq!(wins, 1, "delivered exactly once");
        assert_eq!(s.get_device("dh").await.unwrap().unwrap().status, DeviceStatus::Consumed);
        let mut denied = device("dd", "c");
        denied.user_code_hash = "u-dd".into();
        s.insert_device(&denied).await.unwrap();
        assert!(s.decide_device("u-dd", false, "usr_1", "sid", 7, 10).await.unwrap());
        assert_eq!(s.get_device("dd").await.unwrap().unwrap().status, DeviceStatus::Denied);
        assert!(!s.consume_device("dd").await.unwrap(), "a denied request is never delivered");
        s.purge_user_flows(10_000, 100, 100).await.unwrap();
        assert_eq!(s.get_device("dh").await.unwrap(), None, "purged after expiry");
    }
}
