//! `/storage/v1` through the real storage client: `@supabase/supabase-js`
//! (npm; its storage-js unchanged) against the real server, on embedded
//! PGlite and on PostgreSQL, with the filesystem blob store.

use serde_json::json;
use std::time::Instant;
use supalite_tests::*;

/// Buckets created as a Supabase seed would (an INSERT into
/// storage.buckets), and the policies from Supabase's storage docs: public
/// read and anyone-may-upload for `avatars`; per-user folders in `private`
/// (`(storage.foldername(name))[1] = auth.uid()::text`).
const STORAGE_SQL: &str = "
insert into storage.buckets (id, name, public) values ('avatars', 'avatars', true), ('private', 'private', false);
create policy \"Avatar images are publicly accessible\" on storage.objects
  for select using (bucket_id = 'avatars');
create policy \"Anyone can upload an avatar\" on storage.objects
  for insert with check (bucket_id = 'avatars');
create policy \"Users read their own folder\" on storage.objects for select to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy \"Users write their own folder\" on storage.objects for insert to authenticated
  with check (bucket_id = 'private' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy \"Users update their own folder\" on storage.objects for update to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy \"Users delete their own folder\" on storage.objects for delete to authenticated
  using (bucket_id = 'private' and (storage.foldername(name))[1] = (select auth.uid()::text));
";

fn keys() -> (String, String) {
    let anon = token(json!({"role": "anon", "iss": "supabase-demo", "exp": now() + 3600}));
    let service = token(json!({"role": "service_role", "iss": "supabase-demo", "exp": now() + 3600}));
    (anon, service)
}

#[test]
fn supabase_js_storage_on_each_db() {
    on_each_db(|p| {
        p.migration("20240101000000_storage.sql", STORAGE_SQL);
        let s = p.serve();
        let (anon, service) = keys();
        let report = run_node(
            "storage.test.mjs",
            &s,
            &[
                ("SUPALITE_ANON_KEY", &anon),
                ("SUPALITE_SERVICE_KEY", &service),
            ],
        );
        assert!(
            report.contains("pass 8") && report.contains("fail 0"),
            "{report}"
        );
        if let Some(line) = report.lines().find(|l| l.contains("THROUGHPUT")) {
            eprintln!("{line}");
        }
        // The bytes live under the data directory, the metadata in the
        // database; no temporary file is left behind.
        let store = p.path().join(".supalite/data/storage");
        assert!(store.join("avatars").is_dir(), "no blob store at {}", store.display());
        let tmp: Vec<_> = std::fs::read_dir(store.join(".tmp"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        assert!(tmp.is_empty(), "temporary files left: {tmp:?}");
    });
}

/// Raw HTTP: a client that goes away mid-upload leaves no object and no
/// temporary file; a HEAD answers the object's headers; a range request.
#[test]
fn storage_uploads_are_all_or_nothing_over_raw_http() {
    use std::io::{Read, Write};
    let p = Project::new();
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let s = p.serve();
    let (_, service) = keys();
    let auth = format!("Bearer {service}");
    let addr = s.url.trim_start_matches("http://").to_string();

    // Announce 1 MB, send 100 KB, hang up.
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /storage/v1/object/private/cut.bin HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\ncontent-type: application/octet-stream\r\ncontent-length: 1048576\r\n\r\n"
    )
    .unwrap();
    conn.write_all(&vec![7u8; 100 * 1024]).unwrap();
    drop(conn);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let r = s.get(
        "/storage/v1/object/info/private/cut.bin",
        &[("authorization", &auth)],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["message"], "Object not found", "{}", r.body);
    let store = p.path().join(".supalite/data/storage");
    let leftovers: Vec<_> = walk(&store)
        .into_iter()
        .filter(|f| f.to_string_lossy().contains("cut.bin") || f.starts_with(store.join(".tmp")))
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // A whole upload, then HEAD and a range.
    let r = s.request(
        "POST",
        "/storage/v1/object/private/whole.txt",
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some("0123456789"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let head = s.request(
        "HEAD",
        "/storage/v1/object/private/whole.txt",
        &[("authorization", &auth)],
        None,
    );
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-type"), Some("text/plain"));
    assert!(head.header("etag").is_some(), "no etag");
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "GET /storage/v1/object/private/whole.txt HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\nrange: bytes=2-4\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 206"), "{answer}");
    assert!(answer.ends_with("\r\n\r\n234"), "{answer}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Upload and download of a 10 MB object through the server, next to a
/// plain copy of the same bytes on the same disk (printed; a floor only
/// against a pathological regression).
#[test]
fn storage_throughput_of_a_10_mb_object() {
    let p = Project::new();
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let s = p.serve();
    let (_, service) = keys();
    let auth = format!("Bearer {service}");
    let size = 10usize << 20;
    let bytes: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();

    let src = p.path().join("plain.bin");
    std::fs::write(&src, &bytes).unwrap();
    let t = Instant::now();
    std::fs::copy(&src, p.path().join("plain-copy.bin")).unwrap();
    let copy = t.elapsed();

    let rss_before = s.rss_kb();
    let t = Instant::now();
    let r = ureq::post(&format!("{}/storage/v1/object/private/big.bin", s.url))
        .set("authorization", &auth)
        .set("content-type", "application/octet-stream")
        .send_bytes(&bytes)
        .unwrap();
    let up = t.elapsed();
    assert_eq!(r.status(), 200);
    let t = Instant::now();
    let resp = ureq::get(&format!("{}/storage/v1/object/private/big.bin", s.url))
        .set("authorization", &auth)
        .call()
        .unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut got).unwrap();
    let down = t.elapsed();
    let rss_after = s.rss_kb();
    assert!(got == bytes, "the download differs from the upload");
    let mbs = |d: std::time::Duration| size as f64 / (1 << 20) as f64 / d.as_secs_f64();
    eprintln!(
        "STORAGE 10 MiB: upload {:.0} MB/s ({:?}), download {:.0} MB/s ({:?}), plain file copy {:.0} MB/s ({:?}); RSS {} -> {} KiB",
        mbs(up),
        up,
        mbs(down),
        down,
        mbs(copy),
        copy,
        rss_before,
        rss_after
    );
    assert!(mbs(up) > 5.0 && mbs(down) > 5.0, "slower than 5 MB/s");
}

/// The same supabase-js storage calls with the S3 blob store, against a
/// real local S3 server (moto): the bytes are in the S3 bucket, none on
/// the local disk.
#[test]
fn supabase_js_storage_on_s3() {
    let moto = supalite_tests::s3::Moto::start();
    let p = Project::new();
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let env = moto.env("supalite-js");
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let s = p.serve_with(&[], &env).unwrap();
    let (anon, service) = keys();
    let report = run_node(
        "storage.test.mjs",
        &s,
        &[("SUPALITE_ANON_KEY", &anon), ("SUPALITE_SERVICE_KEY", &service)],
    );
    assert!(report.contains("pass 8") && report.contains("fail 0"), "{report}");
    let keys = moto.keys("supalite-js");
    assert!(
        keys.iter().any(|k| k.starts_with("avatars/")),
        "no avatars object in the S3 bucket: {keys:?}"
    );
    assert!(
        !p.path().join(".supalite/data/storage/avatars").exists(),
        "bytes written to the local disk"
    );
    assert!(moto.open_uploads("supalite-js").is_empty(), "multipart uploads left open");
}

/// Two supalite processes on one PostgreSQL database and one S3 bucket
/// serve the same objects; an upload cut off after its first parts were
/// sent leaves no object and no open multipart upload; a delete through
/// one removes the bytes both serve.
#[test]
fn s3_store_two_instances_one_truth_and_cut_uploads() {
    use std::io::{Read, Write};
    let moto = supalite_tests::s3::Moto::start();
    let p = Project::on(Db::Postgres);
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let env = moto.env("supalite-two");
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let a = p.serve_with(&[], &env).unwrap();
    let db_uri = p.db_uri.clone().unwrap();
    env.push(("SUPALITE_DB_URI", &db_uri));
    let other = Project::new();
    let b = other.serve_with(&[], &env).unwrap();
    let (_, service) = keys();
    let auth = format!("Bearer {service}");

    // 20 MiB (three parts) up through one, down through the other.
    let body: Vec<u8> = (0..20u32 << 20).map(|i| (i % 251) as u8).collect();
    let up = ureq::post(&format!("{}/storage/v1/object/private/big.bin", a.url))
        .set("authorization", &auth)
        .set("content-type", "application/octet-stream")
        .send_bytes(&body);
    assert!(up.is_ok(), "{up:?}");
    let mut down = Vec::new();
    ureq::get(&format!("{}/storage/v1/object/private/big.bin", b.url))
        .set("authorization", &auth)
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut down)
        .unwrap();
    assert!(down == body, "downloaded {} bytes, not the uploaded ones", down.len());
    // A range through the other instance (from S3's ranged GET).
    let range = ureq::get(&format!("{}/storage/v1/object/private/big.bin", b.url))
        .set("authorization", &auth)
        .set("range", "bytes=10485760-10485769")
        .call()
        .unwrap();
    assert_eq!(range.status(), 206);
    let mut bytes = Vec::new();
    range.into_reader().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes, body[10485760..10485770]);

    // Announce 30 MiB, send 17 MiB (two parts go to S3), hang up.
    let addr = a.url.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /storage/v1/object/private/cut.bin HTTP/1.1\r\nhost: {addr}\r\nauthorization: {auth}\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        30u32 << 20
    )
    .unwrap();
    conn.write_all(&body[..17 << 20]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    drop(conn);
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !moto.open_uploads("supalite-two").is_empty() && Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(moto.open_uploads("supalite-two").is_empty(), "the cut upload was not aborted");
    let keys = moto.keys("supalite-two");
    assert!(!keys.iter().any(|k| k.contains("cut.bin")), "{keys:?}");
    let r = b.get("/storage/v1/object/info/private/cut.bin", &[("authorization", &auth)]);
    assert_eq!(r.status, 400, "{}", r.body);

    // Deleted through the other instance: the bytes are gone from S3.
    let r = b.request(
        "DELETE",
        "/storage/v1/object/private",
        &[("authorization", &auth), ("content-type", "application/json")],
        Some(r#"{"prefixes":["big.bin"]}"#),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let keys = moto.keys("supalite-two");
    assert!(!keys.iter().any(|k| k.contains("big.bin")), "{keys:?}");
}

/// Conditional downloads (`ETag` + `If-None-Match`, `Last-Modified` +
/// `If-Modified-Since` → 304 with the validators, no body) and `list-v2`
/// (cursor pagination, folders collapsed with `with_delimiter`), over raw
/// HTTP as a browser cache and storage-js's `listV2` would send them.
#[test]
fn storage_conditional_downloads_and_list_v2() {
    let p = Project::new();
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let s = p.serve();
    let (_, service) = keys();
    let auth = format!("Bearer {service}");
    for name in ["a.txt", "b.txt", "c.txt", "docs/d.txt", "docs/e.txt"] {
        let r = s.request(
            "POST",
            &format!("/storage/v1/object/private/{name}"),
            &[("authorization", &auth), ("content-type", "text/plain")],
            Some(name),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let path = "/storage/v1/object/private/a.txt";
    let r = s.get(path, &[("authorization", &auth)]);
    assert_eq!((r.status, r.body.as_str()), (200, "a.txt"));
    let etag = r.header("etag").expect("etag").to_string();
    let modified = r.header("last-modified").expect("last-modified").to_string();
    let again = s.get(path, &[("authorization", &auth), ("if-none-match", &etag)]);
    assert_eq!(again.status, 304, "{}", again.body);
    assert!(again.body.is_empty());
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let since = s.get(path, &[("authorization", &auth), ("if-modified-since", &modified)]);
    assert_eq!(since.status, 304);
    // Another ETag or an older date: the bytes again.
    let other = s.get(path, &[("authorization", &auth), ("if-none-match", "\"other\"")]);
    assert_eq!((other.status, other.body.as_str()), (200, "a.txt"));
    let old = s.get(
        path,
        &[("authorization", &auth), ("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
    );
    assert_eq!(old.status, 200);

    // list-v2: two per page, folders collapsed.
    let list = |body: serde_json::Value| {
        let r = s.request(
            "POST",
            "/storage/v1/object/list-v2/private",
            &[("authorization", &auth), ("content-type", "application/json")],
            Some(&body.to_string()),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.json()
    };
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut body = json!({ "prefix": "", "limit": 2, "with_delimiter": true });
        if let Some(c) = &cursor {
            body["cursor"] = json!(c);
        }
        let page = list(body);
        for o in page["objects"].as_array().unwrap() {
            names.push(o["name"].as_str().unwrap().to_string());
        }
        for f in page["folders"].as_array().unwrap() {
            names.push(f["name"].as_str().unwrap().to_string());
        }
        if page["hasNext"] != json!(true) {
            break;
        }
        cursor = page["nextCursor"].as_str().map(str::to_string);
    }
    assert_eq!(names, ["a.txt", "b.txt", "c.txt", "docs/"]);
    let docs = list(json!({ "prefix": "docs/", "with_delimiter": true }));
    let inside: Vec<_> = docs["objects"].as_array().unwrap().iter().map(|o| o["name"].clone()).collect();
    assert_eq!(inside, [json!("docs/d.txt"), json!("docs/e.txt")]);
}

/// An `https://` S3 endpoint: verified against `storage-s3-ca-file` (a
/// private CA made here with openssl); without it, start-up refuses the
/// unknown certificate instead of sending credentials to it.
#[test]
fn s3_store_over_tls_trusts_only_what_it_is_told() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    supalite_tests::test_certificates(d);
    let moto = supalite_tests::s3::Moto::start_tls(&d.join("cert.pem"), &d.join("key.pem"));
    let p = Project::new();
    p.migration("20240101000000_storage.sql", STORAGE_SQL);
    let env = moto.env("supalite-tls");
    let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let refused = p.serve_with(&[], &env).map(|_| ()).unwrap_err();
    assert!(refused.contains("certificate") || refused.contains("UnknownIssuer"), "{refused}");

    let ca = d.join("ca.pem");
    let ca = ca.to_str().unwrap();
    env.push(("SUPALITE_STORAGE_S3_CA_FILE", ca));
    let s = p.serve_with(&[], &env).unwrap();
    let (_, service) = keys();
    let auth = format!("Bearer {service}");
    let r = s.request(
        "POST",
        "/storage/v1/object/private/tls.txt",
        &[("authorization", &auth), ("content-type", "text/plain")],
        Some("over TLS"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let r = s.get("/storage/v1/object/private/tls.txt", &[("authorization", &auth)]);
    assert_eq!((r.status, r.body.as_str()), (200, "over TLS"));
}
