//! HTTP rules the host and the components share: the route table, which
//! headers never cross a hop or a stage, request ids, the body limit.

/// The stage a route's requests go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The data API (`backend.handle`).
    Rest,
    /// The auth API (`auth.handle`).
    Auth,
    /// The storage API (`storage.handle`).
    Storage,
}

impl Target {
    pub const ALL: [Target; 3] = [Target::Rest, Target::Auth, Target::Storage];

    pub fn name(self) -> &'static str {
        match self {
            Target::Rest => "rest",
            Target::Auth => "auth",
            Target::Storage => "storage",
        }
    }

    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One entry of the route table: a public path prefix and the stage that
/// serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    pub prefix: String,
    pub target: Target,
}

impl RouteRule {
    pub fn auth(&self) -> bool {
        self.target == Target::Auth
    }
}

/// Supabase's routes: `/rest/v1` → data API, `/auth/v1` → auth API,
/// `/storage/v1` → storage API.
pub fn default_routes() -> Vec<RouteRule> {
    route_rules(crate::defaults::ROUTES).expect("the default routes parse")
}

/// `SUPALITE_ROUTES` (`prefix=target,...`): every pair by [`parse_route`].
pub fn route_rules(text: &str) -> Result<Vec<RouteRule>, String> {
    crate::list(text)
        .iter()
        .map(|item| match item.split_once('=') {
            Some((p, t)) => parse_route(p, t),
            None => Err(format!("`{item}` is not prefix=target")),
        })
        .collect()
}

/// A component's route table from its `SUPALITE_ROUTES` setting (read,
/// so already checked): the default when unset.
pub fn routes_or_default(setting: Option<&str>) -> Vec<RouteRule> {
    match setting.map(route_rules) {
        Some(Ok(rules)) if !rules.is_empty() => rules,
        _ => default_routes(),
    }
}

/// One route: a prefix starting with `/` and a target (`rest`, `auth` or
/// `storage`).
pub fn parse_route(prefix: &str, target: &str) -> Result<RouteRule, String> {
    let prefix = prefix.trim();
    if !prefix.starts_with('/') {
        return Err(format!(
            "invalid route prefix `{prefix}` (must start with /)"
        ));
    }
    let target = Target::from_name(target.trim()).ok_or_else(|| {
        format!(
            "invalid route target `{}` for `{prefix}` (expected {})",
            target.trim(),
            Target::ALL.map(Target::name).join(", ")
        )
    })?;
    Ok(RouteRule {
        prefix: prefix.trim_end_matches('/').to_string(),
        target,
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
pub const DEFAULT_MAX_BODY: usize = crate::defaults::MAX_BODY_BYTES;

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
