//! Every model that checks (and is small enough to lower quickly) lowers,
//! and every kernel it emits is valid WGSL by naga's judgement: an invalid
//! one is a bug.
#![no_main]

use cnnc::codegen::{LowerError, LowerOptions, OptimizerKind, emit, plan};
use cnnc::model::CheckOptions;
use cnnc::source::Source;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let options = CheckOptions {
        input: Some([9, 8, 3]),
        ..CheckOptions::default()
    };
    let Ok(model) = cnnc::load(&Source::new("fuzz.cnn", text), &options) else { return };
    // Keep each input fast: big models say nothing more about codegen.
    if model.params().total() > 200_000 || model.layers.iter().any(|l| l.output.elements() > 100_000) {
        return;
    }
    // Every optional kernel too: augmentation in the gather, weight decay.
    let options = LowerOptions {
        batch: 2,
        augment: "flip,shift:1,crop:2".parse().expect("a valid spec"),
        weight_decay: data.len() % 2 == 0,
        optimizer: if data.len() % 3 == 0 { OptimizerKind::AdamW } else { OptimizerKind::Sgd },
        ..LowerOptions::default()
    };
    match plan(&model, &options).and_then(|p| emit(&p).map(|shaders| (p, shaders))) {
        Ok((plan, shaders)) => assert_eq!(plan.kernels.len(), shaders.len()),
        Err(LowerError::Unsupported { .. }) => {}
        Err(e @ LowerError::InvalidShader { .. }) => panic!("{e}"),
    }
});
