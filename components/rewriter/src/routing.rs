//! Routing, header and CORS rules as plain functions (unit-tested on the host).

use contract::ApiError;
use contract::Response;

pub type Headers = Vec<(String, String)>;

/// What to do with a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Forward to the route's stage (`target`; `auth` says whether it is
    /// the auth API, for rewriters written before the storage target), with
    /// the rewritten path and headers.
    Forward {
        target: Target,
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

/// PostgREST's preflight answer (its CORS middleware's lists).
const ALLOWED_METHODS: &str = "GET, POST, PATCH, PUT, DELETE, OPTIONS, HEAD";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

pub use contract::http::{
    default_routes, hop_by_hop, new_request_id, parse_route, route_rules, routes_or_default,
    RouteRule, Target,
};

/// Routes a request by the longest matching prefix of `routes`, and rewrites
/// its headers for the next hop: `apikey` becomes `Authorization: Bearer`
/// when none was sent, hop-by-hop headers are dropped, `X-Request-Id` is
/// kept or set from `request_id`, and `X-Forwarded-Host/Proto/Prefix` are
/// added when absent. Also returns the response's [`decorations`].
pub fn route(
    method: &str,
    path: &str,
    mut headers: Headers,
    origins: &str,
    routes: &[RouteRule],
    request_id: impl FnOnce() -> String,
) -> (Route, Headers) {
    if method.eq_ignore_ascii_case("OPTIONS")
        && header(&headers, "access-control-request-method").is_some()
    {
        let answer = preflight(&headers, origins);
        return (Route::Respond(answer), decorations(&headers, origins));
    }
    let Some((rule, rest)) = routes
        .iter()
        .filter_map(|r| strip_prefix(path, &r.prefix).map(|rest| (r, rest)))
        .max_by_key(|(r, _)| r.prefix.len())
    else {
        let answer = ApiError::new(404, "PGRST125", "Invalid path specified in request URL").into();
        return (Route::Respond(answer), decorations(&headers, origins));
    };
    let auth = rule.auth();
    let connection = header(&headers, "connection").map(str::to_ascii_lowercase);
    headers.retain(|(k, _)| !hop_by_hop(k, connection.as_deref()));
    if header(&headers, "authorization").is_none() {
        if let Some(key) = header(&headers, "apikey").map(str::to_string) {
            headers.push(("authorization".into(), format!("Bearer {key}")));
        }
    }
    if header(&headers, "x-request-id").is_none_or(|v| v.is_empty() || v.len() > 200) {
        headers.retain(|(k, _)| k != "x-request-id");
        headers.push(("x-request-id".into(), request_id()));
    }
    if header(&headers, "x-forwarded-host").is_none() {
        if let Some(host) = header(&headers, "host").map(str::to_string) {
            headers.push(("x-forwarded-host".into(), host));
        }
    }
    if header(&headers, "x-forwarded-proto").is_none() {
        headers.push(("x-forwarded-proto".into(), "http".into()));
    }
    if !rule.prefix.is_empty() && header(&headers, "x-forwarded-prefix").is_none() {
        headers.push(("x-forwarded-prefix".into(), rule.prefix.clone()));
    }
    // From the forwarded headers: they carry the request id.
    let decorations = decorations(&headers, origins);
    let route = Route::Forward {
        target: rule.target,
        auth,
        path: if rest.is_empty() {
            "/".into()
        } else {
            rest.to_string()
        },
        headers,
    };
    (route, decorations)
}

/// `/rest/v1` and `/rest/v1/...` match; `/rest/v10` does not. The empty
/// prefix (route `/`) matches every path.
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
        // As PostgREST: Authorization, the headers asked for, then the
        // simple ones.
        let asked = header(headers, "access-control-request-headers").unwrap_or(
            "x-client-info, apikey, content-type, prefer, range, accept-profile, content-profile",
        );
        let mut allow: Vec<&str> = vec!["Authorization"];
        allow.extend(asked.split(',').map(str::trim).filter(|h| !h.is_empty()));
        allow.extend(["Accept", "Accept-Language", "Content-Language"]);
        out.push(("access-control-allow-headers".into(), allow.join(", ")));
        out.push(("access-control-max-age".into(), "86400".into()));
    }
    out.push(("vary".into(), "Origin".into()));
    Response {
        status: 200,
        headers: out,
        body: Vec::new(),
    }
}

