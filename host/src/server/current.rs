//! The hot-swap cell: the pipeline that new requests go to. A reload
//! replaces it whole; requests in flight keep the one they started on,
//! which is dropped when the last of them finishes.

use super::pipeline::Pipeline;
use std::sync::{Arc, RwLock};

pub struct Current(RwLock<Arc<Pipeline>>);

impl Current {
    pub fn new(pipeline: Pipeline) -> Arc<Current> {
        Arc::new(Current(RwLock::new(Arc::new(pipeline))))
    }

    pub fn get(&self) -> Arc<Pipeline> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, pipeline: Pipeline) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(pipeline);
    }
}
