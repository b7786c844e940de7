//! `flatten`: a view, NHWC memory read as one vector per sample, so values
//! and gradients pass through unchanged.

use super::{Context, Rule};

/// A flatten: the identity on values.
pub struct FlattenRule;

impl Rule for FlattenRule {
    fn forward(&self, _c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        xs[0].to_vec()
    }

    fn backward(
        &self,
        _c: &Context,
        _xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.to_vec()]
    }
}
