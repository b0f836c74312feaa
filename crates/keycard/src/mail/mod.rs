//! Sending account mails (RFC 5322 messages over RFC 5321 SMTP): the [`Mailer`] (where a mail
//! goes: SMTP relay, `.eml` files, the log, or nowhere) and the [`Outbox`] (a bounded queue and
//! the task that drains it), so no page ever waits for a mail server.
//!
//! - **Off the request path.** A page hands the outbox a job ([`Prepare`]: the lookups, the link
//!   and the rendering, done by the outbox task) and answers at once. The answer time of a
//!   "forgot password" request is the same whether the address exists or not (SECURITY G8), and
//!   a slow or dead relay slows no page: a full queue drops the new mail with a warning.
//! - **Retries.** A delivery is tried `mail.attempts` times with a doubling pause from 1 s; a
//!   permanent SMTP failure (5xx) is not retried. Failures are logged with the kind of mail and
//!   the recipient, never the body (it holds a single-use link).
//! - **Secrets.** [`Email`]'s bodies are `Redacted`; the `log` sender logs kind and recipient
//!   only; `.eml` files are written readable by the owner only.
//! - **TLS.** lettre over rustls with the aws-lc-rs provider and the platform's certificate
//!   verifier: `starttls` (RFC 3207, required, never downgraded) or `tls` (RFC 8314 §3.3).
//!
//! What a mail says is rendered by `crate::pages` (`templates/mail/`, themable like the pages);
//! which mails exist and what their links do is `crate::people`. A new sender: a [`Mailer`]
//! variant, its arm in [`Mailer::from_config`] and [`Mailer::send`], its name in
//! `config::MailSender`.

use crate::config::{MailConfig, MailSender, SmtpTls};
use crate::secret::Redacted;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// One mail to send. The bodies hold a single-use link: `Debug` never shows them.
#[derive(Debug, Clone)]
pub struct Email {
    /// What it is (`reset_password`, `verify_email`, `invite`), for logs.
    pub kind: &'static str,
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: Redacted<String>,
    /// The HTML part.
    pub html: Redacted<String>,
}

/// Why a mail could not be sent. Messages never hold the mail's body.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// `mail.sender` is `off`.
    #[error("mail is off (mail.sender = \"off\")")]
    Off,
    /// The message could not be built (a bad recipient address).
    #[error("cannot build the message: {0}")]
    Message(String),
    /// The `.eml` file could not be written.
    #[error("cannot write the mail file: {0}")]
    File(#[source] std::io::Error),
    /// The SMTP relay refused or could not be reached.
    #[error("SMTP: {message}")]
    Smtp {
        /// lettre's description (the relay's reply, never the message).
        message: String,
        /// A 5xx reply: trying again will not help.
        permanent: bool,
    },
}

impl MailError {
    /// Is trying again pointless?
    pub fn is_permanent(&self) -> bool {
        match self {
            MailError::Smtp { permanent, .. } => *permanent,
            MailError::Off | MailError::Message(_) => true,
            MailError::File(_) => false,
        }
    }
}

/// Where mails go (`mail.sender`).
pub enum Mailer {
    /// Nowhere.
    Off,
    /// The log: kind and recipient, never the link.
    Log,
    /// `.eml` files in a directory.
    File {
        /// The From mailbox.
        from: Mailbox,
        /// Where the files go.
        dir: PathBuf,
    },
    /// An SMTP relay.
    Smtp {
        /// The From mailbox.
        from: Mailbox,
        /// The transport (one connection per mail: account mails are rare).
        transport: Box<AsyncSmtpTransport<Tokio1Executor>>,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mailer::Off => "Mailer::Off",
            Mailer::Log => "Mailer::Log",
            Mailer::File { .. } => "Mailer::File",
            Mailer::Smtp { .. } => "Mailer::Smtp",
        })
    }
}

