//! The oracle: every layer forward and backward, and the optimizers, in
//! plain f64 Rust, written for clarity rather than speed. The generated
//! kernels are tested against it, and it against finite differences.
//!
//! Layouts are those of the GPU: activations NHWC, parameters in the flat
//! layout of [`ParamLayout`]. Each layer kind's forward and backward live
//! in its kind's file (`crate::kinds`, through [`Rule`]); this module walks
//! the graph, applies activations and computes the loss. Unlike the
//! kernels, the backward pass here applies each activation's derivative
//! in the layer that owns it, from the activation's input.

mod gemm;
mod layout;
mod optim;

use std::ops::Range;

use crate::model::{Layer, Model, Operand, Registry};
use crate::params::{ParamLayout, ParamRole};
pub use gemm::{gemm_backward, gemm_forward};
pub use layout::{Geometry, axis, hwc};
pub use optim::{adam_step, l2_penalty, regularise, sgd_step};

/// How one layer kind is computed on the CPU: implemented by each kind's
/// settings type, for its own layers. A rule computes a layer's output
/// before its activation and, given the gradient there, its inputs'
/// gradients and its parameters'; the graph walk in [`Reference`] applies
/// activations and sums the gradients of a tensor that several layers read.
pub trait Rule<K: Registry> {
    /// The layer's output before its activation, from its inputs' values
    /// (`xs`, one per operand, in order) and the parameters, in which a
    /// training pass may move the layer's state (running statistics).
    fn forward(&self, c: &Context<K>, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64>;

    /// Given `dz`, the gradient of the loss with respect to the layer's
    /// output before its activation: the gradient of each input, in
    /// operand order. Adds the parameters' gradients to `grads`.
    fn backward(
        &self,
        c: &Context<K>,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>>;
}

/// What a rule knows of the layer it computes.
pub struct Context<'a, K> {
    /// The model, batch and parameter layout.
    pub reference: &'a Reference<'a, K>,
    /// The layer's index in the model.
    pub index: usize,
    /// `reference.model.layers[index]`.
    pub layer: &'a Layer<K>,
    /// Training or evaluation, and the dropout seed.
    pub mode: Mode,
}

impl<K: Registry> Context<'_, K> {
    /// Where the layer's parameter of `role` sits in the flat buffer.
    pub fn param(&self, role: ParamRole) -> Range<usize> {
        self.reference.param(self.index, role)
    }

    /// Samples in the batch, padding included.
    pub fn batch(&self) -> usize {
        self.reference.batch
    }

    /// Samples of the batch that are real.
    pub fn samples(&self) -> usize {
        self.reference.samples
    }
}

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
    /// Per layer, its output before its activation, for the derivative.
    pub raw: Vec<Vec<f64>>,
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

/// Every gradient of a batch's loss.
#[derive(Debug, Clone)]
pub struct Backward {
    /// Gradient of every parameter, in the flat layout.
    pub grads: Vec<f64>,
    /// Per layer, the gradient with respect to its output before its
    /// activation, where computed.
    pub layer_grads: Vec<Option<Vec<f64>>>,
}

/// A model at a batch size, with its parameter layout.
pub struct Reference<'m, K> {
    pub model: &'m Model<K>,
    pub layout: ParamLayout,
    pub batch: usize,
    /// Samples of the batch that are real (the rest is padding, which a
    /// batchnorm's statistics leave out); `batch` unless set.
    pub samples: usize,
}

/// The values of a layer's operands.
fn values<'a>(operands: &[Operand], input: &'a [f64], outputs: &'a [Vec<f64>]) -> Vec<&'a [f64]> {
    operands
        .iter()
        .map(|&o| match o {
            Operand::Input => input,
            Operand::Layer(j) => outputs[j].as_slice(),
        })
        .collect()
}

impl<K: Registry> Reference<'_, K> {
    fn param(&self, i: usize, role: ParamRole) -> Range<usize> {
        self.layout.get(i, role).expect("layer has the parameter").range()
    }
}

impl<'m, K: Registry> Reference<'m, K>
where
    K::Kind: Rule<K>,
{
    /// The reference for `model` at `batch` samples, all of them real.
    pub fn new(model: &'m Model<K>, batch: usize) -> Self {
        Reference {
            model,
            layout: ParamLayout::new(model),
            batch,
            samples: batch,
        }
    }

    fn context(&self, i: usize, mode: Mode) -> Context<'_, K> {
        Context {
            reference: self,
            index: i,
            layer: &self.model.layers[i],
            mode,
        }
    }

    /// Every layer's output, in topological order, from the parameters and
    /// a batch of inputs (NHWC). A final `softmax` is the loss's own, so
    /// it is the identity here, as linear is.
    pub fn forward(&self, params: &[f64], input: &[f64], mode: Mode) -> Forward {
        let mut outputs: Vec<Vec<f64>> = Vec::with_capacity(self.model.layers.len());
        let mut raw: Vec<Vec<f64>> = Vec::with_capacity(self.model.layers.len());
        let mut state = params.to_vec();
        for (i, layer) in self.model.layers.iter().enumerate() {
            let xs = values(&layer.inputs, input, &outputs);
            let z = layer.kind.rule().forward(&self.context(i, mode), &xs, &mut state);
            let a = layer.activation();
            outputs.push(z.iter().map(|&v| a.apply(v)).collect());
            raw.push(z);
        }
        Forward { outputs, raw, state }
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
            for (c, &v) in z.iter().enumerate() {
                out.probs[n * k + c] = (v - top).exp() / sum;
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
        for (n, &label) in labels.iter().enumerate().take(samples.min(self.batch)) {
            let label = label as usize;
            if label < k {
                for c in 0..k {
                    out.dlogits[n * k + c] = (out.probs[n * k + c] - f64::from(u8::from(c == label))) * scale;
                }
            }
        }
        out.loss /= out.counted.max(1) as f64;
        out
    }

    /// Every gradient, from a forward pass and the loss's gradient: layers
    /// in reverse order, each given the sum of its readers' gradients.
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
            let a = layer.activation();
            let dz: Vec<f64> = dy
                .iter()
                .zip(&forward.raw[i])
                .map(|(d, &z)| d * a.slope(z))
                .collect();
            let xs = values(&layer.inputs, input, &forward.outputs);
            let dxs = layer
                .kind
                .rule()
                .backward(&self.context(i, mode), &xs, params, &dz, &mut grads);
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

    /// The gradient of a one-input layer's input, given `dz`; adds the
    /// layer's parameter gradients to `grads`. The tests check the model
    /// input's gradient with it.
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    fn layer_backward(
        &self,
        i: usize,
        layer: &Layer<K>,
        params: &[f64],
        x: &[f64],
        dz: &[f64],
        grads: &mut [f64],
        mode: Mode,
    ) -> Vec<f64> {
        let mut dxs = layer
            .kind
            .rule()
            .backward(&self.context(i, mode), &[x], params, dz, grads);
        dxs.swap_remove(0)
    }
}

#[cfg(test)]
mod tests;
