//! The bridge: serves PostgREST's API itself. All the logic lives in the
//! `postgrest` crate (grammar → plan → one SQL statement → response); this
//! component only runs the plan's statements through the `sql` import under
//! the caller's role and claims and hands their result back to the plan.
//!
//! Its settings (PostgREST's `db-*` names) are the rows of
//! `contract::settings` that list the bridge role.

/// Reads the bridge's settings from environment-style lookups.
pub fn config(var: impl Fn(&str) -> Option<String>) -> postgrest::Config {
    use contract::settings as s;
    let schemas = s::DB_SCHEMAS.list(&var);
    postgrest::Config {
        schemas: if schemas.is_empty() {
            contract::list(contract::defaults::DB_SCHEMAS)
        } else {
            schemas
        },
        anon_role: s::anon_role_or_default(&var),
        max_rows: s::DB_MAX_ROWS.number(&var),
        tx_end: postgrest::TxEnd::parse(s::DB_TX_END.text_or_default(&var).trim())
            .unwrap_or_default(),
        aggregates_enabled: s::DB_AGGREGATES_ENABLED.flag(&var),
        plan_enabled: s::DB_PLAN_ENABLED.flag(&var),
        extra_search_path: s::DB_EXTRA_SEARCH_PATH.list(&var),
        pre_request: s::DB_PRE_REQUEST.text(&var).map(|f| f.trim().to_string()),
        max_body_elements: s::MAX_BODY_ELEMENTS.number(&var).unwrap_or(1_000_000),
        max_body_depth: s::MAX_BODY_DEPTH.number(&var).unwrap_or(100),
    }
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
        // The schema cache is fetched from the provider (and parsed) only
        // for requests that need it, at most once per request (the plan asks for it at several
        // stages; a provider answering version 0 would be asked each time).
        let mut this_request: Option<std::rc::Rc<postgrest::schema::SchemaCache>> = None;
        let mut load = || -> Result<std::rc::Rc<postgrest::schema::SchemaCache>, ApiError> {
            if let Some(cache) = &this_request {
                return Ok(cache.clone());
            }
            let cache = load_cache()?;
            this_request = Some(cache.clone());
            Ok(cache)
        };

        // A table's column defaults, read (as the caller, in a read-only
        // transaction of its own) only for the writes that evaluate them
        // per row: `Prefer: missing=default` inserts.
        let mut defaults = |schema: &str, table: &str| -> Option<Vec<(String, String)>> {
            let (sql, table) = postgrest::plan::mutate::defaults_statement(schema, table);
            let session = Session {
                role: who.role.clone(),
                claims_json: who.claims_json.clone(),
                read_only: true,
                rollback: true,
                request_settings: Vec::new(),
            };
            let st = Statement {
                sql: sql.to_string(),
                params: vec![Some(table)],
            };
            let sets = sql::transaction(&session, &[st]).ok()?;
            postgrest::plan::mutate::parse_defaults(&sets.first()?.rows)
        };
        let plan = match postgrest::plan_with_defaults(cfg, &api, &mut load, &mut defaults) {
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

    /// The schema cache from the provider. An instance serving several
    /// requests keeps the parsed cache until the provider's version changes.
    fn load_cache() -> Result<std::rc::Rc<postgrest::schema::SchemaCache>, ApiError> {
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
