//! An activation as a layer of its own (`relu`, `tanh`, …). The graph walk
//! applies every layer's activation, and its derivative, alike
//! (`Layer::activation` is this layer's); before it, the layer passes its
//! input through.

use super::{Context, Rule};

/// An activation layer: the identity before its activation.
pub struct ActivationRule;

impl Rule for ActivationRule {
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
