//! The oracle: every layer forward and backward, and the optimizers, in
//! plain f64 Rust, written for clarity rather than speed. The generated
//! kernels are tested against it, and it against finite differences.
//!
//! Layouts are those of the GPU: activations NHWC, parameters in the flat
//! layout of [`ParamLayout`]. Unlike the kernels, the backward pass here
//! applies each activation's derivative in the layer that owns it.

// Index loops read like the formulas they implement.
#![allow(clippy::needless_range_loop)]

mod layout;

use crate::model::{Activation, Layer, LayerKind, Model, Operand, PoolKind};
use crate::params::{ParamLayout, ParamRole};
use crate::rng;
pub use layout::layout;
use layout::{Geometry, geometry, hwc};

// Keras's constants, as its documentation gives them, written here rather
// than read from `model::keras` so that a wrong one there is caught.
/// `leaky_relu`'s slope for negative inputs.
const LEAKY_SLOPE: f64 = 0.2;
/// `BatchNormalization(momentum=0.99, epsilon=0.001)`.
const BATCHNORM_MOMENTUM: f64 = 0.99;
const BATCHNORM_EPSILON: f64 = 0.001;

/// Training or evaluation, and the step's dropout seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub training: bool,
    pub seed: u32,
}

/// Every layer's output for a batch.
#[derive(Debug, Clone)]
pub struct Forward {
    /// Per layer, its output after its activation; the last layer's is the
    /// scores the loss takes softmax of (a final `softmax` is the loss's).
    pub outputs: Vec<Vec<f64>>,
    /// The parameters after the pass: in training, each batchnorm's
    /// running statistics moved toward the batch's.
    pub state: Vec<f64>,
}

/// Softmax cross-entropy over a batch, averaged over the counted samples.
#[derive(Debug, Clone)]
pub struct Loss {
    pub loss: f64,
    pub probs: Vec<f64>,
    /// d(loss)/d(logits).
    pub dlogits: Vec<f64>,
    pub correct: usize,
    pub counted: usize,
    pub predicted: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Backward {
    /// Gradient of every parameter, in the flat layout.
    pub grads: Vec<f64>,
    /// Per layer, the gradient with respect to its output before its
    /// activation, where computed.
    pub layer_grads: Vec<Option<Vec<f64>>>,
}

pub struct Reference<'m> {
    pub model: &'m Model,
    pub layout: ParamLayout,
    pub batch: usize,
    /// Samples of the batch that are real (the rest is padding, which a
    /// batchnorm's statistics leave out); `batch` unless set.
    pub samples: usize,
}

