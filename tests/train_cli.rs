//! End to end through the binary, on the shipped MNIST: train, then eval
//! and predict from what training wrote; determinism; interruption and
//! `--resume`; a diverging run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{cnnc, eval_on_mnist, ok, text};

/// A quick run: the tiny model on 256 training and 128 test digits.
fn train(out: &Path, extra: &[&str]) -> Output {
    train_command(out, extra).output().expect("cnnc runs")
}

/// The quick run's command, to spawn and interrupt.
fn train_command(out: &Path, extra: &[&str]) -> Command {
    let mut args = vec![
        "train",
        "examples/tiny.cnn",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "256",
        "--val-limit",
        "128",
        "--batch",
        "32",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    common::command(&args)
}

/// A 28x28 PNG of test digit `i` (a 7, a 2, a 1, …), written by hand from
/// the IDX file.
fn digit_png(i: usize, path: &Path) {
    use std::io::Read;
    let mut bytes = Vec::new();
    flate2_read(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist/t10k-images-idx3-ubyte.gz"))
        .read_to_end(&mut bytes)
        .unwrap();
    let pixels = &bytes[16 + i * 784..16 + (i + 1) * 784];
    image::GrayImage::from_raw(28, 28, pixels.to_vec())
        .unwrap()
        .save(path)
        .unwrap();
}

fn flate2_read(path: PathBuf) -> impl std::io::Read {
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
}

#[test]
fn train_then_eval_then_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let stdout = ok(&train(&run, &["--epochs", "2", "--seed", "3"]));
    assert!(stdout.contains("epoch 1/2: loss "), "{stdout}");
    assert!(stdout.contains("| val loss "), "{stdout}");
    assert!(stdout.contains("best validation accuracy"), "{stdout}");

    // metrics.csv: a header and one row per epoch.
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<&str> = metrics.lines().collect();
    assert_eq!(
        rows[0],
        "epoch,train_loss,train_accuracy,val_loss,val_accuracy,seconds,images_per_s,lr,steps"
    );
    assert_eq!(rows.len(), 3);
    assert!(
        rows[2].starts_with("2,") && rows[2].ends_with(",0.001,16"),
        "{}",
        rows[2]
    );

    // config.json: the run's manifest.
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model"]["name"], "tiny");
    assert_eq!(
        config["model"]["text"],
        std::fs::read_to_string("examples/tiny.cnn").unwrap()
    );
    assert_eq!(config["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(config["options"]["seed"], 3);
    assert_eq!(config["train_samples"], 256);
    assert_eq!(config["validation_samples"], 128);
    assert!(config["adapter"]["name"].as_str().unwrap().len() > 2);
    assert_eq!(config["wgsl_sha256"].as_str().unwrap().len(), 64);

    // Weights with PyTorch names and shapes.
    let bytes = std::fs::read(run.join("best.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names = file.names();
    names.sort_unstable();
    assert_eq!(
        names,
        ["conv1.bias", "conv1.weight", "dense1.bias", "dense1.weight"]
    );
    assert_eq!(file.tensor("conv1.weight").unwrap().shape(), [8, 1, 3, 3]);
    assert_eq!(file.tensor("dense1.weight").unwrap().shape(), [10, 1352]);
    assert!(run.join("model.safetensors").is_file() && run.join("checkpoint.safetensors").is_file());

    let png = image::open(run.join("curves.png")).unwrap();
    assert!(png.width() >= 800 && png.height() >= 400);

    // Eval of the best weights agrees with training's last validation: the
    // same seed draws the same 128 test samples.
    let out = cnnc(&[
        "eval",
        "examples/tiny.cnn",
        "--weights",
        run.join("best.safetensors").to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        "128",
        "--seed",
        "3",
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["samples"], 128);
    let val_acc: f64 = rows[2].split(',').nth(4).unwrap().parse().unwrap();
    assert!(
        (report["accuracy"].as_f64().unwrap() - val_acc).abs() < 1e-6,
        "{report} vs {val_acc}"
    );
    let confusion = report["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 128);

    // Predict two digits, one of them resized from a larger image.
    let img0 = dir.path().join("seven.png");
    digit_png(0, &img0);
    let img1 = dir.path().join("two_large.png");
    digit_png(1, &img1);
    let big = image::open(&img1)
        .unwrap()
        .resize_exact(56, 56, image::imageops::FilterType::Triangle);
    big.save(&img1).unwrap();
    let out = cnnc(&[
        "predict",
        "examples/tiny.cnn",
        "--weights",
        run.join("best.safetensors").to_str().unwrap(),
        img0.to_str().unwrap(),
        img1.to_str().unwrap(),
        "--top",
        "2",
    ]);
    let stdout = ok(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains("seven.png: ") && lines[0].matches('%').count() == 2,
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("resized from 56x56 to 28x28"),
        "{}",
        text(&out.stderr)
    );
}

/// metrics.csv without its timing columns (seconds, images/s).
fn metrics_without_timing(run: &Path) -> Vec<Vec<String>> {
    let m = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    m.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| *i != 5 && *i != 6)
                .map(|(_, v)| v.to_string())
                .collect()
        })
        .collect()
}

/// Trains `runs` (directory, seed) alike and asserts that the first two
/// (the same seed) end with identical weights and metrics, and the third (another
/// seed) with different weights.
fn assert_seeded(runs: [(&Path, &str); 3], train: impl Fn(&Path, &str) -> Output) {
    assert_eq!(runs[0].1, runs[1].1, "the first two runs share a seed");
    for (dir, seed) in runs {
        ok(&train(dir, seed));
    }
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    let [a, b, c] = runs.map(|(d, _)| d);
    assert!(
        weights(a) == weights(b),
        "same seed, same adapter: identical weights"
    );
    assert!(weights(a) != weights(c), "another seed: other weights");
    assert_eq!(metrics_without_timing(a), metrics_without_timing(b));
}

#[test]
fn same_seed_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    assert_seeded([(&a, "5"), (&b, "5"), (&c, "6")], |out, seed| {
        train(out, &["--seed", seed])
    });
}

/// Determinism where randomness is more than the shuffle: dropout masks,
/// batchnorm's batch statistics and running statistics, and augmentation
/// (flips and shifts drawn from the seed, the step and the batch slot),
/// over two epochs.
#[test]
fn same_seed_same_weights_with_dropout_batchnorm_and_augmentation() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("regular.cnn");
    std::fs::write(
        &model,
        "input 28x28x1; conv 4 3x3 same; batchnorm; relu; pool 2; dropout 0.25\n\
         dense 16 relu; batchnorm; dropout 0.5; dense 10 softmax\n",
    )
    .unwrap();
    let (a, b, c) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("c"));
    let model = model.to_str().unwrap();
    assert_seeded([(&a, "5"), (&b, "5"), (&c, "6")], |out, seed| {
        let mut args = vec!["train", model, "--data", "mnist:data/mnist", "--limit", "256"];
        args.extend([
            "--val-limit",
            "64",
            "--batch",
            "32",
            "--epochs",
            "2",
            "--seed",
            seed,
        ]);
        args.extend(["--augment", "flip,shift:2", "--out", out.to_str().unwrap()]);
        cnnc(&args)
    });
}

#[test]
fn interrupt_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let parts = dir.path().join("parts");
    let args = ["--epochs", "6", "--seed", "9"];
    ok(&train(&whole, &args));

    // Start the same run and press Ctrl-C once its first epoch is saved.
    let child = train_command(&parts, &args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    while !parts.join("metrics.csv").exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "interrupted runs exit 1: {stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("continue with: cnnc train --resume {}", parts.display())),
        "{stdout}"
    );
    let done = std::fs::read_to_string(parts.join("metrics.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert!(done < 6, "stopped before the end ({done} epochs)");

    let out = cnnc(&["train", "--resume", parts.to_str().unwrap()]);
    ok(&out);
    assert!(text(&out.stderr).contains("resuming"), "{}", text(&out.stderr));
    assert_eq!(
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(parts.join("model.safetensors")).unwrap(),
        "resumed weights equal the uninterrupted run's"
    );
    assert_eq!(
        std::fs::read_to_string(parts.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        7
    );
}

/// What a search does to the configurations it keeps: train to a rung's
/// epochs, pause, continue from the checkpoint to the next rung's. With a
/// schedule and augmentation that depend on the epoch and the step, the
/// continued run must be the uninterrupted one, bit for bit.
#[test]
fn paused_and_continued_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, parts) = (dir.path().join("whole"), dir.path().join("parts"));
    let args = [
        "--epochs",
        "4",
        "--seed",
        "5",
        "--lr-schedule",
        "cosine",
        "--augment",
        "shift:1",
    ];
    ok(&train(&whole, &args));

    let epochs_done = || {
        std::fs::read_to_string(parts.join("metrics.csv"))
            .unwrap()
            .lines()
            .count()
            - 1
    };
    let status = || std::fs::read_to_string(parts.join("status.json")).unwrap();
    let paused = ok(&train(&parts, &[&args[..], &["--until-epoch", "1"]].concat()));
    assert!(paused.contains("paused after epoch 1"), "{paused}");
    assert_eq!(epochs_done(), 1);
    assert!(
        status().contains("\"paused\"") && status().contains("\"epochs\": 1"),
        "{}",
        status()
    );
    let parts_arg = parts.to_str().unwrap();
    ok(&cnnc(&["train", "--resume", parts_arg, "--until-epoch", "3"]));
    assert_eq!(epochs_done(), 3);
    // Asked to pause where it already is, it trains nothing.
    ok(&cnnc(&["train", "--resume", parts_arg, "--until-epoch", "2"]));
    assert_eq!(epochs_done(), 3);
    ok(&cnnc(&["train", "--resume", parts_arg]));
    assert_eq!(epochs_done(), 4);
    assert!(status().contains("\"finished\""), "{}", status());
    for weights in ["model.safetensors", "best.safetensors"] {
        assert!(
            std::fs::read(whole.join(weights)).unwrap() == std::fs::read(parts.join(weights)).unwrap(),
            "{weights}: the continued run's equal the uninterrupted run's"
        );
    }
    // The figures too, but for the seconds and speeds.
    let untimed = |run: &Path| -> Vec<String> {
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .map(|l| {
                let cells: Vec<&str> = l.split(',').collect();
                format!("{:?}", [&cells[..5], &cells[7..]].concat())
            })
            .collect()
    };
    assert_eq!(untimed(&whole), untimed(&parts));
}

#[test]
fn resume_refuses_a_changed_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.cnn");
    std::fs::write(&model, "input 28x28x1; conv 4 3x3 relu; pool 2; dense 10 softmax").unwrap();
    let run = dir.path().join("run");
    ok(&cnnc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
        "--val-limit",
        "32",
        "--out",
        run.to_str().unwrap(),
    ]));
    std::fs::write(&model, "input 28x28x1; conv 5 3x3 relu; pool 2; dense 10 softmax").unwrap();
    let out = cnnc(&["train", "--resume", run.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("has changed since the run"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_diverging_run_stops_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = train(
        &dir.path().join("run"),
        &["--optimizer", "sgd", "--lr", "1e30", "--epochs", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("the loss became") && err.contains("in epoch 1, between steps"),
        "{err}"
    );
}

#[test]
fn data_that_does_not_fit_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = cnnc(&[
        "train",
        "examples/cifar_model1.cnn",
        "--data",
        "mnist:data/mnist",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "train-images-idx3-ubyte.gz: images are 28x28x1, but examples/cifar_model1.cnn takes 32x32x3"
        ),
        "{err}"
    );

    let model = dir.path().join("five.cnn");
    std::fs::write(&model, "conv 4 3x3 relu; pool 2; dense 5 softmax").unwrap();
    let out = cnnc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("labels go up to 9, but the model's last layer has 5 outputs"),
        "{}",
        text(&out.stderr)
    );
}

/// The regularisation flags: a batchnorm model with augmentation, a cosine
/// schedule after a warm-up and AdamW's decay trains; the learning rate of
/// each epoch is in the epoch line and metrics.csv; too few steps for the
/// running statistics get a warning, at the end of training and at eval.
#[test]
fn batchnorm_augmentation_schedule_and_decay() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bn.cnn");
    std::fs::write(
        &model,
        "input 28x28x1; conv 4 3x3; batchnorm; relu; pool 2; dense 10 softmax\n",
    )
    .unwrap();
    let run = dir.path().join("run");
    let out = cnnc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        "256",
        "--val-limit",
        "64",
        "--batch",
        "64",
        "--epochs",
        "3",
        "--optimizer",
        "adamw",
        "--weight-decay",
        "0.01",
        "--augment",
        "flip,shift:1,crop:2",
        "--lr-schedule",
        "cosine",
        "--warmup-epochs",
        "1",
        "--out",
        run.to_str().unwrap(),
    ]);
    let stdout = ok(&out);
    // Warm-up: 1/2 of lr; then cosine over the 2 remaining epochs: lr, lr/2.
    assert!(
        stdout.contains("epoch 1/3: ") && stdout.contains("| lr 0.0005 |"),
        "{stdout}"
    );
    assert!(stdout.contains("| lr 0.001 |"), "{stdout}");
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let lrs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(7).unwrap())
        .collect();
    assert_eq!(lrs, ["0.0005", "0.001", "0.0005"], "{csv}");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: batchnorm1's running statistics have had 12 updates"),
        "{stderr}"
    );

    let stderr = eval_on_mnist(&model, &run.join("model.safetensors"), 64);
    assert!(stderr.contains("have had 12 updates"), "{stderr}");
}

