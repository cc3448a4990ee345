//! `ehall-bot serve`: settings, logging, start-up and serving until Ctrl-C or SIGTERM.

use crate::app::{build_app, serve};
use crate::cli::{ServeArgs, Status};
use crate::settings::Settings;
use crate::telemetry;
use anyhow::Context;

pub fn run(args: ServeArgs) -> Status {
    telemetry::init("info,sqlx=warn,tower_http=info");
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return Status::Failure;
        }
    };
    match runtime.block_on(serve_until_stopped(args)) {
        Ok(()) => Status::Success,
        Err(e) => {
            tracing::error!("{e:#}");
            Status::Failure
        }
    }
}

async fn serve_until_stopped(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args.config.as_deref(), args.overrides())?;
    tracing::info!(?settings, "starting");
    crate::limits::raise_open_file_limit();
    let app = build_app(&settings).await?;
    let listener = tokio::net::TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    serve(listener, app.state, stop_signal()).await.context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
