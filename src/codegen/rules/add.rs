//! `add`: the elementwise sum of tensors of one shape (a residual
//! connection). Its gradient is each input's, times that input's
//! producer's derivative.

use super::Rule;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::Planner;
use crate::codegen::template::Header;

pub struct AddRule;

impl Rule for AddRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let inputs: Vec<BufferId> = layer.inputs.iter().map(|&o| p.value(o)).collect();
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = p.options.batch * layer.output.elements();
        let bindings = vec![
            (inputs[0], Access::Read),
            (inputs[1], Access::Read),
            (out, Access::ReadWrite),
        ];
        let header = Header::default().u32("N", n);
        p.kernel(
            format!("{name}_forward"),
            "sum",
            Phase::Forward,
            Some(i),
            header,
            bindings,
            n,
            0,
        );
        for &more in &inputs[2..] {
            let bindings = vec![(more, Access::Read), (out, Access::ReadWrite)];
            let header = Header::default().u32("N", n);
            p.kernel(
                format!("{name}_forward"),
                "accumulate",
                Phase::Forward,
                Some(i),
                header,
                bindings,
                n,
                0,
            );
        }
        out
    }

    fn backward(&self, p: &mut Planner, i: usize, dy: BufferId) {
        for k in 0..p.model.layers[i].inputs.len() {
            super::activation::apply_derivative(p, i, k, dy);
        }
    }
}
