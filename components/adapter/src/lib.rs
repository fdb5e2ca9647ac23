//! The adapter: a `backend` that forwards each request to a real PostgREST
//! over `wasi:http/outgoing-handler` and returns its answer unchanged.
//!
//! Configuration (wasi:cli environment):
//! - `SUPALITE_UPSTREAM_URL`: PostgREST's base URL, e.g. `http://127.0.0.1:3000`.
//! - `SUPALITE_UPSTREAM_TIMEOUT_MS`: connect / first-byte / between-bytes timeout (default 30000).

/// Splits `http://host:port/base` into (scheme, authority, base path).
pub fn split_url(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, base) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    (!authority.is_empty() && (scheme == "http" || scheme == "https"))
        .then_some((scheme, authority, base))
}

/// Request headers that must not be forwarded (hop-by-hop, or set by the
/// HTTP client itself).
pub fn forwardable(name: &str) -> bool {
    !matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "http2-settings"
            | "content-length"
    )
}

#[cfg(target_arch = "wasm32")]
mod glue {
    wit_bindgen::generate!({ path: "../../wit", world: "adapter-component", generate_all });

    use exports::supalite::api::backend::Guest;
    use postgrest::error::ApiError;
    use supalite::api::types::{Identity, Request, Response};
    use wasi::http::outgoing_handler;
    use wasi::http::types::{
        ErrorCode, Fields, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
    };
    use wasi::io::streams::StreamError;

    struct Adapter;

    impl Guest for Adapter {
        fn handle(req: Request, _who: Identity) -> Response {
            match forward(&req) {
                Ok(r) => r,
                Err(e) => {
                    let r: postgrest::Response = e.into();
                    Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    }
                }
            }
        }
    }

    fn upstream_error(code: &ErrorCode) -> ApiError {
        match code {
            ErrorCode::ConnectionTimeout
            | ErrorCode::ConnectionReadTimeout
            | ErrorCode::ConnectionWriteTimeout => ApiError::new(
                504,
                "SUPALITE504",
                "The upstream PostgREST did not answer in time",
            ),
            ErrorCode::ConnectionRefused
            | ErrorCode::DnsError(_)
            | ErrorCode::DestinationUnavailable => ApiError::new(
                503,
                "SUPALITE503",
                "Could not connect to the upstream PostgREST",
            ),
            other => ApiError::new(502, "SUPALITE502", "The upstream PostgREST failed")
                .details(format!("{other:?}")),
        }
    }

    fn forward(req: &Request) -> Result<Response, ApiError> {
        let url = std::env::var("SUPALITE_UPSTREAM_URL").unwrap_or_default();
        let Some((scheme, authority, base)) = crate::split_url(&url) else {
            return Err(ApiError::new(
                500,
                "SUPALITE500",
                "No valid upstream URL is configured (SUPALITE_UPSTREAM_URL)",
            ));
        };
        let headers: Vec<(String, Vec<u8>)> = req
            .headers
            .iter()
            .filter(|(k, _)| crate::forwardable(k))
            .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
            .collect();
        let fields = Fields::from_list(&headers)
            .map_err(|e| ApiError::new(400, "SUPALITE400", format!("bad request header: {e:?}")))?;
        let out = OutgoingRequest::new(fields);
        let method = match req.method.as_str() {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            "PATCH" => Method::Patch,
            other => Method::Other(other.to_string()),
        };
        let _ = out.set_method(&method);
        let pq = if req.query.is_empty() {
            format!("{base}{}", req.path)
        } else {
            format!("{base}{}?{}", req.path, req.query)
        };
        let _ = out.set_path_with_query(Some(&pq));
        let _ = out.set_scheme(Some(&if scheme == "https" {
            Scheme::Https
        } else {
            Scheme::Http
        }));
        let _ = out.set_authority(Some(authority));

        let timeout_ms: u64 = std::env::var("SUPALITE_UPSTREAM_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(30_000);
        let options = RequestOptions::new();
        let ns = timeout_ms * 1_000_000;
        let _ = options.set_connect_timeout(Some(ns));
        let _ = options.set_first_byte_timeout(Some(ns));
        let _ = options.set_between_bytes_timeout(Some(ns));

        let body = out
            .body()
            .map_err(|_| ApiError::new(500, "SUPALITE500", "could not open the request body"))?;
        let future =
            outgoing_handler::handle(out, Some(options)).map_err(|e| upstream_error(&e))?;
        {
            let stream = body.write().map_err(|_| {
                ApiError::new(500, "SUPALITE500", "could not write the request body")
            })?;
            for chunk in req.body.chunks(4096) {
                stream.blocking_write_and_flush(chunk).map_err(|_| {
                    ApiError::new(502, "SUPALITE502", "upstream closed the connection")
                })?;
            }
        }
        OutgoingBody::finish(body, None).map_err(|e| upstream_error(&e))?;

        let incoming = loop {
            match future.get() {
                Some(result) => break result,
                None => future.subscribe().block(),
            }
        };
        let resp = match incoming {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => return Err(upstream_error(&e)),
            Err(()) => {
                return Err(ApiError::new(
                    502,
                    "SUPALITE502",
                    "upstream response was already taken",
                ))
            }
        };
        let status = resp.status();
        let headers = resp
            .headers()
            .entries()
            .into_iter()
            .filter(|(k, _)| crate::forwardable(k))
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect();
        let mut bytes = Vec::new();
        let incoming_body = resp
            .consume()
            .map_err(|_| ApiError::new(502, "SUPALITE502", "upstream body unavailable"))?;
        {
            let stream = incoming_body
                .stream()
                .map_err(|_| ApiError::new(502, "SUPALITE502", "upstream body unavailable"))?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(chunk) => bytes.extend_from_slice(&chunk),
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(_)) => {
                        return Err(ApiError::new(
                            502,
                            "SUPALITE502",
                            "the upstream response body was cut off",
                        ));
                    }
                }
            }
        }
        Ok(Response {
            status,
            headers,
            body: bytes,
        })
    }

    export!(Adapter);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:3000"),
            Some(("http", "127.0.0.1:3000", ""))
        );
        assert_eq!(
            split_url("https://x.test/api/"),
            Some(("https", "x.test", "/api"))
        );
        assert_eq!(split_url("ftp://x"), None);
        assert_eq!(split_url("nonsense"), None);
        assert!(!forwardable("connection"));
        assert!(forwardable("prefer"));
    }
}
