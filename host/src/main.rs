//! `supalite`: a Supabase-compatible data API built from swappable WASI
//! components, on embedded PGlite.

mod admin;
mod check;
mod compose;
mod config;
mod db;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod frames;
mod keys;
mod reload;
mod schema_cache;
mod server;
mod supervisor;
mod upstream;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use config::{Backend, Config, Overrides};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "supalite",
    version,
    about = "Supabase-compatible data API from swappable WASI components"
)]
struct Cli {
    /// Config file (default: ./supalite.toml if present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (embedded PGlite unless the backend is the adapter).
    Serve {
        #[arg(long, value_name = "ADDR", help = flag_help(&contract::settings::LISTEN))]
        listen: Option<String>,
        #[arg(long, value_name = "DIR", help = flag_help(&contract::settings::DATA_DIR))]
        data_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR", help = flag_help(&contract::settings::MIGRATIONS))]
        migrations: Option<PathBuf>,
    },
    /// Write the composed pipeline component selected by the config.
    Compose {
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// Who provides `sql`: `native` (the supalite host) or `pgwire`
        /// (composed in; the file then imports only WASI and runs on stock
        /// `wasmtime serve`).
        #[arg(long, value_enum, default_value = "native")]
        sql: compose::SqlProvider,
    },
    /// Print the anon and service_role API keys for the configured JWT secret.
    Keys,
    /// List every setting: its `supalite.toml` key, its environment
    /// variable, its value in the current configuration (secrets hidden)
    /// and where that came from (file, environment, default, derived).
    Settings {
        /// The README's table of every setting (key, variable, default, meaning).
        #[arg(long, conflicts_with = "json")]
        markdown: bool,
        /// The settings table as JSON (what the JS hosts are built with).
        #[arg(long)]
        json: bool,
    },
    /// Check whether a component file can take a role: its exports against
    /// the role's world, its imports against what the role is granted, and
    /// a smoke test of a server with it in the role. Exits 1 when it fails.
    Check {
        /// gateway, rewriter, auth, bridge, adapter, pgwire or standalone.
        role: String,
        /// The component file (.wasm).
        file: PathBuf,
        /// Only the static checks.
        #[arg(long)]
        no_smoke: bool,
    },
    /// Serve PostgREST's API at `/` from a PostgREST config file
    /// (`db-uri`, `db-schemas`, `db-anon-role`, `jwt-secret`, `server-port`,
    /// `admin-server-port`, ...): a stand-in with PostgREST's command line.
    Postgrest {
        /// PostgREST's config file.
        config_file: PathBuf,
    },
}

/// A flag's help: its setting's meaning, variable and default (the
/// settings table's row).
fn flag_help(s: &contract::settings::Setting) -> String {
    let about = s.about.split(" (`--").next().unwrap_or(s.about);
    let default = s.default_text().unwrap_or("unset");
    format!("{about}; also `{}` / {} (default {default})", s.key(), s.env)
}

/// Many small short-lived allocations per request (HTTP, canonical ABI
/// copies, protocol buffers) on two worker threads: mimalloc's per-thread
/// free lists cost less than glibc malloc's arenas here.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> Result<()> {
    // wasmtime captures a backtrace whenever a store is dropped; with PGlite's
    // large module loaded that costs ~1 ms per request. Panics still print
    // backtraces (RUST_BACKTRACE is left alone).
    std::env::set_var("RUST_LIB_BACKTRACE", "0");
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env(contract::settings::LOG.env)
                .unwrap_or_else(|_| contract::defaults::LOG.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let env = |k: &str| std::env::var(k).ok();
    match cli.command {
        Command::Serve {
            listen,
            data_dir,
            migrations,
        } => {
            let overrides = Overrides {
                listen,
                data_dir,
                migrations,
                postgrest_mode: false,
            };
            let cfg = Config::load(cli.config.as_deref(), env, &overrides)?;
            run(serve(cfg, cli.config.clone(), overrides))
        }
        Command::Compose { output, sql } => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            compose::write(&cfg, &output, sql)?;
            eprintln!("wrote {}", output.display());
            if sql == compose::SqlProvider::Pgwire {
                eprintln!(
                    "serve it with any wasi:http host, e.g.:\n{}",
                    cfg.wasmtime_serve_command(&output)
                );
            }
            Ok(())
        }
        Command::Postgrest { config_file } => {
            let overrides = Overrides {
                postgrest_mode: true,
                ..Overrides::default()
            };
            let cfg = Config::load(Some(&config_file), env, &overrides)?;
            run(serve(cfg, Some(config_file), overrides))
        }
        Command::Check {
            role,
            file,
            no_smoke,
        } => {
            let config_file = cli.config.clone().or_else(|| {
                let p = PathBuf::from("supalite.toml");
                p.exists().then_some(p)
            });
            let cfg = Config::load(config_file.as_deref(), env, &Overrides::default())?;
            if !check::run(config_file.as_deref(), &cfg.grants, &role, &file, !no_smoke)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Settings { markdown: true, .. } => {
            print!("{}", contract::settings::markdown_table());
            Ok(())
        }
        Command::Settings { json: true, .. } => {
            println!("{:#}", contract::settings::json_table());
            Ok(())
        }
        Command::Settings { .. } => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if let Some(p) = &cfg.source {
                let _ = writeln!(out, "# {}", p.display());
            }
            for (setting, value, origin) in cfg.describe() {
                let key = if setting.file { setting.key() } else { "-".into() };
                let value = value.unwrap_or_else(|| "-".into());
                // A closed pipe (`| head`) ends the listing, not the process.
                if writeln!(out, "{key:<36} {:<46} {value}  ({origin})", setting.env).is_err() {
                    break;
                }
            }
            Ok(())
        }
        Command::Keys => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            let (anon, service) = keys::api_keys(&cfg.jwt_secret, cfg.jwt_secret_is_base64)?;
            println!("anon key: {anon}\nservice_role key: {service}");
            Ok(())
        }
    }
}

