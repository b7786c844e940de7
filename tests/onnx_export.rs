//! `cnnc export --onnx` held to account by onnxruntime, a runtime written
//! elsewhere. For every example model and for models of every layer kind
//! and layout question (batchnorm, strided `same`, average pooling, a
//! flatten before a batchnorm, grouped and depthwise convolutions, add,
//! concat and global pooling, vectors from a flatten read in both orders,
//! every activation last, fused and alone), the test writes weights with
//! non-trivial values everywhere (random biases and batchnorm statistics;
//! one model trained by `cnnc train`), then `cnnc export`s them, asks
//! `cnnc predict --json` and `cnnc eval --json` on real images (MNIST test
//! images from data/mnist for 28x28x1 models, generated pattern PNGs for
//! others), and has `tests/oracle/onnx_check.py` run the file in
//! onnxruntime on the same PNGs, decoded by itself: every probability
//! within 1e-4 of cnnc's, the eval loss within 1e-4 (relative), the same
//! accuracy, and `onnx.checker` content with the file.
//!
//! Without Python with `onnx` and `onnxruntime` the tests say so and pass;
//! `.ci/run` installs both into target/oracle-venv. `CNNC_ORACLE_KEEP=1`
//! keeps the files for `tests/oracle/onnx_check.py DIR`.

mod common;
mod oracle;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use cnnc::Model;
use cnnc::export::onnx::proto::ModelProto;
use cnnc::model::{CheckOptions, Shape};
use cnnc::params::ParamLayout;
use cnnc::rng::SplitMix64;
use cnnc::source::Source;
use prost::Message;
use serde_json::{Value, json};

/// Small models on 8x8x3 pattern images (3 classes), each a question of
/// the export: (name, source).
const MODELS: &[(&str, &str)] = &[
    (
        "batchnorm",
        "input 8x8x3; conv 4 3x3 same; batchnorm; relu; pool 2; dense 3",
    ),
    (
        "strided_same",
        "input 8x8x3; conv 3 3x3 stride 2 same relu; conv 4 2x2 same tanh; conv 4 4x4 stride 3 same; dense 3",
    ),
    (
        "avg_pool",
        "input 8x8x3; conv 4 3x3 same relu; pool avg 3 stride 2; dense 3",
    ),
    (
        "flatten_batchnorm",
        "input 8x8x3; conv 2 3x3 same relu; flatten; batchnorm; dense 3",
    ),
    (
        "flatten_dropout_batchnorm_sigmoid",
        "input 8x8x3; conv 2 3x3 relu; flatten; dropout 0.3; batchnorm; sigmoid; dense 3",
    ),
    (
        "grouped_depthwise",
        "input 8x8x3; conv 6 3x3 same groups 3 relu; conv 6 3x3 stride 2 same groups 6 leaky_relu; conv 4 1x1 groups 2; dense 3",
    ),
    (
        "add_concat_globalpool_max",
        "input 8x8x3; stem: conv 4 3x3 same relu; conv 4 3x3 same sigmoid; add stem; conv 2 1x1; concat stem; globalpool max; dense 3",
    ),
    (
        "pad_of_the_input_and_unequal",
        "input 8x8x3; pad 1; conv 4 3x3 relu; pad 2x1; conv 3 3x3 stride 2 tanh; dense 3",
    ),
    (
        "globalpool_avg_batchnorm",
        "input 8x8x3; conv 4 3x3 same; globalpool avg; batchnorm; dense 3",
    ),
    // Vectors from a flatten read by a dense (channel-first order, as the
    // saved weights expect) and by an add and a concat (cnnc's order).
    (
        "flatten_read_in_both_orders",
        "input 8x8x3; conv 2 3x3 stride 2 relu; f: flatten; dense 18 tanh; add f; concat f; dense 3",
    ),
    // The classes are a flattened image's values, in cnnc's order.
    ("flatten_last", "input 8x8x3; conv 3 3x3 stride 4; flatten"),
    ("last_relu", "input 8x8x3; conv 2 3x3 relu; dense 3 relu"),
    (
        "last_leaky_relu",
        "input 8x8x3; conv 2 3x3 relu; dense 3 leaky_relu",
    ),
    ("last_sigmoid", "input 8x8x3; conv 2 3x3 relu; dense 3 sigmoid"),
    ("last_tanh", "input 8x8x3; conv 2 3x3 relu; dense 3 tanh"),
    ("last_linear", "input 8x8x3; conv 2 3x3 relu; dense 3 linear"),
    ("last_softmax", "input 8x8x3; conv 2 3x3 relu; dense 3 softmax"),
    ("alone_leaky_relu", "input 8x8x3; conv 2 3x3; dense 3; leaky_relu"),
    ("alone_sigmoid", "input 8x8x3; conv 2 3x3; dense 3; sigmoid"),
    ("alone_softmax", "input 8x8x3; conv 2 3x3; dense 3; softmax"),
    (
        "alone_linear_relu_tanh",
        "input 8x8x3; conv 2 3x3; linear; relu; dense 3; tanh",
    ),
    // Issue 22's activations: fused where their output gives their slope,
    // in a kernel of their own where it does not (gelu, silu, hard_swish).
    (
        "relu6_gelu_silu_elu_softplus_hard_sigmoid",
        "input 8x8x3; conv 4 3x3 same relu6; conv 4 3x3 gelu; pool 2; dense 6 silu; dense 5 elu; dense 4 softplus; dense 3 hard_sigmoid",
    ),
    (
        "alone_hard_swish_gelu_swish_relu6",
        "input 8x8x3; conv 4 3x3 same; hard_swish; conv 4 3x3; gelu; dense 5; swish; dense 3; relu6",
    ),
    ("last_gelu", "input 8x8x3; conv 2 3x3 relu; dense 3 gelu"),
    (
        "last_hard_swish",
        "input 8x8x3; conv 2 3x3 relu; dense 3 hard_swish",
    ),
    ("last_elu", "input 8x8x3; conv 2 3x3 relu; dense 3 elu"),
];

