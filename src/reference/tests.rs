//! The reference's gradients against central finite differences, in f64.

use super::*;
use crate::activation::Activation;
use crate::model::CheckOptions;
use crate::rng::SplitMix64;
use crate::source::Source;

fn model(src: &str) -> crate::Model {
    crate::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap()
}

fn random(n: usize, rng: &mut SplitMix64, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|_| (rng.next_f32() as f64 * 2.0 - 1.0) * scale)
        .collect()
}

/// Loss as a function of parameters and input, for a fixed batch.
fn loss_of(
    r: &Reference<crate::LayerKind>,
    params: &[f64],
    input: &[f64],
    labels: &[u32],
    samples: usize,
    mode: Mode,
) -> f64 {
    let f = r.forward(params, input, mode);
    r.loss(f.outputs.last().unwrap(), labels, samples).loss
}

/// Checks every parameter gradient and the input gradient of a model.
fn check_gradients(src: &str) {
    let m = model(src);
    let batch = 3;
    let samples = 2; // the third sample is padding and must not count
    let mut r = Reference::new(&m, batch);
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

    let f = r.forward(&params, &input, mode);
    let loss = r.loss(f.outputs.last().unwrap(), &labels, samples);
    let back = r.backward(&params, &input, &f, &loss.dlogits, mode);

    let h = 1e-6;
    let mut worst: f64 = 0.0;
    for t in &r.layout.tensors {
        for i in t.range() {
            let mut plus = params.clone();
            plus[i] += h;
            let mut minus = params.clone();
            minus[i] -= h;
            let numeric = (loss_of(&r, &plus, &input, &labels, samples, mode)
                - loss_of(&r, &minus, &input, &labels, samples, mode))
                / (2.0 * h);
            let err = (numeric - back.grads[i]).abs() / numeric.abs().max(back.grads[i].abs()).max(1e-4);
            assert!(
                err < 1e-5,
                "{src}: {} [{i}]: numeric {numeric}, analytic {}",
                t.name,
                back.grads[i]
            );
            worst = worst.max(err);
        }
    }

    // The input gradient: the first layer's dx, recomputed from its dz.
    let first = &m.layers[0];
    let mut grads = vec![0.0; r.layout.len];
    let dz0 = back.layer_grads[0].as_ref().unwrap();
    let dx = r.layer_backward(0, first, &params, &input, dz0, &mut grads, mode);
    for i in (0..input.len()).step_by(3) {
        let mut plus = input.clone();
        plus[i] += h;
        let mut minus = input.clone();
        minus[i] -= h;
        let numeric = (loss_of(&r, &params, &plus, &labels, samples, mode)
            - loss_of(&r, &params, &minus, &labels, samples, mode))
            / (2.0 * h);
        let err = (numeric - dx[i]).abs() / numeric.abs().max(dx[i].abs()).max(1e-4);
        assert!(
            err < 1e-5,
            "{src}: input [{i}]: numeric {numeric}, analytic {}",
            dx[i]
        );
    }
    assert!(
        back.grads.iter().any(|g| g.abs() > 1e-6),
        "{src}: gradients are not all zero"
    );
}

/// `a` feeds both `s` and the 1x1 conv, whose sum feeds the dense layer:
/// `a`'s gradient is the sum of two readers', and the add's goes to both.
#[test]
fn fan_out_and_sum() {
    check_gradients(
        "input 4x4x2; a: conv 2 3x3 same tanh; s: conv 2 3x3 same sigmoid; conv 2 1x1 leaky_relu from a; add s; dense 3",
    );
}

#[test]
fn conv_valid_and_same_stride_1_and_2() {
    check_gradients("input 6x5x2; conv 3 3x3 tanh; dense 4");
    check_gradients("input 6x5x2; conv 3 3x3 same sigmoid; dense 4");
    check_gradients("input 7x6x2; conv 3 3x2 stride 2 same tanh; dense 3");
    check_gradients("input 7x7x1; conv 2 3 stride 2 valid linear; dense 3");
}

#[test]
fn every_activation() {
    for a in Activation::all().filter(|&a| a != Activation::SOFTMAX) {
        check_gradients(&format!(
            "input 5x5x2; conv 3 3x3 {a}; dense 4 {a}; dense 3 softmax"
        ));
        // Alone on a line, after a layer with another.
        check_gradients(&format!(
            "input 5x5x2; conv 3 3x3 tanh; {a}; dense 4; {a}; dense 3"
        ));
    }
}

