//! People and their accounts, besides signing in (`oauth::login`, `oauth::flow`): what a user
//! does for themselves and what is mailed to them. No HTTP (handlers are `http/account.rs`), no
//! SQL (the store's `mail_tokens.rs`, `users.rs`).
//!
//! - [`links`]: single-use links mailed to users (e-mail verification, password reset,
//!   invitation): random 256-bit tokens stored as keyed hashes, purpose-bound, short-lived.
//! - [`password`]: "forgot password" (one answer for every address, SECURITY G8), setting a
//!   password from a link, and a signed-in user's password change.
//! - [`verify`]: e-mail verification (OpenID Connect Core §5.1 `email_verified`) and
//!   invitations from the admin CLI.
//!
//! Extending: a new mailed link is a [`links::LinkPurpose`] variant (prefix, path, lifetime,
//! mail template in `crate::pages`) and a function here that takes it.

pub mod links;
pub mod password;
pub mod verify;
