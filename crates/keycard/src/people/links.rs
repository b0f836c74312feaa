//! Links mailed to users: `/email/verify?token=…` (e-mail verification) and
//! `/password/reset?token=…` (password reset, invitation).
//!
//! A token is a purpose prefix (`kc_ev_`, `kc_pr_`, `kc_iv_`: garbage is refused before any
//! lookup) and 256 random bits (OAuth 2.1 §7.7 asks ≥128 for credentials). Only its keyed hash
//! (HMAC-SHA256 under the server's hash key, label `mail-link v1` and the purpose) is stored, with
//! the user, the address it was mailed to and its expiry (`mail.*_ttl_secs`). A link is used once,
//! by one conditional statement (`Store::use_mail_token`); issuing a password link (reset,
//! invitation) retires the user's older ones, and so does any password change.
//!
//! A new purpose: a [`LinkPurpose`] variant with its prefix, path, lifetime and mail
//! (`crate::pages::MailKind`).

use crate::clock::UnixTime;
use crate::config::{Config, MailConfig};
use crate::jose;
use crate::mail::Email;
use crate::model::User;
use crate::pages::{MailContext, MailKind, PageError, Pages};
use crate::secret::Redacted;
use crate::store::{MailToken, Store, StoreResult};

/// What a mailed link does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkPurpose {
    /// Confirms the user's e-mail address.
    VerifyEmail,
    /// Sets a new password (the user forgot theirs).
    ResetPassword,
    /// Sets the first password of an invited user.
    Invite,
}

/// Random bytes in a token (256 bits).
const TOKEN_BYTES: usize = 32;

/// Length of the random part as base64url without padding.
const TOKEN_CHARS: usize = 43;

impl LinkPurpose {
    const ALL: [LinkPurpose; 3] = [LinkPurpose::VerifyEmail, LinkPurpose::ResetPassword, LinkPurpose::Invite];