/// The model's output is the last layer's, activation included (a final
/// `softmax` is the loss's own): differentiated like any other layer,
/// fused or standing alone.
#[test]
fn every_activation_in_last_position() {
    for a in Activation::all() {
        check_gradients(&format!("input 4x4x2; conv 3 3x3 tanh; dense 3 {a}"));
        check_gradients(&format!("input 4x4x2; conv 3 3x3 tanh; dense 3; {a}"));
    }
    // The scores are tanh's output, not the dense layer's.
    let m = model("input 1x1x1; dense 2 tanh");
    let r = Reference::new(&m, 1);
    let params = vec![3.0; r.layout.len];
    let out = r.forward(
        &params,
        &[1.0],
        Mode {
            training: false,
            seed: 0,
        },
    );
    let scores = out.outputs.last().unwrap();
    assert!(
        scores.iter().all(|&s| (s - 6f64.tanh()).abs() < 1e-12),
        "{scores:?}"
    );
}

/// The reference's own padding (TensorFlow's definition) agrees with the
/// one the kernels use (`Conv::pad_before`), for every example.
#[test]
fn own_padding_agrees_with_the_compiler() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut models: Vec<crate::Model> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let source = Source::read(&e.unwrap().path()).unwrap();
            crate::load(&source, &CheckOptions::default()).unwrap()
        })
        .collect();
    models.push(model(
        "input 7x6x3; conv 3 3x2 stride 2 same; conv 4 4x4 stride 3 same; batchnorm; dense 3",
    ));
    let mut convs = 0;
    for m in &models {
        for l in &m.layers {
            if let crate::LayerKind::Conv(c) = &l.kind {
                let g = Geometry::conv((l.input, l.output), c.kernel, c.stride, c.padding, c.groups);
                assert_eq!(g.pad, c.pad_before(l.input), "{}", l.name);
                convs += 1;
            }
        }
    }
    assert!(convs > 20, "{convs} convolutions checked");
}

#[test]
fn pooling_max_and_avg_with_overlap() {
    check_gradients("input 6x6x2; conv 2 1x1 tanh; pool max 2; dense 3");
    check_gradients("input 7x7x2; conv 2 1x1 tanh; pool avg 3 stride 2; dense 3");
    check_gradients("input 7x6x1; pool max 3x2 stride 1; dense 3");
}

#[test]
fn zero_padding() {
    check_gradients("input 4x3x2; conv 2 3x3 same tanh; pad 1; conv 2 3x3 sigmoid; dense 3");
    check_gradients("input 3x3x2; pad 2x1; conv 2 3x3 tanh; pad 1; gelu; pool avg 2; dense 3");
}

#[test]
fn dropout_flatten_and_activation_layers() {
    check_gradients("input 4x4x2; conv 3 3x3 tanh; flatten; dropout 0.3; dense 3");
    check_gradients("input 4x4x2; conv 3 3x3; tanh; dense 4; sigmoid; dense 3; softmax");
}

#[test]
fn batchnorm_in_training_after_conv_dense_and_input() {
    check_gradients("input 5x4x2; conv 3 3x3; batchnorm; relu; dense 4; batchnorm; tanh; dense 3");
    check_gradients("input 4x4x2; batchnorm; conv 2 3x3 tanh; pool avg 2; dense 3");
    check_gradients("input 4x4x1; conv 2 3x3 sigmoid; batchnorm; dense 3");
}

#[test]
fn batchnorm_running_statistics_by_hand() {
    // One channel, two samples: mean 2, biased variance 1.
    let m = model("input 1x1x1; batchnorm; dense 2");
    let r = Reference::new(&m, 2);
    let mut params = r.layout.init(1);
    let (gamma, beta) = (
        r.param(0, ParamRole::Weight).start,
        r.param(0, ParamRole::Bias).start,
    );
    params[gamma] = 2.0;
    params[beta] = 0.5;
    let p: Vec<f64> = params.iter().map(|&v| v as f64).collect();
    let train = r.forward(
        &p,
        &[1.0, 3.0],
        Mode {
            training: true,
            seed: 0,
        },
    );
    let s = 1.0 / (1.0f64 + 1e-3).sqrt();
    let expect = [2.0 * -s + 0.5, 2.0 * s + 0.5];
    assert!(
        train.outputs[0]
            .iter()
            .zip(expect)
            .all(|(a, b)| (a - b).abs() < 1e-6)
    );
    let (mean, var) = (
        r.param(0, ParamRole::RunningMean).start,
        r.param(0, ParamRole::RunningVar).start,
    );
    // momentum 0.99: 0.99 * 0 + 0.01 * 2 and 0.99 * 1 + 0.01 * 1.
    assert!((train.state[mean] - 0.02).abs() < 1e-7);
    assert!((train.state[var] - 1.0).abs() < 1e-7);
    // Evaluation normalises with the running statistics and changes none.
    let eval = r.forward(
        &train.state,
        &[1.0, 3.0],
        Mode {
            training: false,
            seed: 0,
        },
    );
    let s = 1.0 / (1.0f64 + 1e-3).sqrt();
    assert!((eval.outputs[0][1] - (2.0 * (3.0 - 0.02) * s + 0.5)).abs() < 1e-5);
    assert_eq!(eval.state, train.state);
}

