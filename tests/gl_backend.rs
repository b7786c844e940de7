//! A second backend on this machine: Mesa's llvmpipe also gives wgpu an
//! OpenGL device (`libegl-mesa0`), which runs cnnc's kernels through naga's
//! GLSL instead of its SPIR-V. A few training steps of `examples/mnist.cnn`
//! and of a graph model on GL end with the weights of the same steps on
//! Vulkan (within 1e-5), and `eval` agrees on both. Where no GL adapter is
//! found (no EGL), the tests say so and skip.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{cnnc, ok, text};

/// The most two runs' weights may differ by: one backend's compiler may
/// contract a multiply-add that the other rounds twice.
const TOLERANCE: f32 = 1e-5;

/// A graph with most kinds of layer: grouped and depthwise convolutions,
/// a residual sum, a concat, batchnorm, dropout, both pools and a global
/// pool, and several activations. The depthwise conv has an activation:
/// without one, its bias (before batchnorm, which cancels any shift) has a
/// gradient of zero in exact arithmetic, and Adam, which divides by the
/// gradient's size, turns each backend's rounding of that zero into steps
/// of 1e-5 within four steps (measured: 4.4e-5).
const GRAPH: &str = "\
model graph
input 28x28x1
stem: conv 8 3x3 same relu
conv 8 3x3 same groups 2 leaky_relu
conv 8 3x3 same groups 8 relu
add stem
branch: batchnorm
tanh
concat branch
pool avg 2
conv 8 3x3 stride 2 same sigmoid
pool max 2
dropout 0.25
globalpool max
dense 10 softmax
";

fn gl_available() -> bool {
    let listing = ok(&cnnc(&["adapters"]));
    let found = listing.contains("backend: gl");
    if !found {
        eprintln!(
            "skipping: no GL adapter (apt-get install libegl-mesa0 libgles2 for llvmpipe's); adapters:\n{listing}"
        );
    }
    found
}

/// Trains `model` for `steps` steps on `adapter` into `out`, with
/// `extra` flags.
fn train(model: &Path, adapter: &str, steps: &str, out: &Path, extra: &[&str]) {
    let mut args = vec![
        "train",
        model.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--adapter",
        adapter,
        "--steps",
        steps,
        "--batch",
        "32",
        "--limit",
        "256",
        "--val-limit",
        "64",
        "--seed",
        "7",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    ok(&cnnc(&args));
}

fn tensors(path: &Path) -> BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    file.tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (name, values)
        })
        .collect()
}

/// The largest difference between two runs' weights, tensor by tensor.
fn max_difference(a: &Path, b: &Path) -> (f32, String) {
    let (a, b) = (tensors(a), tensors(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    let mut most = (0.0f32, String::new());
    for (name, x) in &a {
        let y = &b[name];
        assert_eq!(x.len(), y.len(), "{name}");
        for (u, v) in x.iter().zip(y) {
            assert!(u.is_finite() && v.is_finite(), "{name}: {u} {v}");
            if (u - v).abs() > most.0 {
                most = ((u - v).abs(), name.clone());
            }
        }
    }
    most
}

fn backend(run: &Path) -> String {
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    config["adapter"]["backend"].as_str().unwrap().to_string()
}

/// `cnnc eval --json` of `weights` on `adapter`: (loss, accuracy).
fn eval(model: &Path, weights: &Path, adapter: &str) -> (f64, f64) {
    let out = cnnc(&[
        "eval",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        "300",
        "--adapter",
        adapter,
        "--json",
    ]);
    let json: serde_json::Value =
        serde_json::from_str(&ok(&out)).unwrap_or_else(|e| panic!("{e}: {}", text(&out.stdout)));
    (json["loss"].as_f64().unwrap(), json["accuracy"].as_f64().unwrap())
}

/// Trains `model` on Vulkan and on GL alike (with `extra` flags); the
/// weights and `eval` on both adapters agree.
fn same_on_vulkan_and_gl(model: &Path, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let (vulkan, gl) = (dir.path().join("vulkan"), dir.path().join("gl"));
    train(model, "vulkan", "4", &vulkan, extra);
    train(model, "gl", "4", &gl, extra);
    assert_eq!(
        (backend(&vulkan).as_str(), backend(&gl).as_str()),
        ("Vulkan", "Gl")
    );
    let (difference, tensor) =
        max_difference(&vulkan.join("model.safetensors"), &gl.join("model.safetensors"));
    eprintln!(
        "{}: weights after 4 steps differ by at most {difference:e} ({tensor})",
        model.display()
    );
    assert!(difference <= TOLERANCE, "{tensor} differs by {difference}");
    // One step less is far more than the tolerance: the runs agree on
    // every step, not only on where they started.
    let shorter = dir.path().join("gl3");
    train(model, "gl", "3", &shorter, extra);
    let (step, _) = max_difference(&gl.join("model.safetensors"), &shorter.join("model.safetensors"));
    assert!(
        step > 100.0 * TOLERANCE,
        "the last step moved the weights by only {step}"
    );

    let weights = gl.join("model.safetensors");
    let (loss_vulkan, accuracy_vulkan) = eval(model, &weights, "vulkan");
    let (loss_gl, accuracy_gl) = eval(model, &weights, "gl");
    eprintln!(
        "eval: Vulkan loss {loss_vulkan} accuracy {accuracy_vulkan}; GL loss {loss_gl} accuracy {accuracy_gl}"
    );
    assert!((loss_vulkan - loss_gl).abs() <= 1e-5, "{loss_vulkan} {loss_gl}");
    assert_eq!(accuracy_vulkan, accuracy_gl);
}

#[test]
fn mnist_trains_alike_on_gl_and_vulkan() {
    if gl_available() {
        same_on_vulkan_and_gl(Path::new("examples/mnist.cnn"), &[]);
    }
}

#[test]
fn a_graph_trains_alike_on_gl_and_vulkan() {
    if gl_available() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("graph.cnn");
        std::fs::write(&model, GRAPH).unwrap();
        // Augmented batches: the gather kernel's every branch.
        same_on_vulkan_and_gl(&model, &["--augment", "flip,shift:2,crop:2"]);
    }
}
