//! Opens the configured database: PostgreSQL at `db-uri`, or embedded
//! PGlite (the bridge without `db-uri`, a supervised PostgREST without a
//! database of its own, `pglite-listen`), or none (the adapter in front of
//! a real PostgREST); bootstraps it and applies the migrations.

use super::{pglite, postgres, setup, Backend, Database};
use crate::config::{self, Config};
use anyhow::{Context, Result};
use std::sync::Arc;

/// The database the server runs on, and what closing it needs.
pub struct Opened {
    pub db: Option<Database>,
    /// Embedded PGlite's thread, joined once it has closed.
    thread: Option<std::thread::JoinHandle<()>>,
    /// Embedded PGlite's data directory, held while it is open.
    _lock: Option<super::dir_lock::DirLock>,
}

/// A supervised PostgREST without a database of its own uses embedded
/// PGlite through a loopback port.
pub fn postgrest_on_pglite(cfg: &Config) -> bool {
    cfg.postgrest
        .as_ref()
        .is_some_and(|p| p.db_uri.is_none() && cfg.db_uri.is_none())
}

/// A database with the configured session policy on `backend`.
fn database(cfg: &Config, backend: Backend) -> Database {
    Database::new(backend, cfg.db_statement_timeout, cfg.search_path())
        .with_app_settings(cfg.app_settings.clone())
        .with_prepared_statements(cfg.db_prepared_statements)
        .with_anon_role(&cfg.db_anon_role)
}

/// Opens, bootstraps and migrates the database `cfg` asks for.
pub async fn open(cfg: &Config) -> Result<Opened> {
    let pgrst_on_pglite = postgrest_on_pglite(cfg);
    if cfg.backend == config::Backend::Adapter
        && cfg.upstream_fallback
        && cfg.db_uri.is_none()
        && !pgrst_on_pglite
    {
        anyhow::bail!(
            "upstream-fallback serves requests with the bridge on the upstream's database: set db-uri"
        );
    }
    let want_pglite =
        cfg.backend == config::Backend::Bridge || pgrst_on_pglite || cfg.pglite_listen.is_some();
    match (want_pglite, &cfg.db_uri) {
        // In front of a real PostgREST the database is PostgREST's; with
        // db-uri it also serves /auth/v1 (users, sessions).
        (false, None) => Ok(Opened {
            db: None,
            thread: None,
            _lock: None,
        }),
        (_, Some(uri)) => {
            let target = postgres::Target::parse(uri).map_err(anyhow::Error::msg)?;
            let where_ = format!("{}:{}/{}", target.host, target.port, target.database);
            let pool = Arc::new(postgres::PgPool::new(target, cfg.db_pool));
            pool.spawn_listener();
            let db = database(cfg, Backend::Postgres(pool));
            setup::bootstrap(&db)
                .await
                .with_context(|| format!("PostgreSQL at {where_}"))?;
            let applied = setup::migrate(&db, &cfg.migrations).await?;
            tracing::info!(database = %where_, migrations_applied = applied, "PostgreSQL ready");
            Ok(Opened {
                db: Some(db),
                thread: None,
                _lock: None,
            })
        }
        (true, None) => {
            let lock = super::dir_lock::lock(&cfg.data_dir)?;
            let (handle, thread) = pglite::PgliteHandle::open(pglite::Spec {
                dir: cfg.data_dir.clone(),
                settings: vec![(
                    "shared_buffers".into(),
                    cfg.pglite_shared_buffers.trim().to_string(),
                )],
                policy: super::schedule::Policy {
                    anon_slice: cfg.pglite_anon_slice,
                    anon_queue_per_client: cfg.pglite_anon_queue_per_client,
                },
            })?;
            let opened = Opened {
                // The one PGlite session listens, so NOTIFY pgrst in any
                // request's transaction comes back in its answer (see
                // db::pglite).
                db: Some(database(cfg, Backend::Pglite(handle))),
                thread: Some(thread),
                _lock: Some(lock),
            };
            let db = opened.db.as_ref().expect("just opened");
            setup::bootstrap(db).await?;
            let applied = setup::migrate(db, &cfg.migrations).await?;
            tracing::info!(data_dir = %cfg.data_dir.display(), migrations_applied = applied, "embedded PGlite ready");
            Ok(opened)
        }
    }
}

impl Opened {
    /// Embedded PGlite's handle, if that is the database.
    pub fn pglite(&self) -> Option<&pglite::PgliteHandle> {
        match &self.db {
            Some(Database {
                backend: Backend::Pglite(handle),
                ..
            }) => Some(handle),
            _ => None,
        }
    }

    /// Closes embedded PGlite with a checkpoint; bounded, so that a
    /// database stuck in a statement it cannot cancel does not keep the
    /// process alive. (A PostgreSQL pool closes when dropped.)
    pub async fn close(self) {
        let Some(handle) = self.pglite() else {
            return;
        };
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), handle.close()).await;
        match closed {
            Ok(()) => {
                if let Some(t) = self.thread {
                    let _ = tokio::task::spawn_blocking(move || t.join()).await;
                }
            }
            Err(_) => tracing::error!("PGlite did not close within 10 s; exiting without it"),
        }
    }
}
