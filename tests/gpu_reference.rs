//! The generated WGSL, run on a real adapter (lavapipe in CI), against the
//! CPU reference: every layer's output, the loss, every gradient, and the
//! parameters after one SGD and one Adam step.
//!
//! Error measure: for each tensor, the relative L2 error
//! ||gpu - reference||_2 / max(||reference||_2, 1e-6), which must be below
//! 1e-4.

mod common;

use std::sync::OnceLock;

use cnnc::activation::Activation;
use cnnc::codegen::{LowerOptions, OptimizerKind, Phase};
use cnnc::model::CheckOptions;
use cnnc::params::ParamRole;
use cnnc::reference::{self, Mode, Reference};
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, StepUniform};
use cnnc::source::Source;
use cnnc::{LayerKind, Model};
use common::graphs::model;

#[path = "gpu_reference/graph_kinds.rs"]
mod graph_kinds;

const TOLERANCE: f64 = 1e-4;

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)"))
}

fn example(name: &str) -> Model {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let source = Source::read(&path).unwrap();
    cnnc::load(&source, &CheckOptions::default()).unwrap()
}

fn rel_error(gpu: &[f32], reference: &[f64]) -> f64 {
    assert_eq!(gpu.len(), reference.len(), "lengths");
    let diff: f64 = gpu
        .iter()
        .zip(reference)
        .map(|(&a, &b)| (a as f64 - b).powi(2))
        .sum::<f64>()
        .sqrt();
    let norm: f64 = reference.iter().map(|b| b * b).sum::<f64>().sqrt();
    diff / norm.max(1e-6)
}

fn assert_close(what: &str, gpu: &[f32], reference: &[f64]) {
    assert_close_within(what, gpu, reference, TOLERANCE);
}

fn assert_close_within(what: &str, gpu: &[f32], reference: &[f64], tolerance: f64) {
    let norm = reference.iter().map(|b| b * b).sum::<f64>().sqrt();
    if norm < 1e-9 {
        // Zero in exact arithmetic (the bias of a layer that a batchnorm
        // follows): f32 leaves rounding noise, which must stay noise.
        let noise = gpu.iter().map(|&a| (a as f64).powi(2)).sum::<f64>().sqrt();
        assert!(
            noise < tolerance / 10.0,
            "{what}: {noise:e} where the reference has 0"
        );
        return;
    }
    let err = rel_error(gpu, reference);
    assert!(err < tolerance, "{what}: relative error {err:e}");
}

/// Whether a batchnorm normalises layer `i`'s output before another layer
/// with weights: then `i`'s bias gradient is a sum over the batch of terms
/// that cancel (exactly, with nothing between them), which f32 feels more.
fn feeds_batchnorm(model: &Model, i: usize) -> bool {
    model.layers[i + 1..]
        .iter()
        .find(|l| {
            matches!(
                l.kind,
                LayerKind::BatchNorm(_) | LayerKind::Conv(_) | LayerKind::Dense(_)
            )
        })
        .is_some_and(|l| l.kind == LayerKind::BatchNorm(cnnc::kinds::batchnorm::BatchNorm))
}

const LR: f32 = 0.05;
const MOMENTUM: f32 = 0.9;
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-7;

/// One training step of `model` on the GPU and in the reference, compared
/// tensor by tensor. `samples` < `batch` leaves padding at the end.
fn compare(what: &str, model: &Model, optimizer: OptimizerKind, batch: usize, samples: usize) {
    compare_with_decay(what, model, optimizer, batch, samples, 0.0);
}

