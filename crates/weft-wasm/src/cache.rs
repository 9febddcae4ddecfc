//! The on-disk cache of compiled components.
//!
//! Compiling a component with Cranelift takes 100+ ms; loading a precompiled artifact takes
//! well under a millisecond. Entries are keyed by the SHA-256 of the component's bytes and by
//! the engine (wasmtime version and every setting that changes generated code), so a new
//! wasmtime or a fuel/no-fuel switch never loads a stale artifact.
//!
//! Each file holds the SHA-256 of the artifact followed by the artifact. A file whose digest
//! does not match (torn write, disk corruption, tampering by anyone but the host — the
//! directory must be the host's alone) is recompiled and rewritten, never loaded; wasmtime's
//! own checks on deserialization (header, version, engine compatibility) come on top.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// How a component came to be loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// Compiled, with no cache configured.
    Compiled,
    /// Not in the cache: compiled and stored.
    CacheMiss,
    /// Loaded from the cache without compiling.
    CacheHit,
    /// The cache entry was corrupt or unusable: compiled again and the entry replaced.
    Recompiled,
}

/// The cache directory and the engine's part of every key.
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_key: String,
}

impl DiskCache {
    pub(crate) fn new(dir: &Path, engine: &Engine) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(dir)?;
        // `precompile_compatibility_hash` covers the wasmtime version and the compilation
        // settings; `DefaultHasher::new()` uses fixed keys, so the name is stable for a build
        // (another Rust release may rename entries: they are then simply recompiled).
        let mut h = std::hash::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        Ok(DiskCache { dir: dir.to_path_buf(), engine_key: format!("{:016x}", h.finish()) })
    }

    fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(format!("{digest}-{}.cwasm", self.engine_key))
    }

    /// The compiled component for `bytes`, from the cache when a sound entry exists.
    pub(crate) fn load(
        &self,
        engine: &Engine,
        bytes: &[u8],
        compile: impl FnOnce() -> Result<Component, String>,
    ) -> Result<(Component, LoadOutcome), String> {
        let digest = hex::encode(Sha256::digest(bytes));
        let path = self.path(&digest);
        let outcome = match std::fs::read(&path) {
            Ok(file) => match Self::deserialize(engine, &file) {
                Some(component) => return Ok((component, LoadOutcome::CacheHit)),
                None => {
                    tracing::warn!(path = %path.display(), "compiled-component cache entry is corrupt or stale; recompiling");
                    LoadOutcome::Recompiled
                }
            },
            Err(_) => LoadOutcome::CacheMiss,
        };
        let component = compile()?;
        if let Err(e) = self.store(&path, &component) {
            // A cache that cannot be written only costs time on the next load.
            tracing::warn!(path = %path.display(), error = %e, "could not write the compiled-component cache");
        }
        Ok((component, outcome))
    }

    fn deserialize(engine: &Engine, file: &[u8]) -> Option<Component> {
        let (digest, artifact) = file.split_at_checked(32)?;
        if Sha256::digest(artifact).as_slice() != digest {
            return None;
        }
        // SAFETY: `Component::deserialize` loads native code, so it is unsafe for bytes that
        // wasmtime did not produce. These bytes are an artifact this host serialized into its
        // own cache directory (which must not be writable by anyone else, as documented on
        // `WasmHostConfig::cache_dir`), and the digest check above rejects any file that
        // changed since it was written. wasmtime additionally checks the header, its version
        // and the engine configuration, and fails on a mismatch. This is the only `unsafe` in
        // the crate; the dependency forces it.
        unsafe { Component::deserialize(engine, artifact) }.ok()
    }

    fn store(&self, path: &Path, component: &Component) -> Result<(), String> {
        let artifact = component.serialize().map_err(|e| e.to_string())?;
        let mut file = Vec::with_capacity(32 + artifact.len());
        file.extend_from_slice(&Sha256::digest(&artifact));
        file.extend_from_slice(&artifact);
        // Write then rename: a reader never sees a half-written file.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, &file).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| e.to_string())
    }

    /// The cache file for `bytes` (for tests that corrupt it).
    pub(crate) fn entry_for(&self, bytes: &[u8]) -> PathBuf {
        self.path(&hex::encode(Sha256::digest(bytes)))
    }
}
