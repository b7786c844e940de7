//! `cnnc tune`: time candidate register tiles for each distinct GEMM-like
//! kernel shape of a model on the current adapter, and keep the fastest in
//! the cache (`super::tiles`) that later runs on the same adapter read.

use std::collections::BTreeMap;

use serde::Serialize;

use super::tiles::{adapter_key, cache_path, read_cache, write_json};
use super::workflow::Failure;
use crate::Model;
use crate::codegen::{self, GemmKind, LowerOptions, OptimizerKind, Plan, Tile, Tiling, plan};
use crate::runtime::{Executable, Gpu, Pass, StepUniform};

/// Candidate tiles per kind: shapes that ran well on lavapipe and on
/// GPUs (smaller ones) — the tuner measures rather than trusts.
fn candidates(kind: GemmKind) -> Vec<Tile> {
    let t = |m, n| Tile { m, n };
    match kind {
        GemmKind::Forward | GemmKind::BackwardWeight => {
            vec![t(4, 8), t(8, 16), t(16, 16), t(16, 32), t(32, 16)]
        }
        GemmKind::BackwardInput => vec![t(4, 4), t(8, 8), t(16, 8), t(16, 16), t(32, 8)],
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TuneRow {
    pub kernel: String,
    pub key: String,
    /// (tile, milliseconds) per candidate.
    pub timings: Vec<(Tile, f64)>,
    pub best: Tile,
    pub default: Tile,
}

/// Times every candidate for every GEMM-like kernel of the model (all
/// kernels try their n-th candidate in the same plan), keeps the fastest
/// per shape, and writes the cache.
pub fn tune(
    gpu: &Gpu,
    model: &Model,
    batch: usize,
    optimizer: OptimizerKind,
) -> Result<Vec<TuneRow>, Failure> {
    let base = LowerOptions {
        batch,
        optimizer,
        samples_per_chunk: crate::runtime::chunk_samples(&gpu.limits(), model.input.elements()),
        ..LowerOptions::default()
    };
    let plan_with = |tiling: Tiling| {
        plan(
            model,
            &LowerOptions {
                tiling,
                ..base.clone()
            },
        )
        .map_err(|e| Failure::Failed(e.to_string()))
    };
    let default_plan = plan_with(Tiling::default())?;
    let gemms: Vec<(String, GemmKind, String, Tile)> = default_plan
        .kernels
        .iter()
        .filter(|k| k.template.name.ends_with("_tiled"))
        .filter_map(|k| {
            let (kind, key) = k.gemm.clone()?;
            Some((k.name.clone(), kind, key, k.tile?))
        })
        .collect();
    let rounds = 5;
    let mut timings: BTreeMap<String, Vec<(Tile, f64)>> = BTreeMap::new();
    for round in 0..rounds {
        let tuned = gemms
            .iter()
            .map(|(_, kind, key, _)| (key.clone(), candidates(*kind)[round]))
            .collect();
        for (key, tile, ms) in time_tiles(gpu, plan_with(Tiling { tuned })?, batch)? {
            let entry = timings.entry(key).or_default();
            // Tiles are clamped to the shape: skip a repeat.
            if !entry.iter().any(|(t, _)| *t == tile) {
                entry.push((tile, ms));
            }
        }
        eprintln!("tried candidate {}/{rounds}", round + 1);
    }

    let mut rows = Vec::new();
    let mut best: BTreeMap<String, Tile> = BTreeMap::new();
    for (name, _, key, default) in gemms {
        let Some(times) = timings.get(&key) else { continue };
        let (tile, _) = times
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("timed");
        best.insert(key.clone(), tile);
        rows.push(TuneRow {
            kernel: name,
            key,
            timings: times.clone(),
            best: tile,
            default,
        });
    }
    save(gpu, best).map_err(Failure::Usage)?;
    Ok(rows)
}

/// One training step of `plan` timed kernel by kernel: (shape key, tile,
/// milliseconds) of each tiled GEMM-like kernel.
fn time_tiles(gpu: &Gpu, plan: Plan, batch: usize) -> Result<Vec<(String, Tile, f64)>, Failure> {
    let compiled = codegen::compile(plan).map_err(|e| Failure::Failed(e.to_string()))?;
    let exe = Executable::new(gpu, compiled)?;
    exe.write_params(&exe.plan.params.init(1));
    exe.write_step(&StepUniform {
        samples: batch as u32,
        training: 1,
        t: 1,
        lr: 1e-3,
        alpha: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-7,
        ..StepUniform::default()
    });
    // The first run compiles; the profile times the second.
    exe.run(Pass::Train, None);
    gpu.wait()?;
    let (times, _) = exe.profile(gpu, Pass::Train, None)?;
    Ok(times
        .into_iter()
        .filter_map(|(i, seconds)| {
            let k = &exe.plan.kernels[i];
            let (_, key) = k.gemm.as_ref()?;
            let tile = k.tile.filter(|_| k.template.name.ends_with("_tiled"))?;
            Some((key.clone(), tile, seconds * 1e3))
        })
        .collect())
}

/// Adds this adapter's best tiles to the cache file.
fn save(gpu: &Gpu, best: BTreeMap<String, Tile>) -> Result<(), String> {
    let mut cache = read_cache();
    cache.entry(adapter_key(gpu)).or_default().extend(best);
    let path = cache_path();
    write_json(&path, &cache).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn to_text(rows: &[TuneRow]) -> String {
    let mut out = String::new();
    for r in rows {
        let times: Vec<String> = r
            .timings
            .iter()
            .map(|(t, ms)| format!("{}x{} {ms:.1} ms", t.m, t.n))
            .collect();
        out += &format!(
            "{:<28} best {}x{} (default {}x{}): {}\n",
            r.kernel,
            r.best.m,
            r.best.n,
            r.default.m,
            r.default.n,
            times.join(", ")
        );
    }
    out += &format!("saved to {}\n", cache_path().display());
    out
}
