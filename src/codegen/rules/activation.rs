//! An activation on a line of its own (`relu`, `tanh`, …; Keras's
//! `Activation` layer). A final `softmax` is the loss's own: a view.

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;
use crate::model::{Activation, LayerKind};

pub struct ActivationRule;

impl Rule for ActivationRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let LayerKind::Activation(a) = layer.kind else {
            unreachable!("the activation rule lowers activations")
        };
        let input = p.input_of(i);
        if a == Activation::Softmax {
            return input;
        }
        let name = layer.name.clone();
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = p.options.batch * layer.output.elements();
        let header = Header::default().u32("N", n).activate(a);
        let bindings = vec![(input, Access::Read), (out, Access::ReadWrite)];
        p.kernel(
            format!("{name}_forward"),
            "activation_forward",
            Phase::Forward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
        out
    }

    /// Its own derivative was applied by whoever computed `dy`; only the
    /// producer's is left, if it has one.
    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        apply_derivative(p, i, 0, dy);
    }
}

/// Gives layer `i`'s `k`-th input the gradient `dy` (with respect to that
/// input, after its producer's activation) times the derivative of that
/// activation: `dy` itself when the producer is linear, else a kernel's
/// output. Nothing when the input needs no gradient.
pub fn apply_derivative(p: &mut Planner, i: usize, k: usize, dy: BufferId) {
    let input = p.model.layers[i].inputs[k];
    if !p.needs_grad(input) {
        return;
    }
    let producer = p.producer_activation(input);
    if producer == Activation::Linear {
        p.give_gradient(input, dy);
        return;
    }
    let x = p.value(input);
    let dx = p.input_grad(i, k);
    let n = p.options.batch * p.model.shape(input).elements();
    let header = Header::default().u32("N", n).input_derivative(producer);
    let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
    let name = format!("{}_backward", p.model.layers[i].name);
    p.kernel(
        name,
        "activation_backward",
        Phase::Backward,
        Some(i),
        header,
        bindings,
        n,
        0,
    );
}
