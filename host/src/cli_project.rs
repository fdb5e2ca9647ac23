//! A Supabase CLI project (`supabase init`): `supabase/config.toml` read as
//! the CLI reads it, for what supalite serves.
//!
//! Its keys are mapped onto rows of the settings table
//! (`contract::settings`): the result is one more source of setting values,
//! below `supalite.toml` (defaults < config.toml < supalite.toml <
//! `SUPALITE_*` < flags). String values `env(NAME)` are NAME's value when it
//! is set and not empty (the CLI's `LoadEnvHook`), and `SUPABASE_<PATH>`
//! overrides a key as the CLI's viper does (`SUPABASE_AUTH_SITE_URL`). The
//! `[db.seed]` paths and `[storage.buckets.*]` are kept for the seed
//! (`db::seed`). Keys supalite has no use for are collected to be listed
//! once at start-up; values it cannot honour are named the same way. A
//! syntax error, or a known key with a value of the wrong type, is an error
//! naming the line and the key.

use anyhow::{bail, Result};
use contract::settings::{self as s, Setting};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The project's folder and its config file, as the CLI's.
pub const DIR: &str = "supabase";
pub const CONFIG: &str = "supabase/config.toml";

/// What a CLI project's config says, for supalite.
#[derive(Debug, Clone, Default)]
pub struct Project {
    /// `supabase/config.toml`.
    pub config_path: PathBuf,
    /// Setting values, by the setting's environment name.
    pub values: BTreeMap<&'static str, String>,
    /// `[db.seed]`.
    pub seed: Seed,
    /// `[storage.buckets.NAME]`, created with the seed (as `supabase start`).
    pub buckets: Vec<Bucket>,
    /// Keys (or whole tables) supalite does not implement.
    pub ignored: Vec<String>,
    /// Values supalite cannot honour, each with why.
    pub not_honoured: Vec<String>,
    /// `env(NAME)` with NAME unset, and the like.
    pub warnings: Vec<String>,
}

/// `[db.seed]`: whether to seed, and the files' patterns (relative to
/// the working directory, as resolved from `supabase/`).
#[derive(Debug, Clone)]
pub struct Seed {
    pub enabled: bool,
    pub patterns: Vec<String>,
}

impl Default for Seed {
    fn default() -> Seed {
        Seed {
            enabled: true,
            patterns: vec![format!("{DIR}/seed.sql")],
        }
    }
}

/// `[storage.buckets.NAME]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub id: String,
    pub public: bool,
    pub file_size_limit: Option<u64>,
    pub allowed_mime_types: Vec<String>,
}

impl Seed {
    /// The seed files, in order: each pattern's matches sorted, duplicates
    /// dropped (the CLI's `Glob.Files`); a pattern matching nothing is a
    /// warning, as the CLI's.
    pub fn files(&self) -> Result<(Vec<PathBuf>, Vec<String>)> {
        let mut files = Vec::new();
        let mut warnings = Vec::new();
        let mut seen = BTreeSet::new();
        for pattern in &self.patterns {
            let mut matches: Vec<PathBuf> = glob::glob(pattern)
                .map_err(|e| anyhow::anyhow!("[db.seed] sql_paths: bad pattern {pattern:?}: {e}"))?
                .filter_map(|p| p.ok())
                .filter(|p| p.is_file())
                .collect();
            if matches.is_empty() {
                warnings.push(format!("no files matched pattern: {pattern}"));
            }
            matches.sort();
            for m in matches {
                if seen.insert(m.clone()) {
                    files.push(m);
                }
            }
        }
        Ok((files, warnings))
    }
}

/// Reads `supabase/config.toml` under `root` when it exists.
pub fn load(root: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<Project>> {
    // Named as the CLI names it (`supabase/config.toml`) from the working
    // directory.
    let path = if root == Path::new(".") {
        PathBuf::from(CONFIG)
    } else {
        root.join(CONFIG)
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read {}: {e}", path.display()),
    };
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    // The CLI's `.env` files fill in what the environment does not set.
    let files = dotenv_files(&[dir.clone(), root.to_path_buf()]);
    let lookup =
        |k: &str| env(k).or_else(|| files.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()));
    parse(&text, &path, &dir, &lookup).map(Some)
}

