//! `keycard scope …`: create (or describe), list and delete scopes.
//!
//! Adding a `scope` subcommand: a variant of [`ScopeCmd`] with a doc comment (its `--help` text)
//! and its arm in [`scope_cmd`].

use super::output::Out;
use super::{JsonFlag, admin_err};
use crate::admin::Admin;
use anyhow::bail;
use clap::Subcommand;

/// `keycard scope …`
#[derive(Debug, Subcommand)]
pub enum ScopeCmd {
    /// Create a scope or change its description.
    Create {
        /// The scope, e.g. invoices:read.
        name: String,
        /// What it allows, shown to users on the consent page.
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List scopes.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a scope.
    Delete {
        /// The scope.
        name: String,
    },
}

pub(super) async fn scope_cmd(a: &Admin<'_>, cmd: ScopeCmd) -> anyhow::Result<()> {
    match cmd {
        ScopeCmd::Create { name, description } => {
            a.upsert_scope(&name, &description).await.map_err(admin_err)?;
            println!("scope {name:?} saved");
        }
        ScopeCmd::List { out } => Out::new(out.json).scopes(&a.store.list_scopes().await?),
        ScopeCmd::Delete { name } => {
            if !a.store.delete_scope(&name).await? {
                bail!("scope {name:?} not found");
            }
            println!("deleted scope {name:?}");
        }
    }
    Ok(())
}
