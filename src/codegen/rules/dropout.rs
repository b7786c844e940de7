//! `dropout P`: inverted dropout. The mask is not stored: forward and
//! backward kernels hash (step seed, layer, element) to the same keep
//! decision (`rng::dropout_keep`, and `dropout_key` in common.wgsl).

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;
use crate::model::LayerKind;
use crate::rng;

pub struct DropoutRule;

fn header(p: &Planner, i: usize) -> (usize, Header) {
    let layer = &p.model.layers[i];
    let LayerKind::Dropout { rate } = layer.kind else {
        unreachable!("the dropout rule lowers dropouts")
    };
    let n = p.options.batch * layer.output.elements();
    let header = Header::default()
        .u32("N", n)
        .u32("THRESHOLD", rng::dropout_threshold(rate) as usize)
        .f32("SCALE", 1.0 / (1.0 - rate))
        .u32("SALT", i);
    (n, header)
}

impl Rule for DropoutRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let (n, header) = header(p, i);
        let bindings = vec![
            (input, Access::Read),
            (out, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        p.kernel(
            format!("{name}_forward"),
            "dropout_forward",
            Phase::Forward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        let input = p.model.layers[i].inputs[0];
        if !p.needs_grad(input) {
            return;
        }
        let name = p.model.layers[i].name.clone();
        let x = p.input_of(i);
        let dx = p.input_grad(i, 0);
        let (n, header) = header(p, i);
        let header = header.input_derivative(p.producer_activation(input));
        let bindings = vec![
            (dy, Access::Read),
            (x, Access::Read),
            (dx, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        p.kernel(
            format!("{name}_backward"),
            "dropout_backward",
            Phase::Backward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
    }
}
