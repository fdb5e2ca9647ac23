//! The bridge: serves PostgREST's API itself. All the logic lives in the
//! `postgrest` crate (grammar → plan → one SQL statement → response); this
//! component only runs the statement through the `sql` import under the
//! caller's role and claims.
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
