//! `cnnc bench`: training and inference throughput, the cost of the first
//! step, and a per-layer table of kernel times and GFLOP/s, like `caffe
//! time` and Darknet's `-benchmark_layers`, each rate also as a fraction of
//! the adapter's best GEMM (`super::ceiling`).

use std::time::Instant;

use serde::Serialize;

use super::ceiling::{Ceiling, fraction, gflops};
use crate::Model;
use crate::app::workflow::{Failure, plan_for};
use crate::codegen::{OptimizerKind, Phase};
use crate::data::Dataset;
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
    /// Measure the adapter's ceiling (the project's GEMM at 1024^3) when
    /// it is not cached yet.
    pub gemm: bool,
    /// Measure the ceiling again, replacing the cached one.
    pub fresh_ceiling: bool,
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
    /// GEMM FLOPs of its kernels in a training step.
    pub flops: u64,
    /// Those FLOPs over its kernels' time.
    pub gflops: Option<f64>,
    /// That rate over the ceiling's.
    pub fraction: Option<f64>,
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
    /// start of this process: the sum of the next two.
    pub first_step_ms: f64,
    /// Planning, emitting and validating the kernels, creating their
    /// pipelines, buffers and bind groups.
    pub first_step_pipelines_ms: f64,
    /// Uploading the data and running the first step (a driver that
    /// compiles kernels when they are first launched, as lavapipe does,
    /// compiles them here).
    pub first_step_run_ms: f64,
    pub train_step_ms: f64,
    pub train_images_per_s: f64,
    /// GEMM FLOPs of a training step (forward, input and weight gradients).
    pub train_flops: u64,
    /// Those FLOPs over the timed step's wall-clock time.
    pub train_gflops: Option<f64>,
    /// That rate over the ceiling's.
    pub train_fraction: Option<f64>,
    /// Kernel launches of a timed training step.
    pub dispatches_per_step: f64,
    /// Queue submissions of a timed training step.
    pub submissions_per_step: f64,
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
    /// The adapter's best GEMM rate, when measured or cached.
    pub ceiling: Option<Ceiling>,
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
    let first_step_pipelines_ms = started.elapsed().as_secs_f64() * 1e3;
    let mut steps = SyntheticSteps::new(&exe, model, &train_options)?;
    steps.step(&exe);
    gpu.wait()?;
    let first_step_ms = started.elapsed().as_secs_f64() * 1e3;
    for _ in 0..options.warmup {
        steps.step(&exe);
    }
    let before = gpu.work();
    let train_step_ms = time_ms(gpu, options.steps, || steps.step(&exe))?;
    let work = gpu.work() - before;
    let per_step = |count: u64| count as f64 / options.steps.max(1) as f64;
    exe.write_step(&StepUniform {
        samples: b as u32,
        ..StepUniform::default()
    });
    let split = &steps.split.data;
    exe.run(Pass::Eval, Some(split));
    let infer_batch_ms = time_ms(gpu, options.steps, || exe.run(Pass::Eval, Some(split)))?;

    exe.write_step(&step_uniform(&train_options, steps.t + 1, b, train_options.lr));
    let (times, timestamps) = exe.profile(gpu, Pass::Train, Some(split))?;
    let ceiling = super::ceiling::ceiling(gpu, options.gemm, options.fresh_ceiling)?;
    let (layers, other_ms) = per_layer(model, &exe, &times, ceiling.as_ref());
    let train_flops: u64 = exe.plan.kernels.iter().map(|k| k.flops).sum();
    let train_gflops = gflops(train_flops, train_step_ms);
    Ok(BenchReport {
        model: model.name.clone(),
        adapter: gpu.describe(),
        batch: b,
        steps: options.steps,
        warmup: options.warmup,
        first_step_ms,
        first_step_pipelines_ms,
        first_step_run_ms: first_step_ms - first_step_pipelines_ms,
        train_step_ms,
        train_images_per_s: b as f64 / (train_step_ms / 1e3),
        train_flops,
        train_gflops,
        train_fraction: fraction(train_gflops, ceiling.as_ref()),
        dispatches_per_step: per_step(work.dispatches),
        submissions_per_step: per_step(work.submissions),
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
        ceiling,
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

/// Each kernel's time (seconds, by kernel index) added up per layer, with
/// the layer's rate against the ceiling, and the milliseconds of kernels of
/// no layer (gather, loss, optimizer).
fn per_layer(
    model: &Model,
    exe: &Executable,
    times: &[(usize, f64)],
    ceiling: Option<&Ceiling>,
) -> (Vec<LayerTiming>, f64) {
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
            flops: 0,
            gflops: None,
            fraction: None,
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
                row.flops += k.flops;
                row.kernels.push(timing);
            }
            None => other_ms += ms,
        }
    }
    layers.retain(|l| !l.kernels.is_empty());
    for l in &mut layers {
        l.gflops = gflops(l.flops, l.forward_ms + l.backward_ms);
        l.fraction = fraction(l.gflops, ceiling);
    }
    (layers, other_ms)
}

