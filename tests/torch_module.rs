//! The PyTorch module that `cnnc summary --pytorch` prints computes what
//! cnnc computes. For every graph test model (the hand-built cases of
//! `common::graphs`, the examples, the flatten orders of issue 21, and
//! three models whose sizes are block arguments and params, each trained
//! a step by `cnnc train`), the printed text is run by
//! `tests/oracle/torch_module.py` on the saved weights and random images,
//! and its probabilities must be within 1e-5 of those of cnnc's inference
//! kernels on the adapter (`cnnc predict`'s path, less the image files).
//!
//! PyTorch is not installed here or in CI (its Linux CPU wheels are not on
//! PyPI, and the CUDA build is gigabytes), so where it cannot be imported
//! the script runs the printed module on `tests/oracle/torch_standin`, a
//! numpy implementation of the operations the printed modules use, each
//! as PyTorch documents it. Without Python and numpy the test says so and
//! passes; `.ci/run` makes target/oracle-venv.

mod common;
mod oracle;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cnnc::Model;
use cnnc::activation::Activation;
use cnnc::codegen::{LowerOptions, Purpose, plan};
use cnnc::model::CheckOptions;
use cnnc::params::ParamLayout;
use cnnc::rng::SplitMix64;
use cnnc::runtime::Executable;
use cnnc::source::Source;
use serde_json::{Value, json};

/// The flatten orders that went wrong (issue 21): vectors of an NCHW
/// flatten summed, joined, and used as the scores.
const FLATTEN_ORDERS: &[(&str, &str)] = &[
    (
        "flatten_add",
        "input 8x8x3; x: conv 2 1x1; fa: flatten; conv 8 3x3 stride 2 same from x; flatten; add fa; dense 3",
    ),
    (
        "flatten_concat",
        "input 8x8x3; x: conv 2 1x1; fa: flatten; conv 2 3x3 same from x; flatten; concat fa; dense 3",
    ),
    ("scores_are_a_flatten", "input 2x1x3; conv 2 1x1; flatten"),
    (
        "ends_in_an_add_of_flattens",
        "input 4x4x3; x: conv 2 1x1; fa: flatten; conv 2 3x3 same from x; flatten; add fa",
    ),
    (
        "flatten_batchnorm_concat",
        "input 6x6x3; x: conv 2 3x3 relu; f: flatten; batchnorm; dense 4 from f; concat f; dense 3",
    ),
];

/// Sizes as block arguments and params (issue 21's "done when"): a
/// residual block taking its stride, a depthwise block taking its
/// channels, a pool taking its window.
const ARGUMENTS: &[(&str, &str)] = &[
    (
        "stride_argument",
        "input 8x8x3\nblock res(f, s = 1)\n  short: repeat s-1 conv f 1x1 stride s same\n  conv f 3x3 stride s same relu from in\n  conv f 3x3 same\n  add short\n  relu\nend\nres(4, 2)\nres(4)\ndense 3\n",
    ),
    (
        "depthwise_channels",
        "input 8x8x3\nblock sep(c, f = c*2)\n  conv c 3x3 same groups c relu\n  conv f 1x1\nend\nconv 6 1x1\nsep(6)\nsep(12, 4)\ndense 3\n",
    ),
    (
        "zero_padding",
        "input 8x8x3\npad 1\nconv 4 3x3 relu\npad 2x1\nflatten\ndense 3\n",
    ),
    (
        "pool_window_param",
        "param k = 2\ninput 8x8x3\nconv 4 3x3 same relu\npool avg k stride k\npool max k x (k-1) stride k-1\ndense 3\n",
    ),
];

fn load(text: &str) -> Model {
    cnnc::load(&Source::new("m.cnn", text), &CheckOptions::default()).unwrap()
}

/// `count` random images of the model's input size, HWC, pixels in
/// [0, 1] as a byte / 255 (as cnnc scales them).
fn images(model: &Model, count: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SplitMix64::new(seed);
    let n = model.input.elements();
    (0..count)
        .map(|_| (0..n).map(|_| (rng.next_f32() * 255.0).floor() / 255.0).collect())
        .collect()
}

/// `count` random RGB PNGs of `side` x `side` in `dir`, as a dataset folder's class.
fn pngs(dir: &Path, side: u32, count: usize, seed: u64) {
    std::fs::create_dir_all(dir).unwrap();
    let mut rng = SplitMix64::new(seed);
    for i in 0..count {
        let pixels: Vec<u8> = (0..side * side * 3)
            .map(|_| (rng.next_f32() * 255.0) as u8)
            .collect();
        let path = dir.join(format!("{i}.png"));
        image::RgbImage::from_raw(side, side, pixels)
            .unwrap()
            .save(path)
            .unwrap();
    }
}

