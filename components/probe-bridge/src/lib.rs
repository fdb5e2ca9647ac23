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

#[cfg(target_arch = "wasm32")]
mod glue {
    // The bridge's world, plus outgoing HTTP (which a bridge must be granted).
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
                 \"http\":\"{}\"}}",
                attempt(&who.role, &who.claims_json),
                attempt("postgres", &who.claims_json),
                attempt("", &who.claims_json),
                quoted(env.into_iter()),
                std::env::var("SUPALITE_JWT_SECRET").is_ok(),
                supalite::api::config::get("SUPALITE_JWT_SECRET").is_some(),
                std::fs::read_dir("/").is_ok(),
                connect(&tcp),
                fetch(&http).replace('"', "'"),
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
