//! The ceiling a training step is held against: the best rate of the
//! project's own GEMM kernel on this adapter (the dense-layer kernel on a
//! 1024 x 1024 x 1024 product, over a few register tiles and workgroup
//! sizes), measured once per adapter, driver and kernel source and cached
//! in `$CNNC_CACHE_DIR/ceiling.json` beside the tuned tiles.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::tiles::{adapter_key, cache_dir, read_json, write_json};
use super::workflow::Failure;
use crate::codegen::{LowerOptions, Purpose, Tile, Tiling, plan};
use crate::model::CheckOptions;
use crate::runtime::{Executable, Gpu};
use crate::source::Source;

/// The GEMM's size: m = n = k.
const SIZE: usize = 1024;

/// Timed runs of each variant after the one that compiles it; the best counts.
const RUNS: usize = 3;

/// The variants tried: register tile and the most invocations per
/// workgroup. The default tiles for big GEMMs, the probe's best on
/// lavapipe (32 x 16 in 16-invocation workgroups) and their neighbours.
const VARIANTS: [(Tile, usize); 6] = [
    (Tile { m: 16, n: 32 }, 64),
    (Tile { m: 32, n: 16 }, 64),
    (Tile { m: 16, n: 16 }, 64),
    (Tile { m: 8, n: 16 }, 64),
    (Tile { m: 16, n: 32 }, 16),
    (Tile { m: 32, n: 16 }, 16),
];

/// The best GEMM rate measured on an adapter, and how it was reached.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ceiling {
    pub gflops: f64,
    pub tile: Tile,
    pub workgroup_size: usize,
    /// m = n = k of the product timed.
    pub size: usize,
}

/// Adapter key → its ceiling.
type Cache = BTreeMap<String, Ceiling>;

/// A rate as a fraction of the ceiling (none without a ceiling or a rate).
pub fn fraction(gflops: Option<f64>, ceiling: Option<&Ceiling>) -> Option<f64> {
    let (g, c) = (gflops?, ceiling?);
    (c.gflops > 0.0 && g.is_finite()).then(|| g / c.gflops)
}

/// GFLOP/s of `flops` in `ms` milliseconds (none for no work or no time).
pub fn gflops(flops: u64, ms: f64) -> Option<f64> {
    (flops > 0 && ms > 0.0).then(|| flops as f64 / (ms * 1e-3) / 1e9)
}

/// This adapter's ceiling: cached, else (when `measure`) measured and
/// cached; `fresh` measures again and replaces the cached one.
pub fn ceiling(gpu: &Gpu, measure: bool, fresh: bool) -> Result<Option<Ceiling>, Failure> {
    let path = cache_dir().join("ceiling.json");
    // What was measured is part of the key: another size or variant list
    // measures again rather than trusting an old figure.
    let key = format!("{} | {SIZE} {VARIANTS:?}", adapter_key(gpu));
    if !fresh && let Some(c) = cached(&path, &key) {
        return Ok(Some(c));
    }
    if !measure && !fresh {
        return Ok(None);
    }
    let measured = measure_gemm(gpu)?;
    // Failing to write the cache only loses it.
    let _ = store(&path, &key, measured);
    Ok(Some(measured))
}

/// The ceiling cached for `key`; none when the file is missing, unreadable
/// or not a cache (a corrupt file is measured over, never trusted).
fn cached(path: &Path, key: &str) -> Option<Ceiling> {
    read_json::<Cache>(path)
        .remove(key)
        .filter(|c| c.gflops.is_finite() && c.gflops > 0.0)
}

/// Adds `key`'s ceiling to the cache file, keeping the other adapters'.
fn store(path: &Path, key: &str, ceiling: Ceiling) -> std::io::Result<()> {
    let mut cache: Cache = read_json(path);
    cache.insert(key.to_string(), ceiling);
    write_json(path, &cache)
}

