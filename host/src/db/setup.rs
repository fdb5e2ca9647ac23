//! Start-up work on the database: what Supabase projects expect to exist
//! (roles, the `auth` helpers, default grants), then the user's migrations
//! from `supabase/migrations/*.sql`, each applied once, in name order, in its
//! own transaction together with its record.

use super::{Database, Statement};
use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};

/// Idempotent bootstrap, as the Supabase images set a database up. Safe to
/// run concurrently and as a non-superuser when the objects already exist
/// (then it changes nothing). One file, `host/sql/bootstrap.sql`, shared
/// with the JS host (`host/js`).
pub const BOOTSTRAP_SQL: &str = include_str!("../../sql/bootstrap.sql");

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