impl Mailer {
    /// The sender `mail` asks for. `data_dir` is the default parent of the `file` sender's
    /// directory; `issuer` names this host in the SMTP greeting (EHLO).
    pub fn from_config(mail: &MailConfig, data_dir: &Path, issuer: &str) -> Result<Mailer, String> {
        let from = || mail.from.parse::<Mailbox>().map_err(|e| format!("mail.from: {e}"));
        Ok(match mail.sender {
            MailSender::Off => Mailer::Off,
            MailSender::Log => Mailer::Log,
            MailSender::File => {
                Mailer::File { from: from()?, dir: mail.dir.clone().unwrap_or_else(|| data_dir.join("mail")) }
            }
            MailSender::Smtp => {
                let s = &mail.smtp;
                let builder = match s.tls {
                    SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                        .map_err(|e| format!("mail.smtp.host: {e}"))?,
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host)
                        .map_err(|e| format!("mail.smtp.host: {e}"))?,
                    SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                };
                let hello = url::Url::parse(issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .filter(|h| !h.is_empty() && !h.starts_with('['))
                    .unwrap_or_else(|| "localhost".into());
                let mut builder = builder
                    .port(s.port)
                    .timeout(Some(Duration::from_secs(s.timeout_secs)))
                    .hello_name(ClientId::Domain(hello));
                if let Some(user) = &s.username {
                    let password = match (&s.password, &s.password_file) {
                        (Some(p), _) => p.0.clone(),
                        (None, Some(f)) => std::fs::read_to_string(f)
                            .map_err(|e| format!("mail.smtp.password_file {}: {e}", f.display()))?
                            .trim_end_matches(['\r', '\n'])
                            .to_owned(),
                        (None, None) => String::new(),
                    };
                    builder = builder.credentials(Credentials::new(user.clone(), password));
                }
                Mailer::Smtp { from: from()?, transport: Box::new(builder.build()) }
            }
        })
    }

    /// Does this mailer send anything?
    pub fn enabled(&self) -> bool {
        !matches!(self, Mailer::Off)
    }

    fn message(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
        let to: Mailbox = email.to.parse().map_err(|e| MailError::Message(format!("recipient: {e}")))?;
        let domain = from.email.domain().to_owned();
        Message::builder()
            .from(from.clone())
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(format!("<{}@{domain}>", crate::jose::random_token(18))))
            .multipart(MultiPart::alternative_plain_html(email.text.expose().clone(), email.html.expose().clone()))
            .map_err(|e| MailError::Message(e.to_string()))
    }

    /// Sends one mail now (the outbox calls this; so does the CLI, which has no outbox).
    pub async fn send(&self, email: &Email) -> Result<(), MailError> {
        match self {
            Mailer::Off => Err(MailError::Off),
            Mailer::Log => {
                tracing::info!(kind = email.kind, to = %email.to, "mail sent (mail.sender = \"log\": not delivered)");
                Ok(())
            }
            Mailer::File { from, dir } => {
                let bytes = Self::message(from, email)?.formatted();
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || write_eml(&dir, &bytes))
                    .await
                    .map_err(|e| MailError::File(std::io::Error::other(e)))?
                    .map_err(MailError::File)
            }
            Mailer::Smtp { from, transport } => {
                let message = Self::message(from, email)?;
                transport
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| MailError::Smtp { message: e.to_string(), permanent: e.is_permanent() })
            }
        }
    }
}

/// Writes one message as `<dir>/<random>.eml`, readable by the owner only (it holds a link).
fn write_eml(dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{}.eml", crate::jose::random_token(12)));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A job for the outbox: whatever must happen before a mail exists (find the user, issue the
/// link, render), run by the outbox task; `None` when there is nothing to send (an unknown
/// address, a disabled user), which is not an error.
pub type Prepare = Pin<Box<dyn Future<Output = Option<Email>> + Send>>;

/// Deliveries running at once (each waits on its relay, not on the CPU).
const CONCURRENT_DELIVERIES: usize = 4;

/// The bounded queue of mails to send and the task that drains it. Cheap to share.
pub struct Outbox {
    jobs: tokio::sync::mpsc::Sender<Prepare>,
    mailer: Arc<Mailer>,
    /// Jobs submitted and not yet finished (prepared and delivered or given up).
    pending: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("mailer", &self.mailer).field("pending", &self.pending()).finish()
    }
}

impl Outbox {
    /// Starts the outbox task (on the current Tokio runtime) for `mailer`: at most `capacity`
    /// jobs wait; each delivery is tried `attempts` times.
    pub fn start(mailer: Mailer, capacity: usize, attempts: u32) -> Outbox {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        let mailer = Arc::new(mailer);
        let pending = Arc::new(AtomicUsize::new(0));
        tokio::spawn(drain(rx, mailer.clone(), pending.clone(), attempts.max(1)));
        Outbox { jobs: tx, mailer, pending }
    }

    /// The mailer (the CLI and tests send through it directly).
    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Queues a job; false (and a warning) when the queue is full or mail is off. Never waits.
    pub fn submit(&self, kind: &'static str, job: Prepare) -> bool {
        if !self.mailer.enabled() {
            return false;
        }
        self.pending.fetch_add(1, Ordering::SeqCst);
        match self.jobs.try_send(job) {
            Ok(()) => true,
            Err(_) => {
                self.pending.fetch_sub(1, Ordering::SeqCst);
                tracing::warn!(kind, "mail queue full (mail.queue_size): a mail was dropped");
                false
            }
        }
    }

