//! Hot swap: on SIGHUP, or when the config file or a component file
//! changes, the pipeline is composed and compiled again beside the running
//! one, instantiated once, and only then put in its place. Requests in
//! flight finish on the pipeline they started on. A file that does not
//! load, compose or instantiate is refused with a log line, and the
//! running pipeline keeps serving.

use crate::compose;
use crate::config::{Config, Overrides};
use crate::server::Current;
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How often the watched files are looked at.
const POLL: Duration = Duration::from_millis(500);

pub struct Reloader {
    /// `--config`, as given on the command line.
    pub config_path: Option<PathBuf>,
    pub overrides: Overrides,
    pub current: Arc<Current>,
}

/// What a file looked like: modified time and length (`None`: absent).
type Stamp = Option<(SystemTime, u64)>;

/// The files whose change reloads the pipeline.
fn watched(cfg: &Config, config_path: &Option<PathBuf>) -> Vec<PathBuf> {
    let mut files = vec![cfg
        .source
        .clone()
        .or_else(|| config_path.clone())
        .unwrap_or_else(|| PathBuf::from("supalite.toml"))];
    files.extend(cfg.components.paths().into_iter().cloned());
    files
}

fn stamps(files: &[PathBuf]) -> Vec<Stamp> {
    files
        .iter()
        .map(|f| {
            let m = std::fs::metadata(f).ok()?;
            Some((m.modified().ok()?, m.len()))
        })
        .collect()
}

/// Settings read once at start: a reload leaves them as they are.
fn needs_restart(old: &Config, new: &Config) -> Vec<&'static str> {
    let mut changed = Vec::new();
    let mut differs = |name, a: String, b: String| {
        if a != b {
            changed.push(name);
        }
    };
    differs("listen", old.listen.to_string(), new.listen.to_string());
    differs(
        "data-dir",
        format!("{:?}", old.data_dir),
        format!("{:?}", new.data_dir),
    );
    differs(
        "db-uri",
        format!("{:?}", old.db_uri),
        format!("{:?}", new.db_uri),
    );
    differs("db-pool", old.db_pool.to_string(), new.db_pool.to_string());
    differs("db-schemas", old.db_schemas.clone(), new.db_schemas.clone());
    differs(
        "migrations",
        format!("{:?}", old.migrations),
        format!("{:?}", new.migrations),
    );
    differs(
        "admin-listen",
        format!("{:?}", old.admin_listen),
        format!("{:?}", new.admin_listen),
    );
    differs(
        "[postgrest]",
        format!("{:?}", old.postgrest),
        format!("{:?}", new.postgrest),
    );
    changed
}

impl Reloader {
    /// Watches and reloads until the process ends.
    pub async fn run(self, mut cfg: Config) {
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut files = watched(&cfg, &self.config_path);
        let mut seen = stamps(&files);
        loop {
            let signalled = async {
                #[cfg(unix)]
                if let Some(h) = hangup.as_mut() {
                    h.recv().await;
                    return;
                }
                std::future::pending::<()>().await
            };
            let why = tokio::select! {
                _ = signalled => "SIGHUP",
                _ = tokio::time::sleep(POLL) => {
                    if stamps(&files) == seen {
                        continue;
                    }
                    // Let a writer finish the file before it is read.
                    tokio::time::sleep(POLL).await;
                    "a watched file changed"
                }
            };
            let started = std::time::Instant::now();
            match self.reload(&cfg).await {
                Ok(next) => {
                    let restart = needs_restart(&cfg, &next);
                    if !restart.is_empty() {
                        tracing::warn!(settings = ?restart, "changed settings take effect after a restart");
                    }
                    tracing::info!(
                        trigger = why,
                        took_ms = started.elapsed().as_millis() as u64,
                        "pipeline reloaded"
                    );
                    cfg = next;
                }
                Err(e) => tracing::error!(
                    trigger = why,
                    "reload refused, the running pipeline keeps serving: {e:#}"
                ),
            }
            files = watched(&cfg, &self.config_path);
            seen = stamps(&files);
        }
    }

    /// Builds, checks and installs the next pipeline; the new config.
    async fn reload(&self, running: &Config) -> Result<Config> {
        let env = |k: &str| std::env::var(k).ok();
        let mut cfg = Config::load(self.config_path.as_deref(), env, &self.overrides)?;
        if cfg.backend != running.backend && running.backend == crate::config::Backend::Adapter {
            // The database was not opened at start.
            anyhow::bail!("switching the backend from the adapter to the bridge needs a restart");
        }
        // What is opened once keeps its start-up values.
        cfg.listen = running.listen;
        let current = self.current.get();
        let next = tokio::task::spawn_blocking(move || -> Result<_> {
            let composed = compose::compose(&cfg)?;
            let next = current.rebuild(&cfg, &composed)?;
            Ok((cfg, next))
        })
        .await
        .context("the reload task failed")?;
        let (cfg, next) = next?;
        next.warm_up()
            .await
            .context("the new pipeline does not instantiate")?;
        self.current.replace(next);
        Ok(cfg)
    }
}
