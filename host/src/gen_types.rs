//! `supalite gen types typescript [--schema a,b]`: the TypeScript types
//! `supabase gen types typescript --local` prints (postgres-meta's
//! generator, `components/typegen`), for the configured database —
//! embedded PGlite's data directory or PostgreSQL at `db-uri` — once the
//! migrations are applied, as `supalite serve` opens it.

use crate::config::Config;
use crate::db;
use anyhow::{bail, Context, Result};

/// The PostgREST version supalite's REST API follows, for
/// `__InternalSupabase` (postgrest-js picks its features by it).
pub const POSTGREST_VERSION: &str = "13.0.8";

/// What `gen types` was asked for.
pub struct Request {
    pub lang: String,
    pub schemas: Vec<String>,
    /// `None`: no `__InternalSupabase` (as `supabase gen types --local`).
    pub postgrest_version: Option<String>,
}

/// The schemas: `--schema` lists (comma-separated or repeated), else
/// `public` (the CLI's default); blanks and repeats dropped.
pub fn schemas(given: &[String], exposed: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in given.iter().flat_map(|g| g.split(',')) {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        if !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
    if out.is_empty() {
        if !given.is_empty() {
            bail!("--schema names no schema");
        }
        // As the CLI: `public`, then the API's schemas (`db-schemas`,
        // config.toml's `[api] schemas`).
        out.push("public".into());
        for s in exposed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !out.iter().any(|o| o == s) {
                out.push(s.to_string());
            }
        }
    }
    Ok(out)
}

/// Runs the catalog queries on `db` and prints the types.
pub async fn generate(db: &db::Database, req: &Request) -> Result<String> {
    let schemas_json = serde_json::to_string(&req.schemas)?;
    let mut catalog = typegen::Catalog::default();
    // postgres-meta's connection: the default search path, so names print
    // as they would there (`pg_get_function_arguments`).
    let settings = [("search_path", "\"$user\", public")];
    for (name, sql) in typegen::queries() {
        let params = if sql.contains("$1") {
            vec![Some(schemas_json.clone())]
        } else {
            vec![]
        };
        let answer = db
            .query_with(sql, params, &settings)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))
            .with_context(|| format!("reading the catalog ({name})"))?;
        let json = answer
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .unwrap_or("[]");
        catalog.set(name, json).map_err(anyhow::Error::msg)?;
    }
    let missing: Vec<&String> = req
        .schemas
        .iter()
        .filter(|s| !catalog.schemas.iter().any(|c| &c.name == *s))
        .collect();
    if !missing.is_empty() {
        // postgres-meta leaves them out silently; say so on stderr.
        for s in missing {
            eprintln!("warning: schema `{s}` does not exist (or is not visible): left out");
        }
    }
    let opts = typegen::Options {
        detect_one_to_one: true,
        postgrest_version: req.postgrest_version.clone(),
    };
    Ok(typegen::generate(&catalog, &opts))
}

/// `supalite gen types`: opens the database as `serve` does, prints.
pub fn run(cfg: Config, req: Request) -> Result<()> {
    if req.lang != "typescript" {
        bail!(
            "gen types: unsupported language `{}` (supalite generates `typescript`)",
            req.lang
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let out = rt.block_on(async {
        let opened = db::open::open(&cfg).await?;
        let result = match &opened.db {
            Some(db) => generate(db, &req).await,
            None => Err(anyhow::anyhow!(
                "gen types reads the database, and this configuration has none of its own \
                 (the adapter in front of PostgREST): set db-uri"
            )),
        };
        opened.close().await;
        result
    })?;
    // postgres-meta prints it with console.log: one more newline.
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{out}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_default_to_public_and_split_on_commas() {
        assert_eq!(schemas(&[], "public").unwrap(), ["public"]);
        assert_eq!(schemas(&[], "api, public,graphql_public").unwrap(), ["public", "api", "graphql_public"]);
        assert_eq!(
            schemas(&["a,b".into(), "c".into(), "a".into()], "api").unwrap(),
            ["a", "b", "c"]
        );
        assert!(schemas(&[",".into()], "public").is_err());
    }
}
