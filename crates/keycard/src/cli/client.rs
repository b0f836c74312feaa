//! `keycard client …`: register, list, show, change and delete clients, rotate their secrets and
//! hash a secret for provisioning files. The work is done by [`crate::admin::Admin`] (shared with
//! provisioning); output goes through [`super::output::Out`].
//!
//! Adding a client option: a field of the variants of [`ClientCmd`] (its doc comment is the
//! `--help` text), its use in [`client_cmd`] (a field of `ClientSpec` for `create`, of the
//! `Client` for `update`), and its output in `cli/output.rs`.

use super::output::Out;
use super::{JsonFlag, admin_err};
use crate::admin::{Admin, ClientSpec};
use crate::model::{AuthMethod, GrantType, TokenFormat};
use anyhow::bail;
use clap::Subcommand;
use std::io::Read as _;

/// `keycard client …`
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints its id and (confidential clients) its secret ONCE.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// Choose the client id (printable ASCII); default: random.
        #[arg(long)]
        id: Option<String>,
        /// Allowed grant type (repeatable): client_credentials, authorization_code, refresh_token, device_code.
        #[arg(long = "grant", required_unless_present = "resource_audiences")]
        grants: Vec<GrantType>,
        /// Allowed scope (repeatable, or space separated); unknown scopes are created.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Redirect URI (repeatable), matched exactly.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (no secret: SPAs, native apps, devices).
        #[arg(long)]
        public: bool,
        /// client_secret_basic (default) or client_secret_post.
        #[arg(long)]
        auth_method: Option<AuthMethod>,
        /// Access token format: jwt (default) or opaque.
        #[arg(long)]
        token_format: Option<TokenFormat>,
        /// Access token lifetime in seconds.
        #[arg(long)]
        access_token_ttl: Option<i64>,
        /// Audience (aud) of the client's access tokens.
        #[arg(long)]
        audience: Option<String>,
        /// Browser origin allowed for CORS (repeatable), e.g. https://app.example.com.
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        /// Make it a resource server for this audience (repeatable): it may introspect access
        /// tokens whose aud is one of them. Needs no --grant.
        #[arg(long = "resource-audience")]
        resource_audiences: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List clients.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one client (never its secret).
    Show {
        /// Client id.
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a client; only the given options change.
    Update {
        /// Client id.
        id: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Replace the grant types (repeatable).
        #[arg(long = "grant")]
        grants: Vec<GrantType>,
        /// Replace the allowed scopes (repeatable).
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Add an allowed scope (repeatable).
        #[arg(long = "add-scope")]
        add_scopes: Vec<String>,
        /// Remove an allowed scope (repeatable).
        #[arg(long = "remove-scope")]
        remove_scopes: Vec<String>,
        /// Replace the redirect URIs (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Access token format.
        #[arg(long)]
        token_format: Option<TokenFormat>,
        /// Access token lifetime in seconds.
        #[arg(long)]
        access_token_ttl: Option<i64>,
        /// Audience of access tokens.
        #[arg(long)]
        audience: Option<String>,
        /// Replace the browser origins allowed for CORS (repeatable).
        #[arg(long = "web-origin")]
        web_origins: Vec<String>,
        /// Replace the audiences this client serves as a resource server (repeatable).
        #[arg(long = "resource-audience")]
        resource_audiences: Vec<String>,
        /// Disable the client (it can no longer authenticate).
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Enable the client.
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Delete a client and its tokens.
    Delete {
        /// Client id.
        id: String,
    },
    /// Replace a client's secret; prints the new one ONCE. The old one stops working at once.
    RotateSecret {
        /// Client id.
        id: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the keyed hash of a secret read from stdin, for `secret_hash` in provisioning files
    /// (valid only with the same server secret).
    HashSecret,
}

fn split_scopes(v: &[String]) -> Vec<String> {
    v.iter().flat_map(|s| s.split_whitespace().map(str::to_owned)).collect()
}

pub(super) async fn client_cmd(a: &Admin<'_>, cmd: ClientCmd) -> anyhow::Result<()> {
    match cmd {
        ClientCmd::Create {
            name,
            id,
            grants,
            scopes,
            redirect_uris,
            public,
            auth_method,
            token_format,
            access_token_ttl,
            audience,
            web_origins,
            resource_audiences,
            out,
        } => {
            let spec = ClientSpec {
                id,
                name: Some(name),
                public,
                auth_method,
                grant_types: grants,
                scopes: split_scopes(&scopes),
                redirect_uris,
                access_token_ttl,
                token_format,
                audience,
                web_origins,
                disabled: false,
                resource_audiences,
            };
            let (client, secret) = a.create_client(&spec).await.map_err(admin_err)?;
            Out::new(out.json).created_client(&client, secret.as_ref());
        }
        ClientCmd::List { out } => Out::new(out.json).clients(&a.store.list_clients().await?),
        ClientCmd::Show { id, out } => Out::new(out.json).client(&a.client(&id).await.map_err(admin_err)?),
        ClientCmd::Update {
            id,
            name,
            grants,
            scopes,
            add_scopes,
            remove_scopes,
            redirect_uris,
            token_format,
            access_token_ttl,
            audience,
            web_origins,
            resource_audiences,
            disable,
            enable,
            out,
        } => {
            let mut c = a.client(&id).await.map_err(admin_err)?;
            if let Some(n) = name {
                c.name = n;
            }
            if !grants.is_empty() {
                c.grant_types = grants;
            }
            if !scopes.is_empty() {
                c.scopes = split_scopes(&scopes);
            }
            c.scopes.extend(split_scopes(&add_scopes));
            let remove = split_scopes(&remove_scopes);
            c.scopes.retain(|s| !remove.contains(s));
            if !redirect_uris.is_empty() {
                c.redirect_uris = redirect_uris;
            }
            if let Some(f) = token_format {
                c.token_format = f;
            }
            if let Some(t) = access_token_ttl {
                c.access_token_ttl = t;
            }
            if audience.is_some() {
                c.settings.audience = audience;
            }
            if !web_origins.is_empty() {
                c.settings.web_origins = web_origins;
            }
            if !resource_audiences.is_empty() {
                c.settings.resource_audiences = resource_audiences;
            }
            if disable {
                c.disabled = true;
            }
            if enable {
                c.disabled = false;
            }
            let c = a.save_client(c).await.map_err(admin_err)?;
            Out::new(out.json).client(&c);
        }
        ClientCmd::Delete { id } => {
            a.delete_client(&id).await.map_err(admin_err)?;
            println!("deleted client {id:?} and its tokens");
        }
        ClientCmd::RotateSecret { id, out } => {
            let secret = a.rotate_client_secret(&id).await.map_err(admin_err)?;
            Out::new(out.json).rotated_secret(&id, &secret);
        }
        ClientCmd::HashSecret => {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            let s = s.lines().next().unwrap_or("");
            if s.is_empty() {
                bail!("pipe the secret into stdin");
            }
            println!("{}", crate::jose::keyed_hash(a.hash_key, s.as_bytes()));
        }
    }
    Ok(())
}
