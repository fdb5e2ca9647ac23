//! A test fixture for `tests/tests/custom_role.rs`: a replacement bridge
//! that, for every request, asks `sql` for `select current_user` as three
//! roles — the request's own, the database connection's (`postgres`, the
//! superuser of embedded PGlite) and none at all — and answers what each
//! attempt gave: the role it ran as, or the SQLSTATE it was refused with.
//! It also reports what else it could reach: which environment variables
//! it sees (the JWT secret must not be among them), whether it can list a
//! directory, and whether a TCP connection to `SUPALITE_BRIDGE_PROBE_TCP`
//! (its own setting) gets through, and what an outgoing HTTP GET of
//! `SUPALITE_BRIDGE_PROBE_HTTP` (a URL) answers. On `/loop` it never
//! returns, on `/hog` it allocates until it is stopped.
//!
//! It reads its settings as a replacement component should, through
//! `wasi:config/store` by keys (`jwt_secret` for `SUPALITE_JWT_SECRET`).
//! Two more builds of the same crate are fixtures too
//! (`tests/tests/wasi_config.rs`):
//!
//! - `--features old-config`: the same bridge built against the old
//!   world, which imported the deprecated `supalite:api/config` (by
//!   environment names) instead of `wasi:config/store`;
//! - `--features alone`: not a bridge but a whole `wasi:http` component
//!   that imports `wasi:config/store` and nothing of supalite's, for
//!   `wasmtime serve -S config -S config-var=db_max_rows=5`: it answers
//!   every request with what the store gave it.

#[cfg(all(target_arch = "wasm32", feature = "alone"))]
mod alone;

#[cfg(all(target_arch = "wasm32", not(feature = "alone")))]
mod glue {
    // The bridge's world, plus outgoing HTTP (which a bridge must be granted).
    #[cfg(not(feature = "old-config"))]
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "package probe:bridge;
                 world probe {
                     include supalite:api/bridge-component@0.1.0;
                     import wasi:http/outgoing-handler@0.2.12;
                 }",
        world: "probe:bridge/probe",
        generate_all,
    });
    // The same as the bridge's world was before `wasi:config/store`.
    #[cfg(feature = "old-config")]
    wit_bindgen::generate!({
        path: "../../wit",
        inline: "package probe:bridge;
                 world probe {
                     import supalite:api/config@0.1.0;
                     import supalite:api/sql@0.1.0;
                     import supalite:api/schema@0.1.0;
                     export supalite:api/backend@0.1.0;
                     import wasi:http/outgoing-handler@0.2.12;
                 }",
        world: "probe:bridge/probe",
        generate_all,
    });

    /// Whether the JWT secret is answered when asked for by name.
    #[cfg(not(feature = "old-config"))]
    fn jwt_secret_setting() -> bool {
        matches!(wasi::config::store::get("jwt_secret"), Ok(Some(_)))
    }
    #[cfg(feature = "old-config")]
    fn jwt_secret_setting() -> bool {
        supalite::api::config::get("SUPALITE_JWT_SECRET").is_some()
    }

    /// A setting of its own (`SUPALITE_BRIDGE_PROBE_…`), by its key.
    #[cfg(not(feature = "old-config"))]
    fn own(key: &str) -> String {
        wasi::config::store::get(&format!("bridge_probe_{key}"))
            .ok()
            .flatten()
            .unwrap_or_default()
    }
    #[cfg(feature = "old-config")]
    fn own(key: &str) -> String {
        supalite::api::config::get(&format!("SUPALITE_BRIDGE_PROBE_{}", key.to_uppercase()))
            .unwrap_or_default()
    }

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

    /// What a TCP connection to `addr` gave: `connected` or the error.
    fn connect(addr: &str) -> String {
        match addr.parse::<std::net::SocketAddr>() {
            Ok(a) => match std::net::TcpStream::connect(a) {
                Ok(_) => "connected".into(),
                Err(e) => format!("error: {}", e.kind()),
            },
            Err(_) => "no address".into(),
        }
    }

    /// What a GET of `url` (`http://authority/path`) answered: `status N`
    /// or the error.
    fn fetch(url: &str) -> String {
        use wasi::http::types::{Fields, OutgoingRequest, Scheme};
        let Some(rest) = url.strip_prefix("http://") else {
            return "no url".into();
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        let _ = request.set_scheme(Some(&Scheme::Http));
        let _ = request.set_authority(Some(authority));
        let _ = request.set_path_with_query(Some(path));
        match wasi::http::outgoing_handler::handle(request, None) {
            Ok(future) => {
                future.subscribe().block();
                match future.get() {
                    Some(Ok(Ok(response))) => format!("status {}", response.status()),
                    Some(Ok(Err(e))) => format!("error {e:?}"),
                    other => format!("error {other:?}"),
                }
            }
            Err(e) => format!("error {e:?}"),
        }
    }

    fn quoted(items: impl Iterator<Item = String>) -> String {
        items
            .map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect::<Vec<_>>()
            .join(",")
    }

    impl Guest for ProbeBridge {
        fn handle(req: Request, who: Identity) -> Response {
            // A component gone wrong: it never returns, or it allocates
            // without bound. The host must end the request, not the process.
            if req.path.ends_with("/loop") {
                loop {
                    std::hint::black_box(0u8);
                }
            }
            if req.path.ends_with("/hog") {
                let mut held: Vec<Vec<u8>> = Vec::new();
                loop {
                    held.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&held);
                }
            }
            let mut env: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
            env.sort();
            let tcp = std::env::var("SUPALITE_BRIDGE_PROBE_TCP").unwrap_or_default();
            let http = std::env::var("SUPALITE_BRIDGE_PROBE_HTTP").unwrap_or_default();
            let body = format!(
                "{{\"request_role\":\"{}\",\"connection_role\":\"{}\",\"no_role\":\"{}\",\
                 \"env\":[{}],\"jwt_secret\":{},\"jwt_secret_setting\":{},\"list_root\":{},\"tcp\":\"{}\",\
                 \"http\":\"{}\",\"tcp_setting\":\"{}\"}}",
                attempt(&who.role, &who.claims_json),
                attempt("postgres", &who.claims_json),
                attempt("", &who.claims_json),
                quoted(env.into_iter()),
                std::env::var("SUPALITE_JWT_SECRET").is_ok(),
                jwt_secret_setting(),
                std::fs::read_dir("/").is_ok(),
                connect(&tcp),
                fetch(&http).replace('"', "'"),
                own("tcp").replace('"', "'"),
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
