//! `keycard keys …`: list the signing keys and rotate them (the old public key stays in the JWKS
//! until every token it signed has expired; see [`crate::keys::rotate`]).
//!
//! Adding a `keys` subcommand: a variant of [`KeysCmd`] with a doc comment (its `--help` text)
//! and its arm in [`keys_cmd`].

use super::JsonFlag;
use super::output::Out;
use crate::app;
use crate::clock::{Clock, SystemClock, rfc3339};
use crate::config::Config;
use crate::jose::Alg;
use crate::keys;
use crate::state::Secrets;
use crate::store::Store;
use clap::Subcommand;

/// `keycard keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCmd {
    /// List signing keys and their state.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Create a new signing key and sign with it from now on; the old public key stays in the
    /// JWKS until every token it signed has expired.
    Rotate {
        /// Algorithm to rotate (default: keys.access_token_alg); --all rotates every one.
        #[arg(long)]
        alg: Option<Alg>,
        /// Rotate every configured algorithm.
        #[arg(long, conflicts_with = "alg")]
        all: bool,
    },
}

pub(super) async fn keys_cmd(config: &Config, cmd: KeysCmd) -> anyhow::Result<()> {
    let secret = app::load_secret(config)?;
    let secrets = Secrets::derive(&secret);
    let store: Store = app::open_store(config).await?;
    let now = SystemClock.now();
    // Make sure the configured keys exist (first use before any `serve`).
    keys::KeyRing::load_or_create(&store, secrets.kek, &config.keys.algorithms, now).await?;
    match cmd {
        KeysCmd::List { out } => Out::new(out.json).keys(&store.list_keys().await?, now),
        KeysCmd::Rotate { alg, all } => {
            let algs: Vec<Alg> =
                if all { config.keys.algorithms.clone() } else { vec![alg.unwrap_or(config.keys.access_token_alg)] };
            let max_ttl = store.max_access_token_ttl().await?.max(config.tokens.max_access_token_ttl_secs);
            for alg in algs {
                let kid =
                    keys::rotate(&store, &secrets.kek, alg, max_ttl, config.keys.rotation_leeway_secs, now).await?;
                println!(
                    "rotated {alg}: now signing with {kid}; the previous key stays in the JWKS until {}",
                    rfc3339(now + max_ttl + config.keys.rotation_leeway_secs)
                );
            }
        }
    }
    store.close().await;
    Ok(())
}
