//! Lingering close (RFC 9112 §9.6): when the server answers before it has read the whole request
//! — a 413 for a `Content-Length` over `http.body_limit_bytes`, a 431 or 414 for an oversized
//! head — the client is usually still sending. Closing the socket with unread data makes the
//! kernel send a TCP RST, and the RST can destroy the answer before the client reads it: the
//! client sees "connection reset" instead of the 413 (SECURITY I1).
//!
//! So the connection's I/O is wrapped in [`LingerIo`]: on shutdown it sends FIN (the answer is
//! complete), then reads and discards what the client still sends until it stops (EOF), goes
//! quiet for [`LINGER_IDLE`], or [`LINGER_MAX_TIME`] / [`LINGER_MAX_BYTES`] pass — what nginx
//! calls `lingering_close`. It lingers only when there is something to drain: a request body was
//! dropped unread ([`TrackedBody`] raises the connection's flag) or bytes are waiting; an idle
//! keep-alive connection closes at once.
//!
//! Extending: a new reason to linger raises the same [`LingerFlag`].

use hyper::body::{Body, Frame, SizeHint};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Longest pause in the client's sending before a lingering connection is closed.
pub const LINGER_IDLE: Duration = Duration::from_secs(2);
/// Longest time a connection lingers after its answer.
pub const LINGER_MAX_TIME: Duration = Duration::from_secs(10);
/// Most bytes drained from a lingering connection.
pub const LINGER_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Raised when the connection must drain before closing (shared by the I/O and its bodies).
#[derive(Debug, Clone, Default)]
pub struct LingerFlag(Arc<AtomicBool>);

impl LingerFlag {
    /// Asks for a lingering close.
    pub fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// A request body that raises its connection's [`LingerFlag`] when dropped before its end (the
/// handler answered without reading it all).
#[derive(Debug)]
pub struct TrackedBody<B: Body> {
    inner: B,
    flag: LingerFlag,
    finished: bool,
}

impl<B: Body> TrackedBody<B> {
    /// Wraps `inner`.
    pub fn new(inner: B, flag: LingerFlag) -> Self {
        TrackedBody { inner, flag, finished: false }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let r = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None)) {
            self.finished = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B: Body> Drop for TrackedBody<B> {
    fn drop(&mut self) {
        if !self.finished && !self.inner.is_end_stream() {
            self.flag.raise();
        }
    }
}

enum Shutdown {
    Open,
    Draining { until: Instant, idle: Pin<Box<Sleep>>, drained: u64 },
    Done,
}

/// A connection's I/O whose shutdown lingers (see the module doc).
pub struct LingerIo<T> {
    inner: T,
    flag: LingerFlag,
    shutdown: Shutdown,
}

impl<T> LingerIo<T> {
    /// Wraps `inner`; `flag` is shared with the connection's [`TrackedBody`]s.
    pub fn new(inner: T, flag: LingerFlag) -> Self {
        LingerIo { inner, flag, shutdown: Shutdown::Open }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for LingerIo<T> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Reads once into a scratch buffer: `Some(n)` bytes read (0 = EOF or error), `None` = nothing yet.
fn read_some<T: AsyncRead + Unpin>(io: &mut T, cx: &mut Context<'_>) -> Option<usize> {
    let mut scratch = [0u8; 8192];
    let mut buf = ReadBuf::new(&mut scratch);
    match Pin::new(io).poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => Some(buf.filled().len()),
        Poll::Ready(Err(_)) => Some(0),
        Poll::Pending => None,
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for LingerIo<T> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            match &mut this.shutdown {
                Shutdown::Open => {
                    // FIN first: the answer is complete and the client may read it now.
                    let r = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
                    let waiting = read_some(&mut this.inner, cx);
                    let linger = r.is_ok() && (this.flag.is_raised() || waiting.is_some_and(|n| n > 0));
                    if !linger || waiting == Some(0) {
                        this.shutdown = Shutdown::Done;
                        return Poll::Ready(r);
                    }
                    let now = Instant::now();
                    this.shutdown = Shutdown::Draining {
                        until: now + LINGER_MAX_TIME,
                        idle: Box::pin(tokio::time::sleep_until(now + LINGER_IDLE)),
                        drained: waiting.unwrap_or(0) as u64,
                    };
                }
                Shutdown::Draining { until, idle, drained } => match read_some(&mut this.inner, cx) {
                    Some(0) => this.shutdown = Shutdown::Done,
                    Some(n) => {
                        *drained += n as u64;
                        let now = Instant::now();
                        if *drained > LINGER_MAX_BYTES || now >= *until {
                            this.shutdown = Shutdown::Done;
                        } else {
                            idle.as_mut().reset((now + LINGER_IDLE).min(*until));
                        }
                    }
                    None => {
                        std::task::ready!(idle.as_mut().poll(cx));
                        this.shutdown = Shutdown::Done;
                    }
                },
                Shutdown::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// SECURITY I1: the flag is raised by a body dropped unread, not by one read to its end or an empty one.
    #[tokio::test]
    async fn dropped_unread_body_raises_the_flag() {
        use http_body_util::{BodyExt, Empty, Full};
        use hyper::body::Bytes;
        let flag = LingerFlag::default();
        drop(TrackedBody::new(Full::new(Bytes::from_static(b"abc")), flag.clone()));
        assert!(flag.is_raised(), "unread body");
        let flag = LingerFlag::default();
        drop(TrackedBody::new(Empty::<Bytes>::new(), flag.clone()));
        assert!(!flag.is_raised(), "empty body");
        let flag = LingerFlag::default();
        let mut b = TrackedBody::new(Full::new(Bytes::from_static(b"abc")), flag.clone());
        while b.frame().await.is_some() {}
        drop(b);
        assert!(!flag.is_raised(), "body read to its end");
    }

    /// SECURITY I1: shutdown with the flag raised drains what the peer still sends until it closes; without
    /// it (and nothing waiting) it returns at once.
    #[tokio::test]
    async fn shutdown_drains_until_the_peer_closes() {
        let (a, mut b) = tokio::io::duplex(64 * 1024);
        let flag = LingerFlag::default();
        flag.raise();
        let mut io = LingerIo::new(a, flag);
        let writer = tokio::spawn(async move {
            for _ in 0..64 {
                b.write_all(&[b'x'; 16 * 1024]).await.unwrap();
            }
            let mut rest = Vec::new();
            b.shutdown().await.unwrap();
            b.read_to_end(&mut rest).await.unwrap();
            rest
        });
        io.shutdown().await.unwrap();
        assert!(writer.await.unwrap().is_empty(), "1 MiB written without the server reading it");
        let (a, _b) = tokio::io::duplex(1024);
        let mut io = LingerIo::new(a, LingerFlag::default());
        io.shutdown().await.unwrap();
        assert!(matches!(io.shutdown, Shutdown::Done));
    }
}
