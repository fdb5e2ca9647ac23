//! The `blob-store` import, answered by the configured store
//! (`crate::blob_store`: `fs` or `s3`): the writer and stream resources
//! live in the instance's table.

use super::bindings::wit_blob_store::{self as wit, Error, ObjectInfo};
use super::state::State;
use crate::blob_store::{self as store, Store, Writer, CHUNK};
use wasmtime::component::Resource;
use wasmtime_wasi::p2::{DynInputStream, StreamError};

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Error {
        match e {
            store::Error::NotFound => Error::NotFound,
            store::Error::InvalidKey(m) => Error::InvalidKey(m),
            store::Error::TooLarge => Error::TooLarge,
            store::Error::Other(m) => Error::Other(m),
        }
    }
}

impl From<store::ObjectInfo> for ObjectInfo {
    fn from(i: store::ObjectInfo) -> ObjectInfo {
        ObjectInfo {
            size: i.size,
            etag: i.etag,
            modified_ms: i.modified_ms,
        }
    }
}

fn no_store() -> Error {
    Error::Other("no blob store is configured".into())
}

impl State {
    fn blobs(&self) -> Result<std::sync::Arc<Store>, Error> {
        self.blobs.clone().ok_or_else(no_store)
    }

    fn writer(&mut self, w: &Resource<Writer>) -> Result<&mut Writer, Error> {
        self.table
            .get_mut(w)
            .map_err(|e| Error::Other(format!("bad writer handle: {e}")))
    }
}

impl wit::HostWriter for State {
    async fn write(&mut self, w: Resource<Writer>, bytes: Vec<u8>) -> Result<(), Error> {
        Ok(self.writer(&w)?.append(&bytes).await?)
    }

    async fn write_from(
        &mut self,
        w: Resource<Writer>,
        src: Resource<DynInputStream>,
    ) -> Result<u64, Error> {
        let mut taken = 0u64;
        loop {
            let stream = self
                .table
                .get_mut(&src)
                .map_err(|e| Error::Other(format!("bad stream handle: {e}")))?;
            let chunk = match stream.read(CHUNK) {
                Ok(c) if c.is_empty() => {
                    stream.ready().await;
                    continue;
                }
                Ok(c) => c,
                Err(StreamError::Closed) => return Ok(taken),
                Err(_) => {
                    // The client went away: nothing of it stays.
                    self.writer(&w)?.abandon();
                    return Err(Error::Closed);
                }
            };
            taken += chunk.len() as u64;
            self.writer(&w)?.append(&chunk).await?;
        }
    }

    async fn finish(&mut self, w: Resource<Writer>) -> Result<ObjectInfo, Error> {
        Ok(self.writer(&w)?.finish().await?.into())
    }

    async fn drop(&mut self, w: Resource<Writer>) -> wasmtime::Result<()> {
        // Dropping an unfinished writer removes its temporary file.
        self.table.delete(w)?;
        Ok(())
    }
}

impl wit::Host for State {
    async fn create(
        &mut self,
        container: String,
        key: String,
        limit: u64,
    ) -> Result<Resource<Writer>, Error> {
        let w = self.blobs()?.create(&container, &key, limit)?;
        self.table
            .push(w)
            .map_err(|e| Error::Other(format!("too many writers: {e}")))
    }

    async fn get(
        &mut self,
        container: String,
        key: String,
        start: u64,
        end: Option<u64>,
    ) -> Result<Resource<DynInputStream>, Error> {
        let stream = self.blobs()?.get(&container, &key, start, end).await?;
        let stream: DynInputStream = Box::new(stream);
        self.table
            .push(stream)
            .map_err(|e| Error::Other(format!("too many streams: {e}")))
    }

    async fn info(&mut self, container: String, key: String) -> Result<ObjectInfo, Error> {
        Ok(self.blobs()?.info(&container, &key).await?.into())
    }

    async fn copy(
        &mut self,
        src_container: String,
        src_key: String,
        dst_container: String,
        dst_key: String,
    ) -> Result<ObjectInfo, Error> {
        Ok(self
            .blobs()?
            .copy((&src_container, &src_key), (&dst_container, &dst_key))
            .await?
            .into())
    }

    async fn delete(&mut self, container: String, keys: Vec<String>) -> Result<(), Error> {
        Ok(self.blobs()?.delete(&container, &keys).await?)
    }
}

