//! Administrative operations shared by the `keycard` CLI and declarative provisioning: creating
//! and changing clients, users and scopes with validation, generating client secrets, hashing
//! passwords. Everything that writes an admin object goes through here so the rules live once.
//!
//! A client's registration (RFC 7591 §2 metadata) is checked in [`Admin::build_client`] with the
//! pure rules of `crate::validate`, which provisioning (`config`) checks too at `config check`.
//! A new client setting: a field of [`ClientSpec`], its check and copy in `build_client` and
//! `apply_spec_settings`, and the same in `save_client`'s spec (see docs/architecture.md,
//! "A new client setting").

use crate::clock::UnixTime;
use crate::config::{Config, Provision};
use crate::jose;
use crate::model::{
    ApplicationType, AuthMethod, Client, ClientSettings, GrantType, ScopeDef, TokenFormat, USER_ID_PREFIX, User,
};
use crate::store::{Store, StoreError};
pub use crate::validate::{
    KeyRegistration, validate_client_id, validate_device_code_ttl, validate_key_registration, validate_redirect_uri,
    validate_resource_audience, validate_scope_name, validate_web_origin,
};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use std::fmt;

/// An admin operation failed; the message is one clear line for the operator.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Bad input, named.
    #[error("{0}")]
    Invalid(String),
    /// The object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The object already exists.
    #[error("{0} already exists")]
    Exists(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid<T>(msg: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::Invalid(msg.into()))
}

/// A client secret in plain text: shown once, never logged (redacted `Debug`).
pub struct PlainSecret(pub String);

impl fmt::Debug for PlainSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainSecret(<redacted>)")
    }
}

/// The prefix of Keycard-generated client secrets.
pub const CLIENT_SECRET_PREFIX: &str = "kc_cs_";

/// A new client secret: 256 bits of randomness (RFC 6749 §10.10, OAuth 2.1 §7.7).
pub fn generate_client_secret() -> PlainSecret {
    PlainSecret(format!("{CLIENT_SECRET_PREFIX}{}", jose::random_token(32)))
}

