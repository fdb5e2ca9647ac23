//! The seed, as `supabase start` applies it: after the migrations, on a new
//! database only, the files of `[db.seed] sql_paths` (default
//! `supabase/seed.sql`) in order, each in one transaction with its row in
//! `supabase_migrations.seed_files` (the CLI's table: path, hash), and the
//! `[storage.buckets.*]` of `config.toml` created.
//!
//! "New" is decided before the bootstrap (no
//! `supabase_migrations.schema_migrations` yet); the seed table is created
//! then, and a row with an empty path records that the whole seed was
//! applied. A failing seed file stops start-up with its statement's error;
//! the next start tries again (the row is missing), so fixing the file is
//! enough.
//!
//! Seeds written for Supabase call pgcrypto's `crypt('pw', gen_salt('bf'))`
//! for `auth.users.encrypted_password`. PostgreSQL gets pgcrypto in schema
//! `extensions`, as on Supabase, and `extensions` on the seed's
//! `search_path`. Embedded PGlite (pglite-oxide) ships no pgcrypto: for the
//! seed's transaction only, `extensions.gen_salt('bf'[, rounds])` and
//! `extensions.crypt(password, bcrypt salt)` are defined in SQL; `crypt`
//! returns a placeholder holding the salt and the password, and right after
//! the seed the host replaces every placeholder in `auth.users` with the
//! real bcrypt hash of that password and salt (what pgcrypto would have
//! stored), so the users sign in with their passwords.

use super::{Database, Statement};
use crate::cli_project::Project;
use anyhow::{anyhow, bail, Context, Result};
use sha2::Digest;

/// Placeholder prefix `crypt()` returns on PGlite during the seed.
const PENDING: &str = "$supalite-bcrypt$";

/// Whether the database is new: nothing supalite made is there yet (asked
/// before the bootstrap).
pub async fn is_new(db: &Database) -> Result<bool> {
    let rs = db
        .query(
            "SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'supabase_migrations' AND c.relname = 'schema_migrations')",
            vec![],
        )
        .await
        .map_err(|e| anyhow!("checking whether the database is new: {e}"))?;
    Ok(rs
        .rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .flatten()
        .as_deref()
        == Some("t"))
}

/// The seed table, created on a new database (after the bootstrap): the seed
/// is then pending until it has been applied whole.
pub async fn mark_new(db: &Database) -> Result<()> {
    db.script(
        "CREATE TABLE IF NOT EXISTS supabase_migrations.seed_files (path text NOT NULL PRIMARY KEY, hash text NOT NULL)",
        None,
    )
    .await
    .map_err(|e| anyhow!("creating supabase_migrations.seed_files: {e}"))
}

/// Whether a seed is due: the seed table exists and the seed has not been
/// applied whole.
async fn pending(db: &Database) -> Result<bool> {
    let rs = db
        .query(
            "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'supabase_migrations' AND c.relname = 'seed_files')",
            vec![],
        )
        .await
        .map_err(|e| anyhow!("reading supabase_migrations.seed_files: {e}"))?;
    if rs
        .rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .flatten()
        .as_deref()
        != Some("t")
    {
        return Ok(false);
    }
    let rs = db
        .query(
            "SELECT 1 FROM supabase_migrations.seed_files WHERE path = ''",
            vec![],
        )
        .await
        .map_err(|e| anyhow!("reading supabase_migrations.seed_files: {e}"))?;
    Ok(rs.rows.is_empty())
}

/// SQL run before a seed file, in its transaction.
fn prelude(pglite: bool) -> &'static str {
    if pglite {
        PGLITE_PRELUDE
    } else {
        POSTGRES_PRELUDE
    }
}

const POSTGRES_PRELUDE: &str = r#"CREATE SCHEMA IF NOT EXISTS extensions;
DO $seed$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pgcrypto') THEN
    CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;
  END IF;
END $seed$;
SET LOCAL search_path TO "$user", public, extensions;
"#;

