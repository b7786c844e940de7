//! The exported model is the trained model: the samples a run draws, the
//! weights it saves, what it tells of them, and how it resumes.

mod common;

use std::path::Path;

use common::{cnnc, eval_on_mnist, ok, text};

fn config(run: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(run.join("config.json")).unwrap()).unwrap()
}

/// Image folders are read class by class; `--val-split 0.5` of two classes
/// used to train on one and validate on the other.
#[test]
fn a_folder_split_puts_every_class_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("shapes");
    for (class, value) in [("dark", 20u8), ("light", 230)] {
        std::fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..6u8 {
            image::GrayImage::from_pixel(4, 4, image::Luma([value + i]))
                .save(data.join(class).join(format!("{i}.png")))
                .unwrap();
        }
    }
    let model = dir.path().join("m.cnn");
    std::fs::write(&model, "input 4x4x1; dense 2 softmax").unwrap();
    let run = dir.path().join("run");
    let data_arg = format!("folder:{}", data.display());
    ok(&cnnc(&[
        "train",
        model.to_str().unwrap(),
        "--data",
        &data_arg,
        "--val-split",
        "0.5",
        "--batch",
        "4",
        "--out",
        run.to_str().unwrap(),
    ]));
    let c = config(&run);
    for side in ["train_per_class", "validation_per_class"] {
        let counts: Vec<u64> = c[side]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(counts.len(), 2, "{side}: {c}");
        assert!(counts.iter().all(|&n| n > 0), "{side}: {counts:?}");
        assert_eq!(counts.iter().sum::<u64>(), 6, "{side}: {counts:?}");
    }
    assert_eq!(c["samples_sha256"].as_str().unwrap().len(), 64);
}

/// A step can make the weights non-finite while the loss it reports
/// (computed before the update) is finite: on an epoch's last step, without
/// validation, such weights were saved as the run's good ones.
#[test]
fn non_finite_weights_are_never_saved() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let out = cnnc(&[
        "train",
        "examples/tiny.cnn",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "32",
        "--batch",
        "32",
        "--val-split",
        "0",
        "--optimizer",
        "sgd",
        "--lr",
        "1e38",
        "--weight-decay",
        "1000000",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("in epoch 1, by step 1; training stopped"),
        "{}",
        text(&out.stderr)
    );
    for file in ["model.safetensors", "best.safetensors", "checkpoint.safetensors"] {
        assert!(!run.join(file).exists(), "{file} written");
    }
}

/// Weights trained by cnnc carry their steps: `--init` from them counts
/// those, so batchnorm's warning speaks of the statistics' true age.
#[test]
fn init_carries_the_step_count() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bn.cnn");
    std::fs::write(
        &model,
        "input 28x28x1; conv 2 3x3; batchnorm; relu; pool 2; dense 10 softmax\n",
    )
    .unwrap();
    let train = |run: &Path, init: Option<&Path>| {
        let mut args = vec![
            "train",
            model.to_str().unwrap(),
            "--data",
            "mnist:data/mnist",
            "--limit",
            "128",
            "--val-limit",
            "32",
            "--batch",
            "32",
            "--out",
            run.to_str().unwrap(),
        ];
        if let Some(init) = init {
            args.extend(["--init", init.to_str().unwrap()]);
        }
        let out = cnnc(&args);
        ok(&out);
        text(&out.stderr)
    };
    let (first, second) = (dir.path().join("first"), dir.path().join("second"));
    let stderr = train(&first, None);
    assert!(stderr.contains("have had 4 updates"), "{stderr}");
    let stderr = train(&second, Some(&first.join("model.safetensors")));
    assert!(stderr.contains("have had 8 updates"), "{stderr}");
    let stderr = eval_on_mnist(&model, &second.join("model.safetensors"), 32);
    assert!(stderr.contains("have had 8 updates"), "{stderr}");
}

#[test]
fn momentum_with_adam_is_a_usage_error() {
    for optimizer in ["adam", "adamw"] {
        let out = cnnc(&[
            "train",
            "examples/tiny.cnn",
            "--data",
            "mnist:data/mnist",
            "--optimizer",
            optimizer,
            "--momentum",
            "0.9",
        ]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
        let err = text(&out.stderr);
        assert!(
            err.contains(&format!(
                "--momentum applies to --optimizer sgd only; with {optimizer}, Adam's beta1"
            )),
            "{err}"
        );
    }
}

/// `cnnc tune` (or another cnnc) between an interruption and `--resume`
/// changes the kernels: the run goes on, with a warning.
#[test]
fn resume_warns_when_the_kernels_changed() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let run_arg = run.to_str().unwrap();
    ok(&cnnc(&[
        "train",
        "examples/tiny.cnn",
        "--data",
        "mnist:data/mnist",
        "--limit",
        "64",
        "--val-limit",
        "32",
        "--batch",
        "32",
        "--out",
        run_arg,
    ]));
    let same = cnnc(&["train", "--resume", run_arg]);
    ok(&same);
    assert!(
        !text(&same.stderr).contains("kernels differ"),
        "{}",
        text(&same.stderr)
    );

    let mut c = config(&run);
    c["wgsl_sha256"] = "0".repeat(64).into();
    std::fs::write(run.join("config.json"), c.to_string()).unwrap();
    let changed = cnnc(&["train", "--resume", run_arg]);
    ok(&changed);
    assert!(
        text(&changed.stderr)
            .contains("warning: the generated kernels differ from those this run started with")
            && text(&changed.stderr).contains("will not be bit-identical"),
        "{}",
        text(&changed.stderr)
    );
}

/// Mesa's window-system probing printed this twice on machines without a
/// desktop session.
#[test]
fn no_xdg_runtime_dir_message_without_a_desktop() {
    let out = common::command(&["adapters"])
        .env_remove("XDG_RUNTIME_DIR")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    ok(&out);
    assert!(
        !text(&out.stderr).contains("XDG_RUNTIME_DIR"),
        "{}",
        text(&out.stderr)
    );
}
