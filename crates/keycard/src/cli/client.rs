//! `keycard client …`: register, list, show, change and delete clients, rotate their secrets and
//! hash a secret for provisioning files. The work is done by [`crate::admin::Admin`] (shared with
//! provisioning); output goes through [`super::output::Out`].
//!
//! Adding a client option: a field of the variants of [`ClientCmd`] (its doc comment is the
//! `--help` text), its use in [`client_cmd`] (a field of `ClientSpec` for `create`, of the
//! `Client` for `update`), and its output in `cli/output.rs`. The RFC 7591 §2 metadata shared by
//! `create` and `update` (application type, keys, assertion alg) is [`KeyFlags`].

use super::output::Out;
use super::{JsonFlag, admin_err};
use crate::admin::{Admin, ClientSpec};
use crate::model::{ApplicationType, AuthMethod, Client, GrantType, TokenFormat};
use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use std::io::Read as _;

/// RFC 7591 §2 client metadata that `create` and `update` take alike.
#[derive(Debug, Args)]
pub struct KeyFlags {
    /// RFC 7591 §2 application_type: `web` (redirect URIs match exactly, port included) or
    /// `native` (desktop/mobile apps: a loopback redirect URI such as http://127.0.0.1/callback
    /// matches on any port, RFC 8252 §7.3). Unset: native for a public client with a loopback
    /// or private-use-scheme redirect URI, web otherwise.
    #[arg(long, value_name = "web|native")]
    pub application_type: Option<ApplicationType>,
    /// RFC 7591 §2 jwks: a file holding the client's public keys as a JWK Set
    /// ({"keys": [...]}; `-` reads stdin). Needed by private_key_jwt (RFC 7523) unless
    /// --jwks-uri is given; public keys only (no "d", no "oct" keys). On update it replaces the
    /// keys and any jwks_uri.
    #[arg(long, value_name = "PATH", conflicts_with = "jwks_uri")]
    pub jwks: Option<String>,
    /// RFC 7591 §2 jwks_uri: where the client publishes its JWK Set (https; http only on
    /// 127.0.0.1, [::1] or localhost). Keycard fetches and caches it. On update it replaces any
    /// inline jwks.
    #[arg(long, value_name = "URL")]
    pub jwks_uri: Option<String>,
    /// RFC 7591 §2 token_endpoint_auth_signing_alg: the only JWS alg accepted for the client's
    /// assertions: ES256, RS256, PS256 or EdDSA for private_key_jwt, HS256, HS384 or HS512 for
    /// client_secret_jwt. Unset: any alg the registered key fits. On update, "" removes it.
    #[arg(long, value_name = "ALG")]
    pub token_endpoint_auth_signing_alg: Option<String>,
}

/// Reads a JWK Set from a file, or stdin for `-`.
fn read_jwks(path: &str) -> anyhow::Result<serde_json::Value> {
    let text = if path == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("--jwks -: cannot read stdin")?;
        s
    } else {
        std::fs::read_to_string(path).with_context(|| format!("--jwks: cannot read {path}"))?
    };
    serde_json::from_str(&text).with_context(|| format!("--jwks: {path} is not JSON (expected a JWK Set)"))
}

