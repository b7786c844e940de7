//! `concat`: each input copied into its channel slice of the output (one
//! kernel per input), and each input's gradient its slice of the output's,
//! times that input's producer's derivative.

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;
use crate::model::Operand;

pub struct ConcatRule;

/// Rows of layer `i`'s tensors (pixels of the batch, or samples), and
/// each input's channels with its offset in the output's.
fn slices(p: &Planner, i: usize) -> (usize, Vec<(Operand, usize, usize)>) {
    let layer = &p.model.layers[i];
    let total = layer.output.channels();
    let rows = p.options.batch * layer.output.elements() / total;
    let mut offset = 0;
    let slices = layer
        .inputs
        .iter()
        .map(|&o| {
            let c = p.model.shape(o).channels();
            offset += c;
            (o, c, offset - c)
        })
        .collect();
    (rows, slices)
}

fn header(rows: usize, c: usize, total: usize, offset: usize) -> Header {
    Header::default()
        .u32("ROWS", rows)
        .u32("C", c)
        .u32("CO", total)
        .u32("OFF", offset)
}

impl Rule for ConcatRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let (name, total) = (layer.name.clone(), layer.output.channels());
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let (rows, slices) = slices(p, i);
        for (operand, c, offset) in slices {
            let bindings = vec![(p.value(operand), Access::Read), (out, Access::ReadWrite)];
            p.kernel(
                format!("{name}_forward"),
                "concat_forward",
                Phase::Forward,
                Some(i),
                header(rows, c, total, offset),
                bindings,
                rows * c,
                0,
            );
        }
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        let (name, total) = (
            p.model.layers[i].name.clone(),
            p.model.layers[i].output.channels(),
        );
        let (rows, slices) = slices(p, i);
        for (k, (operand, c, offset)) in slices.into_iter().enumerate() {
            if !p.needs_grad(operand) {
                continue;
            }
            let producer = p.producer_activation(operand);
            let x = p.value(operand);
            let dx = p.input_grad(i, k);
            let header = header(rows, c, total, offset).input_derivative(producer);
            let bindings = vec![(dy, Access::Read), (x, Access::Read), (dx, Access::ReadWrite)];
            p.kernel(
                format!("{name}_backward"),
                "concat_backward",
                Phase::Backward,
                Some(i),
                header,
                bindings,
                rows * c,
                0,
            );
        }
    }
}
