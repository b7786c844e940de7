//! The exported model is the trained model, end to end through the CLI, held
//! to account by JAX. On a small image folder (3 classes of 8x8 RGB PNGs
//! with class-dependent patterns and noise) each model is trained with
//! `cnnc train --optimizer sgd`, then `cnnc eval --json` scores the run's
//! `model.safetensors` on the test split. `tests/oracle/jax_eval.py` reads
//! that file (PyTorch's names and layouts) and the PNGs itself, runs the
//! network as PyTorch's `model.eval()` would (batchnorm on its running
//! statistics, dropout off), and must find `cnnc eval`'s loss (relative
//! error below 1e-4), accuracy, confusion matrix and sample count, and the
//! run's last validation in metrics.csv. From the same weights, two SGD
//! steps (momentum 0) on known training images run on the GPU through the
//! library and are checked as `tests/jax_oracle.rs` checks them (relative
//! error below 1e-3 on every gradient, step and weight after), after their
//! starting weights (the library's reading of the file) are checked against
//! the file. The dropout model gets no step: its masks come from cnnc's own
//! hash, which JAX does not share.
//!
//! Without Python and JAX the tests say so and pass, as `jax_oracle` does;
//! `CNNC_ORACLE_KEEP=1` keeps the files for `tests/oracle/jax_eval.py DIR`.

mod common;
mod oracle;

use std::path::{Path, PathBuf};

use cnnc::Model;
use cnnc::params::ParamLayout;
use cnnc::rng::SplitMix64;
use oracle::{BATCH, Optimizer, Steps, Tensors, assert_passed, describe, export, model, python_or_skip};
use serde_json::{Value, json};

const CLASSES: [&str; 3] = ["bars", "diagonal", "top"];
const TRAIN_PER_CLASS: usize = 8;
const TEST_PER_CLASS: usize = 5;
const SIDE: usize = 8;

/// The models, all on 8x8x3: what eval must score as JAX does.
const MODELS: [(&str, &str); 8] = [
    ("plain", "input 8x8x3; conv 4 3x3 relu; pool 2; dense 3 softmax"),
    (
        "batchnorm",
        "input 8x8x3; conv 4 3x3 same; batchnorm; relu; pool 2; dense 3",
    ),
    (
        "dropout",
        "input 8x8x3; conv 4 3x3 relu; dropout 0.3; dense 6 relu; dropout 0.5; dense 3 softmax",
    ),
    ("last_tanh", "input 8x8x3; conv 3 3x3 relu; dense 3 tanh"),
    (
        "flatten_batchnorm",
        "input 8x8x3; conv 2 3x3 same relu; flatten; batchnorm; dense 3",
    ),
    (
        "strided_same",
        "input 8x8x3; conv 3 3x3 stride 2 same relu; conv 4 2x2 same tanh; dense 3",
    ),
    (
        "avg_pool",
        "input 8x8x3; conv 4 3x3 same relu; pool avg 3 stride 2; dense 3",
    ),
    // ResNet-20's blocks in small (examples/resnet20.cnn): running
    // statistics through shortcuts, a strided projection, global pooling.
    (
        "resnet_blocks",
        "input 8x8x3; conv 4 3x3 same; batchnorm; relu
         block basic(f)
           conv f 3x3 same; batchnorm; relu
           conv f 3x3 same; batchnorm
           add in; relu
         end
         block down(f)
           conv f 3x3 stride 2 same; batchnorm; relu
           conv f 3x3 same
           main: batchnorm
           conv f 1x1 stride 2 same from in
           add main; relu
         end
         basic(4); down(8); basic(8)
         globalpool avg; dense 3 softmax",
    ),
];

/// One image of class `class`: a pattern in one colour over noise.
fn pixels(class: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let mut out = Vec::with_capacity(SIDE * SIDE * 3);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let on = match class {
                0 => x % 3 == 0,
                1 => x == y || x + 1 == y,
                _ => y < SIDE / 2,
            };
            for ch in 0..3 {
                let noise = (rng.next_f32() * 110.0) as u8;
                out.push(if on && ch == class { 140 + noise } else { noise });
            }
        }
    }
    out
}

/// Writes `root/{train,test}/CLASS/NNN.png`; returns the training images
/// (HWC bytes) and labels in the order cnnc reads them.
fn write_dataset(root: &Path) -> Vec<(Vec<u8>, u32)> {
    let mut rng = SplitMix64::new(2024);
    let mut train = Vec::new();
    for (split, count) in [("train", TRAIN_PER_CLASS), ("test", TEST_PER_CLASS)] {
        for (label, class) in CLASSES.iter().enumerate() {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..count {
                let px = pixels(label, &mut rng);
                image::RgbImage::from_raw(SIDE as u32, SIDE as u32, px.clone())
                    .unwrap()
                    .save(dir.join(format!("{i:03}.png")))
                    .unwrap();
                if split == "train" {
                    train.push((px, label as u32));
                }
            }
        }
    }
    train
}

/// What a model's run left: its directory and what `cnnc eval --json` said.
struct Run {
    dir: PathBuf,
    eval: Value,
    metrics: Value,
}

