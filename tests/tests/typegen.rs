//! `supalite gen types typescript`: the file `supabase gen types typescript
//! --local` prints (postgres-meta v0.96.6's generator), byte for byte, on
//! embedded PGlite and on PostgreSQL; `tsc --strict` checks supabase-js
//! programs against it.
//!
//! The expected files were produced by postgres-meta's own template
//! (`src/server/templates/typescript.ts` at v0.96.6, run with prettier
//! 3.5.3 as its package-lock pins) on the catalog of a database migrated by
//! supalite (see tests/fixtures/typegen/README.md); postgres-meta's own
//! test schema is compared with its own inline snapshot.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use supalite_tests::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/typegen")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// `supalite gen types <args>` in the project (on its database).
fn gen_types(p: &Project, args: &[&str]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(["gen", "types"])
        .args(args)
        .current_dir(p.path())
        .env("SUPALITE_JWT_SECRET", SECRET)
        .env_remove("SUPALITE_LOG");
    if let Some(uri) = &p.db_uri {
        cmd.env("SUPALITE_DB_URI", uri);
    }
    cmd.output().unwrap()
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "gen types failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).expect("utf-8")
}

/// Equal, or the first differing line.
fn assert_same(got: &str, want: &str, what: &str) {
    if got == want {
        return;
    }
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let i = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    panic!(
        "{what}: differs at line {}:\n got: {:?}\nwant: {:?}\n(lengths {} and {} bytes)",
        i + 1,
        g.get(i),
        w.get(i),
        got.len(),
        want.len()
    );
}

fn schema_project(db: Db) -> Project {
    let p = Project::on(db);
    p.migration("20240101000000_typegen.sql", &fixture("schema.sql"));
    p
}

#[test]
fn gen_types_prints_what_postgres_meta_prints_on_each_db() {
    for db in [Db::Pglite, Db::Postgres] {
        eprintln!("--- on {db:?}");
        let p = schema_project(db);
        // Two schemas, comma-separated or repeated.
        let both = stdout_of(&gen_types(&p, &["typescript", "--schema", "public,extra"]));
        assert_same(
            &both,
            &fixture("expected.ts"),
            &format!("{db:?}, public and extra"),
        );
        let repeated = stdout_of(&gen_types(
            &p,
            &["typescript", "-s", "public", "--schema", "extra"],
        ));
        assert_eq!(repeated, both);
        // The default is `public` and `db-schemas` (here `public`), as the
        // CLI's, and the language too.
        let public = stdout_of(&gen_types(&p, &[]));
        assert_same(
            &public,
            &fixture("expected-public.ts"),
            &format!("{db:?}, public"),
        );
        assert!(!public.contains("extra:"));
        // With the API's schemas configured (`[api] schemas` of a CLI
        // project's config.toml), the default adds them, as the CLI does.
        let out = {
            let mut cmd = Command::new(binary());
            cmd.args(["gen", "types"])
                .current_dir(p.path())
                .env("SUPALITE_JWT_SECRET", SECRET)
                .env("SUPALITE_DB_SCHEMAS", "extra,public")
                .env_remove("SUPALITE_LOG");
            if let Some(uri) = &p.db_uri {
                cmd.env("SUPALITE_DB_URI", uri);
            }
            cmd.output().unwrap()
        };
        assert_same(&stdout_of(&out), &fixture("expected.ts"), &format!("{db:?}, db-schemas"));
        // Without the PostgREST version, as `supabase gen types --local`.
        let bare = stdout_of(&gen_types(&p, &["typescript", "--postgrest-version", ""]));
        assert!(!bare.contains("__InternalSupabase:"), "{bare}");
        assert!(bare.contains("Omit<Database, \"__InternalSupabase\">"));
    }
}

