//! Stage 4, PostgREST's `Response`: status, headers (`Content-Range`,
//! `Location`, `Preference-Applied`, what SQL set in `response.headers`) and
//! body, from a plan's [`Answer`] and its statement's decoded result row
//! ([`respond`]), an EXPLAIN ([`explain`]), a database error
//! ([`db_error`]), or an [`InfoPlan`] that needs no SQL ([`info`]: the
//! [`openapi`] document, `OPTIONS`).

pub mod openapi;

use crate::error::ApiError;
use crate::plan::{Answer, CacheLoader, InfoPlan, Shape};
use crate::query::{DbError, Outcome};
use crate::request::prefs::Return;
use crate::request::{Action, ExplainRequest, MediaType};
use crate::schema::SchemaCache;
use serde_json::Value;

pub use contract::Response;

/// The answer to an info plan.
pub fn info(plan: &InfoPlan) -> Response {
    let allow = |methods: &str| Response {
        status: 200,
        headers: vec![("allow".into(), methods.into())],
        body: Vec::new(),
    };
    match plan {
        InfoPlan::Schema {
            cache,
            schema,
            host,
            head,
        } => Response {
            status: 200,
            headers: vec![(
                "content-type".into(),
                "application/openapi+json; charset=utf-8".into(),
            )],
            body: if *head {
                Vec::new()
            } else {
                openapi::document(cache, schema, host.as_deref())
                    .to_string()
                    .into_bytes()
            },
        },
        InfoPlan::Relation { kind } if kind == "r" || kind == "p" => {
            allow("OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE")
        }
        InfoPlan::Relation { .. } => allow("OPTIONS,GET,HEAD"),
        InfoPlan::Routine { volatility } if volatility == "v" => allow("OPTIONS,POST"),
        InfoPlan::Routine { .. } => allow("OPTIONS,GET,HEAD,POST"),
    }
}

/// The EXPLAIN output (its rows joined by newlines) as the answer.
pub fn explain(answer: &Answer, plan: &str) -> Response {
    let ct = answer
        .explain
        .as_ref()
        .map(ExplainRequest::content_type)
        .unwrap_or_else(|| "text/plain; charset=utf-8".into());
    Response {
        status: 200,
        headers: vec![("content-type".into(), ct)],
        body: plan.as_bytes().to_vec(),
    }
}

/// The answer to a database error: PostgREST's errors for names the schema
/// cache does not know (the database said 42P01 or 42703), else the
/// error's own ([`DbError::api_error`]); `anonymous`: the request's role is
/// the anonymous one.
pub fn db_error(
    answer: &Answer,
    e: &DbError,
    anonymous: bool,
    cache: &mut CacheLoader,
) -> Response {
    let unknown = match e.code {
        "42P01" => cache().ok().and_then(|c| unknown_table(answer, &c)),
        "42703" => cache().ok().and_then(|c| unknown_column(answer, &c)),
        _ => None,
    };
    unknown.unwrap_or_else(|| e.api_error(anonymous)).into()
}

/// PGRST204 for a write naming a column its table does not have (the
/// database answered 42703), in PostgREST's words.
fn unknown_column(answer: &Answer, cache: &SchemaCache) -> Option<ApiError> {
    let (schema, table) = answer.target.as_ref()?;
    let t = cache.table(schema, table)?;
    let missing = answer
        .written
        .iter()
        .find(|c| !t.columns.iter().any(|tc| &tc.name == *c))?;
    Some(ApiError::new(
        400,
        "PGRST204",
        format!("Could not find the '{missing}' column of '{table}' in the schema cache"),
    ))
}

/// PGRST205 for a request on a table the schema cache does not have
/// (the database answered 42P01): PostgREST's message, and its
/// "Perhaps you meant" hint with the closest table of that schema.
fn unknown_table(answer: &Answer, cache: &SchemaCache) -> Option<ApiError> {
    let (schema, table) = answer.target.as_ref()?;
    cache.table_or_error(schema, table).err()
}

