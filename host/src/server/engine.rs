//! The wasmtime engine: its configuration (pooling allocator, epoch
//! interruption), the epoch ticker thread, and compiled components loaded
//! from (and saved to) the compilation cache.

use super::bindings::wt;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use wasmtime::component::Component;
use wasmtime::{Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances (the deadline's resolution).
pub(super) const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(10);

/// Epoch ticks in `ms` milliseconds (at least one).
pub(super) fn ticks(ms: u64) -> u64 {
    ms / EPOCH_TICK.as_millis() as u64 + 1
}

/// A tuning setting (environment only): its value, else its row's
/// default, else `default` (a default worked out here).
pub(super) fn tune(setting: &contract::settings::Setting, default: usize) -> usize {
    std::env::var(setting.env)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| setting.default_text()?.parse().ok())
        .unwrap_or(default)
}

/// The engine; `memory_limit`: the most one linear memory may grow to
/// (each role's component has its own); `keep_resident`: the default of
/// what a freed memory slot keeps resident (zeroed by memset when reused
/// instead of unmapped and faulted in again).
pub(super) fn engine(memory_limit: u64, keep_resident: usize) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(1000)
        .total_core_instances(20_000)
        .total_memories(10_000)
        .total_tables(10_000)
        .max_core_instances_per_component(64)
        .max_memories_per_component(32)
        .max_tables_per_component(64)
        .max_memory_size(memory_limit as usize)
        .linear_memory_keep_resident(tune(&contract::settings::MEMORY_KEEP_RESIDENT, keep_resident))
        .table_keep_resident(tune(&contract::settings::TABLE_KEEP_RESIDENT, 0))
        .async_stack_keep_resident(tune(&contract::settings::STACK_KEEP_RESIDENT, 0));
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // A per-request deadline for guest code, as `wasmtime serve` and Spin set.
    config.epoch_interruption(true);
    let engine = wt(Engine::new(&config)).context("creating the wasmtime engine")?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match ticker.upgrade() {
                Some(e) => e.increment_epoch(),
                None => return,
            }
        })?;
    Ok(engine)
}

pub(super) fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("supalite")
}

/// Compiles `bytes`, reusing an earlier compilation from the cache directory.
pub(super) fn load_component(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    let mut hasher = Sha256::new();
    hasher.update(bytes);
    hasher.update(env!("CARGO_PKG_VERSION").as_bytes());
    let key = hex::encode(hasher.finalize());
    let path = cache_dir().join(format!("{key}.cwasm"));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` of this same
        // binary version; wasmtime still checks engine compatibility.
        if let Ok(c) = unsafe { Component::deserialize_file(engine, &path) } {
            return Ok(c);
        }
    }
    let component = wt(Component::new(engine, bytes)).context("compiling the composed pipeline")?;
    if let Ok(ser) = component.serialize() {
        let _ = std::fs::create_dir_all(cache_dir());
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, ser).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
    }
    Ok(component)
}

#[cfg(test)]
mod tests {
    /// The engine's epoch ticker ends guest code that never returns (what
    /// bounds a looping component) with an interrupt trap.
    #[tokio::test]
    async fn the_epoch_deadline_interrupts_a_loop() {
        // (module (func (export "spin") (loop (br 0))))
        let wasm = [
            0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // header
            0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
            0x03, 0x02, 0x01, 0x00, // one function
            0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export
            0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
        ];
        let engine = super::engine(64 << 20, 0).unwrap();
        let module = wasmtime::Module::new(&engine, wasm).unwrap();
        let mut store = wasmtime::Store::new(&engine, ());
        store.set_epoch_deadline(20); // 20 ticks of 10 ms
        let instance = wasmtime::Instance::new_async(&mut store, &module, &[])
            .await
            .unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let started = std::time::Instant::now();
        let err = spin.call_async(&mut store, ()).await.unwrap_err();
        assert_eq!(
            err.downcast_ref::<wasmtime::Trap>(),
            Some(&wasmtime::Trap::Interrupt)
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}