fn compare_with_decay(
    what: &str,
    model: &Model,
    optimizer: OptimizerKind,
    batch: usize,
    samples: usize,
    weight_decay: f32,
) {
    let options = LowerOptions {
        batch,
        optimizer,
        weight_decay: weight_decay > 0.0,
        ..LowerOptions::default()
    };
    let plan = cnnc::codegen::plan(model, &options).unwrap_or_else(|e| panic!("{what}: {e}"));
    let io = plan.io.clone();
    let gpu = gpu();
    let exe = Executable::new(gpu, cnnc::codegen::compile(plan).unwrap()).unwrap();

    // Glorot weights, and random biases so that bias gradients matter.
    let mut r = Reference::new(model, batch);
    r.samples = samples;
    let mut rng = SplitMix64::new(3);
    let mut params = r.layout.init(11);
    for t in r.layout.tensors.iter().filter(|t| t.role == ParamRole::Bias) {
        for v in &mut params[t.range()] {
            *v = rng.next_f32() * 0.2 - 0.1;
        }
    }
    let input: Vec<f32> = (0..batch * model.input.elements())
        .map(|_| rng.next_f32())
        .collect();
    let classes = model.output().elements() as u32;
    let labels: Vec<u32> = (0..batch as u32).map(|n| (n * 3 + 1) % classes).collect();

    let seed = 1234;
    let t = 1;
    exe.write_params(&params);
    exe.write_batch(&input, &labels);
    exe.write_step(&StepUniform {
        samples: samples as u32,
        training: 1,
        seed,
        t,
        lr: LR,
        alpha: cnnc::model::keras::adam_alpha(t, LR as f64, BETA1 as f64, BETA2 as f64) as f32,
        beta1: if optimizer == OptimizerKind::Sgd {
            MOMENTUM
        } else {
            BETA1
        },
        beta2: BETA2,
        epsilon: EPSILON,
        weight_decay,
        ..StepUniform::default()
    });
    let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let x64: Vec<f64> = input.iter().map(|&v| v as f64).collect();
    let mode = Mode { training: true, seed };
    let fwd = r.forward(&p64, &x64, mode);
    let loss = r.loss(fwd.outputs.last().unwrap(), &labels, samples);
    let back = r.backward(&p64, &x64, &fwd, &loss.dlogits, mode);

    // Kernel by kernel, so that every tensor can be read while it holds its
    // value: the plan reuses buffers (gradients share, pools write theirs
    // over their input). A layer's output gradient is complete (every
    // reader's part summed) just before its own backward kernels run, and
    // a layer without kernels of its own (a view) passes its buffer on, so
    // each is checked before the first backward kernel of it or of a layer
    // before it.
    let kernels: Vec<(usize, Phase, Option<usize>, bool)> = exe
        .plan
        .kernels
        .iter()
        .enumerate()
        // A sum of readers' gradients, or the derivative of an activation
        // that does not fuse, completes a layer's output gradient.
        .map(|(k, kernel)| {
            let completes = kernel.name.ends_with("_grad_sum") || kernel.name.ends_with("_derivative");
            (k, kernel.phase, kernel.layer, completes)
        })
        .collect();
    let mut forward_checked = false;
    let mut unchecked = model.layers.len();
    for (k, phase, layer, sums) in kernels {
        if phase == Phase::Input {
            continue; // the test wrote the input itself
        }
        if phase != Phase::Forward && !forward_checked {
            for (i, l) in model.layers.iter().enumerate() {
                let out = exe.read_f32(gpu, io.layer_outputs[i]).unwrap();
                assert_close(&format!("{what}: {} output", l.name), &out, &fwd.outputs[i]);
            }
            forward_checked = true;
        }
        if let (Phase::Backward, Some(l), false) = (phase, layer, sums) {
            while unchecked > l {
                unchecked -= 1;
                let i = unchecked;
                let Some(id) = io.layer_grads[i] else { continue };
                if matches!(model.layers[i].kind, LayerKind::Flatten(_)) {
                    continue;
                }
                let g = exe.read_f32(gpu, id).unwrap();
                let reference = back.layer_grads[i].as_ref().unwrap();
                // A shared buffer is as large as its largest tenant.
                assert_close(
                    &format!("{what}: {} output gradient", model.layers[i].name),
                    &g[..reference.len()],
                    reference,
                );
            }
        }
        exe.run_kernel(k);
    }

    let totals = exe.take_totals(gpu).unwrap();
    assert_eq!(totals.counted as usize, samples, "{what}: counted samples");
    assert_eq!(totals.correct as usize, loss.correct, "{what}: correct");
    let gpu_loss = totals.loss_sum as f64 / totals.counted as f64;
    // Layers with `l2` add their penalty to the reported loss.
    let expected_loss = loss.loss + reference::l2_penalty(model, &r.layout, &p64);
    assert!(
        (gpu_loss - expected_loss).abs() / expected_loss < TOLERANCE,
        "{what}: loss {gpu_loss} vs {expected_loss}"
    );
    let probs = exe.read_f32(gpu, io.probs).unwrap();
    assert_close(&format!("{what}: probabilities"), &probs, &loss.probs);

    // The step's parameters: batchnorms' running statistics moved in the
    // forward pass, then regularisation, then the optimizer.
    let mut updated = fwd.state.clone();
    let mut regularised = back.grads.clone();
    let decoupled = optimizer == OptimizerKind::AdamW;
    reference::regularise(
        model,
        &r.layout,
        &mut updated,
        &mut regularised,
        weight_decay as f64,
        decoupled,
        LR as f64,
    );
    let grads = exe.read_f32(gpu, io.grads).unwrap();
    for tensor in &r.layout.tensors {
        // A batchnorm's scale and shift gradients are sums over the batch
        // of terms that largely cancel, which f32 feels more.
        let tolerance = if tensor.shape.len() == 1 && tensor.role == ParamRole::Weight
            || model.layers[tensor.layer].kind == LayerKind::BatchNorm(cnnc::kinds::batchnorm::BatchNorm)
            || tensor.role == ParamRole::Bias && feeds_batchnorm(model, tensor.layer)
        {
            1e-3
        } else {
            TOLERANCE
        };
        assert_close_within(
            &format!("{what}: gradient of {}", tensor.name),
            &grads[tensor.range()],
            &regularised[tensor.range()],
            tolerance,
        );
    }
    // The update from the GPU's gradients (held against the reference's
    // just above): Adam divides by sqrt(v), so a gradient of rounding
    // noise (a bias that a batchnorm follows) would take a full step of
    // random sign in either.
    let gpu_grads: Vec<f64> = grads.iter().map(|&g| g as f64).collect();
    let n = updated.len();
    match optimizer {
        OptimizerKind::Sgd => reference::sgd_step(
            &mut updated,
            &gpu_grads,
            &mut vec![0.0; n],
            LR as f64,
            MOMENTUM as f64,
        ),
        OptimizerKind::Adam | OptimizerKind::AdamW => reference::adam_step(
            &mut updated,
            &gpu_grads,
            &mut vec![0.0; n],
            &mut vec![0.0; n],
            t,
            LR as f64,
            BETA1 as f64,
            BETA2 as f64,
            EPSILON as f64,
        ),
    }
    let after = exe.read_params(gpu).unwrap();
    // Compare the step taken, which is small against the weights.
    let step_gpu: Vec<f32> = after.iter().zip(&params).map(|(a, b)| a - b).collect();
    let step_ref: Vec<f64> = updated.iter().zip(&p64).map(|(a, b)| a - b).collect();
    for t in &r.layout.tensors {
        // A step far below the weights' f32 resolution (a gradient of
        // rounding noise) is measured against the weights instead.
        let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
        let scale = norm(&step_ref[t.range()])
            .max(1e-2 * norm(&p64[t.range()]))
            .max(1e-9);
        let diff: Vec<f64> = step_gpu[t.range()]
            .iter()
            .zip(&step_ref[t.range()])
            .map(|(&a, b)| a as f64 - b)
            .collect();
        let err = norm(&diff) / scale;
        assert!(
            err < TOLERANCE,
            "{what}: {optimizer:?} update of {}: relative error {err:e}",
            t.name
        );
    }
}