/// `keycard client …`
#[derive(Debug, Subcommand)]
pub enum ClientCmd {
    /// Register a client; prints its id and (secret-based auth methods) its secret ONCE.
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
        /// Redirect URI (repeatable), matched exactly (native clients: a loopback URI on any
        /// port, RFC 8252 section 7.3).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (no secret: SPAs, native apps, devices).
        #[arg(long)]
        public: bool,
        /// How the client authenticates (RFC 7591 token_endpoint_auth_method):
        /// client_secret_basic (default: HTTP Basic), client_secret_post (secret in the form),
        /// client_secret_jwt (an HS256/384/512 JWT made with the generated secret, RFC 7523),
        /// private_key_jwt (a JWT signed with the client's own key: no secret, needs --jwks or
        /// --jwks-uri, RFC 7523 / OIDC Core section 9).
        #[arg(long)]
        auth_method: Option<AuthMethod>,
        #[command(flatten)]
        keys: KeyFlags,
        /// RFC 9449 dpop_bound_access_tokens: the client must send a DPoP proof at /token, so
        /// its access tokens are bound to its key and useless when stolen.
        #[arg(long)]
        dpop_bound_access_tokens: bool,
        /// RFC 9126 require_pushed_authorization_requests: /authorize accepts this client only
        /// with a request_uri from a pushed authorization request (/par).
        #[arg(long)]
        require_pushed_authorization_requests: bool,
        /// RFC 8628: lifetime of this client's device codes in seconds (60..3600; device_code
        /// grant only). Default: device.code_ttl_secs.
        #[arg(long, value_name = "SECS")]
        device_code_ttl: Option<i64>,
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
        /// Change how the client authenticates (see `client create --help`). A switch to a
        /// method with a secret the client lacks prints a new secret ONCE; a switch to
        /// private_key_jwt or none drops the secret.
        #[arg(long)]
        auth_method: Option<AuthMethod>,
        #[command(flatten)]
        keys: KeyFlags,
        /// RFC 9449: require DPoP proofs at /token (sender-constrained access tokens).
        #[arg(long, conflicts_with = "no_dpop_bound_access_tokens")]
        dpop_bound_access_tokens: bool,
        /// Stop requiring DPoP proofs.
        #[arg(long)]
        no_dpop_bound_access_tokens: bool,
        /// RFC 9126: accept /authorize only through pushed authorization requests.
        #[arg(long, conflicts_with = "no_require_pushed_authorization_requests")]
        require_pushed_authorization_requests: bool,
        /// Accept plain /authorize requests again.
        #[arg(long)]
        no_require_pushed_authorization_requests: bool,
        /// RFC 8628: this client's device-code lifetime in seconds (60..3600); 0 returns to
        /// device.code_ttl_secs.
        #[arg(long, value_name = "SECS")]
        device_code_ttl: Option<i64>,
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
            keys,
            dpop_bound_access_tokens,
            require_pushed_authorization_requests,
            device_code_ttl,
            token_format,
            access_token_ttl,
            audience,
            web_origins,
            resource_audiences,
            out,
        } => {
            let jwks = keys.jwks.as_deref().map(read_jwks).transpose()?;
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
                application_type: keys.application_type,
                jwks,
                jwks_uri: keys.jwks_uri,
                token_endpoint_auth_signing_alg: keys.token_endpoint_auth_signing_alg,
                dpop_bound_access_tokens,
                require_pushed_authorization_requests,
                device_code_ttl_secs: device_code_ttl,
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
            auth_method,
            keys,
            dpop_bound_access_tokens,
            no_dpop_bound_access_tokens,
            require_pushed_authorization_requests,
            no_require_pushed_authorization_requests,
            device_code_ttl,
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
            apply_update_flags(&mut c, auth_method, keys)?;
            if dpop_bound_access_tokens || no_dpop_bound_access_tokens {
                c.settings.dpop_bound_access_tokens = dpop_bound_access_tokens;
            }
            if require_pushed_authorization_requests || no_require_pushed_authorization_requests {
                c.settings.require_pushed_authorization_requests = require_pushed_authorization_requests;
            }
            if let Some(t) = device_code_ttl {
                c.settings.device_code_ttl_secs = (t != 0).then_some(t);
            }
            if disable {
                c.disabled = true;
            }
            if enable {
                c.disabled = false;
            }
            let (c, secret) = a.update_client(c).await.map_err(admin_err)?;
            Out::new(out.json).updated_client(&c, secret.as_ref());
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

/// `client update`: the auth method and the [`KeyFlags`]. A changed auth method without a new
/// `--token-endpoint-auth-signing-alg` drops the old alg (it belonged to the old method).
fn apply_update_flags(c: &mut Client, auth_method: Option<AuthMethod>, keys: KeyFlags) -> anyhow::Result<()> {
    if let Some(m) = auth_method
        && m != c.auth_method
    {
        c.auth_method = m;
        if keys.token_endpoint_auth_signing_alg.is_none() {
            c.settings.token_endpoint_auth_signing_alg = None;
        }
    }
    if let Some(t) = keys.application_type {
        c.settings.application_type = Some(t);
    }
    if let Some(path) = &keys.jwks {
        c.settings.jwks = Some(read_jwks(path)?);
        c.settings.jwks_uri = None;
    }
    if let Some(uri) = keys.jwks_uri {
        c.settings.jwks_uri = Some(uri);
        c.settings.jwks = None;
    }
    if let Some(alg) = keys.token_endpoint_auth_signing_alg {
        c.settings.token_endpoint_auth_signing_alg = (!alg.is_empty()).then_some(alg);
    }
    Ok(())
}
