//! Text defaults some code needs as constants (the anonymous role, the
//! schemas, ...), taken from the settings table at compile time: each is
//! declared once, in its row of `settings::SETTINGS`.

use crate::settings::{self, Fallback, Setting};

/// The default of `s`, which must be a value.
const fn value(s: Setting) -> &'static str {
    match s.default {
        Fallback::Value(v) => v,
        _ => panic!("this setting has no default value"),
    }
}

/// The default of `s` as a number, which it must be.
pub const fn number(s: Setting) -> u64 {
    let bytes = value(s).as_bytes();
    let mut n: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i].is_ascii_digit(), "this setting's default is not a number");
        n = n * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    n
}

pub const DB_ANON_ROLE: &str = value(settings::DB_ANON_ROLE);
pub const DB_SCHEMAS: &str = value(settings::DB_SCHEMAS);
pub const DB_EXTRA_SEARCH_PATH: &str = value(settings::DB_EXTRA_SEARCH_PATH);
pub const ROUTES: &str = value(settings::ROUTES);
pub const LOG: &str = value(settings::LOG);
/// The Supabase CLI's local JWT secret, so its well-known keys work.
pub const JWT_SECRET: &str = value(settings::JWT_SECRET);
/// The largest request body (`max-body-bytes`).
pub const MAX_BODY_BYTES: usize = number(settings::MAX_BODY_BYTES) as usize;

/// After the anonymous role (`db-anon-role`), the roles a token may carry.
pub const JWT_ALLOWED_ROLES_AFTER_ANON: [&str; 2] = ["authenticated", "service_role"];

/// The roles a token may carry when `jwt-allowed-roles` is not set.
pub fn jwt_allowed_roles(anon_role: &str) -> Vec<String> {
    std::iter::once(anon_role)
        .chain(JWT_ALLOWED_ROLES_AFTER_ANON)
        .map(str::to_string)
        .collect()
}
