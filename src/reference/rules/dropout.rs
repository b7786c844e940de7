//! `dropout P`: inverted dropout. The mask is not stored: forward and
//! backward draw the same keep decision from (step seed, layer, element),
//! with the hash the kernels use (`rng::dropout_keep`).

use super::{Context, Rule};
use crate::model::LayerKind;
use crate::rng;

/// Inverted dropout.
pub struct DropoutRule;

/// Each element's factor: in training 0 or 1 / (1 - rate), else 1.
fn scale(c: &Context) -> Vec<f64> {
    let LayerKind::Dropout { rate } = c.layer.kind else {
        unreachable!("the dropout rule computes dropouts")
    };
    let n = c.batch() * c.layer.input.elements();
    if !c.mode.training {
        return vec![1.0; n];
    }
    let key = rng::dropout_key(c.mode.seed, c.index as u32);
    let threshold = rng::dropout_threshold(rate);
    let kept = 1.0 / (1.0 - rate as f64);
    (0..n)
        .map(|e| {
            if rng::dropout_keep(key, e as u32, threshold) {
                kept
            } else {
                0.0
            }
        })
        .collect()
}

impl Rule for DropoutRule {
    fn forward(&self, c: &Context, xs: &[&[f64]], _params: &mut [f64]) -> Vec<f64> {
        xs[0].iter().zip(scale(c)).map(|(v, s)| v * s).collect()
    }

    fn backward(
        &self,
        c: &Context,
        _xs: &[&[f64]],
        _params: &[f64],
        dz: &[f64],
        _grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        vec![dz.iter().zip(scale(c)).map(|(d, s)| d * s).collect()]
    }
}
