//! What every request's transaction runs with, as both `sql` providers
//! (the supalite host and the `pgwire` component) apply it: the
//! impersonated role's own settings (`ALTER ROLE anon SET statement_timeout
//! = '3s'`, as PostgREST ≥ 12 applies them on the role switch) under the
//! server-wide statement timeout cap, on the configured search path.

use std::collections::HashMap;
use std::time::Duration;

pub use crate::sql::ROLE_SETTINGS_SQL;

/// Each role's settings from the rows of [`ROLE_SETTINGS_SQL`] (later rows
/// replace earlier ones).
pub fn role_settings(rows: Vec<Vec<Option<String>>>) -> HashMap<String, Vec<(String, String)>> {
    let mut roles: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for row in rows {
        let [Some(role), Some(name), Some(value)] =
            <[Option<String>; 3]>::try_from(row).unwrap_or([None, None, None])
        else {
            continue;
        };
        let settings = roles.entry(role).or_default();
        settings.retain(|(n, _)| *n != name);
        settings.push((name, value));
    }
    roles
}

/// The settings a transaction runs with given the role's own (`own`), and
/// its statement timeout: the role's, capped by `cap`. The search path is
/// always `search_path` (a role's own is not applied, as in PostgREST).
pub fn session_settings(
    own: &[(String, String)],
    search_path: &str,
    cap: Option<Duration>,
) -> (Vec<(String, String)>, Option<Duration>) {
    let mut settings = own.to_vec();
    let role_timeout = settings
        .iter()
        .find(|(n, _)| n == "statement_timeout")
        .and_then(|(_, v)| parse_duration_setting(v));
    let timeout = match (role_timeout, cap) {
        (Some(own), Some(cap)) => Some(own.min(cap)),
        (own, cap) => own.or(cap),
    };
    settings.retain(|(n, _)| n != "statement_timeout" && n != "search_path");
    settings.insert(0, ("search_path".into(), search_path.to_string()));
    if let Some(t) = timeout {
        settings.push(("statement_timeout".into(), format!("{}ms", t.as_millis())));
    }
    (settings, timeout)
}

/// A time setting as PostgreSQL writes it (`3s`, `500ms`, `1min`, `2000` =
/// ms); `0` (no timeout) and anything unreadable are `None`.
pub fn parse_duration_setting(v: &str) -> Option<Duration> {
    let v = v.trim().trim_matches('\'').trim();
    let split = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let num: f64 = num.parse().ok()?;
    let ms = num
        * match unit.trim() {
            "" | "ms" => 1.0,
            "us" => 0.001,
            "s" => 1000.0,
            "min" => 60_000.0,
            "h" => 3_600_000.0,
            "d" => 86_400_000.0,
            _ => return None,
        };
    (ms >= 1.0 && ms.is_finite()).then(|| Duration::from_millis(ms as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_timeouts_in_postgres_units() {
        assert_eq!(parse_duration_setting("3s"), Some(Duration::from_secs(3)));
        assert_eq!(parse_duration_setting("2000"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_duration_setting("1min"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_duration_setting("150ms"),
            Some(Duration::from_millis(150))
        );
        assert_eq!(parse_duration_setting("0"), None);
        assert_eq!(parse_duration_setting("soon"), None);
    }

    #[test]
    fn the_role_timeout_is_capped_and_the_search_path_fixed() {
        let own = vec![
            ("statement_timeout".to_string(), "20s".to_string()),
            ("search_path".to_string(), "evil".to_string()),
            ("work_mem".to_string(), "8MB".to_string()),
        ];
        let (s, t) = session_settings(&own, "\"api\", \"public\"", Some(Duration::from_secs(8)));
        assert_eq!(t, Some(Duration::from_secs(8)));
        assert_eq!(
            s,
            vec![
                ("search_path".to_string(), "\"api\", \"public\"".to_string()),
                ("work_mem".to_string(), "8MB".to_string()),
                ("statement_timeout".to_string(), "8000ms".to_string()),
            ]
        );
        let (_, t) = session_settings(&[], "public", None);
        assert_eq!(t, None);
    }
}