const PATTERN_CLASSES: [&str; 3] = ["bars", "diagonal", "top"];

/// One pattern image of `class` (a shape in one colour over noise), HWC.
fn pattern(class: usize, side: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = Vec::with_capacity(side * side * 3);
    for y in 0..side {
        for x in 0..side {
            let on = match class {
                0 => x % 3 == 0,
                1 => x == y || x + 1 == y,
                _ => y < side / 2,
            };
            for ch in 0..3 {
                let noise = (rng.next_f32() * 110.0) as u8;
                out.push(if on && ch == class { 140 + noise } else { noise });
            }
        }
    }
    out
}

fn save_png(path: &Path, side: usize, channels: usize, pixels: Vec<u8>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let side = side as u32;
    match channels {
        1 => image::GrayImage::from_raw(side, side, pixels).unwrap().save(path),
        _ => image::RgbImage::from_raw(side, side, pixels).unwrap().save(path),
    }
    .unwrap();
}

/// An image folder (`train/` and `test/`, a folder per class) of `side`
/// x `side` RGB patterns: 2 training and 4 test images per class.
fn write_patterns(root: &Path, side: usize) {
    let mut rng = SplitMix64::new(side as u64);
    for (split, count) in [("train", 2), ("test", 4)] {
        for (label, class) in PATTERN_CLASSES.iter().enumerate() {
            for i in 0..count {
                let path = root.join(split).join(class).join(format!("{i:02}.png"));
                save_png(&path, side, 3, pattern(label, side, &mut rng));
            }
        }
    }
}

fn gunzip(path: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut bytes)
        .unwrap();
    bytes
}

/// An image folder of real MNIST digits: the first 24 test images as its
/// test split, and the first image of each digit as its training split
/// (so that every class folder exists and labels are the digits).
fn write_mnist(root: &Path) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist");
    let images = gunzip(&dir.join("t10k-images-idx3-ubyte.gz"));
    let labels = gunzip(&dir.join("t10k-labels-idx1-ubyte.gz"));
    let digit = |i: usize| (images[16 + i * 784..16 + (i + 1) * 784].to_vec(), labels[8 + i]);
    for i in 0..24 {
        let (px, label) = digit(i);
        save_png(&root.join(format!("test/{label}/{i:03}.png")), 28, 1, px);
    }
    for label in 0..10u8 {
        let i = (0..).find(|&i| digit(i).1 == label).unwrap();
        save_png(&root.join(format!("train/{label}/{i:05}.png")), 28, 1, digit(i).0);
    }
}

/// A model file and the `--set`s it is exported with.
struct Case {
    name: String,
    file: PathBuf,
    sets: Vec<String>,
}

impl Case {
    fn model(&self) -> Model {
        let source = Source::read(&self.file).unwrap();
        let overrides = self
            .sets
            .iter()
            .map(|s| {
                let (k, v) = s.split_once('=').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect();
        let options = CheckOptions {
            default_name: source.stem(),
            overrides,
            ..CheckOptions::default()
        };
        cnnc::load(&source, &options).unwrap_or_else(|d| panic!("{}: {d}", self.name))
    }

    /// `cnnc SUBCOMMAND FILE --set … --weights W` plus `rest`; its stdout.
    fn cnnc(&self, subcommand: &str, weights: &Path, rest: &[&str]) -> String {
        let mut args = vec![subcommand, self.file.to_str().unwrap()];
        for s in &self.sets {
            args.extend(["--set", s.as_str()]);
        }
        args.extend(["--weights", weights.to_str().unwrap()]);
        args.extend(rest);
        common::ok(&common::cnnc(&args))
    }
}

/// Every example model at its written size.
fn examples() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "cnn"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| Case {
            name: file.file_stem().unwrap().to_string_lossy().into_owned(),
            file,
            sets: Vec::new(),
        })
        .collect()
}

