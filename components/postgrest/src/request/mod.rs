//! Stage 1, PostgREST's `ApiRequest`: what an HTTP request asks for — the
//! action and its target, query parameters (through [`grammar`]),
//! preferences, media types, range and payload — parsed in one pass into
//! [`ApiRequest`], with PGRST1xx errors for what is malformed. No schema
//! cache here.

pub mod body;
pub mod grammar;
pub mod params;
pub mod prefs;

use crate::config::Config;
use crate::error::ApiError;
pub use params::QueryParams;
pub use prefs::Preferences;
use serde_json::Value;
use std::borrow::Cow;

/// Longest query string accepted (bytes, percent-encoded). Big `in.(…)`
/// lists fit (~800 UUIDs); anything longer is refused before it is parsed.
pub const MAX_QUERY_BYTES: usize = 32 * 1024;

/// What a request does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET/HEAD on a table or view.
    Read,
    /// `/rpc/<function>`.
    Call,
    Insert,
    Update,
    Delete,
    /// PUT: insert or replace one row identified by its primary key.
    Put,
    /// GET/HEAD on the root: the OpenAPI document.
    OpenApi,
    /// OPTIONS on a table or function: which methods it allows.
    Options,
}

impl Action {
    pub fn is_mutation(self) -> bool {
        matches!(
            self,
            Action::Insert | Action::Update | Action::Delete | Action::Put
        )
    }
}

/// The built-in media types a response can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    Json,
    SingleObject,
    Csv,
    /// `application/geo+json`: the rows as a GeoJSON FeatureCollection
    /// (PostGIS's `ST_AsGeoJSON`), PostgREST's built-in handler.
    GeoJson,
}

/// `Accept: application/vnd.pgrst.plan[+json|+text]; for="…"; options=…`
/// (with `db-plan-enabled`): the request's query plan instead of its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExplainRequest {
    /// `+json` (else text, the default).
    pub json: bool,
    /// The media type the plan is for (`for=`, default `application/json`).
    pub media: MediaType,
    /// EXPLAIN options: `analyze`, `verbose`, `settings`, `buffers`, `wal`.
    pub options: Vec<String>,
}

impl ExplainRequest {
    /// Parses a plan media type from `Accept`, if it names one.
    pub fn parse(accept: &str) -> Result<Option<Self>, ApiError> {
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let json = match parts.next().map(str::to_ascii_lowercase).as_deref() {
                Some("application/vnd.pgrst.plan" | "application/vnd.pgrst.plan+text") => false,
                Some("application/vnd.pgrst.plan+json") => true,
                _ => continue,
            };
            let mut plan = ExplainRequest {
                json,
                media: MediaType::Json,
                options: Vec::new(),
            };
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                match k.trim() {
                    "for" => {
                        plan.media = match v.trim().trim_matches('"') {
                            "application/json" | "application/vnd.pgrst.array+json" => {
                                MediaType::Json
                            }
                            "application/vnd.pgrst.object"
                            | "application/vnd.pgrst.object+json" => MediaType::SingleObject,
                            "text/csv" => MediaType::Csv,
                            "application/geo+json" => MediaType::GeoJson,
                            other => {
                                return Err(ApiError::new(
                                    406,
                                    "PGRST107",
                                    format!("None of these media types are available: {other}"),
                                ))
                            }
                        }
                    }
                    "options" => {
                        // `options=` with nothing set (postgrest-js sends
                        // `options=;`) asks for none.
                        for o in v
                            .trim()
                            .trim_matches('"')
                            .split('|')
                            .map(str::trim)
                            .filter(|o| !o.is_empty())
                        {
                            if !["analyze", "verbose", "settings", "buffers", "wal"].contains(&o) {
                                return Err(ApiError::new(
                                    406,
                                    "PGRST107",
                                    format!(
                                        "None of these media types are available: {}",
                                        range.trim()
                                    ),
                                ));
                            }
                            if !plan.options.iter().any(|x| x == o) {
                                plan.options.push(o.to_string());
                            }
                        }
                    }
                    _ => {}
                }
            }
            // In PostgREST's order, whatever the request's (`decodeMediaType`).
            let order = ["analyze", "verbose", "settings", "buffers", "wal"];
            plan.options
                .sort_by_key(|o| order.iter().position(|x| x == o));
            return Ok(Some(plan));
        }
        Ok(None)
    }

    /// The response's content type, as PostgREST writes it.
    pub fn content_type(&self) -> String {
        let mut ct = format!(
            "application/vnd.pgrst.plan+{}; for=\"{}\"",
            if self.json { "json" } else { "text" },
            match self.media {
                MediaType::Json => "application/json",
                MediaType::SingleObject => "application/vnd.pgrst.object+json",
                MediaType::Csv => "text/csv",
                MediaType::GeoJson => "application/geo+json",
            }
        );
        if !self.options.is_empty() {
            ct.push_str("; options=");
            ct.push_str(&self.options.join("|"));
        }
        ct.push_str("; charset=utf-8");
        ct
    }
}

