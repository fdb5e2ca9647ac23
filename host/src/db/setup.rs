//! Start-up work on the database: what Supabase projects expect to exist
//! (roles, the `auth` helpers, default grants), then the user's migrations
//! from `supabase/migrations/*.sql`, each applied once, in name order, in its
//! own transaction together with its record.

use super::pglite::PgliteHandle;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Idempotent bootstrap, as the Supabase images set a database up.
pub const BOOTSTRAP_SQL: &str = r#"
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
  END IF;
END
$$;

CREATE SCHEMA IF NOT EXISTS auth;
CREATE OR REPLACE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.sub', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
  )::uuid
$f$;
CREATE OR REPLACE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.role', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
  )::text
$f$;
CREATE OR REPLACE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim', true), ''),
    nullif(current_setting('request.jwt.claims', true), '')
  )::jsonb
$f$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;

GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;

CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
  version text PRIMARY KEY,
  name text,
  statements text[],
  inserted_at timestamptz NOT NULL DEFAULT now()
);
"#;

pub async fn bootstrap(db: &PgliteHandle) -> Result<()> {
    db.run(|db| db.exec(BOOTSTRAP_SQL, None).map(|_| ())).await?.context("bootstrapping roles and the auth schema")
}

/// `20240101000000_create_todos.sql` → (`20240101000000`, `create_todos`).
fn version_and_name(path: &Path) -> (String, String) {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    match stem.split_once('_') {
        Some((v, n)) => (v.to_string(), n.to_string()),
        None => (stem.clone(), String::new()),
    }
}

/// The migration files in `dir`, in name order (none if `dir` is missing).
pub fn migration_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read migrations directory {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    Ok(files)
}

/// Applies pending migrations. Returns how many were applied.
pub async fn migrate(db: &PgliteHandle, dir: &Path) -> Result<usize> {
    let mut applied = 0;
    for file in migration_files(dir)? {
        let (version, name) = version_and_name(&file);
        let sql = std::fs::read_to_string(&file).with_context(|| format!("cannot read migration {}", file.display()))?;
        let v = version.clone();
        let done = db
            .run(move |db| {
                db.query("SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = $1", &[json!(v)], None)
                    .map(|r| !r.rows.is_empty())
            })
            .await??;
        if done {
            continue;
        }
        let (v, n) = (version.clone(), name.clone());
        let result = db
            .run(move |db| {
                db.transaction(|tx| {
                    tx.exec(&sql, None)?;
                    tx.query(
                        "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES ($1, $2, ARRAY[$3])",
                        &[json!(v), json!(n), json!(sql)],
                        None,
                    )?;
                    Ok(())
                })
            })
            .await?;
        if let Err(e) = result {
            bail!("migration {} failed and was not applied: {e:#}", file.display());
        }
        tracing::info!(migration = %file.display(), "applied");
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(version_and_name(Path::new("a/20240101_create_todos.sql")), ("20240101".into(), "create_todos".into()));
        assert_eq!(version_and_name(Path::new("0001.sql")), ("0001".into(), "".into()));
    }
}
