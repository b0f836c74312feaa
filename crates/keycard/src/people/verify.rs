//! E-mail verification (OpenID Connect Core §5.1 `email_verified`, which the ID token and
//! UserInfo report from the user's record) and invitations.
//!
//! - A verification link is mailed when the admin CLI creates a user with `--email`, changes an
//!   address (`keycard user set-email`), and by `keycard user verify-email` or the account page. `GET /email/verify?token=…` uses it once and marks
//!   the address verified only if it is still the user's address (a link to an old address
//!   verifies nothing); changing the address clears `email_verified` (`Admin::save_user`).
//!   The GET itself uses the link (no form): a mail scanner that opens it confirms the address,
//!   which only shows the mail reached that mailbox, what the link is meant to prove.
//! - An invitation (`keycard user invite`) creates the user without a password (no password
//!   sign-in is possible, and the sign-in code checks a dummy hash for such a user, so nothing
//!   tells it apart from a wrong password) and mails a set-password link (`mail.invite_ttl_secs`),
//!   or prints it with `--print-link`. Setting the password from it also verifies the address.
//!
//! The CLI has no outbox: [`Mailing`] sends at once and reports failures to the operator.

use super::links::{self, Link, LinkPurpose};
use crate::clock::UnixTime;
use crate::config::Config;
use crate::mail::{MailError, Mailer};
use crate::model::User;
use crate::pages::Pages;
use crate::state::AppState;
use crate::store::{Store, StoreError};

/// `GET /email/verify?token=…`: uses the link; true when the address is now verified.
pub async fn verify_email(state: &AppState, token: &str) -> Result<bool, StoreError> {
    let now = state.clock.now();
    let key = &state.secrets.hash_key;
    let Some((_, row)) = links::take(&state.store, key, token, &[LinkPurpose::VerifyEmail], now).await? else {
        return Ok(false);
    };
    if !state.store.mark_email_verified(&row.user_id, &row.email, now).await? {
        return Ok(false);
    }
    state.store.record_event(now, "email_verified", None, Some(&row.user_id), &serde_json::json!({})).await?;
    Ok(true)
}

/// A signed-in user asks for a new verification link (the account page): queued like a reset
/// mail, at most `mail.forgot_max_per_address` per `login.window_secs` per user (more are
/// answered alike and send nothing). False when mail is off or the address is verified already.
pub async fn resend_verification(state: &AppState, user: &User) -> Result<bool, StoreError> {
    if !state.mail.mailer().enabled() || user.email_verified || user.email.is_none() {
        return Ok(false);
    }
    let (now, mail) = (state.clock.now(), &state.config.mail);
    let key = format!("verify:{}", user.id);
    let a =
        state.store.count_login_attempt(&key, now, state.config.login.window_secs, mail.forgot_max_per_address).await?;
    if a.attempts > mail.forgot_max_per_address {
        return Ok(true);
    }
    let (job_state, user) = (state.clone(), user.clone());
    state.mail.submit(
        LinkPurpose::VerifyEmail.as_str(),
        Box::pin(async move {
            let s = &job_state;
            let now = s.clock.now();
            let link =
                links::issue(&s.store, &s.secrets.hash_key, &s.config, &user, LinkPurpose::VerifyEmail, now).await;
            match link {
                Ok(Some(link)) => links::compose(&s.pages, &s.config.mail, &user, LinkPurpose::VerifyEmail, &link)
                    .map_err(|e| tracing::error!(error = %e, "cannot render the verification mail"))
                    .ok(),
                Ok(None) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot issue a verification link");
                    None
                }
            }
        }),
    );
    Ok(true)
}

/// Why a link could not be mailed from the CLI.
#[derive(Debug, thiserror::Error)]
pub enum MailingError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The mail could not be rendered (a broken template override).
    #[error(transparent)]
    Page(#[from] crate::pages::PageError),
    /// The mail could not be sent.
    #[error(transparent)]
    Mail(#[from] MailError),
}

/// Issues and mails links at once, outside the server (the admin CLI).
pub struct Mailing<'a> {
    /// The database.
    pub store: &'a Store,
    /// The server's hash key (links are stored under it).
    pub hash_key: &'a [u8; 32],
    /// The configuration (issuer, `[mail]`).
    pub config: &'a Config,
    /// The templates (themable mails).
    pub pages: &'a Pages,
    /// Where mails go.
    pub mailer: &'a Mailer,
    /// Now.
    pub now: UnixTime,
}

impl Mailing<'_> {
    /// Issues a `purpose` link for `user` and, when mail is on, mails it. Returns the link
    /// (`None` when the user has no address) and whether it was mailed.
    pub async fn send(&self, user: &User, purpose: LinkPurpose) -> Result<Option<(Link, bool)>, MailingError> {
        let Some(link) = links::issue(self.store, self.hash_key, self.config, user, purpose, self.now).await? else {
            return Ok(None);
        };
        let mailed = if self.mailer.enabled() {
            let email = links::compose(self.pages, &self.config.mail, user, purpose, &link)?;
            self.mailer.send(&email).await?;
            true
        } else {
            false
        };
        let kind = match purpose {
            LinkPurpose::Invite => "user_invited",
            LinkPurpose::VerifyEmail => "email_verification_sent",
            LinkPurpose::ResetPassword => "password_reset_requested",
        };
        self.store
            .record_event(self.now, kind, None, Some(&user.id), &serde_json::json!({ "via": "cli", "mailed": mailed }))
            .await?;
        Ok(Some((link, mailed)))
    }
}