/// The variables of the CLI's `.env` files (its `loadNestedEnv`): in
/// `supabase/`, then the project folder, each of `.env.<SUPABASE_ENV or
/// development>.local`, `.env.local`, `.env.<env>`, `.env`; the first
/// definition of a name wins (godotenv's `Load` never overrides), and the
/// process environment wins over all.
fn dotenv_files(dirs: &[PathBuf]) -> Vec<(String, String)> {
    let env = std::env::var("SUPABASE_ENV").ok().filter(|e| !e.is_empty());
    let env = env.as_deref().unwrap_or("development");
    let mut names = vec![format!(".env.{env}.local")];
    if env != "test" {
        names.push(".env.local".into());
    }
    names.push(format!(".env.{env}"));
    names.push(".env".into());
    let mut vars: Vec<(String, String)> = Vec::new();
    for dir in dirs {
        for name in &names {
            let Ok(text) = std::fs::read_to_string(dir.join(name)) else {
                continue;
            };
            for (k, v) in crate::dotenv::parse(&text) {
                if !vars.iter().any(|(n, _)| *n == k) {
                    vars.push((k, v));
                }
            }
        }
    }
    vars
}

/// A key's path in the file (`["auth", "email", "max_frequency"]`).
type KeyPath = Vec<String>;

/// What a key's value must be.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Want {
    Text,
    Number,
    Bool,
    /// An array of strings (or, from the environment, a comma-separated list).
    List,
    /// A Go duration (`"1s"`, `"2m30s"`), in whole seconds (rounded up).
    Duration,
    /// A size (`"50MiB"`, as the CLI's `sizeInBytes`: binary units), or bytes.
    Size,
}

impl Want {
    fn name(self) -> &'static str {
        match self {
            Want::Text => "a string",
            Want::Number => "a whole number",
            Want::Bool => "a boolean",
            Want::List => "an array of strings",
            Want::Duration => "a duration such as \"1s\" or \"2m\"",
            Want::Size => "a size such as \"50MiB\"",
        }
    }
}

/// A key's value, read as what it must be.
#[derive(Debug, Clone, PartialEq)]
enum Val {
    Text(String),
    Number(u64),
    Bool(bool),
    List(Vec<String>),
}

impl Val {
    fn text(&self) -> String {
        match self {
            Val::Text(t) => t.clone(),
            Val::Number(n) => n.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::List(l) => l.join(","),
        }
    }
}

/// The keys supalite maps one to one onto a setting.
const DIRECT: &[(&str, Want, &Setting)] = &[
    ("api.max_rows", Want::Number, &s::DB_MAX_ROWS),
    (
        "api.extra_search_path",
        Want::List,
        &s::DB_EXTRA_SEARCH_PATH,
    ),
    ("auth.site_url", Want::Text, &s::AUTH_SITE_URL),
    (
        "auth.additional_redirect_urls",
        Want::List,
        &s::AUTH_ADDITIONAL_REDIRECT_URLS,
    ),
    ("auth.jwt_expiry", Want::Number, &s::AUTH_JWT_EXPIRY),
    ("auth.jwt_secret", Want::Text, &s::JWT_SECRET),
    ("auth.publishable_key", Want::Text, &s::PUBLISHABLE_KEY),
    ("auth.secret_key", Want::Text, &s::SECRET_KEY),
    (
        "auth.refresh_token_reuse_interval",
        Want::Number,
        &s::AUTH_REFRESH_TOKEN_REUSE_INTERVAL,
    ),
    (
        "auth.enable_anonymous_sign_ins",
        Want::Bool,
        &s::AUTH_ANONYMOUS_SIGN_INS,
    ),
    (
        "auth.rate_limit.email_sent",
        Want::Number,
        &s::AUTH_RATE_LIMIT_EMAIL_SENT,
    ),
    (
        "auth.rate_limit.anonymous_users",
        Want::Number,
        &s::AUTH_RATE_LIMIT_ANONYMOUS_USERS,
    ),
    (
        "auth.rate_limit.token_refresh",
        Want::Number,
        &s::AUTH_RATE_LIMIT_TOKEN,
    ),
    (
        "auth.rate_limit.sign_in_sign_ups",
        Want::Number,
        &s::AUTH_RATE_LIMIT_SIGN_IN_SIGN_UPS,
    ),
    (
        "auth.email.double_confirm_changes",
        Want::Bool,
        &s::AUTH_DOUBLE_CONFIRM_CHANGES,
    ),
    (
        "auth.email.secure_password_change",
        Want::Bool,
        &s::AUTH_SECURE_PASSWORD_CHANGE,
    ),
    (
        "auth.enable_manual_linking",
        Want::Bool,
        &s::AUTH_MANUAL_LINKING,
    ),
    (
        "auth.email.max_frequency",
        Want::Duration,
        &s::AUTH_SMTP_MAX_FREQUENCY,
    ),
    (
        "auth.email.otp_length",
        Want::Number,
        &s::AUTH_MAILER_OTP_LENGTH,
    ),
    (
        "auth.email.otp_expiry",
        Want::Number,
        &s::AUTH_MAILER_OTP_EXP,
    ),
    (
        "auth.mfa.max_enrolled_factors",
        Want::Number,
        &s::AUTH_MFA_MAX_ENROLLED_FACTORS,
    ),
    (
        "auth.mfa.totp.enroll_enabled",
        Want::Bool,
        &s::AUTH_MFA_TOTP_ENROLL_ENABLED,
    ),
    (
        "auth.mfa.totp.verify_enabled",
        Want::Bool,
        &s::AUTH_MFA_TOTP_VERIFY_ENABLED,
    ),
    (
        "inbucket.admin_email",
        Want::Text,
        &s::AUTH_SMTP_ADMIN_EMAIL,
    ),
    (
        "inbucket.sender_name",
        Want::Text,
        &s::AUTH_SMTP_SENDER_NAME,
    ),
    (
        "storage.file_size_limit",
        Want::Size,
        &s::STORAGE_FILE_SIZE_LIMIT,
    ),
];

