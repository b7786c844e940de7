//! `pool [max|avg] K[xK] [stride S]` and `globalpool [avg|max]`: one
//! invocation per output (max pools remember the winner), and a backward
//! kernel per input element.

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;
use crate::model::{Activation, LayerKind, Pool, PoolKind, Shape};

pub struct PoolRule;

/// The window a pool layer slides, with its output's height and width. A
/// global pool (`globalpool`) is a pool whose window is the whole image:
/// its 1x1xC output is, in NHWC, the flat C it outputs, so it takes the
/// same kernels.
fn pool(p: &Planner, i: usize) -> (Pool, [usize; 2]) {
    let layer = &p.model.layers[i];
    match (&layer.kind, layer.input, layer.output) {
        (LayerKind::Pool(pool), _, Shape::Image { h, w, .. }) => (*pool, [h, w]),
        (LayerKind::GlobalPool(kind), Shape::Image { h, w, .. }, _) => {
            let whole = Pool {
                kind: *kind,
                window: [h, w],
                stride: 1,
            };
            (whole, [1, 1])
        }
        _ => unreachable!("the pool rule lowers pools of images"),
    }
}

fn header(p: &Planner, i: usize) -> Header {
    let layer = &p.model.layers[i];
    let (pool, [oh, ow]) = pool(p, i);
    let Shape::Image { h: ih, w: iw, c } = layer.input else {
        unreachable!("a checked pool reads an image")
    };
    Header::default()
        .u32("B", p.options.batch)
        .u32("IH", ih)
        .u32("IW", iw)
        .u32("C", c)
        .u32("OH", oh)
        .u32("OW", ow)
        .u32("KH", pool.window[0])
        .u32("KW", pool.window[1])
        .u32("STRIDE", pool.stride)
}

impl Rule for PoolRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let invocations = p.options.batch * layer.output.elements();
        let (template, bindings) = match pool(p, i).0.kind {
            PoolKind::Max => {
                let argmax = p.tensor(format!("{name}_argmax"), layer.output, BufferRole::PoolIndices);
                p.argmax[i] = Some(argmax);
                let bindings = vec![
                    (input, Access::Read),
                    (out, Access::ReadWrite),
                    (argmax, Access::ReadWrite),
                ];
                ("max_pool_forward", bindings)
            }
            PoolKind::Avg => (
                "avg_pool_forward",
                vec![(input, Access::Read), (out, Access::ReadWrite)],
            ),
        };
        let header = header(p, i);
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
        // The gradient overwrites the pool's input when nothing else reads
        // it (see max_pool_backward.wgsl, which reads each element for the
        // producer's derivative first); else it gets a buffer of its own,
        // and the derivative a kernel of its own.
        let in_place = p.sole_reader(i);
        let dx = if in_place {
            let x = p.input_of(i);
            p.give_gradient(input, x);
            x
        } else {
            let shape = layer.input;
            p.tensor(format!("{name}_input_grad"), shape, BufferRole::Gradient)
        };
        let derivative = if in_place { producer } else { Activation::Linear };
        let header = header(p, i).input_derivative(derivative);
        let (template, bindings) = match pool(p, i).0.kind {
            PoolKind::Max => {
                let argmax = p.argmax[i].expect("max pool keeps indices");
                let bindings = vec![
                    (dy, Access::Read),
                    (argmax, Access::Read),
                    (dx, Access::ReadWrite),
                ];
                ("max_pool_backward", bindings)
            }
            PoolKind::Avg => (
                "avg_pool_backward",
                vec![(dy, Access::Read), (dx, Access::ReadWrite)],
            ),
        };
        p.kernel(
            format!("{name}_backward"),
            template,
            Phase::Backward,
            Some(i),
            header,
            bindings,
            invocations,
            0,
        );
        if !in_place {
            super::activation::apply_derivative(p, i, 0, dx);
        }
    }
}
