//! Keycard: an OAuth 2.1 and OpenID Connect authorization server.
//!
//! # Layout
//! - [`cli`]: the `keycard` command line (serve, migrate, config, client, user, scope, keys).
//! - [`config`]: configuration (defaults → `keycard.toml` → `KEYCARD_*` environment).
//! - [`state`]: the services protocol logic runs on ([`state::AppState`]); names no HTTP.
//! - [`app`]: start-up, the HTTP server loop and graceful shutdown.
//! - [`http`]: the only module that names axum: routes, extractors, error responses.
//! - [`oauth`]: protocol logic without HTTP or SQL: client authentication, grants, tokens,
//!   introspection, revocation, discovery.
//! - [`pages`]: the HTML pages (login, consent, error, logout, form_post, device): minijinja templates.
//! - [`people`]: accounts besides sign-in: mailed links (verification, password reset,
//!   invitations) and a signed-in user's password change.
//! - [`admin`]: operations shared by the admin CLI and provisioning.
//! - [`validate`]: rules for client ids, redirect URIs, web origins and scope names.
//! - [`model`]: clients, users, scopes, keys, tokens.
//! - [`store`]: the database (SQLite or PostgreSQL) and its conformance suite.
//! - [`keys`]: the signing key ring: creation, rotation, JWKS, encryption at rest.
//! - [`jose`]: JWS signing/verification, key generation, sealing, keyed hashes.
//! - [`mail`]: sending account mails (SMTP, files, log) from a bounded queue, off the request path.
//! - [`cache`]: the in-memory client cache, invalidated across nodes.
//! - [`client_keys`]: clients' registered public keys (`jwks`, `jwks_uri`) and JWS checks with them.
//! - [`clock`]: time, passed in.
//! - [`net`]: CIDR blocks (trusted proxies).
//! - [`secret`]: `Redacted<T>`, the wrapper that keeps secrets out of `Debug` output.
//! - [`password`]: argon2id hashing behind a concurrency limit.
//! - [`client_locks`]: the per-node memory of locked (client, address) pairs.
//! - [`constant_values`]: the per-node memory of PKCE challenges and nonces reused by a client.
//! - [`dev`]: code that is not the server: the example clients `keycard login` and
//!   `keycard device-login` (any issuer), and [`dev::demo`] (also at [`demo`]), `keycard serve
//!   --demo`: a demo API protected with `keycard-resource`, its clients and user.
//! - [`testing`]: a real server on a random loopback port, for tests.

pub mod admin;
pub mod app;
pub mod cache;
pub mod cli;
pub mod client_keys;
pub mod client_locks;
pub mod clock;
pub mod config;
pub mod constant_values;
pub mod dev;
pub mod http;
pub mod jose;
pub mod keys;
pub mod mail;
pub mod model;
pub mod net;
pub mod oauth;
pub mod pages;
pub mod password;
pub mod people;
pub mod secret;
pub mod state;
pub mod store;
pub mod testing;
pub mod validate;

/// `keycard serve --demo`, at its former path; it lives in [`dev::demo`].
pub use dev::demo;
