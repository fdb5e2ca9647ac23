//! Routing, header and CORS rules as plain functions (unit-tested on the host).

use postgrest::error::ApiError;
use postgrest::Response;

pub type Headers = Vec<(String, String)>;

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Forward to the auth API (`auth`) or the data API, with the rewritten
    /// path and headers.
    Forward {
        auth: bool,
        path: String,
        headers: Headers,
    },
    /// Answer right away.
    Respond(Response),
}

/// Headers a browser may read from our responses (PostgREST's list plus
/// the ones Supabase clients use).
pub const EXPOSED_HEADERS: &str = "Content-Encoding, Content-Location, Content-Range, Content-Type, Date, Location, Server, Transfer-Encoding, Range-Unit, Content-Profile, Preference-Applied, X-Request-Id";

const ALLOWED_METHODS: &str = "GET, HEAD, PUT, PATCH, POST, DELETE, OPTIONS";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Routes a request by path prefix.
pub fn route(method: &str, path: &str, headers: &[(String, String)], origins: &str) -> Route {
    if method.eq_ignore_ascii_case("OPTIONS")
        && header(headers, "access-control-request-method").is_some()
    {
        return Route::Respond(preflight(headers, origins));
    }
    let (auth, rest) = if let Some(rest) = strip_prefix(path, "/rest/v1") {
        (false, rest)
    } else if let Some(rest) = strip_prefix(path, "/auth/v1") {
        (true, rest)
    } else {
        return Route::Respond(
            ApiError::new(404, "PGRST125", "Invalid path specified in request URL").into(),
        );
    };
    let mut headers: Headers = headers.to_vec();
    if header(&headers, "authorization").is_none() {
        if let Some(key) = header(&headers, "apikey").map(str::to_string) {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        }
    }
    Route::Forward {
        auth,
        path: if rest.is_empty() {
            "/".into()
        } else {
            rest.to_string()
        },
        headers,
    }
}

/// `/rest/v1` and `/rest/v1/...` match; `/rest/v10` does not.
fn strip_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

fn allow_origin(request_headers: &[(String, String)], origins: &str) -> Option<String> {
    let origin = header(request_headers, "origin");
    if origins.trim() == "*" {
        return Some("*".into());
    }
    let origin = origin?;
    origins
        .split(',')
        .map(str::trim)
        .any(|o| o.eq_ignore_ascii_case(origin))
        .then(|| origin.to_string())
}

/// The answer to a CORS preflight request.
pub fn preflight(headers: &[(String, String)], origins: &str) -> Response {
    let mut out: Headers = Vec::new();
    if let Some(o) = allow_origin(headers, origins) {
        out.push(("access-control-allow-origin".into(), o));
        out.push((
            "access-control-allow-methods".into(),
            ALLOWED_METHODS.into(),
        ));
        let allow_headers = header(headers, "access-control-request-headers")
            .unwrap_or("authorization, x-client-info, apikey, content-type, prefer, range, accept-profile, content-profile");
        out.push(("access-control-allow-headers".into(), allow_headers.into()));
        out.push(("access-control-max-age".into(), "86400".into()));
    }
    out.push(("vary".into(), "Origin".into()));
    Response {
        status: 200,
        headers: out,
        body: Vec::new(),
    }
}

/// Adds CORS headers to a response (preflight answers already have them).
pub fn decorate(
    request_headers: &[(String, String)],
    response_headers: &mut Headers,
    origins: &str,
) {
    if header(response_headers, "access-control-allow-origin").is_some() {
        return;
    }
    if let Some(o) = allow_origin(request_headers, origins) {
        response_headers.push(("access-control-allow-origin".into(), o));
        response_headers.push((
            "access-control-expose-headers".into(),
            EXPOSED_HEADERS.into(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn rest_prefix_is_stripped_and_apikey_becomes_bearer() {
        match route("GET", "/rest/v1/todos", &h(&[("apikey", "k")]), "*") {
            Route::Forward {
                auth,
                path,
                headers,
            } => {
                assert!(!auth);
                assert_eq!(path, "/todos");
                assert_eq!(header(&headers, "authorization"), Some("Bearer k"));
            }
            other => panic!("{other:?}"),
        }
        match route(
            "GET",
            "/rest/v1",
            &h(&[("apikey", "k"), ("authorization", "Bearer t")]),
            "*",
        ) {
            Route::Forward { path, headers, .. } => {
                assert_eq!(path, "/");
                assert_eq!(header(&headers, "authorization"), Some("Bearer t"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            route("GET", "/auth/v1/health", &[], "*"),
            Route::Forward { auth: true, .. }
        ));
    }

    #[test]
    fn unknown_prefix_is_404_in_postgrest_format() {
        for p in ["/", "/rest/v10/x", "/storage/v1/x", "/todos"] {
            match route("GET", p, &[], "*") {
                Route::Respond(r) => {
                    assert_eq!(r.status, 404);
                    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
                    assert_eq!(v["code"], "PGRST125");
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn cors() {
        let pre = h(&[
            ("origin", "http://a.test"),
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "apikey, content-type"),
        ]);
        match route("OPTIONS", "/rest/v1/todos", &pre, "*") {
            Route::Respond(r) => {
                assert_eq!(r.status, 200);
                assert_eq!(header(&r.headers, "access-control-allow-origin"), Some("*"));
                assert_eq!(
                    header(&r.headers, "access-control-allow-headers"),
                    Some("apikey, content-type")
                );
            }
            other => panic!("{other:?}"),
        }
        match route("OPTIONS", "/rest/v1/todos", &pre, "http://b.test") {
            Route::Respond(r) => {
                assert_eq!(header(&r.headers, "access-control-allow-origin"), None)
            }
            other => panic!("{other:?}"),
        }
        let mut out = Vec::new();
        decorate(
            &h(&[("origin", "http://a.test")]),
            &mut out,
            "http://a.test, http://c.test",
        );
        assert_eq!(
            header(&out, "access-control-allow-origin"),
            Some("http://a.test")
        );
        assert!(header(&out, "access-control-expose-headers")
            .unwrap()
            .contains("Content-Range"));
    }
}
