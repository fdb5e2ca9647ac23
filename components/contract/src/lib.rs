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
pub mod policy;
pub mod response;
pub mod sql;

pub use error::ApiError;
pub use response::Response;

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
    Storage,
}

impl Role {
    pub const ALL: [Role; 9] = [
        Role::Gateway,
        Role::Rewriter,
        Role::Verifier,
        Role::Auth,
        Role::Bridge,
        Role::Adapter,
        Role::Pgwire,
        Role::Standalone,
        Role::Storage,
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
            Role::Storage => "storage",
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

pub mod settings;
pub use settings::{
    anon_role, check, list, parse_app_settings, parse_bool, read, read_flag, read_number,
    setting_named, visible_to, Kind, Setting, SETTINGS,
};

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

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
    fn role_names_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::from_name(r.name()), Some(r));
        }
    }
}
