//! The accept loop: connections, limits, graceful shutdown.

use super::current::Current;
use super::layers::{canonical, Peer, Proxies, MAX_HEADERS};
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
#[derive(Clone, Debug)]
pub struct Limits {
    /// Time to receive a request's headers; also the longest a keep-alive
    /// connection may stay idle between requests (hyper starts the same
    /// timer when it waits for the next request).
    pub header_timeout: std::time::Duration,
    /// Open connections at most; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// On shutdown, how long in-flight requests may take to finish.
    pub shutdown_timeout: std::time::Duration,
    /// Open connections from one client address at most (0: no cap); a
    /// trusted proxy's are not capped.
    pub max_connections_per_client: usize,
    pub proxies: Arc<Proxies>,
}

/// Connections refused by the per-client cap since start (`/metrics`).
pub static REFUSED_PER_CLIENT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Open connections per client address.
#[derive(Default)]
struct PerClient {
    open: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
}

/// One counted connection; uncounted when dropped.
struct Counted {
    clients: Arc<PerClient>,
    ip: std::net::IpAddr,
}

impl PerClient {
    /// Counts a connection from `ip`, unless it has `cap` open already.
    fn admit(self: &Arc<Self>, ip: std::net::IpAddr, cap: usize) -> Option<Counted> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_default();
        if *n >= cap {
            return None;
        }
        *n += 1;
        Some(Counted {
            clients: self.clone(),
            ip,
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.clients.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// What a connection past its client's cap is told before it is closed.
fn over_cap_answer() -> Vec<u8> {
    let body = contract::error::ApiError::new(
        429,
        "SUPALITE429",
        "Too many connections from this client address",
    )
    .to_json();
    let body = String::from_utf8_lossy(&body);
    format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json; charset=utf-8\r\nretry-after: 1\r\nx-request-id: {}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        super::edge::new_request_id(),
        body.len()
    )
    .into_bytes()
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
        async move {
            // The publishable and secret keys become their JWTs first.
            if super::layers::api_keys::substitute(pipeline.api_keys(), &mut req).is_err() {
                return Ok(super::layers::api_keys::refusal());
            }
            // Realtime: the websocket upgrade, before the wasi:http pipeline.
            if crate::realtime::is_websocket(&req) {
                use http_body_util::BodyExt;
                let resp = pipeline.realtime().upgrade(req);
                return Ok(resp.map(|b| b.map_err(|never| match never {}).boxed_unsync()));
            }
            // Realtime's REST broadcast (it reaches the sockets' hub).
            if crate::realtime::is_api(&req) {
                use http_body_util::BodyExt;
                let resp = pipeline.realtime().api(req).await;
                return Ok(resp.map(|b| b.map_err(|never| match never {}).boxed_unsync()));
            }
            Ok::<_, std::convert::Infallible>(pipeline.handle(req).await)
        }
    });
    let conn = http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_headers(4 * MAX_HEADERS)
        .keep_alive(true)
        .serve_connection(TokioIo::new(LenientTargets::new(stream)), service)
        // Realtime's websocket (`crate::realtime`).
        .with_upgrades();
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
    let clients = Arc::new(PerClient::default());
    let mut last_refusal: Option<std::time::Instant> = None;
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
        let ip = canonical(peer.ip());
        let counted = if limits.max_connections_per_client == 0 || limits.proxies.trusts(ip) {
            None
        } else {
            match clients.admit(ip, limits.max_connections_per_client) {
                Some(c) => Some(c),
                None => {
                    // Answered and closed at once: it never takes a slot
                    // for longer than this write (a fresh socket's send
                    // buffer takes the whole answer).
                    drop(permit);
                    let _ = stream.try_write(&over_cap_answer());
                    drop(stream);
                    REFUSED_PER_CLIENT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if last_refusal.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                        tracing::warn!(
                            client = %ip,
                            cap = limits.max_connections_per_client,
                            "a client address reached its connection cap (server-max-connections-per-client); refusing more"
                        );
                        last_refusal = Some(std::time::Instant::now());
                    }
                    continue;
                }
            }
        };
        let connection = connection(stream, peer, current.clone(), limits.clone(), stop_rx.clone());
        connections.spawn(async move {
            let _permit = permit;
            let _counted = counted;
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
