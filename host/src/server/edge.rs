//! Between hyper and the pipeline: records from requests and responses
//! from records, the HTTP limits, the server's own error answers, the
//! request log.

use super::bindings::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// The record the gateway's `handler` receives: what its wasi:http export
/// reads from the same request (lower-case names, lossy UTF-8 values, the
/// authority as `host` when the request has none).
pub(super) fn request_record(parts: &http::request::Parts, body: Vec<u8>) -> wit_types::Request {
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if !parts.headers.contains_key(http::header::HOST) {
        if let Some(a) = parts.uri.authority() {
            headers.push(("host".into(), a.to_string()));
        }
    }
    wit_types::Request {
        method: parts.method.as_str().to_ascii_uppercase(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().unwrap_or("").to_string(),
        headers,
        body,
    }
}

/// The gateway's answer as a hyper response; the server frames the body.
pub(super) fn response_from_record(
    resp: wit_types::Response,
) -> hyper::Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(resp.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut out = hyper::Response::new(body);
    *out.status_mut() = hyper::StatusCode::from_u16(resp.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (k, v) in resp.headers {
        if contract::http::is_framing_header(&k) {
            continue;
        }
        if let (Ok(k), Ok(v)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(&v),
        ) {
            headers.append(k, v);
        }
    }
    out
}

/// Longest request target (path and query) and most header bytes and
/// fields accepted. hyper's own limits sit above these (a 65,534-byte
/// target, 400 header fields, its ~400 KB read buffer; it answers 414/431
/// with an empty body), so that a client gets these answers in PostgREST's
/// shape instead.
pub(super) const MAX_URI_BYTES: usize = 48 << 10;
pub(super) const MAX_HEADER_BYTES: usize = 64 << 10;
pub(super) const MAX_HEADERS: usize = 100;

/// 414 or 431 for a request over the limits above.
pub(super) fn over_http_limits<B>(
    req: &hyper::Request<B>,
) -> Option<hyper::Response<HyperOutgoingBody>> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_URI_BYTES {
        return Some(http_error(
            req.headers(),
            414,
            "SUPALITE414",
            "URI Too Long",
        ));
    }
    let headers = req.headers();
    let bytes: usize = headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if headers.len() > MAX_HEADERS || bytes > MAX_HEADER_BYTES {
        return Some(http_error(
            headers,
            431,
            "SUPALITE431",
            "Request Header Fields Too Large",
        ));
    }
    None
}

/// A PostgREST-style 500 for failures outside the pipeline (a trap, say).
pub(super) fn internal_error(
    e: &anyhow::Error,
    id: Option<&http::HeaderValue>,
) -> hyper::Response<HyperOutgoingBody> {
    tracing::error!("request failed: {e:#}");
    let mut h = http::HeaderMap::new();
    if let Some(id) = id {
        h.insert("x-request-id", id.clone());
    }
    http_error(&h, 500, "SUPALITE500", "The request pipeline failed")
}

/// An error the server itself answers (before or around the pipeline), in
/// PostgREST's JSON shape, with the client's `X-Request-Id` or a new one.
pub fn http_error(
    request_headers: &http::HeaderMap,
    status: u16,
    code: &str,
    message: &str,
) -> hyper::Response<HyperOutgoingBody> {
    // The same error type (and JSON) as the components answer with.
    let body = contract::error::ApiError::new(status, code, message).to_json();
    let body = Full::new(Bytes::from(body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut resp = hyper::Response::new(body);
    *resp.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json; charset=utf-8"),
    );
    let id = request_headers
        .get("x-request-id")
        .filter(|v| !v.is_empty() && v.len() <= 200)
        .cloned()
        .or_else(|| {
            let random = || {
                use std::hash::{BuildHasher, Hasher};
                let mut h = std::collections::hash_map::RandomState::new().build_hasher();
                h.write_u64(0);
                h.finish()
            };
            http::HeaderValue::from_str(&contract::http::new_request_id([random(), random()])).ok()
        });
    if let Some(id) = id {
        headers.insert("x-request-id", id);
    }
    resp
}

/// One line per request at debug level (server errors at warn), with the
/// request id the rewriter assigned or passed on.
pub(super) fn log_request(
    method: &hyper::Method,
    path: &str,
    resp: &hyper::Response<HyperOutgoingBody>,
    started: std::time::Instant,
) {
    let status = resp.status().as_u16();
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(request_id = id, %method, path, status, ms, "request failed");
    } else {
        tracing::debug!(request_id = id, %method, path, status, ms, "request");
    }
}