fn both_optimizers(src: &str) {
    let m = model(src);
    compare(src, &m, OptimizerKind::Sgd, 3, 3);
    compare(src, &m, OptimizerKind::Adam, 3, 2);
}

#[test]
fn conv_stride_and_padding() {
    both_optimizers("input 6x5x2; conv 3 3x3 relu; dense 4");
    both_optimizers("input 6x5x2; conv 5 3x3 same tanh; dense 4");
    both_optimizers("input 7x6x3; conv 3 3x2 stride 2 same sigmoid; dense 3");
    both_optimizers("input 7x7x1; conv 6 3 stride 2 valid leaky_relu; dense 3");
    both_optimizers("input 9x9x2; conv 4 5x5 stride 3 same; conv 3 1x1 relu; dense 3");
}

/// Channel counts that are multiples of 4 take the written-out vec4
/// kernels (`*_tiled.wgsl`), with tiles up to 16 x 32.
#[test]
fn tiled_kernels() {
    both_optimizers(
        "input 7x7x4; conv 32 3x3 same relu; conv 8 3x3 stride 2 valid tanh; dense 8 relu; dense 4",
    );
    both_optimizers(
        "input 9x8x3; conv 12 5x3 stride 2 same leaky_relu; pool 2; conv 4 1 sigmoid; flatten; dense 12",
    );
    both_optimizers("input 6x6x1; conv 64 3 relu; conv 20 3 same; pool avg 2; dense 8 softmax");
}

