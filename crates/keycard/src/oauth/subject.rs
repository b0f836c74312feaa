//! Subject identifiers: the `sub` a client sees (OpenID Connect Core §8; RFC 9068 §2.2;
//! RFC 9700 §4.15.1). Every place that hands a `sub` to a client — ID tokens, JWT access tokens,
//! introspection, UserInfo — takes it from here, so the subject type cannot leak the internal
//! user id through one of them (issue 14, defect 7).
//!
//! - A user: with `oidc.subject_type = "public"` the user id (`usr_…`); with `"pairwise"` a keyed
//!   hash of the client's sector and the user id (`pw_…`), so two sectors cannot correlate users.
//! - A client acting for itself (client credentials): its client id. Client ids may not start
//!   with a user prefix ([`USER_SUBJECT_PREFIXES`](crate::model::USER_SUBJECT_PREFIXES)), so it is
//!   never a user's `sub`.
//!
//! The internal user id stays on the server: a token on behalf of a user names its grant (JWT
//! `gid`, or the stored opaque token's row), and the grant names the user. A new subject type is
//! one more arm in [`for_user`].

use crate::config::SubjectType;
use crate::jose;
use crate::model::{Client, PAIRWISE_SUBJECT_PREFIX, USER_ID_PREFIX};
use crate::state::AppState;

/// OIDC Core §8: the `sub` `client` sees for the user `user_id`. Public: the user id. Pairwise
/// (§8.1): a keyed hash of the client's sector (the host of its first redirect URI, else its id)
/// and the user id.
pub fn for_user(state: &AppState, user_id: &str, client: &Client) -> String {
    match state.config.oidc.subject_type {
        SubjectType::Public => user_id.to_owned(),
        SubjectType::Pairwise => {
            let sector = client
                .redirect_uris
                .first()
                .and_then(|u| url::Url::parse(u).ok())
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_else(|| client.id.clone());
            let h = jose::keyed_hash(&state.secrets.hash_key, format!("pairwise\0{sector}\0{user_id}").as_bytes());
            format!("{PAIRWISE_SUBJECT_PREFIX}{h}")
        }
    }
}

/// The `sub` `client` sees for a token whose internal subject is `subject` (a user id, or the
/// client id for client credentials).
pub fn for_token(state: &AppState, subject: &str, client: &Client) -> String {
    if subject.starts_with(USER_ID_PREFIX) { for_user(state, subject, client) } else { subject.to_owned() }
}