/// A write's body: the columns it sets and its rows as a JSON array (an
/// object for PATCH is a one-element array).
#[derive(Debug, Clone)]
pub struct Payload {
    pub columns: Vec<String>,
    pub json: String,
}

/// The request, parsed.
pub struct ApiRequest<'a> {
    pub action: Action,
    /// HEAD: answer without a body.
    pub head: bool,
    /// Runs in a read-only transaction (GET/HEAD).
    pub read_only: bool,
    /// The exposed schema the request is on (`Accept-Profile`/`Content-Profile`).
    pub schema: String,
    /// The table, view or function.
    pub name: String,
    /// `name` is a function (`/rpc/name`).
    pub function: bool,
    pub prefs: Preferences,
    /// The `Accept` header's media types, most wanted first (for the
    /// database's media type handlers), with the header as sent.
    pub accepts: Vec<(String, bool)>,
    pub accept: Option<&'a str>,
    /// The built-in media type answering, with `nulls=stripped`; `Err` when
    /// none is acceptable (unless a handler answers).
    pub media: Result<(MediaType, bool), ApiError>,
    /// The query plan is asked for instead of the result (`db-plan-enabled`).
    pub explain: Option<ExplainRequest>,
    /// The query string (for RPC, its horizontal filters are not parsed
    /// yet: some keys are the function's arguments).
    pub query: QueryParams,
    /// The query names a JSON path (`->`, `->>`).
    pub json_paths: bool,
    /// A write's payload (not for DELETE).
    pub payload: Option<Payload>,
    /// The body (form and CSV bodies as JSON) and its content type.
    pub body: Cow<'a, [u8]>,
    pub content_type: Option<String>,
    /// The `Host` header (for the OpenAPI document).
    pub host: Option<&'a str>,
    /// The query string with its parameters sorted by name (PostgREST's
    /// canonical form, for `Content-Location`).
    pub canonical_query: String,
}

