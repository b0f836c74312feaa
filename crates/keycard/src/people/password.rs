//! Passwords outside sign-in: "forgot password", setting a password from a mailed link (reset or
//! invitation), and a signed-in user's password change (RFC 6819 §5.1.4.2.3 ff., OAuth 2.1 §7.7;
//! docs/security.md G8, G9, "Account mails").
//!
//! - **Forgot** ([`forgot`]): every address gets the same page, status and time (SECURITY G8):
//!   the request only counts attempts (per IP: 429 past `mail.forgot_max_per_ip`; per typed login:
//!   past `mail.forgot_max_per_address` nothing more is sent, same answer) and queues a job; the
//!   outbox task looks the user up, issues the link and renders the mail. Unknown, disabled and
//!   address-less users get nothing; only real requests are audited.
//! - **Reset** ([`reset_submit`]): the link is checked, the new password hashed, then the link
//!   used by one conditional statement (a lost race changes nothing); the password is saved
//!   through [`Admin::save_user`], which ends every session and revokes every refresh family of
//!   the user (a reset means the old password may be known to someone else) and retires the
//!   user's other password links. Nobody is signed in by it: the user signs in with the new
//!   password, through the client's own flow.
//! - **Change** ([`change_password`]): the current password is checked by the sign-in code
//!   (same counters and lockout, G9); the user's other sessions end, this one stays, refresh
//!   tokens are kept.
//!
//! Extending: another way to set a password must end in [`Admin::save_user`] (or, for the user
//! themselves, do what [`change_password`] does) so sessions and links follow the change.

use super::links::{self, LinkPurpose};
use crate::admin::Admin;
use crate::model::{Session, User};
use crate::oauth::OAuthError;
use crate::oauth::login::{self, LoginError};
use crate::state::AppState;
use crate::store::{StoreError, fold_login};

/// The shortest password accepted (characters), everywhere a password is chosen.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// The longest password accepted (bytes): argon2 takes any length, the hashing threads need not.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The rule for a new password (the CLI's `user create` and `set-password` use it too).
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!("the password must be at least {MIN_PASSWORD_CHARS} characters"));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!("the password must be at most {MAX_PASSWORD_BYTES} bytes"));
    }
    Ok(())
}

/// A new password typed twice: the message for the page when it is refused.
fn check_pair(new: &str, repeated: &str) -> Result<(), String> {
    if new != repeated {
        return Err("The two passwords differ.".into());
    }
    check_new_password(new).map_err(|e| {
        let mut e = e;
        e[..1].make_ascii_uppercase();
        format!("{e}.")
    })
}

/// The answer to a "forgot password" request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForgotOutcome {
    /// "If an account exists, we sent a link" — for every address.
    Sent,
    /// Too many requests from this address (429 with `Retry-After`).
    Throttled {
        /// Seconds before a retry.
        retry_after: i64,
    },
    /// Mail is off: no reset by mail.
    Unavailable,
}

/// `POST /password/forgot`: counts the request and queues the mail (see the module doc).
pub async fn forgot(state: &AppState, login: &str, ip: &str) -> Result<ForgotOutcome, StoreError> {
    if !state.mail.mailer().enabled() {
        return Ok(ForgotOutcome::Unavailable);
    }
    let (now, window, mail) = (state.clock.now(), state.config.login.window_secs, &state.config.mail);
    let by_ip =
        state.store.count_login_attempt(&format!("forgot-ip:{ip}"), now, window, mail.forgot_max_per_ip).await?;
    if by_ip.attempts > mail.forgot_max_per_ip {
        return Ok(ForgotOutcome::Throttled { retry_after: window });
    }
    let login = login.trim();
    if login.is_empty() || login.len() > 256 {
        return Ok(ForgotOutcome::Sent);
    }
    let key = format!("forgot:{}", fold_login(login));
    let by_login = state.store.count_login_attempt(&key, now, window, mail.forgot_max_per_address).await?;
    if by_login.attempts > mail.forgot_max_per_address {
        tracing::info!("password reset requests for one login over mail.forgot_max_per_address: nothing sent");
        return Ok(ForgotOutcome::Sent);
    }
    let (job_state, login) = (state.clone(), login.to_owned());
    state
        .mail
        .submit(LinkPurpose::ResetPassword.as_str(), Box::pin(async move { prepare_reset(job_state, login).await }));
    Ok(ForgotOutcome::Sent)
}

/// The outbox job of a reset request: the user the login names, if it may have a link, its
/// link and mail. Errors are logged (without the login: it may be a mistyped password).
async fn prepare_reset(state: AppState, login: String) -> Option<crate::mail::Email> {
    let now = state.clock.now();
    let result = async {
        let Some(user) = state.store.find_login_user(&login).await? else { return Ok(None) };
        if user.disabled || user.email.is_none() {
            return Ok(None);
        }
        let cfg = &state.config;
        let Some(link) =
            links::issue(&state.store, &state.secrets.hash_key, cfg, &user, LinkPurpose::ResetPassword, now).await?
        else {
            return Ok(None);
        };
        state.store.record_event(now, "password_reset_requested", None, Some(&user.id), &serde_json::json!({})).await?;
        Ok::<_, StoreError>(Some((user, link)))
    }
    .await;
    match result {
        Ok(Some((user, link))) => {
            match links::compose(&state.pages, &state.config.mail, &user, LinkPurpose::ResetPassword, &link) {
                Ok(m) => Some(m),
                Err(e) => {
                    tracing::error!(error = %e, "cannot render the password reset mail");
                    None
                }
            }
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "password reset request failed");
            None
        }
    }
}

