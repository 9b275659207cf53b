//! The HTTP server loop: accepts TCP connections (completing TLS
//! handshakes when enabled) and serves the router on each, with the limits
//! a server facing a cluster network needs. A slow or silent client costs
//! only its own connection: handshakes run in their own tasks, a request's
//! headers, and then its body, must each arrive within `header_timeout`
//! (which also closes idle keep-alive connections), and at most
//! `max_connections` are open at once, the rest waiting in the kernel's
//! listen backlog. A client that does not read its answer still holds its
//! slot until the kernel gives up on it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::Router;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::timeout::RequestBodyTimeout;

use crate::config::HttpLimits;

/// The client's address, for the local-client admin mode.
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// How long in-flight requests may run on after the shutdown signal.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` completes, then lets open
/// connections finish their requests (at most `DRAIN`).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    limits: &HttpLimits,
    shutdown: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let handshakes = Arc::new(Semaphore::new(limits.max_pending_handshakes));
    let acceptor = tls.map(TlsAcceptor::from);
    let (stop, stopping) = watch::channel(false);
    let mut tasks = JoinSet::new();
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        // A slot first: past the limit, connections wait unaccepted.
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of descriptors, or a connection reset before accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        // A body must arrive within the header timeout too: a client that
        // sends headers and trickles the rest would hold its slot for ever.
        let service = RequestBodyTimeout::new(router.clone(), limits.header_timeout).map_request(
            move |mut req: Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(Peer(addr)));
                req
            },
        );
        let (builder, stopping) = (builder.clone(), stopping.clone());
        match &acceptor {
            None => {
                tasks.spawn(async move {
                    serve_connection(&builder, stream, service, stopping).await;
                    drop(permit);
                });
            }
            Some(acceptor) => {
                // Handshakes in progress are bounded; past the bound a new
                // connection is dropped rather than queued behind them.
                let Ok(handshake) = handshakes.clone().try_acquire_owned() else {
                    tracing::warn!(%addr, "too many TLS handshakes in progress; connection dropped");
                    continue;
                };
                let (acceptor, limit) = (acceptor.clone(), limits.handshake_timeout);
                tasks.spawn(async move {
                    let tls = tokio::time::timeout(limit, acceptor.accept(stream)).await;
                    drop(handshake);
                    match tls {
                        Ok(Ok(tls)) => serve_connection(&builder, tls, service, stopping).await,
                        Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                    drop(permit);
                });
            }
        }
        // Reap finished connection tasks so the set stays small.
        while tasks.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(DRAIN, drained).await.is_err() {
        tracing::warn!("connections still open {DRAIN:?} after shutdown; closing them");
        tasks.abort_all();
    }
}

async fn serve_connection<I, S>(builder: &Builder, io: I, service: S, mut stopping: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: tower::Service<Request<hyper::body::Incoming>, Response = axum::response::Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let connection = builder
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(service))
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = async { stopping.wait_for(|stop| *stop).await.map(|_| ()) } => {
            // Finish the request in progress, then close.
            connection.as_mut().graceful_shutdown();
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
    }
}
