//! The `cnnc` binary: exit codes, flags, and what it prints.

mod common;

use common::{cnnc, command, ok, text};

#[test]
fn check_prints_ok_and_exits_zero() {
    let out = cnnc(&["check", "examples/cifar_model1.cnn"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim(),
        "ok: cifar_model1 — 7 layers, 545,098 parameters, 12,257,792 FLOPs per image"
    );
}

#[test]
fn invalid_model_exits_one_with_located_diagnostics() {
    let out = cnnc(&["check", "tests/errors/several_problems.cnn"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("--> tests/errors/several_problems.cnn:3:6"), "{err}");
    assert!(
        err.contains("3 errors in tests/errors/several_problems.cnn"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn missing_file_and_bad_flags_exit_two() {
    let out = cnnc(&["check", "no/such/model.cnn"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot read no/such/model.cnn"));

    let out = cnnc(&["check", "examples/mnist.cnn", "--set", "width"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("expected NAME=VALUE"),
        "{}",
        text(&out.stderr)
    );

    let out = cnnc(&["summary", "examples/tiny.cnn", "--input", "28x28"]);
    assert_eq!(out.status.code(), Some(2));

    let out = cnnc(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn set_overrides_a_parameter() {
    let out = cnnc(&["summary", "examples/mnist.cnn", "--set", "width=8", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["params"]["width"], 8);
    assert_eq!(json["layers"][0]["output_shape"], serde_json::json!([28, 28, 8]));
    assert_eq!(json["layers"][2]["output_shape"], serde_json::json!([14, 14, 16]));

    let out = cnnc(&["check", "examples/mnist.cnn", "--set", "depth=2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("`--set depth=…` names no parameter"));
}

#[test]
fn input_flag_supplies_a_missing_input_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("headless.cnn");
    std::fs::write(&path, "conv 32 3x3 relu; pool 2; dense 10 softmax").unwrap();
    let path = path.to_str().unwrap();

    let out = cnnc(&["check", path]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--input 28x28x1"),
        "says how to give one"
    );

    let out = cnnc(&["check", path, "--input", "28x28x1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("54,410 parameters"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn summary_prints_the_table() {
    let out = cnnc(&["summary", "examples/cifar_model1.cnn"]);
    assert_eq!(out.status.code(), Some(0));
    let table = text(&out.stdout);
    assert!(table.contains("Total params:         545,098"), "{table}");
    assert!(
        table.contains("conv1     conv 32 3x3 same relu  32x32x32"),
        "{table}"
    );
}

/// A layer whose output nothing reads is legal but likely a slip (here
/// `main` names the conv, not the batchnorm after it): a located warning,
/// once per line however often a block repeats it, naming each use's
/// layer, and exit 0.
#[test]
fn unused_outputs_are_warned_about_once_per_line() {
    let out = cnnc(&["check", "tests/warnings/unused_output.cnn"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(
        err.matches(
            "warning: the outputs of `batchnorm1` and `batchnorm2` (each use of this line) are never used"
        )
        .count(),
        1,
        "one warning for the line, naming the layer of each use: {err}"
    );
    assert!(err.contains("help: name it and read it"), "{err}");
    assert!(err.contains("--> tests/warnings/unused_output.cnn:5:3"), "{err}");
    assert!(text(&out.stdout).starts_with("ok: "));
}

/// `depth` blocks, each using the one before it, and a model that uses
/// the last.
fn nested_blocks(depth: usize) -> String {
    let mut text = String::from("input 4x4x1\nblock b0()\n  relu\nend\n");
    for i in 1..depth {
        text += &format!("block b{i}()\n  b{}()\nend\n", i - 1);
    }
    text + &format!("b{}()\ndense 2\n", depth - 1)
}

/// 6,000 blocks each using the one before aborted `cnnc check` with a
/// stack overflow (issue 21); now a located error, and `fmt` and
/// `summary` answer too.
#[test]
fn six_thousand_nested_blocks_are_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.cnn");
    std::fs::write(&path, nested_blocks(6000)).unwrap();
    let file = path.to_str().unwrap();

    let out = cnnc(&["check", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("blocks are used inside each other more than 64 deep"),
        "{err}"
    );
    // Located at the use that went one block too deep.
    assert!(err.contains(&format!("--> {file}:")), "{err}");

    let out = cnnc(&["summary", file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));

    let out = cnnc(&["fmt", "--check", file]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// `bench --json` on a tiny model: one submission per training step and
/// one dispatch per kernel of the plan, the first step split in two, and
/// no ceiling when none is cached and measuring it is declined.
#[test]
fn bench_counts_dispatches_and_splits_the_first_step() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.cnn");
    std::fs::write(&model, "input 6x6x1; conv 4 3x3 relu; pool 2; dense 3 softmax\n").unwrap();
    let model = model.to_str().unwrap();
    let out = dir.path().join("plan");
    ok(&cnnc(&[
        "compile",
        model,
        "-o",
        out.to_str().unwrap(),
        "--batch",
        "4",
    ]));
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let kernels = plan["kernels"].as_array().unwrap().len() as f64;

    let out = command(&[
        "bench",
        model,
        "--batch",
        "4",
        "--steps",
        "2",
        "--no-gemm",
        "--json",
    ])
    .env("CNNC_CACHE_DIR", dir.path().join("cache"))
    .output()
    .unwrap();
    let report: serde_json::Value = serde_json::from_str(&ok(&out)).unwrap();
    assert_eq!(report["submissions_per_step"], 1.0, "{report}");
    assert_eq!(report["dispatches_per_step"], kernels, "{report}");
    let (first, pipelines, run) = (
        report["first_step_ms"].as_f64().unwrap(),
        report["first_step_pipelines_ms"].as_f64().unwrap(),
        report["first_step_run_ms"].as_f64().unwrap(),
    );
    assert!(
        pipelines > 0.0 && run > 0.0 && (pipelines + run - first).abs() < 1e-6,
        "{report}"
    );
    assert!(
        report["ceiling"].is_null() && report["train_fraction"].is_null(),
        "{report}"
    );
    let conv = &report["layers"][0];
    assert_eq!(conv["layer"], "conv1");
    // 4 samples x 16 outputs x 4 filters x 9 taps x 2, three GEMMs less the
    // input gradient the first layer does not need.
    assert_eq!(conv["flops"], 2 * 4 * 16 * 4 * 9 * 2, "{report}");
    assert!(conv["gflops"].as_f64().unwrap() > 0.0, "{report}");
}
