//! Clients (RFC 6749 §2): registration rows, every change bumping the `clients` cache epoch;
//! deleting one removes all it held.

use super::{Store, StoreResult, bool_i, corrupt, split_words};
use crate::model::{AuthMethod, Client, ClientSettings, GrantType, TokenFormat};
use sqlx::{Row, any::AnyRow};

macro_rules! client_columns {
    () => {
        "id, name, secret_hash, auth_method, grant_types, scopes, redirect_uris, access_token_ttl, token_format, disabled, settings, created_at, updated_at"
    };
}

fn client_from_row(r: &AnyRow) -> StoreResult<Client> {
    let grant_types = split_words(&r.try_get::<String, _>("grant_types")?)
        .iter()
        .map(|g| g.parse::<GrantType>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| corrupt("client grant_types", e))?;
    let redirect_uris: Vec<String> = serde_json::from_str(&r.try_get::<String, _>("redirect_uris")?)
        .map_err(|e| corrupt("client redirect_uris", e))?;
    let settings: ClientSettings =
        serde_json::from_str(&r.try_get::<String, _>("settings")?).map_err(|e| corrupt("client settings", e))?;
    Ok(Client {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        secret_hash: r.try_get("secret_hash")?,
        auth_method: r
            .try_get::<String, _>("auth_method")?
            .parse::<AuthMethod>()
            .map_err(|e| corrupt("client auth_method", e))?,
        grant_types,
        scopes: split_words(&r.try_get::<String, _>("scopes")?),
        redirect_uris,
        access_token_ttl: r.try_get("access_token_ttl")?,
        token_format: r
            .try_get::<String, _>("token_format")?
            .parse::<TokenFormat>()
            .map_err(|e| corrupt("client token_format", e))?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        settings,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

fn join_grants(g: &[GrantType]) -> String {
    g.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(" ")
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

impl Store {
    // ── clients ─────────────────────────────────────────────────────────────────────────────

    /// Inserts a client; `Conflict` when the id exists.
    pub async fn create_client(&self, c: &Client) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO clients (",
            client_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.auth_method.as_str())
        .bind(join_grants(&c.grant_types))
        .bind(c.scopes.join(" "))
        .bind(json(&c.redirect_uris))
        .bind(c.access_token_ttl)
        .bind(c.token_format.as_str())
        .bind(bool_i(c.disabled))
        .bind(json(&c.settings))
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(self.writer()?)
        .await?;
        self.bump_epoch("clients").await
    }

    /// Replaces every field of an existing client; false when it does not exist.
    pub async fn update_client(&self, c: &Client) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE clients SET name = $2, secret_hash = $3, auth_method = $4, grant_types = $5, scopes = $6, \
             redirect_uris = $7, access_token_ttl = $8, token_format = $9, disabled = $10, settings = $11, \
             updated_at = $12 WHERE id = $1",
        )
        .bind(&c.id)
        .bind(&c.name)
        .bind(&c.secret_hash)
        .bind(c.auth_method.as_str())
        .bind(join_grants(&c.grant_types))
        .bind(c.scopes.join(" "))
        .bind(json(&c.redirect_uris))
        .bind(c.access_token_ttl)
        .bind(c.token_format.as_str())
        .bind(bool_i(c.disabled))
        .bind(json(&c.settings))
        .bind(c.updated_at)
        .execute(self.writer()?)
        .await?
        .rows_affected()
            > 0;
        self.bump_epoch("clients").await?;
        Ok(done)
    }

    /// A client by id.
    pub async fn get_client(&self, id: &str) -> StoreResult<Option<Client>> {
        sqlx::query(concat!("SELECT ", client_columns!(), " FROM clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader()?)
            .await?
            .as_ref()
            .map(client_from_row)
            .transpose()
    }

    /// Every client, ordered by id.
    pub async fn list_clients(&self) -> StoreResult<Vec<Client>> {
        sqlx::query(concat!("SELECT ", client_columns!(), " FROM clients ORDER BY id"))
            .fetch_all(self.reader()?)
            .await?
            .iter()
            .map(client_from_row)
            .collect()
    }

    /// Deletes a client and, in the same transaction, everything it held: refresh families
    /// (grants, so their access tokens introspect inactive, and their retired tokens), consents,
    /// codes, pending authorization requests, device requests and opaque access tokens. A client
    /// re-created with the same id (re-provisioning) starts from nothing. False when it did not
    /// exist.
    pub async fn delete_client(&self, id: &str) -> StoreResult<bool> {
        let mut tx = self.writer()?.begin().await?;
        for sql in [
            "DELETE FROM retired_refresh_tokens WHERE grant_id IN (SELECT id FROM grants WHERE client_id = $1)",
            "DELETE FROM grants WHERE client_id = $1",
            "DELETE FROM consents WHERE client_id = $1",
            "DELETE FROM authorization_codes WHERE client_id = $1",
            "DELETE FROM auth_requests WHERE client_id = $1",
            "DELETE FROM device_codes WHERE client_id = $1",
            "DELETE FROM access_tokens WHERE client_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let n = sqlx::query("DELETE FROM clients WHERE id = $1").bind(id).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        self.bump_epoch("clients").await?;
        Ok(n > 0)
    }

    /// The longest access-token lifetime of any client (for key rotation: how long an old key
    /// must stay published).
    pub async fn max_access_token_ttl(&self) -> StoreResult<i64> {
        let r = sqlx::query("SELECT COALESCE(MAX(access_token_ttl), 0) AS m FROM clients")
            .fetch_one(self.reader()?)
            .await?;
        Ok(r.try_get::<i64, _>("m")?)
    }
}
