//! A small SMTP server on a loopback port (RFC 5321 §4.1: EHLO/HELO, MAIL, RCPT, DATA, RSET,
//! NOOP, QUIT; no TLS, no AUTH) that hands every message it accepts to the test. Keycard talks to
//! it with `mail.sender = "smtp"` and `mail.smtp.tls = "none"`, through lettre, exactly as to a
//! real relay. It can answer the first N messages with a transient `451` to exercise retries.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, mpsc};

/// One message as the sink received it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The message (headers and body) with dot-stuffing undone.
    pub data: String,
}

impl Received {
    /// A header's value (first occurrence, unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let head = self.data.split("\r\n\r\n").next()?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.split("\r\n").find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }

    /// The message's text with every MIME part's transfer encoding undone (quoted-printable
    /// and base64), parts joined; good enough to find a link or a phrase in it.
    pub fn text(&self) -> String {
        use base64::Engine as _;
        let mut out = String::new();
        for part in self.data.split("\r\n--") {
            let (head, body) = part.split_once("\r\n\r\n").unwrap_or(("", part));
            let head = head.to_ascii_lowercase();
            if head.contains("content-transfer-encoding: base64") {
                let b: String = body.split("\r\n--").next().unwrap_or("").split_whitespace().collect();
                let bytes =
                    base64::engine::general_purpose::STANDARD.decode(b.trim_end_matches('-')).unwrap_or_default();
                out.push_str(&String::from_utf8_lossy(&bytes));
            } else if head.contains("content-transfer-encoding: quoted-printable") {
                out.push_str(&decode_qp(body));
            } else {
                out.push_str(body);
            }
            out.push('\n');
        }
        out
    }

    /// The first link in the message that starts with `prefix` (e.g. `http://127.0.0.1:…/password/reset?token=`).
    pub fn link(&self, prefix: &str) -> Option<String> {
        let text = self.text();
        let at = text.find(prefix)?;
        let rest = &text[at..];
        let end = rest.find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>')).unwrap_or(rest.len());
        Some(rest[..end].replace("&amp;", "&"))
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'='
            && let Some(v) = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The running sink.
pub struct SmtpSink {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    rx: Mutex<mpsc::UnboundedReceiver<Received>>,
    /// Messages answered so far (accepted or refused).
    pub answered: Arc<AtomicUsize>,
}

impl SmtpSink {
    /// A sink accepting every message.
    pub async fn start() -> SmtpSink {
        Self::start_failing(0).await
    }

    /// A sink that refuses the first `fail_first` messages with `451` (try again later).
    pub async fn start_failing(fail_first: usize) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = mpsc::unbounded_channel();
        let answered = Arc::new(AtomicUsize::new(0));
        let counter = answered.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (tx, counter) = (tx.clone(), counter.clone());
                tokio::spawn(async move {
                    let _ = session(conn, tx, counter, fail_first).await;
                });
            }
        });
        SmtpSink { port, rx: Mutex::new(rx), answered }
    }

    /// The next message, waiting for it (a test that expects a mail fails after 60 s without one).
    pub async fn next(&self) -> Received {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
            .await
            .expect("a mail within 60 s")
            .expect("the sink is running")
    }

    /// A message already received, if any (never waits).
    pub async fn try_next(&self) -> Option<Received> {
        self.rx.lock().await.try_recv().ok()
    }
}

async fn session(
    conn: tokio::net::TcpStream,
    tx: mpsc::UnboundedSender<Received>,
    counter: Arc<AtomicUsize>,
    fail_first: usize,
) -> std::io::Result<()> {
    let (r, mut w) = conn.into_split();
    let mut r = BufReader::new(r);
    w.write_all(b"220 sink.test ESMTP test sink\r\n").await?;
    let (mut from, mut to) = (String::new(), Vec::new());
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let cmd = line.trim_end().to_owned();
        let verb = cmd.split([' ', ':']).next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink.test\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n",
            "HELO" => b"250 sink.test\r\n",
            "MAIL" => {
                from = address(&cmd);
                to.clear();
                b"250 OK\r\n"
            }
            "RCPT" => {
                to.push(address(&cmd));
                b"250 OK\r\n"
            }
            "DATA" => {
                w.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                loop {
                    line.clear();
                    if r.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" {
                        break;
                    }
                    data.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                if n < fail_first {
                    b"451 4.3.0 try again later\r\n"
                } else {
                    let _ = tx.send(Received { from: from.clone(), to: to.clone(), data });
                    b"250 2.0.0 queued\r\n"
                }
            }
            "RSET" | "NOOP" => b"250 OK\r\n",
            "QUIT" => {
                w.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"502 command not implemented\r\n",
        };
        w.write_all(reply).await?;
    }
}

fn address(cmd: &str) -> String {
    cmd.split_once('<').and_then(|(_, r)| r.split_once('>')).map(|(a, _)| a.to_owned()).unwrap_or_default()
}
