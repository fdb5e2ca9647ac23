//! Between hyper and the pipeline: the request and response types the
//! services pass on, records from requests and responses from records, the
//! server's own error answers and the request ids they carry.

use super::bindings::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A request as hyper hands it over.
pub type Request = hyper::Request<hyper::body::Incoming>;
/// An answer as hyper sends it.
pub type Response = hyper::Response<HyperOutgoingBody>;
/// The future of a boxed service call.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

/// A new request id (a random UUID v4, as the rewriter makes them).
pub fn new_request_id() -> String {
    let random = || {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0);
        h.finish()
    };
    contract::http::new_request_id([random(), random()])
}

/// Whether a client's `X-Request-Id` is kept: present, not empty, at most
/// 200 bytes (the rewriter's rule, on the value as the components read it).
pub fn usable_request_id(v: &http::HeaderValue) -> bool {
    let n = String::from_utf8_lossy(v.as_bytes()).len();
    n > 0 && n <= 200
}

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
        .or_else(|| http::HeaderValue::from_str(&new_request_id()).ok());
    if let Some(id) = id {
        headers.insert("x-request-id", id);
    }
    resp
}
