//! One rule per layer kind: its forward and its backward side by side, in
//! a file of its own, as `codegen::rules` keeps one per kind for the
//! kernels. A rule computes a layer's output before its activation and,
//! given the gradient there, its inputs' gradients and its parameters';
//! the graph walk in [`Reference`] applies activations and sums the
//! gradients of a tensor that several layers read.
//!
//! Adding a kind: a file here, and its `mod` and its line in [`of`].

mod add;
mod batchnorm;
mod concat;
mod conv;
mod dropout;
mod globalpool;
mod identity;
mod pool;

use std::ops::Range;

use super::{Mode, Reference};
use crate::model::{Layer, LayerKind};
use crate::params::ParamRole;

/// What a rule knows of the layer it computes.
pub struct Context<'a> {
    /// The model, batch and parameter layout.
    pub reference: &'a Reference<'a>,
    /// The layer's index in the model.
    pub index: usize,
    /// `reference.model.layers[index]`.
    pub layer: &'a Layer,
    /// Training or evaluation, and the dropout seed.
    pub mode: Mode,
}

impl Context<'_> {
    /// Where the layer's parameter of `role` sits in the flat buffer.
    pub fn param(&self, role: ParamRole) -> Range<usize> {
        self.reference.param(self.index, role)
    }

    /// Samples in the batch, padding included.
    pub fn batch(&self) -> usize {
        self.reference.batch
    }
}

/// How one layer kind is computed.
pub trait Rule {
    /// The layer's parameter tensors, in buffer order, each with its shape
    /// (see [`super::layout`]); none unless the kind has some.
    fn params(&self, _layer: &Layer) -> Vec<(ParamRole, Vec<usize>)> {
        Vec::new()
    }

    /// Whether `l2` and weight decay apply to the layer's `Weight` tensor:
    /// to a kernel, not to a batchnorm's scale.
    fn regularised(&self) -> bool {
        false
    }

    /// The layer's output before its activation, from its inputs' values
    /// (`xs`, one per operand, in order) and the parameters, in which a
    /// training pass may move the layer's state (running statistics).
    fn forward(&self, c: &Context, xs: &[&[f64]], params: &mut [f64]) -> Vec<f64>;

    /// Given `dz`, the gradient of the loss with respect to the layer's
    /// output before its activation: the gradient of each input, in
    /// operand order. Adds the parameters' gradients to `grads`.
    fn backward(
        &self,
        c: &Context,
        xs: &[&[f64]],
        params: &[f64],
        dz: &[f64],
        grads: &mut [f64],
    ) -> Vec<Vec<f64>>;
}

/// The rule of a layer kind.
pub fn of(kind: &LayerKind) -> &'static dyn Rule {
    match kind {
        LayerKind::Conv(_) | LayerKind::Dense(_) => &conv::ConvRule,
        LayerKind::Pool(_) => &pool::PoolRule,
        LayerKind::Flatten { .. } => &identity::IdentityRule,
        LayerKind::Dropout { .. } => &dropout::DropoutRule,
        LayerKind::BatchNorm => &batchnorm::BatchNormRule,
        LayerKind::Activation(_) => &identity::IdentityRule,
        LayerKind::Add => &add::AddRule,
        LayerKind::Concat => &concat::ConcatRule,
        LayerKind::GlobalPool(_) => &globalpool::GlobalPoolRule,
    }
}
