//! `dense N [ACT]`: a 1x1 convolution of a 1x1 image to the conv kernels
//! (see `codegen::gemm`), so it shares their tiles and tuning.

use super::Rule;
use crate::codegen::gemm::{self, GemmShape};
use crate::codegen::plan::{BufferId, BufferRole};
use crate::codegen::planner::Planner;

pub struct DenseRule;

impl Rule for DenseRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let out = p.tensor(
            format!("{}_out", layer.name),
            layer.output,
            BufferRole::Activation,
        );
        gemm::forward(p, i, GemmShape::dense(layer), p.input_of(i), out);
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        gemm::backward(p, i, GemmShape::dense(&p.model.layers[i]), dy);
    }
}
