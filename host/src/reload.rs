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
    // A Supabase CLI project's config.toml (`crate::cli_project`).
    if let Some(project) = &cfg.project {
        files.push(project.config_path.clone());
    }
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

/// Settings opened once at start (the listener, the database and its
/// session settings, the HTTP server's limits, the engine): a reload keeps
/// their running values in `next` and names the ones the file changed.
fn keep_start_values(next: &mut Config, running: &Config) -> Vec<String> {
    use contract::settings as s;
    let mut changed = Vec::new();
    macro_rules! keep {
        ($($field:ident => $setting:expr),* $(,)?) => {$(
            if format!("{:?}", next.$field) != format!("{:?}", running.$field) {
                changed.push($setting.key());
                next.$field = running.$field.clone();
            }
            // What the components are told follows what was kept.
            next.values.keep(&$setting, &running.values);
        )*};
    }
    keep!(
        listen => s::LISTEN,
        admin_listen => s::ADMIN_LISTEN,
        data_dir => s::DATA_DIR,
        migrations => s::MIGRATIONS,
        db_uri => s::DB_URI,
        db_pool => s::DB_POOL,
        db_schemas => s::DB_SCHEMAS,
        db_extra_search_path => s::DB_EXTRA_SEARCH_PATH,
        db_statement_timeout => s::DB_STATEMENT_TIMEOUT,
        db_prepared_statements => s::DB_PREPARED_STATEMENTS,
        app_settings => s::APP_SETTINGS,
        pglite_listen => s::PGLITE_LISTEN,
        pglite_shared_buffers => s::PGLITE_SHARED_BUFFERS,
        upstream_breaker_failures => s::UPSTREAM_BREAKER_FAILURES,
        upstream_breaker_cooldown_ms => s::UPSTREAM_BREAKER_COOLDOWN_MS,
        server_header_timeout => s::SERVER_HEADER_TIMEOUT_MS,
        server_max_connections => s::SERVER_MAX_CONNECTIONS,
        shutdown_timeout => s::SHUTDOWN_TIMEOUT_MS,
        component_memory_mb => s::COMPONENT_MEMORY_MB,
    );
    if format!("{:?}", next.postgrest) != format!("{:?}", running.postgrest) {
        changed.push("[postgrest]".into());
        next.postgrest = running.postgrest.clone();
    }
    changed
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

impl Reloader {
    /// Watches and reloads until the process ends. SIGHUP is taken over
    /// now, not when the task first runs: a SIGHUP right after start-up must
    /// not be its default action (ending the process).
    pub fn run(self, cfg: Config) -> impl std::future::Future<Output = ()> {
        #[cfg(unix)]
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        #[cfg(not(unix))]
        let hangup = None;
        self.watch(cfg, hangup)
    }

    #[cfg_attr(not(unix), allow(unused_mut))]
    async fn watch(self, mut cfg: Config, mut hangup: Hangup) {
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
                Ok((next, restart)) => {
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

    /// Builds, checks and installs the next pipeline; the new config and
    /// the changed settings that wait for a restart.
    async fn reload(&self, running: &Config) -> Result<(Config, Vec<String>)> {
        let env = |k: &str| std::env::var(k).ok();
        let mut cfg = Config::load(self.config_path.as_deref(), env, &self.overrides)?;
        if cfg.backend != running.backend && running.backend == crate::config::Backend::Adapter {
            // The database was not opened at start.
            anyhow::bail!("switching the backend from the adapter to the bridge needs a restart");
        }
        let restart = keep_start_values(&mut cfg, running);
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
        Ok((cfg, restart))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(env: &[(&str, &str)]) -> Config {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::load(
            Some(Path::new("/dev/null")),
            |k| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()),
            &Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn a_reload_keeps_what_was_opened_at_start() {
        let running = config(&[("SUPALITE_DB_SCHEMAS", "api")]);
        let mut next = config(&[
            ("SUPALITE_DB_SCHEMAS", "api,other"),
            ("SUPALITE_LISTEN", "127.0.0.1:1"),
            ("SUPALITE_CORS_ORIGINS", "https://app.example"),
        ]);
        let changed = keep_start_values(&mut next, &running);
        assert_eq!(changed, ["listen", "db-schemas"]);
        assert_eq!(next.db_schemas, "api");
        assert_eq!(next.listen, running.listen);
        // What the pipeline reads is taken from the file, what was kept
        // is what its components are told.
        let env = next.component_env();
        assert!(env.contains(&("SUPALITE_CORS_ORIGINS".into(), "https://app.example".into())));
        assert!(env.contains(&("SUPALITE_DB_SCHEMAS".into(), "api".into())));
    }
}
