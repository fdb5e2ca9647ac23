//! PostgREST's HTTP API as plain Rust, in PostgREST's own stages:
//! `ApiRequest` (parse the HTTP request) → `Plan` (one SQL statement that
//! returns count and body together) → `Response` (status, headers, body).
//!
//! Nothing here does I/O: the bridge component runs [`Plan::statement`]
//! through the `sql` interface and hands the single result row back to
//! [`Plan::respond`].

pub mod error;
pub mod grammar;
pub mod sql;

use error::ApiError;
use grammar::{Field, JsonKey, Logic, Operation, OrderTerm, SelectItem};
use serde_json::Value;
use sql::{quote_ident, Statement};

/// Settings that shape answers (PostgREST's names in comments).
#[derive(Debug, Clone)]
pub struct Config {
    /// `db-schemas`: the first one is the default.
    pub schemas: Vec<String>,
    /// `db-anon-role`
    pub anon_role: String,
    /// `db-max-rows`
    pub max_rows: Option<u64>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            schemas: vec!["public".into()],
            anon_role: "anon".into(),
            max_rows: None,
        }
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

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn header_all<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers
            .iter()
            .filter(move |(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP response.
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
        Response {
            status: e.status,
            headers,
            body: e.to_json(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Read,
    Insert,
    Update,
    Delete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReturnPref {
    Minimal,
    HeadersOnly,
    Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MediaType {
    Json,
    SingleObject,
}

/// What to run and how to answer with its result.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The one statement; it returns one row of three text columns:
    /// total count (or NULL), rows in this page, and the JSON body.
    pub statement: Statement,
    /// Run in a read-only transaction (GET/HEAD).
    pub read_only: bool,
    action: Action,
    head: bool,
    returning: ReturnPref,
    media: MediaType,
    offset: u64,
    count_requested: Option<&'static str>,
}

/// The one result row of a plan's statement.
pub struct Outcome<'a> {
    pub total: Option<&'a str>,
    pub page_total: Option<&'a str>,
    pub body: Option<&'a str>,
}

/// Parses `req` and builds its plan.
pub fn plan(cfg: &Config, req: &Request) -> Result<Plan, ApiError> {
    let method = req.method.to_ascii_uppercase();
    let (action, head) = match method.as_str() {
        "GET" => (Action::Read, false),
        "HEAD" => (Action::Read, true),
        "POST" => (Action::Insert, false),
        "PATCH" => (Action::Update, false),
        "DELETE" => (Action::Delete, false),
        other => {
            return Err(ApiError::new(
                405,
                "PGRST117",
                format!("Unsupported HTTP method: {other}"),
            ));
        }
    };

    let path = req.path.trim_end_matches('/');
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s))
        .collect();
    let table = match segments.as_slice() {
        [t] => t.clone(),
        [rpc, _] if rpc == "rpc" => {
            return Err(ApiError::new(
                501,
                "PGRST501",
                "RPC calls are not supported by supalite yet",
            )
            .hint("Functions will be served under /rpc/<name> in a later release"));
        }
        [] => {
            return Err(ApiError::new(
                501,
                "PGRST501",
                "The OpenAPI description is not served by supalite yet",
            ));
        }
        _ => {
            return Err(ApiError::new(
                404,
                "PGRST125",
                "Invalid path specified in request URL",
            ))
        }
    };

    let schema = profile_schema(cfg, req, action)?;
    let prefs = Preferences::parse(req);
    let media = accept_media(req.header("accept"))?;

    let mut q = QueryParams::parse(req.query)?;
    if let Some((offset, limit)) = range_header(req)? {
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

    let target = format!("{}.{}", quote_ident(&schema), quote_ident(&table));
    let mut st = Statement::default();
    let returning = prefs.returning.unwrap_or(if action == Action::Read {
        ReturnPref::Representation
    } else {
        ReturnPref::Minimal
    });

    st.push("WITH pgrst_source AS (");
    match action {
        Action::Read => {
            st.push("SELECT ");
            select_list(&mut st, &target, &q.select)?;
            st.push(" FROM ").push(&target);
            where_clause(&mut st, &target, &q.filters)?;
            order_by(&mut st, &target, &q.order)?;
            limit_offset(&mut st, q.limit, q.offset);
        }
        Action::Insert => {
            let (columns, payload) = payload_columns(req.body, q.columns.as_deref(), true)?;
            st.push("INSERT INTO ").push(&target);
            if columns.is_empty() {
                st.push(" SELECT * FROM json_populate_recordset(NULL::")
                    .push(&target)
                    .push(", ");
                st.param(payload).push("::json) WHERE false");
            } else {
                st.push("(").push(&ident_list(&columns)).push(") SELECT ");
                st.push(&ident_list(&columns));
                st.push(" FROM json_populate_recordset(NULL::")
                    .push(&target)
                    .push(", ");
                st.param(payload).push("::json) pgrst_body");
            }
            st.push(" RETURNING ").push(&target).push(".*");
        }
        Action::Update => {
            let (columns, payload) = payload_columns(req.body, q.columns.as_deref(), false)?;
            if columns.is_empty() {
                st.push("SELECT * FROM ").push(&target).push(" WHERE false");
            } else {
                st.push("UPDATE ").push(&target).push(" SET ");
                for (i, c) in columns.iter().enumerate() {
                    if i > 0 {
                        st.push(", ");
                    }
                    st.ident(c).push(" = pgrst_body.").ident(c);
                }
                st.push(" FROM (SELECT * FROM json_populate_record(NULL::")
                    .push(&target)
                    .push(", ");
                st.param(payload).push("::json)) pgrst_body");
                where_clause(&mut st, &target, &q.filters)?;
                st.push(" RETURNING ").push(&target).push(".*");
            }
        }
        Action::Delete => {
            st.push("DELETE FROM ").push(&target);
            where_clause(&mut st, &target, &q.filters)?;
            st.push(" RETURNING ").push(&target).push(".*");
        }
    }
    st.push(") SELECT ");
    let count_requested = if action == Action::Read {
        prefs.count
    } else {
        None
    };
    match count_requested {
        Some(_) => {
            st.push("(SELECT pg_catalog.count(*) FROM ").push(&target);
            where_clause(&mut st, &target, &q.filters)?;
            st.push(")::text");
        }
        None => {
            st.push("NULL::text");
        }
    }
    st.push(", pg_catalog.count(_postgrest_t)::text, ");
    if returning == ReturnPref::Representation && !head {
        st.push("coalesce(json_agg(_postgrest_t), '[]')::text");
    } else {
        st.push("''::text");
    }
    st.push(" FROM (SELECT ");
    if action == Action::Read {
        st.push("*");
    } else {
        select_list(&mut st, "pgrst_source", &q.select)?;
    }
    st.push(" FROM pgrst_source) _postgrest_t");

    Ok(Plan {
        statement: st,
        read_only: action == Action::Read,
        action,
        head,
        returning,
        media,
        offset: q.offset.unwrap_or(0),
        count_requested,
    })
}

impl Plan {
    /// Builds the HTTP response from the statement's result row.
    pub fn respond(&self, out: Outcome) -> Response {
        let page_total: u64 = out.page_total.and_then(|s| s.parse().ok()).unwrap_or(0);
        let total: Option<u64> = out.total.and_then(|s| s.parse().ok());
        let body = out.body.unwrap_or("[]");
        let content_range = {
            let range = if page_total == 0 {
                "*".to_string()
            } else {
                format!("{}-{}", self.offset, self.offset + page_total - 1)
            };
            let total = total.map_or("*".to_string(), |t| t.to_string());
            format!("{range}/{total}")
        };
        let mut headers = vec![("content-range".to_string(), content_range)];
        let mut applied = Vec::new();
        if self.action != Action::Read {
            applied.push(match self.returning {
                ReturnPref::Minimal => "return=minimal",
                ReturnPref::HeadersOnly => "return=headers-only",
                ReturnPref::Representation => "return=representation",
            });
        }
        if let Some(c) = self.count_requested {
            applied.push(c);
        }
        if !applied.is_empty() {
            headers.push(("preference-applied".into(), applied.join(", ")));
        }

        let representation = self.returning == ReturnPref::Representation;
        if self.media == MediaType::SingleObject && representation && page_total != 1 {
            return ApiError::new(
                406,
                "PGRST116",
                "JSON object requested, multiple (or no) rows returned",
            )
            .details(format!("The result contains {page_total} rows"))
            .into();
        }

        let mut status = match self.action {
            Action::Read => 200,
            Action::Insert => 201,
            Action::Update | Action::Delete => {
                if representation {
                    200
                } else {
                    204
                }
            }
        };
        if self.action == Action::Read {
            if let Some(t) = total {
                if self.offset > t || (self.offset > 0 && self.offset == t && t > 0) {
                    let mut e: Response =
                        ApiError::new(416, "PGRST103", "Requested range not satisfiable")
                            .details(format!(
                                "An offset of {} was requested, but there are only {} rows.",
                                self.offset, t
                            ))
                            .into();
                    e.headers.push(("content-range".into(), format!("*/{t}")));
                    return e;
                }
                if page_total < t {
                    status = 206;
                }
            }
        }

        if !representation {
            return Response {
                status,
                headers,
                body: Vec::new(),
            };
        }
        let (ctype, body) = match self.media {
            MediaType::Json => ("application/json; charset=utf-8", body.as_bytes().to_vec()),
            MediaType::SingleObject => (
                "application/vnd.pgrst.object+json; charset=utf-8",
                body.trim()
                    .strip_prefix('[')
                    .and_then(|b| b.strip_suffix(']'))
                    .unwrap_or(body)
                    .as_bytes()
                    .to_vec(),
            ),
        };
        headers.insert(0, ("content-type".into(), ctype.into()));
        Response {
            status,
            headers,
            body: if self.head { Vec::new() } else { body },
        }
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn ident_list(cols: &[String]) -> String {
    cols.iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Accept-Profile` (reads) / `Content-Profile` (writes) select a schema
/// among `db-schemas`.
fn profile_schema(cfg: &Config, req: &Request, action: Action) -> Result<String, ApiError> {
    let header = if action == Action::Read {
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

fn accept_media(accept: Option<&str>) -> Result<MediaType, ApiError> {
    let Some(accept) = accept else {
        return Ok(MediaType::Json);
    };
    let mut ranges: Vec<(f32, &str)> = accept
        .split(',')
        .map(|part| {
            let mut bits = part.split(';');
            let mt = bits.next().unwrap_or("").trim();
            let q = bits
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            (q, mt)
        })
        .filter(|(_, mt)| !mt.is_empty())
        .collect();
    if ranges.is_empty() {
        return Ok(MediaType::Json);
    }
    ranges.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    for (_, mt) in &ranges {
        match mt.to_ascii_lowercase().as_str() {
            "application/json" | "*/*" | "application/*" => return Ok(MediaType::Json),
            "application/vnd.pgrst.object+json" | "application/vnd.pgrst.object" => {
                return Ok(MediaType::SingleObject)
            }
            _ => {}
        }
    }
    Err(ApiError::new(
        406,
        "PGRST107",
        format!("None of these media types are available: {accept}"),
    ))
}

#[derive(Default)]
struct Preferences {
    returning: Option<ReturnPref>,
    count: Option<&'static str>,
}

impl Preferences {
    fn parse(req: &Request) -> Self {
        let mut p = Preferences::default();
        for header in req.header_all("prefer") {
            for item in header.split(',').map(str::trim) {
                match item {
                    "return=minimal" => p.returning = Some(ReturnPref::Minimal),
                    "return=headers-only" => p.returning = Some(ReturnPref::HeadersOnly),
                    "return=representation" => p.returning = Some(ReturnPref::Representation),
                    "count=exact" => p.count = Some("count=exact"),
                    // Planned and estimated counts fall back to exact counts.
                    "count=planned" => p.count = Some("count=exact"),
                    "count=estimated" => p.count = Some("count=exact"),
                    _ => {}
                }
            }
        }
        p
    }
}

/// `Range: 0-9` (items) → (offset, limit).
fn range_header(req: &Request) -> Result<Option<(u64, Option<u64>)>, ApiError> {
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

/// The query string, split into PostgREST's reserved parameters and filters.
#[derive(Default)]
struct QueryParams {
    select: Vec<SelectItem>,
    filters: Vec<Logic>,
    order: Vec<OrderTerm>,
    limit: Option<u64>,
    offset: Option<u64>,
    columns: Option<Vec<String>>,
}

impl QueryParams {
    fn parse(query: &str) -> Result<Self, ApiError> {
        let mut q = QueryParams {
            select: vec![SelectItem::Star],
            ..Default::default()
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let key = key.as_ref();
            let value = value.as_ref();
            match key {
                "select" => q.select = grammar::parse_select(value)?,
                "order" => q.order = grammar::parse_order(value)?,
                "limit" => q.limit = Some(parse_number("limit", value)?),
                "offset" => q.offset = Some(parse_number("offset", value)?),
                "columns" => {
                    q.columns = Some(
                        value
                            .split(',')
                            .map(|c| c.trim().trim_matches('"').to_string())
                            .filter(|c| !c.is_empty())
                            .collect(),
                    )
                }
                "on_conflict" => {}
                "or" | "and" | "not.or" | "not.and" => {
                    let negated = key.starts_with("not.");
                    q.filters
                        .push(grammar::parse_logic(key.ends_with("or"), negated, value)?);
                }
                _ if key.contains('.') && !key.contains("->") => {
                    let rel = key.split('.').next().unwrap_or(key);
                    return Err(ApiError::new(
                        400,
                        "PGRST108",
                        format!("'{rel}' is not an embedded resource in this request"),
                    )
                    .hint(format!(
                        "Verify that '{rel}' is included in the 'select' query parameter."
                    )));
                }
                _ => {
                    let field = grammar::parse_field(key)?;
                    q.filters
                        .push(Logic::Filter(grammar::parse_filter(field, value)?));
                }
            }
        }
        if q.select
            .iter()
            .any(|i| matches!(i, SelectItem::Embed { .. }))
        {
            return Err(ApiError::new(
                400,
                "PGRST200",
                "Resource embedding is not supported by supalite yet",
            )
            .hint("Select the related table in a separate request"));
        }
        Ok(q)
    }
}

fn parse_number(name: &str, v: &str) -> Result<u64, ApiError> {
    v.trim().parse::<u64>().map_err(|_| {
        ApiError::parse(
            format!("failed to parse {name} parameter ({v})"),
            "expecting a non-negative integer",
        )
    })
}

/// `"s"."t"."col"->$n::text...`
fn field_sql(st: &mut Statement, table: &str, f: &Field) {
    st.push(table).push(".").ident(&f.name);
    for (arrow, key) in &f.path {
        st.push(match arrow {
            grammar::Arrow::Json => "->",
            grammar::Arrow::Text => "->>",
        });
        match key {
            JsonKey::Key(k) => {
                st.param(k.clone()).push("::text");
            }
            JsonKey::Index(i) => {
                st.param(i.to_string()).push("::int");
            }
        }
    }
}

fn select_list(st: &mut Statement, table: &str, items: &[SelectItem]) -> Result<(), ApiError> {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            st.push(", ");
        }
        match item {
            SelectItem::Star => {
                st.push(table).push(".*");
            }
            SelectItem::Column { field, alias, cast } => {
                let wrap = cast.is_some();
                if wrap {
                    st.push("CAST(");
                }
                field_sql(st, table, field);
                if let Some(c) = cast {
                    st.push(" AS ").push(c).push(")");
                }
                let name = alias.clone().unwrap_or_else(|| field.default_alias());
                if alias.is_some() || !field.path.is_empty() || wrap {
                    st.push(" AS ").ident(&name);
                }
            }
            SelectItem::Embed { .. } => {
                return Err(ApiError::new(
                    400,
                    "PGRST200",
                    "Resource embedding is not supported by supalite yet",
                ));
            }
        }
    }
    Ok(())
}

fn where_clause(st: &mut Statement, table: &str, filters: &[Logic]) -> Result<(), ApiError> {
    if filters.is_empty() {
        return Ok(());
    }
    st.push(" WHERE ");
    for (i, f) in filters.iter().enumerate() {
        if i > 0 {
            st.push(" AND ");
        }
        logic_sql(st, table, f);
    }
    Ok(())
}

fn logic_sql(st: &mut Statement, table: &str, l: &Logic) {
    match l {
        Logic::Filter(f) => {
            if f.negated {
                st.push("NOT ");
            }
            st.push("(");
            field_sql(st, table, &f.field);
            match &f.operation {
                Operation::Compare {
                    op,
                    quantifier,
                    value,
                } => {
                    st.push(" ").push(op).push(" ");
                    match quantifier {
                        Some(q) => {
                            st.push(match q {
                                grammar::Quantifier::Any => "ANY(",
                                grammar::Quantifier::All => "ALL(",
                            });
                            st.param(value.clone()).push(")");
                        }
                        None => {
                            st.param(value.clone());
                        }
                    }
                }
                Operation::In(items) => {
                    st.push(" = ANY(")
                        .param(sql::array_literal(items))
                        .push(")");
                }
                Operation::Is(v) => {
                    st.push(match v {
                        grammar::IsValue::Null => " IS NULL",
                        grammar::IsValue::NotNull => " IS NOT NULL",
                        grammar::IsValue::True => " IS TRUE",
                        grammar::IsValue::False => " IS FALSE",
                        grammar::IsValue::Unknown => " IS UNKNOWN",
                    });
                }
                Operation::Fts {
                    kind,
                    language,
                    value,
                } => {
                    st.push(" @@ ").push(kind.function()).push("(");
                    if let Some(lang) = language {
                        st.param(lang.clone()).push("::regconfig, ");
                    }
                    st.param(value.clone()).push(")");
                }
            }
            st.push(")");
        }
        Logic::Tree {
            or,
            negated,
            children,
        } => {
            if *negated {
                st.push("NOT ");
            }
            st.push("(");
            for (i, c) in children.iter().enumerate() {
                if i > 0 {
                    st.push(if *or { " OR " } else { " AND " });
                }
                logic_sql(st, table, c);
            }
            st.push(")");
        }
    }
}

fn order_by(st: &mut Statement, table: &str, order: &[OrderTerm]) -> Result<(), ApiError> {
    if order.is_empty() {
        return Ok(());
    }
    st.push(" ORDER BY ");
    for (i, t) in order.iter().enumerate() {
        if i > 0 {
            st.push(", ");
        }
        field_sql(st, table, &t.field);
        match t.descending {
            Some(true) => {
                st.push(" DESC");
            }
            Some(false) => {
                st.push(" ASC");
            }
            None => {}
        }
        match t.nulls {
            Some(grammar::Nulls::First) => {
                st.push(" NULLS FIRST");
            }
            Some(grammar::Nulls::Last) => {
                st.push(" NULLS LAST");
            }
            None => {}
        }
    }
    Ok(())
}

fn limit_offset(st: &mut Statement, limit: Option<u64>, offset: Option<u64>) {
    if let Some(l) = limit {
        st.push(" LIMIT ").param(l.to_string()).push("::bigint");
    }
    if let Some(o) = offset {
        st.push(" OFFSET ").param(o.to_string()).push("::bigint");
    }
}

/// Validates a write payload. Returns the target columns and the payload as
/// JSON text (an array for inserts, an object for updates).
fn payload_columns(
    body: &[u8],
    columns: Option<&[String]>,
    many: bool,
) -> Result<(Vec<String>, String), ApiError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::body("Empty or invalid json").details(e.to_string()))?;
    let rows: Vec<&serde_json::Map<String, Value>> = match &value {
        Value::Object(o) => vec![o],
        Value::Array(items) if many => items
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| ApiError::body("All object keys must match"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::body("Empty or invalid json").details("expected a JSON object")),
    };
    let cols: Vec<String> = match columns {
        Some(c) => c.to_vec(),
        None => {
            let first: Vec<String> = rows
                .first()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            for r in &rows {
                if r.len() != first.len() || !first.iter().all(|k| r.contains_key(k)) {
                    return Err(ApiError::body("All object keys must match"));
                }
            }
            first
        }
    };
    let payload = match value {
        Value::Object(_) if many => Value::Array(vec![value]),
        v => v,
    };
    Ok((cols, payload.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> Request<'a> {
        Request {
            method,
            path,
            query,
            headers,
            body,
        }
    }

    #[test]
    fn get_with_select_and_filter_binds_values() {
        let p = plan(
            &Config::default(),
            &req("GET", "/todos", "select=id,title&done=eq.false", &[], b""),
        )
        .unwrap();
        let sql = &p.statement.sql;
        assert!(sql.contains(r#"SELECT "public"."todos"."id", "public"."todos"."title" FROM "public"."todos" WHERE ("public"."todos"."done" = $1)"#), "{sql}");
        assert_eq!(p.statement.params, vec![Some("false".to_string())]);
        assert!(p.read_only);
    }

    #[test]
    fn identifiers_are_quoted_values_never_inlined() {
        let p = plan(
            &Config::default(),
            &req(
                "GET",
                "/t%22x",
                "select=%22a%5C%22b%22&c=eq.';drop table x;--",
                &[],
                b"",
            ),
        )
        .unwrap();
        assert!(p.statement.sql.contains(r#""t""x""#));
        assert!(p.statement.sql.contains(r#""a""b""#));
        assert!(!p.statement.sql.contains("drop table"));
        assert_eq!(p.statement.params[0].as_deref(), Some("';drop table x;--"));
    }

    #[test]
    fn plus_decodes_to_space_like_supabase_js() {
        let p = plan(
            &Config::default(),
            &req("GET", "/t", "title=eq.hello+world", &[], b""),
        )
        .unwrap();
        assert_eq!(p.statement.params[0].as_deref(), Some("hello world"));
    }

    #[test]
    fn insert_object_and_array() {
        let p = plan(
            &Config::default(),
            &req("POST", "/todos", "", &[], br#"{"title":"a","done":false}"#),
        )
        .unwrap();
        assert!(
            p.statement
                .sql
                .contains(r#"INSERT INTO "public"."todos"("title", "done")"#)
                || p.statement
                    .sql
                    .contains(r#"INSERT INTO "public"."todos"("done", "title")"#)
        );
        assert!(p.statement.params[0].as_deref().unwrap().starts_with('['));
        let e = plan(
            &Config::default(),
            &req("POST", "/todos", "", &[], br#"[{"a":1},{"b":2}]"#),
        )
        .unwrap_err();
        assert_eq!(e.code, "PGRST102");
        let e = plan(&Config::default(), &req("POST", "/todos", "", &[], b"nope")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (400, "PGRST102"));
    }

    #[test]
    fn responses() {
        let p = plan(&Config::default(), &req("GET", "/todos", "", &[], b"")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("2"),
            body: Some("[{},{}]"),
        });
        assert_eq!(r.status, 200);
        assert!(r
            .headers
            .contains(&("content-range".into(), "0-1/*".into())));
        let h = vec![("prefer".to_string(), "return=representation".to_string())];
        let p = plan(&Config::default(), &req("POST", "/todos", "", &h, b"{}")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some("[{\"id\":1}]"),
        });
        assert_eq!(r.status, 201);
        assert_eq!(r.body, b"[{\"id\":1}]");
        let p = plan(&Config::default(), &req("POST", "/todos", "", &[], b"{}")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some(""),
        });
        assert_eq!((r.status, r.body.len()), (201, 0));
    }

    #[test]
    fn counts_ranges_and_single_object() {
        let h = vec![
            ("prefer".to_string(), "count=exact".to_string()),
            ("range".to_string(), "0-1".to_string()),
        ];
        let p = plan(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap();
        assert!(p
            .statement
            .sql
            .contains("LIMIT $1::bigint OFFSET $2::bigint"));
        let r = p.respond(Outcome {
            total: Some("5"),
            page_total: Some("2"),
            body: Some("[1,2]"),
        });
        assert_eq!(r.status, 206);
        assert!(r
            .headers
            .contains(&("content-range".into(), "0-1/5".into())));
        let h = vec![(
            "accept".to_string(),
            "application/vnd.pgrst.object+json".to_string(),
        )];
        let p = plan(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap();
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("2"),
            body: Some("[1,2]"),
        });
        assert_eq!(r.status, 406);
        let r = p.respond(Outcome {
            total: None,
            page_total: Some("1"),
            body: Some("[{\"a\":1}]"),
        });
        assert_eq!(r.body, b"{\"a\":1}");
        let h = vec![("accept".to_string(), "text/html".to_string())];
        assert_eq!(
            plan(&Config::default(), &req("GET", "/todos", "", &h, b""))
                .unwrap_err()
                .code,
            "PGRST107"
        );
    }

    #[test]
    fn schema_profiles() {
        let h = vec![("accept-profile".to_string(), "private".to_string())];
        let e = plan(&Config::default(), &req("GET", "/todos", "", &h, b"")).unwrap_err();
        assert_eq!((e.status, e.code.as_str()), (406, "PGRST106"));
    }

    #[test]
    fn bad_query_strings_are_pgrst_errors() {
        for q in [
            "select=a(",
            "id=eqq.1",
            "limit=x",
            "order=a.up",
            "or=(a.eq.1",
            "rel.col=eq.1",
            "select=a,b(c)",
            "id=in.(1",
        ] {
            let e = plan(&Config::default(), &req("GET", "/t", q, &[], b"")).unwrap_err();
            assert!(e.code.starts_with("PGRST"), "{q}: {e:?}");
            assert_eq!(e.status / 100, 4, "{q}");
        }
    }
}
