//! The optimizers and regularisation, as Keras defines them, on the flat
//! parameter buffer.

use crate::model::{Model, Registry};
use crate::params::ParamLayout;

/// Regularisation before an optimizer step, as `weight_penalty.wgsl`
/// applies it to the tensors that decay (kernels): each layer's `l2` adds 2 l2 w to
/// the gradient, and weight decay adds wd w (coupled) or shrinks the
/// weight by lr wd (decoupled, AdamW).
pub fn regularise<K: Registry>(
    model: &Model<K>,
    layout: &ParamLayout,
    params: &mut [f64],
    grads: &mut [f64],
    weight_decay: f64,
    decoupled: bool,
    lr: f64,
) {
    for t in &layout.tensors {
        let layer = &model.layers[t.layer];
        if !t.decays {
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
pub fn l2_penalty<K: Registry>(model: &Model<K>, layout: &ParamLayout, params: &[f64]) -> f64 {
    layout
        .tensors
        .iter()
        .filter(|t| t.decays)
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
// The loop reads like the paper's update.
#[allow(clippy::too_many_arguments, clippy::needless_range_loop)]
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
