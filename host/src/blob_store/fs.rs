//! The filesystem blob store (`storage-backend = "fs"`): a container is a
//! directory under `storage-dir`, an object a file at its key. A write goes
//! to a temporary file under `<storage-dir>/.tmp`, is fsynced and renamed
//! into place on `finish` (a crash mid-upload leaves no half object, only a
//! temporary file); a writer dropped unfinished removes its temporary file.
//! Downloads are streamed from the file (`wasi:io` input streams).

use super::{check_key, Error, ObjectInfo, CHUNK};
use md5::{Digest, Md5};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use wasmtime_wasi::p2::pipe::AsyncReadStream;

/// The filesystem blob store.
#[derive(Debug)]
pub struct FsStore {
    root: PathBuf,
    counter: AtomicU64,
}

/// An object being written (the `writer` resource).
pub struct Writer {
    pub(crate) file: Option<std::fs::File>,
    pub(crate) tmp: PathBuf,
    pub(crate) dest: PathBuf,
    pub(crate) written: u64,
    pub(crate) limit: u64,
    pub(crate) md5: Md5,
    /// A failed write abandons the object.
    pub(crate) failed: bool,
}

impl Writer {
    pub(crate) fn abandon(&mut self) {
        self.failed = true;
        self.file = None;
        let _ = std::fs::remove_file(&self.tmp);
    }

    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Other("the write was abandoned".into()));
        }
        if self.written + bytes.len() as u64 > self.limit {
            self.abandon();
            return Err(Error::TooLarge);
        }
        let Some(file) = self.file.as_mut() else {
            return Err(Error::Other("the writer is finished".into()));
        };
        if let Err(e) = file.write_all(bytes) {
            self.abandon();
            return Err(Error::Other(format!("writing the object: {e}")));
        }
        self.md5.update(bytes);
        self.written += bytes.len() as u64;
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}


fn io(what: &str, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound
    } else {
        Error::Other(format!("{what}: {e}"))
    }
}

fn etag(md5: Md5) -> String {
    format!("\"{}\"", hex::encode(md5.finalize()))
}

fn modified_ms(meta: &std::fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_millis() as u64)
}

impl FsStore {
    pub fn new(root: PathBuf) -> FsStore {
        FsStore {
            root,
            counter: AtomicU64::new(0),
        }
    }

    /// The file of `key` in `container`, if both are valid.
    pub fn path(&self, container: &str, key: &str) -> Result<PathBuf, Error> {
        check_key(container, key)?;
        let mut p = self.root.join(container);
        for s in key.split('/') {
            p.push(s);
        }
        Ok(p)
    }