/// `[auth.email.smtp]` (when not `enabled = false`).
const SMTP: &[(&str, Want, &Setting)] = &[
    ("host", Want::Text, &s::AUTH_SMTP_HOST),
    ("port", Want::Number, &s::AUTH_SMTP_PORT),
    ("user", Want::Text, &s::AUTH_SMTP_USER),
    ("pass", Want::Text, &s::AUTH_SMTP_PASS),
    ("admin_email", Want::Text, &s::AUTH_SMTP_ADMIN_EMAIL),
    ("sender_name", Want::Text, &s::AUTH_SMTP_SENDER_NAME),
];

/// Switches whose one value is what supalite does anyway (key, that value,
/// why the other cannot be honoured).
const SWITCHES: &[(&str, bool, &str)] = &[
    ("api.enabled", true, "supalite always serves the API"),
    (
        "api.tls.enabled",
        false,
        "supalite serves plain HTTP (put a TLS proxy in front)",
    ),
    ("auth.enabled", true, "supalite always serves /auth/v1"),
    (
        "storage.enabled",
        true,
        "supalite always serves /storage/v1",
    ),
    (
        "realtime.enabled",
        true,
        "supalite always serves /realtime/v1",
    ),
    (
        "edge_runtime.enabled",
        true,
        "supalite always serves /functions/v1",
    ),
    (
        "db.migrations.enabled",
        true,
        "supalite always applies supabase/migrations",
    ),
    (
        "auth.enable_refresh_token_rotation",
        true,
        "supalite always rotates refresh tokens",
    ),
    (
        "auth.sms.enable_signup",
        false,
        "supalite has no phone sign-ups",
    ),
    (
        "auth.mfa.phone.enroll_enabled",
        false,
        "supalite has no SMS provider (phone MFA factors)",
    ),
    (
        "auth.mfa.phone.verify_enabled",
        false,
        "supalite has no SMS provider (phone MFA factors)",
    ),
    (
        "auth.mfa.web_authn.enroll_enabled",
        false,
        "supalite has no passkeys (WebAuthn MFA factors)",
    ),
    (
        "auth.mfa.web_authn.verify_enabled",
        false,
        "supalite has no passkeys (WebAuthn MFA factors)",
    ),
    (
        "auth.manual_linking",
        false,
        "supalite has no identity linking",
    ),
    (
        "auth.oauth_server.enabled",
        false,
        "supalite is not an OAuth server",
    ),
    (
        "storage.s3_protocol.enabled",
        true,
        "(not served; nothing to switch on)",
    ),
];

/// Keys read without effect (they describe the project, not a service).
const QUIET: &[&str] = &[
    "project_id",
    "db.major_version",
    "db.seed.enabled",
    "db.seed.sql_paths",
];

struct Reader<'a> {
    text: &'a str,
    path: &'a Path,
    root: &'a toml::Table,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Keys read (mapped, switches, quiet ones).
    used: BTreeSet<String>,
    project: Project,
}

/// The line (1-based) of the key at `path` in `text`.
fn line_of(text: &str, path: &[String]) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let (last, parents) = path.split_last()?;
    for p in parents {
        table = table.get(p)?.as_table_like()?;
    }
    let span = table.key(last).and_then(|k| k.span())?;
    Some(text[..span.start].matches('\n').count() + 1)
}

