//! What the Supabase CLI's edge-runtime main worker decides per request
//! (`internal/functions/serve/templates/main.ts`), as plain Rust: which
//! function a path names, whether its token is checked, the answers the
//! runtime gives itself (404, 401, 546, 500, 503) and the environment a
//! function gets. No I/O here except reading `.env` text handed in.

use std::collections::BTreeMap;

/// The public prefix functions are served under.
pub const PREFIX: &str = "/functions/v1";

/// The component file a function directory holds (`NAME/function.wasm`).
pub const COMPONENT_FILE: &str = "function.wasm";

/// A `.env` file larger than this is ignored (with a warning).
pub const MAX_DOTENV_BYTES: u64 = 64 * 1024;

/// The function a request is for, and the path it sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    /// The path from `/NAME` on (`/NAME/sub/path`), as the edge runtime
    /// hands it to the worker; the query string kept apart.
    pub path: String,
}

/// A function name as the CLI accepts it (`^[A-Za-z][A-Za-z0-9_-]*$`, at
/// most 128 bytes here).
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `/functions/v1/NAME[/sub/path]` → the function and the path it sees;
/// `None` when the path names no (valid) function.
pub fn target(path: &str) -> Option<Target> {
    let rest = path.strip_prefix(PREFIX)?;
    let rest = rest.strip_prefix('/')?;
    let name = rest.split('/').next().unwrap_or("");
    valid_name(name).then(|| Target {
        name: name.to_string(),
        path: format!("/{rest}"),
    })
}

/// Why the token check refused a request: the template's `msg`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `Error: Missing authorization header`
    Missing,
    /// `Error: Auth header is not 'Bearer {token}'`
    NotBearer,
    /// `Invalid JWT`
    Invalid,
}

impl Refused {
    pub fn msg(&self) -> &'static str {
        match self {
            Refused::Missing => "Error: Missing authorization header",
            Refused::NotBearer => "Error: Auth header is not 'Bearer {token}'",
            Refused::Invalid => "Invalid JWT",
        }
    }
}

/// The template's check: OPTIONS is never checked; otherwise, when the
/// function verifies tokens, the `Authorization: Bearer <token>` header
/// must hold a token `verify` accepts.
pub fn check_token(
    verify_jwt: bool,
    method: &str,
    authorization: Option<&str>,
    verify: impl Fn(&str) -> bool,
) -> Result<(), Refused> {
    if !verify_jwt || method.eq_ignore_ascii_case("OPTIONS") {
        return Ok(());
    }
    let header = authorization.ok_or(Refused::Missing)?;
    // The template splits on one space and wants exactly `Bearer`.
    let mut parts = header.split(' ');
    let (Some("Bearer"), token) = (parts.next(), parts.next()) else {
        return Err(Refused::NotBearer);
    };
    match token {
        Some(t) if !t.is_empty() && verify(t) => Ok(()),
        _ => Err(Refused::Invalid),
    }
}

/// An answer the runtime gives itself: status, content type, body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

fn json_answer(status: u16, body: serde_json::Value) -> Answer {
    Answer {
        status,
        content_type: "application/json",
        body: body.to_string(),
    }
}

/// 404 `Function not found` (text/plain).
pub fn not_found() -> Answer {
    Answer {
        status: 404,
        content_type: "text/plain",
        body: "Function not found".into(),
    }
}

/// 401 `{"msg": ...}`.
pub fn unauthorized(why: &Refused) -> Answer {
    json_answer(401, serde_json::json!({ "msg": why.msg() }))
}

/// 546 `WORKER_LIMIT`: a memory, CPU time or wall clock limit was hit.
pub fn worker_limit() -> Answer {
    json_answer(
        546,
        serde_json::json!({
            "code": "WORKER_LIMIT",
            "message": "Worker failed to respond due to a resource limit (please check logs)",
        }),
    )
}

/// 500 `WORKER_ERROR`: the function trapped or gave no valid response.
pub fn worker_error() -> Answer {
    json_answer(
        500,
        serde_json::json!({
            "code": "WORKER_ERROR",
            "message": "Function exited due to an error (please check logs)",
        }),
    )
}

/// 503 `BOOT_ERROR`: the component does not compile or instantiate.
pub fn boot_error() -> Answer {
    json_answer(
        503,
        serde_json::json!({
            "code": "BOOT_ERROR",
            "message": "Worker failed to boot (please check logs)",
        }),
    )
}

/// 413: the request body is larger than `functions-max-body-bytes`.
pub fn too_large() -> Answer {
    json_answer(
        413,
        serde_json::json!({ "code": "PAYLOAD_TOO_LARGE", "message": "Request body too large" }),
    )
}

/// Per-function policy from the settings.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `functions-no-verify-jwt`
    pub no_verify_jwt: Vec<String>,
    /// `functions-secret-grants`
    pub secret_grants: Vec<String>,
}

impl Policy {
    pub fn verify_jwt(&self, name: &str) -> bool {
        !self.no_verify_jwt.iter().any(|n| n == name)
    }

    pub fn granted_secrets(&self, name: &str) -> bool {
        self.secret_grants.iter().any(|n| n == name)
    }
}

/// What every function may be given.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    pub url: String,
    pub anon_key: Option<String>,
    pub service_role_key: Option<String>,
    pub db_url: Option<String>,
}

/// A `.env` file's variables (`crate::dotenv`), without names starting
/// with `SUPABASE_` (the CLI skips them in secrets files) or names that are
/// not variable names.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    crate::dotenv::parse(text)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("SUPABASE_") && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect()
}

