//! Every setting, declared once: one row per setting in [`SETTINGS`], with
//! the roles that see it (none: the host alone), whether it is a secret,
//! the form of a valid value ([`Kind`]), its default and what it means.
//! From the row's name come its environment name (`DB_TX_END` →
//! `SUPALITE_DB_TX_END`) and its `supalite.toml` key (`db-tx-end`).
//!
//! What reads this table: the host's configuration (`host/src/config.rs`
//! loads every row from the file and the environment, checks it by its
//! kind, and hands each role its share), the components (they read theirs
//! through [`Setting::text`], [`Setting::flag`] and [`Setting::number`],
//! which check values the same way, say so on stderr and fall back to the
//! default), the README's configuration table ([`markdown_table`], checked
//! by a test) and the JS hosts (`supalite settings --json`, written into
//! `host/js/build/settings.mjs` at build time).

use crate::Role::{self, *};

/// What a valid value of a setting looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// A comma-separated list (items trimmed, empty ones dropped).
    List,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
    Flag,
    /// A whole number, 0 or more.
    Number,
    /// An `http://` or `https://` URL.
    Url,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `host:port` (an IP address and a port).
    Address,
    /// A size with an optional unit, e.g. `8MB` (PostgreSQL's form).
    Size,
    /// A file or directory path.
    Path,
    /// A JSON object of strings (`app.settings.*`); a table in the file.
    StringMap,
    /// `prefix=target,prefix=target` (the rewriter's routes); a table in
    /// the file.
    Routes,
    /// `role=number,role=number`; a table in the file.
    RoleNumbers,
    /// At least 32 characters (PostgREST's rule), or a JWK / JWK set (JSON).
    JwtSecret,
    /// A JWK set of private keys (JSON), or the path of a file holding one.
    JwtKeys,
}

/// The shape of a key set (`jwt-keys`): JSON, an array of JWKs (or
/// `{"keys": [...]}`), each with a `kty`, at most one with `sign` in its
/// `key_ops` (GoTrue's rule). A path is not checked here (the host reads
/// the file first).
pub fn check_key_set(t: &str) -> Result<(), String> {
    let t = t.trim();
    if !(t.starts_with('[') || t.starts_with('{')) {
        return Err("not JSON (a file path is read by the host)".into());
    }
    let v: serde_json::Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
    let keys = match &v {
        serde_json::Value::Array(a) => a.clone(),
        serde_json::Value::Object(o) => match o.get("keys") {
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(_) => return Err("`keys` is not an array".into()),
            None => vec![v.clone()],
        },
        _ => return Err("not an array".into()),
    };
    let mut signing = 0;
    for k in &keys {
        if k.get("kty").and_then(|v| v.as_str()).is_none() {
            return Err("every key is a JWK with a `kty`".into());
        }
        if k
            .get("key_ops")
            .and_then(|v| v.as_array())
            .is_some_and(|ops| ops.iter().any(|o| o == "sign"))
        {
            signing += 1;
        }
    }
    if signing > 1 {
        return Err("multiple signing keys detected, only 1 signing key is supported".into());
    }
    Ok(())
}