/// `cnnc train` (SGD, 3 epochs of 6 steps) then `cnnc eval` of its weights.
fn train_and_eval(work: &Path, data: &str, name: &str, src: &str) -> Run {
    let file = work.join(format!("{name}.cnn"));
    std::fs::write(&file, src).unwrap();
    let (file, dir) = (file.to_str().unwrap(), work.join(format!("run_{name}")));
    common::ok(&common::cnnc(&[
        "train",
        file,
        "--data",
        data,
        "--epochs",
        "3",
        "--batch",
        "4",
        "--optimizer",
        "sgd",
        "--lr",
        "0.05",
        "--seed",
        "7",
        "--out",
        dir.to_str().unwrap(),
    ]));
    let weights = dir.join("model.safetensors");
    let out = common::cnnc(&[
        "eval",
        file,
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        data,
        "--json",
    ]);
    let eval: Value = serde_json::from_str(&common::ok(&out)).unwrap();
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let last: Vec<f64> = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .map(|v| v.parse().unwrap_or(f64::NAN))
        .collect();
    let metrics = json!({"val_loss": last[3], "val_accuracy": last[4]});
    Run { dir, eval, metrics }
}

/// Two SGD steps (momentum 0, cnnc's default lr) from the saved weights,
/// on training images of every class, scaled to [0, 1] as cnnc scales them.
fn sgd_steps(model: &Model, weights: &Path, train: &[(Vec<u8>, u32)]) -> Steps<'static> {
    let (params, _) = cnnc::weights::load(weights, model, &ParamLayout::new(model)).unwrap();
    let batches = (0..2)
        .map(|step| {
            let picks: Vec<&(Vec<u8>, u32)> = (0..BATCH)
                .map(|slot| &train[slot * TRAIN_PER_CLASS + step])
                .collect();
            let input = picks
                .iter()
                .flat_map(|(px, _)| px.iter().map(|&b| b as f32 / 255.0))
                .collect();
            (input, picks.iter().map(|(_, label)| *label).collect())
        })
        .collect();
    Steps {
        optimizer: Optimizer::Sgd {
            lr: 0.01,
            momentum: 0.0,
        },
        params: Some(params),
        batches: Some(batches),
        perturb: None,
    }
}

/// A copy of a safetensors file with one tensor scaled, for JAX to read.
fn perturbed_copy(from: &Path, to: &Path, tensor: &str, factor: f32) {
    let bytes = std::fs::read(from).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors = Tensors::default();
    let mut names = file.names();
    names.sort_unstable();
    for name in names {
        let view = file.tensor(name).unwrap();
        let scale = if name == tensor { factor } else { 1.0 };
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()) * scale)
            .collect();
        tensors.f32(name.to_string(), view.shape().to_vec(), &values);
    }
    tensors.save(to);
}

/// Trains, evaluates and exports every model, then runs the oracle; with
/// `perturb`, JAX reads a copy of the weights with that tensor scaled.
/// Returns whether it passed and what it printed; None without JAX.
fn eval_oracle(models: &[(&str, &str)], perturb: Option<(&str, f32)>) -> Option<(bool, String)> {
    let python = python_or_skip("jax_eval")?;
    let work = tempfile::tempdir().unwrap();
    let data_dir = work.path().join("data");
    let train = write_dataset(&data_dir);
    let data = format!("folder:{}", data_dir.display());
    for &(name, src) in models {
        let model = model(src);
        let run = train_and_eval(work.path(), &data, name, src);
        let mut weights = run.dir.join("model.safetensors");
        if let Some((tensor, factor)) = perturb {
            let copy = work.path().join(format!("{name}_perturbed.safetensors"));
            perturbed_copy(&weights, &copy, tensor, factor);
            weights = copy;
        }
        let mut description = describe(&model);
        description["eval"] = json!({
            "weights": weights,
            "train": data_dir.join("train"),
            "test": data_dir.join("test"),
            "cnnc": run.eval,
            "metrics": run.metrics,
        });
        if src.contains("dropout") {
            let text = serde_json::to_string_pretty(&description).unwrap();
            std::fs::write(work.path().join(format!("{name}.json")), text).unwrap();
        } else {
            let steps = sgd_steps(&model, &run.dir.join("model.safetensors"), &train);
            export(work.path(), name, &model, &steps, Some(description));
        }
    }
    Some(oracle::run_script(&python, "jax_eval.py", work))
}

#[test]
fn jax_reproduces_cnnc_eval_and_an_sgd_step_of_trained_models() {
    if let Some((ok, text)) = eval_oracle(&MODELS, None) {
        assert_passed(ok, &text);
    }
}

/// Not a rubber stamp: a running variance 1 % off in the file JAX reads
/// changes the evaluation loss, and the file no longer matches the
/// library's reading of it.
#[test]
fn jax_eval_notices_a_wrong_running_variance() {
    let models = [MODELS[1]];
    if let Some((ok, text)) = eval_oracle(&models, Some(("batchnorm1.running_var", 1.01))) {
        assert!(!ok, "a perturbed running variance passed:\n{text}");
        let fails = |what: &str| text.lines().any(|l| l.starts_with("FAIL ") && l.contains(what));
        assert!(fails("eval loss"), "the failure names the eval loss:\n{text}");
        assert!(
            fails("saved weights of batchnorm1.running_var"),
            "the failure names batchnorm1.running_var:\n{text}"
        );
    }
}
