//! The domain model: what the store keeps and the protocol code works on. Plain data with no I/O.
//! Adding a field to [`Client`] that needs no index: put it in [`ClientSettings`] (stored as JSON),
//! so no migration is needed.

use crate::clock::UnixTime;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a client authenticates at the token endpoint (RFC 7591 §2 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// RFC 6749 §2.3.1: HTTP Basic with form-encoded id and secret.
    ClientSecretBasic,
    /// RFC 6749 §2.3.1: `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT assertion signed with one of the client's registered
    /// public keys (`jwks` or `jwks_uri`); the server holds no secret.
    PrivateKeyJwt,
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT assertion MACed (HS256) with the client secret; the
    /// server must be able to recover the secret, so it is kept sealed, not only hashed.
    ClientSecretJwt,
    /// A public client: no secret (RFC 6749 §2.1).
    None,
}

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::ClientSecretJwt => "client_secret_jwt",
            Self::None => "none",
        }
    }

    /// Does the client hold a shared secret (basic, post, client_secret_jwt)?
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost | Self::ClientSecretJwt)
    }

    /// Does the client authenticate with a JWT assertion (RFC 7523 §2.2)?
    pub fn uses_assertion(self) -> bool {
        matches!(self, Self::PrivateKeyJwt | Self::ClientSecretJwt)
    }
}

impl std::str::FromStr for AuthMethod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "client_secret_basic" => Ok(Self::ClientSecretBasic),
            "client_secret_post" => Ok(Self::ClientSecretPost),
            "private_key_jwt" => Ok(Self::PrivateKeyJwt),
            "client_secret_jwt" => Ok(Self::ClientSecretJwt),
            "none" => Ok(Self::None),
            _ => Err(format!(
                "unknown auth method {s:?} (expected client_secret_basic, client_secret_post, private_key_jwt, client_secret_jwt or none)"
            )),
        }
    }
}

/// A grant type a client may use (RFC 6749 §4, RFC 8628).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.1.
    #[serde(rename = "authorization_code")]
    AuthorizationCode,
    /// RFC 6749 §4.4.
    #[serde(rename = "client_credentials")]
    ClientCredentials,
    /// RFC 6749 §6.
    #[serde(rename = "refresh_token")]
    RefreshToken,
    /// RFC 8628 §3.4.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code", alias = "device_code")]
    DeviceCode,
    /// RFC 6749 §4.3 (legacy, off by default).
    #[serde(rename = "password")]
    Password,
    /// RFC 6749 §4.2 (legacy, off by default).
    #[serde(rename = "implicit")]
    Implicit,
}

impl GrantType {
    /// Every grant type.
    pub const ALL: [GrantType; 6] = [
        Self::AuthorizationCode,
        Self::ClientCredentials,
        Self::RefreshToken,
        Self::DeviceCode,
        Self::Password,
        Self::Implicit,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::DeviceCode => "urn:ietf:params:oauth:grant-type:device_code",
            Self::Password => "password",
            Self::Implicit => "implicit",
        }
    }
}

impl std::str::FromStr for GrantType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = if s == "device_code" { Self::DeviceCode.as_str() } else { s };
        Self::ALL.into_iter().find(|g| g.as_str() == s).ok_or_else(|| {
            format!("unknown grant type {s:?} (expected one of authorization_code, client_credentials, refresh_token, device_code, password, implicit)")
        })
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The format of a client's access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TokenFormat {
    /// RFC 9068 JWT, verifiable offline by resource servers; no database write to issue.
    #[default]
    Jwt,
    /// A random reference token, stored hashed, checked by introspection (RFC 7662).
    Opaque,
}

impl TokenFormat {
    /// The config/CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jwt => "jwt",
            Self::Opaque => "opaque",
        }
    }
}

impl std::str::FromStr for TokenFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jwt" => Ok(Self::Jwt),
            "opaque" => Ok(Self::Opaque),
            _ => Err(format!("unknown token format {s:?} (expected jwt or opaque)")),
        }
    }
}

/// RFC 7591 §2 / OIDC Registration `application_type`: decides how loopback redirect URIs match
/// (RFC 8252 §7.3: any port for native apps only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A web application (the RFC 7591 default): redirect URIs match exactly, port included.
    Web,
    /// A native (desktop or mobile) app: loopback redirect URIs match on any port.
    Native,
}

impl ApplicationType {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

impl std::str::FromStr for ApplicationType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "web" => Ok(Self::Web),
            "native" => Ok(Self::Native),
            _ => Err(format!("unknown application type {s:?} (expected web or native)")),
        }
    }
}