/// cnnc's probabilities for the images, as `cnnc predict` computes them:
/// the inference plan's kernels on the adapter.
fn cnnc_probabilities(model: &Model, params: &[f32], images: &[Vec<f32>]) -> Vec<Vec<f32>> {
    let gpu = oracle::gpu();
    let options = LowerOptions {
        batch: images.len(),
        purpose: Purpose::Infer,
        ..LowerOptions::default()
    };
    let exe = Executable::new(
        gpu,
        cnnc::codegen::compile(plan(model, &options).unwrap()).unwrap(),
    )
    .unwrap();
    exe.write_params(params);
    cnnc::app::inference::predict(gpu, &exe, images).unwrap()
}

/// A case folder for the oracle: the printed module, the weights it loads
/// and cnnc's probabilities.
fn case(name: &str, model: &Model, params: &[f32], work: &Path, seed: u64) -> Value {
    let dir = work.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let layout = ParamLayout::new(model);
    cnnc::weights::save(
        &dir.join("model.safetensors"),
        model,
        &layout,
        params,
        &BTreeMap::new(),
    )
    .unwrap();
    std::fs::write(dir.join("module.py"), cnnc::export::torch::sequential(model)).unwrap();
    let images = images(model, 4, seed);
    let probabilities = cnnc_probabilities(model, params, &images);
    let dims = model.input.dims();
    json!({"name": name, "dir": dir, "shape": dims, "images": images, "probabilities": probabilities})
}

fn run(work: tempfile::TempDir, cases: &[Value]) {
    let python = oracle::python_with_or_skip("torch_module", "numpy").expect("checked first");
    std::fs::write(
        work.path().join("cases.json"),
        serde_json::to_string(cases).unwrap(),
    )
    .unwrap();
    let (ok, text) = oracle::run_script(&python, "torch_module.py", work);
    oracle::assert_passed(ok, &text);
}

fn has_numpy() -> bool {
    oracle::python_with_or_skip("torch_module", "numpy").is_some()
}

#[test]
fn the_printed_module_computes_what_cnnc_computes_for_every_graph() {
    if !has_numpy() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let mut models: Vec<(String, Model)> = Vec::new();
    for (name, text) in FLATTEN_ORDERS {
        models.push((name.to_string(), load(text)));
    }
    for (name, m) in common::graphs::concat_cases()
        .into_iter()
        .chain(common::graphs::grouped_cases())
    {
        models.push((name.to_string(), m));
    }
    models.extend(common::graphs::global_pool_cases());
    let chain =
        load("input 8x8x3; conv 8 3x3 stride 2 same relu; conv 8 3x3 same; batchnorm; relu; pool 2; dense 3");
    models.push(("residual".into(), common::graphs::residual(&chain)));
    // Every activation of the table but softmax (the last layer's),
    // fused into a convolution and a dense layer, and alone after a
    // flatten: a new row is covered without a change here.
    for act in Activation::all().filter(|&a| a != Activation::SOFTMAX) {
        let act = act.keyword();
        let text = format!("input 6x6x2; conv 4 3x3 same {act}; dense 5 {act}; {act}; dense 3");
        models.push((act.to_string(), load(&text)));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut examples: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    examples.sort();
    for path in examples {
        let m = cnnc::load(&Source::read(&path).unwrap(), &CheckOptions::default()).unwrap();
        models.push((path.file_stem().unwrap().to_string_lossy().into_owned(), m));
    }
    let cases: Vec<Value> = models
        .iter()
        .enumerate()
        .map(|(i, (name, m))| {
            let params = oracle::random_weights(m, 300 + i as u64);
            case(&format!("{i:02}_{name}"), m, &params, work.path(), i as u64)
        })
        .collect();
    assert!(cases.len() >= 25, "{} cases", cases.len());
    run(work, &cases);
}

/// The models whose sizes are arguments check, train a step through the
/// CLI, and their modules compute what cnnc computes with those weights.
#[test]
fn models_with_sizes_as_arguments_train_and_equal_their_modules() {
    if !has_numpy() {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    // Three classes of 8x8 RGB images, two of each.
    let data = work.path().join("data");
    for (seed, class) in ["a", "b", "c"].iter().enumerate() {
        pngs(&data.join(class), 8, 2, seed as u64 + 7);
    }
    let mut cases = Vec::new();
    for (i, (name, text)) in ARGUMENTS.iter().enumerate() {
        let file = work.path().join(format!("{name}.cnn"));
        std::fs::write(&file, text).unwrap();
        let run = work.path().join(format!("{name}_run"));
        let data_spec = format!("folder:{}", data.display());
        let args = [
            "train",
            file.to_str().unwrap(),
            "--data",
            &data_spec,
            "--steps",
            "1",
            "--batch",
            "2",
        ];
        let mut args = args.to_vec();
        args.extend(["--val-split", "0.5", "--out", run.to_str().unwrap()]);
        common::ok(&common::cnnc(&args));
        let m = load(text);
        let layout = ParamLayout::new(&m);
        let (params, _) = cnnc::weights::load(&run.join("model.safetensors"), &m, &layout).unwrap();
        cases.push(case(name, &m, &params, work.path(), 50 + i as u64));
    }
    run(work, &cases);
}