    fn temporary(&self) -> Result<(PathBuf, std::fs::File), Error> {
        let dir = self.root.join(".tmp");
        std::fs::create_dir_all(&dir).map_err(|e| io("creating the store's directory", e))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let tmp = dir.join(format!("{}-{nanos}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| io("creating a temporary file", e))?;
        Ok((tmp, file))
    }

    pub fn create(&self, container: &str, key: &str, limit: u64) -> Result<Writer, Error> {
        let dest = self.path(container, key)?;
        let (tmp, file) = self.temporary()?;
        Ok(Writer {
            file: Some(file),
            tmp,
            dest,
            written: 0,
            limit,
            md5: Md5::new(),
            failed: false,
        })
    }

    /// Publishes `w`: fsync, rename into place, fsync the directory.
    pub fn finish(w: &mut Writer) -> Result<ObjectInfo, Error> {
        if w.failed {
            return Err(Error::Other("the write was abandoned".into()));
        }
        let Some(file) = w.file.take() else {
            return Err(Error::Other("the writer is finished".into()));
        };
        let publish = || -> std::io::Result<std::fs::Metadata> {
            file.sync_all()?;
            let meta = file.metadata()?;
            drop(file);
            let parent = w.dest.parent().unwrap_or(Path::new("."));
            std::fs::create_dir_all(parent)?;
            std::fs::rename(&w.tmp, &w.dest)?;
            if let Ok(d) = std::fs::File::open(parent) {
                let _ = d.sync_all();
            }
            Ok(meta)
        };
        match publish() {
            Ok(meta) => Ok(ObjectInfo {
                size: w.written,
                etag: etag(std::mem::take(&mut w.md5)),
                modified_ms: modified_ms(&meta),
            }),
            Err(e) => {
                let _ = std::fs::remove_file(&w.tmp);
                w.failed = true;
                Err(io("publishing the object", e))
            }
        }
    }

    pub fn info(&self, container: &str, key: &str) -> Result<ObjectInfo, Error> {
        let path = self.path(container, key)?;
        let mut file = std::fs::File::open(&path).map_err(|e| io("opening the object", e))?;
        let meta = file.metadata().map_err(|e| io("reading the object", e))?;
        if !meta.is_file() {
            return Err(Error::NotFound);
        }
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = file.read(&mut buf).map_err(|e| io("reading the object", e))?;
            if n == 0 {
                break;
            }
            md5.update(&buf[..n]);
        }
        Ok(ObjectInfo {
            size: meta.len(),
            etag: etag(md5),
            modified_ms: modified_ms(&meta),
        })
    }

    /// A stream of bytes `start..end` of an object.
    pub fn get(
        &self,
        container: &str,
        key: &str,
        start: u64,
        end: Option<u64>,
    ) -> Result<AsyncReadStream, Error> {
        use tokio::io::AsyncReadExt;
        let path = self.path(container, key)?;
        let mut file = std::fs::File::open(&path).map_err(|e| io("opening the object", e))?;
        let meta = file.metadata().map_err(|e| io("reading the object", e))?;
        if !meta.is_file() {
            return Err(Error::NotFound);
        }
        let end = end.unwrap_or(u64::MAX).min(meta.len());
        let start = start.min(end);
        file.seek(std::io::SeekFrom::Start(start))
            .map_err(|e| io("reading the object", e))?;
        let file = tokio::fs::File::from_std(file).take(end - start);
        Ok(AsyncReadStream::new(file))
    }

    pub fn copy(
        &self,
        from: (&str, &str),
        to: (&str, &str),
    ) -> Result<ObjectInfo, Error> {
        let src = self.path(from.0, from.1)?;
        let mut input = std::fs::File::open(&src).map_err(|e| io("opening the object", e))?;
        let mut w = self.create(to.0, to.1, u64::MAX)?;
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = input.read(&mut buf).map_err(|e| io("reading the object", e))?;
            if n == 0 {
                break;
            }
            w.append(&buf[..n])?;
        }
        FsStore::finish(&mut w)
    }

    pub fn delete(&self, container: &str, keys: &[String]) -> Result<(), Error> {
        let top = self.root.join(container);
        for key in keys {
            let path = self.path(container, key)?;
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io("deleting an object", e)),
            }
            // Empty directories left behind go too (not the container's).
            let mut dir = path.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == top || !d.starts_with(&top) || std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_to_files_inside_their_container() {
        let s = FsStore::new(PathBuf::from("/store"));
        assert_eq!(
            s.path("avatars", "u1/a.png/v1").unwrap(),
            PathBuf::from("/store/avatars/u1/a.png/v1")
        );
        // The shared key check (`check_key`, tested in the parent module).
        assert!(s.path("avatars", "../x").is_err());
    }

    #[test]
    fn a_write_is_all_or_nothing() {
        let dir = std::env::temp_dir().join(format!("supalite-blob-{}", std::process::id()));
        let s = FsStore::new(dir.clone());
        let mut w = s.create("b", "k/v1", 10).unwrap();
        w.append(b"hello").unwrap();
        assert!(!dir.join("b/k/v1").exists(), "not visible before finish");
        let info = FsStore::finish(&mut w).unwrap();
        assert_eq!(info.size, 5);
        assert_eq!(info.etag, "\"5d41402abc4b2a76b9719d911017c592\"");
        assert_eq!(std::fs::read(dir.join("b/k/v1")).unwrap(), b"hello");
        // Past the limit: abandoned, nothing published, no temporary left.
        let mut w = s.create("b", "big/v1", 4).unwrap();
        assert!(matches!(w.append(b"hello"), Err(Error::TooLarge)));
        assert!(FsStore::finish(&mut w).is_err());
        assert!(!dir.join("b/big/v1").exists());
        // Dropped unfinished: its temporary file goes.
        let w = s.create("b", "gone/v1", 10).unwrap();
        let tmp = w.tmp.clone();
        assert!(tmp.exists());
        drop(w);
        assert!(!tmp.exists());
        s.copy(("b", "k/v1"), ("c", "k2/v1")).unwrap();
        assert_eq!(std::fs::read(dir.join("c/k2/v1")).unwrap(), b"hello");
        s.delete("b", &["k/v1".into(), "missing/v1".into()]).unwrap();
        assert!(!dir.join("b/k").exists(), "empty directories removed");
        assert!(dir.join("b").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
