//! The settings that shape answers (PostgREST's configuration), read by
//! every stage: a foundation like [`crate::schema`] and [`crate::error`].

use contract::sql::search_path;

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
    /// `max-body-elements` (supalite's): most JSON values in one request
    /// body (`0` = no cap); above it 413 `PGRST413`.
    pub max_body_elements: usize,
    /// `max-body-depth` (supalite's): deepest array/object nesting in one
    /// JSON request body; deeper is 400 `PGRST102`.
    pub max_body_depth: usize,
}

impl Config {
    /// The `search_path` a request on `schema` runs with, as PostgREST sets
    /// it: the schema, then `db-extra-search-path`, each quoted.
    pub fn search_path(&self, schema: &str) -> String {
        search_path(schema, &self.extra_search_path)
    }
}

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
            max_body_elements: contract::settings::MAX_BODY_ELEMENTS
                .number(|_| None)
                .unwrap_or(1_000_000),
            max_body_depth: contract::settings::MAX_BODY_DEPTH
                .number(|_| None)
                .unwrap_or(100),
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