impl Reader<'_> {
    fn where_(&self, path: &[String]) -> String {
        match line_of(self.text, path) {
            Some(line) => format!("{} line {line}", self.path.display()),
            None => self.path.display().to_string(),
        }
    }

    fn raw(&self, path: &[String]) -> Option<&toml::Value> {
        let (last, parents) = path.split_last()?;
        let mut t = self.root;
        for p in parents {
            t = t.get(p)?.as_table()?;
        }
        t.get(last)
    }

    /// The key's value as `want`: `SUPABASE_<PATH>` from the environment
    /// first, then the file (with `env(NAME)` substituted).
    fn get(&mut self, path: &[String], want: Want) -> Result<Option<Val>> {
        let dotted = path.join(".");
        self.used.insert(dotted.clone());
        let env_name = format!("SUPABASE_{}", dotted.replace('.', "_").to_ascii_uppercase());
        if let Some(v) = (self.env)(&env_name).filter(|v| !v.is_empty()) {
            return from_text(&v, want)
                .map(Some)
                .map_err(|e| anyhow::anyhow!("{env_name} (the CLI's {dotted}): {e}"));
        }
        let Some(value) = self.raw(path).cloned() else {
            return Ok(None);
        };
        let wrong = |r: &Self, got: &str| {
            anyhow::anyhow!(
                "{}: `{}` must be {}, not {got}",
                r.where_(path),
                key_name(path),
                want.name()
            )
        };
        let value = match value {
            toml::Value::String(s) => toml::Value::String(self.substitute(&s)),
            toml::Value::Array(a) => toml::Value::Array(
                a.into_iter()
                    .map(|v| match v {
                        toml::Value::String(s) => toml::Value::String(self.substitute(&s)),
                        other => other,
                    })
                    .collect(),
            ),
            other => other,
        };
        let val = match (want, &value) {
            (Want::Text, toml::Value::String(s)) => Val::Text(s.clone()),
            (Want::Number, toml::Value::Integer(n)) if *n >= 0 => Val::Number(*n as u64),
            (Want::Size, toml::Value::Integer(n)) if *n >= 0 => Val::Number(*n as u64),
            (Want::Number | Want::Size, toml::Value::Integer(n)) => {
                return Err(wrong(self, &format!("{n} (it must not be negative)")))
            }
            (Want::Bool, toml::Value::Boolean(b)) => Val::Bool(*b),
            (Want::List, toml::Value::Array(a)) => {
                let mut items = Vec::new();
                for v in a {
                    match v {
                        toml::Value::String(s) => items.push(s.clone()),
                        other => {
                            return Err(wrong(
                                self,
                                &format!("an array holding {}", other.type_str()),
                            ))
                        }
                    }
                }
                Val::List(items)
            }
            (
                Want::Duration | Want::Size | Want::Number | Want::Bool | Want::List,
                toml::Value::String(s),
            ) if env_like(s) => {
                // `env(NAME)` left as it is (NAME unset): named, not guessed.
                return Err(wrong(self, &format!("{s:?} (the variable is unset)")));
            }
            (Want::Duration, toml::Value::String(s)) => match duration_secs(s) {
                Some(n) => Val::Number(n),
                None => return Err(wrong(self, &format!("{s:?}"))),
            },
            (Want::Size, toml::Value::String(s)) => match size_bytes(s) {
                Some(n) => Val::Number(n),
                None => return Err(wrong(self, &format!("{s:?}"))),
            },
            (_, other) => {
                let got = match other {
                    toml::Value::String(s) => format!("a string ({s:?})"),
                    toml::Value::Integer(n) => format!("a number ({n})"),
                    toml::Value::Boolean(b) => format!("a boolean ({b})"),
                    other => other.type_str().to_string(),
                };
                return Err(wrong(self, &got));
            }
        };
        Ok(Some(val))
    }

    /// `env(NAME)` → NAME's value when set and not empty (the CLI's rule);
    /// else the text as it is, with a warning.
    fn substitute(&mut self, s: &str) -> String {
        match env_name(s) {
            Some(name) => match (self.env)(name).filter(|v| !v.is_empty()) {
                Some(v) => v,
                None => {
                    let w = format!("environment variable is unset: {name}");
                    if !self.project.warnings.contains(&w) {
                        self.project.warnings.push(w);
                    }
                    s.to_string()
                }
            },
            None => s.to_string(),
        }
    }

    fn set(&mut self, setting: &'static Setting, text: String) {
        self.project.values.insert(setting.env, text);
    }

    fn not_honoured(&mut self, path: &str, why: &str) {
        self.project.not_honoured.push(format!("{path}: {why}"));
    }
}

fn env_name(s: &str) -> Option<&str> {
    s.strip_prefix("env(")?.strip_suffix(')')
}

fn env_like(s: &str) -> bool {
    env_name(s).is_some()
}

/// `[auth.email] max_frequency` as the error names it.
fn key_name(path: &[String]) -> String {
    match path.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, parents)) => format!("[{}] {last}", parents.join(".")),
        None => String::new(),
    }
}

