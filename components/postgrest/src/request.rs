//! Stage 1, PostgREST's `ApiRequest`: what an HTTP request asks for — the
//! target, query parameters (through [`crate::grammar`]), preferences,
//! media types, range and payload — with PGRST1xx errors for what is
//! malformed. No schema cache here.

use super::*;

/// The HTTP request, as the bridge receives it (path relative to `/rest/v1`).
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl Request<'_> {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
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
pub(crate) fn accepted(accept: Option<&str>) -> Vec<(String, bool)> {
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

pub(crate) fn accept_media(accept: Option<&str>) -> Result<(MediaType, bool), ApiError> {
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

#[derive(Default)]
pub(crate) struct Preferences {
    pub(crate) returning: Option<ReturnPref>,
    pub(crate) count: Option<&'static str>,
    /// `resolution=merge-duplicates` (true) or `ignore-duplicates` (false).
    pub(crate) resolution: Option<bool>,
    /// `tx=rollback` (true) or `tx=commit` (false).
    pub(crate) tx_rollback: Option<bool>,
    /// `handling=strict|lenient` as given.
    pub(crate) handling: Option<&'static str>,
    /// `missing=default|null` as given.
    pub(crate) missing: Option<&'static str>,
    /// `params=single-object`: the whole body is the function's one json argument.
    pub(crate) single_object: bool,
    /// `max-affected=N` (with `handling=strict`)
    pub(crate) max_affected: Option<u64>,
    /// `timezone=Area/City`: the transaction's `timezone` when it is a known one.
    pub(crate) timezone: Option<String>,
    /// Preferences not understood.
    pub(crate) invalid: Vec<String>,
}

impl Preferences {
    pub(crate) fn parse(req: &Request) -> Self {
        let mut p = Preferences::default();
        for header in req.header_all("prefer") {
            for item in header.split(',').map(str::trim) {
                // As PostgREST: when a preference is given twice, the first wins.
                fn first<T>(slot: &mut Option<T>, v: T) {
                    if slot.is_none() {
                        *slot = Some(v);
                    }
                }
                match item {
                    "return=minimal" => first(&mut p.returning, ReturnPref::Minimal),
                    "return=headers-only" => first(&mut p.returning, ReturnPref::HeadersOnly),
                    "return=representation" => first(&mut p.returning, ReturnPref::Representation),
                    "resolution=merge-duplicates" => first(&mut p.resolution, true),
                    "resolution=ignore-duplicates" => first(&mut p.resolution, false),
                    "count=exact" => first(&mut p.count, "count=exact"),
                    "count=planned" => first(&mut p.count, "count=planned"),
                    "count=estimated" => first(&mut p.count, "count=estimated"),
                    "tx=commit" => first(&mut p.tx_rollback, false),
                    "tx=rollback" => first(&mut p.tx_rollback, true),
                    "handling=strict" => first(&mut p.handling, "handling=strict"),
                    "handling=lenient" => first(&mut p.handling, "handling=lenient"),
                    "missing=default" => first(&mut p.missing, "missing=default"),
                    "missing=null" => first(&mut p.missing, "missing=null"),
                    "params=single-object" => p.single_object = true,
                    "" => {}
                    other if other.starts_with("timezone=") && other.len() > 9 => {
                        first(&mut p.timezone, other[9..].to_string())
                    }
                    other => match other
                        .strip_prefix("max-affected=")
                        .map(|n| n.parse::<u64>())
                    {
                        Some(Ok(n)) => first(&mut p.max_affected, n),
                        _ => p.invalid.push(other.to_string()),
                    },
                }
            }
        }
        p
    }

    /// `handling=strict`
    pub(crate) fn strict(&self) -> bool {
        self.handling == Some("handling=strict")
    }

    /// `missing=default`: keys absent from a row take the column default.
    pub(crate) fn missing_default(&self) -> bool {
        self.missing == Some("missing=default")
    }
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

/// The query string, split into PostgREST's reserved parameters and filters.
#[derive(Default)]
pub(crate) struct QueryParams {
    pub(crate) select: Vec<SelectItem>,
    pub(crate) filters: Vec<Logic>,
    pub(crate) order: Vec<OrderTerm>,
    pub(crate) limit: Option<u64>,
    pub(crate) offset: Option<u64>,
    pub(crate) columns: Option<Vec<String>>,
    pub(crate) on_conflict: Option<Vec<String>>,
    /// `rel.col=eq.x`, `rel.order=...`, `rel.limit=...` by embed path.
    pub(crate) embedded: Vec<(Vec<String>, EmbedParam)>,
    /// Horizontal filters not parsed yet: in GET `/rpc` calls some of these
    /// keys are the function's arguments.
    pub(crate) raw_filters: Vec<(String, String)>,
    /// `limit` or `offset` came in the query string (not a Range header
    /// or `db-max-rows`).
    pub(crate) paged_in_query: bool,
}

pub(crate) enum EmbedParam {
    Filter(Logic),
    Order(Vec<OrderTerm>),
    Limit(u64),
    Offset(u64),
}

impl QueryParams {
    pub(crate) fn parse(query: &str) -> Result<Self, ApiError> {
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
                "limit" => {
                    q.limit = Some(parse_number("limit", value)?);
                    q.paged_in_query = true;
                }
                "offset" => {
                    q.offset = Some(parse_number("offset", value)?);
                    q.paged_in_query = true;
                }
                "columns" => {
                    q.columns = Some(
                        value
                            .split(',')
                            .map(|c| c.trim().trim_matches('"').to_string())
                            .filter(|c| !c.is_empty())
                            .collect(),
                    )
                }
                "on_conflict" => {
                    q.on_conflict = Some(
                        value
                            .split(',')
                            .map(|c| c.trim().to_string())
                            .filter(|c| !c.is_empty())
                            .collect(),
                    )
                }
                "or" | "and" | "not.or" | "not.and" => {
                    let negated = key.starts_with("not.");
                    q.filters
                        .push(grammar::parse_logic(key.ends_with("or"), negated, value)?);
                }
                _ if key.contains('.') && !key.contains("->") => {
                    q.embedded.push(embedded_param(key, value)?);
                }
                _ => q.raw_filters.push((key.to_string(), value.to_string())),
            }
        }
        Ok(q)
    }

    /// Parses the horizontal filters (what is left after RPC arguments).
    pub(crate) fn parse_filters(&mut self) -> Result<(), ApiError> {
        for (key, value) in std::mem::take(&mut self.raw_filters) {
            let field = grammar::parse_field(&key)?;
            self.filters
                .push(Logic::Filter(grammar::parse_filter(field, &value)?));
        }
        Ok(())
    }

    /// Moves the query's filters, order and paging onto a read tree.
    pub(crate) fn apply_to(&mut self, root: &mut Node) -> Result<(), ApiError> {
        root.filters = std::mem::take(&mut self.filters);
        root.order = std::mem::take(&mut self.order);
        root.limit = self.limit;
        root.offset = self.offset;
        self.apply_embedded(root)
    }

    /// `rel.col=…`, `rel.order=…`, `rel.limit=…` onto the embedded nodes.
    pub(crate) fn apply_embedded(&mut self, root: &mut Node) -> Result<(), ApiError> {
        for (path, param) in std::mem::take(&mut self.embedded) {
            let missing = (1..=path.len())
                .find(|n| root.find_mut(&path[..*n]).is_none())
                .map(|n| path[n - 1].clone());
            let node = root.find_mut(&path).ok_or_else(|| {
                ApiError::not_embedded(&missing.unwrap_or_else(|| path.join(".")))
            })?;
            match param {
                EmbedParam::Filter(f) => node.filters.push(f),
                EmbedParam::Order(o) => node.order = o,
                EmbedParam::Limit(l) => node.limit = Some(l),
                EmbedParam::Offset(o) => node.offset = Some(o),
            }
        }
        Ok(())
    }
}

/// `a.b.col=eq.1`, `a.order=x.desc`, `a.limit=2`, `a.or=(...)`, `a.not.or=(...)`.
pub(crate) fn embedded_param(
    key: &str,
    value: &str,
) -> Result<(Vec<String>, EmbedParam), ApiError> {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let negated = parts.last() == Some(&"not") && matches!(last, "or" | "and");
    if negated {
        parts.pop();
    }
    let path: Vec<String> = parts.iter().map(|s| s.to_string()).collect();
    if path.is_empty() || path.iter().any(|p| p.is_empty()) {
        return Err(ApiError::parse(
            format!("failed to parse filter ({key})"),
            "empty embedded resource name",
        ));
    }
    let param = match last {
        "order" => EmbedParam::Order(grammar::parse_order(value)?),
        "limit" => EmbedParam::Limit(parse_number("limit", value)?),
        "offset" => EmbedParam::Offset(parse_number("offset", value)?),
        "or" | "and" => EmbedParam::Filter(grammar::parse_logic(last == "or", negated, value)?),
        field => EmbedParam::Filter(Logic::Filter(grammar::parse_filter(
            grammar::parse_field(field)?,
            value,
        )?)),
    };
    Ok((path, param))
}

/// PUT needs `eq` filters on exactly the primary key, matching the body.
pub(crate) fn put_filters_match(
    pk: &[String],
    filters: &[Logic],
    body: &[u8],
) -> Result<(), ApiError> {
    let err = || {
        ApiError::new(
            405,
            "PGRST105",
            "Filters must include all and only primary key columns with 'eq' operators",
        )
    };
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let rows: Vec<&serde_json::Value> = match &body {
        serde_json::Value::Array(items) => items.iter().collect(),
        one => vec![one],
    };
    if filters.len() != pk.len() {
        return Err(err());
    }
    for f in filters {
        let Logic::Filter(f) = f else {
            return Err(err());
        };
        let grammar::Operation::Compare {
            op: "=",
            quantifier: None,
            value,
        } = &f.operation
        else {
            return Err(err());
        };
        if f.negated || !f.field.path.is_empty() || !pk.contains(&f.field.name) {
            return Err(err());
        }
        let matches = |row: &&serde_json::Value| match row.get(&f.field.name) {
            Some(serde_json::Value::String(s)) => s == value,
            Some(v) => &v.to_string() == value,
            None => false,
        };
        if rows.is_empty() || !rows.iter().all(matches) {
            return Err(ApiError::new(
                400,
                "PGRST115",
                "Payload values do not match URL in primary key column(s)",
            ));
        }
    }
    Ok(())
}

pub(crate) fn parse_number(name: &str, v: &str) -> Result<u64, ApiError> {
    v.trim().parse::<u64>().map_err(|_| {
        ApiError::parse(
            format!("failed to parse {name} parameter ({v})"),
            "expecting a non-negative integer",
        )
    })
}

/// `application/x-www-form-urlencoded` (one object; a repeated key gives an
/// array) and `text/csv` (a header line, then one object per line; an empty
/// field is null) bodies as JSON text; `None` for any other body.
pub(crate) fn body_as_json(req: &Request) -> Result<Option<Vec<u8>>, ApiError> {
    let ctype = req.header("content-type").map(|c| {
        c.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    match ctype.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let mut object = serde_json::Map::new();
            for (k, v) in form_urlencoded::parse(req.body) {
                let v = Value::String(v.into_owned());
                match object.get_mut(k.as_ref()) {
                    Some(Value::Array(items)) => items.push(v),
                    Some(first) => *first = Value::Array(vec![first.take(), v]),
                    None => {
                        object.insert(k.into_owned(), v);
                    }
                }
            }
            Ok(Some(Value::Object(object).to_string().into_bytes()))
        }
        Some("text/csv") => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .from_reader(req.body);
            let bad = |e: csv::Error| {
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { .. } => {
                        "All lines must have same number of fields"
                    }
                    _ => "Empty or invalid CSV",
                };
                ApiError::body(message)
            };
            let names: Vec<String> = reader
                .headers()
                .map_err(bad)?
                .iter()
                .map(String::from)
                .collect();
            let mut rows = Vec::new();
            for record in reader.records() {
                let record = record.map_err(bad)?;
                let row: serde_json::Map<String, Value> = names
                    .iter()
                    .zip(record.iter())
                    .map(|(k, v)| {
                        // Empty and `NULL` fields are null, as PostgREST reads CSV.
                        let v = if v.is_empty() || v == "NULL" {
                            Value::Null
                        } else {
                            Value::String(v.into())
                        };
                        (k.clone(), v)
                    })
                    .collect();
                rows.push(Value::Object(row));
            }
            Ok(Some(Value::Array(rows).to_string().into_bytes()))
        }
        _ => Ok(None),
    }
}

/// Validates a write payload. Returns the target columns and the payload as
/// JSON text (an array for inserts, an object for updates).
pub(crate) fn payload_columns(
    body: &[u8],
    columns: Option<&[String]>,
    many: bool,
) -> Result<(Vec<String>, String), ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::body("Empty or invalid json"))?;
    let rows: Vec<&serde_json::Map<String, Value>> = match &value {
        Value::Object(o) => vec![o],
        Value::Array(items) if many => items
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| ApiError::body("All object keys must match"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(ApiError::body("Empty or invalid json")),
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
