//! HTTP rules the host and the components share: the route table, which
//! headers never cross a hop or a stage, request ids, the body limit.

/// One entry of the route table: a public path prefix and the stage that
/// serves it (`auth` true: the auth API, else the data API).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub prefix: String,
    pub auth: bool,
}

/// Supabase's routes: `/rest/v1` → data API, `/auth/v1` → auth API.
pub fn default_routes() -> Vec<RouteRule> {
    parse_routes(crate::defaults::ROUTES)
}

/// Parses `SUPALITE_ROUTES` (`prefix=rest|auth,...`); unusable entries are
/// skipped (the host validates the config before it gets here).
pub fn parse_routes(text: &str) -> Vec<RouteRule> {
    text.split(',')
        .filter_map(|r| r.split_once('='))
        .filter_map(|(p, t)| parse_route(p, t).ok())
        .collect()
}

/// One route: a prefix starting with `/` and the target `rest` or `auth`.
pub fn parse_route(prefix: &str, target: &str) -> Result<RouteRule, String> {
    let prefix = prefix.trim();
    if !prefix.starts_with('/') {
        return Err(format!(
            "invalid route prefix `{prefix}` (must start with /)"
        ));
    }
    let auth = match target.trim() {
        "auth" => true,
        "rest" => false,
        other => {
            return Err(format!(
                "invalid route target `{other}` for `{prefix}` (expected rest or auth)"
            ))
        }
    };
    Ok(RouteRule {
        prefix: prefix.trim_end_matches('/').to_string(),
        auth,
    })
}

/// Hop-by-hop headers (RFC 9110 §7.6.1): never passed to the next hop.
pub fn hop_by_hop(name: &str, connection: Option<&str>) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
    ) || connection.is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case(name)))
}

/// A random request id in UUID v4 form.
pub fn new_request_id(random: [u64; 2]) -> String {
    let [a, b] = random;
    let a = (a & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// Default request body limit.
pub const DEFAULT_MAX_BODY: usize = 10 * 1024 * 1024;

/// The request body limit from `SUPALITE_MAX_BODY_BYTES`'s value.
pub fn max_body(setting: Option<&str>) -> usize {
    setting
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_BODY)
}

/// Response headers a stage may not set: the server frames the message
/// (it writes `content-length` for the whole body) and owns the connection.
pub fn is_framing_header(name: &str) -> bool {
    matches!(
        name,
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade" | "host"
    )
}
