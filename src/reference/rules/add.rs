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
