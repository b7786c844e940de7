//! `batchnorm`: statistics per channel (one workgroup each) that also move
//! the running ones in training, then the normalisation; backward, the
//! scale and shift gradients per channel, then the input's.

use super::{REDUCE_WG, Rule};
use crate::codegen::gemm::weights;
use crate::codegen::plan::{Access, BufferId, BufferRole, Phase};
use crate::codegen::planner::{Planner, dispatch};
use crate::codegen::template::Header;
use crate::model::keras::{BATCHNORM_EPSILON, BATCHNORM_MOMENTUM};
use crate::params::ParamRole;

pub struct BatchNormRule;

/// Channels, and the header the per-channel kernels share: batch,
/// positions per sample, channels.
fn shape(p: &Planner, i: usize) -> (usize, Header) {
    let input = p.model.layers[i].input;
    let c = input.channels();
    let header = Header::default()
        .u32("B", p.options.batch)
        .u32("S", input.elements() / c)
        .u32("C", c);
    (c, header)
}

impl Rule for BatchNormRule {
    fn forward(&self, p: &mut Planner, i: usize) -> BufferId {
        let layer = &p.model.layers[i];
        let name = layer.name.clone();
        let input = p.input_of(i);
        let out = p.tensor(format!("{name}_out"), layer.output, BufferRole::Activation);
        let n = p.options.batch * layer.input.elements();
        let (c, shape) = shape(p, i);
        let (gamma, beta) = weights(p, i);
        let offset = |role| p.layout.get(i, role).expect("batchnorm statistics").offset;
        let (mean, var) = (offset(ParamRole::RunningMean), offset(ParamRole::RunningVar));
        let stats = p.buffer(
            format!("{name}_statistics"),
            8 * c as u64,
            BufferRole::BatchNormStatistics,
        );
        p.bn_stats[i] = Some(stats);
        let header = shape
            .workgroup_sum()
            .f32("MOMENTUM", BATCHNORM_MOMENTUM)
            .f32("EPSILON", BATCHNORM_EPSILON)
            .u32("MEAN_OFF", mean)
            .u32("VAR_OFF", var);
        let bindings = vec![
            (input, Access::Read),
            (p.io.params, Access::ReadWrite),
            (stats, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let (kernel, groups) = (format!("{name}_statistics"), dispatch(c, 1));
        let template = "batchnorm_statistics";
        p.kernel_in_groups(
            kernel,
            template,
            Phase::Forward,
            Some(i),
            header,
            bindings,
            REDUCE_WG,
            groups,
            0,
        );
        let header = Header::default()
            .u32("N", n)
            .u32("C", c)
            .u32("GAMMA_OFF", gamma)
            .u32("BETA_OFF", beta);
        let bindings = vec![
            (input, Access::Read),
            (p.io.params, Access::Read),
            (stats, Access::Read),
            (out, Access::ReadWrite),
        ];
        p.kernel(
            format!("{name}_forward"),
            "batchnorm_forward",
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
        let layer = &p.model.layers[i];
        let (name, input) = (layer.name.clone(), layer.inputs[0]);
        let n = p.options.batch * layer.input.elements();
        let x = p.input_of(i);
        let (c, shape) = shape(p, i);
        let (gamma, beta) = weights(p, i);
        let stats = p.bn_stats[i].expect("the forward pass kept the statistics");
        let header = shape.u32("GAMMA_OFF", gamma).u32("BETA_OFF", beta);
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (p.io.grads, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let (kernel, groups) = (format!("{name}_backward_params"), dispatch(c, 1));
        let (template, summing) = ("batchnorm_backward_params", header.clone().workgroup_sum());
        p.kernel_in_groups(
            kernel,
            template,
            Phase::Backward,
            Some(i),
            summing,
            bindings,
            REDUCE_WG,
            groups,
            0,
        );
        if !p.needs_grad(input) {
            return;
        }
        let producer = p.producer_activation(input);
        let dx = p.input_grad(i, 0);
        let bindings = vec![
            (x, Access::Read),
            (dy, Access::Read),
            (stats, Access::Read),
            (p.io.params, Access::Read),
            (p.io.grads, Access::Read),
            (dx, Access::ReadWrite),
            (p.io.step, Access::Uniform),
        ];
        let header = header.u32("N", n).input_derivative(producer);
        let (kernel, template) = (format!("{name}_backward_input"), "batchnorm_backward_input");
        p.kernel(kernel, template, Phase::Backward, Some(i), header, bindings, n, 0);
    }
}
