//! The optimizer's kernels: regularisation of the tensors that decay
//! (kernels), then one update over the whole flat parameter buffer.

use super::OptimizerKind;
use super::plan::{Access, BufferRole, Phase};
use super::planner::Planner;
use super::template::Header;
use crate::model::Registry;
use crate::template;

pub fn optimizer<K: Registry>(p: &mut Planner<K>) {
    let n = p.layout.len;
    if n == 0 {
        return;
    }
    regularisation(p);
    let (params, grads, step) = (p.io.params, p.io.grads, p.io.step);
    let header = Header::default().u32("N", n);
    let state =
        |p: &mut Planner<K>, name: &str| p.buffer(name.into(), 4 * n as u64, BufferRole::OptimizerState);
    let (template, bindings) = match p.options.optimizer {
        OptimizerKind::Sgd => {
            let velocity = state(p, "sgd_velocity");
            (template!("sgd"), vec![(velocity, Access::ReadWrite)])
        }
        OptimizerKind::Adam | OptimizerKind::AdamW => {
            let m = state(p, "adam_m");
            let v = state(p, "adam_v");
            (
                template!("adam"),
                vec![(m, Access::ReadWrite), (v, Access::ReadWrite)],
            )
        }
    };
    let mut all = vec![(params, Access::ReadWrite), (grads, Access::Read)];
    all.extend(bindings);
    all.push((step, Access::Uniform));
    p.kernel(
        template.name.into(),
        template,
        Phase::Optimizer,
        None,
        header,
        all,
        n,
        0,
    );
}

/// `l2` and weight decay on the tensors that decay (kernels; not biases,
/// not batchnorm), before the update reads the gradients.
fn regularisation<K: Registry>(p: &mut Planner<K>) {
    let (params, grads, step) = (p.io.params, p.io.grads, p.io.step);
    for i in 0..p.model.layers.len() {
        let layer = &p.model.layers[i];
        let Some(w) = p.layout.decaying(i) else {
            continue;
        };
        if layer.l2() <= 0.0 && !p.options.weight_decay {
            continue;
        }
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
            template!("weight_penalty"),
            Phase::Optimizer,
            Some(i),
            header,
            bindings,
            len,
            0,
        );
    }
}
