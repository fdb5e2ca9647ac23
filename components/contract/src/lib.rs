//! What the host and the role components agree on, in plain Rust (no wasm
//! glue): the roles of a pipeline and the settings each of them may see,
//! header rules, and PostgREST's error type (`error::ApiError`).
//!
//! Settings reach a component as environment variables; the composition
//! gives each role its own environment (`components/role-env`) holding only
//! the variables this table grants it, so that a replaced rewriter never
//! sees the JWT secret or the database URI.

pub mod defaults;
pub mod error;
pub mod http;

/// The answer of the adapter's fallback slot when no bridge is composed in
/// (the standalone component's and the supalite host's): status, code,
/// message, hint.
pub const NO_FALLBACK: (u16, &str, &str, &str) = (
    503,
    "SUPALITE503",
    "The upstream PostgREST is unavailable and no fallback is configured",
    "Set upstream-fallback = true to serve such requests with the bridge",
);

/// A role of the pipeline, by the name it has in config (`[components]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Gateway,
    Rewriter,
    Verifier,
    Auth,
    Bridge,
    Adapter,
    Pgwire,
    Standalone,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Gateway,
        Role::Rewriter,
        Role::Verifier,
        Role::Auth,
        Role::Bridge,
        Role::Adapter,
        Role::Pgwire,
        Role::Standalone,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Role::Gateway => "gateway",
            Role::Rewriter => "rewriter",
            Role::Verifier => "verifier",
            Role::Auth => "auth",
            Role::Bridge => "bridge",
            Role::Adapter => "adapter",
            Role::Pgwire => "pgwire",
            Role::Standalone => "standalone",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The prefix of the variables a replacement component of this role may
    /// define for itself: `SUPALITE_REWRITER_…` reaches the rewriter only.
    pub fn own_prefix(self) -> String {
        format!("SUPALITE_{}_", self.name().to_ascii_uppercase())
    }
}

/// A setting as the components read it.
#[derive(Debug)]
pub struct Setting {
    /// The environment variable.
    pub env: &'static str,
    /// The roles that read it; no other role sees it.
    pub roles: &'static [Role],
    /// Never printed by value (passed by name to `wasmtime serve`).
    pub secret: bool,
}

const fn setting(env: &'static str, roles: &'static [Role]) -> Setting {
    Setting {
        env,
        roles,
        secret: false,
    }
}

use Role::*;

/// Every setting a built-in component reads, with the roles that read it.
pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "SUPALITE_JWT_SECRET",
        // The verifier checks tokens with it, the auth API signs them.
        roles: &[Verifier, Auth],
        secret: true,
    },
    setting("SUPALITE_JWT_SECRET_IS_BASE64", &[Verifier, Auth]),
    setting("SUPALITE_JWT_ALLOWED_ROLES", &[Verifier, Auth, Pgwire]),
    setting("SUPALITE_JWT_ROLE_CLAIM_KEY", &[Verifier, Auth]),
    setting("SUPALITE_JWT_AUD", &[Verifier, Auth]),
    setting("SUPALITE_DB_ANON_ROLE", &[Verifier, Auth, Bridge, Pgwire]),
    // The older name of the same setting.
    setting("SUPALITE_ANON_ROLE", &[Verifier, Auth, Bridge, Pgwire]),
    setting("SUPALITE_DB_SCHEMAS", &[Bridge, Pgwire]),
    setting("SUPALITE_DB_EXTRA_SEARCH_PATH", &[Bridge, Pgwire]),
    setting("SUPALITE_DB_TX_END", &[Bridge]),
    setting("SUPALITE_DB_PRE_REQUEST", &[Bridge]),
    setting("SUPALITE_DB_AGGREGATES_ENABLED", &[Bridge]),
    setting("SUPALITE_DB_PLAN_ENABLED", &[Bridge]),
    setting("SUPALITE_DB_MAX_ROWS", &[Bridge]),
    // What the supalite host applies itself; `pgwire` applies them under
    // other wasi:http hosts.
    setting("SUPALITE_DB_STATEMENT_TIMEOUT", &[Pgwire]),
    setting("SUPALITE_APP_SETTINGS", &[Pgwire]),
    Setting {
        env: "SUPALITE_DB_URI",
        roles: &[Pgwire],
        secret: true,
    },
    setting("SUPALITE_CORS_ORIGINS", &[Rewriter]),
    setting("SUPALITE_ROUTES", &[Rewriter]),
    setting("SUPALITE_MAX_BODY_BYTES", &[Gateway]),
    setting("SUPALITE_AUTH_AUTOCONFIRM", &[Auth]),
    setting("SUPALITE_AUTH_DISABLE_SIGNUP", &[Auth]),
    setting("SUPALITE_AUTH_JWT_EXPIRY", &[Auth]),
    setting("SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL", &[Auth]),
    setting("SUPALITE_AUTH_RATE_LIMIT_TOKEN", &[Auth]),
    setting("SUPALITE_AUTH_RATE_LIMIT_WINDOW", &[Auth]),
    setting("SUPALITE_UPSTREAM_URL", &[Adapter]),
    setting("SUPALITE_UPSTREAM_TIMEOUT_MS", &[Adapter]),
    setting("SUPALITE_UPSTREAM_TOTAL_TIMEOUT_MS", &[Adapter]),
    setting("SUPALITE_UPSTREAM_RETRIES", &[Adapter]),
    setting("SUPALITE_UPSTREAM_BACKOFF_MS", &[Adapter]),
    setting("SUPALITE_UPSTREAM_FALLBACK", &[Adapter]),
];

/// A boolean setting as written in configuration or the environment:
/// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case); `None` for
/// anything else (the host refuses it, a component keeps the default).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// The setting named `env`, if it is one.
pub fn setting_named(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_reach_only_their_role() {
        assert!(visible_to(Auth, "SUPALITE_JWT_SECRET"));
        assert!(visible_to(Verifier, "SUPALITE_JWT_SECRET"));
        for r in [Gateway, Rewriter, Bridge, Adapter, Pgwire, Standalone] {
            assert!(!visible_to(r, "SUPALITE_JWT_SECRET"), "{r:?}");
        }
        assert!(visible_to(Pgwire, "SUPALITE_DB_URI"));
        assert!(!visible_to(Bridge, "SUPALITE_DB_URI"));
    }

    #[test]
    fn own_prefix_and_nothing_else() {
        assert!(visible_to(Rewriter, "SUPALITE_REWRITER_GREETING"));
        assert!(!visible_to(Bridge, "SUPALITE_REWRITER_GREETING"));
        assert!(!visible_to(Rewriter, "HOME"));
        assert!(!visible_to(Rewriter, "SUPALITE_SOMETHING_NEW"));
        // The auth role's prefix does not open other roles' settings.
        assert!(!visible_to(Auth, "SUPALITE_UPSTREAM_URL"));
        assert!(visible_to(Auth, "SUPALITE_AUTH_JWT_EXPIRY"));
    }

    #[test]
    fn names_are_unique() {
        for (i, s) in SETTINGS.iter().enumerate() {
            assert!(
                SETTINGS[i + 1..].iter().all(|t| t.env != s.env),
                "{}",
                s.env
            );
            assert!(!s.roles.is_empty(), "{}", s.env);
        }
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
    }
}
