//! PostgREST's HTTP API as plain Rust, in PostgREST's own four stages,
//! each visited once per request with typed values between them:
//!
//! 1. [`request`] — the HTTP request parsed into an
//!    [`ApiRequest`](request::ApiRequest): action and target, query
//!    parameters (its [`grammar`](request::grammar)), typed preferences,
//!    media types, range, payload; PGRST1xx errors;
//! 2. [`plan`] — resolved against the [`schema`] cache into an
//!    [`ActionPlan`](plan::ActionPlan): a database plan — Read (the embed
//!    tree, relationships from [`schema::rels`]), Mutate ([`plan::mutate`])
//!    or Call ([`plan::rpc`]), and how to answer — or an info plan (the
//!    OpenAPI document, `OPTIONS`: answers that need no SQL);
//! 3. [`query`] — the plan as one SQL statement returning count and body
//!    together (built from [`query::sql::Sql`] snippets, values bound), the
//!    settings statements before it, and their results decoded;
//! 4. [`response`] — status, headers and body from that statement's row
//!    (or from an info plan).
//!
//! A stage uses only its own and earlier stages, and the foundations they
//! share ([`config`], [`error`], [`schema`], [`fuzzy`]); `tests/stages.rs`
//! checks it. Nothing here does I/O: the bridge component runs
//! [`Plan::statements`] through the `sql` interface and hands the result
//! sets back to [`Plan::respond`] (or the error to [`Plan::error`]).

pub mod config;
/// PostgREST's error body and status rules, shared with the host and every
/// role through `contract`.
pub use contract::error;
pub mod fuzzy;
pub mod plan;
pub mod query;
pub mod request;
pub mod response;
pub mod schema;

pub use config::{Config, TxEnd};
pub use plan::{CacheLoader, DefaultsLoader};
pub use query::{sql, DbError, Outcome, Query, ResultSet};
pub use request::{grammar, request_settings, Request, MAX_QUERY_BYTES};
pub use response::Response;

/// How a boolean setting is read, by the host and every component alike.
pub use contract::parse_bool;
/// The request's `search_path`, as the host and every provider set it.
pub use contract::sql::search_path;

use error::ApiError;
use plan::{ActionPlan, Answer, InfoPlan};
use query::QueryResult;

/// A request ready to run: its statements and how to answer with their
/// result (or the answer that needs none).
#[derive(Debug, Clone)]
pub struct Plan {
    pub query: Query,
    /// Run in a read-only transaction (GET/HEAD).
    pub read_only: bool,
    /// Roll the transaction back instead of committing (`db-tx-end`, `Prefer: tx=`).
    pub rollback: bool,
    reply: Reply,
}

/// How a plan is answered.
#[derive(Debug, Clone)]
enum Reply {
    /// Without SQL (the OpenAPI document, `OPTIONS`).
    Info(InfoPlan),
    /// From the statements' result.
    Db(Answer),
}

/// Parses `req` and plans it: request → plan → query. `cache` is called
/// only when the request needs the schema cache (embedding, RPC, …).
pub fn plan(cfg: &Config, req: &Request, cache: &mut CacheLoader) -> Result<Plan, ApiError> {
    plan_with_defaults(cfg, req, cache, &mut |_, _| None)
}

/// [`plan`], with a way to read a table's column defaults for the writes
/// that evaluate them per row (`Prefer: missing=default` inserts): the
/// caller runs [`plan::mutate::defaults_statement`] and hands its rows to
/// [`plan::mutate::parse_defaults`].
pub fn plan_with_defaults(
    cfg: &Config,
    req: &Request,
    cache: &mut CacheLoader,
    defaults: &mut DefaultsLoader,
) -> Result<Plan, ApiError> {
    let api = request::ApiRequest::parse(cfg, req)?;
    Ok(match plan::resolve(cfg, api, cache, defaults)? {
        ActionPlan::Info(info) => Plan {
            query: Query::default(),
            read_only: true,
            rollback: false,
            reply: Reply::Info(info),
        },
        ActionPlan::Db(db) => Plan {
            query: query::build(cfg, &db)?,
            read_only: db.read_only,
            rollback: db.rollback,
            reply: Reply::Db(db.answer),
        },
    })
}

impl Plan {
    /// The response, when this plan needs no SQL at all.
    pub fn info_response(&self) -> Option<Response> {
        match &self.reply {
            Reply::Info(info) => Some(response::info(info)),
            Reply::Db(_) => None,
        }
    }

    /// The statements to run, in order, in one transaction (none for an
    /// info plan).
    pub fn statements(&self) -> Vec<&sql::Statement> {
        match self.reply {
            Reply::Info(_) => Vec::new(),
            Reply::Db(_) => self.query.statements(),
        }
    }

    /// The response from the result sets of [`Plan::statements`], one per
    /// statement.
    pub fn respond(&self, sets: &[ResultSet]) -> Response {
        match &self.reply {
            Reply::Info(info) => response::info(info),
            Reply::Db(answer) => match self.query.decode(sets, answer.total) {
                QueryResult::Explain(text) => response::explain(answer, &text),
                QueryResult::Row(out) => response::respond(answer, out),
            },
        }
    }

    /// The response when the statements failed; `anonymous`: the request
    /// ran as the anonymous role. `cache` is called only for errors on
    /// names the schema cache may not know (42P01, 42703).
    pub fn error(&self, e: &DbError, anonymous: bool, cache: &mut CacheLoader) -> Response {
        match &self.reply {
            Reply::Db(answer) => response::db_error(answer, e, anonymous, cache),
            Reply::Info(_) => e.api_error(anonymous).into(),
        }
    }
}

#[cfg(test)]
mod tests;
