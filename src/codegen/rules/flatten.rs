//! `flatten`: a view. NHWC memory is already one vector per sample, so the
//! output is the input's buffer and the gradient passes through.

use super::Rule;
use crate::codegen::plan::BufferId;
use crate::codegen::planner::Planner;

pub struct FlattenRule;

impl Rule for FlattenRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        p.input_of(i)
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        let input = p.model.layers[i].inputs[0];
        if p.needs_grad(input) {
            p.give_gradient(input, dy);
        }
    }
}
