//! The Rust side of the JAX oracle, shared by `tests/jax_oracle.rs` (steps
//! of fresh models) and `tests/jax_eval.rs` (models trained by the CLI):
//! running optimizer steps on the GPU and exporting them with PyTorch's
//! names and layouts, describing a model's layers as JSON, and running a
//! script of this folder with the Python that has JAX.
#![allow(dead_code)] // each test file uses its own part

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cnnc::codegen::{LowerOptions, OptimizerKind, plan};
use cnnc::model::keras::adam_alpha;
use cnnc::model::{Operand, Padding, PoolKind, Shape};
use cnnc::params::{ParamLayout, ParamRole};
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::weights;
use cnnc::{LayerKind, Model};
use safetensors::Dtype;
use serde_json::{Value, json};

pub const BATCH: usize = 3;
pub const STEPS: u32 = 2;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-7;

pub fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)"))
}

#[allow(unused_imports)] // each oracle test uses its own part
pub use super::common::graphs::model;

/// The Python to run an oracle with, one that imports `modules` (`jax,
/// numpy`), or why there is none.
fn python(modules: &str) -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle-venv/bin/python");
    let python = match std::env::var_os("CNNC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.exists() => venv,
        None => {
            return Err(format!(
                "no Python with {modules}: CNNC_PYTHON is unset and target/oracle-venv does not exist"
            ));
        }
    };
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output();
    let chosen = std::env::var_os("CNNC_PYTHON").is_some();
    match probe {
        // A Python named on purpose that cannot run the oracle is a broken
        // setup, not a machine without one: fail rather than skip.
        Ok(out) if chosen && !out.status.success() => panic!(
            "CNNC_PYTHON={} cannot import {modules}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if chosen => panic!("CNNC_PYTHON={} does not run: {e}", python.display()),
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => Err(format!(
            "{} cannot import {modules}: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!("{} does not run: {e}", python.display())),
    }
}

/// The Python with JAX, or None after saying (past the test harness's
/// capture, so that CI's log shows it) why the test `who` skips.
pub fn python_or_skip(who: &str) -> Option<PathBuf> {
    python_with_or_skip(who, "jax, numpy")
}

/// The Python that imports `modules`, or None after saying why `who` skips.
pub fn python_with_or_skip(who: &str, modules: &str) -> Option<PathBuf> {
    match python(modules) {
        Ok(p) => Some(p),
        Err(why) => {
            let _ = writeln!(
                std::io::stderr(),
                "{who} skipped: {modules} not installed; .ci/run installs them into target/oracle-venv ({why})"
            );
            None
        }
    }
}

/// Runs `tests/oracle/SCRIPT DIR`; returns whether it passed and what it
/// printed (which is also printed). Keeps DIR with `CNNC_ORACLE_KEEP` set.
pub fn run_script(python: &Path, script: &str, dir: tempfile::TempDir) -> (bool, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/oracle")
        .join(script);
    let out = Command::new(python)
        .arg(script)
        .arg(dir.path())
        .env("JAX_PLATFORMS", "cpu")
        .output()
        .expect("the oracle runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    if std::env::var_os("CNNC_ORACLE_KEEP").is_some() {
        println!("the oracle's inputs are kept in {}", dir.keep().display());
    }
    (out.status.success(), text)
}

/// Asserts that a script passed, repeating its failures (its table is above).
pub fn assert_passed(ok: bool, text: &str) {
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(
        ok,
        "the JAX oracle disagrees (its table is above):\n{}\n{}",
        failures.join("\n"),
        text.lines().last().unwrap_or("")
    );
}

/// Pads (before, after) per axis as cnnc computed them.
fn conv_pads(c: &cnnc::kinds::conv::Conv, input: Shape, output: Shape) -> [[usize; 2]; 2] {
    let before = c.pad_before(input);
    let (Shape::Image { h, w, .. }, Shape::Image { h: oh, w: ow, .. }) = (input, output) else {
        unreachable!("a conv maps images to images")
    };
    let total = [
        ((oh - 1) * c.stride + c.kernel[0]).saturating_sub(h),
        ((ow - 1) * c.stride + c.kernel[1]).saturating_sub(w),
    ];
    match c.padding {
        Padding::Valid => [[0, 0], [0, 0]],
        Padding::Same => [
            [before[0], total[0] - before[0]],
            [before[1], total[1] - before[1]],
        ],
    }
}

fn describe_kind(kind: &LayerKind, input: Shape, output: Shape) -> Value {
    match kind {
        LayerKind::Conv(c) => json!({
            "kind": "conv",
            "filters": c.filters,
            "kernel": c.kernel,
            "stride": c.stride,
            "padding": match c.padding { Padding::Same => "same", Padding::Valid => "valid" },
            "pad": conv_pads(c, input, output),
            "groups": c.groups,
        }),
        LayerKind::Pool(p) => json!({
            "kind": "pool",
            "pool": match p.kind { PoolKind::Max => "max", PoolKind::Avg => "avg" },
            "window": p.window,
            "stride": p.stride,
        }),
        LayerKind::Dense(d) => json!({"kind": "dense", "units": d.units}),
        LayerKind::Pad(p) => json!({"kind": "pad", "pad": p.0}),
        LayerKind::Flatten(_) => json!({"kind": "flatten"}),
        LayerKind::Dropout(d) => json!({"kind": "dropout", "rate": d.rate}),
        LayerKind::BatchNorm(_) => json!({"kind": "batchnorm"}),
        LayerKind::Activation(_) => json!({"kind": "activation"}),
        LayerKind::Add(_) => json!({"kind": "add"}),
        LayerKind::Concat(_) => json!({"kind": "concat"}),
        LayerKind::GlobalPool(kind) => json!({
            "kind": "globalpool",
            "pool": match kind.0 { PoolKind::Max => "max", PoolKind::Avg => "avg" },
        }),
    }
}

/// The layers as the oracle reads them.
pub fn describe(model: &Model) -> Value {
    let layers: Vec<Value> = model
        .layers
        .iter()
        .map(|l| {
            let mut d = describe_kind(&l.kind, l.input, l.output);
            let inputs: Vec<Option<usize>> = l
                .inputs
                .iter()
                .map(|o| match o {
                    Operand::Input => None,
                    Operand::Layer(j) => Some(*j),
                })
                .collect();
            d["inputs"] = json!(inputs);
            d["name"] = json!(l.name);
            d["activation"] = json!(l.activation().keyword());
            d["input"] = json!(l.input.dims());
            d["output"] = json!(l.output.dims());
            d
        })
        .collect();
    json!({
        "name": model.name,
        "input": model.input.dims(),
        "layers": layers,
    })
}

/// Tensors for the safetensors file: (name, dtype, shape, little-endian bytes).
#[derive(Default)]
pub struct Tensors(Vec<(String, Dtype, Vec<usize>, Vec<u8>)>);

impl Tensors {
    pub fn f32(&mut self, name: String, shape: Vec<usize>, values: &[f32]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.push((name, Dtype::F32, shape, bytes));
    }

    pub fn i32(&mut self, name: String, shape: Vec<usize>, values: &[u32]) {
        let bytes = values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect();
        self.0.push((name, Dtype::I32, shape, bytes));
    }

    /// Every parameter tensor of a flat buffer, as `PREFIX.conv1.weight`.
    pub fn params(&mut self, prefix: &str, model: &Model, layout: &ParamLayout, flat: &[f32]) {
        for (name, shape, values) in weights::to_torch(model, layout, flat) {
            self.f32(format!("{prefix}.{name}"), shape, &values);
        }
    }

    pub fn save(&self, path: &Path) {
        let views = self.0.iter().map(|(name, dtype, shape, data)| {
            let view =
                safetensors::tensor::TensorView::new(*dtype, shape.clone(), data).expect("shape fits data");
            (name.clone(), view)
        });
        let bytes =
            safetensors::serialize(views, None::<HashMap<String, String>>).expect("tensors serialise");
        std::fs::write(path, bytes).unwrap();
    }
}

/// Optional perturbation of the exported gradients, to show that the
/// oracle notices: (tensor name, factor).
pub type Perturb<'a> = Option<(&'a str, f32)>;

/// Keras's Adam (beta 0.9/0.999, epsilon 1e-7) or SGD with momentum.
#[derive(Clone, Copy, Debug)]
pub enum Optimizer {
    Adam { lr: f32 },
    Sgd { lr: f32, momentum: f32 },
}

impl Optimizer {
    fn kind(self) -> OptimizerKind {
        match self {
            Optimizer::Adam { .. } => OptimizerKind::Adam,
            Optimizer::Sgd { .. } => OptimizerKind::Sgd,
        }
    }

    /// The uniform of step `t` (from 1), as `train::step_uniform` fills it.
    fn uniform(self, t: u32) -> StepUniform {
        let (lr, alpha, beta1) = match self {
            Optimizer::Adam { lr } => (
                lr,
                adam_alpha(t, lr as f64, BETA1 as f64, BETA2 as f64) as f32,
                BETA1,
            ),
            Optimizer::Sgd { lr, momentum } => (lr, lr, momentum),
        };
        StepUniform {
            samples: BATCH as u32,
            training: 1,
            seed: 99,
            t,
            lr,
            alpha,
            beta1,
            beta2: BETA2,
            epsilon: EPSILON,
            ..StepUniform::default()
        }
    }

    /// The JSON key and value that the oracle reads.
    fn describe(self, description: &mut Value) {
        match self {
            Optimizer::Adam { lr } => {
                description["adam"] = json!({"lr": lr, "beta1": BETA1, "beta2": BETA2, "epsilon": EPSILON})
            }
            Optimizer::Sgd { lr, momentum } => description["sgd"] = json!({"lr": lr, "momentum": momentum}),
        }
    }
}

/// What `export` runs: the optimizer, the starting weights (None: Glorot
/// weights with small random biases, so that their gradients matter), the
/// batches (None: random ones), and a perturbation of the gradients.
pub struct Steps<'a> {
    pub optimizer: Optimizer,
    pub params: Option<Vec<f32>>,
    pub batches: Option<Vec<(Vec<f32>, Vec<u32>)>>,
    pub perturb: Perturb<'a>,
}

