//! The accept loop: connections, limits, graceful shutdown.

use super::current::Current;
use super::layers::{Peer, MAX_HEADERS};
use super::targets::LenientTargets;
use anyhow::Result;
use hyper::server::conn::http1;
use std::sync::Arc;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

/// A listening socket with SO_REUSEADDR, so a restart is not refused while
/// connections of the previous run linger in TIME_WAIT.
pub async fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The HTTP server's own limits (see README, "Limits").
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to receive a request's headers; also the longest a keep-alive
    /// connection may stay idle between requests (hyper starts the same
    /// timer when it waits for the next request).
    pub header_timeout: std::time::Duration,
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_timeout: std::time::Duration,
}

/// Out of file descriptors, or of kernel memory: waiting helps, spinning not.
pub(super) fn out_of_resources(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// One connection: its requests, each served by the pipeline current when
/// it arrives (whole, even if a reload replaces it meanwhile), until the
/// client closes it or `stop` (then the request in flight finishes first).
async fn connection(
    stream: tokio::net::TcpStream,
    peer: std::net::SocketAddr,
    current: Arc<Current>,
    limits: Limits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<_>| {
        let pipeline = current.get();
        req.extensions_mut().insert(Peer(peer));
        async move { Ok::<_, std::convert::Infallible>(pipeline.handle(req).await) }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(4 * MAX_HEADERS)
        .keep_alive(true)
        .serve_connection(TokioIo::new(LenientTargets::new(stream)), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = async { drop(stop.wait_for(|s| *s).await) } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection closed: {e}");
    }
}

/// Accepts connections until `shutdown` resolves, then stops accepting,
/// lets the requests in flight finish (at most `shutdown_timeout`) and
/// returns.
pub async fn serve(
    listener: TcpListener,
    current: Arc<Current>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    use std::time::Duration;
    tokio::pin!(shutdown);
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = Duration::ZERO;
    let mut last_warning: Option<std::time::Instant> = None;
    let mut suppressed = 0u64;
    loop {
        while connections.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(s) => {
                    backoff = Duration::ZERO;
                    s
                }
                Err(e) => {
                    if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(suppressed, "accept failed: {e}");
                        last_warning = Some(std::time::Instant::now());
                        suppressed = 0;
                    } else {
                        suppressed += 1;
                    }
                    if out_of_resources(&e) {
                        backoff = (backoff * 2).clamp(Duration::from_millis(10), Duration::from_secs(1));
                        tokio::select! {
                            _ = tokio::time::sleep(backoff) => {}
                            _ = &mut shutdown => break,
                        }
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = connection(stream, peer, current.clone(), limits, stop_rx.clone());
        connections.spawn(async move {
            let _permit = permit;
            connection.await
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let busy = connections.len();
    let drained = tokio::time::timeout(limits.shutdown_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            connections = connections.len(),
            "requests still running after the shutdown timeout; closing their connections"
        );
        connections.abort_all();
    } else if busy > 0 {
        tracing::info!(connections = busy, "in-flight requests finished");
    }
    Ok(())
}
