//! The bridge: serves PostgREST's API itself. All the logic lives in the
//! `postgrest` crate (grammar → plan → one SQL statement → response); this
//! component only runs the plan's statements through the `sql` import under
//! the caller's role and claims and hands their result back to the plan.
//!
//! Configuration (wasi:cli environment, PostgREST's names in brackets):
//! - `SUPALITE_DB_SCHEMAS` [db-schemas]: comma-separated, default `public`.
//! - `SUPALITE_DB_ANON_ROLE` [db-anon-role] (or the older
//!   `SUPALITE_ANON_ROLE`): default `anon`.
//! - `SUPALITE_DB_MAX_ROWS` [db-max-rows]: optional cap on rows per read.
//! - `SUPALITE_DB_AGGREGATES_ENABLED` [db-aggregates-enabled]: `true` allows
//!   aggregate functions in `select`.
//! - `SUPALITE_DB_PLAN_ENABLED` [db-plan-enabled]: `true` answers
//!   `Accept: application/vnd.pgrst.plan` with the request's EXPLAIN.

/// Reads the bridge's settings from environment-style lookups.
pub fn config(var: impl Fn(&str) -> Option<String>) -> postgrest::Config {
    let mut cfg = postgrest::Config::default();
    if let Some(s) = var("SUPALITE_DB_SCHEMAS") {
        let schemas: Vec<String> = s
            .split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect();
        if !schemas.is_empty() {
            cfg.schemas = schemas;
        }
    }
    if let Some(r) = contract::anon_role(&var) {
        cfg.anon_role = r;
    }
    cfg.max_rows = contract::read_number("SUPALITE_DB_MAX_ROWS", &var);
    let flag = |k: &str| contract::read_flag(k, &var).unwrap_or(false);
    cfg.aggregates_enabled = flag("SUPALITE_DB_AGGREGATES_ENABLED");
    cfg.plan_enabled = flag("SUPALITE_DB_PLAN_ENABLED");
    if let Some(t) =
        contract::read("SUPALITE_DB_TX_END", &var).and_then(|t| postgrest::TxEnd::parse(t.trim()))
    {
        cfg.tx_end = t;
    }
    if let Some(s) = var("SUPALITE_DB_EXTRA_SEARCH_PATH") {
        cfg.extra_search_path = contract::list(&s);
    }
    cfg.pre_request = var("SUPALITE_DB_PRE_REQUEST")
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty());
    cfg
}

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::bridge::*;

    /// A setting of this role (its `supalite:api/config` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, supalite::api::config::get)
    }

    use exports::supalite::api::backend::Guest;
    use postgrest::error::ApiError;
    use supalite::api::schema;
    use supalite::api::sql::{self, Session, Statement};
    use supalite::api::types::{Identity, Request, Response};

    struct Bridge;

    thread_local! {
        /// Read once per instance (the environment does not change).
        static CONFIG: postgrest::Config = super::config(|k| setting(k));
        /// The parsed schema cache and its version, kept while the instance
        /// lives (several requests when the host reuses instances).
        static CACHE: std::cell::RefCell<Option<(u64, std::rc::Rc<postgrest::schema::SchemaCache>)>> =
            const { std::cell::RefCell::new(None) };
    }

    impl Guest for Bridge {
        fn handle(req: Request, who: Identity) -> Response {
            let r = CONFIG.with(|cfg| serve(cfg, &req, &who));
            Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }
        }
    }

    fn serve(cfg: &postgrest::Config, req: &Request, who: &Identity) -> postgrest::Response {
        let api = postgrest::Request {
            method: &req.method,
            path: &req.path,
            query: &req.query,
            headers: &req.headers,
            body: &req.body,
        };
        // The schema cache is fetched from the host (and parsed) only for
        // requests that need it: embedding and RPC.
        let mut load = || -> Result<std::rc::Rc<postgrest::schema::SchemaCache>, ApiError> {
            // An instance serving several requests keeps the parsed cache
            // until the provider's version changes.
            let current = schema::version();
            if current != 0 {
                if let Some((v, cache)) = CACHE.with(|c| c.borrow().clone()) {
                    if v == current {
                        return Ok(cache);
                    }
                }
            }
            let (version, json) = schema::snapshot().map_err(|e| db_error(&e).api_error(false))?;
            let parsed = std::rc::Rc::new(postgrest::schema::SchemaCache::from_snapshot(&json)?);
            if version != 0 {
                CACHE.with(|c| *c.borrow_mut() = Some((version, parsed.clone())));
            }
            Ok(parsed)
        };
        let plan = match postgrest::plan(cfg, &api, &mut load) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        if let Some(r) = plan.info_response() {
            return r;
        }
        let session = Session {
            role: who.role.clone(),
            claims_json: who.claims_json.clone(),
            read_only: plan.read_only,
            rollback: plan.rollback,
            request_settings: postgrest::request_settings(&api),
        };
        let statements: Vec<Statement> = plan
            .statements()
            .into_iter()
            .map(|s| Statement {
                sql: s.sql.clone(),
                params: s.params.clone(),
            })
            .collect();
        let result = sql::transaction(&session, &statements);
        drop(statements);
        match result {
            Ok(sets) => {
                let sets: Vec<postgrest::ResultSet> = sets
                    .into_iter()
                    .map(|s| postgrest::ResultSet { rows: s.rows })
                    .collect();
                plan.respond(&sets)
            }
            Err(e) => plan.error(&db_error(&e), who.role == cfg.anon_role, &mut load),
        }
    }

    /// The `sql` interface's error as the plan reads it.
    fn db_error(e: &sql::DbError) -> postgrest::DbError<'_> {
        postgrest::DbError {
            code: &e.code,
            message: &e.message,
            detail: e.detail.as_deref(),
            hint: e.hint.as_deref(),
        }
    }

    guest::bridge::export_bridge!(Bridge);
}
