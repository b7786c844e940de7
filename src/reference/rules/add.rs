//! `add`: the elementwise sum of its inputs, all of one shape (a residual
//! connection). Each input's gradient is the sum's.

use super::{Context, Rule};

/// An elementwise sum.
pub struct AddRule;

impl Rule for AddRule {
    fn forward(&self, _c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        let mut sum = vec![0.0; xs[0].len()];
        for x in xs {
            sum.iter_mut().zip(*x).for_each(|(s, v)| *s += v);
        }
        sum
    }

    fn backward(
        &self,
        _c: &Context,
        xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.to_vec(); xs.len()]
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{CheckOptions, Layer, LayerKind, Operand};
    use crate::reference::{Mode, Reference};
    use crate::rng::SplitMix64;
    use crate::source::Source;

    /// The language writes no `add` yet, so the finite-difference tests
    /// in `reference::tests` meet none: here `conv1` feeds both `conv2`
    /// and `conv3`, whose sum feeds the dense layer, so `conv1`'s
    /// gradient is the sum of two readers' and the add's goes to both.
    #[test]
    fn fan_out_and_sum_against_finite_differences() {
        let src =
            "input 4x4x2; conv 2 3x3 same tanh; conv 2 3x3 same sigmoid; conv 2 1x1 leaky_relu; dense 3";
        let mut m = crate::load(&Source::new("m.cnn", src), &CheckOptions::default()).unwrap();
        m.layers[2].inputs = vec![Operand::Layer(0)];
        let add = Layer {
            name: "add1".into(),
            kind: LayerKind::Add,
            inputs: vec![Operand::Layer(1), Operand::Layer(2)],
            input: m.layers[1].output,
            output: m.layers[1].output,
            span: m.layers[2].span,
        };
        m.layers.insert(3, add);
        m.layers[4].inputs = vec![Operand::Layer(3)];

        let r = Reference::new(&m, 2);
        let mut rng = SplitMix64::new(7);
        let mut random =
            |n: usize| -> Vec<f64> { (0..n).map(|_| rng.next_f32() as f64 * 2.0 - 1.0).collect() };
        let params = random(r.layout.len);
        let input = random(2 * m.input.elements());
        let (labels, mode) = (
            [0, 2],
            Mode {
                training: true,
                seed: 1,
            },
        );
        let loss = |p: &[f64]| {
            let f = r.forward(p, &input, mode);
            r.loss(f.outputs.last().unwrap(), &labels, 2).loss
        };
        let f = r.forward(&params, &input, mode);
        let dlogits = r.loss(f.outputs.last().unwrap(), &labels, 2).dlogits;
        let grads = r.backward(&params, &input, &f, &dlogits, mode).grads;
        let h = 1e-6;
        for t in &r.layout.tensors {
            for i in t.range() {
                let (mut plus, mut minus) = (params.clone(), params.clone());
                plus[i] += h;
                minus[i] -= h;
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * h);
                let err = (numeric - grads[i]).abs() / numeric.abs().max(grads[i].abs()).max(1e-4);
                assert!(
                    err < 1e-5,
                    "{} [{i}]: numeric {numeric}, analytic {}",
                    t.name,
                    grads[i]
                );
            }
        }
    }
}
