//! PostgREST's HTTP API as plain Rust, in PostgREST's own four stages,
//! each visited once per request with typed values between them:
//!
//! 1. [`request`] — the HTTP request parsed into an
//!    [`ApiRequest`](request::ApiRequest): action and target, query
//!    parameters (its [`grammar`](request::grammar)), typed preferences,
//!    media types, range, payload; PGRST1xx errors;
//! 2. [`plan`] — resolved against the [`schema`] cache into an
//!    [`ActionPlan`](plan::ActionPlan): Read (the embed tree, relationships
//!    from [`schema::rels`]), Mutate, Call ([`plan::rpc`]) or Inspect (answers
//!    that need no SQL), and how to answer;
//! 3. [`query`] — the plan as one SQL statement returning count and body
//!    together (built from [`query::sql::Sql`] snippets, values bound);
//! 4. [`response`] — status, headers and body from that statement's row.
//!
//! Nothing here does I/O: the bridge component runs [`Plan::query`]'s
//! statements through the `sql` interface and hands the single result row
//! back to [`Plan::respond`].

/// PostgREST's error body and status rules, shared with the host and every
/// role through `contract`.
pub use contract::error;
pub mod fuzzy;
pub mod openapi;
pub mod plan;
pub mod query;
pub mod request;
pub mod response;
pub mod schema;

pub use plan::CacheLoader;
pub use query::{sql, Query};
pub use request::{grammar, request_settings, Request, MAX_QUERY_BYTES};
pub use response::{Outcome, Response};

use error::ApiError;
use response::Answer;
use schema::SchemaCache;

/// Settings that shape answers (PostgREST's names in comments).
#[derive(Debug, Clone)]
pub struct Config {
    /// `db-schemas`: the first one is the default.
    pub schemas: Vec<String>,
    /// `db-anon-role`
    pub anon_role: String,
    /// `db-max-rows`
    pub max_rows: Option<u64>,
    /// `db-tx-end`
    pub tx_end: TxEnd,
    /// `db-aggregates-enabled`: `count()`, `sum()`, `avg()`, `max()`,
    /// `min()` in `select` (off by default, as in PostgREST).
    pub aggregates_enabled: bool,
    /// `db-plan-enabled`: `Accept: application/vnd.pgrst.plan` answers the
    /// request's EXPLAIN (off by default, as in PostgREST).
    pub plan_enabled: bool,
    /// `db-extra-search-path`: schemas after the request's own on the
    /// `search_path` (PostgREST's default: `public`).
    pub extra_search_path: Vec<String>,
    /// `db-pre-request`: a function (`schema.name` or `name`) called in each
    /// request's transaction before its statement.
    pub pre_request: Option<String>,
}

impl Config {
    /// The `search_path` a request on `schema` runs with, as PostgREST sets
    /// it: the schema, then `db-extra-search-path`, each quoted.
    pub fn search_path(&self, schema: &str) -> String {
        search_path(schema, &self.extra_search_path)
    }
}

/// How a boolean setting is read, by the host and every component alike.
pub use contract::parse_bool;
/// The request's `search_path`, as the host and every provider set it.
pub use contract::sql::search_path;

impl Default for Config {
    fn default() -> Self {
        Config {
            schemas: vec![contract::defaults::DB_SCHEMAS.into()],
            anon_role: contract::defaults::DB_ANON_ROLE.into(),
            max_rows: None,
            tx_end: TxEnd::default(),
            aggregates_enabled: false,
            plan_enabled: false,
            extra_search_path: contract::list(contract::defaults::DB_EXTRA_SEARCH_PATH),
            pre_request: None,
        }
    }
}

/// `db-tx-end`: `commit` (default), `commit-allow-override`, `rollback`,
/// `rollback-allow-override`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxEnd {
    /// Roll back (`rollback…`) instead of committing.
    pub rollback: bool,
    /// `Prefer: tx=commit|rollback` may override it (`…-allow-override`).
    pub allow_override: bool,
}

impl TxEnd {
    pub fn parse(text: &str) -> Option<TxEnd> {
        let (end, allow_override) = match text.strip_suffix("-allow-override") {
            Some(end) => (end, true),
            None => (text, false),
        };
        let rollback = match end {
            "commit" => false,
            "rollback" => true,
            _ => return None,
        };
        Some(TxEnd {
            rollback,
            allow_override,
        })
    }
}

/// A request ready to run: its statements and how to answer with their result.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The answer, when the request needs no SQL (the OpenAPI document, `OPTIONS`).
    ready: Option<Response>,
    pub query: Query,
    /// Run in a read-only transaction (GET/HEAD).
    pub read_only: bool,
    /// Roll the transaction back instead of committing (`db-tx-end`, `Prefer: tx=`).
    pub rollback: bool,
    answer: Answer,
}

/// Parses `req` and plans it: request → plan → query. `cache` is called
/// only when the request needs the schema cache (embedding, RPC, …).
pub fn plan(cfg: &Config, req: &Request, cache: &mut CacheLoader) -> Result<Plan, ApiError> {
    let api = request::ApiRequest::parse(cfg, req)?;
    let planned = plan::resolve(cfg, api, cache)?;
    let query = query::build(cfg, &planned)?;
    Ok(Plan {
        ready: match planned.action {
            plan::ActionPlan::Inspect(r) => Some(r),
            _ => None,
        },
        query,
        read_only: planned.read_only,
        rollback: planned.rollback,
        answer: planned.answer,
    })
}

impl Plan {
    /// The response, when this plan needs no SQL at all.
    pub fn ready_response(&self) -> Option<Response> {
        self.ready.clone()
    }

    /// The total to report (see [`Answer::total`]).
    pub fn total(&self, exact: Option<&str>, explain_json: Option<&str>) -> Option<String> {
        self.answer.total(exact, explain_json)
    }

    /// The statement is an EXPLAIN: answer with [`Plan::respond_explain`].
    pub fn explains(&self) -> bool {
        self.query.explains
    }

    /// The response for an EXPLAIN's output (its rows' text, joined by newlines).
    pub fn respond_explain(&self, plan: &str) -> Response {
        self.answer.respond_explain(plan)
    }

    /// Builds the HTTP response from the statement's result row.
    pub fn respond(&self, out: Outcome) -> Response {
        self.answer.respond(out)
    }

    /// PGRST204 for a write naming a column its table lacks (the database said 42703).
    pub fn unknown_column(&self, cache: &SchemaCache) -> Option<ApiError> {
        self.answer.unknown_column(cache)
    }

    /// PGRST205 for a table the schema cache lacks (the database said 42P01).
    pub fn unknown_table(&self, cache: &SchemaCache) -> Option<ApiError> {
        self.answer.unknown_table(cache)
    }
}

#[cfg(test)]
mod tests;
