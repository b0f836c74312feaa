//! Sign-in lookups (SECURITY G8/G9; RFC 6819 §4.4.3.6): which user a typed login names. The
//! atomic attempt counter behind every lockout is `Store::count_login_attempt` in `throttle.rs`.
//!
//! **Logins are matched on Unicode lower-case forms computed here, in Rust** ([`fold_login`]),
//! never with SQL `lower()`: SQLite's folds only ASCII and PostgreSQL's follows the database
//! locale, so "ÄLICE" and "älice" were one account on one backend and two on the other.
//! `users.username_fold` / `users.email_fold` (migration 0005) hold the folded forms. They are
//! NULL for a row this module has not seen yet: a new user, or one whose username or e-mail
//! changed (a trigger clears them), so the user writes elsewhere in the store need not know about
//! them. [`Store::fill_login_folds`] fills them in, at migration time and before every lookup;
//! each fill is guarded by the values it was computed from, so a rename racing with it is never
//! overwritten with a stale form.
//!
//! Extending: a new way to name an account (say, a phone number) gets its own `_fold` column,
//! filled in `fill_login_folds` and matched in [`Store::find_login_user`].

use super::users::user_from_row;
use super::{Store, StoreResult};
use crate::model::User;
use sqlx::{AnyPool, Row};

/// Rows folded per statement batch.
const FILL_BATCH: i64 = 500;

/// The form of a login (username or e-mail) that sign-in compares: trimmed and lower-cased by
/// Unicode's default case mapping (`str::to_lowercase`; no NFKC, so look-alike characters stay
/// distinct). The same on every backend.
pub fn fold_login(login: &str) -> String {
    login.trim().to_lowercase()
}

/// Fills `username_fold` and `email_fold` of every user row that lacks them: looks on `read`
/// (on SQLite the parallel readers, so a sign-in with nothing to fill costs the single writer
/// connection nothing), writes on `write`.
pub(super) async fn fill_login_folds(read: &AnyPool, write: &AnyPool) -> StoreResult<()> {
    loop {
        let rows = sqlx::query("SELECT id, username, email FROM users WHERE username_fold IS NULL LIMIT $1")
            .bind(FILL_BATCH)
            .fetch_all(read)
            .await?;
        let mut filled = 0;
        for r in &rows {
            let (id, username, email): (String, String, Option<String>) =
                (r.try_get("id")?, r.try_get("username")?, r.try_get("email")?);
            // Guarded by the values folded: a concurrent rename (which cleared the folds) wins.
            filled += sqlx::query(
                "UPDATE users SET username_fold = $2, email_fold = $3 \
                 WHERE id = $1 AND username = $4 AND COALESCE(email, '') = COALESCE($5, '')",
            )
            .bind(&id)
            .bind(fold_login(&username))
            .bind(email.as_deref().map(fold_login))
            .bind(&username)
            .bind(&email)
            .execute(write)
            .await?
            .rows_affected();
        }
        // Stop when the table is done, or when nothing could be filled (every row raced).
        if (rows.len() as i64) < FILL_BATCH || filled == 0 {
            return Ok(());
        }
    }
}

impl Store {
    /// Fills in the folded login forms of new or renamed users (see the module doc).
    pub async fn fill_login_folds(&self) -> StoreResult<()> {
        fill_login_folds(self.reader()?, self.writer()?).await
    }

