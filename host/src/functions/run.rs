//! One invocation: a fresh instance of the function's component in a store
//! of its own (as `wasmtime serve`), its request and response bodies
//! streamed through wasi:http, under the edge runtime's limits: memory
//! (the store's limiter), CPU time (epoch ticks charged while its code
//! runs), wall clock, body sizes. A limit hit answers 546 `WORKER_LIMIT`, a
//! trap 500 `WORKER_ERROR`; either way the instance is dropped and only
//! this request fails.

use super::policy::{self, Answer};
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Full};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;
use wasmtime::Store;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// An answer as hyper sends it.
pub type Response = hyper::Response<HyperOutgoingBody>;

/// The limits of one invocation.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: usize,
    pub cpu: Duration,
    pub wall: Duration,
    pub max_body: u64,
}

/// Which limit an invocation hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hit {
    Memory,
    Cpu,
    Wall,
}

/// What a function's store holds.
pub struct FnState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Origins,
    memory: Memory,
    clock: Clock,
}

impl WasiView for FnState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for FnState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// The memory limit; `hit` once growth past it was refused.
struct Memory {
    max: usize,
    hit: bool,
}

impl wasmtime::ResourceLimiter for Memory {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 20)
    }
}

/// The CPU time and wall clock of one invocation.
struct Clock {
    ticks: u64,
    max_ticks: u64,
    ends: Instant,
    hit: Option<Hit>,
}

/// Outgoing HTTP: only to supalite's own origin and the configured ones;
/// anything else is refused with `HTTP-request-denied`, which the function
/// sees as the error of its request.
#[derive(Clone)]
pub struct Origins {
    pub own: Arc<str>,
    pub allowed: Arc<Vec<String>>,
}

