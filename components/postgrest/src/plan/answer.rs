//! How a database plan is answered, as the plan stage describes it: what
//! the response stage ([`crate::response`]) needs to know to shape the
//! statement's result (PostgREST keeps the same in its plans: media type,
//! handler, preferences). The rendering itself is the response stage's.

use super::Shape;
use crate::request::prefs::Return;
use crate::request::{Action, ExplainRequest, MediaType};
use crate::schema::Handler;

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
pub enum Total {
    /// A count of the rows (or none asked for).
    Exact,
    /// The planner's estimate (`EXPLAIN` of the count query).
    Planned,
    /// Exact up to `db-max-rows`, the estimate beyond.
    Estimated { max_rows: Option<u64> },
}

/// The content type and encoding of a media type handler's answer.
#[derive(Debug, Clone)]
pub(crate) struct CustomMedia {
    pub(crate) content_type: String,
    pub(crate) binary: bool,
}

impl CustomMedia {
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