impl Steps<'_> {
    pub fn adam(lr: f32) -> Steps<'static> {
        Steps {
            optimizer: Optimizer::Adam { lr },
            params: None,
            batches: None,
            perturb: None,
        }
    }
}

/// Random batches of `STEPS` x `BATCH` inputs in [-1, 1) and labels.
fn random_batches(model: &Model, rng: &mut SplitMix64) -> Vec<(Vec<f32>, Vec<u32>)> {
    let classes = model.output().elements();
    let n = model.input.elements();
    (0..STEPS)
        .map(|_| {
            let input = (0..BATCH * n).map(|_| rng.next_f32() * 2.0 - 1.0).collect();
            let labels = (0..BATCH).map(|_| rng.below(classes) as u32).collect();
            (input, labels)
        })
        .collect()
}

/// Runs `STEPS` optimizer steps of `model` on the GPU and writes
/// `DIR/NAME.safetensors` (weights before, and per step the batch, labels,
/// gradients and weights after; the losses) and `DIR/NAME.json` (the
/// layers and the optimizer), or adds to `description` when given.
pub fn export(dir: &Path, name: &str, model: &Model, steps: &Steps, description: Option<Value>) {
    let options = LowerOptions {
        batch: BATCH,
        optimizer: steps.optimizer.kind(),
        ..LowerOptions::default()
    };
    let plan = plan(model, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    let (io, layout) = (plan.io.clone(), plan.params.clone());
    let gpu = gpu();
    let exe = Executable::new(gpu, cnnc::codegen::compile(plan).unwrap()).unwrap();

    let mut rng = SplitMix64::new(0x5eed ^ name.len() as u64);
    let params = steps.params.clone().unwrap_or_else(|| {
        let mut params = layout.init(17);
        for t in layout.tensors.iter().filter(|t| t.role == ParamRole::Bias) {
            for v in &mut params[t.range()] {
                *v = rng.next_f32() * 0.2 - 0.1;
            }
        }
        params
    });
    let batches = steps
        .batches
        .clone()
        .unwrap_or_else(|| random_batches(model, &mut rng));
    let mut tensors = Tensors::default();
    tensors.params("params", model, &layout, &params);
    exe.write_params(&params);
    exe.reset_optimizer();

    let dims = model.input.dims();
    let mut losses = Vec::new();
    for (t, (input, labels)) in (1..).zip(&batches) {
        exe.write_batch(input, labels);
        exe.write_step(&steps.optimizer.uniform(t));
        exe.run(Pass::Train, None);
        let totals = exe.take_totals(gpu).unwrap();
        assert_eq!(totals.counted as usize, BATCH, "{name}: counted samples");
        losses.push(totals.loss_sum / totals.counted as f32);

        let mut grads = exe.read_f32(gpu, io.grads).unwrap();
        if let Some((tensor, factor)) = steps.perturb {
            let t = layout
                .tensors
                .iter()
                .find(|t| t.name == tensor)
                .expect("perturbed tensor exists");
            grads[t.range()].iter_mut().for_each(|g| *g *= factor);
        }
        let shape = [&[BATCH][..], &dims[..]].concat();
        tensors.f32(format!("input{t}"), shape, input);
        tensors.i32(format!("labels{t}"), vec![BATCH], labels);
        tensors.params(&format!("grad{t}"), model, &layout, &grads);
        let after = exe.read_params(gpu).unwrap();
        tensors.params(&format!("after{t}"), model, &layout, &after);
    }
    tensors.f32("loss".into(), vec![losses.len()], &losses);
    tensors.save(&dir.join(format!("{name}.safetensors")));

    let mut description = description.unwrap_or_else(|| describe(model));
    description["batch"] = json!(BATCH);
    description["steps"] = json!(batches.len());
    steps.optimizer.describe(&mut description);
    let text = serde_json::to_string_pretty(&description).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}

/// Glorot weights with every other tensor random too (biases, batchnorm's
/// scale, shift and running statistics), so that a misplaced one shows.
pub fn random_weights(model: &Model, seed: u64) -> Vec<f32> {
    let layout = ParamLayout::new(model);
    let mut params = layout.init(seed);
    let mut rng = SplitMix64::new(seed);
    for t in &layout.tensors {
        let batchnorm = model.layers[t.layer].kind_name() == "batchnorm";
        let (low, span) = match (t.role, batchnorm) {
            (ParamRole::Weight, false) => continue,
            (ParamRole::Weight | ParamRole::RunningVar, true) => (0.5, 1.0),
            (ParamRole::RunningMean, _) => (-0.3, 0.6),
            _ => (-0.2, 0.4),
        };
        for v in &mut params[t.range()] {
            *v = low + span * rng.next_f32();
        }
    }
    params
}