impl BenchReport {
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "{} on {}\nbatch {}, {} timed steps after {} warm-up\n\n",
            self.model, self.adapter, self.batch, self.steps, self.warmup
        );
        out += &format!(
            "first step: {:.1} s (plan and pipelines {:.1} s, upload and run {:.1} s)\n",
            self.first_step_ms / 1e3,
            self.first_step_pipelines_ms / 1e3,
            self.first_step_run_ms / 1e3
        );
        out += &format!(
            "training:  {:.1} ms/step, {:.1} images/s, {}\n",
            self.train_step_ms,
            self.train_images_per_s,
            rate_of_ceiling(self.train_gflops, self.train_fraction)
        );
        out += &format!(
            "           per step: {}, {}\n",
            count(self.dispatches_per_step, "dispatch", "dispatches"),
            count(self.submissions_per_step, "queue submission", "queue submissions")
        );
        out += &format!(
            "inference: {:.1} ms/batch, {:.1} images/s\n",
            self.infer_batch_ms, self.infer_images_per_s
        );
        out += &format!("GPU memory of a step: {}\n", self.memory.describe());
        out += &match &self.ceiling {
            Some(c) => format!(
                "ceiling: {:.2} GFLOP/s, the best of the project's GEMM at {}^3 ({}x{} tile, workgroups of {})\n\n",
                c.gflops, c.size, c.tile.m, c.tile.n, c.workgroup_size
            ),
            None => "ceiling: not measured (run without --no-gemm once)\n\n".to_string(),
        };
        out += &self.layer_table();
        out += &format!("\nkernel times: {}\n", self.timing);
        out += &if self.tuned_kernels.is_empty() {
            "tiles: defaults (run `cnnc tune` to measure this adapter's best)\n".to_string()
        } else {
            format!(
                "tiles from `cnnc tune`'s cache for: {}\n",
                self.tuned_kernels.join(", ")
            )
        };
        out
    }

    /// Per layer: time, share, rate against the ceiling, and each GEMM's
    /// rate and tile.
    fn layer_table(&self) -> String {
        let width = self
            .layers
            .iter()
            .map(|l| l.layer.len() + l.description.len() + 3)
            .max()
            .unwrap_or(10)
            .max(22);
        let mut out = format!(
            "  {:<width$}  {:>10}  {:>11}  {:>6}  {:>7}  {:>7}  GFLOP/s and tile (forward / input grad / weight grad)\n",
            "layer", "forward ms", "backward ms", "share", "GFLOP/s", "ceiling"
        );
        for l in &self.layers {
            let rate = |suffix: &str| {
                l.kernels
                    .iter()
                    .find(|k| k.name.ends_with(suffix))
                    .and_then(|k| Some((k.gflops?, k.tile?)))
                    .map_or("-".to_string(), |(g, t)| format!("{g:.2} ({}x{})", t.m, t.n))
            };
            let kernels = if l.kernels.iter().any(|k| k.gflops.is_some()) {
                format!(
                    "{} / {} / {}",
                    rate("_forward"),
                    rate("_backward_input"),
                    rate("_backward_weight")
                )
            } else {
                String::new()
            };
            let row = format!(
                "  {:<width$}  {:>10.1}  {:>11.1}  {:>5.1}%  {:>7}  {:>7}  {kernels}",
                format!("{} ({})", l.layer, l.description),
                l.forward_ms,
                l.backward_ms,
                100.0 * l.share,
                l.gflops.map_or(String::new(), |g| format!("{g:.2}")),
                percent(l.fraction),
            );
            out += row.trim_end();
            out += "\n";
        }
        out += &format!(
            "  {:<width$}  {:>10.1}\n",
            "input, loss, optimizer", self.other_ms
        );
        out
    }
}

