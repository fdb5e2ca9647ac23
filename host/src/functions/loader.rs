//! Functions' components: the engine they run on (its own, with epoch
//! interruption and its own ticker; the pipeline's pooling engine is sized
//! for the role components), and each function's compiled component,
//! compiled once and kept until its file changes (size or modification
//! time), so a new `function.wasm` is picked up on the next request.

use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;
use wasmtime::component::{Component, Linker};
use wasmtime::Engine;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use super::run::FnState;

/// How often the functions' engine advances its epoch (the resolution of
/// the CPU time and wall clock limits).
pub const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// The functions' engine, made once per process (reloads keep it).
pub fn engine() -> Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e.clone());
    }
    let mut config = wasmtime::Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("creating the functions' wasmtime engine")?;
    let engine = ENGINE.get_or_init(|| engine).clone();
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("functions-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match ticker.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        })?;
    Ok(engine)
}

/// WASI (no preopens, no sockets: the store's context grants none) and
/// outgoing wasi:http, nothing else.
fn linker(engine: &Engine) -> Result<Linker<FnState>> {
    let mut linker: Linker<FnState> = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
        .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    Ok(linker)
}

/// What a function directory's component is now.
#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

/// A compiled function, or why it is not.
pub type Loaded = Result<Arc<ProxyPre<FnState>>, Arc<str>>;

/// The compiled functions of one directory, by name.
pub struct Loader {
    engine: Engine,
    dir: PathBuf,
    cache: Mutex<HashMap<String, (Stamp, Loaded)>>,
}

impl Loader {
    pub fn new(engine: Engine, dir: PathBuf) -> Loader {
        Loader {
            engine,
            dir,
            cache: Mutex::new(HashMap::new()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The function `name`: `None` when its directory holds no component
    /// file; else its compiled component (from the cache while the file is
    /// unchanged) or the error that compiling it gave.
    pub async fn get(&self, name: &str) -> Option<Loaded> {
        let path = self.dir.join(name).join(super::policy::COMPONENT_FILE);
        let meta = tokio::fs::metadata(&path).await.ok().filter(|m| m.is_file())?;
        let stamp = Stamp {
            len: meta.len(),
            modified: meta.modified().ok(),
        };
        if let Some((s, loaded)) = self.lock().get(name) {
            if *s == stamp {
                return Some(loaded.clone());
            }
        }
        let engine = self.engine.clone();
        let started = std::time::Instant::now();
        let compiled = tokio::task::spawn_blocking(move || compile(&engine, &path))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .and_then(|r| r);
        let loaded: Loaded = match compiled {
            Ok(pre) => {
                tracing::info!(
                    function = name,
                    compile_ms = started.elapsed().as_millis() as u64,
                    "function loaded"
                );
                Ok(Arc::new(pre))
            }
            Err(e) => {
                tracing::warn!(function = name, "function failed to load: {e:#}");
                Err(format!("{e:#}").into())
            }
        };
        self.lock().insert(name.to_string(), (stamp, loaded.clone()));
        Some(loaded)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Stamp, Loaded)>> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn compile(engine: &Engine, path: &Path) -> Result<ProxyPre<FnState>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let component = Component::new(engine, &bytes)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .with_context(|| format!("compiling {}", path.display()))?;
    let pre = linker(engine)?
        .instantiate_pre(&component)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the function imports something a function is not given")?;
    ProxyPre::new(pre)
        .map_err(|e| anyhow::anyhow!("{e:#}"))
        .context("the function does not export wasi:http/incoming-handler")
}
