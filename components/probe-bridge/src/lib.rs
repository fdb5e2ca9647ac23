//! A test fixture for `tests/tests/custom_role.rs`: a replacement bridge
//! that, for every request, asks `sql` for `select current_user` as three
//! roles — the request's own, the database connection's (`postgres`, the
//! superuser of embedded PGlite) and none at all — and answers what each
//! attempt gave: the role it ran as, or the SQLSTATE it was refused with.

#[cfg(target_arch = "wasm32")]
mod glue {
    wit_bindgen::generate!({ path: "../../wit", world: "bridge-component" });

    use exports::supalite::api::backend::Guest;
    use supalite::api::sql::{self, Session, Statement};
    use supalite::api::types::{Identity, Request, Response};

    struct ProbeBridge;

    /// `select current_user` as `role`: the user, or `error <SQLSTATE>`.
    fn attempt(role: &str, claims: &str) -> String {
        let session = Session {
            role: role.to_string(),
            claims_json: claims.to_string(),
            read_only: true,
            rollback: false,
            request_settings: Vec::new(),
        };
        let st = Statement {
            sql: "select current_user::text".into(),
            params: Vec::new(),
        };
        match sql::transaction(&session, &[st]) {
            Ok(sets) => sets
                .first()
                .and_then(|s| s.rows.first())
                .and_then(|r| r.first().cloned().flatten())
                .unwrap_or_default(),
            Err(e) => format!("error {}", e.code),
        }
    }

    impl Guest for ProbeBridge {
        fn handle(_req: Request, who: Identity) -> Response {
            let body = format!(
                "{{\"request_role\":\"{}\",\"connection_role\":\"{}\",\"no_role\":\"{}\"}}",
                attempt(&who.role, &who.claims_json),
                attempt("postgres", &who.claims_json),
                attempt("", &who.claims_json),
            );
            Response {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.into_bytes(),
            }
        }
    }

    export!(ProbeBridge);
}