/// "2.96 GFLOP/s, 59 % of the ceiling", or as much of it as is known.
fn rate_of_ceiling(gflops: Option<f64>, fraction: Option<f64>) -> String {
    match (gflops, fraction) {
        (Some(g), Some(_)) => format!("{g:.2} GFLOP/s, {} of the ceiling", percent(fraction)),
        (Some(g), None) => format!("{g:.2} GFLOP/s"),
        (None, _) => "no GEMM FLOPs".to_string(),
    }
}

/// A fraction as a whole percentage; blank when unknown.
fn percent(fraction: Option<f64>) -> String {
    fraction.map_or(String::new(), |f| format!("{:.0} %", 100.0 * f))
}

/// A count per step, whole when it is (it is, unless steps differ).
fn count(per_step: f64, one: &str, many: &str) -> String {
    match per_step {
        1.0 => format!("1 {one}"),
        n if n.fract() == 0.0 => format!("{n:.0} {many}"),
        n => format!("{n:.1} {many}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codegen::Tile;

    fn kernel(name: &str, phase: Phase, ms: f64, gflops: Option<f64>, tile: Option<Tile>) -> KernelTiming {
        KernelTiming {
            name: name.into(),
            phase,
            ms,
            tile,
            gflops,
        }
    }

    /// A report as `run` fills it, with round figures.
    fn report(ceiling: Option<Ceiling>) -> BenchReport {
        let tile = Some(Tile { m: 16, n: 32 });
        let layers = vec![
            LayerTiming {
                layer: "conv1".into(),
                description: "conv 32 3x3 same relu".into(),
                forward_ms: 100.0,
                backward_ms: 300.0,
                share: 0.8,
                flops: 800_000_000,
                gflops: Some(2.0),
                fraction: fraction(Some(2.0), ceiling.as_ref()),
                kernels: vec![
                    kernel("conv1_forward", Phase::Forward, 100.0, Some(2.0), tile),
                    kernel("conv1_backward_weight", Phase::Backward, 200.0, Some(2.0), tile),
                    kernel("conv1_backward_bias", Phase::Backward, 100.0, None, None),
                ],
            },
            LayerTiming {
                layer: "pool1".into(),
                description: "pool max 2x2".into(),
                forward_ms: 20.0,
                backward_ms: 30.0,
                share: 0.1,
                flops: 0,
                gflops: None,
                fraction: None,
                kernels: vec![kernel("pool1_forward", Phase::Forward, 20.0, None, None)],
            },
        ];
        let train_gflops = gflops(800_000_000, 500.0);
        BenchReport {
            model: "m".into(),
            adapter: "a CPU".into(),
            batch: 128,
            steps: 5,
            warmup: 1,
            first_step_ms: 3000.0,
            first_step_pipelines_ms: 1000.0,
            first_step_run_ms: 2000.0,
            train_step_ms: 500.0,
            train_images_per_s: 256.0,
            train_flops: 800_000_000,
            train_gflops,
            train_fraction: fraction(train_gflops, ceiling.as_ref()),
            dispatches_per_step: 23.0,
            submissions_per_step: 1.0,
            infer_batch_ms: 100.0,
            infer_images_per_s: 1280.0,
            memory_bytes: 1 << 20,
            memory: crate::codegen::Memory {
                weights: 1 << 19,
                activations: 1 << 19,
                ..Default::default()
            },
            timing: "GPU timestamp queries".into(),
            tuned_kernels: vec![],
            layers,
            other_ms: 50.0,
            ceiling,
        }
    }

    #[test]
    fn the_table_gives_each_rate_as_a_fraction_of_the_ceiling() {
        let ceiling = Ceiling {
            gflops: 2.5,
            tile: Tile { m: 32, n: 16 },
            workgroup_size: 16,
            size: 1024,
        };
        let with = report(Some(ceiling));
        assert_eq!(with.train_fraction, Some(0.64));
        insta::assert_snapshot!(with.to_text());
        let without = report(None).to_text();
        assert!(without.contains("1.60 GFLOP/s\n"), "{without}");
        assert!(without.contains("ceiling: not measured"), "{without}");
    }
}