fn p(dotted: &str) -> KeyPath {
    dotted.split('.').map(str::to_string).collect()
}

/// A value from the environment, read as `want`.
fn from_text(v: &str, want: Want) -> Result<Val, String> {
    let v = v.trim();
    let bad = || format!("`{v}` is not {}", want.name());
    Ok(match want {
        Want::Text => Val::Text(v.to_string()),
        Want::Number => Val::Number(v.parse().map_err(|_| bad())?),
        Want::Bool => Val::Bool(s::parse_bool(v).ok_or_else(bad)?),
        Want::List => Val::List(
            v.split(',')
                .map(|i| i.trim().to_string())
                .filter(|i| !i.is_empty())
                .collect(),
        ),
        Want::Duration => Val::Number(duration_secs(v).ok_or_else(bad)?),
        Want::Size => Val::Number(match v.parse::<u64>() {
            Ok(n) => n,
            Err(_) => size_bytes(v).ok_or_else(bad)?,
        }),
    })
}

/// A Go duration (`300ms`, `1s`, `2m30s`, `1h`) in whole seconds, rounded
/// up (GoTrue's rate windows count seconds).
pub fn duration_secs(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "0" {
        return Some(0);
    }
    let mut rest = s;
    let mut nanos: f64 = 0.0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let n: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += n * unit;
        rest = &rest[unit_len..];
    }
    Some((nanos / 1e9).ceil() as u64)
}

/// A size as the CLI's `sizeInBytes` reads it (go-units' `RAMInBytes`:
/// `50MiB`, `50MB`, `50m`, `1.5GB`, all binary multiples).
pub fn size_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let n: f64 = s[..num_len].parse().ok()?;
    let unit = s[num_len..].trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        "p" => 1 << 50,
        _ => return None,
    };
    Some((n * mult as f64) as u64)
}

