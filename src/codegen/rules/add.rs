//! `add`: the elementwise sum of tensors of one shape (a residual
//! connection). Its gradient is each input's, times that input's
//! producer's derivative.

use super::Rule;
use crate::codegen::plan::{BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;

pub struct AddRule;

impl Rule for AddRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let inputs: Vec<BufferId> = layer.inputs.iter().map(|&o| p.value(o)).collect();
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        p.sum_into(format!("{name}_forward"), Phase::Forward, i, &inputs, out);
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        for k in 0..p.model.layers[i].inputs.len() {
            super::activation::apply_derivative(p, i, k, dy);
        }
    }
}
