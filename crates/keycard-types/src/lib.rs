//! Wire types of OAuth 2.1 and OpenID Connect shared by the Keycard server and the
//! `keycard-resource` library: error codes, token responses, server metadata, access-token
//! claims and scopes. Serde only; no I/O.
//!
//! # Layout
//! - [`error`]: RFC 6749 §5.2 / §4.1.2.1 and RFC 6750 §3.1 error codes and the error body.
//! - [`response`]: the RFC 6749 §5.1 token response, RFC 7662 introspection response.
//! - [`metadata`]: RFC 8414 authorization server metadata.
//! - [`claims`]: RFC 9068 JWT access-token claims.
//! - [`scope`]: the RFC 6749 §3.3 scope parameter.
//! - [`secret`]: [`SecretString`], a secret field whose `Debug` is redacted.
#![deny(missing_docs)]

pub mod claims;
pub mod error;
pub mod metadata;
pub mod response;
pub mod scope;
pub mod secret;

pub use claims::{AccessTokenClaims, Confirmation};
pub use error::{ErrorBody, ErrorCode};
pub use metadata::ServerMetadata;
pub use response::{IntrospectionResponse, TokenResponse};
pub use scope::{Scope, ScopeError};
pub use secret::SecretString;
