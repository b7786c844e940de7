//! Running the `cnnc` binary from integration tests.
#![allow(dead_code)] // each test file uses its own part

pub mod graphs;

use std::process::{Command, Output};

/// `cnnc ARGS` in the repository's root, without colour.
pub fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cnnc"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1");
    command
}

pub fn cnnc(args: &[&str]) -> Output {
    command(args).output().expect("cnnc runs")
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Its stdout, after asserting that it exited 0 (showing both streams if not).
pub fn ok(out: &Output) -> String {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `cnnc eval MODEL --weights W` on `limit` bundled MNIST test digits,
/// asserted to succeed; its stderr (where warnings go).
pub fn eval_on_mnist(model: &std::path::Path, weights: &std::path::Path, limit: usize) -> String {
    let limit = limit.to_string();
    let out = cnnc(&[
        "eval",
        model.to_str().unwrap(),
        "--weights",
        weights.to_str().unwrap(),
        "--data",
        "mnist:data/mnist",
        "--limit",
        &limit,
    ]);
    ok(&out);
    text(&out.stderr)
}
