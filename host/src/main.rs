//! `supalite`: a Supabase-compatible data API built from swappable WASI
//! components, on embedded PGlite.

mod admin;
mod app;
mod blob_store;
mod check;
// A Supabase CLI project: `supabase/config.toml` (issue 30).
mod cli_project;
mod compose;
mod config;
mod db;
mod dotenv;
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod frames;
// Edge functions (`/functions/v1`): the user's wasi:http components.
mod functions;
// `supalite gen types typescript`.
mod gen_types;
mod keys;
mod mail;
mod realtime;
mod smtp;
// `supalite status`, as `supabase status`.
mod status;
mod reload;
mod schema_cache;
mod server;
mod supervisor;

use anyhow::Result;
use clap::{Parser, Subcommand};
use config::{Config, Overrides};
use std::path::PathBuf;

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
    /// Generate code from the database schema (`gen types typescript`).
    Gen {
        #[command(subcommand)]
        what: GenCommand,
    },
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
    /// The URLs and keys of the running server, as `supabase status`.
    Status {
        /// Output format: pretty, env or json.
        #[arg(short, long, value_enum, default_value = "pretty")]
        output: status::Format,
    },
    /// Database commands.
    #[command(subcommand)]
    Db(DbCommand),
    /// Serve PostgREST's API at `/` from a PostgREST config file
    /// (`db-uri`, `db-schemas`, `db-anon-role`, `jwt-secret`, `server-port`,
    /// `admin-server-port`, ...): a stand-in with PostgREST's command line.
    Postgrest {
        /// PostgREST's config file.
        config_file: PathBuf,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// Drop the data, then apply the migrations and the seed again (embedded
    /// PGlite: refused while a server serves the data directory; PostgreSQL:
    /// every schema but PostgreSQL's own is dropped, only with `--yes`).
    Reset {
        /// Confirm the reset of a PostgreSQL database (`db-uri`).
        #[arg(long)]
        yes: bool,
        #[arg(long, value_name = "DIR", help = flag_help(&contract::settings::DATA_DIR))]
        data_dir: Option<PathBuf>,
        #[arg(long, value_name = "DIR", help = flag_help(&contract::settings::MIGRATIONS))]
        migrations: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum GenCommand {
    /// Print the TypeScript types of the configured database's schemas,
    /// as `supabase gen types typescript --local` does (postgres-meta's
    /// generator), after the migrations are applied.
    Types {
        /// The language: `typescript` (the only one).
        #[arg(default_value = "typescript")]
        lang: String,
        /// Schemas to include, comma-separated or repeated (default `public`
        /// and the API's schemas, `db-schemas`, as the CLI).
        #[arg(long = "schema", short = 's', value_name = "SCHEMA")]
        schema: Vec<String>,
        /// `__InternalSupabase.PostgrestVersion` in the output; an empty
        /// value leaves the block out (as `supabase gen types --local`).
        #[arg(long, value_name = "VERSION", default_value = gen_types::POSTGREST_VERSION)]
        postgrest_version: String,
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
    if !matches!(cli.command, Command::Serve { .. } | Command::Postgrest { .. } | Command::Db(_)) {
        // A command that prints (`keys`, `settings`, …) piped into `head`
        // ends quietly when the pipe closes, as Unix tools do, instead of
        // panicking in `println!`. The servers keep SIGPIPE ignored.
        // SAFETY: restoring a signal's default disposition, before any
        // thread is started.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
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
            app::run(cfg, cli.config.clone(), overrides)
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
            app::run(cfg, Some(config_file), overrides)
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
        Command::Status { output } => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            status::run(&cfg, output)
        }
        Command::Db(DbCommand::Reset {
            yes,
            data_dir,
            migrations,
        }) => {
            let overrides = Overrides {
                data_dir,
                migrations,
                ..Overrides::default()
            };
            let cfg = Config::load(cli.config.as_deref(), env, &overrides)?;
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let result = rt.block_on(db::reset::run(&cfg, yes));
            rt.shutdown_timeout(std::time::Duration::from_secs(1));
            result
        }
        Command::Gen {
            what:
                GenCommand::Types {
                    lang,
                    schema,
                    postgrest_version,
                },
        } => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            let req = gen_types::Request {
                lang,
                schemas: gen_types::schemas(&schema, &cfg.db_schemas)?,
                postgrest_version: Some(postgrest_version).filter(|v| !v.is_empty()),
            };
            gen_types::run(cfg, req)
        }
        Command::Keys => {
            let cfg = Config::load(cli.config.as_deref(), env, &Overrides::default())?;
            let (anon, service) = keys::api_keys(&cfg.jwt_secret, cfg.jwt_secret_is_base64)?;
            println!("anon key: {anon}\nservice_role key: {service}");
            let text = |s: &contract::settings::Setting| cfg.values.text(s).unwrap_or_default();
            println!(
                "publishable key: {}\nsecret key: {}",
                text(&contract::settings::PUBLISHABLE_KEY),
                text(&contract::settings::SECRET_KEY)
            );
            Ok(())
        }
    }
}