#[test]
fn every_activation() {
    for a in Activation::all().filter(|&a| a != Activation::SOFTMAX) {
        both_optimizers(&format!(
            "input 5x5x2; conv 3 3x3 {a}; dense 6 {a}; dense 3 softmax"
        ));
        // Alone on a line; and on the vec4 kernels (channels a multiple of 4).
        both_optimizers(&format!(
            "input 5x5x2; conv 4 3x3 tanh; {a}; dense 5; {a}; dense 3"
        ));
        both_optimizers(&format!(
            "input 6x6x4; conv 8 3x3 same {a}; conv 4 3x3 {a}; dense 8 {a}; dense 4"
        ));
    }
}

/// The activations whose derivative needs their input run in a kernel of
/// their own: before every kind of reader (pools, batchnorm, dropout,
/// flatten, add, concat, the loss) and fed by an activation layer
/// (evaluation: `predict` in tests/onnx_export.rs).
#[test]
fn activations_of_the_input_before_every_reader() {
    let unfused: Vec<Activation> = Activation::all().filter(|a| !a.fuses()).collect();
    assert!(unfused.len() >= 3, "{unfused:?}");
    for a in unfused {
        both_optimizers(&format!(
            "input 6x6x2; conv 4 3x3 same {a}; pool max 2; conv 4 1 {a}; batchnorm; {a}; dropout 0.3; flatten; dense 5 {a}; dense 3 {a}"
        ));
        both_optimizers(&format!(
            "input 5x5x2; p: conv 3 3x3 same {a}; q: conv 3 3x3 same relu from p; add p; conv 2 1 {a}; concat q; globalpool; dense 3"
        ));
        both_optimizers(&format!("input 5x5x2; conv 3 3x3; tanh; {a}; {a}; dense 3; {a}"));
    }
}

#[test]
fn pooling() {
    both_optimizers("input 6x6x2; conv 2 1x1 tanh; pool max 2; dense 3");
    both_optimizers("input 7x7x2; conv 5 3 same relu; pool avg 3 stride 2; dense 3");
    both_optimizers("input 7x6x3; conv 4 1 relu; pool max 3x2 stride 1; dense 3");
    both_optimizers("input 7x7x2; conv 3 3 same sigmoid; pool max 3 stride 2; dense 3");
}

/// `pad`: of the input, after a fused activation (its derivative in the
/// backward kernel), after one that runs alone (gelu), unequal sides, and
/// on the vec4 kernels' channel counts.
#[test]
fn zero_padding() {
    both_optimizers("input 5x4x2; pad 1; conv 3 3x3 relu; dense 3");
    both_optimizers("input 4x4x2; conv 3 3x3 same tanh; pad 2x1; conv 2 3x3 sigmoid; dense 3");
    both_optimizers("input 4x4x2; conv 3 1x1 gelu; pad 1; pool max 2; dense 3");
    both_optimizers("input 5x5x4; conv 8 3x3 relu; pad 1x2; conv 4 3x3 relu; dense 4");
}