fn written(work: &Path, models: &[(&str, &str)]) -> Vec<Case> {
    models
        .iter()
        .map(|&(name, src)| {
            let file = work.join(format!("{name}.cnn"));
            std::fs::write(&file, src).unwrap();
            Case {
                name: name.to_string(),
                file,
                sets: Vec::new(),
            }
        })
        .collect()
}

/// The folder for a model's input shape: MNIST digits or patterns.
fn data_for(model: &Model, work: &Path) -> PathBuf {
    let (dir, side) = match model.input {
        Shape::Image { h: 28, w: 28, c: 1 } => ("mnist", 0),
        Shape::Image { h, w, c: 3 } if h == w => ("patterns", h),
        other => panic!("no test images for input {other}"),
    };
    let root = work.join(format!("{dir}{side}"));
    if !root.exists() {
        match side {
            0 => write_mnist(&root),
            _ => write_patterns(&root, side),
        }
    }
    root
}

/// The test split's PNGs, sorted.
fn test_images(root: &Path) -> Vec<PathBuf> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(root.join("test"))
        .unwrap()
        .flat_map(|class| std::fs::read_dir(class.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    images.sort();
    images
}

/// Exports a case with `weights`, asks cnnc for its predictions of 5 test
/// images and its evaluation of the test split; returns the case for the
/// oracle.
fn export_case(case: &Case, weights: &Path, work: &Path) -> Value {
    let model = case.model();
    let data = data_for(&model, work);
    let onnx = work.join(format!("{}.onnx", case.name));
    case.cnnc("export", weights, &["--onnx", onnx.to_str().unwrap()]);
    let classes = model.output().elements();
    let images: Vec<PathBuf> = test_images(&data).into_iter().step_by(3).take(5).collect();
    let mut rest = vec!["--json".to_string(), "--top".into(), classes.to_string()];
    rest.extend(images.iter().map(|p| p.display().to_string()));
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    let predictions: Value = serde_json::from_str(&case.cnnc("predict", weights, &rest)).unwrap();
    // Back into class order: `top` is (class name, probability), best first.
    let probabilities: Vec<Vec<f64>> = predictions
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let mut row = vec![f64::NAN; classes];
            for pair in p["top"].as_array().unwrap() {
                let class: usize = pair[0].as_str().unwrap().parse().unwrap();
                row[class] = pair[1].as_f64().unwrap();
            }
            row
        })
        .collect();
    // `cnnc eval`'s loss includes the L2 penalties of `l2 F` layers.
    let l2: BTreeMap<&str, f32> = model
        .layers
        .iter()
        .filter(|l| l.l2() > 0.0)
        .map(|l| (l.name.as_str(), l.l2()))
        .collect();
    let data_spec = format!("folder:{}", data.display());
    let eval: Value =
        serde_json::from_str(&case.cnnc("eval", weights, &["--data", &data_spec, "--json"])).unwrap();
    json!({
        "name": case.name,
        "onnx": onnx,
        "classes": classes,
        "input": model.input.dims(),
        "predict": {"images": images, "probabilities": probabilities},
        "eval": {"train": data.join("train"), "test": data.join("test"), "cnnc": eval, "l2": l2},
    })
}

/// Weights for a case: random ones written through the library.
fn weights_for(case: &Case, work: &Path, seed: u64) -> PathBuf {
    let model = case.model();
    let layout = ParamLayout::new(&model);
    let path = work.join(format!("{}.safetensors", case.name));
    let params = oracle::random_weights(&model, seed);
    cnnc::weights::save(&path, &model, &layout, &params, &BTreeMap::new()).unwrap();
    path
}

/// Runs the oracle on `cases`; whether it passed, and what it printed.
fn run_oracle(work: tempfile::TempDir, cases: &[Value]) -> (bool, String) {
    let python = oracle::python_with_or_skip("onnx_export", "onnx, onnxruntime, numpy")
        .expect("checked before the cases were made");
    std::fs::write(
        work.path().join("cases.json"),
        serde_json::to_string_pretty(cases).unwrap(),
    )
    .unwrap();
    oracle::run_script(&python, "onnx_check.py", work)
}

fn has_onnxruntime() -> bool {
    oracle::python_with_or_skip("onnx_export", "onnx, onnxruntime, numpy").is_some()
}