/// Times every variant of the GEMM (the dense-layer forward kernel of an
/// inference plan) and keeps the fastest.
fn measure_gemm(gpu: &Gpu) -> Result<Ceiling, Failure> {
    let source = Source::new("gemm.cnn", format!("input 1x1x{SIZE}; dense {SIZE}"));
    let model = crate::load(&source, &CheckOptions::default()).expect("the GEMM model checks");
    let base = LowerOptions {
        batch: SIZE,
        purpose: Purpose::Infer,
        samples_per_chunk: crate::runtime::chunk_samples(&gpu.limits(), SIZE),
        ..LowerOptions::default()
    };
    let failed = |e: crate::codegen::LowerError| Failure::Failed(e.to_string());
    let key = plan(&model, &base)
        .map_err(failed)?
        .kernels
        .iter()
        .find_map(|k| k.gemm.clone().map(|(_, key)| key))
        .expect("a dense layer has a GEMM");
    let mut best: Option<Ceiling> = None;
    for (tile, workgroup_size) in VARIANTS {
        let options = LowerOptions {
            workgroup_size,
            tiling: Tiling {
                tuned: [(key.clone(), tile)].into(),
            },
            ..base.clone()
        };
        let exe = Executable::new(
            gpu,
            plan(&model, &options)
                .and_then(crate::codegen::compile)
                .map_err(failed)?,
        )?;
        let kernel = exe
            .plan
            .kernels
            .iter()
            .position(|k| k.gemm.is_some())
            .expect("a dense forward kernel");
        let flops = exe.plan.kernels[kernel].flops as f64;
        let mut rate = 0.0f64;
        // The first run compiles the kernel (lavapipe compiles at launch).
        for run in 0..=RUNS {
            let t = Instant::now();
            exe.run_kernel(kernel);
            gpu.wait()?;
            if run > 0 {
                rate = rate.max(flops / t.elapsed().as_secs_f64() / 1e9);
            }
        }
        eprintln!(
            "ceiling: {}x{} tile, workgroups of {workgroup_size}: {rate:.2} GFLOP/s",
            tile.m, tile.n
        );
        if best.is_none_or(|b| rate > b.gflops) {
            best = Some(Ceiling {
                gflops: rate,
                tile,
                workgroup_size,
                size: SIZE,
            });
        }
    }
    Ok(best.expect("variants were timed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ceiling(gflops: f64) -> Ceiling {
        Ceiling {
            gflops,
            tile: Tile { m: 32, n: 16 },
            workgroup_size: 16,
            size: SIZE,
        }
    }

    #[test]
    fn a_rate_is_a_fraction_of_the_ceiling() {
        let c = ceiling(4.0);
        assert_eq!(fraction(Some(3.0), Some(&c)), Some(0.75));
        assert_eq!(fraction(Some(5.0), Some(&c)), Some(1.25));
        assert_eq!(fraction(None, Some(&c)), None);
        assert_eq!(fraction(Some(3.0), None), None);
        assert_eq!(fraction(Some(3.0), Some(&ceiling(0.0))), None);
    }

    #[test]
    fn gflops_are_flops_per_nanosecond() {
        // 2 GFLOP in 500 ms.
        assert_eq!(gflops(2_000_000_000, 500.0), Some(4.0));
        assert_eq!(gflops(0, 500.0), None);
        assert_eq!(gflops(1000, 0.0), None);
    }

    #[test]
    fn the_cache_keeps_each_adapter_s_ceiling_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("ceiling.json");
        assert_eq!(cached(&path, "a"), None);
        store(&path, "a", ceiling(4.0)).unwrap();
        store(&path, "b", ceiling(2.0)).unwrap();
        assert_eq!(cached(&path, "a"), Some(ceiling(4.0)));
        assert_eq!(cached(&path, "b"), Some(ceiling(2.0)));
        assert_eq!(cached(&path, "c"), None);
        store(&path, "a", ceiling(5.0)).unwrap();
        assert_eq!(cached(&path, "a"), Some(ceiling(5.0)));
        assert_eq!(cached(&path, "b"), Some(ceiling(2.0)));
    }

    #[test]
    fn a_corrupt_or_foreign_cache_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ceiling.json");
        for junk in [
            &b"\xff\xfe not json"[..],
            b"{\"a\": {\"gflops\": \"fast\"}}",
            b"[1, 2, 3]",
            b"{\"a\": {\"gflops\": -1.0, \"tile\": {\"m\": 1, \"n\": 1}, \"workgroup_size\": 1, \"size\": 1}}",
        ] {
            std::fs::write(&path, junk).unwrap();
            assert_eq!(cached(&path, "a"), None, "{}", String::from_utf8_lossy(junk));
        }
        store(&path, "a", ceiling(4.0)).unwrap();
        assert_eq!(cached(&path, "a"), Some(ceiling(4.0)));
    }
}
