//! `supalite serve` (and `supalite postgrest`): opens the database, starts
//! what runs beside the API (the schema cache, PGlite's loopback port, a
//! supervised PostgREST, the admin listener, the reloader), serves until
//! SIGTERM or SIGINT, then stops them in order.

use crate::config::{Backend, Config, Overrides};
use crate::{admin, blob_store, compose, db, keys, mail, reload, schema_cache, server, supervisor};
use anyhow::{Context, Result};
use std::path::PathBuf;
use std::sync::Arc;

/// Serves `cfg` on a runtime of its own; threads still blocked after it
/// returns (a database thread that would not close) do not hold the process.
pub fn run(cfg: Config, config_path: Option<PathBuf>, overrides: Overrides) -> Result<()> {
    let rt = runtime()?;
    let result = rt.block_on(serve(cfg, config_path, overrides));
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}

/// The tokio runtime (`SUPALITE_WORKER_THREADS`, default one per core).
fn runtime() -> Result<tokio::runtime::Runtime> {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var(contract::settings::WORKER_THREADS.env)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        b.worker_threads(n);
    }
    Ok(b.enable_all().build()?)
}

/// Embedded PGlite on a loopback PostgreSQL port, when `pglite-listen` is
/// set or a supervised PostgREST needs it: its URL.
async fn loopback(cfg: &Config, opened: &db::open::Opened) -> Result<Option<String>> {
    let Some(handle) = opened.pglite() else {
        return Ok(None);
    };
    if cfg.pglite_listen.is_none() && !db::open::postgrest_on_pglite(cfg) {
        return Ok(None);
    }
    let addr = cfg
        .pglite_listen
        .unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
    let listener = server::listen(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (pglite-listen)"))?;
    let addr = listener.local_addr()?;
    tokio::spawn(db::loopback::serve(listener, handle.clone()));
    let uri = format!("postgres://postgres@{addr}/postgres");
    println!("DB URL: {uri}");
    Ok(Some(uri))
}

async fn serve(cfg: Config, config_path: Option<PathBuf>, overrides: Overrides) -> Result<()> {
    let started = std::time::Instant::now();
    // A Supabase CLI project: what of its config.toml is not used, once.
    if let Some(project) = &cfg.project {
        for line in project.report() {
            eprintln!("{line}");
        }
    }
    let composed = compose::compose(&cfg)?;
    let opened = db::open::open(&cfg).await?;
    let db = opened.db.clone();

    let schema = match &db {
        Some(db) => Some(
            schema_cache::SchemaCache::load(db.clone(), &cfg.db_schemas)
                .await
                .map_err(|e| anyhow::anyhow!("loading the schema cache failed: {e}"))?,
        ),
        None => None,
    };
    if let Some(cache) = schema.clone() {
        tokio::spawn(reload_on_sigusr1(cache));
    }
    let upstreams = server::upstream::Upstreams::new(server::upstream::BreakerConfig {
        failures: cfg.upstream_breaker_failures,
        cooldown: std::time::Duration::from_millis(cfg.upstream_breaker_cooldown_ms),
    });
    let loopback_uri = loopback(&cfg, &opened).await?;
    let supervisor = match cfg.postgrest.clone() {
        Some(pg) => {
            let uri = pg
                .db_uri
                .clone()
                .or_else(|| cfg.db_uri.clone())
                .or_else(|| loopback_uri.clone())
                .context("[postgrest] needs a database")?;
            Some(supervisor::Supervisor::start(pg, &cfg, &uri).await?)
        }
        None => None,
    };
    if let Some(s3) = &cfg.storage_s3 {
        // A local S3 server starts empty: the bucket is made once, here.
        let store = blob_store::S3Store::new(s3).map_err(anyhow::Error::msg)?;
        store.ensure_bucket().await.map_err(|e| {
            anyhow::anyhow!("storage-s3-bucket {:?} is not usable: {e:?}", s3.bucket)
        })?;
    }
    let current = server::Current::new(server::Pipeline::new(
        &cfg,
        &composed,
        db.clone(),
        schema,
        upstreams.clone(),
    )?);
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let admin_task = match cfg.admin_listen {
        Some(addr) => {
            let listener = server::listen(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (admin-listen)"))?;
            println!("Admin URL: http://{}", listener.local_addr()?);
            let admin = admin::Admin {
                upstreams: upstreams.clone(),
                db: db.clone(),
                started,
            };
            let stopped = async move {
                let _ = stop_rx.wait_for(|s| *s).await;
            };
            Some(tokio::spawn(admin::serve(listener, admin, stopped)))
        }
        None => None,
    };
    // --- the mail catcher (auth e-mail, issue 26) ---
    let catcher_port = cfg
        .values
        .text(&contract::settings::MAIL_CATCHER_PORT)
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    if catcher_port != 0 {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], catcher_port));
        match server::listen(addr).await {
            Ok(l) => {
                println!("Mail catcher URL: http://{}", l.local_addr()?);
                let mut stop = stop_tx.subscribe();
                tokio::spawn(mail::serve(l, async move {
                    let _ = stop.wait_for(|s| *s).await;
                }));
            }
            // Another server (another supalite, the CLI's Mailpit) has the
            // port: the API serves on, the caught e-mails just go unseen.
            Err(e) => tracing::warn!(%addr, error = %e, "the mail catcher cannot listen (mail-catcher-port); e-mails are still kept, unseen"),
        }
    }
    // --- end mail catcher ---
    let listener = server::listen(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    // The functions' `SUPABASE_URL` and own origin.
    crate::functions::set_listen_addr(addr);
    let keys = keys::api_keys(&cfg.jwt_secret, cfg.jwt_secret_is_base64).ok();
    // Signals are taken over before the server says it is ready.
    let stop = shutdown_signal()?;
    let reloader = reload::Reloader {
        config_path,
        overrides,
        current: current.clone(),
    }
    .run(cfg.clone());
    let backend = match cfg.backend {
        Backend::Bridge if cfg.db_uri.is_some() => "bridge (PostgreSQL)".to_string(),
        Backend::Bridge => "bridge (embedded PGlite)".to_string(),
        Backend::Adapter => format!("adapter -> {}", cfg.upstream_url.as_deref().unwrap_or("")),
    };
    tracing::info!(backend = %backend, edge = current.get().edge(), startup_ms = started.elapsed().as_millis() as u64, "supalite ready");
    println!("API URL: http://{addr}");
    for (prefix, target) in &cfg.routes {
        if target == "rest" {
            println!("REST URL: http://{addr}{}", prefix.trim_end_matches('/'));
        }
    }
    if let Some((anon, service)) = keys {
        println!("anon key: {anon}");
        println!("service_role key: {service}");
        let text = |s: &contract::settings::Setting| cfg.values.text(s).filter(|k| !k.is_empty());
        if let Some(k) = text(&contract::settings::PUBLISHABLE_KEY) {
            println!("publishable key: {k}");
        }
        if let Some(k) = text(&contract::settings::SECRET_KEY) {
            println!("secret key: {k}");
        }
    }

    let limits = server::Limits {
        header_timeout: cfg.server_header_timeout,
        max_connections: cfg.server_max_connections,
        shutdown_timeout: cfg.shutdown_timeout,
        max_connections_per_client: cfg.server_max_connections_per_client,
        proxies: Arc::new(server::proxies(&cfg)?),
    };
    let reloader = tokio::spawn(reloader);
    server::serve(listener, current, limits, stop).await?;
    reloader.abort();
    tracing::info!("shutting down");
    let _ = stop_tx.send(true);
    if let Some(t) = admin_task {
        let _ = t.await;
    }
    if let Some(s) = supervisor {
        s.stop().await;
    }
    drop(db);
    opened.close().await;
    Ok(())
}

/// PostgREST reloads its schema cache on SIGUSR1; so does supalite (the
/// handler is installed before start-up ends: SIGUSR1's default action
/// would end the process).
fn reload_on_sigusr1(
    cache: Arc<schema_cache::SchemaCache>,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let usr1 = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1()).ok();
    async move {
        #[cfg(unix)]
        if let Some(mut usr1) = usr1 {
            while usr1.recv().await.is_some() {
                if let Err(e) = cache.reload().await {
                    tracing::error!("schema cache reload failed: {e}");
                }
            }
        }
        #[cfg(not(unix))]
        let _ = cache;
    }
}

/// SIGTERM or SIGINT, registered now (before `serve` says it is ready, so a
/// stop sent right after "API URL" is never the default action's kill).
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("SIGINT handler")?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}
