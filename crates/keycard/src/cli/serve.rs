//! `keycard serve`: start the server (and with `--demo` the demo of [`crate::dev::demo`]), log
//! that it is ready, and on Ctrl-C or SIGTERM stop it gracefully: in-flight requests finish, the
//! background tasks stop and the database pool closes.
//!
//! Adding a `serve` option: a field of `Command::Serve` in `cli/mod.rs` (its doc comment is the
//! `--help` text) that sets the configuration before [`serve_forever`] runs, or is passed to it.

use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::state::AppState;
use std::sync::Arc;

/// Serves until a shutdown signal; `demo_port` also starts the demo API on 127.0.0.1.
pub(super) async fn serve_forever(config: Config, demo_port: Option<u16>) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let listener = app::bind(config.http.listen).await?;
    // The address actually bound (`http.listen` may name port 0).
    let listen = listener.local_addr()?;
    let state: AppState = app::start(config, Arc::new(SystemClock)).await?;
    let background = app::spawn_background(state.clone());
    let demo = match demo_port {
        Some(port) => Some(crate::dev::demo::start(&state, port).await?),
        None => None,
    };
    tracing::info!(
        issuer = %state.config.issuer,
        listen = %listen,
        database = %app::redact_url(&state.config.database_url()),
        startup_ms = started.elapsed().as_millis() as u64,
        "Keycard is ready"
    );
    // The first Ctrl-C or SIGTERM starts a graceful stop; a second one hurries it.
    let (signal_tx, mut signals) = tokio::sync::mpsc::unbounded_channel::<()>();
    tokio::spawn(forward_signals(signal_tx));
    let (second_tx, second) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = signals.recv().await;
        tracing::info!("shutdown signal received");
        tokio::spawn(async move {
            if signals.recv().await.is_some() {
                let _ = second_tx.send(());
            }
        });
    };
    let hurry = async {
        if second.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    app::serve(listener, state.clone(), shutdown, hurry).await?;
    if let Some(demo) = demo {
        demo.stop().await;
    }
    background.abort();
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Sends one message per Ctrl-C or SIGTERM until the receiver is gone.
async fn forward_signals(tx: tokio::sync::mpsc::UnboundedSender<()>) {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    loop {
        #[cfg(unix)]
        let got = match term.as_mut() {
            Some(term) => tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                r = term.recv() => r.is_some(),
            },
            None => tokio::signal::ctrl_c().await.is_ok(),
        };
        #[cfg(not(unix))]
        let got = tokio::signal::ctrl_c().await.is_ok();
        if !got || tx.send(()).is_err() {
            break;
        }
    }
}
