//! The in-memory client cache of the token endpoint's hot path. Clients are read from the store
//! once and kept; every change bumps the `clients` epoch in the database, and a background task
//! on every node ([`crate::app`]) polls the epochs and clears the cache when they move, so a
//! change made on another node or by the CLI is seen within `cache.poll_interval_ms`.
//! Unknown client ids are cached as absent too (bounded), so a flood of made-up ids does not
//! become a flood of database reads.

use crate::model::Client;
use crate::store::{Store, StoreResult};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Most entries kept; past this the cache starts over (a simple, safe bound).
const MAX_ENTRIES: usize = 10_000;

/// Client cache.
#[derive(Debug, Default)]
pub struct ClientCache {
    map: RwLock<HashMap<String, Option<Arc<Client>>>>,
    /// Every browser origin registered on any client (for CORS preflights, which carry no
    /// client id), refreshed with the cache.
    origins: RwLock<std::collections::HashSet<String>>,
}

impl ClientCache {
    /// A client by id, from memory or the store.
    pub async fn get(&self, store: &Store, id: &str) -> StoreResult<Option<Arc<Client>>> {
        if let Some(hit) = self.map.read().unwrap_or_else(|e| e.into_inner()).get(id) {
            return Ok(hit.clone());
        }
        let loaded = store.get_client(id).await?.map(Arc::new);
        let mut map = self.map.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id.to_owned(), loaded.clone());
        Ok(loaded)
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.map.write().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// Reloads the set of registered web origins.
    pub async fn reload_origins(&self, store: &Store) -> StoreResult<()> {
        let set = store
            .list_clients()
            .await?
            .into_iter()
            .filter(|c| !c.disabled)
            .flat_map(|c| c.settings.web_origins)
            .collect();
        *self.origins.write().unwrap_or_else(|e| e.into_inner()) = set;
        Ok(())
    }

    /// Is `origin` registered on some client?
    pub fn origin_registered(&self, origin: &str) -> bool {
        self.origins.read().unwrap_or_else(|e| e.into_inner()).contains(origin)
    }
}