/// Everything needed to create a client; `None`/empty fields take defaults.
#[derive(Debug, Clone, Default)]
pub struct ClientSpec {
    /// Chosen id; generated when absent.
    pub id: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Public client (no secret, auth method `none`).
    pub public: bool,
    /// Auth method for confidential clients (default `client_secret_basic`). `private_key_jwt`
    /// clients get no secret at all; `client_secret_jwt` ones a generated secret that is also
    /// kept sealed (RFC 7523 §2.2 needs it to verify the MAC).
    pub auth_method: Option<AuthMethod>,
    /// Grant types.
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes.
    pub scopes: Vec<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Access token lifetime.
    pub access_token_ttl: Option<i64>,
    /// Token format.
    pub token_format: Option<TokenFormat>,
    /// Audience.
    pub audience: Option<String>,
    /// Browser origins allowed for CORS (single-page apps).
    pub web_origins: Vec<String>,
    /// Disabled flag.
    pub disabled: bool,
    /// The resource-server role: audiences whose access tokens this client may introspect
    /// ([`ClientSettings::resource_audiences`]); such a client needs no grant type.
    pub resource_audiences: Vec<String>,
    /// RFC 7591 §2 `application_type`; `None` leaves it to [`Client::application_type`].
    pub application_type: Option<ApplicationType>,
    /// RFC 7591 §2 `jwks`: the client's public keys, a JWK Set JSON object.
    pub jwks: Option<serde_json::Value>,
    /// RFC 7591 §2 `jwks_uri`.
    pub jwks_uri: Option<String>,
    /// RFC 7591 §2 `token_endpoint_auth_signing_alg`.
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`.
    pub require_pushed_authorization_requests: bool,
    /// RFC 8628 §3.2: this client's device-code lifetime (default `device.code_ttl_secs`).
    pub device_code_ttl_secs: Option<i64>,
}

impl ClientSpec {
    /// The auth method this spec asks for (`none` for public clients, `client_secret_basic` by
    /// default).
    fn resolved_auth_method(&self) -> Result<AuthMethod, AdminError> {
        if self.public {
            if self.auth_method.is_some_and(|m| m != AuthMethod::None) {
                return invalid("a public client uses auth method `none`");
            }
            return Ok(AuthMethod::None);
        }
        Ok(self.auth_method.unwrap_or(AuthMethod::ClientSecretBasic))
    }
}

/// Copies the settings a [`ClientSpec`] manages into `settings`, leaving the others
/// (`first_party`, `logo_uri`, `sealed_secret`, …) alone.
fn apply_spec_settings(settings: &mut ClientSettings, spec: &ClientSpec) {
    settings.audience = spec.audience.clone();
    settings.web_origins = spec.web_origins.clone();
    settings.resource_audiences = spec.resource_audiences.clone();
    settings.application_type = spec.application_type;
    settings.jwks = spec.jwks.clone();
    settings.jwks_uri = spec.jwks_uri.clone();
    settings.token_endpoint_auth_signing_alg = spec.token_endpoint_auth_signing_alg.clone();
    settings.dpop_bound_access_tokens = spec.dpop_bound_access_tokens;
    settings.require_pushed_authorization_requests = spec.require_pushed_authorization_requests;
    settings.device_code_ttl_secs = spec.device_code_ttl_secs;
}

/// The spec a stored client was built from, for validating it again after a change.
fn spec_of(client: &Client) -> ClientSpec {
    let st = &client.settings;
    ClientSpec {
        id: Some(client.id.clone()),
        name: Some(client.name.clone()),
        public: client.auth_method == AuthMethod::None,
        auth_method: Some(client.auth_method),
        grant_types: client.grant_types.clone(),
        scopes: client.scopes.clone(),
        redirect_uris: client.redirect_uris.clone(),
        access_token_ttl: Some(client.access_token_ttl),
        token_format: Some(client.token_format),
        audience: st.audience.clone(),
        web_origins: st.web_origins.clone(),
        disabled: client.disabled,
        resource_audiences: st.resource_audiences.clone(),
        application_type: st.application_type,
        jwks: st.jwks.clone(),
        jwks_uri: st.jwks_uri.clone(),
        token_endpoint_auth_signing_alg: st.token_endpoint_auth_signing_alg.clone(),
        dpop_bound_access_tokens: st.dpop_bound_access_tokens,
        require_pushed_authorization_requests: st.require_pushed_authorization_requests,
        device_code_ttl_secs: st.device_code_ttl_secs,
    }
}

/// Admin operations over a store.
pub struct Admin<'a> {
    /// The store.
    pub store: &'a Store,
    /// The effective configuration.
    pub config: &'a Config,
    /// Key for hashing client secrets.
    pub hash_key: &'a [u8; 32],
    /// Key-encryption key, sealing `client_secret_jwt` secrets
    /// ([`crate::client_keys::seal_client_secret`]).
    pub kek: &'a [u8; 32],
    /// Current time.
    pub now: UnixTime,
}

impl Admin<'_> {
    /// Builds and validates a client from a spec (no store access).
    fn build_client(&self, spec: &ClientSpec, secret_hash: Option<String>) -> Result<Client, AdminError> {
        let id = spec.id.clone().unwrap_or_else(|| jose::random_token(16));
        validate_client_id(&id).map_err(AdminError::Invalid)?;
        let auth_method = spec.resolved_auth_method()?;
        let mut grant_types = spec.grant_types.clone();
        grant_types.sort();
        grant_types.dedup();
        for a in &spec.resource_audiences {
            validate_resource_audience(a, &self.config.issuer).map_err(AdminError::Invalid)?;
        }
        validate_key_registration(&KeyRegistration {
            auth_method,
            jwks: spec.jwks.as_ref(),
            jwks_uri: spec.jwks_uri.as_deref(),
            signing_alg: spec.token_endpoint_auth_signing_alg.as_deref(),
        })
        .map_err(|(_, m)| AdminError::Invalid(m))?;
        if let Some(ttl) = spec.device_code_ttl_secs {
            validate_device_code_ttl(ttl, grant_types.contains(&GrantType::DeviceCode)).map_err(AdminError::Invalid)?;
        }
        if auth_method == AuthMethod::None && !spec.resource_audiences.is_empty() {
            return invalid(
                "a resource server introspects with a secret: it cannot be a public client (RFC 7662 section 2.1)",
            );
        }
        if grant_types.is_empty() && spec.resource_audiences.is_empty() {
            return invalid(
                "a client needs at least one grant type (--grant), or resource audiences (--resource-audience)",
            );
        }
        if auth_method == AuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
            return invalid("the client_credentials grant is for confidential clients only (RFC 6749 section 4.4)");
        }
        for s in &spec.scopes {
            validate_scope_name(s).map_err(AdminError::Invalid)?;
        }
        for u in &spec.redirect_uris {
            validate_redirect_uri(u).map_err(AdminError::Invalid)?;
        }
        for o in &spec.web_origins {
            validate_web_origin(o).map_err(AdminError::Invalid)?;
        }
        let ttl = spec.access_token_ttl.unwrap_or(self.config.tokens.access_token_ttl_secs);
        if ttl < 1 || ttl > self.config.tokens.max_access_token_ttl_secs {
            return invalid(format!(
                "access token lifetime must be between 1 and {} seconds (tokens.max_access_token_ttl_secs)",
                self.config.tokens.max_access_token_ttl_secs
            ));
        }
        let mut scopes = spec.scopes.clone();
        scopes.sort();
        scopes.dedup();
        let mut settings = ClientSettings::default();
        apply_spec_settings(&mut settings, spec);
        Ok(Client {
            name: spec.name.clone().unwrap_or_else(|| id.clone()),
            id,
            secret_hash: if auth_method.uses_secret() { secret_hash } else { None },
            auth_method,
            grant_types,
            scopes,
            redirect_uris: spec.redirect_uris.clone(),
            access_token_ttl: ttl,
            token_format: spec.token_format.unwrap_or_default(),
            disabled: spec.disabled,
            settings,
            created_at: self.now,
            updated_at: self.now,
        })
    }

    /// Seals `secret` into a `client_secret_jwt` client's settings; clears the sealed secret of
    /// every other client.
    fn seal_secret(&self, client: &mut Client, secret: Option<&PlainSecret>) -> Result<(), AdminError> {
        client.settings.sealed_secret = match (client.auth_method, secret) {
            (AuthMethod::ClientSecretJwt, Some(s)) => Some(
                crate::client_keys::seal_client_secret(self.kek, &client.id, &s.0)
                    .map_err(|e| AdminError::Invalid(format!("cannot seal the client secret: {e}")))?,
            ),
            (AuthMethod::ClientSecretJwt, None) => client.settings.sealed_secret.take(),
            _ => None,
        };
        Ok(())
    }

    /// Creates a client; returns it and, for clients with a shared secret (basic, post,
    /// client_secret_jwt), the secret to show ONCE.
    pub async fn create_client(&self, spec: &ClientSpec) -> Result<(Client, Option<PlainSecret>), AdminError> {
        let secret = spec.resolved_auth_method()?.uses_secret().then(generate_client_secret);
        let hash = secret.as_ref().map(|s| jose::keyed_hash(self.hash_key, s.0.as_bytes()));
        let mut client = self.build_client(spec, hash)?;
        self.seal_secret(&mut client, secret.as_ref())?;
        for s in &client.scopes {
            self.store.ensure_scope(s, self.now).await?;
        }
        match self.store.create_client(&client).await {
            Ok(()) => Ok((client, secret)),
            Err(StoreError::Conflict(_)) => Err(AdminError::Exists(format!("client {:?}", client.id))),
            Err(e) => Err(e.into()),
        }
    }

    /// Loads a client or fails with `NotFound`.
    pub async fn client(&self, id: &str) -> Result<Client, AdminError> {
        self.store.get_client(id).await?.ok_or_else(|| AdminError::NotFound(format!("client {id:?}")))
    }

    /// Saves a changed client after validating it again. A client whose auth method needs no
    /// secret loses its secret (hash and sealed copy).
    pub async fn save_client(&self, mut client: Client) -> Result<Client, AdminError> {
        let spec = spec_of(&client);
        let checked = self.build_client(&spec, client.secret_hash.clone())?;
        // SECURITY A3: the same registration rules for the other URIs a client carries.
        for uri in &client.settings.post_logout_redirect_uris {
            crate::validate::validate_post_logout_redirect_uri(uri).or_else(invalid)?;
        }
        if let Some(logo) = &client.settings.logo_uri {
            crate::validate::validate_https_uri("logo_uri", logo).or_else(invalid)?;
        }
        if checked.auth_method.uses_secret() && checked.secret_hash.is_none() {
            return invalid("a confidential client needs a secret: run `keycard client rotate-secret`");
        }
        self.seal_secret(&mut client, None)?;
        if checked.auth_method == AuthMethod::ClientSecretJwt && client.settings.sealed_secret.is_none() {
            return invalid(
                "a client_secret_jwt client needs its secret sealed (RFC 7523 section 2.2): run `keycard client rotate-secret`",
            );
        }
        client.grant_types = checked.grant_types;
        client.scopes = checked.scopes;
        client.secret_hash = checked.secret_hash;
        client.updated_at = self.now;
        for s in &client.scopes {
            self.store.ensure_scope(s, self.now).await?;
        }
        if !self.store.update_client(&client).await? {
            return Err(AdminError::NotFound(format!("client {:?}", client.id)));
        }
        Ok(client)
    }

    /// Saves a changed client like [`Admin::save_client`]; when its auth method now needs a
    /// secret it lacks (a switch from `none` or `private_key_jwt`, or to `client_secret_jwt`
    /// without a sealed copy), a new secret is generated and returned to show ONCE.
    pub async fn update_client(&self, mut client: Client) -> Result<(Client, Option<PlainSecret>), AdminError> {
        let needs_secret = client.auth_method.uses_secret()
            && (client.secret_hash.is_none()
                || (client.auth_method == AuthMethod::ClientSecretJwt && client.settings.sealed_secret.is_none()));
        let secret = needs_secret.then(generate_client_secret);
        if let Some(s) = &secret {
            client.secret_hash = Some(jose::keyed_hash(self.hash_key, s.0.as_bytes()));
            self.seal_secret(&mut client, Some(s))?;
        }
        Ok((self.save_client(client).await?, secret))
    }

    /// Replaces a client's secret (basic, post, client_secret_jwt, whose sealed copy is replaced
    /// too); the old one stops working at once.
    pub async fn rotate_client_secret(&self, id: &str) -> Result<PlainSecret, AdminError> {
        let mut client = self.client(id).await?;
        if !client.auth_method.uses_secret() {
            return invalid(format!("client {id:?} uses {} and has no secret", client.auth_method.as_str()));
        }
        let secret = generate_client_secret();
        client.secret_hash = Some(jose::keyed_hash(self.hash_key, secret.0.as_bytes()));
        self.seal_secret(&mut client, Some(&secret))?;
        self.save_client(client).await?;
        Ok(secret)
    }

    /// Deletes a client and, in one transaction, all of its state: refresh families (so its
    /// access tokens introspect inactive), consents, codes, pending requests, device requests and
    /// opaque tokens. Re-creating the same id starts from nothing; JWT access tokens of the old
    /// incarnation predate the new client's `created_at` and introspect inactive too.
    pub async fn delete_client(&self, id: &str) -> Result<(), AdminError> {
        if self.store.delete_client(id).await? { Ok(()) } else { Err(AdminError::NotFound(format!("client {id:?}"))) }
    }

    /// Creates a user with an optional password.
    pub async fn create_user(
        &self,
        username: &str,
        email: Option<&str>,
        name: Option<&str>,
        password_hash: Option<String>,
    ) -> Result<User, AdminError> {
        validate_username(username)?;
        if let Some(e) = email {
            validate_email(e)?;
        }
        let user = User {
            id: format!("{USER_ID_PREFIX}{}", jose::random_token(16)),
            username: username.to_owned(),
            email: email.map(str::to_owned),
            email_verified: false,
            name: name.map(str::to_owned),
            password_hash,
            disabled: false,
            created_at: self.now,
            updated_at: self.now,
        };
        match self.store.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => {
                Err(AdminError::Exists(format!("a user with username {username:?} or that e-mail")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Finds a user by id, username or e-mail.
    pub async fn user(&self, who: &str) -> Result<User, AdminError> {
        if who.starts_with(USER_ID_PREFIX)
            && let Some(u) = self.store.get_user(who).await?
        {
            return Ok(u);
        }
        self.store.find_user(who).await?.ok_or_else(|| AdminError::NotFound(format!("user {who:?}")))
    }

    /// Saves a changed user. When the password changed or the user was disabled, every session
    /// of the user ends and every refresh family is revoked (SECURITY C7, RFC 9700 §4.14.2): a
    /// stolen password or a disabled account keeps nothing alive, and enabling the user again
    /// brings no old refresh token back. Every admin path (`keycard user set-password`,
    /// `disable`, provisioning) comes through here.
    ///
    /// A changed e-mail address is no longer verified (OpenID Connect Core §5.1
    /// `email_verified`); a changed password retires the user's mailed password links.
    pub async fn save_user(&self, mut user: User) -> Result<User, AdminError> {
        validate_username(&user.username)?;
        user.updated_at = self.now;
        let before = self.store.get_user(&user.id).await?;
        if let Some(b) = &before {
            let fold = |e: &Option<String>| e.as_deref().map(crate::store::fold_login);
            if fold(&b.email) != fold(&user.email) {
                user.email_verified = false;
            }
        }
        let ended = before.as_ref().and_then(|b| {
            if user.disabled && !b.disabled {
                Some("user_disabled")
            } else if user.password_hash != b.password_hash {
                Some("password_changed")
            } else {
                None
            }
        });
        match self.store.update_user(&user).await {
            Ok(true) => {
                if let Some(reason) = ended {
                    self.end_user_access(&user.id, reason).await?;
                }
                if before.as_ref().is_some_and(|b| b.password_hash != user.password_hash) {
                    self.store.retire_password_links(&user.id, self.now).await?;
                }
                Ok(user)
            }
            Ok(false) => Err(AdminError::NotFound(format!("user {:?}", user.username))),
            Err(StoreError::Conflict(_)) => Err(AdminError::Exists("a user with that username or e-mail".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Ends every session of a user and revokes every refresh family (offline ones included).
    async fn end_user_access(&self, user_id: &str, reason: &str) -> Result<(), AdminError> {
        self.store.revoke_user_sessions(user_id, self.now).await?;
        self.store.revoke_user_grants(user_id, None, reason, self.now).await?;
        Ok(())
    }

    /// Withdraws a user's consent for a client and revokes that client's grants (refresh
    /// tokens and, via introspection, access tokens) for the user. Returns the grants revoked.
    pub async fn revoke_consent(&self, user: &User, client_id: &str) -> Result<u64, AdminError> {
        let had = self.store.delete_consent(&user.id, client_id).await?;
        let n = self.store.revoke_user_grants(&user.id, Some(client_id), "consent_revoked", self.now).await?;
        if !had && n == 0 {
            return Err(AdminError::NotFound(format!("consent of {:?} for client {client_id:?}", user.username)));
        }
        Ok(n)
    }

    /// Changes a user's e-mail address (checked like at creation); the new address is not
    /// verified (see [`Admin::save_user`]).
    pub async fn set_user_email(&self, mut user: User, email: &str) -> Result<User, AdminError> {
        validate_email(email)?;
        user.email = Some(email.to_owned());
        self.save_user(user).await
    }

    /// Disables or enables a user; disabling ends their sessions and revokes their refresh
    /// families for good (see [`Admin::save_user`]), so enabling them again restores nothing.
    pub async fn set_user_disabled(&self, mut user: User, disabled: bool) -> Result<User, AdminError> {
        user.disabled = disabled;
        self.save_user(user).await
    }

    /// Creates or updates a scope.
    pub async fn upsert_scope(&self, name: &str, description: &str) -> Result<(), AdminError> {
        validate_scope_name(name).map_err(AdminError::Invalid)?;
        self.store.upsert_scope(&ScopeDef { name: name.into(), description: description.into() }, self.now).await?;
        Ok(())
    }

    /// Applies the declarative provisioning lists: scopes, then clients, then users, each created
    /// when missing and updated when present. Returns one line per change for the log.
    pub async fn provision(&self, p: &Provision) -> Result<Vec<String>, AdminError> {
        let mut done = Vec::new();
        for s in &p.scopes {
            self.upsert_scope(&s.name, &s.description).await?;
        }
        if !p.scopes.is_empty() {
            done.push(format!("{} scope(s) provisioned", p.scopes.len()));
        }
        for c in &p.clients {
            let created = self.provision_client(c).await.map_err(|e| match e {
                AdminError::Invalid(m) => AdminError::Invalid(format!("provision: client {:?}: {m}", c.id)),
                e => e,
            })?;
            done.push(format!("client {:?} {}", c.id, if created { "created" } else { "updated" }));
        }
        for u in &p.users {
            let existing = self.store.find_user(&u.username).await?;
            let hash = match (&u.password, &u.password_hash) {
                // The same password as before keeps its hash: re-applying the provisioning at
                // every start must not count as a password change (which ends all sessions).
                (Some(pw), _)
                    if existing
                        .as_ref()
                        .and_then(|e| e.password_hash.as_deref())
                        .is_some_and(|h| verify_password(&pw.0, h)) =>
                {
                    existing.as_ref().and_then(|e| e.password_hash.clone())
                }
                (Some(pw), _) => Some(hash_password(self.config, &pw.0).map_err(AdminError::Invalid)?),
                (None, Some(h)) => {
                    argon2::password_hash::phc::PasswordHash::new(h).map_err(|_| {
                        AdminError::Invalid(format!("provision: user {:?} has an invalid password_hash", u.username))
                    })?;
                    Some(h.clone())
                }
                (None, None) => None,
            };
            match existing {
                Some(mut existing) => {
                    existing.email = u.email.clone();
                    existing.name = u.name.clone();
                    existing.disabled = u.disabled;
                    if hash.is_some() {
                        existing.password_hash = hash;
                    }
                    self.save_user(existing).await?;
                    done.push(format!("user {:?} updated", u.username));
                }
                None => {
                    let mut user = self.create_user(&u.username, u.email.as_deref(), u.name.as_deref(), hash).await?;
                    if u.disabled {
                        user.disabled = true;
                        self.save_user(user).await?;
                    }
                    done.push(format!("user {:?} created", u.username));
                }
            }
        }
        Ok(done)
    }

    /// Creates or updates one provisioned client. A `client_secret_jwt` client needs the plain
    /// `secret` (a hash cannot be sealed); its sealed copy is kept while the secret is unchanged.
    async fn provision_client(&self, c: &crate::config::ProvisionClient) -> Result<bool, AdminError> {
        let public = c.auth_method == Some(AuthMethod::None);
        let spec = ClientSpec {
            id: Some(c.id.clone()),
            name: c.name.clone(),
            public,
            auth_method: c.auth_method,
            grant_types: c.grant_types.clone(),
            scopes: c.scopes.clone(),
            redirect_uris: c.redirect_uris.clone(),
            access_token_ttl: c.access_token_ttl_secs,
            token_format: c.token_format,
            audience: c.audience.clone(),
            web_origins: c.web_origins.clone(),
            disabled: c.disabled,
            resource_audiences: c.resource_audiences.clone(),
            application_type: c.application_type,
            jwks: c.jwks.clone(),
            jwks_uri: c.jwks_uri.clone(),
            token_endpoint_auth_signing_alg: c.token_endpoint_auth_signing_alg.clone(),
            dpop_bound_access_tokens: c.dpop_bound_access_tokens,
            require_pushed_authorization_requests: c.require_pushed_authorization_requests,
            device_code_ttl_secs: c.device_code_ttl_secs,
        };
        let method = spec.resolved_auth_method()?;
        let secret_hash = match (&c.secret, &c.secret_hash) {
            _ if !method.uses_secret() && (c.secret.is_some() || c.secret_hash.is_some()) => {
                return invalid(format!("a {} client has no secret: remove `secret` / `secret_hash`", method.as_str()));
            }
            (None, Some(_)) if method == AuthMethod::ClientSecretJwt => {
                return invalid(
                    "a client_secret_jwt client needs `secret`, not `secret_hash`: the server must recover it to check the MAC (RFC 7523 section 2.2)",
                );
            }
            (Some(s), _) => Some(jose::keyed_hash(self.hash_key, s.0.as_bytes())),
            (None, Some(h)) => Some(h.clone()),
            (None, None) if !method.uses_secret() => None,
            (None, None) => return invalid("a confidential client needs `secret` or `secret_hash`"),
        };
        let mut client = self.build_client(&spec, secret_hash)?;
        let existing = self.store.get_client(&c.id).await?;
        if let Some(existing) = &existing {
            client.created_at = existing.created_at;
            let mut settings = existing.settings.clone();
            apply_spec_settings(&mut settings, &spec);
            client.settings = settings;
        }
        let secret = c.secret.as_ref().map(|s| PlainSecret(s.0.clone()));
        let unchanged = match (&secret, &client.settings.sealed_secret) {
            (Some(s), Some(sealed)) => {
                crate::client_keys::open_client_secret(self.kek, &c.id, sealed).is_some_and(|open| {
                    aws_lc_rs::constant_time::verify_slices_are_equal(open.expose().as_bytes(), s.0.as_bytes()).is_ok()
                })
            }
            _ => false,
        };
        self.seal_secret(&mut client, if unchanged { None } else { secret.as_ref() })?;
        if existing.is_some() {
            self.save_client(client).await?;
            return Ok(false);
        }
        for s in &client.scopes {
            self.store.ensure_scope(s, self.now).await?;
        }
        self.store.create_client(&client).await?;
        Ok(true)
    }
}

fn validate_username(u: &str) -> Result<(), AdminError> {
    if u.is_empty() || u.chars().count() > 128 || u.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return invalid("username must be 1 to 128 characters without spaces or control characters");
    }
    if u.starts_with(USER_ID_PREFIX) {
        return invalid(format!("username must not start with {USER_ID_PREFIX:?}"));
    }
    Ok(())
}

fn validate_email(e: &str) -> Result<(), AdminError> {
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !e.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok { Ok(()) } else { invalid(format!("{e:?} is not an e-mail address")) }
}

/// Hashes a password with argon2id and the configured parameters (`login.argon2_*`, OWASP
/// defaults). CPU-heavy: call from `spawn_blocking` on a server.
pub fn hash_password(config: &Config, password: &str) -> Result<String, String> {
    if password.is_empty() {
        return Err("the password must not be empty".into());
    }
    let l = &config.login;
    let params = argon2::Params::new(l.argon2_memory_kib, l.argon2_iterations, l.argon2_parallelism, None)
        .map_err(|e| e.to_string())?;
    let salt: [u8; 16] = jose::random_bytes();
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("could not hash the password: {e}"))
}

/// Checks a password against an argon2 PHC string (constant-time inside argon2).
pub fn verify_password(password: &str, phc: &str) -> bool {
    argon2::Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids() {
        assert!(validate_client_id("svc:billing").is_ok());
        assert!(validate_client_id("a b").is_err());
        assert!(validate_client_id("").is_err());
        assert!(validate_client_id("usr_x").is_err());
        assert!(validate_client_id("caf\u{e9}").is_err());
    }

    #[test]
    fn redirect_uri_registration_rules() {
        for ok in [
            "https://c.example/cb",
            "https://c.example/cb?a=1",
            "http://127.0.0.1/cb",
            "http://[::1]:8080/cb",
            "com.example.app:/cb",
        ] {
            assert!(validate_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "https://c.example/cb#x",
            "http://c.example/cb",
            "http://localhost/cb",
            "javascript:alert(1)",
            "data:text/html,x",
            "myapp:/cb",
            "/relative",
            "https://*.c.example/cb",
            "https://c.example/*",
        ] {
            assert!(validate_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_are_long_and_unique() {
        let a = generate_client_secret();
        let b = generate_client_secret();
        assert_ne!(a.0, b.0);
        assert!(a.0.len() >= CLIENT_SECRET_PREFIX.len() + 43);
        assert_eq!(format!("{a:?}"), "PlainSecret(<redacted>)");
    }

    #[test]
    fn password_hash_round_trip() {
        let h = hash_password(&Config::default(), "correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password(&Config::default(), "").is_err());
    }
}