    /// Jobs submitted and not yet finished: 0 once every mail queued so far was sent or given up.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::SeqCst)
    }
}

/// The outbox task: prepares jobs one after the other (they are quick: a few statements and a
/// render) and delivers up to [`CONCURRENT_DELIVERIES`] at once, each with its retries.
async fn drain(
    mut jobs: tokio::sync::mpsc::Receiver<Prepare>,
    mailer: Arc<Mailer>,
    pending: Arc<AtomicUsize>,
    attempts: u32,
) {
    let slots = Arc::new(tokio::sync::Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(job) = jobs.recv().await {
        let Some(email) = job.await else {
            pending.fetch_sub(1, Ordering::SeqCst);
            continue;
        };
        let Ok(slot) = slots.clone().acquire_owned().await else { return };
        let (mailer, pending) = (mailer.clone(), pending.clone());
        tokio::spawn(async move {
            deliver(&mailer, &email, attempts).await;
            pending.fetch_sub(1, Ordering::SeqCst);
            drop(slot);
        });
    }
}

/// Sends with retries: a doubling pause from 1 s, no retry after a permanent failure.
async fn deliver(mailer: &Mailer, email: &Email, attempts: u32) {
    let mut pause = Duration::from_secs(1);
    for attempt in 1..=attempts {
        match mailer.send(email).await {
            Ok(()) => {
                tracing::info!(kind = email.kind, to = %email.to, attempt, "mail sent");
                return;
            }
            Err(e) if e.is_permanent() || attempt == attempts => {
                tracing::warn!(kind = email.kind, to = %email.to, attempt, error = %e, "mail not sent: giving up");
                return;
            }
            Err(e) => {
                tracing::warn!(kind = email.kind, to = %email.to, attempt, error = %e, "mail not sent: will retry");
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            kind: "reset_password",
            to: "alice@example.com".into(),
            subject: "Reset your password".into(),
            text: "Open https://id.example/password/reset?token=kc_pr_secret".to_owned().into(),
            html: "<p><a href=\"https://id.example/password/reset?token=kc_pr_secret\">Reset</a></p>".to_owned().into(),
        }
    }

    /// SECURITY I7: `Debug` of a mail or a mailer never shows the link.
    #[test]
    fn debug_hides_the_link() {
        let s = format!("{:?}", email());
        assert!(!s.contains("kc_pr_secret"), "{s}");
        assert!(s.contains("alice@example.com"));
    }

    /// The file sender writes one multipart message per mail, readable by the owner only.
    #[tokio::test]
    async fn file_sender_writes_an_eml_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = MailConfig {
            sender: MailSender::File,
            dir: Some(dir.path().join("out")),
            from: "Keycard <id@example.com>".into(),
            ..MailConfig::default()
        };
        let mailer = Mailer::from_config(&config, dir.path(), "https://id.example").unwrap();
        mailer.send(&email()).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains("To: alice@example.com") && text.contains("From: Keycard <id@example.com>"), "{text}");
        assert!(text.contains("Subject: Reset your password"), "{text}");
        assert!(text.contains("multipart/alternative") && text.contains("text/html"), "{text}");
        assert!(text.contains("Message-ID: <") && text.contains("@example.com>"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
        }
        // A recipient that is no address is a permanent failure, not a panic.
        let bad = Email { to: "not an address".into(), ..email() };
        assert!(mailer.send(&bad).await.unwrap_err().is_permanent());
    }

    /// Off sends nothing and refuses jobs; a full queue drops instead of waiting.
    #[tokio::test]
    async fn outbox_refuses_when_off_and_when_full() {
        let off = Outbox::start(Mailer::Off, 1, 1);
        assert!(!off.submit("x", Box::pin(async { None })));
        assert_eq!(off.pending(), 0);
        let log = Outbox::start(Mailer::Log, 1, 1);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        // The first job blocks the task; the second fills the queue; the third is dropped.
        assert!(log.submit(
            "x",
            Box::pin(async move {
                let _ = rx.await;
                None
            })
        ));
        let mut accepted = 1;
        for _ in 0..3 {
            accepted += usize::from(log.submit("x", Box::pin(async { None })));
        }
        assert!(accepted < 4, "a full queue refuses at once");
        tx.send(()).unwrap();
        while log.pending() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(log.submit("x", Box::pin(async { Some(email()) })));
    }
}
