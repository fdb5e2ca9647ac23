//! The defaults of the settings the components read, declared once: the
//! host's config and each component fall back to the same values.

pub const DB_ANON_ROLE: &str = "anon";
/// After the anonymous role (`db-anon-role`), the roles a token may carry.
pub const JWT_ALLOWED_ROLES_AFTER_ANON: [&str; 2] = ["authenticated", "service_role"];
pub const JWT_ROLE_CLAIM_KEY: &str = ".role";
pub const DB_SCHEMAS: &str = "public";
pub const DB_EXTRA_SEARCH_PATH: &str = "public";
pub const DB_TX_END: &str = "commit";
/// The statement timeout cap (`db-statement-timeout`), milliseconds.
pub const DB_STATEMENT_TIMEOUT_MS: u64 = 8_000;
pub const CORS_ORIGINS: &str = "*";
pub const ROUTES: &str = "/rest/v1=rest,/auth/v1=auth";
pub const UPSTREAM_TIMEOUT_MS: u64 = 15_000;
pub const UPSTREAM_TOTAL_TIMEOUT_MS: u64 = 30_000;
pub const UPSTREAM_RETRIES: u32 = 2;
pub const UPSTREAM_BACKOFF_MS: u64 = 50;
pub const UPSTREAM_FALLBACK: bool = false;
pub const AUTH_AUTOCONFIRM: bool = true;
pub const AUTH_DISABLE_SIGNUP: bool = false;
pub const AUTH_JWT_EXPIRY: u64 = 3600;
/// A revoked refresh token used again within this many seconds still works
/// (concurrent refreshes from several tabs), as GoTrue's reuse interval.
pub const AUTH_REFRESH_TOKEN_REUSE_INTERVAL: u64 = 10;
/// GoTrue's `rate_limit_token_refresh`: 150 per 5 minutes.
pub const AUTH_RATE_LIMIT_TOKEN: u32 = 150;
pub const AUTH_RATE_LIMIT_WINDOW: u32 = 300;
/// GoTrue's `rate_limit_sign_in_sign_ups` (Supabase CLI's default): sign-ups
/// and password sign-ins per client and window.
pub const AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS: u32 = 30;
/// GoTrue's `rate_limit_anonymous_users`: anonymous sign-ins per client and hour.
pub const AUTH_RATE_LIMIT_ANONYMOUS_USERS: u32 = 30;
/// Supabase CLI's `enable_anonymous_sign_ins`.
pub const AUTH_ANONYMOUS_SIGN_INS: bool = false;

/// The roles a token may carry when `jwt-allowed-roles` is not set.
pub fn jwt_allowed_roles(anon_role: &str) -> Vec<String> {
    std::iter::once(anon_role)
        .chain(JWT_ALLOWED_ROLES_AFTER_ANON)
        .map(str::to_string)
        .collect()
}
