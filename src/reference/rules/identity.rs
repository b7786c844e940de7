//! Layers that pass values and gradients through unchanged before their
//! activation: `flatten` (NHWC memory read as one vector per sample) and an
//! activation on a line of its own (`relu`, `tanh`, …), whose activation
//! and derivative the graph walk applies as it does every layer's.

use super::{Context, Rule};

/// The identity.
pub struct IdentityRule;

impl Rule for IdentityRule {
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
