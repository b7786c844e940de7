//! One rule per layer kind: its forward kernels and its backward kernels,
//! side by side, in a file of its own. A rule returns data (templates,
//! constants, bindings, dispatch sizes) through the [`Planner`]; it writes
//! no WGSL.
//!
//! How gradients flow: a layer's backward rule receives `dy`, the gradient
//! of the loss with respect to its output *before* its activation. A
//! kernel that computes the gradient of an input multiplies by the
//! derivative of the activation that produced that input (read from the
//! stored input itself, see [`Planner::producer_activation`]), so every
//! activation's derivative is applied exactly once, fused into a kernel
//! that runs anyway. Input gradients go to the input's producer through
//! [`Planner::input_grad`] or [`Planner::give_gradient`]; a tensor read by
//! several layers receives the sum.

mod activation;
mod add;
mod batchnorm;
mod concat;
mod dropout;
mod flatten;
mod gemm;
mod pool;

use super::plan::BufferId;
use super::planner::Planner;
use crate::model::LayerKind;

/// Invocations of the kernels that reduce with one workgroup (per channel,
/// per tensor): a power of two.
pub const REDUCE_WG: usize = 64;

/// How one layer kind is computed.
pub trait Rule {
    /// Adds layer `i`'s forward kernels; returns the buffer of its output
    /// (after its activation).
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId;

    /// Adds layer `i`'s backward kernels, given the gradient of its output
    /// before activation: its parameters' gradients, and its inputs' where
    /// [`Planner::needs_grad`].
    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId);
}

/// The rule of a layer kind.
pub fn of(kind: &LayerKind) -> &'static dyn Rule {
    match kind {
        LayerKind::Conv(_) | LayerKind::Dense(_) => &gemm::GemmRule,
        LayerKind::Pool(_) => &pool::PoolRule,
        LayerKind::Flatten { .. } => &flatten::FlattenRule,
        LayerKind::Dropout { .. } => &dropout::DropoutRule,
        LayerKind::BatchNorm => &batchnorm::BatchNormRule,
        LayerKind::Activation(_) => &activation::ActivationRule,
        LayerKind::Add => &add::AddRule,
        LayerKind::Concat => &concat::ConcatRule,
        LayerKind::GlobalPool(_) => &pool::PoolRule,
    }
}
