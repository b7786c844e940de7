//! `cnnc bench`: training and inference throughput, the cost of the first
//! step, and a per-layer table of kernel times and GFLOP/s, like `caffe
//! time` and Darknet's `-benchmark_layers`.

use std::time::Instant;

use serde::Serialize;

use crate::Model;
use crate::app::workflow::{Failure, plan_for, plan_inference};
use crate::codegen::{OptimizerKind, Phase};
use crate::data::Dataset;
use crate::model::CheckOptions;
use crate::rng::SplitMix64;
use crate::runtime::{Executable, Gpu, Pass, StepUniform};
use crate::source::Source;
use crate::train::{DeviceSplit, TrainOptions, step_uniform, write_batch};

#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    pub optimizer: OptimizerKind,
    /// Also time the project's GEMM (a 1024^3 dense layer) as a yardstick.
    pub gemm: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct KernelTiming {
    pub name: String,
    pub phase: Phase,
    pub ms: f64,
    /// Its register tile, for GEMM-like kernels.
    pub tile: Option<crate::codegen::Tile>,
    /// Achieved GFLOP/s (for kernels that multiply-accumulate).
    pub gflops: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LayerTiming {
    pub layer: String,
    pub description: String,
    pub forward_ms: f64,
    pub backward_ms: f64,
    /// Of the profiled step.
    pub share: f64,
    pub kernels: Vec<KernelTiming>,
}

#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub model: String,
    pub adapter: String,
    pub batch: usize,
    pub steps: usize,
    pub warmup: usize,
    /// Pipeline creation, upload and the first training step, from a cold
    /// start of this process.
    pub first_step_ms: f64,
    pub train_step_ms: f64,
    pub train_images_per_s: f64,
    pub infer_batch_ms: f64,
    pub infer_images_per_s: f64,
    /// Bytes of every buffer of the step.
    pub memory_bytes: u64,
    pub memory: crate::codegen::Memory,
    /// How kernels were timed.
    pub timing: String,
    /// Shapes whose tile came from `cnnc tune`'s cache (the rest: defaults).
    pub tuned_kernels: Vec<String>,
    pub layers: Vec<LayerTiming>,
    /// Input gathering, loss and optimizer.
    pub other_ms: f64,
    pub gemm_gflops: Option<f64>,
}

/// A random dataset of `n` samples shaped for the model.
fn synthetic(model: &Model, n: usize) -> Dataset {
    let mut rng = SplitMix64::new(1);
    let classes = model.output().elements() as u64;
    let dims = model.input.dims();
    Dataset {
        shape: [dims[0], dims[1], dims[2]],
        images: (0..n * model.input.elements())
            .map(|_| rng.next_u64() as u8)
            .collect(),
        labels: (0..n).map(|_| (rng.next_u64() % classes) as u32).collect(),
        origin: "synthetic".into(),
    }
}

pub fn run(
    gpu: &Gpu,
    source: &Source,
    model: &Model,
    options: &BenchOptions,
) -> Result<BenchReport, Failure> {
    let b = options.batch;
    let train_options = TrainOptions {
        batch: b,
        optimizer: options.optimizer,
        ..TrainOptions::default()
    };
    let started = Instant::now();
    let plan = plan_for(gpu, source, model, b, options.optimizer)?;
    let exe = Executable::new(gpu, plan)?;
    let mut steps = SyntheticSteps::new(&exe, model, &train_options)?;
    steps.step(&exe);
    gpu.wait()?;
    let first_step_ms = started.elapsed().as_secs_f64() * 1e3;
    for _ in 0..options.warmup {
        steps.step(&exe);
    }
    let train_step_ms = time_ms(gpu, options.steps, || steps.step(&exe))?;
    exe.write_step(&StepUniform {
        samples: b as u32,
        ..StepUniform::default()
    });
    let split = &steps.split.data;
    exe.run(Pass::Eval, Some(split));
    let infer_batch_ms = time_ms(gpu, options.steps, || exe.run(Pass::Eval, Some(split)))?;

    exe.write_step(&step_uniform(&train_options, steps.t + 1, b, train_options.lr));
    let (times, timestamps) = exe.profile(gpu, Pass::Train, Some(split))?;
    let (layers, other_ms) = per_layer(model, &exe, &times);

    let gemm_gflops = if options.gemm { Some(gemm(gpu)?) } else { None };
    Ok(BenchReport {
        model: model.name.clone(),
        adapter: gpu.describe(),
        batch: b,
        steps: options.steps,
        warmup: options.warmup,
        first_step_ms,
        train_step_ms,
        train_images_per_s: b as f64 / (train_step_ms / 1e3),
        infer_batch_ms,
        infer_images_per_s: b as f64 / (infer_batch_ms / 1e3),
        memory_bytes: exe.plan.memory_bytes(),
        memory: exe.plan.memory(),
        tuned_kernels: exe
            .plan
            .kernels
            .iter()
            .filter(|k| k.tuned)
            .map(|k| k.name.clone())
            .collect(),
        timing: if timestamps {
            "GPU timestamp queries, each kernel in its own compute pass".into()
        } else {
            "host clock, each kernel in its own submission (no timestamp queries on this adapter)".into()
        },
        layers,
        other_ms,
        gemm_gflops,
    })
}

