//! `[mail]`: how Keycard sends account mails (e-mail verification, password reset, invitations;
//! `crate::mail`, `crate::people`): the sender (`off`, `log`, `file`, `smtp`), the SMTP relay
//! (RFC 5321; implicit TLS per RFC 8314 §3.3 or STARTTLS per RFC 3207), the From address, the
//! lifetimes of the mailed links and the throttles of the "forgot password" form. The SMTP
//! password is redacted in `Debug` and `config dump`, like `database.url`.
//!
//! A new mail setting: add the field and default here, the key to `keycard.example.toml` and
//! docs/operations.md ("Mail"), and its check to [`MailConfig::validate`].

use super::{ConfigError, Secret, invalid};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where account mails go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailSender {
    /// No mail: password reset by mail is not offered, invitations need `--print-link`.
    #[default]
    Off,
    /// Development: log that a mail was sent and to whom (never its link).
    Log,
    /// Development and tests: write each mail as an `.eml` file into `mail.dir`.
    File,
    /// An SMTP relay (`[mail.smtp]`).
    Smtp,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// RFC 3207: plain connect, then STARTTLS, required (usually port 587).
    #[default]
    Starttls,
    /// RFC 8314 §3.3: TLS from the first byte (usually port 465).
    Tls,
    /// No TLS: only for a relay on the same host (loopback) or a test sink.
    None,
}

/// The SMTP relay.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Host name of the relay (also the name its TLS certificate must carry).
    pub host: String,
    /// Port: 587 for STARTTLS, 465 for implicit TLS, 25 for a local relay.
    pub port: u16,
    /// `starttls` (default), `tls` or `none`.
    pub tls: SmtpTls,
    /// User name for SMTP AUTH (RFC 4954); none: no authentication.
    pub username: Option<String>,
    /// Password for SMTP AUTH (redacted in `config dump`).
    pub password: Option<Secret>,
    /// A file holding the SMTP password (alternative to `password`).
    pub password_file: Option<PathBuf>,
    /// Seconds to wait for the relay (connect and each command) before the attempt fails.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 587,
            tls: SmtpTls::Starttls,
            username: None,
            password: None,
            password_file: None,
            timeout_secs: 10,
        }
    }
}

/// Account mails.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `off` (default), `log`, `file` or `smtp`.
    pub sender: MailSender,
    /// The From header, an RFC 5322 mailbox: `Name <address>` or a bare address.
    pub from: String,
    /// Where the `file` sender writes `.eml` files (default: `<data_dir>/mail`).
    pub dir: Option<PathBuf>,
    /// The SMTP relay, for `sender = "smtp"`.
    pub smtp: SmtpConfig,
    /// Mails waiting to be sent; past that, new ones are dropped with a warning (pages never wait
    /// for mail).
    pub queue_size: usize,
    /// Attempts per mail (with a doubling pause from 1 s between them) before it is given up.
    pub attempts: u32,
    /// Lifetime of a password reset link (seconds).
    pub reset_ttl_secs: i64,
    /// Lifetime of an e-mail verification link (seconds).
    pub verify_ttl_secs: i64,
    /// Lifetime of an invitation (set-password) link (seconds).
    pub invite_ttl_secs: i64,
    /// "Forgot password" requests per typed login or address within `login.window_secs`; more
    /// are answered the same way but send nothing (no mail bombing, nothing revealed).
    pub forgot_max_per_address: i64,
    /// "Forgot password" requests per client IP within `login.window_secs`; more get 429.
    pub forgot_max_per_ip: i64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            sender: MailSender::Off,
            from: "Keycard <keycard@localhost>".into(),
            dir: None,
            smtp: SmtpConfig::default(),
            queue_size: 1000,
            attempts: 4,
            reset_ttl_secs: 30 * 60,
            verify_ttl_secs: 24 * 3600,
            invite_ttl_secs: 7 * 24 * 3600,
            forgot_max_per_address: 3,
            forgot_max_per_ip: 30,
        }
    }
}

impl MailConfig {
    /// Is any mail sent (a sender other than `off`)?
    pub fn enabled(&self) -> bool {
        self.sender != MailSender::Off
    }

    /// Checks the `mail.*` keys.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid(
                "mail.from",
                "must be an e-mail address, optionally with a name: `Name <addr@example.com>`",
            );
        }
        if self.sender == MailSender::Smtp {
            let s = &self.smtp;
            if s.host.is_empty() || s.host.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return invalid("mail.smtp.host", "must name the SMTP relay when mail.sender is \"smtp\"");
            }
            if s.port == 0 {
                return invalid("mail.smtp.port", "must be 1 to 65535");
            }
            if s.password.is_some() && s.password_file.is_some() {
                return invalid("mail.smtp.password", "set either password or password_file, not both");
            }
            if s.username.is_none() && (s.password.is_some() || s.password_file.is_some()) {
                return invalid("mail.smtp.username", "is needed when a password is set");
            }
            let loopback = matches!(s.host.as_str(), "localhost" | "127.0.0.1" | "::1" | "[::1]")
                || s.host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
            if s.tls == SmtpTls::None && s.username.is_some() && !loopback {
                return invalid(
                    "mail.smtp.tls",
                    "`none` would send the SMTP password in clear: use starttls or tls (none only for a relay on loopback)",
                );
            }
            if !(1..=300).contains(&s.timeout_secs) {
                return invalid("mail.smtp.timeout_secs", "must be 1 to 300");
            }
        }
        if !(1..=1_000_000).contains(&self.queue_size) {
            return invalid("mail.queue_size", "must be 1 to 1000000");
        }
        if !(1..=20).contains(&self.attempts) {
            return invalid("mail.attempts", "must be 1 to 20");
        }
        for (key, ttl, max) in [
            ("mail.reset_ttl_secs", self.reset_ttl_secs, 24 * 3600),
            ("mail.verify_ttl_secs", self.verify_ttl_secs, 30 * 24 * 3600),
            ("mail.invite_ttl_secs", self.invite_ttl_secs, 30 * 24 * 3600),
        ] {
            if !(60..=max).contains(&ttl) {
                return invalid(key, &format!("must be 60 to {max} seconds"));
            }
        }
        if self.forgot_max_per_address < 1 {
            return invalid("mail.forgot_max_per_address", "must be at least 1");
        }
        if self.forgot_max_per_ip < 1 {
            return invalid("mail.forgot_max_per_ip", "must be at least 1");
        }
        Ok(())
    }
}