/// postgres-meta's own typegen test: its test database (test/db/*.sql) and
/// the inline snapshot of `typegen: typescript w/ postgrestVersion`.
/// PostgreSQL only: the schema needs postgres_fdw, which PGlite lacks.
#[test]
fn gen_types_matches_postgres_metas_own_snapshot() {
    let p = Project::on(Db::Postgres);
    let dir = fixtures().join("postgres-meta");
    for (i, f) in ["00-init.sql", "01-memes.sql", "02-test-internal-query.sql"]
        .iter()
        .enumerate()
    {
        let sql = std::fs::read_to_string(dir.join(f)).unwrap();
        p.migration(&format!("2024010100000{i}_{}", f.replace('-', "_")), &sql);
    }
    let got = stdout_of(&gen_types(&p, &["typescript", "--postgrest-version", "13"]));
    // The snapshot is the HTTP body; the CLI's container prints it with
    // console.log (one more newline).
    let want = format!(
        "{}\n",
        std::fs::read_to_string(dir.join("expected.ts")).unwrap()
    );
    assert_same(&got, &want, "postgres-meta's snapshot");
}

/// `tsc --strict` over supabase-js programs using the generated file: one
/// with typed `select`/`rpc` results compiles; a wrong one fails with
/// TS2322 where it is wrong.
#[test]
fn the_generated_types_type_check_supabase_js_programs() {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
    let tsc = js.join("node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "typescript is not installed: run `npm ci` in {}",
        js.display()
    );
    let p = schema_project(Db::Pglite);
    let types = stdout_of(&gen_types(&p, &["typescript", "--schema", "public,extra"]));
    // Inside tests/js, so that `@supabase/supabase-js` resolves.
    let dir = tempfile::Builder::new()
        .prefix(".typegen-")
        .tempdir_in(&js)
        .unwrap();
    std::fs::write(dir.path().join("database.types.ts"), &types).unwrap();
    for f in ["ok.ts", "bad.ts"] {
        std::fs::copy(js.join("typegen").join(f), dir.path().join(f)).unwrap();
    }
    let check = |file: &str| -> Output {
        Command::new("node")
            .arg(&tsc)
            .args([
                "--strict",
                "--noEmit",
                "--skipLibCheck",
                "--target",
                "es2022",
            ])
            .args(["--module", "nodenext", "--moduleResolution", "nodenext"])
            .arg(dir.path().join(file))
            .current_dir(&js)
            .output()
            .expect("node is installed")
    };
    let ok = check("ok.ts");
    let report = |o: &Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(
        ok.status.success(),
        "ok.ts does not type-check:\n{}",
        report(&ok)
    );
    let bad = check("bad.ts");
    let r = report(&bad);
    assert!(!bad.status.success(), "bad.ts type-checks:\n{r}");
    assert!(
        r.contains("bad.ts(10,9): error TS2322: Type 'string' is not assignable to type 'number'."),
        "{r}"
    );
    assert!(
        r.contains(
            "bad.ts(11,45): error TS2322: Type 'number' is not assignable to type 'undefined'."
        ),
        "{r}"
    );
}

#[test]
fn gen_types_refuses_bad_input_clearly() {
    let p = schema_project(Db::Pglite);
    let err = |args: &[&str]| {
        let out = gen_types(&p, args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["python"]);
    assert!(e.contains("unsupported language `python`"), "{e}");
    let e = err(&["typescript", "--schema", ","]);
    assert!(e.contains("--schema names no schema"), "{e}");
    // A schema that does not exist is left out, with a warning.
    let out = gen_types(&p, &["typescript", "--schema", "public,nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(stderr.contains("schema `nope` does not exist"), "{stderr}");
    assert_same(
        &stdout_of(&out),
        &fixture("expected-public.ts"),
        "public and a missing schema",
    );
    // PGlite's data directory while a server has it open.
    let server = p.serve();
    let e = err(&["typescript"]);
    assert!(e.contains("is serving the data directory"), "{e}");
    assert!(e.contains(&format!("pid {}", server.pid())), "{e}");
    drop(server);
    stdout_of(&gen_types(&p, &[]));
}