#[test]
fn flatten_dropout_and_activation_layers() {
    both_optimizers("input 4x4x2; conv 3 3x3 relu; flatten; dropout 0.3; dense 5 relu; dropout 0.5; dense 3");
    both_optimizers("input 4x4x2; conv 3 3x3; tanh; dense 4; sigmoid; relu; dense 3; softmax");
}

/// Training mode: the batch's statistics (padding left out), the running
/// statistics' update, and the gradients through them.
#[test]
fn batchnorm_in_training() {
    both_optimizers(
        "input 6x5x3; conv 8 3x3 same; batchnorm; relu; pool 2; dense 6; batchnorm; tanh; dense 3",
    );
    both_optimizers("input 5x5x2; batchnorm; conv 3 3x3 relu; batchnorm; dense 3");
    both_optimizers("input 4x4x2; conv 4 3x3 relu; batchnorm; dropout 0.2; dense 3");
}

/// Evaluation mode: the running statistics, which it leaves unchanged.
#[test]
fn batchnorm_in_evaluation() {
    let m = model("input 4x4x3; conv 4 3x3 same; batchnorm; relu; dense 5; batchnorm; dense 3");
    let batch = 2;
    let plan = cnnc::codegen::plan(
        &m,
        &LowerOptions {
            batch,
            ..LowerOptions::default()
        },
    )
    .unwrap();
    let outputs = plan.io.layer_outputs.clone();
    let exe = Executable::new(gpu(), cnnc::codegen::compile(plan).unwrap()).unwrap();
    let r = Reference::new(&m, batch);
    let mut rng = SplitMix64::new(8);
    let mut params = r.layout.init(4);
    for t in &r.layout.tensors {
        if t.shape.len() == 1 {
            // Any scale and shift; any mean; a positive variance.
            let (lo, span) = if t.role == ParamRole::RunningVar {
                (0.2, 2.0)
            } else {
                (-1.0, 2.0)
            };
            params[t.range()]
                .iter_mut()
                .for_each(|v| *v = lo + span * rng.next_f32());
        }
    }
    let input: Vec<f32> = (0..batch * m.input.elements()).map(|_| rng.next_f32()).collect();
    exe.write_params(&params);
    exe.write_batch(&input, &[0, 1]);
    exe.write_step(&StepUniform {
        samples: 2,
        ..StepUniform::default()
    });
    exe.run(cnnc::runtime::Pass::Eval, None);
    let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let x64: Vec<f64> = input.iter().map(|&v| v as f64).collect();
    let expected = r.forward(
        &p64,
        &x64,
        Mode {
            training: false,
            seed: 0,
        },
    );
    for (i, layer) in m.layers.iter().enumerate() {
        let got = exe.read_f32(gpu(), outputs[i]).unwrap();
        assert_close(&format!("eval: {}", layer.name), &got, &expected.outputs[i]);
    }
    assert_eq!(
        exe.read_params(gpu()).unwrap(),
        params,
        "evaluation changes no statistics"
    );
}

/// `l2` in the model and --weight-decay: gradients, the reported loss and
/// the update, coupled (SGD, Adam) and decoupled (AdamW).
#[test]
fn l2_and_weight_decay() {
    let m = model("input 5x5x2; conv 4 3x3 relu l2 0.01; batchnorm; dense 6 relu; dense 3 l2 0.1");
    compare("l2", &m, OptimizerKind::Sgd, 3, 3);
    compare_with_decay("l2, sgd decay", &m, OptimizerKind::Sgd, 3, 3, 0.05);
    compare_with_decay("l2, adam decay", &m, OptimizerKind::Adam, 3, 2, 0.05);
    compare_with_decay("l2, adamw decay", &m, OptimizerKind::AdamW, 3, 3, 0.05);
}

#[test]
fn every_example_at_a_small_batch() {
    for name in [
        "tiny.cnn",
        "mnist.cnn",
        "cifar_model0.cnn",
        "cifar_model1.cnn",
        "cifar_model3.cnn",
        "cifar_model2.cnn",
        "mnist_bn.cnn",
        "mnist_l2.cnn",
    ] {
        let m = example(name);
        compare(name, &m, OptimizerKind::Sgd, 2, 2);
        compare(name, &m, OptimizerKind::Adam, 2, 1);
    }
}