/// Parses the config text (`path` and `dir` name the file and its folder).
pub fn parse(
    text: &str,
    path: &Path,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Project> {
    let root: toml::Table = toml::from_str(text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))?;
    let mut r = Reader {
        text,
        path,
        root: &root,
        env,
        used: BTreeSet::new(),
        project: Project {
            config_path: path.to_path_buf(),
            ..Project::default()
        },
    };
    for q in QUIET {
        r.used.insert(q.to_string());
    }
    for (key, want, setting) in DIRECT {
        if let Some(v) = r.get(&p(key), *want)? {
            r.set(setting, v.text());
        }
    }
    // [api]
    if let Some(Val::Number(port)) = r.get(&p("api.port"), Want::Number)? {
        r.set(&s::LISTEN, format!("127.0.0.1:{port}"));
    }
    if let Some(Val::List(schemas)) = r.get(&p("api.schemas"), Want::List)? {
        // `graphql_public` (pg_graphql's) is in the CLI's default list;
        // supalite serves no GraphQL, and no such schema.
        let kept: Vec<String> = schemas
            .into_iter()
            .filter(|s| s != "graphql_public")
            .collect();
        if !kept.is_empty() {
            r.set(&s::DB_SCHEMAS, kept.join(","));
        }
    }
    // [db]: the database's port is embedded PGlite's loopback port.
    if let Some(Val::Number(port)) = r.get(&p("db.port"), Want::Number)? {
        r.set(&s::PGLITE_LISTEN, format!("127.0.0.1:{port}"));
    }
    let seed_enabled = r.get(&p("db.seed.enabled"), Want::Bool)?;
    let seed_paths = r.get(&p("db.seed.sql_paths"), Want::List)?;
    r.project.seed = Seed {
        enabled: !matches!(seed_enabled, Some(Val::Bool(false))),
        patterns: match seed_paths {
            Some(Val::List(l)) => l.iter().map(|pat| relative_to(dir, pat)).collect(),
            _ => vec![relative_to(dir, "./seed.sql")],
        },
    };
    // [auth]
    // (The CLI's default for both is true.)
    let signup = r.get(&p("auth.enable_signup"), Want::Bool)?;
    if let Some(Val::Bool(b)) = signup {
        r.set(&s::AUTH_DISABLE_SIGNUP, (!b).to_string());
    }
    if let Some(Val::Bool(false)) = r.get(&p("auth.email.enable_signup"), Want::Bool)? {
        if signup != Some(Val::Bool(false)) {
            r.not_honoured(
                "auth.email.enable_signup = false",
                "supalite has one sign-up switch ([auth] enable_signup); e-mail sign-ups stay open",
            );
        }
    }
    if let Some(Val::Bool(b)) = r.get(&p("auth.email.enable_confirmations"), Want::Bool)? {
        r.set(&s::AUTH_AUTOCONFIRM, (!b).to_string());
    }
    if let Some(Val::Text(keys)) = r.get(&p("auth.signing_keys_path"), Want::Text)? {
        if !keys.is_empty() {
            r.set(&s::JWT_KEYS, relative_to(dir, &keys));
        }
    }
    // [auth.email.smtp]
    let smtp_on = r.get(&p("auth.email.smtp.enabled"), Want::Bool)?;
    if r.raw(&p("auth.email.smtp")).is_some() && !matches!(smtp_on, Some(Val::Bool(false))) {
        for (key, want, setting) in SMTP {
            if let Some(v) = r.get(&p(&format!("auth.email.smtp.{key}")), *want)? {
                r.set(setting, v.text());
            }
        }
    } else {
        for (key, _, _) in SMTP {
            r.used.insert(format!("auth.email.smtp.{key}"));
        }
    }
    // [inbucket]: the mail catcher.
    if let Some(Val::Number(port)) = r.get(&p("inbucket.port"), Want::Number)? {
        r.set(&s::MAIL_CATCHER_PORT, port.to_string());
    }
    if let Some(Val::Bool(false)) = r.get(&p("inbucket.enabled"), Want::Bool)? {
        r.set(&s::MAIL_CATCHER_PORT, "0".into());
    }
    // Switches.
    for (key, ok, why) in SWITCHES {
        if let Some(Val::Bool(b)) = r.get(&p(key), Want::Bool)? {
            if b != *ok {
                r.not_honoured(&format!("{key} = {b}"), why);
            }
        }
    }
    // [auth.external.*], [auth.third_party.*], [auth.web3.*]: providers.
    for group in ["auth.external", "auth.third_party", "auth.web3"] {
        let names: Vec<String> = r
            .raw(&p(group))
            .and_then(|v| v.as_table())
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        for name in names {
            let key = format!("{group}.{name}.enabled");
            if let Some(Val::Bool(true)) = r.get(&p(&key), Want::Bool)? {
                r.not_honoured(
                    &format!("{key} = true"),
                    "supalite has no such sign-in provider",
                );
            } else {
                // A provider left disabled: its other keys say nothing.
                let keys: Vec<String> = r
                    .raw(&p(&format!("{group}.{name}")))
                    .and_then(|v| v.as_table())
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default();
                for k in keys {
                    r.used.insert(format!("{group}.{name}.{k}"));
                }
            }
        }
    }
    // [functions.NAME]
    let functions: Vec<String> = r
        .raw(&p("functions"))
        .and_then(|v| v.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    let mut no_verify = Vec::new();
    for name in functions {
        if r.raw(&p(&format!("functions.{name}")))
            .and_then(|v| v.as_table())
            .is_none()
        {
            bail!(
                "{}: `functions.{name}` must be a table ([functions.{name}] verify_jwt = false)",
                r.where_(&p(&format!("functions.{name}")))
            );
        }
        let path = vec![
            "functions".to_string(),
            name.clone(),
            "verify_jwt".to_string(),
        ];
        if let Some(Val::Bool(false)) = r.get(&path, Want::Bool)? {
            no_verify.push(name.clone());
        }
        let path = vec![
            "functions".to_string(),
            name.clone(),
            "entrypoint".to_string(),
        ];
        if let Some(Val::Text(e)) = r.get(&path, Want::Text)? {
            r.not_honoured(
                &format!("functions.{name}.entrypoint = {e:?}"),
                &format!("supalite runs supabase/functions/{name}/function.wasm (a wasi:http component), not TypeScript"),
            );
        }
        let path = vec!["functions".to_string(), name.clone(), "enabled".to_string()];
        if let Some(Val::Bool(false)) = r.get(&path, Want::Bool)? {
            r.not_honoured(
                &format!("functions.{name}.enabled = false"),
                "supalite serves every function in supabase/functions",
            );
        }
    }
    if !no_verify.is_empty() {
        r.set(&s::FUNCTIONS_NO_VERIFY_JWT, no_verify.join(","));
    }
    // [storage.buckets.NAME]
    let buckets: Vec<String> = r
        .raw(&p("storage.buckets"))
        .and_then(|v| v.as_table())
        .map(|t| t.keys().cloned().collect())
        .unwrap_or_default();
    for id in buckets {
        let key = |k: &str| {
            vec![
                "storage".into(),
                "buckets".into(),
                id.clone(),
                k.to_string(),
            ]
        };
        let public = matches!(r.get(&key("public"), Want::Bool)?, Some(Val::Bool(true)));
        let file_size_limit = match r.get(&key("file_size_limit"), Want::Size)? {
            Some(Val::Number(n)) if n > 0 => Some(n),
            _ => None,
        };
        let allowed_mime_types = match r.get(&key("allowed_mime_types"), Want::List)? {
            Some(Val::List(l)) => l,
            _ => Vec::new(),
        };
        if let Some(Val::Text(o)) = r.get(&key("objects_path"), Want::Text)? {
            if !o.is_empty() {
                r.not_honoured(
                    &format!("storage.buckets.{id}.objects_path"),
                    "supalite creates the bucket but uploads no files into it",
                );
            }
        }
        r.project.buckets.push(Bucket {
            id,
            public,
            file_size_limit,
            allowed_mime_types,
        });
    }
    let used = std::mem::take(&mut r.used);
    let mut ignored = Vec::new();
    collect_ignored(&root, &mut Vec::new(), &used, &mut ignored);
    r.project.ignored = ignored;
    Ok(r.project)
}

/// `pattern` relative to the `supabase/` folder (the CLI resolves seed
/// paths and `signing_keys_path` so), unless absolute.
fn relative_to(dir: &Path, pattern: &str) -> String {
    if Path::new(pattern).is_absolute() {
        return pattern.to_string();
    }
    let joined = dir.join(pattern.trim_start_matches("./"));
    joined.display().to_string()
}

/// Every key not read, a whole table when none of its keys was.
/// Answers whether everything under `path` was ignored.
fn collect_ignored(
    table: &toml::Table,
    path: &mut Vec<String>,
    used: &BTreeSet<String>,
    out: &mut Vec<String>,
) -> bool {
    let mut all = true;
    let mut mine = Vec::new();
    for (k, v) in table {
        path.push(k.clone());
        let dotted = path.join(".");
        match v {
            toml::Value::Table(t) => {
                let mut inner = Vec::new();
                if collect_ignored(t, path, used, &mut inner) {
                    mine.push(dotted);
                } else {
                    all = false;
                    mine.extend(inner);
                }
            }
            _ if used.contains(&dotted) => all = false,
            _ => mine.push(dotted),
        }
        path.pop();
    }
    if !(all && !path.is_empty()) {
        out.extend(mine);
    }
    all && !table.is_empty()
}

impl Project {
    /// The start-up note: ignored keys and values not honoured, once.
    pub fn report(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let name = self.config_path.display();
        for w in &self.warnings {
            lines.push(format!("{name}: WARN: {w}"));
        }
        if !self.ignored.is_empty() {
            lines.push(format!(
                "{name}: ignored (supalite does not implement them): {}",
                self.ignored.join(", ")
            ));
        }
        for n in &self.not_honoured {
            lines.push(format!("{name}: not honoured: {n}"));
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Project> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lookup = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        parse(
            text,
            Path::new("supabase/config.toml"),
            Path::new("supabase"),
            &lookup,
        )
    }

    #[test]
    fn the_init_template_maps_and_lists_the_rest() {
        let text = include_str!("../../tests/fixtures/cli_config.toml");
        let p = parse_with(text, &[]).unwrap();
        let v = |s: &Setting| p.values.get(s.env).cloned();
        assert_eq!(v(&s::DB_SCHEMAS).as_deref(), Some("public,api"));
        assert_eq!(v(&s::DB_MAX_ROWS).as_deref(), Some("5"));
        assert_eq!(v(&s::AUTH_DISABLE_SIGNUP).as_deref(), Some("false"));
        assert_eq!(v(&s::AUTH_ANONYMOUS_SIGN_INS).as_deref(), Some("true"));
        assert_eq!(v(&s::AUTH_AUTOCONFIRM).as_deref(), Some("true"));
        assert_eq!(v(&s::AUTH_SMTP_MAX_FREQUENCY).as_deref(), Some("1"));
        assert_eq!(v(&s::STORAGE_FILE_SIZE_LIMIT).as_deref(), Some("52428800"));
        assert_eq!(
            v(&s::FUNCTIONS_NO_VERIFY_JWT).as_deref(),
            Some("public-hello")
        );
        assert!(p.ignored.iter().any(|i| i == "studio"), "{:?}", p.ignored);
        assert!(
            p.ignored.iter().any(|i| i == "analytics"),
            "{:?}",
            p.ignored
        );
        assert!(!p.ignored.iter().any(|i| i.starts_with("api.max_rows")));
        assert_eq!(p.seed.patterns, vec!["supabase/seed.sql".to_string()]);
        assert_eq!(p.buckets.len(), 1);
    }

    #[test]
    fn env_substitution_and_overrides() {
        let text = "[auth]\nsite_url = \"env(SITE)\"\njwt_expiry = 100\n";
        let p = parse_with(
            text,
            &[("SITE", "http://a.test"), ("SUPABASE_AUTH_JWT_EXPIRY", "7")],
        )
        .unwrap();
        assert_eq!(p.values[s::AUTH_SITE_URL.env], "http://a.test");
        assert_eq!(p.values[s::AUTH_JWT_EXPIRY.env], "7");
        let p = parse_with(text, &[]).unwrap();
        assert_eq!(p.values[s::AUTH_SITE_URL.env], "env(SITE)");
        assert_eq!(
            p.warnings,
            vec!["environment variable is unset: SITE".to_string()]
        );
    }

    #[test]
    fn bad_input_names_line_and_key() {
        let e = parse_with("[api]\nport = 1\nmax_rows = \"lots\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 3") && e.contains("[api] max_rows") && e.contains("a whole number"),
            "{e}"
        );
        let e = parse_with("[api]\nport = = 1\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = parse_with("[auth.email]\nmax_frequency = \"soon\"\n", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("max_frequency"), "{e}");
    }

    #[test]
    fn mfa_keys_map_onto_settings() {
        let text = "[auth.mfa]\nmax_enrolled_factors = 3\n[auth.mfa.totp]\nenroll_enabled = false\nverify_enabled = true\n[auth.mfa.phone]\nenroll_enabled = false\n";
        let p = parse_with(text, &[]).unwrap();
        assert_eq!(p.values[s::AUTH_MFA_MAX_ENROLLED_FACTORS.env], "3");
        assert_eq!(p.values[s::AUTH_MFA_TOTP_ENROLL_ENABLED.env], "false");
        assert_eq!(p.values[s::AUTH_MFA_TOTP_VERIFY_ENABLED.env], "true");
        assert!(!p.ignored.iter().any(|i| i.starts_with("auth.mfa")), "{:?}", p.ignored);
    }

    #[test]
    fn dotenv_files_fill_in_env() {
        let v = crate::dotenv::parse("# c\nexport A=1\nB = \"two words\" \nC='x#y'\nD=plain # note\n");
        let get = |k: &str| v.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            (get("A"), get("B"), get("C"), get("D")),
            (Some("1"), Some("two words"), Some("x#y"), Some("plain"))
        );
        let dir = std::env::temp_dir().join(format!("supalite-dotenv-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("supabase")).unwrap();
        std::fs::write(
            dir.join("supabase/config.toml"),
            "[auth]\nsite_url = \"env(SITE)\"\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("supabase/.env"),
            "SITE=http://from-supabase-env.test\n",
        )
        .unwrap();
        std::fs::write(dir.join(".env"), "SITE=http://from-project-env.test\n").unwrap();
        let p = load(&dir, &|_| None).unwrap().unwrap();
        assert_eq!(
            p.values[s::AUTH_SITE_URL.env],
            "http://from-supabase-env.test"
        );
        let p = load(&dir, &|k| {
            (k == "SITE").then(|| "http://from-env.test".to_string())
        })
        .unwrap()
        .unwrap();
        assert_eq!(p.values[s::AUTH_SITE_URL.env], "http://from-env.test");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(duration_secs("1s"), Some(1));
        assert_eq!(duration_secs("2m30s"), Some(150));
        assert_eq!(duration_secs("500ms"), Some(1));
        assert_eq!(duration_secs("x"), None);
        assert_eq!(size_bytes("50MiB"), Some(50 << 20));
        assert_eq!(size_bytes("1GB"), Some(1 << 30));
        assert_eq!(size_bytes("10"), Some(10));
        assert_eq!(size_bytes("ten"), None);
    }

    #[test]
    fn not_honoured_values_are_named() {
        let p = parse_with(
            "[api]\nenabled = false\n[auth.external.github]\nenabled = true\n",
            &[],
        )
        .unwrap();
        assert_eq!(p.not_honoured.len(), 2, "{:?}", p.not_honoured);
        let p = parse_with("[auth.email]\nenable_signup = false\n", &[]).unwrap();
        assert_eq!(p.not_honoured.len(), 1, "{:?}", p.not_honoured);
        let p = parse_with("[auth]\nenable_signup = false\n[auth.email]\nenable_signup = false\n", &[]).unwrap();
        assert!(p.not_honoured.is_empty(), "{:?}", p.not_honoured);
        let p = parse_with("[auth]\nsigning_keys_path = \"./signing_keys.json\"\n[db.seed]\nsql_paths = [\"./seeds/*.sql\", \"/abs/x.sql\"]\n", &[]).unwrap();
        assert_eq!(p.values[s::JWT_KEYS.env], "supabase/signing_keys.json");
        assert_eq!(
            p.seed.patterns,
            vec!["supabase/seeds/*.sql".to_string(), "/abs/x.sql".to_string()]
        );
    }
}
