//! The optimizer's kernels: regularisation of conv and dense kernels, then
//! one update over the whole flat parameter buffer.

use super::OptimizerKind;
use super::plan::{Access, BufferRole, Phase};
use super::planner::Planner;
use super::template::Header;
use crate::model::LayerKind;
use crate::params::ParamRole;

pub fn optimizer(p: &mut Planner) {
    let n = p.layout.len;
    if n == 0 {
        return;
    }
    regularisation(p);
    let (params, grads, step) = (p.io.params, p.io.grads, p.io.step);
    let header = Header::default().u32("N", n);
    let state = |p: &mut Planner, name: &str| p.buffer(name.into(), 4 * n as u64, BufferRole::OptimizerState);
    let (template, bindings) = match p.options.optimizer {
        OptimizerKind::Sgd => {
            let velocity = state(p, "sgd_velocity");
            ("sgd", vec![(velocity, Access::ReadWrite)])
        }
        OptimizerKind::Adam | OptimizerKind::AdamW => {
            let m = state(p, "adam_m");
            let v = state(p, "adam_v");
            ("adam", vec![(m, Access::ReadWrite), (v, Access::ReadWrite)])
        }
    };
    let mut all = vec![(params, Access::ReadWrite), (grads, Access::Read)];
    all.extend(bindings);
    all.push((step, Access::Uniform));
    p.kernel(
        template.into(),
        template,
        Phase::Optimizer,
        None,
        header,
        all,
        n,
        0,
    );
}

/// `l2` and weight decay on conv and dense kernels (not biases, not
/// batchnorm), before the update reads the gradients.
fn regularisation(p: &mut Planner) {
    let (params, grads, step) = (p.io.params, p.io.grads, p.io.step);
    for i in 0..p.model.layers.len() {
        let layer = &p.model.layers[i];
        if !matches!(layer.kind, LayerKind::Conv(_) | LayerKind::Dense(_))
            || (layer.l2() <= 0.0 && !p.options.weight_decay)
        {
            continue;
        }
        let w = p
            .layout
            .get(i, ParamRole::Weight)
            .expect("conv and dense have weights");
        let decoupled = p.options.optimizer == OptimizerKind::AdamW;
        let header = Header::default()
            .u32("N", w.len())
            .u32("OFF", w.offset)
            .f32("L2X2", 2.0 * layer.l2())
            .u32("DECOUPLED", usize::from(decoupled));
        let bindings = vec![
            (params, Access::ReadWrite),
            (grads, Access::ReadWrite),
            (step, Access::Uniform),
        ];
        let (name, len) = (format!("{}_weight_penalty", layer.name), w.len());
        p.kernel(
            name,
            "weight_penalty",
            Phase::Optimizer,
            Some(i),
            header,
            bindings,
            len,
            0,
        );
    }
}
