//! The settings the role components read, declared once: the environment
//! name (its `supalite.toml` key is the same name in kebab case), the roles
//! that may see it, whether it is a secret, and what a valid value looks
//! like. The host refuses to start on an invalid value; a component (under
//! the supalite host, `wasmtime serve` or the JS hosts) reads its settings
//! through [`read`], [`read_flag`] and [`read_number`], which check them
//! the same way, say so on stderr and fall back to the default.

use crate::Role::{self, *};

/// What a valid value of a setting looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off` (any case).
    Flag,
    /// A whole number, 0 or more.
    Number,
    /// An `http://` or `https://` URL.
    Url,
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A JSON object of strings (`app.settings.*`).
    StringMap,
    /// `prefix=target,prefix=target` (the rewriter's routes).
    Routes,
    /// At least 32 characters (PostgREST's rule), or a JWK / JWK set (JSON).
    JwtSecret,
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
    pub kind: Kind,
}

const fn setting(env: &'static str, kind: Kind, roles: &'static [Role]) -> Setting {
    Setting {
        env,
        roles,
        secret: false,
        kind,
    }
}

/// PostgREST's `db-tx-end` values.
pub const TX_END: &[&str] = &[
    "commit",
    "commit-allow-override",
    "rollback",
    "rollback-allow-override",
];

use Kind::*;

/// Every setting a built-in component reads, with the roles that read it.
pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "SUPALITE_JWT_SECRET",
        // The verifier checks tokens with it, the auth API signs them.
        roles: &[Verifier, Auth],
        secret: true,
        kind: JwtSecret,
    },
    setting("SUPALITE_JWT_SECRET_IS_BASE64", Flag, &[Verifier, Auth]),
    setting(
        "SUPALITE_JWT_ALLOWED_ROLES",
        Text,
        &[Verifier, Auth, Pgwire],
    ),
    setting("SUPALITE_JWT_ROLE_CLAIM_KEY", Text, &[Verifier, Auth]),
    setting("SUPALITE_JWT_AUD", Text, &[Verifier, Auth]),
    setting(
        "SUPALITE_DB_ANON_ROLE",
        Text,
        &[Verifier, Auth, Bridge, Pgwire],
    ),
    // The older name of the same setting.
    setting(
        "SUPALITE_ANON_ROLE",
        Text,
        &[Verifier, Auth, Bridge, Pgwire],
    ),
    setting("SUPALITE_DB_SCHEMAS", Text, &[Bridge, Pgwire]),
    setting("SUPALITE_DB_EXTRA_SEARCH_PATH", Text, &[Bridge, Pgwire]),
    setting("SUPALITE_DB_TX_END", Choice(TX_END), &[Bridge]),
    setting("SUPALITE_DB_PRE_REQUEST", Text, &[Bridge]),
    setting("SUPALITE_DB_AGGREGATES_ENABLED", Flag, &[Bridge]),
    setting("SUPALITE_DB_PLAN_ENABLED", Flag, &[Bridge]),
    setting("SUPALITE_DB_MAX_ROWS", Number, &[Bridge]),
    // What the supalite host applies itself; `pgwire` applies them under
    // other wasi:http hosts.
    setting("SUPALITE_DB_STATEMENT_TIMEOUT", Number, &[Pgwire]),
    setting("SUPALITE_APP_SETTINGS", StringMap, &[Pgwire]),
    Setting {
        env: "SUPALITE_DB_URI",
        roles: &[Pgwire],
        secret: true,
        kind: Text,
    },
    setting("SUPALITE_CORS_ORIGINS", Text, &[Rewriter]),
    setting("SUPALITE_ROUTES", Routes, &[Rewriter]),
    setting("SUPALITE_MAX_BODY_BYTES", Number, &[Gateway]),
    setting("SUPALITE_AUTH_AUTOCONFIRM", Flag, &[Auth]),
    setting("SUPALITE_AUTH_DISABLE_SIGNUP", Flag, &[Auth]),
    setting("SUPALITE_AUTH_JWT_EXPIRY", Number, &[Auth]),
    setting(
        "SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL",
        Number,
        &[Auth],
    ),
    setting("SUPALITE_AUTH_RATE_LIMIT_TOKEN", Number, &[Auth]),
    setting("SUPALITE_AUTH_RATE_LIMIT_WINDOW", Number, &[Auth]),
    setting("SUPALITE_AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS", Number, &[Auth]),
    setting("SUPALITE_AUTH_RATE_LIMIT_ANONYMOUS_USERS", Number, &[Auth]),
    setting("SUPALITE_AUTH_ANONYMOUS_SIGN_INS", Flag, &[Auth]),
    setting("SUPALITE_UPSTREAM_URL", Url, &[Adapter]),
    setting("SUPALITE_UPSTREAM_TIMEOUT_MS", Number, &[Adapter]),
    setting("SUPALITE_UPSTREAM_TOTAL_TIMEOUT_MS", Number, &[Adapter]),
    setting("SUPALITE_UPSTREAM_RETRIES", Number, &[Adapter]),
    setting("SUPALITE_UPSTREAM_BACKOFF_MS", Number, &[Adapter]),
    setting("SUPALITE_UPSTREAM_FALLBACK", Flag, &[Adapter]),
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

    /// Whether `text` is a valid value; the error names the setting, the
    /// value (unless secret) and what was expected.
    pub fn check(&self, text: &str) -> Result<(), String> {
        let t = text.trim();
        let expected = match self.kind {
            Text => return Ok(()),
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
            StringMap => match parse_string_map(t) {
                Ok(_) => return Ok(()),
                Err(e) => format!("a JSON object of strings: {e}"),
            },
            Routes => match parse_routes(t) {
                Ok(_) => return Ok(()),
                Err(e) => format!("prefix=target pairs separated by commas: {e}"),
            },
            JwtSecret if t.starts_with('{') || text.chars().count() >= 32 => return Ok(()),
            JwtSecret => "at least 32 characters (as PostgREST requires), or a JWK".to_string(),
        };
        let shown = if self.secret {
            String::new()
        } else {
            format!(" `{text}`")
        };
        Err(format!("invalid {}{shown} (expected {expected})", self.env))
    }
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