    /// The user a typed login names: a username or an e-mail, compared by [`fold_login`] on
    /// both backends. A username wins over another user's e-mail; `None` when nobody matches.
    /// Costs the same statements whether or not the user exists (SECURITY G8).
    pub async fn find_login_user(&self, login: &str) -> StoreResult<Option<User>> {
        self.fill_login_folds().await?;
        sqlx::query(
            "SELECT id, username, email, email_verified, name, password_hash, disabled, created_at, updated_at \
             FROM users WHERE username_fold = $1 OR email_fold = $1 \
             ORDER BY CASE WHEN username_fold = $1 THEN 0 ELSE 1 END, created_at, id LIMIT 1",
        )
        .bind(fold_login(login))
        .fetch_optional(self.reader()?)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::fold_login;
    use crate::model::User;
    use crate::store::conformance::on_both;

    #[test]
    fn folds_unicode_case_not_compatibility_forms() {
        assert_eq!(fold_login(" ÄLICE "), "älice");
        assert_eq!(fold_login("STRAẞE"), fold_login("straße"));
        assert_eq!(fold_login("Ärger@Exämple.COM"), "ärger@exämple.com");
        // No NFKC: a full-width letter is not an ASCII one.
        assert_ne!(fold_login("Ａlice"), "alice");
    }

    fn user(id: &str, username: &str, email: Option<&str>) -> User {
        User {
            id: id.into(),
            username: username.into(),
            email: email.map(Into::into),
            email_verified: false,
            name: None,
            password_hash: None,
            disabled: false,
            created_at: 1,
            updated_at: 1,
        }
    }

    #[tokio::test]
    async fn logins_fold_alike_and_follow_renames() {
        on_both(|s| async move {
            s.create_user(&user("usr_1", "ÄLICE", Some("Ärger@Exämple.com"))).await.unwrap();
            s.create_user(&user("usr_2", "älice@exämple.com", None)).await.unwrap();
            let id = |u: Option<User>| u.map(|u| u.id);
            for login in ["älice", "ÄLICE", " Älice ", "ärger@EXÄMPLE.com"] {
                assert_eq!(id(s.find_login_user(login).await.unwrap()), Some("usr_1".into()), "{login}");
            }
            // A username wins over another user's e-mail.
            assert_eq!(id(s.find_login_user("ÄLICE@EXÄMPLE.COM").await.unwrap()), Some("usr_2".into()));
            assert_eq!(s.find_login_user("bob").await.unwrap(), None);
            // A rename clears the folded forms (trigger); the next lookup folds the new ones.
            let mut u = s.get_user("usr_1").await.unwrap().unwrap();
            u.username = "Bob".into();
            u.email = None;
            assert!(s.update_user(&u).await.unwrap());
            assert_eq!(s.find_login_user("älice").await.unwrap(), None, "old username");
            assert_eq!(s.find_login_user("ärger@exämple.com").await.unwrap(), None, "old e-mail");
            assert_eq!(id(s.find_login_user("BOB").await.unwrap()), Some("usr_1".into()));
            // An update that changes neither keeps them.
            u.name = Some("Bob B.".into());
            assert!(s.update_user(&u).await.unwrap());
            assert_eq!(id(s.find_login_user("bob").await.unwrap()), Some("usr_1".into()));
        })
        .await;
    }

    #[tokio::test]
    async fn attempts_restart_at_the_limit_after_a_lock() {
        on_both(|s| async move {
            let (window, limit) = (900, 5);
            for n in 1..=6 {
                assert_eq!(s.count_login_attempt("k", 100, window, limit).await.unwrap().attempts, n);
            }
            s.lock_login("k", 160).await.unwrap();
            let a = s.count_login_attempt("k", 150, window, limit).await.unwrap();
            assert_eq!((a.attempts, a.locked_until), (7, Some(160)), "a live lock stays");
            // The lock ended: one more try, as attempt number `limit`, in a window from now.
            let a = s.count_login_attempt("k", 160, window, limit).await.unwrap();
            assert_eq!((a.attempts, a.locked_until), (5, None));
            assert_eq!(s.count_login_attempt("k", 161, window, limit).await.unwrap().attempts, 6);
            // A lock that outlasted the window also ends at the limit, not at a fresh count.
            s.lock_login("k", 5000).await.unwrap();
            let a = s.count_login_attempt("k", 5000, window, limit).await.unwrap();
            assert_eq!((a.attempts, a.locked_until), (5, None));
            // A window with no lock and no attempt: a fresh count.
            assert_eq!(s.count_login_attempt("k", 5000 + window + 1, window, limit).await.unwrap().attempts, 1);
            // A lock that ended more than a window ago is forgotten (as the purge would).
            s.lock_login("k", 7000).await.unwrap();
            let a = s.count_login_attempt("k", 7000 + window + 1, window, limit).await.unwrap();
            assert_eq!((a.attempts, a.locked_until), (1, None));
        })
        .await;
    }
}
