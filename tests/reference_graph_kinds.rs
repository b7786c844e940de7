//! The CPU reference's `concat`, `globalpool` and grouped convolutions
//! against central finite differences, in f64 (as `src/reference/tests.rs`
//! checks the kinds the language writes), on models built by hand until
//! the language writes these kinds.

mod common;

use cnnc::Model;
use cnnc::reference::{Mode, Reference};
use cnnc::rng::SplitMix64;
use common::graphs;

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
    for (what, m) in graphs::concat_cases() {
        check_gradients(what, &m);
    }
}

#[test]
fn global_pools_after_each_activation() {
    for (what, m) in graphs::global_pool_cases() {
        check_gradients(&what, &m);
    }
}

#[test]
fn grouped_and_depthwise_convolutions() {
    for (what, m) in graphs::grouped_cases() {
        check_gradients(what, &m);
    }
}
