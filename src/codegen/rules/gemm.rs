//! `conv N KxK [stride S] [same|valid] [groups G] [ACT]` and `dense N
//! [ACT]`: one implicit GEMM each (a dense layer is a 1x1 convolution of a
//! 1x1 image, so it shares the conv kernels, tiles and tuning; see
//! `codegen::gemm`), bias and activation fused into the forward kernel.

use super::Rule;
use crate::codegen::gemm::{self, GemmShape};
use crate::codegen::plan::{BufferId, BufferRole};
use crate::codegen::planner::Planner;

pub struct GemmRule;

impl Rule for GemmRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let out = p.tensor(
            format!("{}_out", layer.name),
            layer.output,
            BufferRole::Activation,
        );
        gemm::forward(p, i, GemmShape::of(layer), p.input_of(i), out);
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        gemm::backward(p, i, GemmShape::of(&p.model.layers[i]), dy);
    }
}
