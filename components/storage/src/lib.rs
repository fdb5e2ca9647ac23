//! The storage role: Supabase Storage's `/storage/v1` API (what storage-js
//! calls) as a component of the pipeline. Bucket and object metadata live in
//! the database (`storage.buckets`, `storage.objects`, reached through the
//! `sql` import under the caller's role, so RLS decides every access), object
//! bytes in the blob store (`supalite:api/blob-store`), which streams them:
//! an upload's body arrives as a `wasi:io` input stream and goes to the blob
//! store without entering this component's memory; a download's bytes leave
//! as the blob store's stream.
//!
//! The core is plain Rust over the [`host::Host`] trait (unit-tested on the
//! host); the wasm glue below implements it with the component's imports.
//!
//! Configuration (`wasi:config/store`): `storage_file_size_limit`,
//! `jwt_secret` / `jwt_secret_is_base64` (signed URLs), `db_anon_role`.

pub mod error;
pub mod host;
pub mod multipart;
pub mod names;
pub mod range;
pub mod routes;
pub mod service;
pub mod signing;
pub mod time;

pub use service::{handle, Caller, Config, Identity, Request, Response};

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use crate::host::{self, BlobError, BlobInfo, Body};
    use guest::storage::*;

    use exports::supalite::api::storage::{Body as WitBody, Guest, StorageRequest, StorageResponse};
    use supalite::api::blob_store as blob;
    use supalite::api::sql;
    use supalite::api::types::{Identity, Response};
    use wasi::io::streams::{InputStream, StreamError};

    /// A setting of this role (its `wasi:config/store` import), checked
    /// as the host checks it.
    fn setting(name: &str) -> Option<String> {
        contract::read(name, |n| {
            guest::from_store(wasi::config::store::get, &contract::settings::config_key(n))
        })
    }

    thread_local! {
        /// Read once per instance.
        static CONFIG: crate::Config = {
            use contract::settings as s;
            let secret = s::JWT_SECRET.text_or_default(setting);
            crate::Config {
                file_size_limit: s::STORAGE_FILE_SIZE_LIMIT.number(setting).unwrap_or(52_428_800),
                key: crate::signing::signing_key(Some(&secret), s::JWT_SECRET_IS_BASE64.flag(setting)),
                anon_role: s::anon_role_or_default(setting),
                service_role: "service_role".into(),
            }
        };
    }

    struct Glue;

    fn blob_error(e: blob::Error) -> BlobError {
        match e {
            blob::Error::NotFound => BlobError::NotFound,
            blob::Error::InvalidKey(k) => BlobError::InvalidKey(k),
            blob::Error::TooLarge => BlobError::TooLarge,
            blob::Error::Closed => BlobError::Closed,
            blob::Error::Other(m) => BlobError::Other(m),
        }
    }

    fn info(i: blob::ObjectInfo) -> BlobInfo {
        BlobInfo {
            size: i.size,
            etag: i.etag,
            modified_ms: i.modified_ms,
        }
    }

    impl host::Host for Glue {
        type Stream = InputStream;
        type Writer = blob::Writer;

        fn transaction(
            &mut self,
            session: &host::Session,
            statements: Vec<host::Statement>,
        ) -> Result<Vec<host::ResultSet>, host::DbError> {
            let s = sql::Session {
                role: session.role.clone(),
                claims_json: session.claims_json.clone(),
                read_only: false,
                rollback: session.rollback,
                request_settings: session.settings.clone(),
            };
            let statements: Vec<sql::Statement> = statements
                .into_iter()
                .map(|st| sql::Statement {
                    sql: st.sql,
                    params: st.params,
                })
                .collect();
            sql::transaction(&s, &statements)
                .map(|sets| {
                    sets.into_iter()
                        .map(|r| host::ResultSet {
                            rows: r.rows,
                            affected: r.affected,
                        })
                        .collect()
                })
                .map_err(|e| host::DbError {
                    code: e.code,
                    message: e.message,
                })
        }

        fn read(&mut self, stream: &InputStream, max: u64) -> Result<Option<Vec<u8>>, ()> {
            loop {
                match stream.blocking_read(max) {
                    Ok(b) if b.is_empty() => continue,
                    Ok(b) => return Ok(Some(b)),
                    Err(StreamError::Closed) => return Ok(None),
                    Err(StreamError::LastOperationFailed(_)) => return Err(()),
                }
            }
        }

        fn create(&mut self, bucket: &str, key: &str, limit: u64) -> Result<blob::Writer, BlobError> {
            blob::create(bucket, key, limit).map_err(blob_error)
        }

        fn write(&mut self, w: &blob::Writer, bytes: &[u8]) -> Result<(), BlobError> {
            w.write(bytes).map_err(blob_error)
        }

        fn write_from(&mut self, w: &blob::Writer, s: &InputStream) -> Result<u64, BlobError> {
            w.write_from(s).map_err(blob_error)
        }

        fn finish(&mut self, w: blob::Writer) -> Result<BlobInfo, BlobError> {
            w.finish().map(info).map_err(blob_error)
        }

        fn get(&mut self, bucket: &str, key: &str, start: u64, end: Option<u64>) -> Result<InputStream, BlobError> {
            blob::get(bucket, key, start, end).map_err(blob_error)
        }

        fn copy(&mut self, from: (&str, &str), to: (&str, &str)) -> Result<BlobInfo, BlobError> {
            blob::copy(from.0, from.1, to.0, to.1).map(info).map_err(blob_error)
        }

        fn delete(&mut self, bucket: &str, keys: &[String]) -> Result<(), BlobError> {
            blob::delete(bucket, keys).map_err(blob_error)
        }

        fn now_ms(&self) -> u64 {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0)
        }

        fn random(&mut self) -> [u8; 16] {
            let b = wasi::random::random::get_random_bytes(16);
            let mut out = [0u8; 16];
            out.copy_from_slice(&b[..16]);
            out
        }
    }

    struct Storage;

    impl Guest for Storage {
        fn handle(req: StorageRequest, body: WitBody, who: Result<Identity, Response>) -> StorageResponse {
            let caller = match who {
                Ok(id) => {
                    let identity = crate::Identity {
                        role: id.role,
                        claims_json: id.claims_json,
                    };
                    if jwt::bearer(&req.headers).is_some() {
                        crate::Caller::Token(identity)
                    } else {
                        crate::Caller::Anonymous(identity)
                    }
                }
                Err(denied) => {
                    let message = serde_json::from_slice::<serde_json::Value>(&denied.body)
                        .ok()
                        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
                        .unwrap_or_else(|| "Invalid Compact JWS".into());
                    crate::Caller::Invalid(message)
                }
            };
            let body = match body {
                WitBody::Empty => Body::Empty,
                WitBody::Bytes(b) => Body::Bytes(b),
                WitBody::Stream(s) => Body::Stream(s),
            };
            let request = crate::Request {
                method: req.method,
                path: req.path,
                query: req.query,
                headers: req.headers,
            };
            let resp = CONFIG.with(|cfg| crate::handle(&mut Glue, cfg, request, body, caller));
            StorageResponse {
                status: resp.status,
                headers: resp.headers,
                body: match resp.body {
                    Body::Empty => WitBody::Empty,
                    Body::Bytes(b) => WitBody::Bytes(b),
                    Body::Stream(s) => WitBody::Stream(s),
                },
            }
        }
    }

    guest::storage::export_storage!(Storage);
}