    /// The name stored with the link (and logged).
    pub fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "verify_email",
            LinkPurpose::ResetPassword => "reset_password",
            LinkPurpose::Invite => "invite",
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "kc_ev_",
            LinkPurpose::ResetPassword => "kc_pr_",
            LinkPurpose::Invite => "kc_iv_",
        }
    }

    /// The page the link opens.
    pub fn path(self) -> &'static str {
        match self {
            LinkPurpose::VerifyEmail => "/email/verify",
            LinkPurpose::ResetPassword | LinkPurpose::Invite => "/password/reset",
        }
    }

    /// How long a link of this purpose works (seconds).
    pub fn ttl(self, mail: &MailConfig) -> i64 {
        match self {
            LinkPurpose::VerifyEmail => mail.verify_ttl_secs,
            LinkPurpose::ResetPassword => mail.reset_ttl_secs,
            LinkPurpose::Invite => mail.invite_ttl_secs,
        }
    }

    /// Does the link set a password (so a new one, or a password change, retires it)?
    pub fn sets_password(self) -> bool {
        matches!(self, LinkPurpose::ResetPassword | LinkPurpose::Invite)
    }

    fn mail_kind(self) -> MailKind {
        match self {
            LinkPurpose::VerifyEmail => MailKind::VerifyEmail,
            LinkPurpose::ResetPassword => MailKind::ResetPassword,
            LinkPurpose::Invite => MailKind::Invite,
        }
    }

    /// The purpose of a well-formed token (its prefix and a random part of the right shape);
    /// `None` for anything else, before any lookup.
    pub fn of_token(token: &str) -> Option<LinkPurpose> {
        Self::ALL.into_iter().find(|p| {
            token.strip_prefix(p.prefix()).is_some_and(|r| {
                r.len() == TOKEN_CHARS && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
        })
    }
}

/// The keyed hash a link is stored under (label and purpose included: a reset token's hash is
/// never a verification token's, and no other keyed hash of the server starts this way).
pub fn link_hash(hash_key: &[u8; 32], purpose: LinkPurpose, token: &str) -> String {
    jose::keyed_hash(hash_key, format!("mail-link v1\0{}\0{token}", purpose.as_str()).as_bytes())
}

/// A link just issued: the URL to mail (a secret until it is used) and when it stops working.
#[derive(Debug)]
pub struct Link {
    /// `<issuer><path>?token=…`.
    pub url: Redacted<String>,
    /// Expiry.
    pub expires_at: UnixTime,
}

/// Issues a `purpose` link for `user`, valid from `now`: stores its hash (retiring the user's
/// older password links when it sets a password). `None` when the user has no e-mail address.
pub async fn issue(
    store: &Store,
    hash_key: &[u8; 32],
    config: &Config,
    user: &User,
    purpose: LinkPurpose,
    now: UnixTime,
) -> StoreResult<Option<Link>> {
    let Some(email) = user.email.clone() else { return Ok(None) };
    let token = format!("{}{}", purpose.prefix(), jose::random_token(TOKEN_BYTES));
    let expires_at = now + purpose.ttl(&config.mail);
    let row = MailToken {
        token_hash: link_hash(hash_key, purpose, &token),
        purpose: purpose.as_str().into(),
        user_id: user.id.clone(),
        email,
        created_at: now,
        expires_at,
        used_at: None,
    };
    store.issue_mail_token(&row, purpose.sets_password()).await?;
    let query = form_urlencoded::Serializer::new(String::new()).append_pair("token", &token).finish();
    Ok(Some(Link { url: format!("{}{}?{query}", config.issuer, purpose.path()).into(), expires_at }))
}

/// "30 minutes", "24 hours", "7 days".
fn in_words(secs: i64) -> String {
    let (n, unit) = if secs < 2 * 3600 {
        ((secs + 59) / 60, "minute")
    } else if secs < 2 * 86400 {
        ((secs + 3599) / 3600, "hour")
    } else {
        ((secs + 86399) / 86400, "day")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The mail carrying `link` to `user` (to the address the link was issued for).
pub fn compose(
    pages: &Pages,
    mail: &MailConfig,
    user: &User,
    purpose: LinkPurpose,
    link: &Link,
) -> Result<Email, PageError> {
    let ctx = MailContext {
        username: user.username.clone(),
        user_display: user.name.clone().unwrap_or_else(|| user.username.clone()),
        link: link.url.clone(),
        expires_in: in_words(purpose.ttl(mail)),
    };
    let m = pages.render_mail(purpose.mail_kind(), &ctx)?;
    Ok(Email {
        kind: purpose.as_str(),
        to: user.email.clone().unwrap_or_default(),
        subject: m.subject,
        text: m.text,
        html: m.html,
    })
}

/// The link `token` if it works now (right shape, one of `allowed`, unused, unexpired), without
/// using it: to show a form before the link is spent.
pub async fn peek(
    store: &Store,
    hash_key: &[u8; 32],
    token: &str,
    allowed: &[LinkPurpose],
    now: UnixTime,
) -> StoreResult<Option<(LinkPurpose, MailToken)>> {
    let Some(purpose) = LinkPurpose::of_token(token).filter(|p| allowed.contains(p)) else { return Ok(None) };
    let row = store.get_mail_token(&link_hash(hash_key, purpose, token)).await?;
    Ok(row.filter(|r| r.used_at.is_none() && r.expires_at > now && r.purpose == purpose.as_str()).map(|r| (purpose, r)))
}

/// Uses the link `token` once (one conditional statement: of two uses on any nodes, one wins).
pub async fn take(
    store: &Store,
    hash_key: &[u8; 32],
    token: &str,
    allowed: &[LinkPurpose],
    now: UnixTime,
) -> StoreResult<Option<(LinkPurpose, MailToken)>> {
    let Some(purpose) = LinkPurpose::of_token(token).filter(|p| allowed.contains(p)) else { return Ok(None) };
    let row = store.use_mail_token(&link_hash(hash_key, purpose, token), purpose.as_str(), now).await?;
    Ok(row.map(|r| (purpose, r)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_recognised_by_prefix_and_shape() {
        let t = format!("kc_pr_{}", jose::random_token(TOKEN_BYTES));
        assert_eq!(t.len(), 6 + TOKEN_CHARS);
        assert_eq!(LinkPurpose::of_token(&t), Some(LinkPurpose::ResetPassword));
        assert_eq!(LinkPurpose::of_token(&t.replace("kc_pr_", "kc_iv_")), Some(LinkPurpose::Invite));
        assert_eq!(LinkPurpose::of_token(&t.replace("kc_pr_", "kc_ev_")), Some(LinkPurpose::VerifyEmail));
        for bad in [
            &t[..t.len() - 1],
            &format!("{t}x"),
            "kc_pr_",
            "",
            &t.replace("kc_pr_", "kc_xx_"),
            &format!("{}!", &t[..t.len() - 1]),
        ] {
            assert_eq!(LinkPurpose::of_token(bad), None, "{bad:?}");
        }
        let key = [7u8; 32];
        assert_ne!(link_hash(&key, LinkPurpose::ResetPassword, &t), link_hash(&key, LinkPurpose::Invite, &t));
    }

    /// The store retires exactly the purposes that set a password (its SQL names them).
    #[test]
    fn password_purposes_match_the_store() {
        let setting: Vec<&str> = LinkPurpose::ALL.iter().filter(|p| p.sets_password()).map(|p| p.as_str()).collect();
        assert_eq!(setting, crate::store::PASSWORD_LINK_PURPOSES);
    }

    #[test]
    fn lifetimes_in_words() {
        assert_eq!(in_words(1800), "30 minutes");
        assert_eq!(in_words(60), "1 minute");
        assert_eq!(in_words(86400), "24 hours");
        assert_eq!(in_words(7 * 86400), "7 days");
    }
}
