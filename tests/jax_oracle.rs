//! An outside oracle: JAX, a framework written elsewhere, holds a real GPU
//! training step of a few models to account. For each model the test runs
//! two Adam steps on the GPU, exports the initial weights, each step's
//! gradients and the weights after each step with `weights::to_torch`
//! (PyTorch's names and layouts), the batches and the losses, plus a JSON
//! description of the layers; `tests/oracle/jax_oracle.py` rebuilds the
//! network in JAX with PyTorch's conventions, differentiates it in float64
//! and applies Keras's Adam, and compares every tensor (relative L2 error
//! below 1e-3). A reference in this repository can share our
//! misunderstandings; this one cannot.
//!
//! Python: `$CNNC_PYTHON`, else `target/oracle-venv/bin/python` (which
//! `.ci/run` creates). Without either, or without JAX, the tests say so and
//! pass. With `CNNC_ORACLE_KEEP` set, the exported files are kept (the path
//! is printed) for running `tests/oracle/jax_oracle.py DIR` by hand.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use cnnc::codegen::{LowerOptions, OptimizerKind, plan};
use cnnc::model::keras::adam_alpha;
use cnnc::model::{CheckOptions, LayerKind, Model, Operand, Padding, PoolKind, Shape};
use cnnc::params::{ParamLayout, ParamRole};
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::source::Source;
use cnnc::weights;
use safetensors::Dtype;
use serde_json::{Value, json};

const BATCH: usize = 3;
const STEPS: u32 = 2;
const LR: f32 = 1e-3;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-7;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)"))
}

fn model(src: &str) -> Model {
    cnnc::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap_or_else(|d| panic!("{src}: {d}"))
}

/// The Python to run the oracle with, or why there is none.
fn python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/oracle-venv/bin/python");
    let python = match std::env::var_os("CNNC_PYTHON") {
        Some(p) => PathBuf::from(p),
        None if venv.exists() => venv,
        None => {
            return Err(
                "no Python with JAX: CNNC_PYTHON is unset and target/oracle-venv does not exist".into(),
            );
        }
    };
    let probe = Command::new(&python).args(["-c", "import jax, numpy"]).output();
    match probe {
        Ok(out) if out.status.success() => Ok(python),
        Ok(out) => Err(format!(
            "{} cannot import jax: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("")
        )),
        Err(e) => Err(format!("{} does not run: {e}", python.display())),
    }
}

