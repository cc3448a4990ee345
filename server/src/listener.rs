//! The accept loop: hyper's HTTP/1 server with its header-read timeout, connection caps per address and in all,
//! and a shutdown that closes idle connections at once and gives requests in flight a bounded grace.
//!
//! `axum::serve` exposes none of hyper's timeouts and waits on every connection at shutdown (a half-open socket
//! kept a stopped server alive for a minute), hence this loop. Only HTTP/1.1 is served: every client (browsers,
//! WeCom, 今日校园, a TLS proxy in front) speaks it, and one protocol keeps one timeout model.

use crate::limits::{ConnectionCaps, ConnectionGuard, Refusal};
use crate::settings::Limits;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting, closes idle connections, lets
/// requests in flight finish within `limits.shutdown_grace` and drops what is left. `on_shutdown` runs when
/// shutdown begins (websockets are told to close there: they are not HTTP connections any more).
pub async fn serve_connections<F>(
    listener: TcpListener,
    app: axum::Router,
    limits: &Limits,
    shutdown: F,
    on_shutdown: impl FnOnce(),
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let global = crate::limits::global_connection_cap(limits.max_open_connections, crate::limits::open_file_limit());
    let caps = ConnectionCaps::new(global, limits.max_connections_per_address);
    tracing::info!(global, per_address = limits.max_connections_per_address, "connection caps");
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let builder = Arc::new(builder);
    let (stop, stopping) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: wait a little instead of spinning; the caps make it rare.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let guard = match caps.admit(peer.ip()) {
            Ok(guard) => guard,
            Err(refusal) => {
                crate::metrics::count_refused_connection(match refusal {
                    Refusal::Full => "server_full",
                    Refusal::AddressFull => "address_full",
                });
                tracing::debug!(%peer, ?refusal, "connection refused");
                drop(stream);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let io = GuardedStream { stream, _guard: guard };
        let first_byte = limits.header_read_timeout;
        connections.spawn(serve_one(builder.clone(), io, first_byte, app.clone(), peer, stopping.clone()));
    }
    tracing::info!("shutting down");
    on_shutdown();
    stop.send_replace(true);
    drop(listener);
    // Done when every connection task has ended and every upgraded websocket has closed (its slot is back).
    let drained = tokio::time::timeout(limits.shutdown_grace, async {
        while connections.join_next().await.is_some() {}
        while caps.open() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(left = connections.len(), "requests still running after the shutdown grace: dropped");
        connections.abort_all();
    }
    Ok(())
}

/// Serves one connection. On shutdown a connection without a request in its handler is dropped at once (idle,
/// half-open or still sending headers); one with a request in flight finishes it, then closes.
async fn serve_one(
    builder: Arc<auto::Builder<TokioExecutor>>,
    io: GuardedStream,
    first_byte: Duration,
    app: axum::Router,
    peer: SocketAddr,
    mut stopping: watch::Receiver<bool>,
) {
    // hyper's header-read timer starts with the first byte; a connection that never sends one is closed here.
    let mut first = [0u8; 1];
    tokio::select! {
        peeked = tokio::time::timeout(first_byte, io.stream.peek(&mut first)) => {
            // Nothing in time, the peer gone, or an error: close.
            if !matches!(peeked, Ok(Ok(n)) if n > 0) {
                return;
            }
        }
        _ = stopping.changed() => return,
    }
    let io = TokioIo::new(io);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let counter = in_flight.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let busy = InFlight::enter(&counter);
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(busy);
            response
        }
    });
    let connection = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
            return;
        }
        _ = stopping.changed() => {}
    }
    if in_flight.load(Ordering::Acquire) == 0 {
        return;
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Counts a request in its handler for as long as it lives.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn enter(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A TCP stream holding its connection slot: the slot is given back when the socket is dropped, which for an
/// upgraded websocket is when the websocket closes.
struct GuardedStream {
    stream: TcpStream,
    _guard: ConnectionGuard,
}

impl AsyncRead for GuardedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