/// Client options that need no index, kept as one JSON column so later features add fields
/// without a migration. Unknown fields in the stored JSON are ignored; missing ones take defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientSettings {
    /// Audience (`aud`) of this client's access tokens; the server default when absent.
    pub audience: Option<String>,
    /// Post-logout redirect URIs (OpenID Connect RP-Initiated Logout).
    pub post_logout_redirect_uris: Vec<String>,
    /// Browser origins allowed for CORS.
    pub web_origins: Vec<String>,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// Allow authorization requests without PKCE (confidential clients only).
    pub pkce_optional: bool,
    /// Logo shown on the consent page.
    pub logo_uri: Option<String>,
    /// Rotate refresh tokens on every use (always on for public clients).
    pub refresh_rotation: Option<bool>,
    /// Replay window (seconds) in which the immediately previous refresh token gets the same
    /// successor pair again instead of revoking the family (0 = off, the secure default).
    pub refresh_replay_window_secs: i64,
    /// How many replays the window allows.
    pub refresh_replay_max: i64,
    /// Issue refresh tokens for OpenID requests even without `offline_access`.
    pub always_issue_refresh_token: bool,
    /// ID token signing algorithm (OpenID Connect Registration `id_token_signed_response_alg`).
    pub id_token_signed_response_alg: Option<crate::jose::Alg>,
    /// The resource-server role: the audiences (resource identifiers, the `aud` of access
    /// tokens) this client serves. It may introspect access tokens whose `aud` is one of them,
    /// besides its own tokens (RFC 7662 §2.1, §4; SECURITY E4). Empty: not a resource server.
    pub resource_audiences: Vec<String>,
    /// RFC 7591 §2 `application_type`. `None` (clients stored before the field existed, and
    /// clients registered without it) is inferred by [`Client::application_type`].
    pub application_type: Option<ApplicationType>,
    /// RFC 7591 §2 `jwks`: the client's public keys inline, as a JWK Set JSON object
    /// (`private_key_jwt` assertions, signed request objects). Never together with `jwks_uri`.
    pub jwks: Option<serde_json::Value>,
    /// RFC 7591 §2 `jwks_uri`: where the client publishes its JWK Set (https, or http on loopback).
    pub jwks_uri: Option<String>,
    /// RFC 7591 §2 `token_endpoint_auth_signing_alg`: the only JWS `alg` accepted for this
    /// client's assertions; `None` accepts any supported alg that fits the key.
    pub token_endpoint_auth_signing_alg: Option<String>,
    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: the client must present a DPoP proof at /token.
    pub dpop_bound_access_tokens: bool,
    /// RFC 9126 §6 `require_pushed_authorization_requests`: /authorize only with a PAR request_uri.
    pub require_pushed_authorization_requests: bool,
    /// RFC 8628 §3.2: lifetime of this client's device codes; `None` takes `device.code_ttl_secs`.
    pub device_code_ttl_secs: Option<i64>,
    /// For `client_secret_jwt` only: the secret sealed (AES-256-GCM, base64) with the server's
    /// key-encryption key, because verifying an HMAC needs the secret itself (RFC 7523 §2.2).
    /// Never printed; `secret_hash` stays the check for every other use.
    pub sealed_secret: Option<String>,
}

/// A registered client (RFC 6749 §2).
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    /// The client identifier (RFC 6749 §2.2): printable ASCII.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Keyed hash of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// Token endpoint authentication method.
    pub auth_method: AuthMethod,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// Scopes the client may request.
    pub scopes: Vec<String>,
    /// Registered redirect URIs, compared by exact string match.
    pub redirect_uris: Vec<String>,
    /// Access token lifetime in seconds.
    pub access_token_ttl: i64,
    /// Access token format.
    pub token_format: TokenFormat,
    /// A disabled client cannot authenticate.
    pub disabled: bool,
    /// Options without their own column.
    pub settings: ClientSettings,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