/// The answer to the main statement's row.
pub fn respond(a: &Answer, out: Outcome) -> Response {
    let page_total: u64 = out.page_total.and_then(|s| s.parse().ok()).unwrap_or(0);
    let total = if a.count_affected {
        Some(page_total)
    } else {
        out.total
    };
    let body = out.body.unwrap_or("[]");
    // A single-row PUT answers without Content-Range, as PostgREST.
    let mut headers = if a.action == Action::Put {
        Vec::new()
    } else {
        vec![(
            "content-range".to_string(),
            content_range(a, page_total, total),
        )]
    };
    if let Some(l) = &a.content_location {
        headers.push(("content-location".into(), l.clone()));
    }
    let applied: Vec<&str> = a
        .applied
        .iter()
        .map(String::as_str)
        .filter(|p| !(out.timezone_unknown && p.starts_with("timezone=")))
        .collect();
    if !applied.is_empty() {
        headers.push(("preference-applied".into(), applied.join(", ")));
    }

    let representation = a.returning == Return::Representation;
    if a.media == MediaType::SingleObject
        && representation
        && a.shape == Shape::Rows
        && page_total != 1
    {
        return ApiError::new(
            406,
            "PGRST116",
            "Cannot coerce the result to a single JSON object",
        )
        .details(format!("The result contains {page_total} rows"))
        .into();
    }
    let mut status = status(a, &out, representation);
    if matches!(a.action, Action::Read | Action::Call) {
        if let Some(t) = total {
            if a.offset > t || (a.offset > 0 && a.offset == t && t > 0) {
                return range_not_satisfiable(a.offset, t);
            }
            if page_total < t {
                status = 206;
            }
        }
    }
    if let Some((table, pk)) = &a.location {
        headers.extend(location(table, pk, body));
    }
    if !representation || (a.action == Action::Call && a.shape == Shape::Void) {
        if let Some(e) = apply_response_gucs(&out, &mut headers, &mut status) {
            return e;
        }
        return Response {
            status,
            headers,
            body: Vec::new(),
        };
    }
    let (ctype, body) = content(a, body, page_total);
    headers.insert(0, ("content-type".into(), ctype.into()));
    if let Some(e) = apply_response_gucs(&out, &mut headers, &mut status) {
        return e;
    }
    Response {
        status,
        headers,
        body: if a.head { Vec::new() } else { body },
    }
}

/// `Content-Range`: inserts and deletes report no range (`*/…`), as
/// PostgREST; reads, calls and updates the rows they returned or changed.
fn content_range(a: &Answer, page_total: u64, total: Option<u64>) -> String {
    let range = if page_total == 0 || matches!(a.action, Action::Insert | Action::Delete) {
        "*".to_string()
    } else {
        format!("{}-{}", a.offset, a.offset + page_total - 1)
    };
    let total = total.map_or("*".to_string(), |t| t.to_string());
    format!("{range}/{total}")
}

/// The status before paging (206) and what SQL set.
fn status(a: &Answer, out: &Outcome, representation: bool) -> u16 {
    match a.action {
        Action::Read | Action::OpenApi | Action::Options => 200,
        Action::Call if a.shape == Shape::Void => 204,
        Action::Call => 200,
        // An upsert that only updated answers 200, as PostgREST.
        Action::Insert if out.inserted == Some("0") || a.nothing_to_upsert => 200,
        Action::Insert => 201,
        Action::Put if out.inserted.is_some_and(|n| n != "0") => 201,
        Action::Put | Action::Update | Action::Delete => {
            if representation {
                200
            } else {
                204
            }
        }
    }
}

/// PGRST103 for an offset past the rows.
fn range_not_satisfiable(offset: u64, total: u64) -> Response {
    let mut e: Response = ApiError::new(416, "PGRST103", "Requested range not satisfiable")
        .details(format!(
            "An offset of {offset} was requested, but there are only {total} rows."
        ))
        .into();
    e.headers
        .push(("content-range".into(), format!("*/{total}")));
    e
}

