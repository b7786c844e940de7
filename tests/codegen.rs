//! Lowering: every example becomes naga-valid WGSL; snapshots pin the
//! emitted kernels of two examples.

use cnnc::Model;
use cnnc::codegen::{LowerOptions, OptimizerKind, Phase, Plan, Purpose, emit};
use cnnc::model::CheckOptions;
use cnnc::source::Source;

fn example(name: &str) -> Model {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let source = Source::read(&path).unwrap();
    let options = CheckOptions {
        default_name: source.stem(),
        ..CheckOptions::default()
    };
    cnnc::load(&source, &options).unwrap()
}

fn plan(name: &str, optimizer: OptimizerKind) -> Plan {
    let options = LowerOptions {
        batch: 8,
        optimizer,
        ..LowerOptions::default()
    };
    cnnc::codegen::plan(&example(name), &options).unwrap()
}

#[test]
fn every_example_lowers_to_valid_wgsl() {
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/examples")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        for optimizer in [OptimizerKind::Sgd, OptimizerKind::Adam] {
            // `emit` validates every module with naga; this re-checks it.
            let plan = plan(&name, optimizer);
            for (k, wgsl) in plan.kernels.iter().zip(emit(&plan).unwrap()) {
                cnnc::codegen::template::validate(&k.name, &wgsl).unwrap();
            }
        }
    }
}

#[test]
fn kernels_come_in_phase_order() {
    let plan = plan("cifar_model1.cnn", OptimizerKind::Adam);
    let names: Vec<&str> = plan.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "gather",
            "conv1_forward",
            "pool1_forward",
            "conv2_forward",
            "pool2_forward",
            "dense1_forward",
            "dense2_forward",
            "softmax_cross_entropy",
            "metrics",
            "dense2_backward_weight",
            "dense2_backward_bias",
            "dense2_backward_input",
            "dense1_backward_weight",
            "dense1_backward_bias",
            "dense1_backward_input",
            "pool2_backward",
            "conv2_backward_weight",
            "conv2_backward_bias",
            "conv2_backward_input",
            "pool1_backward",
            "conv1_backward_weight",
            "conv1_backward_bias",
            "adam",
        ],
        "no input gradient for the first layer; flatten is a view"
    );
    let phases: Vec<Phase> = plan.kernels.iter().map(|k| k.phase).collect();
    let mut sorted = phases.clone();
    sorted.sort_by_key(|p| *p as u8);
    assert_eq!(phases, sorted);
}

#[test]
fn emitted_wgsl_of_mnist() {
    let plan = plan("mnist.cnn", OptimizerKind::Adam);
    for (k, wgsl) in plan.kernels.iter().zip(emit(&plan).unwrap()) {
        insta::assert_snapshot!(format!("mnist_{}", k.name), strip_prelude(&wgsl));
    }
}

#[test]
fn emitted_wgsl_of_cifar_model1() {
    let plan = plan("cifar_model1.cnn", OptimizerKind::Sgd);
    for (k, wgsl) in plan.kernels.iter().zip(emit(&plan).unwrap()) {
        insta::assert_snapshot!(format!("cifar_model1_{}", k.name), strip_prelude(&wgsl));
    }
}

#[test]
fn plan_manifest() {
    let plan = plan("mnist.cnn", OptimizerKind::Adam);
    insta::assert_json_snapshot!(plan.manifest());
}

/// A module with the shared prelude (the same in every kernel) elided.
fn strip_prelude(wgsl: &str) -> String {
    let common = include_str!("../shaders/common.wgsl");
    assert!(wgsl.contains(common));
    wgsl.replace(common, "// ... shaders/common.wgsl ...\n")
}