/// Training steps of an executable on random data shaped for its model,
/// with fresh weights: what a bench times.
pub struct SyntheticSteps {
    split: DeviceSplit,
    samples: usize,
    options: TrainOptions,
    /// Steps taken.
    t: u64,
}

impl SyntheticSteps {
    pub fn new(exe: &Executable, model: &Model, options: &TrainOptions) -> Result<SyntheticSteps, Failure> {
        exe.write_params(&exe.plan.params.init(1));
        let data = synthetic(model, 4 * options.batch);
        Ok(SyntheticSteps {
            split: DeviceSplit::upload(exe, &data)?,
            samples: data.len(),
            options: options.clone(),
            t: 0,
        })
    }

    /// One training step (submitted, not waited for).
    pub fn step(&mut self, exe: &Executable) {
        let b = self.options.batch;
        self.t += 1;
        let batch: Vec<usize> = (0..b).map(|i| (i + self.t as usize * b) % self.samples).collect();
        write_batch(exe, &self.split, &batch);
        exe.write_step(&step_uniform(&self.options, self.t, b, self.options.lr));
        exe.run(Pass::Train, Some(&self.split.data));
    }
}

/// Milliseconds per training step of `exe` (planned for `options`), over
/// `steps` steps after `warmup` untimed ones.
pub fn train_step_ms(
    gpu: &Gpu,
    exe: &Executable,
    model: &Model,
    options: &TrainOptions,
    warmup: usize,
    steps: usize,
) -> Result<f64, Failure> {
    let mut synthetic = SyntheticSteps::new(exe, model, options)?;
    for _ in 0..warmup {
        synthetic.step(exe);
    }
    time_ms(gpu, steps, || synthetic.step(exe))
}

/// Milliseconds per call of `work`, over `count` calls, after the GPU has
/// finished what came before.
fn time_ms(gpu: &Gpu, count: usize, mut work: impl FnMut()) -> Result<f64, Failure> {
    gpu.wait()?;
    let timed = Instant::now();
    for _ in 0..count {
        work();
    }
    gpu.wait()?;
    Ok(timed.elapsed().as_secs_f64() * 1e3 / count.max(1) as f64)
}

/// Each kernel's time (seconds, by kernel index) added up per layer, and
/// the milliseconds of kernels of no layer (gather, loss, optimizer).
fn per_layer(model: &Model, exe: &Executable, times: &[(usize, f64)]) -> (Vec<LayerTiming>, f64) {
    let total: f64 = times.iter().map(|t| t.1).sum::<f64>().max(1e-12);
    let mut layers: Vec<LayerTiming> = model
        .layers
        .iter()
        .map(|l| LayerTiming {
            layer: l.name.clone(),
            description: l.describe(),
            forward_ms: 0.0,
            backward_ms: 0.0,
            share: 0.0,
            kernels: Vec::new(),
        })
        .collect();
    let mut other_ms = 0.0;
    for &(i, seconds) in times {
        let k = &exe.plan.kernels[i];
        let ms = seconds * 1e3;
        let timing = KernelTiming {
            name: k.name.clone(),
            phase: k.phase,
            ms,
            tile: k.tile,
            gflops: (k.flops > 0).then(|| k.flops as f64 / seconds.max(1e-12) / 1e9),
        };
        match k.layer {
            Some(l) => {
                let row = &mut layers[l];
                match k.phase {
                    Phase::Backward => row.backward_ms += ms,
                    _ => row.forward_ms += ms,
                }
                row.share += seconds / total;
                row.kernels.push(timing);
            }
            None => other_ms += ms,
        }
    }
    layers.retain(|l| !l.kernels.is_empty());
    (layers, other_ms)
}

