//! The admin listener (PostgREST's admin server): `GET /live`, `GET /ready`
//! (the database answers), `GET /metrics` (Prometheus text).

use crate::db::Database;
use crate::server::upstream::Upstreams;
use anyhow::Result;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use std::convert::Infallible;
use std::time::Instant;
use tokio::net::TcpListener;
use wasmtime_wasi_http::io::TokioIo;

#[derive(Clone)]
pub struct Admin {
    pub upstreams: Upstreams,
    pub db: Option<Database>,
    pub started: Instant,
}

fn text(status: u16, content_type: &str, body: String) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

impl Admin {
    async fn answer(&self, path: &str) -> hyper::Response<Full<Bytes>> {
        match path {
            "/live" => text(200, "text/plain", String::new()),
            "/ready" => match &self.db {
                None => text(200, "text/plain", String::new()),
                Some(db) => {
                    if let crate::db::Backend::Pglite(h) = &db.backend {
                        if !h.health.up.load(std::sync::atomic::Ordering::SeqCst) {
                            return text(
                                503,
                                "text/plain",
                                "the embedded database is restarting\n".into(),
                            );
                        }
                    }
                    let probe = db.query("select 1", vec![]);
                    match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
                        Ok(Ok(_)) => text(200, "text/plain", String::new()),
                        Ok(Err(e)) => {
                            text(503, "text/plain", format!("database unavailable: {e}\n"))
                        }
                        Err(_) => text(
                            503,
                            "text/plain",
                            "the database did not answer within 2 s\n".into(),
                        ),
                    }
                }
            },
            "/metrics" => {
                let mut body = format!(
                    "# HELP supalite_uptime_seconds Seconds since the server started.\n# TYPE supalite_uptime_seconds gauge\nsupalite_uptime_seconds {}\n",
                    self.started.elapsed().as_secs()
                );
                body.push_str(&self.upstreams.prometheus());
                {
                    use std::sync::atomic::Ordering::Relaxed;
                    body.push_str(&format!(
                        "# HELP supalite_connections_refused_total Connections refused because their client address had server-max-connections-per-client open.\n# TYPE supalite_connections_refused_total counter\nsupalite_connections_refused_total {}\n# HELP supalite_anon_requests_refused_total Anonymous requests refused (429) past their client's server-anon-requests-per-second.\n# TYPE supalite_anon_requests_refused_total counter\nsupalite_anon_requests_refused_total {}\n",
                        crate::server::REFUSED_PER_CLIENT.load(Relaxed),
                        crate::server::ANON_REFUSED.load(Relaxed),
                    ));
                }
                if let Some(crate::db::Database {
                    backend: crate::db::Backend::Pglite(h),
                    ..
                }) = &self.db
                {
                    use std::sync::atomic::Ordering::Relaxed;
                    body.push_str(&format!(
                        "# HELP supalite_pglite_restarts_total Times embedded PGlite failed and was reopened.\n# TYPE supalite_pglite_restarts_total counter\nsupalite_pglite_restarts_total {}\n# HELP supalite_pglite_statements_cancelled_total Statements cancelled at their statement timeout.\n# TYPE supalite_pglite_statements_cancelled_total counter\nsupalite_pglite_statements_cancelled_total {}\n",
                        h.health.restarts.load(Relaxed),
                        h.health.cancelled.load(Relaxed)
                    ));
                    body.push_str(&format!(
                        "# HELP supalite_pglite_cut_total Anonymous statements cancelled at the end of their slice (pglite-anon-slice-ms) because others waited.\n# TYPE supalite_pglite_cut_total counter\nsupalite_pglite_cut_total {}\n",
                        h.health.cut.load(Relaxed)
                    ));
                    body.push_str(&h.scheduler.prometheus());
                }
                text(200, "text/plain; version=0.0.4; charset=utf-8", body)
            }
            _ => text(404, "text/plain", "not found\n".into()),
        }
    }
}

/// Serves the admin endpoints until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    admin: Admin,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    tokio::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = &mut shutdown => return Ok(()),
        };
        let admin = admin.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let admin = admin.clone();
                    async move { Ok::<_, Infallible>(admin.answer(req.uri().path()).await) }
                });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