impl<'a> ApiRequest<'a> {
    /// Parses `req` in one pass.
    pub fn parse(cfg: &Config, req: &Request<'a>) -> Result<Self, ApiError> {
        let rpc_path = req.path.split('/').filter(|s| !s.is_empty()).count() == 2
            && req.path.trim_start_matches('/').starts_with("rpc/");
        let body = match body::body_as_json(req, rpc_path, cfg.max_body_elements)? {
            Some(json) => Cow::Owned(json),
            None => Cow::Borrowed(req.body),
        };
        // A JSON body (or the JSON a CSV or form body became) is measured
        // before anything parses it: millions of tiny values would cost
        // the bridge ~30-60 bytes each, far more than their bytes.
        let json_body = matches!(body, Cow::Owned(_))
            || req.header("content-type").is_none_or(|c| {
                let c = c.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
                c.is_empty() || c == "application/json" || c.ends_with("+json")
            });
        if json_body && !body.is_empty() {
            body::check_json_shape(&body, cfg.max_body_elements, cfg.max_body_depth)?;
        }
        if req.query.len() > MAX_QUERY_BYTES {
            return Err(ApiError::parse(
                "failed to parse the query string",
                format!(
                    "the query string has {} bytes; at most {MAX_QUERY_BYTES} are allowed",
                    req.query.len()
                ),
            ));
        }
        let method = req.method.to_ascii_uppercase();
        let segments: Vec<String> = req
            .path
            .trim_end_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect();
        let (name, rpc) = match segments.as_slice() {
            [t] => (t.clone(), false),
            [rpc, f] if rpc == "rpc" => (f.clone(), true),
            [] => (String::new(), false),
            _ => {
                return Err(ApiError::new(
                    404,
                    "PGRST125",
                    "Invalid path specified in request URL",
                ))
            }
        };
        let (action, head) = match (method.as_str(), rpc, name.is_empty()) {
            ("GET", false, true) => (Action::OpenApi, false),
            ("HEAD", false, true) => (Action::OpenApi, true),
            (other, false, true) => {
                return Err(ApiError::new(
                    405,
                    "PGRST117",
                    format!("Unsupported HTTP method: {other}"),
                ))
            }
            ("OPTIONS", _, _) => (Action::Options, false),
            ("GET", false, _) => (Action::Read, false),
            ("HEAD", false, _) => (Action::Read, true),
            ("POST", false, _) => (Action::Insert, false),
            ("PATCH", false, _) => (Action::Update, false),
            ("PUT", false, _) => (Action::Put, false),
            ("DELETE", false, _) => (Action::Delete, false),
            ("GET", true, _) => (Action::Call, false),
            ("HEAD", true, _) => (Action::Call, true),
            ("POST", true, _) => (Action::Call, false),
            (other, true, _) => {
                return Err(ApiError::new(
                    405,
                    "PGRST101",
                    format!("Cannot use the {other} method on RPC"),
                ));
            }
            (other, false, _) => {
                return Err(ApiError::new(
                    405,
                    "PGRST117",
                    format!("Unsupported HTTP method: {other}"),
                ));
            }
        };
        let read_only = matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS");
        let schema = profile_schema(cfg, req, read_only)?;
        let mut api = ApiRequest {
            action,
            head,
            read_only,
            schema,
            name,
            function: rpc,
            prefs: Preferences::default(),
            accepts: Vec::new(),
            accept: req.header("accept"),
            media: Ok((MediaType::Json, false)),
            explain: None,
            query: QueryParams::default(),
            json_paths: false,
            payload: None,
            body,
            content_type: req.header("content-type").map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            }),
            host: req.header("host"),
            canonical_query: canonical_query(req.query),
        };
        if matches!(action, Action::OpenApi | Action::Options) {
            return Ok(api);
        }

        api.prefs = Preferences::parse(req);
        if api.prefs.strict() && !api.prefs.invalid.is_empty() {
            return Err(ApiError::new(
                400,
                "PGRST122",
                "Invalid preferences given with handling=strict",
            )
            .details(format!(
                "Invalid preferences: {}",
                api.prefs.invalid.join(", ")
            )));
        }
        api.accepts = accepted(api.accept);
        api.media = accept_media(api.accept);
        if cfg.plan_enabled {
            api.explain = ExplainRequest::parse(api.accept.unwrap_or(""))?;
            if let Some(e) = &api.explain {
                api.media = Ok((e.media, false));
            }
        }
        api.json_paths = req.query.contains("->")
            || req
                .query
                .as_bytes()
                .windows(4)
                .any(|w| w.eq_ignore_ascii_case(b"-%3e"));
        let mut q = QueryParams::parse(req.query)?;
        if !rpc {
            q.parse_filters()?;
        }
        // On RPC only a GET's `Range` header applies (as PostgREST).
        let range = match range_header(req)? {
            Some(_) if rpc && method != "GET" => None,
            r => r,
        };
        if let Some((offset, limit)) = range {
            q.offset = Some(q.offset.unwrap_or(0) + offset);
            q.limit = Some(match (q.limit, limit) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => a.or(b).unwrap_or(u64::MAX),
            })
            .filter(|l| *l != u64::MAX);
        }
        if let Some(max) = cfg.max_rows {
            q.limit = Some(q.limit.map_or(max, |l| l.min(max)));
        }
        if matches!(action, Action::Insert | Action::Put | Action::Update) {
            // A table's row comes as JSON (or CSV, or a form, made JSON
            // above); PostgREST refuses any other body by its media type.
            match api.content_type.as_deref() {
                None
                | Some("")
                | Some("application/json")
                | Some("text/csv")
                | Some("application/x-www-form-urlencoded") => {}
                Some(other) => {
                    return Err(ApiError::body(format!(
                        "Content-Type not acceptable: {other}"
                    )))
                }
            }
            let (columns, mut json) = body::payload_columns(&api.body, q.columns.as_deref(), true)?;
            // PUT puts the first row of an array (PostgREST).
            if action == Action::Put {
                if let Ok(Value::Array(mut rows)) = serde_json::from_str::<Value>(&json) {
                    rows.truncate(1);
                    json = Value::Array(rows).to_string();
                }
            }
            api.payload = Some(Payload { columns, json });
        }
        api.query = q;
        Ok(api)
    }
}

