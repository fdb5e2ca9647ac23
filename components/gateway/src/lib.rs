//! The gateway: owns the HTTP edge and wires the stages: rewriter → verifier
//! → backend (or the auth API), then adds the rewriter's decorations (request
//! id, CORS) to the response. Two exports run the same
//! stages: `wasi:http/incoming-handler` for any wasi:http host, and
//! `supalite:api/handler` (whole request and response as records) for a host
//! that buffers bodies anyway, which skips wasi:http's resources and streams.
//!
//! Configuration (wasi:cli environment):
//! - `SUPALITE_MAX_BODY_BYTES`: largest accepted request body (default 10 MiB).

pub use contract::http::{is_framing_header, max_body, DEFAULT_MAX_BODY};

/// Adds each of `decorations` (the rewriter's response header fields) that
/// `headers` does not already have.
pub fn add_missing(headers: &mut Vec<(String, String)>, decorations: Vec<(String, String)>) {
    for (k, v) in decorations {
        if !headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(&k)) {
            headers.push((k, v));
        }
    }
}

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::gateway::*;

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    use exports::wasi::http::incoming_handler::Guest;
    use supalite::api::rewriter::{Outcome, RequestHead, Routed, Target};
    use supalite::api::storage::{Body as StorageBody, StorageRequest, StorageResponse};
    use supalite::api::types::{Request, Response};
    use supalite::api::{auth, backend, rewriter, storage, verifier};
    use wasi::http::types::{
        Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };
    use wasi::io::streams::{InputStream, StreamError};

    struct Gateway;

    thread_local! {
        /// Read once per instance.
        static MAX_BODY: usize =
            super::max_body(contract::settings::MAX_BODY_BYTES.text(setting).as_deref());
    }

    impl Guest for Gateway {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let head = read_head(&request);
            let rewritten = rewriter::rewrite(&head);
            match rewritten.outcome {
                Outcome::Respond(mut r) => {
                    super::add_missing(&mut r.headers, rewritten.decorations);
                    write_response(r, out);
                }
                // The storage API takes the body as the stream it arrives
                // in: an upload never enters a component's memory whole.
                Outcome::Forward(routed) if routed.target == Target::Storage => {
                    let incoming = request.consume().ok();
                    let body = match incoming.as_ref().and_then(|b| b.stream().ok()) {
                        Some(s) => StorageBody::Stream(s),
                        None => StorageBody::Empty,
                    };
                    let head_only = head.method == "HEAD";
                    let mut resp = storage_stage(head, routed, body);
                    drop(incoming);
                    super::add_missing(&mut resp.headers, rewritten.decorations);
                    write_storage_response(resp, out, head_only);
                }
                Outcome::Forward(routed) => {
                    let mut resp = match read_body(&request) {
                        Ok(body) => stage(
                            routed.target,
                            &Request {
                                method: head.method,
                                path: routed.path,
                                query: head.query,
                                headers: routed.headers,
                                body,
                            },
                        ),
                        Err(resp) => resp,
                    };
                    super::add_missing(&mut resp.headers, rewritten.decorations);
                    write_response(resp, out);
                }
            }
        }
    }

    impl exports::supalite::api::handler::Guest for Gateway {
        fn handle(req: Request) -> Response {
            // The host stops reading one byte past the limit.
            if req.body.len() > MAX_BODY.with(|l| *l) {
                return too_large();
            }
            serve(req)
        }
    }

    /// The stages; the rewriter's decorations (request id, CORS) go on
    /// whichever response comes back.
    fn serve(req: Request) -> Response {
        let Request {
            method,
            path,
            query,
            headers,
            body,
        } = req;
        let head = RequestHead {
            method,
            path,
            query,
            headers,
        };
        let rewritten = rewriter::rewrite(&head);
        let mut resp = match rewritten.outcome {
            Outcome::Respond(r) => r,
            Outcome::Forward(routed) if routed.target == Target::Storage => {
                let body = if body.is_empty() {
                    StorageBody::Empty
                } else {
                    StorageBody::Bytes(body)
                };
                whole(storage_stage(head, routed, body))
            }
            Outcome::Forward(Routed {
                target,
                path,
                headers,
            }) => stage(
                target,
                &Request {
                    method: head.method,
                    path,
                    query: head.query,
                    headers,
                    body,
                },
            ),
        };
        super::add_missing(&mut resp.headers, rewritten.decorations);
        resp
    }

    fn too_large() -> Response {
        error(413, "PGRST413", "Payload Too Large")
    }

    fn stage(target: Target, req: &Request) -> Response {
        match target {
            Target::Auth => auth::handle(req),
            Target::Rest => match verifier::authenticate(&req.headers) {
                Ok(who) => backend::handle(req, &who),
                Err(denied) => denied,
            },
            // Served by `storage_stage`; not reached.
            Target::Storage => error(500, "SUPALITE500", "storage request on the wrong path"),
        }
    }

    /// The storage API: the verifier's verdict goes along (storage decides
    /// which routes need a token, and answers in its own error shape).
    fn storage_stage(head: RequestHead, routed: Routed, body: StorageBody) -> StorageResponse {
        let who = verifier::authenticate(&routed.headers);
        storage::handle(
            &StorageRequest {
                method: head.method,
                path: routed.path,
                query: head.query,
                headers: routed.headers,
            },
            body,
            who.as_ref(),
        )
    }

    /// Reads what is left of `stream`, at most `limit` bytes.
    fn read_stream(stream: &InputStream, limit: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while (out.len() as u64) < limit {
            match stream.blocking_read((limit - out.len() as u64).min(64 * 1024)) {
                Ok(chunk) => out.extend_from_slice(&chunk),
                Err(_) => break,
            }
        }
        out
    }

    /// The content length a storage answer declares.
    fn declared_length(headers: &[(String, String)]) -> Option<u64> {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
    }

    /// A storage answer as a whole response (its stream read to the end).
    fn whole(resp: StorageResponse) -> Response {
        let body = match resp.body {
            StorageBody::Empty => Vec::new(),
            StorageBody::Bytes(b) => b,
            StorageBody::Stream(s) => {
                read_stream(&s, declared_length(&resp.headers).unwrap_or(u64::MAX))
            }
        };
        Response {
            status: resp.status,
            headers: resp.headers,
            body,
        }
    }

    fn error(status: u16, code: &str, message: &str) -> Response {
        let r: contract::Response = contract::ApiError::new(status, code, message).into();
        Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        }
    }

    fn read_head(request: &IncomingRequest) -> RequestHead {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Head => "HEAD".into(),
            Method::Post => "POST".into(),
            Method::Put => "PUT".into(),
            Method::Delete => "DELETE".into(),
            Method::Connect => "CONNECT".into(),
            Method::Options => "OPTIONS".into(),
            Method::Trace => "TRACE".into(),
            Method::Patch => "PATCH".into(),
            Method::Other(m) => m.to_ascii_uppercase(),
        };
        let pq = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match pq.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (pq, String::new()),
        };
        let mut headers: Vec<(String, String)> = request
            .headers()
            .entries()
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_ascii_lowercase(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect();
        // wasi:http keeps the authority out of the header fields.
        if !headers.iter().any(|(k, _)| k == "host") {
            if let Some(authority) = request.authority() {
                headers.push(("host".into(), authority));
            }
        }
        RequestHead {
            method,
            path,
            query,
            headers,
        }
    }

    fn read_body(request: &IncomingRequest) -> Result<Vec<u8>, Response> {
        let limit = MAX_BODY.with(|l| *l);
        let mut body = Vec::new();
        if let Ok(incoming) = request.consume() {
            if let Ok(stream) = incoming.stream() {
                loop {
                    match stream.blocking_read(64 * 1024) {
                        Ok(chunk) => {
                            body.extend_from_slice(&chunk);
                            if body.len() > limit {
                                return Err(too_large());
                            }
                        }
                        Err(StreamError::Closed) => break,
                        Err(StreamError::LastOperationFailed(_)) => {
                            return Err(error(400, "PGRST102", "Could not read the request body"));
                        }
                    }
                }
            }
        }
        Ok(body)
    }

    fn write_response(resp: Response, out: ResponseOutparam) {
        let mut headers: Vec<(String, Vec<u8>)> = resp
            .headers
            .into_iter()
            .filter(|(k, _)| !super::is_framing_header(k))
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        headers.push((
            "content-length".into(),
            resp.body.len().to_string().into_bytes(),
        ));
        let fields = match Fields::from_list(&headers) {
            Ok(f) => f,
            Err(_) => Fields::new(),
        };
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(resp.status);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = body.write() {
            for chunk in resp.body.chunks(4096) {
                if stream.blocking_write_and_flush(chunk).is_err() {
                    break;
                }
            }
            drop(stream);
        }
        let _ = OutgoingBody::finish(body, None);
    }

    /// A storage answer through wasi:http: a stream body is spliced from
    /// the blob store's stream into the outgoing body by the host, its
    /// `content-length` bytes (a HEAD answer declares none: wasi:http
    /// checks the declared length against the bytes written).
    fn write_storage_response(resp: StorageResponse, out: ResponseOutparam, head_only: bool) {
        let stream = match resp.body {
            StorageBody::Stream(s) if !head_only => s,
            body => {
                let body = match body {
                    StorageBody::Bytes(b) if !head_only => b,
                    _ => Vec::new(),
                };
                let mut headers = resp.headers;
                if head_only {
                    headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-length"));
                }
                return write_response(
                    Response {
                        status: resp.status,
                        headers,
                        body,
                    },
                    out,
                );
            }
        };
        let length = declared_length(&resp.headers);
        let mut headers: Vec<(String, Vec<u8>)> = resp
            .headers
            .into_iter()
            .filter(|(k, _)| !super::is_framing_header(k))
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        if let Some(n) = length {
            headers.push(("content-length".into(), n.to_string().into_bytes()));
        }
        let fields = Fields::from_list(&headers).unwrap_or_else(|_| Fields::new());
        let response = OutgoingResponse::new(fields);
        let _ = response.set_status_code(resp.status);
        let Ok(body) = response.body() else { return };
        ResponseOutparam::set(out, Ok(response));
        let mut complete = true;
        if let Ok(out_stream) = body.write() {
            let mut left = length.unwrap_or(u64::MAX);
            while left > 0 {
                match out_stream.blocking_splice(&stream, left.min(1 << 20)) {
                    Ok(n) => left -= n.min(left),
                    Err(StreamError::Closed) => {
                        complete = length.is_none();
                        break;
                    }
                    Err(StreamError::LastOperationFailed(_)) => {
                        complete = false;
                        break;
                    }
                }
            }
            let _ = out_stream.blocking_flush();
            drop(out_stream);
        }
        drop(stream);
        if complete {
            let _ = OutgoingBody::finish(body, None);
        }
        // An incomplete body is dropped unfinished: the host ends the
        // answer with an error instead of a short body passing as whole.
    }

    guest::gateway::export_gateway!(Gateway);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn decorations_never_replace_what_a_stage_set() {
        let mut headers = h(&[
            ("content-type", "application/json"),
            ("Access-Control-Allow-Origin", "https://upstream.test"),
        ]);
        add_missing(
            &mut headers,
            h(&[
                ("x-request-id", "rid"),
                ("access-control-allow-origin", "*"),
                ("access-control-expose-headers", "Content-Range"),
            ]),
        );
        assert_eq!(
            headers,
            h(&[
                ("content-type", "application/json"),
                ("Access-Control-Allow-Origin", "https://upstream.test"),
                ("x-request-id", "rid"),
                ("access-control-expose-headers", "Content-Range"),
            ])
        );
    }

    #[test]
    fn body_limit_setting() {
        assert_eq!(max_body(None), DEFAULT_MAX_BODY);
        assert_eq!(max_body(Some(" 200 ")), 200);
        assert_eq!(max_body(Some("lots")), DEFAULT_MAX_BODY);
        assert!(is_framing_header("content-length") && !is_framing_header("content-type"));
    }
}
