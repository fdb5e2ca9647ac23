//! The one service that calls the gateway: a hyper request in, the
//! gateway's answer out, through an instance from the [`Pool`]. The
//! `supalite:api/handler` path (whole request and response as records)
//! when the gateway exports it, else `wasi:http/incoming-handler` (as
//! wasmtime's own `ProxyHandler` serves it). The request policies around
//! it are the layers in `layers`.

use super::bindings::wit_types;
use super::edge::{http_error, request_record, response_from_record, BoxFuture, Request, Response};
use super::layers::{ClientAddr, WaitUntil};
use super::pool::{Pool, HANDLER_EXPORT};
use anyhow::Result;
use http_body_util::BodyExt;
use std::sync::Arc;
use std::task::{Context, Poll};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::WasiHttpView;

/// The gateway, as a `tower::Service`.
#[derive(Clone)]
pub struct Gateway {
    pool: Arc<Pool>,
    /// The request body limit (`SUPALITE_MAX_BODY_BYTES`) for the records path.
    max_body: usize,
    /// Always through `wasi:http/incoming-handler` (the storage route: its
    /// bodies stream through the gateway).
    stream: bool,
}

/// Who the request is for, from what the layers put in its extensions.
fn requester(extensions: &http::Extensions) -> crate::db::Requester {
    crate::db::Requester {
        client: extensions.get::<ClientAddr>().map(|c| c.0),
        wait_until: extensions.get::<WaitUntil>().map(|w| w.0),
    }
}

impl Gateway {
    pub(super) fn new(pool: Arc<Pool>, max_body: usize) -> Gateway {
        Gateway {
            pool,
            max_body,
            stream: false,
        }
    }

    /// This gateway, always through `wasi:http/incoming-handler`.
    pub(super) fn streaming(mut self) -> Gateway {
        self.stream = true;
        self
    }

    /// The `supalite:api/handler` path: reads the whole body (one byte past
    /// the limit at most, so the gateway answers 413), calls the gateway once
    /// with records, and answers with the whole body.
    async fn whole(self, req: Request) -> Result<Response> {
        let (parts, mut body) = req.into_parts();
        let announced = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if announced.is_some_and(|n| n > self.max_body as u64) {
            // Refused before a byte of it is read.
            return Ok(http_error(
                &parts.headers,
                413,
                "PGRST413",
                "Payload Too Large",
            ));
        }
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0) as usize);
        while bytes.len() <= self.max_body {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        bytes.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!("reading a request body failed: {e}");
                    return Ok(http_error(
                        &parts.headers,
                        400,
                        "PGRST102",
                        "Could not read the request body",
                    ));
                }
                None => break,
            }
        }
        let request: wit_types::Request = request_record(&parts, bytes);
        let mut warm = self.pool.instance().await?;
        warm.store.data_mut().requester = requester(&parts.extensions);
        let Some(handler) = warm.handler else {
            anyhow::bail!("the gateway lost its {HANDLER_EXPORT} export");
        };
        let (resp,) = handler.call_async(&mut warm.store, (request,)).await?;
        self.pool.release(warm);
        Ok(response_from_record(resp))
    }

    /// The `wasi:http/incoming-handler` path.
    async fn streamed(self, req: Request) -> Result<Response> {
        let (sender, mut receiver) = tokio::sync::oneshot::channel();
        let pool = self.pool;
        let mut call = Box::pin(async move {
            let mut warm = pool.instance().await?;
            warm.store.data_mut().requester = requester(req.extensions());
            let req = warm
                .store
                .data_mut()
                .http()
                .new_incoming_request(Scheme::Http, req)?;
            let out = warm.store.data_mut().http().new_response_outparam(sender)?;
            let result = warm
                .proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut warm.store, req, out)
                .await;
            if result.is_ok() {
                pool.release(warm);
            }
            result.map_err(anyhow::Error::from)
        });
        // The guest runs on this connection's task. Most answers are complete
        // when the handler returns; a guest that is still streaming a body
        // after setting the response (its writes wait for hyper) continues
        // as a task of its own.
        let first = tokio::select! {
            biased;
            done = &mut call => Ok(done),
            resp = &mut receiver => Err(resp),
        };
        let (resp, error) = match first {
            // The handler returned: its response (if any) is waiting.
            Ok(done) => (receiver.await.ok(), done.err()),
            // The response is set but the guest still runs.
            Err(resp) => {
                tokio::task::spawn(async move {
                    if let Err(e) = call.await {
                        tracing::warn!("the pipeline failed after responding: {e:#}");
                    }
                });
                (resp.ok(), None)
            }
        };
        match (resp, error) {
            (Some(Ok(resp)), e) => {
                if let Some(e) = e {
                    tracing::warn!("the pipeline failed after responding: {e:#}");
                }
                Ok(resp)
            }
            (Some(Err(code)), _) => Err(anyhow::anyhow!("the pipeline failed: {code:?}")),
            (None, Some(e)) => Err(e),
            (None, None) => Err(anyhow::anyhow!("the pipeline returned without a response")),
        }
    }
}

impl tower::Service<Request> for Gateway {
    type Response = Response;
    type Error = anyhow::Error;
    type Future = BoxFuture<Result<Response>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let this = self.clone();
        if self.pool.has_handler() && !self.stream {
            Box::pin(this.whole(req))
        } else {
            Box::pin(this.streamed(req))
        }
    }
}
