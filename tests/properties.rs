//! Random valid models, chains and graphs (see `properties/graph.rs`): they check, their parameter and FLOP counts equal
//! an independent formula, they lower to naga-valid WGSL, and (the small
//! ones) their forward pass on the adapter equals the CPU reference.

use std::sync::OnceLock;

use cnnc::Model;
use cnnc::codegen::{LowerOptions, emit, plan};
use cnnc::model::CheckOptions;
use cnnc::reference::{Mode, Reference};
use cnnc::rng::SplitMix64;
use cnnc::runtime::{Executable, Gpu, Pass, StepUniform};
use cnnc::source::Source;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

#[path = "properties/graph.rs"]
mod graph;

use graph::{Case, case};

fn check(case: &Case) -> Model {
    cnnc::load(
        &Source::new("p.cnn", case.text.as_str()),
        &CheckOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{}\n{d}", case.text))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn valid_models_check_cost_and_lower(case in case()) {
        let model = check(&case);
        prop_assert_eq!(model.params().total(), case.params, "{}", case.text);
        prop_assert_eq!(model.flops(), case.flops, "{}", case.text);
        // `emit` validates every kernel with naga.
        let shaders = plan(&model, &LowerOptions { batch: 2, ..LowerOptions::default() }).and_then(|p| emit(&p));
        prop_assert!(shaders.is_ok(), "{}: {:?}", case.text, shaders.err());
    }
}

fn gpu() -> &'static Gpu {
    static GPU: OnceLock<Gpu> = OnceLock::new();
    GPU.get_or_init(|| Gpu::new(None).expect("a GPU adapter (lavapipe: apt-get install mesa-vulkan-drivers)"))
}

proptest! {
    // Each case compiles its kernels on the adapter: fewer cases.
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn small_models_forward_on_the_gpu_as_in_the_reference(case in case()) {
        prop_assume!(case.params < 3_000 && case.elements < 2_000);
        let model = check(&case);
        let batch = 2;
        let plan = plan(&model, &LowerOptions { batch, ..LowerOptions::default() }).unwrap();
        let outputs = plan.io.layer_outputs.clone();
        let exe = Executable::new(gpu(), cnnc::codegen::compile(plan).unwrap()).unwrap();
        let r = Reference::new(&model, batch);
        let mut rng = SplitMix64::new(case.text.len() as u64);
        let params: Vec<f32> = r.layout.init(3).iter().map(|v| v + rng.next_f32() * 0.1).collect();
        let input: Vec<f32> = (0..batch * model.input.elements()).map(|_| rng.next_f32()).collect();
        exe.write_params(&params);
        exe.write_batch(&input, &[0; 2]);
        exe.write_step(&StepUniform { samples: batch as u32, ..StepUniform::default() });
        exe.run(Pass::Eval, None);
        let p64: Vec<f64> = params.iter().map(|&v| v as f64).collect();
        let x64: Vec<f64> = input.iter().map(|&v| v as f64).collect();
        let expected = r.forward(&p64, &x64, Mode { training: false, seed: 0 });
        for (i, layer) in model.layers.iter().enumerate() {
            let got = exe.read_f32(gpu(), outputs[i]).unwrap();
            let want = &expected.outputs[i];
            let diff: f64 = got.iter().zip(want).map(|(&a, &b)| (a as f64 - b).powi(2)).sum::<f64>().sqrt();
            let norm: f64 = want.iter().map(|b| b * b).sum::<f64>().sqrt();
            prop_assert!(diff / norm.max(1e-6) < 1e-4, "{}: {} differs by {}", case.text, layer.name, diff / norm.max(1e-6));
        }
    }
}

/// The generator writes graphs, not only chains, and enough small ones for
/// the GPU check above to see them.
#[test]
fn the_generator_writes_graphs() {
    let mut runner = TestRunner::deterministic();
    let cases: Vec<Case> = (0..200)
        .map(|_| case().new_tree(&mut runner).unwrap().current())
        .collect();
    let graphs = cases.iter().filter(|c| c.graph).count();
    let small = cases
        .iter()
        .filter(|c| c.graph && c.params < 3_000 && c.elements < 2_000)
        .count();
    eprintln!("{graphs} graphs, {small} small, of 200");
    if std::env::var_os("SHOW_CASES").is_some() {
        cases.iter().take(12).for_each(|c| eprintln!("{}---", c.text));
    }
    assert!(
        graphs >= 60 && small >= 20,
        "{graphs} graphs, {small} small, of 200"
    );
    for word in [
        "block ",
        "repeat ",
        "add ",
        "concat ",
        "globalpool",
        "groups ",
        " from ",
        // Expressions in every position that takes one: filters, units,
        // windows (`k x k`, a square's one expression), strides, groups,
        // repeat counts, and block parameters used for them.
        "conv one*",
        "dense one*",
        ") x (",
        "*1 same",
        "pool max (",
        "stride (",
        "groups one*",
        "repeat one*",
        "stride s ",
        "groups g ",
    ] {
        assert!(
            cases.iter().any(|c| c.text.contains(word)),
            "no case has `{word}`"
        );
    }
}