fn assert_agrees(ok: bool, text: &str) {
    let failures: Vec<&str> = text.lines().filter(|l| l.starts_with("FAIL ")).collect();
    assert!(ok, "onnxruntime disagrees with cnnc:\n{}", failures.join("\n"));
}

#[test]
fn onnxruntime_agrees_with_cnnc_on_every_example_model() {
    if !has_onnxruntime() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cases: Vec<Value> = examples()
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let weights = weights_for(case, work.path(), 100 + i as u64);
            export_case(case, &weights, work.path())
        })
        .collect();
    let (ok, text) = run_oracle(work, &cases);
    assert_agrees(ok, &text);
}

#[test]
fn onnxruntime_agrees_with_cnnc_on_every_layer_kind_and_layout() {
    if !has_onnxruntime() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cases: Vec<Value> = written(work.path(), MODELS)
        .iter()
        .enumerate()
        .map(|(i, case)| {
            let weights = weights_for(case, work.path(), 200 + i as u64);
            export_case(case, &weights, work.path())
        })
        .collect();
    let (ok, text) = run_oracle(work, &cases);
    assert_agrees(ok, &text);
}

/// The path a user takes: `cnnc train`, then `cnnc export` of the run's
/// weights (examples/mnist_bn.cnn narrowed, a few steps on MNIST, so that
/// the running statistics are the ones training wrote).
#[test]
fn onnxruntime_agrees_with_cnnc_on_weights_from_cnnc_train() {
    if !has_onnxruntime() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let case = Case {
        name: "mnist_bn_trained".into(),
        file: root.join("examples/mnist_bn.cnn"),
        sets: vec!["width=4".into()],
    };
    let run = work.path().join("run");
    common::ok(&common::cnnc(&[
        "train",
        case.file.to_str().unwrap(),
        "--set",
        "width=4",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
        "--batch",
        "16",
        "--steps",
        "3",
        "--val-limit",
        "16",
        "--out",
        run.to_str().unwrap(),
    ]));
    let cases = [export_case(&case, &run.join("model.safetensors"), work.path())];
    let (ok, text) = run_oracle(work, &cases);
    assert_agrees(ok, &text);
}

/// Not a rubber stamp: one initializer of the exported file scaled by
/// 1.01 (a batchnorm's running variance) and onnxruntime no longer agrees
/// with cnnc, and says which model and what.
#[test]
fn a_perturbed_initializer_is_caught() {
    if !has_onnxruntime() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let cases = written(work.path(), &MODELS[..1]);
    let weights = weights_for(&cases[0], work.path(), 200);
    let case = export_case(&cases[0], &weights, work.path());
    let path = PathBuf::from(case["onnx"].as_str().unwrap());
    let mut proto = ModelProto::decode(std::fs::read(&path).unwrap().as_slice()).unwrap();
    let graph = proto.graph.as_mut().unwrap();
    let tensor = graph
        .initializer
        .iter_mut()
        .find(|t| t.name.as_deref() == Some("batchnorm1.running_var"))
        .expect("the batchnorm's running variance is an initializer");
    let raw = tensor.raw_data.as_mut().unwrap();
    for b in raw.chunks_exact_mut(4) {
        let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]) * 1.01;
        b.copy_from_slice(&v.to_le_bytes());
    }
    std::fs::write(&path, proto.encode_to_vec()).unwrap();
    let (ok, text) = run_oracle(work, &[case]);
    assert!(!ok, "a perturbed running variance passed:\n{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("FAIL batchnorm: predict probabilities differ")),
        "the failure names the model and the probabilities:\n{text}"
    );
}

/// Bad input is an error message, not a panic: a missing weights file, and
/// weights of another model.
#[test]
fn missing_or_mismatched_weights_are_clear_errors() {
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("m.onnx");
    let run = |weights: &Path| {
        common::cnnc(&[
            "export",
            "examples/tiny.cnn",
            "--weights",
            weights.to_str().unwrap(),
            "--onnx",
            out.to_str().unwrap(),
        ])
    };
    let missing = run(&work.path().join("none.safetensors"));
    assert_eq!(missing.status.code(), Some(2));
    let err = common::text(&missing.stderr);
    assert!(
        err.starts_with("error: ") && err.contains("none.safetensors"),
        "{err}"
    );

    let other = Case {
        name: "other".into(),
        file: Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/mnist.cnn"),
        sets: vec!["width=4".into()],
    };
    let wrong = run(&weights_for(&other, work.path(), 1));
    assert_eq!(wrong.status.code(), Some(2));
    let err = common::text(&wrong.stderr);
    assert!(
        err.contains("does not fit this model") && err.contains("`conv1.weight` has shape [4, 1, 3, 3]"),
        "{err}"
    );
    assert!(!out.exists(), "nothing written on an error");
}
