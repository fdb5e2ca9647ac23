//! `supalite db reset`: drops the data, then applies the migrations and the
//! seed again (as `supabase db reset` recreates the local database).
//!
//! Embedded PGlite: the data directory is emptied and made anew; refused
//! while a server serves it (its lock, `db::lock`). PostgreSQL (`db-uri`):
//! refused without `--yes`, then every schema but PostgreSQL's own is
//! dropped (with what is in it) and `public` made again, and the
//! `supabase_realtime` publication dropped — the database as new.

use super::{lock, open, postgres, Backend, Database};
use crate::config::Config;
use anyhow::{anyhow, bail, Context, Result};
use std::sync::Arc;

/// Drops every schema but PostgreSQL's own, then makes `public` again with
/// PostgreSQL's default privileges.
const DROP_ALL: &str = r#"DO $reset$
DECLARE s text;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
           WHERE nspname NOT LIKE 'pg\_%' AND nspname <> 'information_schema'
  LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', s);
  END LOOP;
  DROP PUBLICATION IF EXISTS supabase_realtime;
END $reset$;
CREATE SCHEMA public;
GRANT USAGE ON SCHEMA public TO PUBLIC;
"#;

/// The reset; `yes` confirms it on PostgreSQL.
pub async fn run(cfg: &Config, yes: bool) -> Result<()> {
    match &cfg.db_uri {
        None => {
            let dir = &cfg.data_dir;
            {
                let _held =
                    lock::acquire(dir).map_err(|e| anyhow!("cannot reset the database: {e:#}"))?;
                for entry in std::fs::read_dir(dir)
                    .with_context(|| format!("cannot read {}", dir.display()))?
                {
                    let entry = entry?;
                    if entry.file_name() == lock::FILE {
                        continue;
                    }
                    let path = entry.path();
                    let removed = if entry.file_type()?.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.with_context(|| format!("cannot remove {}", path.display()))?;
                }
            }
            eprintln!("Resetting local database {}...", dir.display());
        }
        Some(uri) => {
            let target = postgres::Target::parse(uri).map_err(anyhow::Error::msg)?;
            let where_ = format!("{}:{}/{}", target.host, target.port, target.database);
            if !yes {
                bail!(
                    "supalite db reset on PostgreSQL ({where_}) drops every schema of that database \
                     but PostgreSQL's own, with all their data, then applies the migrations and the seed \
                     again: run `supalite db reset --yes` to confirm"
                );
            }
            eprintln!("Resetting database {where_}...");
            let pool = Arc::new(postgres::PgPool::new(target, 1));
            let db = Database::new(Backend::Postgres(pool), None, cfg.search_path());
            db.script(DROP_ALL, None)
                .await
                .map_err(|e| anyhow!("dropping the schemas of {where_} failed: {e}"))?;
        }
    }
    let opened = open::open(cfg).await?;
    opened.close().await;
    eprintln!("Finished supalite db reset.");
    Ok(())
}
