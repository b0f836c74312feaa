//! The demo's objects, created or updated at every start through the same provisioning as a
//! `provision` section of the configuration: the scopes `invoices:read` and `invoices:write`, the
//! user `demo`, the confidential client `demo-service` and the public client `demo-app`; and
//! their generated secrets, kept in `data_dir/demo-credentials.json` (mode 0600) so that every
//! start prints the same ones.
//!
//! Adding a demo object: a `ProvisionScope`, `ProvisionClient` or `ProvisionUser` in
//! [`provision`] (a new generated secret goes into [`DemoCredentials`]; keep its `Debug`
//! redacted).

use super::{APP_CLIENT_ID, APP_SCOPES, CREDENTIALS_FILE, DEMO_USER, SERVICE_CLIENT_ID, SERVICE_SCOPES};
use crate::admin::Admin;
use crate::config::{Provision, ProvisionClient, ProvisionScope, ProvisionUser, Secret};
use crate::model::{ApplicationType, AuthMethod, GrantType};
use crate::state::AppState;
use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The generated demo secrets, kept in `data_dir/demo-credentials.json` so that every start
/// prints the same ones.
#[derive(Clone, Serialize, Deserialize)]
pub struct DemoCredentials {
    /// Secret of [`SERVICE_CLIENT_ID`].
    pub service_secret: String,
    /// Password of [`DEMO_USER`].
    pub user_password: String,
}

impl std::fmt::Debug for DemoCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoCredentials(<redacted>)")
    }
}

impl DemoCredentials {
    /// Reads `dir/demo-credentials.json`, or generates new credentials and writes it (mode 0600).
    pub fn load_or_create(dir: &Path) -> anyhow::Result<DemoCredentials> {
        let path = dir.join(CREDENTIALS_FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return serde_json::from_str(&text)
                .with_context(|| format!("{} is damaged: delete it to generate new demo credentials", path.display()));
        }
        let creds = DemoCredentials {
            service_secret: crate::admin::generate_client_secret().0,
            user_password: crate::jose::random_token(12),
        };
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        use std::io::Write as _;
        opts.open(&path)
            .and_then(|mut f| f.write_all(serde_json::to_string_pretty(&creds)?.as_bytes()))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(creds)
    }
}

/// Creates or updates (idempotently) the demo scopes, the user [`DEMO_USER`], the confidential
/// client [`SERVICE_CLIENT_ID`] and the public client [`APP_CLIENT_ID`], whose tokens are for the
/// audience `api_base` (the demo API's URL) and whose redirect URI is `{api_base}/callback`.
pub async fn provision(state: &AppState, api_base: &str, creds: &DemoCredentials) -> anyhow::Result<()> {
    let scope = |name: &str, description: &str| ProvisionScope { name: name.into(), description: description.into() };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let p = Provision {
        scopes: vec![
            scope("invoices:read", "Read your invoices"),
            scope("invoices:write", "Create invoices in your name"),
        ],
        clients: vec![
            ProvisionClient {
                id: SERVICE_CLIENT_ID.into(),
                name: Some("Demo service (machine to machine)".into()),
                secret_hash: None,
                secret: Some(Secret(creds.service_secret.clone())),
                auth_method: Some(AuthMethod::ClientSecretBasic),
                grant_types: vec![GrantType::ClientCredentials],
                scopes: strings(&SERVICE_SCOPES),
                redirect_uris: vec![],
                audience: Some(api_base.to_owned()),
                ..Default::default()
            },
            ProvisionClient {
                id: APP_CLIENT_ID.into(),
                name: Some("Demo app".into()),
                secret_hash: None,
                secret: None,
                auth_method: Some(AuthMethod::None),
                grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
                scopes: strings(&APP_SCOPES),
                redirect_uris: vec![format!("{}/callback", api_base.trim_end_matches('/'))],
                audience: Some(api_base.to_owned()),
                // The demo's browser client runs server-side on the demo's own port and is
                // re-provisioned whenever that port changes: a web client, whose loopback
                // redirect URI matches exactly, port included (RFC 8252 §7.3 any-port matching
                // is for native apps only).
                application_type: Some(ApplicationType::Web),
                ..Default::default()
            },
        ],
        users: vec![ProvisionUser {
            username: DEMO_USER.into(),
            email: Some("demo@example.com".into()),
            name: Some("Demo User".into()),
            password_hash: None,
            password: Some(Secret(creds.user_password.clone())),
            disabled: false,
        }],
    };
    let admin = Admin {
        store: &state.store,
        config: &state.config,
        hash_key: &state.secrets.hash_key,
        kek: &state.secrets.kek,
        now: state.clock.now(),
    };
    for line in admin.provision(&p).await.context("demo provisioning failed")? {
        tracing::debug!("demo: {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_kept() {
        let dir = std::env::temp_dir().join(format!("keycard-demo-test-{}", crate::jose::random_token(8)));
        let a = DemoCredentials::load_or_create(&dir).unwrap();
        let b = DemoCredentials::load_or_create(&dir).unwrap();
        assert_eq!((a.service_secret.clone(), a.user_password.clone()), (b.service_secret, b.user_password));
        assert!(a.user_password.len() >= 16 && a.service_secret.starts_with("kc_cs_"));
        assert_eq!(format!("{a:?}"), "DemoCredentials(<redacted>)");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