/// The model's scores are the last layer's output, its activation
/// included, whether fused (`dense 3 tanh`) or alone (`dense 3` then
/// `tanh`); a final `softmax` is the loss's own.
#[test]
fn every_activation_in_last_position() {
    for a in Activation::all() {
        both_optimizers(&format!("input 5x5x2; conv 3 3x3 relu; dense 3 {a}"));
        both_optimizers(&format!("input 5x5x2; conv 3 3x3 relu; dense 3; {a}"));
    }
    both_optimizers("input 4x4x2; conv 4 3x3 relu; flatten; dense 3 tanh; dropout 0.3");
}

/// A batchnorm over flattened image features, and dropout before it.
#[test]
fn batchnorm_after_flatten() {
    let m = model("input 5x4x3; conv 4 3x3 same relu; flatten; batchnorm; dense 3");
    compare("flatten, batchnorm", &m, OptimizerKind::Sgd, 6, 6);
    compare("flatten, batchnorm", &m, OptimizerKind::Adam, 6, 5);
    let m = model("input 4x4x2; conv 4 3x3 relu; flatten; dropout 0.25; batchnorm; relu; dense 3");
    compare("flatten, dropout, batchnorm", &m, OptimizerKind::Sgd, 6, 6);
}

/// Several consecutive steps through `Pass::Train`, so that SGD's velocity
/// and Adam's moments are checked from a state that is not zero, and the
/// running statistics after several updates.
fn several_steps(src: &str, optimizer: OptimizerKind, steps: u32) {
    let model = model(src);
    let batch = 3;
    let plan = cnnc::codegen::plan(
        &model,
        &LowerOptions {
            batch,
            optimizer,
            ..LowerOptions::default()
        },
    )
    .unwrap();
    let exe = Executable::new(gpu(), cnnc::codegen::compile(plan).unwrap()).unwrap();
    let r = Reference::new(&model, batch);
    let mut rng = SplitMix64::new(17);
    let initial = r.layout.init(5);
    exe.write_params(&initial);
    let mut params: Vec<f64> = initial.iter().map(|&v| v as f64).collect();
    let n = params.len();
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let classes = model.output().elements() as u32;
    let beta1 = if optimizer == OptimizerKind::Sgd {
        MOMENTUM
    } else {
        BETA1
    };
    for t in 1..=steps {
        let input: Vec<f32> = (0..batch * model.input.elements())
            .map(|_| rng.next_f32())
            .collect();
        let labels: Vec<u32> = (0..batch as u32).map(|k| (k + t) % classes).collect();
        let seed = 1000 + t;
        exe.write_batch(&input, &labels);
        exe.write_step(&StepUniform {
            samples: batch as u32,
            training: 1,
            seed,
            t,
            lr: LR,
            alpha: cnnc::model::keras::adam_alpha(t, LR as f64, BETA1 as f64, BETA2 as f64) as f32,
            beta1,
            beta2: BETA2,
            epsilon: EPSILON,
            ..StepUniform::default()
        });
        exe.run(cnnc::runtime::Pass::Train, None);
        let x64: Vec<f64> = input.iter().map(|&v| v as f64).collect();
        let mode = Mode { training: true, seed };
        let fwd = r.forward(&params, &x64, mode);
        let loss = r.loss(fwd.outputs.last().unwrap(), &labels, batch);
        let back = r.backward(&params, &x64, &fwd, &loss.dlogits, mode);
        params = fwd.state;
        match optimizer {
            OptimizerKind::Sgd => {
                reference::sgd_step(&mut params, &back.grads, &mut m, LR as f64, MOMENTUM as f64)
            }
            _ => reference::adam_step(
                &mut params,
                &back.grads,
                &mut m,
                &mut v,
                t,
                LR as f64,
                BETA1 as f64,
                BETA2 as f64,
                EPSILON as f64,
            ),
        }
    }
    let after = exe.read_params(gpu()).unwrap();
    for t in &r.layout.tensors {
        let moved_gpu: Vec<f32> = t.range().map(|i| after[i] - initial[i]).collect();
        let moved_ref: Vec<f64> = t.range().map(|i| params[i] - initial[i] as f64).collect();
        assert_close_within(
            &format!("{src}: {optimizer:?}, {steps} steps, change of {}", t.name),
            &moved_gpu,
            &moved_ref,
            1e-3,
        );
    }
}

