//! `keycard user …`: create, invite, list, show, disable, enable and delete users, set passwords,
//! mail verification links, list and withdraw consents, end sessions. Passwords are prompted for
//! on a terminal (or read from stdin with `--password-stdin`), never taken from the command line.
//! Mails (verification, invitation) go out at once through `[mail]` (`crate::people::verify`).
//!
//! Adding a `user` subcommand: a variant of [`UserCmd`] with a doc comment (its `--help` text) and
//! its arm in [`user_cmd`], which works through [`crate::admin::Admin`].

use super::output::Out;
use super::{JsonFlag, admin_err};
use crate::admin::Admin;
use crate::people::links::LinkPurpose;
use crate::people::verify::Mailing;
use anyhow::{Context as _, bail};
use clap::Subcommand;
use std::io::{IsTerminal as _, Read as _};

/// `keycard user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Create a user; the password is prompted for (or read from stdin with --password-stdin).
    Create {
        /// Login name.
        #[arg(long)]
        username: String,
        /// E-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Read the password from the first line of stdin instead of prompting.
        #[arg(long, conflicts_with = "no_password")]
        password_stdin: bool,
        /// Create the user without a password (cannot sign in until one is set).
        #[arg(long)]
        no_password: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Invite a user: create them without a password and mail a link to choose one
    /// (valid mail.invite_ttl_secs); --print-link prints the link instead of (or besides) mailing it.
    Invite {
        /// Login name.
        username: String,
        /// E-mail address the invitation goes to.
        #[arg(long)]
        email: String,
        /// Full name.
        #[arg(long)]
        name: Option<String>,
        /// Print the set-password link (needed when mail.sender is "off"). It is a secret: hand
        /// it to the user only.
        #[arg(long)]
        print_link: bool,
    },
    /// Change a user's e-mail address; it is unverified until the user opens the confirmation
    /// link mailed to it.
    SetEmail {
        /// Id, username or e-mail.
        user: String,
        /// The new address.
        email: String,
        /// Print the confirmation link too (needed when mail.sender is "off").
        #[arg(long)]
        print_link: bool,
    },
    /// Mail a user a link confirming their e-mail address (again).
    VerifyEmail {
        /// Id, username or e-mail.
        user: String,
        /// Print the link too (needed when mail.sender is "off").
        #[arg(long)]
        print_link: bool,
    },
    /// List users.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show a user (by id, username or e-mail).
    Show {
        /// Id, username or e-mail.
        user: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Set a user's password (prompted, or --password-stdin).
    SetPassword {
        /// Id, username or e-mail.
        user: String,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable a user: they cannot sign in and their tokens stop working.
    Disable {
        /// Id, username or e-mail.
        user: String,
    },
    /// Enable a user again.
    Enable {
        /// Id, username or e-mail.
        user: String,
    },
    /// Delete a user.
    Delete {
        /// Id, username or e-mail.
        user: String,
    },
    /// List the clients a user has consented to.
    Consents {
        /// Id, username or e-mail.
        user: String,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Withdraw a user's consent for a client; that client's refresh tokens for the user stop working.
    RevokeConsent {
        /// Id, username or e-mail.
        user: String,
        /// The client.
        #[arg(long)]
        client: String,
    },
    /// End all of a user's sign-in sessions.
    Logout {
        /// Id, username or e-mail.
        user: String,
    },
}

fn read_password(from_stdin: bool, confirm: bool) -> anyhow::Result<String> {
    let pw = if from_stdin {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).context("cannot read the password from stdin")?;
        s.lines().next().unwrap_or("").to_owned()
    } else {
        if !std::io::stdin().is_terminal() {
            bail!("no terminal to prompt for a password: pass --password-stdin and pipe it in");
        }
        let pw = rpassword::prompt_password("Password: ")?;
        if confirm && rpassword::prompt_password("Repeat password: ")? != pw {
            bail!("the passwords do not match");
        }
        pw
    };
    crate::people::password::check_new_password(&pw).map_err(anyhow::Error::msg)?;
    Ok(pw)
}

/// Issues a `purpose` link for `user` and mails it (when mail is on) or prints it (with
/// `print_link`); says which on stdout.
async fn send_link(
    a: &Admin<'_>,
    user: &crate::model::User,
    purpose: LinkPurpose,
    print_link: bool,
) -> anyhow::Result<()> {
    let mailer = crate::mail::Mailer::from_config(&a.config.mail, &a.config.data_dir, &a.config.issuer)
        .map_err(anyhow::Error::msg)?;
    let pages = crate::pages::Pages::new(&a.config.ui)?;
    let mailing =
        Mailing { store: a.store, hash_key: a.hash_key, config: a.config, pages: &pages, mailer: &mailer, now: a.now };
    let what = if purpose == LinkPurpose::Invite { "invitation" } else { "verification link" };
    match mailing.send(user, purpose).await.with_context(|| format!("cannot send the {what}"))? {
        None => println!("{:?} has no e-mail address: no {what} sent", user.username),
        Some((link, mailed)) => {
            if mailed {
                println!("{what} mailed to {}", user.email.as_deref().unwrap_or_default());
            }
            if print_link {
                println!("{}", link.url.expose());
            }
        }
    }
    Ok(())
}

pub(super) async fn user_cmd(a: &Admin<'_>, cmd: UserCmd) -> anyhow::Result<()> {
    match cmd {
        UserCmd::Create { username, email, name, password_stdin, no_password, out } => {
            let hash = if no_password {
                None
            } else {
                let pw = read_password(password_stdin, true)?;
                Some(
                    tokio::task::spawn_blocking({
                        let c = a.config.clone();
                        move || crate::admin::hash_password(&c, &pw)
                    })
                    .await?
                    .map_err(anyhow::Error::msg)?,
                )
            };
            let u = a.create_user(&username, email.as_deref(), name.as_deref(), hash).await.map_err(admin_err)?;
            Out::new(out.json).user(&u, true);
            if u.email.is_some()
                && a.config.mail.enabled()
                && let Err(e) = send_link(a, &u, LinkPurpose::VerifyEmail, false).await
            {
                eprintln!("warning: user created, but {e:#}");
            }
        }
        UserCmd::Invite { username, email, name, print_link } => {
            if !a.config.mail.enabled() && !print_link {
                bail!("mail is off (mail.sender = \"off\"): pass --print-link and hand the link over yourself");
            }
            let u = a.create_user(&username, Some(&email), name.as_deref(), None).await.map_err(admin_err)?;
            println!("invited user {:?} ({})", u.username, u.id);
            send_link(a, &u, LinkPurpose::Invite, print_link).await.with_context(|| {
                format!(
                    "{:?} was created without a password: they can use \"Forgot your password?\" once mail works, \
                     or delete the user and invite again",
                    u.username
                )
            })?;
        }
        UserCmd::SetEmail { user, email, print_link } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let u = a.set_user_email(u, &email).await.map_err(admin_err)?;
            println!("e-mail address of {:?} set to {email} (not verified yet)", u.username);
            if a.config.mail.enabled() || print_link {
                send_link(a, &u, LinkPurpose::VerifyEmail, print_link).await?;
            }
        }
        UserCmd::VerifyEmail { user, print_link } => {
            if !a.config.mail.enabled() && !print_link {
                bail!("mail is off (mail.sender = \"off\"): pass --print-link");
            }
            let u = a.user(&user).await.map_err(admin_err)?;
            send_link(a, &u, LinkPurpose::VerifyEmail, print_link).await?;
        }
        UserCmd::List { out } => Out::new(out.json).users(&a.store.list_users().await?),
        UserCmd::Show { user, out } => Out::new(out.json).user(&a.user(&user).await.map_err(admin_err)?, false),
        UserCmd::SetPassword { user, password_stdin } => {
            let mut u = a.user(&user).await.map_err(admin_err)?;
            let pw = read_password(password_stdin, true)?;
            u.password_hash = Some(
                tokio::task::spawn_blocking({
                    let c = a.config.clone();
                    move || crate::admin::hash_password(&c, &pw)
                })
                .await?
                .map_err(anyhow::Error::msg)?,
            );
            let u = a.save_user(u).await.map_err(admin_err)?;
            println!("password set for {:?}", u.username);
        }
        UserCmd::Disable { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let u = a.set_user_disabled(u, true).await.map_err(admin_err)?;
            println!("disabled user {:?}: sessions ended, refresh tokens no longer work", u.username);
        }
        UserCmd::Enable { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let u = a.set_user_disabled(u, false).await.map_err(admin_err)?;
            println!("enabled user {:?}", u.username);
        }
        UserCmd::Consents { user, out } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let consents = a.store.list_consents(&u.id).await?;
            if out.json {
                let v: Vec<_> = consents.iter().map(|(c, s)| serde_json::json!({"client_id": c, "scope": s})).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if consents.is_empty() {
                println!("{:?} has not consented to any client", u.username);
            } else {
                for (c, s) in consents {
                    println!("{c:<28} {s}");
                }
            }
        }
        UserCmd::RevokeConsent { user, client } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let n = a.revoke_consent(&u, &client).await.map_err(admin_err)?;
            println!("revoked the consent of {:?} for {client:?} and {n} grant(s)", u.username);
        }
        UserCmd::Logout { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            let n = a.store.revoke_user_sessions(&u.id, a.now).await?;
            println!("ended {n} session(s) of {:?}", u.username);
        }
        UserCmd::Delete { user } => {
            let u = a.user(&user).await.map_err(admin_err)?;
            a.store.delete_user(&u.id).await?;
            println!("deleted user {:?}", u.username);
        }
    }
    Ok(())
}
