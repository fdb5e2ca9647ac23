//! The query string: PostgREST's reserved parameters (`select`, `order`,
//! `limit`, `offset`, `columns`, `on_conflict`), logic trees, embedded
//! parameters (`rel.col=…`) and horizontal filters, through [`super::grammar`].

use super::grammar::{self, Logic, OrderTerm, SelectItem};
use crate::error::ApiError;

/// The query string, split into PostgREST's reserved parameters and filters.
#[derive(Default)]
pub struct QueryParams {
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
                    q.limit = Some(parse_limit(value)?);
                    q.paged_in_query = true;
                }
                "offset" => {
                    q.offset = Some(parse_offset(value)?);
                    q.paged_in_query = true;
                }
                "columns" => {
                    let columns: Vec<String> = value
                        .split(',')
                        .map(|c| c.trim().trim_matches('"').to_string())
                        .filter(|c| !c.is_empty())
                        .collect();
                    if columns.is_empty() {
                        return Err(ApiError::parse_at(
                            &format!("failed to parse columns parameter ({value})"),
                            value,
                            value.len(),
                            "unexpected end of input expecting field name (* or [a..z0..9_$])",
                        ));
                    }
                    q.columns = Some(columns);
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
        "limit" => EmbedParam::Limit(parse_limit(value)?),
        "offset" => EmbedParam::Offset(parse_offset(value)?),
        "or" | "and" => EmbedParam::Filter(grammar::parse_logic(last == "or", negated, value)?),
        field => EmbedParam::Filter(Logic::Filter(grammar::parse_filter(
            grammar::parse_field(field)?,
            value,
        )?)),
    };
    Ok((path, param))
}

fn parse_integer(name: &str, v: &str) -> Result<i64, ApiError> {
    v.trim().parse::<i64>().map_err(|_| {
        ApiError::parse(
            format!("failed to parse {name} parameter ({v})"),
            "expecting an integer",
        )
    })
}

/// `limit=N`: a negative limit is an unsatisfiable range (PGRST103, 416).
pub(crate) fn parse_limit(v: &str) -> Result<u64, ApiError> {
    u64::try_from(parse_integer("limit", v)?).map_err(|_| {
        ApiError::new(416, "PGRST103", "Requested range not satisfiable")
            .details("Limit should be greater than or equal to zero.")
    })
}

/// `offset=N`: a negative offset starts at the first row, as in PostgREST.
pub(crate) fn parse_offset(v: &str) -> Result<u64, ApiError> {
    Ok(parse_integer("offset", v)?.max(0) as u64)
}