impl Client {
    /// Public clients have no secret (RFC 6749 §2.1).
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// RFC 7591 §2 `application_type`. When none was registered (every client stored before the
    /// field existed): a public client with a loopback (`http://127.0.0.1`, `http://[::1]`,
    /// `http://localhost`) or private-use-scheme redirect URI is `native`, so the native apps that
    /// relied on RFC 8252 §7.3 any-port matching keep working; everything else is `web`, the
    /// RFC 7591 default, whose redirect URIs match exactly.
    pub fn application_type(&self) -> ApplicationType {
        if let Some(t) = self.settings.application_type {
            return t;
        }
        let native_uri = |u: &String| {
            let loopback = ["http://127.0.0.1", "http://[::1]", "http://localhost"]
                .iter()
                .any(|p| u.strip_prefix(p).is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/'])));
            let private_scheme =
                u.split_once(':').is_some_and(|(scheme, _)| scheme.contains('.') && !scheme.starts_with("http"));
            loopback || private_scheme
        };
        if self.is_public() && self.redirect_uris.iter().any(native_uri) {
            ApplicationType::Native
        } else {
            ApplicationType::Web
        }
    }

    /// May the client use `grant`?
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// RFC 7662 §4: may this client learn about an access token issued to `token_client` for
    /// `audience`? Only when it is that client, or a resource server for that audience.
    pub fn may_introspect(&self, token_client: &str, audience: &str) -> bool {
        self.id == token_client || self.settings.resource_audiences.iter().any(|a| a == audience)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("secret_hash", &self.secret_hash.as_ref().map(|_| "<redacted>"))
            .field("auth_method", &self.auth_method)
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A user (resource owner).
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identifier, the OpenID Connect `sub`. Always starts with `usr_`, which client ids
    /// may not, so a user's subject never equals a client's (RFC 9700 §4.15.1).
    pub id: String,
    /// Login name, unique case-insensitively.
    pub username: String,
    /// E-mail address, unique case-insensitively when set.
    pub email: Option<String>,
    /// Has the e-mail been verified?
    pub email_verified: bool,
    /// Full name (OpenID Connect `name`).
    pub name: Option<String>,
    /// argon2id PHC string; `None` when no password is set.
    pub password_hash: Option<String>,
    /// A disabled user cannot sign in and their tokens stop working.
    pub disabled: bool,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last change.
    pub updated_at: UnixTime,
}

/// The prefix of every user id.
pub const USER_ID_PREFIX: &str = "usr_";

/// The prefix of pairwise subject identifiers (OpenID Connect Core §8.1).
pub const PAIRWISE_SUBJECT_PREFIX: &str = "pw_";

/// Every prefix a user's `sub` can have (public: the user id; pairwise). Client ids may start with
/// none of them, so the `sub` of a client-credentials token (the client id) is never a user's
/// (RFC 9700 §4.15.1, SECURITY E4).
pub const USER_SUBJECT_PREFIXES: [&str; 2] = [USER_ID_PREFIX, PAIRWISE_SUBJECT_PREFIX];

/// Is `sub` (as a client or resource server sees it) a user rather than a client?
pub fn is_user_subject(sub: &str) -> bool {
    USER_SUBJECT_PREFIXES.iter().any(|p| sub.starts_with(p))
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("email", &self.email)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A scope the server knows, with the description shown on the consent page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDef {
    /// The scope token.
    pub name: String,
    /// Human description.
    pub description: String,
}

/// A signing key as stored: the private key sealed with the key-encryption key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Key id (`kid`).
    pub kid: String,
    /// Algorithm name (`ES256`, `RS256`, `EdDSA`).
    pub alg: String,
    /// Sealed PKCS#8 private key, base64.
    pub private_key: String,
    /// Public JWK as JSON.
    pub public_jwk: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// When it stopped signing (`None` while active).
    pub retired_at: Option<UnixTime>,
    /// After a rotation: the public key stays in the JWKS until then.
    pub publish_until: Option<UnixTime>,
}

impl fmt::Debug for StoredKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("retired_at", &self.retired_at)
            .field("publish_until", &self.publish_until)
            .finish_non_exhaustive()
    }
}

/// An opaque access token as stored (only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccessToken {
    /// Keyed hash of the token.
    pub token_hash: String,
    /// Token id.
    pub jti: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Subject.
    pub subject: String,
    /// Granted scope (space separated).
    pub scope: String,
    /// Audience.
    pub audience: String,
    /// The grant (authorization code or refresh family) it came from, if any.
    pub grant_id: Option<String>,
    /// Issue time.
    pub issued_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
    /// RFC 9449 §6.2: the DPoP key thumbprint the token is bound to (`cnf.jkt`).
    pub dpop_jkt: Option<String>,
}

