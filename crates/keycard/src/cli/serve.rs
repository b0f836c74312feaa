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
    let listen = config.http.listen;
    let listener = app::bind(listen).await?;
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
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
            tokio::select! {
                _ = ctrl_c => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown signal received");
    };
    app::serve(listener, state.clone(), shutdown).await?;
    if let Some(demo) = demo {
        demo.stop().await;
    }
    background.abort();
    state.store.close().await;
    tracing::info!("stopped");
    Ok(())
}
