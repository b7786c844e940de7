//! The tile cache that `cnnc tune` writes and every later plan on the
//! same adapter reads: JSON at `$CNNC_CACHE_DIR/tiles.json` (default
//! `$XDG_CACHE_HOME/cnnc` or `~/.cache/cnnc`), adapter key → shape key →
//! tile. The adapter key includes a hash of the tiled templates, so a
//! changed kernel is tuned afresh.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::codegen::{Tile, Tiling};
use crate::runtime::Gpu;

pub type Cache = BTreeMap<String, BTreeMap<String, Tile>>;

pub fn cache_path() -> PathBuf {
    cache_dir().join("tiles.json")
}

/// cnnc's cache directory: `$CNNC_CACHE_DIR`, else `$XDG_CACHE_HOME/cnnc`
/// or `~/.cache/cnnc`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CNNC_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("cnnc")
}

/// What tunings are valid for: this adapter and driver, these kernels.
pub fn adapter_key(gpu: &Gpu) -> String {
    let templates: String = crate::codegen::TILED_TEMPLATES.iter().map(|t| t.text).collect();
    let hash = crate::train::sha256(templates.as_bytes());
    format!(
        "{} | {} {} | kernels {}",
        gpu.info.name,
        gpu.info.driver,
        gpu.info.driver_info,
        &hash[..12]
    )
}

pub fn read_cache() -> Cache {
    read_json(&cache_path())
}

/// A JSON cache file of cnnc's: its contents, or empty when it is missing,
/// unreadable or not such a cache (a cache is rebuilt, never trusted).
pub fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Writes a JSON cache file whole (atomically), making its folder.
pub fn write_json<T: serde::Serialize>(path: &Path, cache: &T) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(cache).expect("a cache serialises") + "\n";
    crate::atomic::write(path, text.as_bytes())
}

/// The tiles tuned on this adapter (empty if none).
pub fn cached_tiling(gpu: &Gpu) -> Tiling {
    Tiling {
        tuned: read_cache().remove(&adapter_key(gpu)).unwrap_or_default(),
    }
}
