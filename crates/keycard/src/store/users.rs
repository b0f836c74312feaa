//! Users: accounts, found by id or case-insensitively by username or e-mail.

use super::{Store, StoreResult, bool_i};
use crate::model::User;
use sqlx::{Row, any::AnyRow};

macro_rules! user_columns {
    () => {
        "id, username, email, email_verified, name, password_hash, disabled, created_at, updated_at"
    };
}

pub(super) fn user_from_row(r: &AnyRow) -> StoreResult<User> {
    Ok(User {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        email: r.try_get("email")?,
        email_verified: r.try_get::<i64, _>("email_verified")? != 0,
        name: r.try_get("name")?,
        password_hash: r.try_get("password_hash")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    // ── users ───────────────────────────────────────────────────────────────────────────────

    /// Inserts a user; `Conflict` when the id, username or e-mail exists (case-insensitively).
    pub async fn create_user(&self, u: &User) -> StoreResult<()> {
        sqlx::query(concat!("INSERT INTO users (", user_columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"))
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.email)
            .bind(bool_i(u.email_verified))
            .bind(&u.name)
            .bind(&u.password_hash)
            .bind(bool_i(u.disabled))
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(self.writer()?)
            .await?;
        Ok(())
    }

    /// Replaces every field of an existing user; false when it does not exist.
    pub async fn update_user(&self, u: &User) -> StoreResult<bool> {
        Ok(sqlx::query(
            "UPDATE users SET username = $2, email = $3, email_verified = $4, name = $5, password_hash = $6, \
             disabled = $7, updated_at = $8 WHERE id = $1",
        )
        .bind(&u.id)
        .bind(&u.username)
        .bind(&u.email)
        .bind(bool_i(u.email_verified))
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(bool_i(u.disabled))
        .bind(u.updated_at)
        .execute(self.writer()?)
        .await?
        .rows_affected()
            > 0)
    }

    /// A user by id.
    pub async fn get_user(&self, id: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// A user by username or e-mail, case-insensitively (the login form accepts either).
    pub async fn find_user(&self, login: &str) -> StoreResult<Option<User>> {
        sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
             ORDER BY CASE WHEN lower(username) = lower($1) THEN 0 ELSE 1 END LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(self.reader()?)
        .await?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    /// Every user, ordered by username.
    pub async fn list_users(&self) -> StoreResult<Vec<User>> {
        sqlx::query(concat!("SELECT ", user_columns!(), " FROM users ORDER BY lower(username)"))
            .fetch_all(self.reader()?)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// Deletes a user; false when they did not exist.
    pub async fn delete_user(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.writer()?.begin().await?;
        // Everything derived from the user goes with it, in one transaction (as for clients).
        for sql in [
            "DELETE FROM retired_refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE user_id = $1)",
            "DELETE FROM grants WHERE user_id = $1",
            "DELETE FROM consents WHERE user_id = $1",
            "DELETE FROM sessions WHERE user_id = $1",
            "DELETE FROM authorization_codes WHERE user_id = $1",
            "DELETE FROM device_codes WHERE user_id = $1",
            "DELETE FROM access_tokens WHERE subject = $1",
            "DELETE FROM mail_tokens WHERE user_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let n = sqlx::query("DELETE FROM users WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }
}
