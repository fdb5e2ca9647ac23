//! Stand-ins for what the supalite host provides natively, so that a
//! composed pipeline needs nothing but WASI on another wasi:http host:
//! - `types`: the type-only interface every stage uses (exporting it here
//!   removes it from the pipeline's imports);
//! - `upstream`: breaker state kept in the instance — on hosts that
//!   instantiate per request this means no breaker memory across requests
//!   (every attempt is admitted; retries and timeouts still apply);
//! - `backend`: the adapter's fallback slot when no bridge is composed in;
//! - `blob-store`: none yet — every call fails with `other("…")`, so the
//!   storage API answers its errors and the rest of the pipeline serves
//!   (a filesystem or S3 store for stock hosts is not written yet);
//! - `mailer`: none — every send fails, so the auth role answers GoTrue's
//!   "Error sending … email" (SMTP and the mail catcher are the supalite
//!   host's).

/// The fallback slot's answer.
pub fn no_fallback() -> contract::Response {
    let (status, code, message, hint) = contract::NO_FALLBACK;
    contract::ApiError::new(status, code, message)
        .hint(hint)
        .into()
}

/// Talc instead of Rust's default wasm allocator (dlmalloc): each request
/// copies many small strings across component boundaries.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

#[cfg(target_arch = "wasm32")]
mod glue {
    use guest::standalone::*;

    use exports::supalite::api::backend::{Guest as Backend, Identity, Request, Response};
    use exports::supalite::api::upstream::{Admission, Attempt, Guest as Upstream};

    use exports::supalite::api::blob_store::{
        Error as BlobError, Guest as BlobStore, GuestWriter, InputStream,
        ObjectInfo, Writer,
    };

    struct Standalone;

    fn no_store() -> BlobError {
        BlobError::Other("no blob store on this host (the storage API needs supalite's own host)".into())
    }

    struct NoWriter;

    impl GuestWriter for NoWriter {
        fn write(&self, _bytes: Vec<u8>) -> Result<(), BlobError> {
            Err(no_store())
        }
        fn write_from(&self, _src: &InputStream) -> Result<u64, BlobError> {
            Err(no_store())
        }
        fn finish(&self) -> Result<ObjectInfo, BlobError> {
            Err(no_store())
        }
    }

    impl BlobStore for Standalone {
        type Writer = NoWriter;
        fn create(_c: String, _k: String, _limit: u64) -> Result<Writer, BlobError> {
            Err(no_store())
        }
        fn get(_c: String, _k: String, _s: u64, _e: Option<u64>) -> Result<InputStream, BlobError> {
            Err(no_store())
        }
        fn info(_c: String, _k: String) -> Result<ObjectInfo, BlobError> {
            Err(no_store())
        }
        fn copy(_a: String, _b: String, _c: String, _d: String) -> Result<ObjectInfo, BlobError> {
            Err(no_store())
        }
        fn delete(_c: String, _keys: Vec<String>) -> Result<(), BlobError> {
            Err(no_store())
        }
    }

    impl Upstream for Standalone {
        fn admit(_name: String) -> Admission {
            Admission::Allow
        }
        fn record_attempt(_name: String, _attempt: Attempt) {}
        fn record_fallback(_name: String) {}
    }

    impl exports::supalite::api::mailer::Guest for Standalone {
        fn send(_m: exports::supalite::api::mailer::Message) -> Result<(), String> {
            Err("no mailer on this host (SMTP and the mail catcher need supalite's own host)".into())
        }
    }

    impl Backend for Standalone {
        fn handle(_req: Request, _who: Identity) -> Response {
            let r = crate::no_fallback();
            Response {
                status: r.status,
                headers: r.headers,
                body: r.body,
            }
        }
    }

    guest::standalone::export_standalone!(Standalone);
}
