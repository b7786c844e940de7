//! What a configuration costs before it trains: its parameters and FLOPs,
//! from the checked model, and the milliseconds of a training step, from a
//! short `bench`-style measurement on this adapter, cached per shape (the
//! generated kernels are specialised to every shape, so their text is the
//! key). The constraints prune on these before any training.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::Model;
use crate::app::bench;
use crate::app::tiles::{adapter_key, cache_dir, read_json, write_json};
use crate::app::workflow::{Failure, plan_for_training};
use crate::runtime::{Executable, Gpu};
use crate::source::Source;
use crate::train::{TrainOptions, sha256};
use crate::units::thousands;

/// `--max-params`, `--max-flops`, `--max-step-ms`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Constraints {
    pub max_params: Option<usize>,
    /// Forward FLOPs per image, as `cnnc summary` counts them.
    pub max_flops: Option<u64>,
    /// Milliseconds per training step at the search's batch.
    pub max_step_ms: Option<f64>,
}

impl Constraints {
    /// Why a model of these counts is pruned, if it is.
    pub fn static_excess(&self, model: &Model) -> Option<String> {
        let (params, flops) = (model.params().total(), model.flops());
        if let Some(max) = self.max_params.filter(|&m| params > m) {
            return Some(format!(
                "{} parameters, over --max-params {}",
                thousands(params as u64),
                thousands(max as u64)
            ));
        }
        self.max_flops.filter(|&m| flops > m).map(|max| {
            format!(
                "{} FLOPs per image, over --max-flops {}",
                thousands(flops),
                thousands(max)
            )
        })
    }

    /// Why a step of `ms` is pruned, if it is.
    pub fn step_excess(&self, ms: f64) -> Option<String> {
        self.max_step_ms
            .filter(|&m| ms > m)
            .map(|max| format!("{ms:.1} ms per training step, over --max-step-ms {max}"))
    }

    /// The constraints given, as flags.
    pub fn flags(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(m) = self.max_params {
            out.push(format!("--max-params {m}"));
        }
        if let Some(m) = self.max_flops {
            out.push(format!("--max-flops {m}"));
        }
        if let Some(m) = self.max_step_ms {
            out.push(format!("--max-step-ms {m}"));
        }
        out
    }
}

/// Steps timed after one untimed: enough to see a step's cost, few enough
/// to measure every candidate of a search.
const TIMED_STEPS: usize = 3;

type StepCache = BTreeMap<String, BTreeMap<String, f64>>;

fn cache_path() -> PathBuf {
    cache_dir().join("step_ms.json")
}

/// Milliseconds per training step of `model` with `options` on `gpu`:
/// from the cache when these kernels were timed on this adapter before,
/// else measured (and cached; failing to write the cache only loses it).
pub fn step_ms(gpu: &Gpu, source: &Source, model: &Model, options: &TrainOptions) -> Result<f64, Failure> {
    let compiled = plan_for_training(gpu, source, model, options)?;
    let (adapter, kernels) = (adapter_key(gpu), sha256(compiled.shaders.concat().as_bytes()));
    if let Some(&ms) = read_json::<StepCache>(&cache_path())
        .get(&adapter)
        .and_then(|a| a.get(&kernels))
    {
        return Ok(ms);
    }
    let exe = Executable::new(gpu, compiled)?;
    let ms = bench::train_step_ms(gpu, &exe, model, options, 1, TIMED_STEPS)?;
    let mut cache: StepCache = read_json(&cache_path());
    cache.entry(adapter).or_default().insert(kernels, ms);
    // Failing to write the cache only loses it.
    let _ = write_json(&cache_path(), &cache);
    Ok(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(text: &str) -> Model {
        crate::load(
            &Source::new("m.cnn", text),
            &crate::model::CheckOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn constraints_prune_by_the_model_s_counts() {
        // 8x8x1 -> dense 10: 650 parameters, 1,280 FLOPs per image.
        let m = model("input 8x8x1; dense 10");
        assert_eq!((m.params().total(), m.flops()), (650, 1280));
        let none = Constraints::default();
        assert_eq!(none.static_excess(&m), None);
        assert_eq!(none.step_excess(1e9), None);
        let params = Constraints {
            max_params: Some(649),
            ..Constraints::default()
        };
        assert_eq!(
            params.static_excess(&m).unwrap(),
            "650 parameters, over --max-params 649"
        );
        let flops = Constraints {
            max_params: Some(650),
            max_flops: Some(1000),
            max_step_ms: Some(20.0),
        };
        assert_eq!(
            flops.static_excess(&m).unwrap(),
            "1,280 FLOPs per image, over --max-flops 1,000"
        );
        assert_eq!(flops.step_excess(20.0), None);
        assert!(
            flops
                .step_excess(20.5)
                .unwrap()
                .contains("20.5 ms per training step")
        );
        assert_eq!(
            flops.flags(),
            ["--max-params 650", "--max-flops 1000", "--max-step-ms 20"]
        );
    }
}
