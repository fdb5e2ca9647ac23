//! An HTTP response as the stages return it, and PostgREST's error as one.

use crate::error::ApiError;

/// An HTTP response: status, header fields in order, the whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<ApiError> for Response {
    fn from(e: ApiError) -> Self {
        let mut headers = vec![(
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        )];
        headers.extend(e.headers.iter().cloned());
        // As PostgREST (RFC 9209): which error, for proxies and logs.
        headers.push((
            "proxy-status".into(),
            format!("PostgREST; error={}", e.code),
        ));
        Response {
            status: e.status,
            headers,
            body: e.to_json(),
        }
    }
}
