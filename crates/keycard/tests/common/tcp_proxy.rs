//! A TCP proxy on loopback that a test can cut and restore, to take a database away from
//! Keycard without stopping the shared server (docs/reliability.md §3). `cut()` is what a
//! stopped PostgreSQL looks like from a client: every open connection is closed and new ones
//! are refused (the listening socket is closed); `restore()` listens on the same port again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    /// The proxy's address; point the client here.
    pub addr: SocketAddr,
    upstream: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    acceptor: Option<JoinHandle<()>>,
    conns: Vec<JoinHandle<()>>,
}

impl TcpProxy {
    /// A proxy to `upstream` on a free loopback port.
    pub async fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().unwrap();
        let p = TcpProxy { addr, upstream, inner: Arc::default() };
        p.listen(listener);
        p
    }

    fn listen(&self, listener: TcpListener) {
        let inner = self.inner.clone();
        let upstream = self.upstream;
        let acceptor = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else { return };
                    let (mut c, mut s) = (client, server);
                    let _ = tokio::io::copy_bidirectional(&mut c, &mut s).await;
                });
                let mut i = inner.lock().unwrap();
                i.conns.retain(|c| !c.is_finished());
                i.conns.push(conn);
            }
        });
        self.inner.lock().unwrap().acceptor = Some(acceptor);
    }

    /// The database "stops": open connections are closed, new ones refused.
    pub fn cut(&self) {
        let mut i = self.inner.lock().unwrap();
        if let Some(a) = i.acceptor.take() {
            a.abort();
        }
        for c in i.conns.drain(..) {
            c.abort();
        }
    }

    /// The database is back on the same address.
    pub async fn restore(&self) {
        // The aborted acceptor drops its socket when the runtime next polls it; retry briefly.
        for _ in 0..100 {
            if let Ok(l) = TcpListener::bind(self.addr).await {
                self.listen(l);
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("could not listen on {} again", self.addr);
    }

    /// A PostgreSQL URL whose host and port are this proxy's, from `url`.
    pub fn postgres_url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).expect("postgres url");
        u.set_host(Some(&self.addr.ip().to_string())).unwrap();
        u.set_port(Some(self.addr.port())).unwrap();
        u.to_string()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}