/// A password link that works now, with its user (enabled) and purpose.
pub async fn reset_link(state: &AppState, token: &str) -> Result<Option<(User, LinkPurpose)>, StoreError> {
    let allowed = [LinkPurpose::ResetPassword, LinkPurpose::Invite];
    let now = state.clock.now();
    let Some((purpose, row)) = links::peek(&state.store, &state.secrets.hash_key, token, &allowed, now).await? else {
        return Ok(None);
    };
    let user = state.store.get_user(&row.user_id).await?.filter(|u| !u.disabled);
    Ok(user.map(|u| (u, purpose)))
}

/// What setting a password from a link came to.
#[derive(Debug)]
pub enum ResetOutcome {
    /// Saved; the user signs in with it.
    Done {
        /// It was an invitation (the first password).
        invite: bool,
    },
    /// The form again, with a message (passwords differ, too short).
    Retry {
        /// The account.
        username: String,
        /// It is an invitation.
        invite: bool,
        /// What to fix.
        error: String,
    },
    /// The link is unknown, used, expired or its user disabled.
    Invalid,
}

/// `POST /password/reset`: sets the password of the link's user (see the module doc).
pub async fn reset_submit(
    state: &AppState,
    token: &str,
    new: &str,
    repeated: &str,
) -> Result<ResetOutcome, OAuthError> {
    let Some((user, purpose)) = reset_link(state, token).await? else { return Ok(ResetOutcome::Invalid) };
    let invite = purpose == LinkPurpose::Invite;
    if let Err(error) = check_pair(new, repeated) {
        return Ok(ResetOutcome::Retry { username: user.username, invite, error });
    }
    let hash = state.hashing.hash(new).await.map_err(|e| OAuthError::server_error(std::io::Error::other(e)))?;
    let now = state.clock.now();
    let allowed = [LinkPurpose::ResetPassword, LinkPurpose::Invite];
    let Some((_, row)) = links::take(&state.store, &state.secrets.hash_key, token, &allowed, now).await? else {
        return Ok(ResetOutcome::Invalid);
    };
    let Some(mut user) = state.store.get_user(&row.user_id).await?.filter(|u| !u.disabled) else {
        return Ok(ResetOutcome::Invalid);
    };
    user.password_hash = Some(hash);
    // The link reached this address: it is the user's (when it still is their address).
    if user.email.as_deref() == Some(row.email.as_str()) {
        user.email_verified = true;
    }
    let admin = Admin {
        store: &state.store,
        config: &state.config,
        hash_key: &state.secrets.hash_key,
        kek: &state.secrets.kek,
        now,
    };
    admin.save_user(user).await.map_err(|e| OAuthError::server_error(std::io::Error::other(e.to_string())))?;
    let kind = if invite { "invitation_accepted" } else { "password_reset" };
    state.store.record_event(now, kind, None, Some(&row.user_id), &serde_json::json!({ "via": "mail" })).await?;
    Ok(ResetOutcome::Done { invite })
}

/// What a password change came to.
#[derive(Debug)]
pub enum ChangeOutcome {
    /// Changed; the user's other sessions ended.
    Done,
    /// The form again, with a message.
    Retry(String),
    /// Too many wrong current passwords: locked for this many seconds (429).
    Locked {
        /// Seconds until the lock ends.
        retry_after: i64,
    },
    /// The hashing queue is full (503).
    Overloaded {
        /// Seconds before a retry.
        retry_after: i64,
    },
}

/// `POST /account/password`: the signed-in `user` (of `session`) changes their password.
pub async fn change_password(
    state: &AppState,
    session: &Session,
    user: &User,
    current: &str,
    new: &str,
    repeated: &str,
    ip: &str,
) -> Result<ChangeOutcome, OAuthError> {
    if let Err(e) = check_pair(new, repeated) {
        return Ok(ChangeOutcome::Retry(e));
    }
    match login::password_login(state, &user.username, current, ip).await {
        Ok(u) if u.id == user.id => {}
        Ok(_) | Err(LoginError::Invalid) => {
            return Ok(ChangeOutcome::Retry("The current password is not correct.".into()));
        }
        Err(LoginError::Locked { retry_after }) => return Ok(ChangeOutcome::Locked { retry_after }),
        Err(LoginError::Overloaded { retry_after }) => return Ok(ChangeOutcome::Overloaded { retry_after }),
        Err(LoginError::Store(e)) => return Err(e.into()),
        Err(LoginError::Internal(e)) => return Err(OAuthError::server_error(std::io::Error::other(e))),
    }
    if new == current {
        return Ok(ChangeOutcome::Retry("The new password is the current one.".into()));
    }
    let hash = state.hashing.hash(new).await.map_err(|e| OAuthError::server_error(std::io::Error::other(e)))?;
    let now = state.clock.now();
    let Some(mut fresh) = state.store.get_user(&user.id).await?.filter(|u| !u.disabled) else {
        return Ok(ChangeOutcome::Retry("This account cannot be changed now.".into()));
    };
    fresh.password_hash = Some(hash);
    fresh.updated_at = now;
    state.store.update_user(&fresh).await?;
    state.store.revoke_other_sessions(&user.id, &session.sid, now).await?;
    state.store.retire_password_links(&user.id, now).await?;
    state
        .store
        .record_event(now, "password_changed", None, Some(&user.id), &serde_json::json!({ "via": "account" }))
        .await?;
    Ok(ChangeOutcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_new_password("1234567").is_err());
        assert!(check_new_password("12345678").is_ok());
        assert!(check_new_password("äöüäöüäö").is_ok(), "characters, not bytes");
        assert!(check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert_eq!(check_pair("abcdefgh", "abcdefgx").unwrap_err(), "The two passwords differ.");
        assert_eq!(check_pair("short", "short").unwrap_err(), "The password must be at least 8 characters.");
        assert!(check_pair("long enough", "long enough").is_ok());
    }
}