/// A pending authorization request (docs/architecture.md, "Pending authorizations"): validated once, stored server-side under a
/// random id; the login and consent pages carry only that id. Bound to the browser that started
/// it by a keyed hash of its browser cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRequest {
    /// Random id (≥128 bits).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The validated request as JSON (`oauth::authorize::AuthorizationRequest`).
    pub request: String,
    /// Keyed hash of the browser-binding cookie.
    pub browser_hash: String,
    /// The session that authenticated for this request.
    pub session_sid: Option<String>,
    /// The user signed in during this request (prompt=login / max_age satisfied).
    pub login_done: bool,
    /// The user consented during this request.
    pub consent_done: bool,
    /// Set once a response (code or error) went out: single use.
    pub completed_at: Option<UnixTime>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// A single sign-on session (the browser's session cookie, stored as a keyed hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Keyed hash of the cookie value.
    pub token_hash: String,
    /// Public session id (OpenID Connect `sid`).
    pub sid: String,
    /// The user.
    pub user_id: String,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// Authentication methods (space separated, e.g. `pwd`).
    pub amr: String,
    /// Creation time.
    pub created_at: UnixTime,
    /// Last use.
    pub last_seen_at: UnixTime,
    /// Expires when idle past this.
    pub idle_expires_at: UnixTime,
    /// Absolute expiry.
    pub expires_at: UnixTime,
    /// Logout time.
    pub revoked_at: Option<UnixTime>,
}

impl Session {
    /// Usable at `now`?
    pub fn is_active(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && now < self.idle_expires_at && now < self.expires_at
    }
}

/// An authorization code as stored (only its hash), RFC 6749 §4.1.2: bound to client,
/// redirect URI, PKCE challenge, nonce, scope and session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCode {
    /// Keyed hash of the code.
    pub code_hash: String,
    /// The grant created when the code is redeemed (inserting it consumes the code).
    pub grant_id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The session.
    pub session_sid: String,
    /// The effective redirect URI.
    pub redirect_uri: String,
    /// Was `redirect_uri` sent in the authorization request (then the token request must repeat it)?
    pub redirect_uri_given: bool,
    /// Granted scope.
    pub scope: String,
    /// OpenID Connect nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry (60 s by default).
    pub expires_at: UnixTime,
    /// RFC 9449 §10: the `dpop_jkt` of the authorization request; redeeming needs a proof by
    /// that key.
    pub dpop_jkt: Option<String>,
}

/// What a user authorized a client to do, created when a code is redeemed. It anchors every
/// token issued from that code and holds the refresh-token family: the hash of the current
/// refresh token and its generation, so that a rotation is one conditional UPDATE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Id (= the code's grant id).
    pub id: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The session it came from.
    pub session_sid: Option<String>,
    /// Granted scope.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: UnixTime,
    /// Keyed hash of the current refresh token, if one was issued.
    pub refresh_hash: Option<String>,
    /// Keyed hash of the refresh token it replaced.
    pub prev_refresh_hash: Option<String>,
    /// Generation of the current refresh token (0 for the first).
    pub generation: i64,
    /// The refresh token expires when unused past this.
    pub refresh_idle_expires_at: Option<UnixTime>,
    /// Absolute expiry of the refresh-token family.
    pub refresh_expires_at: Option<UnixTime>,
    /// Time of the last rotation.
    pub rotated_at: Option<UnixTime>,
    /// The sealed response of the last rotation, replayed within the client's replay window.
    pub replay_response: Option<String>,
    /// How often the last rotation was replayed.
    pub replay_count: i64,
    /// Creation time.
    pub created_at: UnixTime,
    /// When the row may be purged (the family's end, or the access tokens' end).
    pub expires_at: UnixTime,
    /// Revocation time.
    pub revoked_at: Option<UnixTime>,
    /// Why it was revoked.
    pub revoked_reason: Option<String>,
    /// RFC 9449 §5: the DPoP key a public client's refresh tokens are bound to.
    pub dpop_jkt: Option<String>,
}

/// State of a device authorization request (RFC 8628 §3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceStatus {
    /// The user has not acted yet.
    Pending,
    /// The user approved; tokens not yet delivered.
    Approved,
    /// The user denied.
    Denied,
    /// Tokens were delivered (exactly once).
    Consumed,
}

impl DeviceStatus {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Consumed => "consumed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied, Self::Consumed].into_iter().find(|x| x.as_str() == s)
    }
}

/// A device authorization request (RFC 8628 §3.1–3.2); both codes are stored only as keyed hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRequest {
    /// Keyed hash of the device code.
    pub device_hash: String,
    /// Keyed hash of the normalised user code.
    pub user_code_hash: String,
    /// The device's client.
    pub client_id: String,
    /// Requested scope.
    pub scope: String,
    /// State.
    pub status: DeviceStatus,
    /// The user who acted.
    pub user_id: Option<String>,
    /// Their session.
    pub session_sid: Option<String>,
    /// When they authenticated.
    pub auth_time: Option<UnixTime>,
    /// Minimum seconds between polls (grows by 5 on `slow_down`).
    pub poll_interval: i64,
    /// Last poll.
    pub last_polled_at: Option<UnixTime>,
    /// Creation time.
    pub created_at: UnixTime,
    /// Expiry.
    pub expires_at: UnixTime,
}