fn activate(a: Activation, x: f64) -> f64 {
    match a {
        Activation::Linear | Activation::Softmax => x,
        Activation::Relu => x.max(0.0),
        Activation::LeakyRelu => {
            if x > 0.0 {
                x
            } else {
                LEAKY_SLOPE * x
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        Activation::Tanh => x.tanh(),
    }
}

/// The derivative, from the activation's output `y`.
fn derivative(a: Activation, y: f64) -> f64 {
    match a {
        Activation::Linear | Activation::Softmax => 1.0,
        Activation::Relu => f64::from(u8::from(y > 0.0)),
        Activation::LeakyRelu => {
            if y > 0.0 {
                1.0
            } else {
                LEAKY_SLOPE
            }
        }
        Activation::Sigmoid => y * (1.0 - y),
        Activation::Tanh => 1.0 - y * y,
    }
}

impl Geometry {
    /// The input index under tap (ky, kx) of output (n, oy, ox), if inside.
    fn tap(&self, n: usize, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<usize> {
        let iy = (oy * self.stride + ky).checked_sub(self.pad[0])?;
        let ix = (ox * self.stride + kx).checked_sub(self.pad[1])?;
        (iy < self.ih && ix < self.iw).then_some((n * self.ih + iy) * self.iw + ix)
    }
}

impl<'m> Reference<'m> {
    pub fn new(model: &'m Model, batch: usize) -> Self {
        Reference {
            model,
            layout: layout(model),
            batch,
            samples: batch,
        }
    }

    fn param(&self, i: usize, role: ParamRole) -> std::ops::Range<usize> {
        self.layout.get(i, role).expect("layer has the parameter").range()
    }

    /// A layer's activation. A final `softmax` is the loss's own, and
    /// [`activate`] takes it as the identity, so the last layer's output is
    /// the scores the loss reads, whatever its activation.
    fn activation(&self, i: usize) -> Activation {
        self.model.layers[i].activation()
    }

    pub fn forward(&self, params: &[f64], input: &[f64], mode: Mode) -> Forward {
        let mut outputs: Vec<Vec<f64>> = Vec::new();
        let mut state = params.to_vec();
        for (i, layer) in self.model.layers.iter().enumerate() {
            let value = |o: Operand| match o {
                Operand::Input => input,
                Operand::Layer(j) => outputs[j].as_slice(),
            };
            let x = value(layer.inputs[0]);
            let mut y = match layer.kind {
                LayerKind::BatchNorm => self.batchnorm_forward(i, &mut state, x, mode),
                LayerKind::Add => {
                    let mut sum = vec![0.0; x.len()];
                    for &o in &layer.inputs {
                        sum.iter_mut().zip(value(o)).for_each(|(s, v)| *s += v);
                    }
                    sum
                }
                _ => self.layer_forward(i, layer, params, x, mode),
            };
            let a = self.activation(i);
            if !matches!(layer.kind, LayerKind::Activation(_)) {
                y.iter_mut().for_each(|v| *v = activate(a, *v));
            }
            outputs.push(y);
        }
        Forward { outputs, state }
    }

    /// Per channel of a batchnorm's input: mean and 1 / sqrt(var + eps)
    /// over the real samples and every position (variance biased, as
    /// Keras's), and the channel count.
    fn batch_statistics(&self, i: usize, x: &[f64]) -> (Vec<f64>, Vec<f64>, usize) {
        let c = self.model.layers[i].input.channels();
        let count = self.samples.min(self.batch) * self.model.layers[i].input.elements() / c;
        let mut mean = vec![0.0; c];
        let mut var = vec![0.0; c];
        for e in 0..count {
            for ch in 0..c {
                mean[ch] += x[e * c + ch] / count as f64;
            }
        }
        for e in 0..count {
            for ch in 0..c {
                var[ch] += (x[e * c + ch] - mean[ch]).powi(2) / count as f64;
            }
        }
        (mean, var, count)
    }

    /// Batchnorm: in training, normalised with the batch's statistics,
    /// which the running ones (in `state`) move toward; in evaluation,
    /// with the running ones.
    fn batchnorm_forward(&self, i: usize, state: &mut [f64], x: &[f64], mode: Mode) -> Vec<f64> {
        let c = self.model.layers[i].input.channels();
        let gamma = &state[self.param(i, ParamRole::Weight)].to_vec();
        let beta = &state[self.param(i, ParamRole::Bias)].to_vec();
        let (mean_range, var_range) = (
            self.param(i, ParamRole::RunningMean),
            self.param(i, ParamRole::RunningVar),
        );
        let eps = BATCHNORM_EPSILON;
        let (mean, inv_std) = if mode.training {
            let (mean, var, _) = self.batch_statistics(i, x);
            let momentum = BATCHNORM_MOMENTUM;
            for ch in 0..c {
                let m = &mut state[mean_range.start + ch];
                *m = momentum * *m + (1.0 - momentum) * mean[ch];
                let v = &mut state[var_range.start + ch];
                *v = momentum * *v + (1.0 - momentum) * var[ch];
            }
            (
                mean,
                var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect::<Vec<_>>(),
            )
        } else {
            let mean = state[mean_range].to_vec();
            (
                mean,
                state[var_range].iter().map(|v| 1.0 / (v + eps).sqrt()).collect(),
            )
        };
        x.iter()
            .enumerate()
            .map(|(e, &v)| {
                let ch = e % c;
                gamma[ch] * (v - mean[ch]) * inv_std[ch] + beta[ch]
            })
            .collect()
    }

    /// A layer's output before its activation (an activation layer's after).
    fn layer_forward(&self, i: usize, layer: &Layer, params: &[f64], x: &[f64], mode: Mode) -> Vec<f64> {
        let b = self.batch;
        match &layer.kind {
            LayerKind::Conv(_) | LayerKind::Dense(_) => {
                let g = geometry(layer);
                let w = &params[self.param(i, ParamRole::Weight)];
                let bias = &params[self.param(i, ParamRole::Bias)];
                let mut y = vec![0.0; b * g.oh * g.ow * g.co];
                for n in 0..b {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let out = ((n * g.oh + oy) * g.ow + ox) * g.co;
                            for co in 0..g.co {
                                let mut sum = bias[co];
                                for ky in 0..g.kh {
                                    for kx in 0..g.kw {
                                        let Some(p) = g.tap(n, oy, ox, ky, kx) else {
                                            continue;
                                        };
                                        for ci in 0..g.ci {
                                            sum += x[p * g.ci + ci]
                                                * w[((ky * g.kw + kx) * g.ci + ci) * g.co + co];
                                        }
                                    }
                                }
                                y[out + co] = sum;
                            }
                        }
                    }
                }
                y
            }
            LayerKind::Pool(pool) => {
                let (ih, iw, c) = hwc(layer.input);
                let (oh, ow, _) = hwc(layer.output);
                let mut y = vec![0.0; b * oh * ow * c];
                for n in 0..b {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for ch in 0..c {
                                let window = (0..pool.window[0]).flat_map(|ky| {
                                    (0..pool.window[1]).map(move |kx| {
                                        x[((n * ih + oy * pool.stride + ky) * iw + ox * pool.stride + kx) * c
                                            + ch]
                                    })
                                });
                                y[((n * oh + oy) * ow + ox) * c + ch] = match pool.kind {
                                    PoolKind::Max => window.fold(f64::NEG_INFINITY, f64::max),
                                    PoolKind::Avg => {
                                        window.sum::<f64>() / (pool.window[0] * pool.window[1]) as f64
                                    }
                                };
                            }
                        }
                    }
                }
                y
            }
            LayerKind::Flatten { .. } => x.to_vec(),
            LayerKind::Dropout { rate } => {
                let scale = self.dropout_scale(i, *rate, mode);
                x.iter().zip(scale).map(|(v, s)| v * s).collect()
            }
            LayerKind::Activation(a) => x.iter().map(|&v| activate(*a, v)).collect(),
            LayerKind::BatchNorm | LayerKind::Add => {
                unreachable!("`forward` computes batchnorms and sums itself")
            }
        }
    }

    /// Each element's dropout factor: 0 or 1 / (1 - rate) in training.
    fn dropout_scale(&self, i: usize, rate: f32, mode: Mode) -> Vec<f64> {
        let n = self.batch * self.model.layers[i].input.elements();
        if !mode.training {
            return vec![1.0; n];
        }
        let key = rng::dropout_key(mode.seed, i as u32);
        let threshold = rng::dropout_threshold(rate);
        let scale = 1.0 / (1.0 - rate as f64);
        (0..n)
            .map(|e| {
                if rng::dropout_keep(key, e as u32, threshold) {
                    scale
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// Softmax cross-entropy of the last layer's logits. Samples past
    /// `samples`, or with a label outside the classes, are not counted.
    pub fn loss(&self, logits: &[f64], labels: &[u32], samples: usize) -> Loss {
        let k = self.model.output().elements();
        let mut out = Loss {
            loss: 0.0,
            probs: vec![0.0; logits.len()],
            dlogits: vec![0.0; logits.len()],
            correct: 0,
            counted: 0,
            predicted: Vec::new(),
        };
        for n in 0..self.batch {
            let z = &logits[n * k..(n + 1) * k];
            let top = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let predicted = z.iter().position(|&v| v == top).expect("a maximum");
            let sum: f64 = z.iter().map(|v| (v - top).exp()).sum();
            for c in 0..k {
                out.probs[n * k + c] = (z[c] - top).exp() / sum;
            }
            out.predicted.push(predicted);
            let label = labels[n] as usize;
            if n < samples && label < k {
                out.counted += 1;
                out.loss += sum.ln() + top - z[label];
                out.correct += usize::from(predicted == label);
            }
        }
        let scale = 1.0 / samples.max(1) as f64;
        for n in 0..samples.min(self.batch) {
            let label = labels[n] as usize;
            if label < k {
                for c in 0..k {
                    out.dlogits[n * k + c] = (out.probs[n * k + c] - f64::from(u8::from(c == label))) * scale;
                }
            }
        }
        out.loss /= out.counted.max(1) as f64;
        out
    }

    pub fn backward(
        &self,
        params: &[f64],
        input: &[f64],
        forward: &Forward,
        dlogits: &[f64],
        mode: Mode,
    ) -> Backward {
        let layers = &self.model.layers;
        let mut grads = vec![0.0; self.layout.len];
        let mut layer_grads = vec![None; layers.len()];
        // d(loss)/d(output after activation) of each layer, summed over
        // the layers that read it.
        let mut dys: Vec<Option<Vec<f64>>> = vec![None; layers.len()];
        dys[layers.len() - 1] = Some(dlogits.to_vec());
        for i in (0..layers.len()).rev() {
            let Some(dy) = dys[i].take() else { continue };
            let layer = &layers[i];
            let y = &forward.outputs[i];
            let value = |o: Operand| match o {
                Operand::Input => input,
                Operand::Layer(j) => forward.outputs[j].as_slice(),
            };
            // Before the activation (for an activation layer: its input).
            let a = self.activation(i);
            let dz: Vec<f64> = dy.iter().zip(y).map(|(d, &v)| d * derivative(a, v)).collect();
            let dxs = match layer.kind {
                LayerKind::Add => vec![dz.clone(); layer.inputs.len()],
                _ => {
                    let x = value(layer.inputs[0]);
                    vec![self.layer_backward(i, layer, params, x, &dz, &mut grads, mode)]
                }
            };
            for (&operand, dx) in layer.inputs.iter().zip(dxs) {
                if let Operand::Layer(j) = operand {
                    match &mut dys[j] {
                        Some(sum) => sum.iter_mut().zip(&dx).for_each(|(s, d)| *s += d),
                        none => *none = Some(dx),
                    }
                }
            }
            layer_grads[i] = Some(dz);
        }
        Backward { grads, layer_grads }
    }

    /// The gradient of a layer's input, given that of its output before
    /// activation; adds weight gradients to `grads`.
    #[allow(clippy::too_many_arguments)]
    fn layer_backward(
        &self,
        i: usize,
        layer: &Layer,
        params: &[f64],
        x: &[f64],
        dz: &[f64],
        grads: &mut [f64],
        mode: Mode,
    ) -> Vec<f64> {
        let b = self.batch;
        let mut dx = vec![0.0; x.len()];
        match &layer.kind {
            LayerKind::Conv(_) | LayerKind::Dense(_) => {
                let g = geometry(layer);
                let w_range = self.param(i, ParamRole::Weight);
                let b_range = self.param(i, ParamRole::Bias);
                let w = &params[w_range.clone()];
                for n in 0..b {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            let out = ((n * g.oh + oy) * g.ow + ox) * g.co;
                            for co in 0..g.co {
                                let d = dz[out + co];
                                grads[b_range.start + co] += d;
                                for ky in 0..g.kh {
                                    for kx in 0..g.kw {
                                        let Some(p) = g.tap(n, oy, ox, ky, kx) else {
                                            continue;
                                        };
                                        for ci in 0..g.ci {
                                            let wi = ((ky * g.kw + kx) * g.ci + ci) * g.co + co;
                                            grads[w_range.start + wi] += x[p * g.ci + ci] * d;
                                            dx[p * g.ci + ci] += w[wi] * d;
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            LayerKind::Pool(pool) => {
                let (ih, iw, c) = hwc(layer.input);
                let (oh, ow, _) = hwc(layer.output);
                let area = (pool.window[0] * pool.window[1]) as f64;
                for n in 0..b {
                    for oy in 0..oh {
                        for ox in 0..ow {
                            for ch in 0..c {
                                let d = dz[((n * oh + oy) * ow + ox) * c + ch];
                                let taps: Vec<usize> = (0..pool.window[0])
                                    .flat_map(|ky| {
                                        (0..pool.window[1]).map(move |kx| {
                                            ((n * ih + oy * pool.stride + ky) * iw + ox * pool.stride + kx)
                                                * c
                                                + ch
                                        })
                                    })
                                    .collect();
                                match pool.kind {
                                    PoolKind::Max => {
                                        // The first maximum wins, as on the GPU.
                                        let best = taps
                                            .iter()
                                            .copied()
                                            .fold(taps[0], |best, t| if x[t] > x[best] { t } else { best });
                                        dx[best] += d;
                                    }
                                    PoolKind::Avg => taps.iter().for_each(|&t| dx[t] += d / area),
                                }
                            }
                        }
                    }
                }
            }
            LayerKind::Flatten { .. } => dx.copy_from_slice(dz),
            LayerKind::Dropout { rate } => {
                let scale = self.dropout_scale(i, *rate, mode);
                for (e, d) in dx.iter_mut().enumerate() {
                    *d = dz[e] * scale[e];
                }
            }
            LayerKind::Activation(_) => dx.copy_from_slice(dz),
            LayerKind::Add => unreachable!("`backward` passes a sum's gradient to every input"),
            // Training mode: the batch's statistics depend on every input.
            LayerKind::BatchNorm => {
                let c = layer.input.channels();
                let (mean, var, count) = self.batch_statistics(i, x);
                let inv_std: Vec<f64> = var.iter().map(|v| 1.0 / (v + BATCHNORM_EPSILON).sqrt()).collect();
                let gamma = &params[self.param(i, ParamRole::Weight)];
                let (g_range, b_range) = (self.param(i, ParamRole::Weight), self.param(i, ParamRole::Bias));
                let xhat = |e: usize| (x[e] - mean[e % c]) * inv_std[e % c];
                let real = count * c;
                let (mut dgamma, mut dbeta) = (vec![0.0; c], vec![0.0; c]);
                for e in 0..real {
                    dgamma[e % c] += dz[e] * xhat(e);
                    dbeta[e % c] += dz[e];
                }
                for e in 0..real {
                    let ch = e % c;
                    let m = count as f64;
                    dx[e] = gamma[ch] * inv_std[ch] * (dz[e] - dbeta[ch] / m - xhat(e) * dgamma[ch] / m);
                }
                for ch in 0..c {
                    grads[g_range.start + ch] += dgamma[ch];
                    grads[b_range.start + ch] += dbeta[ch];
                }
            }
        }
        dx
    }
}

/// Regularisation before an optimizer step, as `weight_penalty.wgsl`
/// applies it to conv and dense kernels: each layer's `l2` adds 2 l2 w to
/// the gradient, and weight decay adds wd w (coupled) or shrinks the
/// weight by lr wd (decoupled, AdamW).
pub fn regularise(
    model: &Model,
    layout: &ParamLayout,
    params: &mut [f64],
    grads: &mut [f64],
    weight_decay: f64,
    decoupled: bool,
    lr: f64,
) {
    for t in &layout.tensors {
        let layer = &model.layers[t.layer];
        if t.role != ParamRole::Weight || !matches!(layer.kind, LayerKind::Conv(_) | LayerKind::Dense(_)) {
            continue;
        }
        let l2 = layer.l2() as f64;
        for i in t.range() {
            let w = params[i];
            grads[i] += 2.0 * l2 * w;
            if decoupled {
                params[i] = w * (1.0 - lr * weight_decay);
            } else {
                grads[i] += weight_decay * w;
            }
        }
    }
}

/// The loss that `l2` adds: the sum over layers of l2 * sum(w^2).
pub fn l2_penalty(model: &Model, layout: &ParamLayout, params: &[f64]) -> f64 {
    layout
        .tensors
        .iter()
        .filter(|t| t.role == ParamRole::Weight)
        .map(|t| model.layers[t.layer].l2() as f64 * params[t.range()].iter().map(|w| w * w).sum::<f64>())
        .sum()
}

/// Keras's SGD: v = momentum v - lr g; w += v.
pub fn sgd_step(params: &mut [f64], grads: &[f64], velocity: &mut [f64], lr: f64, momentum: f64) {
    for ((w, g), v) in params.iter_mut().zip(grads).zip(velocity.iter_mut()) {
        *v = momentum * *v - lr * g;
        *w += *v;
    }
}

/// Keras's Adam, step `t` (from 1).
#[allow(clippy::too_many_arguments)]
pub fn adam_step(
    params: &mut [f64],
    grads: &[f64],
    m: &mut [f64],
    v: &mut [f64],
    t: u32,
    lr: f64,
    beta1: f64,
    beta2: f64,
    epsilon: f64,
) {
    // Keras's form (Kingma & Ba, section 2's last paragraph): ε is added
    // to √v before the bias correction of √v is folded into the step size.
    let t = t as i32;
    let step_size = lr * (1.0 - beta2.powi(t)).sqrt() / (1.0 - beta1.powi(t));
    for i in 0..params.len() {
        m[i] = beta1 * m[i] + (1.0 - beta1) * grads[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * grads[i] * grads[i];
        params[i] -= step_size * m[i] / (v[i].sqrt() + epsilon);
    }
}

#[cfg(test)]
mod tests;
