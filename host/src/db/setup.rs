//! Start-up work on the database: what Supabase projects expect to exist
//! (roles, the `auth` helpers, default grants), then the user's migrations
//! from `supabase/migrations/*.sql`, each applied once, in name order, in its
//! own transaction together with its record.

use super::{Database, Statement};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// Idempotent bootstrap, as the Supabase images set a database up. Safe to
/// run concurrently and as a non-superuser when the objects already exist
/// (then it changes nothing).
pub const BOOTSTRAP_SQL: &str = r#"
DO $bootstrap$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      BEGIN
        EXECUTE format('CREATE ROLE %I NOLOGIN NOINHERIT %s', r, CASE WHEN r = 'service_role' THEN 'BYPASSRLS' ELSE '' END);
      EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
      END;
    END IF;
    IF NOT pg_has_role(current_user, r, 'MEMBER') THEN
      EXECUTE format('GRANT %I TO %I', r, current_user);
    END IF;
  END LOOP;

  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'auth') THEN
    CREATE SCHEMA auth;
  END IF;
  IF to_regprocedure('auth.uid()') IS NULL THEN
    CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.sub', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub')
      )::uuid
    $f$;
  END IF;
  IF to_regprocedure('auth.role()') IS NULL THEN
    CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim.role', true), ''),
        (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role')
      )::text
    $f$;
  END IF;
  IF to_regprocedure('auth.jwt()') IS NULL THEN
    CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$
      SELECT coalesce(
        nullif(current_setting('request.jwt.claim', true), ''),
        nullif(current_setting('request.jwt.claims', true), '')
      )::jsonb
    $f$;
  END IF;
  IF NOT has_schema_privilege('anon', 'auth', 'USAGE') THEN
    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION auth.uid(), auth.role(), auth.jwt() TO anon, authenticated, service_role;
  END IF;

  IF NOT has_schema_privilege('anon', 'public', 'USAGE') THEN
    GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_default_acl d JOIN pg_namespace n ON n.oid = d.defaclnamespace
                 WHERE n.nspname = 'public' AND d.defaclrole = current_user::text::regrole) THEN
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
    ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
  END IF;

  IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'supabase_migrations') THEN
    CREATE SCHEMA supabase_migrations;
  END IF;
  CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (
    version text PRIMARY KEY,
    name text,
    statements text[],
    inserted_at timestamptz NOT NULL DEFAULT now()
  );
END
$bootstrap$;

-- GoTrue's tables (the columns supalite uses, named as in Supabase).
CREATE TABLE IF NOT EXISTS auth.users (
  instance_id uuid,
  id uuid PRIMARY KEY,
  aud varchar(255),
  role varchar(255),
  email varchar(255),
  encrypted_password varchar(255),
  email_confirmed_at timestamptz,
  invited_at timestamptz,
  confirmation_token varchar(255),
  confirmation_sent_at timestamptz,
  recovery_token varchar(255),
  recovery_sent_at timestamptz,
  last_sign_in_at timestamptz,
  raw_app_meta_data jsonb,
  raw_user_meta_data jsonb,
  is_super_admin boolean,
  created_at timestamptz,
  updated_at timestamptz,
  phone text UNIQUE DEFAULT NULL,
  phone_confirmed_at timestamptz,
  confirmed_at timestamptz GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED,
  banned_until timestamptz,
  deleted_at timestamptz,
  is_sso_user boolean NOT NULL DEFAULT false,
  is_anonymous boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS users_email_partial_key ON auth.users (email) WHERE is_sso_user = false;
CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users(id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  aal text DEFAULT 'aal1',
  not_after timestamptz
);
CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  id bigserial PRIMARY KEY,
  token varchar(255) UNIQUE,
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid REFERENCES auth.sessions(id) ON DELETE CASCADE
);
-- Requests per client and endpoint in the current window (/auth/v1 rate limits).
CREATE UNLOGGED TABLE IF NOT EXISTS auth.rate_limits (
  key text PRIMARY KEY,
  window_start timestamptz NOT NULL,
  hits integer NOT NULL
);
"#;

pub async fn bootstrap(db: &Database) -> Result<()> {
    db.script(BOOTSTRAP_SQL, None)
        .await
        .map_err(|e| anyhow!("bootstrapping roles and the auth schema failed: {e}"))
}

/// `20240101000000_create_todos.sql` → (`20240101000000`, `create_todos`).
fn version_and_name(path: &Path) -> (String, String) {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
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
pub async fn migrate(db: &Database, dir: &Path) -> Result<usize> {
    let mut applied = 0;
    for file in migration_files(dir)? {
        let (version, name) = version_and_name(&file);
        let sql = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read migration {}", file.display()))?;
        let done = db
            .query(
                "SELECT 1 FROM supabase_migrations.schema_migrations WHERE version = $1",
                vec![Some(version.clone())],
            )
            .await
            .map_err(|e| anyhow!("reading supabase_migrations.schema_migrations: {e}"))?;
        if !done.rows.is_empty() {
            continue;
        }
        let record = Statement {
            sql: "INSERT INTO supabase_migrations.schema_migrations(version, name, statements) VALUES ($1, $2, ARRAY[$3])".into(),
            params: vec![Some(version), Some(name), Some(sql.clone())],
        };
        if let Err(e) = db.script(&sql, Some(&record)).await {
            bail!(
                "migration {} failed and was not applied: {e}",
                file.display()
            );
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
        assert_eq!(
            version_and_name(Path::new("a/20240101_create_todos.sql")),
            ("20240101".into(), "create_todos".into())
        );
        assert_eq!(
            version_and_name(Path::new("0001.sql")),
            ("0001".into(), "".into())
        );
    }
}