#[test]
fn l2_penalty_gradient_and_weight_decay() {
    let m = model("input 3x3x1; conv 2 2x2 l2 0.01; dense 3 l2 0.1");
    let r = Reference::new(&m, 1);
    let mut rng = SplitMix64::new(5);
    let params = random(r.layout.len, &mut rng, 0.5);
    let mut grads = vec![0.0; params.len()];
    let mut after = params.clone();
    regularise(&m, &r.layout, &mut after, &mut grads, 0.0, false, 0.1);
    let h = 1e-6;
    for (i, g) in grads.iter().enumerate() {
        let (mut plus, mut minus) = (params.clone(), params.clone());
        plus[i] += h;
        minus[i] -= h;
        let numeric = (l2_penalty(&m, &r.layout, &plus) - l2_penalty(&m, &r.layout, &minus)) / (2.0 * h);
        assert!((numeric - g).abs() < 1e-7, "[{i}] {numeric} vs {g}");
    }
    let bias = r.param(0, ParamRole::Bias).start;
    assert_eq!(grads[bias], 0.0, "biases are not regularised");
    // Coupled decay adds wd w; decoupled shrinks the weight by lr wd.
    let mut g = vec![0.0; params.len()];
    let mut w = params.clone();
    regularise(&m, &r.layout, &mut w, &mut g, 0.5, false, 0.1);
    assert!((g[0] - (grads[0] + 0.5 * params[0])).abs() < 1e-12 && w == params);
    let mut g = vec![0.0; params.len()];
    let mut w = params.clone();
    regularise(&m, &r.layout, &mut w, &mut g, 0.5, true, 0.1);
    assert!((w[0] - params[0] * 0.95).abs() < 1e-12 && g == grads);
}

#[test]
fn dropout_is_identity_in_evaluation() {
    let m = model("input 2x2x1; dropout 0.5; dense 2");
    let r = Reference::new(&m, 1);
    let params = vec![1.0; r.layout.len];
    let input = [1.0, 2.0, 3.0, 4.0];
    let eval = r.forward(
        &params,
        &input,
        Mode {
            training: false,
            seed: 1,
        },
    );
    assert_eq!(eval.outputs[0], input);
    let train = r.forward(
        &params,
        &input,
        Mode {
            training: true,
            seed: 1,
        },
    );
    assert!(
        train.outputs[0]
            .iter()
            .all(|&v| v == 0.0 || input.contains(&(v / 2.0)))
    );
}

#[test]
fn optimizers_by_hand() {
    let mut w = vec![1.0, -2.0];
    let mut v = vec![0.0, 0.0];
    sgd_step(&mut w, &[0.5, -1.0], &mut v, 0.1, 0.9);
    assert_eq!(w, [0.95, -1.9]);
    sgd_step(&mut w, &[0.5, -1.0], &mut v, 0.1, 0.9);
    // v = 0.9 * -0.05 - 0.05 = -0.095
    assert!((w[0] - (0.95 - 0.095)).abs() < 1e-12);

    let mut w = vec![1.0];
    let (mut m, mut s) = (vec![0.0], vec![0.0]);
    adam_step(&mut w, &[0.5], &mut m, &mut s, 1, 0.001, 0.9, 0.999, 1e-7);
    // First step: m = 0.05, v = 0.00025, alpha = 0.001 * sqrt(1 - 0.999) / (1 - 0.9).
    let expected = 1.0 - 0.001 * 0.001f64.sqrt() / 0.1 * 0.05 / (0.00025f64.sqrt() + 1e-7);
    assert!((w[0] - expected).abs() < 1e-15, "{} vs {expected}", w[0]);
    assert!((w[0] - 0.999).abs() < 1e-6);
}
