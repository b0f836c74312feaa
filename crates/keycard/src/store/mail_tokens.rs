//! Links mailed to users (e-mail verification, password reset, invitation; `crate::people`):
//! stored under a keyed hash of the token, never the token, with their purpose, user, the address
//! they were mailed to and a short life. A link is used by ONE conditional statement
//! ([`Store::use_mail_token`]), so two clicks on any nodes cannot both win. Issuing a reset or
//! invitation link retires the user's older ones in the same transaction; a password change
//! retires them too ([`Store::retire_password_links`]). Used and expired rows are purged by
//! `purge_user_flows`.
//!
//! Extending: a new purpose is a new value of `purpose` (the people module owns the names); no
//! migration is needed.

use super::{Store, StoreResult};
use crate::clock::UnixTime;
use sqlx::{Row, any::AnyRow};

/// One mailed link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailToken {
    /// Keyed hash of the token (the token itself is only in the mail).
    pub token_hash: String,
    /// What the link does (`verify_email`, `reset_password`, `invite`).
    pub purpose: String,
    /// The user it acts for.
    pub user_id: String,
    /// The address it was mailed to: a verification link verifies this address only.
    pub email: String,
    /// When it was issued.
    pub created_at: UnixTime,
    /// When it stops working.
    pub expires_at: UnixTime,
    /// When it was used (or retired); `None` while it works.
    pub used_at: Option<UnixTime>,
}

macro_rules! columns {
    () => {
        "token_hash, purpose, user_id, email, created_at, expires_at, used_at"
    };
}

/// The purposes of links that set a password: a new one, or a password change, retires them.
pub const PASSWORD_LINK_PURPOSES: [&str; 2] = ["reset_password", "invite"];

/// Retires the unused password links (`PASSWORD_LINK_PURPOSES`) of user `$1` at `$2`.
const RETIRE_PASSWORD_LINKS: &str = "UPDATE mail_tokens SET used_at = $2 \
     WHERE user_id = $1 AND used_at IS NULL AND purpose IN ('reset_password', 'invite')";

fn from_row(r: &AnyRow) -> StoreResult<MailToken> {
    Ok(MailToken {
        token_hash: r.try_get("token_hash")?,
        purpose: r.try_get("purpose")?,
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        used_at: r.try_get("used_at")?,
    })
}

