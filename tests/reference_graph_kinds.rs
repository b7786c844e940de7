//! The CPU reference's `concat`, `globalpool` and grouped convolutions
//! against central finite differences, in f64 (as `src/reference/tests.rs`
//! checks the kinds the language writes), on models built by hand until
//! the language writes these kinds.

mod common;

use cnnc::model::{CheckOptions, Model, PoolKind};
use cnnc::reference::{Mode, Reference};
use cnnc::rng::SplitMix64;
use cnnc::source::Source;
use common::graphs;

fn model(src: &str) -> Model {
    cnnc::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap_or_else(|d| panic!("{src}: {d}"))
}

fn random(n: usize, rng: &mut SplitMix64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| (rng.next_f32() as f64 * 2.0 - 1.0) * scale)
        .collect()
}

/// Every parameter's gradient against central differences; returns the
/// worst relative error.
fn check_gradients(what: &str, m: &Model) -> f64 {
    let (batch, samples) = (3, 2); // the third sample is padding
    let mut r = Reference::new(m, batch);
    r.samples = samples;
    let mut rng = SplitMix64::new(42);
    let params = random(r.layout.len, &mut rng, 0.5);
    let input = random(batch * m.input.elements(), &mut rng, 1.0);
    let classes = m.output().elements() as u32;
    let labels: Vec<u32> = (0..batch as u32).map(|n| (n * 7 + 1) % classes).collect();
    let mode = Mode {
        training: true,
        seed: 99,
    };
    let loss = |p: &[f64]| {
        let f = r.forward(p, &input, mode);
        r.loss(f.outputs.last().unwrap(), &labels, samples).loss
    };
    let f = r.forward(&params, &input, mode);
    let dlogits = r.loss(f.outputs.last().unwrap(), &labels, samples).dlogits;
    let grads = r.backward(&params, &input, &f, &dlogits, mode).grads;
    let (h, mut worst) = (1e-6, 0.0f64);
    for t in &r.layout.tensors {
        for i in t.range() {
            let (mut plus, mut minus) = (params.clone(), params.clone());
            plus[i] += h;
            minus[i] -= h;
            let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
            let err = (numeric - grads[i]).abs() / numeric.abs().max(grads[i].abs()).max(1e-4);
            assert!(
                err < 1e-5,
                "{what}: {} [{i}]: numeric {numeric}, analytic {}",
                t.name,
                grads[i]
            );
            worst = worst.max(err);
        }
    }
    println!("{what}: worst relative error {worst:e}");
    worst
}

#[test]
fn concat_of_images_and_of_vectors() {
    let images = model(
        "input 6x6x2; conv 4 3x3 same relu; conv 3 3x3 same tanh; conv 5 1x1 sigmoid; conv 4 1x1 same; dense 3",
    );
    check_gradients("concat images", &graphs::concat(&images, 0));
    let vectors =
        model("input 5x5x2; conv 3 3x3 relu; dense 4 tanh; dense 5 sigmoid; dense 6 leaky_relu; dense 3");
    check_gradients("concat vectors", &graphs::concat(&vectors, 2));
    // Concat feeding a flatten: the flatten's shape follows.
    let flatten = model("input 4x4x2; conv 2 3x3 same; conv 3 1x1 relu; conv 2 1x1 tanh; flatten; dense 3");
    check_gradients("concat flatten", &graphs::concat(&flatten, 0));
}

#[test]
fn global_pools_after_each_activation() {
    for act in ["relu", "tanh", "linear"] {
        let chain = model(&format!("input 5x4x2; conv 4 3x3 same {act}; flatten; dense 3"));
        for kind in [PoolKind::Avg, PoolKind::Max] {
            check_gradients(
                &format!("globalpool {kind:?} {act}"),
                &graphs::global_pool(&chain, kind),
            );
        }
    }
}

#[test]
fn grouped_and_depthwise_convolutions() {
    let chain = model(
        "input 6x5x4; conv 8 3x3 same relu; conv 8 3x3 same tanh; conv 4 3x3 stride 2 same sigmoid; conv 4 2x2; dense 3",
    );
    let two = graphs::grouped(&graphs::grouped(&chain, 0, 2), 2, 4);
    check_gradients("groups 2 and 4", &two);
    let depthwise = graphs::grouped(&graphs::grouped(&chain, 1, 8), 3, 4);
    check_gradients("depthwise", &depthwise);
}