/// Pads (before, after) per axis as cnnc computed them.
fn conv_pads(c: &cnnc::model::Conv, input: Shape, output: Shape) -> [[usize; 2]; 2] {
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

/// The layers as the oracle reads them.
fn describe(model: &Model) -> Value {
    let layers: Vec<Value> = model
        .layers
        .iter()
        .map(|l| {
            let mut d = match &l.kind {
                LayerKind::Conv(c) => json!({
                    "kind": "conv",
                    "filters": c.filters,
                    "kernel": c.kernel,
                    "stride": c.stride,
                    "padding": match c.padding { Padding::Same => "same", Padding::Valid => "valid" },
                    "pad": conv_pads(c, l.input, l.output),
                }),
                LayerKind::Pool(p) => json!({
                    "kind": "pool",
                    "pool": match p.kind { PoolKind::Max => "max", PoolKind::Avg => "avg" },
                    "window": p.window,
                    "stride": p.stride,
                }),
                LayerKind::Dense(d) => json!({"kind": "dense", "units": d.units}),
                LayerKind::Flatten { .. } => json!({"kind": "flatten"}),
                LayerKind::Dropout { rate } => json!({"kind": "dropout", "rate": rate}),
                LayerKind::BatchNorm => json!({"kind": "batchnorm"}),
                LayerKind::Activation(_) => json!({"kind": "activation"}),
                LayerKind::Add => json!({"kind": "add"}),
            };
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
struct Tensors(Vec<(String, Dtype, Vec<usize>, Vec<u8>)>);

impl Tensors {
    fn f32(&mut self, name: String, shape: Vec<usize>, values: &[f32]) {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.0.push((name, Dtype::F32, shape, bytes));
    }

    fn i32(&mut self, name: String, shape: Vec<usize>, values: &[u32]) {
        let bytes = values.iter().flat_map(|&v| (v as i32).to_le_bytes()).collect();
        self.0.push((name, Dtype::I32, shape, bytes));
    }

    /// Every parameter tensor of a flat buffer, as `PREFIX.conv1.weight`.
    fn params(&mut self, prefix: &str, model: &Model, layout: &ParamLayout, flat: &[f32]) {
        for (name, shape, values) in weights::to_torch(model, layout, flat) {
            self.f32(format!("{prefix}.{name}"), shape, &values);
        }
    }

    fn save(&self, path: &Path) {
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
type Perturb<'a> = Option<(&'a str, f32)>;

/// Runs `STEPS` Adam steps of `src` on the GPU and writes `DIR/NAME.json`
/// and `DIR/NAME.safetensors` for the oracle.
fn export(dir: &Path, name: &str, model: &Model, perturb: Perturb) {
    let model = model.clone();
    let options = LowerOptions {
        batch: BATCH,
        optimizer: OptimizerKind::Adam,
        ..LowerOptions::default()
    };
    let plan = plan(&model, &options).unwrap_or_else(|e| panic!("{name}: {e}"));
    let io = plan.io.clone();
    let layout = plan.params.clone();
    let gpu = gpu();
    let exe = Executable::new(gpu, plan).unwrap();

    // Glorot weights, and small random biases so that their gradients matter.
    let mut rng = SplitMix64::new(0x5eed ^ name.len() as u64);
    let mut params = layout.init(17);
    for t in layout.tensors.iter().filter(|t| t.role == ParamRole::Bias) {
        for v in &mut params[t.range()] {
            *v = rng.next_f32() * 0.2 - 0.1;
        }
    }
    let mut tensors = Tensors::default();
    tensors.params("params", &model, &layout, &params);
    exe.write_params(&params);
    exe.reset_optimizer();

    let classes = model.output().elements();
    let Shape::Image { h, w, c } = model.input else {
        unreachable!("a model's input is an image")
    };
    let mut losses = Vec::new();
    for t in 1..=STEPS {
        let input: Vec<f32> = (0..BATCH * h * w * c)
            .map(|_| rng.next_f32() * 2.0 - 1.0)
            .collect();
        let labels: Vec<u32> = (0..BATCH).map(|_| rng.below(classes) as u32).collect();
        exe.write_batch(&input, &labels);
        exe.write_step(&StepUniform {
            samples: BATCH as u32,
            training: 1,
            seed: 99,
            t,
            lr: LR,
            alpha: adam_alpha(t, LR as f64, BETA1 as f64, BETA2 as f64) as f32,
            beta1: BETA1,
            beta2: BETA2,
            epsilon: EPSILON,
            ..StepUniform::default()
        });
        exe.run(Pass::Train, None);
        let totals = exe.take_totals(gpu).unwrap();
        assert_eq!(totals.counted as usize, BATCH, "{name}: counted samples");
        losses.push(totals.loss_sum / totals.counted as f32);

        let mut grads = exe.read_f32(gpu, io.grads).unwrap();
        if let Some((tensor, factor)) = perturb {
            let t = layout
                .tensors
                .iter()
                .find(|t| t.name == tensor)
                .expect("perturbed tensor exists");
            grads[t.range()].iter_mut().for_each(|g| *g *= factor);
        }
        tensors.f32(format!("input{t}"), vec![BATCH, h, w, c], &input);
        tensors.i32(format!("labels{t}"), vec![BATCH], &labels);
        tensors.params(&format!("grad{t}"), &model, &layout, &grads);
        tensors.params(
            &format!("after{t}"),
            &model,
            &layout,
            &exe.read_params(gpu).unwrap(),
        );
    }
    tensors.f32("loss".into(), vec![losses.len()], &losses);
    tensors.save(&dir.join(format!("{name}.safetensors")));

    let mut description = describe(&model);
    description["batch"] = json!(BATCH);
    description["steps"] = json!(STEPS);
    description["adam"] = json!({"lr": LR, "beta1": BETA1, "beta2": BETA2, "epsilon": EPSILON});
    let text = serde_json::to_string_pretty(&description).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}

/// Exports every model and runs the oracle over them; returns whether it
/// passed and what it printed, or None when there is no JAX to run.
fn oracle(models: &[(&str, Model)], perturb: Perturb) -> Option<(bool, String)> {
    let python = match python() {
        Ok(p) => p,
        Err(why) => {
            // Past the test harness's capture, so that CI's log shows it.
            let _ = writeln!(
                std::io::stderr(),
                "jax_oracle skipped: JAX not installed; .ci/run installs it into target/oracle-venv ({why})"
            );
            return None;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, model) in models {
        export(dir.path(), name, model, perturb);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oracle/jax_oracle.py");
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
    Some((out.status.success(), text))
}

fn assert_oracle_agrees(models: &[(&str, &str)]) {
    let models: Vec<(&str, Model)> = models.iter().map(|&(name, src)| (name, model(src))).collect();
    assert_models_agree(&models);
}

fn assert_models_agree(models: &[(&str, Model)]) {
    if let Some((ok, text)) = oracle(models, None) {
        let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL ")).collect();
        assert!(
            ok,
            "the JAX oracle disagrees (its table is above):\n{}\n{}",
            failures.join("\n"),
            text.lines().last().unwrap_or("")
        );
    }
}

/// Models whose meaning main and this oracle agree on today.
#[test]
fn jax_agrees_on_loss_gradients_and_adam_steps() {
    assert_oracle_agrees(&[
        ("plain", "input 8x8x1; conv 4 3x3 relu; pool 2; dense 10 softmax"),
        (
            "strided_same",
            "input 7x7x2; conv 3 3x3 stride 2 same relu; conv 4 2x2 same tanh; dense 4",
        ),
        (
            "odd_same",
            "input 8x7x3; conv 4 3x2 stride 2 same sigmoid; pool max 2x1 stride 1; dense 3",
        ),
        (
            "strided_valid",
            "input 7x7x1; conv 6 3 stride 2 valid leaky_relu; flatten; dense 3",
        ),
        (
            "avg_pool",
            "input 7x7x2; conv 5 3x3 same relu; pool avg 3 stride 2; dense 3",
        ),
        (
            "batchnorm_conv",
            "input 6x6x2; conv 4 3x3 same; batchnorm; relu; pool 2; dense 3",
        ),
        (
            "batchnorm_dense",
            "input 5x5x2; conv 3 3x3 relu; dense 6; batchnorm; tanh; dense 3",
        ),
        (
            "batchnorm_input",
            "input 5x5x2; batchnorm; conv 3 3x3 relu; dense 3 softmax",
        ),
        (
            "hidden_relu",
            "input 6x6x2; conv 3 3x3 relu; pool 2; dense 6 relu; dense 3 softmax",
        ),
        (
            "hidden_leaky_relu",
            "input 6x6x2; conv 3 3x3 leaky_relu; pool 2; dense 6 leaky_relu; dense 3 softmax",
        ),
        (
            "hidden_sigmoid",
            "input 6x6x2; conv 3 3x3 sigmoid; pool 2; dense 6 sigmoid; dense 3 softmax",
        ),
        (
            "hidden_tanh",
            "input 6x6x2; conv 3 3x3 tanh; pool 2; dense 6 tanh; dense 3 softmax",
        ),
        (
            "hidden_linear",
            "input 6x6x2; conv 3 3x3 linear; pool 2; dense 6 linear; dense 3 softmax",
        ),
        ("last_linear", "input 5x5x2; conv 3 3x3 relu; dense 4 linear"),
        (
            "activation_layers",
            "input 5x5x2; conv 3 3x3; tanh; dense 4; sigmoid; leaky_relu; dense 3; softmax",
        ),
    ]);
}

/// The last layer's meaning (its activation applies, except a final
/// softmax, which is the loss's), and a batchnorm after a flatten, whose
/// exported vectors follow PyTorch's feature order.
#[test]
fn jax_agrees_on_last_layer_activations_and_flattened_batchnorm() {
    assert_oracle_agrees(&[
        ("last_relu", "input 5x5x2; conv 3 3x3 relu; dense 4 relu"),
        (
            "last_leaky_relu",
            "input 5x5x2; conv 3 3x3 relu; dense 4 leaky_relu",
        ),
        ("last_sigmoid", "input 5x5x2; conv 3 3x3 relu; dense 4 sigmoid"),
        ("last_tanh", "input 5x5x2; conv 3 3x3 relu; dense 4 tanh"),
        ("last_tanh_layer", "input 5x5x2; conv 3 3x3 relu; dense 4; tanh"),
        (
            "last_sigmoid_layer",
            "input 5x5x2; conv 3 3x3 relu; dense 4; sigmoid",
        ),
        (
            "flatten_batchnorm",
            "input 4x4x3; conv 2 3x3 same relu; flatten; batchnorm; dense 3",
        ),
    ]);
}

/// The oracle is not a rubber stamp: a gradient 1 % off is named.
#[test]
fn jax_notices_a_wrong_gradient() {
    let models = [(
        "plain",
        model("input 8x8x1; conv 4 3x3 relu; pool 2; dense 10 softmax"),
    )];
    if let Some((ok, text)) = oracle(&models, Some(("conv1.bias", 1.01))) {
        assert!(!ok, "a perturbed gradient passed:\n{text}");
        assert!(
            text.lines()
                .any(|l| l.contains("FAIL") && l.contains("conv1.bias")),
            "the failure names conv1.bias:\n{text}"
        );
    }
}

/// A graph: one tensor read by two layers (its gradient is the sum of
/// theirs) and an `add` of two branches, built by hand until the language
/// can write one.
#[test]
fn jax_agrees_on_a_fan_out_and_a_sum() {
    let residual = common::graphs::residual(&model(
        "input 6x6x2; conv 4 3x3 same relu; conv 4 3x3 same tanh; conv 4 1x1 same; dense 3",
    ));
    assert_models_agree(&[("residual", residual)]);
}
