//! Planning is linear in the model's layers and edges: a long chain of
//! parameter-free sums (each reading its input twice, so that the paths
//! back to the trainable conv double with each), forward and backward,
//! checks, plans and emits (as `cnnc compile` does) within the issue's
//! bound of 2 s in a debug build (measured: about 0.1 s). Before `Planner::needs_grad` was
//! computed in one pass, 30 such layers took 14 s, each one more doubling it.

use std::time::{Duration, Instant};

use cnnc::codegen::{LowerOptions, emit, plan};
use cnnc::model::CheckOptions;
use cnnc::source::Source;

#[test]
fn two_thousand_parameter_free_sums_compile_in_under_two_seconds() {
    let text = "input 4x4x1\nconv 1 1x1\nblock dbl()\n  add in\nend\nrepeat 2000 dbl()\ndense 10\n";
    let start = Instant::now();
    let model = cnnc::load(&Source::new("dbl.cnn", text), &CheckOptions::default()).unwrap();
    assert_eq!(
        model.layers.len(),
        2003,
        "a conv, 2000 sums, a flatten and the dense layer"
    );
    let plan = plan(&model, &LowerOptions::default()).unwrap();
    let planned = start.elapsed();
    let kernels = emit(&plan).unwrap();
    let compiled = start.elapsed();
    eprintln!(
        "checked and planned {} kernels in {planned:?}; with emitting, {compiled:?}",
        kernels.len()
    );
    assert!(
        compiled < Duration::from_secs(2),
        "checking, planning and emitting took {compiled:?} (to the plan: {planned:?})"
    );
}