impl wasmtime_wasi_http::WasiHttpHooks for Origins {
    fn send_request(
        &mut self,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        fut: Box<dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn std::future::Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<
                            dyn std::future::Future<Output = Result<(), wasmtime_wasi_http::Error>>
                                + Send,
                        >,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        if !policy::origin_allowed(request.uri(), &self.own, &self.allowed) {
            tracing::warn!(uri = %request.uri(), "a function's outgoing request was denied: not its own origin nor in functions-allowed-origins");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        wasmtime_wasi_http::default_hooks().send_request(request, options, fut)
    }
}

/// An answer of the runtime's own, with the request id.
pub fn answer(a: &Answer) -> Response {
    let body = Full::new(Bytes::from(a.body.clone()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(a.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        http::HeaderValue::from_static(a.content_type),
    );
    resp
}

/// A body that ends with an error past `left` bytes.
struct Capped<B> {
    inner: B,
    left: u64,
    limit: u64,
    response: bool,
}

impl<B> Body for Capped<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let n = data.len() as u64;
                    if n > self.left {
                        let limit = Some(self.limit);
                        tracing::warn!(limit = self.limit, response = self.response, "a function's body passed functions-max-body-bytes");
                        return Poll::Ready(Some(Err(if self.response {
                            wasmtime_wasi_http::Error::HttpResponseBodySize(limit)
                        } else {
                            wasmtime_wasi_http::Error::HttpRequestBodySize(limit)
                        })));
                    }
                    self.left -= n;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Runs the function `pre` on `req` (its URI already the path the function
/// sees), with `env` and `hooks`, under `limits`.
pub async fn invoke<B>(
    pre: Arc<ProxyPre<FnState>>,
    env: Vec<(String, String)>,
    hooks: Origins,
    limits: Limits,
    req: hyper::Request<B>,
) -> Response
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<wasmtime_wasi_http::Error>,
{
    let started = Instant::now();
    let mut wasi = WasiCtx::builder();
    // No preopens, no sockets (the builder grants none), no stdin.
    wasi.inherit_stderr();
    for (k, v) in &env {
        wasi.env(k, v);
    }
    let max_ticks = (limits.cpu.as_millis() / super::loader::EPOCH_TICK.as_millis()).max(1) as u64;
    let mut store = Store::new(
        pre.engine(),
        FnState {
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks,
            memory: Memory {
                max: limits.memory_bytes,
                hit: false,
            },
            clock: Clock {
                ticks: 0,
                max_ticks,
                ends: started + limits.wall,
                hit: None,
            },
        },
    );
    store.limiter(|s| &mut s.memory);
    // Each tick on which the function's code is running is charged to it
    // (a function waiting on I/O is not running); the wall clock is checked
    // on the same ticks. Yielding on each tick keeps a busy function from
    // holding the thread.
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut ctx| {
        let clock = &mut ctx.data_mut().clock;
        clock.ticks += 1;
        if clock.ticks > clock.max_ticks {
            clock.hit = Some(Hit::Cpu);
            return Err(wasmtime::Trap::Interrupt.into());
        }
        if Instant::now() >= clock.ends {
            clock.hit = Some(Hit::Wall);
            return Err(wasmtime::Trap::Interrupt.into());
        }
        Ok(wasmtime::UpdateDeadline::Yield(1))
    });

    let (parts, body) = req.into_parts();
    let req = hyper::Request::from_parts(
        parts,
        Capped {
            inner: body,
            left: limits.max_body,
            limit: limits.max_body,
            response: false,
        },
    );
    let (sender, mut receiver) = tokio::sync::oneshot::channel();
    let prepared = (|| -> wasmtime::Result<_> {
        let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        Ok((req, out))
    })();
    let (req, out) = match prepared {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!("a function's request could not be handed over: {e:#}");
            return answer(&policy::worker_error());
        }
    };
    let wall = limits.wall;
    let mut call = Box::pin(async move {
        let run = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        let result = match tokio::time::timeout(wall, run).await {
            Ok(r) => r.map_err(|e| (e, None)),
            Err(_) => Err((wasmtime::Error::msg("the wall clock limit passed"), Some(Hit::Wall))),
        };
        let hit = result.as_ref().err().and_then(|(_, h)| *h).or_else(|| {
            let data = store.data();
            data.clock.hit.or(data.memory.hit.then_some(Hit::Memory))
        });
        result.map_err(|(e, _)| (e, hit))
    });
    let first = tokio::select! {
        biased;
        done = &mut call => Ok(done),
        resp = &mut receiver => Err(resp),
    };
    let resp = match first {
        Ok(Ok(())) => receiver.await.ok(),
        Ok(Err((e, hit))) => return failed(&e, hit, started),
        // The response is set while the function still runs (it streams
        // its body): the rest of the call goes on as a task of its own; a
        // limit hit then cuts the body off.
        Err(resp) => {
            tokio::task::spawn(async move {
                if let Err((e, hit)) = call.await {
                    tracing::warn!(?hit, "a function failed after responding: {e:#}");
                }
            });
            resp.ok()
        }
    };
    match resp {
        Some(Ok(resp)) => {
            let (parts, body) = resp.into_parts();
            let body = Capped {
                inner: body,
                left: limits.max_body,
                limit: limits.max_body,
                response: true,
            }
            .boxed_unsync();
            hyper::Response::from_parts(parts, body)
        }
        Some(Err(code)) => {
            tracing::warn!("a function answered with an error: {code:?}");
            answer(&policy::worker_error())
        }
        None => {
            tracing::warn!("a function returned without a response");
            answer(&policy::worker_error())
        }
    }
}

/// The answer to a failed call: 546 when a limit was hit, else 500.
fn failed(e: &wasmtime::Error, hit: Option<Hit>, started: Instant) -> Response {
    let ms = started.elapsed().as_millis() as u64;
    match hit {
        Some(hit) => {
            tracing::warn!(?hit, ms, "a function hit a resource limit: {e:#}");
            answer(&policy::worker_limit())
        }
        None => {
            tracing::warn!(ms, "a function failed: {e:#}");
            answer(&policy::worker_error())
        }
    }
}