#[test]
fn several_steps_carry_optimizer_state() {
    let plain = "input 6x6x2; conv 4 3x3 same relu; pool 2; dense 5 tanh; dense 3";
    several_steps(plain, OptimizerKind::Sgd, 4);
    several_steps(plain, OptimizerKind::Adam, 4);
    // Adam turns a gradient of rounding noise into a full step, so its
    // batchnorm normalises the input, where no bias feeds it.
    let bn = "input 5x5x2; conv 4 3x3 relu; batchnorm; dropout 0.2; flatten; dense 3";
    several_steps(bn, OptimizerKind::Sgd, 3);
    let bn = "input 5x5x2; batchnorm; conv 4 3x3 relu; dropout 0.2; dense 3";
    several_steps(bn, OptimizerKind::Adam, 3);
}

/// A graph: one tensor read by two layers, whose gradient is the sum of
/// theirs (the sum kernel), and an `add` of the two branches, whose
/// gradient goes to both. Pools and activations in the branches take the
/// paths that do not write over their input.
#[test]
fn fan_out_and_sum() {
    for chain in [
        "input 6x6x2; conv 4 3x3 same relu; conv 4 3x3 same tanh; conv 4 1x1 same; dense 3",
        "input 5x5x2; conv 4 3x3 same relu; pool max 1; conv 4 3x3 same tanh; dense 3",
        "input 5x5x2; conv 4 3x3 same sigmoid; pool avg 1; batchnorm; dense 3",
        "input 5x5x2; conv 4 3x3 same; dropout 0.3; leaky_relu; dense 3",
    ] {
        let graph = common::graphs::residual(&model(chain));
        compare(chain, &graph, OptimizerKind::Sgd, 3, 3);
        compare(chain, &graph, OptimizerKind::Adam, 3, 2);
    }
}

/// The graph language: names, `from`, `add`, blocks with `in`, `repeat`.
#[test]
fn graphs_written_in_the_language() {
    let text = "input 6x6x2; conv 4 3x3 same relu
        block basic(filters)
          conv filters 3x3 same relu
          conv filters 3x3 same
          add in
          relu
        end
        block down(filters)
          conv filters 3x3 stride 2 same tanh
          main: conv filters 3x3 same
          conv filters 1x1 stride 2 same from in
          add main
        end
        repeat 2 basic(4)
        down(8)
        dense 3";
    let m = model(text);
    compare("residual blocks", &m, OptimizerKind::Sgd, 3, 3);
    compare("residual blocks", &m, OptimizerKind::Adam, 3, 2);
    // Branches joined by `concat`, a depthwise-separable pair, global pooling.
    let text = "input 6x6x4; stem: conv 8 3x3 same relu
        left: conv 4 1x1 relu
        conv 4 3x3 same groups 4 tanh from stem
        concat left stem
        conv 16 3x3 same groups 16 relu
        conv 8 1x1
        globalpool max
        dense 3";
    let m = model(text);
    compare("concat, groups, globalpool", &m, OptimizerKind::Sgd, 3, 3);
    compare("concat, groups, globalpool", &m, OptimizerKind::Adam, 3, 2);
}

#[test]
fn limits_are_checked_before_allocation() {
    let m = example("cifar_model1.cnn");
    let plan = cnnc::codegen::plan(
        &m,
        &LowerOptions {
            batch: 4096,
            ..LowerOptions::default()
        },
    )
    .unwrap();
    // WebGPU's default limits: 128 MiB per storage binding.
    let shaders = cnnc::codegen::emit(&plan).unwrap();
    let err = cnnc::runtime::check_limits(&plan, &shaders, &wgpu::Limits::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("buffer `conv1_out` needs 512.0 MiB, more than this adapter's limit of 128.0 MiB"),
        "{err}"
    );
    assert!(err.contains("use a smaller --batch (now 4096)"), "{err}");
}
