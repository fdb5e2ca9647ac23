//! Stage 4, PostgREST's `Response`: status, headers (`Content-Range`,
//! `Location`, `Preference-Applied`, what SQL set in `response.headers`) and
//! body from a plan and its statement's one result row.

use crate::error::ApiError;
use crate::plan::Shape;
use crate::request::prefs::Return;
use crate::request::{Action, ExplainRequest, MediaType};
use crate::schema::{Handler, SchemaCache};
use serde_json::Value;

pub use contract::Response;

#[derive(Debug, Clone)]
pub(crate) struct CustomMedia {
    pub(crate) content_type: String,
    pub(crate) binary: bool,
}

/// The one result row of a plan's statement.
#[derive(Default)]
pub struct Outcome<'a> {
    pub total: Option<&'a str>,
    pub page_total: Option<&'a str>,
    pub body: Option<&'a str>,
    /// `response.headers` as SQL left it: a JSON array of one-key objects.
    pub response_headers: Option<&'a str>,
    /// `response.status` as SQL left it.
    pub response_status: Option<&'a str>,
    /// A merging upsert: how many rows it inserted.
    pub inserted: Option<&'a str>,
    /// `Prefer: timezone=` named a zone the database does not know.
    pub timezone_unknown: bool,
}

/// What the response stage needs to know about the plan.
#[derive(Debug, Clone)]
pub struct Answer {
    pub(crate) action: Action,
    pub(crate) head: bool,
    pub(crate) returning: Return,
    pub(crate) media: MediaType,
    /// `nulls=stripped` was asked for (and the body is stripped).
    pub(crate) strip_nulls: bool,
    /// A media type handler's answer.
    pub(crate) custom: Option<CustomMedia>,
    /// The table a read or write is on (schema, name).
    pub(crate) target: Option<(String, String)>,
    /// The columns a write sets.
    pub(crate) written: Vec<String>,
    pub(crate) shape: Shape,
    /// (table, primary key) for a `Location` header.
    pub(crate) location: Option<(String, Vec<String>)>,
    pub(crate) offset: u64,
    /// `Preference-Applied`: what PostgREST echoes for this request, in its order.
    pub(crate) applied: Vec<String>,
    /// A write with `count=exact|estimated`: the affected rows are the total.
    pub(crate) count_affected: bool,
    /// How a read's total is found.
    pub(crate) total: Total,
    /// The query plan is the answer (`application/vnd.pgrst.plan`).
    pub(crate) explain: Option<ExplainRequest>,
    /// A read's canonical location (`/table?sorted=params`).
    pub(crate) content_location: Option<String>,
    /// A merging upsert with no rows: nothing was inserted (200).
    pub(crate) nothing_to_upsert: bool,
}

/// Where a read's total (`Content-Range`) comes from: `Prefer: count=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Total {
    /// A count of the rows (or none asked for).
    Exact,
    /// The planner's estimate (`EXPLAIN` of the count query).
    Planned,
    /// Exact up to `db-max-rows`, the estimate beyond.
    Estimated { max_rows: Option<u64> },
}

impl Default for Answer {
    fn default() -> Self {
        Answer {
            action: Action::Read,
            head: false,
            returning: Return::Representation,
            media: MediaType::Json,
            strip_nulls: false,
            custom: None,
            target: None,
            written: Vec::new(),
            shape: Shape::Rows,
            location: None,
            offset: 0,
            applied: Vec::new(),
            count_affected: false,
            total: Total::Exact,
            explain: None,
            content_location: None,
            nothing_to_upsert: false,
        }
    }
}

impl CustomMedia {
    /// The content type and encoding of a media type handler's answer.
    pub(crate) fn of(h: &Handler) -> Self {
        CustomMedia {
            content_type: match h.media_type.as_str() {
                "*/*" => "application/octet-stream".into(),
                m @ ("text/plain"
                | "text/xml"
                | "text/csv"
                | "application/json"
                | "application/geo+json") => format!("{m}; charset=utf-8"),
                m => m.to_string(),
            },
            binary: h.base == "bytea",
        }
    }
}