/// Runs `main` on the runtime; threads still blocked after it returns (a
/// database thread that would not close) do not hold the process.
fn run(main: impl std::future::Future<Output = Result<()>>) -> Result<()> {
    let rt = runtime()?;
    let result = rt.block_on(main);
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

async fn serve(cfg: Config, config_path: Option<PathBuf>, overrides: Overrides) -> Result<()> {
    let started = std::time::Instant::now();
    let composed = compose::compose(&cfg)?;

    // A supervised PostgREST without a database of its own uses embedded
    // PGlite through a loopback port.
    let pgrst_on_pglite = cfg
        .postgrest
        .as_ref()
        .is_some_and(|p| p.db_uri.is_none() && cfg.db_uri.is_none());
    if cfg.backend == Backend::Adapter
        && cfg.upstream_fallback
        && cfg.db_uri.is_none()
        && !pgrst_on_pglite
    {
        anyhow::bail!(
            "upstream-fallback serves requests with the bridge on the upstream's database: set db-uri"
        );
    }
    let want_pglite =
        cfg.backend == Backend::Bridge || pgrst_on_pglite || cfg.pglite_listen.is_some();
    let mut db_thread = None;
    let db = match (want_pglite, &cfg.db_uri) {
        // In front of a real PostgREST the database is PostgREST's; with
        // db-uri it also serves /auth/v1 (users, sessions).
        (false, None) => None,
        (_, Some(uri)) => {
            let target = db::postgres::Target::parse(uri).map_err(anyhow::Error::msg)?;
            let where_ = format!("{}:{}/{}", target.host, target.port, target.database);
            let pool = Arc::new(db::postgres::PgPool::new(target, cfg.db_pool));
            pool.spawn_listener();
            let db = db::Database::new(
                db::Backend::Postgres(pool),
                cfg.db_statement_timeout,
                cfg.search_path(),
            )
            .with_app_settings(cfg.app_settings.clone())
            .with_prepared_statements(cfg.db_prepared_statements);
            db::setup::bootstrap(&db)
                .await
                .with_context(|| format!("PostgreSQL at {where_}"))?;
            let applied = db::setup::migrate(&db, &cfg.migrations).await?;
            tracing::info!(database = %where_, migrations_applied = applied, "PostgreSQL ready");
            Some(db)
        }
        (true, None) => {
            let (handle, thread) = db::pglite::PgliteHandle::open(db::pglite::Spec {
                dir: cfg.data_dir.clone(),
                settings: vec![(
                    "shared_buffers".into(),
                    cfg.pglite_shared_buffers.trim().to_string(),
                )],
            })?;
            db_thread = Some(thread);
            // The one PGlite session listens, so NOTIFY pgrst in any request's
            // transaction comes back in its answer (see db::pglite).
            let db = db::Database::new(
                db::Backend::Pglite(handle),
                cfg.db_statement_timeout,
                cfg.search_path(),
            )
            .with_app_settings(cfg.app_settings.clone())
            .with_prepared_statements(cfg.db_prepared_statements);
            db::setup::bootstrap(&db).await?;
            let applied = db::setup::migrate(&db, &cfg.migrations).await?;
            tracing::info!(data_dir = %cfg.data_dir.display(), migrations_applied = applied, "embedded PGlite ready");
            Some(db)
        }
    };

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
    let upstreams = upstream::Upstreams::new(upstream::BreakerConfig {
        failures: cfg.upstream_breaker_failures,
        cooldown: std::time::Duration::from_millis(cfg.upstream_breaker_cooldown_ms),
    });
    let loopback_uri = match (&db, cfg.pglite_listen, pgrst_on_pglite) {
        (
            Some(db::Database {
                backend: db::Backend::Pglite(handle),
                ..
            }),
            listen,
            needed,
        ) if listen.is_some() || needed => {
            let addr = listen.unwrap_or_else(|| ([127, 0, 0, 1], 0).into());
            let listener = server::listen(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (pglite-listen)"))?;
            let addr = listener.local_addr()?;
            tokio::spawn(db::loopback::serve(listener, handle.clone()));
            let uri = format!("postgres://postgres@{addr}/postgres");
            println!("DB URL: {uri}");
            Some(uri)
        }
        _ => None,
    };
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
    let listener = server::listen(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let addr = listener.local_addr()?;
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
    }

    let limits = server::Limits {
        header_timeout: cfg.server_header_timeout,
        max_connections: cfg.server_max_connections,
        shutdown_timeout: cfg.shutdown_timeout,
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
    if let Some(db::Database {
        backend: db::Backend::Pglite(handle),
        ..
    }) = &db
    {
        // A checkpoint; bounded, so that a database stuck in a statement
        // it cannot cancel does not keep the process alive.
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), handle.close()).await;
        match closed {
            Ok(()) => {
                if let Some(t) = db_thread {
                    let _ = tokio::task::spawn_blocking(move || t.join()).await;
                }
            }
            Err(_) => tracing::error!("PGlite did not close within 10 s; exiting without it"),
        }
    }
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