/// GFLOP/s of the project's GEMM: the dense-layer kernel on a
/// 1024 x 1024 x 1024 product, best of three.
pub fn gemm(gpu: &Gpu) -> Result<f64, Failure> {
    let source = Source::new("gemm.cnn", "input 1x1x1024; dense 1024");
    let model = crate::load(&source, &CheckOptions::default()).expect("the GEMM model checks");
    let plan = plan_inference(gpu, &source, &model, 1024)?;
    let exe = Executable::new(gpu, plan)?;
    let kernel = exe
        .plan
        .kernels
        .iter()
        .position(|k| k.name == "dense1_forward")
        .expect("a dense forward kernel");
    let flops = exe.plan.kernels[kernel].flops as f64;
    let mut best = 0.0f64;
    for _ in 0..4 {
        let t = Instant::now();
        exe.run_kernel(kernel);
        gpu.wait()?;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    Ok(best)
}

impl BenchReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} on {}\nbatch {}, {} timed steps after {} warm-up\n\n",
            self.model, self.adapter, self.batch, self.steps, self.warmup
        );
        out += &format!(
            "first step (pipelines, upload, one step): {:.1} s\n",
            self.first_step_ms / 1e3
        );
        out += &format!(
            "training:  {:.1} ms/step, {:.1} images/s\n",
            self.train_step_ms, self.train_images_per_s
        );
        out += &format!(
            "inference: {:.1} ms/batch, {:.1} images/s\n",
            self.infer_batch_ms, self.infer_images_per_s
        );
        out += &format!("GPU memory of a step: {}\n\n", self.memory.describe());
        let width = self
            .layers
            .iter()
            .map(|l| l.layer.len() + l.description.len() + 3)
            .max()
            .unwrap_or(10)
            .max(10);
        out += &format!(
            "  {:<width$}  {:>10}  {:>11}  {:>6}  GFLOP/s and tile (forward / input grad / weight grad)\n",
            "layer", "forward ms", "backward ms", "share"
        );
        for l in &self.layers {
            let rate = |suffix: &str| {
                l.kernels
                    .iter()
                    .find(|k| k.name.ends_with(suffix))
                    .and_then(|k| Some((k.gflops?, k.tile?)))
                    .map_or("-".to_string(), |(g, t)| format!("{g:.2} ({}x{})", t.m, t.n))
            };
            let gflops = if l.kernels.iter().any(|k| k.gflops.is_some()) {
                format!(
                    "{} / {} / {}",
                    rate("_forward"),
                    rate("_backward_input"),
                    rate("_backward_weight")
                )
            } else {
                String::new()
            };
            out += &format!(
                "  {:<width$}  {:>10.1}  {:>11.1}  {:>5.1}%  {gflops}\n",
                format!("{} ({})", l.layer, l.description),
                l.forward_ms,
                l.backward_ms,
                100.0 * l.share
            );
        }
        out += &format!(
            "  {:<width$}  {:>10.1}\n",
            "input, loss, optimizer", self.other_ms
        );
        out += &format!("\nkernel times: {}\n", self.timing);
        out += &if self.tuned_kernels.is_empty() {
            "tiles: defaults (run `cnnc tune` to measure this adapter's best)\n".to_string()
        } else {
            format!(
                "tiles from `cnnc tune`'s cache for: {}\n",
                self.tuned_kernels.join(", ")
            )
        };
        if let Some(g) = self.gemm_gflops {
            out += &format!("reference GEMM (1024^3, the dense-layer kernel): {g:.2} GFLOP/s\n");
        }
        out
    }
}
