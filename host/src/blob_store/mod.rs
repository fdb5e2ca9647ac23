//! The storage role's `blob-store` import, on the backend `storage-backend`
//! names: `fs` (files under `storage-dir`, [`fs`]) or `s3` (an
//! S3-compatible service, [`s3`]). Both keep the interface's promises: a
//! write becomes the object only on `finish` (a crash or a client that goes
//! away mid-upload leaves no half object), bodies are streamed both ways
//! (never held whole), and keys that could leave their container are
//! refused the same way on every backend.
//!
//! Plain code with its own error and info types; the server's `blob`
//! module answers the `blob-store` interface with it.

mod connect;
pub mod fs;
pub mod s3;

pub use fs::FsStore;
pub use s3::S3Store;
use wasmtime_wasi::p2::pipe::AsyncReadStream;

/// Bytes read from a stream at a time.
pub const CHUNK: usize = 256 << 10;

/// Why a blob operation failed (the interface's `error`, variant by variant).
#[derive(Debug)]
pub enum Error {
    NotFound,
    InvalidKey(String),
    TooLarge,
    Other(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Other(e.to_string())
    }
}

/// An object's size, ETag and modification time (the interface's `object-info`).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInfo {
    pub size: u64,
    pub etag: String,
    pub modified_ms: u64,
}

fn invalid(what: &str) -> Error {
    Error::InvalidKey(what.to_string())
}

/// Whether `segment` may be one path component of a key.
fn segment_ok(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "."
        && segment != ".."
        && segment.len() <= 255
        && !segment.contains(['\0', '\\'])
}

/// Refuses containers and keys that could leave their container on any
/// backend: `.`/`..` segments, empty segments, absolute paths, NUL,
/// backslashes, segments over 255 bytes, keys over 1,100 bytes, and
/// containers starting with `.` or holding a `/`.
pub fn check_key(container: &str, key: &str) -> Result<(), Error> {
    if !segment_ok(container) || container.starts_with('.') || container.contains('/') {
        return Err(invalid(container));
    }
    if key.len() > 1100 || key.starts_with('/') || !key.split('/').all(segment_ok) {
        return Err(invalid(key));
    }
    Ok(())
}

/// The configured blob store.
#[derive(Debug)]
pub enum Store {
    Fs(FsStore),
    S3(S3Store),
}

/// An object being written (the `writer` resource), on its store.
pub enum Writer {
    Fs(fs::Writer),
    S3(s3::Writer),
}

impl Store {
    /// The store the settings name: S3 when `s3` is set, else the
    /// filesystem under `dir`.
    pub fn open(s3: Option<&s3::Settings>, dir: &std::path::Path) -> Result<Store, String> {
        Ok(match s3 {
            Some(s) => Store::S3(S3Store::new(s)?),
            None => Store::Fs(FsStore::new(dir.to_path_buf())),
        })
    }

    pub fn create(&self, container: &str, key: &str, limit: u64) -> Result<Writer, Error> {
        Ok(match self {
            Store::Fs(s) => Writer::Fs(s.create(container, key, limit)?),
            Store::S3(s) => Writer::S3(s.create(container, key, limit)?),
        })
    }

    pub async fn get(
        &self,
        container: &str,
        key: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<AsyncReadStream, Error> {
        match self {
            Store::Fs(s) => s.get(container, key, start, end),
            Store::S3(s) => s.get(container, key, start, end).await,
        }
    }

    pub async fn info(&self, container: &str, key: &str) -> Result<ObjectInfo, Error> {
        match self {
            Store::Fs(s) => s.info(container, key),
            Store::S3(s) => s.info(container, key).await,
        }
    }

    pub async fn copy(&self, from: (&str, &str), to: (&str, &str)) -> Result<ObjectInfo, Error> {
        match self {
            Store::Fs(s) => s.copy(from, to),
            Store::S3(s) => s.copy(from, to).await,
        }
    }

    pub async fn delete(&self, container: &str, keys: &[String]) -> Result<(), Error> {
        match self {
            Store::Fs(s) => s.delete(container, keys),
            Store::S3(s) => s.delete(container, keys).await,
        }
    }
}

impl Writer {
    /// Appends `bytes`; past the writer's limit the write is abandoned.
    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        match self {
            Writer::Fs(w) => w.append(bytes),
            Writer::S3(w) => w.append(bytes).await,
        }
    }

    /// Gives the write up: nothing of it is published.
    pub fn abandon(&mut self) {
        match self {
            Writer::Fs(w) => w.abandon(),
            Writer::S3(w) => w.abandon(),
        }
    }

    /// Publishes the object (replacing one at the same key).
    pub async fn finish(&mut self) -> Result<ObjectInfo, Error> {
        match self {
            Writer::Fs(w) => FsStore::finish(w),
            Writer::S3(w) => w.finish().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_leave_their_container_are_refused() {
        assert!(check_key("avatars", "u1/a.png/v1").is_ok());
        for bad in [
            "../x", "a/../../x", "/etc/passwd", "a//b", "a/./b", "a\\..\\b", "a\0b", "",
        ] {
            assert!(check_key("avatars", bad).is_err(), "{bad:?}");
        }
        assert!(check_key("avatars", &"x".repeat(256)).is_err());
        assert!(check_key("avatars", &["x"; 600].join("/")).is_err(), "over 1,100 bytes");
        for bad in ["..", ".tmp", "a/b", "", "."] {
            assert!(check_key(bad, "k").is_err(), "{bad:?}");
        }
    }
}
