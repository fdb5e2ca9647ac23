//! The admin listener (PostgREST's admin server): `GET /live`, `GET /ready`
//! (the database answers), `GET /metrics` (Prometheus text).

use crate::db::Database;
use crate::upstream::Upstreams;
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
                Some(db) => match db.query("select 1", vec![]).await {
                    Ok(_) => text(200, "text/plain", String::new()),
                    Err(e) => text(503, "text/plain", format!("database unavailable: {e}\n")),
                },
            },
            "/metrics" => {
                let mut body = format!(
                    "# HELP supalite_uptime_seconds Seconds since the server started.\n# TYPE supalite_uptime_seconds gauge\nsupalite_uptime_seconds {}\n",
                    self.started.elapsed().as_secs()
                );
                body.push_str(&self.upstreams.prometheus());
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