const PGLITE_PRELUDE: &str = r#"CREATE SCHEMA IF NOT EXISTS extensions;
CREATE FUNCTION extensions.gen_salt(type text, rounds integer) RETURNS text LANGUAGE plpgsql VOLATILE AS $seed$
DECLARE
  a text := './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  s text := '';
BEGIN
  IF lower(type) <> 'bf' THEN
    RAISE EXCEPTION 'gen_salt(%): on embedded PGlite (no pgcrypto) supalite''s seed makes bcrypt salts only: gen_salt(''bf'')', type;
  END IF;
  IF rounds < 4 OR rounds > 31 THEN
    RAISE EXCEPTION 'gen_salt: incorrect number of rounds';
  END IF;
  FOR i IN 1..22 LOOP
    s := s || substr(a, 1 + floor(random() * 64)::int, 1);
  END LOOP;
  RETURN '$2a$' || lpad(rounds::text, 2, '0') || '$' || s;
END $seed$;
CREATE FUNCTION extensions.gen_salt(type text) RETURNS text LANGUAGE sql VOLATILE AS $seed$ SELECT extensions.gen_salt(type, 6) $seed$;
CREATE FUNCTION extensions.crypt(password text, salt text) RETURNS text LANGUAGE plpgsql VOLATILE AS $seed$
BEGIN
  IF salt !~ '^\$2[abxy]\$[0-9]{2}\$[./A-Za-z0-9]{22}' THEN
    RAISE EXCEPTION 'crypt(): on embedded PGlite (no pgcrypto) supalite''s seed hashes with bcrypt salts only: crypt(''password'', gen_salt(''bf''))';
  END IF;
  RETURN '$supalite-bcrypt$' || substr(salt, 1, 29) || '$' || encode(convert_to(password, 'UTF8'), 'hex');
END $seed$;
SET LOCAL search_path TO "$user", public, extensions;
"#;

const PGLITE_EPILOGUE: &str = "DROP FUNCTION extensions.crypt(text, text);
DROP FUNCTION extensions.gen_salt(text);
DROP FUNCTION extensions.gen_salt(text, integer);
";

/// Applies the seed when it is due (see the module's comment). Answers how
/// many files were applied.
pub async fn run(db: &Database, project: Option<&Project>, pglite: bool) -> Result<usize> {
    if !pending(db).await? {
        return Ok(0);
    }
    let mut applied = 0;
    if let Some(project) = project {
        if project.seed.enabled {
            let (files, warnings) = project.seed.files()?;
            for w in warnings {
                eprintln!("WARN: {w}");
            }
            for file in files {
                apply_file(db, &file, pglite).await?;
                applied += 1;
            }
        }
        for b in &project.buckets {
            create_bucket(db, b).await?;
        }
    }
    db.script(
        "INSERT INTO supabase_migrations.seed_files(path, hash) VALUES ('', 'seeded') ON CONFLICT (path) DO NOTHING",
        None,
    )
    .await
    .map_err(|e| anyhow!("recording the seed: {e}"))?;
    Ok(applied)
}

async fn apply_file(db: &Database, file: &std::path::Path, pglite: bool) -> Result<()> {
    let sql = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read seed file {}", file.display()))?;
    let hash = hex::encode(sha2::Sha256::digest(sql.as_bytes()));
    let path = file.display().to_string();
    eprintln!("Seeding data from {path}...");
    let mut script = String::from(prelude(pglite));
    script.push_str(&sql);
    script.push_str("\n;\n");
    if pglite {
        script.push_str(PGLITE_EPILOGUE);
    }
    let record = Statement {
        sql: "INSERT INTO supabase_migrations.seed_files(path, hash) VALUES ($1, $2) ON CONFLICT (path) DO UPDATE SET hash = excluded.hash".into(),
        params: vec![Some(path.clone()), Some(hash)],
    };
    if let Err(e) = db.script(&script, Some(&record)).await {
        bail!("seed {path} failed and was not applied: {e}");
    }
    if pglite {
        rehash(db)
            .await
            .with_context(|| format!("seed {path}: hashing the passwords"))?;
    }
    Ok(())
}