/// `eval` and `predict` plan forward and loss only: no backward or
/// optimizer kernels, no gradient or optimizer buffers beyond the loss's.
#[test]
fn inference_plan_is_forward_and_loss_only() {
    let model = example("mnist_bn.cnn");
    let options = |purpose| LowerOptions {
        batch: 8,
        purpose,
        ..LowerOptions::default()
    };
    let train = cnnc::codegen::plan(&model, &options(Purpose::Train)).unwrap();
    let infer = cnnc::codegen::plan(&model, &options(Purpose::Infer)).unwrap();
    assert!(
        infer
            .kernels
            .iter()
            .all(|k| matches!(k.phase, Phase::Input | Phase::Forward | Phase::Loss))
    );
    let eval: Vec<&str> = train.eval_kernels().map(|k| k.name.as_str()).collect();
    let names: Vec<&str> = infer.kernels.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, eval, "the same kernels as a training plan's evaluation");
    assert!(
        !infer
            .buffers
            .iter()
            .any(|b| b.role == cnnc::codegen::BufferRole::OptimizerState)
    );
    let (t, i) = (train.memory(), infer.memory());
    assert!(
        i.weights * 3 <= t.weights,
        "no gradients or moments: {i:?} vs {t:?}"
    );
    assert!(i.gradients < t.gradients / 10, "{i:?} vs {t:?}");
    emit(&infer).unwrap();
}

/// An activation whose slope needs its input (gelu, silu, hard_swish) runs
/// in a kernel of its own after its layer's, keeping the layer's raw
/// output, and its derivative in one before the layer's backward kernels;
/// the readers apply none. Evaluation keeps the forward kernel only.
#[test]
fn activations_of_the_input_get_kernels_of_their_own() {
    let source = Source::new(
        "m.cnn",
        "input 6x6x1; conv 4 3x3 gelu; pool 2; dense 3 hard_swish",
    );
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    let options = |purpose| LowerOptions {
        batch: 2,
        purpose,
        optimizer: OptimizerKind::Sgd,
        ..LowerOptions::default()
    };
    let train = cnnc::codegen::plan(&model, &options(Purpose::Train)).unwrap();
    let kernels: Vec<String> = train
        .kernels
        .iter()
        .map(|k| format!("{:?} {}", k.phase, k.name))
        .collect();
    insta::assert_snapshot!("of_input_kernels", kernels.join("\n"));
    for (k, wgsl) in train.kernels.iter().zip(emit(&train).unwrap()) {
        if k.name.contains("gelu") {
            insta::assert_snapshot!(format!("of_input_{}", k.name), strip_prelude(&wgsl));
        }
    }
    let infer = cnnc::codegen::plan(&model, &options(Purpose::Infer)).unwrap();
    let names: Vec<&str> = infer.kernels.iter().map(|k| k.name.as_str()).collect();
    assert!(
        names.contains(&"conv1_gelu") && names.contains(&"dense1_hard_swish"),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.ends_with("_derivative")), "{names:?}");
}

/// `pad`'s two kernels, with the constants of a 2x1 padding of a 4x4x3
/// image (to 8x6x3) after a tanh, whose derivative the backward kernel
/// applies.
#[test]
fn zero_padding_kernels() {
    let source = Source::new("m.cnn", "input 4x4x3; conv 3 1x1 tanh; pad 2x1; dense 3");
    let model = cnnc::load(&source, &CheckOptions::default()).unwrap();
    let options = LowerOptions {
        batch: 2,
        optimizer: OptimizerKind::Sgd,
        ..LowerOptions::default()
    };
    let train = cnnc::codegen::plan(&model, &options).unwrap();
    let pads: Vec<_> = train
        .kernels
        .iter()
        .zip(emit(&train).unwrap())
        .filter(|(k, _)| k.name.starts_with("pad1"))
        .collect();
    let names: Vec<&str> = pads.iter().map(|(k, _)| k.name.as_str()).collect();
    assert_eq!(names, ["pad1_forward", "pad1_backward"]);
    for (k, wgsl) in pads {
        insta::assert_snapshot!(format!("zero_padding_{}", k.name), strip_prelude(&wgsl));
    }
}
