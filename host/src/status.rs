//! `supalite status [-o pretty|env|json]`, as `supabase status`: the URLs
//! and keys of the running server, under the CLI's names (`API_URL`,
//! `REST_URL`, `DB_URL`, `MAILPIT_URL`, `PUBLISHABLE_KEY`, …), only what
//! supalite serves. Exits 1 when nothing answers on the API address.

use crate::config::Config;
use anyhow::{bail, Result};
use contract::settings as s;
use std::collections::BTreeMap;

/// `-o`: the CLI's output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Pretty,
    Env,
    Json,
}

/// Every value, by its `supabase status -o env` name.
pub fn values(cfg: &Config) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    let host = match cfg.listen.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let api = format!("http://{host}:{}", cfg.listen.port());
    v.insert("API_URL", api.clone());
    let prefix = |target: &str| {
        cfg.routes
            .iter()
            .find(|(_, t)| t == target)
            .map(|(p, _)| format!("{api}{}", p.trim_end_matches('/')))
    };
    if let Some(rest) = prefix("rest") {
        v.insert("REST_URL", rest);
    }
    // Not in the CLI's list: supalite's own additions.
    if let Some(auth) = prefix("auth") {
        v.insert("AUTH_URL", auth);
    }
    if let Some(storage) = prefix("storage") {
        v.insert("STORAGE_URL", storage);
    }
    v.insert(
        "REALTIME_URL",
        format!("ws://{host}:{}/realtime/v1", cfg.listen.port()),
    );
    v.insert("FUNCTIONS_URL", format!("{api}/functions/v1"));
    match (&cfg.db_uri, cfg.pglite_listen) {
        (Some(uri), _) => {
            v.insert("DB_URL", uri.clone());
        }
        (None, Some(addr)) => {
            // Trust authentication: any password does (the CLI's URL has one).
            v.insert(
                "DB_URL",
                format!("postgresql://postgres:postgres@{addr}/postgres"),
            );
        }
        (None, None) => {}
    }
    let catcher = cfg
        .values
        .text(&s::MAIL_CATCHER_PORT)
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    if catcher != 0 && cfg.values.text(&s::AUTH_SMTP_HOST).is_none() {
        v.insert("MAILPIT_URL", format!("http://127.0.0.1:{catcher}"));
        v.insert("INBUCKET_URL", format!("http://127.0.0.1:{catcher}"));
    }
    if let Ok((anon, service)) = crate::keys::api_keys(&cfg.jwt_secret, cfg.jwt_secret_is_base64) {
        v.insert("ANON_KEY", anon);
        v.insert("SERVICE_ROLE_KEY", service);
        v.insert("JWT_SECRET", cfg.jwt_secret.clone());
        if let Some(k) = cfg
            .values
            .text(&s::PUBLISHABLE_KEY)
            .filter(|k| !k.is_empty())
        {
            v.insert("PUBLISHABLE_KEY", k);
        }
        if let Some(k) = cfg.values.text(&s::SECRET_KEY).filter(|k| !k.is_empty()) {
            v.insert("SECRET_KEY", k);
        }
    }
    v
}

/// `KEY="value"` lines, sorted, escaped as godotenv's `Marshal` (what the
/// CLI prints for `-o env`).
pub fn env_text(values: &BTreeMap<&'static str, String>) -> String {
    let mut lines = Vec::new();
    for (k, v) in values {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            lines.push(format!("{k}={v}"));
            continue;
        }
        let mut e = String::new();
        for c in v.chars() {
            match c {
                '\n' => e.push_str("\\n"),
                '\r' => e.push_str("\\r"),
                '\\' | '"' | '!' | '$' | '`' => {
                    e.push('\\');
                    e.push(c);
                }
                c => e.push(c),
            }
        }
        lines.push(format!("{k}=\"{e}\""));
    }
    lines.join("\n")
}

/// The CLI's pretty groups, as plain text.
fn pretty_text(v: &BTreeMap<&'static str, String>) -> String {
    let groups: &[(&str, &[(&str, &str)])] = &[
        ("Development Tools", &[("Mailpit", "MAILPIT_URL")]),
        (
            "APIs",
            &[
                ("Project URL", "API_URL"),
                ("REST", "REST_URL"),
                ("Auth", "AUTH_URL"),
                ("Storage", "STORAGE_URL"),
                ("Realtime", "REALTIME_URL"),
                ("Edge Functions", "FUNCTIONS_URL"),
            ],
        ),
        ("Database", &[("URL", "DB_URL")]),
        (
            "Authentication Keys",
            &[
                ("Publishable", "PUBLISHABLE_KEY"),
                ("Secret", "SECRET_KEY"),
                ("anon (legacy)", "ANON_KEY"),
                ("service_role", "SERVICE_ROLE_KEY"),
            ],
        ),
    ];
    let mut out = String::new();
    for (name, items) in groups {
        let rows: Vec<_> = items
            .iter()
            .filter_map(|(label, key)| v.get(key).map(|val| (label, val)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("{name}\n"));
        for (label, val) in rows {
            out.push_str(&format!("  {label:<16} {val}\n"));
        }
        out.push('\n');
    }
    out
}

/// Whether something answers on the API address.
fn running(cfg: &Config) -> bool {
    let mut addr = cfg.listen;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2)).is_ok()
}

pub fn run(cfg: &Config, format: Format) -> Result<()> {
    if !running(cfg) {
        bail!(
            "supalite is not running: nothing answers on {} (start it with `supalite serve`)",
            cfg.listen
        );
    }
    let v = values(cfg);
    match format {
        Format::Env => println!("{}", env_text(&v)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&v)?),
        Format::Pretty => {
            eprintln!("supalite local development setup is running.\n");
            print!("{}", pretty_text(&v));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_lines_as_godotenv() {
        let mut v = std::collections::BTreeMap::new();
        v.insert("B", "a\"b$c".to_string());
        v.insert("A", "http://x".to_string());
        v.insert("N", "54321".to_string());
        assert_eq!(
            super::env_text(&v),
            "A=\"http://x\"\nB=\"a\\\"b\\$c\"\nN=54321"
        );
    }
}
