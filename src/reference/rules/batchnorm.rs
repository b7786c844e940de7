//! `batchnorm`: per-channel normalisation, as Keras's
//! `BatchNormalization()`. In training, with the batch's statistics, which
//! the running ones move toward; in evaluation, with the running ones.
//! Padding samples (past `Reference::samples`) count in neither.

// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

use super::{Context, Rule};
use crate::model::Layer;
use crate::params::ParamRole;

// Keras's defaults, as its documentation gives them, written here rather
// than read from `model::keras` so that a wrong one there is caught.
/// `BatchNormalization(momentum=0.99, epsilon=0.001)`.
const MOMENTUM: f64 = 0.99;
const EPSILON: f64 = 0.001;

/// Batch normalisation.
pub struct BatchNormRule;

/// Per channel of the input: mean and variance (biased, as Keras's) over
/// the real samples and every position, and how many values that is.
fn statistics(c: &Context, x: &[f64]) -> (Vec<f64>, Vec<f64>, usize) {
    let channels = c.layer.input.channels();
    let real = c.reference.samples.min(c.batch());
    let count = real * c.layer.input.elements() / channels;
    let mut mean = vec![0.0; channels];
    let mut var = vec![0.0; channels];
    for e in 0..count {
        for ch in 0..channels {
            mean[ch] += x[e * channels + ch] / count as f64;
        }
    }
    for e in 0..count {
        for ch in 0..channels {
            var[ch] += (x[e * channels + ch] - mean[ch]).powi(2) / count as f64;
        }
    }
    (mean, var, count)
}

fn inverse_std(var: &[f64]) -> Vec<f64> {
    var.iter().map(|v| 1.0 / (v + EPSILON).sqrt()).collect()
}

impl Rule for BatchNormRule {
    /// Scale and shift, then the running mean and variance.
    fn params(&self, layer: &Layer) -> Vec<(ParamRole, Vec<usize>)> {
        let c = layer.input.channels();
        [
            ParamRole::Weight,
            ParamRole::Bias,
            ParamRole::RunningMean,
            ParamRole::RunningVar,
        ]
        .into_iter()
        .map(|role| (role, vec![c]))
        .collect()
    }

    fn forward(&self, c: &Context, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64> {
        let (channels, x) = (c.layer.input.channels(), xs[0]);
        let (mean_range, var_range) = (c.param(ParamRole::RunningMean), c.param(ParamRole::RunningVar));
        let (mean, var) = if c.mode.training {
            let (mean, var, _) = statistics(c, x);
            let running = |old: f64, new: f64| MOMENTUM * old + (1.0 - MOMENTUM) * new;
            for ch in 0..channels {
                params[mean_range.start + ch] = running(params[mean_range.start + ch], mean[ch]);
                params[var_range.start + ch] = running(params[var_range.start + ch], var[ch]);
            }
            (mean, var)
        } else {
            (params[mean_range].to_vec(), params[var_range].to_vec())
        };
        let inv_std = inverse_std(&var);
        let gamma = &params[c.param(ParamRole::Weight)];
        let beta = &params[c.param(ParamRole::Bias)];
        x.iter()
            .enumerate()
            .map(|(e, &v)| {
                let ch = e % channels;
                gamma[ch] * (v - mean[ch]) * inv_std[ch] + beta[ch]
            })
            .collect()
    }

    /// Training mode's: the batch's statistics depend on every input.
    fn backward(
        &self,
        c: &Context,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>> {
        let (channels, x) = (c.layer.input.channels(), xs[0]);
        let (mean, var, count) = statistics(c, x);
        let inv_std = inverse_std(&var);
        let (g_range, b_range) = (c.param(ParamRole::Weight), c.param(ParamRole::Bias));
        let gamma = &params[g_range.clone()];
        let xhat = |e: usize| (x[e] - mean[e % channels]) * inv_std[e % channels];
        let real = count * channels;
        let (mut dgamma, mut dbeta) = (vec![0.0; channels], vec![0.0; channels]);
        for e in 0..real {
            dgamma[e % channels] += dz[e] * xhat(e);
            dbeta[e % channels] += dz[e];
        }
        let m = count as f64;
        let mut dx = vec![0.0; x.len()];
        for e in 0..real {
            let ch = e % channels;
            dx[e] = gamma[ch] * inv_std[ch] * (dz[e] - dbeta[ch] / m - xhat(e) * dgamma[ch] / m);
        }
        for ch in 0..channels {
            grads[g_range.start + ch] += dgamma[ch];
            grads[b_range.start + ch] += dbeta[ch];
        }
        vec![dx]
    }
}