/// The header fields the response to a request with `request_headers` gets
/// (the caller adds each one the response does not already have): the
/// request id, and CORS headers when the origin is allowed (preflight
/// answers already have theirs).
pub fn decorations(request_headers: &[(String, String)], origins: &str) -> Headers {
    let mut out = Headers::new();
    if let Some(id) = header(request_headers, "x-request-id") {
        out.push(("x-request-id".into(), id.to_string()));
    }
    if let Some(o) = allow_origin(request_headers, origins) {
        out.push(("access-control-allow-origin".into(), o));
        out.push((
            "access-control-expose-headers".into(),
            EXPOSED_HEADERS.into(),
        ));
    }
    out
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

    fn r(method: &str, path: &str, headers: &[(String, String)], origins: &str) -> Route {
        route(
            method,
            path,
            headers.to_vec(),
            origins,
            &default_routes(),
            || "rid".into(),
        )
        .0
    }

    #[test]
    fn every_answer_gets_decorations() {
        let origin = h(&[("origin", "http://a.test")]);
        // Forwarded: the request id it forwards, and CORS.
        let (_, d) = route(
            "GET",
            "/rest/v1/t",
            origin.clone(),
            "*",
            &default_routes(),
            || "rid".into(),
        );
        assert_eq!(header(&d, "x-request-id"), Some("rid"));
        assert_eq!(header(&d, "access-control-allow-origin"), Some("*"));
        // Answered early (unknown route): CORS too, so the browser can read the 404.
        let (route, d) = route("GET", "/nope", origin, "*", &default_routes(), || {
            "rid".into()
        });
        assert!(matches!(route, Route::Respond(ref r) if r.status == 404));
        assert_eq!(header(&d, "access-control-allow-origin"), Some("*"));
    }

    #[test]
    fn route_table_longest_prefix_and_postgrest_root() {
        assert!(route_rules("/=rest,/bad=nope").is_err());
        assert!(route_rules("nope=rest").is_err());
        let routes = route_rules("/=rest, /auth/v1=auth").unwrap();
        assert_eq!(routes.len(), 2);
        match route("GET", "/todos", vec![], "*", &routes, || "x".into()).0 {
            Route::Forward { auth, path, .. } => {
                assert_eq!((auth, path.as_str()), (false, "/todos"))
            }
            other => panic!("{other:?}"),
        }
        match route("GET", "/auth/v1/user", vec![], "*", &routes, || "x".into()).0 {
            Route::Forward { auth, path, .. } => assert_eq!((auth, path.as_str()), (true, "/user")),
            other => panic!("{other:?}"),
        }
        match r("POST", "/rest/v1/rpc/add", &[], "*") {
            Route::Forward { path, .. } => assert_eq!(path, "/rpc/add"),
            other => panic!("{other:?}"),
        }
        match r("POST", "/storage/v1/object/avatars/a.png", &h(&[]), "*") {
            Route::Forward {
                target, auth, path, ..
            } => assert_eq!(
                (target, auth, path.as_str()),
                (Target::Storage, false, "/object/avatars/a.png")
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn next_hop_headers() {
        let incoming = h(&[
            ("host", "api.test"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("prefer", "return=representation"),
        ]);
        let Route::Forward { headers, .. } = r("GET", "/rest/v1/t", &incoming, "*") else {
            panic!()
        };
        for gone in ["connection", "x-secret-hop", "keep-alive", "te"] {
            assert_eq!(header(&headers, gone), None, "{gone}");
        }
        assert_eq!(header(&headers, "prefer"), Some("return=representation"));
        assert_eq!(header(&headers, "x-request-id"), Some("rid"));
        assert_eq!(header(&headers, "x-forwarded-host"), Some("api.test"));
        assert_eq!(header(&headers, "x-forwarded-proto"), Some("http"));
        assert_eq!(header(&headers, "x-forwarded-prefix"), Some("/rest/v1"));
        let Route::Forward { headers, .. } =
            r("GET", "/rest/v1/t", &h(&[("x-request-id", "mine")]), "*")
        else {
            panic!()
        };
        assert_eq!(header(&headers, "x-request-id"), Some("mine"));
        let out = decorations(&headers, "*");
        assert_eq!(header(&out, "x-request-id"), Some("mine"));
        let id = new_request_id([u64::MAX, 0]);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(new_request_id([1, 2]), new_request_id([3, 4]));
    }

    #[test]
    fn rest_prefix_is_stripped_and_apikey_becomes_bearer() {
        match r("GET", "/rest/v1/todos", &h(&[("apikey", "k")]), "*") {
            Route::Forward {
                target,
                auth,
                path,
                headers,
            } => {
                assert_eq!(target, Target::Rest);
                assert!(!auth);
                assert_eq!(path, "/todos");
                assert_eq!(header(&headers, "authorization"), Some("Bearer k"));
            }
            other => panic!("{other:?}"),
        }
        match r(
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
            r("GET", "/auth/v1/health", &[], "*"),
            Route::Forward { auth: true, .. }
        ));
    }

    #[test]
    fn unknown_prefix_is_404_in_postgrest_format() {
        for p in ["/", "/rest/v10/x", "/functions/v1/x", "/todos"] {
            match r("GET", p, &[], "*") {
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
        match r("OPTIONS", "/rest/v1/todos", &pre, "*") {
            Route::Respond(r) => {
                assert_eq!(r.status, 200);
                assert_eq!(header(&r.headers, "access-control-allow-origin"), Some("*"));
                assert_eq!(
                    header(&r.headers, "access-control-allow-headers"),
                    Some("Authorization, apikey, content-type, Accept, Accept-Language, Content-Language")
                );
            }
            other => panic!("{other:?}"),
        }
        match r("OPTIONS", "/rest/v1/todos", &pre, "http://b.test") {
            Route::Respond(r) => {
                assert_eq!(header(&r.headers, "access-control-allow-origin"), None)
            }
            other => panic!("{other:?}"),
        }
        let out = decorations(
            &h(&[("origin", "http://a.test")]),
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