impl Answer {
    /// The EXPLAIN output (its rows joined by newlines) as the answer.
    pub fn respond_explain(&self, plan: &str) -> Response {
        let ct = self
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

    /// The total to report, given the EXPLAIN output (`explain_json`) and the
    /// (possibly capped) exact count from the main statement.
    pub fn total(&self, exact: Option<&str>, explain_json: Option<&str>) -> Option<String> {
        let planned = || -> Option<u64> {
            let v: serde_json::Value = serde_json::from_str(explain_json?).ok()?;
            v.get(0)?
                .get("Plan")?
                .get("Plan Rows")?
                .as_f64()
                .map(|r| r as u64)
        };
        let exact = || exact.and_then(|e| e.parse::<u64>().ok());
        match self.total {
            Total::Exact => exact().map(|n| n.to_string()),
            Total::Planned => planned().map(|n| n.to_string()),
            // PostgREST: the exact count (capped at db-max-rows + 1) when
            // it is not past db-max-rows, else the larger of it and the
            // estimate. Without db-max-rows every count is "past" it
            // (`Just n > Nothing` in Haskell): the larger of the two.
            Total::Estimated { max_rows } => match (exact(), max_rows) {
                (Some(n), Some(max)) if n <= max => Some(n.to_string()),
                (n, _) => n.max(planned()).map(|n| n.to_string()),
            },
        }
    }

    /// PGRST204 for a write naming a column its table does not have (the
    /// database answered 42703), in PostgREST's words.
    pub fn unknown_column(&self, cache: &SchemaCache) -> Option<ApiError> {
        let (schema, table) = self.target.as_ref()?;
        let t = cache.table(schema, table)?;
        let missing = self
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
    pub fn unknown_table(&self, cache: &SchemaCache) -> Option<ApiError> {
        let (schema, table) = self.target.as_ref()?;
        cache.table_or_error(schema, table).err()
    }

    pub fn respond(&self, out: Outcome) -> Response {
        let page_total: u64 = out.page_total.and_then(|s| s.parse().ok()).unwrap_or(0);
        let total: Option<u64> = if self.count_affected {
            Some(page_total)
        } else {
            out.total.and_then(|s| s.parse().ok())
        };
        let body = out.body.unwrap_or("[]");
        let content_range = {
            // As PostgREST: inserts and deletes report no range (`*/…`),
            // reads, calls and updates the rows they returned or changed.
            let range = if page_total == 0 || matches!(self.action, Action::Insert | Action::Delete)
            {
                "*".to_string()
            } else {
                format!("{}-{}", self.offset, self.offset + page_total - 1)
            };
            let total = total.map_or("*".to_string(), |t| t.to_string());
            format!("{range}/{total}")
        };
        // A single-row PUT answers without Content-Range, as PostgREST.
        let mut headers = if self.action == Action::Put {
            Vec::new()
        } else {
            vec![("content-range".to_string(), content_range)]
        };
        if let Some(l) = &self.content_location {
            headers.push(("content-location".into(), l.clone()));
        }
        let applied: Vec<&str> = self
            .applied
            .iter()
            .map(String::as_str)
            .filter(|a| !(out.timezone_unknown && a.starts_with("timezone=")))
            .collect();
        if !applied.is_empty() {
            headers.push(("preference-applied".into(), applied.join(", ")));
        }

        let representation = self.returning == Return::Representation;
        let single_object_applies = matches!(self.shape, Shape::Rows);
        if self.media == MediaType::SingleObject
            && representation
            && single_object_applies
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

        let mut status = match self.action {
            Action::Read | Action::OpenApi | Action::Options => 200,
            Action::Call if self.shape == Shape::Void => 204,
            Action::Call => 200,
            // An upsert that only updated answers 200, as PostgREST.
            Action::Insert if out.inserted == Some("0") || self.nothing_to_upsert => 200,
            Action::Insert => 201,
            Action::Put if out.inserted.is_some_and(|n| n != "0") => 201,
            Action::Put => {
                if representation {
                    200
                } else {
                    204
                }
            }
            Action::Update | Action::Delete => {
                if representation {
                    200
                } else {
                    204
                }
            }
        };
        if matches!(self.action, Action::Read | Action::Call) {
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

        if let Some((table, pk)) = &self.location {
            let rows: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
            if let Some(row) = rows
                .as_array()
                .filter(|r| r.len() == 1)
                .and_then(|r| r[0].as_object())
            {
                // Key columns by name; a null key is `is.null`, as PostgREST.
                let mut pk: Vec<&String> = pk.iter().collect();
                pk.sort();
                let query: Vec<String> = pk
                    .iter()
                    .map(|k| {
                        let v = match row.get(k.as_str()) {
                            Some(serde_json::Value::Null) | None => return format!("{k}=is.null"),
                            Some(serde_json::Value::String(s)) => s.clone(),
                            Some(v) => v.to_string(),
                        };
                        let enc: String = form_urlencoded::byte_serialize(v.as_bytes()).collect();
                        format!("{k}=eq.{enc}")
                    })
                    .collect();
                headers.push(("location".into(), format!("/{table}?{}", query.join("&"))));
            }
        }
        if !representation || (self.action == Action::Call && self.shape == Shape::Void) {
            if let Some(e) = apply_response_gucs(&out, &mut headers, &mut status) {
                return e;
            }
            return Response {
                status,
                headers,
                body: Vec::new(),
            };
        }
        let strip = |b: &str| {
            b.trim()
                .strip_prefix('[')
                .and_then(|b| b.strip_suffix(']'))
                .unwrap_or(b)
                .as_bytes()
                .to_vec()
        };
        let custom = self.custom.as_ref().map(|c| {
            let bytes = if c.binary {
                hex::decode(body.trim()).unwrap_or_default()
            } else {
                body.as_bytes().to_vec()
            };
            (c.content_type.as_str(), bytes)
        });
        let (ctype, body) = if let Some(answer) = custom {
            answer
        } else {
            match (self.media, self.shape) {
                (media, Shape::Row) => (
                    if media == MediaType::SingleObject {
                        "application/vnd.pgrst.object+json; charset=utf-8"
                    } else {
                        "application/json; charset=utf-8"
                    },
                    if page_total == 0 {
                        b"null".to_vec()
                    } else {
                        strip(body)
                    },
                ),
                (MediaType::Csv, Shape::Rows) => {
                    ("text/csv; charset=utf-8", body.as_bytes().to_vec())
                }
                (MediaType::Json | MediaType::Csv, _)
                | (_, Shape::Scalar | Shape::Scalars | Shape::Void) => {
                    ("application/json; charset=utf-8", body.as_bytes().to_vec())
                }
                (MediaType::SingleObject, Shape::Rows) => (
                    "application/vnd.pgrst.object+json; charset=utf-8",
                    body.trim()
                        .strip_prefix('[')
                        .and_then(|b| b.strip_suffix(']'))
                        .unwrap_or(body)
                        .as_bytes()
                        .to_vec(),
                ),
            }
        };
        let ctype = match (ctype, self.strip_nulls) {
            ("application/json; charset=utf-8", true) if matches!(self.shape, Shape::Rows) => {
                "application/vnd.pgrst.array+json;nulls=stripped; charset=utf-8"
            }
            ("application/vnd.pgrst.object+json; charset=utf-8", true) => {
                "application/vnd.pgrst.object+json;nulls=stripped; charset=utf-8"
            }
            (c, _) => c,
        };
        headers.insert(0, ("content-type".into(), ctype.into()));
        if let Some(e) = apply_response_gucs(&out, &mut headers, &mut status) {
            return e;
        }
        Response {
            status,
            headers,
            body: if self.head { Vec::new() } else { body },
        }
    }
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
