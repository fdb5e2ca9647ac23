//! What the statements of a [`Query`] return, decoded: the query stage
//! knows which statement ran where and what its main row's columns are
//! ([`super::column`]), so the runner (the bridge) only hands back the
//! result sets.

use super::sql::Statement;
use super::{column, Query};
use crate::error::ApiError;
use crate::plan::Total;

/// One statement's result: its rows, each column as text or NULL (the
/// `sql` interface's result set, as plain Rust).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultSet {
    pub rows: Vec<Vec<Option<String>>>,
}

/// An error the database (or the `sql` provider) answered the statements with.
#[derive(Debug, Clone, Copy)]
pub struct DbError<'a> {
    pub code: &'a str,
    pub message: &'a str,
    pub detail: Option<&'a str>,
    pub hint: Option<&'a str>,
}

impl DbError<'_> {
    /// PostgREST's error for it (`anonymous`: the request ran as the
    /// anonymous role: 401 rather than 403 for a missing privilege).
    pub fn api_error(&self, anonymous: bool) -> ApiError {
        ApiError::from_db(self.code, self.message, self.detail, self.hint, anonymous)
    }
}

/// The main statement's one result row, decoded.
#[derive(Debug, Default)]
pub struct Outcome<'a> {
    /// The total to report (`Content-Range`), from the count or the
    /// planner's estimate as the plan asked.
    pub total: Option<u64>,
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

/// What the statements answered.
#[derive(Debug)]
pub enum QueryResult<'a> {
    /// The main statement was an EXPLAIN: its output, one line per row.
    Explain(String),
    /// The main statement's row.
    Row(Outcome<'a>),
}

/// Slots of [`Query::slots`] whose results are read.
const TIMEZONE: usize = 1;
const EXPLAIN: usize = 3;
const MAIN: usize = 4;

impl Query {
    /// Each slot's statement, if it runs: search_path, timezone,
    /// pre-request, explain, the main statement.
    fn slots(&self) -> [Option<&Statement>; 5] {
        [
            self.search_path.as_ref(),
            self.timezone.as_ref(),
            self.pre_request.as_ref(),
            self.explain.as_ref(),
            Some(&self.statement),
        ]
    }

    /// The statements to run, in order, in one transaction.
    pub fn statements(&self) -> Vec<&Statement> {
        self.slots().into_iter().flatten().collect()
    }

    /// The result of the statement in `slot`, when it ran.
    fn result<'a>(&self, sets: &'a [ResultSet], slot: usize) -> Option<&'a ResultSet> {
        let slots = self.slots();
        slots[slot]?;
        sets.get(slots[..slot].iter().flatten().count())
    }

    /// Decodes the result sets of [`Query::statements`]; `total` says how
    /// the answer's total is found.
    pub fn decode<'a>(&self, sets: &'a [ResultSet], total: Total) -> QueryResult<'a> {
        let main = self.result(sets, MAIN);
        if self.explains {
            let lines: Vec<&str> = main
                .map(|s| {
                    s.rows
                        .iter()
                        .filter_map(|r| r.first()?.as_deref())
                        .collect()
                })
                .unwrap_or_default();
            return QueryResult::Explain(lines.join("\n"));
        }
        let row = main.and_then(|s| s.rows.first());
        let col = |i: usize| row.and_then(|r| r.get(i)).and_then(|v| v.as_deref());
        let explain_json = self
            .result(sets, EXPLAIN)
            .and_then(|s| s.rows.first())
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref());
        QueryResult::Row(Outcome {
            total: reported_total(total, col(column::TOTAL), explain_json),
            page_total: col(column::PAGE_TOTAL),
            body: col(column::BODY),
            response_headers: col(column::RESPONSE_HEADERS),
            response_status: col(column::RESPONSE_STATUS),
            inserted: col(column::INSERTED),
            // The `timezone` statement set nothing: the zone is unknown.
            timezone_unknown: self
                .result(sets, TIMEZONE)
                .is_some_and(|s| s.rows.is_empty()),
        })
    }
}

/// The total to report, given the (possibly capped) exact count from the
/// main statement and the EXPLAIN output (`explain_json`) of a planned count.
fn reported_total(total: Total, exact: Option<&str>, explain_json: Option<&str>) -> Option<u64> {
    let planned = || -> Option<u64> {
        let v: serde_json::Value = serde_json::from_str(explain_json?).ok()?;
        v.get(0)?
            .get("Plan")?
            .get("Plan Rows")?
            .as_f64()
            .map(|r| r as u64)
    };
    let exact = || exact.and_then(|e| e.parse::<u64>().ok());
    match total {
        Total::Exact => exact(),
        Total::Planned => planned(),
        // PostgREST: the exact count (capped at db-max-rows + 1) when it is
        // not past db-max-rows, else the larger of it and the estimate.
        // Without db-max-rows every count is "past" it (`Just n > Nothing`
        // in Haskell): the larger of the two.
        Total::Estimated { max_rows } => match (exact(), max_rows) {
            (Some(n), Some(max)) if n <= max => Some(n),
            (n, _) => n.max(planned()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(rows: &[&[Option<&str>]]) -> ResultSet {
        ResultSet {
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
        }
    }

    #[test]
    fn results_are_found_by_their_statements_positions() {
        let q = Query {
            search_path: Some(Statement::text("sp")),
            timezone: Some(Statement::text("tz")),
            explain: Some(Statement::text("explain")),
            ..Query::default()
        };
        assert_eq!(q.statements().len(), 4);
        let plan = r#"[{"Plan": {"Plan Rows": 42}}]"#;
        let sets = [
            set(&[&[Some("")]]),
            set(&[]),
            set(&[&[Some(plan)]]),
            set(&[&[Some("3"), Some("2"), Some("[1,2]"), None, Some("201"), None]]),
        ];
        let QueryResult::Row(out) = q.decode(&sets, Total::Planned) else {
            panic!("a row")
        };
        assert_eq!(out.total, Some(42));
        assert_eq!(
            (out.page_total, out.body, out.response_status, out.inserted),
            (Some("2"), Some("[1,2]"), Some("201"), None)
        );
        assert!(out.timezone_unknown);
        let QueryResult::Row(out) = q.decode(&sets, Total::Exact) else {
            panic!("a row")
        };
        assert_eq!(out.total, Some(3));
        // Estimated: exact up to db-max-rows, else the larger of the two.
        let est = |max_rows| match q.decode(&sets, Total::Estimated { max_rows }) {
            QueryResult::Row(out) => out.total,
            _ => None,
        };
        assert_eq!(
            (est(Some(5)), est(Some(2)), est(None)),
            (Some(3), Some(42), Some(42))
        );
        let explains = Query {
            explains: true,
            ..Query::default()
        };
        let sets = [set(&[&[Some("Seq Scan")], &[Some("  Filter")]])];
        assert!(
            matches!(explains.decode(&sets, Total::Exact), QueryResult::Explain(t) if t == "Seq Scan\n  Filter")
        );
    }
}