/// `Location` of the one row a write returned (as JSON `rows`): its key
/// columns by name, a null key as `is.null`, as PostgREST.
fn location(table: &str, pk: &[String], rows: &str) -> Option<(String, String)> {
    let rows: Value = serde_json::from_str(rows).unwrap_or_default();
    let row = rows
        .as_array()
        .filter(|r| r.len() == 1)
        .and_then(|r| r[0].as_object())?;
    let mut pk: Vec<&String> = pk.iter().collect();
    pk.sort();
    let query: Vec<String> = pk
        .iter()
        .map(|k| {
            let v = match row.get(k.as_str()) {
                Some(Value::Null) | None => return format!("{k}=is.null"),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            };
            let enc: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
            format!("{k}=eq.{enc}")
        })
        .collect();
    Some(("location".into(), format!("/{table}?{}", query.join("&"))))
}

/// The content type and body of an answer with a representation.
fn content<'a>(a: &'a Answer, body: &str, page_total: u64) -> (&'a str, Vec<u8>) {
    // An array's one element.
    let unwrap = |b: &str| {
        b.trim()
            .strip_prefix('[')
            .and_then(|b| b.strip_suffix(']'))
            .unwrap_or(b)
            .as_bytes()
            .to_vec()
    };
    if let Some(c) = &a.custom {
        let bytes = if c.binary {
            hex::decode(body.trim()).unwrap_or_default()
        } else {
            body.as_bytes().to_vec()
        };
        return (c.content_type.as_str(), bytes);
    }
    let (ctype, body) = match (a.media, a.shape) {
        (MediaType::GeoJson, _) => (
            "application/geo+json; charset=utf-8",
            body.as_bytes().to_vec(),
        ),
        (media, Shape::Row) => (
            if media == MediaType::SingleObject {
                "application/vnd.pgrst.object+json; charset=utf-8"
            } else {
                "application/json; charset=utf-8"
            },
            if page_total == 0 {
                b"null".to_vec()
            } else {
                unwrap(body)
            },
        ),
        (MediaType::Csv, Shape::Rows) => ("text/csv; charset=utf-8", body.as_bytes().to_vec()),
        (MediaType::Json | MediaType::Csv, _)
        | (_, Shape::Scalar | Shape::Scalars | Shape::Void) => {
            ("application/json; charset=utf-8", body.as_bytes().to_vec())
        }
        (MediaType::SingleObject, Shape::Rows) => (
            "application/vnd.pgrst.object+json; charset=utf-8",
            unwrap(body),
        ),
    };
    let ctype = match (ctype, a.strip_nulls) {
        ("application/json; charset=utf-8", true) if a.shape == Shape::Rows => {
            "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
        }
        ("application/vnd.pgrst.object+json; charset=utf-8", true) => {
            "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
        }
        (c, _) => c,
    };
    (ctype, body)
}

/// `response.headers`: `[{"name": "value"}, ...]`, each object one key.
pub(crate) fn guc_headers(text: &str) -> Option<Vec<(String, String)>> {
    let Value::Array(items) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(o) if o.len() == 1 => {
                let (k, v) = o.into_iter().next()?;
                Some((k.to_ascii_lowercase(), v.as_str()?.to_string()))
            }
            _ => None,
        })
        .collect()
}

/// `response.headers` and `response.status` as SQL left them: a header
/// set there replaces the answer's own (several of one name, such as
/// `Set-Cookie`, are all kept); invalid values are PGRST111/PGRST112.
pub(crate) fn apply_response_gucs(
    out: &Outcome,
    headers: &mut Vec<(String, String)>,
    status: &mut u16,
) -> Option<Response> {
    if let Some(guc) = out.response_headers {
        let Some(set) = guc_headers(guc) else {
            return Some(
                ApiError::new(
                    500,
                    "PGRST111",
                    "response.headers guc must be a JSON array composed of objects with a single key and a string value",
                )
                .into(),
            );
        };
        let mut replaced: Vec<String> = Vec::new();
        for (name, value) in set {
            let lower = name.to_ascii_lowercase();
            if !replaced.contains(&lower) {
                headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                replaced.push(lower);
            }
            headers.push((name, value));
        }
    }
    if let Some(guc) = out.response_status {
        match guc.trim().parse::<u16>() {
            Ok(s) if (100..600).contains(&s) => *status = s,
            _ => {
                return Some(
                    ApiError::new(
                        500,
                        "PGRST112",
                        "response.status guc must be a valid status code",
                    )
                    .into(),
                )
            }
        }
    }
    None
}