#[test]
fn bad_regularisation_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    for (flags, message) in [
        (&["--augment", "rotate"][..], "unknown augmentation `rotate`"),
        (&["--augment", "crop"], "`crop` needs a size in pixels"),
        (&["--lr-schedule", "step:0:0.5"], "EVERY must be a whole number"),
        (&["--lr-schedule", "linear"], "unknown schedule `linear`"),
        (
            &["--weight-decay=-1"],
            "--weight-decay must be a number at least 0",
        ),
        (
            &["--augment", "flip", "--augment", "crop:2"],
            "--augment is given once to `train`",
        ),
    ] {
        let out = train(&run, flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains(message),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
}

/// SIGKILL at a random moment after the first checkpoint: no handler runs,
/// yet the files left are whole (written atomically), `--resume` continues
/// from the last checkpoint, and the result equals an uninterrupted run.
#[test]
fn a_run_killed_at_a_random_moment_resumes_to_the_same_weights() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let killed = dir.path().join("killed");
    let args = ["--epochs", "20", "--seed", "4"];
    ok(&train(&whole, &args));

    let child = train_command(&killed, &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    while !killed.join("checkpoint.safetensors").exists() {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // A different moment each run: within the next epoch or two.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    std::thread::sleep(std::time::Duration::from_millis(u64::from(nanos % 400)));
    let pid = child.id().to_string();
    let killed_in_time = Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .unwrap()
        .success();
    let status = { child }.wait().unwrap();
    assert!(
        killed_in_time && status.code().is_none(),
        "the run ended before SIGKILL: {status}"
    );
    // metrics.csv is written after the checkpoint: it may not exist yet.
    let csv = std::fs::read_to_string(killed.join("metrics.csv")).unwrap_or_default();
    assert!(
        csv.lines().count().saturating_sub(1) < 20,
        "killed before the end"
    );
    let out = cnnc(&["train", "--resume", killed.to_str().unwrap()]);
    ok(&out);
    assert_eq!(
        std::fs::read(whole.join("model.safetensors")).unwrap(),
        std::fs::read(killed.join("model.safetensors")).unwrap(),
        "resumed after SIGKILL, the weights equal the uninterrupted run's"
    );
}