impl Store {
    /// Stores a new link; with `retire_password_links`, first retires (in the same transaction)
    /// the user's unused password links (a new reset link voids the older ones).
    pub async fn issue_mail_token(&self, t: &MailToken, retire_password_links: bool) -> StoreResult<()> {
        let mut tx = self.writer()?.begin().await?;
        if retire_password_links {
            sqlx::query(RETIRE_PASSWORD_LINKS).bind(&t.user_id).bind(t.created_at).execute(&mut *tx).await?;
        }
        sqlx::query(concat!("INSERT INTO mail_tokens (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7)"))
            .bind(&t.token_hash)
            .bind(&t.purpose)
            .bind(&t.user_id)
            .bind(&t.email)
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.used_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A link by its hash, used or not (to show a form before the link is spent).
    pub async fn get_mail_token(&self, token_hash: &str) -> StoreResult<Option<MailToken>> {
        sqlx::query(concat!("SELECT ", columns!(), " FROM mail_tokens WHERE token_hash = $1"))
            .bind(token_hash)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(from_row)
            .transpose()
    }

    /// Uses the link `token_hash` of `purpose` at `now`, once: the link when this call is the
    /// first use of an unexpired, unretired link of that purpose; `None` otherwise. One
    /// conditional statement, safe across nodes.
    pub async fn use_mail_token(
        &self,
        token_hash: &str,
        purpose: &str,
        now: UnixTime,
    ) -> StoreResult<Option<MailToken>> {
        sqlx::query(concat!(
            "UPDATE mail_tokens SET used_at = $3 \
             WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 RETURNING ",
            columns!()
        ))
        .bind(token_hash)
        .bind(purpose)
        .bind(now)
        .fetch_optional(self.writer()?)
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
    }

    /// Retires every unused password link (reset, invitation) of `user_id`: a password change
    /// voids them. Returns how many.
    pub async fn retire_password_links(&self, user_id: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(sqlx::query(RETIRE_PASSWORD_LINKS).bind(user_id).bind(now).execute(self.writer()?).await?.rows_affected())
    }

    /// Marks the e-mail of `user_id` verified if it is still `email` (a link mailed to an
    /// address the user has since changed verifies nothing); true when it did.
    pub async fn mark_email_verified(&self, user_id: &str, email: &str, now: UnixTime) -> StoreResult<bool> {
        Ok(sqlx::query("UPDATE users SET email_verified = 1, updated_at = $3 WHERE id = $1 AND email = $2")
            .bind(user_id)
            .bind(email)
            .bind(now)
            .execute(self.writer()?)
            .await?
            .rows_affected()
            > 0)
    }

    /// Ends every active session of `user_id` except `keep_sid` (a password change from a
    /// signed-in session keeps that session); returns how many ended.
    pub async fn revoke_other_sessions(&self, user_id: &str, keep_sid: &str, now: UnixTime) -> StoreResult<u64> {
        Ok(sqlx::query("UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND sid <> $2 AND revoked_at IS NULL")
            .bind(user_id)
            .bind(keep_sid)
            .bind(now)
            .execute(self.writer()?)
            .await?
            .rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::MailToken;
    use crate::model::{Session, User};
    use crate::store::conformance::on_both;

    fn token(hash: &str, purpose: &str, user: &str, at: i64) -> MailToken {
        MailToken {
            token_hash: hash.into(),
            purpose: purpose.into(),
            user_id: user.into(),
            email: "a@example.com".into(),
            created_at: at,
            expires_at: at + 100,
            used_at: None,
        }
    }

    /// Single use, expiry, purpose binding and retirement, on both backends.
    #[tokio::test]
    async fn mail_tokens_are_single_use_purpose_bound_and_expire() {
        on_both(|s| async move {
            s.issue_mail_token(&token("h1", "reset_password", "usr_1", 1000), true).await.unwrap();
            // Another purpose cannot use it; expired at exactly expires_at.
            assert_eq!(s.use_mail_token("h1", "verify_email", 1001).await.unwrap(), None);
            assert_eq!(s.use_mail_token("h1", "reset_password", 1100).await.unwrap(), None, "expired");
            let used = s.use_mail_token("h1", "reset_password", 1050).await.unwrap().expect("first use");
            assert_eq!((used.user_id.as_str(), used.email.as_str()), ("usr_1", "a@example.com"));
            assert_eq!(s.use_mail_token("h1", "reset_password", 1051).await.unwrap(), None, "second use");
            assert_eq!(s.get_mail_token("h1").await.unwrap().unwrap().used_at, Some(1050));
            assert_eq!(s.use_mail_token("nope", "reset_password", 1051).await.unwrap(), None);

            // A new reset link retires the older reset and invitation links, not verification ones.
            s.issue_mail_token(&token("h2", "invite", "usr_1", 2000), false).await.unwrap();
            s.issue_mail_token(&token("v1", "verify_email", "usr_1", 2000), false).await.unwrap();
            s.issue_mail_token(&token("h3", "reset_password", "usr_2", 2000), false).await.unwrap();
            s.issue_mail_token(&token("h4", "reset_password", "usr_1", 2001), true).await.unwrap();
            assert_eq!(s.use_mail_token("h2", "invite", 2002).await.unwrap(), None, "retired");
            assert!(s.use_mail_token("h3", "reset_password", 2002).await.unwrap().is_some(), "other user kept");
            // A password change retires the rest.
            assert_eq!(s.retire_password_links("usr_1", 2003).await.unwrap(), 1);
            assert_eq!(s.use_mail_token("h4", "reset_password", 2004).await.unwrap(), None);
            assert!(s.use_mail_token("v1", "verify_email", 2004).await.unwrap().is_some());
            assert_eq!(s.retire_password_links("usr_1", 2005).await.unwrap(), 0);

            // The purge removes used and expired rows past the retention.
            let purged = s.purge_user_flows(5000, 0, 100).await.unwrap();
            assert!(purged >= 5, "{purged}");
            assert_eq!(s.get_mail_token("h1").await.unwrap(), None);
        })
        .await;
    }

    /// A verification link verifies the address it was mailed to, not a later one; other
    /// sessions end, the kept one stays.
    #[tokio::test]
    async fn verification_follows_the_address_and_sessions_end_but_one() {
        on_both(|s| async move {
            let u = User {
                id: "usr_1".into(),
                username: "alice".into(),
                email: Some("a@example.com".into()),
                email_verified: false,
                name: None,
                password_hash: None,
                disabled: false,
                created_at: 1,
                updated_at: 1,
            };
            s.create_user(&u).await.unwrap();
            assert!(!s.mark_email_verified("usr_1", "old@example.com", 5).await.unwrap());
            assert!(!s.get_user("usr_1").await.unwrap().unwrap().email_verified);
            assert!(s.mark_email_verified("usr_1", "a@example.com", 5).await.unwrap());
            assert!(s.get_user("usr_1").await.unwrap().unwrap().email_verified);

            for sid in ["s1", "s2", "s3"] {
                s.insert_session(&Session {
                    token_hash: format!("t{sid}"),
                    sid: sid.into(),
                    user_id: "usr_1".into(),
                    auth_time: 1,
                    amr: "pwd".into(),
                    created_at: 1,
                    last_seen_at: 1,
                    idle_expires_at: 1000,
                    expires_at: 1000,
                    revoked_at: None,
                })
                .await
                .unwrap();
            }
            assert_eq!(s.revoke_other_sessions("usr_1", "s2", 10).await.unwrap(), 2);
            assert_eq!(s.get_session_by_sid("s2").await.unwrap().unwrap().revoked_at, None);
            assert_eq!(s.get_session_by_sid("s1").await.unwrap().unwrap().revoked_at, Some(10));
            // Deleting the user takes its links along.
            s.issue_mail_token(&token("h9", "verify_email", "usr_1", 20), false).await.unwrap();
            assert!(s.delete_user("usr_1").await.unwrap());
            assert_eq!(s.get_mail_token("h9").await.unwrap(), None);
        })
        .await;
    }
}
