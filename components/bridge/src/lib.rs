//! The bridge: serves PostgREST's API itself. All the logic lives in the
//! `postgrest` crate (grammar → plan → one SQL statement → response); this
//! component only runs the statement through the `sql` import under the
//! caller's role and claims.
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

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it (an invalid value is said on stderr and unset).
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
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
            let (version, json) = schema::snapshot().map_err(|e| {
                ApiError::from_db(
                    &e.code,
                    &e.message,
                    e.detail.as_deref(),
                    e.hint.as_deref(),
                    false,
                )
            })?;
            let parsed = postgrest::schema::SchemaCache::parse(&json)
                .map(std::rc::Rc::new)
                .map_err(|e| {
                    ApiError::new(
                        503,
                        "PGRST002",
                        "Could not query the database for the schema cache",
                    )
                    .details(e.to_string())
                })?;
            if version != 0 {
                CACHE.with(|c| *c.borrow_mut() = Some((version, parsed.clone())));
            }
            Ok(parsed)
        };
        let plan = match postgrest::plan(cfg, &api, &mut load) {
            Ok(p) => p,
            Err(e) => return e.into(),
        };
        if let Some(r) = plan.ready_response() {
            return r;
        }
        let session = Session {
            role: who.role.clone(),
            claims_json: who.claims_json.clone(),
            read_only: plan.read_only,
            rollback: plan.rollback,
            request_settings: postgrest::request_settings(&api),
        };
        let q = &plan.query;
        let timezone_at = usize::from(q.search_path.is_some());
        let explain_at =
            timezone_at + usize::from(q.timezone.is_some()) + usize::from(q.pre_request.is_some());
        let statements: Vec<Statement> = [&q.search_path, &q.timezone, &q.pre_request, &q.explain]
            .into_iter()
            .flatten()
            .chain([&q.statement])
            .map(|s| Statement {
                sql: s.sql.clone(),
                params: s.params.clone(),
            })
            .collect();
        match sql::transaction(&session, &statements) {
            Ok(sets) if plan.explains() => {
                let lines: Vec<&str> = sets
                    .last()
                    .map(|s| {
                        s.rows
                            .iter()
                            .filter_map(|r| r.first()?.as_deref())
                            .collect()
                    })
                    .unwrap_or_default();
                plan.respond_explain(&lines.join("\n"))
            }
            Ok(sets) => {
                let row = sets.last().and_then(|s| s.rows.first());
                let col = |i: usize| row.and_then(|r| r.get(i)).and_then(|v| v.as_deref());
                let explain = if q.explain.is_some() {
                    sets.get(explain_at)
                        .and_then(|s| s.rows.first())
                        .and_then(|r| r.first())
                        .and_then(|v| v.as_deref())
                } else {
                    None
                };
                let total = plan.total(col(0), explain);
                plan.respond(postgrest::Outcome {
                    total: total.as_deref(),
                    page_total: col(1),
                    body: col(2),
                    response_headers: col(3),
                    response_status: col(4),
                    inserted: col(5),
                    timezone_unknown: q.timezone.is_some()
                        && sets.get(timezone_at).is_some_and(|s| s.rows.is_empty()),
                })
            }
            Err(e) => {
                // Names the schema cache does not know: PostgREST's errors.
                let unknown = match e.code.as_str() {
                    "42P01" => load().ok().and_then(|c| plan.unknown_table(&c)),
                    "42703" => load().ok().and_then(|c| plan.unknown_column(&c)),
                    _ => None,
                };
                if let Some(unknown) = unknown {
                    return unknown.into();
                }
                ApiError::from_db(
                    &e.code,
                    &e.message,
                    e.detail.as_deref(),
                    e.hint.as_deref(),
                    who.role == cfg.anon_role,
                )
                .into()
            }
        }
    }

    guest::bridge::export_bridge!(Bridge);
}
