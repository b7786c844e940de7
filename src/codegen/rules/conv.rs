//! `conv N KxK [stride S] [same|valid] [ACT]`: an implicit GEMM (see
//! `codegen::gemm`), bias and activation fused into the forward kernel.

use super::Rule;
use crate::codegen::gemm::{self, GemmShape};
use crate::codegen::plan::{BufferId, BufferRole};
use crate::codegen::planner::Planner;
use crate::model::LayerKind;

pub struct ConvRule;

fn shape(p: &Planner, i: usize) -> GemmShape {
    let layer = &p.model.layers[i];
    let LayerKind::Conv(conv) = &layer.kind else {
        unreachable!("the conv rule lowers convs")
    };
    GemmShape::conv(layer, conv)
}

impl Rule for ConvRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let out = p.tensor(
            format!("{}_out", layer.name),
            layer.output,
            BufferRole::Activation,
        );
        gemm::forward(p, i, shape(p, i), p.input_of(i), out);
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        gemm::backward(p, i, shape(p, i), dy);
    }
}
