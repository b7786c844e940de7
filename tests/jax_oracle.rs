//! An outside oracle: JAX, a framework written elsewhere, holds a real GPU
//! training step of a few models to account. For each model the test runs
//! two Adam steps (or SGD steps with momentum) on the GPU, exports the initial weights, each step's
//! gradients and the weights after each step with `weights::to_torch`
//! (PyTorch's names and layouts), the batches and the losses, plus a JSON
//! description of the layers; `tests/oracle/jax_oracle.py` rebuilds the
//! network in JAX with PyTorch's conventions, differentiates it in float64
//! and applies Keras's Adam or SGD, and compares every tensor (relative L2 error
//! below 1e-3). A reference in this repository can share our
//! misunderstandings; this one cannot.
//!
//! Python: `$CNNC_PYTHON`, else `target/oracle-venv/bin/python` (which
//! `.ci/run` creates). Without either, or without JAX, the tests say so and
//! pass. With `CNNC_ORACLE_KEEP` set, the exported files are kept (the path
//! is printed) for running `tests/oracle/jax_oracle.py DIR` by hand.

mod common;
mod oracle;

use cnnc::Model;
use oracle::{Optimizer, Perturb, Steps, assert_passed, export, model, python_or_skip, run_script};

const LR: f32 = 1e-3;

/// Exports every model's steps and runs the oracle over them; returns
/// whether it passed and what it printed, or None when there is no JAX.
fn oracle(models: &[(&str, Model)], optimizer: Optimizer, perturb: Perturb) -> Option<(bool, String)> {
    let python = python_or_skip("jax_oracle")?;
    let dir = tempfile::tempdir().unwrap();
    let steps = Steps {
        optimizer,
        perturb,
        ..Steps::adam(LR)
    };
    for (name, model) in models {
        export(dir.path(), name, model, &steps, None);
    }
    Some(run_script(&python, "jax_oracle.py", dir))
}

fn assert_oracle_agrees(models: &[(&str, &str)]) {
    let models: Vec<(&str, Model)> = models.iter().map(|&(name, src)| (name, model(src))).collect();
    assert_models_agree(&models, Optimizer::Adam { lr: LR });
}

fn assert_models_agree(models: &[(&str, Model)], optimizer: Optimizer) {
    if let Some((ok, text)) = oracle(models, optimizer, None) {
        assert_passed(ok, &text);
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

/// Issue 22's activations, fused into a layer and alone on a line, hidden
/// and last: one Adam step, then one SGD step with momentum.
#[test]
fn jax_agrees_on_relu6_gelu_silu_elu_softplus_hard_sigmoid_and_hard_swish() {
    let models = [
        (
            "fused",
            "input 6x6x2; conv 4 3x3 same relu6; conv 3 3x3 gelu; pool 2; dense 6 silu; dense 5 elu; dense 4 softplus; dense 3 hard_sigmoid",
        ),
        (
            "alone",
            "input 5x5x2; conv 3 3x3; hard_swish; dense 4; gelu; swish; dense 3; relu6",
        ),
        ("last_gelu", "input 5x5x2; conv 3 3x3 elu; dense 4 gelu"),
        (
            "zero_padding",
            "input 5x5x2; pad 1; conv 3 3x3 relu; pad 2x1; conv 3 3x3 stride 2 tanh; dense 4",
        ),
        (
            "last_hard_swish",
            "input 5x5x2; conv 3 3x3 softplus; dense 4 hard_swish",
        ),
    ];
    assert_oracle_agrees(&models);
    let models: Vec<(&str, Model)> = models.iter().map(|&(name, src)| (name, model(src))).collect();
    assert_models_agree(
        &models,
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
        },
    );
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
    if let Some((ok, text)) = oracle(&models, Optimizer::Adam { lr: LR }, Some(("conv1.bias", 1.01))) {
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
    assert_models_agree(&[("residual", residual)], Optimizer::Adam { lr: LR });
}

/// `concat` (images and vectors, a tensor read three times), `globalpool`
/// avg and max, and grouped and depthwise convolutions (PyTorch's
/// `groups`: weight `[co, ci / G, kh, kw]`), built by hand until the
/// language writes them.
#[test]
fn jax_agrees_on_concat_globalpool_and_groups() {
    use cnnc::model::PoolKind;
    use common::graphs;
    let images = model(
        "input 6x6x2; conv 4 3x3 same relu; conv 3 3x3 same tanh; conv 5 1x1 sigmoid; conv 4 1x1 same; dense 3",
    );
    let vectors =
        model("input 5x5x2; conv 3 3x3 relu; dense 4 tanh; dense 5 sigmoid; dense 6 leaky_relu; dense 3");
    let pooled = model("input 5x4x3; conv 4 3x3 same relu; flatten; dense 3");
    let chain = model(
        "input 6x5x4; conv 8 3x3 same relu; conv 8 3x3 same tanh; conv 4 3x3 stride 2 same sigmoid; conv 4 2x2; dense 3",
    );
    let grouped = graphs::grouped(&graphs::grouped(&chain, 0, 2), 2, 4);
    let depthwise = graphs::grouped(&graphs::grouped(&chain, 1, 8), 3, 4);
    let models = [
        ("concat_images", graphs::concat(&images, 0)),
        ("concat_vectors", graphs::concat(&vectors, 2)),
        ("globalpool_avg", graphs::global_pool(&pooled, PoolKind::Avg)),
        ("globalpool_max", graphs::global_pool(&pooled, PoolKind::Max)),
        ("grouped", grouped),
        ("depthwise", depthwise),
    ];
    assert_models_agree(&models, Optimizer::Adam { lr: LR });
    assert_models_agree(
        &models,
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
        },
    );
}

/// Keras's SGD with momentum: the first step is `w - lr g`, the second
/// `w + momentum v - lr g` with the oracle's own velocity; a batchnorm's
/// running statistics move as with Adam.
#[test]
fn jax_agrees_on_sgd_steps_with_momentum() {
    let models = [
        (
            "plain",
            model("input 8x8x1; conv 4 3x3 relu; pool 2; dense 10 softmax"),
        ),
        (
            "batchnorm_conv",
            model("input 6x6x2; conv 4 3x3 same; batchnorm; relu; pool 2; dense 3"),
        ),
        (
            "strided_same",
            model("input 7x7x2; conv 3 3x3 stride 2 same relu; conv 4 2x2 same tanh; dense 4"),
        ),
    ];
    assert_models_agree(
        &models,
        Optimizer::Sgd {
            lr: 0.1,
            momentum: 0.9,
        },
    );
}

/// A residual network written in the graph language: blocks, `in`, a
/// named output read by `add`, a strided 1x1 projection `from in`.
#[test]
fn jax_agrees_on_residual_blocks_in_the_language() {
    assert_oracle_agrees(&[(
        "resnet_blocks",
        "input 6x6x2; conv 4 3x3 same relu
         block basic(filters)
           conv filters 3x3 same relu
           conv filters 3x3 same
           add in
           relu
         end
         block down(filters)
           conv filters 3x3 stride 2 same relu
           conv filters 3x3 same
           main: batchnorm
           conv filters 1x1 stride 2 same from in
           add main
           relu
         end
         repeat 2 basic(4)
         down(8)
         dense 3",
    )]);
}

/// `examples/resnet20.cnn` itself, as its PyTorch module computes it: the
/// loss, every gradient and two Adam steps.
#[test]
fn jax_agrees_on_resnet20() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/resnet20.cnn");
    let text = std::fs::read_to_string(path).unwrap();
    assert_oracle_agrees(&[("resnet20", text.as_str())]);
}