/// `SUPALITE_ROUTES`: `prefix=target,prefix=target`, each pair by the
/// rewriter's own rules.
pub fn parse_routes(text: &str) -> Result<Vec<(String, String)>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| match r.split_once('=') {
            Some((p, t)) => {
                let (p, t) = (p.trim(), t.trim());
                crate::http::parse_route(p, t)?;
                Ok((p.to_string(), t.to_string()))
            }
            None => Err(format!("`{r}` is not prefix=target")),
        })
        .collect()
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

/// The anonymous role (`db-anon-role`) through `lookup`:
/// `SUPALITE_DB_ANON_ROLE`, or its older name `SUPALITE_ANON_ROLE`.
pub fn anon_role(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    ["SUPALITE_DB_ANON_ROLE", "SUPALITE_ANON_ROLE"]
        .into_iter()
        .find_map(|k| read(k, &lookup).map(|v| v.trim().to_string()))
}

/// The setting named `env`, if it is one.
pub fn setting_named(env: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.env == env)
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
        assert_eq!(
            read_number::<u64>("SUPALITE_DB_MAX_ROWS", env("12")),
            Some(12)
        );
        assert_eq!(read_number::<u64>("SUPALITE_DB_MAX_ROWS", env("12x")), None);
        assert_eq!(
            read_flag("SUPALITE_UPSTREAM_FALLBACK", env("YES")),
            Some(true)
        );
        assert_eq!(read_flag("SUPALITE_UPSTREAM_FALLBACK", env("maybe")), None);
        assert_eq!(read("SUPALITE_DB_TX_END", env("abort")), None);
        assert_eq!(read("SUPALITE_JWT_AUD", env("  ")), None);
        assert_eq!(
            read("SUPALITE_REWRITER_GREETING", env("hi")).as_deref(),
            Some("hi")
        );
    }

    #[test]
    fn keys_are_the_environment_names_in_kebab_case() {
        assert_eq!(
            setting_named("SUPALITE_DB_MAX_ROWS").unwrap().key(),
            "db-max-rows"
        );
        assert_eq!(
            setting_named("SUPALITE_AUTH_REFRESH_TOKEN_REUSE_INTERVAL")
                .unwrap()
                .key(),
            "auth-refresh-token-reuse-interval"
        );
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
}