/// The HTTP request, as the bridge receives it (path relative to `/rest/v1`).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    pub(crate) fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The request as PostgREST exposes it to SQL: `request.method`,
/// `request.path`, `request.headers` and `request.cookies` (JSON objects,
/// header names lower case).
pub fn request_settings(req: &Request) -> Vec<(String, String)> {
    let mut headers = serde_json::Map::new();
    let mut cookies = serde_json::Map::new();
    for (name, value) in req.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            for pair in value.split(';') {
                if let Some((k, v)) = pair.split_once('=') {
                    cookies.insert(k.trim().to_string(), Value::String(v.trim().to_string()));
                }
            }
        }
        headers.insert(name, Value::String(value.clone()));
    }
    // Always all four, `{}` without cookies: once a session has seen a
    // setting, an unset one reads as '' (not NULL), and `''::json` fails.
    vec![
        ("request.method".into(), req.method.to_string()),
        ("request.path".into(), req.path.to_string()),
        ("request.headers".into(), Value::Object(headers).to_string()),
        ("request.cookies".into(), Value::Object(cookies).to_string()),
    ]
}

/// `b=2&a=1` → `a=1&b=2`: parameters sorted by name (stable), each
/// percent-encoded again (spaces as `%20`).
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let enc = |s: &str| {
        form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub(crate) fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// `Accept-Profile` (reads) / `Content-Profile` (writes) select a schema
/// among `db-schemas`.
pub(crate) fn profile_schema(cfg: &Config, req: &Request, read: bool) -> Result<String, ApiError> {
    let header = if read {
        "accept-profile"
    } else {
        "content-profile"
    };
    match req.header(header) {
        None => Ok(cfg
            .schemas
            .first()
            .cloned()
            .unwrap_or_else(|| "public".into())),
        Some(s) if cfg.schemas.iter().any(|x| x == s) => Ok(s.to_string()),
        Some(s) => Err(ApiError::new(
            406,
            "PGRST106",
            "The schema must be one of the following: ".to_string() + &cfg.schemas.join(", "),
        )
        .details(format!("Schema \"{s}\" is not exposed"))),
    }
}

/// The response media type, and whether nulls are stripped
/// (`application/vnd.pgrst.object+json;nulls=stripped`, `...array+json;nulls=stripped`).
/// The `Accept` header's media types, lower case, most wanted first (by
/// `q`, then order), each with whether it asks for `nulls=stripped`.
pub fn accepted(accept: Option<&str>) -> Vec<(String, bool)> {
    let mut ranges: Vec<(f32, String, bool)> = accept
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut bits = part.split(';');
            let mt = bits.next()?.trim().to_ascii_lowercase();
            let params: Vec<&str> = bits.map(str::trim).collect();
            let q = params
                .iter()
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (!mt.is_empty()).then(|| (q, mt, params.contains(&"nulls=stripped")))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    ranges
        .into_iter()
        .map(|(_, mt, strip)| (mt, strip))
        .collect()
}

pub fn accept_media(accept: Option<&str>) -> Result<(MediaType, bool), ApiError> {
    let ranges = accepted(accept);
    if ranges.is_empty() {
        return Ok((MediaType::Json, false));
    }
    for (mt, strip) in &ranges {
        match mt.as_str() {
            "application/json" | "*/*" | "application/*" => return Ok((MediaType::Json, false)),
            "application/vnd.pgrst.array+json" | "application/vnd.pgrst.array" => {
                return Ok((MediaType::Json, *strip))
            }
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                return Ok((MediaType::SingleObject, *strip))
            }
            "text/csv" => return Ok((MediaType::Csv, false)),
            "application/geo+json" => return Ok((MediaType::GeoJson, false)),
            _ => {}
        }
    }
    Err(ApiError::new(
        406,
        "PGRST107",
        format!(
            "None of these media types are available: {}",
            accept.unwrap_or_default()
        ),
    ))
}

/// `Range: 0-9` (items) → (offset, limit).
pub(crate) fn range_header(req: &Request) -> Result<Option<(u64, Option<u64>)>, ApiError> {
    let Some(r) = req.header("range") else {
        return Ok(None);
    };
    let r = r.trim();
    let r = r.strip_prefix("items=").unwrap_or(r);
    let Some((a, b)) = r.split_once('-') else {
        return Ok(None);
    };
    let Ok(start) = a.trim().parse::<u64>() else {
        return Ok(None);
    };
    let end = b.trim();
    if end.is_empty() {
        return Ok(Some((start, None)));
    }
    let Ok(end) = end.parse::<u64>() else {
        return Ok(None);
    };
    if end < start {
        return Err(ApiError::new(416, "PGRST103", "Requested range not satisfiable")
            .details("The lower boundary must be lower than or equal to the upper boundary in the Range header."));
    }
    Ok(Some((start, Some(end - start + 1))))
}
