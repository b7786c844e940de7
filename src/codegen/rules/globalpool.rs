//! `globalpool avg|max`: one invocation per (sample, channel) reduces the
//! channel over the image (max keeps the winner's index), and one per input
//! element takes its share of the gradient, times its producer's
//! derivative.

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;
use crate::model::{LayerKind, PoolKind, Shape};

pub struct GlobalPoolRule;

fn kind_and_header(p: &Planner, i: usize) -> (PoolKind, Header) {
    let layer = &p.model.layers[i];
    let (LayerKind::GlobalPool(kind), Shape::Image { h, w, c }) = (&layer.kind, layer.input) else {
        unreachable!("the globalpool rule lowers global pools of images")
    };
    let header = Header::default()
        .u32("B", p.options.batch)
        .u32("HW", h * w)
        .u32("C", c);
    (*kind, header)
}

impl Rule for GlobalPoolRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let invocations = p.options.batch * layer.output.elements();
        let (kind, header) = kind_and_header(p, i);
        let (template, bindings) = match kind {
            PoolKind::Max => {
                let argmax = p.tensor(format!("{name}_argmax"), layer.output, BufferRole::PoolIndices);
                p.argmax[i] = Some(argmax);
                let bindings = vec![
                    (input, Access::Read),
                    (out, Access::ReadWrite),
                    (argmax, Access::ReadWrite),
                ];
                ("global_max_pool_forward", bindings)
            }
            PoolKind::Avg => (
                "global_avg_pool_forward",
                vec![(input, Access::Read), (out, Access::ReadWrite)],
            ),
        };
        p.kernel(
            format!("{name}_forward"),
            template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            invocations,
            0,
        );
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        let layer = &p.model.layers[i];
        let input = layer.inputs[0];
        if !p.needs_grad(input) {
            return;
        }
        let name = layer.name.clone();
        let invocations = p.options.batch * layer.input.elements();
        let producer = p.producer_activation(input);
        let x = p.input_of(i);
        let dx = p.input_grad(i, 0);
        let (kind, header) = kind_and_header(p, i);
        let (template, bindings) = match kind {
            PoolKind::Max => {
                let argmax = p.argmax[i].expect("a global max pool keeps indices");
                let bindings = vec![
                    (dy, Access::Read),
                    (argmax, Access::Read),
                    (x, Access::Read),
                    (dx, Access::ReadWrite),
                ];
                ("global_max_pool_backward", bindings)
            }
            PoolKind::Avg => (
                "global_avg_pool_backward",
                vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)],
            ),
        };
        p.kernel(
            format!("{name}_backward"),
            template,
            Phase::Backward,
            Some(i),
            header.input_derivative(producer),
            bindings,
            invocations,
            0,
        );
    }
}