/// What applies when a setting is not set: its default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// This text, read as the setting's kind.
    Value(&'static str),
    /// Unset (off, none).
    Unset,
    /// Worked out from other settings, as this text says (the host
    /// resolves it; a component reads it as unset).
    Derived(&'static str),
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The environment variable: `SUPALITE_` and the row's name.
    pub env: &'static str,
    /// The roles that read it; no other role sees it. Empty: the host only.
    pub roles: &'static [Role],
    /// Never printed by value (passed by name to `wasmtime serve`).
    pub secret: bool,
    pub kind: Kind,
    pub default: Fallback,
    /// Read from `supalite.toml` too (false: the environment only).
    pub file: bool,
    /// What it means (markdown, one paragraph: the README's table).
    pub about: &'static str,
}

/// The fields a row leaves out.
const ROW: Setting = Setting {
    env: "",
    roles: &[],
    secret: false,
    kind: Kind::Text,
    default: Fallback::Unset,
    file: true,
    about: "",
};

/// Declares each row as a constant named after its environment variable
/// (`pub const DB_TX_END: Setting`) and lists them all in [`SETTINGS`].
macro_rules! settings {
    ($($name:ident { $($field:ident: $value:expr),* $(,)? })*) => {
        $(
            pub const $name: Setting = Setting {
                env: concat!("SUPALITE_", stringify!($name)),
                $($field: $value,)*
                ..ROW
            };
        )*
        /// Every setting, in the order of the README's table.
        pub const SETTINGS: &[Setting] = &[$($name),*];
    };
}

/// PostgREST's `db-tx-end` values.
pub const TX_END: &[&str] = &[
    "commit",
    "commit-allow-override",
    "rollback",
    "rollback-allow-override",
];

use Fallback::*;
use Kind::*;

settings! {
    LISTEN {
        kind: Address, default: Value("127.0.0.1:54321"),
        about: "listen address (`--listen`; a PostgREST config file's `server-host`/`server-port` also set it)",
    }
    BACKEND {
        kind: Choice(&["bridge", "adapter"]), default: Derived("`bridge`; `adapter` with a `[postgrest]` table"),
        about: "`bridge` (serve the API on the local database) or `adapter` (forward to PostgREST)",
    }
    UPSTREAM_URL {
        kind: Url, roles: &[Adapter], default: Derived("— (`http://127.0.0.1:<server-port>` with a `[postgrest]` table)"),
        about: "PostgREST base URL for the adapter, e.g. `http://127.0.0.1:3000`",
    }
    UPSTREAM_TIMEOUT_MS {
        kind: Number, roles: &[Adapter], default: Value("15000"),
        about: "one adapter attempt, from sending to the end of the answer",
    }
    UPSTREAM_TOTAL_TIMEOUT_MS {
        kind: Number, roles: &[Adapter], default: Value("30000"),
        about: "all attempts of one request, back-off included",
    }
    UPSTREAM_RETRIES {
        kind: Number, roles: &[Adapter], default: Value("2"),
        about: "extra attempts (GET/HEAD/OPTIONS, or any request that never reached the upstream)",
    }
    UPSTREAM_BACKOFF_MS {
        kind: Number, roles: &[Adapter], default: Value("50"),
        about: "first back-off; doubles per retry, capped at 2 s, full jitter",
    }
    UPSTREAM_BREAKER_FAILURES {
        kind: Number, default: Value("5"),
        about: "consecutive failed attempts (refused, timeout, broken answer, 502/503/504) that open the breaker",
    }
    UPSTREAM_BREAKER_COOLDOWN_MS {
        kind: Number, default: Value("5000"),
        about: "how long it stays open before one probe request goes through",
    }
    UPSTREAM_FALLBACK {
        kind: Flag, roles: &[Adapter], default: Value("false"),
        about: "serve requests the upstream cannot (breaker open, refused; for GET/HEAD also timeouts and 502–504) with the bridge on the same database (`db-uri`, or the embedded PGlite a supervised PostgREST uses); such answers carry `X-Supalite-Fallback: bridge; reason=…`",
    }
    ADMIN_LISTEN {
        kind: Address, default: Derived("off (`127.0.0.1:<admin-server-port>` when a PostgREST config file sets that)"),
        about: "admin listener: `GET /live`, `/ready` (database answers), `/metrics` (Prometheus text: per upstream requests, retries, failures, breaker rejections, fallbacks, breaker state, latency histogram)",
    }
    PGLITE_SHARED_BUFFERS {
        kind: Size, default: Value("8MB"),
        about: "embedded PGlite's `shared_buffers` (PostgreSQL's page cache, all of it resident in PGlite's heap; PostgreSQL's own default, 128MB, costs ~120 MB of RSS) — raise it for large local data",
    }
    PGLITE_LISTEN {
        kind: Address, default: Unset,
        about: "expose embedded PGlite on this loopback address with the PostgreSQL wire protocol (trust auth, so loopback only), e.g. `127.0.0.1:54322` for psql",
    }
    INSTANCE_REUSE {
        kind: Number, default: Derived("`1000` with the built-in components, `1` when a role is replaced by your own file"),
        about: "requests one pipeline instance may serve before it is dropped; `1` = a fresh instance per request, exactly as `wasmtime serve` (the built-in components keep no state between requests; an instance that trapped is never reused)",
    }
    ROUTES {
        kind: Routes, roles: &[Rewriter], default: Value("/rest/v1=rest,/auth/v1=auth,/storage/v1=storage"),
        about: "the rewriter's route table (`[routes]` in the file: `\"/rest/v1\" = \"rest\"`): public path prefix → `rest` (data API), `auth` or `storage`; longest prefix wins, the prefix is stripped, the query string is passed on byte for byte, other paths are 404 PGRST125",
    }
    DATA_DIR {
        kind: Path, default: Value(".supalite/data"),
        about: "PGlite data directory (`--data-dir`)",
    }
    DB_URI {
        kind: Text, roles: &[Pgwire], secret: true, default: Unset,
        about: "`postgres://user:password@host:port/db`: use PostgreSQL instead of PGlite (TCP; SCRAM-SHA-256, MD5 or cleartext auth)",
    }
    DB_POOL {
        kind: Number, default: Value("10"),
        about: "PostgreSQL connections",
    }
    MIGRATIONS {
        kind: Path, default: Value("supabase/migrations"),
        about: "migrations directory (`--migrations`)",
    }
    JWT_SECRET {
        // The verifier checks tokens with it, the auth API signs them.
        // The storage API signs and checks signed URLs with it.
        kind: JwtSecret, roles: &[Verifier, Auth, Storage], secret: true,
        // The Supabase CLI's local secret, so the well-known local keys work.
        default: Value("super-secret-jwt-token-with-at-least-32-characters-long"),
        about: "HS256 secret, ≥ 32 characters, or a JWK / JWK set (JSON); the default is the Supabase CLI's local development secret (set your own for anything shared)",
    }
    PUBLISHABLE_KEY {
        // The host swaps it for the anon key (`server::layers::api_keys`).
        kind: Text, default: Value("sb_publishable_ACJWlzQHlZjBrEguHvfOxg_3BJgxAaH"),
        about: "Supabase's publishable API key (the CLI's `[auth] publishable_key`; the default is the CLI's local one): accepted in `apikey` (and as `Authorization: Bearer`, and realtime's `apikey` parameter) as the anon key, on every route",
    }
    SECRET_KEY {
        kind: Text, secret: true, default: Value("sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz"),
        about: "Supabase's secret API key (the CLI's `[auth] secret_key`; the default is the CLI's local one): accepted as the service_role key, except from a browser (`User-Agent` with `Mozilla/`): 401 `{\"message\":\"Forbidden use of secret API key in browser\"}`",
    }
    JWT_KEYS {
        // The auth API signs with its signing key; both verify by `kid`.
        kind: JwtKeys, roles: &[Verifier, Auth], secret: true, default: Unset,
        about: "asymmetric signing keys, as the Supabase CLI's `signing_keys.json` and GoTrue's `GOTRUE_JWT_KEYS`: a JSON array of private JWKs (RS256 or ES256, each with a `kid`), or the path of a file holding one (read by the host at start, relative to the working directory). The one key whose `key_ops` contains `sign` signs the auth API's tokens (`kid` in the header); every key verifies tokens naming its `kid` (keep a retired key listed with `key_ops: [\"verify\"]`); `/auth/v1/.well-known/jwks.json` publishes the public halves. `jwt-secret` still verifies HS256 tokens (the anon and service_role keys)",
    }
    JWT_SECRET_IS_BASE64 {
        kind: Flag, roles: &[Verifier, Auth, Storage], default: Value("false"),
        about: "the secret is base64",
    }
    JWT_AUD {
        kind: Text, roles: &[Verifier, Auth], default: Unset,
        about: "the audience: a token's `aud`, when it has one, must be this string or an array of strings containing it (as PostgREST; a token without `aud` is accepted)",
    }
    JWT_ROLE_CLAIM_KEY {
        kind: Text, roles: &[Verifier, Auth], default: Value(".role"),
        about: "where the role is in the claims",
    }
    JWT_ALLOWED_ROLES {
        kind: List, roles: &[Verifier, Auth, Pgwire],
        default: Derived("`db-anon-role`, `authenticated`, `service_role`"),
        about: "roles a token may carry; any other role is a 401 (the database connection may be a superuser: a token must never pick `postgres`)",
    }
    DB_SCHEMAS {
        kind: List, roles: &[Bridge, Pgwire], default: Value("public"),
        about: "exposed schemas (first is the default; others via `Accept-Profile`/`Content-Profile`)",
    }
    DB_EXTRA_SEARCH_PATH {
        kind: List, roles: &[Bridge, Pgwire], default: Value("public"),
        about: "schemas on each request's `search_path` after the request's own schema (as PostgREST: functions, views and triggers may name tables without a schema)",
    }
    DB_PRE_REQUEST {
        kind: Text, roles: &[Bridge], default: Unset,
        about: "a function (`schema.name`) called in each request's transaction before its statement, after the role, claims and `request.*` settings (as PostgREST: it may raise to refuse the request or `set local role`)",
    }
    APP_SETTINGS {
        // What the supalite host applies itself; `pgwire` under other hosts.
        kind: StringMap, roles: &[Pgwire], default: Unset,
        about: "`[app.settings]` in the file (`name = \"value\"`), a JSON object (`{\"name\": \"value\"}`) in the environment: set as `app.settings.<name>` in every request's transaction, for SQL to read with `current_setting` (also by the `pgwire` provider under `wasmtime serve`)",
    }
    DB_ANON_ROLE {
        kind: Text, roles: &[Verifier, Auth, Bridge, Pgwire, Storage], default: Value("anon"),
        about: "role for requests without a token",
    }
    ANON_ROLE {
        kind: Text, roles: &[Verifier, Auth, Bridge, Pgwire, Storage], default: Unset, file: false,
        about: "the older name of `db-anon-role` (read when that is unset)",
    }
    DB_MAX_ROWS {
        kind: Number, roles: &[Bridge], default: Unset,
        about: "cap on rows per read",
    }
    DB_AGGREGATES_ENABLED {
        kind: Flag, roles: &[Bridge], default: Value("false"),
        about: "aggregate functions in `select` (`count()`, `sum()`, `avg()`, `max()`, `min()`, grouped by the other selected columns), as PostgREST's setting",
    }
    DB_PLAN_ENABLED {
        kind: Flag, roles: &[Bridge], default: Value("false"),
        about: "`Accept: application/vnd.pgrst.plan[+json\\|+text]; for=\"…\"; options=analyze\\|verbose\\|settings\\|buffers\\|wal` answers the request's EXPLAIN (supabase-js `.explain()`), as PostgREST's setting",
    }
    DB_TX_END {
        kind: Choice(TX_END), roles: &[Bridge], default: Value("commit"),
        about: "`commit`, `commit-allow-override`, `rollback`, `rollback-allow-override` (as PostgREST; `-allow-override` honours `Prefer: tx=`)",
    }
    DB_PREPARED_STATEMENTS {
        kind: Flag, default: Value("true"),
        about: "each statement shape is prepared once per session (pooled connection, PGlite's session) and then only bound, as PostgREST's setting; at most 100 per session, the least recently used closed; all closed on a schema reload (PostgreSQL also replans them by itself after DDL)",
    }
    DB_STATEMENT_TIMEOUT {
        // The supalite host applies it; `pgwire` under other hosts.
        kind: Number, roles: &[Pgwire], default: Value("8000"),
        about: "server-wide cap (ms; `0` = none) on every request's statements; the impersonated role's own `statement_timeout` (`ALTER ROLE anon SET statement_timeout = '3s'`) applies when shorter. 500 `57014` \"canceling statement due to statement timeout\"",
    }
    EDGE {
        kind: Choice(&["handler", "wasi-http"]), default: Value("handler"),
        about: "how the server calls the pipeline: `handler` = the gateway's `supalite:api/handler` export (whole request and response as records; used when the gateway has it), `wasi-http` = always `wasi:http/incoming-handler`, as `wasmtime serve` does (same answers, slower)",
    }
    MAX_BODY_BYTES {
        kind: Number, roles: &[Gateway], default: Value("10485760"),
        about: "largest request body (10 MiB); above it 413 `PGRST413` (refused before reading when `Content-Length` says so, else the server stops reading one byte past the limit)",
    }
    MAX_BODY_ELEMENTS {
        kind: Number, roles: &[Bridge], default: Value("1000000"),
        about: "most JSON values in one request body (each scalar, array and object counts; a CSV or form body as the JSON made of it): above it 413 `PGRST413`, before the body is parsed or any SQL runs. A parsed value costs ~30–60 bytes in the bridge's memory (capped at 256 MiB), so a 10 MB body of millions of tiny elements would otherwise exhaust it. `0` = no cap",
    }
    MAX_BODY_DEPTH {
        kind: Number, roles: &[Bridge], default: Value("100"),
        about: "deepest nesting of arrays and objects in one JSON request body: deeper is refused with 400 `PGRST102` before the body is parsed",
    }
    REQUEST_DEADLINE_MS {
        kind: Number, default: Value("60000"),
        about: "the longest one request may take in the pipeline (wall clock, and guest code through wasmtime's epoch interruption): 504 `SUPALITE504` after it; the instance is dropped",
    }
    ROLE_DEADLINE_MS {
        kind: RoleNumbers, default: Unset,
        about: "`[role-deadline-ms]` in the file (`bridge = 300`), `bridge=300,rewriter=50` in the environment: the most wasm time one role's code may run in one request: each 10 ms epoch tick is charged to the role whose code is innermost on the stack (its core modules are named after it at composition), time waiting on the database is not; past it 504 `SUPALITE504` naming the role, logged",
    }
    SERVER_HEADER_TIMEOUT_MS {
        kind: Number, default: Value("10000"),
        about: "time to send a request's headers, and the longest a keep-alive connection may stay idle; then the connection is closed",
    }
    SERVER_MAX_CONNECTIONS {
        kind: Number, default: Value("1000"),
        about: "open HTTP connections at most; more wait in the listen backlog",
    }
    SERVER_BODY_MEMORY_MB {
        kind: Number, default: Value("64"),
        about: "request bodies in flight, all requests together (by `Content-Length`; a chunked body counts as `max-body-bytes`); a request whose body does not fit waits, within its deadline, for others to finish",
    }
    SHUTDOWN_TIMEOUT_MS {
        kind: Number, default: Value("10000"),
        about: "on SIGTERM/Ctrl-C: how long requests in flight may take to finish",
    }
    COMPONENT_MEMORY_MB {
        kind: Number, default: Value("256"),
        about: "the most one component's linear memory may grow to (1 to 4096); past it the growth is refused and logged",
    }
    ROLE_MEMORY_MB {
        kind: RoleNumbers, default: Unset,
        about: "`[role-memory-mb]` in the file (`bridge = 64`), `bridge=64,rewriter=16` in the environment: a lower cap for one role's component, written into the composed file as its memories' declared maximum (so `wasmtime serve` and the JS hosts enforce it too); refused and logged like the overall cap",
    }
    CORS_ORIGINS {
        kind: List, roles: &[Rewriter], default: Value("*"),
        about: "`*` or a comma-separated list of allowed origins",
    }
    AUTH_AUTOCONFIRM {
        kind: Flag, roles: &[Auth], default: Value("true"),
        about: "sign users in at sign-up; `false`: sign-in fails with `email_not_confirmed` until an admin confirms",
    }
    AUTH_DISABLE_SIGNUP {
        kind: Flag, roles: &[Auth], default: Value("false"),
        about: "refuse `/auth/v1/signup`",
    }
    AUTH_JWT_EXPIRY {
        kind: Number, roles: &[Auth], default: Value("3600"),
        about: "access token lifetime (s)",
    }
    AUTH_REFRESH_TOKEN_REUSE_INTERVAL {
        // Concurrent refreshes from several tabs, as GoTrue's reuse interval.
        kind: Number, roles: &[Auth], default: Value("10"),
        about: "seconds a rotated refresh token still works; reuse after that revokes the session",
    }
    AUTH_RATE_LIMIT_TOKEN {
        kind: Number, roles: &[Auth], default: Value("150"),
        about: "refresh-token grants per client address and window, as GoTrue's `rate_limit_token_refresh`; then 429 `over_request_rate_limit` with `Retry-After`; `0` = no limit",
    }
    AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS {
        kind: Number, roles: &[Auth], default: Value("30"),
        about: "sign-ups and password sign-ins per client address and window, as GoTrue's `rate_limit_sign_in_sign_ups` (Supabase's default); `0` = no limit",
    }
    AUTH_RATE_LIMIT_WINDOW {
        kind: Number, roles: &[Auth], default: Value("300"),
        about: "the window of both (s)",
    }
    AUTH_ANONYMOUS_SIGN_INS {
        kind: Flag, roles: &[Auth], default: Value("false"),
        about: "`supabase.auth.signInAnonymously()`: `/auth/v1/signup` without an e-mail signs in a new user whose token claims `is_anonymous: true` (RLS can read it with `auth.jwt()->>'is_anonymous'`), and `updateUser({ email, password })` makes it a permanent user (same id, its rows kept); off, it answers 422 `anonymous_provider_disabled`, as Supabase's default",
    }
    AUTH_RATE_LIMIT_ANONYMOUS_USERS {
        kind: Number, roles: &[Auth], default: Value("30"),
        about: "anonymous sign-ins per client address and hour (GoTrue's `rate_limit_anonymous_users`); `0` = no limit",
    }
    // --- auth e-mail (issue 26): links, OTPs, mail limits, SMTP, the mail catcher ---
    AUTH_SITE_URL {
        kind: Url, roles: &[Auth], default: Value("http://127.0.0.1:3000"),
        about: "the app's URL (GoTrue's `SITE_URL`, the CLI's `[auth] site_url`): where e-mail links redirect after `/auth/v1/verify` when no allowed `redirect_to` is given",
    }
    AUTH_ADDITIONAL_REDIRECT_URLS {
        kind: List, roles: &[Auth], default: Unset,
        about: "other URLs an e-mail link may redirect to (GoTrue's `URI_ALLOW_LIST`, the CLI's `additional_redirect_urls`; `*` and `**` globs as GoTrue's); a `redirect_to` outside them and `auth-site-url` is ignored (the site URL is used)",
    }
    AUTH_MAILER_OTP_EXP {
        kind: Number, roles: &[Auth], default: Value("3600"),
        about: "seconds an e-mailed link or code stays valid (GoTrue's `MAILER_OTP_EXP`, the CLI's `otp_expiry`); then `/verify` answers 403 `otp_expired`",
    }
    AUTH_MAILER_OTP_LENGTH {
        kind: Number, roles: &[Auth], default: Value("6"),
        about: "digits of an e-mailed one-time code (GoTrue's `MAILER_OTP_LENGTH`, 6 to 10)",
    }
    AUTH_RATE_LIMIT_EMAIL_SENT {
        kind: Number, roles: &[Auth], default: Value("30"),
        about: "e-mails the auth API sends per hour, all users together, while `auth-autoconfirm` is off (GoTrue's `RATE_LIMIT_EMAIL_SENT`); then 429 `over_email_send_rate_limit` \"email rate limit exceeded\"; `0` = none at all, as GoTrue's",
    }
    AUTH_SMTP_MAX_FREQUENCY {
        kind: Number, roles: &[Auth], default: Value("60"),
        about: "seconds before another e-mail of the same kind to the same user (GoTrue's `SMTP_MAX_FREQUENCY`, the CLI's `[auth.email] max_frequency`); sooner answers 429 `over_email_send_rate_limit` \"For security purposes, you can only request this after N seconds.\"",
    }
    AUTH_DOUBLE_CONFIRM_CHANGES {
        kind: Flag, roles: &[Auth], default: Value("true"),
        about: "an e-mail change (`updateUser({ email })` with `auth-autoconfirm = false`) is confirmed by a link to the new address and one to the current one (GoTrue's `MAILER_SECURE_EMAIL_CHANGE_ENABLED`, the CLI's `double_confirm_changes`); `false`: the new address's alone",
    }
    // --- auth admin / reauthentication / identities (issue 26) ---
    AUTH_SECURE_PASSWORD_CHANGE {
        kind: Flag, roles: &[Auth], default: Value("false"),
        about: "a password change (`updateUser({ password })`) in a session signed in more than 24 hours ago needs the code `reauthenticate()` e-mails, as `nonce` (GoTrue's `SECURITY_UPDATE_PASSWORD_REQUIRE_REAUTHENTICATION`, the CLI's `[auth.email] secure_password_change`); without it 400 `reauthentication_needed`, a wrong, used or expired one 422 `reauthentication_not_valid`",
    }
    AUTH_MANUAL_LINKING {
        kind: Flag, roles: &[Auth], default: Value("false"),
        about: "`/auth/v1/user/identities` is served: `unlinkIdentity()` removes one of a user's identities (never the last), `linkIdentity()` answers as GoTrue for an unconfigured provider (GoTrue's `SECURITY_MANUAL_LINKING_ENABLED`, the CLI's `[auth] enable_manual_linking`); off: 404 `manual_linking_disabled`, as GoTrue's default",
    }
    AUTH_SMTP_HOST {
        kind: Text, default: Unset,
        about: "SMTP server for the auth e-mails (GoTrue's `SMTP_HOST`, the CLI's `[auth.email.smtp] host`), secured as `auth-smtp-tls` says. Unset: e-mails go to the built-in mail catcher",
    }
    AUTH_SMTP_PORT {
        kind: Number, default: Value("587"),
        about: "its port (`SMTP_PORT`)",
    }
    AUTH_SMTP_USER {
        kind: Text, default: Unset,
        about: "its user name, with `auth-smtp-pass` (`SMTP_USER`); unset: no authentication",
    }
    AUTH_SMTP_PASS {
        kind: Text, secret: true, default: Unset,
        about: "its password (`SMTP_PASS`)",
    }
    AUTH_SMTP_TLS {
        kind: Choice(&["auto", "starttls", "tls", "off"]), default: Value("auto"),
        about: "how the SMTP connection is secured: `auto` as GoTrue's mailer (implicit TLS on port 465, else STARTTLS when the server offers it), `starttls` (required: a server without it is refused), `tls` (implicit TLS on any port), `off` (plain; the password then goes only to a loopback server). Certificates are checked against the Mozilla roots and `auth-smtp-ca-file`",
    }
    AUTH_SMTP_CA_FILE {
        kind: Path, default: Unset,
        about: "PEM certificates trusted for the SMTP server besides the Mozilla roots (a private mail server's CA)",
    }
    AUTH_SMTP_ADMIN_EMAIL {
        kind: Text, default: Value("admin@email.com"),
        about: "the e-mails' sender address (`SMTP_ADMIN_EMAIL`, the CLI's `admin_email`)",
    }
    AUTH_SMTP_SENDER_NAME {
        kind: Text, default: Unset,
        about: "the sender's display name (`SMTP_SENDER_NAME`)",
    }
    MAIL_CATCHER_PORT {
        kind: Number, default: Value("54324"),
        about: "the built-in mail catcher (as the Supabase CLI's Mailpit on 54324), on 127.0.0.1: the auth e-mails sent while `auth-smtp-host` is unset, the last 200 kept in memory, listed on a web page (`/`) and read through Mailpit's API (`GET /api/v1/messages`, `GET /api/v1/message/{ID}`, `DELETE /api/v1/messages`); `0` = off",
    }
    // --- end auth e-mail ---
    // --- auth MFA (issue 26): TOTP factors ---
    AUTH_MFA_MAX_ENROLLED_FACTORS {
        kind: Number, roles: &[Auth], default: Value("10"),
        about: "MFA factors (verified or not) one user may have (GoTrue's `MFA_MAX_ENROLLED_FACTORS`, the CLI's `[auth.mfa] max_enrolled_factors`); one more answers 422 `too_many_enrolled_mfa_factors`",
    }
    AUTH_MFA_TOTP_ENROLL_ENABLED {
        kind: Flag, roles: &[Auth], default: Value("true"),
        about: "`supabase.auth.mfa.enroll({ factorType: 'totp' })` (GoTrue's `MFA_TOTP_ENROLL_ENABLED`, the CLI's `[auth.mfa.totp] enroll_enabled`); off: 422 `mfa_totp_enroll_disabled`",
    }
    AUTH_MFA_TOTP_VERIFY_ENABLED {
        kind: Flag, roles: &[Auth], default: Value("true"),
        about: "challenging and verifying TOTP factors, which raises a session to `aal2` (GoTrue's `MFA_TOTP_VERIFY_ENABLED`, the CLI's `[auth.mfa.totp] verify_enabled`); off: 422 `mfa_totp_verify_disabled`",
    }
    // --- end auth MFA ---
    STORAGE_BACKEND {
        kind: Choice(&["fs", "s3"]), default: Value("fs"),
        about: "where `/storage/v1` keeps object bytes (metadata is always in the database, `storage.objects`): `fs` = files under `storage-dir`, each written to a temporary file, fsynced and renamed into place (a crash mid-upload leaves no half object); `s3` = one S3-compatible bucket (`storage-s3-*`), objects at `<bucket id>/<name>/<version>`, larger ones as multipart uploads published only when complete, so two instances on one database and bucket serve the same objects. The storage role never sees the S3 credentials: the host holds them",
    }
    STORAGE_S3_BUCKET {
        kind: Text, default: Unset,
        about: "the S3 bucket every storage bucket's objects go to (Supabase Storage's `GLOBAL_S3_BUCKET`); created at start when missing",
    }
    STORAGE_S3_ENDPOINT {
        kind: Text, default: Derived("AWS's `https://s3.<region>.amazonaws.com`"),
        about: "the S3-compatible service (`GLOBAL_S3_ENDPOINT`), e.g. `http://127.0.0.1:9000` for MinIO or moto; `https://` endpoints are verified against the Mozilla roots and `storage-s3-ca-file`",
    }
    STORAGE_S3_CA_FILE {
        kind: Path, default: Unset,
        about: "PEM certificates trusted for an `https://` `storage-s3-endpoint` besides the Mozilla roots (a private S3 service's CA)",
    }
    STORAGE_S3_REGION {
        kind: Text, default: Value("us-east-1"),
        about: "the region requests are signed for (`REGION`)",
    }
    STORAGE_S3_FORCE_PATH_STYLE {
        kind: Flag, default: Value("false"),
        about: "path-style URLs (`<endpoint>/<bucket>/<key>`, `GLOBAL_S3_FORCE_PATH_STYLE`); always on for an IP-address or `localhost` endpoint",
    }
    STORAGE_S3_ACCESS_KEY_ID {
        kind: Text, default: Unset,
        about: "the access key requests are signed with (`AWS_ACCESS_KEY_ID`); unset with the secret: unsigned requests",
    }
    STORAGE_S3_SECRET_ACCESS_KEY {
        kind: Text, secret: true, default: Unset,
        about: "the secret of `storage-s3-access-key-id` (`AWS_SECRET_ACCESS_KEY`)",
    }
    STORAGE_DIR {
        kind: Path, default: Derived("`<data-dir>/storage`"),
        about: "the `fs` blob store's directory: `<bucket>/<object name>/<version>` files",
    }
    STORAGE_FILE_SIZE_LIMIT {
        kind: Number, roles: &[Storage], default: Value("52428800"),
        about: "the largest object (bytes) any upload may store, as Supabase Storage's global `FILE_SIZE_LIMIT` (50 MB); a bucket's `file_size_limit` may only lower it (creating a bucket with a higher one is refused); past it uploads are cut off with `EntityTooLarge`",
    }
    SERVER_HOST {
        kind: Text, default: Unset,
        about: "PostgREST's name for the listen host (with `server-port`; `!4`, `*4` and `*` mean 127.0.0.1 here, `!6`/`*6` ::1), so a PostgREST config file is a supalite config (`supalite postgrest FILE`)",
    }
    SERVER_PORT {
        kind: Number, default: Unset,
        about: "PostgREST's name for the listen port (used when `listen` is unset)",
    }
    ADMIN_SERVER_PORT {
        kind: Number, default: Unset,
        about: "PostgREST's admin port: `admin-listen` on 127.0.0.1 (used when `admin-listen` is unset)",
    }
    LOG {
        kind: Text, default: Value("supalite=info"), file: false,
        about: "log filter (tracing's `EnvFilter`), e.g. `supalite=debug` for one line per request with its request id",
    }
    WORKER_THREADS {
        kind: Number, default: Derived("one per core"), file: false,
        about: "tokio worker threads",
    }
    MEMORY_KEEP_RESIDENT {
        kind: Number, default: Derived("0 when instances are reused, 1 MiB with `instance-reuse = 1`"), file: false,
        about: "tuning: bytes of a linear memory kept resident per pooled slot when it is freed",
    }
    TABLE_KEEP_RESIDENT {
        kind: Number, default: Value("16384"), file: false,
        about: "tuning: bytes of a table kept resident per pooled slot when it is freed",
    }
    STACK_KEEP_RESIDENT {
        kind: Number, default: Value("131072"), file: false,
        about: "tuning: bytes of an async stack kept resident per pooled slot when it is freed",
    }
    SERVER_MAX_CONNECTIONS_PER_CLIENT {
        kind: Number, default: Value("100"),
        about: "open HTTP connections from one client address at most (`0` = no cap below `server-max-connections`); a connection past it is answered 429 `SUPALITE429` with `Retry-After` and closed at once, so one client holding slow connections cannot fill the server's; a trusted proxy's own connections are not capped",
    }
    SERVER_TRUSTED_PROXIES {
        kind: List, default: Unset,
        about: "addresses or CIDR ranges (`10.0.0.0/8,::1`) of proxies whose forwarded header names the client: for a connection from one of them, the client address (per-client caps, budgets and PGlite's scheduler; the last `X-Forwarded-For` hop the components see) is the header's rightmost hop that is not itself a trusted proxy; from any other peer the header is never believed. Unset: the socket's peer is the client",
    }
    SERVER_FORWARDED_HEADER {
        kind: Text, default: Value("x-forwarded-for"),
        about: "the header a trusted proxy (`server-trusted-proxies`) names the client in: a comma-separated list of addresses, the client's last (`x-forwarded-for`, `x-real-ip`…)",
    }
    SERVER_ANON_REQUESTS_PER_SECOND {
        kind: Number, default: Value("0"),
        about: "per client address, anonymous requests per second (a token bucket holding two seconds' worth): those with no token, the anonymous role's, or one that does not verify; past it 429 `SUPALITE429` with `Retry-After`, before the pipeline runs. Requests with a verified token of another role are not counted. `0` = no budget (the default: supalite's own benchmark sends 15,000 anonymous requests a second from one address)",
    }
    PGLITE_ANON_SLICE_MS {
        kind: Number, default: Value("200"),
        about: "PGlite's scheduler: how long an anonymous transaction may keep the one session while requests of other roles or other clients wait (it is then cancelled and answers 503 `53300` with `Retry-After`); uncontended, the role's own `statement_timeout` applies. `0` = never cut short",
    }
    PGLITE_ANON_QUEUE_PER_CLIENT {
        kind: Number, default: Value("64"),
        about: "PGlite's scheduler: anonymous transactions of one client address waiting for the session at most; more answer 503 `53300` with `Retry-After` at once (`0` = no cap). Fair queuing already keeps one address's queue from delaying others; this bounds how much it may pile up. Not much lower: a server-side app or a test behind one address may well send 16–32 anonymous requests at once",
    }
    // Edge functions (`/functions/v1/NAME`, host/src/functions): the host
    // alone reads these rows.
    FUNCTIONS_DIR {
        kind: Path, default: Value("supabase/functions"),
        about: "edge functions directory (as the Supabase CLI's): `NAME/function.wasm` (a `wasi:http/incoming-handler` component) is served at `/functions/v1/NAME`; `.env` there and in `NAME/` add to its environment; a changed file is picked up on the next request",
    }
    FUNCTIONS_NO_VERIFY_JWT {
        kind: List, default: Unset,
        about: "functions called without a token check (the CLI's `[functions.NAME] verify_jwt = false`); the others answer 401 `{\"msg\":\"Invalid JWT\"}` to a missing or bad token before they run",
    }
    FUNCTIONS_SECRET_GRANTS {
        kind: List, default: Unset,
        about: "functions whose environment has `SUPABASE_SERVICE_ROLE_KEY` and `SUPABASE_DB_URL` (the others get `SUPABASE_URL` and `SUPABASE_ANON_KEY` only)",
    }
    FUNCTIONS_ALLOWED_ORIGINS {
        kind: List, default: Unset,
        about: "origins (`https://api.example.com`) functions may send HTTP requests to besides supalite's own; any other is refused (`HTTP-request-denied`)",
    }
    FUNCTIONS_MEMORY_MB {
        kind: Number, default: Value("256"),
        about: "the most memory one function instance may grow to (the edge runtime's `memoryLimitMb`); past it 546 `WORKER_LIMIT`",
    }
    FUNCTIONS_CPU_TIME_MS {
        kind: Number, default: Value("2000"),
        about: "the most CPU time (wasm time, sampled by epoch ticks) one invocation may use (the edge runtime's `cpuTimeHardLimitMs`); past it 546 `WORKER_LIMIT`",
    }
    FUNCTIONS_WALL_CLOCK_MS {
        kind: Number, default: Value("400000"),
        about: "the longest one invocation may take, wall clock (the edge runtime's `workerTimeoutMs`); past it 546 `WORKER_LIMIT`",
    }
    FUNCTIONS_MAX_BODY_BYTES {
        kind: Number, default: Value("20971520"),
        about: "the largest request body and the largest response body (bytes) of one invocation; a larger request is refused with 413 before the function runs, a larger response is cut off (546 `WORKER_LIMIT` if nothing was sent yet)",
    }
}

/// A table of the config file that is not a setting of its own.
#[derive(Debug, Clone, Copy)]
pub struct FileTable {
    /// As written in the README: the table and its form.
    pub form: &'static str,
    /// Its top-level key in `supalite.toml`.
    pub key: &'static str,
    pub default: &'static str,
    pub about: &'static str,
}

/// The config file's tables beyond [`SETTINGS`] (file only).
pub const FILE_TABLES: &[FileTable] = &[
    FileTable {
        form: "`[postgrest]` `command`, `server-port` (3000), `admin-server-port` (3001), `db-uri`, `config-file`, `ready-timeout-s` (60)",
        key: "postgrest",
        default: "—",
        about: "run and supervise a PostgREST (see below); implies `backend = \"adapter\"` and `upstream-url = http://127.0.0.1:<server-port>`",
    },
    FileTable {
        form: "`[components]` `gateway`, `rewriter`, `verifier`, `auth`, `bridge`, `adapter`, `pgwire`, `standalone`, `storage`",
        key: "components",
        default: "built-in",
        about: "paths to `.wasm` files replacing a role (see \"Write your own role\"; a change is picked up while serving)",
    },
    FileTable {
        form: "`[grants]` `<role> = [\"wasi:sockets\", …]`",
        key: "grants",
        default: "none",
        about: "interfaces a role's component may import beyond its world (`ns:pkg` or `ns:pkg/iface`); `supalite:api/admin-sql` cannot be granted",
    },
    FileTable {
        form: "`[outbound]` `<role> = [\"10.0.0.5:5432\", \"127.0.0.1:*\", \"https://flags.example\"]`",
        key: "outbound",
        default: "none",
        about: "what the role's grants reach: TCP addresses (IP and port, or any port) through `wasi:sockets` — no bind/listen, no name lookup — and HTTP origins through `wasi:http/outgoing-handler`; nothing else (the adapter reaches the upstreams)",
    },
    FileTable {
        form: "`[directories.<role>]` `\"/data\" = \"./assets\"`",
        key: "directories",
        default: "none",
        about: "host directories the role's granted `wasi:filesystem` opens, read-only, at these guest paths",
    },
];

impl Setting {
    /// Its key in `supalite.toml`: the environment name without
    /// `SUPALITE_`, in kebab case (`SUPALITE_DB_MAX_ROWS` is `db-max-rows`).
    pub fn key(&self) -> String {
        self.env
            .trim_start_matches("SUPALITE_")
            .to_ascii_lowercase()
            .replace('_', "-")
    }

    /// The host alone reads it.
    pub fn host_only(&self) -> bool {
        self.roles.is_empty()
    }

    /// The default as text, when it is a value.
    pub fn default_text(&self) -> Option<&'static str> {
        match self.default {
            Value(v) => Some(v),
            Unset | Derived(_) => None,
        }
    }

    /// Whether `text` is a valid value; the error names the setting, the
    /// value (unless secret) and what was expected.
    pub fn check(&self, text: &str) -> Result<(), String> {
        let t = text.trim();
        let expected = match self.kind {
            Text | List | Path => return Ok(()),
            Flag if parse_bool(t).is_some() => return Ok(()),
            Flag => "true or false".to_string(),
            Number if t.parse::<u64>().is_ok() => return Ok(()),
            Number => "a number".to_string(),
            Url if (t.starts_with("http://") || t.starts_with("https://"))
                && !t.contains(char::is_whitespace) =>
            {
                return Ok(())
            }
            Url => "an http:// or https:// URL".to_string(),
            Choice(words) if words.contains(&t) => return Ok(()),
            Choice(words) => format!("one of {}", words.join(", ")),
            Address if t.parse::<std::net::SocketAddr>().is_ok() => return Ok(()),
            Address => "host:port, e.g. 127.0.0.1:54321".to_string(),
            Size if is_size(t) => return Ok(()),
            Size => "a size such as 16MB".to_string(),
            StringMap => match parse_string_map(t) {
                Ok(_) => return Ok(()),
                Err(e) => format!("a JSON object of strings: {e}"),
            },
            Routes => match crate::http::route_rules(t) {
                Ok(_) => return Ok(()),
                Err(e) => format!("prefix=target pairs separated by commas: {e}"),
            },
            RoleNumbers => match parse_role_numbers(t) {
                Ok(_) => return Ok(()),
                Err(e) => format!("role=number pairs separated by commas: {e}"),
            },
            JwtSecret if t.starts_with('{') || text.chars().count() >= 32 => return Ok(()),
            JwtSecret => "at least 32 characters (as PostgREST requires), or a JWK".to_string(),
            JwtKeys => match check_key_set(t) {
                Ok(()) => return Ok(()),
                Err(e) => format!("a JSON array of JWKs: {e}"),
            },
        };
        let shown = if self.secret {
            String::new()
        } else {
            format!(" `{text}`")
        };
        Err(format!("invalid {}{shown} (expected {expected})", self.env))
    }

    /// A component's read of this setting through `lookup` (its config
    /// import or its environment, by environment name): `None` when unset,
    /// empty or invalid (see [`read`]).
    pub fn text(&self, lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
        read(self.env, lookup)
    }

    /// [`Setting::text`], else the default value.
    pub fn text_or_default(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        self.text(lookup)
            .or_else(|| self.default_text().map(str::to_string))
            .unwrap_or_default()
    }

    /// A list setting as [`list`] items, else the default's.
    pub fn list(&self, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
        list(&self.text_or_default(lookup))
    }

    /// A flag setting, else its default (`false` when it has none).
    pub fn flag(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.text(lookup)
            .or_else(|| self.default_text().map(str::to_string))
            .and_then(|v| parse_bool(&v))
            .unwrap_or(false)
    }

    /// A number setting (`None` when unset or when it does not fit `T`,
    /// then the default's, if any).
    pub fn number<T: std::str::FromStr>(
        &self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<T> {
        self.text(lookup)
            .and_then(|v| v.trim().parse().ok())
            .or_else(|| self.default_text().and_then(|d| d.parse().ok()))
    }
}

fn is_size(t: &str) -> bool {
    let digits = t.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// A boolean setting as written in configuration or the environment:
/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `None` for
/// anything else.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// A comma-separated list (`db-schemas`, `jwt-allowed-roles`, ...):
/// items trimmed, empty ones dropped.
pub fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// `SUPALITE_APP_SETTINGS`: a JSON object of strings, as
/// `(app.settings.<name>, value)` pairs.
pub fn parse_app_settings(json: &str) -> Result<Vec<(String, String)>, String> {
    parse_string_map(json)
        .map_err(|e| {
            format!("SUPALITE_APP_SETTINGS is not a JSON object of strings ({e}): `{json}`")
        })
        .map(|map| {
            map.into_iter()
                .map(|(k, v)| (format!("app.settings.{k}"), v))
                .collect()
        })
}

fn parse_string_map(json: &str) -> Result<std::collections::BTreeMap<String, String>, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

/// `role=number,role=number` (`SUPALITE_ROLE_MEMORY_MB`): known roles.
pub fn parse_role_numbers(text: &str) -> Result<Vec<(String, u64)>, String> {
    pairs(text, "role=number")?
        .into_iter()
        .map(|(role, n)| {
            if Role::from_name(&role).is_none() {
                return Err(format!(
                    "unknown role `{role}` (expected one of {})",
                    Role::ALL.map(|r| r.name()).join(", ")
                ));
            }
            let n = n
                .parse()
                .map_err(|_| format!("`{role}={n}` is not role=number"))?;
            Ok((role, n))
        })
        .collect()
}

/// `a=b,c=d`: trimmed pairs, empty items dropped.
fn pairs(text: &str, form: &str) -> Result<Vec<(String, String)>, String> {
    list(text)
        .into_iter()
        .map(|item| match item.split_once('=') {
            Some((a, b)) => Ok((a.trim().to_string(), b.trim().to_string())),
            None => Err(format!("`{item}` is not {form}")),
        })
        .collect()
}

/// The setting named `env`, if it is one.
pub fn setting_named(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
}

/// The setting whose `supalite.toml` key is `key`.
pub fn setting_keyed(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.file && s.key() == key)
}

/// Whether `text` is a valid value of the variable `name` (any text is,
/// for a name that is not in the table).
pub fn check(name: &str, text: &str) -> Result<(), String> {
    setting_named(name).map_or(Ok(()), |s| s.check(text))
}

/// Whether `role` may see the environment variable `name`: a setting the
/// table grants it, or one under its own prefix. Anything else (other
/// roles' settings, secrets, the host's own variables) stays hidden.
pub fn visible_to(role: Role, name: &str) -> bool {
    match setting_named(name) {
        Some(s) => s.roles.contains(&role),
        None => name.starts_with(&role.own_prefix()),
    }
}

/// A component's read of the setting `name` through `lookup` (its `config`
/// import or its environment): `None` when unset, empty or invalid. An
/// invalid value is reported on stderr, once per name and instance, and
/// then treated as unset, so the component runs on the default — what the
/// supalite host would have refused to start with.
pub fn read(name: &str, lookup: impl FnOnce(&str) -> Option<String>) -> Option<String> {
    let value = lookup(name).filter(|v| !v.trim().is_empty())?;
    match check(name, &value) {
        Ok(()) => Some(value),
        Err(e) => {
            static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
            let mut said = SAID.lock().unwrap_or_else(|p| p.into_inner());
            if !said.iter().any(|n| n == name) {
                said.push(name.to_string());
                eprintln!("supalite: {e}: ignored, the default applies");
            }
            None
        }
    }
}

/// A flag setting read as [`read`] does.
pub fn read_flag(name: &str, lookup: impl FnOnce(&str) -> Option<String>) -> Option<bool> {
    read(name, lookup).and_then(|v| parse_bool(&v))
}

/// A number setting read as [`read`] does (`None` too when it does not fit
/// `T`).
pub fn read_number<T: std::str::FromStr>(
    name: &str,
    lookup: impl FnOnce(&str) -> Option<String>,
) -> Option<T> {
    read(name, lookup).and_then(|v| v.trim().parse().ok())
}

/// The anonymous role (`db-anon-role`) through `lookup`:
/// `SUPALITE_DB_ANON_ROLE`, else its older name `SUPALITE_ANON_ROLE`.
pub fn anon_role(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    [DB_ANON_ROLE, ANON_ROLE]
        .iter()
        .find_map(|s| s.text(&lookup).map(|v| v.trim().to_string()))
}

/// The anonymous role, else its default.
pub fn anon_role_or_default(lookup: impl Fn(&str) -> Option<String>) -> String {
    anon_role(lookup).unwrap_or_else(|| crate::defaults::DB_ANON_ROLE.to_string())
}

/// The roles a token may carry: `jwt-allowed-roles`, else the anonymous
/// role, `authenticated` and `service_role`.
pub fn allowed_roles(lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    match JWT_ALLOWED_ROLES.text(&lookup).map(|v| list(&v)) {
        Some(roles) if !roles.is_empty() => roles,
        _ => crate::defaults::jwt_allowed_roles(&anon_role_or_default(&lookup)),
    }
}

/// The README's configuration table: every setting a file or environment
/// sets, then the file's other tables.
pub fn markdown_table() -> String {
    let mut out = String::from("| key | env | default | meaning |\n| --- | --- | --- | --- |\n");
    for s in SETTINGS {
        let key = if s.file {
            match s.kind {
                StringMap => "`[app.settings]`".to_string(),
                Routes | RoleNumbers => format!("`[{}]` (table)", s.key()),
                _ => format!("`{}`", s.key()),
            }
        } else {
            "— (environment only)".to_string()
        };
        let default = match s.default {
            Value(v) => format!("`{v}`"),
            Unset => "—".to_string(),
            Derived(d) => d.to_string(),
        };
        out.push_str(&format!(
            "| {key} | `{}` | {default} | {} |\n",
            s.env,
            s.about.replace('\n', " ")
        ));
    }
    for t in FILE_TABLES {
        out.push_str(&format!(
            "| {} | — (file only) | {} | {} |\n",
            t.form, t.default, t.about
        ));
    }
    out
}

/// The table as JSON, for the JS hosts (`supalite settings --json`):
/// `{settings: [{key, env, roles, secret, kind, default, file}], roles}`.
pub fn json_table() -> serde_json::Value {
    use serde_json::json;
    let kind = |k: Kind| match k {
        Text => json!("text"),
        List => json!("list"),
        Flag => json!("flag"),
        Number => json!("number"),
        Url => json!("url"),
        Choice(words) => json!({ "choice": words }),
        Address => json!("address"),
        Size => json!("size"),
        Path => json!("path"),
        StringMap => json!("string-map"),
        Routes => json!("routes"),
        RoleNumbers => json!("role-numbers"),
        JwtSecret => json!("jwt-secret"),
        JwtKeys => json!("jwt-keys"),
    };
    let settings: Vec<serde_json::Value> = SETTINGS
        .iter()
        .map(|s| {
            json!({
                "key": s.key(),
                "env": s.env,
                "roles": s.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                "secret": s.secret,
                "kind": kind(s.kind),
                "default": s.default_text(),
                "file": s.file,
            })
        })
        .collect();
    json!({
        "settings": settings,
        "roles": Role::ALL.map(|r| r.name()),
    })
}

/// The `wasi:config/store` key of the setting `env`: its environment name
/// without `SUPALITE_`, in lower case (`SUPALITE_DB_MAX_ROWS` is
/// `db_max_rows`), as Spin's keys must be (`[a-z0-9_]`).
pub fn config_key(env: &str) -> String {
    env.strip_prefix("SUPALITE_")
        .unwrap_or(env)
        .to_ascii_lowercase()
}

/// The environment name of the `wasi:config/store` key `key`, the inverse
/// of [`config_key`]: `db_max_rows` is `SUPALITE_DB_MAX_ROWS`.
pub fn env_name(key: &str) -> String {
    format!("SUPALITE_{}", key.to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_accepts_and_refuses() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("SUPALITE_DB_MAX_ROWS", " 25 ", None),
            ("SUPALITE_DB_MAX_ROWS", "-1", Some("(expected a number)")),
            ("SUPALITE_DB_PLAN_ENABLED", "On", None),
            ("SUPALITE_DB_PLAN_ENABLED", "sure", Some("true or false")),
            ("SUPALITE_UPSTREAM_URL", "https://x.example", None),
            (
                "SUPALITE_UPSTREAM_URL",
                "ftp://x",
                Some("http:// or https://"),
            ),
            ("SUPALITE_DB_TX_END", "rollback-allow-override", None),
            ("SUPALITE_DB_TX_END", "abort", Some("one of commit, ")),
            ("SUPALITE_APP_SETTINGS", r#"{"a": "b"}"#, None),
            ("SUPALITE_APP_SETTINGS", "a=b", Some("JSON object")),
            ("SUPALITE_ROUTES", "/rest/v1=rest, /auth/v1=auth", None),
            ("SUPALITE_ROUTES", "/rest/v1", Some("prefix=target")),
            ("SUPALITE_ROUTES", "/x=graphql", Some("prefix=target")),
            ("SUPALITE_JWT_SECRET", r#"{"kty":"oct"}"#, None),
            ("SUPALITE_JWT_SECRET", "short", Some("at least 32")),
            ("SUPALITE_CORS_ORIGINS", "anything at all", None),
            ("SUPALITE_LISTEN", "127.0.0.1:9", None),
            ("SUPALITE_LISTEN", "nope", Some("host:port")),
            ("SUPALITE_PGLITE_SHARED_BUFFERS", "16MB", None),
            ("SUPALITE_PGLITE_SHARED_BUFFERS", "lots", Some("a size")),
            ("SUPALITE_ROLE_MEMORY_MB", "bridge=64, auth=32", None),
            ("SUPALITE_ROLE_MEMORY_MB", "bridge", Some("role=number")),
            ("SUPALITE_ROLE_MEMORY_MB", "nobody=1", Some("unknown role")),
            ("SUPALITE_BACKEND", "adapter", None),
            ("SUPALITE_BACKEND", "proxy", Some("one of bridge, adapter")),
        ];
        for (name, value, refused) in cases {
            match (check(name, value), refused) {
                (Ok(()), None) => {}
                (Err(e), Some(needle)) => {
                    assert!(e.contains(needle) && e.contains(name), "{e}")
                }
                (got, _) => panic!("{name}={value}: {got:?}"),
            }
        }
        // A secret's value is never in the message.
        assert!(!check("SUPALITE_JWT_SECRET", "short")
            .unwrap_err()
            .contains("short"));
    }

    #[test]
    fn a_component_reads_invalid_as_unset() {
        let env = |v: &'static str| move |_: &str| Some(v.to_string());
        assert_eq!(DB_MAX_ROWS.number::<u64>(env("12")), Some(12));
        assert_eq!(DB_MAX_ROWS.number::<u64>(env("12x")), None);
        // A number with a default falls back to it.
        assert_eq!(UPSTREAM_RETRIES.number::<u32>(env("many")), Some(2));
        assert!(UPSTREAM_FALLBACK.flag(env("YES")));
        assert!(!UPSTREAM_FALLBACK.flag(env("maybe")));
        assert!(DB_PREPARED_STATEMENTS.flag(|_| None));
        assert_eq!(DB_TX_END.text(env("abort")), None);
        assert_eq!(DB_TX_END.text_or_default(env("abort")), "commit");
        assert_eq!(JWT_AUD.text(env("  ")), None);
        assert_eq!(
            read("SUPALITE_REWRITER_GREETING", env("hi")).as_deref(),
            Some("hi")
        );
        assert_eq!(DB_SCHEMAS.list(env(" api, ,public ")), ["api", "public"]);
        assert_eq!(DB_SCHEMAS.list(|_| None), ["public"]);
    }

    #[test]
    fn keys_are_the_environment_names_in_kebab_case() {
        assert_eq!(DB_MAX_ROWS.key(), "db-max-rows");
        assert_eq!(DB_MAX_ROWS.env, "SUPALITE_DB_MAX_ROWS");
        assert_eq!(
            AUTH_REFRESH_TOKEN_REUSE_INTERVAL.key(),
            "auth-refresh-token-reuse-interval"
        );
        assert!(setting_keyed("db-tx-end").is_some());
        // The older name of db-anon-role is read from the environment only.
        assert!(setting_keyed("anon-role").is_none());
    }

    #[test]
    fn names_are_unique_and_defaults_fit_their_kind() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|t| t.env != s.env),
                "{}",
                s.env
            );
            assert!(!s.about.is_empty(), "{}", s.env);
            if let Some(d) = s.default_text() {
                s.check(d).unwrap_or_else(|e| panic!("{}'s default: {e}", s.env));
            }
            assert!(
                FILE_TABLES.iter().all(|t| t.key != s.key()),
                "{} is also a file table",
                s.key()
            );
        }
    }

    #[test]
    fn app_settings_from_a_json_object() {
        assert_eq!(
            parse_app_settings(r#" {"host": "a.example", "key":"x\"y\u0041"} "#).unwrap(),
            vec![
                ("app.settings.host".to_string(), "a.example".to_string()),
                ("app.settings.key".to_string(), "x\"yA".to_string()),
            ]
        );
        assert_eq!(parse_app_settings("{}").unwrap(), vec![]);
        for bad in ["", "[]", "{\"a\": 1}", "{\"a\": \"b\"", "{\"a\": \"b\"} x"] {
            assert!(parse_app_settings(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_anonymous_role_and_the_allowed_roles() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let both = env(&[("SUPALITE_DB_ANON_ROLE", "web"), ("SUPALITE_ANON_ROLE", "old")]);
        assert_eq!(anon_role(both), Some("web".into()));
        assert_eq!(anon_role(env(&[("SUPALITE_ANON_ROLE", "old")])), Some("old".into()));
        assert_eq!(anon_role(env(&[("SUPALITE_DB_ANON_ROLE", " ")])), None);
        assert_eq!(
            allowed_roles(env(&[("SUPALITE_DB_ANON_ROLE", "web")])),
            ["web", "authenticated", "service_role"]
        );
        assert_eq!(
            allowed_roles(env(&[("SUPALITE_JWT_ALLOWED_ROLES", "a, b")])),
            ["a", "b"]
        );
    }

    /// The README's configuration table is this table: every row's key,
    /// environment name, default and meaning, in order, nothing else.
    #[test]
    fn the_readme_table_is_the_settings_table() {
        let readme = include_str!("../../../README.md");
        let (start, end) = ("<!-- settings:start -->\n", "<!-- settings:end -->");
        let at = readme.find(start).expect("README has no settings table") + start.len();
        let len = readme[at..].find(end).expect("the settings table is not closed");
        let written = &readme[at..at + len];
        if written != markdown_table() {
            for (a, b) in written.lines().zip(markdown_table().lines()) {
                if a != b {
                    panic!("README.md's settings table differs from components/contract/src/settings.rs (run `supalite settings --markdown`):\nREADME: {a}\ntable:  {b}");
                }
            }
            panic!("README.md's settings table has a different number of rows than components/contract/src/settings.rs (run `supalite settings --markdown`)");
        }
    }
}
