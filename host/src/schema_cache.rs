//! The schema cache the bridge plans with: one catalog query
//! (`postgrest::schema::CATALOG_SQL`), kept as JSON text with a version,
//! reloaded after migrations, on SIGUSR1 and on `NOTIFY pgrst, 'reload schema'`.

use crate::db::{Database, DbError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

pub struct SchemaCache {
    db: Database,
    schemas: Vec<String>,
    version: AtomicU64,
    json: RwLock<Arc<String>>,
}

impl SchemaCache {
    pub async fn load(db: Database, schemas: &str) -> Result<Arc<SchemaCache>, DbError> {
        let cache = Arc::new(SchemaCache {
            db,
            schemas: schemas
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
            version: AtomicU64::new(0),
            json: RwLock::new(Arc::new(String::new())),
        });
        cache.reload().await?;
        let signal = cache.db.reload_signal();
        let weak = Arc::downgrade(&cache);
        tokio::spawn(async move {
            loop {
                signal.notified().await;
                let Some(cache) = weak.upgrade() else { return };
                if let Err(e) = cache.reload().await {
                    tracing::error!("schema cache reload failed: {e}");
                }
            }
        });
        Ok(cache)
    }

    /// Reads the catalog again (and the roles' settings, which PostgREST
    /// also keeps in its schema cache).
    pub async fn reload(&self) -> Result<(), DbError> {
        let started = std::time::Instant::now();
        self.db.reload_role_settings().await?;
        let list = postgrest::schema::catalog_param(self.schemas.iter().map(String::as_str));
        let set = self
            .db
            .query_with(
                contract::sql::CATALOG_SQL,
                vec![Some(list)],
                contract::sql::CATALOG_SETTINGS,
            )
            .await?;
        let json = set
            .rows
            .first()
            .and_then(|r| r.first().cloned().flatten())
            .unwrap_or_else(|| "{}".into());
        let summary = postgrest::schema::SchemaCache::parse(&json)
            .map(|c| {
                format!(
                    "{} relations, {} relationships, {} functions",
                    c.tables.len(),
                    c.rels.values().map(Vec::len).sum::<usize>(),
                    c.functions.len()
                )
            })
            .unwrap_or_else(|e| format!("unreadable: {e}"));
        *self.json.write().unwrap() = Arc::new(json);
        self.db.forget_prepared();
        let v = self.version.fetch_add(1, Ordering::SeqCst) + 1;
        tracing::info!(
            version = v,
            took_ms = started.elapsed().as_millis() as u64,
            "schema cache loaded: {summary}"
        );
        Ok(())
    }

    pub fn snapshot(&self) -> (u64, Arc<String>) {
        (
            self.version.load(Ordering::SeqCst),
            self.json.read().unwrap().clone(),
        )
    }
}