/// The function's environment: the `.env` files (the directory's, then
/// the function's own, later ones win), then what Supabase gives every
/// function, the service key and database URL only when granted.
pub fn environment(
    name: &str,
    policy: &Policy,
    secrets: &Secrets,
    dotenvs: &[Vec<(String, String)>],
) -> Vec<(String, String)> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    for file in dotenvs {
        for (k, v) in file {
            env.insert(k.clone(), v.clone());
        }
    }
    env.insert("SUPABASE_URL".into(), secrets.url.clone());
    if let Some(k) = &secrets.anon_key {
        env.insert("SUPABASE_ANON_KEY".into(), k.clone());
    }
    if policy.granted_secrets(name) {
        if let Some(k) = &secrets.service_role_key {
            env.insert("SUPABASE_SERVICE_ROLE_KEY".into(), k.clone());
        }
        if let Some(u) = &secrets.db_url {
            env.insert("SUPABASE_DB_URL".into(), u.clone());
        }
    }
    env.into_iter().collect()
}

/// Whether a function may send a request to `uri`: supalite's own origin
/// (`own`) or one of `allowed` (origins as `scheme://host[:port]`).
pub fn origin_allowed(uri: &http::Uri, own: &str, allowed: &[String]) -> bool {
    let Some(authority) = uri.authority() else {
        return false;
    };
    let scheme = uri.scheme_str().unwrap_or("http");
    let same = |origin: &str| {
        origin
            .parse::<http::Uri>()
            .ok()
            .is_some_and(|o| {
                o.scheme_str().unwrap_or("http").eq_ignore_ascii_case(scheme)
                    && o.authority()
                        .is_some_and(|a| a.as_str().eq_ignore_ascii_case(authority.as_str()))
            })
    };
    same(own) || allowed.iter().any(|o| same(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_function_and_keep_the_path_from_it() {
        assert_eq!(
            target("/functions/v1/hello"),
            Some(Target { name: "hello".into(), path: "/hello".into() })
        );
        assert_eq!(
            target("/functions/v1/hello/a/b"),
            Some(Target { name: "hello".into(), path: "/hello/a/b".into() })
        );
        assert_eq!(target("/functions/v1/"), None);
        assert_eq!(target("/functions/v1"), None);
        assert_eq!(target("/functions/v1/../x"), None);
        assert_eq!(target("/functions/v1/9lives"), None);
        assert_eq!(target("/functions/v10/x"), None);
        assert!(valid_name("my-fn_2"));
        assert!(!valid_name("a.b"));
        assert!(!valid_name(&"a".repeat(200)));
    }

    #[test]
    fn the_token_check_is_the_templates() {
        let ok = |t: &str| t == "good";
        assert_eq!(check_token(true, "GET", None, ok), Err(Refused::Missing));
        assert_eq!(check_token(true, "GET", Some("Basic x"), ok), Err(Refused::NotBearer));
        assert_eq!(check_token(true, "GET", Some("Bearer bad"), ok), Err(Refused::Invalid));
        assert_eq!(check_token(true, "GET", Some("Bearer "), ok), Err(Refused::Invalid));
        assert_eq!(check_token(true, "POST", Some("Bearer good"), ok), Ok(()));
        assert_eq!(check_token(true, "OPTIONS", None, ok), Ok(()));
        assert_eq!(check_token(false, "GET", None, ok), Ok(()));
        assert_eq!(unauthorized(&Refused::Invalid).body, r#"{"msg":"Invalid JWT"}"#);
        assert_eq!(worker_limit().status, 546);
        assert!(worker_limit().body.contains(r#""code":"WORKER_LIMIT""#));
        assert_eq!(not_found().body, "Function not found");
    }

    #[test]
    fn dotenv_files_and_grants_make_the_environment() {
        let vars = parse_dotenv(
            "# c\nGREETING=hello\nexport QUOTED=\"a b\"\nSUPABASE_URL=evil\nBAD NAME=1\nX='y' \nZ=1 # note\n",
        );
        assert_eq!(
            vars,
            vec![
                ("GREETING".into(), "hello".into()),
                ("QUOTED".into(), "a b".into()),
                ("X".into(), "y".into()),
                ("Z".into(), "1".into()),
            ]
        );
        let secrets = Secrets {
            url: "http://127.0.0.1:1".into(),
            anon_key: Some("anon".into()),
            service_role_key: Some("service".into()),
            db_url: Some("postgres://x".into()),
        };
        let policy = Policy { no_verify_jwt: vec![], secret_grants: vec!["admin".into()] };
        let plain = environment("hello", &policy, &secrets, &[vars.clone()]);
        assert!(plain.contains(&("SUPABASE_ANON_KEY".into(), "anon".into())));
        assert!(plain.contains(&("GREETING".into(), "hello".into())));
        assert!(!plain.iter().any(|(k, _)| k == "SUPABASE_SERVICE_ROLE_KEY" || k == "SUPABASE_DB_URL"));
        let admin = environment("admin", &policy, &secrets, &[]);
        assert!(admin.contains(&("SUPABASE_SERVICE_ROLE_KEY".into(), "service".into())));
        assert!(admin.contains(&("SUPABASE_DB_URL".into(), "postgres://x".into())));
    }

    #[test]
    fn outgoing_requests_only_to_the_own_and_allowed_origins() {
        let own = "http://127.0.0.1:54321";
        let allowed = vec!["https://api.example.com".to_string()];
        let ok = |u: &str| origin_allowed(&u.parse().unwrap(), own, &allowed);
        assert!(ok("http://127.0.0.1:54321/rest/v1/notes"));
        assert!(ok("https://api.example.com/x"));
        assert!(!ok("http://api.example.com/x"));
        assert!(!ok("http://127.0.0.1:5432/"));
        assert!(!ok("http://example.org/"));
    }
}