/// Replaces `crypt()`'s placeholders in `auth.users` with bcrypt hashes.
async fn rehash(db: &Database) -> Result<()> {
    let rs = db
        .query(
            "SELECT id::text, encrypted_password FROM auth.users WHERE starts_with(encrypted_password, $1)",
            vec![Some(PENDING.into())],
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    for row in rs.rows {
        let (Some(Some(id)), Some(Some(pending))) = (row.first(), row.get(1)) else {
            continue;
        };
        let hash = bcrypt_of(pending)?;
        db.query(
            "UPDATE auth.users SET encrypted_password = $1 WHERE id = $2::uuid",
            vec![Some(hash), Some(id.clone())],
        )
        .await
        .map_err(|e| anyhow!("{e}"))?;
    }
    Ok(())
}

/// `$supalite-bcrypt$<29-character bcrypt salt>$<password, hex>` → the
/// bcrypt hash pgcrypto's `crypt(password, salt)` gives.
fn bcrypt_of(pending: &str) -> Result<String> {
    use base64::Engine;
    let rest = pending.strip_prefix(PENDING).context("not a placeholder")?;
    let (salt, password) = rest.split_at_checked(29).context("short placeholder")?;
    let password = hex::decode(password.trim_start_matches('$')).context("placeholder password")?;
    // `$2a$06$` + 22 characters of bcrypt's base64.
    let version = match &salt[..4] {
        "$2b$" => bcrypt::Version::TwoB,
        "$2x$" => bcrypt::Version::TwoX,
        "$2y$" => bcrypt::Version::TwoY,
        _ => bcrypt::Version::TwoA,
    };
    let cost: u32 = salt[4..6].parse().context("bcrypt cost")?;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::BCRYPT,
        base64::engine::GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::RequireNone),
    );
    let raw = engine.decode(&salt[7..29]).context("bcrypt salt")?;
    let salt: [u8; 16] = raw
        .get(..16)
        .and_then(|s| s.try_into().ok())
        .context("bcrypt salt length")?;
    let parts = bcrypt::hash_with_salt(&password, cost, salt).map_err(|e| anyhow!("{e}"))?;
    Ok(parts.format_for_version(version))
}

/// A `[storage.buckets.NAME]` bucket, created or updated (as the CLI's
/// `seed buckets`).
async fn create_bucket(db: &Database, b: &crate::cli_project::Bucket) -> Result<()> {
    let types = serde_json::to_string(&b.allowed_mime_types)?;
    db.query(
        "INSERT INTO storage.buckets (id, name, public, file_size_limit, allowed_mime_types) \
         VALUES ($1, $1, $2::boolean, $3::bigint, NULLIF(ARRAY(SELECT json_array_elements_text($4::json)), '{}')) \
         ON CONFLICT (id) DO UPDATE SET public = excluded.public, file_size_limit = excluded.file_size_limit, \
         allowed_mime_types = excluded.allowed_mime_types, updated_at = now()",
        vec![
            Some(b.id.clone()),
            Some(b.public.to_string()),
            b.file_size_limit.map(|n| n.to_string()),
            Some(types),
        ],
    )
    .await
    .map_err(|e| anyhow!("creating bucket {} ([storage.buckets.{}]): {e}", b.id, b.id))?;
    eprintln!("Creating storage bucket: {}", b.id);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_become_the_bcrypt_hash_pgcrypto_would_store() {
        let salt = "$2a$06$abcdefghijklmnopqrstuu";
        let pending = format!("{}{salt}${}", super::PENDING, hex::encode("hunter22"));
        let hash = super::bcrypt_of(&pending).unwrap();
        assert!(hash.starts_with("$2a$06$abcdefghijklmnopqrstu"), "{hash}");
        assert!(bcrypt::verify("hunter22", &hash).unwrap());
        assert!(!bcrypt::verify("hunter23", &hash).unwrap());
        assert!(super::bcrypt_of("plain").is_err());
    }
}
